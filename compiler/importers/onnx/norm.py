"""Normalizations: BatchNormalization (inference and training), InstanceNormalization,
MeanVarianceNormalization, LRN, LayerNormalization, RMSNormalization,
GroupNormalization (its function body: reshape, normalize, reshape, scale); and Dropout
(the identity at inference)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from xdsl.ir import SSAValue

from compiler.importers.onnx.common import (
    NodeError,
    dense_attr,
    dtype_name,
    element_type,
    extent,
    norm_axes,
    norm_axis,
    vector_length,
)
from compiler.importers.onnx.context import Check, ImportContext, Rule
from dialects import graph as g


def _batch_norm(ctx, node, attrs, opset):
    if attrs.get("training_mode", 0):
        return _batch_norm_training(ctx, node, attrs, opset)
    x, scale, bias, mean, var = (ctx.value(n) for n in node.input[:5])
    return [ctx.emit(g.BatchNormOp(x, scale, bias, mean, var,
                                   float(attrs.get("epsilon", 1e-5))))]


def _normalize(ctx, x: SSAValue, axes: Sequence[int], epsilon: float) -> SSAValue:
    """(x - mean) / sqrt(var + epsilon) over `axes` (population variance)."""
    mean = ctx.emit(g.ReduceOp(x, "mean", axes, True))
    centered = ctx.emit(g.SubOp(x, mean))
    var = ctx.emit(g.ReduceOp(ctx.emit(g.MulOp(centered, centered)), "mean", axes,
                              True))
    denom = ctx.emit(g.SqrtOp(ctx.emit(g.AddOp(var, ctx.scalar(epsilon, x)))))
    return ctx.emit(g.DivOp(centered, denom))


def _per_channel(ctx, v: SSAValue, rank: int) -> SSAValue:
    """A [C] tensor as [C, 1, ...] so that it broadcasts along dim 1 of a rank-`rank` x."""
    c = vector_length(v, "a per-channel parameter")
    return ctx.emit(g.ReshapeOp(v, [-1 if c == g.DYN else c, *[1] * (rank - 2)]))


def _instance_norm(ctx, node, attrs, opset):
    x = ctx.value(node.input[0])
    rank = len(g.shape_of(x))
    if rank < 3:
        raise NodeError(f"input rank must be >= 3, got {rank}")
    y = _normalize(ctx, x, list(range(2, rank)), float(attrs.get("epsilon", 1e-5)))
    scale = _per_channel(ctx, ctx.value(node.input[1]), rank)
    bias = _per_channel(ctx, ctx.value(node.input[2]), rank)
    return [ctx.emit(g.AddOp(ctx.emit(g.MulOp(y, scale)), bias))]


def _mvn(ctx, node, attrs, opset):
    x = ctx.value(node.input[0])
    rank = len(g.shape_of(x))
    axes = norm_axes([int(a) for a in attrs.get("axes", [0, 2, 3])], rank, node.op_type)
    return [_normalize(ctx, x, axes, 1e-9)]


def _batch_norm_training(ctx, node, attrs, opset):
    """BatchNormalization with training_mode = 1: batch statistics, updated running
    mean/var as extra outputs."""
    x, scale, bias, mean, var = (ctx.value(n) for n in node.input[:5])
    rank = len(g.shape_of(x))
    axes = [0, *range(2, rank)]
    eps = float(attrs.get("epsilon", 1e-5))
    momentum = float(attrs.get("momentum", 0.9))
    y = _normalize(ctx, x, axes, eps)
    y = ctx.emit(g.AddOp(ctx.emit(g.MulOp(y, _per_channel(ctx, scale, rank))),
                         _per_channel(ctx, bias, rank)))
    batch_mean = ctx.emit(g.ReduceOp(x, "mean", axes, False))
    centered = ctx.emit(g.SubOp(x, _per_channel(ctx, batch_mean, rank)))
    batch_var = ctx.emit(g.ReduceOp(ctx.emit(g.MulOp(centered, centered)), "mean",
                                    axes, False))

    def blend(running: SSAValue, current: SSAValue) -> SSAValue:
        a = ctx.emit(g.MulOp(running, ctx.scalar(momentum, x)))
        b = ctx.emit(g.MulOp(current, ctx.scalar(1.0 - momentum, x)))
        return ctx.emit(g.AddOp(a, b))

    return [y, blend(mean, batch_mean), blend(var, batch_var)]


def _dropout(ctx, node, attrs, opset):
    """Dropout is the identity at inference; a mask output or a run-time training flag
    needs graph.dropout (all-true mask; the flag is checked at run time)."""
    x = ctx.value(node.input[0])
    ratio_name = node.input[1] if len(node.input) > 1 and node.input[1] else None
    mode_name = node.input[2] if len(node.input) > 2 and node.input[2] else None
    runtime_mode = mode_name is not None and mode_name not in ctx.consts
    wants_mask = len(node.output) > 1 and bool(node.output[1])
    if not runtime_mode and not wants_mask:
        return [x]
    ratio = None
    if runtime_mode and ratio_name is not None:
        ratio = ctx.value(ratio_name)
    elif runtime_mode:
        ratio = ctx.emit(g.ConstantOp(dense_attr(np.array(0.5, np.float32))))
    mode = ctx.value(mode_name) if runtime_mode else None
    drop = g.DropoutOp(x, ratio, mode)
    ctx.add(drop)
    return [drop.output, drop.mask]


def _lrn(ctx, node, attrs, opset):
    return [ctx.emit(g.LRNOp(ctx.value(node.input[0]), int(attrs["size"]),
                             float(attrs.get("alpha", 1e-4)),
                             float(attrs.get("beta", 0.75)),
                             float(attrs.get("bias", 1.0))))]


def _layer_norm(ctx, node, attrs, opset):
    x = ctx.value(node.input[0])
    rank = len(g.shape_of(x))
    axis = norm_axis(int(attrs.get("axis", -1)), rank)
    scale = ctx.value(node.input[1])
    bias = ctx.value(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    return [ctx.emit(g.LayerNormOp(x, scale, bias, axis,
                                   float(attrs.get("epsilon", 1e-5))))]


def _norm_stats(ctx, node, attrs, rms: bool) -> tuple[SSAValue, list[SSAValue]]:
    """The normalized x (in x's type) and [mean?, inv_std] (stash type, keepdims), as
    the ONNX function bodies of LayerNormalization/RMSNormalization compute them."""
    x = ctx.value(node.input[0])
    rank = len(g.shape_of(x))
    axis = norm_axis(int(attrs.get("axis", -1)), rank)
    axes = list(range(axis, rank))
    eps = float(attrs.get("epsilon", 1e-5))
    stash = element_type(int(attrs.get("stash_type", 1)))
    elt = g.element_type_of(x)
    xu = x if stash == elt else ctx.emit(g.ElementwiseOp("cast", [x], (), stash))
    stats = []
    if rms:
        centered = xu
    else:
        mean = ctx.emit(g.ReduceOp(xu, "mean", axes, True))
        centered = ctx.emit(g.SubOp(xu, mean))
        stats.append(mean)
    var = ctx.emit(g.ReduceOp(ctx.emit(g.MulOp(centered, centered)), "mean", axes,
                              True))
    std = ctx.emit(g.SqrtOp(ctx.emit(g.AddOp(var, ctx.scalar(eps, xu)))))
    inv_std = ctx.emit(g.DivOp(ctx.scalar(1.0, xu), std))
    stats.append(inv_std)
    y = ctx.emit(g.MulOp(centered, inv_std))
    if stash != elt:
        y = ctx.emit(g.ElementwiseOp("cast", [y], (), elt))
    return y, stats


def _layer_norm_any(ctx, node, attrs, opset):
    """LayerNormalization: the fused graph.layer_norm when only Y is used in x's own
    type (stash f32 on f32 data), else the ONNX function body (Mean, InvStdDev)."""
    x = ctx.value(node.input[0])
    stash = element_type(int(attrs.get("stash_type", 1)))
    wants_stats = any(o for o in node.output[1:])
    axis = norm_axis(int(attrs.get("axis", -1)), len(g.shape_of(x)))
    # graph.layer_norm needs static normalized dims (its scale/bias are checked
    # against them); the composition broadcasts like the ONNX function body
    static = g.DYN not in g.shape_of(x)[axis:]
    if not wants_stats and stash == g.element_type_of(x) and static:
        return _layer_norm(ctx, node, attrs, opset)
    y, stats = _norm_stats(ctx, node, attrs, rms=False)
    y = ctx.emit(g.MulOp(y, ctx.value(node.input[1])))
    if len(node.input) > 2 and node.input[2]:
        y = ctx.emit(g.AddOp(y, ctx.value(node.input[2])))
    return [y, *stats]


def _rms_norm(ctx, node, attrs, opset):
    y, _ = _norm_stats(ctx, node, attrs, rms=True)
    return [ctx.emit(g.MulOp(y, ctx.value(node.input[1])))]


def _group_norm(ctx, node, attrs, opset):
    """GroupNormalization-21 as its ONNX function body: x [N, C, ...] reshaped to
    [N, G, C/G * spatial], normalized over the last dim (in stash_type), reshaped back,
    then scale and bias per channel."""
    if opset < 21:  # the ONNX checker rejects the deprecated GroupNormalization-18 too
        raise NodeError("GroupNormalization-18 (per-group scale and bias) is deprecated; "
                        "Kiln supports GroupNormalization from opset 21")
    x, scale, bias = (ctx.value(n) for n in node.input[:3])
    shape = g.shape_of(x)
    if len(shape) < 2:
        raise NodeError(f"the input must be [N, C, ...], got {x.type}")
    groups = int(attrs.get("num_groups", 0))  # type: ignore[call-overload]
    channels = shape[1] if shape[1] != g.DYN else vector_length(scale, "scale")
    if channels == g.DYN:
        raise NodeError(f"the channel dim of {x.type} (or the length of scale) must be "
                        "static")
    if groups < 1 or channels % groups:
        raise NodeError(f"attribute 'num_groups' = {groups}: must be >= 1 and divide the "
                        f"{channels} channels")
    elt = g.element_type_of(x)
    stash = element_type(int(attrs.get("stash_type", 1)))  # type: ignore[call-overload]
    xs = x if stash == elt else ctx.emit(g.ElementwiseOp("cast", [x], (), stash))
    k = extent(shape[2:])
    inner = -1 if k == -1 else k * (channels // groups)
    if shape[0] != g.DYN or inner != -1:  # one inferred dim at most: graph.reshape
        xg = ctx.emit(g.ReshapeOp(xs, [-1 if shape[0] == g.DYN else shape[0], groups,
                                       inner]))
    else:  # ONNX Reshape [0, G, -1]: 0 copies the batch dim at run time
        xg = ctx.emit(g.ReshapeDynamicOp(xs, ctx.int_constant([0, groups, -1]),
                                         g.tensor_type([g.DYN, groups, g.DYN], stash)))
    y = _normalize(ctx, xg, [2], float(attrs.get("epsilon", 1e-5)))
    if stash != elt:
        y = ctx.emit(g.ElementwiseOp("cast", [y], (), elt))
    restored = [channels if i == 1 else d for i, d in enumerate(shape)]
    if restored.count(g.DYN) <= 1:
        y = ctx.emit(g.ReshapeOp(y, [-1 if d == g.DYN else d for d in restored]))
    else:
        y = ctx.emit(g.ReshapeDynamicOp(y, ctx.emit(g.ShapeOp(x)),
                                        g.tensor_type(restored, elt), allowzero=True))
    rank = len(shape)
    return [ctx.emit(g.AddOp(ctx.emit(g.MulOp(y, _per_channel(ctx, scale, rank))),
                             _per_channel(ctx, bias, rank)))]


def _check_batch_norm(ctx: ImportContext, node: onnx.NodeProto, attrs: dict, used: set[str]
                      ) -> str | None:
    if not attrs.get("training_mode", 0) and any(o in used for o in node.output[1:]):
        return "extra outputs need training_mode = 1 (opset >= 14)"
    return None


def _check_stash_type(ctx: ImportContext, node: onnx.NodeProto, attrs: dict, used: set[str]
                      ) -> str | None:
    stash = int(attrs.get("stash_type", 1))
    if element_type(stash) is None or not g.is_float_type(element_type(stash)):
        return f"stash_type {dtype_name(stash)} is not a supported float type"
    return None


def _check_dropout(ctx: ImportContext, node: onnx.NodeProto, attrs: dict, used: set[str]
                   ) -> str | None:
    mode = ctx.consts.get(node.input[2]) if len(node.input) > 2 else None
    ratio_name = node.input[1] if len(node.input) > 1 and node.input[1] else None
    ratio = ctx.consts.get(ratio_name) if ratio_name else np.float32(0.5)
    if any(v is not None and np.size(v) != 1 for v in (mode, ratio)):
        return "ratio and training_mode must be single values"
    if mode is not None and bool(mode) and ratio is not None and float(ratio) != 0:
        return "training mode with ratio > 0 (random masks) is not supported"
    return None


RULES: dict[str, Rule] = {
    "BatchNormalization": _batch_norm, "InstanceNormalization": _instance_norm,
    "MeanVarianceNormalization": _mvn, "LRN": _lrn, "LayerNormalization": _layer_norm_any,
    "RMSNormalization": _rms_norm, "Dropout": _dropout, "GroupNormalization": _group_norm,
}

NON_DATA_INPUTS: dict[str, tuple[int, ...]] = {"Dropout": (1, 2)}
"""Inputs (by position) that are attributes in disguise, consumed at import time."""

CHECKS: dict[str, Check] = {
    "BatchNormalization": _check_batch_norm, "LayerNormalization": _check_stash_type,
    "RMSNormalization": _check_stash_type, "Dropout": _check_dropout,
    "GroupNormalization": _check_stash_type,
}
