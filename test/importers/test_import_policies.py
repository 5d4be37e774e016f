"""Import policies: per-node opset policy, LayerNormalization with
stash type and statistics outputs, RMSNormalization, import-time folding of shape
computations. Numerical checks run through the JIT against onnx.reference."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import compiler
from compiler.errors import CompileError

RNG = np.random.default_rng(1)


def _model(nodes, inputs, outputs, opset, inits=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _check(model, feeds, rtol=1e-4, atol=1e-5, stash_outputs=()):
    """`stash_outputs`: outputs whose type is the stash type (float32) by the spec, where
    onnx.reference keeps the input type."""
    expected = ReferenceEvaluator(model).run(None, feeds)
    got = list(compiler.compile(model).run(feeds).values())
    assert len(got) == len(expected)
    for k, (a, e) in enumerate(zip(got, expected, strict=True)):
        if k in stash_outputs:
            assert a.dtype == np.float32
            e = e.astype(np.float32)
        assert a.dtype == e.dtype and a.shape == e.shape
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol)


def _vi(name, dtype, shape):
    return helper.make_tensor_value_info(name, dtype, shape)


def test_old_opset_same_definition_imports():
    """And-7 is the definition still in force at opset 11: importable at opset 7."""
    node = helper.make_node("And", ["a", "b"], ["y"])
    model = _model([node], [_vi("a", TensorProto.BOOL, [3]), _vi("b", TensorProto.BOOL, [3])],
                   [_vi("y", TensorProto.BOOL, [3])], 7)
    _check(model, {"a": np.array([True, False, True]), "b": np.array([True, True, False])})


def test_old_opset_changed_definition_is_reported_per_node():
    """Clip-6 (min/max attributes) differs from Clip-11: a clear per-node error."""
    node = helper.make_node("Clip", ["x"], ["y"], name="clip0", min=0.0, max=1.0)
    model = _model([node], [_vi("x", TensorProto.FLOAT, [3])],
                   [_vi("y", TensorProto.FLOAT, [3])], 9)
    with pytest.raises(CompileError) as info:
        compiler.compile(model)
    (op,) = info.value.unsupported
    assert (op.op_type, op.opset, op.node_name) == ("Clip", 9, "clip0")
    assert "Clip-6" in op.reason and "Clip-11" in op.reason


def test_scatter_9_is_scatter_elements():
    node = helper.make_node("Scatter", ["x", "i", "u"], ["y"], axis=1)
    x = np.zeros((2, 3), np.float32)
    i = np.array([[1, 0], [2, 1]], np.int64)
    u = RNG.standard_normal((2, 2)).astype(np.float32)
    model = _model([node], [_vi("x", TensorProto.FLOAT, [2, 3]),
                            _vi("i", TensorProto.INT64, [2, 2]),
                            _vi("u", TensorProto.FLOAT, [2, 2])],
                   [_vi("y", TensorProto.FLOAT, [2, 3])], 10)
    expected = x.copy()
    for r in range(2):
        for c in range(2):
            expected[r, i[r, c]] = u[r, c]
    (got,) = compiler.compile(model).run({"x": x, "i": i, "u": u}).values()
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("axis", [0, 1, -1, -2])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_layer_norm_statistics_outputs(axis, dtype):
    shape = (2, 3, 4)
    a = axis % 3
    x = RNG.standard_normal(shape).astype(dtype)
    w = RNG.standard_normal(shape[a:]).astype(dtype)
    b = RNG.standard_normal(shape[a:]).astype(dtype)
    t = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    node = helper.make_node("LayerNormalization", ["x", "w", "b"], ["y", "mean", "inv"],
                            axis=axis, epsilon=1e-3)
    stat = [*shape[:a], *[1] * (3 - a)]
    model = _model([node], [_vi("x", t, shape)],
                   [_vi("y", t, shape), _vi("mean", TensorProto.FLOAT, stat),
                    _vi("inv", TensorProto.FLOAT, stat)], 17,
                   [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    tol = 1e-2 if dtype == np.float16 else 1e-4
    _check(model, {"x": x}, rtol=tol, atol=tol, stash_outputs=(1, 2))


@pytest.mark.parametrize("axis", [0, -1])
def test_rms_norm(axis):
    shape = (3, 5)
    x = RNG.standard_normal(shape).astype(np.float32)
    w = RNG.standard_normal(shape[axis % 2:]).astype(np.float32)
    node = helper.make_node("RMSNormalization", ["x", "w"], ["y"], axis=axis, epsilon=1e-4)
    model = _model([node], [_vi("x", TensorProto.FLOAT, shape)],
                   [_vi("y", TensorProto.FLOAT, shape)], 23,
                   [numpy_helper.from_array(w, "w")])
    _check(model, {"x": x})


def test_shape_computation_folds_into_reshape_target():
    """Reshape(x, Concat(Slice(Shape(x)), ConstantOfShape(Neg(k)))): the target's length is
    only known by evaluating the shape computation at compile time."""
    one = numpy_helper.from_array(np.array([1], np.int64), "one")
    zero = numpy_helper.from_array(np.array([0], np.int64), "zero")
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Slice", ["s", "zero", "one"], ["prefix"]),
        helper.make_node("Neg", ["one"], ["negone"]),
        helper.make_node("Abs", ["negone"], ["n"]),
        helper.make_node("ConstantOfShape", ["n"], ["suffix"],
                         value=numpy_helper.from_array(np.array([-1], np.int64))),
        helper.make_node("Concat", ["prefix", "suffix"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    model = _model(nodes, [_vi("x", TensorProto.FLOAT, [2, 3, 4])],
                   [_vi("y", TensorProto.FLOAT, [2, 12])], 17, [one, zero])
    _check(model, {"x": RNG.standard_normal((2, 3, 4)).astype(np.float32)})
