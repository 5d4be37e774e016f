"""The cuda target's host code without a GPU: the JIT'd host code of a real model runs
against a fake CUDA driver (ctypes callbacks in the driver-function table; launches are
recorded, not run, so results are not checked here) to check the caching allocator: no
device synchronization per free, no driver allocation after the first call, results given
back to the pool, everything freed by close()."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest

import compiler
from compiler.runtime import cuda as cuda_runtime

MODELS = Path(__file__).resolve().parents[2] / "examples" / "models"

_c = ctypes
_LAUNCH = _c.CFUNCTYPE(_c.c_int, _c.c_void_p, *[_c.c_uint] * 7, _c.c_void_p, _c.c_void_p,
                       _c.c_void_p)
_ALLOC = _c.CFUNCTYPE(_c.c_int, _c.POINTER(_c.c_uint64), _c.c_size_t, _c.c_uint)
_FREE = _c.CFUNCTYPE(_c.c_int, _c.c_uint64)
_SYNC = _c.CFUNCTYPE(_c.c_int)


class FakeDriver:
    """Driver's interface over host memory; counts what the host code asks for."""

    def __init__(self) -> None:
        self.buffers: dict[int, object] = {}
        self.allocs = self.frees = self.syncs = 0
        self.launches: list[tuple[int, ...]] = []
        self._callbacks = {
            "cuLaunchKernel": _LAUNCH(self._launch), "cuMemAllocManaged": _ALLOC(self._alloc),
            "cuMemFree_v2": _FREE(self._free), "cuCtxSynchronize": _SYNC(self._sync)}

    def _launch(self, fn, gx, gy, gz, bx, by, bz, shared, stream, params, extra) -> int:
        assert params and 1 <= gx <= 65536 and bx * by * bz <= 1024 and shared == 0
        self.launches.append((gx, bx, by))
        return 0

    def _alloc(self, out, nbytes, flags) -> int:
        assert flags == 1 and nbytes > 0
        buf = _c.create_string_buffer(nbytes)
        self.buffers[_c.addressof(buf)] = buf
        out[0] = _c.addressof(buf)
        self.allocs += 1
        return 0

    def _free(self, ptr) -> int:
        assert ptr in self.buffers, "freeing a pointer the driver never gave out"
        del self.buffers[ptr]
        self.frees += 1
        return 0

    def _sync(self) -> int:
        self.syncs += 1
        return 0

    def make_current(self) -> None:
        pass

    def load_module(self, ptx: str) -> int:
        return 1

    def unload_module(self, module: int) -> None:
        pass

    def function(self, module: int, name: str) -> int:
        return 1000 + len(name)

    def address(self, name: str) -> int:
        return _c.cast(self._callbacks[name], _c.c_void_p).value  # type: ignore[return-value]

    def alloc_managed(self, nbytes: int) -> int:
        ptr = _c.c_uint64()
        self._alloc(_c.pointer(ptr), max(nbytes, 1), 1)
        return ptr.value

    def free(self, ptr: int) -> None:
        self._free(ptr)

    def synchronize(self) -> None:
        self._sync()

    def error_name(self, status: int) -> str:
        return f"CUresult {status}"


@pytest.fixture
def fake(monkeypatch) -> FakeDriver:
    drv = FakeDriver()
    monkeypatch.setattr(cuda_runtime, "driver", lambda: drv)
    return drv


def test_frees_do_not_synchronize_and_later_calls_allocate_nothing(fake):
    model = compiler.compile(str(MODELS / "mlp.onnx"), target="cuda:sm_80")
    x = np.ones((4, 32), np.float32)
    model(x)
    first = fake.allocs
    assert first > len(model.kernels) // 2 and fake.frees == 0
    assert fake.syncs <= 3  # the call's own wait at the end, not one per free
    launches = len(fake.launches)
    assert launches >= len(model.kernels) - 1
    model(x)
    model(x)
    assert fake.allocs == first and fake.frees == 0 and len(fake.launches) == 3 * launches
    model(np.ones((9, 32), np.float32))  # larger: some new buffers, the rest reused
    assert fake.allocs > first
    model.close()
    assert fake.frees == fake.allocs and not fake.buffers
