"""MatMulInteger and QLinearMatMul through the integer GEMM kernel (8-bit operands,
per-tensor or per-column zero points), bit-exact against onnx.reference at odd sizes
(M, N, K not multiples of the tile, K tails), weights and activations as B, in the
default and the bounds-checked mode. The kernel runs vpdpbusd on VNNI hosts and the
portable path elsewhere (test/lowering/test_kernels_int8.py covers both directly)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import compiler

RNG = np.random.default_rng(11)
DT = {TensorProto.UINT8: np.uint8, TensorProto.INT8: np.int8}


def _rand(dtype, shape):
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max + 1, shape).astype(dtype)


def _matmul_integer(m, k, n, at, bt, za, zb, weight):
    b = _rand(DT[bt], (k, n))
    inputs = [helper.make_tensor_value_info("a", at, [m, k])]
    inits, names = [], ["a", "b"]
    if weight:
        inits.append(numpy_helper.from_array(b, "b"))
    else:
        inputs.append(helper.make_tensor_value_info("b", bt, [k, n]))
    if za is not None or zb is not None:
        names.append("za" if za is not None else "")
        if za is not None:
            inits.append(numpy_helper.from_array(np.array(za, DT[at]), "za"))
    if zb is not None:
        names.append("zb")
        inits.append(numpy_helper.from_array(np.array(zb, DT[bt]), "zb"))
    graph = helper.make_graph([helper.make_node("MatMulInteger", names, ["y"])], "g", inputs,
                              [helper.make_tensor_value_info("y", TensorProto.INT32, [m, n])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    feeds = {"a": _rand(DT[at], (m, k))} | ({} if weight else {"b": b})
    return model, feeds


@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (5, 7, 3), (33, 65, 17), (70, 130, 97)])
@pytest.mark.parametrize("at,bt", [(TensorProto.UINT8, TensorProto.INT8),
                                   (TensorProto.INT8, TensorProto.INT8),
                                   (TensorProto.UINT8, TensorProto.UINT8)],
                         ids=["u8s8", "s8s8", "u8u8"])
@pytest.mark.parametrize("zps", ["none", "tensor", "column"])
@pytest.mark.parametrize("weight", [True, False], ids=["weight", "activation"])
def test_matmul_integer(m, k, n, at, bt, zps, weight):
    za = None if zps == "none" else 3
    zb = {"none": None, "tensor": 200 if bt == TensorProto.UINT8 else -5,
          "column": list(range(-(n // 2), n - n // 2))}[zps]
    if zb is not None and bt == TensorProto.UINT8 and zps == "column":
        zb = [v + 128 for v in zb]
    model, feeds = _matmul_integer(m, k, n, at, bt, za, zb, weight)
    want = ReferenceEvaluator(model).run(None, feeds)[0]
    got = compiler.compile(model, cache=False, quiet=True)(**feeds)[0]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("m,k,n", [(7, 300, 33), (64, 64, 64)])
def test_matmul_integer_bounds_mode(m, k, n):
    model, feeds = _matmul_integer(m, k, n, TensorProto.UINT8, TensorProto.INT8, 9,
                                   list(range(n)), True)
    want = ReferenceEvaluator(model).run(None, feeds)[0]
    got = compiler.compile(model, checks="bounds", cache=False, quiet=True)(**feeds)[0]
    np.testing.assert_array_equal(got, want)


def test_matmul_integer_calls_the_integer_kernel():
    model, _ = _matmul_integer(8, 64, 32, TensorProto.UINT8, TensorProto.INT8, 3, -5, False)
    ir = compiler.compile(model, cache=False, quiet=True).llvm_ir
    assert "@kiln_igemm_u8s8" in ir and "kiln_sgemm" not in ir


@pytest.mark.parametrize("m,k,n", [(5, 19, 7), (40, 100, 33)])
def test_qlinear_matmul(m, k, n):
    a, b = _rand(np.uint8, (m, k)), _rand(np.int8, (k, n))
    inits = [numpy_helper.from_array(v, name) for v, name in [
        (np.array(0.02, np.float32), "sa"), (np.array(130, np.uint8), "za"),
        (b, "b"), (np.array(0.01, np.float32), "sb"), (np.array(-3, np.int8), "zb"),
        (np.array(0.7, np.float32), "sy"), (np.array(120, np.uint8), "zy")]]
    node = helper.make_node("QLinearMatMul", ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"],
                            ["y"])
    graph = helper.make_graph([node], "g",
                              [helper.make_tensor_value_info("a", TensorProto.UINT8, [m, k])],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, [m, n])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    want = ReferenceEvaluator(model).run(None, {"a": a})[0]
    got = compiler.compile(model, cache=False, quiet=True)(a=a)[0]
    np.testing.assert_array_equal(got, want)
