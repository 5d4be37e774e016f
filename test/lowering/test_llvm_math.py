"""Kiln's inline f32 exp and tanh (lowering/llvm_math.py) against numpy in float64."""

from __future__ import annotations

import math

import numpy as np
import pytest
from onnx import TensorProto, helper

import compiler


def _unary(op_type: str, n: int):
    graph = helper.make_graph(
        [helper.make_node(op_type, ["x"], ["y"])], op_type.lower(),
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n])])
    return compiler.compile(helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)]), pipeline="O0")


def _inputs(lo: float, hi: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    dense = rng.uniform(lo, hi, 20000)
    tiny = rng.uniform(-1, 1, 2000) * 10.0 ** rng.uniform(-30, 0, 2000)
    special = [0.0, -0.0, 1e-45, -1e-45, 1e-38, 0.625, -0.625, 0.6249999, 88.72, 88.7228,
               88.73, 89.0, -87.3, -88.0, -103.0, -103.97, -104.0, -200.0, 1e30, -1e30]
    return np.concatenate([dense, tiny, special]).astype(np.float32)


def _ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Distance in units of the last place of the float32 result."""
    want32 = want.astype(np.float32)
    spacing = np.spacing(np.abs(want32)).astype(np.float64)
    spacing = np.maximum(spacing, np.float64(np.finfo(np.float32).smallest_subnormal))
    return np.abs(got.astype(np.float64) - want) / spacing


@pytest.mark.parametrize("op_type,fn,lo,hi,max_ulps", [
    ("Exp", np.exp, -110.0, 90.0, 1.5), ("Tanh", np.tanh, -12.0, 12.0, 1.5),
    ("Sigmoid", lambda x: 1.0 / (1.0 + np.exp(-x)), -30.0, 30.0, 3.0),
    ("Erf", np.vectorize(math.erf, otypes=[np.float64]), -6.0, 6.0, 3.5)])
def test_accuracy_over_the_range(op_type, fn, lo, hi, max_ulps):
    x = _inputs(lo, hi)
    model = _unary(op_type, x.size)
    got = model(x)[0]
    with np.errstate(over="ignore"):
        want = fn(x.astype(np.float64))
        finite = np.isfinite(want.astype(np.float32))
    assert np.array_equal(np.isinf(got), ~finite & ~np.isnan(want))
    assert np.max(_ulps(got[finite], want[finite])) <= max_ulps  # sigmoid: + 1/(1+e)
    if op_type == "Erf":
        assert np.max(np.abs(got - want)) < 2e-7
    if op_type != "Sigmoid":
        assert not any(f in model.llvm_ir for f in ("expf", "tanhf", "erff"))


@pytest.mark.parametrize("op_type", ["Exp", "Tanh", "Erf"])
def test_special_values(op_type):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], np.float32)
    got = _unary(op_type, x.size)(x)[0]
    fn = {"Exp": np.exp, "Tanh": np.tanh,
          "Erf": np.vectorize(math.erf, otypes=[np.float32])}[op_type]
    with np.errstate(over="ignore"):
        want = fn(x)
    np.testing.assert_array_equal(got, want)
    assert np.signbit(got[4]) == np.signbit(want[4])
