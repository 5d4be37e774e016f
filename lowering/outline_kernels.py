"""outline-loop-kernels: each host-level loop nest of the loop level -> its own function.

Input: the loop level after `plan-memory` (func.func bodies of scf loop nests over
memrefs). Every loop nest that the host code runs for its effect on memory (an `scf.for`
or `scf.parallel` without results, allocating nothing) moves into a private
`func.func @<host>_kernel_<n>` marked `kiln.noinline`, and the host calls it. Nests with
the same body (the same ops on the same types with the same constants) share one
function: the convolutions of one stage of a ResNet, or the elementwise epilogues of one
shape, compile once.

Why: LLVM's O3 pipeline is superlinear in the size of a function (ResNet-18's main as one
function of 8,100 lines spent 15 s in opt; the 1,400-line CNN 0.9 s), so kernels of a few
hundred lines each optimize in linear time, and identical ones are not optimized twice.
`noinline` keeps LLVM from pasting them back into the host: a call per kernel per model
run costs nanoseconds.

Values a nest uses from outside become arguments, except `arith.constant`s, which are
cloned in (shapes stay constants for LLVM, and identical nests over different buffers
print the same). Loops inside a loop that allocates (the body of a Loop/Scan op) are
outlined one level down; the allocating loop stays in the host.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, func, memref, scf
from xdsl.dialects.builtin import FunctionType, ModuleOp, UnitAttr
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from lowering.gpu_outline import captured_values

NOINLINE = "kiln.noinline"
"""Unit attribute on a func.func (and the llvm.func it becomes) that LLVM must not inline."""

_LOOPS = (scf.ForOp, scf.ParallelOp)
_ALLOCATING = (memref.AllocOp, memref.AllocaOp, memref.DeallocOp)
# host-level ops whose regions hold more host code (If/Loop bodies), searched for nests
_HOST_REGIONS = (scf.IfOp, scf.WhileOp, scf.ExecuteRegionOp)


def _allocates(op: Operation) -> bool:
    return any(isinstance(o, _ALLOCATING) for o in op.walk())


def _body_key(loop: Operation, captured: list[SSAValue]) -> tuple:
    """A hashable picture of `loop`: op names, attributes, types and the use-def wiring,
    with captured constants by value and other captured values by argument position."""
    ids: dict[SSAValue, object] = {}
    for position, v in enumerate(captured):
        owner = v.owner
        ids[v] = ("const", owner.value) if isinstance(owner, arith.ConstantOp) else (
            "arg", position, v.type)
    parts: list[object] = []

    def visit(op: Operation) -> None:
        parts.append((op.name, tuple(ids[v] for v in op.operands),
                      tuple(r.type for r in op.results),
                      tuple(op.properties.items()), tuple(op.attributes.items())))
        for r in op.results:
            ids[r] = len(ids)
        for region in op.regions:
            parts.append("{")
            for block in region.blocks:
                parts.append(tuple(a.type for a in block.args))
                for a in block.args:
                    ids[a] = len(ids)
                for inner in block.ops:
                    visit(inner)
            parts.append("}")

    visit(loop)
    return tuple(parts)


@dataclass
class _Outliner:
    module: ModuleOp
    host: str
    count: int = 0

    def __post_init__(self) -> None:
        self.by_body: dict[str, str] = {}
        self.taken = {o.sym_name.data for o in self.module.ops if isinstance(o, func.FuncOp)}

    def visit_block(self, block: Block) -> None:
        for op in list(block.ops):
            if isinstance(op, _LOOPS) and not op.results:
                if _allocates(op):
                    for region in op.regions:
                        for inner in region.blocks:
                            self.visit_block(inner)
                else:
                    self.outline(op)
            elif isinstance(op, _HOST_REGIONS):
                for region in op.regions:
                    for inner in region.blocks:
                        self.visit_block(inner)

    def fresh_name(self) -> str:
        while f"{self.host}_kernel_{self.count}" in self.taken:
            self.count += 1
        name = f"{self.host}_kernel_{self.count}"
        self.taken.add(name)
        return name

    def outline(self, loop: Operation) -> None:
        captured = captured_values(loop)
        args = [v for v in captured if not isinstance(v.owner, arith.ConstantOp)]
        key = _body_key(loop, captured)
        name = self.by_body.get(key)
        if name is None:
            name = self.fresh_name()
            self.by_body[key] = name
            self.module.body.block.add_op(self.kernel(name, loop, captured, args))
        Rewriter.insert_op(func.CallOp(name, args, []), InsertPoint.before(loop))
        Rewriter.erase_op(loop)

    @staticmethod
    def kernel(name: str, loop: Operation, captured: list[SSAValue],
               args: list[SSAValue]) -> func.FuncOp:
        """A function running a clone of `loop` on its arguments."""
        entry = Block(arg_types=[v.type for v in args])
        mapping: dict[SSAValue, SSAValue] = dict(zip(args, entry.args, strict=True))
        for v in captured:
            if isinstance(v.owner, arith.ConstantOp):
                clone = v.owner.clone()
                entry.add_op(clone)
                mapping[v] = clone.results[0]
        entry.add_op(loop.clone(value_mapper=mapping))
        entry.add_op(func.ReturnOp())
        kernel = func.FuncOp(name, FunctionType.from_lists(entry.arg_types, []),
                             Region(entry), visibility="private")
        kernel.attributes[NOINLINE] = UnitAttr()
        return kernel


@dataclass(frozen=True)
class OutlineLoopKernelsPass(ModulePass):
    """Move each host-level loop nest into a private noinline function, one per distinct
    body (LLVM optimizes many small functions much faster than one large one)."""

    name = "outline-loop-kernels"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        hosts = [f for f in op.ops if isinstance(f, func.FuncOp) and f.body.blocks
                 and NOINLINE not in f.attributes]
        for host in hosts:
            outliner = _Outliner(op, host.sym_name.data)
            for block in host.body.blocks:
                outliner.visit_block(block)
