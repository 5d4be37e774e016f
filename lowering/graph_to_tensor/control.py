"""convert-graph-to-tensor patterns: control flow (graph.if / loop / scan)."""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects import arith, scf, tensor
from xdsl.dialects.builtin import (
    IndexType,
    IntegerType,
    i64,
)
from xdsl.dialects.linalg.ops import FillOp, GenericOp
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.pattern_rewriter import (
    PatternRewriter,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.traits import is_side_effect_free

from dialects import graph
from dialects.graph import DYN, ints, shape_of
from lowering.graph_to_tensor.emit import Emit, Size, elt_type, fail

# --------------------------------------------------------------------------- control flow
# graph.if -> scf.if, graph.loop -> scf.for / scf.while, graph.scan -> scf.for, all on
# tensors: carried values are iter_args; scan outputs are preallocated [trip, ...]
# tensors carried through the loop and written one slice per iteration
# (tensor.insert_slice); scan inputs are read with rank-reducing tensor.extract_slice.
# The walker lowers region bodies first, so these patterns see lowered bodies that
# still end in graph.yield.


def _scalar_of(emit: Emit, value: SSAValue) -> SSAValue:
    """The element of a one-element tensor."""
    zeros = [emit.index(0) for _ in shape_of(value)]
    return emit(tensor.ExtractOp(value, zeros, elt_type(value)))


def cast_to(value: SSAValue, t: Attribute, before: Operation) -> SSAValue:
    """`value` as type `t` (a tensor.cast when the static dims differ)."""
    if value.type == t:
        return value
    cast = tensor.CastOp(value, t)
    Rewriter.insert_op(cast, InsertPoint.before(before))
    return cast.dest


def insert_before(op: Operation, before: Operation) -> SSAValue:
    Rewriter.insert_op(op, InsertPoint.before(before))
    return op.results[0]


def index_const(value: int, before: Operation) -> SSAValue:
    return insert_before(arith.ConstantOp.from_int_and_width(value, IndexType()), before)


def _as_tensor(scalar: SSAValue, t: Attribute, before: Operation) -> SSAValue:
    """A one-element tensor of type `t` holding `scalar`."""
    return insert_before(tensor.FromElementsOp(scalar, result_type=t), before)


def _replace_yield(block: Block, values: Sequence[SSAValue] | None = None,
                   terminator: type[Operation] = scf.YieldOp) -> None:
    """Swap the block's graph.yield for an scf terminator (of `values` if given)."""
    old = block.last_op
    assert isinstance(old, graph.YieldOp)
    new = terminator(*(old.values if values is None else values))
    Rewriter.replace_op(old, new)


def _yielded(block: Block) -> list[SSAValue]:
    last = block.last_op
    assert isinstance(last, graph.YieldOp)
    return list(last.values)


class IfPattern(RewritePattern):
    """graph.if -> scf.if on the extracted i1 condition."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.IfOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        cond = _scalar_of(emit, op.cond)
        types = list(op.outputs.types)
        regions = []
        for region in (op.then_region, op.else_region):
            block = region.blocks.first
            assert block is not None
            yield_op = block.last_op
            assert yield_op is not None
            values = [cast_to(v, t, yield_op) for v, t in zip(_yielded(block), types,
                                                                 strict=True)]
            _replace_yield(block, values)
            regions.append(op.detach_region(region))
        rewriter.replace(op, scf.IfOp(cond, types, regions[0], regions[1]))


def _dim_outside(value: SSAValue, dim: int, loop: Operation, emit: Emit,
                 args: dict[SSAValue, tuple[SSAValue, list[int]]]) -> Size | None:
    """Size `dim` of `value` (defined in `loop`'s body) computed before `loop`.

    Follows tensor.empty sizes and linalg outs back to values outside the loop or to
    body arguments (`args`: argument -> (outer value, outer dim of each arg dim)).
    None when the size is only known inside the loop.
    """
    s = shape_of(value)[dim]
    if s != DYN:
        return s
    if value in args:
        outer, dims = args[value]
        return emit.size(outer, dims[dim])
    owner = value.owner
    if not loop.is_ancestor(owner if isinstance(owner, Operation) else owner.parent_op()):
        return emit.size(value, dim)
    if isinstance(owner, GenericOp | FillOp):
        return _dim_outside(owner.outputs[value.index], dim, loop, emit, args)
    if isinstance(owner, tensor.CastOp):
        return _dim_outside(owner.source, dim, loop, emit, args)
    if isinstance(owner, tensor.EmptyOp):
        shape = shape_of(value)
        k = sum(1 for d in shape[:dim] if d == DYN)
        return _index_outside(owner.dynamic_sizes[k], loop, emit, args)
    return None


def _index_outside(value: SSAValue, loop: Operation, emit: Emit,
                   args: dict[SSAValue, tuple[SSAValue, list[int]]]) -> Size | None:
    owner = value.owner
    if not isinstance(owner, Operation) or not loop.is_ancestor(owner):
        return None if isinstance(owner, Block) and loop.is_ancestor(
            owner.parent_op() or loop) else value
    if isinstance(owner, tensor.DimOp):
        const = owner.index.owner
        if isinstance(const, arith.ConstantOp):
            return _dim_outside(owner.source, const.value.value.data, loop, emit, args)
        return None
    if isinstance(owner, arith.ConstantOp):
        return owner.value.value.data
    kinds = {arith.AddiOp: emit.add, arith.SubiOp: emit.sub, arith.MuliOp: emit.mul,
             arith.DivSIOp: emit.div, arith.MaxSIOp: emit.max}
    if type(owner) in kinds:
        a = _index_outside(owner.operands[0], loop, emit, args)
        b = _index_outside(owner.operands[1], loop, emit, args)
        if a is None or b is None:
            return None
        return kinds[type(owner)](a, b)
    return None


def _scan_buffers(emit: Emit, op: Operation, slices: Sequence[SSAValue],
                  result_types: Sequence[Attribute], axes: Sequence[int], trip: Size,
                  args: dict[SSAValue, tuple[SSAValue, list[int]]]) -> list[SSAValue]:
    """One `tensor.empty` per scan output: the slice shape with `trip` at its axis."""
    buffers = []
    for v, t, axis in zip(slices, result_types, axes, strict=True):
        sizes: list[Size] = []
        for d in range(len(shape_of(v))):
            size = _dim_outside(v, d, op, emit, args)
            if size is None:
                raise fail(op, f"the size of dim {d} of scan output slices is known only "
                            "inside the loop")
            sizes.append(size)
        full = shape_of(t)
        sizes.insert(axis, full[axis] if full[axis] != DYN else trip)
        sizes = [full[i] if full[i] != DYN else s for i, s in enumerate(sizes)]
        buffers.append(emit.empty(sizes, graph.element_type_of(t)))
    return buffers


def _insert_slice(value: SSAValue, dest: SSAValue, axis: int, at: SSAValue,
                  before: Operation) -> SSAValue:
    """dest with `value` (rank one less) written at position `at` along `axis`."""
    shape = shape_of(dest)
    sizes: list[int | SSAValue] = []
    for d, s in enumerate(shape):
        if d == axis:
            sizes.append(1)
        elif s != DYN:
            sizes.append(s)
        else:
            sizes.append(insert_before(tensor.DimOp(dest, index_const(d, before)), before))
    offsets: list[int | SSAValue] = [0] * len(shape)
    offsets[axis] = at
    static_o = [DYN if isinstance(o, SSAValue) else o for o in offsets]
    static_s = [DYN if isinstance(s, SSAValue) else s for s in sizes]
    op = tensor.InsertSliceOp.get(
        value, dest, static_s, static_o, [1] * len(shape),
        offsets=[o for o in offsets if isinstance(o, SSAValue)],
        sizes=[s for s in sizes if isinstance(s, SSAValue)])
    return insert_before(op, before)


def extract_slice(emit: Emit, source: SSAValue, axis: int, at: SSAValue,
                   result_type: Attribute, before: Operation) -> SSAValue:
    """Rank-reducing slice of `source` at position `at` along `axis`."""
    shape = shape_of(source)
    offsets: list[int | SSAValue] = [0] * len(shape)
    offsets[axis] = at
    sizes: list[int | SSAValue] = []
    for d in range(len(shape)):
        s = 1 if d == axis else emit.size(source, d)
        sizes.append(s)
    op = tensor.ExtractSliceOp(source, offsets, sizes, [1] * len(shape), result_type)
    return insert_before(op, before)


def scan_position(iv: SSAValue, trip: SSAValue, reverse: bool, before: Operation) -> SSAValue:
    """iv, or trip - 1 - iv when reading/writing from the end."""
    if not reverse:
        return iv
    last = insert_before(arith.SubiOp(trip, index_const(1, before)), before)
    return insert_before(arith.SubiOp(last, iv), before)


class ScanPattern(RewritePattern):
    """graph.scan -> scf.for over the scan axis; states and output buffers as iter_args."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ScanOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        n = len(op.inits)
        in_axes, in_dirs = ints(op.input_axes), ints(op.input_directions)
        out_axes, out_dirs = ints(op.output_axes), ints(op.output_directions)
        trip = emit.value(emit.size(op.scan_inputs[0], in_axes[0]))
        block = op.body.blocks.first
        assert block is not None
        slice_args = list(block.args[n:])
        args: dict[SSAValue, tuple[SSAValue, list[int]]] = {}
        for arg, init in zip(block.args[:n], op.inits, strict=True):
            args[arg] = (init, list(range(len(shape_of(init)))))
        for arg, x, axis in zip(slice_args, op.scan_inputs, in_axes, strict=True):
            args[arg] = (x, [d for d in range(len(shape_of(x))) if d != axis])
        yielded = _yielded(block)
        buffers = _scan_buffers(emit, op, yielded[n:], list(op.outputs.types)[n:], out_axes,
                                trip, args)
        inits = list(op.inits)
        # body block: (iv, states..., buffers...) instead of (states..., slices...)
        iv = block.insert_arg(IndexType(), 0)
        first = block.first_op
        assert first is not None
        for arg, x, axis, rev in zip(slice_args, op.scan_inputs, in_axes, in_dirs,
                                     strict=True):
            at = scan_position(iv, trip, bool(rev), first)
            arg.replace_all_uses_with(extract_slice(emit, x, axis, at, arg.type, first))
            block.erase_arg(arg)
        buf_args = [block.insert_arg(b.type, len(block.args)) for b in buffers]
        yield_op = block.last_op
        assert yield_op is not None
        new_yield = [cast_to(v, a.type, yield_op)
                     for v, a in zip(yielded[:n], block.args[1:n + 1], strict=True)]
        for v, buf, axis, rev in zip(yielded[n:], buf_args, out_axes, out_dirs, strict=True):
            at = scan_position(iv, trip, bool(rev), yield_op)
            new_yield.append(_insert_slice(v, buf, axis, at, yield_op))
        _replace_yield(block, new_yield)
        body = op.detach_region(op.body)
        loop = scf.ForOp(emit.index(0), trip, emit.index(1), [*inits, *buffers], body)
        emit(loop)
        results = [cast_to(r, t, op) for r, t in zip(loop.results, op.outputs.types,
                                                      strict=True)]
        rewriter.replace(op, [], results)


class LoopPattern(RewritePattern):
    """graph.loop -> scf.for (no condition, or scan outputs: after a counting
    scf.while) or scf.while (condition, no scan outputs)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.LoopOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        k = op.num_scan_outputs
        bound: SSAValue | None = None
        if op.max_trip is not None:
            m = _scalar_of(emit, op.max_trip)
            bound = emit(arith.IndexCastOp(m, IndexType()))
            bound = emit.value(emit.max(bound, emit.index(0)))
        if op.cond is None and bound is None:
            raise fail(op, "a loop with neither a trip count nor a condition never ends")
        if op.cond is None:
            assert bound is not None
            self.for_loop(emit, op, bound, rewriter)
            return
        if k == 0:
            results = self.while_loop(emit, op, bound, op.body.clone())
            rewriter.replace(op, [], results[2:])
            return
        count = self.while_loop(emit, op, bound, op.body.clone())[0]
        self.for_loop(emit, op, count, rewriter)

    def for_loop(self, emit: Emit, op: graph.LoopOp, trip: SSAValue,
                 rewriter: PatternRewriter) -> None:
        n = len(op.inits)
        block = op.body.blocks.first
        assert block is not None
        yielded = _yielded(block)
        args = {arg: (init, list(range(len(shape_of(init)))))
                for arg, init in zip(block.args[2:], op.inits, strict=True)}
        buffers = _scan_buffers(emit, op, yielded[n + 1:], list(op.outputs.types)[n:],
                                [0] * op.num_scan_outputs, trip, args)
        true = emit(arith.ConstantOp.from_int_and_width(1, 1))
        iv = block.insert_arg(IndexType(), 0)
        self._iteration_args_at(block, iv, true)
        yielded = _yielded(block)
        buf_args = [block.insert_arg(b.type, len(block.args)) for b in buffers]
        yield_op = block.last_op
        assert yield_op is not None
        new_yield = [cast_to(v, a.type, yield_op)
                     for v, a in zip(yielded[1:n + 1], block.args[1:n + 1], strict=True)]
        for v, buf in zip(yielded[n + 1:], buf_args, strict=True):
            new_yield.append(_insert_slice(v, buf, 0, iv, yield_op))
        _replace_yield(block, new_yield)
        body = op.detach_region(op.body)
        loop = scf.ForOp(emit.index(0), trip, emit.index(1), [*op.inits, *buffers], body)
        emit(loop)
        results = [cast_to(r, t, op) for r, t in zip(loop.results, op.outputs.types,
                                                      strict=True)]
        rewriter.replace(op, [], results)

    def _iteration_args_at(self, block: Block, iv: SSAValue, cond: SSAValue) -> None:
        # block args are now (iv, iteration, cond, carried...)
        first = block.first_op
        assert first is not None
        it_arg, cond_arg = block.args[1], block.args[2]
        if it_arg.uses:
            it64 = insert_before(arith.IndexCastOp(iv, i64), first)
            it_arg.replace_all_uses_with(_as_tensor(it64, it_arg.type, first))
        if cond_arg.uses:
            cond_arg.replace_all_uses_with(_as_tensor(cond, cond_arg.type, first))
        block.erase_arg(it_arg)
        block.erase_arg(cond_arg)

    @staticmethod
    def while_loop(emit: Emit, op: graph.LoopOp, bound: SSAValue | None,
                   body: Region) -> list[SSAValue]:
        """scf.while over (i, cond, carried...) dropping scan slices; its results."""
        n = len(op.inits)
        assert op.cond is not None
        cond0 = _scalar_of(emit, op.cond)
        inits = [emit.index(0), cond0, *op.inits]
        types = [a.type for a in inits]
        before = Block(arg_types=types)
        go = before.args[1]
        if bound is not None:
            lt = arith.CmpiOp(before.args[0], bound, "slt")
            both = arith.AndIOp(lt, go)
            before.add_ops([lt, both])
            go = both.result
        before.add_op(scf.ConditionOp(go, *before.args))
        block = body.blocks.first
        assert block is not None
        yielded = _yielded(block)
        i_arg = block.insert_arg(IndexType(), 0)
        c_arg = block.insert_arg(IntegerType(1), 1)
        # args: (i, c, iteration tensor, cond tensor, carried...)
        first = block.first_op
        assert first is not None
        it_arg, cond_arg = block.args[2], block.args[3]
        if it_arg.uses:
            it64 = insert_before(arith.IndexCastOp(i_arg, i64), first)
            it_arg.replace_all_uses_with(_as_tensor(it64, it_arg.type, first))
        if cond_arg.uses:
            cond_arg.replace_all_uses_with(_as_tensor(c_arg, cond_arg.type, first))
        block.erase_arg(it_arg)
        block.erase_arg(cond_arg)
        yielded = _yielded(block)
        yield_op = block.last_op
        assert yield_op is not None
        nxt = insert_before(arith.AddiOp(i_arg, index_const(1, yield_op)), yield_op)
        c_next = yielded[0]
        zeros = [index_const(0, yield_op) for _ in shape_of(c_next)]
        c_scalar = insert_before(tensor.ExtractOp(c_next, zeros, IntegerType(1)), yield_op)
        carried = [cast_to(v, a.type, yield_op)
                   for v, a in zip(yielded[1:n + 1], block.args[2:], strict=True)]
        _replace_yield(block, [nxt, c_scalar, *carried])
        _erase_dead(block)
        loop = scf.WhileOp(inits, types, Region(before), body)
        emit(loop)
        return list(loop.results)


def _erase_dead(block: Block) -> None:
    """Drop side-effect-free ops whose results nobody uses (dropped scan slices)."""
    changed = True
    while changed:
        changed = False
        for inner in reversed(list(block.ops)):
            if inner.results and not any(r.uses for r in inner.results) and \
                    is_side_effect_free(inner):
                Rewriter.erase_op(inner)
                changed = True
