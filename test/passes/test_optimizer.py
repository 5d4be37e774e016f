"""The graph optimizer: new ops (numerics through the JIT), rule facility, every pass on
ResNet-/BERT-style models (outputs unchanged, op counts), opt-tool statistics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from xdsl.parser import Parser

from compiler.context import make_context
from compiler.driver import compile as kiln_compile
from compiler.driver import count_graph_ops, run_pipeline
from compiler.importers.onnx import import_onnx
from dialects import graph as g
from passes.rewrite import P, Rule, apply_rules, format_statistics, reset_statistics

sys.path.insert(0, str(Path(__file__).parents[1]))
from conftest import ort_run  # noqa: E402
from optimizer_models import make_bert_like, make_resnet_like  # noqa: E402

RNG = np.random.default_rng(0)
PASSES = ["fold", "simplify", "cse", "dce", "fuse", "fuse,fold", "replace", "layout",
          "O1", "O2", "O3"]


def parse(text: str):
    module = Parser(make_context(), text).parse_module()
    module.verify()
    return module


def ops(module, name: str) -> list:
    return [op for op in module.walk() if op.name == name]


def kinds(module, kind: str) -> list:
    """The graph.elementwise ops of one kind (a row of the elementwise table)."""
    return [op for op in module.walk() if isinstance(op, g.ElementwiseOp) and op.kind.data == kind]


def run_all(model, feeds: dict[str, np.ndarray], pipeline: str,
            checks: str | None = None) -> list[np.ndarray]:
    out = kiln_compile(model, pipeline=pipeline, checks=checks)(*feeds.values())
    return list(out) if isinstance(out, (list, tuple)) else [out]


def assert_close(actual, expected, rtol=1e-4):
    scale = max(float(np.abs(expected).max()), 1e-6)
    assert float(np.abs(actual - expected).max()) <= rtol * scale


# --------------------------------------------------------------------------- new ops


def _onnx_model(nodes, inputs, inits, opset=20):
    out = nodes[-1].output[0]
    graph = helper.make_graph(nodes, "t", [helper.make_tensor_value_info(n, TensorProto.FLOAT,
                                                                          s)
                                           for n, s in inputs],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT,
                                                             inputs[0][1])],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_and_layer_norm_import_and_run(approximate):
    x = RNG.standard_normal((3, 4, 6)).astype(np.float32)
    inits = {"s": RNG.standard_normal(6).astype(np.float32),
             "b": RNG.standard_normal(6).astype(np.float32)}
    model = _onnx_model(
        [helper.make_node("LayerNormalization", ["x", "s", "b"], ["n"], axis=-1,
                          epsilon=1e-3),
         helper.make_node("Gelu", ["n"], ["y"], approximate=approximate)],
        [("x", x.shape)], inits)
    (expected,) = ReferenceEvaluator(model).run(None, {"x": x})
    module = import_onnx(model)
    assert ops(module, "graph.layer_norm") and ops(module, "graph.gelu")
    for pipeline in ("O0", "fuse"):
        assert_close(run_all(model, {"x": x}, pipeline)[0], expected)


def test_layer_norm_over_two_axes_without_bias():
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    model = _onnx_model([helper.make_node("LayerNormalization", ["x", "s"], ["y"], axis=1)],
                        [("x", x.shape)], {"s": RNG.standard_normal((3, 4)).astype(np.float32)})
    (expected,) = ReferenceEvaluator(model).run(None, {"x": x})
    assert_close(run_all(model, {"x": x}, "O0")[0], expected)


FUSED = """
func.func @main(%a: tensor<2x4xf32>, %b: tensor<4xf32>) -> tensor<2x4xf32> {
  %y = graph.fused(%a, %b) : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32> {
  ^bb0(%p: f32, %s: f32):
    %m = arith.mulf %p, %s : f32
    %c = arith.constant 0.5 : f32
    %z = arith.cmpf ogt, %m, %c : f32
    %e = math.erf %m : f32
    %r = arith.select %z, %e, %c : f32
    graph.fused_yield %r : f32
  }
  func.return %y : tensor<2x4xf32>
}
"""


def test_fused_elementwise_runs_and_folds():
    from math import erf

    a = RNG.standard_normal((2, 4)).astype(np.float32)
    b = RNG.standard_normal(4).astype(np.float32)
    m = a * b
    expected = np.where(m > 0.5, np.vectorize(erf)(m), 0.5).astype(np.float32)
    assert_close(run_all(parse(FUSED), {"a": a, "b": b}, "O0")[0], expected)
    # the op's own evaluator (used by fold) interprets the body the same way
    (fused,) = ops(parse(FUSED), "graph.fused")
    assert_close(fused.evaluate([a, b]), expected)


CONV = """
func.func @main(%x: tensor<1x5x6x{c}xf32>, %r: tensor<1x5x6x{f}xf32>) -> tensor<1x5x6x{f}xf32> {{
  %w = graph.weight "w" : tensor<{f}x{cg}x3x2xf32>
  %b = graph.weight "b" : tensor<{f}xf32>
  %y = graph.conv %x, %w bias(%b : tensor<{f}xf32>) residual(%r : tensor<1x5x6x{f}xf32>) \
{{strides = array<i64: 1, 1>, pads = array<i64: 1, 0, 1, 1>, dilations = array<i64: 1, 1>, \
group = {group} : i64, layout = "nhwc", act = "{act}", act_params = array<f32: {params}>{kind}}} \
: tensor<1x5x6x{c}xf32>, tensor<{f}x{cg}x3x2xf32> -> tensor<1x5x6x{f}xf32>
  func.return %y : tensor<1x5x6x{f}xf32>
}}
"""


@pytest.mark.parametrize("group,act,params", [(1, "clip", "-0.5, 0.5"),
                                              (4, "leaky_relu", "0.1")])
def test_nhwc_depthwise_conv_and_param_acts_match_nchw(group, act, params):
    from dialects.weights import WeightStore, attach

    c = f = 4
    cg = c // group
    kind = ', kind = "depthwise"' if group > 1 else ""
    module = parse(CONV.format(c=c, f=f, cg=cg, group=group, act=act, params=params,
                               kind=kind))
    store = WeightStore()
    w = RNG.standard_normal((f, cg, 3, 2)).astype(np.float32)
    bias = RNG.standard_normal(f).astype(np.float32)
    store.add("w", w)
    store.add("b", bias)
    attach(module, store)
    module.__dict__["_store"] = store
    x = RNG.standard_normal((1, 5, 6, c)).astype(np.float32)
    r = RNG.standard_normal((1, 5, 6, f)).astype(np.float32)
    out = run_all(module, {"x": x, "r": r}, "O0")[0]
    # reference: ONNX Conv in NCHW
    model = _onnx_model([helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 0, 1, 1],
                                          group=group)],
                        [("x", (1, c, 5, 6))], {"w": w, "b": bias}, opset=17)
    (conv,) = ReferenceEvaluator(model).run(None, {"x": x.transpose(0, 3, 1, 2)})
    y = conv.transpose(0, 2, 3, 1) + r
    p = [float(v) for v in params.split(",")]
    y = np.clip(y, *p) if act == "clip" else np.where(y > 0, y, p[0] * y)
    assert_close(out, y)


# --------------------------------------------------------------------------- rule facility


def test_rule_constraints_on_classes_attrs_and_types():
    module = parse("""
func.func @main(%x: tensor<2x3xf32>) -> (tensor<3x2xf32>, tensor<2x3xf32>) {
  %t = graph.transpose %x {perm = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %n = graph.neg %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %t, %n : tensor<3x2xf32>, tensor<2x3xf32>
}""")
    seen = []
    rules = [
        Rule("by-class-attr", P(g.TransposeOp, [P(name="x")], attrs={"perm": [1, 0]}),
             lambda m, b: seen.append("t")),
        Rule("wrong-attr", P(g.TransposeOp, attrs={"perm": [0, 1]}),
             lambda m, b: seen.append("bad")),
        Rule("by-type", P(g.NegOp, type=g.tensor_type([2, 3])),
             lambda m, b: seen.append("n")),
        Rule("where", P(g.NegOp, [P(name="x")]), "x", where=lambda m: False),
    ]
    fired = apply_rules(module, rules)
    assert sorted(seen) == ["n", "t"] and fired == {}  # builders declined (returned None)


def test_statistics_are_recorded_per_pass():
    reset_statistics()
    module = import_onnx(make_resnet_like())
    run_pipeline(module, "fuse,fold")
    text = format_statistics()
    assert "fuse: conv-bn 10" in text and "activation 9" in text and "residual-add 4" in text
    assert text.splitlines()[1].startswith("fold: constant ")


# --------------------------------------------------------------------------- real models


@pytest.fixture(scope="module")
def resnet():
    proto = make_resnet_like()
    x = RNG.standard_normal((1, 3, 16, 16)).astype(np.float32)
    return proto, {"x": x}, ort_run(proto, {"x": x})[0]


@pytest.fixture(scope="module")
def bert():
    proto = make_bert_like()
    x = RNG.standard_normal((1, 8, 16)).astype(np.float32)
    return proto, {"x": x}, ort_run(proto, {"x": x})[0]


def interpret(module, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Run a graph module with the ops' numpy evaluators (fast, graph-level)."""
    from dialects.weights import store_for
    from passes.fold import constant_array

    store = store_for(module)
    main = next(op for op in module.walk() if op.name == "func.func")
    env = dict(zip(main.args, feeds.values(), strict=True))
    for op in main.body.block.ops:
        if op.name == "func.return":
            return [env[v] for v in op.operands]
        known = constant_array(op.results[0], store)
        env[op.results[0]] = known if known is not None else \
            np.asarray(op.evaluate([env[v] for v in op.operands]), np.float32)
    raise AssertionError("no func.return")


@pytest.mark.parametrize("pipeline", PASSES)
@pytest.mark.parametrize("model", ["resnet", "bert"])
def test_every_pass_keeps_model_outputs(model, pipeline, request):
    proto, feeds, expected = request.getfixturevalue(model)
    module = import_onnx(proto)
    run_pipeline(module, pipeline)
    assert_close(interpret(module, feeds)[0], expected)


@pytest.mark.parametrize("pipeline", ["O2", "O3"])
@pytest.mark.parametrize("model", ["resnet", "bert"])
def test_optimized_models_run_natively(model, pipeline, request):
    proto, feeds, expected = request.getfixturevalue(model)
    assert_close(run_all(proto, feeds, pipeline)[0], expected)


def test_resnet_optimized_has_no_batch_norm_and_40_percent_fewer_ops():
    module = import_onnx(make_resnet_like())
    before = count_graph_ops(module)
    run_pipeline(module, "O2")
    after = count_graph_ops(module)
    assert not ops(module, "graph.batch_norm") and not ops(module, "graph.relu")
    assert after <= 0.6 * before, (before, after)


def test_resnet_layout_keeps_transposes_at_region_borders():
    module = import_onnx(make_resnet_like())
    run_pipeline(module, "O3")
    convs = ops(module, "graph.conv")
    assert convs and all(c.is_nhwc for c in convs)
    # in: graph input, around the max pool, before the global pool: 4 transposes
    assert len(ops(module, "graph.transpose")) == 4


def test_bert_layer_norm_gelu_softmax_are_single_ops():
    module = import_onnx(make_bert_like())
    run_pipeline(module, "O2")
    assert len(ops(module, "graph.layer_norm")) == 2
    assert len(ops(module, "graph.softmax")) == 1
    assert [op.act.data for op in ops(module, "graph.matmul") if op.act] == ["gelu"]
    assert not ops(module, "graph.gelu")


def test_bert_decomposed_is_recognized_and_shape_graphs_fold():
    proto: onnx.ModelProto = make_bert_like(decomposed=True)
    module = import_onnx(proto)
    run_pipeline(module, "O2")
    names = {op.name for op in module.walk()}
    assert "graph.shape" not in names and "graph.gather" not in names
    assert len(ops(module, "graph.layer_norm")) == 2
    assert not kinds(module, "erf")  # the GELU's erf became graph.gelu
    x = RNG.standard_normal((1, 8, 16)).astype(np.float32)
    assert_close(run_all(proto, {"x": x}, "O2")[0], ort_run(proto, {"x": x})[0])


# --------------------------------------------------------------------------- opt-tool


def test_opt_tool_pass_statistics_and_print_ir_after_all():
    src = Path(__file__).parents[1] / "filecheck/passes/fuse-fold-conv-bn-relu-add.mlir"
    proc = subprocess.run([sys.executable, "-m", "tools.opt_tool", str(src),
                           "--pipeline=fuse,fold", "--pass-statistics",
                           "--print-ir-after-all"],
                          capture_output=True, text=True, check=True,
                          cwd=Path(__file__).parents[2])
    assert "// fuse: conv-bn 1, residual-add 1, activation 1" in proc.stderr
    assert "IR Dump After fuse" in proc.stderr and "IR Dump After fold" in proc.stderr


# --------------------------------------------------------------------------- exported models

MODELS = Path(__file__).parents[2] / "examples" / "models"


@pytest.fixture(scope="module")
def resnet18():
    proto = onnx.load(str(MODELS / "resnet18.onnx"))
    x = RNG.standard_normal((1, 3, 64, 64)).astype(np.float32)
    return proto, {"input": x}, ort_run(proto, {"input": x})[0]


@pytest.mark.parametrize("pipeline", PASSES)
def test_every_pass_keeps_resnet18_outputs(resnet18, pipeline):
    proto, feeds, expected = resnet18
    module = import_onnx(proto)
    run_pipeline(module, pipeline)
    assert_close(interpret(module, feeds)[0], expected)


def test_resnet18_optimized_runs_with_40_percent_fewer_ops(resnet18):
    proto, feeds, expected = resnet18
    module = import_onnx(proto)
    before = count_graph_ops(module)
    run_pipeline(module, "O2")
    assert not ops(module, "graph.batch_norm") and not ops(module, "graph.add")
    assert count_graph_ops(module) <= 0.6 * before
    compiled = kiln_compile(proto)  # the default pipeline (O2)
    assert compiled.stats.graph_ops_optimized == count_graph_ops(module)
    assert_close(compiled(*feeds.values()), expected)


@pytest.mark.parametrize("name", ["bert_static", "bert"])
def test_bert_shape_graphs_fold_and_patterns_are_single_ops(name):
    proto = onnx.load(str(MODELS / f"{name}.onnx"))
    module = import_onnx(proto)
    run_pipeline(module, "O2")
    names = [op.name for op in module.walk()]
    if name == "bert_static":  # static shapes: the shape sub-graphs fold away
        assert "graph.shape" not in names and "graph.concat" not in names
    assert names.count("graph.layer_norm") == 5 and names.count("graph.softmax") == 2
    assert not kinds(module, "erf")
    feeds = {"input_ids": RNG.integers(0, 1000, (1, 16)).astype(np.int64),
             "attention_mask": np.ones((1, 16), np.int64)}
    # the unoptimized graph without bounds checks: in bounds mode its JIT alone takes
    # minutes, and the O2 graph is the one every model runs (bounds-checked here)
    for pipeline, checks in (("O0", "shapes"), ("O2", None)):
        for got, want in zip(run_all(proto, feeds, pipeline, checks), ort_run(proto, feeds),
                             strict=True):
            assert_close(got, want)
