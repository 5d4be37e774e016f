"""Run-time dims in convert-graph-to-tensor: what is proven, what is checked, and how a dim
that is 1 only at run time broadcasts.

A kernel trusts the sizes it is given. Every relation between dims that the lowering
relies on — operands of an elementwise op that must broadcast, a contraction's two K
dims, the non-concatenated dims of a concat, a reshape's element count — is either proven
at compile time or checked at run time (`check.assert`, which reports the dims it saw)
before the kernel that needs it runs.

Proofs come from two places: static dims, and the symbolic shape analysis of the graph
function (dialects/symbolic_shapes.py), whose dims every lowered value inherits from the
graph value it replaces. With `checks="bounds"` the analysis is not trusted: its claims
become run-time checks like everything else, so a wrong rule fails loudly in tests.

A `?` dim that may be 1 at run time against a larger dim broadcasts through a strided
view whose stride is 0 exactly when the dim is 1 (`tensor.extract_slice` with a run-time
stride), so the kernel reads the same element along that dim without a copy.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from xdsl.dialects import arith, func, tensor
from xdsl.dialects.builtin import (
    AffineMapAttr,
    IntegerAttr,
    NameLoc,
    TensorType,
)
from xdsl.dialects.linalg.ops import FillOp, GenericOp, IndexOp
from xdsl.ir import Block, BlockArgument, Operation, OpResult, SSAValue
from xdsl.ir.affine import (
    AffineBinaryOpExpr,
    AffineBinaryOpKind,
    AffineConstantExpr,
    AffineDimExpr,
    AffineExpr,
    AffineMap,
)
from xdsl.pattern_rewriter import PatternRewriterListener
from xdsl.utils.exceptions import PassFailedException

from dialects import check
from dialects.graph import DYN
from dialects.symbolic import SymInt
from dialects.symbolic_shapes import SymbolicShapes

Size = int | SSAValue
"""A dim size: a Python int when static, an `index` SSA value when dynamic."""


class DimError(PassFailedException):
    """Static dims that contradict what an op needs: the graph is invalid."""


class Emitter(Protocol):
    """What these helpers need from graph_to_tensor's `Emit` (lowering/graph_to_tensor/emit.py)."""

    anchor: Operation
    dims: LoweringDims

    def __call__(self, op: Operation) -> SSAValue: ...
    def index(self, value: int) -> SSAValue: ...
    def value(self, size: Size) -> SSAValue: ...
    def size(self, tensor_value: SSAValue, dim: int) -> Size: ...
    def sizes(self, tensor_value: SSAValue) -> list[Size]: ...


@dataclass
class LoweringDims:
    """Per-function state: the graph's symbolic shapes and the exprs of size values."""

    analysis: SymbolicShapes = field(default_factory=SymbolicShapes)
    trust_analysis: bool = True
    exprs: dict[SSAValue, SymInt] = field(default_factory=dict)

    @staticmethod
    def for_function(fn: func.FuncOp, trust_analysis: bool = True) -> LoweringDims:
        return LoweringDims(SymbolicShapes(fn), trust_analysis)

    def listener(self) -> PatternRewriterListener:
        """Carries the graph dims of a replaced op's results over to their replacements."""

        def replaced(op: Operation, new: Sequence[SSAValue | None]) -> None:
            for old, value in zip(op.results, new, strict=False):
                if value is not None:
                    self.analysis.alias(old, value)

        return PatternRewriterListener(operation_replacement_handler=[replaced])

    # ---- what a size is

    def record(self, size: Size, expr: SymInt | None) -> Size:
        if expr is not None and isinstance(size, SSAValue):
            self.exprs.setdefault(size, expr)
        return size

    def expr(self, size: Size) -> SymInt | None:
        """The symbolic value of a size, when known."""
        if isinstance(size, int):
            return SymInt.const(size)
        known = self.exprs.get(size)
        if known is not None:
            return known
        owner = size.owner
        if isinstance(owner, arith.ConstantOp) and isinstance(owner.value, IntegerAttr):
            return SymInt.const(owner.value.value.data)
        if isinstance(owner, arith.IndexCastOp):
            return self.expr(owner.input)
        if isinstance(owner, tensor.DimOp):
            k = constant_index(owner.index)
            if k is not None:
                return self.analysis.dim(owner.source, k)
        return None

    def same(self, a: Size, b: Size) -> bool:
        """a == b at run time, proven: statically, by SSA identity, or by the analysis."""
        if isinstance(a, int) and isinstance(b, int):
            return a == b
        if a is b:
            return True
        if not self.trust_analysis:
            return False
        ea, eb = self.expr(a), self.expr(b)
        return ea is not None and ea == eb

    def is_one(self, size: Size) -> bool:
        return size == 1 or (self.trust_analysis and self.expr(size) == SymInt.const(1))


_CURRENT: contextvars.ContextVar[LoweringDims | None] = contextvars.ContextVar(
    "kiln_lowering_dims", default=None)


def current() -> LoweringDims:
    """The state of the function being lowered (an empty one outside the pass)."""
    state = _CURRENT.get()
    return state if state is not None else LoweringDims()


def lowering(state: LoweringDims) -> contextvars.Token[LoweringDims | None]:
    return _CURRENT.set(state)


def done(token: contextvars.Token[LoweringDims | None]) -> None:
    _CURRENT.reset(token)


def constant_index(value: SSAValue) -> int | None:
    owner = value.owner
    if isinstance(owner, arith.ConstantOp) and isinstance(owner.value, IntegerAttr):
        return owner.value.value.data
    return None


def reified_size(value: SSAValue, k: int) -> Size | None:
    """The size that the producer of `value` gave its dim `k`, without new ops.

    Follows linalg results to their `outs` and `tensor.empty` to its size operands, so a
    dim that an earlier lowering computed is reused (and compares by SSA identity).
    """
    for _ in range(64):  # producer chains are short; never loop on malformed IR
        t = value.type
        if not isinstance(t, TensorType):
            return None
        shape = t.get_shape()
        if k >= len(shape):
            return None
        if shape[k] != DYN:
            return shape[k]
        owner = value.owner
        if isinstance(owner, GenericOp | FillOp) and isinstance(value, OpResult):
            value = owner.outputs[value.index]
            continue
        if isinstance(owner, tensor.EmptyOp):
            position = sum(1 for d in shape[:k] if d == DYN)
            return owner.dynamic_sizes[position]
        if isinstance(owner, tensor.CastOp):
            value = owner.source
            continue
        if isinstance(owner, tensor.ExtractSliceOp) and len(owner.static_sizes) == len(shape):
            sizes = owner.static_sizes.get_values()
            if sizes[k] != DYN:
                return sizes[k]
            return owner.sizes[sum(1 for d in sizes[:k] if d == DYN)]
        return None
    return None


# --------------------------------------------------------------------------- messages


def node_name(op: Operation) -> str | None:
    loc = op.location
    if isinstance(loc, NameLoc):
        return loc.desc.data
    return None


def op_label(op: Operation) -> str:
    """`graph.add (node '/attn/Add')`: how a check message names the op it protects."""
    name = node_name(op)
    return f"{op.name} (node '{name}')" if name else op.name


def operand_label(op: Operation, value: SSAValue) -> str:
    for i, operand in enumerate(op.operands):
        if operand is value:
            return f"operand {i}"
    return "an intermediate"


# --------------------------------------------------------------------------- checks


def emit_check(emit: Emitter, condition: SSAValue, message: str,
               values: Sequence[Size] = ()) -> None:
    """A run-time check before the op's kernels: `{i}` in `message` is `values[i]`."""
    if isinstance(condition.owner, arith.ConstantOp):
        value = condition.owner.value
        if isinstance(value, IntegerAttr) and value.value.data:
            return  # statically true
    ssa = [emit.value(v) for v in values[:check.MAX_VALUES]]
    emit(check.AssertOp(condition, f"{op_label(emit.anchor)}: {message}", ssa))


def _cmp(emit: Emitter, pred: str, a: Size, b: Size) -> SSAValue:
    return emit(arith.CmpiOp(emit.value(a), emit.value(b), pred))


def _or(emit: Emitter, *conds: SSAValue) -> SSAValue:
    result = conds[0]
    for c in conds[1:]:
        result = emit(arith.OrIOp(result, c))
    return result


def check_equal(emit: Emitter, a: Size, b: Size, message: str) -> None:
    """Check a == b unless proven; `message` has {0} for a and {1} for b."""
    dims = emit.dims
    if dims.same(a, b):
        return
    if isinstance(a, int) and isinstance(b, int):
        raise DimError(f"{op_label(emit.anchor)}: {message.format(a, b)}")
    emit_check(emit, _cmp(emit, "eq", a, b), message, [a, b])


def check_at_least(emit: Emitter, size: Size, needed: Size, message: str) -> None:
    """Check size >= needed unless proven; `message` has {0} for size, {1} for needed."""
    if emit.dims.same(size, needed):
        return
    if isinstance(size, int) and isinstance(needed, int):
        if size < needed:
            raise DimError(f"{op_label(emit.anchor)}: {message.format(size, needed)}")
        return
    emit_check(emit, _cmp(emit, "sge", size, needed), message, [size, needed])


# --------------------------------------------------------------------------- broadcasting


@dataclass
class BroadcastRead:
    """How a generic reads one operand of a broadcast: the value (maybe a view) and map."""

    value: SSAValue
    map: AffineMapAttr


def broadcast_operands(emit: Emitter, operands: Sequence[SSAValue],
                       out_shape: Sequence[int], result: SSAValue | None = None,
                       num_loops: int | None = None, first_loop: int = 0
                       ) -> tuple[list[Size], list[BroadcastRead]]:
    """numpy broadcasting of `operands` onto a result of `out_shape` (static or `?`).

    Returns the result's sizes and, per operand, the value to read and its indexing map
    over loops `first_loop .. first_loop + rank` (of `num_loops`). Static size-1 dims read
    index 0; `?` dims that are not proven equal to the result dim are checked (1 or equal)
    and read through a stride-0-when-1 view.
    """
    sizes, checked = broadcast_sizes(emit, operands, out_shape, result)
    return sizes, broadcast_reads(emit, operands, sizes, checked, num_loops, first_loop)


def broadcast_sizes(emit: Emitter, operands: Sequence[SSAValue], out_shape: Sequence[int],
                    result: SSAValue | None = None, tails: Sequence[int] | None = None
                    ) -> tuple[list[Size], list[set[int]]]:
    """The broadcast result's sizes, and per operand the result dims whose compatibility
    the computation already checked (every candidate is 1 or the result). The last
    `tails[j]` dims of operand j take no part (a matmul's matrix dims)."""
    dims = emit.dims
    rank = len(out_shape)
    result_exprs = dims.analysis.dims_of(result) if result is not None else None
    tails = tails or [0] * len(operands)
    operand_sizes = [emit.sizes(v)[:len(shape_of_value(v)) - t]
                     for v, t in zip(operands, tails, strict=True)]
    sizes: list[Size] = []
    checked: list[set[int]] = [set() for _ in operands]
    for d in range(rank):
        column = [(j, d - (rank - len(s))) for j, s in enumerate(operand_sizes)
                  if d - (rank - len(s)) >= 0]
        if out_shape[d] != DYN:
            sizes.append(out_shape[d])
            continue
        candidates: list[tuple[int, Size]] = []
        for j, i in column:
            s = operand_sizes[j][i]
            if dims.is_one(s) or any(dims.same(s, c) for _, c in candidates):
                continue
            candidates.append((j, s))
        out: Size = 1
        if candidates:
            out = candidates[0][1]
            for j, y in candidates[1:]:
                ok = _or(emit, _cmp(emit, "eq", out, 1), _cmp(emit, "eq", y, 1),
                         _cmp(emit, "eq", out, y))
                emit_check(emit, ok, f"operands do not broadcast: dim {d} of the result is "
                           f"{{0}} by one operand but {{1}} in "
                           f"{operand_label(emit.anchor, operands[j])}", [out, y])
                out = emit(arith.SelectOp(_cmp(emit, "eq", out, 1), emit.value(y),
                                          emit.value(out)))
            for j, _ in candidates:
                checked[j].add(d)
        if result_exprs is not None and d < len(result_exprs):
            dims.record(out, result_exprs[d])
        sizes.append(out)
    return sizes, checked


def shape_of_value(v: SSAValue) -> tuple[int, ...]:
    t = v.type
    assert isinstance(t, TensorType)
    return tuple(t.get_shape())


def broadcast_reads(emit: Emitter, operands: Sequence[SSAValue], sizes: Sequence[Size],
                    checked: Sequence[set[int]] | None = None, num_loops: int | None = None,
                    first_loop: int = 0, tails: Sequence[int] | None = None
                    ) -> list[BroadcastRead]:
    """How each operand is read when broadcast onto a result of `sizes` (the map covers
    the broadcast dims only when `tails` excludes trailing ones: the caller adds those)."""
    dims = emit.dims
    rank = len(sizes)
    num_loops = rank + first_loop if num_loops is None else num_loops
    tails = tails or [0] * len(operands)
    reads: list[BroadcastRead] = []
    for j, v in enumerate(operands):
        all_sizes = emit.sizes(v)
        own = all_sizes[:len(all_sizes) - tails[j]]
        offset = rank - len(own)
        done = checked[j] if checked is not None else set()
        exprs: list[AffineExpr] = []
        view_sizes: list[Size] = []
        view_strides: list[Size] = []
        needs_view = False
        for i, s in enumerate(own):
            d = offset + i
            out = sizes[d]
            if dims.is_one(s) and not dims.is_one(out):
                exprs.append(AffineExpr.constant(0))
                view_sizes.append(1)
                view_strides.append(1)
                continue
            exprs.append(AffineExpr.dimension(first_loop + d))
            if isinstance(s, int) or dims.same(s, out):
                if isinstance(s, int) and isinstance(out, int) and s != out:
                    raise DimError(f"{op_label(emit.anchor)}: dim {i} of "
                                   f"{operand_label(emit.anchor, v)} is {s}, the result's "
                                   f"is {out}")
                view_sizes.append(s)
                view_strides.append(1)
                continue
            if d not in done:
                ok = _or(emit, _cmp(emit, "eq", s, out), _cmp(emit, "eq", s, 1))
                emit_check(emit, ok, f"dim {i} of {operand_label(emit.anchor, v)} is {{0}}, "
                           f"which does not broadcast to {{1}}", [s, out])
            is_one = _cmp(emit, "eq", s, 1)
            view_strides.append(emit(arith.SelectOp(is_one, emit.index(0), emit.index(1))))
            view_sizes.append(out)
            needs_view = True
        value = v
        if needs_view:
            tail = all_sizes[len(own):]
            value = broadcast_view(emit, v, [*view_sizes, *tail],
                                   [*view_strides, *[1] * len(tail)])
        reads.append(BroadcastRead(value, AffineMapAttr(AffineMap(num_loops, 0,
                                                                   tuple(exprs)))))
    return reads


def broadcast_view(emit: Emitter, value: SSAValue, sizes: Sequence[Size],
                   strides: Sequence[Size]) -> SSAValue:
    """`value` seen with `sizes` and element strides `strides` (0 repeats an element)."""
    t = value.type
    assert isinstance(t, TensorType)
    shape = [s if isinstance(s, int) else DYN for s in sizes]
    view = tensor.ExtractSliceOp(value, [0] * len(sizes), list(sizes), list(strides),
                                 TensorType(t.element_type, shape))
    return emit(view)


# --------------------------------------------------------------------------- generics


def loop_ranges(operands: Sequence[SSAValue], maps: Sequence[AffineMap], num_loops: int,
                outs_first: int, size: Callable[[SSAValue, int], Size]
                ) -> list[tuple[Size, int, int] | None]:
    """Each loop's range as lower-linalg-to-loops takes it: the first operand dim (outputs
    first) indexed by exactly that loop; with the (operand, dim) it came from."""
    order = [*range(outs_first, len(operands)), *range(outs_first)]
    ranges: list[tuple[Size, int, int] | None] = [None] * num_loops
    for j in order:
        for pos, r in enumerate(maps[j].results):
            if isinstance(r, AffineDimExpr) and ranges[r.position] is None:
                ranges[r.position] = (size(operands[j], pos), j, pos)
    return ranges


def verify_generic(emit: Emitter, generic: GenericOp) -> None:
    """Check, before `generic` runs, that every operand has the dims its maps read.

    Linalg's contract: all operand dims indexed by the same loop are equal. Affine reads
    (a conv window `oh * s + kh`) must stay below the operand's dim at the loops' last
    iteration. Reads in the body with `tensor.extract` of a captured tensor at an index
    that is exactly a loop index must also fit the tensor's dim. Clamped and computed
    indices are the pattern's own responsibility (they are clamped by construction).
    """
    operands = list(generic.operands)
    maps = [m.data for m in generic.get_indexing_maps()]
    n_loops = len(generic.get_iterator_types())
    n_in = len(generic.inputs)
    ranges = loop_ranges(operands, maps, n_loops, n_in, emit.size)
    if any(r is None for r in ranges):
        return  # lower-linalg-to-loops rejects it with its own message
    bounds = [r[0] for r in ranges]  # type: ignore[index]
    for j, (v, m) in enumerate(zip(operands, maps, strict=True)):
        if not isinstance(v.type, TensorType):
            continue
        for pos, e in enumerate(m.results):
            _verify_read(emit, generic, v, pos, e, bounds, ranges, j)
    _verify_body_reads(emit, generic, bounds)


def _verify_read(emit: Emitter, generic: GenericOp, v: SSAValue, pos: int, e: AffineExpr,
                 bounds: list[Size], ranges: list, j: int) -> None:
    dims = emit.dims
    size = emit.size(v, pos)
    what = operand_label(emit.anchor, v)
    if isinstance(e, AffineDimExpr):
        origin = ranges[e.position]
        if origin[1] == j and origin[2] == pos:
            return  # this dim defines the loop
        check_equal(emit, size, bounds[e.position],
                    f"dim {pos} of {what} is {{0}}, expected {{1}} (the size of the "
                    f"loop it shares)")
        return
    if isinstance(e, AffineConstantExpr):
        if e.value == 0 and (size == 1 or dims.is_one(size)):
            return
        if isinstance(size, int):
            if e.value >= size:
                raise DimError(f"{op_label(emit.anchor)}: reads index {e.value} of dim "
                                 f"{pos} of {what}, whose size is {size}")
            return
        emit_check(emit, _cmp(emit, "slt", e.value, size),
                   f"reads index {e.value} of dim {pos} of {what}, whose size is {{0}}",
                   [size])
        return
    top = _max_index(emit, e, bounds)
    if top is None:
        return
    if isinstance(top, int) and isinstance(size, int):
        if top >= size:
            raise DimError(f"{op_label(emit.anchor)}: reads up to index {top} of dim "
                             f"{pos} of {what}, whose size is {size}")
        return
    emit_check(emit, _or(emit, _cmp(emit, "slt", top, size), _any_empty(emit, bounds, e)),
               f"reads up to index {{0}} of dim {pos} of {what}, whose size is {{1}}",
               [top, size])


def _any_empty(emit: Emitter, bounds: list[Size], e: AffineExpr) -> SSAValue:
    """True when a loop the expression uses has no iterations (nothing is read)."""
    used = sorted({x.position for x in e.dfs() if isinstance(x, AffineDimExpr)})
    conds = [_cmp(emit, "eq", bounds[p], 0) for p in used]
    return _or(emit, *conds) if conds else emit(arith.ConstantOp.from_int_and_width(0, 1))


def _max_index(emit: Emitter, e: AffineExpr, bounds: list[Size]) -> Size | None:
    """The largest value of a sum of non-negative multiples of loop indices (+ const)
    over the loops' ranges, or None for other expressions."""
    if isinstance(e, AffineConstantExpr):
        return e.value
    if isinstance(e, AffineDimExpr):
        return _sub1(emit, bounds[e.position])
    if isinstance(e, AffineBinaryOpExpr):
        if e.kind == AffineBinaryOpKind.Add:
            a, b = _max_index(emit, e.lhs, bounds), _max_index(emit, e.rhs, bounds)
            if a is None or b is None:
                return None
            return _add(emit, a, b)
        if e.kind == AffineBinaryOpKind.Mul:
            for x, c in ((e.lhs, e.rhs), (e.rhs, e.lhs)):
                if isinstance(c, AffineConstantExpr) and c.value >= 0:
                    m = _max_index(emit, x, bounds)
                    if m is None:
                        return None
                    if isinstance(m, int):
                        return m * c.value
                    return emit(arith.MuliOp(emit.value(m), emit.index(c.value)))
    return None


def _sub1(emit: Emitter, size: Size) -> Size:
    if isinstance(size, int):
        return size - 1
    return emit(arith.SubiOp(size, emit.index(1)))


def _add(emit: Emitter, a: Size, b: Size) -> Size:
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    return emit(arith.AddiOp(emit.value(a), emit.value(b)))


def _verify_body_reads(emit: Emitter, generic: GenericOp, bounds: list[Size]) -> None:
    block: Block = generic.body.block
    loop_of: dict[SSAValue, int] = {}
    for op in block.ops:
        if isinstance(op, IndexOp):
            loop_of[op.result] = op.dim.value.data
    for op in block.walk():
        if not isinstance(op, tensor.ExtractOp):
            continue
        source = op.tensor
        if isinstance(source, BlockArgument) and source.owner is block:
            continue
        if not isinstance(source.type, TensorType):
            continue
        for pos, index in enumerate(op.indices):
            loop = loop_of.get(index)
            if loop is not None:  # reads elements 0 .. bound - 1 (a prefix is fine)
                check_at_least(emit, emit.size(source, pos), bounds[loop],
                               f"dim {pos} of {operand_label(emit.anchor, source)} is {{0}}, "
                               f"but {{1}} elements are read along it")
                continue
            c = constant_index(index)
            if c is not None:
                size = emit.size(source, pos)
                if isinstance(size, int):
                    if c >= size:
                        raise DimError(f"{op_label(emit.anchor)}: reads index {c} of dim "
                                         f"{pos} of a tensor of size {size}")
                else:
                    emit_check(emit, _cmp(emit, "slt", c, size),
                               f"reads index {c} of dim {pos} of "
                               f"{operand_label(emit.anchor, source)}, whose size is {{0}}",
                               [size])

