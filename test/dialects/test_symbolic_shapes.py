"""The symbolic dim algebra and the graph-level shape analysis the lowering proves with."""

from __future__ import annotations

import onnx
import pytest
from onnx import TensorProto, helper

from compiler.driver import load_graph_module, run_pipeline
from compiler.signature import main_function
from dialects.symbolic import SymInt, broadcast_dim, product, reshape_copy
from dialects.symbolic_shapes import SymbolicShapes, reshape_target

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
