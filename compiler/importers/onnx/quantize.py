"""Quantized operators: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear,
MatMulInteger, ConvInteger, QLinearMatMul and QLinearConv (the quantize family).

QLinearMatMul / QLinearConv are an integer contraction (int32 accumulator) followed by
graph.requantize with the multiplier a_scale * b_scale / y_scale; DynamicQuantizeLinear is
a composition of reductions, elementwise ops and quantize_linear (exact to onnx.reference).
"""

from __future__ import annotations

import numpy as np
import onnx

from compiler.importers.onnx import conv
from compiler.importers.onnx.common import NodeError, dtype_name, element_type
from compiler.importers.onnx.context import Check, ImportContext, Rule
from dialects import graph as g


def _opt(ctx: ImportContext, node: onnx.NodeProto, i: int):
    """Input `i` of the node, None when it is absent or empty."""
    return ctx.value(node.input[i]) if len(node.input) > i and node.input[i] else None


def _axis(attrs: dict, rank: int, x_shape, p_shape, block_size: int) -> int:
    """The normalized quantization axis (any valid axis when the parameter is per tensor:
    ONNX ignores it then)."""
    axis = int(attrs.get("axis", 1))
    if g.param_mode(x_shape, p_shape, block_size) == "tensor":
        return axis + rank if -rank <= axis < 0 else (axis if 0 <= axis < rank else 0)
    if not -rank <= axis < rank:
        raise NodeError(f"axis {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def _cast(ctx: ImportContext, value, to):
    if g.element_type_of(value) == to:
        return value
    return ctx.emit(g.ElementwiseOp("cast", [value], (), to))


def _q_operands(ctx, node, attrs):
    """x, scale, zero point, axis, block_size and output_dtype of a Q/DQ node."""
    x, scale, zp = ctx.value(node.input[0]), ctx.value(node.input[1]), _opt(ctx, node, 2)
    block = int(attrs.get("block_size", 0))
    axis = _axis(attrs, len(g.shape_of(x)), g.shape_of(x), g.shape_of(scale), block)
    dtype = int(attrs.get("output_dtype", 0))
    return x, scale, zp, axis, block, element_type(dtype) if dtype else None


def _quantize(ctx, node, attrs, opset):
    x, scale, zp, axis, block, out = _q_operands(ctx, node, attrs)
    if out is not None and zp is not None and g.element_type_of(zp) != out:
        raise NodeError(f"output_dtype {out} differs from the zero point's type "
                        f"{g.element_type_of(zp)}")
    if int(attrs.get("precision", 0)):
        # x and scale in the given precision before the division (opset 23)
        to = element_type(int(attrs["precision"]))
        x, scale = _cast(ctx, x, to), _cast(ctx, scale, to)
    return [ctx.emit(g.QuantizeLinearOp(
        x, scale, zp, axis=axis, block_size=block,
        saturate=bool(attrs.get("saturate", 1)), element_type=out))]


def _dequantize(ctx, node, attrs, opset):
    x, scale, zp, axis, block, out = _q_operands(ctx, node, attrs)
    return [ctx.emit(g.DequantizeLinearOp(x, scale, zp, axis=axis, block_size=block,
                                          element_type=out))]


def _per_row(ctx: ImportContext, a, zp):
    """ONNX's per-row zero point of `a` ([M]) as a column [M, 1] that broadcasts."""
    if zp is None or len(g.shape_of(a)) < 2 or len(g.shape_of(zp)) != 1 or \
            g.shape_of(zp)[0] == 1:
        return zp
    return ctx.emit(g.ReshapeOp(zp, [g.shape_of(zp)[0], 1]))


def _matmul_integer(ctx, node, attrs, opset):
    a, b = ctx.value(node.input[0]), ctx.value(node.input[1])
    a_zp = _per_row(ctx, a, _opt(ctx, node, 2))
    return [ctx.emit(g.MatMulIntegerOp(a, b, a_zp, _opt(ctx, node, 3)))]


def _conv_integer_op(ctx, attrs, x, w, x_zp, w_zp):
    kernel = list(attrs.get("kernel_shape", g.shape_of(w)[2:]))
    strides, pads, dilations = conv.conv_window(attrs, g.shape_of(x), kernel)
    return ctx.emit(g.ConvIntegerOp(x, w, x_zp, w_zp, strides=strides, pads=pads,
                                    dilations=dilations, group=int(attrs.get("group", 1))))


def _conv_integer(ctx, node, attrs, opset):
    return [_conv_integer_op(ctx, attrs, ctx.value(node.input[0]), ctx.value(node.input[1]),
                             _opt(ctx, node, 2), _opt(ctx, node, 3))]


def _multiplier(ctx: ImportContext, in_scale, w_scale, out_scale):
    """in_scale * w_scale / out_scale, in in_scale's float type (onnx.reference)."""
    elt = g.element_type_of(in_scale)
    prod = ctx.emit(g.MulOp(in_scale, _cast(ctx, w_scale, elt)))
    return ctx.emit(g.DivOp(prod, _cast(ctx, out_scale, elt)))


def _size(value) -> int:
    shape = g.shape_of(value)
    return -1 if g.DYN in shape else int(np.prod(shape, dtype=np.int64))


def _qlinear_matmul(ctx, node, attrs, opset):
    a, a_scale, a_zp = (ctx.value(node.input[0]), ctx.value(node.input[1]),
                        _opt(ctx, node, 2))
    b, b_scale, b_zp = (ctx.value(node.input[3]), ctx.value(node.input[4]),
                        _opt(ctx, node, 5))
    y_scale, y_zp = ctx.value(node.input[6]), _opt(ctx, node, 7)
    acc = ctx.emit(g.MatMulIntegerOp(a, b, _per_row(ctx, a, a_zp), b_zp))
    rank = len(g.shape_of(acc))
    per_row, per_col = _size(a_scale) != 1, _size(b_scale) != 1
    if per_row and len(g.shape_of(a)) < 2:
        raise NodeError("a 1-D a has one row: a_scale must have one element")
    if _size(y_scale) != 1 or (y_zp is not None and _size(y_zp) != 1):
        raise NodeError("y_scale and y_zero_point must have one element")
    elt = g.element_type_of(a)
    if per_row and per_col or max(len(g.shape_of(a_scale)), len(g.shape_of(b_scale))) > 1:
        # per row and per column: the multiplier is their outer product
        mult = _multiplier(ctx, _per_row(ctx, a, a_scale), b_scale, y_scale)
        return [_requantize_broadcast(ctx, acc, mult, _flat(ctx, y_zp), elt)]
    axis = rank - 2 if per_row else max(rank - 1, 0)
    mult = _flat(ctx, _multiplier(ctx, a_scale, b_scale, y_scale))
    return [ctx.emit(g.RequantizeOp(acc, mult, _flat(ctx, y_zp), axis=axis,
                                    element_type=elt))]


def _requantize_broadcast(ctx: ImportContext, acc, mult, y_zp, elt):
    """graph.requantize with a multiplier that broadcasts (numpy) to `acc`: acc * mult in
    f64 quantized with scale 1 (dividing by 1 is exact, so this is requantize's
    arithmetic)."""
    f64 = g.element_type_for("float64")
    y = ctx.emit(g.MulOp(_cast(ctx, acc, f64), _cast(ctx, mult, f64)))
    one = ctx.constant(np.ones((), np.float64))
    return ctx.emit(g.QuantizeLinearOp(y, one, y_zp, axis=0, element_type=elt))


def _flat(ctx: ImportContext, value):
    """A quantization parameter as one element (rank 0) or 1-D, as graph.requantize
    takes it."""
    if value is None:
        return None
    shape = g.shape_of(value)
    if len(shape) <= 1:
        return value
    size = _size(value)
    if size == 1:
        return ctx.emit(g.ReshapeOp(value, []))
    dims = [d for d in shape if d != 1]
    if len(dims) != 1:
        raise NodeError(f"a quantization parameter of shape {g.format_dims(shape)} is not "
                        "per tensor or per channel")
    return ctx.emit(g.ReshapeOp(value, dims))


def _qlinear_conv(ctx, node, attrs, opset):
    x, x_scale, x_zp = (ctx.value(node.input[0]), ctx.value(node.input[1]),
                        _opt(ctx, node, 2))
    w, w_scale, w_zp = (ctx.value(node.input[3]), ctx.value(node.input[4]),
                        _opt(ctx, node, 5))
    y_scale, y_zp, bias = ctx.value(node.input[6]), _opt(ctx, node, 7), _opt(ctx, node, 8)
    acc = _conv_integer_op(ctx, attrs, x, w, x_zp, _flat(ctx, w_zp))
    mult = _flat(ctx, _multiplier(ctx, x_scale, w_scale, y_scale))
    return [ctx.emit(g.RequantizeOp(acc, mult, _flat(ctx, y_zp), _flat(ctx, bias), axis=1,
                                    element_type=g.element_type_of(x)))]


def _dynamic_quantize(ctx, node, attrs, opset):
    """uint8 quantization of x with a scale and zero point from its range (with 0)."""
    x = ctx.value(node.input[0])
    axes = list(range(len(g.shape_of(x))))
    zero, one = ctx.scalar(0.0, x), ctx.scalar(1.0, x)
    hi = ctx.emit(g.ElementwiseOp("max", [ctx.emit(g.ReduceOp(x, "max", axes, False)),
                                          zero]))
    lo = ctx.emit(g.ElementwiseOp("min", [ctx.emit(g.ReduceOp(x, "min", axes, False)),
                                          zero]))
    same = ctx.emit(g.ElementwiseOp("equal", [hi, lo]))
    span = ctx.emit(g.ElementwiseOp("where", [same, one, ctx.emit(g.SubOp(hi, lo))]))
    scale = ctx.emit(g.DivOp(span, ctx.scalar(255.0, x)))
    initial = ctx.emit(g.SubOp(zero, ctx.emit(g.DivOp(lo, scale))))
    clipped = ctx.emit(g.ElementwiseOp("min", [ctx.emit(g.ElementwiseOp(
        "max", [initial, zero])), ctx.scalar(255.0, x)]))
    zp = ctx.emit(g.ElementwiseOp("cast", [ctx.emit(g.ElementwiseOp("round", [clipped]))],
                                  (), g.ui8))
    return [ctx.emit(g.QuantizeLinearOp(x, scale, zp, axis=0)), scale, zp]


def _check_quantize(ctx: ImportContext, node: onnx.NodeProto, attrs: dict, used: set[str]
                    ) -> str | None:
    """Supported output types, precision and flags of QuantizeLinear/DequantizeLinear."""
    for name in ("output_dtype", "precision"):
        dtype = int(attrs.get(name, 0))
        if not dtype:
            continue
        elt = element_type(dtype)
        if elt is None:
            return f"{name} {dtype_name(dtype)} is not supported"
        wanted = g.is_float_type(elt) if name == "precision" else (
            elt in g.QDQ_TYPES if node.op_type == "QuantizeLinear"
            else g.is_float_type(elt))
        if not wanted:
            return f"{name} {dtype_name(dtype)} is not supported by {node.op_type}"
    if int(attrs.get("block_size", 0)) < 0:
        return f"block_size must be >= 0, got {attrs['block_size']}"
    if int(attrs.get("saturate", 1)) not in (0, 1):
        return f"saturate must be 0 or 1, got {attrs['saturate']}"
    return None


RULES: dict[str, Rule] = {
    "QuantizeLinear": _quantize, "DequantizeLinear": _dequantize,
    "DynamicQuantizeLinear": _dynamic_quantize, "MatMulInteger": _matmul_integer,
    "ConvInteger": _conv_integer, "QLinearMatMul": _qlinear_matmul,
    "QLinearConv": _qlinear_conv,
}

CHECKS: dict[str, Check] = {
    "QuantizeLinear": _check_quantize, "DequantizeLinear": _check_quantize,
    "ConvInteger": conv.CHECKS["Conv"], "QLinearConv": conv.CHECKS["Conv"],
}
