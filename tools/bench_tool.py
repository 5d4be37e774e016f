"""bench-tool: time Kiln against onnxruntime in the same process and print ratios.

    python -m tools.bench_tool                      # the bundled example models
    python -m tools.bench_tool model.onnx --dim batch=8 --repeat 50
    python -m tools.bench_tool --markdown           # a table for the README

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

import compiler
from tools.run_tool import make_inputs

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


def median_seconds(fn: Callable[[], object], repeat: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def bench_model(path: str, dims: dict[str, int], repeat: int) -> BenchResult:
    import onnxruntime as ort

    start = time.perf_counter()
    model = compiler.compile(path)
    compile_seconds = time.perf_counter() - start
    feeds = make_inputs(model, {}, dims, seed=0)
    kiln_seconds = median_seconds(lambda: model(**feeds), repeat)
    got = model(**feeds)

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    ort_seconds = median_seconds(lambda: session.run(None, feeds), repeat)
    want = session.run(None, feeds)
    err = max(float(np.max(np.abs(g.astype(np.float64) - w))) if g.size else 0.0
              for g, w in zip(got, want, strict=True))
    shapes = ", ".join(f"{k}{list(v.shape)}" for k, v in feeds.items())
    return BenchResult(os.path.basename(path), shapes, kiln_seconds, ort_seconds,
                       compile_seconds, err)


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
    args = parser.parse_args(argv)
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
            results.append(bench_model(path, dims, args.repeat))
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
