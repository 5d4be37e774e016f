"""gpu-block-reductions: reductions along a buffer's contiguous dim -> one block per output.

Runs on the cuda target after gpu-tile-contractions, before lower-linalg-to-loops (which
would give each output one thread running the whole reduction serially). A
`linalg.generic` qualifies when it has memref operands and one output whose map names
every parallel loop once (and 0 for kept unit dims), reduction loops, and a body
`acc <op> f(inputs)`: the accumulator used once, by an associative, commutative
combiner (addf, mulf, maximumf, minimumf, maxnumf, minnumf and the integer ones) whose
result is yielded, no linalg.index.
Every input that the reduction walks must be contiguous along it (its last index uses a
reduction loop: softmax's and layernorm's rows, a pool over H and W); otherwise adjacent
threads of the loop nest already read adjacent elements and it stays as it is. Static
reductions shorter than MIN_LENGTH stay as well.

The kernel: a block-stride loop over the outputs (the host launches min(outputs, 65536)
blocks of B threads; B = 256, or the next power of two >= K, at least 32, for a static
K); for one output, thread t folds f over k = t, t + B, ... (its first element starts the
partial: no identity value is needed), writes the partial into workgroup memory, then a
tree in shared memory halves the live partials, a barrier after each step, combining
slot t with t + s only where t + s < K; thread 0 combines the output's initial value with
slot 0 and stores it. Inputs not indexed by the reduction are loaded once per output.
The order of the additions differs from the serial loop (a float sum may round
differently, as on the cpu target's vectorized loops).
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, gpu, memref, scf
from xdsl.dialects.builtin import IndexType, IntegerAttr, MemRefType, ModuleOp, i64
from xdsl.dialects.linalg.ops import GenericOp, IndexOp, YieldOp
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.ir.affine import AffineConstantExpr, AffineDimExpr
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint

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
from lowering.gpu_tile import SHARED_SPACE

MIN_LENGTH = 32
"""Reduce in a block only when K may reach this many elements."""
MAX_THREADS = 256

COMBINERS = (arith.AddfOp, arith.MulfOp, arith.MaximumfOp, arith.MinimumfOp, arith.MaxnumfOp,
             arith.MinnumfOp, arith.AddiOp, arith.MuliOp, arith.MaxSIOp, arith.MinSIOp,
             arith.MaxUIOp, arith.MinUIOp, arith.AndIOp, arith.OrIOp, arith.XOrIOp)


@dataclass
class Reduction:
    """A block-reducible generic: its combiner, parallel and reduction loop dims."""

    combiner: Operation
    parallel: list[int]
    reduced: list[int]


def _dims(expr) -> set[int]:
    return {e.position for e in expr.dfs() if isinstance(e, AffineDimExpr)}


def reduction_of(op: GenericOp) -> Reduction | None:
    """The reduction structure of `op` (see the module doc), or None."""
    if (len(op.outputs) != 1 or op.results or not op.inputs
            or not all(isinstance(v.type, MemRefType) for v in op.operands)):
        return None
    block = op.body.block
    acc = block.args[-1]
    yield_op = block.last_op
    uses = list(acc.uses)
    if not isinstance(yield_op, YieldOp) or len(yield_op.operands) != 1 or len(uses) != 1:
        return None
    combiner = uses[0].operation
    if not isinstance(combiner, COMBINERS) or yield_op.operands[0] is not combiner.results[0]:
        return None
    if len({id(v) for v in combiner.operands}) != 2:
        return None
    if any(isinstance(o, IndexOp) or o.dialect_name() not in ("arith", "math")
           for o in block.ops if o is not yield_op):
        return None
    maps = [m.data for m in op.get_indexing_maps()]
    iters = [str(it.data) for it in op.get_iterator_types()]
    parallel = [d for d, it in enumerate(iters) if it == "parallel"]
    reduced = [d for d, it in enumerate(iters) if it != "parallel"]
    # the output names each parallel loop once; other results are 0 (kept unit dims)
    out = [r for r in maps[-1].results if isinstance(r, AffineDimExpr)]
    if not reduced or sorted(r.position for r in out) != parallel or any(
            not isinstance(r, AffineDimExpr) and not (
                isinstance(r, AffineConstantExpr) and r.value == 0)
            for r in maps[-1].results):
        return None
    for m in maps[:-1]:
        walks = any(_dims(r) & set(reduced) for r in m.results)
        if walks and not (_dims(m.results[-1]) & set(reduced)):
            return None
    return Reduction(combiner, [r.position for r in out], reduced)


def block_threads(length: int | None) -> int:
    """Threads per block for a reduction of `length` (None: known at run time)."""
    if length is None:
        return MAX_THREADS
    threads = MIN_LENGTH
    while threads < length and threads < MAX_THREADS:
        threads *= 2
    return threads


@dataclass
class _Reducer:
    """Emits one block-reduction kernel (see the module doc) through a KernelBuilder."""

    kb: KernelBuilder
    r: Reduction
    threads: int

    def __post_init__(self) -> None:
        self.maps = [m.data for m in self.kb.op.get_indexing_maps()]
        self.block = self.kb.op.body.block
        self.acc = self.block.args[-1]
        self.other = next(v for v in self.r.combiner.operands if v is not self.acc)

    def load(self, i: int, ivs: dict[int, SSAValue]) -> SSAValue:
        ins = self.kb.ins
        full = [ivs.get(d, ins.const(0)) for d in range(len(self.kb.op.iterator_types))]
        return ins(memref.LoadOp.get(self.kb.operands[i], ins.indices(self.maps[i], full)))

    def combine(self, acc: SSAValue, value: SSAValue) -> SSAValue:
        mapping = dict(self.kb.mapping)
        mapping.update({self.acc: acc, self.other: value})
        return self.kb.ins(self.r.combiner.clone(value_mapper=mapping))

    def element(self, fixed: dict[SSAValue, SSAValue], ivs: dict[int, SSAValue]) -> SSAValue:
        """f(inputs) at the reduction indices in `ivs` (the body minus the combiner)."""
        reduced = set(self.r.reduced)
        mapping = dict(self.kb.mapping)
        mapping.update(fixed)
        for i, arg in enumerate(self.block.args[:-1]):
            if arg not in mapping and arg.uses and any(
                    _dims(e) & reduced for e in self.maps[i].results):
                mapping[arg] = self.load(i, ivs)
        for inner in self.block.ops:
            if inner is self.r.combiner or isinstance(inner, YieldOp):
                continue
            self.kb.ins(inner.clone(value_mapper=mapping))
        return mapping.get(self.other, self.other)

    def emit(self) -> None:
        kb, ins, b = self.kb, self.kb.ins, self.kb.bounds
        space = IntegerAttr(SHARED_SPACE, i64)
        self.partials = ins(memref.AllocaOp.get(self.acc.type, shape=[self.threads],
                                                memory_space=space))
        self.tid, _, bid, gdim = thread_ids(ins)
        self.length = product(ins, [b[d] for d in self.r.reduced])
        total = product(ins, [b[d] for d in self.r.parallel])
        body = Block(arg_types=[IndexType()])
        body.add_op(scf.YieldOp())
        loop = scf.ForOp(bid, total, gdim, [], body)
        ins(loop)
        ins.hoist = InsertPoint.before(loop)
        after = InsertPoint.before(body.last_op)  # type: ignore[arg-type]
        ins.point = after
        ins(gpu.BarrierOp())
        nonempty = ins(arith.CmpiOp(self.length, ins.const(0), "ugt"))
        then = Block([scf.YieldOp()])
        ins(scf.IfOp(nonempty, [], Region(then)))
        ins.point = InsertPoint.before(then.last_op)  # type: ignore[arg-type]
        self.one_output(body.args[0])

        h, hb = kb.host, kb.host_bounds
        outputs = product(h, [hb[d] for d in self.r.parallel])
        kb.launch(grid_size(h, outputs), (self.threads, 1, 1))

    def one_output(self, linear: SSAValue) -> None:
        ins, b = self.kb.ins, self.kb.bounds
        ivs: dict[int, SSAValue] = {}
        delinearize(ins, linear, self.r.parallel, b, ivs)
        reduced = set(self.r.reduced)
        fixed = {arg: self.load(i, ivs) for i, arg in enumerate(self.block.args[:-1])
                 if arg.uses and not any(_dims(e) & reduced for e in self.maps[i].results)}
        # the thread's first element (clamped: a thread past K computes, never stores)
        last = ins(arith.SubiOp(self.length, ins.const(1)))
        first = dict(ivs)
        delinearize(ins, ins(arith.MinUIOp(self.tid, last)), self.r.reduced, b, first)
        start = self.element(fixed, first)
        body = Block(arg_types=[IndexType(), self.acc.type])
        body.add_op(scf.YieldOp())
        step = ins.const(self.threads)
        fold = scf.ForOp(ins(arith.AddiOp(self.tid, step)), self.length, step, [start], body)
        ins(fold)
        after = ins.point
        ins.point = InsertPoint.before(body.last_op)  # type: ignore[arg-type]
        at = dict(ivs)
        delinearize(ins, body.args[0], self.r.reduced, b, at)
        new = self.combine(body.args[1], self.element(fixed, at))
        body.erase_op(body.last_op)  # type: ignore[arg-type]
        body.add_op(scf.YieldOp(new))
        ins.point = after
        ins(memref.StoreOp.get(fold.results[0], self.partials, [self.tid]))
        ins(gpu.BarrierOp())
        s = self.threads // 2
        while s >= 1:
            other = ins(arith.AddiOp(self.tid, ins.const(s)))
            live = ins(arith.AndIOp(ins(arith.CmpiOp(self.tid, ins.const(s), "ult")),
                                    ins(arith.CmpiOp(other, self.length, "ult"))))
            then = Block([scf.YieldOp()])
            ins(scf.IfOp(live, [], Region(then)))
            ins.point = InsertPoint.before(then.last_op)  # type: ignore[arg-type]
            mine = ins(memref.LoadOp.get(self.partials, [self.tid]))
            theirs = ins(memref.LoadOp.get(self.partials, [other]))
            ins(memref.StoreOp.get(self.combine(mine, theirs), self.partials, [self.tid]))
            ins.point = after
            ins(gpu.BarrierOp())
            s //= 2
        then = Block([scf.YieldOp()])
        ins(scf.IfOp(ins(arith.CmpiOp(self.tid, ins.const(0), "eq")), [], Region(then)))
        ins.point = InsertPoint.before(then.last_op)  # type: ignore[arg-type]
        out_index = len(self.kb.op.operands) - 1
        initial = self.load(out_index, ivs)
        total = self.combine(initial, ins(memref.LoadOp.get(self.partials, [ins.const(0)])))
        full = [ivs.get(d, ins.const(0)) for d in range(len(self.kb.op.iterator_types))]
        ins(memref.StoreOp.get(total, self.kb.operands[out_index],
                               ins.indices(self.maps[out_index], full)))
        ins.point = after


@dataclass(frozen=True)
class GpuBlockReductionsPass(ModulePass):
    """Reductions along a contiguous dim (softmax/layernorm rows, pools, row sums) ->
    GPU kernels with one block per output and a tree over workgroup memory (cuda
    target)."""

    name = "gpu-block-reductions"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for generic in [o for o in op.walk() if isinstance(o, GenericOp)]:
            if isinstance(generic.parent_op(), GenericOp):
                continue
            r = reduction_of(generic)
            if r is None:
                continue
            length = static_product(static_bounds(generic), r.reduced)
            if length is not None and length < MIN_LENGTH:
                continue
            _Reducer(start_kernel(generic, "reduce"), r, block_threads(length)).emit()
