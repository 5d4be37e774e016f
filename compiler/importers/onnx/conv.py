"""Convolution and pooling: Conv, ConvTranspose, MaxPool, AveragePool, LpPool and
the global pools (explicit pads: auto_pad is resolved here)."""

from __future__ import annotations

from collections.abc import Sequence

import onnx
from xdsl.dialects.builtin import IntegerAttr, i64

from compiler.importers.onnx.common import (
    NodeError,
    text,
)
from compiler.importers.onnx.context import Check, ImportContext, Rule
from dialects import graph as g

_AUTO_PADS = ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER")


def _conv(ctx, node, attrs, opset):
    x, w = ctx.value(node.input[0]), ctx.value(node.input[1])
    b = ctx.value(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    kernel = list(attrs.get("kernel_shape", g.shape_of(w)[2:]))
    strides, pads, dilations = _window(attrs, g.shape_of(x), kernel)
    return [ctx.emit(g.ConvOp(x, w, b, strides=strides, pads=pads, dilations=dilations,
                              group=int(attrs.get("group", 1))))]


def _window(attrs, x: Sequence[int], kernel: Sequence[int]):
    """strides, explicit pads and dilations of a conv/pool node."""
    n = len(kernel)
    strides = list(attrs.get("strides", [1] * n))
    dilations = list(attrs.get("dilations", [1] * n))
    pads = list(attrs.get("pads", [0] * (2 * n)))
    auto_pad = text(attrs.get("auto_pad", "NOTSET"))
    if auto_pad == "VALID":
        pads = [0] * (2 * n)
    elif auto_pad.startswith("SAME"):
        pads = _same_pads(auto_pad, x[2:], kernel, strides, dilations)
    return strides, pads, dilations


conv_window = _window
"""strides, explicit pads and dilations of a conv node (the quantize family's too)."""


def _pool(ctx, node, attrs, opset):
    x = ctx.value(node.input[0])
    kernel = list(attrs["kernel_shape"])
    strides, pads, dilations = _window(attrs, g.shape_of(x), kernel)
    # with SAME padding the output size is ceil(in / stride) whatever ceil_mode says
    ceil_mode = bool(attrs.get("ceil_mode", 0)) and not text(
        attrs.get("auto_pad", "NOTSET")).startswith("SAME")
    if node.op_type == "MaxPool":
        return [ctx.emit(g.MaxPoolOp(x, kernel_shape=kernel, strides=strides, pads=pads,
                                     dilations=dilations, ceil_mode=ceil_mode))]
    include = IntegerAttr(int(attrs.get("count_include_pad", 0)), i64)
    return [ctx.emit(g.AvgPoolOp(x, kernel_shape=kernel, strides=strides, pads=pads,
                                 dilations=dilations, ceil_mode=ceil_mode,
                                 count_include_pad=include))]


def _max_pool(ctx, node, attrs, opset):
    """MaxPool; its optional Indices output is a graph.max_pool_indices."""
    values = _pool(ctx, node, attrs, opset)
    if len(node.output) < 2 or not node.output[1]:
        return values
    pool = values[0].owner
    assert isinstance(pool, g.MaxPoolOp)
    return [*values, ctx.emit(g.MaxPoolIndicesOp(
        ctx.value(node.input[0]), kernel_shape=g.ints(pool.kernel_shape),
        strides=g.ints(pool.strides), pads=g.ints(pool.pads),
        dilations=g.ints(pool.dilations), ceil_mode=bool(pool.ceil_mode.value.data),
        storage_order=int(attrs.get("storage_order", 0))))]


def _global_avg_pool(ctx, node, attrs, opset):
    return [ctx.emit(g.GlobalAvgPoolOp(ctx.value(node.input[0])))]


def _global_pool_reduce(ctx, node, attrs, opset):
    """GlobalMaxPool / GlobalLpPool: a reduction over the spatial dims, kept as 1."""
    x = ctx.value(node.input[0])
    rank = len(g.shape_of(x))
    if rank < 3:
        raise NodeError(f"input rank must be >= 3, got {rank}")
    if node.op_type == "GlobalMaxPool":
        kind = "max"
    else:
        kind = {1: "l1", 2: "l2"}.get(int(attrs.get("p", 2)), "")
        if not kind:
            spatial = g.shape_of(x)[2:]
            if g.DYN in spatial:
                raise NodeError("GlobalLpPool with p not 1 or 2 needs static spatial dims")
            n = len(spatial)
            return [ctx.emit(g.LpPoolOp(
                x, kernel_shape=spatial, strides=[1] * n, pads=[0] * (2 * n),
                dilations=[1] * n, p=IntegerAttr(int(attrs["p"]), i64)))]
    return [ctx.emit(g.ReduceOp(x, kind, list(range(2, rank)), True))]


def _lp_pool(ctx, node, attrs, opset):
    x = ctx.value(node.input[0])
    kernel = list(attrs["kernel_shape"])
    strides, pads, dilations = _window(attrs, g.shape_of(x), kernel)
    ceil_mode = bool(attrs.get("ceil_mode", 0)) and not text(
        attrs.get("auto_pad", "NOTSET")).startswith("SAME")
    return [ctx.emit(g.LpPoolOp(x, kernel_shape=kernel, strides=strides, pads=pads,
                                dilations=dilations, ceil_mode=ceil_mode,
                                p=IntegerAttr(int(attrs.get("p", 2)), i64)))]


def _conv_transpose(ctx, node, attrs, opset):
    x, w = ctx.value(node.input[0]), ctx.value(node.input[1])
    b = ctx.value(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    x_shape, w_shape = g.shape_of(x), g.shape_of(w)
    n = len(x_shape) - 2
    kernel = list(attrs.get("kernel_shape", w_shape[2:]))
    strides = list(attrs.get("strides", [1] * n))
    dilations = list(attrs.get("dilations", [1] * n))
    out_pad = list(attrs.get("output_padding", [0] * n))
    auto_pad = text(attrs.get("auto_pad", "NOTSET"))
    output_shape = list(attrs.get("output_shape", []))[-n:] if "output_shape" in attrs \
        else None
    pads = list(attrs["pads"]) if "pads" in attrs and auto_pad in ("NOTSET", "VALID") \
        else None
    if auto_pad == "VALID":
        pads = [0] * (2 * n)
    spatial = x_shape[2:]
    if output_shape is None and pads is None and auto_pad.startswith("SAME"):
        if g.DYN in spatial:
            raise NodeError(f"auto_pad {auto_pad} needs static spatial input dims")
        output_shape = [spatial[i] * strides[i] for i in range(n)]
    if output_shape is not None and g.DYN in spatial:
        raise NodeError("output_shape needs static spatial input dims")
    full = [None if spatial[i] == g.DYN else
            strides[i] * (spatial[i] - 1) + out_pad[i] + (kernel[i] - 1) * dilations[i] + 1
            for i in range(n)]
    if pads is None:
        pads = [0] * (2 * n)
        if output_shape is not None:
            total = [full[i] - output_shape[i] for i in range(n)]  # type: ignore[operator]
            upper = auto_pad == "SAME_UPPER"
            pads = [t // 2 if upper else t - t // 2 for t in total] + \
                [t - t // 2 if upper else t // 2 for t in total]
    if output_shape is not None:
        # the output extent is exactly output_shape: fold any rest into output_padding
        out_pad = [output_shape[i] - (full[i] - pads[i] - pads[n + i]) + out_pad[i]
                   for i in range(n)]  # type: ignore[operator]
    return [ctx.emit(g.ConvTransposeOp(
        x, w, b, strides=strides, pads=pads, dilations=dilations, output_padding=out_pad,
        group=int(attrs.get("group", 1))))]


def _same_pads(auto_pad: str, spatial: Sequence[int], kernel: Sequence[int],
               strides: Sequence[int], dilations: Sequence[int]) -> list[int]:
    """Explicit pads for SAME_UPPER/SAME_LOWER: output size ceil(in / stride)."""
    begins, ends = [], []
    for size, k, s, d in zip(spatial, kernel, strides, dilations, strict=True):
        extent = (k - 1) * d + 1
        if s == 1:
            total = extent - 1
        elif size == g.DYN:
            raise NodeError(f"auto_pad {auto_pad} with stride {s} needs static spatial dims")
        else:
            total = max(0, (-(-size // s) - 1) * s + extent - size)
        small, large = total // 2, total - total // 2
        begins.append(small if auto_pad == "SAME_UPPER" else large)
        ends.append(large if auto_pad == "SAME_UPPER" else small)
    return begins + ends


def _check_window(ctx: ImportContext, node: onnx.NodeProto, attrs: dict, used: set[str]
                  ) -> str | None:
    """auto_pad is known; SAME with strides needs static spatial dims."""
    auto_pad = text(attrs.get("auto_pad", "NOTSET"))
    if auto_pad not in _AUTO_PADS:
        return f"unknown auto_pad '{auto_pad}'"
    strides = attrs.get("strides")
    if auto_pad.startswith("SAME") and strides and any(s != 1 for s in strides):
        shape = ctx.inferred.get(node.input[0])
        if shape is None or any(d is None for d in shape[2:]):
            return (f"auto_pad {auto_pad} with strides {list(strides)} needs static "
                    "spatial input dims")
    return None


RULES: dict[str, Rule] = {
    "Conv": _conv, "ConvTranspose": _conv_transpose, "MaxPool": _max_pool,
    "AveragePool": _pool, "LpPool": _lp_pool, "GlobalAveragePool": _global_avg_pool,
    "GlobalMaxPool": _global_pool_reduce, "GlobalLpPool": _global_pool_reduce,
}

CHECKS: dict[str, Check] = {op: _check_window for op in ("Conv", "MaxPool", "AveragePool")}
