"""Type conversion and small IR-building helpers shared by convert-to-llvm."""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects import llvm
from xdsl.dialects.builtin import (
    BFloat16Type,
    DenseArrayBase,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    UnrealizedConversionCastOp,
    i8,
    i16,
    i64,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.pattern_rewriter import PatternRewriter

from dialects.graph.base import is_minifloat

PTR = llvm.LLVMPointerType()

# Descriptor field positions (MLIR's layout).
ALLOCATED, ALIGNED, OFFSET, SIZES, STRIDES = range(5)


def descriptor_type(rank: int) -> llvm.LLVMStructType:
    """`(allocated ptr, aligned ptr, offset, sizes[R], strides[R])`; rank 0 has no arrays."""
    fields: list[Attribute] = [PTR, PTR, i64]
    if rank:
        arr = llvm.LLVMArrayType(rank, i64)
        fields += [arr, arr]
    return llvm.LLVMStructType.from_type_list(fields)


def convert_type(t: Attribute) -> Attribute:
    """The llvm-dialect type that carries a value of type `t` (LLVM has no 8-/4-bit
    floats: a minifloat is its i8 bit pattern)."""
    if isinstance(t, IndexType):
        return i64
    if is_minifloat(t):
        return i8
    if isinstance(t, BFloat16Type):  # llvmlite has no bfloat (lowering/llvm_casts.py)
        return i16
    if isinstance(t, MemRefType):
        return descriptor_type(t.get_num_dims())
    return t


def element_type(t: MemRefType) -> Attribute:
    """The LLVM element type stored in a memref's buffer."""
    return convert_type(t.get_element_type())


def byte_size(t: Attribute) -> int:
    """Store size in bytes of a scalar element type."""
    if isinstance(t, IntegerType):
        return (t.width.data + 7) // 8
    if is_minifloat(t):
        return 1
    width = getattr(t, "bitwidth", None)
    if isinstance(width, int):
        return width // 8
    raise ValueError(f"no byte size for element type {t}")


Index = int | SSAValue


class Builder:
    """Collects the ops of one rewrite; folds i64 arithmetic on Python ints."""

    def __init__(self) -> None:
        self.ops: list[Operation] = []

    def add(self, op: Operation) -> SSAValue:
        self.ops.append(op)
        return op.results[0] if op.results else None  # type: ignore[return-value]

    def const(self, value: int | float, t: Attribute = i64) -> SSAValue:
        attr = FloatAttr(value, t) if not isinstance(t, IntegerType) else IntegerAttr(value, t)
        return self.add(llvm.ConstantOp(attr, t))  # type: ignore[arg-type]

    def val(self, v: Index) -> SSAValue:
        return self.const(v) if isinstance(v, int) else v

    def mul(self, a: Index, b: Index) -> Index:
        if isinstance(a, int) and isinstance(b, int):
            return a * b
        if a == 1:
            return b
        if b == 1:
            return a
        return self.add(llvm.MulOp(self.val(a), self.val(b)))

    def plus(self, a: Index, b: Index) -> Index:
        if isinstance(a, int) and isinstance(b, int):
            return a + b
        if a == 0:
            return b
        if b == 0:
            return a
        return self.add(llvm.AddOp(self.val(a), self.val(b)))

    def extract(self, agg: SSAValue, pos: Sequence[int], t: Attribute) -> SSAValue:
        return self.add(llvm.ExtractValueOp(DenseArrayBase.from_list(i64, pos), agg, t))

    def insert(self, agg: SSAValue, pos: Sequence[int], v: Index) -> SSAValue:
        return self.add(
            llvm.InsertValueOp(DenseArrayBase.from_list(i64, pos), agg, self.val(v))
        )

    def gep(self, ptr: SSAValue, index: Index, elem: Attribute) -> SSAValue:
        if index == 0:
            return ptr
        return self.add(
            llvm.GEPOp.from_mixed_indices(ptr, [index], pointee_type=elem)  # type: ignore[list-item]
        )

    def legal(self, v: SSAValue) -> SSAValue:
        """`v` as a value of its converted type (a cast the reconciler will remove)."""
        t = convert_type(v.type)
        if t == v.type:
            return v
        owner = v.owner
        if (
            isinstance(owner, UnrealizedConversionCastOp)
            and len(owner.inputs) == 1
            and owner.inputs[0].type == t
        ):
            return owner.inputs[0]
        return self.add(UnrealizedConversionCastOp.get([v], [t]))

    def replace(
        self, rewriter: PatternRewriter, op: Operation, new_values: Sequence[SSAValue] = ()
    ) -> None:
        """Replace `op` by the collected ops, casting results back to the old types."""
        results: list[SSAValue] = []
        for old, new in zip(op.results, new_values, strict=True):
            if old.type != new.type:
                new = self.add(UnrealizedConversionCastOp.get([new], [old.type]))
            results.append(new)
        rewriter.replace(op, self.ops, results)

    # memref descriptors

    def make_descriptor(
        self,
        rank: int,
        allocated: SSAValue,
        aligned: SSAValue,
        offset: Index,
        sizes: Sequence[Index],
        strides: Sequence[Index],
    ) -> SSAValue:
        d = self.add(llvm.UndefOp(descriptor_type(rank)))
        d = self.insert(d, [ALLOCATED], allocated)
        d = self.insert(d, [ALIGNED], aligned)
        d = self.insert(d, [OFFSET], offset)
        for i, (size, stride) in enumerate(zip(sizes, strides, strict=True)):
            d = self.insert(d, [SIZES, i], size)
            d = self.insert(d, [STRIDES, i], stride)
        return d

    def sizes(self, desc: SSAValue, t: MemRefType) -> list[Index]:
        """Per-dim sizes: Python ints for static dims, loads from the descriptor otherwise."""
        return [
            self.extract(desc, [SIZES, i], i64) if dim < 0 else dim
            for i, dim in enumerate(t.get_shape())
        ]

    def row_major_strides(self, sizes: Sequence[Index]) -> list[Index]:
        strides: list[Index] = [1] * len(sizes)
        for k in range(len(sizes) - 2, -1, -1):
            strides[k] = self.mul(strides[k + 1], sizes[k + 1])
        return strides

    def numel(self, sizes: Sequence[Index]) -> Index:
        n: Index = 1
        for s in sizes:
            n = self.mul(n, s)
        return n
