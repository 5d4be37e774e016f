"""bench-tool: time Kiln against onnxruntime in the same process and print ratios.

    python -m tools.bench_tool                      # the bundled example models
    python -m tools.bench_tool model.onnx --dim batch=8 --repeat 50
    python -m tools.bench_tool --markdown           # a table for the README
    python -m tools.bench_tool --suite realistic --markdown --json .cache/bench.json
    python -m tools.bench_tool --gemm 512,512,512   # a MatMul alone vs numpy's sgemm
    python -m tools.bench_tool --no-kernels         # naive loop nests (before kernels)
    python -m tools.bench_tool --suite realistic --gpu   # + Kiln-CUDA vs PyTorch eager

`--suite realistic` benchmarks common architectures at real sizes (ResNet-18 and
MobileNetV2 at 224x224, a 2-layer LSTM, BERT-tiny, GPT-2-tiny, an MNIST-sized MLP; see
examples/make_bench_models.py), building them into examples/bench_models/ first if they are
missing (that needs torch and torchvision), at each of `--threads` (default 1,2).

For each model and thread count t, Kiln (compiled with `threads=t` where compiler.compile
takes it; otherwise compiled once and run single-threaded, which the output says) and then
onnxruntime (intra_op_num_threads=t, no spinning) are timed in separate phases:
interleaving two spinning thread pools distorts both. Each figure is the median of
`--repeat` calls after warm-up; the ratio is Kiln time / onnxruntime time (lower is better
for Kiln), with the geometric mean per thread count. Outputs are compared: max |error| and
the error relative to the output's scale (max |error| / max |output|); more than 1e-4 is
flagged as a mismatch and makes the exit status 1. Speed thresholds belong here, not in unit
tests: `--max-ratio R` makes the exit status 1 when any model is more than R times slower
than onnxruntime at any thread count.

`--gpu` adds a GPU table after the CPU one (tools/bench_gpu.py): Kiln's cuda target
against PyTorch eager (CUDA) on the same GPU, outputs checked against onnxruntime's to
1e-3; without a CUDA device it is skipped with a note (the CPU report is unchanged).

Compile times are cold: the compile cache points at a fresh temporary directory for the
run. Where Kiln has the cache, "cache hit s" is the compile call in a new process that
finds the model there (the first thread count's compile).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import glob
import inspect
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

# numpy's BLAS on one thread too (must be set before numpy loads it)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import compiler  # noqa: E402
from tools.run_tool import make_inputs, median_seconds  # noqa: E402

if TYPE_CHECKING:
    import onnxruntime

    from compiler.runtime.cpu import CompiledModel

DEFAULT_MODELS = "examples/models/*.onnx"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MISMATCH_REL = 1e-4  # error relative to the output's scale above which outputs differ
WARMUP = 3


@dataclass
class BenchResult:
    """Median seconds per call of each runtime on one model at one thread count."""

    model: str
    shapes: str
    kiln: float
    ort: float
    compile_seconds: float
    max_abs_err: float
    rel_err: float = 0.0
    threads: int = 1  # onnxruntime's intra_op_num_threads, and Kiln's where it has them
    kiln_threads: int = 1  # the thread count Kiln was compiled for
    cache_hit_seconds: float | None = None  # compile() in a new process, from the cache

    @property
    def ratio(self) -> float:
        return self.kiln / self.ort

    @property
    def mismatch(self) -> bool:
        return not self.rel_err <= MISMATCH_REL  # NaN counts as a mismatch


@dataclass
class Failure:
    """A model that could not be benchmarked, with the error message."""

    model: str
    error: str


def kiln_takes_threads() -> bool:
    """Whether compiler.compile accepts a `threads` argument."""
    try:
        return "threads" in inspect.signature(compiler.compile).parameters
    except (TypeError, ValueError):
        return False


def kiln_has_cache() -> bool:
    """Whether compiler.compile has the on-disk compile cache (a `cache` argument)."""
    try:
        return "cache" in inspect.signature(compiler.compile).parameters
    except (TypeError, ValueError):
        return False


@contextlib.contextmanager
def scratch_compile_cache() -> Iterator[None]:
    """Point Kiln's compile cache at a fresh temporary directory (so compiles are cold and
    the user's cache is left alone), and restore the environment afterwards."""
    saved = {name: os.environ.get(name) for name in ("KILN_CACHE_DIR", "KILN_CACHE")}
    with tempfile.TemporaryDirectory(prefix="kiln-bench-cache-") as scratch:
        os.environ.update(KILN_CACHE_DIR=scratch, KILN_CACHE="1")
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


_CACHE_HIT_SCRIPT = """
import sys, time
import compiler
start = time.perf_counter()
model = compiler.compile(sys.argv[1], threads=int(sys.argv[2]))
print(time.perf_counter() - start, model.stats.cache)
"""


def cache_hit_seconds(path: str, threads: int) -> float:
    """Seconds compiler.compile takes in a new process that finds `path`, compiled for
    `threads`, in the compile cache (NaN when it does not find it)."""
    done = subprocess.run([sys.executable, "-c", _CACHE_HIT_SCRIPT, path, str(threads)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    words = done.stdout.split()
    if done.returncode != 0 or len(words) != 2 or words[1] != "hit":
        return math.nan
    return float(words[0])


def output_error(got: Sequence[np.ndarray], want: Sequence[np.ndarray]) -> tuple[float, float]:
    """(max |got - want|, that relative to the output's scale), the worst over the outputs."""
    abs_err = rel_err = 0.0
    for g, w in zip(got, want, strict=True):
        g64, w64 = np.asarray(g, dtype=np.float64), np.asarray(w, dtype=np.float64)
        if g64.shape != w64.shape:
            return math.inf, math.inf
        if not g64.size:
            continue
        diff = float(np.max(np.abs(g64 - w64)))
        scale = float(np.max(np.abs(w64)))
        abs_err = max(abs_err, diff)
        rel_err = max(rel_err, diff / scale if scale > 0 else diff)
    return abs_err, rel_err


def ort_session(path: str, threads: int) -> onnxruntime.InferenceSession:
    """An onnxruntime CPU session with `threads` intra-op threads that do not spin."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def compile_kiln(path: str, kernels: bool = True, threads: int | None = None
                 ) -> tuple[CompiledModel, float]:
    """Compile `path` (for `threads` threads if given) and the seconds it took."""
    kwargs: dict[str, object] = {"kernels": kernels}
    if threads is not None:
        kwargs["threads"] = threads
    start = time.perf_counter()
    model = compiler.compile(path, **kwargs)
    return model, time.perf_counter() - start


def time_kiln(model: CompiledModel, feeds: dict[str, np.ndarray], repeat: int
              ) -> tuple[float, list[np.ndarray]]:
    """Median seconds per Kiln call after warm-up, and the outputs."""
    seconds = median_seconds(lambda: model(**feeds), repeat, warmup=WARMUP)
    return seconds, list(model(**feeds))


def time_ort(path: str, feeds: dict[str, np.ndarray], repeat: int, threads: int
             ) -> tuple[float, list[np.ndarray]]:
    """Median seconds per onnxruntime call (`threads` intra-op threads), and the outputs."""
    session = ort_session(path, threads)
    seconds = median_seconds(lambda: session.run(None, feeds), repeat, warmup=WARMUP)
    return seconds, session.run(None, feeds)


def bench_model(path: str, dims: dict[str, int], repeat: int, kernels: bool = True,
                threads: Sequence[int] = (1,), feeds: dict[str, np.ndarray] | None = None
                ) -> list[BenchResult]:
    """One model at each thread count: a Kiln phase, then an onnxruntime phase.

    Kiln is compiled for each thread count where compiler.compile takes `threads`, else
    once (single-threaded) for all of them. `feeds` default to make_inputs' random ones.
    """
    per_thread = kiln_takes_threads()
    results = []
    model, compile_seconds = None, 0.0
    for t in threads:
        if model is None or per_thread:
            model = None  # free the previous compile (and its thread pool) first
            model, compile_seconds = compile_kiln(path, kernels, t if per_thread else None)
        if feeds is None:
            feeds = make_inputs(model, {}, dims, seed=0)
        kiln_seconds, got = time_kiln(model, feeds, repeat)
        ort_seconds, want = time_ort(path, feeds, repeat, t)
        abs_err, rel_err = output_error(got, want)
        shapes = ", ".join(f"{k}{list(v.shape)}" for k, v in feeds.items())
        hit = cache_hit_seconds(path, t) if not results and kiln_has_cache() and \
            per_thread else None
        results.append(BenchResult(os.path.basename(path), shapes, kiln_seconds, ort_seconds,
                                   compile_seconds, abs_err, rel_err, t,
                                   t if per_thread else 1, hit))
    return results


def bench_gemm(m: int, n: int, k: int, repeat: int, kernels: bool = True) -> str:
    """One MatMul [m,k] x [k,n] through Kiln vs numpy's sgemm, in GFLOP/s."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["y"])], "gemm",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [m, k]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [k, n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model = compiler.compile(proto, kernels=kernels)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    kiln = median_seconds(lambda: model(a=a, b=b), repeat, warmup=3)
    ref = median_seconds(lambda: a @ b, repeat, warmup=3)
    err = float(np.max(np.abs(model(a=a, b=b)[0] - a @ b)))
    flops = 2.0 * m * n * k
    return (f"gemm {f'{m}x{n}x{k}':16s} kiln {flops / kiln / 1e9:7.1f} GFLOP/s   numpy "
            f"{flops / ref / 1e9:7.1f} GFLOP/s   kiln/numpy time {kiln / ref:6.2f}   "
            f"max|err| {err:.2g}")


def machine_line(threads: str = "1 thread each") -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} vCPU, {threads}"


def realistic_models(directory: str | None = None) -> list[tuple[str, dict[str, np.ndarray]]]:
    """(path, inputs) of each model of examples/make_bench_models.py, built if missing.

    Building imports torch, so it runs in a child process: torch's OpenMP runtime and
    thread pool stay out of the process that is timed.
    """
    if ROOT not in sys.path:  # `examples` is not an installed package
        sys.path.insert(0, ROOT)
    from examples import make_bench_models as mbm

    directory = directory or mbm.DEFAULT_DIR
    paths = {name: os.path.join(directory, f"{name}.onnx") for name in mbm.MODELS}
    missing = [name for name, path in paths.items() if not os.path.exists(path)]
    if missing:
        import concurrent.futures
        import multiprocessing

        print(f"bench-tool: building {', '.join(missing)} into {directory}", file=sys.stderr)
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            pool.submit(mbm.ensure, directory, missing).result()
    return [(paths[name], mbm.feeds(name)) for name in mbm.MODELS]


def geomeans(results: Sequence[BenchResult], threads: Sequence[int]) -> dict[int, float]:
    """Geometric mean of the Kiln / ORT ratios at each thread count (of the models run)."""
    means = {}
    for t in threads:
        ratios = [r.ratio for r in results if r.threads == t]
        if ratios:
            means[t] = float(math.exp(sum(math.log(x) for x in ratios) / len(ratios)))
    return means


def _threads_text(threads: Sequence[int]) -> str:
    if list(threads) == [1]:
        return "1 thread each"
    return f"{', '.join(map(str, threads))} threads each"


def _note(per_thread: bool, threads: Sequence[int]) -> str:
    if per_thread or list(threads) == [1]:
        return ""
    return ("Kiln ran single-threaded at every thread count (compiler.compile has no "
            "`threads` parameter); onnxruntime used the thread count shown.")


def to_json(results: Sequence[BenchResult], failures: Sequence[Failure],
            threads: Sequence[int], repeat: int, suite: str) -> dict[str, object]:
    """The report as a JSON-serializable dict (per model, then per thread count)."""
    per_thread = kiln_takes_threads()
    models: dict[str, dict[str, Any]] = {}
    for r in results:
        entry = models.setdefault(r.model, {"inputs": r.shapes, "threads": {}})
        entry["threads"][str(r.threads)] = {
            "kiln_ms": r.kiln * 1e3, "ort_ms": r.ort * 1e3, "ratio": r.ratio,
            "max_abs_err": r.max_abs_err, "rel_err": r.rel_err, "mismatch": r.mismatch,
            "compile_seconds": r.compile_seconds, "kiln_threads": r.kiln_threads,
            "cache_hit_seconds": r.cache_hit_seconds}
    return {
        "date": datetime.date.today().isoformat(),
        "machine": machine_line(_threads_text(threads)),
        "suite": suite, "repeat": repeat, "threads": list(threads),
        "kiln_threads_supported": per_thread, "note": _note(per_thread, threads),
        "models": models,
        "geomean": {str(t): g for t, g in geomeans(results, threads).items()},
        "failures": {f.model: f.error for f in failures},
    }


def markdown_table(results: Sequence[BenchResult], threads: Sequence[int], repeat: int) -> str:
    """model | inputs | Kiln/ORT per thread count | Kiln ms, ORT ms (first count) | compile s."""
    first = threads[0]
    lines = [f"Measured {datetime.date.today().isoformat()} on "
             f"{machine_line(_threads_text(threads))}; median of {repeat} calls.", ""]
    note = _note(kiln_takes_threads(), threads)
    if note:
        lines += [note, ""]
    head = ["model", "inputs"] + [f"Kiln/ORT {t} thread{'s' if t > 1 else ''}" for t in threads]
    head += [f"Kiln ms ({first}t)", f"ORT ms ({first}t)", "compile s"]
    hits = any(r.cache_hit_seconds is not None for r in results)
    if hits:
        head.append("cache hit s")
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|---|---|" + "---:|" * (len(head) - 2))
    by_model: dict[str, dict[int, BenchResult]] = {}
    for r in results:
        by_model.setdefault(r.model, {})[r.threads] = r
    for name, runs in by_model.items():
        any_run = next(iter(runs.values()))
        cells = [name.removesuffix(".onnx"), any_run.shapes]
        for t in threads:
            r = runs.get(t)
            cells.append("—" if r is None else
                         f"{r.ratio:.2f}" + (" (MISMATCH)" if r.mismatch else ""))
        r0 = runs.get(first)
        cells += ["—", "—"] if r0 is None else [f"{r0.kiln * 1e3:.3f}", f"{r0.ort * 1e3:.3f}"]
        cells.append(f"{(r0 or any_run).compile_seconds:.1f}")
        if hits:
            hit = (r0 or any_run).cache_hit_seconds
            cells.append("—" if hit is None else f"{hit:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    means = geomeans(results, threads)
    cells = ["geomean", ""] + [f"{means[t]:.2f}" if t in means else "—" for t in threads]
    lines.append("| " + " | ".join(cells + [""] * (len(head) - len(cells))) + " |")
    return "\n".join(lines)


def _gpu_phase(runs: Sequence[tuple[str, dict[str, np.ndarray] | None]],
               dims: dict[str, int], repeat: int, markdown: bool) -> tuple[bool, dict]:
    """The --gpu table (tools/bench_gpu.py): (whether a model failed or mismatched, its
    JSON). Without a device it prints why and fails nothing."""
    from tools import bench_gpu

    device, note = bench_gpu.gpu_device()
    if device is None:
        print(f"\n{note}" if markdown else f"bench-tool: {note}")
        return False, {"device": None, "note": note, "models": {}}
    rows, failed = [], False
    for path, feeds in runs:
        try:
            rows.append(bench_gpu.bench_gpu(path, feeds, dims, repeat))
        except Exception as e:  # one report for all models
            failed = True
            print(f"bench-tool: {path} on the GPU: {type(e).__name__}: "
                  f"{str(e).splitlines()[0] if str(e) else ''}", file=sys.stderr)
    print()
    print(bench_gpu.gpu_table(device, rows, repeat))
    models = {r.model: {"kiln_cuda_ms": r.kiln * 1e3, "rel_err": r.rel_err,
                        "torch_eager_ms": None if r.torch is None else r.torch * 1e3,
                        "kernels": r.kernels, "compile_seconds": r.compile_seconds,
                        "mismatch": r.mismatch} for r in rows}
    return failed or any(r.mismatch for r in rows), {"device": device, "note": "",
                                                     "models": models}


def _parse_threads(parser: argparse.ArgumentParser, text: str) -> list[int]:
    counts = text.split(",")
    if not all(c.strip().isdigit() and int(c) > 0 for c in counts):
        parser.error(f"--threads takes positive counts like 1,2, got '{text}'")
    return list(dict.fromkeys(int(c) for c in counts))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench-tool", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help=f"ONNX models (default {DEFAULT_MODELS})")
    parser.add_argument("--suite", choices=["realistic"], default=None,
                        help="realistic: the models of examples/make_bench_models.py")
    parser.add_argument("--dim", action="append", default=[], metavar="NAME=SIZE",
                        help="size of a symbolic dim (default 1)")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--threads", default=None, metavar="T,T",
                        help="thread counts to run at (default 1,2 with --suite, else 1)")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--max-ratio", type=float, default=None,
                        help="exit 1 if Kiln is more than this many times slower")
    parser.add_argument("--gemm", action="append", default=[], metavar="M,N,K",
                        help="benchmark one MatMul of these sizes against numpy instead")
    parser.add_argument("--no-kernels", action="store_true",
                        help="compile matmul/gemm/conv to naive loops (the old lowering)")
    parser.add_argument("--gpu", action="store_true",
                        help="also time Kiln-CUDA vs PyTorch eager on the GPU (if present)")
    args = parser.parse_args(argv)
    kernels = not args.no_kernels
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.gemm:
        print(f"{datetime.date.today().isoformat()}  {machine_line()}  "
              f"(median of {args.repeat})")
        for spec in args.gemm:
            sizes = spec.split(",")
            if len(sizes) == 1:
                sizes *= 3
            if len(sizes) != 3 or not all(x.isdigit() for x in sizes):
                parser.error(f"--gemm takes M,N,K (or one size), got '{spec}'")
            m, n, k = map(int, sizes)
            print(bench_gemm(m, n, k, args.repeat, kernels))
        return 0
    dims = {}
    for pair in args.dim:
        name, _, size = pair.partition("=")
        if not size.isdigit():
            parser.error(f"--dim must look like NAME=SIZE, got '{pair}'")
        dims[name] = int(size)
    threads = _parse_threads(parser, args.threads or ("1,2" if args.suite else "1"))

    runs: list[tuple[str, dict[str, np.ndarray] | None]]
    if args.suite:
        if args.models:
            parser.error("--suite takes no model files")
        runs = list(realistic_models())
    else:
        runs = [(p, None) for p in args.models or sorted(glob.glob(DEFAULT_MODELS))]

    results: list[BenchResult] = []
    failures: list[Failure] = []
    with scratch_compile_cache():
        for path, feeds in runs:
            try:
                results += bench_model(path, dims, args.repeat, kernels, threads, feeds)
            except Exception as e:  # a compile error, or an input onnxruntime refuses
                message = f"{type(e).__name__}: {e}"
                failures.append(Failure(os.path.basename(path), message))
                print(f"bench-tool: {path}: {message.splitlines()[0]}", file=sys.stderr)
    for r in results:
        if r.mismatch:
            print(f"bench-tool: {r.model} ({r.threads} threads): outputs differ from "
                  f"onnxruntime: max|err| {r.max_abs_err:.3g}, {r.rel_err:.3g} of the "
                  "output's scale", file=sys.stderr)

    when = datetime.date.today().isoformat()
    multi = bool(args.suite) or threads != [1]
    if args.markdown and multi:
        print(markdown_table(results, threads, args.repeat))
    elif args.markdown:
        print(f"Measured {when} on {machine_line()}; median of {args.repeat} calls.\n")
        print("| model | inputs | Kiln ms | onnxruntime ms | Kiln / ORT | compile s |")
        print("|---|---|---:|---:|---:|---:|")
        for r in results:
            print(f"| {r.model} | {r.shapes} | {r.kiln * 1e3:.3f} | {r.ort * 1e3:.3f} | "
                  f"{r.ratio:.2f} | {r.compile_seconds:.1f} |")
    else:
        print(f"{when}  {machine_line(_threads_text(threads))}  (median of {args.repeat})")
        note = _note(kiln_takes_threads(), threads)
        if note:
            print(note)
        for r in results:
            tag = f" {r.threads}t" if multi else ""
            hit = "" if r.cache_hit_seconds is None else f" (hit {r.cache_hit_seconds:.2f} s)"
            print(f"{r.model + tag:24s} kiln {r.kiln * 1e3:9.3f} ms   ort {r.ort * 1e3:9.3f} ms"
                  f"   ratio {r.ratio:6.2f}   compile {r.compile_seconds:5.1f} s{hit}   "
                  f"max|err| {r.max_abs_err:.2g} (rel {r.rel_err:.2g})"
                  f"{'  MISMATCH' if r.mismatch else ''}   ({r.shapes})")
        if multi:
            for t, g in geomeans(results, threads).items():
                print(f"geomean Kiln/ORT at {t} thread{'s' if t > 1 else ''}: {g:.2f}")
    gpu_failed = _gpu_phase(runs, dims, args.repeat, args.markdown) if args.gpu else None
    if args.json:
        report = to_json(results, failures, threads, args.repeat, args.suite or "models")
        if gpu_failed is not None:
            report["gpu"] = gpu_failed[1]
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
    if args.max_ratio is not None and any(r.ratio > args.max_ratio for r in results):
        return 1
    if any(r.mismatch for r in results) or (gpu_failed is not None and gpu_failed[0]):
        return 1
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
