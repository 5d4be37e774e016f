"""insert-bounds-checks: a run-time check on every memory access of the loop level.

The debug mode behind `compile(..., checks="bounds")`, after MLIR's runtime verification
(`-generate-runtime-verification`): before every `memref.load` / `memref.store` each index
is checked against its dim, every `memref.reinterpret_cast` view is checked to stay inside
the buffer it views, and every `memref.copy` to copy between equal shapes. Calls of the
generated GEMM kernel are checked by lower-linalg-to-loops itself (`bounds=true`), since
only it knows which buffer each address comes from. An access that would leave its buffer
becomes an InputError naming the op of the model that the kernel computes, never a read
of foreign memory. It is slow (a compare and a branch per access): tests and the fuzzer
run with it, users turn it on to track down a problem.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, memref
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    IndexType,
    MemRefType,
    ModuleOp,
    NoneAttr,
)
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from dialects import check
from lowering.dims import node_name


class _Before:
    """Inserts index arithmetic and checks right before one op."""

    def __init__(self, op: Operation):
        self.point = InsertPoint.before(op)
        self.origin = _origin(op)

    def __call__(self, op: Operation) -> SSAValue:
        Rewriter.insert_op(op, self.point)
        return op.results[0] if op.results else None  # type: ignore[return-value]

    def const(self, value: int) -> SSAValue:
        return self(arith.ConstantOp.from_int_and_width(value, IndexType()))

    def size(self, value: SSAValue, dim: int) -> SSAValue:
        t = value.type
        assert isinstance(t, MemRefType)
        s = t.get_shape()[dim]
        return self.const(s) if s != DYNAMIC_INDEX else self(memref.DimOp(value,
                                                                          self.const(dim)))

    def cmp(self, pred: str, a: SSAValue, b: SSAValue) -> SSAValue:
        return self(arith.CmpiOp(a, b, pred))

    def check(self, condition: SSAValue, message: str, values: list[SSAValue]) -> None:
        self(check.AssertOp(condition, f"out-of-bounds access{self.origin}: {message}",
                            values))


def _origin(op: Operation) -> str:
    name = node_name(op)
    return f" in the kernel of node '{name}'" if name else ""


def _check_indices(b: _Before, buffer: SSAValue, indices: list[SSAValue], what: str) -> None:
    for dim, index in enumerate(indices):
        size = b.size(buffer, dim)
        ok = b(arith.AndIOp(b.cmp("sge", index, b.const(0)), b.cmp("slt", index, size)))
        b.check(ok, f"{what} at index {{0}} of dim {dim}, whose size is {{1}}", [index, size])


def _mixed(static: tuple[int, ...], dynamic: list[SSAValue], b: _Before) -> list[SSAValue]:
    it = iter(dynamic)
    return [next(it) if s == DYNAMIC_INDEX else b.const(s) for s in static]


def _extent(b: _Before, value: SSAValue) -> SSAValue | None:
    """How many elements the buffer under `value` holds (from its root allocation)."""
    for _ in range(32):
        t = value.type
        if not isinstance(t, MemRefType):
            return None
        owner = value.owner
        if isinstance(t.layout, NoneAttr):
            total = b.const(1)
            for d in range(len(t.get_shape())):
                total = b(arith.MuliOp(total, b.size(value, d)))
            return total
        if isinstance(owner, memref.ReinterpretCastOp | memref.CastOp):
            value = owner.source
            continue
        return None
    return None


def _check_view(b: _Before, op: memref.ReinterpretCastOp) -> None:
    extent = _extent(b, op.source)
    if extent is None:
        return
    offset = _mixed(op.static_offsets.get_values(), list(op.offsets), b)[0]
    sizes = _mixed(op.static_sizes.get_values(), list(op.sizes), b)
    strides = _mixed(op.static_strides.get_values(), list(op.strides), b)
    last = offset
    empty = b(arith.ConstantOp.from_int_and_width(0, 1))
    one = b.const(1)
    for size, stride in zip(sizes, strides, strict=True):
        last = b(arith.AddiOp(last, b(arith.MuliOp(b(arith.SubiOp(size, one)), stride))))
        empty = b(arith.OrIOp(empty, b.cmp("eq", size, b.const(0))))
    nonneg = b.cmp("sge", offset, b.const(0))
    ok = b(arith.OrIOp(empty, b(arith.AndIOp(nonneg, b.cmp("slt", last, extent)))))
    b.check(ok, "a view reaches element {0} of a buffer of {1} elements", [last, extent])


def _check_copy(b: _Before, op: memref.CopyOp) -> None:
    src_t, dst_t = op.source.type, op.destination.type
    assert isinstance(src_t, MemRefType) and isinstance(dst_t, MemRefType)
    for d in range(len(src_t.get_shape())):
        a, c = b.size(op.source, d), b.size(op.destination, d)
        b.check(b.cmp("eq", a, c), f"a copy between buffers of different dim {d}: {{0}} "
                "and {1}", [a, c])


def insert_bounds_checks(module: ModuleOp) -> None:
    for op in list(module.walk()):
        if isinstance(op, memref.LoadOp):
            _check_indices(_Before(op), op.memref, list(op.indices), "a read")
        elif isinstance(op, memref.StoreOp):
            _check_indices(_Before(op), op.memref, list(op.indices), "a write")
        elif isinstance(op, memref.ReinterpretCastOp):
            _check_view(_Before(op), op)
        elif isinstance(op, memref.CopyOp):
            _check_copy(_Before(op), op)


@dataclass(frozen=True)
class InsertBoundsChecksPass(ModulePass):
    """Check every load, store, view and copy of the loop level at run time (debug mode)."""

    name = "insert-bounds-checks"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        insert_bounds_checks(op)

