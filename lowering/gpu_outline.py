"""gpu-outline-kernels: the outermost scf.parallel nests of the loop level -> GPU kernels.

Input: the loop level as `lower-linalg-to-loops{parallel=true}` writes it (every linalg
op one scf.parallel over its parallel loops, reductions as scf.for inside). Output: a
`gpu.module @kernels` holding one `gpu.func` kernel per outermost scf.parallel, and in
the host function a `gpu.launch_func` in its place.

Each kernel is a 1-D grid-stride loop over the linearized iteration space: thread
`blockIdx.x * blockDim.x + threadIdx.x` runs iterations `lin, lin + gridDim.x *
blockDim.x, ...`, each delinearized into the parallel loop's indices. Sizes may be
symbolic: the host computes the trip count from the loop bounds at run time and picks
the grid (at most MAX_BLOCKS blocks of BLOCK_SIZE threads; the stride covers the rest).

Values a nest uses from outside become kernel arguments (memrefs are passed whole, index
and scalar values as they are), except constants and `memref.get_global`, which are
cloned into the kernel (the global is copied into the gpu.module: device code cannot
read a host global). Host code that touches memory after launches (scalar
`memref.load`/`store` of shape values) is preceded by a `gpu.wait` (the host blocks
until the launched kernels are done); `memref.copy` at host level becomes a copy nest
and is outlined like any other. Ops a kernel cannot hold (run-time checks, calls) are a
CompileError naming them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, func, gpu, memref, scf
from xdsl.dialects.builtin import (
    AnyFloat,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    ModuleOp,
    StringAttr,
    SymbolRefAttr,
    UnitAttr,
)
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.utils.exceptions import PassFailedException

from dialects.errors import op_location

KERNEL_MODULE = "kernels"
BLOCK_SIZE = 256
MAX_BLOCKS = 1 << 16

# ops that may appear in a kernel body (besides the loop structure): pure arithmetic,
# math, and memory accesses through the kernel's memref arguments
_KERNEL_DIALECTS = frozenset({"arith", "math"})
_KERNEL_OPS = frozenset({
    "memref.load", "memref.store", "memref.dim", "memref.get_global",
    "memref.reinterpret_cast", "memref.cast", "memref.subview",
    "scf.for", "scf.if", "scf.yield", "scf.while", "scf.condition",
    "llvm.frem",  # fmod (graph Mod on floats): xDSL's arith has no remf; NVPTX lowers it
})
_CLONED = (arith.ConstantOp, memref.GetGlobalOp)


def _fail(op: Operation, message: str) -> PassFailedException:
    where = op_location(op)
    return PassFailedException(f"gpu-outline-kernels: {op.name}: {message}"
                               + (f" at {where}" if where else ""))


def _inside(op: Operation, ancestor: Operation) -> bool:
    current: Operation | None = op
    while current is not None:
        if current is ancestor:
            return True
        current = current.parent_op()
    return False


def _defined_inside(value: SSAValue, ancestor: Operation) -> bool:
    owner = value.owner
    op = owner if isinstance(owner, Operation) else owner.parent_op()
    return op is not None and _inside(op, ancestor)


def captured_values(loop: Operation) -> list[SSAValue]:
    """Values `loop` (its operands and every op nested in it) uses from outside."""
    seen: dict[SSAValue, None] = {}
    for op in loop.walk():
        for v in op.operands:
            if not _defined_inside(v, loop):
                seen.setdefault(v, None)
    return list(seen)


def _check_kernel_body(loop: scf.ParallelOp) -> None:
    for op in loop.walk():
        if op is loop or isinstance(op, scf.ReduceOp):
            continue
        if isinstance(op, scf.ParallelOp):
            raise _fail(op, "nested scf.parallel is not mapped onto threads")
        if op.dialect_name() not in _KERNEL_DIALECTS and op.name not in _KERNEL_OPS:
            raise _fail(op, "no GPU lowering for this op inside a kernel (the cuda target "
                            "supports arithmetic, math, loads and stores in loop nests)")
        if isinstance(op, scf.ParallelOp) and op.initVals:
            raise _fail(op, "scf.parallel with reductions is not supported")


class _Emitter:
    """Appends ops at a point and returns their first result."""

    def __init__(self, point: InsertPoint):
        self.point = point

    def __call__(self, op: Operation) -> SSAValue:
        Rewriter.insert_op(op, self.point)
        return op.results[0] if op.results else None  # type: ignore[return-value]

    def index(self, value: int) -> SSAValue:
        return self(arith.ConstantOp.from_int_and_width(value, IndexType()))


def _constant(v: SSAValue) -> int | None:
    owner = v.owner
    if isinstance(owner, arith.ConstantOp) and isinstance(owner.value, IntegerAttr):
        return owner.value.value.data
    return None


def _trip_counts(e: _Emitter, loop: scf.ParallelOp, bound) -> list[SSAValue]:
    """Per dim: ceildiv(ub - lb, step) (just ub for lower-linalg-to-loops' lb 0, step 1)."""
    counts = []
    for lb, ub, step in zip(loop.lowerBound, loop.upperBound, loop.step, strict=True):
        lb, ub, step = bound(lb), bound(ub), bound(step)
        if _constant(lb) == 0 and _constant(step) == 1:
            counts.append(ub)
            continue
        span = e(arith.SubiOp(ub, lb))
        counts.append(e(arith.CeilDivSIOp(span, step)))
    return counts


def _product(e: _Emitter, values: list[SSAValue]) -> SSAValue:
    total = values[0]
    for v in values[1:]:
        total = e(arith.MuliOp(total, v))
    return total


@dataclass
class _Outliner:
    """Outlines scf.parallel nests of one module into kernels of one gpu.module."""

    module: ModuleOp
    kernels: gpu.ModuleOp
    count: int = 0

    def globals_used(self, body: Block) -> None:
        """Copy the memref.globals the kernel body reads into the gpu.module."""
        copy_globals(self.module, self.kernels, body)

    def fresh_name(self, host_name: str) -> str:
        """`<host>_kernel_<n>`, not yet a symbol of the gpu.module."""
        taken = {o.sym_name.data for o in self.kernels.body.block.ops
                 if isinstance(o, gpu.FuncOp)}
        while f"{host_name}_kernel_{self.count}" in taken:
            self.count += 1
        return f"{host_name}_kernel_{self.count}"

    def outline(self, loop: scf.ParallelOp, host_name: str) -> None:
        _check_kernel_body(loop)
        captured = captured_values(loop)
        cloned = [v for v in captured if isinstance(v.owner, _CLONED)]
        args = [v for v in captured if not isinstance(v.owner, _CLONED)]
        for v in args:
            if not isinstance(v.type, MemRefType | IndexType | IntegerType | AnyFloat):
                raise _fail(loop, f"cannot pass a value of type {v.type} to a kernel")

        name = self.fresh_name(host_name)
        self.count += 1
        entry = Block(arg_types=[v.type for v in args])
        mapping: dict[SSAValue, SSAValue] = dict(zip(args, entry.args, strict=True))
        e = _Emitter(InsertPoint.at_end(entry))
        for v in cloned:
            mapping[v] = e(v.owner.clone())  # type: ignore[union-attr]

        counts = _trip_counts(e, loop, lambda v: mapping[v])
        total = _product(e, counts)
        dim = gpu.DimensionAttr(gpu.DimensionEnum.X)
        bid = e(gpu.BlockIdOp(dim))
        bdim = e(gpu.BlockDimOp(dim))
        tid = e(gpu.ThreadIdOp(dim))
        gdim = e(gpu.GridDimOp(dim))
        start = e(arith.AddiOp(e(arith.MuliOp(bid, bdim)), tid))
        stride = e(arith.MuliOp(gdim, bdim))

        body = Block(arg_types=[IndexType()])
        terminator = scf.YieldOp()
        body.add_op(terminator)
        e(scf.ForOp(start, total, stride, [], body))
        e.point = InsertPoint.before(terminator)
        # delinearize, the last dim fastest (adjacent threads touch adjacent elements)
        rest = body.args[0]
        ivs: list[SSAValue] = [rest] * len(counts)
        for d in range(len(counts) - 1, 0, -1):
            ivs[d] = e(arith.RemUIOp(rest, counts[d]))
            rest = e(arith.DivUIOp(rest, counts[d]))
        ivs[0] = rest
        for d, (iv, arg) in enumerate(zip(ivs, loop.body.block.args, strict=True)):
            lb, step = mapping[loop.lowerBound[d]], mapping[loop.step[d]]
            if _constant(lb) == 0 and _constant(step) == 1:
                mapping[arg] = iv
            else:
                mapping[arg] = e(arith.AddiOp(lb, e(arith.MuliOp(iv, step))))
        for op in loop.body.block.ops:
            if not isinstance(op, scf.ReduceOp):
                Rewriter.insert_op(op.clone(value_mapper=mapping), e.point)
        entry.add_op(gpu.ReturnOp([]))

        kernel = gpu.FuncOp(name, ([v.type for v in args], []), Region(entry), kernel=True)
        self.kernels.body.block.add_op(kernel)
        self.globals_used(entry)

        h = _Emitter(InsertPoint.before(loop))
        host_total = _product(h, _trip_counts(h, loop, lambda v: v))
        one, block_size = h.index(1), h.index(BLOCK_SIZE)
        block = h(arith.MaxSIOp(one, h(arith.MinSIOp(host_total, block_size))))
        grid = grid_size(h, h(arith.CeilDivSIOp(host_total, block)))
        launch = gpu.LaunchFuncOp(
            SymbolRefAttr(KERNEL_MODULE, [StringAttr(name)]), [grid, one, one],
            [block, one, one], kernelOperands=args)
        Rewriter.replace_op(loop, launch)


def grid_size(emit: Callable[[Operation], SSAValue], blocks: SSAValue) -> SSAValue:
    """The blocks to launch for `blocks` units of work (`emit` inserts an op and returns
    its result): at least 1, at most MAX_BLOCKS (the kernels' stride loops do the rest)."""
    one = emit(arith.ConstantOp.from_int_and_width(1, IndexType()))
    most = emit(arith.ConstantOp.from_int_and_width(MAX_BLOCKS, IndexType()))
    return emit(arith.MaxSIOp(one, emit(arith.MinSIOp(blocks, most))))


def copy_globals(module: ModuleOp, kernels: gpu.ModuleOp, body: Block) -> None:
    """Copy the memref.globals that `body` (a kernel's) reads from `module` into the
    gpu.module `kernels`, once each: device code cannot read a host global."""
    present = {op.sym_name.data for op in kernels.body.block.ops
               if isinstance(op, memref.GlobalOp)}
    for op in body.walk():
        if isinstance(op, memref.GetGlobalOp) and op.name_.root_reference.data not in present:
            name = op.name_.root_reference.data
            source = next((g for g in module.body.block.ops
                           if isinstance(g, memref.GlobalOp) and g.sym_name.data == name),
                          None)
            if source is None:
                raise _fail(op, f"global @{name} not found in the module")
            block = kernels.body.block
            if block.first_op is None:
                block.add_op(source.clone())
            else:  # globals first, as in the host module
                block.insert_op_before(source.clone(), block.first_op)
            present.add(name)


def kernels_module(module: ModuleOp) -> gpu.ModuleOp:
    """The module's `gpu.module @kernels`, made (and the module marked as a container)
    when there is none yet; every pass that outlines kernels adds them there."""
    for op in module.ops:
        if isinstance(op, gpu.ModuleOp) and op.sym_name.data == KERNEL_MODULE:
            return op
    kernels = gpu.ModuleOp(StringAttr(KERNEL_MODULE), Region(Block()))  # type: ignore[arg-type]
    module.attributes["gpu.container_module"] = UnitAttr()
    module.body.block.add_op(kernels)
    return kernels


def _copy_nest(copy: memref.CopyOp) -> scf.ParallelOp:
    """memref.copy as an scf.parallel nest of loads and stores (any layouts)."""
    src, dst = copy.source, copy.destination
    t = src.type
    assert isinstance(t, MemRefType)
    e = _Emitter(InsertPoint.before(copy))
    zero, one = e.index(0), e.index(1)
    rank = len(t.get_shape())
    uppers = [e(memref.DimOp.from_source_and_index(src, e.index(d))) for d in range(rank)]
    body = Block(arg_types=[IndexType()] * max(rank, 1))
    value = memref.LoadOp.get(src, list(body.args[:rank]))
    body.add_ops([value, memref.StoreOp.get(value.res, dst, list(body.args[:rank])),
                  scf.ReduceOp()])
    uppers = uppers or [one]
    loop = scf.ParallelOp([zero] * len(uppers), uppers, [one] * len(uppers), Region(body))
    Rewriter.replace_op(copy, loop)
    return loop


def _host_memory_op(op: Operation) -> bool:
    if not isinstance(op, memref.LoadOp | memref.StoreOp):
        return False
    target = op.memref
    return not isinstance(target.owner, memref.GetGlobalOp)


def _insert_waits(fn: func.FuncOp) -> None:
    """A gpu.wait before each host access to memory a kernel may write, once per run of
    such accesses (nothing is launched between them)."""
    for op in list(fn.walk()):
        if not _host_memory_op(op):
            continue
        prev = op.prev_op
        while prev is not None and not isinstance(prev, gpu.LaunchFuncOp | gpu.WaitOp) and (
                not prev.regions) and not _host_memory_op(prev):
            prev = prev.prev_op
        if isinstance(prev, gpu.WaitOp) or (prev is not None and _host_memory_op(prev)):
            continue
        Rewriter.insert_op(host_wait(), InsertPoint.before(op))


def host_wait() -> gpu.WaitOp:
    """`gpu.wait` without token: the host blocks until all launched work is done."""
    return gpu.WaitOp.create(operands=[], result_types=[])


def outermost_parallels(fn: func.FuncOp) -> list[scf.ParallelOp]:
    """The scf.parallel ops of `fn` not nested in another one."""
    found = []
    for op in fn.walk():
        if isinstance(op, scf.ParallelOp) and not any(
                _inside(op, outer) for outer in found):
            found.append(op)
    return found


@dataclass(frozen=True)
class GpuOutlineKernelsPass(ModulePass):
    """Outline the outermost scf.parallel nests into gpu.func kernels launched by the host
    with grid-stride loops (the first step of the cuda target)."""

    name = "gpu-outline-kernels"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        outliner = _Outliner(op, kernels_module(op))
        for fn in [f for f in op.ops if isinstance(f, func.FuncOp) and f.body.blocks]:
            for copy in [c for c in fn.walk() if isinstance(c, memref.CopyOp)]:
                if not any(isinstance(a, scf.ParallelOp) for a in _ancestors(copy)):
                    _copy_nest(copy)
            for loop in outermost_parallels(fn):
                outliner.outline(loop, fn.sym_name.data)
            _insert_waits(fn)


def _ancestors(op: Operation):
    current = op.parent_op()
    while current is not None:
        yield current
        current = current.parent_op()
