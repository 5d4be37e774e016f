"""Normalization and softmax: batch norm in inference form (training-mode batch norm is
refused with what to do), layer norm, softmax and log-softmax. The statistics outputs
torch's native_* ops also return are not imported (None)."""

from __future__ import annotations

import numpy as np

from compiler.importers.torch.context import NodeError, Rule, normalize_axis
from dialects import graph as g


def _per_channel(ctx, arg, channels: int, fill: float, elt):
    if arg is not None:
        return ctx.tensor(arg)
    if channels == g.DYN:
        raise NodeError("batch norm without weight or bias needs a static channel dim")
    return ctx.constant(np.full((channels,), fill, dtype=g.numpy_dtype_of(elt)))


def _batch_norm(ctx, node):
    """_native_batch_norm_legit_no_training(x, weight, bias, mean, var, momentum, eps)."""
    x = ctx.tensor(node.args[0])
    elt, channels = g.element_type_of(x), g.shape_of(x)[1]
    scale = _per_channel(ctx, node.args[1], channels, 1.0, elt)
    bias = _per_channel(ctx, node.args[2], channels, 0.0, elt)
    mean, var = ctx.tensor(node.args[3]), ctx.tensor(node.args[4])
    out = ctx.emit(g.BatchNormOp(x, scale, bias, mean, var, float(node.args[6])))
    return (out, None, None)


def _native_batch_norm(ctx, node):
    """native_batch_norm(x, weight, bias, mean, var, training, momentum, eps)."""
    if node.args[5]:
        raise NodeError("batch norm in training mode (batch statistics): call "
                        "model.eval() before compiling")
    x = ctx.tensor(node.args[0])
    elt, channels = g.element_type_of(x), g.shape_of(x)[1]
    scale = _per_channel(ctx, node.args[1], channels, 1.0, elt)
    bias = _per_channel(ctx, node.args[2], channels, 0.0, elt)
    out = ctx.emit(g.BatchNormOp(x, scale, bias, ctx.tensor(node.args[3]),
                                 ctx.tensor(node.args[4]), float(node.args[7])))
    return (out, None, None)


def _layer_norm(ctx, node):
    """native_layer_norm(x, normalized_shape, weight, bias, eps) over the last dims."""
    x = ctx.tensor(node.args[0])
    rank = len(g.shape_of(x))
    axis = rank - len(node.args[1])
    scale = ctx.tensor(node.args[2]) if node.args[2] is not None else None
    bias = ctx.tensor(node.args[3]) if node.args[3] is not None else None
    return (ctx.emit(g.LayerNormOp(x, scale, bias, axis, float(node.args[4]))), None, None)


def _softmax(cls):
    def rule(ctx, node):
        x = ctx.tensor(node.args[0])
        axis = normalize_axis(int(node.args[1]), len(g.shape_of(x)))
        x = ctx.cast(x, ctx.result_element())  # half_to_float
        return ctx.emit(cls(x, axis))
    return rule


RULES: dict[str, Rule] = {
    "aten._native_batch_norm_legit_no_training.default": _batch_norm,
    "aten.native_batch_norm.default": _native_batch_norm,
    "aten.native_layer_norm.default": _layer_norm,
    "aten._softmax.default": _softmax(g.SoftmaxOp),
    "aten._log_softmax.default": _softmax(g.LogSoftmaxOp),
}

_TRAINING = "batch norm in training mode (batch statistics): call model.eval() first"

HINTS: dict[str, str] = {
    "aten._native_batch_norm_legit.default": _TRAINING,
    "aten._native_batch_norm_legit_functional.default": _TRAINING,
}
"""Why some ops have no rule, and what to do (the unsupported-op listing shows it)."""
