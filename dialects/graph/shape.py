"""Shape ops: reshape, transpose, concat, shape/size, squeeze/unsqueeze, flatten,
expand and tile.

Operands that ONNX passes as tensors but that size a result (a reshape target, axes,
repeats, ...) stay operands: 1-D (or rank-0) integer tensors read at run time by the
lowering. The importer computes result types from their values when they are constants,
`?` otherwise."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from xdsl.dialects.builtin import DenseArrayBase, IntegerAttr, TensorType, i64
from xdsl.ir import Attribute, SSAValue
from xdsl.irdl import (
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from dialects.graph.base import (
    DYN,
    DataOp,
    GraphOp,
    Shape,
    broadcast_shapes,
    check,
    check_flag,
    check_result,
    element_type_of,
    format_dims,
    i64_array,
    int_prop,
    ints,
    prop_int,
    shape_of,
    shapes_compatible,
    tensor_type,
)
from dialects.graph.values import operand_values

# --------------------------------------------------------------------------- data movement


@irdl_op_definition
class ReshapeOp(GraphOp):
    """Reshape to `shape`; one entry may be -1 (inferred). Row-major order is kept."""

    name = "graph.reshape"
    input = operand_def(TensorType)
    shape = prop_def(DenseArrayBase)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, shape: Sequence[int]):
        out = self.infer_shape(shape_of(input), shape)
        super().__init__(operands=[input], properties={"shape": i64_array(shape)},
                         result_types=[tensor_type(out, element_type_of(input))])

    @staticmethod
    def infer_shape(x: Sequence[int], shape: Sequence[int]) -> tuple[int, ...]:
        if sum(1 for d in shape if d == -1) > 1:
            raise ValueError("at most one dim of the target shape may be -1")
        if any(d < -1 or d == 0 for d in shape):
            raise ValueError(f"invalid target shape {list(shape)}")
        if -1 not in shape:
            if DYN not in x:
                n_in, n_out = _product(x), _product(shape)
                if n_in != n_out:
                    raise ValueError(f"cannot reshape {n_in} elements into {list(shape)}")
            return tuple(shape)
        if DYN in x:
            return tuple(DYN if d == -1 else d for d in shape)
        known = _product([d for d in shape if d != -1])
        total = _product(x)
        if known == 0 or total % known:
            raise ValueError(f"cannot reshape {total} elements into {list(shape)}")
        return tuple(total // known if d == -1 else d for d in shape)

    def verify_(self) -> None:
        try:
            expected = self.infer_shape(shape_of(self.input), ints(self.shape))
        except ValueError as e:
            raise VerifyException(f"graph.reshape: {e}") from e
        check(element_type_of(self.result) == element_type_of(self.input),
              "graph.reshape: result element type must equal the input's")
        check(shapes_compatible(expected, self.result_shape()),
              f"graph.reshape: result shape {list(self.result_shape())} should be "
              f"{list(expected)}")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        return ReshapeOp.infer_shape(shapes[0], ints(self.shape))

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        return args[0].reshape(self.result_shape())


def _product(values: Sequence[int]) -> int:
    result = 1
    for v in values:
        result *= v
    return result


@irdl_op_definition
class TransposeOp(GraphOp):
    """Permute dims: result dim i is input dim perm[i]."""

    name = "graph.transpose"
    input = operand_def(TensorType)
    perm = prop_def(DenseArrayBase)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, perm: Sequence[int]):
        x = shape_of(input)
        super().__init__(operands=[input], properties={"perm": i64_array(perm)},
                         result_types=[tensor_type([x[p] for p in perm],
                                                   element_type_of(input))])

    def verify_(self) -> None:
        perm = ints(self.perm)
        x = shape_of(self.input)
        check(sorted(perm) == list(range(len(x))),
              f"graph.transpose: perm {list(perm)} is not a permutation of rank {len(x)}")
        check(shapes_compatible([x[p] for p in perm], self.result_shape()),
              "graph.transpose: result shape does not match the permuted input")
        check(element_type_of(self.result) == element_type_of(self.input),
              "graph.transpose: result element type must equal the input's")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        return tuple(shapes[0][p] for p in ints(self.perm))

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        return np.transpose(args[0], ints(self.perm))


@irdl_op_definition
class ConcatOp(GraphOp):
    """Concatenate along `axis`; all other dims must agree."""

    name = "graph.concat"
    inputs = var_operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$inputs attr-dict `:` functional-type(operands, results)"

    def __init__(self, inputs: Sequence[SSAValue], axis: int):
        shapes = [shape_of(v) for v in inputs]
        out = list(shapes[0])
        sizes = [s[axis] for s in shapes]
        out[axis] = DYN if DYN in sizes else sum(sizes)
        super().__init__(operands=[list(inputs)], properties={"axis": IntegerAttr(axis, i64)},
                         result_types=[tensor_type(out, element_type_of(inputs[0]))])

    def verify_(self) -> None:
        axis = self.axis.value.data
        shapes = [shape_of(v) for v in self.inputs]
        check(len(shapes) >= 1, "graph.concat: needs at least one input")
        rank = len(shapes[0])
        check(0 <= axis < rank, f"graph.concat: axis {axis} out of range for rank {rank}")
        for v, s in zip(self.inputs, shapes, strict=True):
            check(len(s) == rank, "graph.concat: all inputs must have the same rank")
            check(element_type_of(v) == element_type_of(self.result),
                  "graph.concat: inputs and result must have one element type")
            for d in range(rank):
                if d != axis:
                    check(s[d] == shapes[0][d] or DYN in (s[d], shapes[0][d]),
                          f"graph.concat: inputs differ in dim {d}")
        sizes = [s[axis] for s in shapes]
        expected = list(shapes[0])
        expected[axis] = DYN if DYN in sizes else sum(sizes)
        check_result(self, expected, self.result_shape())

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        axis = self.axis.value.data
        first = shapes[0]
        for s in shapes[1:]:
            if len(s) != len(first) or any(
                    a != b for d, (a, b) in enumerate(zip(s, first, strict=True)) if d != axis):
                raise ValueError(f"inputs {list(first)} and {list(s)} differ outside axis {axis}")
        return (*first[:axis], sum(s[axis] for s in shapes), *first[axis + 1:])

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(args, axis=self.axis.value.data)


@irdl_op_definition
class ShapeOp(DataOp):
    """The dims `start`..`end` (exclusive, already clamped) of the input as a 1-D i64."""

    name = "graph.shape"
    SAME_TYPE: ClassVar[bool] = False
    input = operand_def(TensorType)
    start = prop_def(IntegerAttr)
    end = prop_def(IntegerAttr)
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, start: int = 0, end: int | None = None):
        rank = len(shape_of(input))
        end = rank if end is None else end
        super().__init__(operands=[input],
                         properties={"start": int_prop(start), "end": int_prop(end)},
                         result_types=[tensor_type([max(0, end - start)], i64)])

    def verify_shapes(self) -> None:
        rank = len(shape_of(self.input))
        start, end = prop_int(self.start), prop_int(self.end)
        check(0 <= start <= rank and 0 <= end <= rank,
              f"graph.shape: start/end must lie in [0, {rank}]")
        check(shape_of(self.result) == (max(0, end - start),),
              "graph.shape: result must have end - start elements")
        check(element_type_of(self.result) == i64, "graph.shape: result must be i64")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        return (max(0, self.end.value.data - self.start.value.data),)

    def fold(self, operands: Sequence[np.ndarray | None]) -> list[np.ndarray] | None:
        """Known from the input's type when the dims read are static."""
        dims = shape_of(self.input)[self.start.value.data:self.end.value.data]
        return None if DYN in dims else [np.array(dims, dtype=np.int64)]


@irdl_op_definition
class SizeOp(DataOp):
    """The number of elements of the input as a rank-0 i64."""

    name = "graph.size"
    SAME_TYPE: ClassVar[bool] = False
    input = operand_def(TensorType)
    result = result_def(TensorType)

    def __init__(self, input: SSAValue):
        super().__init__(operands=[input], result_types=[tensor_type([], i64)])

    def verify_shapes(self) -> None:
        check(self.result.type == tensor_type([], i64),
              "graph.size: result must be tensor<i64>")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        return ()

    def fold(self, operands: Sequence[np.ndarray | None]) -> list[np.ndarray] | None:
        """Known from the input's type when it is static."""
        dims = shape_of(self.input)
        return None if DYN in dims else [np.array(_product(dims), dtype=np.int64)]


@irdl_op_definition
class ReshapeDynamicOp(DataOp):
    """Reshape to the run-time shape in the 1-D integer tensor `shape` (ONNX Reshape:
    0 copies the input dim unless `allowzero`, one -1 is inferred)."""

    name = "graph.reshape_dynamic"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("shape",)
    input = operand_def(TensorType)
    shape = operand_def(TensorType)
    allowzero = prop_def(IntegerAttr, default_value=IntegerAttr(0, i64))
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, shape: SSAValue, result_type: Attribute,
                 allowzero: bool = False):
        super().__init__(operands=[input, shape],
                         properties={"allowzero": int_prop(int(allowzero))},
                         result_types=[result_type])

    def verify_shapes(self) -> None:
        s = shape_of(self.shape)
        check(len(s) == 1 and s[0] == len(self.result_shape()),
              "graph.reshape_dynamic: shape must be 1-D with one entry per result dim")
        check_flag(self, self.allowzero, "allowzero")
        x, y = shape_of(self.input), self.result_shape()
        if DYN not in x and DYN not in y:
            check(_product(x) == _product(y),
                  f"graph.reshape_dynamic: cannot reshape {format_dims(x)} into {format_dims(y)}")

    def concrete_shape(self, shapes: list[Shape]) -> Shape | None:
        target = operand_values(self, 1)
        if target is None:
            return None
        x = shapes[0]
        if not self.allowzero.value.data:
            target = [x[i] if t == 0 and i < len(x) else t for i, t in enumerate(target)]
        total = _product(x)
        if -1 in target:
            known = _product([t for t in target if t != -1])
            if known == 0 or total % known:
                raise ValueError(f"cannot reshape {total} elements into {target}")
            target = [total // known if t == -1 else t for t in target]
        if _product(target) != total:
            raise ValueError(f"cannot reshape {total} elements into {target}")
        return tuple(target)

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        shape = [int(t) for t in args[1]]
        if not self.allowzero.value.data:
            shape = [args[0].shape[i] if t == 0 else t for i, t in enumerate(shape)]
        return args[0].reshape(shape)


class _AxesOp(DataOp):
    """Squeeze/unsqueeze: a reshape that removes/inserts size-1 dims at `axes`."""

    input = operand_def(TensorType)
    axes = prop_def(DenseArrayBase)
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, axes: Sequence[int]):
        shape = self.infer_shape(shape_of(input), sorted(axes))
        super().__init__(operands=[input], properties={"axes": i64_array(sorted(axes))},
                         result_types=[tensor_type(shape, element_type_of(input))])

    @staticmethod
    def infer_shape(x: Sequence[int], axes: Sequence[int]) -> tuple[int, ...]:
        raise NotImplementedError

    def verify_shapes(self) -> None:
        try:
            expected = self.infer_shape(shape_of(self.input), ints(self.axes))
        except ValueError as e:
            raise VerifyException(f"{self.name}: {e}") from e
        check(shapes_compatible(expected, self.result_shape()),
              f"{self.name}: result shape should be {list(expected)}")

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        return args[0].reshape(self.result_shape())


@irdl_op_definition
class SqueezeOp(_AxesOp):
    """Remove the size-1 dims `axes` (non-negative, sorted)."""

    name = "graph.squeeze"

    @staticmethod
    def infer_shape(x: Sequence[int], axes: Sequence[int]) -> tuple[int, ...]:
        for a in axes:
            if not 0 <= a < len(x) or x[a] not in (1, DYN):
                raise ValueError(f"cannot squeeze dim {a} of {list(x)}")
        return tuple(d for i, d in enumerate(x) if i not in axes)

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        return SqueezeOp.infer_shape(shapes[0], ints(self.axes))


@irdl_op_definition
class UnsqueezeOp(_AxesOp):
    """Insert size-1 dims so that they end up at `axes` of the result."""

    name = "graph.unsqueeze"

    @staticmethod
    def infer_shape(x: Sequence[int], axes: Sequence[int]) -> tuple[int, ...]:
        rank = len(x) + len(axes)
        if len(set(axes)) != len(axes) or any(not 0 <= a < rank for a in axes):
            raise ValueError(f"bad unsqueeze axes {list(axes)} for rank {len(x)}")
        rest = iter(x)
        return tuple(1 if i in axes else next(rest) for i in range(rank))

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        return UnsqueezeOp.infer_shape(shapes[0], ints(self.axes))


class _AxesDynamicOp(DataOp):
    """Squeeze/unsqueeze at run-time `axes` (1-D integer): all result dims are `?`."""

    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("axes",)
    input = operand_def(TensorType)
    axes = operand_def(TensorType)
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, axes: SSAValue, result_type: Attribute):
        super().__init__(operands=[input, axes], result_types=[result_type])

    def verify_shapes(self) -> None:
        n = shape_of(self.axes)
        check(len(n) == 1 and n[0] != DYN, f"{self.name}: axes must be 1-D, static length")
        rank = len(shape_of(self.input))
        want = rank - n[0] if isinstance(self, SqueezeDynamicOp) else rank + n[0]
        check(want >= 0, f"{self.name}: {n[0]} axes for an input of rank {rank}")
        check(len(self.result_shape()) == want,
              f"{self.name}: {n[0]} axes on rank {rank} give rank {want}, the result has "
              f"rank {len(self.result_shape())}")

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        return args[0].reshape(self.result_shape())


@irdl_op_definition
class SqueezeDynamicOp(_AxesDynamicOp):
    """Remove the size-1 dims at run-time `axes` (negative counts from the end)."""

    name = "graph.squeeze_dynamic"

    def concrete_shape(self, shapes: list[Shape]) -> Shape | None:
        axes = operand_values(self, 1)
        if axes is None:
            return None
        x = shapes[0]
        axes = [a + len(x) if a < 0 else a for a in axes]
        return SqueezeOp.infer_shape(x, sorted(axes))


@irdl_op_definition
class UnsqueezeDynamicOp(_AxesDynamicOp):
    """Insert size-1 dims at run-time `axes` of the result (negative from the end)."""

    name = "graph.unsqueeze_dynamic"

    def concrete_shape(self, shapes: list[Shape]) -> Shape | None:
        axes = operand_values(self, 1)
        if axes is None:
            return None
        x = shapes[0]
        rank = len(x) + len(axes)
        return UnsqueezeOp.infer_shape(x, sorted(a + rank if a < 0 else a for a in axes))


@irdl_op_definition
class FlattenOp(DataOp):
    """2-D view [prod(x[:axis]), prod(x[axis:])] of the input."""

    name = "graph.flatten"
    input = operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, axis: int):
        super().__init__(operands=[input], properties={"axis": int_prop(axis)},
                         result_types=[tensor_type(self.infer_shape(shape_of(input), axis),
                                                   element_type_of(input))])

    @staticmethod
    def infer_shape(x: Sequence[int], axis: int) -> tuple[int, int]:
        halves = [x[:axis], x[axis:]]
        return tuple(DYN if DYN in h else _product(h) for h in halves)  # type: ignore

    def verify_shapes(self) -> None:
        x, axis = shape_of(self.input), prop_int(self.axis)
        check(0 <= axis <= len(x), f"graph.flatten: axis {axis} out of range [0, {len(x)}]")
        check_result(self, self.infer_shape(x, axis), self.result_shape())

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        axis = self.axis.value.data
        return (_product(shapes[0][:axis]), _product(shapes[0][axis:]))

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        return args[0].reshape(self.result_shape())


@irdl_op_definition
class ExpandOp(DataOp):
    """Broadcast the input to the run-time 1-D integer `shape` (numpy rules, both ways)."""

    name = "graph.expand"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("shape",)
    input = operand_def(TensorType)
    shape = operand_def(TensorType)
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, shape: SSAValue, result_type: Attribute):
        super().__init__(operands=[input, shape], result_types=[result_type])

    def verify_shapes(self) -> None:
        s, rank = shape_of(self.shape), len(shape_of(self.input))
        check(len(s) == 1 and s[0] != DYN, "graph.expand: shape must be 1-D, static length")
        check(len(self.result_shape()) == max(rank, s[0]),
              f"graph.expand: result rank must be {max(rank, s[0])}")

    def concrete_shape(self, shapes: list[Shape]) -> Shape | None:
        target = operand_values(self, 1)
        if target is None:
            return None
        return broadcast_shapes(shapes[0], target)

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        shape = np.broadcast_shapes(args[0].shape, tuple(int(v) for v in args[1]))
        return np.broadcast_to(args[0], shape).copy()


@irdl_op_definition
class TileOp(DataOp):
    """Repeat the input `repeats[d]` times along every dim d (run-time 1-D integer)."""

    name = "graph.tile"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("repeats",)
    input = operand_def(TensorType)
    repeats = operand_def(TensorType)
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, repeats: SSAValue, result_type: Attribute):
        super().__init__(operands=[input, repeats], result_types=[result_type])

    def verify_shapes(self) -> None:
        rank = len(shape_of(self.input))
        check(shape_of(self.repeats) == (rank,),
              f"graph.tile: repeats must be 1-D with {rank} entries")
        check(len(self.result_shape()) == rank, "graph.tile: result rank must equal the "
                                                "input's")

    def concrete_shape(self, shapes: list[Shape]) -> Shape | None:
        repeats = operand_values(self, 1)
        if repeats is None:
            return None
        return tuple(d * r for d, r in zip(shapes[0], repeats, strict=True))

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        return np.tile(args[0], [int(r) for r in args[1]])
