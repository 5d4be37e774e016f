"""convert-graph-to-tensor patterns: the data-movement ops (gather, pad, resize, ...)."""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects import arith, math, tensor
from xdsl.dialects.builtin import (
    AnyFloat,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    f32,
    f64,
)
from xdsl.dialects.linalg.ops import FillOp
from xdsl.ir import Operation, SSAValue
from xdsl.ir.affine import AffineExpr
from xdsl.pattern_rewriter import (
    PatternRewriter,
    RewritePattern,
    op_type_rewrite_pattern,
)

from dialects import graph
from dialects.graph import ints, shape_of
from dialects.graph.elementwise_table import cast_scalar
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
from lowering.graph_to_tensor.shape import Ix, read_vector, static_or, vector_len


def _combine(b: ScalarBody, kind: str, acc: SSAValue, value: SSAValue) -> SSAValue:
    """A scatter reduction of `value` into `acc`."""
    if kind == "none":
        return value
    if kind in ("add", "mul", "max"):
        return b.binary(kind, acc, value)
    if isinstance(acc.type, AnyFloat):
        return b.add(arith.MinimumfOp(acc, value))
    return b.add(arith.MinSIOp(acc, value))


def _check_indices(emit: Emit, indices: SSAValue, bound: Size, what: str,
                   components: int | None = None, bounds: Sequence[Size] = ()) -> None:
    """cf.assert that every index lies in [-bound, bound) (per last-dim component when
    `bounds` is given), counting violations in one reduction generic."""
    shape = shape_of(indices)
    rank = len(shape)
    i64 = IntegerType(64)
    ix = Ix(emit)
    if rank == 0:
        v = ix.read_index(indices, [])
        ok = ix.and_(ix.cmp("sge", v, ix.subi(0, bound)), ix.cmp("slt", v, bound))
        assert_(emit, ok, f"{what}: index out of range")
        return
    count = emit.fill(0, [], i64)

    def body(b: ScalarBody) -> list[SSAValue]:
        bx = Ix(b.add)
        v = bx.to_index(b.args[0])
        if bounds:
            k = b.linalg_index(rank - 1)
            n = bx.v(bounds[0])
            for j, bj in enumerate(bounds[1:], start=1):
                n = bx.sel(bx.cmp("eq", k, j), bj, n)
        else:
            n = bx.v(bound)
        ok = bx.and_(bx.cmp("sge", v, bx.subi(0, n)), bx.cmp("slt", v, n))
        bad = b.add(arith.SelectOp(ok, b.const(0, i64), b.const(1, i64)))
        return [b.add(arith.AddiOp(b.args[1], bad))]

    total = emit.generic([indices], [count], [identity_map(rank), affine_map(rank, [])],
                         [REDUCTION] * rank, body)[0]
    zero = emit(arith.ConstantOp.from_int_and_width(0, i64))
    bad = emit(tensor.ExtractOp(total, [], i64))
    assert_(emit, emit(arith.CmpiOp(bad, zero, "eq")), f"{what}: index out of range")


class GatherPattern(RewritePattern):
    """graph.gather / gather_elements / gather_nd: a generic over the output reading the
    data at (normalized, clamped) gathered indices; indices are range-checked first."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if not isinstance(op, graph.GatherOp | graph.GatherElementsOp | graph.GatherNDOp):
            return
        emit = Emit(rewriter, op)
        x, ind = op.input, op.indices
        x_sizes = emit.sizes(x)
        ind_shape = shape_of(ind)
        out_shape = shape_of(op.result)
        rank = len(out_shape)
        elt = elt_type(op.result)
        if isinstance(op, graph.GatherOp):
            axis = op.axis.value.data
            q = len(ind_shape)
            _check_indices(emit, ind, x_sizes[axis], "Gather")
            ind_sizes = emit.sizes(ind)
            sizes = [*x_sizes[:axis], *ind_sizes, *x_sizes[axis + 1:]]

            def body(b: ScalarBody) -> list[SSAValue]:
                ix = Ix(b.add)
                o = [b.linalg_index(d) for d in range(rank)]
                i = ix.read_index(ind, o[axis:axis + q])
                i = ix.safe(ix.wrap_negative(i, x_sizes[axis]), x_sizes[axis])
                return [ix.read(x, [*o[:axis], i, *o[axis + q:]])]
        elif isinstance(op, graph.GatherElementsOp):
            axis = op.axis.value.data
            _check_indices(emit, ind, x_sizes[axis], "GatherElements")
            sizes = emit.sizes(ind)
            for d in range(rank):
                if d != axis:
                    ok = Ix(emit).cmp("sle", sizes[d], x_sizes[d])
                    assert_(emit, ok, f"GatherElements: indices dim {d} exceeds the data's")

            def body(b: ScalarBody) -> list[SSAValue]:
                ix = Ix(b.add)
                o = [b.linalg_index(d) for d in range(rank)]
                i = ix.read_index(ind, o)
                i = ix.safe(ix.wrap_negative(i, x_sizes[axis]), x_sizes[axis])
                read = [i if d == axis else ix.safe(o[d], x_sizes[d]) for d in range(rank)]
                return [ix.read(x, read)]
        else:
            bd = op.batch_dims.value.data
            r = ind_shape[-1]
            q = len(ind_shape)
            _check_indices(emit, ind, 0, "GatherND", bounds=x_sizes[bd:bd + r])
            sizes = [*emit.sizes(ind)[:-1], *x_sizes[bd + r:]]

            def body(b: ScalarBody) -> list[SSAValue]:
                ix = Ix(b.add)
                o = [b.linalg_index(d) for d in range(rank)]
                batch = [ix.safe(o[d], x_sizes[d]) for d in range(bd)]
                picked = []
                for k in range(r):
                    n = x_sizes[bd + k]
                    i = ix.read_index(ind, [*o[:q - 1], k])
                    picked.append(ix.safe(ix.wrap_negative(i, n), n))
                return [ix.read(x, [*batch, *picked, *o[q - 1:]])]

        dest = emit.empty(static_or(out_shape, sizes), elt)
        res = emit.generic([], [dest], [identity_map(rank)], [PARALLEL] * rank, body)
        rewriter.replace(op, [], res)


class ScatterPattern(RewritePattern):
    """graph.scatter_nd / scatter_elements: a generic over (output, updates) that, in
    update order, combines each update into the output element it targets."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if not isinstance(op, graph.ScatterNDOp | graph.ScatterElementsOp):
            return
        emit = Emit(rewriter, op)
        x, ind, upd = op.input, op.indices, op.updates
        kind = op.reduction.data
        x_sizes = emit.sizes(x)
        rank = len(x_sizes)
        ind_shape = shape_of(ind)
        if isinstance(op, graph.ScatterNDOp):
            r = ind_shape[-1]
            nu = len(ind_shape) - 1
            _check_indices(emit, ind, 0, "ScatterND", bounds=x_sizes[:r])
            loops = rank + nu
            ind_map = affine_map(loops, [*[di(rank + i) for i in range(nu)],
                                   AffineExpr.constant(0)])

            def body(b: ScalarBody) -> list[SSAValue]:
                ix = Ix(b.add)
                o = [b.linalg_index(d) for d in range(rank)]
                u = [b.linalg_index(rank + i) for i in range(nu)]
                hits = []
                for k in range(r):
                    i = ix.read_index(ind, [*u, k])
                    hits.append(ix.cmp("eq", ix.wrap_negative(i, x_sizes[k]), o[k]))
                v = ix.read(upd, [*u, *o[r:]])
                acc = b.args[1]
                return [b.select(ix.and_(*hits), _combine(b, kind, acc, v), acc)]

            ins, maps = [ind], [ind_map]
        else:
            axis = op.axis.value.data
            _check_indices(emit, ind, x_sizes[axis], "ScatterElements")
            loops = 2 * rank
            u_map = affine_map(loops, [di(rank + i) for i in range(rank)])

            def body(b: ScalarBody) -> list[SSAValue]:
                ix = Ix(b.add)
                o = [b.linalg_index(d) for d in range(rank)]
                u = [b.linalg_index(rank + d) for d in range(rank)]
                i = ix.wrap_negative(ix.to_index(b.args[0]), x_sizes[axis])
                hits = [ix.cmp("eq", i if d == axis else u[d], o[d]) for d in range(rank)]
                acc = b.args[2]
                return [b.select(ix.and_(*hits), _combine(b, kind, acc, b.args[1]), acc)]

            ins, maps = [ind, upd], [u_map, u_map]
        out_map = affine_map(loops, [di(d) for d in range(rank)])
        iters = [PARALLEL] * rank + [REDUCTION] * (loops - rank)
        res = emit.generic(ins, [x], [*maps, out_map], iters, body)
        rewriter.replace(op, [], res)


def _expand_target(emit: Emit, op: graph.ExpandOp) -> list[Size]:
    """The target shape's entries: constants the shape analysis knows, else run-time reads
    (recorded with the analysis's symbolic value, so they compare with other dims)."""
    dims = emit.dims
    known = dims.analysis.elements_of(op.shape) if dims.trust_analysis else None
    entries: list[Size] = []
    runtime = read_vector(emit, op, op.shape) if known is None else None
    for i in range(vector_len(op, op.shape)):
        value = known[i] if known is not None else None
        c = value.as_int() if value is not None else None
        if c is not None and c >= 0:
            entries.append(c)
        elif runtime is not None:
            entries.append(runtime[i])
        else:
            s = Ix(emit).read_index(op.shape, [i] if shape_of(op.shape) else [])
            entries.append(dims.record(s, value))
    return entries


class ExpandTilePattern(RewritePattern):
    """graph.expand (two-way broadcast to a run-time shape) and graph.tile (run-time
    repeats): a generic over the output reading the input at a computed index."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if not isinstance(op, graph.ExpandOp | graph.TileOp):
            return
        emit = Emit(rewriter, op)
        ix = Ix(emit)
        x = op.input
        x_sizes = emit.sizes(x)
        out_shape = shape_of(op.result)
        rank, x_rank = len(out_shape), len(x_sizes)
        sizes: list[Size] = []
        if isinstance(op, graph.ExpandOp):
            target = _expand_target(emit, op)
            off_x, off_t = rank - x_rank, rank - len(target)
            for d in range(rank):
                n = x_sizes[d - off_x] if d >= off_x else None
                s = target[d - off_t] if d >= off_t else None
                if n is None:
                    sizes.append(s)  # type: ignore[arg-type]
                elif s is None or s == 1 or emit.dims.same(s, n):
                    sizes.append(n)
                elif isinstance(s, int) and isinstance(n, int):
                    if n not in (1, s):
                        raise fail(op, f"dim {d} of the input is {n}, which does not "
                                    f"broadcast to {s}")
                    sizes.append(s)
                else:
                    ok = ix.or_(ix.or_(ix.cmp("eq", s, n), ix.cmp("eq", s, 1)),
                                ix.cmp("eq", n, 1))
                    emit.check(ok, f"Expand: dim {d} of the input is {{0}}, which does not "
                               "broadcast to the target's {1}", [n, s])
                    sizes.append(ix.sel(ix.cmp("eq", n, 1), s, n))
            for size, expr in zip(sizes, emit.dims.analysis.dims_of(op.result) or (),
                                  strict=False):
                emit.dims.record(size, expr)
        else:
            repeats = read_vector(emit, op, op.repeats)
            for d in range(rank):
                assert_(emit, ix.cmp("sge", repeats[d], 0), "Tile: a repeat is negative")
                sizes.append(emit.mul(x_sizes[d], repeats[d]))
        is_tile = isinstance(op, graph.TileOp)

        def body(b: ScalarBody) -> list[SSAValue]:
            bx = Ix(b.add)
            read = []
            for d in range(x_rank):
                o = b.linalg_index(d + rank - x_rank)
                n = x_sizes[d]
                if is_tile:
                    read.append(bx.safe(bx.remi(o, bx.maxi(n, 1)), n))
                else:
                    read.append(bx.safe(bx.sel(bx.cmp("eq", n, 1), 0, o), n))
            return [bx.read(x, read)]

        what = "Expand" if isinstance(op, graph.ExpandOp) else "Tile"
        dest = emit.empty(static_or(out_shape, sizes, emit, what), elt_type(x))
        res = emit.generic([], [dest], [identity_map(rank)], [PARALLEL] * rank, body)
        rewriter.replace(op, [], res)


class PadPattern(RewritePattern):
    """graph.pad: constant/reflect/edge/wrap with run-time pads (negative pads crop)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.PadOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        ix = Ix(emit)
        x = op.input
        x_sizes = emit.sizes(x)
        rank = len(x_sizes)
        pads = read_vector(emit, op, op.pads)
        axes_in = read_vector(emit, op, op.axes)
        mode = op.mode.data
        begins: list[Size] = [0] * rank
        ends: list[Size] = [0] * rank
        for k, a in enumerate(axes_in):
            assert_(emit, ix.and_(ix.cmp("sge", a, -rank), ix.cmp("slt", a, rank)),
                    f"Pad: an axis is out of range for rank {rank}")
            a = ix.wrap_negative(a, rank)
            for d in range(rank):
                hit = ix.cmp("eq", a, d)
                begins[d] = ix.sel(hit, pads[k], begins[d])
                ends[d] = ix.sel(hit, pads[len(axes_in) + k], ends[d])
        sizes: list[Size] = list(x_sizes)
        axes = list(range(rank)) if axes_in else []
        for a in axes:
            sizes[a] = ix.addi(ix.addi(x_sizes[a], begins[a]), ends[a])
            assert_(emit, ix.cmp("sge", sizes[a], 0), f"Pad: dim {a} would be negative")
            if mode != "constant":
                assert_(emit, ix.or_(ix.cmp("sgt", x_sizes[a], 0), ix.cmp("eq", sizes[a], 0)),
                        f"Pad: {mode} padding of an empty dim {a}")
        elt = elt_type(x)
        value = ix.read(op.value, []) if mode == "constant" else None

        def body(b: ScalarBody) -> list[SSAValue]:
            bx = Ix(b.add)
            read, valid = [], []
            for d in range(rank):
                n = x_sizes[d]
                i = b.linalg_index(d)
                if d not in axes:
                    read.append(i)
                    continue
                i = bx.subi(i, begins[d])
                if mode == "constant":
                    valid.append(bx.and_(bx.cmp("sge", i, 0), bx.cmp("slt", i, n)))
                elif mode == "wrap":
                    i = bx.floormod(i, bx.maxi(n, 1))
                elif mode == "reflect":
                    period = bx.maxi(bx.muli(bx.subi(n, 1), 2), 1)
                    m = bx.floormod(i, period)
                    i = bx.sel(bx.cmp("slt", m, n), m, bx.subi(period, m))
                read.append(bx.safe(i, n))
            v = bx.read(x, read)
            if valid:
                assert value is not None
                v = b.select(bx.and_(*valid), v, value)
            return [v]

        dest = emit.empty(static_or(shape_of(op.result), sizes, emit, "Pad"), elt)
        res = emit.generic([], [dest], [identity_map(rank)], [PARALLEL] * rank, body)
        rewriter.replace(op, [], res)


class RangePattern(RewritePattern):
    """graph.range: n = max(ceil((limit - start) / delta), 0); out[i] = start + i*delta."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.RangeOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        ix = Ix(emit)
        elt = elt_type(op.result)
        start, limit, delta = (ix.read(v, []) for v in (op.start, op.limit, op.delta))
        if isinstance(elt, AnyFloat):
            assert_(emit, emit(arith.CmpfOp(delta, emit.scalar(0.0, elt), "one")),
                    "Range: delta is 0")
            steps = emit(math.CeilOp(emit(arith.DivfOp(emit(arith.SubfOp(limit, start)),
                                                       delta))))
            n = ix.maxi(ix.to_index(steps), 0)
        else:
            s, lim, dl = (ix.to_index(v) for v in (start, limit, delta))
            assert_(emit, ix.cmp("ne", dl, 0), "Range: delta is 0")
            diff = ix.subi(lim, s)
            up = ix.divi(ix.addi(diff, ix.subi(dl, 1)), dl)
            down = ix.divi(ix.addi(diff, ix.addi(dl, 1)), dl)
            n = ix.maxi(ix.sel(ix.cmp("sgt", dl, 0), up, down), 0)
        dest = emit.empty(static_or(shape_of(op.result), [n], emit, "Range"), elt)

        def body(b: ScalarBody) -> list[SSAValue]:
            i = b.linalg_index(0)
            if isinstance(elt, AnyFloat):
                fi = b.add(arith.SIToFPOp(b.add(arith.IndexCastOp(i, IntegerType(64))), elt))
            else:
                fi = b.add(arith.IndexCastOp(i, elt))
            return [b.binary("add", start, b.binary("mul", fi, delta))]

        res = emit.generic([], [dest], [identity_map(1)], [PARALLEL], body)
        rewriter.replace(op, [], res)


class ConstantOfShapePattern(RewritePattern):
    """graph.constant_of_shape -> linalg.fill of a tensor sized by the run-time shape."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ConstantOfShapeOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        ix = Ix(emit)
        sizes = read_vector(emit, op, op.shape) if shape_of(op.shape) != (0,) else []
        for s in sizes:
            assert_(emit, ix.cmp("sge", s, 0), "ConstantOfShape: a dim is negative")
        elt = elt_type(op.result)
        attr = op.value
        if isinstance(elt, AnyFloat):
            value = emit(arith.ConstantOp(FloatAttr(float(attr.get_values()[0]), elt)))
        else:
            v = int(attr.get_values()[0])
            if isinstance(elt, IntegerType) and elt.width.data == 1:
                v = -1 if v else 0
            value = emit(arith.ConstantOp(IntegerAttr(v, elt)))
        dest = emit.empty(static_or(shape_of(op.result), sizes, emit, "ConstantOfShape"), elt)
        rewriter.replace(op, FillOp((value,), (dest,)))


class TriluPattern(RewritePattern):
    """graph.trilu: keep x where (col - row) >= k (upper) or <= k (lower), else 0."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.TriluOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        k = Ix(emit).read_index(op.k, [0] * len(shape_of(op.k)))
        rank = len(shape_of(op.input))
        upper = bool(op.upper.value.data)
        elt = elt_type(op.input)
        dest = emit.empty(emit.sizes(op.input), elt)

        def body(b: ScalarBody) -> list[SSAValue]:
            ix = Ix(b.add)
            diff = ix.subi(b.linalg_index(rank - 1), b.linalg_index(rank - 2))
            keep = ix.cmp("sge" if upper else "sle", diff, k)
            return [b.select(keep, b.args[0], b.const(0, elt))]

        res = emit.generic([op.input], [dest], [identity_map(rank)] * 2, [PARALLEL] * rank,
                           body)
        rewriter.replace(op, [], res)


class CumSumPattern(RewritePattern):
    """graph.cumsum along a run-time axis a: out[i] = sum of x[i with dim a = j] over
    j <= i[a] (< when exclusive, >= / > when reversed). j runs over the largest dim (a
    dummy `window` input gives its range); entries past dim a's size are masked."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.CumSumOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        ix = Ix(emit)
        x = op.input
        rank = len(shape_of(x))
        x_sizes = emit.sizes(x)
        axis = read_vector(emit, op, op.axis)[0]
        assert_(emit, ix.and_(ix.cmp("sge", axis, -rank), ix.cmp("slt", axis, rank)),
                f"CumSum: axis is out of range for rank {rank}")
        axis = ix.wrap_negative(axis, rank)
        exclusive, reverse = bool(op.exclusive.value.data), bool(op.reverse.value.data)
        pred = {(False, False): "sle", (True, False): "slt",
                (False, True): "sge", (True, True): "sgt"}[(exclusive, reverse)]
        elt = elt_type(x)
        longest: Size = 1
        for size in x_sizes:
            longest = emit.max(longest, size)
        window = emit.empty([longest], IntegerType(8))
        acc = emit.fill(0, x_sizes, elt)
        out_map = affine_map(rank + 1, [di(d) for d in range(rank)])

        def body(b: ScalarBody) -> list[SSAValue]:
            bx = Ix(b.add)
            j = b.linalg_index(rank)
            o = [b.linalg_index(d) for d in range(rank)]
            here, n = o[0], bx.v(x_sizes[0])
            read = []
            for d in range(rank):
                on_axis = bx.cmp("eq", axis, d)
                if d:
                    here = bx.sel(on_axis, o[d], here)
                    n = bx.sel(on_axis, x_sizes[d], n)
                read.append(bx.safe(bx.sel(on_axis, j, o[d]), x_sizes[d]))
            take = bx.and_(bx.cmp(pred, j, here), bx.cmp("slt", j, n))
            v = b.select(take, bx.read(x, read), b.const(0, elt))
            return [b.binary("add", b.args[1], v)]

        res = emit.generic([window], [acc], [affine_map(rank + 1, [di(rank)]), out_map],
                           [PARALLEL] * rank + [REDUCTION], body)
        rewriter.replace(op, [], res)


class TopKPattern(RewritePattern):
    """graph.topk: rank every element along `axis` (O(n^2) comparisons, ties by index),
    then pick the elements of rank 0..k-1 into values and indices."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.TopKOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        ix = Ix(emit)
        x = op.input
        axis = op.axis.value.data
        rank = len(shape_of(x))
        largest = bool(op.largest.value.data)
        elt = elt_type(x)
        i64 = IntegerType(64)
        x_sizes = emit.sizes(x)
        k = read_vector(emit, op, op.k)[0]
        assert_(emit, ix.and_(ix.cmp("sge", k, 0), ix.cmp("sle", k, x_sizes[axis])),
                "TopK: k is out of range for the axis")
        is_float = isinstance(elt, AnyFloat)
        along = affine_map(rank + 1, [di(rank) if d == axis else di(d) for d in range(rank)])
        ident = affine_map(rank + 1, [di(d) for d in range(rank)])
        iters = [PARALLEL] * rank + [REDUCTION]

        def rank_body(b: ScalarBody) -> list[SSAValue]:
            xi, xj, acc = b.args
            if is_float:
                better = b.add(arith.CmpfOp(xj, xi, "ogt" if largest else "olt"))
                same = b.add(arith.CmpfOp(xj, xi, "oeq"))
            else:
                better = b.cmp("sgt" if largest else "slt", xj, xi)
                same = b.cmp("eq", xj, xi)
            earlier = b.cmp("slt", b.linalg_index(rank), b.linalg_index(axis))
            before = b.add(arith.OrIOp(better, b.and_(same, earlier)))
            return [b.add(arith.AddiOp(acc, b.select(before, b.const(1, i64),
                                                     b.const(0, i64))))]

        ranks = emit.generic([x, x], [emit.fill(0, x_sizes, i64)], [ident, along, ident],
                             iters, rank_body)[0]
        out_sizes = list(x_sizes)
        out_sizes[axis] = k
        out_sizes = static_or(shape_of(op.values), out_sizes, emit, "TopK")
        values = emit.fill(0, out_sizes, elt)
        indices = emit.fill(0, out_sizes, i64)

        def pick_body(b: ScalarBody) -> list[SSAValue]:
            xi, ri, v_acc, i_acc = b.args
            hit = b.cmp("eq", ri, b.add(arith.IndexCastOp(b.linalg_index(axis), i64)))
            pos = b.add(arith.IndexCastOp(b.linalg_index(rank), i64))
            return [b.select(hit, xi, v_acc), b.select(hit, pos, i_acc)]

        res = emit.generic([x, ranks], [values, indices], [along, along, ident, ident],
                           iters, pick_body)
        rewriter.replace(op, [], res)


class ResizePattern(RewritePattern):
    """graph.resize (nearest/linear): per resized dim, the ONNX coordinate transform in
    f64 with the run-time scale, then a rounded read (nearest) or a 2^m-corner weighted
    sum (linear). Dims whose constant scale is 1 are copied as they are."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ResizeOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        ix = Ix(emit)
        x = op.input
        x_sizes = emit.sizes(x)
        rank = len(x_sizes)
        axes = ints(op.axes)
        out_shape = shape_of(op.result)
        elt = elt_type(x)
        mode, coord = op.mode.data, op.coordinate_mode.data
        nearest = op.nearest_mode.data
        policy = op.keep_aspect_ratio_policy.data
        source = op.scales if op.scales is not None else op.sizes
        assert source is not None
        known = source.owner.value if isinstance(source.owner, graph.ConstantOp) else None
        known_values = list(graph.array_from_dense(known).reshape(-1)) if known else None
        given = [ix.read(source, [k]) for k in range(len(axes))]
        n_in = {a: ix.to_float(ix.v(x_sizes[a])) for a in axes}
        scales: dict[int, SSAValue] = {}
        out_sizes: list[Size] = list(x_sizes)
        if op.scales is not None:
            for k, a in enumerate(axes):
                s = given[k]
                scales[a] = s if s.type == f64 else emit(arith.ExtFOp(s, f64))
                scaled = emit(arith.MulfOp(n_in[a], scales[a]))
                out_sizes[a] = ix.to_index(emit(math.FloorOp(scaled)))
        else:
            ratios = {a: emit(arith.DivfOp(ix.to_float(ix.to_index(given[k])), n_in[a]))
                      for k, a in enumerate(axes)}
            if policy != "stretch":
                pick = arith.MinimumfOp if policy == "not_larger" else arith.MaximumfOp
                r = ratios[axes[0]]
                for a in axes[1:]:
                    r = emit(pick(r, ratios[a]))
                ratios = dict.fromkeys(axes, r)
            for k, a in enumerate(axes):
                scales[a] = ratios[a]
                if policy == "stretch":
                    out_sizes[a] = ix.to_index(given[k])
                else:
                    grown = emit(arith.AddfOp(emit(arith.MulfOp(ratios[a], n_in[a])),
                                              ix.f(0.5)))
                    out_sizes[a] = ix.to_index(emit(math.FloorOp(grown)))
        for a in axes:
            assert_(emit, ix.cmp("sge", out_sizes[a], 0), "Resize: a negative output size")
        out_sizes = static_or(out_shape, out_sizes, emit, "Resize")
        resized = []
        for k, a in enumerate(axes):
            if known_values is not None and op.scales is not None and known_values[k] == 1.0:
                continue
            if (known_values is not None and op.sizes is not None and policy == "stretch"
                    and known_values[k] == shape_of(x)[a]):
                continue
            resized.append(a)
        # ONNX uses the fractional output length scale * n_in in the formulas
        lens = {a: (n_in[a], emit(arith.MulfOp(scales[a], n_in[a])), scales[a],
                    ix.to_float(ix.v(out_sizes[a]))) for a in resized}

        def coordinate(b: ScalarBody, d: int) -> SSAValue:
            bx = Ix(b.add)
            n_in, n_out, scale, n_out_int = lens[d]
            o = bx.to_float(b.linalg_index(d))
            half = bx.f(0.5)
            if coord == "asymmetric":
                return b.add(arith.DivfOp(o, scale))
            single = b.add(arith.CmpfOp(n_out, bx.f(1.0), "oeq"))
            if coord == "align_corners":
                one = bx.f(1.0)
                ratio = b.add(arith.DivfOp(b.add(arith.SubfOp(n_in, one)),
                                           b.add(arith.SubfOp(n_out, one))))
                return b.select(single, bx.f(0.0), b.add(arith.MulfOp(o, ratio)))
            x_orig = b.add(arith.SubfOp(b.add(arith.DivfOp(b.add(arith.AddfOp(o, half)),
                                                           scale)), half))
            if coord == "pytorch_half_pixel":
                return b.select(single, bx.f(-0.5), x_orig)
            if coord == "half_pixel_symmetric":
                adj = b.add(arith.DivfOp(n_out_int, n_out))
                center = b.add(arith.MulfOp(n_in, half))
                offset = b.add(arith.MulfOp(center, b.add(arith.SubfOp(bx.f(1.0), adj))))
                return b.add(arith.AddfOp(offset, x_orig))
            return x_orig

        def body(b: ScalarBody) -> list[SSAValue]:
            bx = Ix(b.add)
            base: list[SSAValue] = [b.linalg_index(d) for d in range(rank)]
            if mode == "nearest":
                read = list(base)
                for d in resized:
                    c = coordinate(b, d)
                    if nearest == "round_prefer_floor":
                        r = b.add(math.CeilOp(b.add(arith.SubfOp(c, bx.f(0.5)))))
                    elif nearest == "round_prefer_ceil":
                        r = b.add(math.FloorOp(b.add(arith.AddfOp(c, bx.f(0.5)))))
                    elif nearest == "floor":
                        r = b.add(math.FloorOp(c))
                    else:
                        r = b.add(math.CeilOp(c))
                    read[d] = bx.safe(bx.to_index(r), x_sizes[d])
                return [bx.read(x, read)]
            corners: list[tuple[list[SSAValue], SSAValue | None]] = [(list(base), None)]
            for d in resized:
                n_in = lens[d][0]
                c = coordinate(b, d)
                top = b.add(arith.SubfOp(n_in, bx.f(1.0)))
                c = b.add(arith.MinimumfOp(b.add(arith.MaximumfOp(c, bx.f(0.0))), top))
                lo_f = b.add(math.FloorOp(c))
                w1 = b.add(arith.SubfOp(c, lo_f))
                w0 = b.add(arith.SubfOp(bx.f(1.0), w1))
                lo = bx.safe(bx.to_index(lo_f), x_sizes[d])
                hi = bx.safe(bx.addi(lo, 1), x_sizes[d])
                nxt = []
                for read, w in corners:
                    for idx, wd in ((lo, w0), (hi, w1)):
                        r = list(read)
                        r[d] = idx
                        nxt.append((r, wd if w is None else b.add(arith.MulfOp(w, wd))))
                corners = nxt
            total: SSAValue | None = None
            for read, w in corners:
                v = bx.read(x, read)
                if w is not None:
                    wv = w if w.type == elt else b.add(arith.TruncFOp(w, elt))
                    v = b.binary("mul", v, wv)
                total = v if total is None else b.binary("add", total, v)
            assert total is not None
            return [total]

        if mode == "linear" and not isinstance(elt, AnyFloat):
            raise fail(op, "linear resize needs a floating-point tensor")
        dest = emit.empty(out_sizes, elt)
        res = emit.generic([], [dest], [identity_map(rank)], [PARALLEL] * rank, body)
        rewriter.replace(op, [], res)


class OneHotPattern(RewritePattern):
    """graph.one_hot: values[1] where the depth position equals the (normalized) index."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.OneHotOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        ix = Ix(emit)
        axis = op.axis.value.data
        depth = read_vector(emit, op, op.depth)[0]
        assert_(emit, ix.cmp("sge", depth, 0), "OneHot: depth is negative")
        off, on = ix.read(op.values, [0]), ix.read(op.values, [1])
        sizes = emit.sizes(op.indices)
        sizes.insert(axis, depth)
        rank = len(sizes)
        elt = elt_type(op.result)

        def body(b: ScalarBody) -> list[SSAValue]:
            bx = Ix(b.add)
            o = [b.linalg_index(d) for d in range(rank)]
            i = bx.read_index(op.indices, o[:axis] + o[axis + 1:])
            i = bx.wrap_negative(i, depth)
            return [b.select(bx.cmp("eq", i, o[axis]), on, off)]

        dest = emit.empty(static_or(shape_of(op.result), sizes, emit, "OneHot"), elt)
        res = emit.generic([], [dest], [identity_map(rank)], [PARALLEL] * rank, body)
        rewriter.replace(op, [], res)


class NonZeroPattern(RewritePattern):
    """graph.non_zero: count the non-zeros (its size), number each by the non-zeros
    before it in row-major order, then pick number c into column c."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.NonZeroOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        x = op.input
        rank = len(shape_of(x))
        elt = elt_type(x)
        i64 = IntegerType(64)
        x_sizes = emit.sizes(x)

        def nonzero(b: ScalarBody, v: SSAValue) -> SSAValue:
            if isinstance(elt, AnyFloat):
                return b.add(arith.CmpfOp(v, b.const(0.0, elt), "une"))
            return b.cmp("ne", v, b.const(0, elt))

        def one_if(b: ScalarBody, cond: SSAValue) -> SSAValue:
            return b.select(cond, b.const(1, i64), b.const(0, i64))

        def linear(b: ScalarBody, first: int) -> SSAValue:
            ix = Ix(b.add)
            lin = b.linalg_index(first)
            for d in range(1, rank):
                lin = ix.addi(ix.muli(lin, x_sizes[d]), b.linalg_index(first + d))
            return lin

        count = emit.generic([x], [emit.fill(0, [], i64)],
                             [identity_map(rank), affine_map(rank, [])], [REDUCTION] * rank,
                             lambda b: [b.add(arith.AddiOp(b.args[1],
                                                           one_if(b, nonzero(b, b.args[0]))))])
        n = Ix(emit).to_index(emit(tensor.ExtractOp(count[0], [], i64)))
        j_map = affine_map(2 * rank, [di(rank + d) for d in range(rank)])
        i_map = affine_map(2 * rank, [di(d) for d in range(rank)])

        def before_body(b: ScalarBody) -> list[SSAValue]:
            ix = Ix(b.add)
            earlier = ix.cmp("slt", linear(b, rank), linear(b, 0))
            hit = b.and_(earlier, nonzero(b, b.args[0]))
            return [b.add(arith.AddiOp(b.args[1], one_if(b, hit)))]

        numbers = emit.generic([x], [emit.fill(0, x_sizes, i64)], [j_map, i_map],
                               [PARALLEL] * rank + [REDUCTION] * rank, before_body)[0]
        loops = 2 + rank
        in_map = affine_map(loops, [di(2 + d) for d in range(rank)])

        def pick_body(b: ScalarBody) -> list[SSAValue]:
            ix = Ix(b.add)
            v, number, acc = b.args
            col = b.add(arith.IndexCastOp(b.linalg_index(1), i64))
            hit = b.and_(nonzero(b, v), b.cmp("eq", number, col))
            row = b.linalg_index(0)
            coord = b.linalg_index(2)
            for d in range(1, rank):
                coord = ix.sel(ix.cmp("eq", row, d), b.linalg_index(2 + d), coord)
            return [b.select(hit, b.add(arith.IndexCastOp(coord, i64)), acc)]

        out = emit.fill(0, [rank, n], i64)
        res = emit.generic([x, numbers], [out], [in_map, in_map, affine_map(loops, [di(0), di(1)])],
                           [PARALLEL] * 2 + [REDUCTION] * rank, pick_body)
        rewriter.replace(op, [], res)


NONE = 2**62
"""No row / no column: above every index, the initial value of the min reductions."""


class UniquePattern(RewritePattern):
    """graph.unique by comparing every row with every other (quadratic in the rows, as
    graph.non_zero): f[i], the first row equal to row i; inverse[i], how many first
    occurrences come before row i's (in row order when sorted, by position otherwise);
    then indices[k] / counts[k] pick and count inverse == k over the K first occurrences.
    Rows of one element compare directly; longer rows through diff[j, i], the first
    column where rows j and i differ (NONE when equal), and lexless[j, i], whether row j
    sorts before row i at that column. Nothing is read at a computed index."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.UniqueOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        x, sort = op.input, bool(op.sorted.value.data)
        n, m = emit.size(x, 0), emit.size(x, 1)
        i1, i64 = IntegerType(1), IntegerType(64)
        kind = graph.type_class(elt_type(x))

        def value(b: ScalarBody, v: SSAValue) -> SSAValue:
            if kind in ("float", "minifloat") and v.type not in (f32, f64):
                return cast_scalar(b, v, f32)  # exact; bf16/f16/minifloat compare in f32
            return v

        def same(b: ScalarBody, u: SSAValue, v: SSAValue) -> SSAValue:
            u, v = value(b, u), value(b, v)
            if kind not in ("float", "minifloat"):
                return b.cmp("eq", u, v)
            nan = b.and_(b.add(arith.CmpfOp(u, u, "uno")), b.add(arith.CmpfOp(v, v, "uno")))
            return b.add(arith.OrIOp(b.add(arith.CmpfOp(u, v, "oeq")), nan))

        def less(b: ScalarBody, u: SSAValue, v: SSAValue) -> SSAValue:
            u, v = value(b, u), value(b, v)
            if kind not in ("float", "minifloat"):
                return b.cmp("slt" if kind == "int" else "ult", u, v)
            nan_last = b.and_(b.add(arith.CmpfOp(u, u, "ord")),
                              b.add(arith.CmpfOp(v, v, "uno")))
            return b.add(arith.OrIOp(b.add(arith.CmpfOp(u, v, "olt")), nan_last))

        def at(b: ScalarBody, dim: int) -> SSAValue:
            return b.add(arith.IndexCastOp(b.linalg_index(dim), i64))

        def one_if(b: ScalarBody, cond: SSAValue) -> SSAValue:
            return b.select(cond, b.const(1, i64), b.const(0, i64))

        ji = affine_map(2, [di(1), di(0)])  # over (i, j): the [j, i] entry
        pair_maps = [affine_map(3, [di(0), di(2)]), affine_map(3, [di(1), di(2)])]
        if m == 1:
            col0 = AffineExpr.constant(0)
            pair_ins, pair_in_maps = [x, x], [affine_map(2, [di(1), col0]),
                                              affine_map(2, [di(0), col0])]

            def pair_eq(b: ScalarBody, args: Sequence[SSAValue]) -> SSAValue:
                return same(b, args[0], args[1])

            def pair_lt(b: ScalarBody, args: Sequence[SSAValue]) -> SSAValue:
                return less(b, args[0], args[1])
        else:
            diff_init = emit.fill(NONE, [n, n], i64)

            def diff_body(b: ScalarBody) -> list[SSAValue]:
                u, v, acc = b.args
                first = b.add(arith.MinSIOp(acc, at(b, 2)))
                return [b.select(same(b, u, v), acc, first)]

            diff = emit.generic([x, x], [diff_init], [*pair_maps, affine_map(3, [di(0), di(1)])],
                                [PARALLEL, PARALLEL, REDUCTION], diff_body)[0]

            def lex_body(b: ScalarBody) -> list[SSAValue]:
                u, v, d, acc = b.args
                here = b.and_(b.cmp("eq", at(b, 2), d), less(b, u, v))
                return [b.add(arith.OrIOp(acc, here))]

            pair_ins, pair_in_maps = [diff], [ji]
            if sort:  # the order of first occurrence needs no row order
                pair_ins.append(emit.generic(
                    [x, x, diff], [emit.fill(0, [n, n], i1)],
                    [*pair_maps, affine_map(3, [di(0), di(1)]), affine_map(3, [di(0), di(1)])],
                    [PARALLEL, PARALLEL, REDUCTION], lex_body)[0])
                pair_in_maps.append(ji)

            def pair_eq(b: ScalarBody, args: Sequence[SSAValue]) -> SSAValue:
                return b.cmp("eq", args[0], b.const(NONE, i64))

            def pair_lt(b: ScalarBody, args: Sequence[SSAValue]) -> SSAValue:
                return args[1]

        def first_body(b: ScalarBody) -> list[SSAValue]:
            eq = pair_eq(b, b.args[:-1])
            j, acc = at(b, 1), b.args[-1]
            return [b.select(b.and_(eq, b.cmp("slt", j, acc)), j, acc)]

        over_ij = [PARALLEL, REDUCTION]
        first = emit.generic(pair_ins, [emit.fill(NONE, [n], i64)],
                             [*pair_in_maps, affine_map(2, [di(0)])], over_ij, first_body)[0]

        def inverse_body(b: ScalarBody) -> list[SSAValue]:
            f_j, f_i = b.args[0], b.args[1]
            j = at(b, 1)
            key = pair_lt(b, b.args[2:-1]) if sort else b.cmp("slt", j, f_i)
            hit = b.and_(b.cmp("eq", f_j, j), key)
            return [b.add(arith.AddiOp(b.args[-1], one_if(b, hit)))]

        ins, maps = [first, first], [affine_map(2, [di(1)]), affine_map(2, [di(0)])]
        if sort:
            ins, maps = [*ins, *pair_ins], [*maps, *pair_in_maps]
        inverse = emit.generic(ins, [emit.fill(0, [n], i64)], [*maps, affine_map(2, [di(0)])],
                               over_ij, inverse_body)[0]
        count = emit.generic([first], [emit.fill(0, [], i64)],
                             [affine_map(1, [di(0)]), affine_map(1, [])], [REDUCTION],
                             lambda b: [b.add(arith.AddiOp(b.args[1], one_if(
                                 b, b.cmp("eq", b.args[0], at(b, 0)))))])[0]
        k = Ix(emit).to_index(emit(tensor.ExtractOp(count, [], i64)))

        def pick_body(b: ScalarBody) -> list[SSAValue]:
            f_i, inv, index, counts = b.args
            i, slot = at(b, 1), at(b, 0)
            mine = b.cmp("eq", inv, slot)
            is_first = b.and_(mine, b.cmp("eq", f_i, i))
            return [b.select(is_first, i, index),
                    b.add(arith.AddiOp(counts, one_if(b, mine)))]

        k_map = affine_map(2, [di(0)])
        indices, counts = emit.generic(
            [first, inverse], [emit.fill(0, [k], i64), emit.fill(0, [k], i64)],
            [affine_map(2, [di(1)]), affine_map(2, [di(1)]), k_map, k_map], over_ij,
            pick_body)
        rewriter.replace(op, [], [indices, inverse, counts])
