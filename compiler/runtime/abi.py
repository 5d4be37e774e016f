"""Call side of Kiln's native ABI (docs/ARCHITECTURE.md, level 5).

`_kiln_entry_f(ptr args)` takes an array of pointers, one per argument then one per
result. Every descriptor field is 8 bytes (ptr, ptr, i64, sizes[R], strides[R]), so all
descriptors of one call live in a single int64 numpy buffer that an `Invoker` allocates
once; a call fills it with one slice assignment, calls through ctypes, and copies the
results out into arrays the caller owns, freeing what the callee allocated.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Sequence

import numpy as np

from compiler.errors import InputError
from dialects.check import MAX_VALUES as MAX_CHECK_VALUES
from dialects.check import format_message

# (dtype, rank) of an argument or result; rank None means a scalar passed by pointer.
Spec = tuple[np.dtype, int | None]

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
_free = _libc.free
_free.argtypes = [ctypes.c_void_p]
_free.restype = None


def free_native(address: int) -> None:
    """free() a buffer that the generated code malloc'ed."""
    _free(address)

# the entry returns 0, or the 1-based id of a failed run-time check (lowering/llvm_asserts.py)
_ENTRY_TYPE = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p)
_from_buffer = ctypes.c_char.from_buffer
_addressof = ctypes.addressof
_memmove = ctypes.memmove


def descriptor_struct(rank: int) -> type[ctypes.Structure]:
    """ctypes mirror of the rank-R memref descriptor (for debugging and C interop)."""
    fields = [
        ("allocated", ctypes.c_void_p),
        ("aligned", ctypes.c_void_p),
        ("offset", ctypes.c_int64),
    ]
    if rank:
        fields += [("sizes", ctypes.c_int64 * rank), ("strides", ctypes.c_int64 * rank)]
    return type(f"MemRefDescriptor{rank}", (ctypes.Structure,), {"_fields_": fields})


def data_pointer(a: np.ndarray) -> int:
    """Address of an array's first element (cheaper than `a.ctypes.data` when writable)."""
    try:
        return _addressof(_from_buffer(a))
    except (TypeError, ValueError):  # read-only or empty buffer
        return a.ctypes.data


def _row_major(shape: Sequence[int]) -> list[int]:
    strides = [1] * len(shape)
    for k in range(len(shape) - 2, -1, -1):
        strides[k] = strides[k + 1] * shape[k + 1]
    return strides


def _words(rank: int | None) -> int:
    return 1 if rank is None else 3 + 2 * rank


class Invoker:
    """A prepared caller of one `_kiln_entry_*` function with fixed arg/result specs."""

    def __init__(self, address: int, args: Sequence[Spec], results: Sequence[Spec],
                 check_messages: Sequence[str] = (), check_values_address: int = 0,
                 fixed: Sequence[np.ndarray] = ()):
        """`fixed`: arrays passed as the last arguments of every call (a model's weights);
        their descriptors are written once here, and calls pass only the others."""
        self.check_messages = list(check_messages)
        # the values a failing check.assert reported (lowering/llvm_asserts.py)
        self._check_values = (
            np.ctypeslib.as_array((ctypes.c_int64 * MAX_CHECK_VALUES).from_address(
                check_values_address)) if check_values_address else None)
        # one descriptor buffer is reused by every call: calls must not overlap
        self._lock = threading.Lock()
        self.arg_specs = [(np.dtype(d), r) for d, r in args]
        self.result_specs = [(np.dtype(d), r) for d, r in results]
        self._fn = _ENTRY_TYPE(address)
        offsets: list[int] = []
        n = 0
        for _, rank in self.arg_specs + self.result_specs:
            offsets.append(n)
            n += _words(rank)
        self._arg_words = offsets[len(self.arg_specs)] if self.result_specs else n
        self._buf = np.zeros(max(n, 1), dtype=np.int64)
        base = self._buf.ctypes.data
        self._slots = np.array([base + 8 * o for o in offsets] or [0], dtype=np.int64)
        self._slots_addr = self._slots.ctypes.data
        self._result_offsets = offsets[len(self.arg_specs) :]
        # scalar args are written through typed views of their 8-byte slot
        self._scalar_views = {
            i: self._buf[offsets[i] : offsets[i] + 1].view(np.uint8)[: d.itemsize].view(d)
            for i, (d, r) in enumerate(self.arg_specs)
            if r is None
        }
        self._fixed = [np.ascontiguousarray(a) for a in fixed]  # alive as long as we are
        n_free = len(self.arg_specs) - len(self._fixed)
        self._free_words = offsets[n_free] if self._fixed else self._arg_words
        self._all_specs = self.arg_specs
        self._fixed_ptrs: set[int] = set()
        if self._fixed:
            words = self._words(self._fixed, n_free, [], self._fixed_ptrs)
            self._buf[self._free_words : self._arg_words] = words
        self.arg_specs = self.arg_specs[:n_free]
        # the prepared path (call_prepared): the words of the free arguments stay in the
        # buffer between calls, so a call with the shapes of the last one writes only the
        # data pointers, through a ctypes view of the same memory
        self._words_view = (ctypes.c_int64 * len(self._buf)).from_address(base)
        self._pointer_words = offsets[:n_free]
        self._written_shapes: tuple[tuple[int, ...], ...] | None = None
        self._tensor_results = [(d, r, at) for (d, r), at in
                                zip(self.result_specs, self._result_offsets, strict=True)]
        self._only_tensor_results = all(r is not None for _, r, _ in self._tensor_results)
        self._row_major_strides: dict[tuple[int, ...], list[int]] = {}

    def _words(self, args: Sequence[object], first: int, keep: list[np.ndarray],
               ptrs: set[int]) -> list[int]:
        """Descriptor words of array arguments `first`, `first + 1`, ... (0 for scalars);
        their data pointers go into `ptrs`."""
        specs = self._all_specs[first:]
        words: list[int] = []
        for i, (a, (dtype, rank)) in enumerate(zip(args, specs, strict=False)):
            if rank is None:
                words.append(0)
                continue
            if not isinstance(a, np.ndarray):
                raise InputError(f"argument {first + i}: expected a numpy array, got "
                                 f"{type(a).__name__}")
            if a.dtype != dtype or a.ndim != rank:
                raise InputError(
                    f"argument {first + i}: expected {dtype} of rank {rank}, got {a.dtype} "
                    f"of rank {a.ndim}")
            if not a.flags.c_contiguous:
                a = np.ascontiguousarray(a)
                keep.append(a)
            ptr = data_pointer(a)
            ptrs.add(ptr)
            shape = a.shape
            words += (ptr, ptr, 0, *shape, *_row_major(shape))
        return words

    def __call__(self, *args: object) -> list[np.ndarray]:
        specs = self.arg_specs
        if len(args) != len(specs):
            raise InputError(f"expected {len(specs)} arguments, got {len(args)}")
        keep: list[np.ndarray] = []  # contiguous copies must outlive the call
        arg_ptrs = set(self._fixed_ptrs)
        words = self._words(args, 0, keep, arg_ptrs)
        with self._lock:
            self._written_shapes = None
            buf = self._buf
            if words:
                buf[: self._free_words] = words
            for i, view in self._scalar_views.items():
                view[0] = args[i]
            status = self._fn(self._slots_addr)
            del keep
            if status:
                raise InputError(f"run-time check failed: {self._message(status)}")
            return self._collect(arg_ptrs)

    def call_prepared(self, arrays: Sequence[np.ndarray],
                      shapes: tuple[tuple[int, ...], ...]) -> list[np.ndarray]:
        """Call with tensors the caller has checked: C-contiguous, of the argument specs'
        dtypes and ranks, of these `shapes` (no scalars). Descriptors are rewritten only
        when the shapes differ from the previous call's; otherwise only the pointers."""
        with self._lock:
            if shapes != self._written_shapes:
                self._written_shapes = None  # (until the words below are all in place)
                self._buf[: self._free_words] = self._words(arrays, 0, [], set())
                self._written_shapes = shapes
            view = self._words_view
            pointers = []
            for at, a in zip(self._pointer_words, arrays, strict=True):
                try:
                    pointer = _addressof(_from_buffer(a))
                except (TypeError, ValueError):  # read-only or empty
                    pointer = a.ctypes.data
                view[at] = view[at + 1] = pointer
                pointers.append(pointer)
            status = self._fn(self._slots_addr)
            if status:
                raise InputError(f"run-time check failed: {self._message(status)}")
            if not self._only_tensor_results:
                return self._collect(self._fixed_ptrs.union(pointers))
            return self._collect_tensors(pointers)

    def _collect_tensors(self, pointers: list[int]) -> list[np.ndarray]:
        """_collect for results that are all tensors, reading the words through the ctypes
        view and freeing each callee allocation once."""
        view = self._words_view
        out: list[np.ndarray] = []
        freed: list[int] = []
        fixed = self._fixed_ptrs
        row_major = self._row_major_strides
        for dtype, rank, at in self._tensor_results:
            w = view[at : at + 3 + 2 * rank]
            shape = tuple(w[3 : 3 + rank])
            strides = w[3 + rank :]
            address = w[1] + w[2] * dtype.itemsize
            dense = row_major.get(shape)
            if dense is None:
                if len(row_major) >= 256:  # (many shapes of a dynamic dim: start over)
                    row_major.clear()
                dense = row_major[shape] = _row_major(shape)
            if strides == dense:  # the usual case, inlined: one memmove into a new array
                result = np.empty(shape, dtype=dtype)
                if result.nbytes:
                    _memmove(_addressof(_from_buffer(result)), address, result.nbytes)
                out.append(result)
            else:
                out.append(_copy_out(address, dtype, shape, strides))
            allocated = w[0]
            if allocated and allocated not in fixed and allocated not in pointers \
                    and allocated not in freed:
                freed.append(allocated)
        # only once all are copied: a later result may be a view of an earlier one's buffer
        for allocated in freed:
            _free(allocated)
        return out

    def _message(self, status: int) -> str:
        if 0 < status <= len(self.check_messages):
            values = [] if self._check_values is None else self._check_values.tolist()
            return format_message(self.check_messages[status - 1], values)
        return f"check #{status}"

    def _collect(self, arg_ptrs: set[int]) -> list[np.ndarray]:
        buf = self._buf
        out: list[np.ndarray] = []
        to_free: set[int] = set()
        for (dtype, rank), off in zip(self.result_specs, self._result_offsets, strict=True):
            if rank is None:
                raw = buf[off : off + 1].view(np.uint8)[: dtype.itemsize].view(dtype)
                out.append(raw[0].copy())
                continue
            w = buf[off : off + 3 + 2 * rank].tolist()
            allocated, aligned, offset = w[0], w[1], w[2]
            shape = tuple(w[3 : 3 + rank])
            strides = w[3 + rank :]
            out.append(_copy_out(aligned + offset * dtype.itemsize, dtype, shape, strides))
            if allocated and allocated not in arg_ptrs:
                to_free.add(allocated)
        for p in to_free:
            _free(p)
        return out


def _copy_out(addr: int, dtype: np.dtype, shape: tuple[int, ...], strides: list[int]) -> np.ndarray:
    result = np.empty(shape, dtype=dtype)
    n = result.size
    if n == 0:
        return result
    if n == 1 or list(strides) == _row_major(shape):
        ctypes.memmove(data_pointer(result), addr, n * dtype.itemsize)
        return result
    # strided view: wrap the callee's memory, then copy element-wise
    span = 1 + sum((s - 1) * abs(st) for s, st in zip(shape, strides, strict=True))
    if any(st < 0 for st in strides):
        raise NotImplementedError("negative result strides")
    raw = (ctypes.c_char * (span * dtype.itemsize)).from_address(addr)
    flat = np.frombuffer(raw, dtype=dtype, count=span)
    view = np.lib.stride_tricks.as_strided(
        flat, shape=shape, strides=[st * dtype.itemsize for st in strides]
    )
    result[...] = view
    return result


def spec_of(value: object) -> Spec:
    """The ABI spec of a numpy array or scalar (Python int -> int64, float -> float64)."""
    if isinstance(value, np.ndarray):
        return value.dtype, value.ndim
    if isinstance(value, np.generic):
        return value.dtype, None
    if isinstance(value, bool):
        return np.dtype(np.bool_), None
    if isinstance(value, int):
        return np.dtype(np.int64), None
    if isinstance(value, float):
        return np.dtype(np.float64), None
    raise InputError(f"unsupported argument type {type(value).__name__}")


_INVOKERS: dict[tuple[object, ...], Invoker] = {}


def call_entry(
    address: int,
    args: list[np.ndarray | int | float | np.generic],
    results: list[tuple[np.dtype, int | None]],
) -> list[np.ndarray]:
    """Call `_kiln_entry_*` at `address`; results are (dtype, rank) (rank None: scalar).

    Returns arrays the caller owns. Prefer a long-lived `Invoker` on hot paths.
    """
    arg_specs = [spec_of(a) for a in args]
    res_specs = [(np.dtype(d), r) for d, r in results]
    key = (address, tuple(arg_specs), tuple(res_specs))
    inv = _INVOKERS.get(key)
    if inv is None:
        inv = _INVOKERS[key] = Invoker(address, arg_specs, res_specs)
    return inv(*args)
