"""simplify: algebraic identities on the graph dialect, as declarative rules.

x * 1, x + 0, x - 0, x / 1 -> x; transpose(transpose(x)) -> one transpose (or x);
reshape(reshape(x)) -> one reshape; no-op reshape/transpose/Cast/Expand/Dropout/Identity
-> their input; a 2-D transpose feeding Gemm/MatMul -> the Gemm `trans_a`/`trans_b` flag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import SSAValue

from dialects import graph as g
from dialects.weights import store_for
from passes.fold import identity_rules
from passes.rewrite import Match, P, Rule, RuleBuilder, RulePass

# --------------------------------------------------------------------------- transpose


def compose_perms(inner: Sequence[int], outer: Sequence[int]) -> list[int]:
    """perm of transpose(transpose(x, inner), outer) as one transpose of x."""
    return [inner[p] for p in outer]


def _double_transpose(m: Match, b: RuleBuilder) -> SSAValue:
    perm = compose_perms(g.ints(m.inner.perm), g.ints(m.root.perm))
    if perm == sorted(perm):
        return m.x
    return b.insert(g.TransposeOp(m.x, perm))


def _is_identity_perm(op: g.TransposeOp) -> bool:
    return list(g.ints(op.perm)) == list(range(len(g.ints(op.perm))))


TRANSPOSE_RULES = [
    Rule("transpose-transpose",
         P(g.TransposeOp, [P(g.TransposeOp, [P(name="x")], name="inner")], name="root"),
         _double_transpose),
    Rule("identity-transpose", P(g.TransposeOp, [P(name="x")], where=_is_identity_perm), "x"),
]

# --------------------------------------------------------------------------- reshape


def _reshape_reshape(m: Match, b: RuleBuilder) -> SSAValue:
    return b.insert(g.ReshapeOp(m.x, g.ints(m.root.shape)))


RESHAPE_RULES = [
    Rule("reshape-reshape",
         P(g.ReshapeOp, [P(g.ReshapeOp, [P(name="x")])], name="root"), _reshape_reshape),
    # forwarding checks that the types are equal: a static no-op reshape
    Rule("identity-reshape", P(g.ReshapeOp, [P(name="x")]), "x"),
]

# --------------------------------------------------------------------------- no-op ops

def _expand_is_identity(op: g.ExpandOp) -> bool:
    """A constant target that broadcasts into the input's static shape. (With a run-time
    target the same types prove nothing: a target that does not broadcast must fail.)"""
    target = op.shape.owner
    x = g.shape_of(op.input)
    if not isinstance(target, g.ConstantOp) or g.DYN in x:
        return False
    values = [int(v) for v in target.value.get_values()]
    try:
        return tuple(np.broadcast_shapes(tuple(x), tuple(values))) == tuple(x)
    except ValueError:
        return False


NO_OP_RULES = [
    Rule("identity-expand", P(g.ExpandOp, [P(name="x"), P()], where=_expand_is_identity), "x"),
]
"""Ops that are the identity (graph.dropout is not: the importer emits it only for a mask
result or a run-time training flag that must be checked)."""

# --------------------------------------------------------------------------- transposes into gemm


def _is_2d_swap(op: g.TransposeOp) -> bool:
    return list(g.ints(op.perm)) == [1, 0]


def _gemm_transpose(side: str):
    def build(m: Match, b: RuleBuilder) -> SSAValue:
        gemm: g.GemmOp = m.root
        a = m.x if side == "a" else gemm.a
        bb = m.x if side == "b" else gemm.b
        ta = bool(gemm.trans_a.value.data) != (side == "a")
        tb = bool(gemm.trans_b.value.data) != (side == "b")
        new = g.GemmOp(a, bb, gemm.c, alpha=gemm.alpha.value.data, beta=gemm.beta.value.data,
                       trans_a=ta, trans_b=tb)
        copy_activation(gemm, new)
        return b.insert(new)

    return build


def copy_activation(src, dst) -> None:
    for key in ("act", "act_params"):
        if key in src.properties:
            dst.properties[key] = src.properties[key]


def _matmul_transpose(m: Match, b: RuleBuilder) -> SSAValue | None:
    mm: g.MatMulOp = m.root
    if len(g.shape_of(mm.lhs)) != 2 or len(g.shape_of(mm.rhs)) != 2:
        return None
    a, bb = mm.lhs, mm.rhs
    ta = tb = False
    if isinstance(a.owner, g.TransposeOp) and _is_2d_swap(a.owner):
        a, ta = a.owner.input, True
    if isinstance(bb.owner, g.TransposeOp) and _is_2d_swap(bb.owner):
        bb, tb = bb.owner.input, True
    if not (ta or tb):
        return None
    if mm.bias is not None and g.broadcast_shapes(mm.result_shape(),
                                                  g.shape_of(mm.bias)) != mm.result_shape():
        return None
    new = g.GemmOp(a, bb, mm.bias, trans_a=ta, trans_b=tb)
    copy_activation(mm, new)
    return b.insert(new)


_T2 = P(g.TransposeOp, [P(name="x")], where=_is_2d_swap)
GEMM_RULES = [
    Rule("gemm-transpose-a", P(g.GemmOp, {"a": _T2}, name="root"), _gemm_transpose("a")),
    Rule("gemm-transpose-b", P(g.GemmOp, {"b": _T2}, name="root"), _gemm_transpose("b")),
    Rule("matmul-transpose", P(g.MatMulOp, name="root"), _matmul_transpose),
]


def simplify_rules(module: ModuleOp) -> list[Rule]:
    return [*identity_rules(store_for(module)), *TRANSPOSE_RULES, *RESHAPE_RULES,
            *NO_OP_RULES, *GEMM_RULES]


@dataclass(frozen=True)
class SimplifyPass(RulePass):
    """Algebraic identities: x*1, x+0, transpose/reshape chains, no-op casts, transposes
    folded into Gemm flags."""

    name = "simplify"

    def phases(self, module: ModuleOp) -> list[list[Rule]]:
        return [simplify_rules(module)]
