"""The integer GEMM kernel (lowering/kernels_int8.py) called directly through the JIT:
u8/s8 x u8/s8 -> s32 bit-exact against numpy for odd sizes, K tails, per-tensor and
per-row / per-column zero points, strides, prepacked B and threads, on the portable path
(always) and the vpdpbusd path where this host has VNNI; and that the VNNI variant
selects vpdpbusd (the portable one vpmaddwd) when compiled for such a CPU."""

from __future__ import annotations

import ctypes

import llvmlite.binding as lb
import numpy as np
import pytest
from xdsl.dialects.builtin import ModuleOp, i8

from compiler.runtime.jit import JITEngine, load_openmp
from compiler.runtime.llvm_translate import translate_to_llvm_ir
from lowering.kernels_int8 import (
    UI8,
    IGemmConfig,
    ensure_igemm,
    ensure_igemm_pack_b,
    host_igemm_config,
)

RNG = np.random.default_rng(7)
TYPES = {"u8": (UI8, np.uint8), "s8": (i8, np.int8)}
HOST = host_igemm_config()
CONFIGS = {"portable": host_igemm_config(portable=True),
           "tiny-blocks": IGemmConfig(vw=8, nv=2, mr=6, kc=8, mc=12, nc=32)}
if HOST.vnni:
    CONFIGS["vnni"] = HOST


def _kernels(at: str, bt: str, cfg: IGemmConfig, threads: int = 1):
    module = ModuleOp([])
    name = ensure_igemm(module, TYPES[at][0], TYPES[bt][0], cfg, threads, "external")
    pack = ensure_igemm_pack_b(module, TYPES[bt][0], cfg, "external")
    engine = JITEngine(module)
    fn = ctypes.CFUNCTYPE(None, *([ctypes.c_int64] * 23))(engine.address_of(name))
    pack_fn = ctypes.CFUNCTYPE(ctypes.c_int64, *([ctypes.c_int64] * 9))(
        engine.address_of(pack))
    return engine, fn, pack_fn


def _rand(dtype, shape):
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max + 1, shape).astype(dtype)


def _call(fn, a, b, c, za=None, zb=None, packed: int = 0) -> None:
    (m, k), n = a.shape, b.shape[1]
    zas = 0 if za is None or za.size == 1 else 1
    zbs = 0 if zb is None or zb.size == 1 else 1
    fn(m, n, k, a.ctypes.data, 0, a.strides[0], a.strides[1],
       b.ctypes.data, 0, b.strides[0], b.strides[1], c.ctypes.data, 0, c.strides[0] // 4,
       0 if za is None else za.ctypes.data, 0, zas,
       0 if zb is None else zb.ctypes.data, 0, zbs, packed, 0, n)


def _want(a, b, c, za, zb):
    a64 = a.astype(np.int64) - (0 if za is None else za.astype(np.int64).reshape(-1, 1))
    b64 = b.astype(np.int64) - (0 if zb is None else zb.astype(np.int64).reshape(1, -1))
    return c + a64 @ b64


SIZES = [(1, 1, 1), (1, 17, 3), (5, 1, 9), (6, 16, 4), (7, 65, 13), (13, 31, 101),
         (64, 10, 64), (97, 130, 601)]


@pytest.mark.parametrize("cfg", list(CONFIGS), ids=list(CONFIGS))
@pytest.mark.parametrize("types", ["u8s8", "s8s8", "u8u8", "s8u8"])
def test_kernel_is_exact(cfg, types):
    engine, fn, _ = _kernels(types[:2], types[2:], CONFIGS[cfg])
    ad, bd = TYPES[types[:2]][1], TYPES[types[2:]][1]
    for m, n, k in SIZES:
        a, b = _rand(ad, (m, k)), _rand(bd, (k, n))
        for za, zb in [(None, None), (_rand(ad, (1,)), _rand(bd, (1,))),
                       (_rand(ad, (m,)), _rand(bd, (n,))), (None, _rand(bd, (n,)))]:
            c = RNG.integers(-1000, 1000, (m, n)).astype(np.int32)
            want = _want(a, b, c, za, zb)
            _call(fn, a, b, c, za, zb)
            np.testing.assert_array_equal(c, want, err_msg=f"{m}x{n}x{k} {za} {zb}")
    del engine


@pytest.mark.parametrize("cfg", list(CONFIGS), ids=list(CONFIGS))
def test_transposed_operands_and_wide_c(cfg):
    engine, fn, _ = _kernels("u8", "s8", CONFIGS[cfg])
    a = _rand(np.uint8, (40, 23)).T  # 23 x 40: k-stride 23
    b = _rand(np.int8, (50, 40)).T   # 40 x 50: column stride 40
    c_wide = np.zeros((23, 60), np.int32)
    c = c_wide[:, :50]
    za, zb = _rand(np.uint8, (1,)), _rand(np.int8, (50,))
    want = _want(a, b, c.copy(), za, zb)
    _call(fn, a, b, c, za, zb)
    np.testing.assert_array_equal(c, want)
    assert not c_wide[:, 50:].any()
    del engine


@pytest.mark.parametrize("cfg", list(CONFIGS), ids=list(CONFIGS))
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_prepacked_b_and_threads(cfg, threads):
    if threads > 1 and not load_openmp():
        pytest.skip("libgomp is not available")
    engine, fn, pack = _kernels("u8", "s8", CONFIGS[cfg], threads)
    for m, n, k in [(300, 70, 50), (70, 300, 1030), (2, 130, 9)]:
        a, b = _rand(np.uint8, (m, k)), _rand(np.int8, (k, n))
        za, zb = _rand(np.uint8, (m,)), _rand(np.int8, (n,))
        want = _want(a, b, np.zeros((m, n), np.int32), za, zb)
        c = np.zeros((m, n), np.int32)
        _call(fn, a, b, c, za, zb)
        np.testing.assert_array_equal(c, want)
        packed = pack(n, k, b.ctypes.data, 0, n, 1, zb.ctypes.data, 0, 1)
        c2 = np.zeros((m, n), np.int32)
        _call(fn, a, np.zeros((1, n), np.int8), c2, za, None, packed)
        ctypes.CDLL(None).free(ctypes.c_void_p(packed))
        np.testing.assert_array_equal(c2, want)
    del engine


@pytest.mark.parametrize("cpu,cfg,want,absent", [
    ("sapphirerapids", IGemmConfig(vnni=True), "vpdpbusd", "vpmaddwd"),
    ("alderlake", IGemmConfig(vw=8, nv=2, kc=512, mc=72, vnni=True), "vpdpbusd", "vpmaddwd"),
    ("znver3", IGemmConfig(vw=8, nv=2, kc=512, mc=72), "vpmaddwd", "vpdpbusd"),
    ("skylake-avx512", IGemmConfig(), "vpmaddwd", "vpdpbusd")])
def test_instruction_selection(cpu, cfg, want, absent):
    """The VNNI variant's inner product is vpdpbusd (AVX-512 VNNI, or AVX-VNNI at 256
    bits); the portable IR becomes (v)pmaddwd on x86 without VNNI."""
    module = ModuleOp([])
    ensure_igemm(module, UI8, i8, cfg, linkage="external")
    mod = lb.parse_assembly(str(translate_to_llvm_ir(module)))
    tm = lb.Target.from_default_triple().create_target_machine(cpu=cpu, opt=3)
    pb = lb.create_pass_builder(tm, lb.create_pipeline_tuning_options(speed_level=3))
    pb.getModulePassManager().run(mod, pb)
    asm = tm.emit_assembly(mod)
    assert want in asm and absent not in asm
