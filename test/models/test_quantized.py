"""compile(precision="int8" / "int8-dynamic"): static post-training quantization calibrated
on a few random inputs, dynamic quantization of matmuls, and QDQ models written by
onnxruntime's quantizer, against onnxruntime (float32, and the QDQ model itself)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import compiler

MODELS = Path(__file__).resolve().parents[2] / "examples" / "models"


def _images(shape: tuple[int, ...], seeds) -> list[dict[str, np.ndarray]]:
    return [{"input": np.random.default_rng(s).standard_normal(shape).astype(np.float32)}
            for s in seeds]


def _agreement(got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
    """(cosine similarity, top-1 agreement over the rows)."""
    g, w = got.reshape(-1).astype(np.float64), want.reshape(-1).astype(np.float64)
    cosine = float(g @ w / (np.linalg.norm(g) * np.linalg.norm(w)))
    top1 = float(np.mean(got.reshape(got.shape[0], -1).argmax(-1)
                         == want.reshape(want.shape[0], -1).argmax(-1)))
    return cosine, top1


def _ort(path: str, feeds: dict[str, np.ndarray], optimized: bool = True) -> np.ndarray:
    options = ort.SessionOptions()
    if not optimized:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"]).run(
        None, feeds)[0]


@pytest.mark.parametrize("name,shape,checks", [("cnn", (1, 3, 16, 16), None),
                                               ("resnet18", (1, 3, 64, 64), "shapes")])
def test_int8_static_matches_float32(name, shape, checks):
    path = str(MODELS / f"{name}.onnx")
    model = compiler.compile(path, precision="int8", calibration=_images(shape, range(4)),
                             checks=checks, cache=False)
    stats = model.stats
    assert stats.precision == "int8"
    assert stats.weight_bytes < 0.3 * stats.weight_bytes_fp32
    assert stats.op_precisions["int8"]["graph.conv_integer"] >= 2
    for feeds in _images(shape, range(100, 103)):  # held back from calibration
        cosine, top1 = _agreement(model(**feeds)[0], _ort(path, feeds))
        assert cosine >= 0.99 and top1 == 1.0


def test_int8_dynamic_mlp():
    path = str(MODELS / "mlp.onnx")
    model = compiler.compile(path, precision="int8-dynamic", cache=False)
    assert model.stats.op_precisions["int8"]["graph.matmul_integer"] == 3
    assert model.stats.weight_bytes < 0.3 * model.stats.weight_bytes_fp32
    for batch in (1, 5):  # the activation range is measured per call
        x = np.random.default_rng(batch).standard_normal((batch, 32)).astype(np.float32)
        cosine, _ = _agreement(model(x)[0], _ort(path, {"x": x}))
        assert cosine >= 0.99


# --------------------------------------------------------------------------- QDQ models


def _float_model(path: Path) -> None:
    """conv -> relu -> reshape -> matmul + bias: small, and every part quantizable."""
    rng = np.random.default_rng(0)
    inits = {"W": rng.standard_normal((8, 3, 3, 3)) * 0.3, "B": rng.standard_normal(8) * 0.1,
             "M": rng.standard_normal((288, 10)) * 0.05, "MB": rng.standard_normal(10) * 0.1}
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Reshape", ["r", "shape"], ["f"]),
             helper.make_node("MatMul", ["f", "M"], ["m"]),
             helper.make_node("Add", ["m", "MB"], ["y"])]
    graph = helper.make_graph(
        nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [*[numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()],
         numpy_helper.from_array(np.array([1, -1], np.int64), "shape")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def _inputs(seeds) -> list[dict[str, np.ndarray]]:
    return [{"x": np.random.default_rng(s).standard_normal((1, 3, 8, 8)).astype(np.float32)}
            for s in seeds]


@pytest.fixture(scope="module")
def small_models(tmp_path_factory) -> tuple[str, str]:
    """(float model, the QDQ model onnxruntime's quantize_static writes for it)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(_inputs(range(8)))

        def get_next(self):
            return next(self.items, None)

    d = tmp_path_factory.mktemp("qdq")
    _float_model(d / "float.onnx")
    quantize_static(str(d / "float.onnx"), str(d / "qdq.onnx"), Reader(),
                    quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return str(d / "float.onnx"), str(d / "qdq.onnx")


def test_ort_qdq_model_runs_as_integer_ops(small_models):
    _, qdq = small_models
    model = compiler.compile(qdq, precision="int8", cache=False)
    int8 = model.stats.op_precisions["int8"]
    assert int8["graph.conv_integer"] == 1 and int8["graph.matmul_integer"] == 1
    assert int8["graph.requantize"] == 2
    assert "graph.conv" not in model.stats.op_precisions.get("fp32", {})
    y_scale = float(numpy_helper.to_array(next(
        i for i in onnx.load(qdq).graph.initializer if i.name == "y_scale")))
    for feeds in _inputs(range(20, 24)):
        got = model(**feeds)[0]
        # the QDQ semantics (onnxruntime unoptimized) to within one output step ...
        assert np.abs(got - _ort(qdq, feeds, optimized=False)).max() <= 1.01 * y_scale
        # ... and onnxruntime's own integer kernels within the few steps they differ by
        assert np.abs(got - _ort(qdq, feeds)).max() <= 8 * y_scale


@pytest.mark.parametrize("method", ["minmax", "percentile", "entropy"])
def test_int8_calibration_methods(small_models, method):
    path, _ = small_models
    model = compiler.compile(path, precision="int8", calibration=_inputs(range(8)),
                             calibration_method=method, cache=False)
    assert model.stats.op_precisions["int8"]["graph.requantize"] == 1  # the conv's
    # entropy clips the tails on purpose; on 8 tiny samples it clips the most
    bound = 0.95 if method == "entropy" else 0.99
    for feeds in _inputs(range(30, 33)):
        cosine, _ = _agreement(model(**feeds)[0], _ort(path, feeds))
        assert cosine >= bound


def test_int8_calibration_tuples_dicts_and_cache(small_models, tmp_path, monkeypatch):
    path, _ = small_models
    monkeypatch.setenv("KILN_CACHE_DIR", str(tmp_path))
    dicts = _inputs(range(4))
    tuples = [(d["x"],) for d in dicts]
    a = compiler.compile(path, precision="int8", calibration=dicts, cache=True)
    again = compiler.compile(path, precision="int8", calibration=_inputs(range(4)), cache=True)
    assert a.stats.cache == "miss" and again.stats.cache == "hit"  # same data, same key
    b = compiler.compile(path, precision="int8", calibration=tuples, cache=False)
    c = compiler.compile(path, precision="int8", calibration=_inputs(range(4, 8)), cache=True)
    assert c.stats.cache == "miss"
    x = _inputs([40])[0]["x"]
    np.testing.assert_array_equal(a(x)[0], b(x)[0])


def test_int8_calibration_sample_that_does_not_fit(small_models):
    path, _ = small_models
    with pytest.raises(compiler.CompileError, match="calibration sample 0 does not fit"):
        compiler.compile(path, precision="int8", cache=False,
                         calibration=[(np.zeros((1, 3, 4, 4), np.float32),)])


def test_int8_without_calibration_needs_a_quantized_model(small_models):
    path, _ = small_models
    with pytest.raises(compiler.CompileError, match="needs calibration="):
        compiler.compile(path, precision="int8", cache=False)


def test_results_that_alias_survive_repeated_calls(tmp_path):
    """Calibration returns a value and its reshape (a view of the same buffer): the
    prepared call path must copy both before freeing that buffer."""
    path = tmp_path / "alias.mlir"
    path.write_text("""
func.func @main(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<6xf32>) {
  %r = graph.relu %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %f = graph.reshape %r {shape = array<i64: 6>} : (tensor<2x3xf32>) -> tensor<6xf32>
  func.return %r, %f : tensor<2x3xf32>, tensor<6xf32>
}
""")
    model = compiler.compile(str(path), cache=False)
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    for _ in range(3):
        r, f = model(x)
        np.testing.assert_array_equal(f, np.maximum(x, 0).reshape(-1))


def test_int8_dynamic_bert():
    path = str(MODELS / "bert.onnx")
    model = compiler.compile(path, precision="int8-dynamic", checks="shapes", cache=False)
    assert model.stats.op_precisions["int8"]["graph.matmul_integer"] >= 8
    rng = np.random.default_rng(0)
    feeds = {"input_ids": rng.integers(0, 1000, size=(2, 8), dtype=np.int64),
             "attention_mask": np.ones((2, 8), dtype=np.int64)}
    for got, want in zip(model(**feeds), ort_run_path(path, feeds), strict=True):
        cosine, _ = _agreement(got, want)
        assert cosine >= 0.99


def ort_run_path(path: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feeds)
