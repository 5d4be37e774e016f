"""Graph values: inline constants and weights held in the module's weight store."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, StringAttr, TensorType
from xdsl.ir import Operation
from xdsl.irdl import (
    AnyAttr,
    ParamAttrConstraint,
    VarConstraint,
    irdl_op_definition,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.traits import ConstantLike, NoMemoryEffect, Pure

from dialects.graph.base import DYN, GraphOp, Shape, array_from_dense, check, shape_of

# --------------------------------------------------------------------------- values


@irdl_op_definition
class ConstantOp(GraphOp):
    """A small constant tensor written inline in the IR."""

    name = "graph.constant"
    _T: ClassVar = VarConstraint("T", AnyAttr())
    value = prop_def(ParamAttrConstraint(DenseIntOrFPElementsAttr, (_T, AnyAttr())))
    result = result_def(_T)

    traits = traits_def(Pure(), ConstantLike())
    assembly_format = "attr-dict $value"

    def __init__(self, value: DenseIntOrFPElementsAttr):
        super().__init__(properties={"value": value}, result_types=[value.get_type()])

    def verify_(self) -> None:
        check(self.value.get_type() == self.result.type,
              "graph.constant: value type must equal result type")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        return shape_of(self.result)

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        return array_from_dense(self.value)


@irdl_op_definition
class WeightOp(GraphOp):
    """A reference, by name, to a weight held in the module's weight store.

    The data is a runtime buffer handed to native code as a pointer: it is never printed.
    """

    name = "graph.weight"
    weight_name = prop_def(StringAttr, prop_name="name")
    result = result_def(TensorType)

    traits = traits_def(NoMemoryEffect())
    assembly_format = "$name attr-dict `:` type($result)"

    def __init__(self, name: str, result_type: TensorType):
        super().__init__(properties={"name": StringAttr(name)}, result_types=[result_type])

    def verify_(self) -> None:
        check(all(d != DYN for d in self.result_shape()),
              "graph.weight: a weight must have a static shape")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        return shape_of(self.result)


def operand_values(op: Operation, index: int) -> list[int] | None:
    """The values of operand `index` when it is a graph.constant, flattened."""
    owner = op.operands[index].owner
    if not isinstance(owner, ConstantOp):
        return None
    return [int(v) for v in array_from_dense(owner.value).reshape(-1).tolist()]
