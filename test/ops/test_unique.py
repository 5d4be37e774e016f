"""ONNX Unique (graph.unique over rows + a gather) through the JIT: sorted and in order
of first occurrence, flattened and along an axis, run-time sizes, NaN / -0, integer and
bool inputs, and the op's evaluator, against onnx.reference (and numpy where the
reference is wrong: unsorted along an axis other than 0)."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import compiler

I64 = TensorProto.INT64
RNG = np.random.default_rng(0)


def _model(elem: int, x_dims, y_dims, initializer: np.ndarray | None = None, **attrs):
    nodes = [helper.make_node("Unique", ["x"], ["y", "indices", "inverse", "counts"],
                              **attrs)]
    inputs, inits = [helper.make_tensor_value_info("x", elem, x_dims)], []
    if initializer is not None:
        inputs, inits = [], [numpy_helper.from_array(initializer, "x")]
    graph = helper.make_graph(
        nodes, "g", inputs,
        [helper.make_tensor_value_info("y", elem, y_dims),
         *[helper.make_tensor_value_info(n, I64, [None])
           for n in ("indices", "inverse", "counts")]], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    onnx.checker.check_model(model)
    return model


def _check(got, want) -> None:
    for g_, w in zip(got, want, strict=True):
        assert g_.dtype == w.dtype and g_.shape == w.shape, (g_, w)
        np.testing.assert_array_equal(g_, w)


def _ints(*shape, high=4):
    return RNG.integers(0, high, shape)


@pytest.mark.parametrize("sorted_", [1, 0])
def test_unique_flattened_runtime_sizes(sorted_):
    """One compiled model over inputs with different numbers of distinct values (1-D:
    onnx.reference is right for both orders)."""
    model = _model(TensorProto.FLOAT, ["n"], [None], sorted=sorted_)
    compiled = compiler.compile(model)
    for x in (np.array([2.0, 1.0, 1.0, 3.0, 4.0, 3.0]), np.zeros(1), np.arange(7.0)[::-1],
              np.array([0.0, -0.0, 5.0, -0.0]), _ints(30, high=6) * 0.5):
        feeds = {"x": x.astype(np.float32)}
        _check(compiled(**feeds), ReferenceEvaluator(model).run(None, feeds))


def test_unique_flattened_2d_and_nan():
    """Without axis a 2-D input is flattened; NaNs are one value, sorted last (numpy)."""
    model = _model(TensorProto.FLOAT, [3, 4], [None])
    x = np.array([[1, np.nan, 2, 1], [np.nan, 0, 2, -1], [5, 5, np.nan, 0]], np.float32)
    _check(compiler.compile(model)(x=x), ReferenceEvaluator(model).run(None, {"x": x}))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_unique_sorted_along_axis(axis):
    """Distinct slices (rows of the other dims) in lexicographic order."""
    model = _model(TensorProto.FLOAT, [None, None, 3], [None, None, None], axis=axis)
    x = _ints(4, 5, 3, high=2).astype(np.float32)
    x[2] = x[0]
    x[:, 3] = x[:, 1]
    _check(compiler.compile(model)(x=x), ReferenceEvaluator(model).run(None, {"x": x}))


def test_unique_unsorted_along_axis():
    """Order of first occurrence; axis 0 against onnx.reference, axis 1 against numpy
    (the reference takes the first occurrences along axis 0)."""
    x = _ints(6, 4, high=2).astype(np.int32)
    x[4] = x[1]
    model = _model(TensorProto.INT32, [6, 4], [None, 4], axis=0, sorted=0)
    _check(compiler.compile(model)(x=x), ReferenceEvaluator(model).run(None, {"x": x}))
    xt = np.ascontiguousarray(x.T)
    model = _model(TensorProto.INT32, [4, 6], [4, None], axis=1, sorted=0)
    y, indices, inverse, counts = compiler.compile(model)(x=xt)
    _, first, inv, cnt = np.unique(x, axis=0, return_index=True, return_inverse=True,
                                   return_counts=True)
    order = np.argsort(first)
    rank = np.argsort(order)
    _check([y, indices, inverse, counts],
           [xt[:, first[order]], first[order], rank[inv.reshape(-1)], cnt[order]])


@pytest.mark.parametrize("elem,dtype", [(TensorProto.UINT8, np.uint8),
                                        (TensorProto.INT64, np.int64),
                                        (TensorProto.BOOL, np.bool_),
                                        (TensorProto.BFLOAT16, ml_dtypes.bfloat16)])
def test_unique_element_types(elem, dtype):
    """Unsigned / signed order, bool, bf16 (opset 28 has it)."""
    x = np.array([200, 3, 255, 3, 0, 200, 7], np.int64)
    if dtype == np.int64:
        x = x - 100 + (1 << 40)
    model = _model(elem, [7], [None])
    if elem == TensorProto.BFLOAT16:
        model.opset_import[0].version = 28
    x = (x % 2).astype(dtype) if dtype == np.bool_ else x.astype(dtype)
    _check(compiler.compile(model)(x=x), ReferenceEvaluator(model).run(None, {"x": x}))


def test_unique_of_a_constant():
    """A constant input runs through the JIT too (fold leaves it: the result sizes
    depend on the values)."""
    x = np.array([[3, 1, 3], [1, 1, 3], [3, 1, 3]], np.int64)
    model = _model(I64, None, [None, 3], initializer=x, axis=0)
    _check(compiler.compile(model)(), ReferenceEvaluator(model).run(None, {}))


@pytest.mark.parametrize("sorted_", [True, False])
def test_unique_evaluator_matches_numpy(sorted_):
    """graph.unique's numpy evaluator (what fold would use) against numpy.unique."""
    from xdsl.dialects.builtin import TensorType, f32
    from xdsl.ir import Block

    from dialects import graph as g

    op = g.UniqueOp(Block(arg_types=[TensorType(f32, [40, 3])]).args[0], sorted_)
    x = _ints(40, 3, high=2).astype(np.float32)
    _, first, inv, cnt = np.unique(x, axis=0, return_index=True, return_inverse=True,
                                   return_counts=True)
    order = np.arange(len(first)) if sorted_ else np.argsort(first)
    _check(op.evaluate([x]), [first[order], np.argsort(order)[inv.reshape(-1)], cnt[order]])
