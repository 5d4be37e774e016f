"""gpu-tile-contractions: contractions on memrefs -> shared-memory tiled GPU kernels.

Runs on the cuda target after bufferize, before lower-linalg-to-loops. A `linalg.generic`
is a contraction here when it has two memref inputs and one memref output, its body
folds `acc + f(x, y)` (the accumulator used once, by the addf it yields), the output map
names every parallel loop once and there are reduction loops. Its loops then fall into

    batch  parallel, in both inputs or in neither      (grid)
    m      parallel, only in input A                    (rows of a tile)
    n      parallel, only in input B                    (columns of a tile)
    k      reduction                                    (the K loop over tiles)

each group linearized (several loop dims each: an NCHW conv is M = C_out, N = N*H*W,
K = C_in*kh*kw with any strides or dilations; its input is read through its own map, no
im2col buffer). A is the input whose private dims do not hold the output's last dim, so
adjacent threads write adjacent output elements.

The kernel: blocks of 16x16 threads, each block computing TILE x TILE outputs at a time
(a block-stride loop over the batch x row x column tiles), each thread TILE/16 x TILE/16
of them in registers (rows `ty + 16 r`, columns `tx + 16 c`). The K loop runs over
K_TILE-wide slices: a barrier, the A and B slices loaded by all threads into workgroup
memory (`memref.alloca` in address space 3, NVPTX's shared space; coalesced along
whichever of the slice's dims is innermost in the buffer), a barrier, then the slice's
multiply-adds out of shared memory. Edge tiles are guarded: every global load clamps its
row, column and k to the last valid one (never outside a buffer, whatever the sizes),
the last, partial K slice is a separate loop over only the valid k, and only valid
outputs are stored. The body is applied once per k, in order, as the loop nest does.

Products too small to fill a tile (M or N statically under MIN_SIDE, e.g. a depthwise
conv, an LSTM step at batch 1) keep the plain loop nest.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, gpu, memref, scf
from xdsl.dialects.builtin import IndexType, IntegerAttr, MemRefType, ModuleOp, i64
from xdsl.dialects.linalg.ops import GenericOp, IndexOp, YieldOp
from xdsl.ir import Block, Region, SSAValue
from xdsl.ir.affine import AffineDimExpr, AffineMap
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint
from xdsl.utils.exceptions import PassFailedException

from lowering.gpu_kernel import (
    KernelBuilder,
    delinearize,
    product,
    start_kernel,
    static_bounds,
    static_product,
    thread_ids,
)
from lowering.gpu_outline import grid_size

SHARED_SPACE = 3
"""NVPTX's shared (workgroup) address space."""
THREADS = 16
"""Threads per block along x and along y."""
MIN_SIDE = 16
"""Tile a contraction only when its M and N may each reach this many."""


def shared_memref(element, shape: list[int]) -> MemRefType:
    """A memref type in workgroup memory."""
    return MemRefType(element, shape, memory_space=IntegerAttr(SHARED_SPACE, i64))


@dataclass
class Groups:
    """A contraction's loop dims by role (see the module doc); `a`/`b`: input indices."""

    a: int
    b: int
    batch: list[int]
    m: list[int]
    n: list[int]
    k: list[int]


def _map_dims(m: AffineMap) -> set[int]:
    return {e.position for r in m.results for e in r.dfs() if isinstance(e, AffineDimExpr)}


def _accumulates(op: GenericOp) -> bool:
    """The body is acc + f(x, y): the accumulator used once, by the yielded addf, and no
    linalg.index."""
    block = op.body.block
    if len(block.args) != 3:
        return False
    acc = block.args[2]
    yield_op = block.last_op
    if not isinstance(yield_op, YieldOp) or len(yield_op.operands) != 1:
        return False
    add = yield_op.operands[0].owner
    if not isinstance(add, arith.AddfOp) or len(list(acc.uses)) != 1 or (
            add.lhs is not acc and add.rhs is not acc):
        return False
    return all(o.dialect_name() in ("arith", "math") for o in block.ops
               if o is not yield_op) and not any(isinstance(o, IndexOp) for o in block.ops)


def contraction_groups(op: GenericOp) -> Groups | None:
    """The loop roles of a contraction (see the module doc), or None when `op` is not one."""
    if (len(op.inputs) != 2 or len(op.outputs) != 1 or op.results
            or not all(isinstance(v.type, MemRefType) for v in op.operands)
            or not _accumulates(op)):
        return None
    maps = [m.data for m in op.get_indexing_maps()]
    iters = [str(it.data) for it in op.get_iterator_types()]
    out = maps[2].results
    parallel = [d for d, it in enumerate(iters) if it == "parallel"]
    if not all(isinstance(r, AffineDimExpr) for r in out) or sorted(
            r.position for r in out) != parallel:  # type: ignore[union-attr]
        return None
    in_x, in_y = _map_dims(maps[0]), _map_dims(maps[1])
    order = [r.position for r in out]  # type: ignore[union-attr]
    batch = [d for d in order if (d in in_x) == (d in in_y)]
    only_x = [d for d in order if d in in_x and d not in in_y]
    only_y = [d for d in order if d in in_y and d not in in_x]
    k = [d for d, it in enumerate(iters) if it != "parallel"]
    if not k or not only_x or not only_y:
        return None
    if order[-1] in only_x:  # the output's last dim along a tile's columns
        return Groups(1, 0, batch, only_y, only_x, k)
    return Groups(0, 1, batch, only_x, only_y, k)


def _big_enough(bounds: list[int | None], g: Groups) -> bool:
    sizes = [static_product(bounds, g.m), static_product(bounds, g.n)]
    return all(s is None or s >= MIN_SIDE for s in sizes)


@dataclass
class _Tiler:
    """Emits one tiled kernel (see the module doc) through a KernelBuilder."""

    kb: KernelBuilder
    g: Groups
    tile: int
    k_tile: int

    def __post_init__(self) -> None:
        kb, g = self.kb, self.g
        self.maps = [m.data for m in kb.op.get_indexing_maps()]
        self.per = self.tile // THREADS
        block = kb.op.body.block
        self.types = [block.args[g.a].type, block.args[g.b].type]

    # ------------------------------------------------------------------ helpers

    def indices(self, which: int, ivs: dict[int, SSAValue]) -> list[SSAValue]:
        ins = self.kb.ins
        full = [ivs.get(d, ins.const(0)) for d in range(len(self.kb.op.iterator_types))]
        return ins.indices(self.maps[which], full)

    def clamp(self, v: SSAValue, size: SSAValue) -> SSAValue:
        ins = self.kb.ins
        return ins(arith.MinSIOp(v, ins(arith.SubiOp(size, ins.const(1)))))

    def apply_body(self, a: SSAValue, b: SSAValue, acc: SSAValue) -> SSAValue:
        block = self.kb.op.body.block
        mapping = dict(self.kb.mapping)
        mapping.update({block.args[self.g.a]: a, block.args[self.g.b]: b, block.args[2]: acc})
        result = acc
        for inner in block.ops:
            if isinstance(inner, YieldOp):
                result = mapping[inner.operands[0]]
            else:
                self.kb.ins(inner.clone(value_mapper=mapping))
        return result

    # ------------------------------------------------------------------ kernel

    def emit(self) -> None:
        kb, g, ins = self.kb, self.g, self.kb.ins
        t, kt = self.tile, self.k_tile
        space = IntegerAttr(SHARED_SPACE, i64)
        # rows padded by one element: the transposing stores hit distinct banks
        self.shared = [ins(memref.AllocaOp.get(ty, shape=[kt, t + 1], memory_space=space))
                       for ty in self.types]
        self.tx, self.ty, bid, gdim = thread_ids(ins)
        self.tid = ins(arith.AddiOp(ins(arith.MuliOp(self.ty, ins.const(THREADS))), self.tx))
        b = kb.bounds
        self.sizes = [product(ins, [b[d] for d in g.m]), product(ins, [b[d] for d in g.n]),
                      product(ins, [b[d] for d in g.k])]
        m_size, n_size, _ = self.sizes
        tiles_m = ins(arith.CeilDivSIOp(m_size, ins.const(t)))
        tiles_n = ins(arith.CeilDivSIOp(n_size, ins.const(t)))
        batch = product(ins, [b[d] for d in g.batch])
        total = ins(arith.MuliOp(batch, ins(arith.MuliOp(tiles_m, tiles_n))))
        body = Block(arg_types=[IndexType()])
        body.add_op(scf.YieldOp())
        loop = scf.ForOp(bid, total, gdim, [], body)
        ins(loop)
        ins.hoist = InsertPoint.before(loop)
        ins.point = InsertPoint.before(body.last_op)  # type: ignore[arg-type]
        self.tile_body(body.args[0], tiles_m, tiles_n)

        h = kb.host
        hb = kb.host_bounds
        host_m = product(h, [hb[d] for d in g.m])
        host_n = product(h, [hb[d] for d in g.n])
        host_tiles = h(arith.MuliOp(
            product(h, [hb[d] for d in g.batch]),
            h(arith.MuliOp(h(arith.CeilDivSIOp(host_m, h.const(t))),
                           h(arith.CeilDivSIOp(host_n, h.const(t)))))))
        kb.launch(grid_size(h, host_tiles), (THREADS, THREADS, 1))

    def tile_body(self, linear: SSAValue, tiles_m: SSAValue, tiles_n: SSAValue) -> None:
        kb, g, ins = self.kb, self.g, self.kb.ins
        t, kt = self.tile, self.k_tile
        m_size, n_size, k_size = self.sizes
        tn = ins(arith.RemUIOp(linear, tiles_n))
        rest = ins(arith.DivUIOp(linear, tiles_n))
        tm = ins(arith.RemUIOp(rest, tiles_m))
        self.batch_ivs: dict[int, SSAValue] = {}
        delinearize(ins, ins(arith.DivUIOp(rest, tiles_m)), g.batch, kb.bounds, self.batch_ivs)
        self.m0 = ins(arith.MuliOp(tm, ins.const(t)))
        self.n0 = ins(arith.MuliOp(tn, ins.const(t)))
        rows = [ins(arith.AddiOp(self.m0, ins(arith.AddiOp(self.ty, ins.const(THREADS * r)))))
                for r in range(self.per)]
        cols = [ins(arith.AddiOp(self.n0, ins(arith.AddiOp(self.tx, ins.const(THREADS * c)))))
                for c in range(self.per)]
        outs: list[dict[int, SSAValue]] = []
        for r in rows:
            row_ivs: dict[int, SSAValue] = {}
            delinearize(ins, self.clamp(r, m_size), g.m, kb.bounds, row_ivs)
            for c in cols:
                ivs = {**self.batch_ivs, **row_ivs}
                delinearize(ins, self.clamp(c, n_size), g.n, kb.bounds, ivs)
                outs.append(ivs)
        c_buf = kb.operands[2]
        accs = [ins(memref.LoadOp.get(c_buf, self.indices(2, ivs))) for ivs in outs]

        full = ins(arith.DivUIOp(k_size, ins.const(kt)))
        body = Block(arg_types=[IndexType(), *[a.type for a in accs]])
        step_yield = scf.YieldOp()
        body.add_op(step_yield)
        k_loop = scf.ForOp(ins.const(0), full, ins.const(1), accs, body)
        ins(k_loop)
        after = ins.point
        ins.point = InsertPoint.before(step_yield)
        k0 = ins(arith.MuliOp(body.args[0], ins.const(kt)))
        new = self.k_step(k0, ins.const(kt), list(body.args[1:]))
        body.erase_op(step_yield)
        body.add_op(scf.YieldOp(*new))
        ins.point = after
        accs = list(k_loop.results)

        # the partial last slice, over its valid k only
        k0 = ins(arith.MuliOp(full, ins.const(kt)))
        left = ins(arith.SubiOp(k_size, k0))
        then = Block()
        then.add_op(scf.YieldOp())
        has_tail = ins(arith.CmpiOp(left, ins.const(0), "ugt"))
        tail = scf.IfOp(has_tail, [a.type for a in accs], Region(then),
                        Region(Block([scf.YieldOp(*accs)])))
        ins(tail)
        ins.point = InsertPoint.before(then.last_op)  # type: ignore[arg-type]
        new = self.k_step(k0, left, accs)
        then.erase_op(then.last_op)  # type: ignore[arg-type]
        then.add_op(scf.YieldOp(*new))
        ins.point = after
        accs = list(tail.results)

        i = 0
        for r in rows:
            for c in cols:
                ok = ins(arith.AndIOp(ins(arith.CmpiOp(r, m_size, "ult")),
                                      ins(arith.CmpiOp(c, n_size, "ult"))))
                store = Block()
                store.add_op(scf.YieldOp())
                ins(scf.IfOp(ok, [], Region(store)))
                ins.point = InsertPoint.before(store.last_op)  # type: ignore[arg-type]
                ins(memref.StoreOp.get(accs[i], c_buf, self.indices(2, outs[i])))
                ins.point = after
                i += 1

    def load_slice(self, which: int, k0: SSAValue) -> None:
        """Load the K_TILE x TILE slice of input A (which=0) or B (1) into shared memory:
        slot e of the block's threads holds (row or column, kk) in the order the buffer is
        contiguous in; indices clamped into the buffer."""
        kb, g, ins = self.kb, self.g, self.kb.ins
        t, kt = self.tile, self.k_tile
        src = kb.operands[g.a if which == 0 else g.b]
        own = g.m if which == 0 else g.n
        start = self.m0 if which == 0 else self.n0
        size = self.sizes[which]
        m = self.maps[g.a if which == 0 else g.b]
        last = m.results[-1] if m.results else None
        k_fast = last is not None and bool(_map_dims(AffineMap(m.num_dims, 0, (last,)))
                                           & set(g.k))
        for i in range(t * kt // (THREADS * THREADS)):
            e = ins(arith.AddiOp(self.tid, ins.const(i * THREADS * THREADS)))
            if k_fast:
                pos, kk = ins(arith.DivUIOp(e, ins.const(kt))), ins(arith.RemUIOp(e, ins.const(kt)))
            else:
                kk, pos = ins(arith.DivUIOp(e, ins.const(t))), ins(arith.RemUIOp(e, ins.const(t)))
            ivs = dict(self.batch_ivs)
            delinearize(ins, self.clamp(ins(arith.AddiOp(start, pos)), size), own, kb.bounds,
                        ivs)
            delinearize(ins, self.clamp(ins(arith.AddiOp(k0, kk)), self.sizes[2]), g.k,
                        kb.bounds, ivs)
            value = ins(memref.LoadOp.get(src, self.indices(g.a if which == 0 else g.b, ivs)))
            ins(memref.StoreOp.get(value, self.shared[which], [kk, pos]))

    def k_step(self, k0: SSAValue, count: SSAValue, accs: list[SSAValue]) -> list[SSAValue]:
        """One K slice from k0: barrier, load both slices, barrier, `count` k's of
        multiply-adds; returns the new accumulators."""
        ins = self.kb.ins
        ins(gpu.BarrierOp())
        self.load_slice(0, k0)
        self.load_slice(1, k0)
        ins(gpu.BarrierOp())
        body = Block(arg_types=[IndexType(), *[a.type for a in accs]])
        inner_yield = scf.YieldOp()
        body.add_op(inner_yield)
        loop = scf.ForOp(ins.const(0), count, ins.const(1), accs, body)
        ins(loop)
        after = ins.point
        ins.point = InsertPoint.before(inner_yield)
        kk = body.args[0]
        a = [ins(memref.LoadOp.get(self.shared[0], [kk, ins(arith.AddiOp(
            self.ty, ins.const(THREADS * r)))])) for r in range(self.per)]
        b = [ins(memref.LoadOp.get(self.shared[1], [kk, ins(arith.AddiOp(
            self.tx, ins.const(THREADS * c)))])) for c in range(self.per)]
        new = []
        for r in range(self.per):
            for c in range(self.per):
                new.append(self.apply_body(a[r], b[c], body.args[1 + r * self.per + c]))
        body.erase_op(inner_yield)
        body.add_op(scf.YieldOp(*new))
        ins.point = after
        return list(loop.results)


@dataclass(frozen=True)
class GpuTileContractionsPass(ModulePass):
    """Contractions on memrefs (matmul, batched, conv) -> GPU kernels tiled through
    workgroup memory with barriers, launched in their place (cuda target)."""

    name = "gpu-tile-contractions"

    tile: int = 32
    """Outputs per block along rows and columns (16, 32 or 64)."""

    k_tile: int = 16
    """Width of the K slices staged in shared memory (16 or 32)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.tile not in (16, 32, 64) or self.k_tile not in (16, 32):
            raise PassFailedException(f"gpu-tile-contractions: tile={self.tile}, "
                                      f"k_tile={self.k_tile}: tile must be 16, 32 or 64 "
                                      "and k_tile 16 or 32")
        for generic in [o for o in op.walk() if isinstance(o, GenericOp)]:
            if isinstance(generic.parent_op(), GenericOp):
                continue
            groups = contraction_groups(generic)
            if groups is None:
                continue
            if _big_enough(static_bounds(generic), groups):
                _Tiler(start_kernel(generic, "tiled"), groups, self.tile, self.k_tile).emit()
