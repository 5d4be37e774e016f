"""Host-side LLVM IR of the cuda target: launch stubs, sync and the managed allocator.

lower-gpu-launches left declarations `@kiln_launch_<k>(grid xyz, block xyz, operands...)`,
`@kiln_cuda_sync()` and (after rename_allocations) `@kiln_cuda_malloc/free`. This module
gives them bodies in the host's llvmlite module. They call the CUDA driver through the
function pointers in `@kiln_cuda_api` and the kernels' CUfunction handles in
`@kiln_cuda_functions`, both filled in by the runtime after the driver loaded the PTX;
so the host code compiles (and the model can be built) on a machine without libcuda.
The first failing driver status is kept in `@kiln_cuda_status` (later launches are
skipped), the runtime raises it after the call. Kernel operands are flattened as the
KERNEL ABI of compiler/runtime/nvptx.py says.
"""

from __future__ import annotations

from collections.abc import Sequence

import llvmlite.ir as ir

from lowering.gpu_host import ALLOCATORS, LAUNCH_PREFIX, SYNC

API_SYMBOL = "kiln_cuda_api"
FUNCTIONS_SYMBOL = "kiln_cuda_functions"
STATUS_SYMBOL = "kiln_cuda_status"
# slots of @kiln_cuda_api, in order
API = ("cuLaunchKernel", "cuMemAllocManaged", "cuMemFree_v2", "cuCtxSynchronize")

_i8, _i32, _i64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)
_ptr = ir.PointerType()


def _global(module: ir.Module, name: str, t: ir.Type) -> ir.GlobalVariable:
    g = ir.GlobalVariable(module, t, name=name)
    g.initializer = ir.Constant(t, None)
    g.align = 8
    return g


class _Api:
    def __init__(self, module: ir.Module, n_kernels: int):
        self.api = _global(module, API_SYMBOL, ir.ArrayType(_ptr, len(API)))
        self.functions = _global(module, FUNCTIONS_SYMBOL,
                                 ir.ArrayType(_ptr, max(n_kernels, 1)))
        self.status = _global(module, STATUS_SYMBOL, _i32)

    def fn(self, b: ir.IRBuilder, name: str, ret: ir.Type, args: Sequence[ir.Type]):
        slot = b.gep(self.api, [_i32(0), _i32(API.index(name))])
        ftype = ir.FunctionType(ret, args)
        # a typed function pointer: llvmlite takes the callee's signature from it
        return b.load(slot, typ=ir.PointerType(ftype)), ftype

    def record(self, b: ir.IRBuilder, status: ir.Value) -> None:
        """Keep the first non-zero status."""
        old = b.load(self.status, typ=_i32)
        keep = b.or_(b.icmp_unsigned("!=", old, _i32(0)), b.icmp_unsigned("==", status,
                                                                         _i32(0)))
        b.store(b.select(keep, old, status), self.status)


def _call(b: ir.IRBuilder, target: tuple[ir.Value, ir.FunctionType],
          args: Sequence[ir.Value]) -> ir.Value:
    """An indirect call through a loaded function pointer."""
    return b.call(target[0], args)


def _flatten(b: ir.IRBuilder, value: ir.Value) -> list[ir.Value]:
    t = value.type
    if isinstance(t, ir.LiteralStructType):
        flat = [b.extract_value(value, 1), b.extract_value(value, 2)]
        if len(t.elements) == 5:
            for field in (3, 4):
                flat += [b.extract_value(value, [field, i])
                         for i in range(t.elements[field].count)]
        return flat
    if t == ir.IntType(1):
        return [b.zext(value, _i8)]
    return [value]


def _define_launch(fn: ir.Function, index: int, api: _Api) -> None:
    fn.linkage = "internal"
    entry = fn.append_basic_block("entry")
    launch_block = fn.append_basic_block("launch")
    done = fn.append_basic_block("done")
    # the parameter slots live in the entry block: static allocas, which stay in the
    # caller's frame once inlined (a launch inside a host loop must not grow the stack)
    b = ir.IRBuilder(entry)
    sizes = [b.trunc(a, _i32) for a in fn.args[:6]]
    flat: list[ir.Value] = []
    for a in fn.args[6:]:
        flat += _flatten(b, a)
    params = b.alloca(ir.ArrayType(_ptr, max(len(flat), 1)))
    for i, v in enumerate(flat):
        slot = b.alloca(v.type)
        b.store(v, slot)
        b.store(b.bitcast(slot, _ptr), b.gep(params, [_i32(0), _i32(i)]))
    failed = b.icmp_unsigned("!=", b.load(api.status, typ=_i32), _i32(0))
    b.cbranch(failed, done, launch_block)
    b.position_at_end(launch_block)
    function = b.load(b.gep(api.functions, [_i32(0), _i32(index)]), typ=_ptr)
    target = api.fn(b, "cuLaunchKernel", _i32, [_ptr] + [_i32] * 7 + [_ptr] * 3)
    status = _call(b, target, [function, *sizes, _i32(0), ir.Constant(_ptr, None),
                               b.bitcast(params, _ptr), ir.Constant(_ptr, None)])
    api.record(b, status)
    b.branch(done)
    b.position_at_end(done)
    b.ret_void()


def _define_sync(fn: ir.Function, api: _Api) -> None:
    fn.linkage = "internal"
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    api.record(b, _call(b, api.fn(b, "cuCtxSynchronize", _i32, []), []))
    b.ret_void()


def _define_malloc(fn: ir.Function, api: _Api) -> None:
    """Managed memory, attached globally; null on failure (the caller's check fires)."""
    fn.linkage = "internal"
    entry = fn.append_basic_block("entry")
    ok, bad = fn.append_basic_block("ok"), fn.append_basic_block("failed")
    b = ir.IRBuilder(entry)
    slot = b.alloca(_i64)
    b.store(_i64(0), slot)
    nbytes = fn.args[0]
    size = b.select(b.icmp_unsigned("==", nbytes, _i64(0)), _i64(1), nbytes)
    status = _call(b, api.fn(b, "cuMemAllocManaged", _i32, [_ptr, _i64, _i32]),
                   [b.bitcast(slot, _ptr), size, _i32(1)])
    b.cbranch(b.icmp_unsigned("==", status, _i32(0)), ok, bad)
    b.position_at_end(ok)
    b.ret(b.inttoptr(b.load(slot, typ=_i64), fn.function_type.return_type))
    b.position_at_end(bad)
    api.record(b, status)
    b.ret(ir.Constant(fn.function_type.return_type, None))


def _define_free(fn: ir.Function, api: _Api) -> None:
    """Waits for the launched kernels first: one of them may still use the buffer."""
    fn.linkage = "internal"
    entry = fn.append_basic_block("entry")
    do_free, done = fn.append_basic_block("free"), fn.append_basic_block("done")
    b = ir.IRBuilder(entry)
    ptr = fn.args[0]
    b.cbranch(b.icmp_unsigned("==", b.ptrtoint(ptr, _i64), _i64(0)), done, do_free)
    b.position_at_end(do_free)
    api.record(b, _call(b, api.fn(b, "cuCtxSynchronize", _i32, []), []))
    api.record(b, _call(b, api.fn(b, "cuMemFree_v2", _i32, [_i64]),
                        [b.ptrtoint(ptr, _i64)]))
    b.branch(done)
    b.position_at_end(done)
    b.ret_void()


def add_cuda_host_runtime(module: ir.Module, kernels: Sequence[str]) -> None:
    """Define the stubs lower-gpu-launches declared in `module` (see the module doc)."""
    api = _Api(module, len(kernels))
    index = {name: i for i, name in enumerate(kernels)}
    for fn in list(module.functions):
        if not fn.is_declaration:
            continue
        if fn.name.startswith(LAUNCH_PREFIX):
            _define_launch(fn, index[fn.name[len(LAUNCH_PREFIX):]], api)
        elif fn.name == SYNC:
            _define_sync(fn, api)
        elif fn.name == ALLOCATORS["malloc"]:
            _define_malloc(fn, api)
        elif fn.name == ALLOCATORS["free"]:
            _define_free(fn, api)
