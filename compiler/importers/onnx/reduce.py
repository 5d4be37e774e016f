"""Reductions: ReduceX, ArgMax/ArgMin, and the softmax family (Softmax, LogSoftmax,
Hardmax)."""

from __future__ import annotations

from compiler.importers.onnx.common import (
    NodeError,
    extent,
    norm_axes,
    norm_axis,
    show_shape,
)
from compiler.importers.onnx.context import Rule
from dialects import graph as g

_REDUCE_KINDS: dict[str, str] = {
    "ReduceSum": "sum", "ReduceMean": "mean", "ReduceMax": "max", "ReduceMin": "min",
    "ReduceProd": "prod", "ReduceL1": "l1", "ReduceL2": "l2", "ReduceLogSum": "log_sum",
    "ReduceLogSumExp": "log_sum_exp", "ReduceSumSquare": "sum_square"}


_SOFTMAX_FAMILY: dict[str, type[g.GraphOp]] = {
    "Softmax": g.SoftmaxOp, "LogSoftmax": g.LogSoftmaxOp, "Hardmax": g.HardmaxOp}


def _reduce(ctx, node, attrs, opset):
    x = ctx.value(node.input[0])
    rank = len(g.shape_of(x))
    kind = _REDUCE_KINDS[node.op_type]
    keepdims = bool(attrs.get("keepdims", 1))
    axes_name = node.input[1] if len(node.input) > 1 and node.input[1] else None
    if axes_name is not None and axes_name not in ctx.consts:
        runtime = ctx.value(axes_name)
        if g.shape_of(runtime) != (0,):
            if len(g.shape_of(runtime)) != 1 or g.shape_of(runtime)[0] == g.DYN:
                raise NodeError("a run-time axes input needs a static 1-D shape")
            return [ctx.emit(g.ReduceOp(x, kind, keepdims=keepdims,
                                        axes_input=runtime))]
        axes: list[int] = []
    elif axes_name is not None:
        axes = ctx.const_ints(axes_name)
    else:
        axes = [int(a) for a in attrs.get("axes", [])]
    if not axes:
        if rank == 0 and kind not in ("sum", "mean", "max", "min", "prod"):
            raise NodeError(f"{node.op_type} of a rank-0 tensor is not supported")
        if attrs.get("noop_with_empty_axes", 0) or rank == 0:
            return [x]
        axes = list(range(rank))
    return [ctx.emit(g.ReduceOp(x, kind, norm_axes(axes, rank, node.op_type),
                                keepdims))]


def _arg_reduce(ctx, node, attrs, opset):
    x = ctx.value(node.input[0])
    axis = norm_axes([int(attrs.get("axis", 0))], len(g.shape_of(x)), node.op_type)[0]
    return [ctx.emit(g.ArgReduceOp(
        x, "max" if node.op_type == "ArgMax" else "min", axis,
        bool(attrs.get("keepdims", 1)), bool(attrs.get("select_last_index", 0))))]


def _softmax(ctx, node, attrs, opset):
    cls = _SOFTMAX_FAMILY[node.op_type]
    x = ctx.value(node.input[0])
    shape = g.shape_of(x)
    rank = len(shape)
    axis = norm_axis(int(attrs.get("axis", -1 if opset >= 13 else 1)), rank)
    if opset >= 13 or axis == rank - 1:
        return [ctx.emit(cls(x, axis))]
    # opset < 13: softmax over the 2-D coercion [prod(x[:axis]), prod(x[axis:])]
    flat = [extent(shape[:axis]), extent(shape[axis:])]
    back = [-1 if d == g.DYN else d for d in shape]
    if flat.count(-1) > 1 or back.count(-1) > 1:
        raise NodeError(f"opset {opset} Softmax over {show_shape(shape)} at axis {axis} "
                        "needs at most one dynamic dim")
    y = ctx.emit(cls(ctx.emit(g.ReshapeOp(x, flat)), 1))
    return [ctx.emit(g.ReshapeOp(y, back))]


RULES: dict[str, Rule] = {
    **{op: _reduce for op in _REDUCE_KINDS},
    "ArgMax": _arg_reduce, "ArgMin": _arg_reduce,
    **{op: _softmax for op in _SOFTMAX_FAMILY},
}

NON_DATA_INPUTS: dict[str, tuple[int, ...]] = {op: (1,) for op in _REDUCE_KINDS}
"""The axes input (opset >= 18) is read at import time when it is a constant."""
