"""Affine expressions as arith on index values, shared by lower-linalg-to-loops (indexing
maps) and convert-to-llvm (affine.apply)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdsl.dialects import arith
from xdsl.ir import Operation, SSAValue
from xdsl.ir.affine import (
    AffineBinaryOpExpr,
    AffineBinaryOpKind,
    AffineConstantExpr,
    AffineDimExpr,
    AffineExpr,
    AffineSymExpr,
)


def affine_to_arith(expr: AffineExpr, dims: Sequence[SSAValue], emit: Callable[[Operation],
                    SSAValue], const: Callable[[int], SSAValue],
                    symbols: Sequence[SSAValue] = (), nonnegative: bool = False) -> SSAValue:
    """Materialize `expr` over `dims`/`symbols` with arith ops passed to `emit`.

    With `nonnegative` (loop indices, which never are negative) floordiv and mod use the
    cheaper truncating ops; otherwise they keep affine's floor semantics (mod >= 0).
    """

    def lower(e: AffineExpr) -> SSAValue:
        match e:
            case AffineDimExpr():
                return dims[e.position]
            case AffineSymExpr():
                return symbols[e.position]
            case AffineConstantExpr():
                return const(e.value)
            case AffineBinaryOpExpr():
                lhs, rhs = lower(e.lhs), lower(e.rhs)
                match e.kind:
                    case AffineBinaryOpKind.Add:
                        return emit(arith.AddiOp(lhs, rhs))
                    case AffineBinaryOpKind.Mul:
                        return emit(arith.MuliOp(lhs, rhs))
                    case AffineBinaryOpKind.CeilDiv:
                        return emit(arith.CeilDivSIOp(lhs, rhs))
                    case AffineBinaryOpKind.FloorDiv if nonnegative:
                        return emit(arith.DivSIOp(lhs, rhs))
                    case AffineBinaryOpKind.FloorDiv:
                        return emit(arith.FloorDivSIOp(lhs, rhs))
                    case AffineBinaryOpKind.Mod if nonnegative:
                        return emit(arith.RemSIOp(lhs, rhs))
                    case AffineBinaryOpKind.Mod:
                        # affine mod is non-negative for a positive divisor
                        rem = emit(arith.RemSIOp(lhs, rhs))
                        neg = emit(arith.CmpiOp(rem, const(0), "slt"))
                        return emit(arith.SelectOp(neg, emit(arith.AddiOp(rem, rhs)), rem))
        raise ValueError(f"unsupported affine expression {e}")

    return lower(expr)
