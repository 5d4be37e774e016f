"""Quantized operators through the JIT: QuantizeLinear / DequantizeLinear (per tensor,
per axis, blocked, 16-bit, float8 / float4e2m1), DynamicQuantizeLinear, MatMulInteger, ConvInteger,
QLinearMatMul and QLinearConv exactly against onnx.reference, and a QDQ model written by
onnxruntime.quantization.quantize_static (per-channel conv weights) against onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from conftest import ort_run
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import compiler

F, U8, I8, I32 = TensorProto.FLOAT, TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32
RNG = np.random.default_rng(0)


def _model(nodes, inputs, outputs, opset: int = 21, initializers=()) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model


def _vi(name: str, elem: int, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def _exact(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> None:
    """Kiln's results equal onnx.reference's, bit for bit."""
    got = compiler.compile(model)(**feeds)
    want = ReferenceEvaluator(model).run(None, feeds)
    for g_, w in zip(got, want, strict=True):
        assert g_.dtype == w.dtype and g_.shape == w.shape
        np.testing.assert_array_equal(g_, w)


def _ints(dtype, *shape) -> np.ndarray:
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)


def _init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return onnx.numpy_helper.from_array(array, name)


@pytest.mark.parametrize("dtype,elem", [(np.uint8, U8), (np.int8, I8),
                                        (np.int16, TensorProto.INT16),
                                        (np.uint16, TensorProto.UINT16)])
def test_quantize_dequantize_per_axis(dtype, elem):
    """Per-channel Q then DQ of a batch-dynamic input; values past the range saturate and
    halves round to even."""
    scale = np.array([0.5, 0.02, 1.0], np.float32)
    zp = _ints(dtype, 3)
    model = _model(
        [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], axis=1),
         helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=1)],
        [_vi("x", F, ["n", 3, 4])], [_vi("q", elem, ["n", 3, 4]), _vi("y", F, ["n", 3, 4])],
        initializers=[_init("s", scale), _init("z", zp)])
    x = (RNG.standard_normal((2, 3, 4)) * 300).astype(np.float32)
    x[0, 0, :3] = [2.5, -3.5, 0.25]
    _exact(model, {"x": x})


def test_blocked_quantize_dequantize():
    """block_size 3 over a dim of 7 (a short last block), int8 with zero points."""
    scale = RNG.uniform(0.01, 0.1, (4, 3)).astype(np.float32)
    zp = _ints(np.int8, 4, 3)
    model = _model(
        [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], axis=1, block_size=3),
         helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=1,
                          block_size=3)],
        [_vi("x", F, [4, 7])], [_vi("q", I8, [4, 7]), _vi("y", F, [4, 7])],
        initializers=[_init("s", scale), _init("z", zp)])
    _exact(model, {"x": RNG.standard_normal((4, 7)).astype(np.float32) * 10})


def test_dequantize_int32_bias():
    """int32 with a zero point dequantizes in f64 (onnx.reference's promotion)."""
    model = _model([helper.make_node("DequantizeLinear", ["x", "s", "z"], ["y"])],
                   [_vi("x", I32, [5]), _vi("s", F, []), _vi("z", I32, [])],
                   [_vi("y", F, [5])])
    x = np.array([2**31 - 1, -2**31, 16777217, -3, 0], np.int32)
    _exact(model, {"x": x, "s": np.float32(1e-3), "z": np.int32(7)})


@pytest.mark.parametrize("scale", [1.0, 0.3])
def test_dynamic_quantize_linear(scale):
    model = _model([helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])],
                   [_vi("x", F, ["n", 6])],
                   [_vi("y", U8, ["n", 6]), _vi("s", F, []), _vi("z", U8, [])])
    _exact(model, {"x": (RNG.standard_normal((3, 6)) * scale + 0.5).astype(np.float32)})


def test_matmul_integer_per_row_and_column():
    """A per-row zero point of a ([M]) and a per-column one of b ([N])."""
    model = _model([helper.make_node("MatMulInteger", ["a", "b", "az", "bz"], ["y"])],
                   [_vi("a", U8, [4, 5]), _vi("b", I8, [5, 3]), _vi("az", U8, [4]),
                    _vi("bz", I8, [3])], [_vi("y", I32, [4, 3])])
    feeds = {"a": _ints(np.uint8, 4, 5), "b": _ints(np.int8, 5, 3),
             "az": _ints(np.uint8, 4), "bz": _ints(np.int8, 3)}
    got = compiler.compile(model)(**feeds)[0]
    a = feeds["a"].astype(np.int32) - feeds["az"].astype(np.int32)[:, None]
    np.testing.assert_array_equal(got, a @ (feeds["b"].astype(np.int32) - feeds["bz"]))


def test_qlinear_matmul_batched_dynamic():
    model = _model(
        [helper.make_node("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"],
                          ["y"])],
        [_vi("a", I8, ["n", 3, 8]), _vi("b", I8, [8, 5])], [_vi("y", I8, ["n", 3, 5])],
        initializers=[_init("as", np.float32(0.05)), _init("az", np.int8(3)),
                      _init("bs", np.float32(0.02)), _init("bz", np.int8(-2)),
                      _init("ys", np.float32(0.04)), _init("yz", np.int8(-5))])
    _exact(model, {"a": _ints(np.int8, 2, 3, 8), "b": _ints(np.int8, 8, 5)})


@pytest.mark.parametrize("batched", [False, True])
def test_qlinear_matmul_per_row_and_per_column(batched):
    """A per-row a_scale / a_zero_point with a per-column b_scale / b_zero_point (ONNX
    allows both at once): the multiplier is their outer product. onnx.reference applies
    a 1-D a_scale along the last axis (wrong for M != N), so the spec's formula in numpy
    (f32 multiplier, f64 product, as the reference computes it) is the check."""
    rng = np.random.default_rng(3)
    m, k, n = 4, 6, 3
    a_shape, ps = ([2, m, k], [2, m, 1]) if batched else ([m, k], [m])
    a_s = rng.uniform(0.01, 0.1, ps).astype(np.float32)
    a_z = rng.integers(-20, 20, ps).astype(np.int8)
    b_s = rng.uniform(0.01, 0.1, n).astype(np.float32)
    b_z = rng.integers(-20, 20, n).astype(np.int8)
    y_s, y_z = np.float32(0.07), np.int8(4)
    model = _model(
        [helper.make_node("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"],
                          ["y"])],
        [_vi("a", I8, a_shape), _vi("b", I8, [k, n])], [_vi("y", I8, [*a_shape[:-1], n])],
        initializers=[_init("as", a_s), _init("az", a_z), _init("bs", b_s),
                      _init("bz", b_z), _init("ys", y_s), _init("yz", y_z)])
    a = rng.integers(-128, 128, a_shape).astype(np.int8)
    b = rng.integers(-128, 128, (k, n)).astype(np.int8)
    got = compiler.compile(model)(a=a, b=b)[0]
    a_col = a_s if batched else a_s[:, None]
    acc = np.matmul(a.astype(np.int32) - (a_z if batched else a_z[:, None]),
                    b.astype(np.int32) - b_z)
    y = acc * (a_col * b_s / y_s) + y_z
    np.testing.assert_array_equal(got, np.clip(np.rint(y), -128, 127).astype(np.int8))


def test_qlinear_conv_per_channel_bias_group():
    """Per-output-channel weight scales and zero points, an int32 bias, pads, stride 2,
    group 2."""
    w = _ints(np.int8, 4, 2, 3, 3)
    model = _model(
        [helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"],
                          ["y"], pads=[1, 0, 1, 2], strides=[2, 1], group=2)],
        [_vi("x", U8, [1, 4, 7, 6])], [_vi("y", U8, [1, 4, 4, 6])],
        initializers=[_init("xs", np.float32(0.03)), _init("xz", np.uint8(120)),
                      _init("w", w),
                      _init("ws", RNG.uniform(0.005, 0.02, 4).astype(np.float32)),
                      _init("wz", np.zeros(4, np.int8)),
                      _init("ys", np.float32(0.1)), _init("yz", np.uint8(128)),
                      _init("b", RNG.integers(-500, 500, 4).astype(np.int32))])
    _exact(model, {"x": _ints(np.uint8, 1, 4, 7, 6)})


def test_conv_integer_weight_zero_point_per_channel():
    model = _model([helper.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["y"],
                                     pads=[1, 1, 1, 1])],
                   [_vi("x", U8, [1, 2, 4, 4]), _vi("w", U8, [3, 2, 3, 3]),
                    _vi("xz", U8, []), _vi("wz", U8, [3])], [_vi("y", I32, [1, 3, 4, 4])])
    _exact(model, {"x": _ints(np.uint8, 1, 2, 4, 4), "w": _ints(np.uint8, 3, 2, 3, 3),
                   "xz": np.uint8(7), "wz": _ints(np.uint8, 3)})


def test_quantize_errors_name_the_node():
    model = _model([helper.make_node("QuantizeLinear", ["x", "s"], ["q"], name="q0",
                                     axis=1)],
                   [_vi("x", F, [2, 3]), _vi("s", F, [2])], [_vi("q", U8, [2, 3])])
    with pytest.raises(compiler.CompileError, match="q0.*scale has 2 elements"):
        compiler.compile(model)


# --------------------------------------------------------------------------- float8 / float4

MINIFLOATS = [("float8_e4m3fn", TensorProto.FLOAT8E4M3FN),
              ("float8_e4m3fnuz", TensorProto.FLOAT8E4M3FNUZ),
              ("float8_e5m2", TensorProto.FLOAT8E5M2),
              ("float8_e5m2fnuz", TensorProto.FLOAT8E5M2FNUZ),
              ("float4_e2m1fn", TensorProto.FLOAT4E2M1)]


def _same_bits(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> None:
    """Kiln's results have onnx.reference's bits (minifloat NaNs included)."""
    got = compiler.compile(model)(**feeds)
    want = ReferenceEvaluator(model).run(None, feeds)
    for g_, w in zip(got, want, strict=True):
        assert g_.dtype == w.dtype and g_.shape == w.shape
        width = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[w.dtype.itemsize]
        np.testing.assert_array_equal(g_.view(width), w.view(width))


def _edge_floats() -> np.ndarray:
    """Ties, subnormals, values past every minifloat's range, inf, NaN and -0."""
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e30, -1e30, 448.0, 449.0, 464.0,
               240.0, 57344.0, 61440.0, 6.0, 7.0, 2.5, 0.75, -1.25, 2.0**-9, 2.0**-10,
               2.0**-17, 3 * 2.0**-18, 1e-30]
    rng = np.random.default_rng(1)  # its own: the other tests' data stay as they were
    rand = rng.standard_normal(40) * np.exp2(rng.integers(-12, 12, 40))
    return np.concatenate([special, rand]).astype(np.float32)


@pytest.mark.parametrize("saturate", [1, 0])
@pytest.mark.parametrize("name,elem", MINIFLOATS)
def test_minifloat_quantize_dequantize(name, elem, saturate):
    """QuantizeLinear to each float8 type and float4e2m1 (saturate on and off: overflow
    clamps or becomes inf/NaN) and DequantizeLinear back, per channel, bit for bit."""
    import ml_dtypes

    x = _edge_floats().reshape(3, -1)
    scale = np.array([1.0, 0.5, 3.0], np.float32)
    zp = np.zeros(3, getattr(ml_dtypes, name))
    model = _model(
        [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], axis=0,
                          saturate=saturate),
         helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=0)],
        [_vi("x", F, ["n", x.shape[1]])],
        [_vi("q", elem, ["n", x.shape[1]]), _vi("y", F, ["n", x.shape[1]])],
        opset=23, initializers=[_init("s", scale), _init("z", zp)])
    _same_bits(model, {"x": x})


@pytest.mark.parametrize("name,elem", MINIFLOATS)
def test_minifloat_dequantize_every_code_f16(name, elem):
    """DequantizeLinear of every code of the type with a float16 scale (f16 result) and
    QuantizeLinear of float16 input without a zero point (output_dtype)."""
    import ml_dtypes

    dtype = np.dtype(getattr(ml_dtypes, name))
    codes = np.arange(16 if "float4" in name else 256, dtype=np.uint8).view(dtype)
    model = _model(
        [helper.make_node("DequantizeLinear", ["c", "s"], ["y"]),
         helper.make_node("QuantizeLinear", ["h", "s"], ["q"], output_dtype=elem)],
        [_vi("c", elem, [len(codes)]), _vi("h", TensorProto.FLOAT16, [len(codes)]),
         _vi("s", TensorProto.FLOAT16, [])],
        [_vi("y", TensorProto.FLOAT16, [len(codes)]), _vi("q", elem, [len(codes)])],
        opset=23)
    h = (np.random.default_rng(2).standard_normal(len(codes)) * 40).astype(np.float16)
    _same_bits(model, {"c": codes, "h": h, "s": np.float16(0.75)})


# --------------------------------------------------------------------------- QDQ models


def _float_conv_matmul() -> onnx.ModelProto:
    """conv (8 channels, relu) -> flatten -> matmul + add: a small float model."""
    w = (RNG.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32)
    b = (RNG.standard_normal(8) * 0.1).astype(np.float32)
    m = (RNG.standard_normal((8 * 6 * 6, 10)) * 0.05).astype(np.float32)
    c = (RNG.standard_normal(10) * 0.1).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1],
                              strides=[1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Flatten", ["r"], ["f"]),
             helper.make_node("MatMul", ["f", "m"], ["mm"]),
             helper.make_node("Add", ["mm", "c2"], ["y"])]
    return _model(nodes, [_vi("x", F, [1, 3, 6, 6])], [_vi("y", F, [1, 10])], opset=17,
                  initializers=[_init("w", w), _init("b", b), _init("m", m),
                                _init("c2", c)])


@pytest.mark.parametrize("per_channel", [True, False])
def test_ort_quantize_static_qdq(tmp_path, per_channel):
    """A QDQ model as onnxruntime.quantization.quantize_static writes it (u8 activations,
    s8 weights, int32 biases; per-channel conv weights when asked): Kiln matches
    onnxruntime running the QDQ nodes as written, and its fused integer kernels to a few
    steps of the output scale."""
    quantization = pytest.importorskip("onnxruntime.quantization")
    import onnxruntime as ort

    src, dst = tmp_path / "float.onnx", tmp_path / "qdq.onnx"
    onnx.save(_float_conv_matmul(), src)
    samples = [{"x": RNG.standard_normal((1, 3, 6, 6)).astype(np.float32)} for _ in range(8)]

    class Reader(quantization.CalibrationDataReader):
        def __init__(self):
            self.items = iter(samples)

        def get_next(self):
            return next(self.items, None)

    quantization.quantize_static(
        str(src), str(dst), Reader(), quant_format=quantization.QuantFormat.QDQ,
        activation_type=quantization.QuantType.QUInt8,
        weight_type=quantization.QuantType.QInt8, per_channel=per_channel)
    model = onnx.load(dst)
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    if per_channel:
        conv_w = [n for n in model.graph.node if n.op_type == "DequantizeLinear"
                  and any(i.name == n.input[1] and len(i.dims) == 1 and i.dims[0] == 8
                          for i in model.graph.initializer)]
        assert conv_w, "expected a per-channel weight DequantizeLinear"
    compiled = compiler.compile(model)
    y_scale = next(float(onnx.numpy_helper.to_array(i)) for i in model.graph.initializer
                   if i.name == "y_scale")
    unfused = ort.SessionOptions()
    unfused.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    qdq = ort.InferenceSession(model.SerializeToString(), unfused,
                               providers=["CPUExecutionProvider"])
    for feeds in samples:
        got = compiled(**feeds)[0]
        # the QDQ graph's own semantics (ORT running the nodes as written): exact
        np.testing.assert_array_equal(got, qdq.run(None, feeds)[0])
        # ORT's fused integer kernels (QLinearConv, ...) round intermediate layers their
        # own way, which moves the output by a few steps of y_scale
        np.testing.assert_allclose(got, ort_run(model, feeds)[0], atol=16 * y_scale)
