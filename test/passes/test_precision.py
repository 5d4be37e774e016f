"""compile(precision="fp16"): f16 weights, f32 arithmetic, against onnxruntime in f32;
the precision API's checks, stats and cache key; the calibration observers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import ort_run

import compiler
from compiler import calibration
from compiler.errors import CompileError

MODELS = Path(__file__).resolve().parents[2] / "examples" / "models"


def _feeds(proto: onnx.ModelProto, batch: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    inits = {i.name for i in proto.graph.initializer}
    for i in proto.graph.input:
        if i.name in inits:
            continue
        dims = [d.dim_value if d.dim_value else batch for d in i.type.tensor_type.shape.dim]
        feeds[i.name] = rng.standard_normal(dims).astype(np.float32)
    return feeds


def _relative(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))


@pytest.mark.parametrize("name,checks", [("mlp", None), ("cnn", None),
                                         ("resnet18", "shapes")])
def test_fp16_halves_weights_and_stays_within_1e_2(name, checks):
    path = str(MODELS / f"{name}.onnx")
    proto = onnx.load(path)
    model = compiler.compile(path, precision="fp16", checks=checks, cache=False)
    stats = model.stats
    assert stats.precision == "fp16"
    assert stats.weight_bytes * 2 == stats.weight_bytes_fp32 > 0
    assert "fp16-weights" in stats.op_precisions
    feeds = _feeds(proto)
    for got, want in zip(model(**feeds), ort_run(proto, feeds), strict=True):
        assert got.dtype == np.float32
        assert _relative(got, want) < 1e-2


def test_fp32_stats_report_weight_bytes(mlp_proto):
    model = compiler.compile(mlp_proto, cache=False)
    total = sum(onnx.numpy_helper.to_array(t).nbytes for t in mlp_proto.graph.initializer)
    assert model.stats.precision == "fp32"
    assert model.stats.weight_bytes == model.stats.weight_bytes_fp32 == total


def test_fp16_cache_entry_is_its_own(tmp_path, monkeypatch, mlp_proto):
    monkeypatch.setenv("KILN_CACHE_DIR", str(tmp_path))
    f32 = compiler.compile(mlp_proto, cache=True)
    f16 = compiler.compile(mlp_proto, cache=True, precision="fp16")
    assert f32.stats.cache == f16.stats.cache == "miss"
    again = compiler.compile(mlp_proto, cache=True, precision="fp16")
    assert again.stats.cache == "hit"
    assert again.stats.weight_bytes == f16.stats.weight_bytes
    assert again.stats.op_precisions == f16.stats.op_precisions


def test_calibration_digest_tells_samples_apart():
    a = [(np.zeros((1, 3), np.float32),)]
    b = [(np.ones((1, 3), np.float32),)]
    assert calibration.samples_digest(a) != calibration.samples_digest(b)
    assert calibration.samples_digest(a) == calibration.samples_digest(
        [(np.zeros((1, 3), np.float32),)])


@pytest.mark.parametrize("kwargs,message", [
    ({"precision": "int4"}, "unknown precision 'int4'"),
    ({"precision": "int8"}, "needs calibration="),
    ({"precision": "fp16", "calibration": [()]}, "does not use it"),
    ({"precision": "int8", "calibration": []}, "calibration is empty"),
    ({"precision": "int8", "calibration": 3}, "must be an iterable"),
    ({"precision": "int8", "calibration": [(np.zeros(2),)], "calibration_method": "avg"},
     "unknown calibration_method 'avg'"),
])
def test_precision_argument_errors(mlp_proto, kwargs, message):
    with pytest.raises(CompileError, match=message):
        compiler.compile(mlp_proto, cache=False, **kwargs)


def test_observers():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(100_000).astype(np.float32)
    x[0] = 40.0  # one outlier
    ranges = {}
    for method, make in calibration.OBSERVERS.items():
        obs = make()
        obs.update(x[:50_000])
        obs.update(x[50_000:] * 1.5)  # a wider second batch re-bins the histogram
        ranges[method] = obs.range()
    lo, hi = ranges["minmax"]
    assert hi == 40.0 and lo == pytest.approx(float(min(x[:50_000].min(),
                                                        (x[50_000:] * 1.5).min())))
    for method in ("percentile", "entropy"):
        plo, phi = ranges[method]
        assert 2.0 < phi < 40.0 and -40.0 < plo < -2.0, (method, plo, phi)


def test_fp16_keeps_weights_out_of_f16_range_in_f32(tmp_path):
    from onnx import TensorProto, helper, numpy_helper
    w = np.full((4, 3), 1e5, np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "big",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [numpy_helper.from_array(w, "w")])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model = compiler.compile(proto, precision="fp16", cache=False)
    x = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(model(x)[0], x @ w)
    assert model.stats.weight_bytes == w.nbytes
    assert os.path.exists(MODELS)
