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
    """Give the graph outputs the shapes and element types onnx.reference computes (the
    model checker runs ONNX's strict type inference)."""
    feeds = {model.graph.input[i].name: x for i, x in enumerate(inputs)}
    for out, value in zip(model.graph.output, ReferenceEvaluator(model).run(None, feeds),
                          strict=True):
        out.type.tensor_type.elem_type = helper.np_dtype_to_tensor_dtype(np.asarray(value).dtype)
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


@pytest.mark.parametrize("dtype", ["int32", "uint8", "uint64", "float16", "int64", "bool"])
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


# --------------------------------------------------------------------------- table-driven ops

# (ONNX op, dtypes, value range, attributes): unary ops on one (3, 4) input
UNARY_CASES = [
    ("Abs", FLOATS + SIGNED + ["uint8"], (-5, 5), {}),
    ("Ceil", FLOATS, (-5, 5), {}),
    ("Floor", FLOATS, (-5, 5), {}),
    ("Sign", ["float32", "int32", "uint16", "int8"], (-5, 5), {}),
    ("Reciprocal", FLOATS, (0.5, 5), {}),
    ("Log", FLOATS, (0.1, 5), {}),
    ("Sin", FLOATS, (-3, 3), {}), ("Cos", FLOATS, (-3, 3), {}), ("Tan", FLOATS, (-1, 1), {}),
    ("Asin", FLOATS, (-0.9, 0.9), {}), ("Acos", FLOATS, (-0.9, 0.9), {}),
    ("Atan", FLOATS, (-3, 3), {}), ("Sinh", FLOATS, (-3, 3), {}),
    ("Cosh", FLOATS, (-3, 3), {}), ("Asinh", FLOATS, (-3, 3), {}),
    ("Acosh", FLOATS, (1.1, 5), {}), ("Atanh", FLOATS, (-0.9, 0.9), {}),
    ("Erf", FLOATS, (-2, 2), {}),
    ("BitwiseNot", SIGNED + UNSIGNED, (0, 100), {}),
    ("IsNaN", FLOATS, (-3, 3), {}),
    ("LeakyRelu", FLOATS, (-3, 3), {"alpha": 0.2}),
    ("Elu", FLOATS, (-3, 3), {"alpha": 0.7}),
    ("Selu", FLOATS, (-3, 3), {}),
    ("Celu", ["float32"], (-3, 3), {"alpha": 2.0}),
    ("HardSigmoid", FLOATS, (-5, 5), {"alpha": 0.3, "beta": 0.4}),
    ("HardSwish", FLOATS, (-5, 5), {}),
    ("Softplus", FLOATS, (-5, 5), {}),
    ("Softsign", FLOATS, (-5, 5), {}),
    ("ThresholdedRelu", FLOATS, (-3, 3), {"alpha": 0.5}),
    ("Shrink", ["float32", "float64", "int32"], (-3, 3), {"bias": 1.5, "lambd": 1.0}),
    ("Mish", FLOATS, (-3, 3), {}),
]


@pytest.mark.parametrize("op,dtypes,bounds,attrs", UNARY_CASES, ids=[c[0] for c in UNARY_CASES])
def test_unary_ops(op, dtypes, bounds, attrs):
    for dtype in dtypes:
        x = sample(dtype, (3, 4), *bounds, seed=20)
        check(one_node(op, [x], **attrs), [x], rtol=1e-5 if dtype != "float16" else 2e-3)


def test_round_is_half_to_even():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, -2.6], dtype=np.float32)
    (y,) = check(one_node("Round", [x]), [x])
    assert y.tolist() == [0, 2, 2, -0, -2, 2, -3]


BINARY_CASES = [
    ("Pow", FLOATS, (0.5, 3), {}),
    ("Mod", SIGNED + UNSIGNED, (-9, 9), {}),
    ("Mod", FLOATS, (-9, 9), {"fmod": 1}),
    ("Mod", ["float32", "float64"], (-9, 9), {"fmod": 0}),
    ("Mod", ["int32", "int64"], (-9, 9), {"fmod": 1}),
    ("BitwiseAnd", SIGNED + UNSIGNED, (0, 100), {}),
    ("BitwiseOr", SIGNED + UNSIGNED, (0, 100), {}),
    ("BitwiseXor", SIGNED + UNSIGNED, (0, 100), {}),
    ("Equal", FLOATS + SIGNED + UNSIGNED + ["bool"], (-3, 3), {}),
    ("Less", FLOATS + SIGNED + UNSIGNED, (-3, 3), {}),
    ("LessOrEqual", ["float32", "int32", "uint8"], (-3, 3), {}),
    ("Greater", FLOATS + SIGNED + UNSIGNED, (-3, 3), {}),
    ("GreaterOrEqual", ["float16", "int64", "uint64"], (-3, 3), {}),
    ("And", ["bool"], (0, 1), {}), ("Or", ["bool"], (0, 1), {}), ("Xor", ["bool"], (0, 1), {}),
    ("PRelu", ["float32", "float64", "int32"], (-3, 3), {}),
    ("Max", FLOATS + SIGNED + UNSIGNED, (-50, 50), {}),
    ("Min", FLOATS + SIGNED + UNSIGNED, (-50, 50), {}),
    ("Sum", FLOATS, (0, 50), {}),
    ("Mean", FLOATS, (-5, 5), {}),
]


@pytest.mark.parametrize("op,dtypes,bounds,attrs", BINARY_CASES,
                         ids=[f"{c[0]}-{c[3]}" for c in BINARY_CASES])
def test_binary_ops_with_broadcasting(op, dtypes, bounds, attrs):
    for dtype in dtypes:
        a = sample(dtype, (2, 3, 4), *bounds, seed=21)
        b = sample(dtype, (3, 1), *bounds, seed=22)
        if op == "Mod" or op.startswith("Bitwise") and False:
            b = np.where(b == 0, 3, b).astype(dtype)
        check(one_node(op, [a, b], **attrs), [a, b], rtol=1e-5 if dtype != "float16" else 2e-3)


def test_integer_mod_sign_semantics():
    a = np.array([-7, 7, -7, 7, 6], dtype=np.int32)
    b = np.array([3, -3, -3, 3, -3], dtype=np.int32)
    (y,) = check(one_node("Mod", [a, b]), [a, b])
    assert y.tolist() == [2, -2, -1, 1, 0]  # sign of the divisor
    (y,) = check(one_node("Mod", [a, b], fmod=1), [a, b])
    assert y.tolist() == [-1, 1, -1, 1, 0]  # sign of the dividend


@pytest.mark.parametrize("op", ["Max", "Min", "Sum", "Mean"])
def test_variadic_ops(op):
    xs = [sample("float32", s, seed=i) for i, s in enumerate([(2, 3), (3,), (1, 3), (2, 1)])]
    check(one_node(op, xs), xs)
    check(one_node(op, xs[:1]), xs[:1])


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_pow_integer_and_mixed_types(dtype):
    # Pow-15: the base is int32/int64/float, the exponent any integer or float type
    x = sample(dtype, (6,), 1, 4, seed=30)
    for ydtype in ["int64", "float32", "int8", "uint8", "uint64", dtype]:
        y = sample(ydtype, (6,), 0, 3, seed=31)
        check(one_node("Pow", [x, y], opset=15), [x, y])
        xf = sample("float32", (6,), 0.5, 3, seed=32)
        check(one_node("Pow", [xf, y], opset=15), [xf, y])


@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
@pytest.mark.parametrize("dtype", UNSIGNED)
def test_bitshift(direction, dtype):
    x = sample(dtype, (5,), 0, 100, seed=40)
    n = np.array([0, 1, 2, 3, 4], dtype=dtype)
    check(one_node("BitShift", [x, n], direction=direction), [x, n])


def test_isinf_detect_flags():
    x = np.array([np.inf, -np.inf, 1.0, np.nan, 0.0], dtype=np.float32)
    for neg, pos in [(1, 1), (0, 1), (1, 0)]:
        check(one_node("IsInf", [x], detect_negative=neg, detect_positive=pos), [x])
    check(one_node("IsNaN", [x]), [x])


@pytest.mark.parametrize("dtype", ["float32", "int64", "uint8", "bool", "float16"])
def test_where_broadcasts_any_type(dtype):
    c = sample("bool", (2, 1, 4), seed=50)
    x, y = sample(dtype, (3, 1), seed=51), sample(dtype, (4,), seed=52)
    check(one_node("Where", [c, x, y]), [c, x, y])


@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "uint8", "int64"])
def test_clip_optional_bounds(dtype):
    x = sample(dtype, (3, 4), -20, 20, seed=60)
    lo, hi = np.array(2, dtype=dtype), np.array(9, dtype=dtype)
    check(one_node("Clip", [x, lo, hi]), [x, lo, hi])
    check(one_node("Clip", [x, lo]), [x, lo])
    check(one_node("Clip", [x]), [x])
    names = ["x0", "", "x2"]
    model = one_node("Clip", [x, hi])
    model.graph.node[0].input[:] = names[:1] + [""] + ["x1"]
    check(model, [x, hi])


CAST_TYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8",
              "uint16", "uint32", "uint64", "bool"]


@pytest.mark.parametrize("src", CAST_TYPES)
def test_cast_all_pairs(src):
    if np.dtype(src).kind == "f":
        x = np.array([0.0, 1.7, -1.7, 2.5, 100.9, -0.4, 7.0, 0.0], dtype=src)
        if src == "float16":
            x = x.astype(np.float16)
    else:
        x = sample(src, (8,), 0, 100, seed=70)
    for dst in CAST_TYPES:
        xs = x
        if np.dtype(src).kind == "f" and np.dtype(dst).kind == "u":
            xs = np.abs(x)  # negative floats to unsigned are undefined in ONNX
        to = helper.np_dtype_to_tensor_dtype(np.dtype(dst))
        check(one_node("Cast", [xs], out_dtype=dst, to=to), [xs])
        like = np.zeros((1,), dtype=dst)
        check(one_node("CastLike", [xs, like], out_dtype=dst), [xs, like])


def test_unsupported_cast_target_is_reported():
    from compiler.errors import CompileError

    x = np.zeros((2,), dtype=np.float32)
    node = helper.make_node("Cast", ["x"], ["y"], to=onnx.TensorProto.STRING)
    graph = helper.make_graph([node], "c", [helper.make_tensor_value_info("x", 1, [2])],
                              [helper.make_tensor_value_info("y", 1, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    with pytest.raises(CompileError, match="Cast to STRING is not supported"):
        compiler.compile(model)(x)


def test_wrong_element_type_is_a_clear_error():
    from compiler.errors import CompileError

    node = helper.make_node("Sin", ["x"], ["y"], name="s")
    graph = helper.make_graph([node], "c", [helper.make_tensor_value_info("x", 6, [2])],
                              [helper.make_tensor_value_info("y", 6, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    with pytest.raises(CompileError, match=r"Sin, node name: s.*unsupported type: "
                                           r"tensor\(int32\)"):
        compiler.compile(model)


def test_folding_of_table_ops():
    """Constant operands fold at compile time with the rule's numpy evaluator."""
    k = np.array([-2.0, 0.5, 3.0], dtype=np.float32)
    nodes = [helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(k)),
             helper.make_node("Less", ["k", "x0"], ["c"]),
             helper.make_node("Abs", ["k"], ["a"]),
             helper.make_node("Where", ["c", "a", "x0"], ["y0"])]
    graph = helper.make_graph(nodes, "f", [helper.make_tensor_value_info("x0", 1, [3])],
                              [helper.make_tensor_value_info("y0", 1, [3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    from compiler.driver import run_pipeline
    from compiler.importers.onnx import import_onnx

    module = import_onnx(model)
    assert '"abs"' in str(module)
    run_pipeline(module, "fold")
    assert '"abs"' not in str(module) and '"less"' in str(module)
    check(model, [np.array([0.0, 1.0, 2.0], dtype=np.float32)])
