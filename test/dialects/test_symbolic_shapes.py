"""The symbolic dim algebra and the graph-level shape analysis the lowering proves with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from compiler.driver import load_graph_module, run_pipeline
from compiler.signature import main_function, read_signature
from dialects.symbolic import SymInt, broadcast_dim, product, reshape_copy
from dialects.symbolic_shapes import SymbolicShapes, output_dim_names, reshape_target

MODELS = Path(__file__).resolve().parents[2] / "examples" / "models"

b, s = SymInt.symbol("batch"), SymInt.symbol("seq")


def test_polynomials_are_canonical():
    assert b * s * 64 == 64 * s * b
    assert (b + 1) * (b - 1) == b * b - 1
    assert (b * s * 64).exact_div(b * 16) == s * 4
    assert (b * s * 64).exact_div(s * 3) is None
    assert (b - b).as_int() == 0 and SymInt.const(7).as_int() == 7
    assert str(b * s * 64 + 3) == "batch*seq*64 + 3"
    assert (b * 2 + 4).floordiv(2) == b + 2
    # not exact: an opaque symbol, equal only to the same computation
    assert (b + 1).floordiv(2) == (b + 1).floordiv(2) != b.floordiv(2)


def test_broadcast_rules():
    one = SymInt.const(1)
    assert broadcast_dim([b, one, b]) == b
    assert broadcast_dim([b, SymInt.const(16)]) == SymInt.const(16)
    assert broadcast_dim([SymInt.const(3), SymInt.const(4)]) is None
    mixed = broadcast_dim([b, s])
    assert mixed is not None and mixed == broadcast_dim([s, b]) != b
    assert broadcast_dim([mixed, b]) == mixed  # nested broadcasts flatten
    # a static table sliced to the run-time length broadcasts to that length
    table = SymInt.opaque("slice", 128, 0, s, 1)
    assert broadcast_dim([s, table]) == s
    assert broadcast_dim([s, SymInt.opaque("slice", 0, 0, s, 1)]) != s  # empty table


def test_reshape_targets():
    x = (b, s, SymInt.const(64))
    # x.view(x.size(0), x.size(1), -1, 16)
    assert reshape_target(x, [b, s, SymInt.const(-1), SymInt.const(16)], False) == \
        (b, s, SymInt.const(4), SymInt.const(16))
    # 0 copies the input dim; a run-time 0 entry is resolved the same way
    assert reshape_target(x, [SymInt.const(0), SymInt.const(-1)], False) == (b, s * 64)
    assert reshape_copy(b, b * s) == b
    assert reshape_copy(b, s) != b
    # an entry that may be negative at run time (could be -1) is not modelled
    assert reshape_target(x, [b - s, SymInt.const(-1)], False) is None
    assert product([b, s, 2]) == b * s * 2


def _analysis(model: onnx.ModelProto) -> tuple[SymbolicShapes, dict[str, tuple[str, ...]]]:
    module = load_graph_module(model)
    run_pipeline(module, "fold")  # small integer initializers become constants
    fn = main_function(module)
    analysis = SymbolicShapes(fn)
    named = {}
    for op in fn.walk():
        for r in op.results:
            if r.name_hint and r in analysis.dims:
                named[r.name_hint] = tuple(str(d) for d in analysis.dims[r])
    return analysis, named


def _model(nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_shape_chains_resolve_to_input_dims():
    # x[b, s, 64] -> view(b, s, 4, 16) through Shape/Gather/Unsqueeze/Concat
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4, "seq", 16])
    consts = [helper.make_tensor(n, TensorProto.INT64, dims, vals) for n, dims, vals in
              [("i0", [], [0]), ("i1", [], [1]), ("ax", [1], [0]), ("tail", [2], [4, 16])]]
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "i0"], ["d0"]),
        helper.make_node("Gather", ["shape", "i1"], ["d1"]),
        helper.make_node("Unsqueeze", ["d0", "ax"], ["u0"]),
        helper.make_node("Unsqueeze", ["d1", "ax"], ["u1"]),
        helper.make_node("Concat", ["u0", "u1", "tail"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["r"]),
        helper.make_node("Transpose", ["r"], ["y"], perm=[0, 2, 1, 3]),
    ]
    _, named = _analysis(_model(nodes, [x], [y], consts))
    assert named["r"] == ("batch", "seq", "4", "16")
    assert named["y"] == ("batch", "4", "seq", "16")


def test_attention_mask_dims_match_the_scores():
    # scores[b, 4, s, s] + mask[b, 1, 1, s]: the mask dim that is 1 is known to be 1
    scores = helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["b", 4, "s", "s"])
    mask = helper.make_tensor_value_info("mask", TensorProto.INT64, ["b", "s"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 4, "s", "s"])
    axes = helper.make_tensor("axes", TensorProto.INT64, [2], [1, 2])
    nodes = [helper.make_node("Unsqueeze", ["mask", "axes"], ["m4"]),
             helper.make_node("Cast", ["m4"], ["mf"], to=TensorProto.FLOAT),
             helper.make_node("Add", ["scores", "mf"], ["y"])]
    _, named = _analysis(_model(nodes, [scores, mask], [y], [axes]))
    assert named["mf"] == ("b", "1", "1", "s")
    assert named["y"] == ("b", "4", "s", "s")


@pytest.mark.parametrize("kernel,stride,pad,expect", [
    (3, 1, 1, "h"),          # same padding keeps the dim
    (1, 1, 0, "h"),
    (3, 2, 1, "floordiv(h - 1, 2) + 1"),  # not exact: opaque, by computation
])
def test_conv_output_dims(kernel, stride, pad, expect):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "h"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * 4)
    w = helper.make_tensor("w", TensorProto.FLOAT, [8, 3, kernel, kernel],
                           [0.0] * (8 * 3 * kernel * kernel))
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[kernel, kernel],
                            strides=[stride, stride], pads=[pad] * 4)
    _, named = _analysis(_model([node], [x], [y], [w]))
    assert named["y"] == ("n", "8", expect, expect)


def test_data_dependent_dims_are_fresh_symbols():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])
    shape = helper.make_tensor_value_info("shape", TensorProto.INT64, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, None])
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["y"])]
    analysis, named = _analysis(_model(nodes, [x, shape], [y]))
    d0, d1 = named["y"]
    assert d0 != d1 and d0.startswith("dyn") and d1.startswith("dyn")


def conv_bn_relu(stride: int, dims: list, c: int = 256) -> onnx.ModelProto:
    """The seed's Conv-BN-ReLU block on an input with named dynamic dims."""
    from onnx import numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((c, 3, 3, 3)).astype(np.float32), "w")]
    inits += [numpy_helper.from_array(np.ones(c, np.float32), n)
              for n in ("scale", "bias", "mean", "var")]
    nodes = [helper.make_node("Conv", ["input", "w"], ["c"], pads=[1, 1, 1, 1],
                              kernel_shape=[3, 3], strides=[stride, stride]),
             helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"],
                              ["b"]),
             helper.make_node("Relu", ["b"], ["output"])]
    graph = helper.make_graph(
        nodes, "cbr", [helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", c, "H", "W"])],
        inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def outputs_of(model) -> list[str]:
    return [str(spec) for spec in read_signature(main_function(load_graph_module(model)))[1]]


def test_output_dims_carry_the_input_dim_names():
    dims = ["batch_size", 3, "input_height", "input_width"]
    assert outputs_of(conv_bn_relu(1, dims)) == [
        "output: float32[batch_size, 256, input_height, input_width]"]
    # a derived size is named by its expression over the input names
    assert outputs_of(conv_bn_relu(2, dims, c=8)) == [
        "output: float32[batch_size, 8, floordiv(input_height - 1, 2) + 1, "
        "floordiv(input_width - 1, 2) + 1]"]
    # an input dim without a name gives no name to what it determines
    assert outputs_of(conv_bn_relu(1, ["batch_size", 3, None, None], c=8)) == [
        "output: float32[batch_size, 8, ?, ?]"]
    assert outputs_of(MODELS / "bert.onnx") == [
        "last_hidden_state: float32[batch, seq, 64]", "pooler_output: float32[batch, 64]"]


def test_data_dependent_output_dims_stay_unnamed():
    graph = helper.make_graph(
        [helper.make_node("NonZero", ["x"], ["nz"]),
         helper.make_node("Concat", ["x", "x"], ["xx"], axis=0)], "nz",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
        [helper.make_tensor_value_info("nz", TensorProto.INT64, [1, None]),
         helper.make_tensor_value_info("xx", TensorProto.FLOAT, [None])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert outputs_of(model) == ["nz: int64[1, ?]", "xx: float32[n*2]"]
    fn = main_function(load_graph_module(model))
    assert output_dim_names(fn) == [(None, None), ("n*2",)]
