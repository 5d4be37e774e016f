"""Convolutions and pooling over the spatial dims of NCHW tensors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from xdsl.dialects.builtin import DenseArrayBase, IntegerAttr, StringAttr, TensorType, i64
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.irdl import (
    AttrSizedOperandSegments,
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from dialects.graph.base import (
    DYN,
    GraphOp,
    Shape,
    apply_act,
    check,
    check_at_least,
    check_flag,
    conv_out_dim,
    element_type_of,
    format_dims,
    i64_array,
    ints,
    opt_act,
    shape_of,
    shapes_compatible,
    tensor_type,
    to_channels_first,
    to_channels_last,
    verify_act,
)

# --------------------------------------------------------------------------- convolution


@irdl_op_definition
class ConvOp(GraphOp):
    """N-d convolution (NCHW, weights OIHW), the fused form included.

    y = act(conv(input, weight) + bias + residual); `pads` are
    [begin..., end...] per spatial dim; `group` splits channels.
    """

    name = "graph.conv"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    residual = opt_operand_def(TensorType)
    strides = prop_def(DenseArrayBase)
    pads = prop_def(DenseArrayBase)
    dilations = prop_def(DenseArrayBase)
    group = prop_def(IntegerAttr, default_value=IntegerAttr(1, i64))
    act = opt_prop_def(StringAttr)
    act_params = opt_prop_def(DenseArrayBase)  # optimizer: clip bounds, leaky_relu alpha
    layout = opt_prop_def(StringAttr)  # optimizer: "nhwc" = channels-last input/result
    kind = opt_prop_def(StringAttr)  # optimizer: "depthwise" (one input channel per group)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (AttrSizedOperandSegments(as_property=True), ParsePropInAttrDict())
    assembly_format = (
        "$input `,` $weight (`bias` `(` $bias^ `:` type($bias) `)`)? "
        "(`residual` `(` $residual^ `:` type($residual) `)`)? attr-dict "
        "`:` type($input) `,` type($weight) `->` type($result)"
    )

    def __init__(self, input: SSAValue, weight: SSAValue, bias: SSAValue | None = None,
                 residual: SSAValue | None = None, *, strides: Sequence[int],
                 pads: Sequence[int], dilations: Sequence[int], group: int = 1,
                 act: str | None = None, layout: str | None = None):
        x = shape_of(input)
        if layout == "nhwc":
            x = to_channels_first(x)
        shape = self.infer_shape(x, shape_of(weight), strides, pads, dilations)
        if layout == "nhwc":
            shape = to_channels_last(shape)
        super().__init__(
            operands=[input, weight, [bias] if bias else [], [residual] if residual else []],
            properties={"strides": i64_array(strides), "pads": i64_array(pads),
                        "dilations": i64_array(dilations),
                        "group": IntegerAttr(group, i64), **opt_act(act),
                        **({"layout": StringAttr(layout)} if layout else {})},
            result_types=[tensor_type(shape, element_type_of(input))])

    @property
    def is_nhwc(self) -> bool:
        return self.layout is not None and self.layout.data == "nhwc"

    @staticmethod
    def infer_shape(x: Sequence[int], w: Sequence[int], strides: Sequence[int],
                    pads: Sequence[int], dilations: Sequence[int]) -> tuple[int, ...]:
        spatial = len(x) - 2
        if spatial < 1 or len(w) != len(x):
            raise ValueError(f"input rank {len(x)} and weight rank {len(w)} do not fit a conv")
        if not (len(strides) == len(dilations) == spatial and len(pads) == 2 * spatial):
            raise ValueError("strides/dilations need one value per spatial dim, pads two")
        out = [x[0], w[0]]
        for i in range(spatial):
            out.append(conv_out_dim(x[2 + i], w[2 + i], strides[i],
                                    pads[i] + pads[spatial + i], dilations[i]))
        return tuple(out)

    def verify_(self) -> None:
        verify_act(self, self.act)
        x, w = shape_of(self.input), shape_of(self.weight)
        check(len(x) >= 3 and len(w) == len(x),
              f"graph.conv: input rank {len(x)} and weight rank {len(w)} do not fit a conv")
        check_at_least(self, ints(self.strides), 1, "strides")
        check_at_least(self, ints(self.dilations), 1, "dilations")
        check_at_least(self, ints(self.pads), 0, "pads")
        check_at_least(self, [d for d in w[2:] if d != DYN], 1, "kernel dims")
        if self.layout is not None:
            check(self.layout.data == "nhwc", "graph.conv: layout must be \"nhwc\"")
            x = to_channels_first(x)
        if self.kind is not None:
            check(self.kind.data == "depthwise" and w[1] == 1,
                  "graph.conv: kind \"depthwise\" needs one input channel per group")
        try:
            expected = self.infer_shape(x, w, ints(self.strides), ints(self.pads),
                                        ints(self.dilations))
            if self.layout is not None:
                expected = to_channels_last(expected)
        except ValueError as e:
            raise VerifyException(f"graph.conv: {e}") from e
        check_output_size(self, expected)
        group = self.group.value.data
        check(group >= 1, "graph.conv: group must be >= 1")
        if x[1] != DYN:
            check(x[1] == w[1] * group,
                  f"graph.conv: input has {x[1]} channels, weight expects "
                  f"{w[1]} x group {group}")
        check(shapes_compatible(expected, self.result_shape()),
              f"graph.conv: result shape {list(self.result_shape())} should be "
              f"{list(expected)}")
        if self.bias is not None:
            check(shape_of(self.bias) == (w[0],),
                  f"graph.conv: bias must have shape [{w[0]}]")
        if self.residual is not None:
            check(shapes_compatible(self.result_shape(), shape_of(self.residual)),
                  "graph.conv: residual must have the result's shape")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        if self.is_nhwc:  # optimizer layout: check channels-first, answer channels-last
            nchw = [to_channels_first(shapes[0]), *shapes[1:]]
            if self.residual is not None:
                nchw[-1] = to_channels_first(shapes[-1])
            return to_channels_last(self._concrete_shape_nchw(nchw))
        return self._concrete_shape_nchw(shapes)

    def _concrete_shape_nchw(self, shapes: list[Shape]) -> Shape:
        x, w = shapes[0], shapes[1]
        group = self.group.value.data
        if x[1] != w[1] * group:
            raise ValueError(f"input has {x[1]} channels, the weight expects {w[1] * group}")
        out = ConvOp.infer_shape(x, w, ints(self.strides), ints(self.pads),
                                 ints(self.dilations))
        if self.residual is not None and shapes[-1] != out:
            raise ValueError(f"residual of shape {list(shapes[-1])} differs from {list(out)}")
        if any(d < 1 for d in out[2:]):
            raise ValueError(f"the input is too small for the kernel: output {list(out)}")
        return out

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        rest = iter(args[2:])
        bias = next(rest) if self.bias is not None else None
        residual = next(rest) if self.residual is not None else None
        if not self.is_nhwc:
            return _conv_nchw(self, args[0], args[1], bias, residual)
        # channels-last (the layout pass): evaluate channels-first, move channels back last
        residual = None if residual is None else np.moveaxis(residual, -1, 1)
        y = _conv_nchw(self, np.moveaxis(args[0], -1, 1), args[1], bias, residual)
        return np.moveaxis(y, 1, -1)


def check_output_size(op: Operation, shape: Sequence[int]) -> None:
    """Windows larger than the padded input leave no output element."""
    check(all(d >= 0 or d == DYN for d in shape),
          f"{op.name}: the window does not fit the (padded) input: output size "
          f"{format_dims(shape)}")


class PoolOp(GraphOp):
    """Common form of windowed pooling over the spatial dims of an NCHW tensor."""

    input = operand_def(TensorType)
    kernel_shape = prop_def(DenseArrayBase)
    strides = prop_def(DenseArrayBase)
    pads = prop_def(DenseArrayBase)
    dilations = prop_def(DenseArrayBase)
    ceil_mode = prop_def(IntegerAttr, default_value=IntegerAttr(0, i64))
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, *, kernel_shape: Sequence[int],
                 strides: Sequence[int], pads: Sequence[int], dilations: Sequence[int],
                 ceil_mode: bool = False, **extra: Attribute):
        shape = self.infer_shape(shape_of(input), kernel_shape, strides, pads, dilations,
                                 ceil_mode)
        super().__init__(
            operands=[input],
            properties={"kernel_shape": i64_array(kernel_shape), "strides": i64_array(strides),
                        "pads": i64_array(pads), "dilations": i64_array(dilations),
                        "ceil_mode": IntegerAttr(int(ceil_mode), i64), **extra},
            result_types=[tensor_type(shape, element_type_of(input))])

    @staticmethod
    def infer_shape(x: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                    pads: Sequence[int], dilations: Sequence[int],
                    ceil_mode: bool) -> tuple[int, ...]:
        spatial = len(x) - 2
        if spatial < 1:
            raise ValueError(f"pooling needs rank >= 3, got rank {len(x)}")
        if not (len(kernel) == len(strides) == len(dilations) == spatial
                and len(pads) == 2 * spatial):
            raise ValueError("kernel_shape/strides/dilations need one value per spatial "
                             "dim, pads two")
        out = [x[0], x[1]]
        for i in range(spatial):
            out.append(conv_out_dim(x[2 + i], kernel[i], strides[i],
                                    pads[i] + pads[spatial + i], dilations[i], ceil_mode))
        return tuple(out)

    def verify_(self) -> None:
        check_at_least(self, ints(self.kernel_shape), 1, "kernel_shape")
        check_at_least(self, ints(self.strides), 1, "strides")
        check_at_least(self, ints(self.dilations), 1, "dilations")
        check_at_least(self, ints(self.pads), 0, "pads")
        check_flag(self, self.ceil_mode, "ceil_mode")
        for name in ("count_include_pad", "storage_order"):
            if isinstance(flag := self.properties.get(name), IntegerAttr):
                check_flag(self, flag, name)
        if isinstance(p := self.properties.get("p"), IntegerAttr):
            check(p.value.data >= 1, f"{self.name}: p must be >= 1, got {p.value.data}")
        try:
            expected = self.infer_shape(
                shape_of(self.input), ints(self.kernel_shape), ints(self.strides),
                ints(self.pads), ints(self.dilations), bool(self.ceil_mode.value.data))
        except ValueError as e:
            raise VerifyException(f"{self.name}: {e}") from e
        check_output_size(self, expected)
        if isinstance(self, MaxPoolIndicesOp):
            check(element_type_of(self.result) == i64, f"{self.name}: result must be i64")
        else:
            check(element_type_of(self.result) == element_type_of(self.input),
                  f"{self.name}: result element type must equal the input's")
        check(shapes_compatible(expected, self.result_shape()),
              f"{self.name}: result shape {list(self.result_shape())} should be "
              f"{list(expected)}")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        out = PoolOp.infer_shape(shapes[0], ints(self.kernel_shape), ints(self.strides),
                                 ints(self.pads), ints(self.dilations),
                                 bool(self.ceil_mode.value.data))
        if any(d < 1 for d in out[2:]):
            raise ValueError(f"the input is too small for the window: output {list(out)}")
        return out

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        """MaxPool / AvgPool (LpPool and MaxPoolIndices override this)."""
        x = args[0]
        kernel, strides, pads, dilations, out, extra = self._window(x.shape)
        n = len(kernel)
        crop = (slice(None), slice(None), *(slice(0, o) for o in out))
        axes = tuple(range(-n, 0))
        if isinstance(self, MaxPoolOp):
            win = _windows(_pad(x, pads, -np.inf, extra), kernel, strides, dilations)
            return win.max(axis=axes)[crop]
        total = _windows(_pad(x, pads, 0.0, extra), kernel, strides, dilations).sum(axis=axes)
        ones = np.ones((1, 1, *x.shape[2:]), dtype=np.float32)
        counted = _pad(ones, pads, 1.0 if self.count_include_pad.value.data else 0.0)
        counted = _pad(counted, [0] * (2 * n), 0.0, extra)
        count = _windows(counted, kernel, strides, dilations).sum(axis=axes)
        return (total / count)[crop]

    def _window(self, x: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...],
                                                  tuple[int, ...], tuple[int, ...], Shape,
                                                  list[int]]:
        """kernel, strides, pads, dilations, the output's spatial dims, and how far
        ceil_mode windows run past the end padding (padded further, never counted)."""
        kernel, strides = ints(self.kernel_shape), ints(self.strides)
        pads, dilations = ints(self.pads), ints(self.dilations)
        out = self.result_shape()[2:]
        n = len(kernel)
        extra = [max(0, (out[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1
                     - (x[2 + i] + pads[i] + pads[n + i])) for i in range(n)]
        return kernel, strides, pads, dilations, out, extra


@irdl_op_definition
class MaxPoolOp(PoolOp):
    """Max over each window; padding never wins."""

    name = "graph.max_pool"


@irdl_op_definition
class AvgPoolOp(PoolOp):
    """Mean over each window; `count_include_pad` = 1 divides by the full window size."""

    name = "graph.avg_pool"
    count_include_pad = prop_def(IntegerAttr, default_value=IntegerAttr(0, i64))


@irdl_op_definition
class GlobalAvgPoolOp(GraphOp):
    """Mean over all spatial dims of an NCHW tensor, keeping them as size 1."""

    name = "graph.global_avg_pool"
    input = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue):
        x = shape_of(input)
        super().__init__(operands=[input], result_types=[
            tensor_type([x[0], x[1]] + [1] * (len(x) - 2), element_type_of(input))])

    def verify_(self) -> None:
        x = shape_of(self.input)
        check(len(x) >= 3, "graph.global_avg_pool: input rank must be >= 3")
        check(element_type_of(self.result) == element_type_of(self.input),
              "graph.global_avg_pool: result element type must equal the input's")
        check(shapes_compatible((x[0], x[1], *[1] * (len(x) - 2)), self.result_shape()),
              "graph.global_avg_pool: result must be [N, C, 1, ...]")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        x = shapes[0]
        return (x[0], x[1], *[1] * (len(x) - 2))

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        return args[0].mean(axis=tuple(range(2, args[0].ndim)), keepdims=True)


@irdl_op_definition
class LpPoolOp(PoolOp):
    """(sum over each window of |x|^p)^(1/p); padding contributes 0."""

    name = "graph.lp_pool"
    p = prop_def(IntegerAttr, default_value=IntegerAttr(2, i64))

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        x, p = args[0], self.p.value.data
        kernel, strides, pads, dilations, out, extra = self._window(x.shape)
        win = _windows(_pad(np.abs(x) ** p, pads, 0.0, extra), kernel, strides, dilations)
        total = win.sum(axis=tuple(range(-len(kernel), 0)))
        crop = (slice(None), slice(None), *(slice(0, o) for o in out))
        return (total ** (1.0 / p))[crop]


def conv_transpose_out_dim(size: int, kernel: int, stride: int, pad_total: int,
                           dilation: int, output_padding: int) -> int:
    if size == DYN:
        return DYN
    return (size - 1) * stride + (kernel - 1) * dilation + 1 + output_padding - pad_total


@irdl_op_definition
class ConvTransposeOp(GraphOp):
    """N-d transposed convolution (NCHW input, weight [C, F / group, k...]).

    Output extent per spatial dim: (in - 1) * stride + (k - 1) * dilation + 1
    + output_padding - pad_begin - pad_end; `pads` are explicit [begin..., end...].
    """

    name = "graph.conv_transpose"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    strides = prop_def(DenseArrayBase)
    pads = prop_def(DenseArrayBase)
    dilations = prop_def(DenseArrayBase)
    output_padding = prop_def(DenseArrayBase)
    group = prop_def(IntegerAttr, default_value=IntegerAttr(1, i64))
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = (
        "$input `,` $weight (`bias` `(` $bias^ `:` type($bias) `)`)? attr-dict "
        "`:` type($input) `,` type($weight) `->` type($result)"
    )

    def __init__(self, input: SSAValue, weight: SSAValue, bias: SSAValue | None = None, *,
                 strides: Sequence[int], pads: Sequence[int], dilations: Sequence[int],
                 output_padding: Sequence[int], group: int = 1):
        shape = self.infer_shape(shape_of(input), shape_of(weight), strides, pads,
                                 dilations, output_padding, group)
        super().__init__(
            operands=[input, weight, [bias] if bias else []],
            properties={"strides": i64_array(strides), "pads": i64_array(pads),
                        "dilations": i64_array(dilations),
                        "output_padding": i64_array(output_padding),
                        "group": IntegerAttr(group, i64)},
            result_types=[tensor_type(shape, element_type_of(input))])

    @staticmethod
    def infer_shape(x: Sequence[int], w: Sequence[int], strides: Sequence[int],
                    pads: Sequence[int], dilations: Sequence[int],
                    output_padding: Sequence[int], group: int) -> tuple[int, ...]:
        spatial = len(x) - 2
        if spatial < 1 or len(w) != len(x):
            raise ValueError(f"input rank {len(x)} and weight rank {len(w)} do not fit a "
                             "transposed conv")
        if not (len(strides) == len(dilations) == len(output_padding) == spatial
                and len(pads) == 2 * spatial):
            raise ValueError("strides/dilations/output_padding need one value per spatial "
                             "dim, pads two")
        if x[1] != DYN and w[0] != DYN and x[1] != w[0]:
            raise ValueError(f"input has {x[1]} channels, the weight expects {w[0]}")
        out = [x[0], DYN if w[1] == DYN else w[1] * group]
        for i in range(spatial):
            out.append(conv_transpose_out_dim(x[2 + i], w[2 + i], strides[i],
                                              pads[i] + pads[spatial + i], dilations[i],
                                              output_padding[i]))
        return tuple(out)

    def verify_(self) -> None:
        check(self.group.value.data >= 1, "graph.conv_transpose: group must be >= 1")
        check_at_least(self, ints(self.strides), 1, "strides")
        check_at_least(self, ints(self.dilations), 1, "dilations")
        check_at_least(self, ints(self.output_padding), 0, "output_padding")
        try:
            expected = self.infer_shape(
                shape_of(self.input), shape_of(self.weight), ints(self.strides),
                ints(self.pads), ints(self.dilations), ints(self.output_padding),
                self.group.value.data)
        except ValueError as e:
            raise VerifyException(f"graph.conv_transpose: {e}") from e
        check_output_size(self, expected)
        check(element_type_of(self.result) == element_type_of(self.input),
              "graph.conv_transpose: result element type must equal the input's")
        check(shapes_compatible(expected, self.result_shape()),
              f"graph.conv_transpose: result shape {list(self.result_shape())} should be "
              f"{list(expected)}")
        if self.bias is not None:
            check(shapes_compatible((expected[1],), shape_of(self.bias)),
                  f"graph.conv_transpose: bias must have shape [{expected[1]}]")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        out = ConvTransposeOp.infer_shape(
            shapes[0], shapes[1], ints(self.strides), ints(self.pads), ints(self.dilations),
            ints(self.output_padding), self.group.value.data)
        if any(d < 1 for d in out[2:]):
            raise ValueError(f"the padding leaves no output: {list(out)}")
        return out

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        x, w = args[0], args[1]
        strides, pads, dil = ints(self.strides), ints(self.pads), ints(self.dilations)
        group = self.group.value.data
        n = x.ndim - 2
        out = self.result_shape()
        cg, fg = w.shape[0] // group, w.shape[1]
        full = [max((x.shape[2 + i] - 1) * strides[i] + (w.shape[2 + i] - 1) * dil[i] + 1,
                    pads[i] + out[2 + i]) for i in range(n)]
        y = np.zeros((x.shape[0], fg * group, *full), dtype=x.dtype)
        for k in np.ndindex(*w.shape[2:]):
            region = tuple(slice(k[i] * dil[i], k[i] * dil[i] + (x.shape[2 + i] - 1) * strides[i]
                                 + 1, strides[i]) for i in range(n))
            for gi in range(group):
                xs = x[:, gi * cg:(gi + 1) * cg]
                ws = w[(slice(gi * cg, (gi + 1) * cg), slice(None), *k)]
                part = np.einsum("nc...,cf->nf...", xs, ws)
                y[(slice(None), slice(gi * fg, (gi + 1) * fg), *region)] += part
        crop = tuple(slice(pads[i], pads[i] + out[2 + i]) for i in range(n))
        y = y[(slice(None), slice(None), *crop)]
        if self.bias is not None:
            y = y + args[2].reshape(1, -1, *[1] * n)
        return y


@irdl_op_definition
class MaxPoolIndicesOp(PoolOp):
    """The i64 flat input index (padding not counted) of each max-pool window's first
    maximum: ONNX MaxPool's Indices output. `storage_order` 1 flattens the spatial dims
    column-major."""

    name = "graph.max_pool_indices"
    storage_order = prop_def(IntegerAttr, default_value=IntegerAttr(0, i64))

    def __init__(self, input: SSAValue, *, kernel_shape: Sequence[int],
                 strides: Sequence[int], pads: Sequence[int], dilations: Sequence[int],
                 ceil_mode: bool = False, storage_order: int = 0):
        shape = self.infer_shape(shape_of(input), kernel_shape, strides, pads, dilations,
                                 ceil_mode)
        IRDLOperation.__init__(
            self, operands=[input],
            properties={"kernel_shape": i64_array(kernel_shape), "strides": i64_array(strides),
                        "pads": i64_array(pads), "dilations": i64_array(dilations),
                        "ceil_mode": IntegerAttr(int(ceil_mode), i64),
                        "storage_order": IntegerAttr(storage_order, i64)},
            result_types=[tensor_type(shape, i64)])

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        x = args[0]
        kernel, strides, pads, dilations, out, extra = self._window(x.shape)
        n = len(kernel)
        spatial = x.shape[2:]
        order = "F" if self.storage_order.value.data else "C"
        offset = np.arange(int(np.prod(spatial))).reshape(spatial, order=order)
        base = np.arange(x.shape[0] * x.shape[1]).reshape(x.shape[:2]) * offset.size
        flat = (base.reshape(*x.shape[:2], *[1] * n) + offset).astype(np.float64)
        vals = _windows(_pad(x, pads, -np.inf, extra), kernel, strides, dilations)
        idx = _windows(_pad(flat, pads, -1.0, extra), kernel, strides, dilations)
        vals = vals.reshape(*vals.shape[:2 + n], -1)
        best = np.expand_dims(np.argmax(vals, axis=-1), -1)
        chosen = np.take_along_axis(idx.reshape(*idx.shape[:2 + n], -1), best, axis=-1)[..., 0]
        crop = (slice(None), slice(None), *(slice(0, o) for o in out))
        return chosen[crop].astype(np.int64)


# --------------------------------------------------------------------------- evaluators


def _windows(x: np.ndarray, kernel: Sequence[int], strides: Sequence[int],
             dilations: Sequence[int]) -> np.ndarray:
    """[N, C, *out, *kernel] windows of an already padded [N, C, *spatial] array."""
    n = len(kernel)
    extent = [(k - 1) * d + 1 for k, d in zip(kernel, dilations, strict=True)]
    w = sliding_window_view(x, extent, axis=tuple(range(2, 2 + n)))
    index = (slice(None), slice(None), *(slice(None, None, s) for s in strides),
             *(slice(None, None, d) for d in dilations))
    return w[index]


def _pad(x: np.ndarray, pads: Sequence[int], value: float,
         extra: Sequence[int] | None = None) -> np.ndarray:
    n = len(pads) // 2
    extra = extra or [0] * n
    widths = [(0, 0), (0, 0)] + [(pads[i], pads[n + i] + extra[i]) for i in range(n)]
    return np.pad(x, widths, constant_values=value)


def _conv_nchw(op: ConvOp, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
               residual: np.ndarray | None) -> np.ndarray:
    strides, pads, dilations = ints(op.strides), ints(op.pads), ints(op.dilations)
    group, n = op.group.value.data, x.ndim - 2
    win = _windows(_pad(x, pads, 0.0), w.shape[2:], strides, dilations)
    cg, og = x.shape[1] // group, w.shape[0] // group
    axes = ([1, *range(2 + n, 2 + 2 * n)], [1, *range(2, 2 + n)])
    parts = [np.tensordot(win[:, i * cg:(i + 1) * cg], w[i * og:(i + 1) * og], axes=axes)
             for i in range(group)]
    y = np.moveaxis(np.concatenate(parts, axis=-1), -1, 1)
    if bias is not None:
        y = y + bias.reshape(1, -1, *[1] * n)
    if residual is not None:
        y = y + residual
    return apply_act(op, y)
