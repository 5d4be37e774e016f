"""compile(model, target="cuda"): graph -> loops -> GPU kernels (PTX) + host code.

The graph optimizations and convert-graph-to-tensor are the cpu target's; then
bufferize, gpu-tile-contractions (matmul/conv as shared-memory tiled kernels),
gpu-block-reductions (softmax/layernorm/pool rows: one block per output, a tree in
shared memory), lower-linalg-to-loops{parallel=true} (the rest: nests whose parallel
loops become threads), gpu-outline-kernels, convert-gpu-to-nvvm; the gpu.module becomes
PTX for the chosen arch, the rest (lower-gpu-launches, convert-to-llvm, the managed
allocator) host code for the CPU JIT.

`target` is "cuda" or "cuda:sm_XY"; the default arch is $KILN_CUDA_ARCH, else the GPU
present, else sm_80. compiler.driver passes in its front end (load_graph_module,
run_pipeline): importing it here would be an import cycle.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.passes import ModulePass

from compiler.errors import CompileError, InternalError, KilnError
from compiler.pipeline import optimize_passes, to_tensor_pass
from compiler.runtime.cuda import CudaModel
from compiler.runtime.cuda_driver import device_arch
from compiler.runtime.nvptx import DEFAULT_ARCH, SUPPORTED_ARCHS, emit_ptx, kernel_module
from compiler.signature import CompileStats, arg_attr, main_function, read_signature
from dialects import weights as weight_stores
from lowering.bufferize import BufferizePass
from lowering.gpu_host import LowerGpuLaunchesPass, rename_allocations
from lowering.gpu_outline import GpuOutlineKernelsPass
from lowering.gpu_reduce import GpuBlockReductionsPass
from lowering.gpu_tile import GpuTileContractionsPass
from lowering.gpu_to_nvvm import ConvertGpuToNvvmPass, kernel_names
from lowering.linalg_to_loops import LowerLinalgToLoopsPass
from lowering.to_llvm import ConvertToLLVMPass


def is_cuda_target(target: str) -> bool:
    return target == "cuda" or target.startswith("cuda:")


def resolve_arch(target: str) -> str:
    """The sm_XY to compile for (see the module doc); CompileError for an unknown one."""
    arch = target.partition(":")[2] or os.environ.get("KILN_CUDA_ARCH", "")
    if not arch:
        arch = device_arch(DEFAULT_ARCH)
        if arch not in SUPPORTED_ARCHS:  # a newer GPU: its driver JIT-compiles older PTX
            arch = SUPPORTED_ARCHS[-1] if arch > SUPPORTED_ARCHS[-1] else DEFAULT_ARCH
    if arch not in SUPPORTED_ARCHS:
        raise CompileError(f"unknown CUDA architecture '{arch}'; supported: "
                           f"{', '.join(SUPPORTED_ARCHS)}")
    return arch


def kernel_passes() -> list[ModulePass]:
    """linalg on tensors -> memref -> scf.parallel loops -> gpu kernels in the llvm dialect."""
    return [BufferizePass(), GpuTileContractionsPass(), GpuBlockReductionsPass(),
            LowerLinalgToLoopsPass(parallel=True), GpuOutlineKernelsPass(),
            ConvertGpuToNvvmPass()]


def compile_cuda(model: object, target: str, *, load: Callable[[object], ModuleOp],
                 run: Callable[..., None], pipeline: str | Sequence[ModulePass] | None = None,
                 checks: str | None = None, profile: bool = False) -> CudaModel:
    """Compile `model` for an NVIDIA GPU (see the module doc)."""
    if profile:
        raise CompileError("profile=True is not supported for target cuda yet")
    if checks not in (None, "shapes"):
        raise CompileError(f"checks='{checks}' is not supported for target cuda (its "
                           "kernels have no per-access checks); use checks='shapes'")
    arch = resolve_arch(target)
    stats = CompileStats()
    start = time.perf_counter()
    module = load(model)
    store = weight_stores.ensure_store(module)
    stats.seconds["import"] = time.perf_counter() - start
    inputs, outputs = read_signature(main_function(module))
    run(module, optimize_passes() if pipeline is None else pipeline, stats)
    graph_main = main_function(module).clone()
    run(module, [to_tensor_pass("shapes")], stats)
    tensor_main = main_function(module)
    weight_names = []
    for i in range(len(inputs), len(tensor_main.args)):
        name = arg_attr(tensor_main, i, "graph.weight")
        if not isinstance(name, StringAttr):
            raise CompileError(f"argument {i} of the lowered @main is neither an input "
                               "nor a weight")
        weight_names.append(name.data)
    run(module, kernel_passes(), stats)
    device = kernel_module(module)
    kernels = kernel_names(device)
    try:
        start = time.perf_counter()
        ptx = emit_ptx(module, arch)
        stats.seconds["ptx"] = time.perf_counter() - start
    except KilnError:
        raise
    except Exception as e:  # the kernels' IR tripped LLVM's NVPTX back end
        raise InternalError("generating PTX", e) from e
    # the kernels move out of the host module (kept for ptx_for, not cloned)
    module.body.block.detach_op(device)
    device_ir = ModuleOp([device])
    run(module, [LowerGpuLaunchesPass(), ConvertToLLVMPass()], stats)
    rename_allocations(module)
    try:
        start = time.perf_counter()
        compiled = CudaModel(module, ptx, kernels, arch, graph_main, inputs, outputs,
                             [store[n] for n in weight_names], store, stats, device_ir)
        stats.seconds["jit"] = time.perf_counter() - start
        return compiled
    except KilnError:
        raise
    except Exception as e:  # LLVM translation or code generation of the host code
        raise InternalError("generating the host code", e) from e
