"""convert-gpu-to-nvvm: the kernels of `gpu.module @kernels` -> llvm dialect for NVPTX.

Runs after gpu-outline-kernels. Inside the gpu.module:
* `gpu.func` kernels become internal `llvm.func @<name>.body` taking memref descriptors
  (the convert-to-llvm ABI, so the kernel body is lowered by the same, tested patterns);
  the module lists the kernels in `kiln.kernels`. The `ptx_kernel` entry that takes the
  flattened descriptors (global-space pointers, offsets, sizes, strides) and calls the
  body is added when the PTX is emitted (compiler/runtime/nvptx.py): the llvm dialect
  here has no calling-convention or address-space casts that llvmlite could translate.
* `gpu.block_id/block_dim/thread_id/grid_dim` -> `llvm.nvvm.read.ptx.sreg.*` (i32);
  `gpu.barrier` -> `llvm.nvvm.barrier.cta.sync.aligned.all(0)` (bar.sync 0).
* workgroup buffers (a static `memref.alloca` in address space 3 at the top of a kernel)
  become trailing arguments of `@<name>.body`; the module lists their types per kernel
  in `kiln.shared`, and the PTX entry passes `.shared` arrays for them (nvptx.py).
* transcendental math -> libdevice (`__nv_expf`, `__nv_tanhf`, ...): NVPTX has no
  instruction for llvm.exp/log/sin/pow, and libm does not exist on the device.
* float add/sub/mul carry the `contract` flag, so LLVM forms fma.rn.f32 (what nvcc does
  by default with --fmad=true); results stay within the CPU path's tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, func, gpu, llvm, memref
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    FunctionType,
    IndexType,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    StringAttr,
    SymbolRefAttr,
    f32,
    f64,
    i32,
)
from xdsl.ir import Attribute, Block, Operation, Region
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter
from xdsl.utils.exceptions import PassFailedException

from lowering.to_llvm import ConvertToLLVMPass

KERNELS_ATTR = "kiln.kernels"
SHARED_ATTR = "kiln.shared"
SHARED_SPACE = 3
BARRIER = "llvm.nvvm.barrier.cta.sync.aligned.all"
BODY_SUFFIX = ".body"

_SREGS = {gpu.BlockIdOp: "ctaid", gpu.BlockDimOp: "ntid", gpu.ThreadIdOp: "tid",
          gpu.GridDimOp: "nctaid"}

# LLVM intrinsics NVPTX cannot select (no instruction, no expansion) -> libdevice base
_INTRINSIC_TO_LIBDEVICE = {
    "llvm.exp": "exp", "llvm.exp2": "exp2", "llvm.log": "log", "llvm.log2": "log2",
    "llvm.log10": "log10", "llvm.sin": "sin", "llvm.cos": "cos", "llvm.pow": "pow",
}
# the libm functions convert-to-llvm calls, all of which libdevice has (`__nv_` + name)
_LIBM = frozenset({
    "tanh", "erf", "erfc", "log1p", "expm1", "tan", "atan", "atan2", "asin", "acos",
    "sinh", "cosh", "asinh", "acosh", "atanh", "cbrt",
})
_CONTRACT = (llvm.FAddOp, llvm.FSubOp, llvm.FMulOp)


def libdevice_name(callee: str) -> str | None:
    """The libdevice function for a libm or LLVM math callee (`expf` or `llvm.exp.f32` ->
    `__nv_expf`), or None when the callee is not a math function."""
    if callee.startswith("llvm."):
        base, _, suffix = callee.rpartition(".")
        if base in _INTRINSIC_TO_LIBDEVICE and suffix in ("f32", "f64"):
            name = _INTRINSIC_TO_LIBDEVICE[base]
            return f"__nv_{name}f" if suffix == "f32" else f"__nv_{name}"
        return None
    base = callee[:-1] if callee.endswith("f") and callee[:-1] in _LIBM else callee
    return f"__nv_{callee}" if base in _LIBM else None


def _is_shared(op: Operation) -> bool:
    if not isinstance(op, memref.AllocaOp):
        return False
    space = op.memref.type.memory_space  # type: ignore[attr-defined]
    return isinstance(space, IntegerAttr) and space.value.data == SHARED_SPACE


def _shared_to_args(kernel: gpu.FuncOp) -> list[MemRefType]:
    """Workgroup allocas -> trailing entry-block arguments (plain memref types)."""
    entry = kernel.body.blocks[0]
    found: list[MemRefType] = []
    for op in list(kernel.walk()):
        if not _is_shared(op):
            continue
        t = op.results[0].type
        assert isinstance(t, MemRefType)
        if op.parent_block() is not entry or op.operands or any(
                d < 0 for d in t.get_shape()):
            raise PassFailedException(
                f"convert-gpu-to-nvvm: @{kernel.sym_name.data}: workgroup memory must be a "
                "static memref.alloca at the top of the kernel")
        plain = MemRefType(t.element_type, t.get_shape())
        arg = entry.insert_arg(plain, len(entry.args))
        op.results[0].replace_all_uses_with(arg)
        entry.erase_op(op)
        found.append(plain)
    return found


def _lower_gpu_ops(body: Block, shared: dict[str, Attribute]) -> list[str]:
    """gpu.func -> func.func (private, `.body` suffix), gpu.return -> func.return, thread
    and block ids -> sreg reads, barriers -> bar.sync, workgroup buffers -> arguments
    (their types into `shared`); returns the kernel names."""
    names = []
    for op in list(body.ops):
        if not isinstance(op, gpu.FuncOp):
            continue
        if op.kernel is None:
            raise PassFailedException(f"convert-gpu-to-nvvm: gpu.func @{op.sym_name.data} "
                                      "is not a kernel (device functions are not supported)")
        buffers = _shared_to_args(op)
        if buffers:
            shared[op.sym_name.data] = ArrayAttr(buffers)
        for inner in list(op.walk()):
            if isinstance(inner, gpu.ReturnOp):
                Rewriter.replace_op(inner, func.ReturnOp())
            elif isinstance(inner, gpu.BarrierOp):
                zero = arith.ConstantOp.from_int_and_width(0, 32)
                Rewriter.replace_op(inner, [zero, llvm.CallIntrinsicOp(BARRIER, [zero.result],
                                                                       [])], [])
            elif type(inner) in _SREGS:
                dim = inner.dimension.data.value  # type: ignore[attr-defined]
                read = llvm.CallIntrinsicOp(
                    f"llvm.nvvm.read.ptx.sreg.{_SREGS[type(inner)]}.{dim}", [], [i32])
                cast = arith.IndexCastOp(read.results[0], IndexType())
                Rewriter.replace_op(inner, [read, cast], [cast.result])
        name = op.sym_name.data
        names.append(name)
        ftype = FunctionType.from_lists(op.body.blocks[0].arg_types, [])
        fn = func.FuncOp(name + BODY_SUFFIX, ftype,
                         Rewriter.move_region_contents_to_new_regions(op.body),
                         visibility="private")
        Rewriter.replace_op(op, fn)
    return names


def _use_libdevice(module: ModuleOp) -> None:
    """Math calls -> libdevice calls, their declarations renamed to match."""
    decls: dict[str, llvm.LLVMFunctionType] = {}
    for op in list(module.walk()):
        if isinstance(op, llvm.CallIntrinsicOp):
            name = libdevice_name(op.intrin.data)
            if name is None:
                continue
            t = op.results[0].type
            decls[name] = llvm.LLVMFunctionType([a.type for a in op.args], t)
            call = llvm.CallOp(name, *op.args, return_type=t)
            Rewriter.replace_op(op, call)
        elif isinstance(op, llvm.CallOp) and op.callee is not None:
            name = libdevice_name(op.callee.root_reference.data)
            if name is not None:
                op.callee = SymbolRefAttr(name)  # type: ignore[attr-defined]
        elif isinstance(op, llvm.FRemOp) and op.res.type in (f32, f64):
            # NVPTX expands frem as x - trunc(x / y) * y, which is not fmod's exact result
            name = "__nv_fmodf" if op.res.type == f32 else "__nv_fmod"
            t = op.res.type
            decls[name] = llvm.LLVMFunctionType([t, t], t)
            Rewriter.replace_op(op, llvm.CallOp(name, op.lhs, op.rhs, return_type=t))
        elif isinstance(op, _CONTRACT):
            op.fastmathFlags = llvm.FastMathAttr([llvm.FastMathFlag.ALLOW_CONTRACT])
    for op in list(module.ops):
        if isinstance(op, llvm.FuncOp) and not op.body.blocks:
            name = libdevice_name(op.sym_name.data)
            if name is not None:
                decls[name] = op.function_type
                module.body.block.erase_op(op)
    present = {op.sym_name.data for op in module.ops if isinstance(op, llvm.FuncOp)}
    for name, ftype in decls.items():
        if name not in present:
            module.body.block.add_op(
                llvm.FuncOp(name, ftype, linkage=llvm.LinkageAttr("external")))


def _check_no_host_calls(module: ModuleOp) -> None:
    """A kernel may call only libdevice and its own functions (no malloc, no libm)."""
    defined = {op.sym_name.data for op in module.ops
               if isinstance(op, llvm.FuncOp) and op.body.blocks}
    for op in module.walk():
        if isinstance(op, llvm.CallOp) and op.callee is not None:
            callee = op.callee.root_reference.data
            if callee not in defined and not callee.startswith("__nv_"):
                raise PassFailedException(
                    f"convert-gpu-to-nvvm: a kernel calls @{callee}, which has no GPU "
                    "lowering (memory allocation and host functions cannot run in a kernel)")


@dataclass(frozen=True)
class ConvertGpuToNvvmPass(ModulePass):
    """Lower the kernels of the gpu.module to the llvm dialect (NVVM special registers,
    libdevice math, contractable float ops); the host side is left as it is."""

    name = "convert-gpu-to-nvvm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for kernels in [o for o in op.ops if isinstance(o, gpu.ModuleOp)]:
            scratch = ModuleOp(Region(Block()))
            block = kernels.body.block
            for inner in list(block.ops):
                inner.detach()
                scratch.body.block.add_op(inner)
            shared: dict[str, Attribute] = {}
            names = _lower_gpu_ops(scratch.body.block, shared)
            ConvertToLLVMPass().apply(ctx, scratch)
            _use_libdevice(scratch)
            _check_no_host_calls(scratch)
            for inner in list(scratch.body.block.ops):
                inner.detach()
                block.add_op(inner)
            kernels.attributes[KERNELS_ATTR] = ArrayAttr([StringAttr(n) for n in names])
            if shared:
                kernels.attributes[SHARED_ATTR] = DictionaryAttr(shared)


def kernel_names(kernels: Operation) -> list[str]:
    """The kernels convert-gpu-to-nvvm listed on a gpu.module."""
    attr = kernels.attributes.get(KERNELS_ATTR)
    return [a.data for a in attr.data] if isinstance(attr, ArrayAttr) else []  # type: ignore[union-attr]


def shared_buffers(kernels: Operation) -> dict[str, list[MemRefType]]:
    """Per kernel, the workgroup buffers convert-gpu-to-nvvm turned into the trailing
    arguments of its body (none for most kernels)."""
    attr = kernels.attributes.get(SHARED_ATTR)
    if not isinstance(attr, DictionaryAttr):
        return {}
    return {name: list(types.data) for name, types in attr.data.items()}  # type: ignore[attr-defined]
