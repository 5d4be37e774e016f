"""Convolution and pooling: convolution (and its transposed form), max/avg pooling (max
pooling with its indices), and adaptive pooling; pads are explicit (torch's symmetric
padding, written begin and end)."""

from __future__ import annotations

import operator

import numpy as np
from xdsl.dialects.builtin import IntegerAttr, i64

from compiler.importers.torch.context import NodeError, Rule
from dialects import graph as g


def _per_dim(value: object, n: int, name: str) -> list[int]:
    values = [value] if isinstance(value, int) else list(value)  # type: ignore[arg-type]
    if len(values) == 1:
        values = values * n
    if len(values) != n or not all(isinstance(v, int) for v in values):
        raise NodeError(f"{name} {value!r} does not give one int per spatial dim ({n})")
    return values


def _arg(node, index: int, default: object) -> object:
    return node.args[index] if len(node.args) > index else default


def _convolution(ctx, node):
    """convolution(x, w, bias, stride, padding, dilation, transposed, output_padding,
    groups)."""
    x, w = ctx.tensor(node.args[0]), ctx.tensor(node.args[1])
    bias = ctx.tensor(node.args[2]) if node.args[2] is not None else None
    n = len(g.shape_of(x)) - 2
    strides = _per_dim(node.args[3], n, "stride")
    padding = _per_dim(node.args[4], n, "padding")
    dilations = _per_dim(node.args[5], n, "dilation")
    transposed, groups = bool(node.args[6]), int(node.args[8])
    if transposed:
        return ctx.emit(g.ConvTransposeOp(
            x, w, bias, strides=strides, pads=padding + padding, dilations=dilations,
            output_padding=_per_dim(node.args[7], n, "output_padding"), group=groups))
    return ctx.emit(g.ConvOp(x, w, bias, strides=strides, pads=padding + padding,
                             dilations=dilations, group=groups))


def _window(node, rank: int) -> tuple[list[int], list[int], list[int]]:
    """kernel, strides (default: the kernel) and explicit pads of a pooling node."""
    n = rank - 2
    kernel = _per_dim(node.args[1], n, "kernel_size")
    stride = _arg(node, 2, [])
    strides = kernel if stride in ([], None) else _per_dim(stride, n, "stride")
    padding = _per_dim(_arg(node, 3, 0), n, "padding")
    return kernel, strides, padding + padding


def _max_pool(ctx, node):
    """max_pool2d(_with_indices)(x, kernel, stride, padding, dilation, ceil_mode); the
    indices (torch's: flat within each [H, W] plane) are graph.max_pool_indices' flat
    index over the whole tensor modulo the plane's size."""
    x = ctx.tensor(node.args[0])
    shape = g.shape_of(x)
    rank = len(shape)
    kernel, strides, pads = _window(node, rank)
    window = {"kernel_shape": kernel, "strides": strides, "pads": pads,
              "dilations": _per_dim(_arg(node, 4, 1), rank - 2, "dilation"),
              "ceil_mode": bool(_arg(node, 5, False))}
    pool = ctx.emit(g.MaxPoolOp(x, **window))
    if "with_indices" not in str(node.target):
        return pool
    if not _output_used(node, 1):
        return pool, None
    return pool, _plane_indices(ctx, g.MaxPoolIndicesOp(x, **window), shape)


def _output_used(node, index: int) -> bool:
    """Whether something reads output `index` of a multi-output node."""
    return any(user.target is operator.getitem and user.args[1] == index and user.users
               for user in node.users)


def _plane_indices(ctx, op, shape) -> object:
    spatial = list(shape[2:])
    if g.DYN in spatial:
        raise NodeError("max pooling indices need static spatial dims")
    flat = ctx.emit(op)
    plane = ctx.int_constant(int(np.prod(spatial)))
    return ctx.emit(g.ElementwiseOp("mod", [flat, plane], (1,)))


def _avg_pool(ctx, node):
    """avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad,
    divisor_override)."""
    if _arg(node, 6, None) is not None:
        raise NodeError("avg_pool with divisor_override is not supported")
    x = ctx.tensor(node.args[0])
    rank = len(g.shape_of(x))
    kernel, strides, pads = _window(node, rank)
    include = IntegerAttr(int(bool(_arg(node, 5, True))), i64)
    return ctx.emit(g.AvgPoolOp(x, kernel_shape=kernel, strides=strides, pads=pads,
                                dilations=[1] * (rank - 2), ceil_mode=bool(_arg(node, 4, False)),
                                count_include_pad=include))


def _adaptive_output(ctx, node) -> tuple[object, list[int], list[int]]:
    x = ctx.tensor(node.args[0])
    shape = g.shape_of(x)
    spatial = list(shape[2:])
    output = node.args[1]
    output = [output] if isinstance(output, int) else list(output)
    if len(output) != len(spatial) or not all(isinstance(o, int) and o > 0 for o in output):
        raise NodeError(f"output_size {output} for {len(spatial)} spatial dims")
    if g.DYN in spatial:
        raise NodeError("adaptive pooling needs static spatial dims")
    return x, spatial, output


def _adaptive(ctx, x, spatial: list[int], output: list[int], kind: str) -> object:
    """An adaptive pool: a fixed-window pool when every output size divides its input
    (the graph ONNX gives), else per spatial axis torch's bins [floor(i * n / m),
    ceil((i + 1) * n / m)) gathered as an [m, longest bin] index (short bins repeat
    their last element) and reduced over the bin: the max, or the sum weighted by
    1/length (0 for the repeats). A rectangle's mean is the mean of its rows' means, its
    max the max of its rows' maxima, so one axis after the other is the pool."""
    n = len(spatial)
    if all(s % o == 0 for s, o in zip(spatial, output, strict=True)):
        kernel = [s // o for s, o in zip(spatial, output, strict=True)]
        pool = g.AvgPoolOp if kind == "mean" else g.MaxPoolOp
        return ctx.emit(pool(x, kernel_shape=kernel, strides=kernel, pads=[0] * (2 * n),
                             dilations=[1] * n))
    for k, (size, out) in enumerate(zip(spatial, output, strict=True)):
        if size == out:
            continue
        axis = 2 + k
        bins = [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]
        longest = max(end - start for start, end in bins)
        index = np.array([[min(start + j, end - 1) for j in range(longest)]
                          for start, end in bins], dtype=np.int64)
        x = ctx.emit(g.GatherOp(x, ctx.constant(index), axis))  # [.., m, longest, ..]
        if kind == "mean":
            weights = np.array([[1.0 / (end - start) if j < end - start else 0.0
                                 for j in range(longest)] for start, end in bins])
            trailing = [1] * (len(g.shape_of(x)) - axis - 2)
            weights = weights.reshape(out, longest, *trailing)
            x = ctx.emit(g.MulOp(x, ctx.constant(weights.astype(g.numpy_dtype_of(
                g.element_type_of(x))))))
        x = ctx.emit(g.ReduceOp(x, "sum" if kind == "mean" else "max", [axis + 1], False))
    return x


def _adaptive_avg_pool(ctx, node):
    x, spatial, output = _adaptive_output(ctx, node)
    if all(o == 1 for o in output):
        return ctx.emit(g.GlobalAvgPoolOp(x))
    return _adaptive(ctx, x, spatial, output, "mean")


def _adaptive_max_pool(ctx, node):
    """adaptive_max_pool (values, indices); the indices are not imported."""
    x, spatial, output = _adaptive_output(ctx, node)
    return _adaptive(ctx, x, spatial, output, "max"), None


RULES: dict[str, Rule] = {
    "aten.convolution.default": _convolution,
    "aten.max_pool2d_with_indices.default": _max_pool,
    "aten.max_pool1d_with_indices.default": _max_pool,
    "aten.max_pool3d_with_indices.default": _max_pool,
    "aten.max_pool2d.default": _max_pool,
    "aten.avg_pool1d.default": _avg_pool, "aten.avg_pool2d.default": _avg_pool,
    "aten.avg_pool3d.default": _avg_pool,
    "aten._adaptive_avg_pool2d.default": _adaptive_avg_pool,
    "aten._adaptive_avg_pool1d.default": _adaptive_avg_pool,
    "aten.adaptive_avg_pool1d.default": _adaptive_avg_pool,
    "aten._adaptive_avg_pool3d.default": _adaptive_avg_pool,
    "aten.adaptive_max_pool2d.default": _adaptive_max_pool,
    "aten.adaptive_max_pool1d.default": _adaptive_max_pool,
}
