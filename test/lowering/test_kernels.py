"""The generated GEMM kernel path (lowering/kernels.py, lowering/contraction.py).

Numerics through the JIT against numpy: the kernel called directly (any M/N/K, strides,
alpha, offsets), and whole models whose matmul/gemm/conv lower to kernel calls (odd and
unit sizes, dynamic dims, transposed and batched/broadcast operands, fused bias/act/
residual epilogues). Plus structure: what is (not) recognized as a contraction.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from xdsl.dialects import llvm
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser

import compiler
from compiler.context import make_context
from compiler.runtime.jit import JITEngine, load_openmp
from lowering.contraction import LowerContractionsToKernelsPass
from lowering.kernels import GemmConfig, ensure_packed_sgemm, ensure_sgemm
from lowering.linalg_to_loops import LowerLinalgToLoopsPass

RNG = np.random.default_rng(1234)


def _kernel(cfg: GemmConfig, threads: int = 1):
    module = ModuleOp([])
    ensure_sgemm(module, cfg, linkage="external", threads=threads)
    engine = JITEngine(module)
    fn = ctypes.CFUNCTYPE(None, *([ctypes.c_int64] * 14 + [ctypes.c_float]))(
        engine.address_of("kiln_sgemm_f32"))
    return engine, fn


@pytest.fixture(scope="module", params=[GemmConfig(), GemmConfig(vw=8, nv=2, kc=7, mc=12,
                                                                    nc=40)],
                ids=["host", "tiny-blocks"])
def sgemm(request):
    engine, fn = _kernel(request.param)
    yield fn
    del engine


def _call(fn, a: np.ndarray, b: np.ndarray, c: np.ndarray, alpha: float = 1.0) -> None:
    (m, k), n = a.shape, b.shape[1]
    isz = 4
    fn(m, n, k, a.ctypes.data, 0, a.strides[0] // isz, a.strides[1] // isz,
       b.ctypes.data, 0, b.strides[0] // isz, b.strides[1] // isz,
       c.ctypes.data, 0, c.strides[0] // isz, alpha)


@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (1, 17, 3), (5, 1, 9), (6, 64, 1), (7, 65, 13),
                                   (13, 31, 100), (64, 10, 64), (97, 130, 600), (12, 200, 15)])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_kernel_matches_numpy(sgemm, m, n, k, ta, tb):
    a = RNG.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = RNG.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    a, b = (a.T if ta else a), (b.T if tb else b)
    c = RNG.standard_normal((m, n)).astype(np.float32)
    want = c + 0.75 * (a.astype(np.float64) @ b.astype(np.float64))
    _call(sgemm, a, b, c, 0.75)
    np.testing.assert_allclose(c, want, rtol=1e-4, atol=1e-4 * np.sqrt(k))


@pytest.fixture(scope="module")
def threaded_sgemms():
    """The host kernel serial and split over 2 and 3 threads (3 > the 2 cores here: the
    team need not match the machine)."""
    if not load_openmp():
        pytest.skip("libgomp is not available")
    kernels = [_kernel(GemmConfig(), t) for t in (1, 2, 3)]
    yield [fn for _, fn in kernels]
    del kernels


@pytest.mark.parametrize("m,n,k", [(64, 64, 64), (300, 70, 50), (70, 300, 50), (1, 4096, 80),
                                   (2000, 1, 300), (7, 129, 1000), (131, 7, 1000)])
def test_threaded_kernel_is_bit_identical(threaded_sgemms, m, n, k):
    """Rows (M >= N) or columns split over the team; every element sees the serial
    kernel's K blocking and FMA order, so the results equal the serial ones bit for bit."""
    a = RNG.standard_normal((m, k)).astype(np.float32)
    b = RNG.standard_normal((k, n)).astype(np.float32)
    outs = []
    for fn in threaded_sgemms:
        c = np.full((m, n + 3), 7.0, np.float32)  # ldc > n: the padding stays untouched
        _call(fn, a, b, c[:, :n], alpha=0.5)
        assert np.all(c[:, n:] == 7.0)
        outs.append(c[:, :n])
    np.testing.assert_allclose(outs[0], 7.0 + 0.5 * (a @ b), rtol=1e-4, atol=1e-3)
    for out in outs[1:]:
        assert np.array_equal(out, outs[0])


def _packed_kernels(cfg: GemmConfig, threads: int):
    module = ModuleOp([])
    ensure_sgemm(module, cfg, linkage="external", threads=threads)
    ensure_packed_sgemm(module, cfg, threads=threads)
    for op in module.ops:  # reachable from ctypes
        if op.sym_name.data in ("kiln_sgemm_f32_pack_b", "kiln_sgemm_f32_packed"):
            op.linkage = llvm.LinkageAttr("external")
    engine = JITEngine(module)
    pack = ctypes.CFUNCTYPE(ctypes.c_int64, *[ctypes.c_int64] * 6)(
        engine.address_of("kiln_sgemm_f32_pack_b"))
    packed = ctypes.CFUNCTYPE(None, *([ctypes.c_int64] * 14 + [ctypes.c_float]
                                      + [ctypes.c_int64] * 3))(
        engine.address_of("kiln_sgemm_f32_packed"))
    return engine, pack, packed


@pytest.mark.parametrize("cfg", [GemmConfig(), GemmConfig(vw=8, nv=2, kc=7, mc=12, nc=48)],
                         ids=["host", "tiny-blocks"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("m,n,k,tb", [(1, 1000, 300, True), (4, 1024, 256, True),
                                      (6, 64, 1, False), (97, 130, 600, False),
                                      (300, 70, 50, True), (2, 4100, 70, False)])
def test_prepacked_b_matches_the_plain_kernel(cfg, threads, m, n, k, tb):
    """B packed once (all NC x KC blocks, build_pack_b) then used by the packed kernel
    (and its row/column split over threads) gives the plain kernel's bits."""
    if threads > 1 and not load_openmp():
        pytest.skip("libgomp is not available")
    engine, pack, packed = _packed_kernels(cfg, threads)
    _, plain = _kernel(cfg)
    a = RNG.standard_normal((m, k)).astype(np.float32)
    b = RNG.standard_normal((n, k)).astype(np.float32).T if tb else \
        RNG.standard_normal((k, n)).astype(np.float32)
    isz = 4
    address = pack(n, k, b.ctypes.data, 0, b.strides[0] // isz, b.strides[1] // isz)
    got = np.zeros((m, n), np.float32)
    packed(m, n, k, a.ctypes.data, 0, k, 1, 0, 0, 0, 0, got.ctypes.data, 0, n, 0.5,
           address, 0, n)
    want = np.zeros((m, n), np.float32)
    _call(plain, a, b, want, alpha=0.5)
    ctypes.CDLL(None).free(ctypes.c_void_p(address))
    assert np.array_equal(got, want)
    np.testing.assert_allclose(got, 0.5 * (a @ b), rtol=1e-4, atol=1e-3)
    del engine


def test_model_weights_are_packed_once_and_freed():
    """A Gemm's weight is B: packed on the first call into the call site's global, reused
    by later calls (same results), freed when the model goes away."""
    w = RNG.standard_normal((40, 300)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 300])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 40])],
        [numpy_helper.from_array(w, "w")])
    model = compiler.compile(helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert "kiln_sgemm_f32_pack_b" in model.llvm_ir
    slots = model._packed_slots
    assert len(slots) == 1 and ctypes.c_int64.from_address(slots[0]).value == 0
    for rows in (1, 7, 64, 7):
        x = RNG.standard_normal((rows, 300)).astype(np.float32)
        np.testing.assert_allclose(model(x=x)[0], x @ w.T, rtol=1e-4, atol=1e-4)
        assert ctypes.c_int64.from_address(slots[0]).value != 0
    model.__del__()
    assert ctypes.c_int64.from_address(slots[0]).value == 0


def test_compile_threads_option():
    if not load_openmp():
        pytest.skip("libgomp is not available")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["y"])], "mm",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [96, 200]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [200, 150])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [96, 150])])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    a = RNG.standard_normal((96, 200)).astype(np.float32)
    b = RNG.standard_normal((200, 150)).astype(np.float32)
    one, two = compiler.compile(proto, threads=1), compiler.compile(proto, threads=2)
    assert (one.stats.threads, two.stats.threads) == (1, 2)
    assert "GOMP_parallel" in two.llvm_ir and "GOMP_parallel" not in one.llvm_ir
    assert np.array_equal(one(a=a, b=b)[0], two(a=a, b=b)[0])
    with pytest.raises(compiler.CompileError, match="threads must be a positive integer"):
        compiler.compile(proto, threads=0)


def test_kernel_writes_only_inside_c(sgemm):
    # C is a window of a larger row-major array (ldc > n): the margin stays untouched
    a = RNG.standard_normal((9, 5)).astype(np.float32)
    b = RNG.standard_normal((5, 70)).astype(np.float32)
    big = np.full((11, 90), 7.0, dtype=np.float32)
    c = big[1:10, 3:73]
    want = big.copy()
    want[1:10, 3:73] += a @ b
    _call(sgemm, a, b, c)
    np.testing.assert_allclose(big, want, rtol=1e-5, atol=1e-5)


def test_kernel_empty_sizes_are_noops(sgemm):
    c = np.ones((3, 4), np.float32)
    sgemm(0, 4, 2, 0, 0, 0, 0, 0, 0, 0, 0, c.ctypes.data, 0, 4, 1.0)
    sgemm(3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, c.ctypes.data, 0, 4, 1.0)
    assert (c == 1).all()


# ------------------------------------------------------------------ whole models


def _model(nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _vi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _run(model, **feeds):
    return compiler.compile(model)(**feeds)[0]


@pytest.mark.parametrize("a_shape,b_shape", [
    ((5, 7), (7, 3)), ((1, 1), (1, 1)), ((7,), (7, 9)), ((5, 7), (7,)),
    ((2, 3, 5, 7), (7, 9)), ((4, 1, 5, 7), (3, 7, 9)), ((3, 5, 7), (3, 7, 2)),
    ((2, 1, 70), (70, 130)), ((65, 33), (33, 67)),
])
def test_matmul_shapes(a_shape, b_shape):
    a = RNG.standard_normal(a_shape).astype(np.float32)
    b = RNG.standard_normal(b_shape).astype(np.float32)
    want = np.matmul(a, b)
    model = _model([helper.make_node("MatMul", ["a", "b"], ["y"])],
                   [_vi("a", list(a_shape)), _vi("b", list(b_shape))],
                   [_vi("y", list(want.shape))])
    np.testing.assert_allclose(_run(model, a=a, b=b), want, rtol=1e-4, atol=1e-4)


def test_matmul_dynamic_dims_one_compile():
    model = _model([helper.make_node("MatMul", ["a", "b"], ["y"])],
                   [_vi("a", ["batch", "m", 20]), _vi("b", [20, "n"])],
                   [_vi("y", ["batch", "m", "n"])])
    compiled = compiler.compile(model)
    for batch, m, n in [(1, 1, 1), (2, 7, 65), (3, 13, 4)]:
        a = RNG.standard_normal((batch, m, 20)).astype(np.float32)
        b = RNG.standard_normal((20, n)).astype(np.float32)
        np.testing.assert_allclose(compiled(a=a, b=b)[0], a @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("ta,tb,alpha,beta,act", [
    (0, 0, 1.0, 1.0, None), (1, 0, 0.5, 1.0, "Relu"), (0, 1, 1.0, 2.0, None),
    (1, 1, -1.5, 0.0, "Relu"),
])
def test_gemm_attributes_and_epilogue(ta, tb, alpha, beta, act):
    m, n, k = 9, 70, 33
    a = RNG.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = RNG.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    c = RNG.standard_normal((n,)).astype(np.float32)
    want = alpha * ((a.T if ta else a) @ (b.T if tb else b)) + beta * c
    nodes = [helper.make_node("Gemm", ["a", "b", "c"], ["g"], transA=ta, transB=tb,
                              alpha=alpha, beta=beta)]
    if act:
        nodes.append(helper.make_node(act, ["g"], ["y"]))
        want = np.maximum(want, 0)
    else:
        nodes[0].output[0] = "y"
    model = _model(nodes, [_vi("a", list(a.shape)), _vi("b", list(b.shape)),
                           _vi("c", [n])], [_vi("y", [m, n])])
    np.testing.assert_allclose(_run(model, a=a, b=b, c=c), want, rtol=1e-4, atol=1e-4)


def _conv_ref(x, w, b, stride, pad, dil):
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (h + 2 * pad - dil * (kh - 1) - 1) // stride + 1
    ow = (wd + 2 * pad - dil * (kw - 1) - 1) // stride + 1
    out = np.zeros((n, f, oh, ow), np.float64) + b[None, :, None, None]
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i * dil:i * dil + stride * oh:stride,
                       j * dil:j * dil + stride * ow:stride]
            out += np.einsum("nchw,fc->nfhw", patch, w[:, :, i, j])
    return out


@pytest.mark.parametrize("n,c,h,f,k,stride,pad,dil", [
    (1, 3, 9, 8, 3, 1, 1, 1), (2, 5, 11, 7, 3, 2, 0, 1), (1, 4, 8, 70, 1, 1, 0, 1),
    (3, 2, 10, 5, 3, 1, 2, 2),
])
def test_conv_via_im2col(n, c, h, f, k, stride, pad, dil):
    x = RNG.standard_normal((n, c, h, h)).astype(np.float32)
    w = RNG.standard_normal((f, c, k, k)).astype(np.float32)
    b = RNG.standard_normal((f,)).astype(np.float32)
    want = _conv_ref(x, w, b, stride, pad, dil)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], strides=[stride, stride],
                            pads=[pad] * 4, dilations=[dil, dil], kernel_shape=[k, k])
    model = _model([node], [_vi("x", list(x.shape)), _vi("w", list(w.shape)),
                            _vi("b", [f])], [_vi("y", list(want.shape))])
    np.testing.assert_allclose(_run(model, x=x, w=w, b=b), want, rtol=1e-4, atol=1e-4)


def test_conv_residual_relu_epilogue(cnn_proto):
    from conftest import ort_run

    feeds = {"input": RNG.standard_normal((1, 3, 16, 16)).astype(np.float32)}
    got = compiler.compile(cnn_proto)(**feeds)
    want = ort_run(cnn_proto, feeds)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ recognition


def _lowered(text: str) -> str:
    ctx = make_context()
    module = Parser(ctx, text).parse_module()
    LowerContractionsToKernelsPass().apply(ctx, module)
    LowerLinalgToLoopsPass().apply(ctx, module)
    module.verify()
    return str(module)


_GENERIC = """
func.func @f(%a: memref<{a}xf32>, %b: memref<{b}xf32>, %c: memref<{c}xf32>) {{
  linalg.generic {{indexing_maps = [{ma}, {mb}, {mc}], iterator_types = [{it}]}}
      ins(%a, %b : memref<{a}xf32>, memref<{b}xf32>) outs(%c : memref<{c}xf32>) {{
  ^bb0(%x: f32, %y: f32, %acc: f32):
    {body}
  }}
  func.return
}}
"""
_MM = "%p = arith.mulf %x, %y : f32\n    %s = arith.addf %acc, %p : f32\n    linalg.yield %s : f32"


def test_matmul_generic_becomes_a_kernel_call():
    text = _GENERIC.format(
        a="?x3", b="4x3", c="?x4", it='"parallel", "parallel", "reduction"',
        ma="affine_map<(i, j, k) -> (i, k)>", mb="affine_map<(i, j, k) -> (j, k)>",
        mc="affine_map<(i, j, k) -> (i, j)>", body=_MM)
    out = _lowered(text)
    assert "llvm.call @kiln_sgemm_f32" in out and "scf.for" not in out.split("llvm.func")[0]


@pytest.mark.parametrize("body", [
    # not a multiply-accumulate
    "%p = arith.addf %x, %y : f32\n    %s = arith.addf %acc, %p : f32\n    linalg.yield %s : f32",
    # uses a non-constant scale
    "%p = arith.mulf %x, %y : f32\n    %q = arith.mulf %p, %acc : f32\n"
    "    %s = arith.addf %acc, %q : f32\n    linalg.yield %s : f32",
])
def test_non_contraction_body_keeps_loops(body):
    text = _GENERIC.format(
        a="5x3", b="3x4", c="5x4", it='"parallel", "parallel", "reduction"',
        ma="affine_map<(i, j, k) -> (i, k)>", mb="affine_map<(i, j, k) -> (k, j)>",
        mc="affine_map<(i, j, k) -> (i, j)>", body=body)
    out = _lowered(text)
    assert "kiln_sgemm" not in out and "scf.for" in out


def test_elementwise_generic_keeps_loops():
    text = _GENERIC.format(
        a="5x4", b="5x4", c="5x4", it='"parallel", "parallel"',
        ma="affine_map<(i, j) -> (i, j)>", mb="affine_map<(i, j) -> (i, j)>",
        mc="affine_map<(i, j) -> (i, j)>", body=_MM)
    out = _lowered(text)
    assert "kiln_sgemm" not in out and "scf.for" in out
