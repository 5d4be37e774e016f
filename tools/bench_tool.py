"""bench-tool: time Kiln against onnxruntime in the same process and print ratios.

    python -m tools.bench_tool                      # the bundled example models
    python -m tools.bench_tool model.onnx --dim batch=8 --repeat 50
    python -m tools.bench_tool --markdown           # a table for the README
    python -m tools.bench_tool --gemm 512,512,512   # a MatMul alone vs numpy's sgemm
    python -m tools.bench_tool --no-kernels         # naive loop nests (before kernels)

Both runtimes use one thread and are timed in separate phases (interleaving two spinning
thread pools distorts both). Each figure is the median of `--repeat` calls after warm-up;
the ratio is Kiln time / onnxruntime time (lower is better for Kiln). Speed thresholds
belong here, not in unit tests: `--max-ratio R` makes the exit status 1 when any model is
more than R times slower than onnxruntime.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

# numpy's BLAS on one thread too (must be set before numpy loads it)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import compiler  # noqa: E402
from tools.run_tool import make_inputs, median_seconds  # noqa: E402

DEFAULT_MODELS = "examples/models/*.onnx"


@dataclass
class BenchResult:
    """Median seconds per call of each runtime on one model."""

    model: str
    shapes: str
    kiln: float
    ort: float
    compile_seconds: float
    max_abs_err: float

    @property
    def ratio(self) -> float:
        return self.kiln / self.ort


def bench_model(path: str, dims: dict[str, int], repeat: int,
                kernels: bool = True) -> BenchResult:
    import onnxruntime as ort

    start = time.perf_counter()
    model = compiler.compile(path, kernels=kernels)
    compile_seconds = time.perf_counter() - start
    feeds = make_inputs(model, {}, dims, seed=0)
    kiln_seconds = median_seconds(lambda: model(**feeds), repeat, warmup=3)
    got = model(**feeds)

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    ort_seconds = median_seconds(lambda: session.run(None, feeds), repeat, warmup=3)
    want = session.run(None, feeds)
    err = max(float(np.max(np.abs(g.astype(np.float64) - w))) if g.size else 0.0
              for g, w in zip(got, want, strict=True))
    shapes = ", ".join(f"{k}{list(v.shape)}" for k, v in feeds.items())
    return BenchResult(os.path.basename(path), shapes, kiln_seconds, ort_seconds,
                       compile_seconds, err)


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


def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} vCPU, 1 thread each"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench-tool", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help=f"ONNX models (default {DEFAULT_MODELS})")
    parser.add_argument("--dim", action="append", default=[], metavar="NAME=SIZE",
                        help="size of a symbolic dim (default 1)")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--max-ratio", type=float, default=None,
                        help="exit 1 if Kiln is more than this many times slower")
    parser.add_argument("--gemm", action="append", default=[], metavar="M,N,K",
                        help="benchmark one MatMul of these sizes against numpy instead")
    parser.add_argument("--no-kernels", action="store_true",
                        help="compile matmul/gemm/conv to naive loops (the old lowering)")
    args = parser.parse_args(argv)
    kernels = not args.no_kernels
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
    paths = args.models or sorted(glob.glob(DEFAULT_MODELS))

    results: list[BenchResult] = []
    for path in paths:
        try:
            results.append(bench_model(path, dims, args.repeat, kernels))
        except compiler.KilnError as e:
            print(f"bench-tool: {path}: {str(e).splitlines()[0]}", file=sys.stderr)
    when = datetime.date.today().isoformat()
    if args.markdown:
        print(f"Measured {when} on {machine_line()}; median of {args.repeat} calls.\n")
        print("| model | inputs | Kiln ms | onnxruntime ms | Kiln / ORT | compile s |")
        print("|---|---|---:|---:|---:|---:|")
        for r in results:
            print(f"| {r.model} | {r.shapes} | {r.kiln * 1e3:.3f} | {r.ort * 1e3:.3f} | "
                  f"{r.ratio:.2f} | {r.compile_seconds:.1f} |")
    else:
        print(f"{when}  {machine_line()}  (median of {args.repeat})")
        for r in results:
            print(f"{r.model:24s} kiln {r.kiln * 1e3:9.3f} ms   ort {r.ort * 1e3:9.3f} ms   "
                  f"ratio {r.ratio:6.2f}   compile {r.compile_seconds:5.1f} s   "
                  f"max|err| {r.max_abs_err:.2g}   ({r.shapes})")
    if args.max_ratio is not None and any(r.ratio > args.max_ratio for r in results):
        return 1
    return 0 if len(results) == len(paths) else 1


if __name__ == "__main__":
    sys.exit(main())
