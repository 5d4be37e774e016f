"""convert-graph-to-tensor patterns: normalizations, softmax-likes, dropout."""

from __future__ import annotations

from xdsl.dialects import arith, math, tensor
from xdsl.dialects.builtin import (
    IntegerType,
)
from xdsl.ir import SSAValue
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
)
from lowering.graph_to_tensor.emit import (
    PARALLEL,
    REDUCTION,
    Emit,
    Size,
    affine_map,
    assert_,
    di,
    elt_type,
    identity_map,
)
from lowering.graph_to_tensor.reduce import arg_reduce, r_combine, static_reduce_loops


class BatchNormPattern(RewritePattern):
    """(x - mean) / sqrt(var + eps) * scale + bias, per channel (dim 1)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.BatchNormOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        rank = len(shape_of(op.input))
        elt = elt_type(op.input)
        eps = op.epsilon.value.data
        dest = emit.empty(emit.sizes(op.input), elt)
        chan = affine_map(rank, [di(1)])

        def body(b: ScalarBody) -> list[SSAValue]:
            x, scale, bias, mean, var = b.args[:5]
            denom = b.add(math.SqrtOp(b.binary("add", var, b.const(eps, elt))))
            y = b.binary("div", b.binary("sub", x, mean), denom)
            return [b.binary("add", b.binary("mul", y, scale), bias)]

        res = emit.generic([op.input, op.scale, op.bias, op.mean, op.var], [dest],
                           [identity_map(rank), chan, chan, chan, chan, identity_map(rank)],
                           [PARALLEL] * rank, body)
        rewriter.replace(op, [], res)


class SoftmaxPattern(RewritePattern):
    """Numerically stable softmax: max-reduce, sum of exp(x - max), divide."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.SoftmaxOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        x = op.input
        axis = op.axis.value.data
        rank = len(shape_of(x))
        elt = elt_type(x)
        sizes = emit.sizes(x)
        red_sizes = sizes[:axis] + sizes[axis + 1:]
        ident = identity_map(rank)
        red_map = affine_map(rank, [di(i) for i in range(rank) if i != axis])
        iters = [REDUCTION if i == axis else PARALLEL for i in range(rank)]

        mx = emit.generic([x], [emit.fill(float("-inf"), red_sizes, elt)], [ident, red_map],
                          iters, lambda b: [b.binary("max", b.args[1], b.args[0])])[0]

        def exp_sum(b: ScalarBody) -> list[SSAValue]:
            e = b.add(math.ExpOp(b.binary("sub", b.args[0], b.args[1])))
            return [b.binary("add", b.args[2], e)]

        total = emit.generic([x, mx], [emit.fill(0.0, red_sizes, elt)],
                             [ident, red_map, red_map], iters, exp_sum)[0]

        def normalize(b: ScalarBody) -> list[SSAValue]:
            e = b.add(math.ExpOp(b.binary("sub", b.args[0], b.args[1])))
            return [b.binary("div", e, b.args[2])]

        res = emit.generic([x, mx, total], [emit.empty(sizes, elt)],
                           [ident, red_map, red_map, ident], [PARALLEL] * rank, normalize)
        rewriter.replace(op, [], res)


class LogSoftmaxPattern(RewritePattern):
    """x - max - log(sum(exp(x - max))) along the axis."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.LogSoftmaxOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        x = op.input
        axis = op.axis.value.data
        rank = len(shape_of(x))
        elt = elt_type(x)
        loops = static_reduce_loops(emit, x, [axis], False)
        mx = loops.generic(emit, [], [emit.fill(float("-inf"), loops.out_sizes, elt)],
                           lambda b, v, e, acc: [r_combine(b, "max", acc[0], v)])[0]
        total = loops.generic(
            emit, [mx], [emit.fill(0.0, loops.out_sizes, elt)],
            lambda b, v, e, acc: [b.binary("add", acc[0], b.add(math.ExpOp(
                b.binary("sub", v, e[0]))))])[0]

        def body(b: ScalarBody) -> list[SSAValue]:
            shifted = b.binary("sub", b.args[0], b.args[1])
            return [b.binary("sub", shifted, b.add(math.LogOp(b.args[2])))]

        res = emit.generic([x, mx, total], [emit.empty(emit.sizes(x), elt)],
                           [identity_map(rank), loops.out_map, loops.out_map, identity_map(rank)],
                           [PARALLEL] * rank, body)
        rewriter.replace(op, [], res)


class HardmaxPattern(RewritePattern):
    """1 at the first maximum along the axis: an argmax, then a compare with the index."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.HardmaxOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        x = op.input
        axis = op.axis.value.data
        rank = len(shape_of(x))
        elt = elt_type(x)
        idx = arg_reduce(emit, x, axis, "max", False, False)
        red_map = affine_map(rank, [di(i) for i in range(rank) if i != axis])

        def body(b: ScalarBody) -> list[SSAValue]:
            i = b.add(arith.IndexCastOp(b.linalg_index(axis), IntegerType(64)))
            hit = b.cmp("eq", i, b.args[0])
            return [b.select(hit, b.const(1, elt), b.const(0, elt))]

        res = emit.generic([idx], [emit.empty(emit.sizes(x), elt)],
                           [red_map, identity_map(rank)], [PARALLEL] * rank, body)
        rewriter.replace(op, [], res)


class LRNPattern(RewritePattern):
    """Sum of squares over a channel window (a reduction over a `size` window operand,
    out-of-range channels masked), then x / (bias + alpha / size * sum) ^ beta."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.LRNOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        x = op.input
        rank = len(shape_of(x))
        elt = elt_type(x)
        size = op.size.value.data
        alpha, beta, bias = op.alpha.value.data, op.beta.value.data, op.bias.value.data
        sizes = emit.sizes(x)
        channels = sizes[1]
        lo = (size - 1) // 2
        window = emit.empty([size], elt)

        def body(b: ScalarBody) -> list[SSAValue]:
            idx = [b.linalg_index(i) for i in range(rank)]
            c = b.add(arith.AddiOp(idx[1], b.linalg_index(rank)))
            if lo:
                c = b.add(arith.SubiOp(c, b.index(lo)))
            hi = b.index(channels) if isinstance(channels, int) else channels
            v = b.add(tensor.ExtractOp(x, [idx[0], b.clamp(c, hi), *idx[2:]], elt))
            v = b.select(b.in_range(c, b.index(0), hi), b.binary("mul", v, v),
                         b.const(0.0, elt))
            return [b.binary("add", b.args[1], v)]

        total = emit.generic([window], [emit.fill(0.0, sizes, elt)],
                             [affine_map(rank + 1, [di(rank)]),
                              affine_map(rank + 1, [di(i) for i in range(rank)])],
                             [PARALLEL] * rank + [REDUCTION], body)[0]

        def scale(b: ScalarBody) -> list[SSAValue]:
            s = b.binary("mul", b.args[1], b.const(alpha / size, elt))
            base = b.binary("add", s, b.const(bias, elt))
            return [b.binary("div", b.args[0],
                             b.add(math.PowFOp(base, b.const(beta, elt))))]

        res = emit.generic([x, total], [emit.empty(sizes, elt)], [identity_map(rank)] * 3,
                           [PARALLEL] * rank, scale)
        rewriter.replace(op, [], res)


# --------------------------------------------------------------------------- optimizer ops


class LayerNormPattern(RewritePattern):
    """Sum, centered sum of squares (two reduction generics), then one normalizing generic."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.LayerNormOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        x = op.input
        shape = shape_of(x)
        rank, axis = len(shape), op.axis.value.data
        elt = elt_type(x)
        sizes = emit.sizes(x)
        count: Size = 1
        for size in sizes[axis:]:
            count = emit.mul(count, size)
        if isinstance(count, int):
            inv = emit.scalar(1.0 / count, elt)
        else:
            as_float = emit(arith.SIToFPOp(emit(arith.IndexCastOp(count, IntegerType(64))),
                                           elt))
            inv = emit(arith.DivfOp(emit.scalar(1.0, elt), as_float))
        eps = op.epsilon.value.data
        ident = identity_map(rank)
        red_map = affine_map(rank, [di(i) for i in range(axis)])
        iters = [PARALLEL] * axis + [REDUCTION] * (rank - axis)
        total = emit.generic([x], [emit.fill(0.0, sizes[:axis], elt)], [ident, red_map],
                             iters, lambda b: [b.binary("add", b.args[1], b.args[0])])[0]

        def square_sum(b: ScalarBody) -> list[SSAValue]:
            centered = b.binary("sub", b.args[0], b.binary("mul", b.args[1], inv))
            return [b.binary("add", b.args[2], b.binary("mul", centered, centered))]

        squares = emit.generic([x, total], [emit.fill(0.0, sizes[:axis], elt)],
                               [ident, red_map, red_map], iters, square_sum)[0]
        ins = [x, total, squares]
        maps = [ident, red_map, red_map]
        for v in (op.scale, op.bias):
            if v is not None:
                (read,) = broadcast_reads(emit, [v], sizes[axis:], num_loops=rank,
                                          first_loop=axis)
                ins.append(read.value)
                maps.append(read.map)
        has_scale, has_bias = op.scale is not None, op.bias is not None

        def normalize(b: ScalarBody) -> list[SSAValue]:
            xv, tot, sq = b.args[:3]
            var = b.binary("mul", sq, inv)
            std = b.add(math.SqrtOp(b.binary("add", var, b.const(eps, elt))))
            y = b.binary("div", b.binary("sub", xv, b.binary("mul", tot, inv)), std)
            rest = list(b.args[3:-1])
            if has_scale:
                y = b.binary("mul", y, rest.pop(0))
            if has_bias:
                y = b.binary("add", y, rest.pop(0))
            return [y]

        res = emit.generic(ins, [emit.empty(sizes, elt)], [*maps, ident], [PARALLEL] * rank,
                           normalize)
        rewriter.replace(op, [], res)


class DropoutPattern(RewritePattern):
    """output = input, mask = all true; a run-time training flag with a ratio other than
    0 fails a `cf.assert`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.DropoutOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        if op.training is not None:
            i1 = IntegerType(1)
            training = emit(tensor.ExtractOp(op.training, [], i1))
            ok = emit(arith.XOrIOp(training, emit(arith.ConstantOp.from_int_and_width(1, i1))))
            if op.ratio is not None:
                ratio = emit(tensor.ExtractOp(op.ratio, [], elt_type(op.ratio)))
                zero = emit.scalar(0.0, elt_type(op.ratio))
                ok = emit(arith.OrIOp(ok, emit(arith.CmpfOp(ratio, zero, "oeq"))))
            assert_(emit, ok, "Dropout: training mode with a ratio other than 0 draws random "
                    "masks, which Kiln does not support")
        mask = emit.fill(1, emit.sizes(op.input), IntegerType(1))
        rewriter.replace(op, [], [op.input, mask])
