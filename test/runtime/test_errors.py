"""Errors are part of the interface: each failure gives a clear one-paragraph message."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import compiler
from compiler.errors import CompileError, InputError


def _two_input_model() -> onnx.ModelProto:
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 4])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", 4])
    c = helper.make_tensor_value_info("c", TensorProto.FLOAT, [None, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 4])
    nodes = [helper.make_node("Add", ["a", "b"], ["y"], name="add_ab"),
             helper.make_node("Mul", ["y", "c"], ["z"], name="mul_yc")]
    graph = helper.make_graph(nodes, "two_inputs", [a, b, c], [y, z])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_bad_onnx_file(tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"this is not a protobuf \x00\xff\x10")
    with pytest.raises(CompileError) as info:
        compiler.compile(str(path))
    message = str(info.value)
    assert "broken.onnx" in message
    assert "Traceback" not in message


def test_missing_file():
    with pytest.raises(CompileError, match="no_such_model.onnx"):
        compiler.compile("no_such_model.onnx")


def test_unsupported_ops_are_all_listed_at_once():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="fine"),
             helper.make_node("Det", ["r"], ["h"], name="first_bad"),
             helper.make_node("Relu", ["h"], ["r2"], name="fine2"),
             helper.make_node("RandomNormalLike", ["r2"], ["y"], name="second_bad")]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(CompileError) as info:
        compiler.compile(model)
    err = info.value
    listed = {(u.op_type, u.node_name, u.opset) for u in err.unsupported}
    assert listed == {("Det", "first_bad", 17), ("RandomNormalLike", "second_bad", 17)}
    assert "Det" in str(err) and "second_bad" in str(err) and "opset 17" in str(err)


def test_malformed_ir_text_gives_line_and_column(tmp_path):
    path = tmp_path / "bad.mlir"
    path.write_text("func.func @main(%x: tensor<2xf32>) -> tensor<2xf32> {\n"
                    "  %y = graph.relu %x : (tensor<2xf32>) -> \n"
                    "}\n")
    with pytest.raises(CompileError) as info:
        compiler.compile(str(path))
    assert "bad.mlir:3:" in str(info.value)
    result = subprocess.run([sys.executable, "-m", "tools.opt_tool", str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "bad.mlir:3:" in result.stderr
    assert "Traceback" not in result.stderr


def test_ir_that_does_not_verify(tmp_path):
    path = tmp_path / "unverified.mlir"
    path.write_text(
        "func.func @main(%a: tensor<3x4xf32>, %b: tensor<5x4xf32>) -> tensor<3x4xf32> {\n"
        "  %c = graph.add %a, %b : (tensor<3x4xf32>, tensor<5x4xf32>) -> tensor<3x4xf32>\n"
        "  func.return %c : tensor<3x4xf32>\n}\n")
    with pytest.raises(CompileError, match="operands do not broadcast"):
        compiler.compile(str(path))


@pytest.fixture(scope="module")
def mlp(mlp_proto):
    return compiler.compile(mlp_proto)


def test_wrong_static_dim(mlp):
    with pytest.raises(InputError, match=r"input 'x' has shape \[2, 31\].*dim 1 must be 32"):
        mlp(np.zeros((2, 31), np.float32))


def test_wrong_rank(mlp):
    with pytest.raises(InputError, match="rank 3"):
        mlp(np.zeros((2, 32, 1), np.float32))


def test_wrong_dtype(mlp):
    with pytest.raises(InputError, match="dtype float64, expected float32"):
        mlp(np.zeros((2, 32)))


def test_missing_and_unknown_inputs(mlp):
    with pytest.raises(InputError, match="missing input"):
        mlp()
    with pytest.raises(InputError, match="unknown input 'z'"):
        mlp(z=np.zeros((2, 32), np.float32))
    with pytest.raises(InputError, match="2 positional"):
        mlp(np.zeros((2, 32), np.float32), np.zeros((2, 32), np.float32))


def test_input_errors_are_value_errors(mlp):
    with pytest.raises(ValueError):
        mlp(np.zeros((2, 31), np.float32))


def test_symbolic_dims_sharing_a_name_must_agree():
    model = compiler.compile(_two_input_model())
    with pytest.raises(InputError, match="symbolic dim 'batch' is 2 in input 'a' but 3"):
        model(np.zeros((2, 4), np.float32), np.zeros((3, 4), np.float32),
              np.zeros((2, 4), np.float32))


def test_unnamed_dynamic_dims_are_checked_by_shape_functions():
    model = compiler.compile(_two_input_model())
    a = np.ones((2, 4), np.float32)
    with pytest.raises(InputError, match="graph.mul"):
        model(a, a, np.ones((5, 4), np.float32))
    y, z = model(a, a, np.full((2, 4), 3, np.float32))
    np.testing.assert_array_equal(y, 2 * a)
    np.testing.assert_array_equal(z, 6 * a)


def test_size_one_dynamic_dim_broadcasts_at_run_time():
    # `c` is [?, 4]: a run-time 1 broadcasts (through a stride-0 view), a 3 is an error
    model = compiler.compile(_two_input_model())
    a = np.arange(8, dtype=np.float32).reshape(2, 4)
    c = np.array([[1, 2, 3, 4]], np.float32)
    y, z = model(a, a, c)
    np.testing.assert_array_equal(z, (a + a) * c)
    with pytest.raises(InputError, match=r"graph.mul \(node 'mul_yc'\).*3.*2|2.*3"):
        model(a, a, np.ones((3, 4), np.float32))
