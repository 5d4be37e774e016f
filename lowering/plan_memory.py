"""plan-memory: the entry function's temporaries share one arena, placed by liveness.

After bufferization every intermediate is a `memref.alloc` with a `memref.dealloc` after
its last use, so a call mallocs and frees each one (for ResNet-18, dozens of buffers of
up to 3 MB per call). This pass takes the static-shape allocations of @main's top-level
block that are freed in that block (so they never escape: results, yields and values
allocated inside loops keep their own allocation), gives each a byte range of one
`memref<N x i8>` arena so that two ranges overlap only if the buffers' lifetimes do not,
and turns each allocation into a `memref.view` of the arena at its offset. The arena is
one allocation per call; its size is the peak of the planned buffers, recorded on the
module as `kiln.arena_bytes` (model.stats.arena_bytes), beside `kiln.peak_bytes`, the peak
of all those temporaries by the same liveness (model.stats.peak_bytes).

Only buffers of at least MIN_ARENA_BYTES go into the arena: a view of a shared buffer is
not `noalias` to LLVM as a malloc result is, which costs small loops runtime alias checks
(BERT-tiny at seq 16 ran 1.3x slower with every buffer planned), while small mallocs are
already cheap thread-cache hits.

Placement is greedy best-fit, largest buffers first (the offset heuristic of TFLite's and
ONNX Runtime's planners): each buffer goes at the lowest offset that does not overlap a
placed buffer whose lifetime overlaps its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, func, memref
from xdsl.dialects.builtin import (
    IndexType,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    NoneAttr,
    i8,
)
from xdsl.ir import Block, Operation
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

ARENA_BYTES_ATTR = "kiln.arena_bytes"
"""Module attribute: bytes of @main's arena (0 or absent: nothing was planned)."""
PEAK_BYTES_ATTR = "kiln.peak_bytes"
"""Module attribute: the peak bytes of @main's static-shape top-level temporaries."""

MIN_ARENA_BYTES = 1 << 16

ALIGNMENT = 64  # each buffer starts on a cache line, as a malloc'ed one would (to_llvm)


@dataclass(frozen=True)
class Lifetime:
    """A planned buffer: its allocation, its deallocation, their positions in the block
    and its size in bytes (rounded up to ALIGNMENT)."""

    alloc: memref.AllocOp
    dealloc: memref.DeallocOp
    start: int
    end: int
    nbytes: int

    def overlaps(self, other: Lifetime) -> bool:
        return self.start <= other.end and other.start <= self.end


def element_bytes(t: MemRefType) -> int | None:
    """Bytes per element of a plannable memref (None: not plannable, e.g. i1 or index)."""
    width = getattr(t.element_type, "bitwidth", None)
    if not isinstance(width, int) or width % 8:
        return None
    return width // 8


def lifetimes(block: Block) -> list[Lifetime]:
    """The allocations of `block` that the arena can hold, with their lifetimes."""
    position = {op: i for i, op in enumerate(block.ops)}
    planned = []
    for op in block.ops:
        if not isinstance(op, memref.AllocOp) or op.dynamic_sizes or op.symbol_operands:
            continue
        t = op.memref.type
        assert isinstance(t, MemRefType)
        itemsize = element_bytes(t)
        if itemsize is None or not isinstance(t.layout, NoneAttr) or \
                not isinstance(t.memory_space, NoneAttr):
            continue
        deallocs = [u.operation for u in op.memref.uses
                    if isinstance(u.operation, memref.DeallocOp)]
        if len(deallocs) != 1 or deallocs[0] not in position:
            continue  # escapes, or is freed inside a region: not ours to place
        nbytes = -(-max(math.prod(t.get_shape()) * itemsize, 1) // ALIGNMENT) * ALIGNMENT
        planned.append(Lifetime(op, deallocs[0], position[op], position[deallocs[0]], nbytes))
    return planned


def place(buffers: list[Lifetime]) -> tuple[dict[Lifetime, int], int]:
    """Offsets for `buffers` (largest first, each at the lowest free offset among the
    buffers it is alive with) and the arena size."""
    offsets: dict[Lifetime, int] = {}
    for buf in sorted(buffers, key=lambda b: (-b.nbytes, b.start)):
        taken = sorted((offsets[o], offsets[o] + o.nbytes) for o in offsets if o.overlaps(buf))
        at = 0
        for lo, hi in taken:
            if at + buf.nbytes <= lo:
                break
            at = max(at, hi)
        offsets[buf] = at
    size = max((offsets[b] + b.nbytes for b in buffers), default=0)
    return offsets, size


def plan_function(fn: func.FuncOp) -> tuple[int, int]:
    """Plan the top-level temporaries of `fn`: (the arena's bytes, the temporaries' peak)."""
    if not fn.body.blocks:
        return 0, 0
    block = fn.body.blocks[0]
    everything = lifetimes(block)
    peak = place(everything)[1]
    buffers = [b for b in everything if b.nbytes >= MIN_ARENA_BYTES]
    if len(buffers) < 2:  # one malloc for one buffer: nothing to gain
        return 0, peak
    offsets, size = place(buffers)
    first = block.first_op
    assert first is not None
    arena = memref.AllocOp([], [], MemRefType(i8, [size]))
    Rewriter.insert_op(arena, InsertPoint.before(first))
    terminator = block.last_op
    assert terminator is not None
    Rewriter.insert_op(memref.DeallocOp.get(arena.memref), InsertPoint.before(terminator))
    for buf in buffers:
        shift = arith.ConstantOp(IntegerAttr(offsets[buf], IndexType()))
        view = memref.ViewOp(arena.memref, shift, [], buf.alloc.memref.type)
        Rewriter.replace_op(buf.alloc, [shift, view], [view.result])
        Rewriter.erase_op(buf.dealloc)
    return size, peak


@dataclass(frozen=True)
class PlanMemoryPass(ModulePass):
    """Put @main's static-shape temporaries into one arena placed by liveness."""

    name = "plan-memory"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        arena = peak = 0
        for fn in op.ops:
            if isinstance(fn, func.FuncOp) and fn.sym_name.data == "main":
                arena, peak = plan_function(fn)
        op.attributes[ARENA_BYTES_ATTR] = IntegerAttr(arena, 64)
        op.attributes[PEAK_BYTES_ATTR] = IntegerAttr(peak, 64)


def planned_bytes(module: Operation) -> tuple[int, int]:
    """(arena bytes, temporaries' peak bytes) plan-memory recorded on `module` (zeros when
    it did not run)."""
    values = []
    for name in (ARENA_BYTES_ATTR, PEAK_BYTES_ATTR):
        attr = module.attributes.get(name)
        values.append(attr.value.data if isinstance(attr, IntegerAttr) else 0)
    return values[0], values[1]
