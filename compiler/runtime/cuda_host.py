"""Host-side LLVM IR of the cuda target: launch stubs, sync and the managed allocator.

lower-gpu-launches left declarations `@kiln_launch_<k>(grid xyz, block xyz, operands...)`,
`@kiln_cuda_sync()` and (after rename_allocations) `@kiln_cuda_malloc/free`. This module
gives them bodies in the host's llvmlite module. malloc/free are a caching allocator of
managed memory (_Pool): a free does not synchronize the device, it marks the buffer idle
for the next malloc of a similar size (this call's or a later one's), so after the first
call a model allocates nothing from the driver. The runtime gives results back through
`kiln_cuda_pool_release` and empties the pool with `kiln_cuda_pool_trim`. The stubs call
the CUDA driver through the function pointers in `@kiln_cuda_api` and the kernels'
CUfunction handles in `@kiln_cuda_functions`, both filled in by the runtime after the
driver loaded the PTX;
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
RELEASE_SYMBOL = "kiln_cuda_pool_release"
"""`void(ptr)`: give a buffer the host code allocated (a result) back to the pool."""
TRIM_SYMBOL = "kiln_cuda_pool_trim"
"""`void()`: wait for the device and free every idle pooled buffer."""
POOL_COUNT_SYMBOL = "kiln_cuda_pool_count"
POOL_SLOTS = 4096
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


class _Pool:
    """A caching allocator of managed memory in the host code (see the module doc):
    POOL_SLOTS entries (pointer, bytes, busy); a free marks its entry idle, a malloc takes
    an idle entry of between the requested size and twice that before asking the driver.
    Reuse needs no synchronization: every kernel runs on the one (default) stream in launch
    order, and the host touches device-written memory only after a kiln_cuda_sync."""

    def __init__(self, module: ir.Module, api: _Api):
        self.api = api
        slots = ir.ArrayType(_i64, POOL_SLOTS)
        self.ptrs = _global(module, "kiln_cuda_pool_ptrs", slots)
        self.sizes = _global(module, "kiln_cuda_pool_sizes", slots)
        self.busy = _global(module, "kiln_cuda_pool_busy", ir.ArrayType(_i8, POOL_SLOTS))
        self.count = _global(module, POOL_COUNT_SYMBOL, _i64)
        for g in (self.ptrs, self.sizes, self.busy):
            g.linkage = "internal"

    def slot(self, b: ir.IRBuilder, table: ir.GlobalVariable, i: ir.Value) -> ir.Value:
        return b.gep(table, [_i32(0), i])

    def loop(self, fn: ir.Function, b: ir.IRBuilder, name: str):
        """`for i in range(count)` from `b`'s block: returns (i, the exit block, the block
        that advances i), `b` placed in the body, which must end by branching to `step`."""
        counter = b.alloca(_i64)
        b.store(_i64(0), counter)
        head = fn.append_basic_block(f"{name}.head")
        body = fn.append_basic_block(f"{name}.body")
        step = fn.append_basic_block(f"{name}.step")
        done = fn.append_basic_block(f"{name}.done")
        b.branch(head)
        b.position_at_end(head)
        i = b.load(counter, typ=_i64)
        b.cbranch(b.icmp_unsigned("<", i, b.load(self.count, typ=_i64)), body, done)
        b.position_at_end(step)
        b.store(b.add(i, _i64(1)), counter)
        b.branch(head)
        b.position_at_end(body)
        return i, done, step

    def define_trim(self, fn: ir.Function) -> None:
        """Wait for the device, free every idle entry, keep the busy ones (compacted)."""
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        self.api.record(b, _call(b, self.api.fn(b, "cuCtxSynchronize", _i32, []), []))
        kept = b.alloca(_i64)
        b.store(_i64(0), kept)
        i, done, step = self.loop(fn, b, "trim")
        keep_block = fn.append_basic_block("keep")
        drop_block = fn.append_basic_block("drop")
        busy = b.load(self.slot(b, self.busy, i), typ=_i8)
        ptr = b.load(self.slot(b, self.ptrs, i), typ=_i64)
        size = b.load(self.slot(b, self.sizes, i), typ=_i64)
        b.cbranch(b.icmp_unsigned("!=", busy, _i8(0)), keep_block, drop_block)
        b.position_at_end(keep_block)
        j = b.load(kept, typ=_i64)
        b.store(ptr, self.slot(b, self.ptrs, j))
        b.store(size, self.slot(b, self.sizes, j))
        b.store(_i8(1), self.slot(b, self.busy, j))
        b.store(b.add(j, _i64(1)), kept)
        b.branch(step)
        b.position_at_end(drop_block)
        self.api.record(b, _call(b, self.api.fn(b, "cuMemFree_v2", _i32, [_i64]), [ptr]))
        b.branch(step)
        b.position_at_end(done)
        b.store(b.load(kept, typ=_i64), self.count)
        b.ret_void()

    def define_malloc(self, fn: ir.Function, trim: ir.Function) -> None:
        """An idle entry that fits, else new managed memory (after a trim and a retry when
        the driver is out of memory); null on failure (the caller's check fires)."""
        fn.linkage = "internal"
        ret_type = fn.function_type.return_type
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        nbytes = fn.args[0]
        size = b.select(b.icmp_unsigned("==", nbytes, _i64(0)), _i64(1), nbytes)
        out = b.alloca(_i64)
        i, done, step = self.loop(fn, b, "find")
        take = fn.append_basic_block("take")
        have = b.load(self.slot(b, self.sizes, i), typ=_i64)
        idle = b.icmp_unsigned("==", b.load(self.slot(b, self.busy, i), typ=_i8), _i8(0))
        fits = b.and_(b.icmp_unsigned(">=", have, size),
                      b.icmp_unsigned("<=", b.sub(have, size), size))
        b.cbranch(b.and_(idle, fits), take, step)
        b.position_at_end(take)
        b.store(_i8(1), self.slot(b, self.busy, i))
        b.ret(b.inttoptr(b.load(self.slot(b, self.ptrs, i), typ=_i64), ret_type))

        b.position_at_end(done)
        alloc = self.api.fn(b, "cuMemAllocManaged", _i32, [_ptr, _i64, _i32])
        status = _call(b, alloc, [b.bitcast(out, _ptr), size, _i32(1)])
        retry, ok, bad = (fn.append_basic_block(n) for n in ("retry", "ok", "failed"))
        b.cbranch(b.icmp_unsigned("==", status, _i32(0)), ok, retry)
        b.position_at_end(retry)
        b.call(trim, [])
        status = _call(b, self.api.fn(b, "cuMemAllocManaged", _i32, [_ptr, _i64, _i32]),
                       [b.bitcast(out, _ptr), size, _i32(1)])
        b.cbranch(b.icmp_unsigned("==", status, _i32(0)), ok, bad)
        b.position_at_end(bad)
        self.api.record(b, status)
        b.ret(ir.Constant(ret_type, None))

        b.position_at_end(ok)
        ptr = b.load(out, typ=_i64)
        n = b.load(self.count, typ=_i64)
        record, unpooled = fn.append_basic_block("record"), fn.append_basic_block("unpooled")
        b.cbranch(b.icmp_unsigned("<", n, _i64(POOL_SLOTS)), record, unpooled)
        b.position_at_end(record)
        b.store(ptr, self.slot(b, self.ptrs, n))
        b.store(size, self.slot(b, self.sizes, n))
        b.store(_i8(1), self.slot(b, self.busy, n))
        b.store(b.add(n, _i64(1)), self.count)
        b.branch(unpooled)
        b.position_at_end(unpooled)
        b.ret(b.inttoptr(ptr, ret_type))

    def define_free(self, fn: ir.Function) -> None:
        """A pooled buffer's entry becomes idle (no synchronization); an unpooled one (the
        table was full) is freed after the device finished with it."""
        fn.linkage = "internal"
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        ptr = b.ptrtoint(fn.args[0], _i64)
        search, none = fn.append_basic_block("search"), fn.append_basic_block("null")
        b.cbranch(b.icmp_unsigned("==", ptr, _i64(0)), none, search)
        b.position_at_end(none)
        b.ret_void()
        b.position_at_end(search)
        i, done, step = self.loop(fn, b, "find")
        hit = fn.append_basic_block("hit")
        found = b.icmp_unsigned("==", b.load(self.slot(b, self.ptrs, i), typ=_i64), ptr)
        b.cbranch(found, hit, step)
        b.position_at_end(hit)
        b.store(_i8(0), self.slot(b, self.busy, i))
        b.ret_void()
        b.position_at_end(done)
        self.api.record(b, _call(b, self.api.fn(b, "cuCtxSynchronize", _i32, []), []))
        self.api.record(b, _call(b, self.api.fn(b, "cuMemFree_v2", _i32, [_i64]), [ptr]))
        b.ret_void()


def _exported(module: ir.Module, name: str, target: ir.Function | None,
              trim: ir.Function) -> None:
    """`void name(ptr)` calling the pool's free (or `void name()` calling trim), for the
    Python runtime: the host code's own stubs stay internal."""
    if target is None:
        fn = ir.Function(module, ir.FunctionType(ir.VoidType(), []), name=name)
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        b.call(trim, [])
    else:
        fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [_ptr]), name=name)
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        b.call(target, [b.bitcast(fn.args[0], target.function_type.args[0])])
    b.ret_void()


def add_cuda_host_runtime(module: ir.Module, kernels: Sequence[str]) -> None:
    """Define the stubs lower-gpu-launches declared in `module` (see the module doc)."""
    api = _Api(module, len(kernels))
    pool = _Pool(module, api)
    trim = ir.Function(module, ir.FunctionType(ir.VoidType(), []), name="kiln_cuda_pool_trim.i")
    trim.linkage = "internal"
    pool.define_trim(trim)
    index = {name: i for i, name in enumerate(kernels)}
    free: ir.Function | None = None
    for fn in list(module.functions):
        if not fn.is_declaration:
            continue
        if fn.name.startswith(LAUNCH_PREFIX):
            _define_launch(fn, index[fn.name[len(LAUNCH_PREFIX):]], api)
        elif fn.name == SYNC:
            _define_sync(fn, api)
        elif fn.name == ALLOCATORS["malloc"]:
            pool.define_malloc(fn, trim)
        elif fn.name == ALLOCATORS["free"]:
            pool.define_free(fn)
            free = fn
    if free is None:  # the host code frees nothing itself: results still come back
        free = ir.Function(module, ir.FunctionType(ir.VoidType(), [_ptr]),
                           name=ALLOCATORS["free"])
        pool.define_free(free)
    _exported(module, RELEASE_SYMBOL, free, trim)
    _exported(module, TRIM_SYMBOL, None, trim)
