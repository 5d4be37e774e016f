"""Pictures of the graph IR (compiler/graph_dot.py, opt-tool --emit=dot/svg/png).

The DOT text is checked by structure (nodes, edges, clusters, labels) through a small
line reader, since the writer emits one statement per line; rendering with Graphviz runs
only where `dot` is installed.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from compiler import graph_dot
from compiler.driver import load_graph_module, load_mlir_text
from compiler.graph_dot import (
    GraphvizError,
    compare_to_dot,
    graph_to_dot,
    html,
    pipeline_to_dot,
    quote,
    render_dot,
)
from examples.make_models import make_cnn
from tools.opt_tool import main

MODELS = Path(__file__).resolve().parents[2] / "examples" / "models"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")

NODE = re.compile(r'^\s*(\w+) \[label=(<.*>|".*?"), (.*)\];$')
EDGE = re.compile(r'^\s*(\w+) -> (\w+) \[(?:label="((?:[^"\\]|\\.)*)")?(.*)\];$')
CLUSTER = re.compile(r"^\s*subgraph (cluster_\w+) \{$")


def read_dot(text: str) -> tuple[dict[str, tuple[str, str, list[str]]], list[tuple]]:
    """nodes: id -> (label, attributes, enclosing clusters' labels); edges: (a, b, label)."""
    nodes, edges, stack = {}, [], []
    for line in text.splitlines():
        if CLUSTER.match(line):
            stack.append("?")
        elif stack and line.strip().startswith("label=") and stack[-1] == "?":
            stack[-1] = re.match(r'\s*label="((?:[^"\\]|\\.)*)"', line).group(1)
        elif line.strip() == "}" and stack:
            stack.pop()
        elif m := EDGE.match(line):
            edges.append((m.group(1), m.group(2), m.group(3)))
        elif m := NODE.match(line):
            nodes[m.group(1)] = (m.group(2), m.group(3), list(stack))
    return nodes, edges


def ops_named(nodes: dict, title: str) -> list[str]:
    return [n for n, (label, _, _) in nodes.items() if label.startswith(f"<<B>{title}</B>")]


@pytest.fixture(scope="module")
def cnn():
    return load_graph_module(make_cnn())


def test_ops_are_nodes_weights_fold_into_their_consumers(cnn):
    nodes, edges = read_dot(graph_to_dot(cnn))
    # 11 ops, the input and the output; none of the 15 weights is a node
    assert len(nodes) == 13
    assert not ops_named(nodes, "weight")
    (conv1, conv2) = ops_named(nodes, "conv")
    label = nodes[conv1][0]
    assert "conv1" in label and "weight: conv1.weight 8x3x3x3xf32" in label
    assert "bias: conv1.bias 8xf32" in label and "pads 1, 1, 1, 1" in label
    assert "strides" not in label and "group" not in label  # defaults are left out
    assert "mean: bn1.mean 8xf32" in nodes[ops_named(nodes, "batch_norm")[0]][0]
    # edges carry the tensor types; the residual add has two inputs, pool1 two uses
    (add,) = ops_named(nodes, "add")
    (pool,) = ops_named(nodes, "max_pool")
    assert sorted(label for _, b, label in edges if b == add) == ["1x8x8x8xf32"] * 2
    assert {b for a, b, _ in edges if a == pool} == {conv2, add}
    (inp,) = ops_named(nodes, "input")
    (out,) = ops_named(nodes, "output")
    assert (inp, conv1, "1x3x16x16xf32") in edges
    assert [label for _, b, label in edges if b == out] == ["1x10xf32"]


CONTROL_FLOW = """
func.func @main(%c: tensor<i1>, %x: tensor<5xf32>, %m: tensor<i64>)
    -> (tensor<5xf32>, tensor<?x5xf32>) {
  %r = graph.if %c : tensor<i1> -> (tensor<5xf32>) {
    %a = graph.relu %x : (tensor<5xf32>) -> tensor<5xf32>
    graph.yield %a : tensor<5xf32>
  } else {
    graph.yield %x : tensor<5xf32>
  }
  %y, %s = graph.loop max_trip(%m : tensor<i64>) cond(%c : tensor<i1>)
      iter_args(%r : tensor<5xf32>) -> (tensor<5xf32>, tensor<?x5xf32>) {
  ^bb0(%i: tensor<i64>, %ci: tensor<i1>, %yi: tensor<5xf32>):
    %one = graph.constant dense<1.0> : tensor<5xf32>
    %n = graph.add %yi, %one : (tensor<5xf32>, tensor<5xf32>) -> tensor<5xf32>
    graph.yield %ci, %n, %n : tensor<i1>, tensor<5xf32>, tensor<5xf32>
  }
  func.return %y, %s : tensor<5xf32>, tensor<?x5xf32>
}
"""


def test_regions_are_clusters():
    nodes, edges = read_dot(graph_to_dot(load_mlir_text(CONTROL_FLOW)))
    (relu,) = ops_named(nodes, "relu")
    assert nodes[relu][2] == ["if", "then"]
    (add,) = ops_named(nodes, "add")
    assert nodes[add][2] == ["loop", "body"]
    assert "rhs: const splat 1 : 5xf32" in nodes[add][0]  # a constant inside a region
    (yi,) = ops_named(nodes, "yi")
    assert (yi, add, "5xf32") in edges and nodes[yi][2] == ["loop", "body"]
    # the empty else branch still shows (its yield), fed by the captured outer %x
    yields = ops_named(nodes, "yield")
    assert sorted(nodes[y][2][-1] for y in yields) == ["body", "else", "then"]
    (x,) = ops_named(nodes, "x")
    assert any(a == x and nodes[b][2] == ["if", "else"] for a, b, _ in edges)
    # the loop's results leave from its results node, numbered
    (results,) = [n for n, (label, _, _) in nodes.items() if label == '"loop results"']
    assert {label for a, _, label in edges if a == results} == {"#0 5xf32", "#1 ?x5xf32"}


def test_a_fused_body_is_summarised_not_a_cluster():
    text = graph_to_dot(load_mlir_text("""
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = graph.fused(%x) : (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%a: f32):
    %b = arith.mulf %a, %a : f32
    %c = math.exp %b : f32
    graph.fused_yield %c : f32
  }
  func.return %y : tensor<4xf32>
}"""))
    nodes, _ = read_dot(text)
    (fused,) = ops_named(nodes, "fused")
    assert "body mulf, exp" in nodes[fused][0]
    assert "cluster" not in text


def special_model() -> onnx.ModelProto:
    """Names full of DOT and HTML specials, and a large constant that must not be spelled
    out."""
    weird = 'w"<&>\\{x}|\nend'
    nodes = [helper.make_node("Add", ['in "x"', weird], ["s"], name='add "1" <b>&\\'),
             helper.make_node("Mul", ["s", "big"], ["out"], name="mul")]
    graph = helper.make_graph(
        nodes, "special",
        [helper.make_tensor_value_info('in "x"', TensorProto.FLOAT, [100, 100])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [100, 100])],
        [numpy_helper.from_array(np.ones((100, 100), np.float32), weird),
         numpy_helper.from_array(np.arange(10000, dtype=np.float32).reshape(100, 100),
                                 "big")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_special_characters_are_escaped():
    assert quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    assert html('<&>"') == "&lt;&amp;&gt;&quot;"
    text = graph_to_dot(special_model(), title='my "model"')
    assert text.startswith('digraph "my \\"model\\"" {')
    nodes, _ = read_dot(text)
    (add,) = ops_named(nodes, "add")
    label = nodes[add][0]
    assert 'add &quot;1&quot; &lt;b&gt;&amp;\\' in label
    assert "w&quot;&lt;&amp;&gt;\\{x}| end" in label  # the newline is a space
    inner = label[1:-1]  # an HTML label: only the writer's own markup may remain
    assert not re.search(r'<(?!/?(?:B|BR/|FONT)[ >])|(?<!=)"(?![ >])', inner)


def test_huge_literals_and_long_lists_stay_short():
    module = load_graph_module(special_model())
    text = graph_to_dot(module)
    assert "9999" not in text and len(text) < 3000
    nodes, _ = read_dot(text)
    assert all(len(line) < 60 for label, _, _ in nodes.values()
               for line in re.sub(r"<[^>]*>", "\n", label).splitlines())
    many = "\n".join(f"  %c{i} = graph.constant dense<{i}> : tensor<1xi64>" for i in range(20))
    args = ", ".join(f"%c{i}" for i in range(20))
    types = ", ".join(["tensor<1xi64>"] * 20)
    text = graph_to_dot(load_mlir_text(f"""
func.func @main() -> tensor<20xi64> {{
{many}
  %r = graph.concat {args} {{axis = 0 : i64}} : ({types}) -> tensor<20xi64>
  func.return %r : tensor<20xi64>
}}"""))
    nodes, _ = read_dot(text)
    (concat,) = ops_named(nodes, "concat")
    assert "… 12 more" in nodes[concat][0]


def test_before_and_after_a_pipeline(cnn):
    text = pipeline_to_dot(cnn, "O2")
    nodes, edges = read_dot(text)
    before = {n: v for n, v in nodes.items() if v[2][:1] == ["before"]}
    after = {n: v for n, v in nodes.items() if v[2][:1] == ["after O2"]}
    assert len(before) + len(after) == len(nodes) and len(before) == 13
    # both convs absorbed their batch norm, relu and (the second) the residual add
    fused = [n for n, (_, attrs, _) in after.items() if "#ffc078" in attrs]
    assert sorted(n for n in ops_named(after, "conv")) == sorted(fused)
    assert any(label == "residual: 1x8x8x8xf32" for _, b, label in edges if b in fused)
    gone = {nodes[n][0].split("</B>")[0][4:] for n, (_, attrs, _) in before.items()
            if "dashed" in attrs}
    assert gone == {"conv", "batch_norm", "add", "relu"}
    unchanged = ops_named(after, "max_pool") + ops_named(after, "gemm")
    assert all("#e7f0fb" in after[n][1] for n in unchanged)
    assert "orange: fused" in text
    # the module passed in is left as it was
    assert "graph.batch_norm" in str(cnn)


def test_compare_of_identical_modules_marks_nothing(cnn):
    nodes, _ = read_dot(compare_to_dot(cnn, cnn.clone()))
    assert len(nodes) == 26
    assert not [n for n, (_, attrs, _) in nodes.items()
                if "#ffc078" in attrs or "#fff3bf" in attrs or "dashed" in attrs]


def test_missing_graphviz_is_a_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(graph_dot, "dot_program", lambda: None)
    with pytest.raises(GraphvizError, match="needs Graphviz's `dot` program, which is not on"):
        render_dot("digraph {}", "svg")
    path = tmp_path / "cnn.onnx"
    onnx.save(make_cnn(), path)
    assert main(["--emit=svg", str(path)]) == 1
    err = capsys.readouterr().err
    assert "--emit=svg renders through Graphviz's `dot` program, which is not on PATH" in err
    assert "Traceback" not in err
    # DOT text needs no Graphviz
    assert main(["--emit=dot", str(path), "-o", str(tmp_path / "cnn.dot")]) == 0
    assert (tmp_path / "cnn.dot").read_text().startswith('digraph "cnn.onnx"')


def test_bad_picture_arguments(tmp_path, capsys):
    path = tmp_path / "cnn.onnx"
    onnx.save(make_cnn(), path)
    assert main(["--before-after=O2", str(path)]) == 1
    assert "use it with --emit=dot, svg or png" in capsys.readouterr().err
    assert main(["--emit=dot", "--before-after=no-such-pass", str(path)]) == 1
    assert "bad pass pipeline 'no-such-pass'" in capsys.readouterr().err
    assert main(["--emit=dot", "-t", "llvm-ir", str(path)]) == 1
    assert "give one of them" in capsys.readouterr().err
    with pytest.raises(GraphvizError, match="formats are svg, png"):
        render_dot("digraph {}", "pdf")


@needs_dot
@pytest.mark.parametrize("model", ["resnet18", "bert"])
def test_real_models_render_with_graphviz(model):
    svg = render_dot(pipeline_to_dot(MODELS / f"{model}.onnx", "O2"), "svg").decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "after O2" in svg and "#ffc078" in svg  # something fused


@needs_dot
def test_special_names_and_regions_render_with_graphviz():
    for text in (graph_to_dot(special_model(), title='a "b" <c>'),
                 pipeline_to_dot(load_mlir_text(CONTROL_FLOW), "O2")):
        assert b"<svg" in render_dot(text, "svg")


@needs_dot
def test_opt_tool_writes_png_and_svg(tmp_path):
    path = tmp_path / "cnn.onnx"
    onnx.save(make_cnn(), path)
    png, svg = tmp_path / "cnn.png", tmp_path / "cnn.svg"
    assert main(["--emit=png", "--before-after=O2", str(path), "-o", str(png)]) == 0
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert main(["--emit=svg", "-p", "fold", str(path), "-o", str(svg)]) == 0
    assert "<svg" in svg.read_text()
