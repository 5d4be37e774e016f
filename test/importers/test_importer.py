"""The ONNX importer: structure, types, weights, errors and import-time normalization."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation

from compiler.errors import CompileError
from compiler.importers.onnx import import_onnx
from dialects import graph as g
from dialects.weights import store_for
from examples.make_models import make_cnn, make_mlp
from passes.fold import constant_array

DYN = g.DYN


def run_graph(module: ModuleOp, *inputs: np.ndarray) -> list[np.ndarray]:
    """Interpret @main with the ops' numpy evaluators (a reference, not the runtime)."""
    store = store_for(module)
    main = next(op for op in module.ops if isinstance(op, func.FuncOp))
    env = dict(zip(main.body.block.args, inputs, strict=True))
    for op in main.body.block.ops:
        if isinstance(op, func.ReturnOp):
            return [env[v] for v in op.operands]
        if isinstance(op, (g.ConstantOp, g.WeightOp)):
            env[op.results[0]] = constant_array(op.results[0], store)
        else:
            env[op.results[0]] = op.evaluate([env[v] for v in op.operands])
    raise AssertionError("no func.return")


def ops_of(module: ModuleOp, cls: type[Operation]) -> list[Operation]:
    return [op for op in module.walk() if isinstance(op, cls)]


def main_of(module: ModuleOp) -> func.FuncOp:
    return next(op for op in module.ops if isinstance(op, func.FuncOp))


def model(nodes, inputs, outputs, inits=(), opset=17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "t", inputs, outputs, list(inits))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def onnxruntime_run(proto: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(proto.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})


def vi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


# --------------------------------------------------------------------------- bundled models


def test_mlp_structure_and_types():
    module = import_onnx(make_mlp())
    module.verify()
    main = main_of(module)
    assert main.sym_name.data == "main"
    (arg,) = main.body.block.args
    assert g.shape_of(arg) == (DYN, 32)
    attrs = main.arg_attrs.data[0].data
    assert attrs["graph.name"].data == "x"
    assert [d.data for d in attrs["graph.dims"].data] == ["batch", ""]
    assert main.res_attrs.data[0].data["graph.name"].data == "y"
    assert len(ops_of(module, g.GemmOp)) == 3
    assert len(ops_of(module, g.ReluOp)) == 2
    assert g.shape_of(main.function_type.outputs.data[0]) == (DYN, 10)


def test_mlp_weights_in_store_and_numerics():
    proto = make_mlp()
    module = import_onnx(proto)
    store = store_for(module)
    for init in proto.graph.initializer:
        np.testing.assert_array_equal(store[init.name], numpy_helper.to_array(init))
    names = {op.weight_name.data for op in ops_of(module, g.WeightOp)}
    assert names == {i.name for i in proto.graph.initializer}
    x = np.random.default_rng(1).standard_normal((5, 32)).astype(np.float32)
    (expected,) = ReferenceEvaluator(proto).run(None, {"x": x})
    (actual,) = run_graph(module, x)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)


def test_cnn_structure_and_numerics():
    proto = make_cnn()
    module = import_onnx(proto)
    module.verify()
    for cls, n in [(g.ConvOp, 2), (g.BatchNormOp, 2), (g.MaxPoolOp, 1), (g.AddOp, 1),
                   (g.GlobalAvgPoolOp, 1), (g.ReshapeOp, 1), (g.GemmOp, 1)]:
        assert len(ops_of(module, cls)) == n, cls.name
    x = np.random.default_rng(2).standard_normal((1, 3, 16, 16)).astype(np.float32)
    (expected,) = ReferenceEvaluator(proto).run(None, {"input": x})
    (actual,) = run_graph(module, x)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)


def test_import_from_path_and_bytes_with_weights_key(tmp_path):
    path = tmp_path / "mlp.onnx"
    onnx.save(make_mlp(), path)
    from_path = import_onnx(str(path))
    from_bytes = import_onnx(path.read_bytes(), weights_key=f"file:{path}")
    assert from_bytes.attributes["graph.weights"].data == f"file:{path}"
    assert str(main_of(from_path)) == str(main_of(from_bytes))
    assert "fc0.weight" in store_for(from_bytes)


def test_node_names_become_locations():
    module = import_onnx(make_mlp())
    gemm = ops_of(module, g.GemmOp)[0]
    assert gemm.location.desc.data == "fc0"


# --------------------------------------------------------------------------- errors


def test_not_an_onnx_file(tmp_path):
    path = tmp_path / "bad.onnx"
    path.write_text("this is not a protobuf \x00\xff garbage {{{")
    with pytest.raises(CompileError) as info:
        import_onnx(str(path))
    message = str(info.value)
    assert "bad.onnx" in message and "ONNX" in message
    assert "Traceback" not in message


def test_missing_file(tmp_path):
    with pytest.raises(CompileError, match="cannot read"):
        import_onnx(str(tmp_path / "nope.onnx"))


def test_checker_failure_is_a_compile_error():
    m = model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", [2])], [vi("y", [2])])
    m.graph.node[0].input[0] = "undefined"
    with pytest.raises(CompileError, match="checker"):
        import_onnx(m)


def test_all_unsupported_ops_reported_at_once():
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="ok"),
        helper.make_node("LSTMish", ["a"], ["b"], name="weird", domain="custom"),
        helper.make_node("Bernoulli", ["a"], ["c"], name="cos1"),
        helper.make_node("Add", ["b", "c"], ["d"], name="add"),
        helper.make_node("Bernoulli", ["d"], ["y"], name="erf1"),
    ]
    m = model(nodes, [vi("x", [2])], [vi("y", [2])])
    m.opset_import.append(helper.make_opsetid("custom", 3))
    with pytest.raises(CompileError) as info:
        import_onnx(m)
    err = info.value
    assert str(err).startswith("<onnx model>: 3 unsupported operators")
    assert [(u.op_type, u.opset, u.node_name) for u in err.unsupported] == [
        ("LSTMish", 3, "weird"), ("Bernoulli", 17, "cos1"), ("Bernoulli", 17, "erf1")]
    assert "Bernoulli (opset 17) at node 'cos1'" in str(err)


def test_unsupported_attributes_reported():
    nodes = [helper.make_node("Dropout", ["x", "r", "t"], ["d"], name="drop"),
             helper.make_node("BatchNormalization", ["x", "c", "c", "c", "c"], ["z", "m", "v"],
                              name="bn")]
    inits = [numpy_helper.from_array(np.ones(2, np.float32), "c"),
             numpy_helper.from_array(np.array(0.5, np.float32), "r"),
             numpy_helper.from_array(np.array(True), "t")]
    m = model(nodes, [vi("x", [1, 2])], [vi("d", [1, 2]), vi("z", [1, 2]), vi("m", [2]),
                                         vi("v", [2])], inits)
    with pytest.raises(CompileError) as info:
        import_onnx(m)
    reasons = {u.node_name: u.reason for u in info.value.unsupported}
    assert "random masks" in reasons["drop"]
    assert "training_mode = 1" in reasons["bn"]


def test_unsupported_element_type_rejected():
    m = model([helper.make_node("Identity", ["x"], ["y"])],
              [helper.make_tensor_value_info("x", TensorProto.STRING, [2])],
              [helper.make_tensor_value_info("y", TensorProto.STRING, [2])])
    with pytest.raises(CompileError, match="unsupported tensor element type.*STRING"):
        import_onnx(m)


# --------------------------------------------------------------------------- normalization


def _reshape_model(in_shape, target, out_shape):
    node = helper.make_node("Reshape", ["x", "shape"], ["y"])
    init = numpy_helper.from_array(np.array(target, np.int64), "shape")
    return model([node], [vi("x", in_shape)], [vi("y", out_shape)], [init])


@pytest.mark.parametrize("in_shape, target, shape_attr, result", [
    ([2, 3, 4], [0, -1], (2, 12), (2, 12)),
    (["n", 3, 4], [0, -1], (-1, 12), (DYN, 12)),
    (["n", 3, 4], [0, 3, 2, 2], (-1, 3, 2, 2), (DYN, 3, 2, 2)),
    ([2, 3, 4], [-1, 0, 2], (4, 3, 2), (4, 3, 2)),
    ([2, 3, 4], [24], (24,), (24,)),
])
def test_reshape_zero_and_minus_one(in_shape, target, shape_attr, result):
    out = ["n" if d == DYN else d for d in result]
    module = import_onnx(_reshape_model(in_shape, target, out))
    (op,) = ops_of(module, g.ReshapeOp)
    assert g.ints(op.shape) == shape_attr
    assert op.result_shape() == result
    assert not ops_of(module, g.WeightOp) and not ops_of(module, g.ConstantOp)


def test_reshape_numerics():
    proto = _reshape_model([2, 3, 4], [-1, 0, 2], [4, 3, 2])
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    (expected,) = ReferenceEvaluator(proto).run(None, {"x": x})
    np.testing.assert_array_equal(run_graph(import_onnx(proto), x)[0], expected)


@pytest.mark.parametrize("auto_pad, strides, size, pads", [
    ("SAME_UPPER", [1, 1], 7, [1, 1, 1, 1]),
    ("SAME_UPPER", [2, 2], 8, [0, 0, 1, 1]),
    ("SAME_LOWER", [2, 2], 8, [1, 1, 0, 0]),
    ("VALID", [2, 2], 8, [0, 0, 0, 0]),
])
def test_conv_auto_pad(auto_pad, strides, size, pads):
    w = numpy_helper.from_array(
        np.random.default_rng(0).standard_normal((2, 1, 3, 3)).astype(np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], auto_pad=auto_pad, strides=strides)
    out = -(-(size if auto_pad != "VALID" else size - 2) // strides[0])
    proto = model([node], [vi("x", [1, 1, size, size])], [vi("y", [1, 2, out, out])], [w])
    module = import_onnx(proto)
    (conv,) = ops_of(module, g.ConvOp)
    assert list(g.ints(conv.pads)) == pads
    x = np.random.default_rng(1).standard_normal((1, 1, size, size)).astype(np.float32)
    (expected,) = ReferenceEvaluator(proto).run(None, {"x": x})
    np.testing.assert_allclose(run_graph(module, x)[0], expected, rtol=1e-4, atol=1e-5)


def test_pool_auto_pad_and_ceil_mode():
    nodes = [helper.make_node("MaxPool", ["x"], ["a"], kernel_shape=[3, 3], strides=[2, 2],
                              auto_pad="SAME_UPPER"),
             helper.make_node("AveragePool", ["a"], ["y"], kernel_shape=[2, 2],
                              strides=[2, 2], ceil_mode=1)]
    proto = model(nodes, [vi("x", [1, 2, 9, 9])], [vi("y", [1, 2, 3, 3])])
    module = import_onnx(proto)
    (mp,) = ops_of(module, g.MaxPoolOp)
    assert list(g.ints(mp.pads)) == [1, 1, 1, 1]
    x = np.random.default_rng(3).standard_normal((1, 2, 9, 9)).astype(np.float32)
    (expected,) = ReferenceEvaluator(proto).run(None, {"x": x})
    np.testing.assert_allclose(run_graph(module, x)[0], expected, rtol=1e-4, atol=1e-5)


def test_misc_ops_numerics():
    rng = np.random.default_rng(4)
    const = helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(
        rng.standard_normal((4, 3)).astype(np.float32)))
    nodes = [
        const,
        helper.make_node("Transpose", ["x"], ["t"]),  # default perm reverses: [3, 4]
        helper.make_node("MatMul", ["t", "k"], ["m"]),  # [3, 3]
        helper.make_node("Concat", ["m", "m"], ["c"], axis=-1),  # [3, 6]
        helper.make_node("Flatten", ["c"], ["f"], axis=0),  # [1, 18]
        helper.make_node("Dropout", ["f"], ["d"]),
        helper.make_node("Sigmoid", ["d"], ["s"]),
        helper.make_node("Softmax", ["s"], ["y"], axis=0),
    ]
    proto = model(nodes, [vi("x", [4, 3])], [vi("y", [1, 18])], opset=11)
    module = import_onnx(proto)
    assert len(ops_of(module, g.ConstantOp)) == 1  # 12 elements: inline
    assert ops_of(module, g.ConcatOp)[0].axis.value.data == 1
    x = rng.standard_normal((4, 3)).astype(np.float32)
    (expected,) = onnxruntime_run(proto, x)
    np.testing.assert_allclose(run_graph(module, x)[0], expected, rtol=1e-4, atol=1e-6)


def test_softmax_opset_11_coercion():
    proto = model([helper.make_node("Softmax", ["x"], ["y"], axis=1)],
                  [vi("x", [2, 3, 4])], [vi("y", [2, 3, 4])], opset=11)
    module = import_onnx(proto)
    assert len(ops_of(module, g.ReshapeOp)) == 2
    x = np.random.default_rng(5).standard_normal((2, 3, 4)).astype(np.float32)
    # onnx's ReferenceEvaluator applies opset-13 semantics here; onnxruntime does not
    (expected,) = onnxruntime_run(proto, x)
    np.testing.assert_allclose(run_graph(module, x)[0], expected, rtol=1e-5, atol=1e-6)


def test_large_constant_node_becomes_weight():
    value = np.arange(100, dtype=np.float32).reshape(10, 10)
    nodes = [helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(value)),
             helper.make_node("Add", ["x", "k"], ["y"])]
    module = import_onnx(model(nodes, [vi("x", [10, 10])], [vi("y", [10, 10])]))
    (w,) = ops_of(module, g.WeightOp)
    np.testing.assert_array_equal(store_for(module)[w.weight_name.data], value)
