"""The integer GEMM kernel (u8/s8 x u8/s8 -> s32), written in the llvm dialect.

`ensure_igemm(module, a_elt, b_elt)` adds (once) an internal `@kiln_igemm_<a><b>`
computing, over IGEMM_ARGS,

    C[i, j] += sum_k (A[i, k] - za[i]) * (B[k, j] - zb[j])

with A, B, C addressed by element strides as in lowering/kernels.py and the zero points
read at za + za_off + i*zas (zb + zb_off + j*zbs; address 0: no zero point, stride 0: per
tensor). The inner loop is a pure dot product of unsigned bytes by signed bytes: packing
turns A into u8 (s8 + 128) and B into s8 (u8 - 128) and shifts the zero points alike,
so that (A - za)(B - zb) is unchanged, and keeps per packed row / column

    za'[i], t[i] = kc*za'[i] - rowsum(A'[i])        cs[j] = colsum(B'[:, j]), zb'[j]

for the standard correction  sum A'B' - za'[i]*cs[j] + zb'[j]*t[i],  applied to the
register tile before it is added to C.

Packed operands hold groups of G consecutive k per row / column in 4 bytes: with VNNI
(GemmConfig-like IGemmConfig.vnni, only where the host has avx512vnni / avxvnni) G = 4
bytes and the micro-kernel is `vpdpbusd`; the portable path holds G = 2 values widened to
i16 and multiplies with an i16 multiply-add pair sum (plain IR that LLVM turns into
pmaddwd/vpmaddwd), exact like vpdpbusd (no i16 saturation).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import llvmlite.binding as lb
from xdsl.dialects import llvm
from xdsl.dialects.builtin import (
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    IntegerType,
    ModuleOp,
    Signedness,
    VectorType,
    i8,
    i16,
    i32,
    i64,
)
from xdsl.ir import Attribute, SSAValue

from lowering.kernels import PARALLEL_MIN_MACS, PTR, FnBuilder, declare, thread_share

IGEMM = "kiln_igemm"
UI8 = IntegerType(8, Signedness.UNSIGNED)

IGEMM_ARGS: list[Attribute] = [i64] * 23
"""M, N, K, a, a_off, sam, sak, b, b_off, sbk, sbn, c, c_off, ldc, za, za_off, zas,
zb, zb_off, zbs, packed B (0: pack per call), first column of B this call covers, N of B."""


@dataclass(frozen=True)
class IGemmConfig:
    """i32 lanes per vector, micro-tile MR x (NV*VW), cache blocking (KC a multiple of 4),
    and whether the micro-kernel uses vpdpbusd."""

    vw: int = 16
    nv: int = 4
    mr: int = 6
    kc: int = 1024
    mc: int = 96
    nc: int = 4096
    vnni: bool = False

    @property
    def nr(self) -> int:
        return self.vw * self.nv

    @property
    def group(self) -> int:
        """k values per 4-byte packed element: bytes (vpdpbusd) or i16 pairs."""
        return 4 if self.vnni else 2


@functools.cache
def host_igemm_config(portable: bool = False) -> IGemmConfig:
    """AVX-512 (with BW) hosts get 6 x 64 of <16 x i32>, others 6 x 16 of <8 x i32>;
    vpdpbusd where the host has avx512vnni (512-bit) or avxvnni (256-bit), unless
    `portable`."""
    try:
        features = lb.get_host_cpu_features()
    except Exception:  # pragma: no cover - no host information
        features = {}
    wide = features.get("avx512f", False) and features.get("avx512bw", False)
    if wide:
        return IGemmConfig(vnni=not portable and features.get("avx512vnni", False))
    return IGemmConfig(vw=8, nv=2, mr=6, kc=512, mc=72,
                       vnni=not portable and features.get("avxvnni", False))


def _tag(t: Attribute) -> str:
    return "u8" if t == UI8 else "s8"


def igemm_name(a_elt: Attribute, b_elt: Attribute, cfg: IGemmConfig) -> str:
    return f"{IGEMM}_{_tag(a_elt)}{_tag(b_elt)}" + ("" if cfg.vnni else "_p")


def ensure_igemm(module: ModuleOp, a_elt: Attribute, b_elt: Attribute,
                 cfg: IGemmConfig | None = None, threads: int = 1,
                 linkage: str = "internal") -> str:
    """Add the kernel for these operand types (i8 or ui8) to `module` once; its name."""
    cfg = cfg or host_igemm_config()
    if cfg.kc % 4 or cfg.nc % cfg.nr or cfg.mc % cfg.mr:
        raise ValueError(f"bad integer GEMM blocking {cfg}")
    name = igemm_name(a_elt, b_elt, cfg)
    if any(isinstance(op, llvm.FuncOp) and op.sym_name.data == name for op in module.ops):
        return name
    declare(module, "malloc", [i64], PTR)
    declare(module, "free", [PTR], llvm.LLVMVoidType())
    if threads <= 1:
        module.body.block.add_op(_Builder(cfg, a_elt, b_elt).kernel(name, linkage))
        return name
    declare(module, "GOMP_parallel", [PTR, PTR, i32, i32], llvm.LLVMVoidType())
    declare(module, "omp_get_thread_num", [], i32)
    declare(module, "omp_get_num_threads", [], i32)
    module.body.block.add_op(_Builder(cfg, a_elt, b_elt).kernel(name + "_core"))
    module.body.block.add_op(_worker(cfg, name))
    module.body.block.add_op(_parallel(threads, name, linkage))
    return name


def ensure_igemm_pack_b(module: ModuleOp, b_elt: Attribute,
                        cfg: IGemmConfig | None = None, linkage: str = "internal") -> str:
    """Add (once) @..._pack_b(N, K, b, b_off, sbk, sbn, zb, zb_off, zbs) -> the malloc'ed
    address of all of B (and its zero points) in the kernel's packed layout."""
    cfg = cfg or host_igemm_config()
    name = f"{IGEMM}_pack_b_{_tag(b_elt)}" + ("" if cfg.vnni else "_p")
    if not any(isinstance(op, llvm.FuncOp) and op.sym_name.data == name
               for op in module.ops):
        declare(module, "malloc", [i64], PTR)
        module.body.block.add_op(_Builder(cfg, UI8, b_elt).pack_b_all(name, linkage))
    return name


class _Builder:
    """The kernel's pieces over one FnBuilder: packing, micro-kernel, blocking loops."""

    def __init__(self, cfg: IGemmConfig, a_elt: Attribute, b_elt: Attribute):
        self.cfg, self.a_u8, self.b_u8 = cfg, a_elt == UI8, b_elt == UI8
        self.g = cfg.group
        self.e = 1 if cfg.vnni else 2  # bytes of one packed value
        self.et = i8 if cfg.vnni else i16

    # ----------------------------------------------------------------- helpers
    def setup(self, fn: FnBuilder) -> None:
        self.fn = fn
        self.zero_slot = fn.add(llvm.AllocaOp(fn.const(1), i64, alignment=8))
        fn.store(fn.const(0), self.zero_slot)

    def vconst(self, t: VectorType, value: int) -> SSAValue:
        n = t.get_shape()[0]
        return self.fn.add(llvm.ConstantOp(
            DenseIntOrFPElementsAttr.from_list(t, [value] * n), t))

    def pb(self, p: SSAValue, nbytes: int | SSAValue) -> SSAValue:
        return self.fn.gep(p, nbytes, i8)

    def zp_base(self, addr: SSAValue, off: SSAValue, stride: SSAValue
                ) -> tuple[SSAValue, SSAValue]:
        """The zero point's first element and stride; a zero byte (stride 0) if absent."""
        fn = self.fn
        has = fn.icmp("ne", addr, 0)
        real = fn.gep(fn.add(llvm.IntToPtrOp(addr)), off, i8)
        return fn.select(has, real, self.zero_slot), fn.select(has, stride, fn.const(0))

    def conv(self, x8: SSAValue, unsigned: bool, shift: int) -> SSAValue:
        """A loaded byte as i32, offset by `shift` (A: +128 for s8; B: -128 for u8)."""
        fn = self.fn
        wide = fn.add((llvm.ZExtOp if unsigned else llvm.SExtOp)(x8, i32))
        return fn.add(llvm.AddOp(wide, fn.const(shift, i32))) if shift else wide

    def conv_a(self, x8: SSAValue) -> SSAValue:
        return self.conv(x8, self.a_u8, 0 if self.a_u8 else 128)

    def conv_b(self, x8: SSAValue) -> SSAValue:
        return self.conv(x8, self.b_u8, -128 if self.b_u8 else 0)

    def put(self, base: SSAValue, slot: int | SSAValue, g: int, v32: SSAValue) -> None:
        """Store the packed value `v32` (i32) as element g of 4-byte slot `slot`."""
        fn = self.fn
        p = self.pb(base, fn.addi(fn.muli(slot, 4), g * self.e))
        fn.store(fn.add(llvm.TruncOp(v32, self.et)), p)

    def groups(self, kc: SSAValue) -> SSAValue:
        fn = self.fn
        return fn.add(llvm.SDivOp(fn.v(fn.addi(kc, self.g - 1)), fn.const(self.g)))

    def panel_bytes(self, kc: SSAValue, rows: int) -> SSAValue:
        """Bytes of a packed panel of `rows` rows (A: MR) or columns (B: NR)."""
        fn = self.fn
        return fn.muli(fn.addi(fn.muli(self.groups(kc), rows), 2 * rows), 4)  # type: ignore

    # ----------------------------------------------------------------- packing
    def pack_a(self, abuf: SSAValue, a: SSAValue, sam: SSAValue, sak: SSAValue,
               za: tuple[SSAValue, SSAValue], ic: SSAValue, mc: SSAValue, pc: SSAValue,
               kc: SSAValue) -> None:
        """A[ic:ic+mc, pc:pc+kc] as MR-row panels: [group][row][G] values, then za'[MR]
        and t[MR]; rows past mc and k past kc are zeros."""
        fn, cfg, g_n = self.fn, self.cfg, self.g
        mr = cfg.mr
        kcg = self.groups(kc)
        size = self.panel_bytes(kc, mr)
        zero = fn.const(0, i32)
        last_k = fn.subi(kc, 1)

        def panel(ir: SSAValue, _: list[SSAValue]) -> None:
            dst = self.pb(abuf, fn.muli(fn.add(llvm.SDivOp(ir, fn.const(mr))), size))
            rows = []
            for r in range(mr):
                rr = fn.addi(ir, r)
                row = fn.addi(ic, fn.mini(rr, fn.subi(mc, 1)))
                rows.append((fn.icmp("slt", rr, mc), fn.gep(a, fn.muli(row, sam), i8), row))

            def group(q: SSAValue, sums: list[SSAValue]) -> list[SSAValue]:
                out = list(sums)
                for gi in range(g_n):
                    k = fn.addi(fn.muli(q, g_n), gi)
                    kk = fn.muli(fn.addi(pc, fn.mini(k, last_k)), sak)
                    kok = fn.icmp("slt", k, kc)
                    for r, (ok, base, _row) in enumerate(rows):
                        x = self.conv_a(fn.load(fn.gep(base, kk, i8), i8))
                        x = fn.select(fn.and1(ok, kok), x, zero)
                        self.put(dst, fn.addi(fn.muli(q, mr), r), gi, x)
                        out[r] = fn.add(llvm.AddOp(out[r], x))
                return out
            sums = fn.loop(0, kcg, 1, group, [zero] * mr)
            tail = self.pb(dst, fn.muli(fn.muli(kcg, mr), 4))
            kc32 = fn.add(llvm.TruncOp(kc, i32))
            for r, (ok, _base, row) in enumerate(rows):
                zp = self.conv_a(fn.load(fn.gep(za[0], fn.muli(row, za[1]), i8), i8))
                zp = fn.select(ok, zp, zero)
                t = fn.add(llvm.SubOp(fn.add(llvm.MulOp(kc32, zp)), sums[r]))
                fn.store(zp, fn.gep(tail, r, i32))
                fn.store(t, fn.gep(tail, mr + r, i32))
        fn.loop(0, mc, mr, panel)

    def pack_b(self, dst: SSAValue, b: SSAValue, sbk: SSAValue, sbn: SSAValue,
               zb: tuple[SSAValue, SSAValue], jc: SSAValue | int, nc: SSAValue,
               pc: SSAValue | int, kc: SSAValue) -> None:
        """B[pc:pc+kc, jc:jc+nc] as NR-column panels: [group][column][G] values, then
        cs[NR] and zb'[NR]; full unit-stride panels are packed with vectors."""
        fn, cfg = self.fn, self.cfg
        nr = cfg.nr
        size = self.panel_bytes(kc, nr)
        kcg = self.groups(kc)

        def panel(jr: SSAValue, _: list[SSAValue]) -> None:
            out = self.pb(dst, fn.muli(fn.add(llvm.SDivOp(jr, fn.const(nr))), size))
            col0 = fn.addi(jc, jr)
            ncols = fn.mini(fn.subi(nc, jr), nr)
            full = fn.and1(fn.icmp("eq", ncols, nr), fn.icmp("eq", sbn, 1))
            fn.if_(full, lambda: self.pack_b_fast(out, b, sbk, col0, pc, kc),
                   lambda: self.pack_b_cols(out, b, sbk, sbn, col0, ncols, pc, kc, 0, kcg))
            tail = self.pb(out, fn.muli(fn.muli(kcg, nr), 4))

            def zpcol(j: SSAValue, _: list[SSAValue]) -> None:
                col = fn.addi(col0, fn.mini(j, fn.subi(ncols, 1)))
                z = self.conv_b(fn.load(fn.gep(zb[0], fn.muli(col, zb[1]), i8), i8))
                z = fn.select(fn.icmp("slt", j, ncols), z, fn.const(0, i32))
                fn.store(z, fn.gep(tail, fn.addi(j, nr), i32))
            fn.loop(0, nr, 1, zpcol)
        fn.loop(0, nc, nr, panel)

    def pack_b_cols(self, out: SSAValue, b: SSAValue, sbk: SSAValue, sbn: SSAValue,
                    col0: SSAValue, ncols: SSAValue, pc: SSAValue | int, kc: SSAValue,
                    q0: SSAValue | int, q1: SSAValue, add_sums: bool = False) -> None:
        """Scalar packing of groups q0..q1 of all NR columns (those past ncols zero),
        storing (or, with add_sums, adding to) their column sums."""
        fn, nr, g_n = self.fn, self.cfg.nr, self.g
        zero = fn.const(0, i32)
        kcg = self.groups(kc)
        last_k = fn.subi(kc, 1)

        def col(j: SSAValue, _: list[SSAValue]) -> None:
            ok = fn.icmp("slt", j, ncols)
            src = fn.gep(b, fn.muli(fn.addi(col0, fn.mini(j, fn.subi(ncols, 1))), sbn), i8)

            def group(q: SSAValue, s: list[SSAValue]) -> list[SSAValue]:
                acc = s[0]
                for gi in range(g_n):
                    k = fn.addi(fn.muli(q, g_n), gi)
                    x = self.conv_b(fn.load(fn.gep(src, fn.muli(fn.addi(
                        pc, fn.mini(k, last_k)), sbk), i8), i8))
                    x = fn.select(fn.and1(ok, fn.icmp("slt", k, kc)), x, zero)
                    self.put(out, fn.addi(fn.muli(q, nr), j), gi, x)
                    acc = fn.add(llvm.AddOp(acc, x))
                return [acc]
            (s,) = fn.loop(q0, q1, 1, group, [zero])
            p = fn.gep(self.pb(out, fn.muli(fn.muli(kcg, nr), 4)), j, i32)
            if add_sums:
                s = fn.add(llvm.AddOp(fn.load(p, i32), s))
            fn.store(s, p)
        fn.loop(0, nr, 1, col)

    def pack_b_fast(self, out: SSAValue, b: SSAValue, sbk: SSAValue, col0: SSAValue,
                    pc: SSAValue | int, kc: SSAValue) -> None:
        """A full unit-stride panel: G rows of NR bytes interleaved per group with
        shuffles, column sums in vectors; a partial last group packed as scalars."""
        fn, nr, g_n = self.fn, self.cfg.nr, self.g
        bytes_t, wide_t = VectorType(i8, [nr]), VectorType(i32, [nr])
        full = fn.add(llvm.SDivOp(fn.v(kc), fn.const(g_n)))
        flip = self.vconst(bytes_t, -128) if self.b_u8 else None

        def row(k: SSAValue) -> SSAValue:
            p = fn.gep(b, fn.addi(fn.muli(fn.addi(pc, k), sbk), col0), i8)
            x = fn.load(p, bytes_t, 1)
            return fn.add(llvm.XOrOp(x, flip)) if flip is not None else x

        def shuffle(x: SSAValue, y: SSAValue, mask: list[int], t: VectorType) -> SSAValue:
            return fn.add(llvm.ShuffleVectorOp(x, y, DenseArrayBase.from_list(i32, mask), t))

        def group(q: SSAValue, s: list[SSAValue]) -> list[SSAValue]:
            rows = [row(fn.addi(fn.muli(q, g_n), gi)) for gi in range(g_n)]
            acc = s[0]
            for x in rows:
                acc = fn.add(llvm.AddOp(acc, fn.add(llvm.SExtOp(x, wide_t))))
            pair = [h * nr + j for j in range(nr) for h in range(2)]
            dst = self.pb(out, fn.muli(q, nr * 4))
            if g_n == 4:
                lo = shuffle(rows[0], rows[1], pair, VectorType(i8, [2 * nr]))
                hi = shuffle(rows[2], rows[3], pair, VectorType(i8, [2 * nr]))
                quad = [(2 * j + g) if g < 2 else (2 * nr + 2 * j + g - 2)
                        for j in range(nr) for g in range(4)]
                fn.store(shuffle(lo, hi, quad, VectorType(i8, [4 * nr])), dst, 32)
            else:
                half_t = VectorType(i16, [nr])
                w0, w1 = (fn.add(llvm.SExtOp(x, half_t)) for x in rows)
                fn.store(shuffle(w0, w1, pair, VectorType(i16, [2 * nr])), dst, 32)
            return [acc]
        (sums,) = fn.loop(0, full, 1, group, [self.vconst(wide_t, 0)])
        kcg = self.groups(kc)
        fn.store(sums, self.pb(out, fn.muli(fn.muli(kcg, nr), 4)), 32)
        fn.if_(fn.icmp("slt", full, kcg), lambda: self.pack_b_cols(
            out, b, sbk, fn.const(1), col0, fn.const(nr), pc, kc, full, kcg, True))

    # ------------------------------------------------------------ micro-kernel
    def micro(self, pa: SSAValue, pb: SSAValue, cp: SSAValue, ldc: SSAValue,
              kcg: SSAValue, mrows: SSAValue, ncols: SSAValue, tile: SSAValue) -> None:
        vw = self.cfg.vw

        def variant(j: int) -> None:
            if j == 1:
                self.micro_n(pa, pb, cp, ldc, kcg, mrows, ncols, tile, 1)
                return
            self.fn.if_(self.fn.icmp("sgt", ncols, (j - 1) * vw),
                        lambda: self.micro_n(pa, pb, cp, ldc, kcg, mrows, ncols, tile, j),
                        lambda: variant(j - 1))
        variant(self.cfg.nv)

    def dot(self, acc: SSAValue, a: SSAValue, b: SSAValue) -> SSAValue:
        """acc + the 4-byte-group dot products of a (u8 / i16 pairs) and b (s8 / i16)."""
        fn, vw = self.fn, self.cfg.vw
        vec = VectorType(i32, [vw])
        if self.cfg.vnni:
            return fn.add(llvm.CallIntrinsicOp(f"llvm.x86.avx512.vpdpbusd.{vw * 32}",
                                               [acc, a, b], [vec]))
        # products of the i16 lanes, then pairwise sums: the shape LLVM's x86 backend
        # selects as one (v)pmaddwd, while the IR itself stays target-independent
        half, wide = VectorType(i16, [2 * vw]), VectorType(i32, [2 * vw])
        xa, xb = (fn.add(llvm.SExtOp(fn.add(llvm.BitcastOp(x, half)), wide)) for x in (a, b))
        prod = fn.add(llvm.MulOp(xa, xb))
        sums = [fn.add(llvm.ShuffleVectorOp(prod, prod, DenseArrayBase.from_list(
            i32, [2 * j + h for j in range(vw)]), vec)) for h in range(2)]
        return fn.add(llvm.AddOp(acc, fn.add(llvm.AddOp(sums[0], sums[1]))))

    def micro_n(self, pa: SSAValue, pb: SSAValue, cp: SSAValue, ldc: SSAValue,
                kcg: SSAValue, mrows: SSAValue, ncols: SSAValue, tile: SSAValue,
                nv: int) -> None:
        fn, cfg = self.fn, self.cfg
        vw, mr, nr = cfg.vw, cfg.mr, cfg.nr
        vec = VectorType(i32, [vw])
        undef = fn.add(llvm.UndefOp(vec))
        splat_mask = DenseArrayBase.from_list(i32, [0] * vw)

        def splat(x: SSAValue) -> SSAValue:
            ins = fn.add(llvm.InsertElementOp(undef, x, fn.const(0, i32)))
            return fn.add(llvm.ShuffleVectorOp(ins, undef, splat_mask, vec))

        def step(q: SSAValue, acc: list[SSAValue]) -> list[SSAValue]:
            bp = self.pb(pb, fn.muli(q, nr * 4))
            bv = [fn.load(self.pb(bp, v * vw * 4), vec, 32) for v in range(nv)]
            ap = self.pb(pa, fn.muli(q, mr * 4))
            out = list(acc)
            for r in range(mr):
                s = splat(fn.load(fn.gep(ap, r, i32), i32))
                for v in range(nv):
                    out[r * nv + v] = self.dot(out[r * nv + v], s, bv[v])
            return out
        acc = fn.loop(0, kcg, 1, step, [self.vconst(vec, 0)] * (mr * nv))
        # the zero-point correction: acc - za'[i]*cs[j] + zb'[j]*t[i]
        btail = self.pb(pb, fn.muli(fn.muli(kcg, nr), 4))
        atail = self.pb(pa, fn.muli(fn.muli(kcg, mr), 4))
        cs = [fn.load(self.pb(btail, v * vw * 4), vec, 32) for v in range(nv)]
        zb = [fn.load(self.pb(btail, (nr + v * vw) * 4), vec, 32) for v in range(nv)]
        for r in range(mr):
            za = splat(fn.load(fn.gep(atail, r, i32), i32))
            t = splat(fn.load(fn.gep(atail, mr + r, i32), i32))
            for v in range(nv):
                x = fn.add(llvm.SubOp(acc[r * nv + v], fn.add(llvm.MulOp(za, cs[v]))))
                acc[r * nv + v] = fn.add(llvm.AddOp(x, fn.add(llvm.MulOp(zb[v], t))))
        full = fn.and1(fn.icmp("eq", mrows, mr), fn.icmp("eq", ncols, nv * vw))

        def store_full() -> None:
            for r in range(mr):
                row = fn.gep(cp, fn.muli(ldc, r), i32)
                for v in range(nv):
                    p = fn.gep(row, v * vw, i32)
                    fn.store(fn.add(llvm.AddOp(fn.load(p, vec, 4), acc[r * nv + v])), p, 4)

        def store_edge() -> None:
            for r in range(mr):
                for v in range(nv):
                    fn.store(acc[r * nv + v], fn.gep(tile, r * nr + v * vw, i32), 32)

            def row(i: SSAValue, _: list[SSAValue]) -> None:
                crow = fn.gep(cp, fn.muli(i, ldc), i32)
                trow = fn.gep(tile, fn.muli(i, nr), i32)

                def col(j: SSAValue, _: list[SSAValue]) -> None:
                    p = fn.gep(crow, j, i32)
                    fn.store(fn.add(llvm.AddOp(fn.load(p, i32),
                                               fn.load(fn.gep(trow, j, i32), i32))), p)
                fn.loop(0, ncols, 1, col)
            fn.loop(0, mrows, 1, row)

        fn.if_(full, store_full, store_edge)

    # ------------------------------------------------------------ functions
    def kernel(self, name: str, linkage: str = "internal") -> llvm.FuncOp:
        cfg = self.cfg
        mr, nr = cfg.mr, cfg.nr
        fn = FnBuilder(IGEMM_ARGS)
        self.setup(fn)
        (m_, n_, k_, a_addr, a_off, sam, sak, b_addr, b_off, sbk, sbn, c_addr, c_off, ldc,
         za_addr, za_off, zas, zb_addr, zb_off, zbs, packed_raw, col0, n_total) = fn.args
        a = fn.gep(fn.add(llvm.IntToPtrOp(a_addr)), a_off, i8)
        b = fn.gep(fn.add(llvm.IntToPtrOp(b_addr)), b_off, i8)
        c = fn.gep(fn.add(llvm.IntToPtrOp(c_addr)), c_off, i32)
        za = self.zp_base(za_addr, za_off, zas)
        zb = self.zp_base(zb_addr, zb_off, zbs)
        fn.return_if(fn.or1(fn.or1(fn.icmp("sle", m_, 0), fn.icmp("sle", n_, 0)),
                            fn.icmp("sle", k_, 0)))

        def rounded(x: SSAValue, step: int) -> SSAValue:
            return fn.muli(fn.add(llvm.SDivOp(fn.v(fn.addi(x, step - 1)), fn.const(step))),
                           step)  # type: ignore[return-value]

        kcap = fn.mini(k_, cfg.kc)
        packed = fn.icmp("ne", packed_raw, 0)
        packed_b = fn.align64(fn.add(llvm.IntToPtrOp(packed_raw)))
        b_need = fn.muli(fn.add(llvm.SDivOp(rounded(fn.mini(n_, cfg.nc), nr),
                                            fn.const(nr))), self.panel_bytes(kcap, nr))
        a_need = fn.muli(fn.add(llvm.SDivOp(rounded(fn.mini(m_, cfg.mc), mr),
                                            fn.const(mr))), self.panel_bytes(kcap, mr))

        def scratch(nbytes: SSAValue | int) -> tuple[SSAValue, SSAValue]:
            raw = fn.add(llvm.CallOp("malloc", fn.v(fn.addi(nbytes, 64)), return_type=PTR))
            return raw, fn.align64(raw)

        b_raw, bbuf = scratch(fn.select(packed, fn.const(0), fn.v(b_need)))
        a_raw, abuf = scratch(a_need)
        tile = fn.add(llvm.AllocaOp(fn.const(mr * nr), i32, alignment=64))
        panels_total = fn.add(llvm.SDivOp(rounded(n_total, nr), fn.const(nr)))
        full_block = fn.muli(panels_total, self.panel_bytes(fn.const(cfg.kc), nr))

        def jc_loop(jc: SSAValue, _: list[SSAValue]) -> None:
            nc = fn.mini(fn.subi(n_, jc), cfg.nc)

            def pc_loop(pc: SSAValue, _: list[SSAValue]) -> None:
                kc = fn.mini(fn.subi(k_, pc), cfg.kc)
                kcg = self.groups(kc)
                bsize, asize = self.panel_bytes(kc, nr), self.panel_bytes(kc, mr)
                fn.if_(packed, lambda: None,
                       lambda: self.pack_b(bbuf, b, sbk, sbn, zb, jc, nc, pc, kc))
                block_b = self.pb(packed_b, fn.muli(fn.add(llvm.SDivOp(pc, fn.const(
                    cfg.kc))), full_block))

                def ic_loop(ic: SSAValue, _: list[SSAValue]) -> None:
                    mc = fn.mini(fn.subi(m_, ic), cfg.mc)
                    self.pack_a(abuf, a, sam, sak, za, ic, mc, pc, kc)

                    def jr_loop(jr: SSAValue, _: list[SSAValue]) -> None:
                        ncols = fn.mini(fn.subi(nc, jr), nr)
                        col = fn.addi(col0, fn.addi(jc, jr))
                        pre = self.pb(block_b, fn.muli(fn.add(llvm.SDivOp(
                            fn.v(col), fn.const(nr))), bsize))
                        mine = self.pb(bbuf, fn.muli(fn.add(llvm.SDivOp(jr, fn.const(nr))),
                                                     bsize))
                        pb = fn.select(packed, pre, mine)
                        ccol = fn.addi(jc, jr)

                        def ir_loop(ir: SSAValue, _: list[SSAValue]) -> None:
                            mrows = fn.mini(fn.subi(mc, ir), mr)
                            pa = self.pb(abuf, fn.muli(fn.add(llvm.SDivOp(
                                ir, fn.const(mr))), asize))
                            cp = fn.gep(c, fn.addi(fn.muli(fn.addi(ic, ir), ldc), ccol), i32)
                            self.micro(pa, pb, cp, ldc, kcg, mrows, ncols, tile)
                        fn.loop(0, mc, mr, ir_loop)
                    fn.loop(0, nc, nr, jr_loop)
                fn.loop(0, m_, cfg.mc, ic_loop)
            fn.loop(0, k_, cfg.kc, pc_loop)
        fn.loop(0, n_, cfg.nc, jc_loop)
        fn.add(llvm.CallOp("free", a_raw))
        fn.add(llvm.CallOp("free", b_raw))
        return fn.finish(name, linkage=linkage)

    def pack_b_all(self, name: str, linkage: str = "internal") -> llvm.FuncOp:
        """All of B: for each KC-row block p (at p * panels * panel_bytes(KC)), its NR-column
        panels in order, as the kernel reads them when its packed-B argument is set."""
        cfg, nr = self.cfg, self.cfg.nr
        fn = FnBuilder([i64] * 9)
        self.setup(fn)
        n_, k_, b_addr, b_off, sbk, sbn, zb_addr, zb_off, zbs = fn.args
        b = fn.gep(fn.add(llvm.IntToPtrOp(b_addr)), b_off, i8)
        zb = self.zp_base(zb_addr, zb_off, zbs)
        panels = fn.add(llvm.SDivOp(fn.v(fn.addi(n_, nr - 1)), fn.const(nr)))
        block = fn.muli(panels, self.panel_bytes(fn.const(cfg.kc), nr))
        blocks = fn.add(llvm.SDivOp(fn.v(fn.addi(k_, cfg.kc - 1)), fn.const(cfg.kc)))
        raw = fn.add(llvm.CallOp("malloc", fn.v(fn.addi(fn.muli(blocks, block), 64)),
                                 return_type=PTR))
        base = fn.align64(raw)

        def rows(pc: SSAValue, _: list[SSAValue]) -> None:
            kc = fn.mini(fn.subi(k_, pc), cfg.kc)
            dst = self.pb(base, fn.muli(fn.add(llvm.SDivOp(pc, fn.const(cfg.kc))), block))
            self.pack_b(dst, b, sbk, sbn, zb, 0, n_, pc, kc)
        fn.loop(0, k_, cfg.kc, rows)
        fn.add(llvm.ReturnOp(fn.add(llvm.PtrToIntOp(raw, i64))))
        return fn.finish(name, ret=i64, linkage=linkage)


# ---------------------------------------------------------------------- threads
# As for the f32 kernel: small products run serially; large ones split C by rows (MR
# steps, M >= N) or columns (NR steps) over a GOMP team, each slice the serial kernel.
# Every element sees the same packing and order, so results are the same for any team.

_ROW_SHIFT = {4: 5, 12: 13, 15: 16}     # a_off, c_off, za_off move with the rows (by sam,
_COL_SHIFT = {8: 10, 12: None, 18: 19}  # ldc, zas); b_off, c_off, zb_off with columns


def _parallel(threads: int, name: str, linkage: str) -> llvm.FuncOp:
    fn = FnBuilder(IGEMM_ARGS)
    args = list(fn.args)
    macs = fn.muli(fn.muli(args[0], args[1]), args[2])

    def serial() -> None:
        fn.add(llvm.CallOp(name + "_core", *args))

    def parallel() -> None:
        ctx = fn.add(llvm.AllocaOp(fn.const(len(args)), i64, alignment=8))
        for i, v in enumerate(args):
            fn.store(v, fn.gep(ctx, i, i64))
        worker = fn.add(llvm.AddressOfOp(name + "_worker", PTR))
        fn.add(llvm.CallOp("GOMP_parallel", worker, ctx, fn.const(threads, i32),
                           fn.const(0, i32)))

    fn.if_(fn.icmp("slt", macs, PARALLEL_MIN_MACS), serial, parallel)
    return fn.finish(name, linkage=linkage)


def _worker(cfg: IGemmConfig, name: str) -> llvm.FuncOp:
    fn = FnBuilder([PTR])
    vals = [fn.load(fn.gep(fn.args[0], i, i64), i64) for i in range(len(IGEMM_ARGS))]
    def part(size_at: int, step: int, shifts: dict[int, int | None], col: bool) -> None:
        start, count = thread_share(fn, vals[size_at], step)
        args = list(vals)
        args[size_at] = count
        for at, stride_at in shifts.items():
            stride = fn.const(1) if stride_at is None else vals[stride_at]
            args[at] = fn.v(fn.addi(vals[at], fn.muli(start, stride)))
        if col:
            args[21] = fn.v(fn.addi(vals[21], start))
        fn.if_(fn.icmp("sgt", count, 0), lambda: fn.add(llvm.CallOp(name + "_core", *args)))

    fn.if_(fn.icmp("sge", vals[0], vals[1]), lambda: part(0, cfg.mr, _ROW_SHIFT, False),
           lambda: part(1, cfg.nr, _COL_SHIFT, True))
    return fn.finish(name + "_worker")
