"""Building scf loop nests over linalg ops: an insertion point with hoisted constants,
and each loop's bound from the operand dims (shared by the loop and GEMM-call lowerings)."""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects import arith, memref
from xdsl.dialects.builtin import DYNAMIC_INDEX, IndexType, MemRefType
from xdsl.dialects.linalg.ops import FillOp, GenericOp
from xdsl.ir import Operation, SSAValue
from xdsl.ir.affine import AffineDimExpr, AffineExpr, AffineMap
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.utils.exceptions import PassFailedException

from lowering.affine_arith import affine_to_arith


class Inserter:
    """Inserts ops at a moving point; index constants are hoisted and shared."""

    def __init__(self, hoist: InsertPoint):
        self.hoist = hoist
        self.point = hoist
        self.constants: dict[int, SSAValue] = {}

    def __call__(self, op: Operation) -> SSAValue:
        Rewriter.insert_op(op, self.point)
        return op.results[0] if op.results else None  # type: ignore[return-value]

    def const(self, value: int) -> SSAValue:
        if value not in self.constants:
            op = arith.ConstantOp.from_int_and_width(value, IndexType())
            Rewriter.insert_op(op, self.hoist)
            self.constants[value] = op.result
        return self.constants[value]

    def expr(self, e: AffineExpr, ivs: Sequence[SSAValue]) -> SSAValue:
        """Materialize an affine expression over the induction variables with arith."""
        return affine_to_arith(e, ivs, self, self.const, nonnegative=True)

    def indices(self, m: AffineMap, ivs: Sequence[SSAValue]) -> list[SSAValue]:
        return [self.expr(r, ivs) for r in m.results]



def loop_bounds(op: GenericOp | FillOp, ins: Inserter) -> list[SSAValue]:
    """Each loop's bound: an operand dim indexed by exactly that loop (outputs first)."""
    operands = list(op.operands)
    n_inputs = len(op.inputs)
    maps = [m.data for m in op.get_indexing_maps()]
    bounds: list[SSAValue | None] = [None] * len(op.get_iterator_types())
    for i in [*range(n_inputs, len(operands)), *range(n_inputs)]:
        t = operands[i].type
        if not isinstance(t, MemRefType):
            continue
        for pos, r in enumerate(maps[i].results):
            if isinstance(r, AffineDimExpr) and bounds[r.position] is None:
                size = t.get_shape()[pos]
                bounds[r.position] = (
                    ins.const(size) if size != DYNAMIC_INDEX
                    else ins(memref.DimOp(operands[i], ins.const(pos))))
    if any(b is None for b in bounds):
        raise PassFailedException(f"lower-linalg-to-loops: {op.name}: a loop's range is not "
                                  "given by any operand dim")
    return bounds  # type: ignore[return-value]
