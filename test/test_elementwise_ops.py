"""Element types end to end, and the elementwise/comparison/cast/activation ops.

Every case builds a one-node ONNX model, compiles it through the whole pipeline (JIT) and
compares the values with onnx.reference.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import compiler

FLOATS = ["float16", "float32", "float64"]
SIGNED = ["int8", "int16", "int32", "int64"]
UNSIGNED = ["uint8", "uint16", "uint32", "uint64"]
ALL_TYPES = FLOATS + SIGNED + UNSIGNED + ["bool"]


def one_node(op: str, inputs: list[np.ndarray], out_dtype: str | None = None,
             opset: int = 18, n_outputs: int = 1, **attrs) -> onnx.ModelProto:
    """A model with one `op` node over inputs x0.. (shapes/dtypes of `inputs`)."""
    names = [f"x{i}" for i in range(len(inputs))]
    out_type = helper.np_dtype_to_tensor_dtype(np.dtype(out_dtype or inputs[0].dtype))
    node = helper.make_node(op, names, [f"y{i}" for i in range(n_outputs)], **attrs)
    graph = helper.make_graph(
        [node], op,
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(x.dtype), x.shape)
         for n, x in zip(names, inputs, strict=True)],
        [helper.make_tensor_value_info(f"y{i}", out_type, None) for i in range(n_outputs)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return with_output_shapes(model, inputs)


def with_output_shapes(model: onnx.ModelProto, inputs: list[np.ndarray]) -> onnx.ModelProto:
    """Give the graph outputs the shapes onnx.reference computes (the checker wants them)."""
    feeds = {model.graph.input[i].name: x for i, x in enumerate(inputs)}
    for out, value in zip(model.graph.output, ReferenceEvaluator(model).run(None, feeds),
                          strict=True):
        shape = out.type.tensor_type.shape
        shape.Clear()
        for d in np.shape(value):
            shape.dim.add().dim_value = d
    return model


def check(model: onnx.ModelProto, inputs: list[np.ndarray], rtol: float = 1e-5,
          atol: float = 1e-6) -> list[np.ndarray]:
    """Run `model` through Kiln's JIT and onnx.reference; assert equal dtypes and values."""
    feeds = {model.graph.input[i].name: x for i, x in enumerate(inputs)}
    expected = ReferenceEvaluator(model).run(None, feeds)
    got = compiler.compile(model)(*inputs)
    for e, g in zip(expected, got, strict=True):
        e = np.asarray(e)
        assert g.dtype == e.dtype, f"dtype {g.dtype}, expected {e.dtype}"
        assert g.shape == e.shape
        if e.dtype.kind == "f":
            tol = max(rtol, 2e-3) if e.dtype == np.float16 else rtol
            np.testing.assert_allclose(g, e, rtol=tol, atol=max(atol, tol))
        else:
            np.testing.assert_array_equal(g, e)
    return got


def sample(dtype: str, shape, low: float = -5, high: float = 5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return rng.random(shape) > 0.5
    if dt.kind == "f":
        return rng.uniform(low, high, shape).astype(dt)
    if dt.kind == "u":
        return rng.integers(max(0, int(low)) + 1, max(2, int(high)) + 1, shape).astype(dt)
    return rng.integers(int(low), int(high) + 1, shape).astype(dt)


# --------------------------------------------------------------------------- element types


@pytest.mark.parametrize("dtype", FLOATS + SIGNED + UNSIGNED)
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
def test_arithmetic_every_type(op, dtype):
    a = sample(dtype, (2, 3), seed=1)
    b = sample(dtype, (3,), low=1, high=7, seed=2)
    if np.dtype(dtype).kind in "iu":
        b = np.where(b == 0, 3, b).astype(dtype)
        if op == "Sub" and np.dtype(dtype).kind == "u":
            a, b = a + b, b  # no unsigned wrap-around in the reference
    check(one_node(op, [a, b]), [a, b])


def test_unsigned_division_uses_unsigned_bits():
    a = np.array([250, 200, 7], dtype=np.uint8)
    b = np.array([2, 100, 7], dtype=np.uint8)
    (y,) = check(one_node("Div", [a, b]), [a, b])
    assert y.tolist() == [125, 2, 1]


def test_signed_division_truncates():
    a = np.array([-7, 7, -7], dtype=np.int32)
    b = np.array([2, -2, -2], dtype=np.int32)
    (y,) = check(one_node("Div", [a, b]), [a, b])
    assert y.tolist() == [-3, -3, 3]


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint32", "float64", "float16"])
def test_matmul_and_gemm_types(dtype):
    a, b = sample(dtype, (2, 3), seed=3), sample(dtype, (3, 4), seed=4)
    check(one_node("MatMul", [a, b]), [a, b], rtol=1e-3)
    c = sample(dtype, (4,), seed=5)
    check(one_node("Gemm", [a, b, c]), [a, b, c], rtol=1e-3)


@pytest.mark.parametrize("dtype", ALL_TYPES)
def test_data_movement_every_type(dtype):
    x = sample(dtype, (2, 3), seed=6)
    check(one_node("Transpose", [x]), [x])
    check(one_node("Concat", [x, x], axis=1), [x, x])
    check(one_node("Identity", [x]), [x])
    shape = np.array([3, 2], dtype=np.int64)
    model = one_node("Reshape", [x, shape])
    model.graph.initializer.append(numpy_helper.from_array(shape, "x1"))
    del model.graph.input[1]
    check(model, [x])  # the shape input is an initializer: an attribute in disguise


@pytest.mark.parametrize("dtype", ["int8", "uint8", "float16", "float64"])
def test_max_pool_types(dtype):
    x = sample(dtype, (1, 2, 4, 4), low=-50, high=50, seed=7)
    check(one_node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 0, 0]),
          [x])


@pytest.mark.parametrize("dtype", ["int32", "uint8", "uint64", "float16", "int64"])
def test_constants_and_initializers_every_type(dtype):
    """Constant nodes (inline), small and large initializers (weights) and folding."""
    k = sample(dtype, (3,), seed=8)
    w = sample(dtype, (100, 1), seed=9)
    op = "Or" if dtype == "bool" else "Add"
    nodes = [helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(k)),
             helper.make_node(op, ["x0", "k"], ["a"]),
             helper.make_node(op, ["a", "w"], ["y0"]),
             helper.make_node(op, ["k", "k"], ["y1"])]  # folded at compile time
    et = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    graph = helper.make_graph(nodes, "c", [helper.make_tensor_value_info("x0", et, [3])],
                              [helper.make_tensor_value_info("y0", et, [100, 3]),
                               helper.make_tensor_value_info("y1", et, [3])],
                              [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    check(model, [sample(dtype, (3,), seed=10)])


@pytest.mark.parametrize("dtype", ["float16", "float64"])
@pytest.mark.parametrize("op", ["Relu", "Sigmoid", "Tanh", "Exp", "Sqrt", "Neg"])
def test_existing_unary_ops_on_all_float_types(op, dtype):
    x = sample(dtype, (2, 5), low=0.1, high=3, seed=11)
    check(one_node(op, [x]), [x], rtol=1e-3)


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64"])
def test_relu_and_neg_on_ints(dtype):
    x = sample(dtype, (7,), seed=12)
    check(one_node("Relu", [x]), [x])
    check(one_node("Neg", [x]), [x])
