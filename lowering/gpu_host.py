"""lower-gpu-launches: the host side of the cuda target, ready for convert-to-llvm.

Runs after gpu-outline-kernels (and after the kernels' PTX was taken from the gpu.module,
which this pass removes). Every `gpu.launch_func @kernels::@k` becomes a call of
`@kiln_launch_k(grid x, y, z, block x, y, z, kernel operands...)` and every host-blocking
`gpu.wait` a call of `@kiln_cuda_sync()`; both are declarations that the cuda runtime
defines in the host's LLVM IR (compiler/runtime/cuda_host.py: they call the CUDA driver
through function pointers it fills in at load time). After convert-to-llvm,
`rename_allocations` points the host's malloc/free at `kiln_cuda_malloc/free` (managed
memory, which host and device can both address).
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func, gpu, llvm
from xdsl.dialects.builtin import IndexType, ModuleOp, StringAttr, SymbolRefAttr
from xdsl.ir import Attribute
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter
from xdsl.utils.exceptions import PassFailedException

LAUNCH_PREFIX = "kiln_launch_"
SYNC = "kiln_cuda_sync"
ALLOCATORS = {"malloc": "kiln_cuda_malloc", "free": "kiln_cuda_free"}


def _declare(module: ModuleOp, name: str, inputs: list[Attribute],
             declared: set[str]) -> None:
    if name in declared:
        return
    declared.add(name)
    module.body.block.add_op(func.FuncOp.external(name, inputs, []))


@dataclass(frozen=True)
class LowerGpuLaunchesPass(ModulePass):
    """gpu.launch_func / gpu.wait -> calls of the cuda runtime's launch and sync stubs;
    the gpu.module (compiled to PTX before) is dropped."""

    name = "lower-gpu-launches"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for kernels in [o for o in op.ops if isinstance(o, gpu.ModuleOp)]:
            op.body.block.erase_op(kernels)
        op.attributes.pop("gpu.container_module", None)
        declared: set[str] = set()
        for inner in list(op.walk()):
            if isinstance(inner, gpu.LaunchFuncOp):
                if inner.asyncDependencies or inner.asyncToken is not None or (
                        inner.dynamicSharedMemorySize is not None):
                    raise PassFailedException("lower-gpu-launches: async launches and "
                                              "dynamic shared memory are not supported")
                kernel = inner.kernel.nested_references.data[-1].data \
                    if inner.kernel.nested_references.data else inner.kernel.root_reference.data
                name = LAUNCH_PREFIX + kernel
                sizes = [inner.gridSizeX, inner.gridSizeY, inner.gridSizeZ,
                         inner.blockSizeX, inner.blockSizeY, inner.blockSizeZ]
                if any(not isinstance(s.type, IndexType) for s in sizes):
                    raise PassFailedException("lower-gpu-launches: grid and block sizes "
                                              "must be index values")
                operands = [*sizes, *inner.kernelOperands]
                _declare(op, name, [v.type for v in operands], declared)
                Rewriter.replace_op(inner, func.CallOp(name, operands, []))
            elif isinstance(inner, gpu.WaitOp):
                if inner.asyncDependencies or inner.asyncToken is not None:
                    raise PassFailedException("lower-gpu-launches: only host-blocking "
                                              "gpu.wait is supported")
                _declare(op, SYNC, [], declared)
                Rewriter.replace_op(inner, func.CallOp(SYNC, [], []))
            elif inner.dialect_name() == "gpu":
                raise PassFailedException(f"lower-gpu-launches: {inner.name} on the host is "
                                          "not supported")


def rename_allocations(module: ModuleOp) -> None:
    """Calls of malloc/free (from convert-to-llvm) -> the cuda runtime's allocator."""
    for op in list(module.walk()):
        if isinstance(op, llvm.CallOp) and op.callee is not None:
            callee = op.callee.root_reference.data
            if callee in ALLOCATORS:
                op.callee = SymbolRefAttr(ALLOCATORS[callee])  # type: ignore[attr-defined]
        elif isinstance(op, llvm.FuncOp) and op.sym_name.data in ALLOCATORS:
            op.sym_name = StringAttr(ALLOCATORS[op.sym_name.data])
