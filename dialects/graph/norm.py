"""Normalizations: batch/layer norm, softmax, log-softmax, hardmax, LRN, dropout."""

from __future__ import annotations

import numpy as np
from xdsl.dialects.builtin import FloatAttr, IntegerAttr, IntegerType, TensorType, f32, i1, i64
from xdsl.ir import SSAValue
from xdsl.irdl import (
    AttrSizedOperandSegments,
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.traits import Pure

from dialects.graph.base import (
    DYN,
    GraphOp,
    Shape,
    broadcast_shapes,
    check,
    element_type_of,
    format_dims,
    is_float_type,
    shape_of,
    tensor_type,
)


@irdl_op_definition
class BatchNormOp(GraphOp):
    """Inference-mode batch normalization over dim 1:
    (x - mean) / sqrt(var + epsilon) * scale + bias."""

    name = "graph.batch_norm"
    input = operand_def(TensorType)
    scale = operand_def(TensorType)
    bias = operand_def(TensorType)
    mean = operand_def(TensorType)
    var = operand_def(TensorType)
    epsilon = prop_def(FloatAttr, default_value=FloatAttr(1e-5, f32))
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "operands attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, scale: SSAValue, bias: SSAValue, mean: SSAValue,
                 var: SSAValue, epsilon: float = 1e-5):
        super().__init__(operands=[input, scale, bias, mean, var],
                         properties={"epsilon": FloatAttr(epsilon, f32)},
                         result_types=[input.type])

    def verify_(self) -> None:
        x = shape_of(self.input)
        check(len(x) >= 2, "graph.batch_norm: input rank must be >= 2")
        for operand in (self.scale, self.bias, self.mean, self.var):
            s = shape_of(operand)
            check(len(s) == 1 and (DYN in (x[1], s[0]) or s[0] == x[1]),
                  f"graph.batch_norm: per-channel operands must have shape {format_dims(x[1:2])}")
            check(element_type_of(operand) == element_type_of(self.input),
                  "graph.batch_norm: per-channel operands must have the input's element "
                  "type")
        check(self.result.type == self.input.type,
              "graph.batch_norm: result type must equal input type")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        channels = shapes[0][1]
        for s in shapes[1:]:
            if s != (channels,):
                raise ValueError(f"per-channel operand of shape {list(s)}, expected [{channels}]")
        return shapes[0]

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        x, scale, bias, mean, var = args
        shape = (1, -1, *[1] * (x.ndim - 2))
        inv = scale / np.sqrt(var + self.epsilon.value.data)
        return (x - mean.reshape(shape)) * inv.reshape(shape) + bias.reshape(shape)


@irdl_op_definition
class SoftmaxOp(GraphOp):
    """exp(x - max) / sum(exp(x - max)) along `axis`."""

    name = "graph.softmax"
    input = operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, axis: int):
        super().__init__(operands=[input], properties={"axis": IntegerAttr(axis, i64)},
                         result_types=[input.type])

    def verify_(self) -> None:
        rank = len(shape_of(self.input))
        axis = self.axis.value.data
        check(0 <= axis < rank, f"graph.softmax: axis {axis} out of range for rank {rank}")
        check(self.result.type == self.input.type,
              "graph.softmax: result type must equal input type")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        return shapes[0]

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        axis = self.axis.value.data
        e = np.exp(args[0] - args[0].max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)


@irdl_op_definition
class LayerNormOp(GraphOp):
    """(x - mean) / sqrt(var + epsilon) * scale + bias, mean and (biased) variance over the
    dims `axis`..rank-1; `scale` and `bias` broadcast to those dims."""

    name = "graph.layer_norm"
    input = operand_def(TensorType)
    scale = opt_operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    epsilon = prop_def(FloatAttr, default_value=FloatAttr(1e-5, f32))
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (AttrSizedOperandSegments(as_property=True), ParsePropInAttrDict())
    assembly_format = (
        "$input (`scale` `(` $scale^ `:` type($scale) `)`)? "
        "(`bias` `(` $bias^ `:` type($bias) `)`)? attr-dict "
        "`:` type($input) `->` type($result)"
    )

    def __init__(self, input: SSAValue, scale: SSAValue | None, bias: SSAValue | None,
                 axis: int, epsilon: float = 1e-5):
        super().__init__(operands=[input, [scale] if scale else [], [bias] if bias else []],
                         properties={"axis": IntegerAttr(axis, i64),
                                     "epsilon": FloatAttr(epsilon, f32)},
                         result_types=[input.type])

    def verify_(self) -> None:
        x = shape_of(self.input)
        axis = self.axis.value.data
        check(0 <= axis < len(x), f"graph.layer_norm: axis {axis} out of range")
        for operand in (self.scale, self.bias):
            if operand is None:
                continue
            try:
                ok = broadcast_shapes(x[axis:], shape_of(operand)) == tuple(x[axis:])
            except ValueError:
                ok = False
            check(ok, f"graph.layer_norm: scale/bias must broadcast to {list(x[axis:])}")
        check(self.result.type == self.input.type,
              "graph.layer_norm: result type must equal input type")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        tail = shapes[0][self.axis.value.data:]
        for s in shapes[1:]:
            if broadcast_shapes(tail, s) != tail:
                raise ValueError(f"scale/bias of shape {list(s)} do not broadcast to {list(tail)}")
        return shapes[0]

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        x = args[0]
        axes = tuple(range(self.axis.value.data, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
        y = (x - mean) / np.sqrt(var + self.epsilon.value.data)
        rest = iter(args[1:])
        if self.scale is not None:
            y = y * next(rest)
        if self.bias is not None:
            y = y + next(rest)
        return y


class AxisNormOp(GraphOp):
    """A normalization along one `axis` whose result has the input's type."""

    input = operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, axis: int):
        super().__init__(operands=[input], properties={"axis": IntegerAttr(axis, i64)},
                         result_types=[input.type])

    def verify_(self) -> None:
        rank = len(shape_of(self.input))
        axis = self.axis.value.data
        check(0 <= axis < rank, f"{self.name}: axis {axis} out of range for rank {rank}")
        check(self.result.type == self.input.type,
              f"{self.name}: result type must equal input type")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        return shapes[0]


@irdl_op_definition
class LogSoftmaxOp(AxisNormOp):
    """x - max - log(sum(exp(x - max))) along `axis`."""

    name = "graph.log_softmax"

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        axis = self.axis.value.data
        s = args[0] - args[0].max(axis=axis, keepdims=True)
        return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


@irdl_op_definition
class HardmaxOp(AxisNormOp):
    """1 where x is the first maximum along `axis`, else 0."""

    name = "graph.hardmax"

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        axis = self.axis.value.data
        idx = np.expand_dims(np.argmax(args[0], axis=axis), axis)
        out = np.zeros_like(args[0])
        np.put_along_axis(out, idx, 1, axis=axis)
        return out


@irdl_op_definition
class LRNOp(GraphOp):
    """Local response normalization across channels (dim 1):
    x / (bias + alpha / size * sum over a `size` window of x^2) ^ beta."""

    name = "graph.lrn"
    input = operand_def(TensorType)
    size = prop_def(IntegerAttr)
    alpha = prop_def(FloatAttr, default_value=FloatAttr(1e-4, f32))
    beta = prop_def(FloatAttr, default_value=FloatAttr(0.75, f32))
    bias = prop_def(FloatAttr, default_value=FloatAttr(1.0, f32))
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, size: int, alpha: float = 1e-4, beta: float = 0.75,
                 bias: float = 1.0):
        super().__init__(operands=[input], properties={
            "size": IntegerAttr(size, i64), "alpha": FloatAttr(alpha, f32),
            "beta": FloatAttr(beta, f32), "bias": FloatAttr(bias, f32)},
            result_types=[input.type])

    def verify_(self) -> None:
        check(len(shape_of(self.input)) >= 2, "graph.lrn: input rank must be >= 2")
        check(self.size.value.data >= 1, "graph.lrn: size must be >= 1")
        check(self.result.type == self.input.type,
              "graph.lrn: result type must equal input type")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        return shapes[0]

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        x = args[0]
        size = self.size.value.data
        lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
        sq = np.pad(x * x, [(0, 0), (lo, hi)] + [(0, 0)] * (x.ndim - 2))
        total = sum(sq[:, i:i + x.shape[1]] for i in range(size))
        base = self.bias.value.data + self.alpha.value.data / size * total
        return x / base ** self.beta.value.data


@irdl_op_definition
class DropoutOp(IRDLOperation):
    """Dropout as inference computes it: `output` = input, `mask` (i1) all true.

    A `training` flag known only at run time is checked there: training with a `ratio`
    other than 0 would draw random masks, which is an error at run time.
    """

    name = "graph.dropout"
    input = operand_def(TensorType)
    ratio = opt_operand_def(TensorType)
    training = opt_operand_def(TensorType)
    output = result_def(TensorType)
    mask = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (AttrSizedOperandSegments(as_property=True), ParsePropInAttrDict())
    assembly_format = (
        "$input (`ratio` `(` $ratio^ `:` type($ratio) `)`)? "
        "(`training` `(` $training^ `:` type($training) `)`)? attr-dict "
        "`:` type($input) `->` type($output) `,` type($mask)"
    )

    def __init__(self, input: SSAValue, ratio: SSAValue | None = None,
                 training: SSAValue | None = None):
        mask_type = tensor_type(shape_of(input), IntegerType(1))
        super().__init__(operands=[input, [ratio] if ratio else [],
                                   [training] if training else []],
                         result_types=[input.type, mask_type])

    def verify_(self) -> None:
        check(self.output.type == self.input.type,
              "graph.dropout: output type must equal input type")
        check(self.mask.type == tensor_type(shape_of(self.input), IntegerType(1)),
              "graph.dropout: mask must be an i1 tensor of the input's shape")
        for name, v in (("ratio", self.ratio), ("training", self.training)):
            if v is not None:
                check(shape_of(v) == (), f"graph.dropout: {name} must be rank 0")
        if self.ratio is not None:
            check(is_float_type(element_type_of(self.ratio)),
                  "graph.dropout: ratio must be a float")
        if self.training is not None:
            check(element_type_of(self.training) == i1, "graph.dropout: training must be i1")

    def concrete_shape(self, shapes: list[Shape]) -> list[Shape | None]:
        return [shapes[0], shapes[0]]
