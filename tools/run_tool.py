"""run-tool: compile a model, run it on .npy inputs (or random ones), print the outputs,
timings and, with --check, the agreement with a reference runtime.

    run-tool examples/models/cnn.onnx --check
    run-tool model.onnx --input x=x.npy --dim batch=8 --repeat 20
    run-tool model.onnx --bisect            # the first wrong node, and the first wrong pass
    run-tool model.onnx --precision int8 --calibration DIR --compare   # vs float32
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

import compiler
from compiler.errors import KilnError
from tools import accuracy
from tools.bisection import BISECT_KINDS, bisect, load_onnx, random_feeds


def _parse_pairs(pairs: Sequence[str], what: str) -> dict[str, str]:
    result = {}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"run-tool: {what} must look like NAME=VALUE, got '{pair}'")
        name, value = pair.split("=", 1)
        result[name] = value
    return result


def make_inputs(model, files: dict[str, str], dims: dict[str, int],
                seed: int) -> dict[str, np.ndarray]:
    """Inputs from .npy files where given, random (normal, fixed seed) elsewhere."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in model.inputs:
        if spec.name in files:
            feeds[spec.name] = np.load(files[spec.name])
            continue
        shape = [d if isinstance(d, int) else dims.get(d or "", 1) for d in spec.shape]
        if np.issubdtype(spec.dtype, np.floating):
            feeds[spec.name] = rng.standard_normal(shape).astype(spec.dtype)
        else:
            feeds[spec.name] = rng.integers(0, 4, size=shape).astype(spec.dtype)
    return feeds


def reference_outputs(path: str, feeds: dict[str, np.ndarray]) -> tuple[str, list[np.ndarray]]:
    """Outputs of onnxruntime if installed, else of onnx's reference evaluator."""
    try:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        return "onnxruntime", session.run(None, feeds)
    except ImportError:
        from onnx.reference import ReferenceEvaluator

        return "onnx.reference", list(ReferenceEvaluator(path).run(None, feeds))


def median_seconds(fn: Callable[[], object], repeat: int, warmup: int = 0) -> float:
    """Median wall time of `repeat` calls of `fn`, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run-tool", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="an .onnx model or a graph-dialect .mlir file")
    parser.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                        help="an input from a .npy file (others are random)")
    parser.add_argument("--dim", action="append", default=[], metavar="NAME=SIZE",
                        help="size of a symbolic dim for random inputs (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=10, help="timed runs (median shown)")
    parser.add_argument("--pipeline", default=None, help="graph optimization pipeline")
    parser.add_argument("--profile", action="store_true",
                        help="time each graph op over --repeat runs and print the table")
    parser.add_argument("--threads", type=int, default=None,
                        help="kernel threads (default: $KILN_NUM_THREADS or all cores)")
    parser.add_argument("--no-cache", action="store_true",
                        help="compile without the on-disk compile cache")
    parser.add_argument("--checks", choices=["shapes", "bounds"], default=None,
                        help="bounds: check every memory access at run time (slow; to "
                             "track down a wrong result)")
    parser.add_argument("--check", action="store_true",
                        help="compare with onnxruntime (or onnx.reference)")
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument("--atol", type=float, default=1e-5)
    parser.add_argument("--save", metavar="DIR", help="write outputs as DIR/<name>.npy")
    parser.add_argument("--bisect", nargs="?", const="all", choices=BISECT_KINDS,
                        help="find where Kiln first diverges from the reference: the first "
                             "node (every value exposed, no graph optimization), the first "
                             "optimization pass (and its rules), or both (the default); "
                             "uses --input/--dim/--seed, --rtol/--atol, --pipeline")
    parser.add_argument("--ir-lines", type=int, default=60, metavar="N",
                        help="--bisect: lines of IR shown per level (0: all)")
    parser.add_argument("--precision", default="fp32",
                        choices=["fp32", "fp16", "int8", "int8-dynamic"],
                        help="compile(precision=...): reduced-precision weights/arithmetic")
    parser.add_argument("--calibration", metavar="DIR",
                        help="--precision int8: a directory of .npz input samples (default: "
                             "random inputs from --seed)")
    parser.add_argument("--calibration-method", default="minmax",
                        choices=["minmax", "percentile", "entropy"])
    parser.add_argument("--calibration-count", type=int, default=8, metavar="N",
                        help="random calibration inputs when no DIR is given")
    parser.add_argument("--compare", action="store_true",
                        help="accuracy report against float32 on held-back inputs: max abs "
                             "error, cosine similarity, top-1 agreement (tools/accuracy.py)")
    parser.add_argument("--compare-count", type=int, default=16, metavar="N",
                        help="--compare: random held-back inputs (without a DIR)")
    args = parser.parse_args(argv)

    try:
        dims = {k: int(v) for k, v in _parse_pairs(args.dim, "--dim").items()}
    except ValueError:
        parser.error("--dim sizes must be integers")
    if args.bisect is not None:
        return run_bisect(args, dims)
    if args.compare or args.precision != "fp32":
        return run_precision(args, dims)
    try:
        start = time.perf_counter()
        model = compiler.compile(args.model, pipeline=args.pipeline, checks=args.checks,
                                 threads=args.threads, profile=args.profile,
                                 cache=False if args.no_cache else None)
        compile_seconds = time.perf_counter() - start
        feeds = make_inputs(model, _parse_pairs(args.input, "--input"), dims, args.seed)
        start = time.perf_counter()
        outputs = model(**feeds)
        first_seconds = time.perf_counter() - start
        run_seconds = median_seconds(lambda: model(**feeds), max(args.repeat, 1))
        profile = model.profile(**feeds, repeat=max(args.repeat, 1)) if args.profile else None
    except KilnError as e:
        print(f"run-tool: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"run-tool: {e}", file=sys.stderr)
        return 1

    print(f"model:   {args.model}")
    print(f"         {model}")
    print(f"graph:   {model.stats.graph_ops_imported} ops imported, "
          f"{model.stats.graph_ops_optimized} after optimization")
    for name, value in feeds.items():
        print(f"input    {name}: {value.dtype}{list(value.shape)}")
    np.set_printoptions(precision=5, suppress=True, linewidth=100, threshold=20)
    for spec, value in zip(model.outputs, outputs, strict=True):
        print(f"output   {spec.name}: {value.dtype}{list(value.shape)}")
        print("         " + np.array2string(value.ravel(), prefix="         "))
        if args.save:
            np.save(f"{args.save}/{spec.name}.npy", value)
    how = "from the compile cache" if model.stats.cache == "hit" else \
        f"jit {model.stats.seconds.get('jit', 0) * 1e3:.1f} ms"
    print(f"time:    compile {compile_seconds * 1e3:.1f} ms ({how}), first run "
          f"{first_seconds * 1e3:.3f} ms, median of {args.repeat} runs "
          f"{run_seconds * 1e3:.3f} ms (threads {model.stats.threads})")
    if profile is not None:
        print()
        print(profile.table())
        print()
    if not args.check:
        return 0
    if not args.model.endswith(".onnx"):
        print("check:   skipped (reference needs an .onnx model)")
        return 0
    ref_name, expected = reference_outputs(args.model, feeds)
    ok = True
    for spec, got, want in zip(model.outputs, outputs, expected, strict=True):
        err = np.abs(got.astype(np.float64) - want)
        rel = float(np.max(err / np.maximum(np.abs(want), args.atol / args.rtol)))
        match = np.allclose(got, want, rtol=args.rtol, atol=args.atol)
        ok &= bool(match)
        print(f"check:   {spec.name} vs {ref_name}: max abs err {float(err.max()):.3g}, "
              f"max rel err {rel:.3g} -> {'OK' if match else 'MISMATCH'}")
    return 0 if ok else 2


def run_precision(args: argparse.Namespace, dims: dict[str, int]) -> int:
    """run-tool --precision P [--compare]: compile at P (calibrated for int8) and print
    the accuracy report against float32; 0, or 1 on an error."""
    options = dict(pipeline=args.pipeline, checks=args.checks, threads=args.threads,
                   cache=False if args.no_cache else None)
    try:
        reference = compiler.compile(args.model, **options)
        files = _parse_pairs(args.input, "--input")

        def random_inputs(seed: int) -> dict[str, np.ndarray]:
            return make_inputs(reference, files, dims, seed)

        calibration, held_back, source = accuracy.split_samples(
            args.calibration, random_inputs, max(args.calibration_count, 1),
            max(args.compare_count, 1), args.seed, calibrate=args.precision == "int8")
        start = time.perf_counter()
        reduced = compiler.compile(
            args.model, precision=args.precision,
            calibration=calibration if args.precision == "int8" else None,
            calibration_method=args.calibration_method, **options)
        seconds = time.perf_counter() - start
        rows = accuracy.compare(reduced, reference, held_back)
    except (KilnError, OSError) as e:
        print(f"run-tool: {e}", file=sys.stderr)
        return 1
    print(f"model:     {args.model}")
    print(accuracy.format_report(args.precision, source, reduced, rows))
    print(f"time:      compile {seconds * 1e3:.1f} ms; median run "
          f"{median_seconds(lambda: reduced(**held_back[0]), max(args.repeat, 1)) * 1e3:.3f}"
          f" ms vs fp32 "
          f"{median_seconds(lambda: reference(**held_back[0]), max(args.repeat, 1)) * 1e3:.3f}"
          " ms")
    return 0


def run_bisect(args: argparse.Namespace, dims: dict[str, int]) -> int:
    """run-tool --bisect: print the bisection report; 0 if nothing diverges, 2 if
    something does, 1 on an error."""
    def log(message: str) -> None:
        print(f"run-tool: bisect: {message}", file=sys.stderr, flush=True)

    files = _parse_pairs(args.input, "--input")
    try:
        given = {name: np.load(path) for name, path in files.items()}
        if args.model.endswith(".mlir"):
            if args.bisect != "pass":
                print("run-tool: --bisect=node needs an .onnx model (the reference runs "
                      "it); use --bisect=pass for a .mlir file", file=sys.stderr)
                return 1
            specs = compiler.compile(args.model, pipeline="O0", cache=False, quiet=True)
            feeds = make_inputs(specs, files, dims, args.seed)
            model: object = args.model
        else:
            model = load_onnx(args.model, "bisection")
            feeds = random_feeds(model, dims, args.seed, given)
        report = bisect(model, feeds, by=args.bisect, pipeline=args.pipeline,
                        rtol=args.rtol, atol=args.atol, checks=args.checks,
                        threads=args.threads, log=log)
    except (KilnError, OSError) as e:
        print(f"run-tool: {e}", file=sys.stderr)
        return 1
    print(f"model:   {args.model}")
    for name, value in feeds.items():
        print(f"input    {name}: {value.dtype}{list(value.shape)}")
    print()
    print(report.format(args.ir_lines))
    diverges = (report.nodes is not None and report.nodes.diverges) or (
        report.passes is not None and (report.passes.diverges_before
                                       or report.passes.first is not None))
    return 2 if diverges else 0


if __name__ == "__main__":
    sys.exit(main())
