"""Reductions (sum, mean, max, ...) and arg-reductions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import DenseArrayBase, IntegerAttr, StringAttr, TensorType, i64
from xdsl.ir import SSAValue
from xdsl.irdl import (
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
    check,
    check_flag,
    element_type_of,
    i64_array,
    ints,
    shape_of,
    shapes_compatible,
    tensor_type,
)

REDUCE_KINDS = ("sum", "mean", "max", "min", "prod", "l1", "l2", "log_sum", "log_sum_exp",
                "sum_square")
"""Kinds of graph.reduce: ONNX ReduceSum, ReduceMean, ... ReduceSumSquare."""


def reduce_shape(x: Sequence[int], axes: Sequence[int], keepdims: bool) -> tuple[int, ...]:
    """Result shape of a reduction of `x` over (non-negative) `axes`."""
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(x))
    return tuple(d for i, d in enumerate(x) if i not in axes)


def runtime_reduce_shape(x: Sequence[int], num_axes: int, keepdims: bool) -> tuple[int, ...]:
    """Result shape of a reduction over `num_axes` axes known only at run time."""
    if keepdims:
        return tuple(1 if d == 1 else DYN for d in x)
    all_ones = all(d == 1 for d in x)
    return tuple(1 if all_ones else DYN for _ in range(len(x) - num_axes))


@irdl_op_definition
class ReduceOp(GraphOp):
    """Reduce `input` over some axes with `kind` (one of REDUCE_KINDS).

    Compile-time axes are `axes` (sorted, distinct, non-negative, non-empty). Axes known
    only at run time are the `axes_input` operand (tensor<K x i64>, K >= 1, negative
    values count from the end) and `axes` is empty: the result rank is still static
    (rank - K without keepdims) but its dims are `?`.
    """

    name = "graph.reduce"
    input = operand_def(TensorType)
    axes_input = opt_operand_def(TensorType)
    kind = prop_def(StringAttr)
    axes = prop_def(DenseArrayBase)
    keepdims = prop_def(IntegerAttr, default_value=IntegerAttr(1, i64))
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = (
        "$input (`axes` `(` $axes_input^ `:` type($axes_input) `)`)? attr-dict "
        "`:` type($input) `->` type($result)"
    )

    def __init__(self, input: SSAValue, kind: str, axes: Sequence[int] = (),
                 keepdims: bool = True, axes_input: SSAValue | None = None):
        x = shape_of(input)
        if axes_input is not None:
            shape = runtime_reduce_shape(x, shape_of(axes_input)[0], keepdims)
        else:
            shape = reduce_shape(x, axes, keepdims)
        super().__init__(
            operands=[input, [axes_input] if axes_input is not None else []],
            properties={"kind": StringAttr(kind), "axes": i64_array(sorted(axes)),
                        "keepdims": IntegerAttr(int(keepdims), i64)},
            result_types=[tensor_type(shape, element_type_of(input))])

    def verify_(self) -> None:
        check(self.kind.data in REDUCE_KINDS,
              f"graph.reduce: kind must be one of {', '.join(REDUCE_KINDS)}, "
              f"got '{self.kind.data}'")
        x = shape_of(self.input)
        axes = ints(self.axes)
        check_flag(self, self.keepdims, "keepdims")
        keepdims = bool(self.keepdims.value.data)
        check(element_type_of(self.result) == element_type_of(self.input),
              "graph.reduce: result element type must equal the input's")
        if self.axes_input is not None:
            a = shape_of(self.axes_input)
            check(len(a) == 1 and a[0] not in (0, DYN),
                  "graph.reduce: axes_input must be a 1-D tensor of static size >= 1")
            check(not axes, "graph.reduce: give axes or axes_input, not both")
            check(a[0] <= len(x), f"graph.reduce: {a[0]} axes for an input of rank {len(x)}")
            expected = runtime_reduce_shape(x, a[0], keepdims)
        else:
            check(len(axes) >= 1, "graph.reduce: axes must not be empty")
            check(list(axes) == sorted(set(axes)) and all(0 <= a < len(x) for a in axes),
                  f"graph.reduce: axes {list(axes)} must be sorted, distinct and in "
                  f"[0, {len(x)})")
            expected = reduce_shape(x, axes, keepdims)
        check(shapes_compatible(expected, self.result_shape()),
              f"graph.reduce: result shape {list(self.result_shape())} should be "
              f"{list(expected)}")

    def concrete_shape(self, shapes: list[Shape]) -> Shape | None:
        if self.axes_input is not None:
            return None  # the axes are data: the kernel computes the shape
        return reduce_shape(shapes[0], ints(self.axes), bool(self.keepdims.value.data))

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        x = args[0]
        if self.axes_input is not None:
            axes = tuple(sorted({int(a) % x.ndim for a in args[1].reshape(-1)}))
        else:
            axes = ints(self.axes)
        return _reduce_numpy(self.kind.data, x, axes, bool(self.keepdims.value.data))


ARG_REDUCE_KINDS = ("max", "min")


@irdl_op_definition
class ArgReduceOp(GraphOp):
    """Index (i64) of the max/min along `axis` (ONNX ArgMax/ArgMin); ties pick the first
    index, or the last with `select_last_index` = 1."""

    name = "graph.arg_reduce"
    input = operand_def(TensorType)
    kind = prop_def(StringAttr)
    axis = prop_def(IntegerAttr)
    keepdims = prop_def(IntegerAttr, default_value=IntegerAttr(1, i64))
    select_last_index = prop_def(IntegerAttr, default_value=IntegerAttr(0, i64))
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, kind: str, axis: int, keepdims: bool = True,
                 select_last_index: bool = False):
        shape = reduce_shape(shape_of(input), [axis], keepdims)
        super().__init__(
            operands=[input],
            properties={"kind": StringAttr(kind), "axis": IntegerAttr(axis, i64),
                        "keepdims": IntegerAttr(int(keepdims), i64),
                        "select_last_index": IntegerAttr(int(select_last_index), i64)},
            result_types=[tensor_type(shape, i64)])

    def verify_(self) -> None:
        check(self.kind.data in ARG_REDUCE_KINDS,
              f"graph.arg_reduce: kind must be max or min, got '{self.kind.data}'")
        x = shape_of(self.input)
        axis = self.axis.value.data
        check(0 <= axis < len(x),
              f"graph.arg_reduce: axis {axis} out of range for rank {len(x)}")
        check_flag(self, self.keepdims, "keepdims")
        check_flag(self, self.select_last_index, "select_last_index")
        check(element_type_of(self.result) == i64, "graph.arg_reduce: result must be i64")
        expected = reduce_shape(x, [axis], bool(self.keepdims.value.data))
        check(shapes_compatible(expected, self.result_shape()),
              f"graph.arg_reduce: result shape {list(self.result_shape())} should be "
              f"{list(expected)}")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        if shapes[0][self.axis.value.data] == 0:
            raise ValueError("arg-reduction over an empty axis")
        return reduce_shape(shapes[0], [self.axis.value.data], bool(self.keepdims.value.data))

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        x, axis = args[0], self.axis.value.data
        fn = np.argmax if self.kind.data == "max" else np.argmin
        if self.select_last_index.value.data:
            idx = x.shape[axis] - 1 - fn(np.flip(x, axis=axis), axis=axis)
        else:
            idx = fn(x, axis=axis)
        if self.keepdims.value.data:
            idx = np.expand_dims(idx, axis)
        return idx.astype(np.int64)


def _reduce_numpy(kind: str, x: np.ndarray, axes: tuple[int, ...],
                  keepdims: bool) -> np.ndarray:
    """ONNX ReduceX semantics on numpy arrays."""
    kw = {"axis": axes, "keepdims": keepdims}
    match kind:
        case "sum":
            return np.sum(x, **kw)
        case "mean":
            return np.mean(x, **kw)
        case "max":
            return np.max(x, **kw)
        case "min":
            return np.min(x, **kw)
        case "prod":
            return np.prod(x, **kw)
        case "l1":
            return np.sum(np.abs(x), **kw)
        case "l2":
            return np.sqrt(np.sum(x * x, **kw))
        case "log_sum":
            return np.log(np.sum(x, **kw))
        case "log_sum_exp":
            m = np.max(x, axis=axes, keepdims=True)
            m = np.where(np.isinf(m), 0, m)
            y = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
            return y if keepdims else np.squeeze(y, axis=axes)
        case "sum_square":
            return np.sum(x * x, **kw)
    raise ValueError(f"unknown reduction {kind}")
