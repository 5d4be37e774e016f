"""Data-movement ops: split, slice, gathers and scatters, pad, range, constant_of_shape,
trilu, cumsum, topk, resize, one_hot, non_zero and unique.

Operands that ONNX passes as tensors but that size a result (slice starts, pads, k, ...)
stay operands: 1-D (or rank-0) integer tensors read at run time by the lowering. The
importer computes result types from their values when they are constants, `?` otherwise;
`fold` folds what is constant."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from xdsl.dialects.builtin import (
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    IntegerAttr,
    StringAttr,
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
    opt_prop_def,
    prop_def,
    result_def,
    var_result_def,
)

from dialects.graph.base import (
    DYN,
    DataOp,
    Shape,
    array_from_dense,
    check,
    check_at_least,
    check_axis,
    check_flag,
    check_one_element,
    check_result,
    element_type_of,
    format_dims,
    i64_array,
    int_prop,
    ints,
    is_float_type,
    is_int_tensor,
    prop_int,
    shape_of,
    shapes_compatible,
    tensor_type,
)
from dialects.graph.values import ConstantOp, operand_values

REDUCTIONS = ("none", "add", "mul", "max", "min")
"""Scatter reductions (how an update combines with the value it lands on)."""

PAD_MODES = ("constant", "reflect", "edge", "wrap")
RESIZE_MODES = ("nearest", "linear")
RESIZE_COORDINATE_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel",
                           "align_corners", "asymmetric")
RESIZE_NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")
RESIZE_ASPECT_POLICIES = ("stretch", "not_larger", "not_smaller")


@irdl_op_definition
class SplitOp(DataOp):
    """Split along `axis` into pieces of `splits` elements (or of the run-time 1-D integer
    `sizes`), else into len(results) pieces of ceil(n / len(results)) (the last one
    smaller)."""

    name = "graph.split"
    input = operand_def(TensorType)
    sizes = opt_operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    splits = opt_prop_def(DenseArrayBase)
    outputs = var_result_def(TensorType)

    def __init__(self, input: SSAValue, axis: int, splits: Sequence[int] | None,
                 num_outputs: int, sizes: SSAValue | None = None):
        x = shape_of(input)
        n = x[axis]
        if sizes is not None:
            splits = None
            parts = [DYN] * num_outputs
        elif splits is None:
            parts = [DYN] * num_outputs if n == DYN else even_splits(n, num_outputs)
        else:
            parts = list(splits)
        props: dict[str, Attribute] = {"axis": int_prop(axis)}
        if splits is not None:
            props["splits"] = i64_array(splits)
        types = [tensor_type([*x[:axis], s, *x[axis + 1:]], element_type_of(input))
                 for s in parts]
        super().__init__(operands=[input, [sizes] if sizes else []], properties=props,
                         result_types=[types])

    def result_shape(self) -> tuple[int, ...]:
        return shape_of(self.results[0])

    def verify_shapes(self) -> None:
        axis = prop_int(self.axis)
        x = shape_of(self.input)
        check(0 <= axis < len(x), f"graph.split: axis {axis} out of range")
        check(len(self.results) >= 1, "graph.split: needs at least one result")
        if self.splits is not None:
            splits = ints(self.splits)
            check(len(splits) == len(self.results),
                  "graph.split: one split size per result")
            check_at_least(self, splits, 0, "splits")
            check(x[axis] == DYN or sum(splits) == x[axis],
                  f"graph.split: splits {list(splits)} do not add up to {x[axis]}")
        if self.sizes is not None:
            check(self.splits is None, "graph.split: give splits or sizes, not both")
            check(is_int_tensor(self.sizes) and shape_of(self.sizes) == (len(self.results),),
                  "graph.split: sizes must be a 1-D integer tensor, one entry per result")
        for k, r in enumerate(self.results):
            s = shape_of(r)
            check(len(s) == len(x) and all(
               shapes_compatible([a], [b]) for i, (a, b) in enumerate(zip(x, s, strict=True))
               if i != axis), f"graph.split: result {k} of shape {format_dims(s)} does not fit "
                              f"the input {format_dims(x)}")
            if self.splits is not None:
                check_result(self, [*x[:axis], ints(self.splits)[k], *x[axis + 1:]], s,
                             f"result {k}")

    def concrete_shape(self, shapes: list[Shape]) -> list[Shape | None]:
        x = shapes[0]
        axis = self.axis.value.data
        if self.sizes is not None:
            known = operand_values(self, 1)
            if known is None:
                return [None] * len(self.results)
            sizes = known
        elif self.splits is not None:
            sizes = list(ints(self.splits))
        if self.sizes is not None or self.splits is not None:
            if sum(sizes) != x[axis]:
                raise ValueError(f"split sizes {sizes} do not add up to dim {axis} ({x[axis]})")
        else:
            sizes = even_splits(x[axis], len(self.results))
        return [(*x[:axis], s, *x[axis + 1:]) for s in sizes]

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        axis = self.axis.value.data
        sizes = [shape_of(r)[axis] for r in self.results]
        return np.split(args[0], np.cumsum(sizes)[:-1], axis=axis)


def even_splits(n: int, parts: int) -> list[int]:
    """ONNX num_outputs splitting: ceil(n / parts) each, the last one gets the rest."""
    chunk = -(-n // parts)
    return [max(0, min(chunk, n - i * chunk)) for i in range(parts)]


@irdl_op_definition
class SliceOp(DataOp):
    """ONNX Slice: 1-D integer `starts`, `ends`, `axes`, `steps` of equal length, read at
    run time (negative values count from the end, clamped per ONNX)."""

    name = "graph.slice"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("starts", "ends", "axes", "steps")
    input = operand_def(TensorType)
    starts = operand_def(TensorType)
    ends = operand_def(TensorType)
    axes = operand_def(TensorType)
    steps = operand_def(TensorType)
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, starts: SSAValue, ends: SSAValue, axes: SSAValue,
                 steps: SSAValue, result_type: Attribute):
        super().__init__(operands=[input, starts, ends, axes, steps],
                         result_types=[result_type])

    def verify_shapes(self) -> None:
        n = {shape_of(v) for v in (self.starts, self.ends, self.axes, self.steps)}
        check(len(n) == 1 and len(next(iter(n))) == 1,
              "graph.slice: starts/ends/axes/steps must be 1-D of one length")
        check(len(self.result_shape()) == len(shape_of(self.input)),
              "graph.slice: result rank must equal input rank")
        count, rank = next(iter(n))[0], len(shape_of(self.input))
        check(count == DYN or count <= rank,
              f"graph.slice: {count} axes for an input of rank {rank}")

    def concrete_shape(self, shapes: list[Shape]) -> Shape | None:
        values = [operand_values(self, i) for i in range(1, 5)]
        if any(v is None for v in values):
            return None
        out = list(shapes[0])
        for s, e, a, t in zip(*values, strict=True):  # type: ignore[misc]
            if t == 0:
                raise ValueError("a slice step is 0")
            a = a + len(out) if a < 0 else a
            out[a] = len(range(*slice(s, e, t).indices(shapes[0][a])))
        return tuple(out)

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        x, starts, ends, axes, steps = args
        index = [slice(None)] * x.ndim
        for s, e, a, t in zip(starts, ends, axes, steps, strict=True):
            index[int(a) % x.ndim] = slice(int(s), int(e), int(t))
        return x[tuple(index)]


@irdl_op_definition
class GatherOp(DataOp):
    """out[a.., i.., b..] = data[a.., indices[i..], b..] along `axis`."""

    name = "graph.gather"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("indices",)
    input = operand_def(TensorType)
    indices = operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, indices: SSAValue, axis: int):
        x = shape_of(input)
        shape = [*x[:axis], *shape_of(indices), *x[axis + 1:]]
        super().__init__(operands=[input, indices], properties={"axis": int_prop(axis)},
                         result_types=[tensor_type(shape, element_type_of(input))])

    def verify_shapes(self) -> None:
        x, axis = shape_of(self.input), prop_int(self.axis)
        check_axis(self, axis, len(x))
        check_result(self, [*x[:axis], *shape_of(self.indices), *x[axis + 1:]],
                     self.result_shape())

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        axis = self.axis.value.data
        x = shapes[0]
        return (*x[:axis], *shapes[1], *x[axis + 1:])

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        return np.take(args[0], args[1], axis=self.axis.value.data)


@irdl_op_definition
class GatherElementsOp(DataOp):
    """out[i] = data[i with dim `axis` replaced by indices[i]]; out has indices' shape."""

    name = "graph.gather_elements"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("indices",)
    input = operand_def(TensorType)
    indices = operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, indices: SSAValue, axis: int):
        super().__init__(operands=[input, indices], properties={"axis": int_prop(axis)},
                         result_types=[tensor_type(shape_of(indices), element_type_of(input))])

    def verify_shapes(self) -> None:
        x, ind = shape_of(self.input), shape_of(self.indices)
        check_axis(self, prop_int(self.axis), len(x))
        check(len(ind) == len(x), f"{self.name}: indices must have the input's rank")
        check_result(self, ind, self.result_shape())

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        x, ind = shapes[0], shapes[1]
        axis = self.axis.value.data
        if len(x) != len(ind) or any(i > d for k, (d, i) in enumerate(zip(x, ind, strict=True))
                                     if k != axis):
            raise ValueError(f"indices {list(ind)} do not fit data {list(x)}")
        return ind

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        axis = self.axis.value.data
        ind = np.where(args[1] < 0, args[1] + args[0].shape[axis], args[1])
        return np.take_along_axis(args[0], ind, axis=axis)


@irdl_op_definition
class GatherNDOp(DataOp):
    """ONNX GatherND with `batch_dims`; indices' last dim must be static."""

    name = "graph.gather_nd"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("indices",)
    input = operand_def(TensorType)
    indices = operand_def(TensorType)
    batch_dims = prop_def(IntegerAttr, default_value=IntegerAttr(0, i64))
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, indices: SSAValue, batch_dims: int = 0):
        x, ind = shape_of(input), shape_of(indices)
        shape = [*ind[:-1], *x[batch_dims + ind[-1]:]]
        super().__init__(operands=[input, indices],
                         properties={"batch_dims": int_prop(batch_dims)},
                         result_types=[tensor_type(shape, element_type_of(input))])

    def verify_shapes(self) -> None:
        x, ind, b = shape_of(self.input), shape_of(self.indices), prop_int(self.batch_dims)
        check(len(ind) >= 1 and ind[-1] != DYN,
              "graph.gather_nd: indices need rank >= 1 and a static last dim")
        check(0 <= b < min(len(x), len(ind)) or b == 0,
              f"graph.gather_nd: batch_dims {b} out of range")
        check(b + ind[-1] <= len(x),
              f"graph.gather_nd: {ind[-1]} index entries (+ {b} batch dims) exceed the "
              f"input rank {len(x)}")
        check_result(self, [*ind[:-1], *x[b + ind[-1]:]], self.result_shape())

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        x, ind = shapes
        b = self.batch_dims.value.data
        if x[:b] != ind[:b] or b + ind[-1] > len(x):
            raise ValueError(f"indices {list(ind)} do not fit data {list(x)}")
        return (*ind[:-1], *x[b + ind[-1]:])


@irdl_op_definition
class ScatterNDOp(DataOp):
    """ONNX ScatterND: a copy of data with `updates` combined in at `indices`."""

    name = "graph.scatter_nd"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("indices",)
    input = operand_def(TensorType)
    indices = operand_def(TensorType)
    updates = operand_def(TensorType)
    reduction = prop_def(StringAttr, default_value=StringAttr("none"))
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, indices: SSAValue, updates: SSAValue,
                 reduction: str = "none"):
        super().__init__(operands=[input, indices, updates],
                         properties={"reduction": StringAttr(reduction)},
                         result_types=[input.type])

    def verify_shapes(self) -> None:
        check(self.reduction.data in REDUCTIONS,
              f"{self.name}: reduction must be one of {', '.join(REDUCTIONS)}")
        x, ind = shape_of(self.input), shape_of(self.indices)
        check(len(ind) >= 1 and ind[-1] != DYN,
              f"{self.name}: indices need rank >= 1 and a static last dim")
        check(ind[-1] <= len(x),
              f"{self.name}: {ind[-1]} index entries exceed the input rank {len(x)}")
        check_result(self, [*ind[:-1], *x[ind[-1]:]], shape_of(self.updates), "updates")
        check(self.result.type == self.input.type and element_type_of(
           self.updates) == element_type_of(self.input),
              f"{self.name}: result and updates must have the input's (element) type")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        x, ind, upd = shapes
        expected = (*ind[:-1], *x[ind[-1]:])
        if upd != expected:
            raise ValueError(f"updates have shape {list(upd)}, expected {list(expected)}")
        return x


@irdl_op_definition
class ScatterElementsOp(DataOp):
    """ONNX ScatterElements along `axis`: updates has the indices' shape."""

    name = "graph.scatter_elements"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("indices",)
    input = operand_def(TensorType)
    indices = operand_def(TensorType)
    updates = operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    reduction = prop_def(StringAttr, default_value=StringAttr("none"))
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, indices: SSAValue, updates: SSAValue, axis: int,
                 reduction: str = "none"):
        super().__init__(operands=[input, indices, updates],
                         properties={"axis": int_prop(axis),
                                     "reduction": StringAttr(reduction)},
                         result_types=[input.type])

    def verify_shapes(self) -> None:
        check(self.reduction.data in REDUCTIONS,
              f"{self.name}: reduction must be one of {', '.join(REDUCTIONS)}")
        x, ind = shape_of(self.input), shape_of(self.indices)
        check_axis(self, prop_int(self.axis), len(x))
        check(len(ind) == len(x), f"{self.name}: indices must have the input's rank")
        check_result(self, ind, shape_of(self.updates), "updates")
        check(self.result.type == self.input.type and element_type_of(
           self.updates) == element_type_of(self.input),
              f"{self.name}: result and updates must have the input's (element) type")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        x, ind, upd = shapes
        if ind != upd or len(ind) != len(x):
            raise ValueError(f"indices {list(ind)} and updates {list(upd)} must have one shape "
                             f"of the data's rank {len(x)}")
        return x


@irdl_op_definition
class PadOp(DataOp):
    """Pad the run-time dims `axes` by run-time `pads` ([begins.., ends..], negative
    crops) in `mode`; `value` (rank 0) fills in constant mode."""

    name = "graph.pad"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("pads", "axes")
    input = operand_def(TensorType)
    pads = operand_def(TensorType)
    value = operand_def(TensorType)
    axes = operand_def(TensorType)
    mode = prop_def(StringAttr, default_value=StringAttr("constant"))
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, pads: SSAValue, value: SSAValue, axes: SSAValue,
                 mode: str, result_type: Attribute):
        super().__init__(operands=[input, pads, value, axes],
                         properties={"mode": StringAttr(mode)}, result_types=[result_type])

    def verify_shapes(self) -> None:
        check(self.mode.data in PAD_MODES,
              f"graph.pad: mode must be one of {', '.join(PAD_MODES)}")
        n = shape_of(self.axes)
        check(len(n) == 1 and n[0] != DYN and shape_of(self.pads) == (2 * n[0],),
              "graph.pad: pads must hold two entries per axis")
        check(n[0] <= len(shape_of(self.input)),
              f"graph.pad: {n[0]} axes for an input of rank {len(shape_of(self.input))}")
        check_one_element(self, self.value, "value")
        check(element_type_of(self.value) == element_type_of(self.input),
              "graph.pad: value must have the input's element type")
        check(len(self.result_shape()) == len(shape_of(self.input)),
              "graph.pad: result rank must equal the input's")

    def concrete_shape(self, shapes: list[Shape]) -> Shape | None:
        pads, axes = operand_values(self, 1), operand_values(self, 3)
        if pads is None or axes is None:
            return None
        out = list(shapes[0])
        for k, a in enumerate(axes):
            out[a] += pads[k] + pads[len(axes) + k]
            if out[a] < 0:
                raise ValueError(f"pads make dim {a} negative")
        return tuple(out)


@irdl_op_definition
class RangeOp(DataOp):
    """[start, start + delta, ...) up to `limit` (rank-0 operands of the result type)."""

    name = "graph.range"
    start = operand_def(TensorType)
    limit = operand_def(TensorType)
    delta = operand_def(TensorType)
    result = result_def(TensorType)

    def __init__(self, start: SSAValue, limit: SSAValue, delta: SSAValue,
                 result_type: Attribute):
        super().__init__(operands=[start, limit, delta], result_types=[result_type])

    def verify_shapes(self) -> None:
        for what, v in (("start", self.start), ("limit", self.limit), ("delta", self.delta)):
            check_one_element(self, v, what)
            check(element_type_of(v) == element_type_of(self.result),
                  f"graph.range: {what} must have the result's element type")
        check(len(self.result_shape()) == 1, "graph.range: the result must be 1-D")

    def concrete_shape(self, shapes: list[Shape]) -> Shape | None:
        """Sized by values (the declared type if static)."""
        return None

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        start, limit, delta = (a.item() for a in args)
        return np.arange(start, limit, delta).astype(args[0].dtype)


@irdl_op_definition
class ConstantOfShapeOp(DataOp):
    """A tensor of the run-time 1-D integer `shape` filled with the one-element `value`."""

    name = "graph.constant_of_shape"
    SAME_TYPE: ClassVar[bool] = False
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("shape",)
    shape = operand_def(TensorType)
    value = prop_def(DenseIntOrFPElementsAttr)
    result = result_def(TensorType)

    def __init__(self, shape: SSAValue, value: DenseIntOrFPElementsAttr,
                 result_type: Attribute):
        super().__init__(operands=[shape], properties={"value": value},
                         result_types=[result_type])

    def verify_shapes(self) -> None:
        s = shape_of(self.shape)
        check(len(s) == 1 and s[0] == len(self.result_shape()),
              "graph.constant_of_shape: shape must be 1-D, one entry per result dim")
        t = self.value.get_type()
        check(isinstance(t, TensorType) and all(d == 1 for d in shape_of(t))
              and t.element_type == element_type_of(self.result),
              "graph.constant_of_shape: value must be one element of the result's type")

    def concrete_shape(self, shapes: list[Shape]) -> Shape | None:
        """Sized by values (the declared type if static)."""
        return None

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        value = array_from_dense(self.value).reshape(-1)[0]
        return np.full([int(v) for v in args[0]], value)


@irdl_op_definition
class TriluOp(DataOp):
    """Keep the upper (`upper` = 1) or lower triangle of the last two dims, shifted by
    the run-time diagonal offset `k` (rank 0); zero elsewhere."""

    name = "graph.trilu"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("k",)
    input = operand_def(TensorType)
    k = operand_def(TensorType)
    upper = prop_def(IntegerAttr, default_value=IntegerAttr(1, i64))
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, k: SSAValue, upper: bool):
        super().__init__(operands=[input, k], properties={"upper": int_prop(int(upper))},
                         result_types=[input.type])

    def verify_shapes(self) -> None:
        check(len(shape_of(self.input)) >= 2, "graph.trilu: input rank must be >= 2")
        check_one_element(self, self.k, "k")
        check_flag(self, self.upper, "upper")
        check(self.result.type == self.input.type,
              "graph.trilu: result type must equal input type")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        return shapes[0]

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        k = int(args[1].reshape(-1)[0])
        return (np.triu if self.upper.value.data else np.tril)(args[0], k)


@irdl_op_definition
class CumSumOp(DataOp):
    """Cumulative sum along the run-time `axis` (rank-0 or 1-element integer, negative
    counts from the end); `exclusive`, `reverse` as in ONNX."""

    name = "graph.cumsum"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("axis",)
    input = operand_def(TensorType)
    axis = operand_def(TensorType)
    exclusive = prop_def(IntegerAttr, default_value=IntegerAttr(0, i64))
    reverse = prop_def(IntegerAttr, default_value=IntegerAttr(0, i64))
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, axis: SSAValue, exclusive: bool = False,
                 reverse: bool = False):
        super().__init__(operands=[input, axis],
                         properties={"exclusive": int_prop(int(exclusive)),
                                     "reverse": int_prop(int(reverse))},
                         result_types=[input.type])

    def verify_shapes(self) -> None:
        check(len(shape_of(self.input)) >= 1, "graph.cumsum: input rank must be >= 1")
        check_one_element(self, self.axis, "axis")
        check_flag(self, self.exclusive, "exclusive")
        check_flag(self, self.reverse, "reverse")
        check(self.result.type == self.input.type,
              "graph.cumsum: result type must equal input type")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        return shapes[0]

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        x = args[0]
        axis = int(args[1].reshape(-1)[0]) % x.ndim
        y = np.flip(x, axis) if self.reverse.value.data else x
        out = np.cumsum(y, axis=axis, dtype=x.dtype)
        if self.exclusive.value.data:
            out = out - y
        return np.flip(out, axis) if self.reverse.value.data else out


@irdl_op_definition
class TopKOp(DataOp):
    """The k (run-time, 1-element integer) largest/smallest along `axis`, sorted:
    values and i64 indices. Ties keep the lower index first."""

    name = "graph.topk"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("k",)
    input = operand_def(TensorType)
    k = operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    largest = prop_def(IntegerAttr, default_value=IntegerAttr(1, i64))
    values = result_def(TensorType)
    indices = result_def(TensorType)

    def __init__(self, input: SSAValue, k: SSAValue, axis: int, largest: bool,
                 k_static: int | None):
        x = list(shape_of(input))
        x[axis] = DYN if k_static is None else k_static
        super().__init__(operands=[input, k],
                         properties={"axis": int_prop(axis),
                                     "largest": int_prop(int(largest))},
                         result_types=[tensor_type(x, element_type_of(input)),
                                       tensor_type(x, i64)])

    def verify_shapes(self) -> None:
        x, axis = shape_of(self.input), prop_int(self.axis)
        check_axis(self, axis, len(x))
        check_one_element(self, self.k, "k")
        check_flag(self, self.largest, "largest")
        expected = list(x)
        expected[axis] = shape_of(self.values)[axis] if len(shape_of(self.values)) == len(
            x) else DYN
        check_result(self, expected, shape_of(self.values), "values")
        check(self.indices.type == tensor_type(shape_of(self.values), i64),
              "graph.topk: indices must be i64 of the values' shape")

    def concrete_shape(self, shapes: list[Shape]) -> list[Shape | None]:
        k = operand_values(self, 1)
        if k is None:
            return [None, None]
        axis = self.axis.value.data
        if not 0 <= k[0] <= shapes[0][axis]:
            raise ValueError(f"k = {k[0]} is out of range for dim {axis} ({shapes[0][axis]})")
        out = (*shapes[0][:axis], k[0], *shapes[0][axis + 1:])
        return [out, out]


@irdl_op_definition
class ResizeOp(DataOp):
    """ONNX Resize (nearest/linear) of dims `axes` by the run-time 1-D `scales` (float),
    or to the run-time 1-D `sizes` (integer; then scale = size / input size, adjusted by
    `keep_aspect_ratio_policy`), with the ONNX coordinate transformation modes."""

    name = "graph.resize"
    input = operand_def(TensorType)
    scales = opt_operand_def(TensorType)
    sizes = opt_operand_def(TensorType)
    axes = prop_def(DenseArrayBase)
    mode = prop_def(StringAttr, default_value=StringAttr("nearest"))
    coordinate_mode = prop_def(StringAttr, default_value=StringAttr("half_pixel"))
    nearest_mode = prop_def(StringAttr, default_value=StringAttr("round_prefer_floor"))
    keep_aspect_ratio_policy = prop_def(StringAttr, default_value=StringAttr("stretch"))
    result = result_def(TensorType)

    irdl_options = (AttrSizedOperandSegments(as_property=True), ParsePropInAttrDict())
    assembly_format = (
        "$input (`scales` `(` $scales^ `:` type($scales) `)`)? "
        "(`sizes` `(` $sizes^ `:` type($sizes) `)`)? attr-dict "
        "`:` type($input) `->` type($result)")

    def __init__(self, input: SSAValue, scales: SSAValue | None, sizes: SSAValue | None, *,
                 axes: Sequence[int], mode: str, coordinate_mode: str, nearest_mode: str,
                 keep_aspect_ratio_policy: str, result_type: Attribute):
        props: dict[str, Attribute] = {
            "axes": i64_array(axes), "mode": StringAttr(mode),
            "coordinate_mode": StringAttr(coordinate_mode),
            "nearest_mode": StringAttr(nearest_mode),
            "keep_aspect_ratio_policy": StringAttr(keep_aspect_ratio_policy)}
        super().__init__(operands=[input, [scales] if scales else [], [sizes] if sizes else []],
                         properties=props, result_types=[result_type])

    def verify_shapes(self) -> None:
        for value, allowed in ((self.mode, RESIZE_MODES),
                               (self.coordinate_mode, RESIZE_COORDINATE_MODES),
                               (self.nearest_mode, RESIZE_NEAREST_MODES),
                               (self.keep_aspect_ratio_policy, RESIZE_ASPECT_POLICIES)):
            check(value.data in allowed,
                  f"graph.resize: '{value.data}' is not one of {', '.join(allowed)}")
        check((self.scales is None) != (self.sizes is None),
              "graph.resize: exactly one of scales and sizes")
        rank, axes = len(shape_of(self.input)), ints(self.axes)
        check(len(axes) >= 1 and len(set(axes)) == len(axes)
              and all(0 <= a < rank for a in axes),
              f"graph.resize: axes {list(axes)} must be distinct and in [0, {rank})")
        given = self.scales if self.scales is not None else self.sizes
        assert given is not None
        check(shapes_compatible((len(axes),), shape_of(given)),
              "graph.resize: scales/sizes must be 1-D with one entry per axis")
        check(is_float_type(element_type_of(given)) == (given is self.scales),
              "graph.resize: scales must be floats, sizes integers")
        check(len(self.result_shape()) == rank,
              "graph.resize: result rank must equal the input's")

    def concrete_shape(self, shapes: list[Shape]) -> Shape | None:
        if self.sizes is not None or not isinstance(self.operands[1].owner, ConstantOp):
            return None
        scales = array_from_dense(self.operands[1].owner.value).reshape(-1)
        out = list(shapes[0])
        for k, a in enumerate(ints(self.axes)):
            out[a] = int(np.floor(out[a] * float(scales[k])))
        return tuple(out)


@irdl_op_definition
class OneHotOp(DataOp):
    """values[1] where the (run-time) depth position equals the index, else values[0];
    the depth dim is inserted at `axis`."""

    name = "graph.one_hot"
    SAME_TYPE: ClassVar[bool] = False
    indices = operand_def(TensorType)
    depth = operand_def(TensorType)
    values = operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    result = result_def(TensorType)

    def __init__(self, indices: SSAValue, depth: SSAValue, values: SSAValue, axis: int,
                 depth_static: int | None):
        shape = list(shape_of(indices))
        shape.insert(axis, DYN if depth_static is None else depth_static)
        super().__init__(operands=[indices, depth, values],
                         properties={"axis": int_prop(axis)},
                         result_types=[tensor_type(shape, element_type_of(values))])

    def verify_shapes(self) -> None:
        ind, axis = shape_of(self.indices), prop_int(self.axis)
        check(0 <= axis <= len(ind),
              f"graph.one_hot: axis {axis} out of range [0, {len(ind)}]")
        check_one_element(self, self.depth, "depth")
        check(shapes_compatible((2,), shape_of(self.values)),
              "graph.one_hot: values must be [off, on]")
        check(element_type_of(self.result) == element_type_of(self.values),
              "graph.one_hot: result element type must equal the values'")
        y = self.result_shape()
        check(len(y) == len(ind) + 1, f"graph.one_hot: result rank must be {len(ind) + 1}")
        check_result(self, [*ind[:axis], y[axis], *ind[axis:]], y)

    def concrete_shape(self, shapes: list[Shape]) -> Shape | None:
        depth = operand_values(self, 1)
        if depth is None:
            return None
        out = list(shapes[0])
        out.insert(self.axis.value.data, depth[0])
        return tuple(out)


@irdl_op_definition
class NonZeroOp(DataOp):
    """Indices (i64, [rank, count]) of the non-zero elements in row-major order."""

    name = "graph.non_zero"
    SAME_TYPE: ClassVar[bool] = False
    input = operand_def(TensorType)
    result = result_def(TensorType)

    def __init__(self, input: SSAValue):
        super().__init__(operands=[input],
                         result_types=[tensor_type([len(shape_of(input)), DYN], i64)])

    def verify_shapes(self) -> None:
        y = self.result_shape()
        check(len(y) == 2 and y[0] == len(shape_of(self.input))
              and element_type_of(self.result) == i64,
              f"graph.non_zero: result must be i64 [{len(shape_of(self.input))}, ?]")

    def concrete_shape(self, shapes: list[Shape]) -> Shape | None:
        """Sized by values (the declared type if static)."""
        return None

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        x = args[0]
        return np.array(np.nonzero(x), dtype=np.int64).reshape(x.ndim, -1)


@irdl_op_definition
class UniqueOp(DataOp):
    """The distinct rows of a 2-D input [N, M]: i64 `indices` [K] of each distinct row's
    first occurrence, in ascending (lexicographic) row order when `sorted`, in order of
    first occurrence otherwise; `inverse` [N], the position of each row among them; and
    `counts` [K]. Elements compare as numbers with NaN equal to NaN and sorted last (-0
    equals 0), as numpy.unique. K depends on the values."""

    name = "graph.unique"
    SAME_TYPE: ClassVar[bool] = False
    input = operand_def(TensorType)
    sorted = prop_def(IntegerAttr, default_value=IntegerAttr(1, i64))
    indices = result_def(TensorType)
    inverse = result_def(TensorType)
    counts = result_def(TensorType)

    def __init__(self, input: SSAValue, sorted: bool = True):
        n = shape_of(input)[0]
        super().__init__(operands=[input], properties={"sorted": int_prop(int(sorted))},
                         result_types=[tensor_type([DYN], i64), tensor_type([n], i64),
                                       tensor_type([DYN], i64)])

    def verify_shapes(self) -> None:
        x = shape_of(self.input)
        check(len(x) == 2, f"graph.unique: the input must be 2-D (rows), got rank {len(x)}")
        check_flag(self, self.sorted, "sorted")
        for v, what in ((self.indices, "indices"), (self.inverse, "inverse"),
                        (self.counts, "counts")):
            check(len(shape_of(v)) == 1 and element_type_of(v) == i64,
                  f"graph.unique: {what} must be a 1-D i64 tensor, got {v.type}")
        check(shapes_compatible(shape_of(self.inverse), x[:1]),
              f"graph.unique: inverse must have the {format_dims(x[:1])} rows' shape")

    def concrete_shape(self, shapes: list[Shape]) -> list[Shape | None]:
        """inverse has a row's entry; the others are sized by values."""
        return [None, (shapes[0][0],), None]

    def evaluate(self, args: list[np.ndarray]) -> list[np.ndarray]:
        x = args[0] if args[0].dtype.kind in "iub" else args[0].astype(np.float64)
        rows = [tuple(r) for r in x.tolist()]

        def key(r: tuple) -> tuple:
            return tuple((1, 0.0) if v != v else (0, v + 0.0) for v in r)  # NaN last

        first: dict[tuple, int] = {}
        for i, r in enumerate(rows):
            first.setdefault(key(r), i)
        order = sorted(first) if self.sorted.value.data else list(first)
        position = {k: p for p, k in enumerate(order)}
        inverse = np.array([position[key(r)] for r in rows], np.int64)
        return [np.array([first[k] for k in order], np.int64), inverse,
                np.bincount(inverse, minlength=len(order)).astype(np.int64)]
