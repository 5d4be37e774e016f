"""Real-model acceptance set: PyTorch-exported models compiled by Kiln vs onnxruntime.

The models are examples/models/{resnet18,mobilenetv2,lstm,gru,bert,bert_static,gpt2}.onnx,
written by examples/make_torch_models.py (random seeded weights, TorchScript exporter,
opset 17); see examples/README.md for their inputs, dynamic axes and ONNX ops. Each model
is compiled once per module; models with dynamic axes are run at several shapes from that
one compile.

These tests need neither torch nor the script, only the committed .onnx files
(test_script_reproduces_committed_model re-exports them when torch is installed).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import ort_run

import compiler

RTOL, ATOL = 1e-4, 1e-5
MODELS_DIR = str(Path(__file__).resolve().parents[2] / "examples" / "models")
VOCAB = 1000  # bert / gpt2 vocabulary size in make_torch_models.py


def _load(name: str) -> onnx.ModelProto:
    return onnx.load(os.path.join(MODELS_DIR, f"{name}.onnx"))


def _compile(name: str):
    return compiler.compile(os.path.join(MODELS_DIR, f"{name}.onnx"))


def _check(model, proto: onnx.ModelProto, feeds: dict[str, np.ndarray],
           shapes: list[tuple[int, ...]]) -> None:
    got = model.run(feeds)
    want = ort_run(proto, feeds)
    names = [o.name for o in proto.graph.output]
    assert list(got) == names
    for name, shape, w in zip(names, shapes, want, strict=True):
        assert got[name].shape == shape == w.shape, name
        np.testing.assert_allclose(got[name], w, rtol=RTOL, atol=ATOL, err_msg=name)


def _token_feeds(batch: int, seq: int, mask: bool) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(batch * 100 + seq)
    feeds = {"input_ids": rng.integers(0, VOCAB, size=(batch, seq), dtype=np.int64)}
    if mask:
        attention = np.ones((batch, seq), dtype=np.int64)
        for row in range(1, batch):  # right padding on every row but the first
            attention[row, max(1, seq - 2 * row):] = 0
        feeds["attention_mask"] = attention
    return feeds


# ------------------------------------------------------------------------- the models


@pytest.fixture(scope="module")
def resnet18():
    return _compile("resnet18")


@pytest.fixture(scope="module")
def mobilenetv2():
    return _compile("mobilenetv2")


@pytest.fixture(scope="module")
def lstm():
    return _compile("lstm")


@pytest.fixture(scope="module")
def gru():
    return _compile("gru")


@pytest.fixture(scope="module")
def bert():
    return _compile("bert")


@pytest.fixture(scope="module")
def bert_static():
    return _compile("bert_static")


@pytest.fixture(scope="module")
def gpt2():
    return _compile("gpt2")


def _image(batch: int) -> np.ndarray:
    return np.random.default_rng(batch).standard_normal((batch, 3, 64, 64)).astype(np.float32)


@pytest.mark.parametrize("batch", [1, 2])
def test_resnet18_matches_onnxruntime(resnet18, batch):
    _check(resnet18, _load("resnet18"), {"input": _image(batch)}, [(batch, 100)])


@pytest.mark.parametrize("batch", [1, 2])
def test_mobilenetv2_matches_onnxruntime(mobilenetv2, batch):
    _check(mobilenetv2, _load("mobilenetv2"), {"input": _image(batch)}, [(batch, 100)])


RNN_SHAPES = [(5, 1), (7, 2), (3, 4)]  # (seq, batch)


def _sequence(seq: int, batch: int) -> np.ndarray:
    return np.random.default_rng(seq * 10 + batch).standard_normal(
        (seq, batch, 16)).astype(np.float32)


@pytest.mark.parametrize(("seq", "batch"), RNN_SHAPES)
def test_lstm_matches_onnxruntime_for_any_seq_and_batch(lstm, seq, batch):
    _check(lstm, _load("lstm"), {"input": _sequence(seq, batch)}, [(seq, batch, 10)])


@pytest.mark.parametrize(("seq", "batch"), RNN_SHAPES)
def test_gru_matches_onnxruntime_for_any_seq_and_batch(gru, seq, batch):
    _check(gru, _load("gru"), {"input": _sequence(seq, batch)}, [(seq, batch, 10)])


TOKEN_SHAPES = [(1, 8), (2, 16), (3, 5)]  # (batch, seq)


@pytest.mark.parametrize(("batch", "seq"), TOKEN_SHAPES)
def test_bert_matches_onnxruntime_for_any_batch_and_seq(bert, batch, seq):
    _check(bert, _load("bert"), _token_feeds(batch, seq, mask=True),
           [(batch, seq, 64), (batch, 64)])


def test_bert_signature_is_dynamic(bert):
    assert [(s.name, s.shape, s.dtype) for s in bert.inputs] == [
        ("input_ids", ("batch", "seq"), np.int64),
        ("attention_mask", ("batch", "seq"), np.int64)]


def test_bert_static_matches_onnxruntime(bert_static):
    _check(bert_static, _load("bert_static"), _token_feeds(1, 16, mask=True),
           [(1, 16, 64), (1, 64)])


@pytest.mark.parametrize(("batch", "seq"), TOKEN_SHAPES)
def test_gpt2_matches_onnxruntime_for_any_batch_and_seq(gpt2, batch, seq):
    _check(gpt2, _load("gpt2"), _token_feeds(batch, seq, mask=False), [(batch, seq, VOCAB)])


# ------------------------------------------------------------- the files themselves

DYNAMIC = {  # model -> {input: dims}, as exported
    "resnet18": {"input": ["batch", 3, 64, 64]},
    "mobilenetv2": {"input": ["batch", 3, 64, 64]},
    "lstm": {"input": ["seq", "batch", 16]},
    "gru": {"input": ["seq", "batch", 16]},
    "bert": {"input_ids": ["batch", "seq"], "attention_mask": ["batch", "seq"]},
    "bert_static": {"input_ids": [1, 16], "attention_mask": [1, 16]},
    "gpt2": {"input_ids": ["batch", "seq"]},
}


@pytest.mark.parametrize("name", list(DYNAMIC))
def test_committed_model_is_valid_opset17_with_expected_inputs(name):
    proto = _load(name)
    onnx.checker.check_model(proto, full_check=True)
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [17]
    inputs = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
              for i in proto.graph.input}
    assert inputs == DYNAMIC[name]
    assert os.path.getsize(os.path.join(MODELS_DIR, f"{name}.onnx")) < 6_000_000


@pytest.mark.parametrize("name", list(DYNAMIC))
def test_script_reproduces_committed_model(name):
    pytest.importorskip("torch")
    from examples.make_torch_models import export

    fresh, committed = export(name, check=False), _load(name)
    assert [n.op_type for n in fresh.graph.node] == [n.op_type for n in committed.graph.node]
    fresh_weights = {t.name: onnx.numpy_helper.to_array(t) for t in fresh.graph.initializer}
    committed_weights = {t.name: onnx.numpy_helper.to_array(t)
                         for t in committed.graph.initializer}
    assert fresh_weights.keys() == committed_weights.keys()
    for key, value in committed_weights.items():
        np.testing.assert_allclose(fresh_weights[key], value, rtol=1e-6, atol=0, err_msg=key)
