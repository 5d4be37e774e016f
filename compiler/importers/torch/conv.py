"""Convolution and pooling: convolution (and its transposed form), max/avg pooling, and
adaptive pooling where the output size divides the input (a fixed window); pads are
explicit (torch's symmetric padding, written begin and end)."""

from __future__ import annotations

from collections.abc import Sequence

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
    indices output is not imported (getitem of it fails with a clear reason)."""
    x = ctx.tensor(node.args[0])
    rank = len(g.shape_of(x))
    kernel, strides, pads = _window(node, rank)
    dilations = _per_dim(_arg(node, 4, 1), rank - 2, "dilation")
    pool = ctx.emit(g.MaxPoolOp(x, kernel_shape=kernel, strides=strides, pads=pads,
                                dilations=dilations, ceil_mode=bool(_arg(node, 5, False))))
    return (pool, None) if "with_indices" in str(node.target) else pool


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


def _adaptive_window(x_shape: Sequence[int], output: Sequence[int]) -> list[int]:
    """The fixed window of an adaptive pool whose output size divides the input."""
    spatial = list(x_shape[2:])
    if len(output) != len(spatial):
        raise NodeError(f"output_size {list(output)} for {len(spatial)} spatial dims")
    if g.DYN in spatial:
        raise NodeError("adaptive pooling needs static spatial dims")
    if any(o <= 0 or s % o for s, o in zip(spatial, output, strict=True)):
        raise NodeError(f"adaptive pooling from {spatial} to {list(output)}: only output "
                        "sizes that divide the input are supported (a fixed window)")
    return [s // o for s, o in zip(spatial, output, strict=True)]


def _adaptive_avg_pool(ctx, node):
    x = ctx.tensor(node.args[0])
    shape = g.shape_of(x)
    output = _per_dim(node.args[1], len(shape) - 2, "output_size")
    if all(o == 1 for o in output):
        return ctx.emit(g.GlobalAvgPoolOp(x))
    kernel = _adaptive_window(shape, output)
    n = len(kernel)
    return ctx.emit(g.AvgPoolOp(x, kernel_shape=kernel, strides=kernel, pads=[0] * (2 * n),
                                dilations=[1] * n))


def _adaptive_max_pool(ctx, node):
    x = ctx.tensor(node.args[0])
    shape = g.shape_of(x)
    output = _per_dim(node.args[1], len(shape) - 2, "output_size")
    kernel = _adaptive_window(shape, output)
    n = len(kernel)
    return (ctx.emit(g.MaxPoolOp(x, kernel_shape=kernel, strides=kernel, pads=[0] * (2 * n),
                                 dilations=[1] * n)), None)


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
