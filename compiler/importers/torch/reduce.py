"""Reductions: sum, mean, prod, amax/amin, max/min over a dim (values and indices),
argmax/argmin, any/all. A mean over the two spatial dims of an NCHW tensor, kept, is
graph.global_avg_pool (what AdaptiveAvgPool2d(1) decomposes to, and what ONNX gives)."""

from __future__ import annotations

import numpy as np

from compiler.importers.torch.context import Rule, normalize_axis
from dialects import graph as g


def _arg(node, index: int, name: str, default: object) -> object:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def _axes(dims: object, rank: int) -> list[int]:
    if dims is None or dims == []:
        return list(range(rank))
    values = [dims] if isinstance(dims, int) else list(dims)  # type: ignore[arg-type]
    return sorted({normalize_axis(int(d), rank) for d in values})


def _reduce(kind: str, dims_at: int | None = 1):
    """A graph.reduce of `kind` over the node's dims (argument `dims_at`; None: all)."""

    def rule(ctx, node):
        x = ctx.tensor(node.args[0])
        rank = len(g.shape_of(x))
        dims = _arg(node, dims_at, "dim", None) if dims_at is not None else None
        keepdim = bool(_arg(node, (dims_at or 0) + 1, "keepdim", False)) if dims_at else False
        axes = _axes(dims, rank)
        x = ctx.cast(x, ctx.result_element())  # the dtype argument
        if kind == "mean" and rank == 4 and axes == [2, 3] and keepdim:
            return ctx.emit(g.GlobalAvgPoolOp(x))
        if rank == 0:
            return x
        return ctx.emit(g.ReduceOp(x, kind, axes, keepdim))
    return rule


def _max_dim(kind: str):
    """max.dim / min.dim: (values, indices) along one dim."""

    def rule(ctx, node):
        x = ctx.tensor(node.args[0])
        axis = normalize_axis(int(node.args[1]), len(g.shape_of(x)))
        keepdim = bool(_arg(node, 2, "keepdim", False))
        values = ctx.emit(g.ReduceOp(x, kind, [axis], keepdim))
        return (values, ctx.emit(g.ArgReduceOp(x, kind, axis, keepdim)))
    return rule


def _arg_reduce(kind: str):
    def rule(ctx, node):
        x = ctx.tensor(node.args[0])
        dim = _arg(node, 1, "dim", None)
        keepdim = bool(_arg(node, 2, "keepdim", False))
        if dim is None:  # over the flattened tensor
            x = ctx.emit(g.ReshapeOp(x, [-1]))
            return ctx.emit(g.ArgReduceOp(x, kind, 0, keepdims=False))
        axis = normalize_axis(int(dim), len(g.shape_of(x)))
        return ctx.emit(g.ArgReduceOp(x, kind, axis, keepdim))
    return rule


def _any_all(kind: str):
    """any/all: max/min of the truth values as int32, compared with 0."""

    def rule(ctx, node):
        x = ctx.tensor(node.args[0])
        rank = len(g.shape_of(x))
        dims = _arg(node, 1, "dim", None) if len(node.args) > 1 or "dim" in node.kwargs \
            else None
        keepdim = bool(_arg(node, 2, "keepdim", False))
        i32 = g.element_type_for(np.dtype(np.int32))
        zero = ctx.scalar(0, g.element_type_of(x))
        truth = ctx.emit(g.ElementwiseOp("not", [ctx.emit(g.ElementwiseOp("equal", [x, zero]))]))
        values = ctx.cast(truth, i32)
        if rank:
            values = ctx.emit(g.ReduceOp(values, kind, _axes(dims, rank), keepdim))
        return ctx.emit(g.ElementwiseOp("not", [ctx.emit(g.ElementwiseOp(
            "equal", [values, ctx.scalar(0, i32)]))]))
    return rule


RULES: dict[str, Rule] = {
    "aten.sum.dim_IntList": _reduce("sum"), "aten.sum.default": _reduce("sum", None),
    "aten.mean.dim": _reduce("mean"), "aten.mean.default": _reduce("mean", None),
    "aten.prod.dim_int": _reduce("prod"), "aten.prod.default": _reduce("prod", None),
    "aten.amax.default": _reduce("max"), "aten.amin.default": _reduce("min"),
    "aten.max.default": _reduce("max", None), "aten.min.default": _reduce("min", None),
    "aten.max.dim": _max_dim("max"), "aten.min.dim": _max_dim("min"),
    "aten.argmax.default": _arg_reduce("max"), "aten.argmin.default": _arg_reduce("min"),
    "aten.any.dim": _any_all("max"), "aten.any.dims": _any_all("max"),
    "aten.any.default": _any_all("max"), "aten.all.dim": _any_all("min"),
    "aten.all.dims": _any_all("min"), "aten.all.default": _any_all("min"),
}
