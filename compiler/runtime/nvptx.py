"""Kernels (the gpu.module after convert-gpu-to-nvvm) -> PTX through llvmlite's NVPTX target.

For every kernel `@k` listed in `kiln.kernels` this adds the entry LLVM sees as a kernel:
`ptx_kernel void @k(...)` taking each memref descriptor flattened (KERNEL ABI below), with
its pointers in the global address space (addrspace 1) and cast to generic ones, so
LLVM's address-space inference turns the body's loads and stores into ld.global /
st.global. It calls the internal `@k.body` (inlined at O2+). Math calls to libdevice are
resolved by linking libdevice.10.bc (found under $CUDA_HOME, $CUDA_PATH or
/usr/local/cuda); every function but the kernels is internalized, so O3 drops the unused
part of libdevice.

KERNEL ABI (host launch stubs, compiler/runtime/cuda_host.py, use the same order): a
memref descriptor `(allocated, aligned, offset, sizes[R], strides[R])` is passed as
`aligned, offset, sizes..., strides...`; the allocated pointer is not passed (kernels
never free). An i1 is passed as i8, other scalars as they are. A kernel's workgroup
buffers (the trailing arguments of its body, listed in `kiln.shared`) are not parameters:
the entry passes `.shared` arrays (addrspace 3 globals) in their place.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Iterator

import llvmlite.binding as llvm
import llvmlite.ir as ir
from xdsl.dialects import gpu
from xdsl.dialects.builtin import (
    Float16Type,
    Float32Type,
    Float64Type,
    IntegerType,
    MemRefType,
    ModuleOp,
)
from xdsl.ir import Attribute, Block, Region

from compiler.errors import BackendError, CompileError
from compiler.runtime.llvm_translate import translate_to_llvm_ir
from lowering.gpu_to_nvvm import BODY_SUFFIX, kernel_names, shared_buffers

TRIPLE = "nvptx64-nvidia-cuda"
SUPPORTED_ARCHS = ("sm_75", "sm_80", "sm_86", "sm_89", "sm_90")
DEFAULT_ARCH = "sm_80"
GLOBAL_SPACE = 1
SHARED_SPACE = 3


@functools.cache
def _init_nvptx() -> None:
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()


def target_machine(arch: str) -> llvm.TargetMachine:
    """An NVPTX target machine for `arch` (sm_80 ...); CompileError for an unknown arch."""
    if arch not in SUPPORTED_ARCHS:
        raise CompileError(f"unknown CUDA architecture '{arch}'; supported: "
                           f"{', '.join(SUPPORTED_ARCHS)}")
    _init_nvptx()
    target = llvm.Target.from_triple(TRIPLE)
    return target.create_target_machine(cpu=arch, opt=3)


def libdevice_path() -> str | None:
    """libdevice.10.bc of the CUDA installation, or None when there is none."""
    roots = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"]
    for root in roots:
        if root:
            path = os.path.join(root, "nvvm", "libdevice", "libdevice.10.bc")
            if os.path.isfile(path):
                return path
    return None


def kernel_module(module: ModuleOp) -> gpu.ModuleOp:
    """The gpu.module of a module that went through convert-gpu-to-nvvm."""
    for op in module.ops:
        if isinstance(op, gpu.ModuleOp):
            return op
    raise CompileError("the module has no gpu.module (run gpu-outline-kernels and "
                       "convert-gpu-to-nvvm first)")


@contextlib.contextmanager
def _as_builtin(kernels: gpu.ModuleOp) -> Iterator[ModuleOp]:
    """The gpu.module's body as a builtin.module (what the translator reads): its ops are
    moved there and back, not cloned (cloning a large model's kernels took seconds)."""
    block = kernels.body.block
    ops = list(block.ops)
    for op in ops:
        op.detach()
    scratch = ModuleOp(Region(Block()))
    scratch.body.block.add_ops(ops)
    try:
        yield scratch
    finally:
        for op in ops:
            op.detach()
        block.add_ops(ops)


def flat_param_types(t: ir.Type) -> list[ir.Type]:
    """A kernel argument's types under the KERNEL ABI (device side)."""
    if isinstance(t, ir.LiteralStructType):
        rank = t.elements[3].count if len(t.elements) == 5 else 0
        i64 = ir.IntType(64)
        return [ir.PointerType(addrspace=GLOBAL_SPACE), i64] + [i64] * (2 * rank)
    if t == ir.IntType(1):
        return [ir.IntType(8)]
    return [t]


def _element(t: Attribute) -> ir.Type:
    if isinstance(t, Float32Type):
        return ir.FloatType()
    if isinstance(t, Float64Type):
        return ir.DoubleType()
    if isinstance(t, Float16Type):
        return ir.HalfType()
    if isinstance(t, IntegerType):
        return ir.IntType(t.width.data)
    raise CompileError(f"workgroup memory of {t} is not supported")


def _shared_descriptor(b: ir.IRBuilder, module: ir.Module, name: str, t: ir.Type,
                       buffer: MemRefType) -> ir.Value:
    """A descriptor of a fresh `.shared` array for one workgroup buffer of kernel `name`."""
    shape = list(buffer.get_shape())
    count = 1
    for d in shape:
        count *= d
    array = ir.ArrayType(_element(buffer.element_type), count)
    g = ir.GlobalVariable(module, array, name=module.get_unique_name(f"{name}.shared"),
                          addrspace=SHARED_SPACE)
    g.linkage = "internal"
    g.initializer = ir.Constant(array, ir.Undefined)
    g.align = 16
    ptr = b.addrspacecast(g, ir.PointerType())
    desc = b.insert_value(ir.Constant(t, None), ptr, 0)
    desc = b.insert_value(desc, ptr, 1)
    i64 = ir.IntType(64)
    desc = b.insert_value(desc, i64(0), 2)
    strides = [1] * len(shape)
    for k in range(len(shape) - 2, -1, -1):
        strides[k] = strides[k + 1] * shape[k + 1]
    for i, (size, stride) in enumerate(zip(shape, strides, strict=True)):
        desc = b.insert_value(desc, i64(size), [3, i])
        desc = b.insert_value(desc, i64(stride), [4, i])
    return desc


def _add_entry(module: ir.Module, name: str, shared: list[MemRefType]) -> None:
    body = module.get_global(name + BODY_SUFFIX)
    args = list(body.function_type.args)
    passed = args[:len(args) - len(shared)]
    params: list[ir.Type] = []
    for t in passed:
        params += flat_param_types(t)
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), params), name=name)
    fn.calling_convention = "ptx_kernel"
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    flat = iter(fn.args)
    values = []
    for t in passed:
        if isinstance(t, ir.LiteralStructType):
            ptr = b.addrspacecast(next(flat), ir.PointerType())
            desc = b.insert_value(ir.Constant(t, None), ptr, 0)
            desc = b.insert_value(desc, ptr, 1)
            desc = b.insert_value(desc, next(flat), 2)
            if len(t.elements) == 5:
                for field in (3, 4):
                    for i in range(t.elements[field].count):
                        desc = b.insert_value(desc, next(flat), [field, i])
            values.append(desc)
        elif t == ir.IntType(1):
            values.append(b.trunc(next(flat), t))
        else:
            values.append(next(flat))
    for t, buffer in zip(args[len(passed):], shared, strict=True):
        values.append(_shared_descriptor(b, module, name, t, buffer))
    b.call(body, values)
    b.ret_void()
    body.attributes.add("alwaysinline")


_MODULE_FLAGS = '\n!llvm.module.flags = !{!0}\n!0 = !{i32 4, !"nvvm-reflect-ftz", i32 0}\n'


def llvm_ir(module: ModuleOp, arch: str = DEFAULT_ARCH) -> str:
    """The kernels' LLVM IR (NVPTX triple and data layout, kernel entries added),
    before libdevice is linked and before optimization."""
    kernels = kernel_module(module)
    names = kernel_names(kernels)
    shared = shared_buffers(kernels)
    tm = target_machine(arch)
    with _as_builtin(kernels) as body:
        out = translate_to_llvm_ir(body, triple=TRIPLE, data_layout=str(tm.target_data))
    for name in names:
        _add_entry(out, name, shared.get(name, []))
    return str(out) + _MODULE_FLAGS


def _needs_libdevice(text: str) -> list[str]:
    return sorted(set(re.findall(r"declare [^@]*@\"?(__nv_\w+)\"?\(", text)))


def emit_ptx(module: ModuleOp, arch: str = DEFAULT_ARCH, opt: int = 3) -> str:
    """PTX text of all the kernels of `module` for `arch`."""
    kernels = kernel_names(kernel_module(module))
    text = llvm_ir(module, arch)
    tm = target_machine(arch)
    try:
        parsed = llvm.parse_assembly(text)
        parsed.verify()
    except RuntimeError as e:
        raise BackendError(f"LLVM rejected the generated kernel IR: {str(e).strip()}") from e
    wanted = _needs_libdevice(text)
    if wanted:
        path = libdevice_path()
        if path is None:
            raise CompileError(
                f"the kernels call {', '.join(wanted)} from libdevice, but libdevice.10.bc "
                "was not found (set CUDA_HOME to a CUDA installation)")
        with open(path, "rb") as f:
            lib = llvm.parse_bitcode(f.read())
        lib.triple = TRIPLE
        lib.data_layout = str(tm.target_data)
        parsed.link_in(lib)
    keep = set(kernels)
    for fn in parsed.functions:
        if not fn.is_declaration and fn.name not in keep:
            fn.linkage = llvm.Linkage.internal
    for g in parsed.global_variables:
        if not g.is_declaration:
            g.linkage = llvm.Linkage.internal
    if opt > 0:
        pto = llvm.create_pipeline_tuning_options(speed_level=opt)
        pb = llvm.create_pass_builder(tm, pto)
        pb.getModulePassManager().run(parsed, pb)
    try:
        return tm.emit_assembly(parsed)
    except RuntimeError as e:
        raise BackendError(f"NVPTX code generation failed: {str(e).strip()}") from e


def ptx_entries(ptx: str) -> list[str]:
    """Names of the `.entry` functions of a PTX text."""
    return re.findall(r"\.entry\s+(\w+)", ptx)
