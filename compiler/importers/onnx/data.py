"""Data selection ops: Compress and ReverseSequence imported as compositions of existing
graph ops, Unique as graph.unique over rows plus a gather.

Compress is a gather of the condition's non-zero positions, so its output size comes from
the condition's values at run time exactly as graph.non_zero's does. ReverseSequence is a
gather_elements along the time axis of per-batch reversed time indices
(t < len[b] ? len[b] - 1 - t : t, a length clamped to the time steps), built by
broadcasting a range against the lengths.
"""

from __future__ import annotations

import onnx
from xdsl.dialects.builtin import i64

from compiler.importers.onnx.common import NodeError
from compiler.importers.onnx.context import Check, ImportContext, Rule
from dialects import graph as g


def _axis(attrs: dict, name: str, default: int, rank: int) -> int:
    axis = int(attrs.get(name, default))
    if not -rank <= axis < rank:
        raise NodeError(f"{name} {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def _compress(ctx: ImportContext, node: onnx.NodeProto, attrs: dict, opset: int):
    """The slices (elements of the flattened input without `axis`) where the condition
    is true; a condition shorter than the axis drops the slices past its end."""
    x, cond = ctx.value(node.input[0]), ctx.value(node.input[1])
    if len(g.shape_of(cond)) != 1:
        raise NodeError(f"the condition must be 1-D, got shape "
                        f"{g.format_dims(g.shape_of(cond))}")
    if "axis" in attrs:
        axis = _axis(attrs, "axis", 0, len(g.shape_of(x)))
    else:
        x, axis = ctx.emit(g.ReshapeOp(x, [-1])), 0
    n = g.shape_of(x)[axis]
    length = g.shape_of(cond)[0]
    if g.DYN not in (n, length) and length > n:
        raise NodeError(f"the condition has {length} elements, more than the {n} slices "
                        f"along axis {axis}")
    picked = ctx.emit(g.SqueezeOp(ctx.emit(g.NonZeroOp(cond)), [0]))
    return [ctx.emit(g.GatherOp(x, picked, axis))]


def _reverse_sequence(ctx: ImportContext, node: onnx.NodeProto, attrs: dict, opset: int):
    """Reverse the first sequence_lens[b] steps along time_axis of each batch b."""
    x, lens = ctx.value(node.input[0]), ctx.value(node.input[1])
    shape = g.shape_of(x)
    rank = len(shape)
    if rank < 2:
        raise NodeError(f"the input must have rank >= 2, got rank {rank}")
    time, batch = (_axis(attrs, "time_axis", 0, rank), _axis(attrs, "batch_axis", 1, rank))
    if {time, batch} != {0, 1}:
        raise NodeError(f"time_axis {time} and batch_axis {batch} must be 0 and 1")
    if len(g.shape_of(lens)) != 1 or g.element_type_of(lens) != i64:
        raise NodeError(f"sequence_lens must be a 1-D int64 tensor, got {lens.type}")
    steps = ctx.emit(g.ReshapeOp(ctx.emit(g.ShapeOp(x, time, time + 1)), []))
    t = ctx.emit(g.RangeOp(ctx.int_constant(0), steps, ctx.int_constant(1),
                           g.tensor_type([shape[time]], i64)))
    t = ctx.emit(g.UnsqueezeOp(t, [d for d in range(rank) if d != time]))
    # a length past the time steps reverses them all (onnx.reference's slices clamp)
    lens = ctx.emit(g.ElementwiseOp("min", [lens, steps]))
    lens = ctx.emit(g.UnsqueezeOp(lens, [d for d in range(rank) if d != batch]))
    reversed_t = ctx.emit(g.SubOp(ctx.emit(g.SubOp(lens, ctx.int_constant(1))), t))
    inside = ctx.emit(g.ElementwiseOp("less", [t, lens]))
    index = ctx.emit(g.ElementwiseOp("where", [inside, reversed_t, t]))
    index = ctx.emit(g.ExpandOp(index, ctx.emit(g.ShapeOp(x)), g.tensor_type(shape, i64)))
    return [ctx.emit(g.GatherElementsOp(x, index, time))]


def _unique(ctx: ImportContext, node: onnx.NodeProto, attrs: dict, opset: int):
    """graph.unique over the slices along `axis` (moved first and flattened into rows;
    the elements of the flattened input without `axis`), Y a gather of the first
    occurrences."""
    x = ctx.value(node.input[0])
    rank = len(g.shape_of(x))
    if "axis" in attrs:
        axis = _axis(attrs, "axis", 0, rank)
        perm = [axis, *[d for d in range(rank) if d != axis]]
        moved = x if axis == 0 else ctx.emit(g.TransposeOp(x, perm))
        rows = ctx.emit(g.FlattenOp(moved, 1))
    else:
        x, axis = ctx.emit(g.ReshapeOp(x, [-1])), 0
        rows = ctx.emit(g.ReshapeOp(x, [-1, 1]))
    unique = ctx.add(g.UniqueOp(rows, bool(int(attrs.get("sorted", 1)))))
    indices, inverse, counts = unique.results
    return [ctx.emit(g.GatherOp(x, indices, axis)), indices, inverse, counts]


RULES: dict[str, Rule] = {"Compress": _compress, "ReverseSequence": _reverse_sequence,
                          "Unique": _unique}

CHECKS: dict[str, Check] = {}
