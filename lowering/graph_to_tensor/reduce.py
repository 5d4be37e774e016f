"""convert-graph-to-tensor patterns: reductions (graph.reduce, graph.arg_reduce)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xdsl.dialects import arith, math, tensor
from xdsl.dialects.builtin import (
    AffineMapAttr,
    AnyFloat,
    IndexType,
    IntegerType,
)
from xdsl.ir import Attribute, SSAValue
from xdsl.ir.affine import AffineExpr
from xdsl.pattern_rewriter import (
    PatternRewriter,
    RewritePattern,
    op_type_rewrite_pattern,
)

from dialects import graph
from dialects.graph import ints, shape_of
from dialects.scalar_body import ScalarBody
from lowering.graph_to_tensor.emit import (
    PARALLEL,
    REDUCTION,
    Emit,
    Size,
    affine_map,
    assert_,
    di,
    elt_type,
    fail,
    identity_map,
)
from lowering.graph_to_tensor.shape import reshape_copy

# --------------------------------------------------------------------------- reductions, NN ops
# graph.reduce / arg_reduce, log_softmax / hardmax, lp_pool, lrn, einsum, conv_transpose.
# Scalar rules are element-type generic: floats, signed integers, unsigned integers and i1
# (bool, compared unsigned).


def _is_unsigned(t: Attribute) -> bool:
    return graph.is_unsigned(t)


def _int_limit(t: IntegerType, top: bool) -> int:
    """The largest (`top`) or smallest value of integer type `t` as a signless constant."""
    w = t.width.data
    if _is_unsigned(t):
        return (1 << w) - 1 if top else 0
    return (1 << (w - 1)) - 1 if top else -(1 << (w - 1))


def identity_of(kind: str, t: Attribute) -> float | int:
    """The starting accumulator of a reduction `kind` over element type `t`."""
    if kind == "prod":
        return 1
    if kind in ("max", "min"):
        if isinstance(t, AnyFloat):
            return float("-inf") if kind == "max" else float("inf")
        assert isinstance(t, IntegerType)
        return _int_limit(t, top=kind == "min")
    return 0


def r_combine(b: ScalarBody, kind: str, acc: SSAValue, v: SSAValue) -> SSAValue:
    """acc (+ | * | max | min) v for the reduction `kind`."""
    t = v.type
    if kind == "prod":
        return b.binary("mul", acc, v)
    if kind in ("max", "min"):
        if isinstance(t, AnyFloat):
            return b.add((arith.MaximumfOp if kind == "max" else arith.MinimumfOp)(acc, v))
        if _is_unsigned(t):
            return b.add((arith.MaxUIOp if kind == "max" else arith.MinUIOp)(acc, v))
        return b.add((arith.MaxSIOp if kind == "max" else arith.MinSIOp)(acc, v))
    return b.binary("add", acc, v)


def _r_abs(b: ScalarBody, v: SSAValue) -> SSAValue:
    if isinstance(v.type, AnyFloat):
        return b.add(math.AbsFOp(v))
    if _is_unsigned(v.type):
        return v
    neg = b.add(arith.SubiOp(b.const(0, v.type), v))
    return b.select(b.cmp("slt", v, b.const(0, v.type)), neg, v)


def _r_element(b: ScalarBody, kind: str, v: SSAValue) -> SSAValue:
    """The per-element term of a reduction: |x| (l1), x^2 (l2, sum_square), else x."""
    if kind == "l1":
        return _r_abs(b, v)
    if kind in ("l2", "sum_square"):
        return b.binary("mul", v, v)
    return v


def _r_div(b: ScalarBody, a: SSAValue, d: SSAValue) -> SSAValue:
    if isinstance(a.type, AnyFloat):
        return b.add(arith.DivfOp(a, d))
    return b.add((arith.DivUIOp if _is_unsigned(a.type) else arith.DivSIOp)(a, d))


def _size_as(emit: Emit, size: Size, t: Attribute) -> SSAValue:
    """An index size as a scalar of element type `t`."""
    if isinstance(size, int):
        return emit.scalar(float(size) if isinstance(t, AnyFloat) else size, t)
    as_int = emit(arith.IndexCastOp(size, IntegerType(64)))
    if isinstance(t, AnyFloat):
        return emit(arith.SIToFPOp(as_int, t))
    return emit(arith.IndexCastOp(size, t))


@dataclass
class _ReduceLoops:
    """The loop structure of a reduction of `x`.

    Static axes: one loop per input dim, reduction iterators on the axes, `x` read through
    the identity map and the accumulator through `out_map`. Run-time axes: loops over the
    (keepdims-shaped) result then over a `window` whose dim i has size n_i on reduced dims
    and 1 elsewhere, so that `x[o + w]` walks exactly the reduced elements.
    """

    x: SSAValue
    n_loops: int
    iterators: list[Attribute]
    out_map: AffineMapAttr
    out_sizes: list[Size]
    count: Size
    window: SSAValue | None = None

    def generic(self, emit: Emit, extra: Sequence[SSAValue], inits: Sequence[SSAValue],
                body: Callable[[ScalarBody, SSAValue, Sequence[SSAValue], Sequence[SSAValue]],
                               list[SSAValue]]) -> list[SSAValue]:
        """A reduction generic: `extra` are accumulator-shaped inputs; `body` gets the
        element of x, the extra values and the accumulators, returns new accumulators."""
        rank = len(shape_of(self.x))
        elt = elt_type(self.x)
        n_extra = len(extra)
        if self.window is None:
            ins = [self.x, *extra]
            maps = [identity_map(rank), *[self.out_map] * n_extra]
        else:
            ins = [self.window, *extra]
            maps = [affine_map(self.n_loops, [di(rank + i) for i in range(rank)]),
                    *[self.out_map] * n_extra]

        def wrapped(b: ScalarBody) -> list[SSAValue]:
            if self.window is None:
                xv = b.args[0]
            else:
                read = [b.add(arith.AddiOp(b.linalg_index(i), b.linalg_index(rank + i)))
                        for i in range(rank)]
                xv = b.add(tensor.ExtractOp(self.x, read, elt))
            return body(b, xv, b.args[1:1 + n_extra], b.args[1 + n_extra:])

        return emit.generic(ins, list(inits), [*maps, *[self.out_map] * len(inits)],
                            self.iterators, wrapped)


def static_reduce_loops(emit: Emit, x: SSAValue, axes: Sequence[int],
                         keepdims: bool) -> _ReduceLoops:
    rank = len(shape_of(x))
    sizes = emit.sizes(x)
    exprs: list[AffineExpr] = []
    out_sizes: list[Size] = []
    count: Size = 1
    for i in range(rank):
        if i in axes:
            count = emit.mul(count, sizes[i])
            if keepdims:
                exprs.append(AffineExpr.constant(0))
                out_sizes.append(1)
        else:
            exprs.append(di(i))
            out_sizes.append(sizes[i])
    iters = [REDUCTION if i in axes else PARALLEL for i in range(rank)]
    return _ReduceLoops(x, rank, iters, affine_map(rank, exprs), out_sizes, count)


def _runtime_axes_flags(emit: Emit, axes: SSAValue, rank: int,
                        name: str = "graph.reduce") -> list[SSAValue]:
    """Per input dim, an i1 `dim is listed in axes` (negative axes count from the end);
    axes out of range or listed twice fail run-time checks."""
    values = []
    for j in range(shape_of(axes)[0]):
        a = emit(tensor.ExtractOp(axes, [emit.index(j)], elt_type(axes)))
        a = emit(arith.IndexCastOp(a, IndexType()))
        wrapped = emit(arith.AddiOp(a, emit.index(rank)))
        a = emit(arith.SelectOp(emit(arith.CmpiOp(a, emit.index(0), "slt")), wrapped, a))
        in_range = emit(arith.AndIOp(emit(arith.CmpiOp(a, emit.index(0), "sge")),
                                     emit(arith.CmpiOp(a, emit.index(rank), "slt"))))
        assert_(emit, in_range, f"{name}: an axis is out of range for rank {rank}")
        values.append(a)
    flags = []
    listed: Size = 0
    for i in range(rank):
        flag: SSAValue | None = None
        for a in values:
            eq = emit(arith.CmpiOp(a, emit.index(i), "eq"))
            flag = eq if flag is None else emit(arith.OrIOp(flag, eq))
        assert flag is not None
        flags.append(flag)
        listed = emit.add(listed, emit(arith.SelectOp(flag, emit.index(1), emit.index(0))))
    distinct = emit(arith.CmpiOp(emit.value(listed), emit.index(len(values)), "eq"))
    assert_(emit, distinct, f"{name}: the axes must be distinct")
    return flags


def _runtime_reduce_loops(emit: Emit, x: SSAValue,
                          flags: Sequence[SSAValue]) -> _ReduceLoops:
    rank = len(shape_of(x))
    sizes = emit.sizes(x)
    one = emit.index(1)
    out_sizes: list[Size] = []
    win_sizes: list[Size] = []
    count: Size = 1
    for i in range(rank):
        if sizes[i] == 1:
            out_sizes.append(1)
            win_sizes.append(1)
            continue
        n = emit.value(sizes[i])
        out_sizes.append(emit(arith.SelectOp(flags[i], one, n)))
        win_sizes.append(emit(arith.SelectOp(flags[i], n, one)))
        count = emit.mul(count, win_sizes[-1])
    window = emit.empty(win_sizes, elt_type(x))
    iters = [PARALLEL] * rank + [REDUCTION] * rank
    return _ReduceLoops(x, 2 * rank, iters, affine_map(2 * rank, [di(i) for i in range(rank)]),
                        out_sizes, count, window)


def _drop_reduced_dims(emit: Emit, value: SSAValue, flags: Sequence[SSAValue],
                       out_type: Attribute) -> SSAValue:
    """Remove the (run-time chosen) reduced size-1 dims of a keepdims-shaped result."""
    sizes = [emit.value(s) for s in emit.sizes(value)]
    rank = len(sizes)
    out_rank = len(shape_of(out_type))
    if all(d == 1 for d in shape_of(out_type)):
        return reshape_copy(emit, value, [1] * out_rank)
    one, zero = emit.index(1), emit.index(0)
    kept = [emit(arith.XOrIOp(f, emit(arith.ConstantOp.from_int_and_width(1, 1))))
            for f in flags]
    position: list[SSAValue] = []
    seen = zero
    for i in range(rank):
        position.append(seen)
        seen = emit(arith.AddiOp(seen, emit(arith.SelectOp(kept[i], one, zero))))
    out_sizes: list[Size] = []
    for j in range(out_rank):
        size = one
        for i in range(rank):
            here = emit(arith.AndIOp(kept[i], emit(arith.CmpiOp(position[i], emit.index(j),
                                                                "eq"))))
            size = emit(arith.SelectOp(here, sizes[i], size))
        out_sizes.append(size)
    return reshape_copy(emit, value, out_sizes)


class ReducePattern(RewritePattern):
    """graph.reduce: a reduction generic into a filled accumulator, then (for mean, l2,
    log_sum, log_sum_exp) one elementwise generic; log_sum_exp subtracts a max-reduce
    first. Run-time axes reduce over a data-dependent window (see _ReduceLoops)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ReduceOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        kind = op.kind.data
        x = op.input
        elt = elt_type(x)
        keepdims = bool(op.keepdims.value.data)
        if kind in ("l2", "log_sum", "log_sum_exp") and not isinstance(elt, AnyFloat):
            raise fail(op, f"reduction '{kind}' needs a floating-point element type")
        flags: list[SSAValue] = []
        if op.axes_input is None:
            loops = static_reduce_loops(emit, x, ints(op.axes), keepdims)
        else:
            flags = _runtime_axes_flags(emit, op.axes_input, len(shape_of(x)))
            loops = _runtime_reduce_loops(emit, x, flags)
        acc_kind = "sum" if kind in ("mean", "l1", "l2", "log_sum", "log_sum_exp",
                                     "sum_square") else kind
        shift: SSAValue | None = None
        if kind == "log_sum_exp":
            mx = loops.generic(emit, [], [emit.fill(float("-inf"), loops.out_sizes, elt)],
                               lambda b, v, e, acc: [r_combine(b, "max", acc[0], v)])[0]

            def exp_term(b: ScalarBody, v: SSAValue, e: Sequence[SSAValue],
                         acc: Sequence[SSAValue]) -> list[SSAValue]:
                m = _lse_shift(b, e[0])
                return [b.binary("add", acc[0], b.add(math.ExpOp(b.binary("sub", v, m))))]

            shift = mx
            total = loops.generic(emit, [mx], [emit.fill(0.0, loops.out_sizes, elt)],
                                  exp_term)[0]
        else:
            init = emit.fill(identity_of(acc_kind, elt), loops.out_sizes, elt)
            total = loops.generic(
                emit, [], [init],
                lambda b, v, e, acc: [r_combine(b, acc_kind, acc[0], _r_element(b, kind, v))])[0]
        result = self._finish(emit, kind, total, shift, loops.count, loops.out_sizes)
        if op.axes_input is not None and not keepdims:
            result = _drop_reduced_dims(emit, result, flags, op.result.type)
        rewriter.replace(op, [], [result])

    @staticmethod
    def _finish(emit: Emit, kind: str, total: SSAValue, shift: SSAValue | None,
                count: Size, sizes: Sequence[Size]) -> SSAValue:
        if kind not in ("mean", "l2", "log_sum", "log_sum_exp"):
            return total
        elt = elt_type(total)
        rank = len(sizes)
        ins = [total] + ([shift] if shift is not None else [])
        denom = _size_as(emit, count, elt) if kind == "mean" else None

        def body(b: ScalarBody) -> list[SSAValue]:
            v = b.args[0]
            if kind == "mean":
                assert denom is not None
                return [_r_div(b, v, denom)]
            if kind == "l2":
                return [b.add(math.SqrtOp(v))]
            log = b.add(math.LogOp(v))
            if kind == "log_sum":
                return [log]
            return [b.binary("add", log, _lse_shift(b, b.args[1]))]

        dest = emit.empty(list(sizes), elt)
        return emit.generic(ins, [dest], [identity_map(rank)] * (len(ins) + 1),
                            [PARALLEL] * rank, body)[0]


def _lse_shift(b: ScalarBody, m: SSAValue) -> SSAValue:
    """The max used to shift log-sum-exp, 0 when it is infinite: -inf (all -inf, or empty)
    or +inf (then exp(x - m) would be exp(inf - inf) = nan, not the inf of the sum)."""
    inf = b.const(float("inf"), m.type)
    is_inf = b.add(arith.CmpfOp(b.add(math.AbsFOp(m)), inf, "oeq"))
    return b.select(is_inf, b.const(0.0, m.type), m)


def is_better(b: ScalarBody, kind: str, last: bool, v: SSAValue, best: SSAValue) -> SSAValue:
    """v beats the best so far: > (argmax) or < (argmin); >= / <= to keep the last tie."""
    if isinstance(v.type, AnyFloat):
        pred = {("max", False): "ogt", ("max", True): "oge",
                ("min", False): "olt", ("min", True): "ole"}[(kind, last)]
        return b.add(arith.CmpfOp(v, best, pred))
    u = "u" if _is_unsigned(v.type) else "s"
    pred = {("max", False): "gt", ("max", True): "ge",
            ("min", False): "lt", ("min", True): "le"}[(kind, last)]
    return b.cmp(u + pred, v, best)


def arg_reduce(emit: Emit, x: SSAValue, axis: int, kind: str, last: bool,
                keepdims: bool) -> SSAValue:
    """The i64 index of the max/min of `x` along `axis` (one reduction generic)."""
    loops = static_reduce_loops(emit, x, [axis], keepdims)
    elt = elt_type(x)
    vals = emit.fill(identity_of(kind, elt), loops.out_sizes, elt)
    idx = emit.fill(0, loops.out_sizes, IntegerType(64))

    def body(b: ScalarBody, v: SSAValue, e: Sequence[SSAValue],
             acc: Sequence[SSAValue]) -> list[SSAValue]:
        i = b.add(arith.IndexCastOp(b.linalg_index(axis), IntegerType(64)))
        better = is_better(b, kind, last, v, acc[0])
        return [b.select(better, v, acc[0]), b.select(better, i, acc[1])]

    return loops.generic(emit, [], [vals, idx], body)[1]


class ArgReducePattern(RewritePattern):
    """graph.arg_reduce: (best value, best index) accumulated in one reduction generic."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ArgReduceOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        res = arg_reduce(emit, op.input, op.axis.value.data, op.kind.data,
                          bool(op.select_last_index.value.data),
                          bool(op.keepdims.value.data))
        rewriter.replace(op, [], [res])
