"""Hand-scheduled GPU kernels for one linalg.generic on memrefs (the kernel skeleton shared
by gpu-tile-contractions and gpu-block-reductions).

`start_kernel` opens a `gpu.func` in the module's `gpu.module @kernels` whose arguments
are the generic's run-time loop bounds (index values the host computes with the same
`loop_bounds` as lower-linalg-to-loops; static bounds are constants in the kernel), its
memref operands and the values its body uses from outside (constants and
`memref.get_global` are cloned into the kernel instead, the global copied into the
gpu.module: device code cannot read a host global).
`KernelBuilder.launch` closes the kernel and replaces the generic by a `gpu.launch_func`
with the grid the caller computed on the host.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.dialects import arith, func, gpu, memref
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    IndexType,
    MemRefType,
    ModuleOp,
    StringAttr,
    SymbolRefAttr,
)
from xdsl.dialects.linalg.ops import GenericOp
from xdsl.ir import Block, Region, SSAValue
from xdsl.ir.affine import AffineDimExpr
from xdsl.rewriter import InsertPoint, Rewriter

from lowering.gpu_outline import KERNEL_MODULE, captured_values, copy_globals, kernels_module
from lowering.loop_builder import Inserter, loop_bounds


def constant_index(v: SSAValue) -> int | None:
    """The value of an index constant, else None."""
    owner = v.owner
    if isinstance(owner, arith.ConstantOp) and isinstance(owner.result.type, IndexType):
        return owner.value.value.data  # type: ignore[union-attr]
    return None


def static_bounds(op: GenericOp) -> list[int | None]:
    """Each loop's static bound (None: known at run time only), as loop_bounds finds it."""
    maps = [m.data for m in op.get_indexing_maps()]
    n_inputs = len(op.inputs)
    found: list[int | None] = [None] * len(op.iterator_types)
    seen: set[int] = set()
    for i in [*range(n_inputs, len(op.operands)), *range(n_inputs)]:
        t = op.operands[i].type
        if not isinstance(t, MemRefType):
            continue
        for pos, r in enumerate(maps[i].results):
            if isinstance(r, AffineDimExpr) and r.position not in seen:
                seen.add(r.position)
                size = t.get_shape()[pos]
                found[r.position] = None if size == DYNAMIC_INDEX else size
    return found


def static_product(bounds: Sequence[int | None], dims: Sequence[int]) -> int | None:
    """The product of the bounds of `dims` when all are static, else None."""
    total = 1
    for d in dims:
        c = bounds[d]
        if c is None:
            return None
        total *= c
    return total


def product(ins: Inserter, values: Sequence[SSAValue]) -> SSAValue:
    """The product of index values (1 for none)."""
    if not values:
        return ins.const(1)
    total = values[0]
    for v in values[1:]:
        total = ins(arith.MuliOp(total, v))
    return total


def delinearize(ins: Inserter, linear: SSAValue, dims: Sequence[int],
                bounds: Sequence[SSAValue], ivs: dict[int, SSAValue]) -> None:
    """Split `linear` (< the product of the dims' bounds) into the loop indices of `dims`,
    the last one fastest, into `ivs`."""
    rest = linear
    for d in reversed(dims[1:]):
        ivs[d] = ins(arith.RemUIOp(rest, bounds[d]))
        rest = ins(arith.DivUIOp(rest, bounds[d]))
    if dims:
        ivs[dims[0]] = rest


def thread_ids(ins: Inserter) -> tuple[SSAValue, SSAValue, SSAValue, SSAValue]:
    """threadIdx.x, threadIdx.y, blockIdx.x and gridDim.x."""
    x, y = gpu.DimensionAttr(gpu.DimensionEnum.X), gpu.DimensionAttr(gpu.DimensionEnum.Y)
    return (ins(gpu.ThreadIdOp(x)), ins(gpu.ThreadIdOp(y)), ins(gpu.BlockIdOp(x)),
            ins(gpu.GridDimOp(x)))


def _fresh_name(kernels: gpu.ModuleOp, base: str) -> str:
    taken = {o.sym_name.data for o in kernels.body.block.ops if isinstance(o, gpu.FuncOp)}
    n = 0
    while f"{base}_{n}" in taken:
        n += 1
    return f"{base}_{n}"


@dataclass
class KernelBuilder:
    """A kernel being built for `op`: `ins` inserts into its entry block, `bounds` and
    `operands` are the generic's loop bounds and operands as the kernel sees them,
    `host` inserts on the host before the generic (`host_bounds`: the same bounds)."""


    op: GenericOp
    module: ModuleOp
    kernels: gpu.ModuleOp
    name: str
    entry: Block
    args: list[SSAValue]
    ins: Inserter
    bounds: list[SSAValue]
    operands: list[SSAValue]
    host: Inserter
    host_bounds: list[SSAValue]
    mapping: dict[SSAValue, SSAValue]
    """Host values (operands, what the body captures) -> their kernel counterparts:
    start every clone of body ops from a copy of it."""

    def launch(self, grid: SSAValue, block: tuple[int, int, int]) -> None:
        """Close the kernel and launch it instead of the generic."""
        self.entry.add_op(gpu.ReturnOp([]))
        kernel = gpu.FuncOp(self.name, ([a.type for a in self.args], []), Region(self.entry),
                            kernel=True)
        self.kernels.body.block.add_op(kernel)
        copy_globals(self.module, self.kernels, self.entry)
        one = self.host.const(1)
        sizes = [self.host.const(b) for b in block]
        launch = gpu.LaunchFuncOp(
            SymbolRefAttr(KERNEL_MODULE, [StringAttr(self.name)]), [grid, one, one], sizes,
            kernelOperands=self.args)
        Rewriter.replace_op(self.op, launch)


def start_kernel(op: GenericOp, kind: str) -> KernelBuilder:
    """Open the kernel `<host function>_<kind>_<n>` for `op` (see the module doc)."""
    module = op.get_toplevel_object()
    assert isinstance(module, ModuleOp)
    kernels = kernels_module(module)
    fn = op.parent_op()
    while fn is not None and not isinstance(fn, func.FuncOp):
        fn = fn.parent_op()
    base = f"{fn.sym_name.data if fn is not None else 'main'}_{kind}"
    host = Inserter(InsertPoint.before(op))
    host_bounds = loop_bounds(op, host)
    captured = captured_values(op)  # the operands and what the body uses from outside
    cloned = [v for v in captured if isinstance(v.owner, arith.ConstantOp | memref.GetGlobalOp)]
    args: list[SSAValue] = [b for b in dict.fromkeys(host_bounds) if constant_index(b) is None]
    args += [v for v in captured if v not in cloned and v not in args]
    entry = Block(arg_types=[a.type for a in args])
    mapping: dict[SSAValue, SSAValue] = dict(zip(args, entry.args, strict=True))
    ins = Inserter(InsertPoint.at_end(entry))
    for v in cloned:
        mapping[v] = ins(v.owner.clone())  # type: ignore[union-attr]
    bounds = [mapping[b] if b in mapping else ins.const(constant_index(b))  # type: ignore[arg-type]
              for b in host_bounds]
    return KernelBuilder(op, module, kernels, _fresh_name(kernels, base), entry, args, ins,
                         bounds, [mapping[v] for v in op.operands], host, host_bounds,
                         mapping)
