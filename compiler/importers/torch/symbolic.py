"""SymInt arithmetic: the sizes of dynamic dims (`aten.sym_size.int`) and the Python
arithmetic and comparisons torch.export records on them (`operator.mul`, `operator.ge` of
its run-time size asserts, ...). Each is a tensor<1xi64>
value, so sizes computed at run time feed graph.reshape_dynamic, graph.expand, slices and
ranges, as the Shape/Gather/Concat chains of an exported ONNX model do; the fold pass and
the symbolic shape analysis resolve them."""

from __future__ import annotations

import operator

import numpy as np
import torch

from compiler.importers.torch.context import (
    NodeError,
    Rule,
    dense,
    normalize_axis,
    static_dim,
)
from dialects import graph as g


def _known(ctx, node):
    """The node's value when torch knows it statically (a specialized SymInt), else None."""
    val = node.meta.get("val")
    if isinstance(val, int | torch.SymInt) and static_dim(val) != g.DYN:
        return ctx.int_constant([static_dim(val)])
    return None


def _sym_size(ctx, node):
    if (known := _known(ctx, node)) is not None:
        return known
    x = ctx.tensor(node.args[0])
    axis = normalize_axis(int(node.args[1]), len(g.shape_of(x)))
    return ctx.emit(g.ShapeOp(x, axis, axis + 1))


def _sym_numel(ctx, node):
    if (known := _known(ctx, node)) is not None:
        return known
    size = ctx.emit(g.SizeOp(ctx.tensor(node.args[0])))
    return ctx.emit(g.ReshapeOp(size, [1]))


_ARITHMETIC = {operator.add: g.AddOp, operator.sub: g.SubOp, operator.mul: g.MulOp,
               operator.floordiv: g.DivOp}


def _arithmetic(ctx, node):
    """a op b on sizes (non-negative, so integer division is floor division)."""
    if (known := _known(ctx, node)) is not None:
        return known
    cls = _ARITHMETIC.get(node.target)
    if cls is None or len(node.args) != 2:
        raise NodeError(f"SymInt operation {node.target} is not supported")
    a, b = (ctx.sym(arg) for arg in node.args)
    return ctx.emit(cls(a, b))


def _mod(ctx, node):
    if (known := _known(ctx, node)) is not None:
        return known
    a, b = (ctx.sym(arg) for arg in node.args)
    return ctx.emit(g.ElementwiseOp("mod", [a, b], (0.0,)))


def _minmax(kind: str):
    def rule(ctx, node):
        if (known := _known(ctx, node)) is not None:
            return known
        return ctx.emit(g.ElementwiseOp(kind, [ctx.sym(a) for a in node.args]))
    return rule


_COMPARISONS = {"ge": ("less", True), "le": ("greater", True), "gt": ("greater", False),
                "lt": ("less", False), "eq": ("equal", False), "ne": ("equal", True)}


def _compare(name: str):
    """A comparison of sizes (what torch.export's run-time size asserts test) as a
    tensor<1xi1>: `kind`, negated where the table says (a >= b is not a < b)."""
    kind, negate = _COMPARISONS[name]

    def rule(ctx, node):
        val = node.meta.get("val")
        if isinstance(val, bool):
            return ctx.emit(g.ConstantOp(dense(np.array([val]))))
        result = ctx.emit(g.ElementwiseOp(kind, [ctx.sym(a) for a in node.args]))
        return ctx.emit(g.ElementwiseOp("not", [result])) if negate else result
    return rule


RULES: dict[str, Rule] = {
    **{f"operator.{name}": _compare(name) for name in _COMPARISONS},
    "aten.sym_size.int": _sym_size, "aten.sym_numel.default": _sym_numel,
    "operator.add": _arithmetic, "operator.sub": _arithmetic, "operator.mul": _arithmetic,
    "operator.floordiv": _arithmetic, "operator.mod": _mod,
    "torch.sym_max": _minmax("max"), "torch.sym_min": _minmax("min"),
}
