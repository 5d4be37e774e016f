"""lower-contractions-to-kernels: contractions on memrefs -> calls of the generated GEMM
kernel (level 4, before lower-linalg-to-loops).

A `linalg.generic` is a contraction when it has two f32 inputs and one f32 output
(identity-layout memrefs), its body is `acc + (s1*x) * (s2*y)` with optional constant
scales (alpha), and every map result is a loop dim (or 0 for a size-1 broadcast dim).
Loop dims then fall into four groups, whatever order or nesting the maps use:

    batch  parallel, in the output and in both or neither input (may broadcast)
    m      parallel, in the output and only in input A
    n      parallel, in the output and only in input B
    k      reduction, in both inputs

Each of m, n, k may span several loop dims when they are adjacent in every operand
that has them (so e.g. an im2col'ed conv is one GEMM per image). The output must be
contiguous along n (or along m: then A and B swap roles, C^T = B^T A^T). Batch dims
become an scf.for nest around `llvm.call @kiln_sgemm_f32`, with per-operand offsets.

An input whose map is not a plain projection (a conv's `oh*stride + kh*dil`) is first
gathered into a scratch buffer laid out as the GEMM wants it (im2col) by a copy generic
that the ordinary loop lowering handles; the contraction then reads that buffer.
Anything else returns False and keeps the naive loop nest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, func, llvm, memref, scf
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    AffineMapAttr,
    ArrayAttr,
    DictionaryAttr,
    Float16Type,
    Float32Type,
    FloatAttr,
    IndexType,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    NoneAttr,
    StringAttr,
    f32,
    i8,
    i32,
    i64,
)
from xdsl.dialects.linalg.ops import GenericOp, IteratorTypeAttr, YieldOp
from xdsl.ir import Block, BlockArgument, Operation, Region, SSAValue
from xdsl.ir.affine import AffineConstantExpr, AffineDimExpr, AffineExpr, AffineMap
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from dialects.check import AssertOp
from lowering.graph_to_tensor.emit import WEIGHT_ARG_ATTR
from lowering.kernels import PTR, ensure_packed_sgemm, ensure_sgemm
from lowering.kernels_int8 import UI8, ensure_igemm, ensure_igemm_pack_b
from lowering.linalg_to_loops import loop_order
from lowering.loop_builder import Inserter, loop_bounds


@dataclass
class Contraction:
    a: int  # input index playing A (rows m, cols k)
    b: int  # input index playing B (rows k, cols n)
    batch: list[int]
    m: list[int]
    n: list[int]
    k: list[int]
    alpha: float


def _is_f32_memref(v: SSAValue, f16: bool = False) -> bool:
    """An identity-layout f32 memref (or, with `f16`, f16: an input the body widens)."""
    t = v.type
    kinds = (Float32Type, Float16Type) if f16 else (Float32Type,)
    return (isinstance(t, MemRefType) and isinstance(t.element_type, kinds)
            and isinstance(t.layout, NoneAttr))


def _body_alpha(op: GenericOp) -> float | None:
    """alpha if the body is acc + (c*x)*(c*y) over the two inputs, else None; an f16
    input may be read through an arith.extf to f32 (fuse-widening-casts)."""
    block = op.body.block
    if len(block.args) != 3:
        return None
    x, y, acc = block.args
    ops = list(block.ops)
    if not ops or not isinstance(ops[-1], YieldOp) or len(ops[-1].operands) != 1:
        return None
    seen: set[Operation] = {ops[-1]}
    add = ops[-1].operands[0].owner
    if not isinstance(add, arith.AddfOp):
        return None
    seen.add(add)
    if add.lhs == acc:
        prod = add.rhs
    elif add.rhs == acc:
        prod = add.lhs
    else:
        return None
    alpha = 1.0
    found: list[SSAValue] = []

    def const(v: SSAValue) -> float | None:
        owner = v.owner
        if isinstance(owner, arith.ConstantOp) and isinstance(owner.value, FloatAttr):
            seen.add(owner)
            return float(owner.value.value.data)
        return None

    def walk(v: SSAValue) -> bool:
        nonlocal alpha
        if v in (x, y) and isinstance(v.type, Float32Type):
            found.append(v)
            return True
        owner = v.owner
        if (isinstance(owner, arith.ExtFOp) and owner.input in (x, y) and owner not in seen
                and isinstance(owner.input.type, Float16Type)):
            seen.add(owner)
            found.append(owner.input)
            return True
        if not isinstance(owner, arith.MulfOp) or owner in seen:
            return False
        seen.add(owner)
        for p, q in ((owner.lhs, owner.rhs), (owner.rhs, owner.lhs)):
            s = const(q)
            if s is not None:
                alpha *= s
                return walk(p)
        return walk(owner.lhs) and walk(owner.rhs)

    if not walk(prod) or sorted(id(v) for v in found) != sorted([id(x), id(y)]):
        return None
    if any(o not in seen for o in ops):
        return None
    return alpha


def _pure(m: AffineMap) -> bool:
    return all(isinstance(r, AffineDimExpr)
               or (isinstance(r, AffineConstantExpr) and r.value == 0) for r in m.results)


def _dims(m: AffineMap) -> list[int]:
    out: list[int] = []
    for r in m.results:
        for e in r.dfs():
            if isinstance(e, AffineDimExpr) and e.position not in out:
                out.append(e.position)
    return out


def _positions(m: AffineMap, group: list[int]) -> list[int] | None:
    """Result positions of `group`'s dims, if they are adjacent and in group order."""
    pos = []
    for d in group:
        hits = [i for i, r in enumerate(m.results)
                if isinstance(r, AffineDimExpr) and r.position == d]
        if len(hits) != 1:
            return None
        pos.append(hits[0])
    if any(q != p + 1 for p, q in zip(pos, pos[1:], strict=False)):
        return None
    return pos


def _split_run(dims: list[int], order: dict[int, int]) -> tuple[list[int], list[int]]:
    """Split private dims into the run adjacent in the output that ends at the last of
    them (one GEMM dim) and the rest (looped around the kernel like batch dims)."""
    dims = sorted(dims, key=order.__getitem__)
    run = dims[-1:]
    for d in reversed(dims[:-1]):
        if order[d] + 1 != order[run[0]]:
            break
        run.insert(0, d)
    return run, [d for d in dims if d not in run]


def classify(op: GenericOp, maps: list[AffineMap] | None = None,
             integer: bool = False) -> Contraction | None:
    """The GEMM structure of a generic whose maps (A, B, C) are all plain projections;
    `integer`: the body was checked by integer_zero_points (alpha 1)."""
    maps = maps or [m.data for m in op.get_indexing_maps()]
    iters = [str(it.data) for it in op.get_iterator_types()]
    if not all(_pure(m) for m in maps):
        return None
    alpha = 1.0 if integer else _body_alpha(op)
    if alpha is None:
        return None
    out = maps[2]
    if any(not isinstance(r, AffineDimExpr) for r in out.results):
        return None
    in_out = [r.position for r in out.results]  # type: ignore[union-attr]
    if len(set(in_out)) != len(in_out):
        return None
    x_dims, y_dims = set(_dims(maps[0])), set(_dims(maps[1]))
    batch, only_x, only_y, k = [], [], [], []
    for d, it in enumerate(iters):
        if it == "parallel":
            if d not in in_out:
                return None
            if (d in x_dims) == (d in y_dims):
                batch.append(d)
            elif d in x_dims:
                only_x.append(d)
            else:
                only_y.append(d)
        else:
            if d in in_out or d not in x_dims or d not in y_dims:
                return None
            k.append(d)
    if not k or (not only_x and not only_y):
        return None
    order = {d: i for i, d in enumerate(in_out)}
    only_x, extra_x = _split_run(only_x, order)
    only_y, extra_y = _split_run(only_y, order)
    batch = sorted(batch + extra_x + extra_y, key=order.__getitem__)
    last = in_out[-1]
    if only_y and only_y[-1] == last:
        c = Contraction(0, 1, batch, only_x, only_y, k, alpha)
    elif only_x and only_x[-1] == last:
        c = Contraction(1, 0, batch, only_y, only_x, k, alpha)
    elif not only_y:
        c = Contraction(0, 1, batch, only_x, only_y, k, alpha)
    else:
        c = Contraction(1, 0, batch, only_y, only_x, k, alpha)
    # k in A's order; every group adjacent (and in the same order) in each operand
    pa = [(i, r.position) for i, r in enumerate(maps[c.a].results)
          if isinstance(r, AffineDimExpr) and r.position in k]
    c.k = [d for _, d in sorted(pa)]
    checks = [(maps[c.a], c.m), (maps[c.a], c.k), (maps[c.b], c.k), (maps[c.b], c.n),
              (out, c.m), (out, c.n)]
    if any(g and _positions(m, g) is None for m, g in checks):
        return None
    if c.n and _positions(out, c.n)[-1] != len(out.results) - 1:  # type: ignore[index]
        return None
    return c


class _Strides:
    """Row-major strides of an identity-layout memref as index values."""

    def __init__(self, ins, value: SSAValue):
        self.ins, self.value = ins, value
        t = value.type
        assert isinstance(t, MemRefType)
        self.shape = t.get_shape()
        self.cache: dict[int, SSAValue] = {}

    def size(self, pos: int) -> SSAValue:
        s = self.shape[pos]
        if s != DYNAMIC_INDEX:
            return self.ins.const(s)
        return self.ins(memref.DimOp(self.value, self.ins.const(pos)))

    def __call__(self, pos: int) -> SSAValue:
        if pos not in self.cache:
            if pos == len(self.shape) - 1:
                v = self.ins.const(1)
            elif all(s != DYNAMIC_INDEX for s in self.shape[pos + 1:]):
                prod = 1
                for s in self.shape[pos + 1:]:
                    prod *= s
                v = self.ins.const(prod)
            else:
                v = self.ins(arith.MuliOp(self(pos + 1), self.size(pos + 1)))
            self.cache[pos] = v
        return self.cache[pos]


def emit_gemm_call(op: GenericOp, c: Contraction, maps: list[AffineMap],
                   bounds: bool = False, threads: int = 1,
                   zero_points: list[tuple[int | None, int, bool]] | None = None) -> None:
    """Replace the contraction `op` by batch loops around the kernel call; with `bounds`,
    check before each call that the kernel stays inside its three buffers. With
    `zero_points` (per input: the zero point's operand index or None, its element
    stride along that input's private dim, whether it is unsigned) the integer kernel is
    called."""
    module = op.get_toplevel_object()
    assert isinstance(module, ModuleOp)
    a_elt, b_elt = (op.operands[i].type.element_type for i in (c.a, c.b))  # type: ignore
    if zero_points is None:
        kernel = ensure_sgemm(module, threads=threads, a_elt=a_elt, b_elt=b_elt)
    else:
        # the body's extui / extsi says how to read the bytes (the memref may be signless)
        a_elt, b_elt = (UI8 if zero_points[i][2] else i8 for i in (c.a, c.b))
        kernel = ensure_igemm(module, a_elt, b_elt, threads=threads)
    ins = Inserter(InsertPoint.before(op))
    sizes = loop_bounds(op, ins)
    operands = [op.inputs[0], op.inputs[1], op.outputs[0]]
    strides = [_Strides(ins, v) for v in operands]

    def prod(dims: list[int]) -> SSAValue:
        v = ins.const(1)
        for d in dims:
            v = sizes[d] if v is ins.const(1) else ins(arith.MuliOp(v, sizes[d]))
        return v

    def group_stride(i: int, group: list[int]) -> SSAValue:
        if not group:
            return ins.const(0)
        pos = _positions(maps[i], group)
        assert pos is not None
        return strides[i](pos[-1])

    m_size, n_size, k_size = prod(c.m), prod(c.n), prod(c.k)
    sam, sak = group_stride(c.a, c.m), group_stride(c.a, c.k)
    sbk, sbn = group_stride(c.b, c.k), group_stride(c.b, c.n)
    ldc = group_stride(2, c.m)
    addrs = [ins(memref.ExtractAlignedPointerAsIndexOp.get(v)) for v in operands]
    alpha = ins(arith.ConstantOp(FloatAttr(c.alpha, f32)))

    ivs: dict[int, SSAValue] = {}
    zero, one = ins.const(0), ins.const(1)
    for j, d in enumerate(c.batch):
        body = Block(arg_types=[IndexType()])
        yield_op = scf.YieldOp()
        body.add_op(yield_op)
        loop = scf.ForOp(zero, sizes[d], one, [], body)
        ins(loop)
        if j == 0:
            ins.hoist = InsertPoint.before(loop)
        ivs[d] = body.args[0]
        ins.point = InsertPoint.before(yield_op)

    def offset(i: int) -> SSAValue:
        off: SSAValue | None = None
        for pos, r in enumerate(maps[i].results):
            if isinstance(r, AffineDimExpr) and r.position in ivs:
                term = ins(arith.MuliOp(ivs[r.position], strides[i](pos)))
                off = term if off is None else ins(arith.AddiOp(off, term))
        return off if off is not None else zero

    def i64v(v: SSAValue) -> SSAValue:
        return ins(arith.IndexCastOp(v, i64))

    offsets = [offset(c.a), offset(c.b), offset(2)]
    if bounds:
        one = ins.const(1)
        reach = [(c.a, offsets[0], [(m_size, sam), (k_size, sak)]),
                 (c.b, offsets[1], [(k_size, sbk), (n_size, sbn)]),
                 (2, offsets[2], [(m_size, ldc), (n_size, one)])]
        for i, off, extents in reach:
            _check_kernel_reach(ins, operands[i], strides[i], off, extents)
    args = [m_size, n_size, k_size,
            addrs[c.a], offsets[0], sam, sak,
            addrs[c.b], offsets[1], sbk, sbn,
            addrs[2], offsets[2], ldc]
    args64 = [i64v(v) for v in args]
    if zero_points is not None:
        _call_igemm(op, c, maps, ins, kernel, args64, zero_points, threads)
        return
    # an f16 B (precision="fp16") is widened per call: prepacking would keep an f32 copy
    if a_elt != f32 or b_elt != f32 or not _constant_weight_b(op, c, maps):
        ins(llvm.CallOp(kernel, *args64, alpha))
        Rewriter.erase_op(op)
        return
    # B is a weight the same at every call: pack it once, on the first call, into a
    # buffer this call site keeps in a global (freed with the compiled model)
    pack, packed = ensure_packed_sgemm(module, threads=threads)
    where = _packed_once(module, ins, llvm.CallOp(pack, *args64[1:3], *args64[7:11],
                                                  return_type=i64))
    zero = ins(arith.ConstantOp(IntegerAttr(0, i64)))
    ins(llvm.CallOp(packed, *args64, alpha, ins(llvm.LoadOp(where, i64)), zero, args64[1]))
    Rewriter.erase_op(op)


def _call_igemm(op: GenericOp, c: Contraction, maps: list[AffineMap], ins: Inserter,
                kernel: str, args64: list[SSAValue],
                zero_points: list[tuple[int | None, int, bool]], threads: int) -> None:
    """The integer kernel call: the zero points' addresses and strides after the GEMM
    arguments; a weight B (with a weight or no zero point) packed once, with its sums."""
    module = op.get_toplevel_object()
    assert isinstance(module, ModuleOp)
    zp_args: list[SSAValue] = []
    for i in (c.a, c.b):
        index, stride, _ = zero_points[i]
        addr = (ins(arith.IndexCastOp(ins(memref.ExtractAlignedPointerAsIndexOp.get(
            op.operands[index])), i64)) if index is not None else ins(arith.ConstantOp(
                IntegerAttr(0, i64))))
        zp_args += [addr, ins(arith.ConstantOp(IntegerAttr(0, i64))),
                    ins(arith.ConstantOp(IntegerAttr(stride, i64)))]
    zero = ins(arith.ConstantOp(IntegerAttr(0, i64)))
    zb = zero_points[c.b][0]
    if not _constant_weight_b(op, c, maps) or (zb is not None and not _is_weight(
            op.operands[zb])):
        ins(llvm.CallOp(kernel, *args64, *zp_args, zero, zero, args64[1]))
        Rewriter.erase_op(op)
        return
    pack = ensure_igemm_pack_b(module, UI8 if zero_points[c.b][2] else i8)
    where = _packed_once(module, ins, llvm.CallOp(pack, *args64[1:3], *args64[7:11],
                                                  *zp_args[3:], return_type=i64))
    ins(llvm.CallOp(kernel, *args64, *zp_args, ins(llvm.LoadOp(where, i64)), zero,
                    args64[1]))
    Rewriter.erase_op(op)


def _packed_once(module: ModuleOp, ins: Inserter, pack: llvm.CallOp) -> SSAValue:
    """The address of a new packed-weight slot, filled by `pack` on the first call."""
    slot = _new_packed_slot(module)
    where = ins(llvm.AddressOfOp(slot, PTR))
    unpacked = ins(arith.CmpiOp(ins(llvm.LoadOp(where, i64)), ins(arith.ConstantOp(
        IntegerAttr(0, i64))), "eq"))
    then = Block()
    then.add_op(pack)
    then.add_op(llvm.StoreOp(pack.results[0], where))
    then.add_op(scf.YieldOp())
    ins(scf.IfOp(unpacked, [], Region(then), Region(Block([scf.YieldOp()]))))
    return where


PACKED_SLOTS_ATTR = "kiln.packed_weights"
"""Module attribute: the globals holding prepacked weights (the runtime frees them)."""


def _new_packed_slot(module: ModuleOp) -> str:
    names = module.attributes.get(PACKED_SLOTS_ATTR)
    existing = list(names.data) if isinstance(names, ArrayAttr) else []
    name = f"kiln_packed_b_{len(existing)}"
    # common: zero-initialized and visible to the runtime, which frees the buffer
    module.body.block.add_op(llvm.GlobalOp(i64, name, "common", value=None, alignment=8))
    module.attributes[PACKED_SLOTS_ATTR] = ArrayAttr([*existing, StringAttr(name)])
    return name


def _is_weight(v: SSAValue) -> bool:
    """Whether `v` is a weight argument of its function (the same at every call)."""
    if not isinstance(v, BlockArgument) or not isinstance(v.owner.parent_op(), func.FuncOp):
        return False
    fn = v.owner.parent_op()
    assert isinstance(fn, func.FuncOp)
    attrs = fn.arg_attrs.data[v.index] if fn.arg_attrs is not None else None
    return isinstance(attrs, DictionaryAttr) and WEIGHT_ARG_ATTR in attrs.data


def _constant_weight_b(op: GenericOp, c: Contraction, maps: list[AffineMap]) -> bool:
    """Whether B is a weight argument of the function and every call reads the same
    part of it (no batch loop moves B's offset), so it can be packed once."""
    b = op.operands[c.b]
    if not _is_weight(b):
        return False
    shape = b.type.get_shape()  # type: ignore[union-attr]
    for pos, r in enumerate(maps[c.b].results):
        if isinstance(r, AffineDimExpr) and r.position in c.batch and shape[pos] != 1:
            return False
    return True


def _check_kernel_reach(ins, buffer: SSAValue, strides: _Strides, offset: SSAValue,
                        extents: list[tuple[SSAValue, SSAValue]]) -> None:
    """Bounds mode: the last element the kernel touches lies inside `buffer` (an
    identity-layout memref: its element count is stride 0 times dim 0)."""

    total = ins(arith.MuliOp(strides(0), strides.size(0))) if strides.shape else \
        ins.const(1)
    last, empty = offset, ins(arith.ConstantOp.from_int_and_width(0, 1))
    one, zero = ins.const(1), ins.const(0)
    for count, stride in extents:
        last = ins(arith.AddiOp(last, ins(arith.MuliOp(ins(arith.SubiOp(count, one)),
                                                       stride))))
        empty = ins(arith.OrIOp(empty, ins(arith.CmpiOp(count, zero, "eq"))))
    ok = ins(arith.OrIOp(empty, ins(arith.CmpiOp(last, total, "slt"))))
    ins(AssertOp(ok, "out-of-bounds access: the GEMM kernel would reach element {0} of a "
                 "buffer of {1} elements", [last, total]))


def _worth_a_kernel(op: GenericOp, c: Contraction, maps: list[AffineMap]) -> bool:
    """Whether the GEMM kernel beats the loop nest. Not for a single row (M == 1: a
    vector-matrix product, e.g. a depthwise conv per channel or a classifier at batch 1)
    whose output's last dim is contiguous in an input: the kernel would repack all of B
    per call for one row of output, while lower-linalg-to-loops runs the reduction outside
    that unit-stride parallel loop, which LLVM vectorizes."""
    out = op.outputs[0].type
    assert isinstance(out, MemRefType)
    shape = out.get_shape()
    sizes = {r.position: shape[i] for i, r in enumerate(maps[2].results)
             if isinstance(r, AffineDimExpr)}
    m_sizes = [sizes.get(d, DYNAMIC_INDEX) for d in c.m]
    if DYNAMIC_INDEX in m_sizes or math.prod(m_sizes) > 1:
        return True
    iterators = [str(it.data) for it in op.get_iterator_types()]
    innermost = loop_order(maps, 2, iterators)[-1]
    return iterators[innermost] != "parallel"


def _gather_layout(c_maps: list[AffineMap], which: int, iters: list[str],
                   out_dims: list[int]) -> list[int]:
    """Loop dims of a gathered (im2col) input, in the order the GEMM wants them:
    batch dims, then the dims private to this input (output order), then k dims."""
    other = _dims(c_maps[1 - which])
    mine = _dims(c_maps[which])
    order = {d: i for i, d in enumerate(out_dims)}
    private, extra = _split_run([d for d in out_dims if d in mine and d not in other], order)
    batch = [d for d in out_dims if d in mine and (d in other or d in extra)]
    k = [d for d in range(len(iters)) if iters[d] != "parallel" and d in mine]
    # k in the other input's order when it names them plainly
    k_other = [r.position for r in c_maps[1 - which].results
               if isinstance(r, AffineDimExpr) and r.position in k]
    if sorted(k_other) == sorted(k):
        k = k_other
    # B-like (the output's innermost dim is private here): k rows, then columns
    if private and private[-1] == out_dims[-1]:
        return batch + k + private
    return batch + private + k


def integer_zero_points(op: GenericOp) -> list[tuple[int | None, bool]] | None:
    """For acc + (ext(x) [- ext(zx)]) * (ext(y) [- ext(zy)]) over 8-bit x, y and an i32
    accumulator (the byte contraction of graph.matmul_integer): per input, the operand
    index of its zero point (None: none) and whether it is unsigned (extui); None if the
    body is anything else."""
    block = op.body.block
    n_in = len(op.inputs)
    if (n_in < 2 or len(op.outputs) != 1 or op.outputs[0].type.element_type != i32  # type: ignore
            or any(op.inputs[i].type.element_type not in (i8, UI8) for i in (0, 1))  # type: ignore
            or not all(isinstance(v.type, MemRefType) and isinstance(v.type.layout, NoneAttr)
                       for v in op.operands)):
        return None
    ops = list(block.ops)
    y = ops[-1]
    add = y.operands[0].owner if isinstance(y, YieldOp) and len(y.operands) == 1 else None
    if not isinstance(add, arith.AddiOp) or add.lhs != block.args[-1]:
        return None
    mul = add.rhs.owner
    if not isinstance(mul, arith.MuliOp):
        return None
    seen: list[Operation] = [y, add, mul]

    unsigned: list[bool] = []

    def ext_of(v: SSAValue) -> int | None:
        e = v.owner
        if isinstance(e, arith.ExtSIOp | arith.ExtUIOp) and isinstance(e.input, BlockArgument):
            seen.append(e)
            unsigned.append(isinstance(e, arith.ExtUIOp))
            return e.input.index
        return None

    zps: list[tuple[int | None, bool]] = []
    for want, f in enumerate((mul.lhs, mul.rhs)):
        zp = None
        if isinstance(f.owner, arith.SubiOp):
            seen.append(f.owner)
            zp = ext_of(f.owner.rhs)
            if zp is None or zp < 2:
                return None
            f = f.owner.lhs
        if ext_of(f) != want:
            return None
        zps.append((zp, unsigned[-1]))
    used = {z for z, _ in zps if z is not None}
    if len(ops) != len(seen) or used != set(range(2, n_in)):
        return None
    return zps


def _lower_integer(op: GenericOp, zps: list[tuple[int | None, bool]], bounds: bool,
                   threads: int) -> bool:
    """The byte contraction as an integer GEMM kernel call (plain projections only)."""
    all_maps = [m.data for m in op.get_indexing_maps()]
    maps = [all_maps[0], all_maps[1], all_maps[-1]]
    if not all(_pure(m) for m in all_maps):
        return False
    c = classify(op, maps, integer=True)
    if c is None or not _worth_a_kernel(op, c, maps):
        return False
    zero_points: list[tuple[int | None, int, bool]] = [(None, 0, u) for _, u in zps]
    for role, private in ((c.a, c.m), (c.b, c.n)):
        index, unsigned = zps[role]
        if index is None:
            continue
        results = all_maps[index].results
        if all(isinstance(r, AffineConstantExpr) for r in results):
            zero_points[role] = (index, 0, unsigned)
        elif (len(results) == 1 and isinstance(results[0], AffineDimExpr)
              and [results[0].position] == private):
            zero_points[role] = (index, 1, unsigned)
        else:
            return False
    emit_gemm_call(op, c, maps, bounds, threads, zero_points)
    return True


def lower_contraction(op: GenericOp, bounds: bool = False, threads: int = 1) -> bool:
    """Lower `op` to a kernel call (after an im2col gather if needed); False if it is
    not a contraction the kernel handles."""
    zps = integer_zero_points(op)
    if zps is not None:
        return _lower_integer(op, zps, bounds, threads)
    if (len(op.inputs) != 2 or len(op.outputs) != 1 or op.results
            or not all(_is_f32_memref(v, f16=True) for v in op.inputs)
            or not _is_f32_memref(op.outputs[0])):
        return False
    maps = [m.data for m in op.get_indexing_maps()]
    if not _pure(maps[2]):
        return False
    impure = [i for i in range(2) if not _pure(maps[i])]
    if not impure:
        c = classify(op, maps)
        if c is None or not _worth_a_kernel(op, c, maps):
            return False
        emit_gemm_call(op, c, maps, bounds, threads)
        return True
    if len(impure) != 1 or _body_alpha(op) is None:
        return False
    return _im2col(op, maps, impure[0], bounds, threads)


def _im2col(op: GenericOp, maps: list[AffineMap], which: int, bounds: bool = False,
            threads: int = 1) -> bool:
    iters = [str(it.data) for it in op.get_iterator_types()]
    out_dims = [r.position for r in maps[2].results]  # type: ignore[union-attr]
    layout = _gather_layout(maps, which, iters, out_dims)
    n_loops = len(iters)
    # the contraction as it will read the gathered buffer; bail out before changing IR
    new_maps = list(maps)
    new_maps[which] = AffineMap(n_loops, 0, tuple(AffineExpr.dimension(d) for d in layout))
    probe = classify(op, new_maps)
    if probe is None or not _worth_a_kernel(op, probe, new_maps):
        return False

    ins = Inserter(InsertPoint.before(op))
    bounds = loop_bounds(op, ins)
    src = op.inputs[which]
    src_t = src.type
    assert isinstance(src_t, MemRefType)
    shape: list[int] = []
    dyn: list[SSAValue] = []
    for d in layout:
        owner = bounds[d].owner
        if isinstance(owner, arith.ConstantOp):
            shape.append(owner.value.value.data)  # type: ignore[union-attr]
        else:
            shape.append(DYNAMIC_INDEX)
            dyn.append(bounds[d])
    col_t = MemRefType(src_t.element_type, shape)
    col = ins(memref.AllocOp.get(src_t.element_type, shape=shape, dynamic_sizes=dyn))
    assert col.type == col_t
    # copy generic: loops = layout dims renumbered 0..len-1
    renumber = {d: AffineExpr.dimension(i) for i, d in enumerate(layout)}
    src_map = maps[which].replace_dims_and_symbols(
        [renumber.get(d, AffineExpr.constant(0)) for d in range(n_loops)], [],
        len(layout), 0)
    ident = AffineMap.identity(len(layout))
    body = Block(arg_types=[src_t.element_type, src_t.element_type])
    body.add_op(YieldOp(body.args[0]))
    copy = GenericOp([src], [col], Region(body),
                     ArrayAttr([AffineMapAttr(src_map), AffineMapAttr(ident)]),
                     ArrayAttr([IteratorTypeAttr.parallel()] * len(layout)))
    ins(copy)
    # the contraction on the gathered buffer
    operands = list(op.inputs)
    operands[which] = col
    new = GenericOp(operands, list(op.outputs), op.body.clone(),
                    ArrayAttr([AffineMapAttr(m) for m in new_maps]),
                    op.iterator_types)
    ins(new)
    Rewriter.insert_op(memref.DeallocOp.get(col), InsertPoint.after(op))
    Rewriter.erase_op(op)
    emit_gemm_call(new, probe, new_maps, bounds, threads)
    return True


@dataclass(frozen=True)
class LowerContractionsToKernelsPass(ModulePass):
    """Lower f32 contractions on memrefs (matmul, gemm, batched, conv after an im2col
    gather) to calls of the generated GEMM kernel; other generics are left to
    lower-linalg-to-loops."""

    name = "lower-contractions-to-kernels"

    bounds: bool = False
    """Check before every kernel call that it stays inside its three buffers (the
    `checks="bounds"` mode; loads and stores get theirs from insert-bounds-checks)."""

    threads: int = 1
    """Threads the GEMM kernel splits large products over (libgomp; 1: no threads)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for generic in [o for o in op.walk() if isinstance(o, GenericOp)]:
            if not isinstance(generic.parent_op(), GenericOp):
                lower_contraction(generic, self.bounds, self.threads)
