"""Shape and data-movement ops: ONNX nodes -> graph.SHAPE_OPS (and graph.reshape when
static), Transpose, Concat, Identity and Constant; DepthToSpace and SpaceToDepth as
reshape, transpose, reshape (run-time shape vectors where several dims are dynamic);
EyeLike as a constant (static shape) or two graph.trilu of ones.

Integer inputs that size a result (shapes, slice bounds, pads, repeats, k, depth) stay
operands read at run time; result types use their values when they are constants
and, failing that, onnx's shape inference with data propagation (static dims the
lowering re-checks at run time), `?` otherwise."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import numpy_helper
from xdsl.ir import Attribute, SSAValue

from compiler.importers.onnx.common import (
    NodeError,
    constant_value,
    element_type,
    extent,
    norm_axis,
    show_shape,
    text,
    typed_dense_attr,
    vector_length,
)
from compiler.importers.onnx.context import Check, ImportContext, Rule
from dialects import graph as g


def _flatten_axis(axis: int, rank: int) -> int:
    """A Flatten axis, in [-rank, rank], made non-negative."""
    if not -rank <= axis <= rank:
        raise NodeError(f"axis {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def _input(node: onnx.NodeProto, i: int) -> str | None:
    """The name of optional input i, or None when absent/empty."""
    return node.input[i] if len(node.input) > i and node.input[i] else None


def _scalar_value(array: np.ndarray, what: str) -> float | int | bool:
    """The one value of a single-element constant."""
    if array.size != 1:
        raise NodeError(f"{what} must be a single value, got shape {list(array.shape)}")
    return array.reshape(-1)[0].item()


def _element_dtype(elt: Attribute) -> np.dtype:
    try:
        return g.numpy_dtype_of(elt)
    except ValueError as e:
        raise NodeError(str(e)) from None


def _resolve_reshape(x: Sequence[int], target: Sequence[int], allowzero: bool) -> list[int]:
    """An ONNX Reshape target as a graph.reshape shape (entries > 0, at most one -1)."""
    if allowzero and 0 in target:
        raise NodeError("allowzero = 1 with a zero in the target shape is not supported")
    if sum(1 for d in target if d == -1) > 1:
        raise NodeError(f"target shape {list(target)} has more than one -1")
    out = list(target)
    copied_dyn = []
    for i, d in enumerate(target):
        if d == 0:
            if i >= len(x):
                raise NodeError(f"target shape {list(target)} copies dim {i} of a rank "
                                f"{len(x)} input")
            out[i] = x[i]
            if x[i] == g.DYN:
                copied_dyn.append(i)
    if not copied_dyn:
        if -1 in out and g.DYN not in x:
            # a static input resolves the -1 here ("shapes are resolved as far as possible")
            return list(g.ReshapeOp.infer_shape(x, out))
        return out
    if -1 in target:
        # the dynamic dims are copied as they are, so the -1 covers the static rest
        if x.count(g.DYN) != len(copied_dyn) or any(x[i] != g.DYN for i in copied_dyn):
            raise NodeError(f"cannot resolve target {list(target)} for input {show_shape(x)}")
        static_in = int(np.prod([d for d in x if d != g.DYN], dtype=np.int64))
        static_out = int(np.prod([d for i, d in enumerate(out)
                                  if d not in (-1, g.DYN) and i not in copied_dyn],
                                 dtype=np.int64))
        if static_out == 0 or static_in % static_out:
            raise NodeError(f"cannot reshape {show_shape(x)} into {list(target)}")
        out[target.index(-1)] = static_in // static_out
    if len(copied_dyn) > 1:
        raise NodeError(f"target {list(target)} copies {len(copied_dyn)} dynamic dims; "
                        "graph.reshape can infer only one")
    out[copied_dyn[0]] = -1
    return out


def _shape(ctx, node, attrs, opset):
    x = ctx.value(node.input[0])
    rank = len(g.shape_of(x))
    start = int(attrs.get("start", 0))
    end = int(attrs.get("end", rank))
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    return [ctx.emit(g.ShapeOp(x, start, max(start, end)))]


def _size(ctx, node, attrs, opset):
    return [ctx.emit(g.SizeOp(ctx.value(node.input[0])))]


def _reshape_any(ctx, node, attrs, opset):
    x = ctx.value(node.input[0])
    allowzero = bool(attrs.get("allowzero", 0))
    target = ctx.known(node.input[1])
    if target is not None and not (allowzero and 0 in target):
        try:
            resolved = _resolve_reshape(g.shape_of(x), target, allowzero)
            return [ctx.emit(g.ReshapeOp(x, resolved))]
        except (NodeError, ValueError):
            pass
    shape = ctx.value(node.input[1])
    n = vector_length(shape, "the shape input")
    if n == g.DYN:
        raise NodeError("the shape input has a dynamic length (unknown result rank)")
    dims = [g.DYN] * n
    x_shape = g.shape_of(x)
    if target is not None:
        dims = [x_shape[i] if t == 0 and not allowzero and i < len(x_shape) else
                (t if t >= 0 else g.DYN) for i, t in enumerate(target)]
    result_type = ctx.typed(node, dims, g.element_type_of(x))
    return [ctx.emit(g.ReshapeDynamicOp(x, shape, result_type, allowzero))]


def _flatten_any(ctx, node, attrs, opset):
    x = ctx.value(node.input[0])
    rank = len(g.shape_of(x))
    axis = _flatten_axis(int(attrs.get("axis", 1)), rank)
    shape = g.shape_of(x)
    target = [extent(shape[:axis]), extent(shape[axis:])]
    if target.count(-1) <= 1:
        return [ctx.emit(g.ReshapeOp(x, target))]
    return [ctx.emit(g.FlattenOp(x, axis))]


def _axes_arg(ctx, node, attrs, opset: int, since: int) -> list[int] | None:
    if opset < since or "axes" in attrs:
        axes = attrs.get("axes")
        return None if axes is None else [int(a) for a in axes]
    name = _input(node, 1)
    if name is None:
        return None
    known = ctx.known(name)
    if known is None:
        raise NodeError("the axes input must be a constant")
    return known


def _runtime_axes(ctx, node, opset: int, unsqueeze: bool) -> list[SSAValue] | None:
    """graph.(un)squeeze_dynamic when the axes are a run-time input (opset >= 13)."""
    name = _input(node, 1)
    if opset < 13 or name is None or name in ctx.consts:
        return None
    x, axes = ctx.value(node.input[0]), ctx.value(name)
    n = g.shape_of(axes)
    if len(n) != 1 or n[0] == g.DYN:
        raise NodeError("the axes input needs a static length (the result rank)")
    rank = len(g.shape_of(x)) + (n[0] if unsqueeze else -n[0])
    result_type = ctx.typed(node, [g.DYN] * rank, g.element_type_of(x))
    cls = g.UnsqueezeDynamicOp if unsqueeze else g.SqueezeDynamicOp
    return [ctx.emit(cls(x, axes, result_type))]


def _squeeze(ctx, node, attrs, opset):
    dynamic = _runtime_axes(ctx, node, opset, unsqueeze=False)
    if dynamic is not None:
        return dynamic
    x = ctx.value(node.input[0])
    shape = g.shape_of(x)
    axes = _axes_arg(ctx, node, attrs, opset, 13)
    if axes is None:
        if g.DYN in shape:
            raise NodeError("Squeeze without axes needs static dims")
        axes = [i for i, d in enumerate(shape) if d == 1]
    axes = sorted({norm_axis(a, len(shape)) for a in axes})
    return [ctx.emit(g.SqueezeOp(x, axes))]


def _unsqueeze(ctx, node, attrs, opset):
    dynamic = _runtime_axes(ctx, node, opset, unsqueeze=True)
    if dynamic is not None:
        return dynamic
    x = ctx.value(node.input[0])
    axes = _axes_arg(ctx, node, attrs, opset, 13)
    if axes is None:
        raise NodeError("Unsqueeze needs axes")
    rank = len(g.shape_of(x)) + len(axes)
    return [ctx.emit(g.UnsqueezeOp(x, sorted(norm_axis(a, rank) for a in axes)))]


def _split(ctx, node, attrs, opset):
    x = ctx.value(node.input[0])
    shape = g.shape_of(x)
    axis = norm_axis(int(attrs.get("axis", 0)), len(shape))
    splits: list[int] | None
    if opset < 13:
        splits = [int(s) for s in attrs["split"]] if "split" in attrs else None
    else:
        splits = ctx.known(_input(node, 1))
        if _input(node, 1) is not None and splits is None:
            sizes = ctx.value(node.input[1])
            split = g.SplitOp(x, axis, None, len(node.output), sizes)
            ctx.add(split)
            return list(split.results)
    parts = len(node.output)
    if splits is None and "num_outputs" in attrs:
        parts = int(attrs["num_outputs"])
    elif splits is None and shape[axis] != g.DYN and shape[axis] % parts:
        raise NodeError(f"dim {shape[axis]} does not split evenly into {parts}")
    split = g.SplitOp(x, axis, splits, parts)
    ctx.add(split)
    return list(split.results)


def _slice(ctx, node, attrs, opset):
    x = ctx.value(node.input[0])
    shape = g.shape_of(x)
    rank = len(shape)
    names = [_input(node, i) for i in range(1, 5)]
    starts_known = ctx.known(names[0])
    n = len(starts_known) if starts_known is not None else vector_length(
        ctx.value(names[0]), "starts")
    if n == g.DYN:
        raise NodeError("starts has a dynamic length")
    defaults = {2: list(range(n)), 3: [1] * n}
    operands, known = [], []
    for i, name in enumerate(names):
        if name is None:
            values = defaults[i]
            operands.append(ctx.int_constant(values))
            known.append(values)
        else:
            operands.append(ctx.value(name))
            known.append(ctx.known(name))
    dims = [g.DYN] * rank
    if any(k is not None and len(k) != n for k in known):
        raise NodeError(f"starts, ends, axes and steps have different lengths "
                        f"({[None if k is None else len(k) for k in known]})")
    if all(k is not None for k in known):
        dims = list(shape)
        for s, e, a, t in zip(*known, strict=True):
            if t == 0:
                raise NodeError("a step cannot be 0")
            a = norm_axis(a, rank)
            if shape[a] == g.DYN:
                dims[a] = g.DYN
            else:
                dims[a] = len(range(*slice(s, e, t).indices(shape[a])))
    else:
        axes = known[2]
        if axes is not None:
            sliced = {norm_axis(a, rank) for a in axes}
            dims = [d if i not in sliced else g.DYN for i, d in enumerate(shape)]
    result_type = ctx.typed(node, dims, g.element_type_of(x))
    return [ctx.emit(g.SliceOp(x, *operands, result_type))]


def _gather(ctx, node, attrs, opset):
    x, ind = ctx.value(node.input[0]), ctx.value(node.input[1])
    rank = len(g.shape_of(x))
    axis = norm_axis(int(attrs.get("axis", 0)), rank)
    if node.op_type == "Gather":
        return [ctx.emit(g.GatherOp(x, ind, axis))]
    return [ctx.emit(g.GatherElementsOp(x, ind, axis))]


def _gather_nd(ctx, node, attrs, opset):
    x, ind = ctx.value(node.input[0]), ctx.value(node.input[1])
    if not g.shape_of(ind) or g.shape_of(ind)[-1] == g.DYN:
        raise NodeError("the last dim of indices must be static")
    return [ctx.emit(g.GatherNDOp(x, ind, int(attrs.get("batch_dims", 0))))]


def _scatter(ctx, node, attrs, opset):
    x, ind, upd = (ctx.value(n) for n in node.input[:3])
    reduction = text(attrs.get("reduction", "none"))
    if reduction not in g.REDUCTIONS:
        raise NodeError(f"unknown reduction '{reduction}'")
    if node.op_type == "ScatterND":
        if not g.shape_of(ind) or g.shape_of(ind)[-1] == g.DYN:
            raise NodeError("the last dim of indices must be static")
        return [ctx.emit(g.ScatterNDOp(x, ind, upd, reduction))]
    axis = norm_axis(int(attrs.get("axis", 0)), len(g.shape_of(x)))
    return [ctx.emit(g.ScatterElementsOp(x, ind, upd, axis, reduction))]


def _expand(ctx, node, attrs, opset):
    x, shape = ctx.value(node.input[0]), ctx.value(node.input[1])
    n = vector_length(shape, "the shape input")
    if n == g.DYN:
        raise NodeError("the shape input has a dynamic length (unknown result rank)")
    x_shape = g.shape_of(x)
    target = ctx.known(node.input[1])
    rank = max(n, len(x_shape))
    dims = [g.DYN] * rank
    if target is not None and g.DYN not in x_shape:
        dims = list(np.broadcast_shapes(tuple(x_shape), tuple(target)))
    result_type = ctx.typed(node, dims, g.element_type_of(x))
    return [ctx.emit(g.ExpandOp(x, shape, result_type))]


def _tile(ctx, node, attrs, opset):
    x, repeats = ctx.value(node.input[0]), ctx.value(node.input[1])
    x_shape = g.shape_of(x)
    known = ctx.known(node.input[1])
    dims = [g.DYN] * len(x_shape)
    if known is not None and (len(known) != len(x_shape) or min(known, default=0) < 0):
        raise NodeError(f"repeats {known} do not fit an input of rank {len(x_shape)}")
    if known is not None:
        dims = [g.DYN if d == g.DYN else d * r for d, r in zip(x_shape, known,
                                                              strict=True)]
    result_type = ctx.typed(node, dims, g.element_type_of(x))
    return [ctx.emit(g.TileOp(x, repeats, result_type))]


def _pad(ctx, node, attrs, opset):
    x = ctx.value(node.input[0])
    shape = g.shape_of(x)
    rank = len(shape)
    mode = text(attrs.get("mode", "constant"))
    if mode not in g.PAD_MODES:
        raise NodeError(f"unknown pad mode '{mode}'")
    axes_name = _input(node, 3)
    axes = ctx.value(axes_name) if axes_name else ctx.int_constant(range(rank))
    known_axes = ctx.known(axes_name) if axes_name else list(range(rank))
    pads = ctx.value(node.input[1])
    elt = g.element_type_of(x)
    value_name = _input(node, 2)
    if value_name is not None:
        value = ctx.value(value_name)
        if g.shape_of(value) == (1,):
            value = ctx.emit(g.SqueezeOp(value, [0]))
    else:
        value = ctx.emit(g.ConstantOp(typed_dense_attr(
            np.zeros((), dtype=_element_dtype(elt)))))
    dims = [g.DYN] * rank
    known = ctx.known(node.input[1])
    if known is not None and known_axes is not None and len(known) != 2 * len(known_axes):
        raise NodeError(f"pads {known} need 2 x {len(known_axes)} values")
    if known_axes is not None:
        sliced = {norm_axis(a, rank) for a in known_axes}
        dims = [g.DYN if i in sliced else d for i, d in enumerate(shape)]
        if known is not None:
            dims = list(shape)
            for k, a in enumerate(known_axes):
                a = norm_axis(a, rank)
                if shape[a] != g.DYN:
                    dims[a] = shape[a] + known[k] + known[len(known_axes) + k]
                    if dims[a] < 0:
                        raise NodeError(f"pads {known} crop dim {a} of size "
                                        f"{shape[a]} below zero")
    result_type = ctx.typed(node, dims, elt)
    return [ctx.emit(g.PadOp(x, pads, value, axes, mode, result_type))]


def _range(ctx, node, attrs, opset):
    start, limit, delta = (ctx.value(n) for n in node.input[:3])
    known = [ctx.known(n) for n in node.input[:3]]
    dims = [g.DYN]
    if all(k is not None for k in known):
        s, lim, d = (_scalar_value(ctx.consts[n], "Range") for n in node.input[:3])
        if d == 0 or not np.isfinite([s, lim, d]).all():
            raise NodeError(f"start {s}, limit {lim} and delta {d} must be finite, "
                            "with a non-zero delta")
        dims = [max(int(np.ceil((lim - s) / d)), 0)]
    result_type = ctx.typed(node, dims, g.element_type_of(start))
    return [ctx.emit(g.RangeOp(start, limit, delta, result_type))]


def _constant_of_shape(ctx, node, attrs, opset):
    shape = ctx.value(node.input[0])
    value = attrs.get("value")
    array = np.zeros((1,), np.float32) if value is None else numpy_helper.to_array(value)
    if array.size != 1:
        raise NodeError(f"value must hold one element, got shape {list(array.shape)}")
    attr = typed_dense_attr(array.reshape(1))
    n = vector_length(shape, "the shape input")
    if n == g.DYN:
        raise NodeError("the shape input has a dynamic length (unknown result rank)")
    known = ctx.known(node.input[0])
    if known is not None and any(d < 0 for d in known):
        raise NodeError(f"the shape {known} has a negative dim")
    dims = known if known is not None else [g.DYN] * n
    result_type = ctx.typed(node, dims, attr.get_type().element_type)
    return [ctx.emit(g.ConstantOfShapeOp(shape, attr, result_type))]


def _trilu(ctx, node, attrs, opset):
    x = ctx.value(node.input[0])
    name = _input(node, 1)
    k = ctx.value(name) if name is not None else ctx.int_constant(0)
    return [ctx.emit(g.TriluOp(x, k, bool(attrs.get("upper", 1))))]


def _cumsum(ctx, node, attrs, opset):
    x, axis = ctx.value(node.input[0]), ctx.value(node.input[1])
    return [ctx.emit(g.CumSumOp(x, axis, bool(attrs.get("exclusive", 0)),
                                bool(attrs.get("reverse", 0))))]


def _eye_like(ctx, node, attrs, opset):
    """ONNX EyeLike: ones on diagonal k of a 2-D tensor shaped like the input, of type
    `dtype` (the input's by default). A static shape is a constant; a dynamic one is
    tril(triu(ones, k), k) on a graph.constant_of_shape of the input's graph.shape."""
    x = ctx.value(node.input[0])
    shape = g.shape_of(x)
    if len(shape) != 2:
        raise NodeError(f"the input must be 2-D, got {x.type}")
    elt = g.element_type_of(x)
    if attrs.get("dtype") is not None:
        elt = element_type(int(attrs["dtype"]))  # type: ignore[call-overload]
        if elt is None:
            raise NodeError(f"attribute 'dtype' = {attrs['dtype']}: not a supported "
                            "element type")
    k = int(attrs.get("k", 0))  # type: ignore[call-overload]
    dtype = _element_dtype(elt)
    if g.DYN not in shape:
        return [ctx.constant(np.eye(*shape, k=k, dtype=dtype))]
    ones = ctx.emit(g.ConstantOfShapeOp(ctx.emit(g.ShapeOp(x)), typed_dense_attr(
        np.ones(1, dtype)), g.tensor_type(shape, elt)))
    k_value = ctx.int_constant(k)
    upper = ctx.emit(g.TriluOp(ones, k_value, True))
    return [ctx.emit(g.TriluOp(upper, k_value, False))]


def _topk(ctx, node, attrs, opset):
    x, k = ctx.value(node.input[0]), ctx.value(node.input[1])
    axis = norm_axis(int(attrs.get("axis", -1)), len(g.shape_of(x)))
    known = ctx.known(node.input[1])
    if known is not None and (len(known) != 1 or known[0] < 0):
        raise NodeError(f"K = {known} must be one non-negative value")
    op = g.TopKOp(x, k, axis, bool(attrs.get("largest", 1)),
                  None if known is None else known[0])
    ctx.add(op)
    return list(op.results)


def _resize(ctx, node, attrs, opset):
    x = ctx.value(node.input[0])
    shape = g.shape_of(x)
    rank = len(shape)
    mode = text(attrs.get("mode", "nearest"))
    coord = text(attrs.get("coordinate_transformation_mode", "half_pixel"))
    nearest = text(attrs.get("nearest_mode", "round_prefer_floor"))
    policy = text(attrs.get("keep_aspect_ratio_policy", "stretch"))
    if mode not in g.RESIZE_MODES:
        raise NodeError(f"mode '{mode}' is not supported")
    if coord not in g.RESIZE_COORDINATE_MODES:
        raise NodeError(f"coordinate_transformation_mode '{coord}' is not supported")
    if nearest not in g.RESIZE_NEAREST_MODES or policy not in g.RESIZE_ASPECT_POLICIES:
        raise NodeError(f"nearest_mode '{nearest}' / keep_aspect_ratio_policy "
                        f"'{policy}' is not supported")
    if attrs.get("antialias", 0):
        raise NodeError("antialias is not supported")
    axes = [norm_axis(a, rank) for a in attrs.get("axes", range(rank))]
    scales_name, sizes_name = _input(node, 2), _input(node, 3)
    if scales_name is not None and g.shape_of(ctx.value(scales_name)) == (0,):
        scales_name = None
    if (scales_name is None) == (sizes_name is None):
        raise NodeError("Resize needs exactly one of scales and sizes")
    scales = ctx.value(scales_name) if scales_name else None
    sizes = ctx.value(sizes_name) if sizes_name else None
    for value, what in ((scales, "scales"), (sizes, "sizes")):
        if value is not None:
            vector_length(value, what)
    dims = [g.DYN if i in axes else d for i, d in enumerate(shape)]
    for name in (scales_name, sizes_name):
        if name in ctx.consts and ctx.consts[name].size != len(axes):
            raise NodeError(f"'{name}' has {ctx.consts[name].size} values for "
                            f"{len(axes)} resized axes")
    if scales_name in ctx.consts:
        values = ctx.consts[scales_name].reshape(-1)
        if not np.all(np.isfinite(values.astype(np.float64))):
            raise NodeError(f"scales {values.tolist()} must be finite")
        for k, a in enumerate(axes):
            if shape[a] != g.DYN:
                dims[a] = int(np.floor(shape[a] * float(values[k])))
    elif sizes_name in ctx.consts and policy == "stretch":
        for k, a in enumerate(axes):
            dims[a] = int(ctx.consts[sizes_name].reshape(-1)[k])
    result_type = ctx.typed(node, dims, g.element_type_of(x))
    return [ctx.emit(g.ResizeOp(
        x, scales, sizes, axes=axes, mode=mode, coordinate_mode=coord,
        nearest_mode=nearest, keep_aspect_ratio_policy=policy, result_type=result_type))]


def _one_hot(ctx, node, attrs, opset):
    ind, depth, values = (ctx.value(n) for n in node.input[:3])
    rank = len(g.shape_of(ind)) + 1
    axis = norm_axis(int(attrs.get("axis", -1)), rank)
    known = None
    if node.input[1] in ctx.consts:
        known = [int(_scalar_value(ctx.consts[node.input[1]], "the depth"))]
    return [ctx.emit(g.OneHotOp(ind, depth, values, axis,
                                None if known is None else known[0]))]


def _non_zero(ctx, node, attrs, opset):
    return [ctx.emit(g.NonZeroOp(ctx.value(node.input[0])))]


def _transpose(ctx, node, attrs, opset):
    x = ctx.value(node.input[0])
    rank = len(g.shape_of(x))
    perm = [int(p) + (rank if p < 0 else 0)
            for p in attrs.get("perm", list(reversed(range(rank))))]
    if sorted(perm) != list(range(rank)):
        raise NodeError(f"perm {list(attrs['perm'])} is not a permutation of the input's "
                        f"{rank} dims")
    return [ctx.emit(g.TransposeOp(x, perm))]


def _concat(ctx, node, attrs, opset):
    inputs = [ctx.value(n) for n in node.input if n]
    if not inputs:
        raise NodeError("Concat needs at least one input")
    axis = norm_axis(int(attrs["axis"]), len(g.shape_of(inputs[0])))
    return [ctx.emit(g.ConcatOp(inputs, axis))]


# ---- DepthToSpace / SpaceToDepth: reshape, transpose, reshape

DimExpr = int | tuple[int, int, int]
"""A reshape target entry: a size, or (i, num, den), dim i of the input * num // den."""


def _dims_reshape(ctx, x: SSAValue, target: Sequence[DimExpr], from_: SSAValue
                  ) -> SSAValue:
    """Reshape `x` to `target`, whose entries read the dims of `from_`: graph.reshape
    when at most one entry is dynamic (-1 there), else graph.reshape_dynamic on a shape
    vector built at run time from graph.shape slices of `from_`."""
    shape = g.shape_of(from_)
    dims = [t if isinstance(t, int) else
            g.DYN if shape[t[0]] == g.DYN else shape[t[0]] * t[1] // t[2] for t in target]
    if dims.count(g.DYN) <= 1:
        return ctx.emit(g.ReshapeOp(x, [-1 if d == g.DYN else d for d in dims]))
    pieces: list[SSAValue] = []
    for k, (t, d) in enumerate(zip(target, dims, strict=True)):
        if d != g.DYN:
            if k == 0 or dims[k - 1] == g.DYN:  # one constant per run of static entries
                run = dims[k:]
                run = run[:run.index(g.DYN)] if g.DYN in run else run
                pieces.append(ctx.int_constant(run))
            continue
        assert not isinstance(t, int)
        i, num, den = t
        piece = ctx.emit(g.ShapeOp(from_, i, i + 1))
        if num != 1:
            piece = ctx.emit(g.MulOp(piece, ctx.int_constant([num])))
        if den != 1:
            piece = ctx.emit(g.DivOp(piece, ctx.int_constant([den])))
        pieces.append(piece)
    vector = ctx.emit(g.ConcatOp(pieces, 0))
    return ctx.emit(g.ReshapeDynamicOp(x, vector, g.tensor_type(dims, g.element_type_of(x)),
                                       allowzero=True))


def _block_args(node, attrs, x: SSAValue) -> tuple[int, str]:
    """blocksize and mode of a DepthToSpace / SpaceToDepth node on a rank-4 input."""
    if len(g.shape_of(x)) != 4:
        raise NodeError(f"the input must have rank 4 ([N, C, H, W]), got {x.type}")
    b = int(attrs.get("blocksize", 0))
    if b < 1:
        raise NodeError(f"attribute 'blocksize' = {b}: must be >= 1")
    mode = text(attrs.get("mode", "DCR"))
    if mode not in ("DCR", "CRD"):
        raise NodeError(f"attribute 'mode' = '{mode}': must be 'DCR' or 'CRD'")
    return b, mode


def _depth_to_space(ctx, node, attrs, opset):
    """[N, C, H, W] -> [N, C/b², H*b, W*b]: DCR splits C as (b, b, C/b²), CRD as
    (C/b², b, b); the block dims then interleave with H and W."""
    x = ctx.value(node.input[0])
    b, mode = _block_args(node, attrs, x)
    c = g.shape_of(x)[1]
    if c != g.DYN and c % (b * b):
        raise NodeError(f"attribute 'blocksize' = {b}: the {c} channels are not a "
                        f"multiple of blocksize² = {b * b}")
    n, cb, h, w = (0, 1, 1), (1, 1, b * b), (2, 1, 1), (3, 1, 1)
    if mode == "DCR":
        split, perm = [n, b, b, cb, h, w], [0, 3, 4, 1, 5, 2]
    else:
        split, perm = [n, cb, b, b, h, w], [0, 1, 4, 2, 5, 3]
    y = ctx.emit(g.TransposeOp(_dims_reshape(ctx, x, split, x), perm))
    return [_dims_reshape(ctx, y, [n, cb, (2, b, 1), (3, b, 1)], x)]


def _space_to_depth(ctx, node, attrs, opset):
    """[N, C, H, W] -> [N, C*b², H/b, W/b]: H and W split as (H/b, b), (W/b, b); DCR
    puts both block dims before C, CRD after it."""
    x = ctx.value(node.input[0])
    b, mode = _block_args(node, attrs, x)
    for axis, what in ((2, "height"), (3, "width")):
        d = g.shape_of(x)[axis]
        if d != g.DYN and d % b:
            raise NodeError(f"attribute 'blocksize' = {b}: the input {what} {d} is not a "
                            "multiple of it")
    n, c, hb, wb = (0, 1, 1), (1, 1, 1), (2, 1, b), (3, 1, b)
    perm = [0, 3, 5, 1, 2, 4] if mode == "DCR" else [0, 1, 3, 5, 2, 4]
    y = ctx.emit(g.TransposeOp(_dims_reshape(ctx, x, [n, c, hb, b, wb, b], x), perm))
    return [_dims_reshape(ctx, y, [n, (1, b * b, 1), hb, wb], x)]


def _forward(ctx, node, attrs, opset):
    return [ctx.value(node.input[0])]


def _constant(ctx, node, attrs, opset):
    # materialized where it is used (it may be an attribute in disguise)
    return []


def _check_constant(ctx: ImportContext, node: onnx.NodeProto, attrs: dict, used: set[str]
                    ) -> str | None:
    try:
        constant_value(node)
    except NodeError as e:
        return str(e)
    return None


RULES: dict[str, Rule] = {
    "Shape": _shape, "Size": _size, "Reshape": _reshape_any, "Flatten": _flatten_any,
    "Squeeze": _squeeze, "Unsqueeze": _unsqueeze, "Split": _split, "Slice": _slice,
    "Gather": _gather, "GatherElements": _gather, "GatherND": _gather_nd,
    "ScatterND": _scatter, "ScatterElements": _scatter, "Expand": _expand, "Tile": _tile,
    "Pad": _pad, "Range": _range, "ConstantOfShape": _constant_of_shape, "Trilu": _trilu,
    "CumSum": _cumsum, "TopK": _topk, "Resize": _resize, "OneHot": _one_hot,
    "NonZero": _non_zero,
    "Scatter": _scatter,  # Scatter-9 is ScatterElements (no reduction)
    "Transpose": _transpose, "Concat": _concat, "Identity": _forward,
    "Constant": _constant, "DepthToSpace": _depth_to_space,
    "SpaceToDepth": _space_to_depth, "EyeLike": _eye_like,
}

NON_DATA_INPUTS: dict[str, tuple[int, ...]] = {
    "Reshape": (1,), "Squeeze": (1,), "Unsqueeze": (1,), "Split": (1,),
    "Slice": (1, 2, 3, 4), "Gather": (1,), "GatherElements": (1,), "GatherND": (1,),
    "ScatterND": (1,), "ScatterElements": (1,), "Expand": (1,), "Tile": (1,),
    "Pad": (1, 3), "ConstantOfShape": (0,), "Trilu": (1,), "CumSum": (1,), "TopK": (1,),
    "Resize": (1, 2, 3), "OneHot": (0, 1, 2), "Range": (0, 1, 2)}
"""Integer (or otherwise non-float) inputs of those ops that the float check skips."""

CHECKS: dict[str, Check] = {"Constant": _check_constant}
