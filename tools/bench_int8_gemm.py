"""Time the integer GEMM kernel (u8 x s8 -> s32) against Kiln's f32 GEMM and numpy's
f32 matmul on square products, 1 and 2 threads, and print the ratios.

    python -m tools.bench_int8_gemm                 # 256, 512, 1024; threads 1, 2
    python -m tools.bench_int8_gemm --sizes 512 --threads 1 --portable

Each runtime is timed in its own phase (libgomp and OpenBLAS threads do not alternate);
numpy's thread count is OPENBLAS_NUM_THREADS as set when the process starts.
`--portable` forces the portable inner product on a VNNI host.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import time

import numpy as np
from xdsl.dialects.builtin import ModuleOp, i8

from compiler.runtime.jit import JITEngine, load_openmp
from lowering.kernels import ensure_sgemm
from lowering.kernels_int8 import UI8, ensure_igemm, host_igemm_config


def _best(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="256,512,1024")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--portable", action="store_true")
    args = ap.parse_args(argv)
    load_openmp()
    cfg = host_igemm_config(portable=args.portable)
    print(f"integer kernel: {'vpdpbusd' if cfg.vnni else 'portable (pmaddwd-like)'}, "
          f"{cfg.mr} x {cfg.nr} tile")
    for threads in (int(t) for t in args.threads.split(",")):
        module = ModuleOp([])
        iname = ensure_igemm(module, UI8, i8, cfg, threads, "external")
        ensure_sgemm(module, linkage="external", threads=threads)
        engine = JITEngine(module)
        igemm = ctypes.CFUNCTYPE(None, *([ctypes.c_int64] * 23))(engine.address_of(iname))
        sgemm = ctypes.CFUNCTYPE(None, *([ctypes.c_int64] * 14 + [ctypes.c_float]))(
            engine.address_of("kiln_sgemm_f32"))
        for s in (int(x) for x in args.sizes.split(",")):
            rng = np.random.default_rng(0)
            a = rng.integers(0, 256, (s, s)).astype(np.uint8)
            b = rng.integers(-128, 128, (s, s)).astype(np.int8)
            c = np.zeros((s, s), np.int32)
            af, bf, cf = a.astype(np.float32), b.astype(np.float32), np.zeros((s, s),
                                                                               np.float32)
            za = np.array([128], np.uint8)
            t_int = _best(functools.partial(
                igemm, s, s, s, a.ctypes.data, 0, s, 1, b.ctypes.data, 0, s, 1,
                c.ctypes.data, 0, s, za.ctypes.data, 0, 0, 0, 0, 0, 0, 0, s), args.repeat)
            t_f32 = _best(functools.partial(
                sgemm, s, s, s, af.ctypes.data, 0, s, 1, bf.ctypes.data, 0, s, 1,
                cf.ctypes.data, 0, s, 1.0), args.repeat)
            t_np = _best(functools.partial(np.matmul, af, bf), args.repeat)
            ops = 2 * s ** 3 / 1e9
            print(f"{s}^3 threads={threads}: int8 {ops / t_int:6.1f} GOP/s, Kiln f32 "
                  f"{ops / t_f32:6.1f}, numpy f32 {ops / t_np:6.1f} GFLOP/s; int8 vs Kiln "
                  f"f32 {t_f32 / t_int:.2f}x, vs numpy {t_np / t_int:.2f}x")
        del engine


if __name__ == "__main__":
    main()
