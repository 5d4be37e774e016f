"""The `check` dialect: run-time checks that report the values that failed them.

`check.assert %cond, "message {0} {1}" [%a, %b : index, index]` stops the model call
unless `%cond` holds, like `cf.assert`, and the runtime formats the message with the
run-time values of the listed integers, so a mismatch reads "dim 1 of operand 1 is 3, the
other operands make it 2" rather than just "dims differ". The op lives from the tensor
level down to convert-to-llvm, which lowers it with cf.assert's status return
(lowering/llvm_asserts.py) after storing the values where the runtime reads them.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import IndexType, IntegerType, StringAttr, i1
from xdsl.ir import Dialect, Operation, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    irdl_op_definition,
    operand_def,
    prop_def,
    var_operand_def,
)
from xdsl.utils.exceptions import VerifyException

MAX_VALUES = 4
"""How many values one check can report (the runtime's slots)."""


@irdl_op_definition
class AssertOp(IRDLOperation):
    """Stop with `msg` unless `condition`; `{i}` in `msg` is the run-time `values[i]`."""

    name = "check.assert"
    condition = operand_def(i1)
    values = var_operand_def(IndexType | IntegerType)
    msg = prop_def(StringAttr)

    assembly_format = "$condition `,` $msg (`[` $values^ `:` type($values) `]`)? attr-dict"

    def __init__(self, condition: SSAValue | Operation, msg: str | StringAttr,
                 values: Sequence[SSAValue | Operation] = ()):
        super().__init__(operands=[condition, list(values)],
                         properties={"msg": StringAttr(msg) if isinstance(msg, str) else msg})

    def verify_(self) -> None:
        if len(self.values) > MAX_VALUES:
            raise VerifyException(f"check.assert reports at most {MAX_VALUES} values, "
                                  f"got {len(self.values)}")


def format_message(template: str, values: Sequence[int]) -> str:
    """The message of a failed check with its reported values filled in."""
    out = template
    for i, v in enumerate(values):
        out = out.replace(f"{{{i}}}", str(v))
    return out


Check = Dialect("check", [AssertOp], [])
