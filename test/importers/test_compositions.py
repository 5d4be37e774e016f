"""Ops imported as compositions (compiler/importers/onnx/compositions.py): Attention,
RotaryEmbedding, NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss — numerically through
the JIT against onnx.reference."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from conftest import ort_run
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import compiler

F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
RNG = np.random.default_rng(0)


def _check(op: str, inputs: dict[str, tuple[int, np.ndarray]], outputs: list[str],
           opset: int, rtol=1e-4, atol=1e-5, ort: bool = False, **attrs) -> None:
    """Compare with onnx.reference, or with onnxruntime when `ort` (the reference's
    NegativeLogLikelihoodLoss counts ignored targets in a mean when ignore_index = -1)."""
    names = [n if n in inputs else "" for n in _INPUT_ORDER[op]]
    while names and not names[-1]:
        names.pop()
    node = helper.make_node(op, names, outputs, **attrs)
    outputs = [o for o in outputs if o]

    def model(shapes) -> onnx.ModelProto:
        graph = helper.make_graph(
            [node], "g",
            [helper.make_tensor_value_info(n, t, a.shape) for n, (t, a) in inputs.items()],
            [helper.make_tensor_value_info(o, F, s) for o, s in zip(outputs, shapes,
                                                                     strict=True)])
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])

    feeds = {n: a for n, (_, a) in inputs.items()}
    want = ReferenceEvaluator(model([None] * len(outputs))).run(None, feeds)
    model = model([w.shape for w in want])
    if ort:
        want = ort_run(model, feeds)
    got = compiler.compile(model)(**feeds)
    assert len(got) == len(want)
    for g_, w in zip(got, want, strict=True):
        assert g_.shape == w.shape
        np.testing.assert_allclose(g_, w, rtol=rtol, atol=atol)


_INPUT_ORDER = {
    "Attention": ["Q", "K", "V", "attn_mask", "past_key", "past_value", "nonpad_kv_seqlen"],
    "RotaryEmbedding": ["X", "cos", "sin", "position_ids"],
    "NegativeLogLikelihoodLoss": ["X", "target", "weight"],
    "SoftmaxCrossEntropyLoss": ["X", "target", "weight"],
    "LpNormalization": ["X"],
}


def _f(*shape) -> tuple[int, np.ndarray]:
    return F, RNG.standard_normal(shape).astype(np.float32)


# --------------------------------------------------------------------------- Attention


@pytest.mark.parametrize("attrs", [{}, {"is_causal": 1}, {"scale": 0.3}, {"softcap": 2.0}])
def test_attention_4d(attrs):
    _check("Attention", {"Q": _f(2, 3, 4, 8), "K": _f(2, 3, 6, 8), "V": _f(2, 3, 6, 5)},
           ["Y"], 23, **attrs)


def test_attention_3d_gqa_with_past_mask_and_all_outputs():
    mask = _f(4, 18)
    _check("Attention", {"Q": _f(2, 4, 72), "K": _f(2, 6, 24), "V": _f(2, 6, 24),
                         "attn_mask": mask, "past_key": _f(2, 3, 12, 8),
                         "past_value": _f(2, 3, 12, 8)},
           ["Y", "present_key", "present_value", "qk"], 23, q_num_heads=9, kv_num_heads=3,
           is_causal=1, qk_matmul_output_mode=2)


@pytest.mark.parametrize("mode", [0, 1, 3])
def test_attention_bool_mask_fully_masked_row(mode):
    mask = np.ones((4, 6), bool)
    mask[1] = False  # a query that may attend nothing: its row is zero
    mask[2, :3] = False
    _check("Attention", {"Q": _f(1, 2, 4, 8), "K": _f(1, 2, 6, 8), "V": _f(1, 2, 6, 8),
                         "attn_mask": (B, mask)}, ["Y", "", "", "qk"], 23,
           qk_matmul_output_mode=mode)


def test_attention_short_mask_is_padded():
    _check("Attention", {"Q": _f(1, 2, 3, 4), "K": _f(1, 2, 5, 4), "V": _f(1, 2, 5, 4),
                         "attn_mask": _f(2, 3, 3)}, ["Y"], 23)


def test_attention_nonpad_kv_seqlen_causal():
    nonpad = (I64, np.array([6, 3, 1], np.int64))
    _check("Attention", {"Q": _f(3, 2, 2, 8), "K": _f(3, 2, 6, 8), "V": _f(3, 2, 6, 8),
                         "nonpad_kv_seqlen": nonpad}, ["Y"], 24, is_causal=1)


# --------------------------------------------------------------------------- RotaryEmbedding


@pytest.mark.parametrize("interleaved", [0, 1])
@pytest.mark.parametrize("rotary_dim", [0, 4])
def test_rotary_embedding_4d_with_positions(interleaved, rotary_dim):
    half = (rotary_dim or 8) // 2
    pos = (I64, RNG.integers(0, 10, (2, 3)).astype(np.int64))
    _check("RotaryEmbedding", {"X": _f(2, 4, 3, 8), "cos": _f(10, half), "sin": _f(10, half),
                               "position_ids": pos}, ["Y"], 23, interleaved=interleaved,
           rotary_embedding_dim=rotary_dim)


def test_rotary_embedding_3d_without_positions():
    _check("RotaryEmbedding", {"X": _f(2, 3, 12), "cos": _f(2, 3, 3), "sin": _f(2, 3, 3)},
           ["Y"], 23, num_heads=2)


# --------------------------------------------------------------------------- losses


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_index", [None, -1, 2])
def test_nll_loss(reduction, weighted, ignore_index):
    target = RNG.integers(0, 5, (3, 2, 4)).astype(np.int64)
    if ignore_index is not None:
        target[0, 1, :2] = ignore_index
    inputs = {"X": _f(3, 5, 2, 4), "target": (I64, target)}
    if weighted:
        inputs["weight"] = (F, RNG.random(5).astype(np.float32))
    attrs = {} if ignore_index is None else {"ignore_index": ignore_index}
    _check("NegativeLogLikelihoodLoss", inputs, ["loss"], 13, ort=True, reduction=reduction,
           **attrs)


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_softmax_cross_entropy_loss_with_log_prob(reduction):
    target = RNG.integers(0, 4, (3, 6)).astype(np.int64)
    target[1, 2] = -3
    _check("SoftmaxCrossEntropyLoss", {"X": _f(3, 4, 6), "target": (I64, target),
                                       "weight": (F, RNG.random(4).astype(np.float32))},
           ["loss", "log_prob"], 13, reduction=reduction, ignore_index=-3)


def test_nll_loss_rejects_unknown_reduction():
    node = helper.make_node("NegativeLogLikelihoodLoss", ["X", "t"], ["y"], reduction="max")
    graph = helper.make_graph([node], "g", [
        helper.make_tensor_value_info("X", F, [2, 3]),
        helper.make_tensor_value_info("t", I64, [2])],
        [helper.make_tensor_value_info("y", F, [])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(compiler.CompileError, match="reduction 'max'"):
        compiler.compile(onnx.ModelProto.FromString(model.SerializeToString()))


# --------------------------------------------------------------------------- LpNormalization


@pytest.mark.parametrize("p,axis", [(1, 0), (2, -1), (2, 1)])
def test_lp_normalization(p, axis):
    x = RNG.standard_normal((3, 4, 5)).astype(np.float32)
    x[1, 1, :] = 0.0  # a zero vector stays zero (axis -1)
    # onnx.reference sums x, not |x|, for p = 1: compare with onnxruntime
    _check("LpNormalization", {"X": (F, x)}, ["Y"], 13, ort=True, p=p, axis=axis)
