"""The few CUDA driver API calls Kiln needs, through ctypes on libcuda.so.1.

No CUDA toolkit is needed at run time: the driver JIT-compiles the PTX
(cuModuleLoadDataEx, its error log surfaced in the exception). Every failure is a
`CudaError` (a BackendError) naming the call and the driver's error name; a machine
without a driver or without a device gets a `NoCudaDevice` saying so.
"""

from __future__ import annotations

import ctypes
import functools
import threading

from compiler.errors import BackendError

CU_JIT_INFO_LOG_BUFFER = 3
CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4
CU_JIT_ERROR_LOG_BUFFER = 5
CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6
CU_MEM_ATTACH_GLOBAL = 1
CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76
_LOG_SIZE = 1 << 14

_c = ctypes
_p = ctypes.c_void_p
# name -> argtypes (every call returns a CUresult, an int)
_SIGNATURES: dict[str, list] = {
    "cuInit": [_c.c_uint],
    "cuDeviceGetCount": [_c.POINTER(_c.c_int)],
    "cuDeviceGet": [_c.POINTER(_c.c_int), _c.c_int],
    "cuDeviceGetName": [_c.c_char_p, _c.c_int, _c.c_int],
    "cuDeviceGetAttribute": [_c.POINTER(_c.c_int), _c.c_int, _c.c_int],
    "cuDevicePrimaryCtxRetain": [_c.POINTER(_p), _c.c_int],
    "cuCtxSetCurrent": [_p],
    "cuCtxSynchronize": [],
    "cuModuleLoadDataEx": [_c.POINTER(_p), _c.c_char_p, _c.c_uint, _c.POINTER(_c.c_int),
                           _c.POINTER(_p)],
    "cuModuleGetFunction": [_c.POINTER(_p), _p, _c.c_char_p],
    "cuModuleUnload": [_p],
    "cuMemAllocManaged": [_c.POINTER(_c.c_uint64), _c.c_size_t, _c.c_uint],
    "cuMemFree_v2": [_c.c_uint64],
    "cuLaunchKernel": [_p, _c.c_uint, _c.c_uint, _c.c_uint, _c.c_uint, _c.c_uint, _c.c_uint,
                       _c.c_uint, _p, _p, _p],
    "cuGetErrorName": [_c.c_int, _c.POINTER(_c.c_char_p)],
}


class CudaError(BackendError):
    """A CUDA driver call failed."""


class NoCudaDevice(CudaError):
    """There is no CUDA driver or no CUDA device on this machine."""


def _load() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError as e:
        raise NoCudaDevice(
            "no CUDA device is present: the CUDA driver (libcuda.so.1) cannot be loaded "
            f"({e}); the model compiled to PTX (see .ptx) but cannot run here") from None
    for name, argtypes in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes = argtypes
        fn.restype = _c.c_int
    return lib


class Driver:
    """The driver library, initialized, with device 0's primary context current."""

    def __init__(self) -> None:
        self.lib = _load()
        status = self.lib.cuInit(0)
        count = _c.c_int(0)
        if status == 0:
            status = self.lib.cuDeviceGetCount(_c.byref(count))
        if status != 0 or count.value == 0:
            reason = self.error_name(status) if status else "the driver reports 0 devices"
            raise NoCudaDevice(f"no CUDA device is present ({reason}); the model compiled to "
                               "PTX (see .ptx) but cannot run here")
        device = _c.c_int()
        self.check(self.lib.cuDeviceGet(_c.byref(device), 0), "cuDeviceGet")
        self.device = device.value
        ctx = _p()
        self.check(self.lib.cuDevicePrimaryCtxRetain(_c.byref(ctx), self.device),
                   "cuDevicePrimaryCtxRetain")
        self.context = ctx.value
        self.make_current()

    def make_current(self) -> None:
        """The context must be current on the calling thread for every other call."""
        self.check(self.lib.cuCtxSetCurrent(self.context), "cuCtxSetCurrent")

    def error_name(self, status: int) -> str:
        name = _c.c_char_p()
        if self.lib.cuGetErrorName(status, _c.byref(name)) == 0 and name.value:
            return f"{name.value.decode()} ({status})"
        return f"CUresult {status}"

    def check(self, status: int, call: str) -> None:
        if status != 0:
            raise CudaError(f"CUDA driver call {call} failed: {self.error_name(status)}")

    def name(self) -> str:
        buf = _c.create_string_buffer(256)
        self.check(self.lib.cuDeviceGetName(buf, 256, self.device), "cuDeviceGetName")
        return buf.value.decode()

    def compute_capability(self) -> tuple[int, int]:
        values = []
        for attr in (CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                     CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR):
            v = _c.c_int()
            self.check(self.lib.cuDeviceGetAttribute(_c.byref(v), attr, self.device),
                       "cuDeviceGetAttribute")
            values.append(v.value)
        return values[0], values[1]

    def load_module(self, ptx: str) -> int:
        """Load PTX (the driver JIT-compiles it); the JIT's error log is in the error."""
        error_log = _c.create_string_buffer(_LOG_SIZE)
        info_log = _c.create_string_buffer(_LOG_SIZE)
        options = (_c.c_int * 4)(CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                                 CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES)
        values = (_p * 4)(_c.cast(error_log, _p).value, _LOG_SIZE,
                          _c.cast(info_log, _p).value, _LOG_SIZE)
        module = _p()
        status = self.lib.cuModuleLoadDataEx(_c.byref(module), ptx.encode() + b"\0", 4,
                                             options, values)
        if status != 0:
            log = error_log.value.decode(errors="replace").strip()
            raise CudaError(f"the CUDA driver could not load the PTX: "
                            f"{self.error_name(status)}" + (f"\n{log}" if log else ""))
        return module.value  # type: ignore[return-value]

    def unload_module(self, module: int) -> None:
        self.check(self.lib.cuModuleUnload(module), "cuModuleUnload")

    def function(self, module: int, name: str) -> int:
        fn = _p()
        self.check(self.lib.cuModuleGetFunction(_c.byref(fn), module, name.encode()),
                   f"cuModuleGetFunction({name})")
        return fn.value  # type: ignore[return-value]

    def alloc_managed(self, nbytes: int) -> int:
        ptr = _c.c_uint64()
        self.check(self.lib.cuMemAllocManaged(_c.byref(ptr), max(nbytes, 1),
                                              CU_MEM_ATTACH_GLOBAL), "cuMemAllocManaged")
        return ptr.value

    def free(self, ptr: int) -> None:
        self.check(self.lib.cuMemFree_v2(ptr), "cuMemFree")

    def synchronize(self) -> None:
        self.check(self.lib.cuCtxSynchronize(), "cuCtxSynchronize")

    def address(self, name: str) -> int:
        """The address of a driver function, for generated host code to call."""
        return _c.cast(getattr(self.lib, name), _p).value  # type: ignore[return-value]


_lock = threading.Lock()


@functools.cache
def _driver() -> Driver:
    return Driver()


def driver() -> Driver:
    """The process's driver (initialized once); NoCudaDevice where there is none."""
    with _lock:
        return _driver()


def device_arch(default: str = "sm_80") -> str:
    """`sm_XY` of device 0, or `default` when no CUDA device is present."""
    try:
        major, minor = driver().compute_capability()
    except CudaError:
        return default
    return f"sm_{major}{minor}"
