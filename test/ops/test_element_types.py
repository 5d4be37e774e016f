"""Element types end to end: Cast between every pair of Kiln's element types (bf16, the
float8 types, float4e2m1 and the 4-/2-bit integers included) and BitCast, through the JIT,
bit for bit against onnx.reference over edge values (NaN, inf, largest finite values,
subnormals, ties, overflow) with saturate on and off and every float8e8m0 round_mode.

One model per source type holds a Cast to every target, so each source compiles once.
"""

from __future__ import annotations

import warnings

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import helper
from onnx.reference import ReferenceEvaluator

import compiler
from dialects.graph import ELEMENT_TYPES

F8 = ["float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz"]
MINIFLOATS = [*F8, "float8_e8m0fnu", "float4_e2m1fn"]
FLOATS = ["float16", "bfloat16", "float32", "float64"]
STANDARD_INTS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
SUB_BYTE = ["int4", "uint4", "int2", "uint2"]
TYPES = [*FLOATS, *STANDARD_INTS, "bool", *SUB_BYTE, *MINIFLOATS]
assert set(TYPES) == set(ELEMENT_TYPES)

EDGES = [0.0, -0.0, 1.0, -1.0, 0.5, 1.5, 2.5, -2.5, 7.4, 7.5, 8.0, 8.5, -8.5, -9.0, 15.5,
         16.0, 20.0, 100.0, 127.5, 255.5, 1e10, -1e10, 3.5, -3.5, 5.0, 0.25, 0.75, 0.26,
         240.0, 247.0, 248.0, 448.0, 464.0, 465.0, 470.0, 480.0, 57344.0, 61439.0, 61440.0,
         65504.0, 65520.0, 1e5, 2.0**-7, 2.0**-9, 2.0**-10, 2.0**-11, 1.5 * 2.0**-10,
         2.0**-14, 2.0**-16, 2.0**-17, 2.0**-18, 1.5 * 2.0**-17, 2.0**-127, 2.0**-149,
         2.0**127, 3.0 * 2.0**126, 1.0625, 1.1875, 1e-7, -1e-7, float("nan"),
         float("inf"), float("-inf"), 3.4e38, -3.4e38]


def dtype(name: str) -> np.dtype:
    return np.dtype(getattr(ml_dtypes, name, name))


def inputs_of(src: str) -> np.ndarray:
    """Edge values of type `src`: every bit pattern of a minifloat, many for floats."""
    rng = np.random.default_rng(0)
    dt = dtype(src)
    if src in MINIFLOATS:
        codes = np.arange(16 if src == "float4_e2m1fn" else 256, dtype=np.uint8)
        return codes.view(dt)
    if src == "bool":
        return np.array([False, True, True, False])
    if src in STANDARD_INTS or src in SUB_BYTE:
        info = ml_dtypes.iinfo(dt)
        values = [*range(-20, 40), info.min, info.max, -129, 128, 255, 256, 65535, 2**31,
                  -2**31, 2**24 + 1, 2**53 + 1, -2**53 - 1, 2**63 - 1, -2**63, 300, 1000]
        kept = [v for v in values if info.min <= v <= info.max]
        return np.array(kept, np.uint64 if info.min == 0 else np.int64).astype(dt)
    values = np.array(EDGES, np.float64)
    values = np.concatenate([values, rng.uniform(-600, 600, 500), rng.uniform(-2, 2, 500),
                             np.exp2(rng.uniform(-20, 17, 500))])
    if src == "float32":
        halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)
        bits = rng.integers(0, 1 << 32, 20000, dtype=np.uint64).astype(np.uint32)
        return np.concatenate([values.astype(np.float32), halves, bits.view(np.float32)])
    if src == "float64":
        nudged = np.concatenate([np.nextafter(values, np.inf), np.nextafter(values, -np.inf)])
        return np.concatenate([values, nudged])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return values.astype(dt)


def targets(src: str) -> list[tuple[str, dict]]:
    """(target, Cast attributes) of the model for `src`."""
    out: list[tuple[str, dict]] = []
    for dst in TYPES:
        if dst == src:
            continue
        out.append((dst, {}))
        if dst in F8:
            out.append((dst, {"saturate": 0}))
        if dst == "float8_e8m0fnu":
            out += [(dst, {"saturate": s, "round_mode": m}) for s in (0, 1)
                    for m in ("up", "down", "nearest")]
    return out


def cast_model(src: str, casts: list[tuple[str, dict]], n: int) -> onnx.ModelProto:
    to = {d: helper.np_dtype_to_tensor_dtype(dtype(d)) for d, _ in casts}
    nodes = [helper.make_node("Cast", ["x"], [f"y{i}"], to=to[d], **attrs)
             for i, (d, attrs) in enumerate(casts)]
    graph = helper.make_graph(
        nodes, "casts",
        [helper.make_tensor_value_info("x", helper.np_dtype_to_tensor_dtype(dtype(src)), [n])],
        [helper.make_tensor_value_info(f"y{i}", to[d], [n]) for i, (d, _) in enumerate(casts)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 25)])


def comparable(src: str, dst: str, x: np.ndarray) -> np.ndarray:
    """The elements whose result ONNX defines: numpy's float -> 8..64-bit int conversion
    of NaN, inf or an out-of-range value is platform-defined (Kiln saturates)."""
    if dst not in STANDARD_INTS or src in STANDARD_INTS or src in ("bool", *SUB_BYTE):
        return np.ones(x.shape, bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = np.trunc(x.astype(np.float64))
        info = np.iinfo(dtype(dst))
        return np.isfinite(t) & (t >= float(info.min)) & (t < float(info.max) + 1)


def assert_same(src: str, dst: str, attrs: dict, x: np.ndarray, got: np.ndarray,
                expected: np.ndarray) -> None:
    what = f"Cast {src} -> {dst} {attrs}"
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype}, expected {expected.dtype}"
    keep = comparable(src, dst, x)
    x, got, expected = x[keep], got[keep], expected[keep]
    if dst in FLOATS or dst in MINIFLOATS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g_nan, e_nan = np.isnan(got.astype(np.float32)), np.isnan(expected.astype(np.float32))
        unsigned = f"u{got.dtype.itemsize}"
        bad = (g_nan != e_nan) | (~e_nan & (got.view(unsigned) != expected.view(unsigned)))
    else:
        bad = got != expected
    if bad.any():
        i = np.flatnonzero(bad)[:8]
        pytest.fail(f"{what}: {int(bad.sum())} of {bad.size} differ, e.g. x={x[i]} "
                    f"got={got[i]} expected={expected[i]}")


@pytest.mark.parametrize("src", TYPES)
def test_cast_every_target(src):
    x = inputs_of(src)
    casts = targets(src)
    model = cast_model(src, casts, x.size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = ReferenceEvaluator(model).run(None, {"x": x})
    got = compiler.compile(model)(x)
    for (dst, attrs), g, e in zip(casts, got, expected, strict=True):
        assert_same(src, dst, attrs, x, g, np.asarray(e))


@pytest.mark.parametrize(("src", "dst"), [
    ("float32", "int32"), ("int32", "float32"), ("float64", "uint64"), ("uint16", "float16"),
    ("bfloat16", "int16"), ("float8_e4m3fn", "uint8"), ("int8", "float8_e5m2"),
    ("bool", "uint8"), ("uint8", "bool")])
def test_bitcast(src, dst):
    x = inputs_of(src)
    to = helper.np_dtype_to_tensor_dtype(dtype(dst))
    node = helper.make_node("BitCast", ["x"], ["y"], to=to)
    graph = helper.make_graph(
        [node], "bitcast",
        [helper.make_tensor_value_info("x", helper.np_dtype_to_tensor_dtype(x.dtype), [x.size])],
        [helper.make_tensor_value_info("y", to, [x.size])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 26)])
    (got,) = compiler.compile(model)(x)
    if dst == "bool":  # a byte other than 0/1 is not a numpy bool: BitCast reads it as != 0
        np.testing.assert_array_equal(got, x != 0)
        return
    (expected,) = ReferenceEvaluator(model).run(None, {"x": x})
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got.view(np.uint8), expected.view(np.uint8))


def test_bitcast_sizes_must_match():
    node = helper.make_node("BitCast", ["x"], ["y"], to=onnx.TensorProto.INT64)
    graph = helper.make_graph(
        [node], "bitcast", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.INT64, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 26)])
    with pytest.raises(Exception, match="same bit-width|one size"):
        compiler.compile(model)
