"""bench-tool --gpu: Kiln's cuda target against PyTorch eager (CUDA) on the same GPU.

For each model: compile for target "cuda" (the GPU's arch), time `repeat` calls with the
CPU phase's inputs (numpy in, numpy out, as a user calls it), compare the outputs with
onnxruntime's (error relative to the output's scale; above GPU_MISMATCH_REL is a
mismatch), then time the same seeded PyTorch module in eager mode on the GPU (tensors
already on the device, synchronized after each call) where the model has one: the
realistic suite's (examples/make_bench_models.py) and the bundled models'
(examples/make_torch_models.py), found by file name; others show "-". Without a CUDA
device (or without the driver) the GPU column is skipped with a note saying why.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import compiler
from tools.run_tool import make_inputs, median_seconds, reference_outputs

GPU_MISMATCH_REL = 1e-3
WARMUP = 3
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class GpuResult:
    """One model on the GPU: Kiln-CUDA and PyTorch eager median seconds per call."""

    model: str
    kiln: float
    torch: float | None
    compile_seconds: float
    kernels: int
    rel_err: float

    @property
    def ratio(self) -> float | None:
        return None if self.torch is None else self.kiln / self.torch

    @property
    def mismatch(self) -> bool:
        return not self.rel_err <= GPU_MISMATCH_REL


def gpu_device() -> tuple[str | None, str]:
    """(the GPU's name and arch, "") or (None, why the GPU column is skipped)."""
    from compiler.runtime.cuda_driver import CudaError, driver

    try:
        drv = driver()
        major, minor = drv.compute_capability()
        return f"{drv.name()} (sm_{major}{minor})", ""
    except CudaError as e:
        return None, f"GPU column skipped: {str(e).splitlines()[0]}"


def _torch_source(path: str):
    """(the seeded torch module, its input names) for a model file, or None."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    stem = os.path.splitext(os.path.basename(path))[0]
    try:
        from examples import make_bench_models, make_torch_models
    except Exception:  # no torch (or torchvision) here
        return None
    for table in (make_bench_models.MODELS, make_torch_models.MODELS):
        if stem in table:
            return table[stem].make(), list(table[stem].inputs)
    return None


def torch_seconds(path: str, feeds: dict[str, np.ndarray], repeat: int) -> float | None:
    """Median seconds of the model's PyTorch module in eager mode on CUDA, or None."""
    try:
        import torch
    except ImportError:
        return None
    source = _torch_source(path) if torch.cuda.is_available() else None
    if source is None:
        return None
    module, names = source
    module = module.cuda().eval()
    args = [torch.from_numpy(feeds[n]).cuda() for n in names if n in feeds]

    def call() -> None:
        with torch.no_grad():
            module(*args)
        torch.cuda.synchronize()

    return median_seconds(call, repeat, warmup=WARMUP)


def _rel_err(got: Sequence[np.ndarray], want: Sequence[np.ndarray]) -> float:
    worst = 0.0
    for g, w in zip(got, want, strict=True):
        if g.shape != w.shape:
            return float("inf")
        if w.size:
            scale = max(float(np.max(np.abs(w))), 1e-30)
            worst = max(worst, float(np.max(np.abs(g.astype(np.float64) - w))) / scale)
    return worst


def bench_gpu(path: str, feeds: dict[str, np.ndarray] | None, dims: dict[str, int],
              repeat: int) -> GpuResult:
    """One model on the GPU (see the module doc); `feeds` default to the CPU phase's
    (make_inputs, seed 0)."""
    start = time.perf_counter()
    model = compiler.compile(path, target="cuda")
    compile_seconds = time.perf_counter() - start
    if feeds is None:
        feeds = make_inputs(model, {}, dims, seed=0)
    ordered = [feeds[s.name] for s in model.inputs]
    got = model(*ordered)
    kiln = median_seconds(lambda: model(*ordered), repeat, warmup=WARMUP)
    _, want = reference_outputs(path, feeds)
    rel = _rel_err(got, want)
    model.close()
    return GpuResult(os.path.basename(path), kiln, torch_seconds(path, feeds, repeat),
                     compile_seconds, len(model.kernels), rel)


def gpu_table(device: str, results: Sequence[GpuResult], repeat: int) -> str:
    """The GPU results as a markdown table, with the device and the date."""
    import datetime

    lines = [f"GPU: {device}, {datetime.date.today().isoformat()}; median of {repeat} calls "
             "(Kiln-CUDA: numpy in and out; PyTorch eager: tensors on the device).", "",
             "| model | kernels | Kiln-CUDA ms | PyTorch eager ms | Kiln / PyTorch | "
             "rel err vs ORT | cuda compile s |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        torch_ms = "-" if r.torch is None else f"{r.torch * 1e3:.3f}"
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}"
        flag = " MISMATCH" if r.mismatch else ""
        lines.append(f"| {r.model} | {r.kernels} | {r.kiln * 1e3:.3f} | {torch_ms} | {ratio} "
                     f"| {r.rel_err:.1e}{flag} | {r.compile_seconds:.1f} |")
    return "\n".join(lines)
