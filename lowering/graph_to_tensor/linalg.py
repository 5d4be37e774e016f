"""convert-graph-to-tensor patterns: contractions (matmul, gemm, einsum)."""

from __future__ import annotations

import math as pymath
from collections.abc import Sequence

from xdsl.dialects.builtin import (
    AffineMapAttr,
)
from xdsl.ir import Attribute, SSAValue
from xdsl.pattern_rewriter import (
    PatternRewriter,
    RewritePattern,
    op_type_rewrite_pattern,
)

from dialects import graph
from dialects.graph import shape_of
from dialects.scalar_body import ScalarBody
from lowering.dims import (
    broadcast_reads,
    broadcast_sizes,
    check_equal,
)
from lowering.graph_to_tensor.emit import (
    PARALLEL,
    REDUCTION,
    Emit,
    Size,
    act_epilogue,
    act_params,
    affine_map,
    di,
    elt_type,
    identity_map,
)


def contraction(emit: Emit, lhs: SSAValue, rhs: SSAValue, lhs_map: AffineMapAttr,
                 rhs_map: AffineMapAttr, init: SSAValue, out_rank: int,
                 alpha: float = 1.0) -> SSAValue:
    """init[out] += alpha * lhs * rhs with the reduction loop last (d[out_rank])."""
    iters = [PARALLEL] * out_rank + [REDUCTION]
    out_map = affine_map(out_rank + 1, [di(i) for i in range(out_rank)])

    def body(b: ScalarBody) -> list[SSAValue]:
        a, x, acc = b.args
        if alpha != 1.0:
            a = b.binary("mul", a, b.const(alpha, a.type))
        return [b.binary("add", acc, b.binary("mul", a, x))]

    return emit.generic([lhs, rhs], [init], [lhs_map, rhs_map, out_map], iters, body)[0]


def init_from(emit: Emit, sizes: Sequence[Size], element_type: Attribute,
               c: SSAValue | None, beta: float = 1.0,
               c_map: AffineMapAttr | None = None) -> SSAValue:
    """An accumulator initialised to beta * broadcast(c), or to 0."""
    if c is None or beta == 0.0:
        return emit.fill(0.0, sizes, element_type)
    rank = len(sizes)
    dest = emit.empty(sizes, element_type)
    assert c_map is not None

    def body(b: ScalarBody) -> list[SSAValue]:
        v = b.args[0]
        if beta != 1.0:
            v = b.binary("mul", v, b.const(beta, v.type))
        return [v]

    return emit.generic([c], [dest], [c_map, identity_map(rank)], [PARALLEL] * rank, body)[0]


class MatMulPattern(RewritePattern):
    """numpy matmul (batched, broadcast batch dims, 1-D operands) + bias + act."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.MatMulOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        a, b = shape_of(op.lhs), shape_of(op.rhs)
        out_shape = shape_of(op.result)
        out_rank = len(out_shape)
        a_vec, b_vec = len(a) == 1, len(b) == 1
        batch_rank = out_rank - (0 if a_vec else 1) - (0 if b_vec else 1)
        k = out_rank  # the reduction loop
        m_dim = batch_rank
        n_dim = batch_rank + (0 if a_vec else 1)
        n_loops = out_rank + 1

        # batch dims broadcast like an elementwise op (views for run-time 1s)
        tails = [1 if a_vec else 2, 1 if b_vec else 2]
        batch_sizes, checked = broadcast_sizes(emit, [op.lhs, op.rhs], out_shape[:batch_rank],
                                               op.result, tails)
        lhs_read, rhs_read = broadcast_reads(emit, [op.lhs, op.rhs], batch_sizes, checked,
                                             num_loops=n_loops, tails=tails)
        lhs_tail = [di(k)] if a_vec else [di(m_dim), di(k)]
        rhs_tail = [di(k)] if b_vec else [di(k), di(n_dim)]
        lhs_map = affine_map(n_loops, [*lhs_read.map.data.results, *lhs_tail])
        rhs_map = affine_map(n_loops, [*rhs_read.map.data.results, *rhs_tail])
        sizes: list[Size] = list(batch_sizes)
        if not a_vec:
            sizes.append(emit.size(op.lhs, len(a) - 2))
        if not b_vec:
            sizes.append(emit.size(op.rhs, len(b) - 1))
        check_equal(emit, emit.size(op.lhs, len(a) - 1),
                    emit.size(op.rhs, len(b) - (1 if b_vec else 2)),
                    "the contracted dims differ: {0} in operand 0, {1} in operand 1")

        elt = elt_type(op.result)
        bias, bias_map = None, None
        if op.bias is not None:
            (read,) = broadcast_reads(emit, [op.bias], sizes)
            bias, bias_map = read.value, read.map
        init = init_from(emit, sizes, elt, bias, 1.0, bias_map)
        res = contraction(emit, lhs_read.value, rhs_read.value, lhs_map, rhs_map, init,
                           out_rank)
        rewriter.replace(op, [], [act_epilogue(emit, res, op.act,
                                                params=act_params(op))])


class GemmPattern(RewritePattern):
    """act(alpha * op(A) @ op(B) + beta * C): C seeds the accumulator."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.GemmOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        ta, tb = bool(op.trans_a.value.data), bool(op.trans_b.value.data)
        alpha, beta = op.alpha.value.data, op.beta.value.data
        m, n, k = di(0), di(1), di(2)
        lhs_map = affine_map(3, [k, m] if ta else [m, k])
        rhs_map = affine_map(3, [n, k] if tb else [k, n])
        sizes = [emit.size(op.a, 1 if ta else 0), emit.size(op.b, 0 if tb else 1)]
        c, c_map = None, None
        if op.c is not None:
            (read,) = broadcast_reads(emit, [op.c], sizes)
            c, c_map = read.value, read.map
        elt = elt_type(op.result)
        if pymath.isfinite(alpha):
            init = init_from(emit, sizes, elt, c, beta, c_map)
            res = contraction(emit, op.a, op.b, lhs_map, rhs_map, init, 2, alpha)
        else:
            # alpha * (A @ B) as ONNX defines it: per product, inf * 0 would be nan
            res = contraction(emit, op.a, op.b, lhs_map, rhs_map,
                               emit.fill(0.0, sizes, elt), 2)
            res = _scale_add(emit, res, alpha, c, beta, c_map)
        rewriter.replace(op, [], [act_epilogue(emit, res, op.act,
                                                params=act_params(op))])


def _scale_add(emit: Emit, x: SSAValue, alpha: float, c: SSAValue | None, beta: float,
               c_map: AffineMapAttr | None) -> SSAValue:
    """alpha * x (+ beta * c) in one elementwise generic."""
    sizes = emit.sizes(x)
    rank = len(sizes)
    ins = [x] + ([c] if c is not None and beta != 0.0 else [])
    maps = [identity_map(rank)] + ([c_map] if len(ins) == 2 else [])  # type: ignore[list-item]

    def body(b: ScalarBody) -> list[SSAValue]:
        y = b.binary("mul", b.args[0], b.const(alpha, b.args[0].type))
        if len(ins) == 2:
            y = b.binary("add", y, b.binary("mul", b.args[1], b.const(beta, y.type)))
        return [y]

    dest = emit.empty(sizes, elt_type(x))
    return emit.generic(ins, [dest], [*maps, identity_map(rank)], [PARALLEL] * rank, body)[0]


class EinsumPattern(RewritePattern):
    """One generic: a loop per letter (output letters parallel, the rest reductions),
    each operand read through its subscripts (a repeated letter reads a diagonal)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.EinsumOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        terms, out = graph.parse_einsum(op.equation.data)
        inputs = list(op.inputs)
        summed = sorted(set("".join(terms)) - set(out))
        letters = [*out, *summed]
        dim = {c: i for i, c in enumerate(letters)}
        n = len(letters)
        elt = elt_type(op.result)
        sizes: list[Size] = []
        for c in out:
            term_i, v = next((t, v) for t, v in zip(terms, inputs, strict=True) if c in t)
            sizes.append(emit.size(v, term_i.index(c)))
        maps = [affine_map(n, [di(dim[c]) for c in t]) for t in terms]
        out_map = affine_map(n, [di(dim[c]) for c in out])

        def body(b: ScalarBody) -> list[SSAValue]:
            prod = b.args[0]
            for v in b.args[1:len(inputs)]:
                prod = b.binary("mul", prod, v)
            return [b.binary("add", b.args[len(inputs)], prod)]

        init = emit.fill(0, sizes, elt)
        res = emit.generic(inputs, [init], [*maps, out_map],
                           [PARALLEL] * len(out) + [REDUCTION] * len(summed), body)
        rewriter.replace(op, [], res)
