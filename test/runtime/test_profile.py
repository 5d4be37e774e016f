"""compile(profile=True) and CompiledModel.profile: per-op times from the marks."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

import compiler
from examples.make_models import make_mlp


def _model(profile: bool):
    return compiler.compile(make_mlp(), profile=profile)


def test_profile_lists_every_graph_op_and_keeps_outputs():
    plain, profiled = _model(False), _model(True)
    x = np.random.default_rng(0).standard_normal(
        [d if isinstance(d, int) else 3 for d in plain.inputs[0].shape]).astype(np.float32)
    np.testing.assert_array_equal(plain(x)[0], profiled(x)[0])
    report = profiled.profile(x, repeat=5)
    assert report.calls == 5
    kinds = [o.op for o in report.ops]
    assert kinds and all(k.startswith("graph.") for k in kinds)
    assert "graph.constant" not in kinds and "graph.weight" not in kinds
    assert all(o.seconds >= 0 for o in report.ops) and report.total_seconds > 0
    assert sum(o.share for o in report.ops) == pytest.approx(1.0)
    contractions = [o for o in report.ops if o.op in ("graph.gemm", "graph.matmul")]
    assert contractions and all(o.flops > 0 for o in contractions)
    text = report.table()
    assert "op kind" in text and contractions[0].op in text


def test_profile_counts_an_op_that_dominates():
    """A large matmul next to a tiny add gets nearly all of the time."""
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["m"]), helper.make_node("Add", ["m", "c"],
                                                                           ["y"])],
        "mm", [helper.make_tensor_value_info("a", TensorProto.FLOAT, [256, 256]),
               helper.make_tensor_value_info("b", TensorProto.FLOAT, [256, 256]),
               helper.make_tensor_value_info("c", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [256, 256])])
    model = compiler.compile(helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)]), profile=True, pipeline="O0")
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal((256, 256)).astype(np.float32) for _ in range(2))
    report = model.profile(a=a, b=b, c=np.ones(1, np.float32), repeat=3)
    share = {o.op: o.share for o in report.ops}
    assert share["graph.matmul"] > share["graph.add"]


def test_profile_needs_a_profiled_compile():
    model = _model(False)
    with pytest.raises(compiler.InputError, match="profile=True"):
        model.profile(np.zeros([d if isinstance(d, int) else 1 for d in model.inputs[0].shape],
                               np.float32))
