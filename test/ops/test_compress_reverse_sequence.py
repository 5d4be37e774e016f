"""Compress and ReverseSequence (compositions: compiler/importers/onnx/data.py) through the
JIT against onnx.reference: run-time conditions of any length up to the axis, the default
(flattening) axis, negative axes, dynamic dims, lengths of 0 and past the time steps."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import compiler

F, B, I32, I64 = TensorProto.FLOAT, TensorProto.BOOL, TensorProto.INT32, TensorProto.INT64
RNG = np.random.default_rng(0)


def _model(op: str, inputs, y_dims, y_type: int = F, opset: int = 11, **attrs):
    graph = helper.make_graph(
        [helper.make_node(op, [n for n, _, _ in inputs], ["y"], **attrs)], "g",
        [helper.make_tensor_value_info(n, t, d) for n, t, d in inputs],
        [helper.make_tensor_value_info("y", y_type, y_dims)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model


def _exact(model: onnx.ModelProto, feeds: dict[str, np.ndarray], compiled=None) -> None:
    got = (compiled or compiler.compile(model))(**feeds)[0]
    want = ReferenceEvaluator(model).run(None, feeds)[0]
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("axis", [0, 1, -1, None])
def test_compress_runtime_condition(axis):
    """One compiled model, conditions of several lengths and densities (none true, all
    true, shorter than the axis)."""
    attrs = {} if axis is None else {"axis": axis}
    model = _model("Compress", [("x", F, ["n", 5]), ("c", B, ["k"])],
                   ["m"] if axis is None else [None, None], **attrs)
    compiled = compiler.compile(model)
    x = RNG.standard_normal((4, 5)).astype(np.float32)
    size = {0: 4, 1: 5, -1: 5, None: 20}[axis]
    for k in sorted({1, 3, size}):
        for density in (0.0, 0.5, 1.0):
            _exact(model, {"x": x, "c": RNG.random(k) < density}, compiled)


def test_compress_3d_int_and_bf16():
    for elem, dtype in ((I32, np.int32), (TensorProto.BFLOAT16, ml_dtypes.bfloat16)):
        model = _model("Compress", [("x", elem, [2, 3, 4]), ("c", B, [3])], [2, 2, 4], elem,
                       opset=28, axis=1)
        x = (RNG.standard_normal((2, 3, 4)) * 10).astype(dtype)
        _exact(model, {"x": x, "c": np.array([True, False, True])})


def test_compress_condition_past_the_axis_is_an_error():
    model = _model("Compress", [("x", F, [2, 3]), ("c", B, ["k"])], [2, None], axis=1)
    compiled = compiler.compile(model)
    x = np.zeros((2, 3), np.float32)
    _exact(model, {"x": x, "c": np.array([True, False, True, False])}, compiled)
    with pytest.raises(Exception, match="index out of range"):
        compiled(x=x, c=np.array([True, False, True, True]))


def test_compress_static_condition_too_long_names_the_node():
    model = _model("Compress", [("x", F, [2, 3]), ("c", B, [4])], [2, None], axis=1)
    with pytest.raises(compiler.CompileError, match="condition has 4 elements"):
        compiler.compile(model)


@pytest.mark.parametrize("time_axis,batch_axis", [(0, 1), (1, 0)])
def test_reverse_sequence(time_axis, batch_axis):
    """Lengths 0, 1, in between, T and past T (reverses all: onnx.reference's slices),
    a dynamic time dim, rank 3."""
    t, b = 5, 5
    dims = [None, None, 2]
    dims[time_axis], dims[batch_axis] = "t", b
    model = _model("ReverseSequence", [("x", F, dims), ("l", I64, [b])], dims,
                   opset=10, time_axis=time_axis, batch_axis=batch_axis)
    compiled = compiler.compile(model)
    shape = [0, 0, 2]
    for steps in (t, 3):
        shape[time_axis], shape[batch_axis] = steps, b
        x = RNG.standard_normal(shape).astype(np.float32)
        lens = np.array([0, 1, 3, steps, steps + 2], np.int64)
        _exact(model, {"x": x, "l": lens}, compiled)


def test_reverse_sequence_bf16_int64():
    model = _model("ReverseSequence", [("x", TensorProto.BFLOAT16, [4, 3]),
                                       ("l", I64, [3])], [4, 3], TensorProto.BFLOAT16,
                   opset=28, time_axis=0, batch_axis=1)
    x = RNG.standard_normal((4, 3)).astype(ml_dtypes.bfloat16)
    _exact(model, {"x": x, "l": np.array([4, 2, 1], np.int64)})
