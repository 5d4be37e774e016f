"""The cuda target without a GPU: PTX per kernel, ptxas for sm_80/sm_90, clear errors.

Where a CUDA device is present, the tests marked `gpu` also run the models on it and
compare with the cpu target (examples/gpu_check.py does the same for every bundled
model, with timings). The real models' ptxas check takes minutes on a small CPU, so it
runs only with KILN_PTXAS_ALL=1 (the small models always run). The small models' kernel
IR also runs in the SIMT simulator (test/gpu_simt.py) against the cpu target (BERT and
GPT-2 too with KILN_SIMT_ALL=1: a minute each).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from gpu_simt import simulate_model

import compiler
from compiler.errors import CompileError, KilnError
from compiler.runtime.cuda_driver import CudaError, NoCudaDevice, driver
from compiler.runtime.nvptx import ptx_entries

MODELS = Path(__file__).resolve().parents[2] / "examples" / "models"
SMALL = ["mlp", "cnn"]
REAL = ["resnet18", "mobilenetv2", "lstm", "gru", "bert", "bert_static", "gpt2"]


def _has_device() -> bool:
    try:
        driver()
    except CudaError:
        return False
    return True


HAS_DEVICE = _has_device()
gpu = pytest.mark.skipif(not HAS_DEVICE, reason="no CUDA device")
needs_ptxas = pytest.mark.skipif(shutil.which("ptxas") is None, reason="ptxas not on PATH")


@pytest.fixture(scope="module")
def mlp():
    return compiler.compile(str(MODELS / "mlp.onnx"), target="cuda:sm_80")


def test_every_kernel_is_a_ptx_entry(mlp):
    assert mlp.arch == "sm_80" and ".target sm_80" in mlp.ptx
    assert sorted(ptx_entries(mlp.ptx)) == sorted(mlp.kernels) and len(mlp.kernels) >= 5
    assert "ld.global" in mlp.ptx and "fma.rn.f32" in mlp.ptx
    assert ".target sm_90" in mlp.ptx_for("sm_90")


@pytest.mark.skipif(HAS_DEVICE, reason="a CUDA device is present")
def test_calling_without_a_device_says_so(mlp):
    x = np.zeros((2, 32), np.float32)
    with pytest.raises(NoCudaDevice, match="no CUDA device is present") as info:
        mlp(x)
    assert isinstance(info.value, KilnError)


def test_inputs_are_checked_before_the_device(mlp):
    with pytest.raises(compiler.InputError, match="expected float32 of rank 2"):
        mlp(np.zeros((2, 32), np.float64))


def test_unknown_arch_and_unsupported_modes_are_compile_errors():
    with pytest.raises(CompileError, match="unknown CUDA architecture 'sm_12'"):
        compiler.compile(str(MODELS / "mlp.onnx"), target="cuda:sm_12")
    with pytest.raises(CompileError, match="checks='bounds' is not supported"):
        compiler.compile(str(MODELS / "mlp.onnx"), target="cuda", checks="bounds")


def _ptxas(ptx: str, arch: str, tmp_path: Path) -> None:
    path = tmp_path / f"{arch}.ptx"
    path.write_text(ptx)
    run = subprocess.run(["ptxas", f"-arch={arch}", str(path), "-o", str(tmp_path / "o")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def _models() -> list[str]:
    return SMALL + (REAL if os.environ.get("KILN_PTXAS_ALL") == "1" else [])


@needs_ptxas
@pytest.mark.parametrize("name", _models())
def test_all_kernels_assemble_with_ptxas_for_sm80_and_sm90(name, tmp_path):
    model = compiler.compile(str(MODELS / f"{name}.onnx"), target="cuda:sm_80")
    assert sorted(ptx_entries(model.ptx)) == sorted(model.kernels)
    _ptxas(model.ptx, "sm_80", tmp_path)
    _ptxas(model.ptx_for("sm_90"), "sm_90", tmp_path)


def _simulated() -> list[tuple[str, int]]:
    more = [("bert", 3), ("gpt2", 2)] if os.environ.get("KILN_SIMT_ALL") == "1" else []
    return [("mlp", 3), ("cnn", 1), *more]


@pytest.mark.parametrize("name, batch", _simulated())
def test_the_kernel_ir_computes_what_the_cpu_target_does(name, batch):
    """Without a GPU: the kernels (tiled ones included) run in the SIMT simulator, which
    checks every access and barrier, and match the cpu target."""
    path = str(MODELS / f"{name}.onnx")
    cpu = compiler.compile(path)
    rng = np.random.default_rng(7)
    feeds = [rng.standard_normal([d if isinstance(d, int) else batch for d in spec.shape])
             .astype(spec.dtype) for spec in cpu.inputs]
    got, machine = simulate_model(path, feeds)
    assert machine.launches >= 5
    for g, w in zip(got, cpu(*feeds), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


@gpu
@pytest.mark.parametrize("batch", [1, 5])
def test_mlp_on_the_device_matches_the_cpu(mlp, batch):
    x = np.random.default_rng(batch).standard_normal((batch, 32)).astype(np.float32)
    (want,) = compiler.compile(str(MODELS / "mlp.onnx"))(x)
    (got,) = mlp(x)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)


@needs_ptxas
@pytest.mark.parametrize("elem", [onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE])
def test_float_mod_compiles_for_cuda(elem, tmp_path):
    # float Mod is llvm.frem inside the kernel, which the cuda target once refused (its
    # call of libdevice's exact fmod is checked in filecheck/gpu/gpu-fmod.mlir)
    x = onnx.helper.make_tensor_value_info("x", elem, [64])
    y = onnx.helper.make_tensor_value_info("y", elem, [64])
    z = onnx.helper.make_tensor_value_info("z", elem, [64])
    node = onnx.helper.make_node("Mod", ["x", "y"], ["z"], fmod=1)
    proto = onnx.helper.make_model(onnx.helper.make_graph([node], "mod", [x, y], [z]),
                                   opset_imports=[onnx.helper.make_opsetid("", 13)])
    model = compiler.compile(proto, target="cuda:sm_80")
    assert len(model.kernels) == 1
    _ptxas(model.ptx, "sm_80", tmp_path)


@pytest.mark.skipif(os.environ.get("KILN_CUDA_ALL_OPS") != "1",
                    reason="every ONNX node op type: ~15 minutes (KILN_CUDA_ALL_OPS=1)")
def test_every_op_the_cpu_target_compiles_compiles_for_cuda():
    """One ONNX node case per op type (the first that the cpu target compiles): the
    cuda target compiles it too, down to PTX."""
    from tools.conformance_tool import DEFAULT_DATA_DIR, ensure_data

    cases = ensure_data(DEFAULT_DATA_DIR, lambda c: "expanded" not in c.name)
    done: set[str] = set()
    refused: list[str] = []
    for case in cases:
        if case.op_type in done:
            continue
        path = str(DEFAULT_DATA_DIR / "node" / case.name / "model.onnx")
        try:
            compiler.compile(path, cache=False, quiet=True)
        except KilnError:
            continue
        done.add(case.op_type)
        try:
            compiler.compile(path, target="cuda:sm_80", quiet=True)
        except KilnError as e:
            refused.append(f"{case.op_type} ({case.name}): {str(e).splitlines()[0]}")
    assert len(done) > 100
    assert not refused, "\n".join(refused)
