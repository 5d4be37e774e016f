"""Quantization: quantize_linear / dequantize_linear (per tensor, per axis or blocked),
the integer contractions matmul_integer and conv_integer (int32 accumulators) and
requantize, the int32 -> int8/uint8 epilogue of a quantized conv or matmul.

Scales and zero points are "quantization parameters" of one of three forms: one element
(rank 0 or [1]) for the whole tensor, a 1-D tensor along `axis`, or (`block_size` > 0) a
tensor of the input's rank whose `axis` dim is ceil(dim / block_size). Rounding is half to
even and results saturate to the element type's range (ONNX semantics, checked against
onnx.reference). quantize_linear / dequantize_linear also take the float8 types and
float4e2m1: the quantized value is then a Cast of x / scale (+ zero point) with Cast's
rounding and `saturate`, the same conversion graph.elementwise's cast lowers to.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import (
    DenseArrayBase,
    IntegerAttr,
    IntegerType,
    Signedness,
    TensorType,
    i64,
)
from xdsl.ir import Attribute, SSAValue
from xdsl.irdl import (
    AttrSizedOperandSegments,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from dialects.graph.base import (
    DYN,
    MINIFLOATS,
    GraphOp,
    Shape,
    broadcast_shapes,
    check,
    check_at_least,
    check_flag,
    element_type_of,
    format_dims,
    i64_array,
    ints,
    is_float_type,
    is_minifloat,
    numpy_dtype_of,
    shape_of,
    shapes_compatible,
    tensor_type,
    type_class,
    ui8,
    ui16,
)
from dialects.graph.conv import ConvOp, check_output_size
from dialects.graph.elementwise_table import np_cast
from dialects.graph.linalg import MatMulOp

i8, i16, i32 = IntegerType(8), IntegerType(16), IntegerType(32)

QUANTIZED_TYPES: tuple[Attribute, ...] = (
    i8, ui8, i16, ui16, i32, IntegerType(4), IntegerType(4, Signedness.UNSIGNED),
    IntegerType(2), IntegerType(2, Signedness.UNSIGNED))
"""Integer element types quantize_linear produces, dequantize_linear reads and requantize
produces (int4/int2 are narrow integers like the others: the same arithmetic, their own
saturation bounds)."""

FLOAT_QUANTIZED_TYPES: tuple[Attribute, ...] = tuple(
    t for n, t in MINIFLOATS.items() if n != "float8_e8m0fnu")
"""The minifloats ONNX QuantizeLinear / DequantizeLinear take (float8e8m0 is a scale
type, not a quantized one)."""

QDQ_TYPES: tuple[Attribute, ...] = QUANTIZED_TYPES + FLOAT_QUANTIZED_TYPES
"""Every quantized element type of quantize_linear / dequantize_linear."""


def quant_range(t: Attribute) -> tuple[int, int]:
    """The saturation bounds of a quantized integer element type."""
    assert isinstance(t, IntegerType)
    width = t.width.data
    if type_class(t) == "uint":
        return 0, (1 << width) - 1
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def param_mode(x: Sequence[int], p: Sequence[int], block_size: int) -> str:
    """"tensor", "axis" or "block": how a scale / zero point of shape `p` applies."""
    if block_size > 0:
        return "block"
    if len(p) == 0 or (len(p) == 1 and p[0] == 1):
        return "tensor"
    return "axis"


def param_problem(x: Sequence[int], p: Sequence[int], axis: int, block_size: int,
                  what: str) -> str | None:
    """Why a quantization parameter of shape `p` does not fit an input of shape `x`."""
    mode = param_mode(x, p, block_size)
    if mode == "tensor":
        return None
    if not 0 <= axis < len(x):
        return f"axis {axis} is out of range for rank {len(x)}"
    if mode == "axis":
        if len(p) != 1:
            return (f"{what} must have one element or be 1-D along axis {axis}, got "
                    f"shape {format_dims(p)}")
        if DYN not in (p[0], x[axis]) and p[0] != x[axis]:
            return (f"{what} has {p[0]} elements, dim {axis} of the input is {x[axis]}")
        return None
    if len(p) != len(x):
        return (f"blocked {what} must have the input's rank {len(x)}, got shape "
                f"{format_dims(p)}")
    for d, (a, b) in enumerate(zip(x, p, strict=True)):
        want = a if d != axis or a == DYN else -(-a // block_size)
        if DYN not in (want, b) and want != b:
            return (f"blocked {what} shape {format_dims(p)} does not fit input "
                    f"{format_dims(x)} with block_size {block_size} on axis {axis}")
    return None


def expand_param(value: np.ndarray, x: Sequence[int], axis: int,
                 block_size: int) -> np.ndarray:
    """A quantization parameter broadcastable to the input shape `x` (numpy, for folds)."""
    mode = param_mode(x, value.shape, block_size)
    if mode == "tensor":
        return value.reshape(())
    if mode == "axis":
        return value.reshape([x[axis] if d == axis else 1 for d in range(len(x))])
    return np.repeat(value, block_size, axis=axis).take(range(x[axis]), axis=axis)


class QuantParamsOp(GraphOp):
    """Common form of quantize/dequantize: input, scale, optional zero point, axis and
    block_size; the result has the input's shape."""

    input = operand_def(TensorType)
    scale = operand_def(TensorType)
    zero_point = opt_operand_def(TensorType)
    axis = prop_def(IntegerAttr, default_value=IntegerAttr(1, i64))
    block_size = prop_def(IntegerAttr, default_value=IntegerAttr(0, i64))
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (AttrSizedOperandSegments(as_property=True), ParsePropInAttrDict())
    assembly_format = (
        "$input `,` $scale (`zero_point` `(` $zero_point^ `:` type($zero_point) `)`)? "
        "attr-dict `:` type($input) `,` type($scale) `->` type($result)")

    def quant_axis(self) -> int:
        return self.axis.value.data

    def quant_block(self) -> int:
        return self.block_size.value.data

    def mode(self) -> str:
        return param_mode(shape_of(self.input), shape_of(self.scale), self.quant_block())

    def verify_params(self) -> None:
        x = shape_of(self.input)
        check(self.quant_block() >= 0,
              f"{self.name}: block_size must be >= 0, got {self.quant_block()}")
        problem = param_problem(x, shape_of(self.scale), self.quant_axis(),
                                self.quant_block(), "the scale")
        check(problem is None, f"{self.name}: {problem}")
        check(is_float_type(element_type_of(self.scale)),
              f"{self.name}: the scale must be floating-point, got {self.scale.type}")
        if self.zero_point is not None:
            zp, scale = shape_of(self.zero_point), shape_of(self.scale)
            one = {param_mode(x, p, self.quant_block()) for p in (zp, scale)} == {"tensor"}
            check(zp == scale or one,
                  f"{self.name}: the zero point {format_dims(shape_of(self.zero_point))} "
                  f"must have the scale's shape {format_dims(shape_of(self.scale))}")
        check(shapes_compatible(x, self.result_shape()),
              f"{self.name}: result shape {format_dims(self.result_shape())} should be "
              f"{format_dims(x)}")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        for p, what in zip(shapes[1:], ("the scale", "the zero point"), strict=False):
            problem = param_problem(shapes[0], p, self.quant_axis(), self.quant_block(), what)
            if problem is not None:
                raise ValueError(problem)
        return shapes[0]

    def expanded(self, value: np.ndarray, x: Sequence[int]) -> np.ndarray:
        return expand_param(value, x, self.quant_axis(), self.quant_block())


def _params(axis: int, block_size: int) -> dict[str, Attribute]:
    return {"axis": IntegerAttr(axis, i64), "block_size": IntegerAttr(block_size, i64)}


@irdl_op_definition
class QuantizeLinearOp(QuantParamsOp):
    """y = saturate(round_half_even(x / scale) + zero_point) in the result's integer type;
    to a minifloat, y = cast(x / scale + zero_point) with Cast's rounding to nearest even
    and `saturate` (float8 only: clamp to the largest finite value instead of inf/NaN).

    The division is in the wider float type of x and scale (an ONNX `precision` is a cast
    of both before this op). A zero zero point is not added to a float8 quotient, so -0
    stays -0 (onnx.reference ignores the float8 zero point, which ONNX requires be 0; it
    adds float4e2m1's).
    """

    name = "graph.quantize_linear"
    saturate = prop_def(IntegerAttr, default_value=IntegerAttr(1, i64))

    def __init__(self, input: SSAValue, scale: SSAValue, zero_point: SSAValue | None = None,
                 *, axis: int = 1, block_size: int = 0, saturate: bool = True,
                 element_type: Attribute | None = None):
        elt = element_type_of(zero_point) if zero_point is not None else element_type or ui8
        super().__init__(
            operands=[input, scale, [zero_point] if zero_point is not None else []],
            properties={**_params(axis, block_size), "saturate": IntegerAttr(int(saturate),
                                                                              i64)},
            result_types=[tensor_type(shape_of(input), elt)])

    def verify_(self) -> None:
        check(is_float_type(element_type_of(self.input)),
              f"{self.name}: the input must be floating-point, got {self.input.type}")
        elt = element_type_of(self.result)
        check(elt in QDQ_TYPES, f"{self.name}: result element type {elt} is not a "
              f"quantized type ({', '.join(map(str, QDQ_TYPES))})")
        if self.zero_point is not None:
            check(element_type_of(self.zero_point) == elt,
                  f"{self.name}: the zero point's element type "
                  f"{element_type_of(self.zero_point)} differs from the result's {elt}")
        check_flag(self, self.saturate, "saturate")
        self.verify_params()

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        x, scale = args[0], args[1]
        ftype = np.result_type(x.dtype, scale.dtype)
        q = x.astype(ftype) / self.expanded(scale, x.shape).astype(ftype)
        out = numpy_dtype_of(element_type_of(self.result))
        if is_minifloat(element_type_of(self.result)):
            if self.zero_point is not None:
                zp = self.expanded(args[2], x.shape).astype(ftype)
                q = q + zp if out.name == "float4_e2m1fn" else np.where(zp == 0, q, q + zp)
            return np_cast(q, out, bool(self.saturate.value.data))
        q = np.rint(q).astype(np.float64)
        if self.zero_point is not None:
            q = q + self.expanded(args[2], x.shape)
        lo, hi = quant_range(element_type_of(self.result))
        q = np.where(np.isnan(q), lo, q)
        return np.clip(q, lo, hi).astype(out)


@irdl_op_definition
class DequantizeLinearOp(QuantParamsOp):
    """y = (x - zero_point) * scale, computed in f32 (f64 for 32-bit integers with a zero
    point, as onnx.reference does) and rounded to the result's float type; a minifloat
    input is read exactly as f32."""

    name = "graph.dequantize_linear"

    def __init__(self, input: SSAValue, scale: SSAValue, zero_point: SSAValue | None = None,
                 *, axis: int = 1, block_size: int = 0, element_type: Attribute | None = None):
        elt = element_type or element_type_of(scale)
        super().__init__(
            operands=[input, scale, [zero_point] if zero_point is not None else []],
            properties=_params(axis, block_size),
            result_types=[tensor_type(shape_of(input), elt)])

    def verify_(self) -> None:
        elt = element_type_of(self.input)
        check(elt in QDQ_TYPES, f"{self.name}: input element type {elt} is not a "
              f"quantized type ({', '.join(map(str, QDQ_TYPES))})")
        check(is_float_type(element_type_of(self.result)),
              f"{self.name}: the result must be floating-point, got {self.result.type}")
        if self.zero_point is not None:
            check(element_type_of(self.zero_point) == elt,
                  f"{self.name}: the zero point's element type "
                  f"{element_type_of(self.zero_point)} differs from the input's {elt}")
        self.verify_params()

    def wide(self) -> bool:
        """Whether the arithmetic is f64 (numpy's f32 - int32 promotion)."""
        elt = element_type_of(self.input)
        return (self.zero_point is not None and isinstance(elt, IntegerType)
                and elt.width.data >= 32)

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        x = args[0]
        ftype = np.float64 if self.wide() else np.float32
        dx = x.astype(np.float32).astype(ftype)
        if self.zero_point is not None:
            dx = dx - self.expanded(args[2], x.shape).astype(ftype)
        y = dx * self.expanded(args[1], x.shape).astype(ftype)
        return y.astype(numpy_dtype_of(element_type_of(self.result)))


INTEGER_INPUT_TYPES: tuple[Attribute, ...] = (i8, ui8, i16, ui16)
"""Element types of the integer contractions' operands (ONNX: int8 / uint8)."""


def _check_zero_point(op: GraphOp, value: SSAValue, zp: SSAValue | None, what: str) -> None:
    check(element_type_of(value) in INTEGER_INPUT_TYPES,
          f"{op.name}: {what} must be an 8- or 16-bit integer tensor, got {value.type}")
    if zp is None:
        return
    check(element_type_of(zp) == element_type_of(value),
          f"{op.name}: the zero point of {what} has element type {element_type_of(zp)}, "
          f"{what} {element_type_of(value)}")


@irdl_op_definition
class MatMulIntegerOp(GraphOp):
    """(a - a_zero_point) @ (b - b_zero_point) in int32, numpy matmul semantics.

    The zero points broadcast (numpy rules) to their operand: one element, a column
    [.., M, 1] of per-row values of `a` (ONNX's 1-D [M] is imported as [M, 1]) or a row
    [.., 1, N] / [N] of per-column values of `b`."""

    name = "graph.matmul_integer"
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    lhs_zero_point = opt_operand_def(TensorType)
    rhs_zero_point = opt_operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (AttrSizedOperandSegments(as_property=True), ParsePropInAttrDict())
    assembly_format = (
        "$lhs `,` $rhs (`lhs_zero_point` `(` $lhs_zero_point^ `:` type($lhs_zero_point) "
        "`)`)? (`rhs_zero_point` `(` $rhs_zero_point^ `:` type($rhs_zero_point) `)`)? "
        "attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)")

    def __init__(self, lhs: SSAValue, rhs: SSAValue, lhs_zero_point: SSAValue | None = None,
                 rhs_zero_point: SSAValue | None = None):
        shape = MatMulOp.infer_shape(shape_of(lhs), shape_of(rhs))
        super().__init__(
            operands=[lhs, rhs, [lhs_zero_point] if lhs_zero_point is not None else [],
                      [rhs_zero_point] if rhs_zero_point is not None else []],
            result_types=[tensor_type(shape, i32)])

    def verify_(self) -> None:
        _check_zero_point(self, self.lhs, self.lhs_zero_point, "the lhs")
        _check_zero_point(self, self.rhs, self.rhs_zero_point, "the rhs")
        check(element_type_of(self.result) == i32,
              f"{self.name}: the result must be i32, got {self.result.type}")
        for v, zp, what in ((self.lhs, self.lhs_zero_point, "lhs"),
                            (self.rhs, self.rhs_zero_point, "rhs")):
            if zp is None:
                continue
            try:
                ok = shapes_compatible(broadcast_shapes(shape_of(v), shape_of(zp)),
                                       shape_of(v))
            except ValueError:
                ok = False
            check(ok, f"{self.name}: the {what} zero point {format_dims(shape_of(zp))} does "
                      f"not broadcast to the {what} {format_dims(shape_of(v))}")
        try:
            expected = MatMulOp.infer_shape(shape_of(self.lhs), shape_of(self.rhs))
        except ValueError as e:
            raise VerifyException(f"{self.name}: {e}") from e
        check(shapes_compatible(expected, self.result_shape()),
              f"{self.name}: result shape {format_dims(self.result_shape())} should be "
              f"{format_dims(expected)}")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        operands = [shapes[0], shapes[1]]
        k = 2  # the zero points follow in operand order, each optional
        for v, zp in ((0, self.lhs_zero_point), (1, self.rhs_zero_point)):
            if zp is None:
                continue
            if broadcast_shapes(operands[v], shapes[k]) != tuple(operands[v]):
                raise ValueError(f"zero point of shape {list(shapes[k])} does not broadcast "
                                 f"to operand {v} of shape {list(operands[v])}")
            k += 1
        return MatMulOp.infer_shape(shapes[0], shapes[1])

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        a, b = args[0].astype(np.int32), args[1].astype(np.int32)
        rest = iter(args[2:])
        if self.lhs_zero_point is not None:
            a = a - next(rest).astype(np.int32)
        if self.rhs_zero_point is not None:
            b = b - next(rest).astype(np.int32)
        return np.matmul(a, b).astype(np.int32)


@irdl_op_definition
class ConvIntegerOp(GraphOp):
    """conv(x - x_zero_point, w - w_zero_point) in int32 (NCHW, weights OIHW; pads,
    strides, dilations and group as graph.conv). x_zero_point has one element (so the
    padding reads it: a padded tap adds 0); w_zero_point one element or one per output
    channel ([M])."""

    name = "graph.conv_integer"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    input_zero_point = opt_operand_def(TensorType)
    weight_zero_point = opt_operand_def(TensorType)
    strides = prop_def(DenseArrayBase)
    pads = prop_def(DenseArrayBase)
    dilations = prop_def(DenseArrayBase)
    group = prop_def(IntegerAttr, default_value=IntegerAttr(1, i64))
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (AttrSizedOperandSegments(as_property=True), ParsePropInAttrDict())
    assembly_format = (
        "$input `,` $weight (`input_zero_point` `(` $input_zero_point^ `:` "
        "type($input_zero_point) `)`)? (`weight_zero_point` `(` $weight_zero_point^ `:` "
        "type($weight_zero_point) `)`)? attr-dict `:` type($input) `,` type($weight) "
        "`->` type($result)")

    def __init__(self, input: SSAValue, weight: SSAValue,
                 input_zero_point: SSAValue | None = None,
                 weight_zero_point: SSAValue | None = None, *, strides: Sequence[int],
                 pads: Sequence[int], dilations: Sequence[int], group: int = 1):
        shape = ConvOp.infer_shape(shape_of(input), shape_of(weight), strides, pads,
                                   dilations)
        super().__init__(
            operands=[input, weight,
                      [input_zero_point] if input_zero_point is not None else [],
                      [weight_zero_point] if weight_zero_point is not None else []],
            properties={"strides": i64_array(strides), "pads": i64_array(pads),
                        "dilations": i64_array(dilations), "group": IntegerAttr(group, i64)},
            result_types=[tensor_type(shape, i32)])

    def verify_(self) -> None:
        _check_zero_point(self, self.input, self.input_zero_point, "the input")
        _check_zero_point(self, self.weight, self.weight_zero_point, "the weight")
        check(element_type_of(self.result) == i32,
              f"{self.name}: the result must be i32, got {self.result.type}")
        x, w = shape_of(self.input), shape_of(self.weight)
        check(len(x) >= 3 and len(w) == len(x),
              f"{self.name}: input rank {len(x)} and weight rank {len(w)} do not fit a conv")
        check_at_least(self, ints(self.strides), 1, "strides")
        check_at_least(self, ints(self.dilations), 1, "dilations")
        check_at_least(self, ints(self.pads), 0, "pads")
        group = self.group.value.data
        check(group >= 1, f"{self.name}: group must be >= 1")
        if x[1] != DYN and w[1] != DYN:
            check(x[1] == w[1] * group, f"{self.name}: input has {x[1]} channels, weight "
                  f"expects {w[1]} x group {group}")
        check(w[0] == DYN or w[0] % group == 0,
              f"{self.name}: group {group} does not divide the {w[0]} output channels")
        if self.input_zero_point is not None:
            check(param_mode(x, shape_of(self.input_zero_point), 0) == "tensor",
                  f"{self.name}: the input zero point must have one element, got "
                  f"{self.input_zero_point.type}")
        if self.weight_zero_point is not None:
            problem = param_problem(w, shape_of(self.weight_zero_point), 0, 0,
                                    "the weight zero point")
            check(problem is None, f"{self.name}: {problem}")
        try:
            expected = ConvOp.infer_shape(x, w, ints(self.strides), ints(self.pads),
                                          ints(self.dilations))
        except ValueError as e:
            raise VerifyException(f"{self.name}: {e}") from e
        check_output_size(self, expected)
        check(shapes_compatible(expected, self.result_shape()),
              f"{self.name}: result shape {format_dims(self.result_shape())} should be "
              f"{format_dims(expected)}")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        x, w = shapes[0], shapes[1]
        group = self.group.value.data
        if x[1] != w[1] * group:
            raise ValueError(f"input has {x[1]} channels, the weight expects {w[1] * group}")
        out = ConvOp.infer_shape(x, w, ints(self.strides), ints(self.pads),
                                 ints(self.dilations))
        if any(d < 1 for d in out[2:]):
            raise ValueError(f"the input is too small for the kernel: output {list(out)}")
        if self.weight_zero_point is not None:
            problem = param_problem(w, shapes[-1], 0, 0, "the weight zero point")
            if problem is not None:
                raise ValueError(problem)
        return out

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        x, w = args[0].astype(np.int64), args[1].astype(np.int64)
        rest = iter(args[2:])
        if self.input_zero_point is not None:
            x = x - next(rest).reshape(()).astype(np.int64)
        if self.weight_zero_point is not None:
            w = w - expand_param(next(rest), w.shape, 0, 0).astype(np.int64)
        return _conv_int(x, w, ints(self.strides), ints(self.pads), ints(self.dilations),
                         self.group.value.data).astype(np.int32)


def _conv_int(x: np.ndarray, w: np.ndarray, strides: Sequence[int], pads: Sequence[int],
              dilations: Sequence[int], group: int) -> np.ndarray:
    """A grouped N-d integer conv in numpy (compile-time folds only)."""
    spatial = x.ndim - 2
    x = np.pad(x, [(0, 0), (0, 0), *[(pads[i], pads[spatial + i]) for i in range(spatial)]])
    out = ConvOp.infer_shape(x.shape, w.shape, strides, [0] * (2 * spatial), dilations)
    y = np.zeros(out, dtype=np.int64)
    f_per_group, c_per_group = w.shape[0] // group, w.shape[1]
    for taps in np.ndindex(*w.shape[2:]):
        window = tuple(slice(t * d, t * d + (o - 1) * s + 1, s) for t, d, o, s in
                       zip(taps, dilations, out[2:], strides, strict=True))
        for gi in range(group):
            xs = x[(slice(None), slice(gi * c_per_group, (gi + 1) * c_per_group), *window)]
            ws = w[(slice(gi * f_per_group, (gi + 1) * f_per_group), slice(None), *taps)]
            y[:, gi * f_per_group:(gi + 1) * f_per_group] += np.einsum("nc...,fc->nf...",
                                                                      xs, ws)
    return y


@irdl_op_definition
class RequantizeOp(GraphOp):
    """y = saturate(round_half_even((acc + bias) * multiplier) + zero_point), in f64.

    `acc` is an int32 accumulator (matmul_integer / conv_integer); `multiplier` (float,
    typically in_scale * w_scale / out_scale), `zero_point` and `bias` (int32) have one
    element or are 1-D along `axis` of `acc` (per channel). The result has the zero
    point's integer type (or the given one)."""

    name = "graph.requantize"
    input = operand_def(TensorType)
    multiplier = operand_def(TensorType)
    zero_point = opt_operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    axis = prop_def(IntegerAttr, default_value=IntegerAttr(1, i64))
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (AttrSizedOperandSegments(as_property=True), ParsePropInAttrDict())
    assembly_format = (
        "$input `,` $multiplier (`zero_point` `(` $zero_point^ `:` type($zero_point) `)`)? "
        "(`bias` `(` $bias^ `:` type($bias) `)`)? attr-dict `:` type($input) `,` "
        "type($multiplier) `->` type($result)")

    def __init__(self, input: SSAValue, multiplier: SSAValue,
                 zero_point: SSAValue | None = None, bias: SSAValue | None = None, *,
                 axis: int = 1, element_type: Attribute | None = None):
        elt = element_type_of(zero_point) if zero_point is not None else element_type or ui8
        super().__init__(
            operands=[input, multiplier, [zero_point] if zero_point is not None else [],
                      [bias] if bias is not None else []],
            properties={"axis": IntegerAttr(axis, i64)},
            result_types=[tensor_type(shape_of(input), elt)])

    def params(self) -> list[tuple[SSAValue, str]]:
        out = [(self.multiplier, "the multiplier")]
        if self.zero_point is not None:
            out.append((self.zero_point, "the zero point"))
        if self.bias is not None:
            out.append((self.bias, "the bias"))
        return out

    def verify_(self) -> None:
        check(element_type_of(self.input) == i32,
              f"{self.name}: the input must be an i32 accumulator, got {self.input.type}")
        check(is_float_type(element_type_of(self.multiplier)),
              f"{self.name}: the multiplier must be floating-point, got "
              f"{self.multiplier.type}")
        elt = element_type_of(self.result)
        check(elt in QUANTIZED_TYPES, f"{self.name}: result element type {elt} is not a "
              f"quantized type ({', '.join(map(str, QUANTIZED_TYPES))})")
        if self.zero_point is not None:
            check(element_type_of(self.zero_point) == elt,
                  f"{self.name}: the zero point's element type "
                  f"{element_type_of(self.zero_point)} differs from the result's {elt}")
        if self.bias is not None:
            check(element_type_of(self.bias) == i32,
                  f"{self.name}: the bias must be i32, got {self.bias.type}")
        x = shape_of(self.input)
        for value, what in self.params():
            problem = param_problem(x, shape_of(value), self.axis.value.data, 0, what)
            check(problem is None, f"{self.name}: {problem}")
        check(shapes_compatible(x, self.result_shape()),
              f"{self.name}: result shape {format_dims(self.result_shape())} should be "
              f"{format_dims(x)}")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        for p in shapes[1:]:
            problem = param_problem(shapes[0], p, self.axis.value.data, 0, "a parameter")
            if problem is not None:
                raise ValueError(problem)
        return shapes[0]

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        x = args[0]
        axis = self.axis.value.data
        rest = iter(args[2:])
        zp = next(rest) if self.zero_point is not None else None
        acc = x.astype(np.int64)
        if self.bias is not None:
            acc = (acc + expand_param(next(rest), x.shape, axis, 0)).astype(np.int32)
        y = np.rint(acc.astype(np.float64)
                    * expand_param(args[1], x.shape, axis, 0).astype(np.float64))
        if zp is not None:
            y = y + expand_param(zp, x.shape, axis, 0)
        lo, hi = quant_range(element_type_of(self.result))
        return np.clip(y, lo, hi).astype(numpy_dtype_of(element_type_of(self.result)))


QUANTIZE_OPS = (QuantizeLinearOp, DequantizeLinearOp, MatMulIntegerOp, ConvIntegerOp,
                RequantizeOp)
"""The ops of the quantize family (lowering: lowering/graph_to_tensor/quantize.py)."""
