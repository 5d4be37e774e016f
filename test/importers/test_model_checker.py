"""The model checker (compiler/importers/onnx/checker*.py): every rule rejects a malformed
model with a CompileError that names the node, the attribute or input, and the value; none
of them ends as an InternalError."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import compiler
from compiler.errors import CompileError, InternalError
from compiler.importers.onnx import import_onnx

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def vi(name: str, shape, elem: int = F) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def model(nodes, inputs, outputs, inits=(), opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def ints(name: str, values) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)


def weights(name: str, *shape: int) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ones(shape, np.float32), name)


def rejects(m: onnx.ModelProto, *fragments: str) -> str:
    """Import `m`, expect a CompileError (not internal) whose message has `fragments`."""
    with pytest.raises(CompileError) as info:
        import_onnx(m)
    assert not isinstance(info.value, InternalError), str(info.value)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in: {message}"
    assert str(-(2 ** 63)) not in message
    return message


def one_node(op: str, inputs, in_shapes, out_shape, inits=(), opset: int = 17, **attrs):
    names = [n for n in inputs if n and n not in {i.name for i in inits}]
    node = helper.make_node(op, list(inputs), ["y"], name="n1", **attrs)
    return model([node], [vi(n, s) for n, s in zip(names, in_shapes, strict=True)],
                 [vi("y", out_shape)], inits, opset)


# --------------------------------------------------------------------------- axes


@pytest.mark.parametrize("axis", [2, -3, -(2 ** 31), 2 ** 62])
def test_concat_axis_out_of_range(axis):
    m = one_node("Concat", ["a", "b"], [[2, 3], [2, 3]], [4, 3], axis=axis)
    message = rejects(m, "Concat node 'n1'", "attribute 'axis'", "out of range for rank 2")
    assert str(axis) in message or "-2**63" in message


@pytest.mark.parametrize("op,attrs,shape", [
    ("Softmax", {"axis": 3}, [2, 3]), ("LogSoftmax", {"axis": -4}, [2, 3, 4]),
    ("Flatten", {"axis": 4}, [2, 3, 4]), ("Gather", {"axis": 2}, [2, 3]),
    ("ArgMax", {"axis": 5}, [2, 3]), ("LayerNormalization", {"axis": 2}, [2, 3])])
def test_single_axis_rules(op, attrs, shape):
    inputs = ["x"]
    inits = []
    if op == "Gather":
        inputs.append("i")
        inits.append(ints("i", [0]))
    if op == "LayerNormalization":
        inputs.append("s")
        inits.append(weights("s", 3))
    m = one_node(op, inputs, [shape], [None] * len(shape), inits, **attrs)
    rejects(m, f"{op} node 'n1'", "attribute 'axis'", str(attrs["axis"]), "out of range")


def test_reduce_axes_input_out_of_range():
    m = one_node("ReduceSum", ["x", "axes"], [[2, 3]], [2], [ints("axes", [1, 7])], opset=13)
    rejects(m, "ReduceSum node 'n1'", "input 1 'axes'", "[1, 7]", "axis 7 is out of range")


def test_reduce_axes_attribute_out_of_range():
    m = one_node("ReduceMean", ["x"], [[2, 3]], [2], axes=[-3])
    rejects(m, "ReduceMean node 'n1'", "attribute 'axes' = [-3]", "out of range for rank 2")


def test_squeeze_of_a_dim_that_is_not_one():
    m = one_node("Squeeze", ["x", "axes"], [[2, 3]], [3], [ints("axes", [0])])
    rejects(m, "Squeeze node 'n1'", "input 1 'axes'", "dim 0 of [2, 3] is not 1")


def test_unsqueeze_axes_out_of_output_rank():
    m = one_node("Unsqueeze", ["x", "axes"], [[2, 3]], [1, 2, 3], [ints("axes", [3])])
    rejects(m, "Unsqueeze node 'n1'", "input 1 'axes'", "axis 3 is out of range for rank 3")


def test_transpose_perm_not_a_permutation():
    m = one_node("Transpose", ["x"], [[2, 3, 4]], [None, None, None], perm=[0, 0, 1])
    rejects(m, "Transpose node 'n1'", "attribute 'perm' = [0, 0, 1]", "not a permutation")


def test_transpose_perm_of_wrong_length():
    m = one_node("Transpose", ["x"], [[2, 3]], [None, None], perm=[1, 0, 2])
    rejects(m, "attribute 'perm' = [1, 0, 2]", "rank 2")


def test_slice_steps_zero_and_lengths():
    inits = [ints("s", [0]), ints("e", [2]), ints("a", [0]), ints("t", [0])]
    m = one_node("Slice", ["x", "s", "e", "a", "t"], [[4]], [None], inits)
    rejects(m, "Slice node 'n1'", "input 4 't' = [0]", "a step cannot be 0")
    inits[1] = ints("e", [2, 3])
    m = one_node("Slice", ["x", "s", "e", "a", "t"], [[4]], [None], inits)
    rejects(m, "Slice node 'n1'", "different lengths")


def test_split_sizes_must_add_up():
    node = helper.make_node("Split", ["x", "s"], ["a", "b"], name="sp", axis=0)
    m = model([node], [vi("x", [5])], [vi("a", [None]), vi("b", [None])], [ints("s", [2, 2])])
    rejects(m, "Split node 'sp'", "input 1 's' = [2, 2]", "add up to 4, but dim 0 is 5")


def test_gather_constant_index_out_of_range():
    m = one_node("Gather", ["x", "i"], [[3, 2]], [1, 2], [ints("i", [3])], axis=0)
    rejects(m, "Gather node 'n1'", "input 1 'i' = [3]", "index 3 is out of range")


# --------------------------------------------------------------------------- conv and pool


def _conv(**attrs):
    return one_node("Conv", ["x", "w"], [[1, 2, 5, 5]], [1, 4, None, None],
                    [weights("w", 4, 2, 3, 3)], **attrs)


@pytest.mark.parametrize("attrs,fragments", [
    ({"kernel_shape": [0, 3]}, ["attribute 'kernel_shape' = [0, 3]", ">= 1"]),
    ({"strides": [1, -1]}, ["attribute 'strides' = [1, -1]", ">= 1"]),
    ({"dilations": [0, 0]}, ["attribute 'dilations' = [0, 0]", ">= 1"]),
    ({"pads": [1, 1, -1, 1]}, ["attribute 'pads' = [1, 1, -1, 1]", "negative"]),
    ({"pads": [1, 1]}, ["attribute 'pads' = [1, 1]", "needs 4 values"]),
    ({"strides": [1]}, ["attribute 'strides' = [1]", "needs 2 values"]),
    ({"group": 3}, ["attribute 'group' = 3", "does not divide"]),
    ({"group": 0}, ["attribute 'group' = 0", ">= 1"]),
    ({"kernel_shape": [2, 2]}, ["attribute 'kernel_shape' = [2, 2]", "weight's spatial"]),
    ({"dilations": [3, 3]}, ["smaller than the dilated kernel extent 7"]),
])
def test_conv_window_rules(attrs, fragments):
    rejects(_conv(**attrs), "Conv node 'n1'", *fragments)


def test_conv_channels_must_match_the_weight():
    m = one_node("Conv", ["x", "w"], [[1, 3, 5, 5]], [1, 4, 3, 3], [weights("w", 4, 2, 3, 3)])
    rejects(m, "Conv node 'n1'", "the input has 3 channels", "expects 2")


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_pool_rules(op):
    m = one_node(op, ["x"], [[1, 1, 4, 4]], [1, 1, None, None], kernel_shape=[2, -2])
    rejects(m, f"{op} node 'n1'", "attribute 'kernel_shape' = [2, -2]")
    m = one_node(op, ["x"], [[1, 1, 4, 4]], [1, 1, None, None], kernel_shape=[2, 2],
                 pads=[2, 0, 0, 0])
    rejects(m, "attribute 'pads' = [2, 0, 0, 0]", "smaller than the kernel")
    m = one_node(op, ["x"], [[1, 1, 2, 2]], [1, 1, None, None], kernel_shape=[3, 3])
    rejects(m, "smaller than the dilated kernel extent 3")


def test_conv_transpose_output_padding():
    m = one_node("ConvTranspose", ["x", "w"], [[1, 2, 3, 3]], [1, 3, None, None],
                 [weights("w", 2, 3, 3, 3)], strides=[1, 1], output_padding=[1, 1])
    rejects(m, "ConvTranspose node 'n1'", "attribute 'output_padding' = [1, 1]",
            "less than the stride")


def test_lrn_size_and_rnn_hidden_size():
    rejects(one_node("LRN", ["x"], [[1, 2, 3, 3]], [1, 2, 3, 3], size=0),
            "LRN node 'n1'", "attribute 'size' = 0", ">= 1")
    m = one_node("RNN", ["x", "w", "r"], [[2, 1, 3]], [2, 1, 1, 4],
                 [weights("w", 1, 4, 3), weights("r", 1, 4, 4)], hidden_size=5)
    rejects(m, "RNN node 'n1'", "input 1 'w'", "expected [1, 5, ?] for hidden_size 5")


# --------------------------------------------------------------------------- shape inputs


def test_reshape_target_rules():
    m = one_node("Reshape", ["x", "t"], [[2, 3]], [None, None], [ints("t", [-1, -1])])
    rejects(m, "Reshape node 'n1'", "input 1 't' = [-1, -1]", "at most one")
    m = one_node("Reshape", ["x", "t"], [[2, 3]], [None, None], [ints("t", [-2, 3])])
    rejects(m, "input 1 't' = [-2, 3]", ">= -1")


@pytest.mark.parametrize("op,values", [("Expand", [2, -3]), ("Tile", [1, -1])])
def test_negative_sizes(op, values):
    m = one_node(op, ["x", "s"], [[2, 1]], [None, None], [ints("s", values)])
    rejects(m, f"{op} node 'n1'", f"input 1 's' = {values}", "cannot be negative")


def test_pad_length():
    m = one_node("Pad", ["x", "p"], [[2, 3]], [None, None], [ints("p", [1, 1, 1])])
    rejects(m, "Pad node 'n1'", "input 1 'p' = [1, 1, 1]", "needs 2 x 2 values")


def test_range_delta_zero():
    inits = [ints("a", 0), ints("b", 5), ints("d", 0)]
    node = helper.make_node("Range", ["a", "b", "d"], ["y"], name="rg")
    m = model([node], [], [vi("y", [None], I64)], inits)
    rejects(m, "Range node 'rg'", "input 2 'd' = [0]", "delta cannot be 0")


def test_topk_k_larger_than_the_dim():
    node = helper.make_node("TopK", ["x", "k"], ["v", "i"], name="tk")
    m = model([node], [vi("x", [2, 3])], [vi("v", [2, None]), vi("i", [2, None], I64)],
              [ints("k", [4])])
    rejects(m, "TopK node 'tk'", "input 1 'k' = [4]", "between 0 and the size of dim -1 (3)")


# --------------------------------------------------------------------------- depth <-> space


@pytest.mark.parametrize("shape,attrs,fragments", [
    ([1, 8, 2, 2], {"blocksize": 0}, ["attribute 'blocksize' = 0", "must be >= 1"]),
    ([1, 6, 2, 2], {"blocksize": 2}, ["attribute 'blocksize' = 2", "6 input channels",
                                      "multiple of blocksize² = 4"]),
    ([1, 8, 2, 2], {"blocksize": 2, "mode": "XYZ"}, ["attribute 'mode' = 'XYZ'"]),
    ([8, 2, 2], {"blocksize": 2}, ["input 0 'x'", "rank 4", "[8, 2, 2]"]),
])
def test_depth_to_space_rules(shape, attrs, fragments):
    m = one_node("DepthToSpace", ["x"], [shape], [None] * len(shape), **attrs)
    rejects(m, "DepthToSpace node 'n1'", *fragments)


@pytest.mark.parametrize("shape,attrs,fragments", [
    ([1, 2, 4, 4], {"blocksize": -1}, ["attribute 'blocksize' = -1", "must be >= 1"]),
    ([1, 2, 3, 4], {"blocksize": 2}, ["attribute 'blocksize' = 2", "input height 3"]),
    ([1, 2, 4, 5], {"blocksize": 2}, ["attribute 'blocksize' = 2", "input width 5"]),
    ([2, 4, 4], {"blocksize": 2}, ["input 0 'x'", "rank 4"]),
])
def test_space_to_depth_rules(shape, attrs, fragments):
    m = one_node("SpaceToDepth", ["x"], [shape], [None] * len(shape), **attrs)
    rejects(m, "SpaceToDepth node 'n1'", *fragments)


def test_eye_like_rules():
    m = one_node("EyeLike", ["x"], [[2, 2]], [None, None], opset=22, dtype=99)
    rejects(m, "EyeLike node 'n1'", "attribute 'dtype' = 99", "not a TensorProto data type")
    m = one_node("EyeLike", ["x"], [[1, 2, 2]], [None, None], opset=22)
    rejects(m, "EyeLike node 'n1'", "input 0 'x'", "must be 2-D", "[1, 2, 2]")


@pytest.mark.parametrize("x_shape,s_shape,attrs,fragments", [
    ([2, 6, 3], [6], {"num_groups": 0}, ["attribute 'num_groups' = 0", "must be >= 1"]),
    ([2, 6, 3], [6], {"num_groups": 4}, ["attribute 'num_groups' = 4",
                                         "does not divide the 6 input channels"]),
    ([2, "c", 3], [6], {"num_groups": 4}, ["attribute 'num_groups' = 4",
                                           "does not divide the 6"]),
    ([2, 6, 3], [3], {"num_groups": 3}, ["input 1 's'", "one value per channel (6)",
                                         "[3]"]),
])
def test_group_normalization_rules(x_shape, s_shape, attrs, fragments):
    m = one_node("GroupNormalization", ["x", "s", "b"], [x_shape, s_shape, [6]],
                 [None] * 3, opset=21, **attrs)
    rejects(m, "GroupNormalization node 'n1'", *fragments)


# --------------------------------------------------------------------------- tensors


def test_initializer_dims_do_not_match_its_data():
    w = weights("w", 2, 3)
    w.dims[:] = [2, 4]
    m = one_node("Add", ["x", "w"], [[2, 4]], [2, 4], [w])
    rejects(m, "initializer 'w'", "dims [2, 4] (8 elements)", "holds 6 elements")


def test_initializer_negative_dim():
    w = weights("w", 2)
    w.dims[:] = [-2]
    rejects(one_node("Add", ["x", "w"], [[2]], [2], [w]), "initializer 'w'",
            "dims [-2]", "negative")


def test_initializer_typed_data_size():
    w = helper.make_tensor("w", F, [3], [1.0, 2.0, 3.0])
    del w.float_data[2]
    rejects(one_node("Add", ["x", "w"], [[3]], [3], [w]), "initializer 'w' (FLOAT)",
            "3 elements", "holds 2 elements")


def test_initializer_unknown_data_type():
    w = weights("w", 2)
    w.data_type = 1000
    rejects(one_node("Add", ["x", "w"], [[2]], [2], [w]), "initializer 'w'",
            "data_type 1000")


def test_constant_attribute_tensor_is_checked():
    t = numpy_helper.from_array(np.ones(4, np.float32))
    t.dims[:] = [5]
    node = helper.make_node("Constant", [], ["y"], name="c", value=t)
    rejects(model([node], [], [vi("y", [5])]), "Constant node 'c'", "attribute 'value'",
            "holds 4 elements")


@pytest.mark.parametrize("dim", [-1, -(2 ** 63)])
def test_negative_declared_dim(dim):
    m = one_node("Relu", ["x"], [[2, dim]], [2, None])
    message = rejects(m, "tensor 'x'", "a static dim cannot be negative")
    assert "[2, <negative>]" in message


# --------------------------------------------------------------------------- structure


def test_undefined_input_and_output():
    nodes = [helper.make_node("Relu", ["nowhere"], ["r"], name="relu")]
    m = model(nodes, [vi("x", [2])], [vi("y", [2])])
    with pytest.raises(CompileError) as info:
        import_onnx(m)
    assert not isinstance(info.value, InternalError)
    assert "nowhere" in str(info.value)


def test_duplicate_graph_inputs():
    m = one_node("Relu", ["x"], [[2]], [2])
    m.graph.input.append(m.graph.input[0])
    with pytest.raises(CompileError) as info:
        import_onnx(m)
    assert not isinstance(info.value, InternalError)
    assert "'x'" in str(info.value)


def test_type_errors_are_found_by_strict_inference():
    nodes = [helper.make_node("Add", ["x", "i"], ["y"], name="add")]
    m = model(nodes, [vi("x", [2]), vi("i", [2], I64)], [vi("y", [2])])
    rejects(m, "shape inference rejects", "add")


def test_declared_output_shape_mismatch_is_the_importer_cross_check():
    # onnxruntime merges such declarations leniently; Kiln says which output disagrees
    m = one_node("Relu", ["x"], [[2, 3]], [2, 4])
    rejects(m, "output 'y'", "[2, 3]", "[2, 4]")


def test_messages_show_unknown_dims_as_question_marks():
    m = one_node("Squeeze", ["x", "axes"], [["n", 3]], [None], [ints("axes", [1])])
    rejects(m, "dim 1 of [n, 3] is not 1")


# --------------------------------------------------------------------------- end to end


def test_compile_rejects_with_a_compile_error_not_an_internal_one():
    m = one_node("Concat", ["a", "b"], [[2, 3], [2, 3]], [4, 3], axis=-(2 ** 31))
    with pytest.raises(CompileError) as info:
        compiler.compile(m)
    assert not isinstance(info.value, InternalError)
    assert "Concat node 'n1'" in str(info.value)


def test_valid_models_still_compile():
    m = one_node("Concat", ["a", "b"], [[2, 3], [2, 3]], [4, 3], axis=-2)
    a = np.ones((2, 3), np.float32)
    (y,) = compiler.compile(m)(a, 2 * a)
    np.testing.assert_array_equal(y, np.concatenate([a, 2 * a]))
