"""Recurrent cells: LSTM, GRU and RNN as one `graph.rnn` (layout 1 is transposed here)."""

from __future__ import annotations

import numpy as np
from xdsl.ir import SSAValue

from compiler.importers.onnx.common import (
    NodeError,
    text,
)
from compiler.importers.onnx.context import Rule
from dialects import graph as g

_RNN_ACTIVATIONS = {
    "Sigmoid": "sigmoid", "Tanh": "tanh", "Relu": "relu", "Affine": "affine",
    "LeakyRelu": "leaky_relu", "ThresholdedRelu": "thresholded_relu",
    "ScaledTanh": "scaled_tanh", "HardSigmoid": "hard_sigmoid", "Elu": "elu",
    "Softsign": "softsign", "Softplus": "softplus"}


_RNN_ACTIVATION_PARAMS = {
    "affine": (1.0, 0.0, True, True), "leaky_relu": (0.01, 0.0, True, False),
    "thresholded_relu": (1.0, 0.0, True, False), "scaled_tanh": (1.0, 1.0, True, True),
    "hard_sigmoid": (0.2, 0.5, True, True), "elu": (1.0, 0.0, True, False)}


_RNN_DEFAULT_ACTIVATIONS = {"lstm": ["Sigmoid", "Tanh", "Tanh"], "gru": ["Sigmoid", "Tanh"],
                            "rnn": ["Tanh"]}


def _rnn_activations(kind: str, directions: int, attrs: dict
                     ) -> tuple[list[str], list[float], list[float]]:
    """Activation names, alphas and betas for every direction of a recurrent node."""
    per_dir = len(_RNN_DEFAULT_ACTIVATIONS[kind])
    given = [text(a) for a in attrs.get("activations", [])] or \
        _RNN_DEFAULT_ACTIVATIONS[kind] * directions
    if len(given) == per_dir and directions == 2:
        given = given * 2
    if len(given) != per_dir * directions:
        raise NodeError(f"{len(given)} activations given, expected {per_dir * directions}")
    alphas = list(attrs.get("activation_alpha", []))
    betas = list(attrs.get("activation_beta", []))
    names, alpha, beta = [], [], []
    for a in given:
        matched = [v for k, v in _RNN_ACTIVATIONS.items() if k.lower() == a.lower()]
        if not matched:
            raise NodeError(f"activation '{a}' is not supported")
        name = matched[0]
        da, db, takes_a, takes_b = _RNN_ACTIVATION_PARAMS.get(name, (0.0, 0.0, False, False))
        names.append(name)
        alpha.append(float(alphas.pop(0)) if takes_a and alphas else da)
        beta.append(float(betas.pop(0)) if takes_b and betas else db)
    return names, alpha, beta


def _rnn(ctx, node, attrs, opset):
    kind = node.op_type.lower()
    names = list(node.input) + [""] * (8 - len(node.input))

    def opt(i: int) -> SSAValue | None:
        return ctx.value(names[i]) if names[i] else None

    layout = int(attrs.get("layout", 0))
    x, w, r = (ctx.value(n) for n in names[:3])
    if any(len(g.shape_of(v)) != 3 for v in (x, w, r)):
        raise NodeError(f"X, W and R must be 3-D, got {x.type}, {w.type}, {r.type}")
    h0, c0 = opt(5), opt(6) if kind == "lstm" else None
    if layout == 1:
        x = ctx.emit(g.TransposeOp(x, [1, 0, 2]))
        h0 = ctx.emit(g.TransposeOp(h0, [1, 0, 2])) if h0 is not None else None
        c0 = ctx.emit(g.TransposeOp(c0, [1, 0, 2])) if c0 is not None else None
    direction = text(attrs.get("direction", "forward"))
    if direction not in g.RNN_DIRECTIONS:
        raise NodeError(f"unknown direction '{direction}'")
    d = 2 if direction == "bidirectional" else 1
    hidden = int(attrs.get("hidden_size", g.shape_of(r)[-1]))
    seq = opt(4)
    t = g.shape_of(x)[0]
    if seq is not None and names[4] in ctx.consts and t != g.DYN and bool(
            np.all(ctx.consts[names[4]] == t)):
        seq = None  # every sequence is full length
    acts, alpha, beta = _rnn_activations(kind, d, attrs)
    clip = attrs.get("clip")
    op = g.RNNOp(x, w, r, kind=kind, direction=direction, hidden_size=hidden,
                 activations=acts, activation_alpha=alpha, activation_beta=beta,
                 bias=opt(3), sequence_lens=seq, initial_h=h0, initial_c=c0,
                 peepholes=opt(7) if kind == "lstm" else None,
                 clip=float(clip) if clip is not None else None,
                 linear_before_reset=bool(attrs.get("linear_before_reset", 0)),
                 input_forget=bool(attrs.get("input_forget", 0)))
    ctx.add(op)
    outs = list(op.outputs)
    if layout == 1:
        outs = [ctx.emit(g.TransposeOp(outs[0], [2, 0, 1, 3]))] + [
            ctx.emit(g.TransposeOp(v, [1, 0, 2])) for v in outs[1:]]
    return outs


RULES: dict[str, Rule] = {"LSTM": _rnn, "GRU": _rnn, "RNN": _rnn}
