"""GPU check of the cuda target: every bundled model on the device vs the cpu target,
and Kiln-CUDA latency vs PyTorch eager (CUDA), in a few minutes.

    python examples/gpu_check.py                 # all of examples/models/*.onnx
    python examples/gpu_check.py --models mlp,bert --repeat 50
    python examples/gpu_check.py --kernels-only  # just the odd-size kernel check (seconds)

First, a kernel check at odd sizes: one model (MatMul of two run-time-sized inputs, then
a Softmax over its rows, a strided Conv with 32 filters) compiled once for cuda and run at
sizes that leave partial tiles, partial K slices and rows shorter and longer than a
block, against numpy; this is where the shared-memory tiled kernels
(gpu-tile-contractions) and the block reductions (gpu-block-reductions) first meet real
hardware (they were checked before only in test/gpu_simt.py's simulator and by ptxas).

For each model: compile for cpu and for cuda (the GPU's arch), run both on the same
random inputs (examples/make_torch_models.py's example inputs for the PyTorch-exported
models), check the results agree to 1e-3 relative (atol 1e-3 * max|cpu|), then time
`repeat` calls of the Kiln-CUDA model (inputs from and outputs to numpy, as a user
calls it) and of the same seeded PyTorch module in eager mode on CUDA (synchronized,
tensors already on the device; models without a PyTorch source show "-"). Prints one
table row per model (with how many of its kernels are tiled / block reductions) and
exits 1 when any check fails or mismatches. For the README's latency table, run
`python -m tools.bench_tool --suite realistic --gpu --markdown` afterwards if time is
left (it needs torch and torchvision to build the suite; the cuda compiles take most of
the time: MobileNetV2 about 90 s on a 2-core CPU).

The GPU machine's image has PyTorch (CUDA), onnx, onnxruntime, llvmlite and numpy but
not xdsl: bring the wheel along and install it first, e.g. here
`pip download xdsl==0.74.0 --no-deps -d wheels/` and there
`pip install --no-deps wheels/xdsl-0.74.0-*.whl`, then run this script from the
repository root (PYTHONPATH=. if Kiln is not installed).
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import compiler  # noqa: E402

MODELS_DIR = ROOT / "examples" / "models"


def _feeds(name: str, model) -> dict[str, np.ndarray]:
    try:
        from examples.make_torch_models import MODELS

        if name in MODELS:
            return MODELS[name].example_inputs()
    except Exception:  # no torch: fall back to the model's own signature
        pass
    rng = np.random.default_rng(0)
    feeds = {}
    for spec in model.inputs:
        shape = [d if isinstance(d, int) else 2 for d in spec.shape]
        if spec.dtype.kind == "f":
            feeds[spec.name] = rng.standard_normal(shape).astype(spec.dtype)
        else:
            feeds[spec.name] = rng.integers(0, 10, size=shape).astype(spec.dtype)
    return feeds


def _kernel_model():
    """A: [m, k] x B: [k, n] -> Y = A @ B, Z = softmax(Y, rows); X: [1, 3, h, w] ->
    C = Conv(X, 32 filters 3x3, stride 2, pad 1). All sizes known at run time only."""
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(3).standard_normal((32, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["A", "B"], ["Y"]),
         helper.make_node("Softmax", ["Y"], ["Z"], axis=-1),
         helper.make_node("Conv", ["X", "W"], ["C"], strides=[2, 2], pads=[1, 1, 1, 1])],
        "kernel_check",
        [helper.make_tensor_value_info("A", TensorProto.FLOAT, ["m", "k"]),
         helper.make_tensor_value_info("B", TensorProto.FLOAT, ["k", "n"]),
         helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["m", "n"]),
         helper.make_tensor_value_info("Z", TensorProto.FLOAT, ["m", "n"]),
         helper.make_tensor_value_info("C", TensorProto.FLOAT, [1, 32, None, None])],
        [numpy_helper.from_array(w, "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString(), w


def _conv_reference(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    oh, ow = (x.shape[2] - 3) // 2 + 1, (x.shape[3] - 3) // 2 + 1
    out = np.zeros((1, w.shape[0], oh, ow))
    for u in range(3):
        for v in range(3):
            patch = x[:, :, u: u + 2 * oh - 1: 2, v: v + 2 * ow - 1: 2]
            out += np.einsum("nchw,fc->nfhw", patch, w[:, :, u, v])
    return out


def kernel_check() -> bool:
    """The odd-size check of the tiled and block-reduction kernels (see the doc)."""
    model, w = _kernel_model()
    gpu = compiler.compile(model, target="cuda")
    tiled = sum("_tiled_" in k for k in gpu.kernels)
    reduce = sum("_reduce_" in k for k in gpu.kernels)
    print(f"kernel check: {len(gpu.kernels)} kernels, {tiled} tiled, {reduce} block "
          "reductions")
    rng = np.random.default_rng(0)
    ok = tiled >= 2 and reduce >= 2
    for m, k, n, h in [(37, 70, 45, 9), (1, 5, 70, 16), (128, 128, 128, 33), (3, 300, 7, 4),
                       (64, 1, 300, 1), (513, 77, 33, 57)]:
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        x = rng.standard_normal((1, 3, h, h + 3)).astype(np.float32)
        y, z, c = gpu(a, b, x)
        want_y = a.astype(np.float64) @ b
        e = np.exp(want_y - want_y.max(axis=1, keepdims=True))
        checks = [(y, want_y), (z, e / e.sum(axis=1, keepdims=True)),
                  (c, _conv_reference(x, w))]
        errs = [float(np.max(np.abs(g - r)) / max(float(np.max(np.abs(r))), 1e-30))
                for g, r in checks]
        good = all(err <= 1e-4 for err in errs)
        ok &= good
        print(f"  m={m} k={k} n={n} conv {h}x{h + 3}: rel err matmul {errs[0]:.1e}, "
              f"softmax {errs[1]:.1e}, conv {errs[2]:.1e}  {'ok' if good else 'MISMATCH'}",
              flush=True)
    gpu.close()
    return ok


def _median_ms(fn, repeat: int) -> float:
    fn()  # warm-up (the first cuda call also loads the PTX and uploads the weights)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def _torch_ms(name: str, feeds: dict[str, np.ndarray], repeat: int) -> float | None:
    try:
        import torch

        from examples.make_torch_models import MODELS, build
    except Exception:
        return None
    if name not in MODELS or not torch.cuda.is_available():
        return None
    module = build(name).cuda().eval()
    args = [torch.from_numpy(feeds[n]).cuda() for n in MODELS[name].inputs]

    def call():
        with torch.no_grad():
            module(*args)
        torch.cuda.synchronize()

    return _median_ms(call, repeat)


def check(name: str, repeat: int) -> tuple[bool, str]:
    path = str(MODELS_DIR / f"{name}.onnx")
    start = time.perf_counter()
    gpu = compiler.compile(path, target="cuda")
    compile_s = time.perf_counter() - start
    cpu = compiler.compile(path)
    feeds = _feeds(name, cpu)
    want, got = cpu.run(feeds), gpu.run(feeds)
    worst, ok = 0.0, True
    for out, w in want.items():
        g = got[out]
        if g.shape != w.shape:
            return False, f"{name}: output {out} has shape {g.shape}, cpu {w.shape}"
        atol = 1e-3 * float(np.max(np.abs(w))) if w.size else 0.0
        if w.dtype.kind == "f":
            err = np.abs(g.astype(np.float64) - w) - atol
            rel = float(np.max(err / np.maximum(np.abs(w), 1e-30))) if w.size else 0.0
            worst = max(worst, rel)
            ok &= bool(np.allclose(g, w, rtol=1e-3, atol=atol))
        else:
            ok &= bool(np.array_equal(g, w))
    kiln_ms = _median_ms(lambda: gpu.run(feeds), repeat)
    gpu.close()
    torch_ms = _torch_ms(name, feeds, repeat)
    torch_text = "-" if torch_ms is None else f"{torch_ms:.3f}"
    ratio = "-" if torch_ms is None else f"{kiln_ms / torch_ms:.2f}"
    kinds = (f"{len(gpu.kernels)} ({sum('_tiled_' in k for k in gpu.kernels)} tiled, "
             f"{sum('_reduce_' in k for k in gpu.kernels)} reduce)")
    row = (f"| {name} | {kinds} | {compile_s:.1f} | {'ok' if ok else 'MISMATCH'} "
           f"| {max(worst, 0.0):.1e} | {kiln_ms:.3f} | {torch_text} | {ratio} |")
    return ok, row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="", help="comma-separated names (default: all)")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--kernels-only", action="store_true",
                   help="only the odd-size kernel check, no models")
    args = p.parse_args(argv)
    names = [n for n in args.models.split(",") if n] or sorted(
        f.stem for f in MODELS_DIR.glob("*.onnx"))
    from compiler.runtime.cuda_driver import CudaError, driver

    try:
        drv = driver()
    except CudaError as e:
        print(f"gpu_check: {e}", file=sys.stderr)
        return 2
    major, minor = drv.compute_capability()
    print(f"{datetime.date.today()}, {drv.name()} (sm_{major}{minor})", flush=True)
    try:
        kernels_ok = kernel_check()
    except Exception as e:  # keep going: the models' report still helps
        print(f"kernel check: error: {type(e).__name__}: {str(e)[:300]}")
        kernels_ok = False
    if args.kernels_only:
        return 0 if kernels_ok else 1
    print("| model | kernels | cuda compile s | vs cpu | max rel err | kiln-cuda ms "
          "| torch eager ms | kiln/torch |")
    print("|---|---|---|---|---|---|---|---|")
    failed = 0
    for name in names:
        try:
            ok, row = check(name, args.repeat)
        except Exception as e:  # keep going: one report for all models
            ok, row = False, f"| {name} | error: {type(e).__name__}: {str(e)[:300]} |"
        failed += not ok
        print(row, flush=True)
    return 1 if failed or not kernels_ok else 0


if __name__ == "__main__":
    sys.exit(main())
