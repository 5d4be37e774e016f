"""Kiln-generated CPU kernels, written in the llvm dialect and emitted into the module.

`ensure_sgemm(module)` adds (once) an internal `llvm.func @kiln_sgemm_f32` computing

    C[i, j] += alpha * sum_k A[i, k] * B[k, j]      (0 <= i < M, 0 <= j < N, 0 <= k < K)

for float32 operands addressed by element strides (so transposed operands cost nothing):
A[i, k] at a + a_off + i*sam + k*sak, B[k, j] at b + b_off + k*sbk + j*sbn and
C[i, j] at c + c_off + i*ldc + j (unit stride along j). Addresses are i64 (the memref's
aligned pointer as an index); everything else uses GEP.

It is a BLIS-style kernel: NC/KC/MC blocking, B packed into KC x NR micro-panels and
alpha*A into MR x KC micro-panels (both zero-padded, in 64-byte aligned malloc'ed
scratch), and an MR x NR register-blocked micro-kernel of `<VW x float>` accumulators
updated with llvm.intr.fma. Edge tiles go through an aligned stack tile. The micro-kernel
is parameterized by the host's vector width (AVX-512: 6 x 64, else 6 x 16 with 8-wide
vectors, so that the accumulators fit the 16 AVX2 registers).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import llvmlite.binding as lb
from xdsl.dialects import llvm
from xdsl.dialects.builtin import (
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IntegerAttr,
    ModuleOp,
    VectorType,
    f32,
    i8,
    i32,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue

PTR = llvm.LLVMPointerType()
SGEMM = "kiln_sgemm_f32"
SGEMM_CORE = "kiln_sgemm_f32_core"
SGEMM_WORKER = "kiln_sgemm_f32_worker"
SGEMM_PACKED = "kiln_sgemm_f32_packed"
SGEMM_PACK_B = "kiln_sgemm_f32_pack_b"

PARALLEL_MIN_MACS = 1 << 18
"""Products with fewer multiply-adds run on the calling thread: waking the team (~1 us)
and splitting the packing would cost more than the second core gains."""


@dataclass(frozen=True)
class GemmConfig:
    """Vector width (floats), micro-tile MR x (NV*VW), and cache blocking."""

    vw: int = 16
    nv: int = 4
    mr: int = 6
    kc: int = 512
    mc: int = 96
    nc: int = 4096

    @property
    def nr(self) -> int:
        return self.vw * self.nv


@functools.cache
def host_gemm_config() -> GemmConfig:
    """AVX-512 hosts get 6 x 64 (24 zmm accumulators); others 6 x 16 of <8 x float>."""
    try:
        features = lb.get_host_cpu_features()
        if features.get("avx512f", False):
            return GemmConfig()
    except Exception:  # pragma: no cover - no host information
        pass
    return GemmConfig(vw=8, nv=2, mr=6, kc=256, mc=72, nc=4096)


class FnBuilder:
    """Builds one llvm.func body with structured helpers (loops, ifs) over blocks."""

    def __init__(self, arg_types: Sequence[Attribute]):
        self.entry = Block(arg_types=arg_types)
        self.blocks: list[Block] = [self.entry]
        self.cur = self.entry
        self._consts: dict[tuple[object, Attribute], SSAValue] = {}

    @property
    def args(self) -> tuple[SSAValue, ...]:
        return self.entry.args

    def add(self, op: Operation) -> SSAValue:
        self.cur.add_op(op)
        return op.results[0] if op.results else None  # type: ignore[return-value]

    def const(self, value: int | float, t: Attribute = i64) -> SSAValue:
        key = (value, t)
        if key not in self._consts:
            attr = FloatAttr(value, t) if t == f32 else IntegerAttr(value, t)
            op = llvm.ConstantOp(attr, t)  # type: ignore[arg-type]
            # constants live at the top of the entry block so they dominate everything
            if self.entry.first_op is None:
                self.entry.add_op(op)
            else:
                self.entry.insert_op_before(op, self.entry.first_op)
            self._consts[key] = op.result
        return self._consts[key]

    def v(self, x: int | SSAValue) -> SSAValue:
        return self.const(x) if isinstance(x, int) else x

    # i64 arithmetic (Python ints fold)
    def addi(self, a: int | SSAValue, b: int | SSAValue) -> int | SSAValue:
        if isinstance(a, int) and isinstance(b, int):
            return a + b
        if b == 0:
            return a
        if a == 0:
            return b
        return self.add(llvm.AddOp(self.v(a), self.v(b)))

    def subi(self, a: int | SSAValue, b: int | SSAValue) -> int | SSAValue:
        if b == 0:
            return a
        return self.add(llvm.SubOp(self.v(a), self.v(b)))

    def muli(self, a: int | SSAValue, b: int | SSAValue) -> int | SSAValue:
        if isinstance(a, int) and isinstance(b, int):
            return a * b
        if a == 0 or b == 0:
            return 0
        if a == 1:
            return b
        if b == 1:
            return a
        return self.add(llvm.MulOp(self.v(a), self.v(b)))

    def icmp(self, pred: str, a: int | SSAValue, b: int | SSAValue) -> SSAValue:
        flag = llvm.ICmpPredicateFlag(pred)
        return self.add(llvm.ICmpOp(self.v(a), self.v(b),
                                    IntegerAttr(llvm.ALL_ICMP_FLAGS.index(flag), i64)))

    def select(self, c: SSAValue, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.add(llvm.SelectOp(c, a, b))

    def mini(self, a: int | SSAValue, b: int | SSAValue) -> SSAValue:
        return self.select(self.icmp("slt", a, b), self.v(a), self.v(b))

    def and1(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.add(llvm.AndOp(a, b))

    def or1(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.add(llvm.OrOp(a, b))

    def gep(self, p: SSAValue, index: int | SSAValue, elem: Attribute = f32) -> SSAValue:
        if index == 0:
            return p
        return self.add(llvm.GEPOp.from_mixed_indices(p, [index], pointee_type=elem))  # type: ignore[list-item]

    def load(self, p: SSAValue, t: Attribute = f32, align: int | None = None) -> SSAValue:
        return self.add(llvm.LoadOp(p, t, alignment=align))

    def load_f32(self, p: SSAValue, t: Attribute = f32, align: int | None = None) -> SSAValue:
        """Load a `t` (f32 or f16, scalar or vector) and widen it to f32."""
        x = self.load(p, t, align)
        vector = isinstance(t, VectorType)
        if (t.element_type if vector else t) == f32:  # type: ignore[union-attr]
            return x
        wide = VectorType(f32, t.get_shape()) if vector else f32  # type: ignore[union-attr]
        return self.add(llvm.FPExtOp(x, wide))

    def store(self, value: SSAValue, p: SSAValue, align: int | None = None) -> None:
        self.add(llvm.StoreOp(value, p, alignment=align))

    def align64(self, p: SSAValue) -> SSAValue:
        addr = self.add(llvm.PtrToIntOp(p, i64))
        pad = self.add(llvm.AndOp(self.subi(0, addr), self.const(63)))  # type: ignore[arg-type]
        return self.gep(p, pad, i8)

    # control flow
    def loop(self, lo: int | SSAValue, hi: int | SSAValue, step: int | SSAValue,
             body: Callable[[SSAValue, list[SSAValue]], Sequence[SSAValue] | None],
             carried: Sequence[SSAValue] = ()) -> list[SSAValue]:
        """for iv in [lo, hi) by step, with loop-carried values; returns the final ones."""
        header = Block(arg_types=[i64, *[c.type for c in carried]])
        body_b, exit_b = Block(), Block()
        self.add(llvm.BrOp(header, self.v(lo), *carried))
        self.blocks += [header, body_b]
        self.cur = header
        self.add(llvm.CondBrOp(self.icmp("slt", header.args[0], hi), body_b, [], exit_b, []))
        self.cur = body_b
        new = body(header.args[0], list(header.args[1:])) or []
        nxt = self.addi(header.args[0], step)
        self.add(llvm.BrOp(header, self.v(nxt), *new))
        self.blocks.append(exit_b)
        self.cur = exit_b
        return list(header.args[1:])

    def if_(self, cond: SSAValue, then: Callable[[], None],
            otherwise: Callable[[], None] | None = None) -> None:
        then_b, else_b, merge = Block(), Block(), Block()
        self.add(llvm.CondBrOp(cond, then_b, [], else_b, []))
        self.blocks.append(then_b)
        self.cur = then_b
        then()
        self.add(llvm.BrOp(merge))
        self.blocks.append(else_b)
        self.cur = else_b
        if otherwise is not None:
            otherwise()
        self.add(llvm.BrOp(merge))
        self.blocks.append(merge)
        self.cur = merge

    def return_if(self, cond: SSAValue) -> None:
        """Return (void) when `cond` holds; code after this runs otherwise."""
        done, work = Block(), Block()
        self.add(llvm.CondBrOp(cond, done, [], work, []))
        self.blocks.append(done)
        self.cur = done
        self.add(llvm.ReturnOp())
        self.blocks.append(work)
        self.cur = work

    def finish(self, name: str, ret: Attribute | None = None,
               linkage: str = "internal") -> llvm.FuncOp:
        if ret is None:
            self.add(llvm.ReturnOp())
        ftype = llvm.LLVMFunctionType(list(self.entry.arg_types),
                                      ret if ret is not None else llvm.LLVMVoidType())
        return llvm.FuncOp(name, ftype, linkage=llvm.LinkageAttr(linkage),
                           body=Region(self.blocks))


def declare(module: ModuleOp, name: str, inputs: list[Attribute], output: Attribute) -> None:
    for op in module.ops:
        if isinstance(op, llvm.FuncOp) and op.sym_name.data == name:
            return
    module.body.block.add_op(
        llvm.FuncOp(name, llvm.LLVMFunctionType(inputs, output),
                    linkage=llvm.LinkageAttr("external")))


def variant_suffix(a_elt: Attribute = f32, b_elt: Attribute = f32) -> str:
    """The name suffix of the kernel variant reading A and B as these element types
    (f32, or f16 widened to f32 while packing): "", "_a16", "_b16" or "_a16_b16"."""
    return (("_a16" if a_elt != f32 else "") + ("_b16" if b_elt != f32 else ""))


def ensure_sgemm(module: ModuleOp, cfg: GemmConfig | None = None,
                 linkage: str = "internal", threads: int = 1, a_elt: Attribute = f32,
                 b_elt: Attribute = f32) -> str:
    """Add @kiln_sgemm_f32 (and what it calls) to `module` once; its name.

    With `threads` > 1 it splits large products over that many libgomp threads (the
    process must have libgomp loaded: compiler/runtime/jit.py `load_openmp`). An f16
    `a_elt`/`b_elt` gives the variant that reads that operand as float16 and widens it
    in the packing loops (precision="fp16" weights: no f32 copy of them exists)."""
    suffix = variant_suffix(a_elt, b_elt)
    for op in module.ops:
        if isinstance(op, llvm.FuncOp) and op.sym_name.data == SGEMM + suffix:
            return SGEMM + suffix
    _ensure_core(module, cfg or host_gemm_config(), threads, a_elt, b_elt)
    module.body.block.add_op(build_sgemm_plain(linkage, suffix))
    return SGEMM + suffix


def ensure_packed_sgemm(module: ModuleOp, cfg: GemmConfig | None = None,
                        threads: int = 1) -> tuple[str, str]:
    """Add (once) @kiln_sgemm_f32_pack_b and @kiln_sgemm_f32_packed (B prepacked, see
    build_pack_b) to `module`; their names."""
    cfg = cfg or host_gemm_config()
    if cfg.nc % cfg.nr:
        raise ValueError(f"prepacked B needs NC ({cfg.nc}) to be a multiple of NR ({cfg.nr})")
    _ensure_core(module, cfg, threads)
    if not any(isinstance(op, llvm.FuncOp) and op.sym_name.data == SGEMM_PACK_B
               for op in module.ops):
        module.body.block.add_op(build_pack_b(cfg))
    return SGEMM_PACK_B, SGEMM_PACKED


def _ensure_core(module: ModuleOp, cfg: GemmConfig, threads: int, a_elt: Attribute = f32,
                 b_elt: Attribute = f32) -> None:
    """@kiln_sgemm_f32_packed: the serial kernel itself, or with threads a dispatcher
    over it (@kiln_sgemm_f32_core) and its worker."""
    suffix = variant_suffix(a_elt, b_elt)
    if any(isinstance(op, llvm.FuncOp) and op.sym_name.data == SGEMM_PACKED + suffix
           for op in module.ops):
        return
    declare(module, "malloc", [i64], PTR)
    declare(module, "free", [PTR], llvm.LLVMVoidType())
    if threads <= 1:
        module.body.block.add_op(build_sgemm(cfg, name=SGEMM_PACKED + suffix, a_elt=a_elt,
                                             b_elt=b_elt))
        return
    declare(module, "GOMP_parallel", [PTR, PTR, i32, i32], llvm.LLVMVoidType())
    declare(module, "omp_get_thread_num", [], i32)
    declare(module, "omp_get_num_threads", [], i32)
    module.body.block.add_op(build_sgemm(cfg, name=SGEMM_CORE + suffix, a_elt=a_elt,
                                         b_elt=b_elt))
    module.body.block.add_op(build_sgemm_worker(cfg, suffix))
    module.body.block.add_op(build_sgemm_parallel(threads, suffix))


SGEMM_ARGS: list[Attribute] = [i64, i64, i64,             # M, N, K
                               i64, i64, i64, i64,        # a, a_off, sam, sak
                               i64, i64, i64, i64,        # b, b_off, sbk, sbn
                               i64, i64, i64,             # c, c_off, ldc
                               f32]                       # alpha


def _pack_b(fn: FnBuilder, cfg: GemmConfig, b: SSAValue, sbk: SSAValue, sbn: SSAValue,
            bbuf: SSAValue, jc: int | SSAValue, nc: SSAValue, pc: int | SSAValue,
            kc: SSAValue, b_elt: Attribute = f32) -> None:
    """Copy B[pc:pc+kc, jc:jc+nc] (of element type `b_elt`, widened to f32) into `bbuf`
    as kc x NR micro-panels, zero-padded."""
    nr, nv, vw = cfg.nr, cfg.nv, cfg.vw
    vec = VectorType(b_elt, [vw])
    elt_bytes = 4 if b_elt == f32 else 2
    zero_f = fn.const(0.0, f32)

    def panel(jr: SSAValue, _: list[SSAValue]) -> None:
        dst = fn.gep(bbuf, fn.muli(jr, kc))
        full = fn.and1(fn.icmp("sle", fn.addi(jr, nr), nc), fn.icmp("eq", sbn, 1))
        col0 = fn.addi(jc, jr)

        def fast() -> None:
            def row(k: SSAValue, _: list[SSAValue]) -> None:
                src = fn.gep(b, fn.addi(fn.muli(fn.addi(pc, k), sbk), col0), b_elt)
                d = fn.gep(dst, fn.muli(k, nr))
                for v in range(nv):
                    x = fn.load_f32(fn.gep(src, v * vw, b_elt), vec, elt_bytes)
                    fn.store(x, fn.gep(d, v * vw), 64)
            fn.loop(0, kc, 1, row)

        def slow() -> None:
            ncols = fn.mini(fn.subi(nc, jr), nr)
            src0 = fn.gep(b, fn.muli(pc, sbk), b_elt)

            def col(j: SSAValue, _: list[SSAValue]) -> None:
                src = fn.gep(src0, fn.muli(fn.addi(col0, j), sbn), b_elt)
                d = fn.gep(dst, j)

                def row(k: SSAValue, _: list[SSAValue]) -> None:
                    fn.store(fn.load_f32(fn.gep(src, fn.muli(k, sbk), b_elt), b_elt),
                             fn.gep(d, fn.muli(k, nr)))
                fn.loop(0, kc, 1, row)
            fn.loop(0, ncols, 1, col)

            def pad(j: SSAValue, _: list[SSAValue]) -> None:
                d = fn.gep(dst, j)

                def row(k: SSAValue, _: list[SSAValue]) -> None:
                    fn.store(zero_f, fn.gep(d, fn.muli(k, nr)))
                fn.loop(0, kc, 1, row)
            fn.loop(ncols, nr, 1, pad)

        fn.if_(full, fast, slow)
    fn.loop(0, nc, nr, panel)



def build_sgemm(cfg: GemmConfig, linkage: str = "internal",
                name: str = SGEMM_CORE, a_elt: Attribute = f32,
                b_elt: Attribute = f32) -> llvm.FuncOp:
    """The serial kernel over PACKED_ARGS: B prepacked by build_pack_b when the packed
    address is not 0, else packed here block by block (one function for both, so that
    LLVM optimizes the big micro-kernel code once). A and B are read as `a_elt` and
    `b_elt` (f32, or f16 widened where they are packed)."""
    vw, nv, mr, nr = cfg.vw, cfg.nv, cfg.mr, cfg.nr
    kc_max, mc_max, nc_max = cfg.kc, cfg.mc, cfg.nc
    vec = VectorType(f32, [vw])
    fn = FnBuilder(PACKED_ARGS)
    (m_, n_, k_, a_addr, a_off, sam, sak, b_addr, b_off, sbk, sbn,
     c_addr, c_off, ldc, alpha) = fn.args[:len(SGEMM_ARGS)]
    a = fn.gep(fn.add(llvm.IntToPtrOp(a_addr)), a_off, a_elt)
    b = fn.gep(fn.add(llvm.IntToPtrOp(b_addr)), b_off, b_elt)
    c = fn.gep(fn.add(llvm.IntToPtrOp(c_addr)), c_off)
    zero_f = fn.const(0.0, f32)
    zero_v = fn.add(llvm.ConstantOp(DenseIntOrFPElementsAttr.from_list(vec, [0.0] * vw), vec))
    undef_v = fn.add(llvm.UndefOp(vec))
    splat_mask = DenseArrayBase.from_list(i32, [0] * vw)
    i0_32 = fn.const(0, i32)

    def splat(x: SSAValue) -> SSAValue:
        ins = fn.add(llvm.InsertElementOp(undef_v, x, i0_32))
        return fn.add(llvm.ShuffleVectorOp(ins, undef_v, splat_mask, vec))

    fn.return_if(fn.or1(fn.or1(fn.icmp("sle", m_, 0), fn.icmp("sle", n_, 0)),
                        fn.icmp("sle", k_, 0)))

    # scratch: packed B block (kc x nc rounded to nr) and packed A block (mc x kc)
    kcap = fn.mini(k_, kc_max)
    ncap = fn.muli(fn.add(llvm.SDivOp(fn.v(fn.addi(fn.mini(n_, nc_max), nr - 1)),
                                       fn.const(nr))), nr)
    mcap = fn.muli(fn.add(llvm.SDivOp(fn.v(fn.addi(fn.mini(m_, mc_max), mr - 1)),
                                       fn.const(mr))), mr)
    malloc_ty = PTR

    def scratch(n_floats: int | SSAValue) -> tuple[SSAValue, SSAValue]:
        nbytes = fn.addi(fn.muli(n_floats, 4), 64)
        raw = fn.add(llvm.CallOp("malloc", fn.v(nbytes), return_type=malloc_ty))
        return raw, fn.align64(raw)

    packed_raw, col0, n_total = fn.args[len(SGEMM_ARGS):]
    packed = fn.icmp("ne", packed_raw, 0)
    packed_b = fn.align64(fn.add(llvm.IntToPtrOp(packed_raw)))
    n_round = fn.muli(fn.add(llvm.SDivOp(fn.v(fn.addi(n_total, nr - 1)), fn.const(nr))), nr)
    b_raw, bbuf = scratch(fn.select(packed, fn.const(0), fn.v(fn.muli(kcap, ncap))))
    a_raw, abuf = scratch(fn.muli(kcap, mcap))
    tile = fn.add(llvm.AllocaOp(fn.const(mr * nr), f32, alignment=64))

    def pack_a(ic: SSAValue, mc: SSAValue, pc: SSAValue, kc: SSAValue) -> None:
        last = fn.subi(mc, 1)

        def panel(ir: SSAValue, _: list[SSAValue]) -> None:
            dst = fn.gep(abuf, fn.muli(ir, kc))
            rows = []
            for r in range(mr):
                rr = fn.addi(ir, r)
                ok = fn.icmp("slt", rr, mc)
                base = fn.gep(a, fn.muli(fn.addi(ic, fn.mini(rr, last)), sam), a_elt)
                rows.append((ok, base))

            def col(k: SSAValue, _: list[SSAValue]) -> None:
                kk = fn.muli(fn.addi(pc, k), sak)
                d = fn.gep(dst, fn.muli(k, mr))
                for r, (ok, base) in enumerate(rows):
                    x = fn.add(llvm.FMulOp(fn.load_f32(fn.gep(base, kk, a_elt), a_elt), alpha))
                    fn.store(fn.select(ok, x, zero_f), fn.gep(d, r))
            fn.loop(0, kc, 1, col)
        fn.loop(0, mc, mr, panel)

    def micro(pa: SSAValue, pb: SSAValue, cp: SSAValue, kc: SSAValue,
              mrows: SSAValue, ncols: SSAValue) -> None:
        # narrow tiles (ncols <= j*vw) use a micro-kernel with only j vectors per row
        def variant(j: int) -> None:
            if j == 1:
                micro_n(pa, pb, cp, kc, mrows, ncols, 1)
                return
            fn.if_(fn.icmp("sgt", ncols, (j - 1) * vw),
                   lambda: micro_n(pa, pb, cp, kc, mrows, ncols, j),
                   lambda: variant(j - 1))
        variant(nv)

    def micro_n(pa: SSAValue, pb: SSAValue, cp: SSAValue, kc: SSAValue,
                mrows: SSAValue, ncols: SSAValue, nv: int) -> None:
        def step(k: SSAValue, acc: list[SSAValue]) -> list[SSAValue]:
            bp = fn.gep(pb, fn.muli(k, nr))
            bv = [fn.load(fn.gep(bp, v * vw), vec, 64) for v in range(nv)]
            ap = fn.gep(pa, fn.muli(k, mr))
            out = list(acc)
            for r in range(mr):
                s = splat(fn.load(fn.gep(ap, r)))
                for v in range(nv):
                    out[r * nv + v] = fn.add(llvm.FMAOp(s, bv[v], out[r * nv + v]))
            return out
        acc = fn.loop(0, kc, 1, step, [zero_v] * (mr * nv))
        full = fn.and1(fn.icmp("eq", mrows, mr), fn.icmp("eq", ncols, nv * vw))

        def store_full() -> None:
            for r in range(mr):
                row = fn.gep(cp, fn.muli(ldc, r))
                for v in range(nv):
                    p = fn.gep(row, v * vw)
                    old = fn.load(p, vec, 4)
                    fn.store(fn.add(llvm.FAddOp(old, acc[r * nv + v])), p, 4)

        def store_edge() -> None:
            for r in range(mr):
                for v in range(nv):
                    fn.store(acc[r * nv + v], fn.gep(tile, r * nr + v * vw), 64)

            def row(i: SSAValue, _: list[SSAValue]) -> None:
                crow = fn.gep(cp, fn.muli(i, ldc))
                trow = fn.gep(tile, fn.muli(i, nr))

                def col(j: SSAValue, _: list[SSAValue]) -> None:
                    p = fn.gep(crow, j)
                    fn.store(fn.add(llvm.FAddOp(fn.load(p), fn.load(fn.gep(trow, j)))), p)
                fn.loop(0, ncols, 1, col)
            fn.loop(0, mrows, 1, row)

        fn.if_(full, store_full, store_edge)

    def packed_panel(col: SSAValue, pc: SSAValue, kc: SSAValue) -> SSAValue:
        """Where build_pack_b put the panel of B columns col..col+NR, rows pc..pc+kc."""
        block = fn.muli(fn.add(llvm.SDivOp(fn.v(col), fn.const(nc_max))), nc_max)
        width = fn.mini(fn.subi(n_round, block), nc_max)
        offset = fn.addi(fn.addi(fn.muli(block, k_), fn.muli(pc, width)),
                         fn.muli(fn.subi(col, block), kc))
        return fn.gep(packed_b, offset)

    def jc_loop(jc: SSAValue, _: list[SSAValue]) -> None:
        nc = fn.mini(fn.subi(n_, jc), nc_max)

        def pc_loop(pc: SSAValue, _: list[SSAValue]) -> None:
            kc = fn.mini(fn.subi(k_, pc), kc_max)
            fn.if_(packed, lambda: None,
                   lambda: _pack_b(fn, cfg, b, sbk, sbn, bbuf, jc, nc, pc, kc, b_elt))

            def ic_loop(ic: SSAValue, _: list[SSAValue]) -> None:
                mc = fn.mini(fn.subi(m_, ic), mc_max)
                pack_a(ic, mc, pc, kc)

                def jr_loop(jr: SSAValue, _: list[SSAValue]) -> None:
                    ncols = fn.mini(fn.subi(nc, jr), nr)
                    pb = fn.select(packed, packed_panel(fn.addi(col0, fn.addi(jc, jr)), pc,
                                                        kc),
                                   fn.gep(bbuf, fn.muli(jr, kc)))
                    ccol = fn.addi(jc, jr)

                    def ir_loop(ir: SSAValue, _: list[SSAValue]) -> None:
                        mrows = fn.mini(fn.subi(mc, ir), mr)
                        pa = fn.gep(abuf, fn.muli(ir, kc))
                        cp = fn.gep(c, fn.addi(fn.muli(fn.addi(ic, ir), ldc), ccol))
                        micro(pa, pb, cp, kc, mrows, ncols)
                    fn.loop(0, mc, mr, ir_loop)
                fn.loop(0, nc, nr, jr_loop)
            fn.loop(0, m_, mc_max, ic_loop)
        fn.loop(0, k_, kc_max, pc_loop)
    fn.loop(0, n_, nc_max, jc_loop)

    fn.add(llvm.CallOp("free", a_raw))
    fn.add(llvm.CallOp("free", b_raw))
    return fn.finish(name, linkage=linkage)


def build_sgemm_plain(linkage: str = "internal", suffix: str = "") -> llvm.FuncOp:
    """@kiln_sgemm_f32(SGEMM_ARGS): the packed entry with no packed B (B packed per call)."""
    fn = FnBuilder(SGEMM_ARGS)
    fn.add(llvm.CallOp(SGEMM_PACKED + suffix, *fn.args, fn.const(0), fn.const(0),
                       fn.args[1]))
    return fn.finish(SGEMM + suffix, linkage=linkage)


PACKED_ARGS: list[Attribute] = [*SGEMM_ARGS, i64, i64, i64]  # packed B, col0, N of B
"""The prepacked-B kernel's arguments: the plain ones (B's address and strides unused),
the address build_pack_b returned, the first column of B this call covers, B's N."""


def build_pack_b(cfg: GemmConfig) -> llvm.FuncOp:
    """@kiln_sgemm_f32_pack_b(N, K, b, b_off, sbk, sbn) -> the malloc'ed address of all of
    B in the kernel's panel layout: for each NC-column block J, for each KC-row block,
    its kc x NR panels, at J*NC*K + pc*width_J + (col - J*NC)*kc floats (after 64-byte
    alignment); width_J is the block's width rounded up to NR."""
    nr, nc_max, kc_max = cfg.nr, cfg.nc, cfg.kc
    fn = FnBuilder([i64] * 6)
    n_, k_, b_addr, b_off, sbk, sbn = fn.args
    b = fn.gep(fn.add(llvm.IntToPtrOp(b_addr)), b_off)
    n_round = fn.muli(fn.add(llvm.SDivOp(fn.v(fn.addi(n_, nr - 1)), fn.const(nr))), nr)
    nbytes = fn.addi(fn.muli(fn.muli(n_round, k_), 4), 64)
    raw = fn.add(llvm.CallOp("malloc", fn.v(nbytes), return_type=PTR))
    base = fn.align64(raw)

    def block(jc: SSAValue, _: list[SSAValue]) -> None:
        nc = fn.mini(fn.subi(n_, jc), nc_max)
        width = fn.mini(fn.subi(n_round, jc), nc_max)

        def rows(pc: SSAValue, _: list[SSAValue]) -> None:
            kc = fn.mini(fn.subi(k_, pc), kc_max)
            dst = fn.gep(base, fn.addi(fn.muli(jc, k_), fn.muli(pc, width)))
            _pack_b(fn, cfg, b, sbk, sbn, dst, jc, nc, pc, kc)
        fn.loop(0, k_, kc_max, rows)
    fn.loop(0, n_, nc_max, block)
    fn.add(llvm.ReturnOp(fn.add(llvm.PtrToIntOp(raw, i64))))
    return fn.finish(SGEMM_PACK_B, ret=i64)


# --------------------------------------------------------------------------- threads
# @kiln_sgemm_f32(args) with threads: small products call the serial kernel directly;
# large ones store the arguments in a stack context and run GOMP_parallel(worker, ctx, T),
# each worker calling the serial kernel on its slice of C: rows (in MR steps) when M >= N,
# else columns (in NR steps), so that the operand packed twice is the smaller one. Every
# element of C sees the same K blocking and FMA order as in the serial kernel, so results
# are bit-identical for any thread count.

def build_sgemm_parallel(threads: int, suffix: str = "") -> llvm.FuncOp:
    serial_name, name = SGEMM_CORE + suffix, SGEMM_PACKED + suffix
    fn = FnBuilder(PACKED_ARGS)
    args = list(fn.args)
    m_, n_, k_ = args[:3]
    macs = fn.muli(fn.muli(m_, n_), k_)

    def serial() -> None:
        fn.add(llvm.CallOp(serial_name, *args))

    def parallel() -> None:
        ctx = fn.add(llvm.AllocaOp(fn.const(len(args)), i64, alignment=8))
        for i, v in enumerate(args):
            if v.type == f32:
                v = fn.add(llvm.ZExtOp(fn.add(llvm.BitcastOp(v, i32)), i64))
            fn.store(v, fn.gep(ctx, i, i64))
        worker = fn.add(llvm.AddressOfOp(SGEMM_WORKER + suffix, PTR))
        fn.add(llvm.CallOp("GOMP_parallel", worker, ctx, fn.const(threads, i32),
                           fn.const(0, i32)))

    fn.if_(fn.icmp("slt", macs, PARALLEL_MIN_MACS), serial, parallel)
    return fn.finish(name)


def thread_share(fn: FnBuilder, total: SSAValue, step: int) -> tuple[SSAValue, SSAValue]:
    """In a GOMP worker: this thread's [start, start + count) of `total`, in multiples
    of `step` (count may be <= 0)."""
    team = fn.add(llvm.SExtOp(fn.add(llvm.CallOp("omp_get_num_threads", return_type=i32)),
                              i64))
    me = fn.add(llvm.SExtOp(fn.add(llvm.CallOp("omp_get_thread_num", return_type=i32)),
                            i64))
    units = fn.add(llvm.SDivOp(fn.v(fn.addi(total, step - 1)), fn.const(step)))
    per = fn.add(llvm.SDivOp(fn.v(fn.addi(units, fn.subi(team, 1))), team))
    start = fn.muli(fn.muli(me, per), step)
    count = fn.mini(fn.subi(total, start), fn.muli(per, step))
    return start, count  # type: ignore[return-value]


def build_sgemm_worker(cfg: GemmConfig, suffix: str = "") -> llvm.FuncOp:
    arg_types, serial_name = PACKED_ARGS, SGEMM_CORE + suffix
    fn = FnBuilder([PTR])
    ctx = fn.args[0]
    vals = [fn.load(fn.gep(ctx, i, i64), i64) for i in range(len(arg_types))]
    alpha_at = len(SGEMM_ARGS) - 1
    alpha = fn.add(llvm.BitcastOp(fn.add(llvm.TruncOp(vals[alpha_at], i32)), f32))
    (m_, n_, k_, a, a_off, sam, sak, b, b_off, sbk, sbn, c, c_off, ldc) = vals[:alpha_at]
    extra = vals[alpha_at + 1:]  # the packed B's address, first column, N
    share = functools.partial(thread_share, fn)

    def rows() -> None:
        start, count = share(m_, cfg.mr)
        fn.if_(fn.icmp("sgt", count, 0), lambda: fn.add(llvm.CallOp(
            serial_name, count, n_, k_, a, fn.v(fn.addi(a_off, fn.muli(start, sam))), sam,
            sak, b, b_off, sbk, sbn, c, fn.v(fn.addi(c_off, fn.muli(start, ldc))), ldc,
            alpha, *extra)))

    def cols() -> None:
        start, count = share(n_, cfg.nr)
        more = [extra[0], fn.v(fn.addi(extra[1], start)), extra[2]]
        fn.if_(fn.icmp("sgt", count, 0), lambda: fn.add(llvm.CallOp(
            serial_name, m_, count, k_, a, a_off, sam, sak, b,
            fn.v(fn.addi(b_off, fn.muli(start, sbn))), sbk, sbn, c,
            fn.v(fn.addi(c_off, start)), ldc, alpha, *more)))

    fn.if_(fn.icmp("sge", m_, n_), rows, cols)
    return fn.finish(SGEMM_WORKER + suffix)
