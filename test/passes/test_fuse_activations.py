"""Activation fusion from ONNX models: Clip and LeakyRelu into conv/gemm, table kinds
into elementwise chains; the fused models match onnxruntime."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import ort_run

import compiler
from compiler.driver import run_pipeline
from compiler.importers.onnx import import_onnx
from dialects import graph as g

_SPEC = importlib.util.spec_from_file_location(
    "make_activation_models",
    Path(__file__).parents[1] / "filecheck" / "Inputs" / "make_activation_models.py")
make_activation_models = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(make_activation_models)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("activations")
    make_activation_models.main(out)
    return out


def _optimized(path: Path):
    module = import_onnx(onnx.load(str(path)))
    run_pipeline(module, "O2")
    return list(module.walk())


@pytest.mark.parametrize(("name", "linear", "act"), [("conv_clip", g.ConvOp, "clip"),
                                                     ("gemm_leaky", g.GemmOp, "leaky_relu")])
def test_activation_becomes_the_linear_ops_act(models, name, linear, act):
    ops = _optimized(models / f"{name}.onnx")
    fused = [op for op in ops if isinstance(op, linear)]
    assert len(fused) == 1 and fused[0].act.data == act
    assert not any(isinstance(op, g.ElementwiseOp) for op in ops)


def test_table_kinds_join_an_elementwise_chain(models):
    ops = _optimized(models / "conv_sin_chain.onnx")
    assert sum(isinstance(op, g.FusedElementwiseOp) for op in ops) == 1
    assert not any(isinstance(op, (g.ElementwiseOp, g.MulOp)) for op in ops)


@pytest.mark.parametrize("name", ["conv_clip", "gemm_leaky", "conv_sin_chain"])
def test_fused_models_match_onnxruntime(models, name):
    path = models / f"{name}.onnx"
    proto = onnx.load(str(path))
    rng = np.random.default_rng(1)
    shape = [d.dim_value or 5 for d in proto.graph.input[0].type.tensor_type.shape.dim]
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    got = compiler.compile(str(path))(x)[0]
    want = ort_run(proto, {"x": x})[0]
    scale = float(np.abs(want).max())  # conv accumulation order differs: relative to scale
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale)
