"""Shape and data movement: view/reshape, permute, squeeze/unsqueeze, expand, cat,
split, slice, select, flip, pad, gathers (embedding, index_select, gather, index with
index tensors and boolean masks), repeat, upsampling (graph.resize) and
`operator.getitem` of multi-output nodes. Sizes may be SymInts (run-time shape tensors,
see context.py)."""

from __future__ import annotations

import numpy as np
import torch

from compiler.importers.torch.context import NodeError, Rule, dense, normalize_axis
from dialects import graph as g

_INT64_MAX = 2 ** 63 - 1
_INT64_MIN = -(2 ** 63)


def _arg(node, index: int, name: str, default: object) -> object:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def _view(ctx, node):
    """view / reshape: graph.reshape when at most one dim is dynamic (it is the -1),
    else graph.reshape_dynamic over the run-time sizes."""
    x = ctx.tensor(node.args[0])
    t = ctx.result_type()
    out = list(g.shape_of(t))
    if out.count(g.DYN) <= 1:
        return ctx.emit(g.ReshapeOp(x, [-1 if d == g.DYN else d for d in out]))
    shape = ctx.shape_operand(list(node.args[1]))
    return ctx.emit(g.ReshapeDynamicOp(x, shape, t, allowzero=True))


def _permute(ctx, node):
    x = ctx.tensor(node.args[0])
    rank = len(g.shape_of(x))
    return ctx.emit(g.TransposeOp(x, [normalize_axis(int(d), rank) for d in node.args[1]]))


def _transpose(ctx, node):
    x = ctx.tensor(node.args[0])
    rank = len(g.shape_of(x))
    perm = list(range(rank))
    if rank >= 2 or len(node.args) > 1:
        a, b = (normalize_axis(int(d), rank) for d in (node.args[1:3] or (0, 1)))
        perm[a], perm[b] = perm[b], perm[a]
    return ctx.emit(g.TransposeOp(x, perm)) if rank > 1 else x


def _squeeze(ctx, node):
    """squeeze drops the given dims (default: all) that have size 1, as torch does."""
    x = ctx.tensor(node.args[0])
    shape = g.shape_of(x)
    rank = len(shape)
    dims = _arg(node, 1, "dim", None)
    if dims is None:
        candidates = list(range(rank))
    else:
        values = [dims] if isinstance(dims, int) else list(dims)
        candidates = sorted({normalize_axis(int(d), rank) for d in values})
    if rank == 0:
        return x
    out = g.shape_of(ctx.result_type())
    axes = [a for a in candidates if shape[a] == 1]
    if len(shape) - len(axes) != len(out):
        raise NodeError("squeeze of a dynamic dim (whether it is 1 is known only at run time)")
    return ctx.emit(g.SqueezeOp(x, axes)) if axes else x


def _unsqueeze(ctx, node):
    x = ctx.tensor(node.args[0])
    axis = normalize_axis(int(node.args[1]), len(g.shape_of(x)) + 1)
    return ctx.emit(g.UnsqueezeOp(x, [axis]))


def _expand(ctx, node):
    """expand(x, sizes): -1 keeps a dim (a 1 in numpy broadcasting does the same)."""
    x = ctx.tensor(node.args[0])
    sizes = [1 if isinstance(s, int) and s == -1 else s for s in node.args[1]]
    return ctx.emit(g.ExpandOp(x, ctx.shape_operand(sizes), ctx.result_type()))


def _cat(ctx, node):
    elt = ctx.result_element()
    inputs = [ctx.cast(ctx.tensor(a), elt) for a in node.args[0]]
    rank = len(g.shape_of(inputs[0]))
    axis = normalize_axis(int(_arg(node, 1, "dim", 0)), rank)
    return ctx.emit(g.ConcatOp(inputs, axis)) if len(inputs) > 1 else inputs[0]


def _split_with_sizes(ctx, node):
    x = ctx.tensor(node.args[0])
    axis = normalize_axis(int(_arg(node, 2, "dim", 0)), len(g.shape_of(x)))
    sizes = ctx.ints(list(node.args[1]))
    return tuple(ctx.add(g.SplitOp(x, axis, sizes, len(sizes))).results)


def _split(ctx, node):
    """split.Tensor(x, split_size, dim): pieces of split_size, the last one smaller."""
    x = ctx.tensor(node.args[0])
    axis = normalize_axis(int(_arg(node, 2, "dim", 0)), len(g.shape_of(x)))
    n = g.shape_of(x)[axis]
    if n == g.DYN:
        raise NodeError("split of a dynamic dim")
    size = ctx.ints(node.args[1])[0]
    sizes = [min(size, n - start) for start in range(0, n, size)] or [0]
    return tuple(ctx.add(g.SplitOp(x, axis, sizes, len(sizes))).results)


def _slice(ctx, node):
    """slice.Tensor(x, dim, start, end, step)."""
    x = ctx.tensor(node.args[0])
    axis = normalize_axis(int(_arg(node, 1, "dim", 0)), len(g.shape_of(x)))
    start = _arg(node, 2, "start", None)
    end = _arg(node, 3, "end", None)
    step = int(_arg(node, 4, "step", 1))
    start_v = ctx.sym(0 if start is None else start)
    end_v = ctx.sym(_INT64_MAX if end is None else min(end, _INT64_MAX)
                    if isinstance(end, int) else end)
    return ctx.emit(g.SliceOp(x, start_v, end_v, ctx.int_constant([axis]),
                              ctx.int_constant([step]), ctx.result_type()))


def _select(ctx, node):
    """select.int(x, dim, index): a gather with a rank-0 index (the dim goes away)."""
    x = ctx.tensor(node.args[0])
    shape = g.shape_of(x)
    axis = normalize_axis(int(node.args[1]), len(shape))
    index = node.args[2]
    if isinstance(index, int) and index < 0 and shape[axis] != g.DYN:
        index += shape[axis]
    return ctx.emit(g.GatherOp(x, ctx.sym(index, rank=0), axis))


def _flip(ctx, node):
    x = ctx.tensor(node.args[0])
    rank = len(g.shape_of(x))
    axes = [normalize_axis(int(d), rank) for d in node.args[1]]
    n = len(axes)
    return ctx.emit(g.SliceOp(x, ctx.int_constant([-1] * n), ctx.int_constant([_INT64_MIN] * n),
                              ctx.int_constant(axes), ctx.int_constant([-1] * n),
                              ctx.result_type()))


def _pad(ctx, node):
    """constant_pad_nd(x, pad, value): pad pairs (begin, end) from the last dim back."""
    x = ctx.tensor(node.args[0])
    rank = len(g.shape_of(x))
    pad = ctx.ints(list(node.args[1]))
    value = _arg(node, 2, "value", 0)
    pairs = [(pad[i], pad[i + 1]) for i in range(0, len(pad), 2)]
    axes = [rank - 1 - k for k in range(len(pairs))]
    pads = [b for b, _ in pairs] + [e for _, e in pairs]
    elt = g.element_type_of(x)
    return ctx.emit(g.PadOp(x, ctx.int_constant(pads), ctx.scalar(value, elt),
                            ctx.int_constant(axes), "constant", ctx.result_type()))


def _embedding(ctx, node):
    return ctx.emit(g.GatherOp(ctx.tensor(node.args[0]), ctx.tensor(node.args[1]), 0))


def _index_select(ctx, node):
    x = ctx.tensor(node.args[0])
    axis = normalize_axis(int(node.args[1]), len(g.shape_of(x)))
    return ctx.emit(g.GatherOp(x, ctx.tensor(node.args[2]), axis))


def _gather(ctx, node):
    x = ctx.tensor(node.args[0])
    axis = normalize_axis(int(node.args[1]), len(g.shape_of(x)))
    return ctx.emit(g.GatherElementsOp(x, ctx.tensor(node.args[2]), axis))


def _index(ctx, node):
    """index.Tensor(x, [None, .., idx, ..]): one integer index tensor is a gather; several
    (broadcast together) and boolean masks (their nonzero() positions, one index tensor
    per masked dim) are a graph.gather_nd over the indexed dims moved to the front. As
    in torch, the indexed dims' result dims stand where those dims were when the indexed
    dims are adjacent, else in front."""
    x = ctx.tensor(node.args[0])
    rank = len(g.shape_of(x))
    entries = list(node.args[1])
    if len(entries) == 1 or sum(e is not None for e in entries) == 1:
        position = next(i for i, e in enumerate(entries) if e is not None)
        val = ctx.val(entries[position])
        if not (isinstance(val, torch.Tensor) and val.dtype == torch.bool):
            return ctx.emit(g.GatherOp(x, ctx.tensor(entries[position]), position))
    positions: list[int] = []
    indices = []
    axis = 0
    i64 = g.element_type_for(np.dtype(np.int64))
    for entry in entries:
        if entry is None:
            axis += 1
            continue
        val = ctx.val(entry)
        if isinstance(val, torch.Tensor) and val.dtype == torch.bool:
            m = val.dim()
            where = ctx.emit(g.NonZeroOp(ctx.tensor(entry)))  # [m, count]
            for k in range(m):
                row = ctx.emit(g.SliceOp(
                    where, ctx.int_constant([k]), ctx.int_constant([k + 1]),
                    ctx.int_constant([0]), ctx.int_constant([1]),
                    g.tensor_type([1, g.DYN], i64)))
                indices.append(ctx.emit(g.SqueezeOp(row, [0])))
            positions += range(axis, axis + m)
            axis += m
        else:
            indices.append(ctx.cast(ctx.tensor(entry), i64))
            positions.append(axis)
            axis += 1
    if axis > rank:
        raise NodeError(f"{axis} indexed dims for a tensor of rank {rank}")
    rest = [d for d in range(rank) if d not in positions]
    if positions + rest != list(range(rank)):
        x = ctx.emit(g.TransposeOp(x, positions + rest))
    indices = _broadcast(ctx, indices)
    batch = len(g.shape_of(indices[0]))  # the rank of the broadcast index shape
    stacked = ctx.emit(g.ConcatOp([ctx.emit(g.UnsqueezeOp(v, [batch])) for v in indices],
                                  batch))
    result = ctx.emit(g.GatherNDOp(x, stacked))
    first = positions[0]
    if positions == list(range(first, first + len(positions))) and first > 0:
        out_rank = len(g.shape_of(result))
        perm = [batch + d for d in range(first)] + list(range(batch)) + \
            list(range(batch + first, out_rank))
        result = ctx.emit(g.TransposeOp(result, perm))
    return result


def _broadcast(ctx, values: list) -> list:
    """Index tensors broadcast to one shape (numpy's rules): an expand to the static
    shape, else adding a zero of every other index (elementwise ops broadcast)."""
    shapes = [g.shape_of(v) for v in values]
    if len({tuple(s) for s in shapes}) == 1:
        return values
    if all(g.DYN not in s for s in shapes):
        shape = list(np.broadcast_shapes(*[tuple(s) for s in shapes]))
        elt = g.element_type_of(values[0])
        return [v if list(g.shape_of(v)) == shape else ctx.emit(g.ExpandOp(
            v, ctx.int_constant(shape), g.tensor_type(shape, elt))) for v in values]
    zero = ctx.scalar(0, g.element_type_of(values[0]))
    zeros = None
    for v in values:
        term = ctx.emit(g.MulOp(v, zero))
        zeros = term if zeros is None else ctx.emit(g.AddOp(zeros, term))
    return [ctx.emit(g.AddOp(v, zeros)) for v in values]


def _repeat(ctx, node):
    x = ctx.tensor(node.args[0])
    repeats = ctx.ints(list(node.args[1]))
    rank = len(g.shape_of(x))
    if len(repeats) > rank:
        x = ctx.emit(g.UnsqueezeOp(x, list(range(len(repeats) - rank))))
    return ctx.emit(g.TileOp(x, ctx.int_constant(repeats), ctx.result_type()))


def _upsample(mode: str):
    """upsample_nearest / upsample_bilinear (.vec): graph.resize over the spatial dims, by
    the given scale factors or to the output size, with torch's coordinate mapping."""

    def rule(ctx, node):
        x = ctx.tensor(node.args[0])
        rank = len(g.shape_of(x))
        axes = list(range(2, rank))
        output_size = node.args[1]
        if mode == "nearest":
            scales = _arg(node, 2, "scale_factors", None)
            coordinate, nearest = "asymmetric", "floor"
        else:
            align = bool(node.args[2])
            scales = _arg(node, 3, "scale_factors", None)
            coordinate = "align_corners" if align else "pytorch_half_pixel"
            nearest = "round_prefer_floor"
        if scales is not None:
            scale_v = ctx.emit(g.ConstantOp(dense(np.asarray(scales, dtype=np.float32))))
            size_v = None
        else:
            scale_v, size_v = None, ctx.shape_operand(list(output_size))
        return ctx.emit(g.ResizeOp(
            x, scale_v, size_v, axes=axes, mode=mode, coordinate_mode=coordinate,
            nearest_mode=nearest, keep_aspect_ratio_policy="stretch",
            result_type=ctx.result_type()))
    return rule


def _getitem(ctx, node):
    """One output of a multi-output node (None for outputs Kiln does not import)."""
    values = ctx.values.get(node.args[0])
    if not isinstance(values, tuple | list):
        raise NodeError(f"'{node.args[0]}' has no outputs to index")
    value = values[int(node.args[1])]
    if value is None and node.users:
        raise NodeError(f"output {node.args[1]} of '{node.args[0]}' (e.g. pooling indices "
                        "or batch statistics) is not supported")
    return value


RULES: dict[str, Rule] = {
    "aten.view.default": _view, "aten._unsafe_view.default": _view,
    "aten.reshape.default": _view,
    "aten.permute.default": _permute, "aten.t.default": _transpose,
    "aten.transpose.int": _transpose,
    "aten.squeeze.dims": _squeeze, "aten.squeeze.dim": _squeeze,
    "aten.squeeze.default": _squeeze, "aten.unsqueeze.default": _unsqueeze,
    "aten.expand.default": _expand, "aten.cat.default": _cat,
    "aten.split_with_sizes.default": _split_with_sizes, "aten.split.Tensor": _split,
    "aten.slice.Tensor": _slice, "aten.select.int": _select, "aten.flip.default": _flip,
    "aten.constant_pad_nd.default": _pad, "aten.embedding.default": _embedding,
    "aten.index_select.default": _index_select, "aten.gather.default": _gather,
    "aten.index.Tensor": _index, "aten.repeat.default": _repeat,
    "aten.upsample_nearest2d.vec": _upsample("nearest"),
    "aten.upsample_bilinear2d.vec": _upsample("linear"),
    "operator.getitem": _getitem,
}
