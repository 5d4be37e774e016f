"""First-divergence bisection (tools/bisection.py, run-tool --bisect): planted bugs are
found, by pass (a wrong rewrite rule) and by node (a wrong lowering of one op kind)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from dialects import graph as g
from dialects.scalar_body import ScalarBody
from passes import fuse
from passes.fuse import FusePass
from tools.bisection import bisect_nodes, bisect_passes, compare
from tools.run_tool import main

CNN = str(Path(__file__).resolve().parents[2] / "examples" / "models" / "cnn.onnx")


def _conv_bn_without_bias(m, b):
    """conv-bn as the optimizer does it, but the folded bias is lost (the planted bug)."""
    conv = fuse.CONV_BN.build(m, b).owner
    return b.insert(g.ConvOp(conv.input, conv.weight, None, strides=g.ints(conv.strides),
                             pads=g.ints(conv.pads), dilations=g.ints(conv.dilations),
                             group=conv.group.value.data))


@pytest.fixture
def wrong_rule(monkeypatch):
    """fuse runs a conv-bn rule that drops the bias, ahead of the real one."""
    planted = fuse.Rule("conv-bn-drops-bias", fuse.CONV_BN.pattern, _conv_bn_without_bias)
    phases = FusePass.phases

    def planted_phases(self, module):
        recognition, fusion, *rest = phases(self, module)
        return [recognition, [planted, *fusion], *rest]

    monkeypatch.setattr(FusePass, "phases", planted_phases)


@pytest.fixture
def wrong_relu(monkeypatch):
    """Relu lowers to max(x, 0) + 0.5 (the planted bug); other ops are untouched."""
    unary = ScalarBody.unary

    def planted(self, kind, x):
        y = unary(self, kind, x)
        return self.binary("add", y, self.const(0.5, x.type)) if kind == "relu" else y

    monkeypatch.setattr(ScalarBody, "unary", planted)


def test_by_pass_names_the_pass_and_the_rule(wrong_rule):
    report = bisect_passes(CNN)
    assert not report.diverges_before
    first = report.first
    assert first is not None and first.name == "fuse" and first.index == 4
    assert first.fired is not None and first.fired["conv-bn-drops-bias"] == 2
    assert all(not s.diverges for s in report.steps[:-1])
    text = report.format()
    assert "first divergence: after pass 4 'fuse' (rules fired: conv-bn-drops-bias 2" in text


def test_by_node_names_the_first_node_using_a_wrong_lowering(wrong_relu):
    report = bisect_nodes(CNN)
    # cnn: conv1, bn1, relu1, ..., relu2: the first Relu is the first wrong value
    assert (report.first, report.node_name, report.op_type) == (2, "relu1", "Relu")
    assert report.compared == report.nodes == 11
    (out,) = report.outputs
    assert out.diverges and out.abs_err == pytest.approx(0.5, abs=1e-6)
    assert report.inputs == ["b1: float32[1, 8, 16, 16]"]
    assert report.later > 0
    assert "graph.relu" in report.graph_ir and "func.func @main" in report.graph_ir
    assert "scf.for" in report.loop_ir and "arith.maximumf" in report.loop_ir
    text = report.format()
    assert "first divergence: node 3 of 11, 'relu1' (Relu)" in text
    assert "stops the optimizer's fusions" in text


def _loop_model() -> onnx.ModelProto:
    """y = Loop(3 times: h = relu(h @ w)) over h0 = x + 1, then y * 2; x is [n, 4]."""
    vi = helper.make_tensor_value_info
    body = helper.make_graph(
        [helper.make_node("Identity", ["c_in"], ["c_out"]),
         helper.make_node("MatMul", ["h_in", "w"], ["hw"], name="body_matmul"),
         helper.make_node("Relu", ["hw"], ["h_out"], name="body_relu")],
        "body", [vi("i", TensorProto.INT64, []), vi("c_in", TensorProto.BOOL, []),
                 vi("h_in", TensorProto.FLOAT, ["n", 4])],
        [vi("c_out", TensorProto.BOOL, []), vi("h_out", TensorProto.FLOAT, ["n", 4])])
    rng = np.random.default_rng(1)
    inits = [helper.make_tensor("trips", TensorProto.INT64, [], [3]),
             helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
             helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
             onnx.numpy_helper.from_array(
                 rng.standard_normal((4, 4)).astype(np.float32) * 0.5, "w")]
    nodes = [helper.make_node("Add", ["x", "one"], ["h0"], name="shift"),
             helper.make_node("Loop", ["trips", "", "h0"], ["h"], body=body, name="loop"),
             helper.make_node("Mul", ["h", "two"], ["y"], name="scale")]
    graph = helper.make_graph(nodes, "looped", [vi("x", TensorProto.FLOAT, ["n", 4])],
                              [vi("y", TensorProto.FLOAT, ["n", 4])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def test_control_flow_and_dynamic_dims(wrong_relu, tmp_path, capsys):
    path = tmp_path / "looped.onnx"
    onnx.save(_loop_model(), path)
    assert main([str(path), "--bisect=node", "--dim", "n=3", "--ir-lines", "0"]) == 2
    out = capsys.readouterr().out
    assert "input    x: float32[3, 4]" in out
    # the wrong Relu is inside the body: the Loop's output is the first wrong value
    assert "first divergence: node 2 of 3, 'loop' (Loop)" in out
    assert "values inside the bodies of Loop 'loop' (3 nodes) cannot be exposed" in out
    assert "graph.loop" in out and "scf.for" in out and "more lines)" not in out


def test_run_tool_bisect_errors(tmp_path, capsys):
    mlir = tmp_path / "m.mlir"
    mlir.write_text("func.func @main(%x: tensor<2xf32>) -> tensor<2xf32> {\n"
                    "  func.return %x : tensor<2xf32>\n}\n")
    assert main([str(mlir), "--bisect=node"]) == 1
    assert "--bisect=node needs an .onnx model" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.onnx"), "--bisect"]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_compare_says_why_values_differ():
    a = np.array([1.0, np.nan, 3.0], np.float32)
    assert not compare("v", a, a.copy(), 1e-4, 1e-5).diverges  # NaN matches NaN
    nan = compare("v", a, np.array([1.0, 2.0, 3.0]), 1e-4, 1e-5)
    assert nan.diverges and nan.reason == "1 NaN element(s) only in Kiln's result"
    shape = compare("v", a, np.zeros(2), 1e-4, 1e-5)
    assert shape.diverges and shape.reason == "shape [3], reference [2]"
    off = compare("v", a[[0, 2]], np.array([1.0, 3.1]), 1e-4, 1e-5)
    assert off.diverges and off.abs_err == pytest.approx(0.1, rel=1e-5)
    assert off.describe().startswith("'v': float32[2]: max abs err 0.1")
