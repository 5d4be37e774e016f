"""CudaModel: the callable a `target="cuda"` compile returns.

The kernels are PTX (`.ptx`); the host code (allocations, grid sizes, launches, the
scalar work between kernels) is JIT-compiled for the CPU like the cpu target's, with its
launch/sync/allocation stubs calling the CUDA driver (compiler/runtime/cuda_host.py).
Buffers are CUDA managed memory, so the host code can read the small shape tensors that
kernels compute (after a gpu.wait); the host code's buffers come from a caching pool
(no device synchronization per free, no driver allocation after the first call); inputs
are copied per call into buffers kept from call to call, weights once, results copied out
after the device finished. `close()` frees it all.

The PTX is loaded into the driver on the first call, so a model compiles (and shows its
PTX) on a machine without a GPU; calling it there raises NoCudaDevice.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Mapping, Sequence

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp

from compiler.errors import CompileError, InputError
from compiler.runtime.cuda_driver import CudaError, Driver, driver
from compiler.runtime.cuda_host import (
    API,
    API_SYMBOL,
    FUNCTIONS_SYMBOL,
    RELEASE_SYMBOL,
    STATUS_SYMBOL,
    TRIM_SYMBOL,
    add_cuda_host_runtime,
)
from compiler.runtime.jit import JITEngine
from compiler.runtime.llvm_translate import translate_to_llvm_ir
from compiler.runtime.nvptx import emit_ptx
from compiler.signature import CompileStats, TensorSpec
from dialects.check import MAX_VALUES, format_message
from dialects.graph.shape_check import ShapeCheckError, check_shapes
from dialects.weights import WeightStore
from lowering.llvm_asserts import VALUES_SYMBOL, assert_messages

_ENTRY = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p)
_RELEASE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_TRIM = ctypes.CFUNCTYPE(None)


def _row_major(shape: Sequence[int]) -> list[int]:
    strides = [1] * len(shape)
    for k in range(len(shape) - 2, -1, -1):
        strides[k] = strides[k + 1] * shape[k + 1]
    return strides


class _Loaded:
    """What the first call sets up on the device: the module, functions, weights."""

    def __init__(self, drv: Driver, model: CudaModel):
        self.driver = drv
        drv.make_current()
        self.module = drv.load_module(model.ptx)
        functions = [drv.function(self.module, name) for name in model.kernels]
        engine = model._engine
        api = (ctypes.c_void_p * len(API)).from_address(engine.address_of(API_SYMBOL))
        for i, name in enumerate(API):
            api[i] = drv.address(name)
        if functions:
            table = (ctypes.c_void_p * len(functions)).from_address(
                engine.address_of(FUNCTIONS_SYMBOL))
            for i, fn in enumerate(functions):
                table[i] = fn
        self.status = ctypes.c_int32.from_address(engine.address_of(STATUS_SYMBOL))
        self.weights: list[tuple[int, tuple[int, ...]]] = []
        for w in model._weight_arrays:  # uploaded once, freed never: the model owns them
            w = np.ascontiguousarray(w)
            ptr = drv.alloc_managed(w.nbytes)
            if w.nbytes:
                ctypes.memmove(ptr, w.ctypes.data, w.nbytes)
            self.weights.append((ptr, w.shape))
        self.release = _RELEASE(engine.address_of(RELEASE_SYMBOL))
        self.trim = _TRIM(engine.address_of(TRIM_SYMBOL))
        self.inputs: list[tuple[int, int]] = []  # per input: (managed buffer, bytes)

    def input_buffer(self, i: int, nbytes: int) -> int:
        """Input i's managed buffer, kept from call to call (grown when too small)."""
        while len(self.inputs) <= i:
            self.inputs.append((0, -1))
        ptr, capacity = self.inputs[i]
        if nbytes > capacity:
            if ptr:
                self.driver.synchronize()
                self.driver.free(ptr)
            ptr = self.driver.alloc_managed(nbytes)
            self.inputs[i] = (ptr, max(nbytes, 1))
        return ptr

    def close(self) -> None:
        """Free everything on the device: pooled buffers, inputs, weights, the module."""
        drv = self.driver
        drv.make_current()
        self.trim()
        for ptr, _ in self.inputs:
            if ptr:
                drv.free(ptr)
        for ptr, _ in self.weights:
            drv.free(ptr)
        drv.unload_module(self.module)
        self.inputs, self.weights = [], []


class CudaModel:
    """A model compiled for an NVIDIA GPU; call it with numpy arrays (as CompiledModel)."""

    def __init__(self, host_module: ModuleOp, ptx: str, kernels: Sequence[str], arch: str,
                 graph_main: func.FuncOp, inputs: list[TensorSpec],
                 outputs: list[TensorSpec], weight_arrays: list[np.ndarray],
                 store: WeightStore, stats: CompileStats, kernel_ir: ModuleOp | None = None):
        self._ptx = ptx
        self._kernel_ir = kernel_ir
        self.kernels = list(kernels)
        self.arch = arch
        self.inputs, self.outputs, self.stats = inputs, outputs, stats
        self._graph_main = graph_main
        self._store = store
        self._weight_arrays = weight_arrays
        host = translate_to_llvm_ir(host_module)
        add_cuda_host_runtime(host, self.kernels)
        self._engine = JITEngine(host)
        self._entry = _ENTRY(self._engine.address_of("_kiln_entry_main"))
        self._messages = assert_messages(host_module)
        values = self._engine.optional_address(VALUES_SYMBOL)
        self._check_values = (np.ctypeslib.as_array(
            (ctypes.c_int64 * MAX_VALUES).from_address(values)) if values else None)
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()

    @property
    def ptx(self) -> str:
        """The PTX of all the model's kernels (one module)."""
        return self._ptx

    def ptx_for(self, arch: str) -> str:
        """The kernels' PTX for another architecture (same kernels, no recompile)."""
        if arch == self.arch:
            return self._ptx
        if self._kernel_ir is None:
            raise CompileError("this model keeps no kernel IR to emit other PTX from")
        return emit_ptx(self._kernel_ir, arch)

    @property
    def llvm_ir(self) -> str:
        """The host code's optimized LLVM IR."""
        return self._engine.llvm_ir_text()

    def __repr__(self) -> str:
        ins = ", ".join(map(str, self.inputs))
        outs = ", ".join(map(str, self.outputs))
        return f"CudaModel(({ins}) -> ({outs}), target=cuda, arch={self.arch})"

    def run(self, feeds: Mapping[str, object]) -> dict[str, np.ndarray]:
        """Run with inputs by name; return outputs by name."""
        results = self(**feeds)
        return {spec.name: value for spec, value in zip(self.outputs, results, strict=True)}

    def __call__(self, *args: object, **kwargs: object) -> list[np.ndarray]:
        arrays = self._bind(args, kwargs)
        with self._lock:
            if self._loaded is None:
                self._loaded = _Loaded(driver(), self)
            return self._run(self._loaded, arrays)

    # ------------------------------------------------------------------ one call

    def _run(self, loaded: _Loaded, arrays: list[np.ndarray]) -> list[np.ndarray]:
        drv = loaded.driver
        drv.make_current()
        words: list[int] = []
        offsets: list[int] = []
        inputs: set[int] = set()
        for i, a in enumerate(arrays):
            a = np.ascontiguousarray(a)
            ptr = loaded.input_buffer(i, a.nbytes)
            inputs.add(ptr)
            if a.nbytes:
                ctypes.memmove(ptr, a.ctypes.data, a.nbytes)
            offsets.append(len(words))
            words += [ptr, ptr, 0, *a.shape, *_row_major(a.shape)]
        for ptr, shape in loaded.weights:
            offsets.append(len(words))
            words += [ptr, ptr, 0, *shape, *_row_major(shape)]
        for spec in self.outputs:
            offsets.append(len(words))
            words += [0] * (3 + 2 * len(spec.shape))
        buf = np.array(words or [0], dtype=np.int64)
        slots = np.array([buf.ctypes.data + 8 * o for o in offsets] or [0], dtype=np.int64)
        loaded.status.value = 0
        status = self._entry(slots.ctypes.data)
        failure = loaded.status.value
        try:
            drv.synchronize()
        except CudaError:
            if not failure:
                raise
        if failure:
            loaded.status.value = 0
            raise CudaError(f"a kernel launch or device allocation failed: "
                            f"{drv.error_name(failure)}")
        if status:
            raise InputError(f"run-time check failed: {self._message(status)}")
        return self._collect(loaded, buf, offsets[len(arrays) + len(loaded.weights):],
                             {p for p, _ in loaded.weights} | inputs)

    def _collect(self, loaded: _Loaded, buf: np.ndarray, offsets: list[int],
                 keep: set[int]) -> list[np.ndarray]:
        """Copy the results out (the device finished) and give their buffers back to the
        host code's pool; inputs and weights returned as results stay."""
        out = []
        to_free: set[int] = set()
        for spec, off in zip(self.outputs, offsets, strict=True):
            rank = len(spec.shape)
            w = buf[off: off + 3 + 2 * rank].tolist()
            allocated, aligned, offset = w[0], w[1], w[2]
            shape, strides = tuple(w[3: 3 + rank]), w[3 + rank:]
            result = np.empty(shape, dtype=spec.dtype)
            if result.size:
                item = spec.dtype.itemsize
                span = 1 + sum((s - 1) * st for s, st in zip(shape, strides, strict=True))
                raw = (ctypes.c_char * (span * item)).from_address(aligned + offset * item)
                flat = np.frombuffer(raw, dtype=spec.dtype, count=span)
                result[...] = np.lib.stride_tricks.as_strided(
                    flat, shape=shape, strides=[st * item for st in strides])
            out.append(result)
            if allocated and allocated not in keep:
                to_free.add(allocated)
        for ptr in to_free:
            loaded.release(ptr)
        return out

    def close(self) -> None:
        """Free the model's device memory (its weights, inputs and pooled buffers) and
        unload its kernels; a later call loads them again."""
        with self._lock:
            if self._loaded is not None:
                self._loaded.close()
                self._loaded = None

    def _message(self, status: int) -> str:
        if 0 < status <= len(self._messages):
            values = [] if self._check_values is None else self._check_values.tolist()
            return format_message(self._messages[status - 1], values)
        return f"check #{status}"

    # ------------------------------------------------------------------ inputs

    def _bind(self, args: Sequence[object], kwargs: Mapping[str, object]) -> list[np.ndarray]:
        names = [s.name for s in self.inputs]
        if len(args) > len(names):
            raise InputError(f"the model takes {len(names)} input(s) ({', '.join(names)}), "
                             f"got {len(args)} positional")
        bound: dict[str, object] = dict(zip(names, args, strict=False))
        for name, value in kwargs.items():
            if name not in names:
                raise InputError(f"unknown input '{name}'; the model's inputs are: "
                                 f"{', '.join(names)}")
            if name in bound:
                raise InputError(f"input '{name}' given twice (by position and by name)")
            bound[name] = value
        missing = [n for n in names if n not in bound]
        if missing:
            raise InputError(f"missing input(s): {', '.join(missing)}")
        arrays = []
        for spec in self.inputs:
            a = np.asarray(bound[spec.name])
            if a.dtype != spec.dtype or a.ndim != len(spec.shape):
                raise InputError(f"input '{spec.name}' is {a.dtype} of rank {a.ndim}, "
                                 f"expected {spec.dtype} of rank {len(spec.shape)}")
            for axis, want in enumerate(spec.shape):
                if isinstance(want, int) and a.shape[axis] != want:
                    raise InputError(f"input '{spec.name}' has shape {list(a.shape)}: dim "
                                     f"{axis} must be {want}")
            arrays.append(a)
        try:
            check_shapes(self._graph_main, tuple(a.shape for a in arrays))
        except ShapeCheckError as e:
            raise InputError(f"inputs of shapes {[list(a.shape) for a in arrays]} do not "
                             f"fit the model: {e}") from None
        return arrays
