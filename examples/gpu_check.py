"""GPU check of the cuda target: every bundled model on the device vs the cpu target,
and Kiln-CUDA latency vs PyTorch eager (CUDA), in a few minutes.

    python examples/gpu_check.py                 # all of examples/models/*.onnx
    python examples/gpu_check.py --models mlp,bert --repeat 50

For each model: compile for cpu and for cuda (the GPU's arch), run both on the same
random inputs (examples/make_torch_models.py's example inputs for the PyTorch-exported
models), check the results agree to 1e-3 relative (atol 1e-3 * max|cpu|), then time
`repeat` calls of the Kiln-CUDA model (inputs from and outputs to numpy, as a user
calls it) and of the same seeded PyTorch module in eager mode on CUDA (synchronized,
tensors already on the device; models without a PyTorch source show "-"). Prints one
table row per model and exits 1 when any model fails or mismatches.

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
    torch_ms = _torch_ms(name, feeds, repeat)
    torch_text = "-" if torch_ms is None else f"{torch_ms:.3f}"
    ratio = "-" if torch_ms is None else f"{kiln_ms / torch_ms:.2f}"
    row = (f"| {name} | {len(gpu.kernels)} | {compile_s:.1f} | {'ok' if ok else 'MISMATCH'} "
           f"| {max(worst, 0.0):.1e} | {kiln_ms:.3f} | {torch_text} | {ratio} |")
    return ok, row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="", help="comma-separated names (default: all)")
    p.add_argument("--repeat", type=int, default=20)
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
    print(f"{datetime.date.today()}, {drv.name()} (sm_{major}{minor})")
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
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
