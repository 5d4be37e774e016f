"""Control flow: torch.cond (torch.ops.higher_order.cond) is a graph.if whose regions are
the two branch graphs, imported with their operands captured from the enclosing block."""

from __future__ import annotations

from xdsl.dialects.builtin import IntegerType

from compiler.importers.torch.context import NodeError, Rule, subgraph_module
from dialects import graph as g


def _cond(ctx, node):
    """cond(pred, true_graph, false_graph, operands): pred is a one-element bool tensor
    (a Python bool is resolved by torch.export before Kiln sees it)."""
    pred, true_graph, false_graph, operands = node.args[:4]
    value = ctx.tensor(pred)
    if g.element_type_of(value) != IntegerType(1) or any(d != 1 for d in g.shape_of(value)):
        raise NodeError(f"the predicate must be a one-element bool tensor, got {value.type}")
    branches = []
    for graph in (true_graph, false_graph):
        module = subgraph_module(graph)
        if module is None or not hasattr(module, "graph"):
            raise NodeError(f"branch '{graph}' is not a graph module")
        branches.append(ctx.import_region(module, list(operands)))
    (then_region, then_values), (else_region, else_values) = branches
    if len(then_values) != len(else_values):
        raise NodeError("the branches return different numbers of tensors")
    types = []
    for i, (a, b) in enumerate(zip(then_values, else_values, strict=True)):
        if g.element_type_of(a) != g.element_type_of(b) or \
                len(g.shape_of(a)) != len(g.shape_of(b)):
            raise NodeError(f"output {i} of the branches differs in element type or rank "
                            f"({a.type} vs {b.type})")
        types.append(g.join_types(a.type, b.type))
    op = ctx.add(g.IfOp(value, types, then_region, else_region))
    return tuple(op.outputs)


RULES: dict[str, Rule] = {"torch.ops.higher_order.cond": _cond}
