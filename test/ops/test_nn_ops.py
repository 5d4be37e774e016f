"""Reductions and neural-network ops through the whole pipeline (import, fold, lowering,
JIT), checked against onnxruntime (and onnx.reference) on one-node ONNX models, or
against numpy on graph-dialect IR."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
import pytest
from conftest import ort_run
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import compiler
from compiler.errors import CompileError

RNG = np.random.default_rng(0)
RTOL, ATOL = 1e-4, 1e-5


def rand(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def node_model(op_type: str, inputs: dict[str, np.ndarray], attrs: dict | None = None, *,
               consts: dict[str, np.ndarray] | None = None, opset: int = 18,
               outputs: Sequence[str] = ("y",), dynamic: dict[str, Sequence[int]] | None = None,
               node_inputs: Sequence[str] | None = None) -> onnx.ModelProto:
    """A one-node model: `inputs` are float graph inputs (dims listed in `dynamic` become
    symbolic), `consts` initializers."""
    consts = consts or {}
    dynamic = dynamic or {}
    graph_inputs = []
    for name, a in inputs.items():
        shape = [f"{name}_d{i}" if i in dynamic.get(name, ()) else d
                 for i, d in enumerate(a.shape)]
        graph_inputs.append(helper.make_tensor_value_info(
            name, helper.np_dtype_to_tensor_dtype(a.dtype), shape))
    names = list(node_inputs) if node_inputs is not None else [*inputs, *consts]
    node = helper.make_node(op_type, names, list(outputs), **(attrs or {}))
    graph = helper.make_graph(
        [node], "g", graph_inputs,
        [helper.make_empty_tensor_value_info(o) for o in outputs],
        initializer=[numpy_helper.from_array(v, k) for k, v in consts.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    inferred = onnx.shape_inference.infer_shapes(model)
    known = {vi.name: vi for vi in inferred.graph.value_info}
    for out in model.graph.output:
        if out.name in known and known[out.name].type.tensor_type.HasField("shape"):
            out.CopyFrom(known[out.name])
        elif graph_inputs:  # inference gave nothing: assume the first input's type
            out.type.CopyFrom(graph_inputs[0].type)
    return model


def check(model: onnx.ModelProto, feeds: dict[str, np.ndarray], rtol: float = RTOL,
          atol: float = ATOL, reference: bool = False) -> list[np.ndarray]:
    """Compile `model`, run it on `feeds`, compare every output with onnxruntime (or
    onnx.reference, where onnxruntime lacks the case or departs from the spec)."""
    want = ReferenceEvaluator(model).run(None, feeds) if reference else ort_run(model, feeds)
    got = compiler.compile(model).run(feeds)
    outs = [got[o.name] for o in model.graph.output]
    for g, w in zip(outs, want, strict=True):
        assert g.shape == np.shape(w), (g.shape, np.shape(w))
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return outs


def check_node(op_type: str, inputs: dict[str, np.ndarray], attrs: dict | None = None,
               **kw) -> list[np.ndarray]:
    rtol = kw.pop("rtol", RTOL)
    atol = kw.pop("atol", ATOL)
    reference = kw.pop("reference", False)
    return check(node_model(op_type, inputs, attrs, **kw), inputs, rtol, atol, reference)


# --------------------------------------------------------------------------- reductions

REDUCE_OPS = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
              "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"]


def _reduce_input(op: str, shape: Sequence[int]) -> np.ndarray:
    x = rand(*shape)
    return np.abs(x) + 0.5 if op == "ReduceLogSum" else x


@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_axes_input_opset18(op, keepdims):
    x = _reduce_input(op, (3, 4, 5))
    check_node(op, {"x": x}, {"keepdims": keepdims}, consts={"axes": np.array([0, -1])})


@pytest.mark.parametrize("op", REDUCE_OPS)
def test_reduce_axes_attribute_opset13_and_default_all_axes(op):
    x = _reduce_input(op, (2, 3, 4))
    if op == "ReduceSum":  # axes is an input from opset 13 on
        check_node(op, {"x": x}, {"axes": [1]}, opset=11)
    else:
        check_node(op, {"x": x}, {"axes": [1]}, opset=13)
    check_node(op, {"x": x}, {"keepdims": 0}, opset=13)


def test_reduce_noop_with_empty_axes_returns_input():
    x = rand(2, 3)
    (y,) = check_node("ReduceSum", {"x": x}, {"noop_with_empty_axes": 1},
                      consts={"axes": np.zeros(0, np.int64)})
    np.testing.assert_array_equal(y, x)


def test_reduce_dynamic_dims():
    x = rand(5, 3, 4)
    model = node_model("ReduceMean", {"x": x}, {"keepdims": 0},
                       consts={"axes": np.array([2])}, dynamic={"x": [0, 2]})
    compiled = compiler.compile(model)
    for shape in [(5, 3, 4), (2, 3, 7)]:
        x = rand(*shape)
        np.testing.assert_allclose(compiled(x)[0], x.mean(axis=2), rtol=RTOL, atol=ATOL)


def test_reduce_log_sum_exp_is_stable_for_large_values():
    x = (rand(2, 6) * 10 + 500).astype(np.float32)
    check_node("ReduceLogSumExp", {"x": x}, consts={"axes": np.array([1])}, rtol=1e-5)


RUNTIME_AXES_IR = """
func.func @main(%x: tensor<3x4x5xf32> {graph.name = "x"},
                %a: tensor<2xi64> {graph.name = "a"})
    -> (tensor<?x?x?xf32> {graph.name = "lse"}, tensor<?xf32> {graph.name = "mean"},
        tensor<?xf32> {graph.name = "l1"}) {
  %y = graph.reduce %x axes(%a : tensor<2xi64>) {kind = "log_sum_exp", axes = array<i64>}
      : tensor<3x4x5xf32> -> tensor<?x?x?xf32>
  %z = graph.reduce %x axes(%a : tensor<2xi64>) {kind = "mean", axes = array<i64>,
      keepdims = 0 : i64} : tensor<3x4x5xf32> -> tensor<?xf32>
  %w = graph.reduce %x axes(%a : tensor<2xi64>) {kind = "l1", axes = array<i64>,
      keepdims = 0 : i64} : tensor<3x4x5xf32> -> tensor<?xf32>
  func.return %y, %z, %w : tensor<?x?x?xf32>, tensor<?xf32>, tensor<?xf32>
}
"""


def _compile_ir(tmp_path, text: str):
    path = tmp_path / "m.mlir"
    path.write_text(text)
    return compiler.compile(str(path))


def test_reduce_with_run_time_axes(tmp_path):
    model = _compile_ir(tmp_path, RUNTIME_AXES_IR)
    x = rand(3, 4, 5)
    for axes in ([0, 2], [-1, 1], [1, 0]):
        lse, mean, l1 = model(x, np.array(axes, np.int64))
        ax = tuple(sorted(a % 3 for a in axes))
        np.testing.assert_allclose(lse, np.log(np.exp(x).sum(axis=ax, keepdims=True)),
                                   rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(mean, x.mean(axis=ax), rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(l1, np.abs(x).sum(axis=ax), rtol=RTOL, atol=ATOL)


ARG_IR = """
func.func @main(%x: tensor<3x4x5xf32> {graph.name = "x"})
    -> (tensor<3x5xi64> {graph.name = "amax"}, tensor<3x1x5xi64> {graph.name = "amin"},
        tensor<1x4x5xi64> {graph.name = "last"}) {
  %a = graph.arg_reduce %x {kind = "max", axis = 1 : i64, keepdims = 0 : i64}
      : (tensor<3x4x5xf32>) -> tensor<3x5xi64>
  %b = graph.arg_reduce %x {kind = "min", axis = 1 : i64}
      : (tensor<3x4x5xf32>) -> tensor<3x1x5xi64>
  %c = graph.arg_reduce %x {kind = "max", axis = 0 : i64, select_last_index = 1 : i64}
      : (tensor<3x4x5xf32>) -> tensor<1x4x5xi64>
  func.return %a, %b, %c : tensor<3x5xi64>, tensor<3x1x5xi64>, tensor<1x4x5xi64>
}
"""


def test_arg_max_min_and_select_last_index(tmp_path):
    model = _compile_ir(tmp_path, ARG_IR)
    x = np.round(rand(3, 4, 5))  # rounding makes ties
    amax, amin, last = model(x)
    assert amax.dtype == np.int64
    np.testing.assert_array_equal(amax, x.argmax(axis=1))
    np.testing.assert_array_equal(amin, x.argmin(axis=1)[:, None])
    np.testing.assert_array_equal(last, (2 - np.flip(x, 0).argmax(axis=0))[None])


# --------------------------------------------------------------------------- softmax family


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("opset, axis", [(11, 1), (11, 0), (11, -1), (13, 1), (13, 0),
                                         (13, -1)])
def test_softmax_family(op, opset, axis):
    x = rand(2, 3, 4)
    if op == "Hardmax":
        x = np.round(x * 2)  # ties: the first maximum wins
    check_node(op, {"x": x}, {"axis": axis}, opset=opset)


def test_log_softmax_dynamic_batch():
    x = rand(2, 7)
    model = node_model("LogSoftmax", {"x": x}, {"axis": -1}, dynamic={"x": [0]})
    compiled = compiler.compile(model)
    for n in (1, 5):
        x = rand(n, 7)
        check_like = ReferenceEvaluator(model).run(None, {"x": x})[0]
        np.testing.assert_allclose(compiled(x)[0], check_like, rtol=RTOL, atol=ATOL)


# --------------------------------------------------------------------------- matmul, gemm, einsum


@pytest.mark.parametrize("a, b", [((4,), (4,)), ((4,), (4, 3)), ((2, 3, 4), (4,)),
                                  ((2, 1, 3, 4), (5, 4, 2)), ((3, 4), (2, 4, 5))])
def test_matmul_shapes(a, b):
    check_node("MatMul", {"a": rand(*a), "b": rand(*b)})


def test_matmul_dynamic_dims():
    model = node_model("MatMul", {"a": rand(2, 3, 4), "b": rand(4, 5)}, dynamic={"a": [0, 1]})
    compiled = compiler.compile(model)
    a, b = rand(3, 6, 4), rand(4, 5)
    np.testing.assert_allclose(compiled(a, b)[0], a @ b, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("c_shape", [(), (1,), (5,), (3, 1), (3, 5)])
@pytest.mark.parametrize("trans", [(0, 0), (1, 1)])
def test_gemm_bias_shapes_and_transposes(c_shape, trans):
    a = rand(4, 3) if trans[0] else rand(3, 4)
    b = rand(5, 4) if trans[1] else rand(4, 5)
    check_node("Gemm", {"a": a, "b": b, "c": rand(*c_shape)},
               {"transA": trans[0], "transB": trans[1], "alpha": 0.5, "beta": 2.0})


@pytest.mark.parametrize("equation, shapes", [
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ij->ji", [(3, 4)]),
    ("ij->", [(3, 4)]),
    ("ii->i", [(4, 4)]),
    ("...ii->...i", [(2, 3, 3)]),
    ("i,i", [(5,), (5,)]),
    ("bhqd,bhkd->bhqk", [(1, 2, 3, 4), (1, 2, 5, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
])
def test_einsum(equation, shapes):
    inputs = {f"x{i}": rand(*s) for i, s in enumerate(shapes)}
    check_node("Einsum", inputs, {"equation": equation}, opset=12)


# --------------------------------------------------------------------------- convolution


@pytest.mark.parametrize("x_shape, w_shape, attrs", [
    ((1, 2, 9), (3, 2, 3), {"strides": [2], "pads": [1, 1]}),
    ((1, 2, 4, 5, 5), (2, 2, 2, 3, 3), {"dilations": [1, 2, 1]}),
    ((2, 4, 6, 6), (4, 2, 3, 3), {"group": 2, "auto_pad": "SAME_LOWER"}),
    ((1, 3, 7, 7), (3, 1, 3, 3), {"group": 3, "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ((1, 2, 5, 5), (4, 2, 2, 2), {"auto_pad": "VALID", "strides": [2, 1]}),
])
def test_conv_variants(x_shape, w_shape, attrs):
    check_node("Conv", {"x": rand(*x_shape), "w": rand(*w_shape)}, attrs)


@pytest.mark.parametrize("x_shape, w_shape, attrs", [
    ((1, 2, 3, 3), (2, 3, 3, 3), {}),
    ((1, 2, 4), (2, 2, 3), {"strides": [2], "output_padding": [1]}),
    ((1, 2, 3, 4), (2, 1, 3, 2), {"strides": [3, 2], "pads": [1, 0, 1, 1]}),
    ((1, 4, 3, 3), (4, 1, 2, 2), {"group": 2, "dilations": [2, 2]}),
    ((1, 1, 3, 3), (1, 2, 3, 3), {"strides": [2, 2], "output_shape": [7, 8]}),
    ((1, 1, 3, 3), (1, 2, 3, 3), {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ((1, 1, 2, 2, 2), (1, 2, 2, 2, 2), {"strides": [1, 2, 1]}),
])
def test_conv_transpose_variants(x_shape, w_shape, attrs):
    check_node("ConvTranspose", {"x": rand(*x_shape), "w": rand(*w_shape)}, attrs)


def test_conv_transpose_with_bias_and_dynamic_batch():
    x, w, b = rand(2, 2, 3, 3), rand(2, 3, 2, 2), rand(3)
    model = node_model("ConvTranspose", {"x": x, "w": w, "b": b}, {"strides": [2, 2]},
                       dynamic={"x": [0]})
    want = ReferenceEvaluator(model).run(None, {"x": x, "w": w, "b": b})[0]
    np.testing.assert_allclose(compiler.compile(model)(x, w, b)[0], want, rtol=RTOL,
                               atol=ATOL)


# --------------------------------------------------------------------------- pooling


@pytest.mark.parametrize("op, x_shape, attrs", [
    ("MaxPool", (1, 2, 9), {"kernel_shape": [3], "strides": [2], "ceil_mode": 1}),
    ("AveragePool", (1, 2, 9), {"kernel_shape": [3], "strides": [2], "ceil_mode": 1}),
    ("MaxPool", (1, 1, 5, 6, 6), {"kernel_shape": [2, 2, 2], "pads": [1, 0, 1, 0, 1, 1]}),
    ("AveragePool", (1, 1, 5, 6, 6), {"kernel_shape": [2, 2, 2],
                                      "pads": [1, 0, 1, 0, 1, 1], "count_include_pad": 1}),
    ("MaxPool", (1, 2, 7, 7), {"kernel_shape": [3, 3], "dilations": [2, 2],
                               "auto_pad": "SAME_UPPER"}),
])
def test_pool_edge_cases(op, x_shape, attrs):
    # onnxruntime shrinks SAME outputs with dilations; the spec (and onnx.reference) do not
    check_node(op, {"x": rand(*x_shape)}, attrs, opset=19, reference="dilations" in attrs)


@pytest.mark.parametrize("p", [1, 2, 3])
def test_lp_pool(p):
    check_node("LpPool", {"x": rand(1, 2, 6, 6)},
               {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "p": p},
               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("op, attrs", [("GlobalMaxPool", {}), ("GlobalLpPool", {"p": 1}),
                                       ("GlobalLpPool", {}), ("GlobalLpPool", {"p": 3})])
def test_global_pools(op, attrs):
    check_node(op, {"x": rand(2, 3, 4, 5)}, attrs, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- normalizations


def test_instance_norm():
    check_node("InstanceNormalization", {"x": rand(2, 3, 4, 5), "s": rand(3), "b": rand(3)},
               {"epsilon": 1e-3}, rtol=1e-4, atol=1e-4)


def test_lrn():
    check_node("LRN", {"x": rand(2, 5, 3, 3)}, {"size": 3, "alpha": 0.01, "beta": 0.6,
                                               "bias": 2.0})
    # an even size: onnxruntime rejects it, onnx.reference mixes up N and C; numpy here
    x = rand(2, 6, 2, 2)
    model = node_model("LRN", {"x": x}, {"size": 4, "alpha": 0.1})
    sq = np.pad(x * x, [(0, 0), (1, 2), (0, 0), (0, 0)])
    want = x / (1.0 + 0.1 / 4 * sum(sq[:, i:i + 6] for i in range(4))) ** 0.75
    np.testing.assert_allclose(compiler.compile(model)(x)[0], want, rtol=RTOL, atol=ATOL)


def test_mean_variance_normalization():
    check_node("MeanVarianceNormalization", {"x": rand(2, 3, 4, 4)}, rtol=1e-4, atol=1e-4)
    check_node("MeanVarianceNormalization", {"x": rand(2, 3, 4, 4)}, {"axes": [1, 3]},
               rtol=1e-4, atol=1e-4)


def test_batch_norm_inference_and_training_mode():
    x = rand(2, 3, 4, 4)
    s, b, m = rand(3), rand(3), rand(3)
    v = np.abs(rand(3)) + 0.5
    feeds = {"x": x, "s": s, "b": b, "m": m, "v": v}
    check_node("BatchNormalization", feeds, {"epsilon": 1e-3}, opset=15)
    check_node("BatchNormalization", feeds, {"training_mode": 1, "momentum": 0.8},
               opset=15, outputs=("y", "rm", "rv"), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("groups", [1, 3, 6])
@pytest.mark.parametrize("dynamic,sizes", [
    ((), [(2, 6, 3, 2)]),
    ((0,), [(2, 6, 3, 2), (1, 6, 3, 2)]),  # one inferred dim: static graph.reshape
    ((0, 2, 3), [(2, 6, 3, 2), (1, 6, 1, 5)]),  # graph.reshape_dynamic both ways
    ((0, 1, 2), [(3, 6, 4)]),  # C dynamic in x, known from scale
])
def test_group_normalization(groups, dynamic, sizes):
    """Compiled once, run on every size, against the ONNX function body."""
    x0 = rand(*sizes[0])
    model = node_model("GroupNormalization", {"x": x0, "s": rand(6), "b": rand(6)},
                       {"num_groups": groups, "epsilon": 1e-3}, opset=21,
                       dynamic={"x": dynamic})
    compiled = compiler.compile(model)
    for size in sizes:
        feeds = {"x": rand(*size) * 3 + 1, "s": rand(6), "b": rand(6)}
        want = ReferenceEvaluator(model).run(None, feeds)[0]
        np.testing.assert_allclose(compiled.run(feeds)["y"], want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype,stash,tol", [(np.float16, 1, 2e-3), (np.float64, 1, 1e-5),
                                             (np.float64, 11, 1e-10)])
def test_group_normalization_stash_type(dtype, stash, tol):
    feeds = {"x": rand(2, 4, 3).astype(dtype), "s": rand(4).astype(dtype),
             "b": rand(4).astype(dtype)}
    check_node("GroupNormalization", feeds, {"num_groups": 2, "stash_type": stash},
               opset=21, reference=True, rtol=tol, atol=tol)


def test_dropout_inference_is_identity():
    x = rand(3, 4)
    (y,) = check_node("Dropout", {"x": x}, consts={"r": np.array(0.5, np.float32)})
    np.testing.assert_array_equal(y, x)


# --------------------------------------------------------------------------- folding, errors


def test_reductions_of_constants_are_folded():
    data = rand(3, 4)
    model = node_model("ReduceL2", {}, consts={"c": data, "axes": np.array([1])},
                       node_inputs=["c", "axes"])
    compiled = compiler.compile(model)
    assert compiled.stats.graph_ops_optimized == 1  # only the folded constant is left
    np.testing.assert_allclose(compiled()[0], np.sqrt((data ** 2).sum(1, keepdims=True)),
                               rtol=RTOL)


def test_reduce_axis_out_of_range_is_a_clear_error():
    with pytest.raises(CompileError, match="axis 3 is out of range for rank 2"):
        compiler.compile(node_model("ReduceSum", {"x": rand(2, 3)},
                                    consts={"axes": np.array([3])}))


# --------------------------------------------------------------------------- element types


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint32, np.float64])
@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd",
                                "ReduceMean", "ReduceL1", "ReduceSumSquare"])
def test_reduce_element_types(op, dtype):
    x = RNG.integers(0 if dtype == np.uint32 else -4, 5, size=(3, 4)).astype(dtype)
    # onnxruntime has no uint32 reduction kernels: onnx.reference for those
    check_node(op, {"x": x}, {"keepdims": 0}, consts={"axes": np.array([1])},
               reference=dtype == np.uint32)


def test_reduce_bool_max_min():
    x = RNG.integers(0, 2, size=(4, 3)).astype(np.bool_)
    check_node("ReduceMax", {"x": x}, opset=20, consts={"axes": np.array([1])})
    check_node("ReduceMin", {"x": x}, opset=20, consts={"axes": np.array([0])})


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("attrs", [{}, {"axis": -1, "keepdims": 0},
                                   {"axis": 1, "select_last_index": 1}])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_arg_max_min_onnx(op, attrs, dtype):
    x = np.round(rand(3, 4, 2) * 2).astype(dtype)  # rounding makes ties
    (y,) = check_node(op, {"x": x}, attrs, opset=13)
    assert y.dtype == np.int64


# --------------------------------------------------------------------------- extra outputs


@pytest.mark.parametrize("storage_order", [0, 1])
def test_max_pool_indices(storage_order):
    x = rand(2, 3, 5, 6)
    check_node("MaxPool", {"x": x}, {"kernel_shape": [3, 2], "strides": [2, 2],
                                     "pads": [1, 0, 1, 1], "storage_order": storage_order},
               outputs=("y", "i"), reference=True)


def test_dropout_mask_and_run_time_training_flag():
    x = rand(3, 4)
    y, mask = check_node("Dropout", {"x": x}, outputs=("y", "m"))
    assert mask.dtype == np.bool_ and mask.all()
    feeds = {"x": x, "r": np.array(0.0, np.float32), "t": np.array(True)}
    model = node_model("Dropout", feeds, outputs=("y", "m"))
    compiled = compiler.compile(model)
    y, mask = compiled(**feeds)
    np.testing.assert_array_equal(y, x)
    assert mask.all()
    with pytest.raises(ValueError, match="training mode with a ratio other than 0"):
        compiled(x=x, r=np.array(0.5, np.float32), t=np.array(True))
    y, _ = compiled(x=x, r=np.array(0.5, np.float32), t=np.array(False))
    np.testing.assert_array_equal(y, x)


def test_run_time_axes_are_checked(tmp_path):
    model = _compile_ir(tmp_path, RUNTIME_AXES_IR)
    x = rand(3, 4, 5)
    with pytest.raises(ValueError, match="axis is out of range for rank 3"):
        model(x, np.array([0, 3], np.int64))
    with pytest.raises(ValueError, match="axes must be distinct"):
        model(x, np.array([1, -2], np.int64))


def test_reduce_with_run_time_axes_from_onnx():
    x = rand(2, 3, 4)
    model = node_model("ReduceSumSquare", {"x": x, "axes": np.array([1])}, {"keepdims": 0})
    model.graph.output[0].CopyFrom(helper.make_tensor_value_info("y", 1, ["a", "b"]))
    compiled = compiler.compile(model)
    for axes in ([1], [-1], [0]):
        a = np.array(axes, np.int64)
        want = ort_run(model, {"x": x, "axes": a})[0]
        np.testing.assert_allclose(compiled(x, a)[0], want, rtol=RTOL, atol=ATOL)
