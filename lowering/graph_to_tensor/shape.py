"""convert-graph-to-tensor patterns: reshape-like ops, and helpers for the shape ops."""

from __future__ import annotations

import math as pymath
from collections.abc import Callable, Sequence

from xdsl.dialects import arith, tensor
from xdsl.dialects.builtin import (
    AnyFloat,
    FloatAttr,
    IndexType,
    IntegerType,
    TensorType,
    f64,
)
from xdsl.dialects.linalg.ops import FillOp
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.pattern_rewriter import (
    PatternRewriter,
    RewritePattern,
    op_type_rewrite_pattern,
)

from dialects import graph
from dialects.graph import DYN, ints, shape_of
from dialects.scalar_body import ScalarBody
from dialects.symbolic import product as sym_product
from lowering.dims import (
    LoweringDims,
    check_equal,
)
from lowering.graph_to_tensor.emit import (
    PARALLEL,
    Emit,
    Size,
    affine_map,
    assert_,
    di,
    elt_type,
    fail,
    identity_map,
)


class ReshapePattern(RewritePattern):
    """A view (or a gathering copy) of the input; -1 = total / product(known)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ReshapeOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        target = list(ints(op.shape))
        out_shape = shape_of(op.result)
        sizes: list[Size] = []
        for i, t in enumerate(target):
            sizes.append(out_shape[i] if out_shape[i] != DYN else t)
        if -1 in sizes:
            total: Size = 1
            for s in emit.sizes(op.input):
                total = emit.mul(total, s)
            known = 1
            for s in sizes:
                if s != -1:
                    known *= s  # type: ignore[operator]
            sizes[sizes.index(-1)] = emit.div(total, known)
        result_exprs = emit.dims.analysis.dims_of(op.result) or ()
        for size, expr in zip(sizes, result_exprs, strict=False):
            emit.dims.record(size, expr)
        rewriter.replace(op, [], [_reshape_to(emit, op.input, sizes, op.result.type)])


def reshape_copy(emit: Emit, x: SSAValue, sizes: Sequence[Size]) -> SSAValue:
    """Row-major reshape as a generic: linearize the output index, delinearize it."""
    in_sizes = [emit.value(s) for s in emit.sizes(x)]
    out_sizes = [emit.value(s) for s in sizes]
    rank = len(sizes)
    elt = elt_type(x)
    dest = emit.empty(sizes, elt)

    def body(b: ScalarBody) -> list[SSAValue]:
        lin = b.linalg_index(0) if rank else b.index(0)  # a rank-0 result has one element
        for i in range(1, rank):
            lin = b.add(arith.AddiOp(b.add(arith.MuliOp(lin, out_sizes[i])),
                                     b.linalg_index(i)))
        read: list[SSAValue] = []
        for size in reversed(in_sizes):
            read.append(b.add(arith.RemSIOp(lin, size)))
            lin = b.add(arith.DivSIOp(lin, size))
        return [b.add(tensor.ExtractOp(x, list(reversed(read)), elt))]

    return emit.generic([], [dest], [identity_map(rank)], [PARALLEL] * rank, body)[0]


class TransposePattern(RewritePattern):
    """A parallel generic whose input map is the inverse permutation."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.TransposeOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        perm = ints(op.perm)
        rank = len(perm)
        x_sizes = emit.sizes(op.input)
        dest = emit.empty([x_sizes[p] for p in perm], elt_type(op.input))
        inv = [perm.index(j) for j in range(rank)]
        res = emit.generic([op.input], [dest], [affine_map(rank, [di(i) for i in inv]),
                                                identity_map(rank)],
                           [PARALLEL] * rank, lambda b: [b.args[0]])
        rewriter.replace(op, [], res)


class ConcatPattern(RewritePattern):
    """Each input inserted into its slice of the result along `axis` (tensor.insert_slice).

    No input is read speculatively: a select over clamped reads of every input would read
    an input that is empty at run time (a shape tensor sliced to nothing) out of bounds."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ConcatOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        axis = op.axis.value.data
        inputs = list(op.inputs)
        rank = len(shape_of(op.result))
        if len(inputs) == 1:
            rewriter.replace(op, [], [inputs[0]])
            return
        sizes = emit.sizes(inputs[0])
        total: Size = 0
        for v in inputs:
            total = emit.add(total, emit.size(v, axis))
        sizes[axis] = total
        for k, v in enumerate(inputs[1:], 1):
            for d in range(rank):
                if d != axis:
                    check_equal(emit, emit.size(v, d), sizes[d],
                                f"dim {d} of input {k} is {{0}}, but {{1}} in input 0")
        result = emit.empty(sizes, elt_type(op.result))
        offset: Size = 0
        for v in inputs:
            length = emit.size(v, axis)
            if length != 0:
                result = _insert_along(emit, v, result, axis, offset)
            offset = emit.add(offset, length)
        rewriter.replace(op, [], [result])


def _insert_along(emit: Emit, value: SSAValue, dest: SSAValue, axis: int,
                  offset: Size) -> SSAValue:
    """`dest` with `value` written at `offset` along `axis` (all of `value`'s other dims)."""
    static = shape_of(value)  # the slice's type is the value's: `?` where its type has one
    sizes = [s if static[d] != DYN else emit.value(s) for d, s in enumerate(emit.sizes(value))]
    offsets: list[Size] = [0] * len(sizes)
    offsets[axis] = offset
    op = tensor.InsertSliceOp.get(
        value, dest, [s if isinstance(s, int) else DYN for s in sizes],
        [o if isinstance(o, int) else DYN for o in offsets], [1] * len(sizes),
        offsets=[o for o in offsets if not isinstance(o, int)],
        sizes=[s for s in sizes if not isinstance(s, int)])
    return emit(op)


# --------------------------------------------------------------------------- shape and
# data-movement ops (graph.SHAPE_OPS)
#
# Integer operands that size results (reshape targets, slice bounds, pads, repeats, k)
# are read at run time with tensor.extract + index_cast; data-dependent constraints are
# checked with `cf.assert` before any kernel runs, and every computed read index is
# clamped into bounds besides.


class Ix:
    """Scalar arithmetic on `index` (and other integer/float) values through `add`.

    `add` is an `Emit` (top level) or a `ScalarBody.add` (inside a generic body)."""

    def __init__(self, add: Callable[[Operation], SSAValue]):
        self.add = add

    def c(self, value: int) -> SSAValue:
        return self.add(arith.ConstantOp.from_int_and_width(value, IndexType()))

    def v(self, size: Size) -> SSAValue:
        return self.c(size) if isinstance(size, int) else size

    def f(self, value: float, type: Attribute = f64) -> SSAValue:
        return self.add(arith.ConstantOp(FloatAttr(value, type)))

    def addi(self, a: Size, b: Size) -> SSAValue:
        return self.add(arith.AddiOp(self.v(a), self.v(b)))

    def subi(self, a: Size, b: Size) -> SSAValue:
        return self.add(arith.SubiOp(self.v(a), self.v(b)))

    def muli(self, a: Size, b: Size) -> SSAValue:
        return self.add(arith.MuliOp(self.v(a), self.v(b)))

    def divi(self, a: Size, b: Size) -> SSAValue:
        return self.add(arith.DivSIOp(self.v(a), self.v(b)))

    def remi(self, a: Size, b: Size) -> SSAValue:
        return self.add(arith.RemSIOp(self.v(a), self.v(b)))

    def mini(self, a: Size, b: Size) -> SSAValue:
        return self.add(arith.MinSIOp(self.v(a), self.v(b)))

    def maxi(self, a: Size, b: Size) -> SSAValue:
        return self.add(arith.MaxSIOp(self.v(a), self.v(b)))

    def cmp(self, pred: str, a: Size, b: Size) -> SSAValue:
        return self.add(arith.CmpiOp(self.v(a), self.v(b), pred))

    def sel(self, cond: SSAValue, a: Size, b: Size) -> SSAValue:
        return self.add(arith.SelectOp(cond, self.v(a), self.v(b)))

    def and_(self, *conds: SSAValue) -> SSAValue:
        result = conds[0]
        for c in conds[1:]:
            result = self.add(arith.AndIOp(result, c))
        return result

    def or_(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.add(arith.OrIOp(a, b))

    def clamp(self, i: Size, lo: Size, hi: Size) -> SSAValue:
        """min(max(i, lo), hi)."""
        return self.mini(self.maxi(i, lo), hi)

    def safe(self, i: Size, n: Size) -> SSAValue:
        """i clamped into [0, n - 1]: always a valid read index when n > 0."""
        return self.clamp(i, 0, self.subi(n, 1))

    def wrap_negative(self, i: SSAValue, n: Size) -> SSAValue:
        """i + n when i < 0 (ONNX negative indices)."""
        return self.sel(self.cmp("slt", i, 0), self.addi(i, n), i)

    def floormod(self, a: Size, n: Size) -> SSAValue:
        r = self.remi(a, n)
        return self.sel(self.cmp("slt", r, 0), self.addi(r, n), r)

    def to_index(self, value: SSAValue) -> SSAValue:
        """An integer or float scalar as an index (floats truncate toward zero)."""
        if isinstance(value.type, AnyFloat):
            value = self.add(arith.FPToSIOp(value, IntegerType(64)))
        if isinstance(value.type, IndexType):
            return value
        return self.add(arith.IndexCastOp(value, IndexType()))

    def to_int(self, value: SSAValue, type: Attribute) -> SSAValue:
        """An index as an integer of `type`."""
        return self.add(arith.IndexCastOp(value, type))

    def to_float(self, value: SSAValue, type: Attribute = f64) -> SSAValue:
        """An index as a float of `type`."""
        as_int = self.add(arith.IndexCastOp(value, IntegerType(64)))
        return self.add(arith.SIToFPOp(as_int, type))

    def read(self, t: SSAValue, indices: Sequence[Size]) -> SSAValue:
        return self.add(tensor.ExtractOp(t, [self.v(i) for i in indices], elt_type(t)))

    def read_index(self, t: SSAValue, indices: Sequence[Size]) -> SSAValue:
        return self.to_index(self.read(t, indices))


def static_or(shape: Sequence[int], sizes: Sequence[Size], emit: Emit | None = None,
               what: str = "") -> list[Size]:
    """Declared static dims win over computed sizes; with `emit`, a computed run-time
    size is checked (cf.assert) against the declared static dim."""
    result: list[Size] = []
    for d, (s, c) in enumerate(zip(shape, sizes, strict=True)):
        if s != DYN and emit is not None and not isinstance(c, int):
            assert_(emit, Ix(emit).cmp("eq", c, s),
                    f"{what}: result dim {d} is not {s} at run time")
        result.append(s if s != DYN else c)
    return result


def vector_len(op: Operation, value: SSAValue) -> int:
    shape = shape_of(value)
    if len(shape) > 1 or (shape and shape[0] == DYN):
        raise fail(op, "a shape-like operand must be rank 0 or 1-D of static length")
    return shape[0] if shape else 1


def read_vector(emit: Emit, op: Operation, value: SSAValue) -> list[SSAValue]:
    """The entries of a small 1-D (or rank-0) integer/float operand as index values."""
    ix = Ix(emit)
    if not shape_of(value):
        return [ix.read_index(value, [])]
    return [ix.read_index(value, [i]) for i in range(vector_len(op, value))]


def _reshape_to(emit: Emit, x: SSAValue, sizes: Sequence[Size],
                result_type: TensorType) -> SSAValue:
    """Row-major reshape of `x` to `sizes` (a view when xDSL's verifier allows one),
    checking at run time that the element counts agree."""
    ix = Ix(emit)
    sizes = static_or(result_type.get_shape(), sizes)
    in_sizes = emit.sizes(x)
    if any(not isinstance(s, int) for s in (*sizes, *in_sizes)) and \
            not _same_count(emit.dims, in_sizes, sizes):
        total_in: Size = 1
        for s in in_sizes:
            total_in = emit.mul(total_in, s)
        total_out: Size = 1
        for s in sizes:
            total_out = emit.mul(total_out, s)
        emit.check(ix.cmp("eq", total_in, total_out),
                   "cannot reshape {0} elements into a shape of {1} elements",
                   [total_in, total_out])
    if not sizes or pymath.prod(shape_of(x)) != pymath.prod(result_type.get_shape()):
        copy = reshape_copy(emit, x, sizes)
        if copy.type != result_type:  # keep the op's (less static) result type
            copy = emit(tensor.CastOp(copy, result_type))
        return copy
    shape = emit(tensor.FromElementsOp(*[emit.value(s) for s in sizes]))
    return emit(tensor.ReshapeOp(x, shape, result_type))


def _same_count(dims: LoweringDims, a: Sequence[Size], b: Sequence[Size]) -> bool:
    """The two shapes provably have the same number of elements."""
    if not dims.trust_analysis:
        return False
    exprs_a, exprs_b = [dims.expr(s) for s in a], [dims.expr(s) for s in b]
    if any(e is None for e in (*exprs_a, *exprs_b)):
        return False
    return sym_product(exprs_a) == sym_product(exprs_b)  # type: ignore[arg-type]


def _strided_copy(emit: Emit, x: SSAValue, out_sizes: Sequence[Size],
                  starts: Sequence[Size], steps: Sequence[Size],
                  result_type: Attribute) -> SSAValue:
    """out[i] = x[starts + i * steps] (reads clamped into x)."""
    rank = len(out_sizes)
    x_sizes = emit.sizes(x)
    dest = emit.empty(static_or(shape_of(result_type), out_sizes), elt_type(x))

    def body(b: ScalarBody) -> list[SSAValue]:
        ix = Ix(b.add)
        read = []
        for d in range(rank):
            i = b.linalg_index(d)
            if steps[d] != 1:
                i = ix.muli(i, steps[d])
            if starts[d] != 0:
                i = ix.addi(i, starts[d])
            read.append(ix.safe(i, x_sizes[d]))
        return [ix.read(x, read)]

    return emit.generic([], [dest], [identity_map(rank)], [PARALLEL] * rank, body)[0]


class ShapeOfPattern(RewritePattern):
    """graph.shape -> tensor.dim + index_cast + tensor.from_elements."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ShapeOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        ix = Ix(emit)
        i64 = IntegerType(64)
        start, end = op.start.value.data, op.end.value.data
        dims = [ix.to_int(emit.value(emit.size(op.input, d)), i64) for d in range(start, end)]
        if not dims:
            rewriter.replace(op, [], [emit.empty([0], i64)])
            return
        rewriter.replace(op, tensor.FromElementsOp(*dims, result_type=op.result.type))


class SizePattern(RewritePattern):
    """graph.size -> product of tensor.dim, filled into a rank-0 i64."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.SizeOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        total: Size = 1
        for s in emit.sizes(op.input):
            total = emit.mul(total, s)
        value = Ix(emit).to_int(emit.value(total), IntegerType(64))
        dest = emit.empty([], IntegerType(64))
        rewriter.replace(op, FillOp((value,), (dest,)))


class ReshapeDynamicPattern(RewritePattern):
    """Run-time ONNX Reshape: 0 copies an input dim, -1 is total / product(others).

    Target entries whose values the shape analysis knows need no run-time read (a
    constant) or no -1/0 handling (a dim, >= 0; the input's own dim when it is that);
    the rest are read, checked and resolved at run time."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ReshapeDynamicOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        ix = Ix(emit)
        dims_state = emit.dims
        x_sizes = emit.sizes(op.input)
        allowzero = bool(op.allowzero.value.data)
        n = vector_len(op, op.shape)
        known = dims_state.analysis.elements_of(op.shape) if dims_state.trust_analysis \
            else None
        if known is not None and len(known) != n:
            known = None
        x_exprs = [dims_state.expr(v) for v in x_sizes]
        entries: list[Size | None] = []  # None: the -1 to infer
        may_infer: list[int] = []  # entries read at run time that may be -1
        for i in range(n):
            value = known[i] if known is not None else None
            c = value.as_int() if value is not None else None
            if c is not None and c >= -1:
                copy = c == 0 and not allowzero and i < len(x_sizes)
                entries.append(x_sizes[i] if copy else (None if c == -1 else c))
                continue
            if value is not None and value.nonnegative() and i < len(x_sizes) and \
                    not allowzero and x_exprs[i] == value:
                entries.append(x_sizes[i])  # this entry is the input's own dim
                continue
            s = ix.read_index(op.shape, [i] if shape_of(op.shape) else [])
            if value is None or not value.nonnegative():
                emit.check(ix.cmp("sge", s, -1), f"Reshape: target dim {i} is {{0}}, "
                           "below -1", [s])
                may_infer.append(i)
            if not allowzero and i < len(x_sizes):
                s = ix.sel(ix.cmp("eq", s, 0), x_sizes[i], s)
            entries.append(s)
        total: Size = 1
        for size in x_sizes:
            total = emit.mul(total, size)
        product: Size = 1
        for i, e in enumerate(entries):
            if e is None:
                continue
            if i in may_infer:
                e = ix.sel(ix.cmp("eq", e, -1), 1, e)
            product = emit.mul(product, e)
        if None in entries or may_infer:  # a -1 next to a 0 is ambiguous (numpy refuses)
            infers = [ix.cmp("eq", entries[i], -1) for i in may_infer]
            if None in entries:
                infers.append(emit(arith.ConstantOp.from_int_and_width(1, 1)))
            any_infer = infers[0]
            for f in infers[1:]:
                any_infer = ix.or_(any_infer, f)
            no_infer = emit(arith.XOrIOp(any_infer, emit(arith.ConstantOp.from_int_and_width(
                1, 1))))
            emit.check(ix.or_(no_infer, ix.cmp("ne", product, 0)),
                       "Reshape cannot infer its -1 dim: the other target dims multiply "
                       "to 0")
            inferred = ix.divi(total, ix.maxi(product, 1))
        sizes: list[Size] = []
        for i, e in enumerate(entries):
            if e is None:
                e = inferred
            elif i in may_infer:
                e = ix.sel(ix.cmp("eq", e, -1), inferred, e)
            sizes.append(e)
        for size, expr in zip(sizes, dims_state.analysis.dims_of(op.result) or (),
                              strict=False):
            dims_state.record(size, expr)
        for d, want in enumerate(shape_of(op.result)):
            if want != DYN and not (isinstance(sizes[d], int) and sizes[d] == want):
                emit.check(ix.cmp("eq", sizes[d], want),
                           f"Reshape: dim {d} of the target is {{0}}, not {want}", [sizes[d]])
        result = _reshape_to(emit, op.input, sizes, op.result.type)
        rewriter.replace(op, [], [result])


class AxesReshapePattern(RewritePattern):
    """graph.squeeze / graph.unsqueeze / graph.flatten -> a reshape on tensor.dim sizes."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if not isinstance(op, graph.SqueezeOp | graph.UnsqueezeOp | graph.FlattenOp):
            return
        emit = Emit(rewriter, op)
        ix = Ix(emit)
        x_sizes = emit.sizes(op.input)
        sizes: list[Size]
        if isinstance(op, graph.SqueezeOp):
            axes = ints(op.axes)
            for a in axes:
                if not isinstance(x_sizes[a], int):
                    assert_(emit, ix.cmp("eq", x_sizes[a], 1),
                            f"Squeeze: dim {a} is not 1 at run time")
            sizes = [s for i, s in enumerate(x_sizes) if i not in axes]
        elif isinstance(op, graph.UnsqueezeOp):
            rest = iter(x_sizes)
            sizes = [1 if i in ints(op.axes) else next(rest)
                     for i in range(len(shape_of(op.result)))]
        else:
            axis = op.axis.value.data
            outer: Size = 1
            inner: Size = 1
            for s in x_sizes[:axis]:
                outer = emit.mul(outer, s)
            for s in x_sizes[axis:]:
                inner = emit.mul(inner, s)
            sizes = [outer, inner]
        rewriter.replace(op, [], [_reshape_to(emit, op.input, sizes, op.result.type)])


class AxesDynamicPattern(RewritePattern):
    """graph.squeeze_dynamic / unsqueeze_dynamic: result sizes from run-time axes."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if not isinstance(op, graph.SqueezeDynamicOp | graph.UnsqueezeDynamicOp):
            return
        emit = Emit(rewriter, op)
        ix = Ix(emit)
        x_sizes = emit.sizes(op.input)
        out_rank = len(shape_of(op.result))
        squeeze = isinstance(op, graph.SqueezeDynamicOp)
        axes_rank = len(x_sizes) if squeeze else out_rank
        axes = []
        for a in read_vector(emit, op, op.axes):
            assert_(emit, ix.and_(ix.cmp("sge", a, -axes_rank), ix.cmp("slt", a, axes_rank)),
                    f"{op.name}: an axis is out of range for rank {axes_rank}")
            axes.append(ix.wrap_negative(a, axes_rank))

        def listed(d: int) -> SSAValue:
            hit = ix.cmp("eq", axes[0], d)
            for a in axes[1:]:
                hit = ix.or_(hit, ix.cmp("eq", a, d))
            return hit

        sizes: list[Size] = []
        if squeeze:
            kept_before: SSAValue = ix.c(0)
            sizes = [ix.c(0)] * out_rank
            for d, n in enumerate(x_sizes):
                gone = listed(d)
                keep = ix.cmp("eq", ix.sel(gone, 1, 0), 0)
                assert_(emit, ix.or_(keep, ix.cmp("eq", n, 1)),
                        f"Squeeze: dim {d} is squeezed but is not 1")
                for p in range(out_rank):
                    here = ix.and_(ix.cmp("eq", kept_before, p), keep)
                    sizes[p] = ix.sel(here, n, sizes[p])
                kept_before = ix.addi(kept_before, ix.sel(gone, 0, 1))
        else:
            for p in range(out_rank):
                before: SSAValue = ix.c(0)
                for a in axes:
                    before = ix.addi(before, ix.sel(ix.cmp("slt", a, p), 1, 0))
                source = ix.subi(p, before)
                size = ix.v(x_sizes[0]) if x_sizes else ix.c(1)
                for d, n in enumerate(x_sizes[1:], start=1):
                    size = ix.sel(ix.cmp("eq", source, d), n, size)
                sizes.append(ix.sel(listed(p), 1, size))
        rewriter.replace(op, [], [_reshape_to(emit, op.input, sizes, op.result.type)])


class SplitPattern(RewritePattern):
    """Each result of graph.split is a copy of its window along `axis`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.SplitOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        ix = Ix(emit)
        axis = op.axis.value.data
        x_sizes = emit.sizes(op.input)
        n = x_sizes[axis]
        parts = len(op.results)
        results = []
        if op.sizes is not None:
            lengths = read_vector(emit, op, op.sizes)
            offsets = [0]
            for length in lengths[:-1]:
                offsets.append(emit.add(offsets[-1], length))
            total = emit.add(offsets[-1], lengths[-1])
            for length in lengths:
                assert_(emit, ix.cmp("sge", length, 0), "Split: a split size is negative")
            assert_(emit, ix.cmp("eq", total, n),
                    f"Split: the split sizes do not add up to dim {axis}")
        elif op.splits is not None:
            splits = ints(op.splits)
            if not isinstance(n, int) or sum(splits) != n:
                assert_(emit, ix.cmp("eq", n, sum(splits)),
                        f"Split: the split sizes do not add up to dim {axis}")
            offsets: list[Size] = [sum(splits[:i]) for i in range(parts)]
            lengths: list[Size] = list(splits)
        else:
            chunk = emit.div(emit.add(n, parts - 1), parts)
            offsets = [emit.mul(chunk, i) for i in range(parts)]
            lengths = [emit.max(0, ix.mini(chunk, emit.sub(n, off)))
                       if not (isinstance(chunk, int) and isinstance(n, int))
                       else max(0, min(chunk, n - off))  # type: ignore[operator]
                       for off in offsets]
        for res, off, length in zip(op.results, offsets, lengths, strict=True):
            sizes = list(x_sizes)
            sizes[axis] = length
            starts: list[Size] = [0] * len(sizes)
            starts[axis] = off
            results.append(_strided_copy(emit, op.input, sizes, starts, [1] * len(sizes),
                                         res.type))
        rewriter.replace(op, [], results)


class SlicePattern(RewritePattern):
    """ONNX Slice with run-time starts/ends/axes/steps (clamped per ONNX)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.SliceOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        ix = Ix(emit)
        x_sizes = emit.sizes(op.input)
        rank = len(x_sizes)
        starts_in = read_vector(emit, op, op.starts)
        ends_in = read_vector(emit, op, op.ends)
        axes_in = read_vector(emit, op, op.axes)
        steps_in = read_vector(emit, op, op.steps)
        starts: list[Size] = [0] * rank
        steps: list[Size] = [1] * rank
        sizes: list[Size] = list(x_sizes)
        for k, (s, e, a, t) in enumerate(zip(starts_in, ends_in, axes_in, steps_in,
                                             strict=True)):
            assert_(emit, ix.cmp("ne", t, 0), "Slice: a step is 0")
            assert_(emit, ix.and_(ix.cmp("sge", a, -rank), ix.cmp("slt", a, rank)),
                    f"Slice: an axis is out of range for rank {rank}")
            a = ix.wrap_negative(a, rank)
            for d in range(rank):
                n = x_sizes[d]
                hit = ix.cmp("eq", a, d)
                pos = ix.cmp("sgt", t, 0)
                s_d = ix.wrap_negative(s, n)
                e_d = ix.wrap_negative(e, n)
                n1 = ix.subi(n, 1)
                s_d = ix.sel(pos, ix.clamp(s_d, 0, n), ix.clamp(s_d, 0, n1))
                e_d = ix.sel(pos, ix.clamp(e_d, 0, n), ix.clamp(e_d, -1, n1))
                span = ix.sel(pos, ix.subi(e_d, s_d), ix.subi(s_d, e_d))
                mag = ix.sel(pos, t, ix.subi(0, t))
                count = ix.maxi(ix.divi(ix.addi(span, ix.subi(mag, 1)), mag), 0)
                starts[d] = ix.sel(hit, s_d, starts[d])
                steps[d] = ix.sel(hit, t, steps[d])
                sizes[d] = ix.sel(hit, count, sizes[d])
            del k
        sizes = static_or(shape_of(op.result), sizes, emit, "Slice")
        result = _strided_copy(emit, op.input, sizes, starts, steps, op.result.type)
        rewriter.replace(op, [], [result])
