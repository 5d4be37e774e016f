"""Memory safety by construction: every dim relation the kernels rely on is proven or
checked at run time, a `?` dim that is 1 at run time broadcasts, and `checks="bounds"`
turns any out-of-bounds access into an InputError.

The models here are the small reproducers of wrong answers found on real models: a dim
known only at run time (through Reshape of a Shape, Slice, ...) that must broadcast or
match. Each is compared with onnxruntime and called twice (garbage differs between calls).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from conftest import lower_to_llvm as lower
from conftest import ort_run
from onnx import TensorProto, helper
from xdsl.parser import Parser

import compiler
from compiler.context import make_context
from compiler.errors import InputError
from compiler.runtime.abi import Invoker
from compiler.runtime.jit import JITEngine
from lowering.bounds_checks import insert_bounds_checks
from lowering.llvm_asserts import VALUES_SYMBOL, assert_messages

F = TensorProto.FLOAT
RNG = np.random.default_rng(7)


def _model(nodes, inputs, outputs, initializers=()) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _value(name, shape, elem=F):
    return helper.make_tensor_value_info(name, elem, shape)


def _check_against_ort(model, proto, feeds):
    got = model.run(feeds)
    again = model.run(feeds)
    want = ort_run(proto, feeds)
    for (name, value), w in zip(got.items(), want, strict=True):
        np.testing.assert_allclose(value, w, rtol=1e-5, atol=1e-6, err_msg=name)
        np.testing.assert_array_equal(value, again[name])


def _floats(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.fixture(scope="module", params=["shapes", "bounds"])
def checks(request):
    return request.param


def _reshape_of_shape_add() -> onnx.ModelProto:
    """x[n, 8] -> Shape -> Reshape(x, shape) -> Add(., b[m, 8]): the reshape's `?` dims
    are known only at run time."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Reshape", ["x", "s"], ["r"]),
             helper.make_node("Add", ["r", "b"], ["y"], name="the_add")]
    return _model(nodes, [_value("x", ["n", 8]), _value("b", ["m", 8])],
                  [_value("y", [None, 8])])


def test_run_time_dim_of_one_broadcasts(checks):
    proto = _reshape_of_shape_add()
    model = compiler.compile(proto, checks=checks)
    for n, m in [(3, 1), (3, 3), (1, 4), (0, 1)]:
        _check_against_ort(model, proto, {"x": _floats(n, 8), "b": _floats(m, 8)})


def test_run_time_dims_that_do_not_broadcast_are_an_input_error(checks):
    model = compiler.compile(_reshape_of_shape_add(), checks=checks)
    with pytest.raises(InputError) as info:
        model(_floats(3, 8), _floats(2, 8))
    message = str(info.value)
    # the op, the node and both dims
    assert "graph.add" in message and "the_add" in message
    assert "3" in message and "2" in message and "broadcast" in message


def test_dynamic_dims_broadcast_both_ways(checks):
    nodes = [helper.make_node("Mul", ["a", "b"], ["y"])]
    proto = _model(nodes, [_value("a", ["p", "q"]), _value("b", ["r", "t"])],
                   [_value("y", [None, None])])
    model = compiler.compile(proto, checks=checks)
    for sa, sb in [((3, 1), (1, 4)), ((1, 1), (5, 2)), ((2, 3), (2, 3)), ((4, 1), (4, 6))]:
        _check_against_ort(model, proto, {"a": _floats(*sa), "b": _floats(*sb)})
    with pytest.raises(InputError, match="graph.mul"):
        model(_floats(3, 2), _floats(4, 2))


def test_matmul_batch_broadcast_and_contracted_dims(checks):
    nodes = [helper.make_node("MatMul", ["a", "b"], ["y"], name="mm")]
    proto = _model(nodes, [_value("a", ["b1", 2, "k"]), _value("b", ["b2", "k2", 4])],
                   [_value("y", [None, 2, 4])])
    model = compiler.compile(proto, checks=checks)
    for batch_a, batch_b in [(1, 3), (3, 1), (2, 2)]:
        _check_against_ort(model, proto, {"a": _floats(batch_a, 2, 5),
                                          "b": _floats(batch_b, 5, 4)})
    with pytest.raises(InputError, match=r"graph.matmul.*contract.*5.*6"):
        model(_floats(2, 2, 5), _floats(2, 6, 4))
    with pytest.raises(InputError, match="mm"):
        model(_floats(2, 2, 5), _floats(3, 5, 4))


def test_concat_of_mismatched_run_time_dims(checks):
    nodes = [helper.make_node("Concat", ["a", "b"], ["y"], axis=1, name="cat")]
    proto = _model(nodes, [_value("a", ["p", 2]), _value("b", ["q", 3])],
                   [_value("y", [None, 5])])
    model = compiler.compile(proto, checks=checks)
    _check_against_ort(model, proto, {"a": _floats(4, 2), "b": _floats(4, 3)})
    with pytest.raises(InputError, match=r"graph.concat \(node 'cat'\).* 3.* 4|4.* 3"):
        model(_floats(4, 2), _floats(3, 3))


def test_concat_with_an_input_empty_at_run_time(checks):
    """torchvision ViT: a shape vector sliced to nothing joins a Concat; no input of a
    concat is read speculatively (an empty one would be read out of bounds)."""
    ints = [helper.make_tensor(n, TensorProto.INT64, [1], [v])
            for n, v in (("three", 3), ("end", 2**63 - 1), ("zero", 0), ("one", 1),
                         ("minus1", -1))]
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Slice", ["s", "three", "end"], ["empty"]),
             helper.make_node("Slice", ["s", "zero", "one"], ["head"]),
             helper.make_node("Concat", ["head", "empty", "minus1"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"])]
    proto = _model(nodes, [_value("x", ["n", 4, 6])], [_value("y", ["n", "m"])], ints)
    model = compiler.compile(proto, checks=checks)
    _check_against_ort(model, proto, {"x": _floats(2, 4, 6)})


def test_position_table_shorter_than_the_sequence(checks):
    """A BERT called with seq 600 on a position table of 128: an error, not NaNs."""
    table = helper.make_tensor("table", F, [8, 4], RNG.standard_normal(32).tolist())
    start = helper.make_tensor("zero", TensorProto.INT64, [1], [0])
    one = helper.make_tensor("one", TensorProto.INT64, [1], [1])
    two = helper.make_tensor("two", TensorProto.INT64, [1], [2])
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Slice", ["shape", "one", "two"], ["seq"]),  # [seq]
        helper.make_node("Slice", ["table", "zero", "seq", "zero"], ["rows"]),
        helper.make_node("Add", ["x", "rows"], ["y"], name="add_positions"),
    ]
    proto = _model(nodes, [_value("x", ["batch", "seq", 4])],
                   [_value("y", ["batch", "seq", 4])], [table, start, one, two])
    model = compiler.compile(proto, checks=checks)
    _check_against_ort(model, proto, {"x": _floats(2, 5, 4)})
    _check_against_ort(model, proto, {"x": _floats(2, 8, 4)})
    with pytest.raises(InputError, match="add_positions"):
        model(_floats(2, 9, 4))


def test_bounds_mode_checks_every_access():
    """insert-bounds-checks turns a load past the end into an InputError."""
    text = """
func.func @main(%a: memref<?xf32>, %i: memref<1xindex>) -> memref<1xf32> {
  %c0 = arith.constant 0 : index
  %k = memref.load %i[%c0] : memref<1xindex>
  %x = memref.load %a[%k] : memref<?xf32>
  %out = memref.alloc() : memref<1xf32>
  memref.store %x, %out[%c0] : memref<1xf32>
  func.return %out : memref<1xf32>
}
"""
    module = Parser(make_context(), text).parse_module()
    insert_bounds_checks(module)
    llvm_module = lower(str(module))
    engine = JITEngine(llvm_module)
    run = Invoker(engine.address_of("_kiln_entry_main"), [(np.float32, 1), (np.int64, 1)],
                  [(np.float32, 1)], assert_messages(llvm_module),
                  engine.optional_address(VALUES_SYMBOL))
    a = np.arange(4, dtype=np.float32)
    (got,) = run(a, np.array([2], np.int64))
    assert got[0] == 2.0
    with pytest.raises(InputError, match=r"out-of-bounds access.*index 4 of dim 0.* 4"):
        run(a, np.array([4], np.int64))
    with pytest.raises(InputError, match="out-of-bounds"):
        run(a, np.array([-1], np.int64))


def test_bounds_mode_gives_the_same_answers(mlp_proto, cnn_proto):
    for proto, feeds in [(mlp_proto, {"x": _floats(3, 32)}),
                         (cnn_proto, {"input": _floats(1, 3, 16, 16)})]:
        fast = compiler.compile(proto, checks="shapes")
        checked = compiler.compile(proto, checks="bounds")
        for (name, a), b in zip(fast.run(feeds).items(), checked.run(feeds).values(),
                                strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6, err_msg=name)


def test_unknown_checks_mode_is_a_compile_error(mlp_proto):
    with pytest.raises(compiler.CompileError, match="checks mode 'paranoid'"):
        compiler.compile(mlp_proto, checks="paranoid")


def test_a_broadcast_view_with_a_huge_dim_is_checked_before_it_is_copied():
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    model = compiler.compile(_model(nodes, [_value("x", ["n", 4])], [_value("y", ["n", 4])]))
    view = np.broadcast_to(np.float32(1), (2**40, 5))  # wrong dim 1; 4 TB if copied
    with pytest.raises(InputError, match="dim 1 must be 4"):
        model(view)


def test_allocations_that_cannot_succeed_are_input_errors():
    """malloc's failure (or a byte count that would wrap around) is checked: never a null
    buffer written to."""
    nodes = [helper.make_node("ConstantOfShape", ["s"], ["y"])]
    model = compiler.compile(_model(nodes, [_value("s", [2], TensorProto.INT64)],
                                    [_value("y", [None, None])]))
    assert model(np.array([2, 3], np.int64))[0].shape == (2, 3)
    with pytest.raises(InputError, match="out of memory: cannot allocate 4398046511104 bytes"):
        model(np.array([1 << 20, 1 << 20], np.int64))
    with pytest.raises(InputError, match="cannot allocate a buffer .* too large"):
        model(np.array([1 << 62, 4], np.int64))
