"""Recurrent layers: aten.lstm / aten.gru (kept whole by the decomposition, see
export.py) as one graph.rnn per layer, with both directions in one op, as the ONNX
importer's LSTM/GRU. torch's gate blocks are reordered into ONNX's (LSTM i,f,g,o ->
i,o,f,c; GRU r,z,n -> z,r,h with linear_before_reset), weights stacked per direction."""

from __future__ import annotations

import numpy as np
from xdsl.ir import SSAValue

from compiler.importers.torch.context import NodeError, Rule
from dialects import graph as g

_GATE_ORDER = {"lstm": (0, 3, 1, 2), "gru": (1, 0, 2)}
_ACTIVATIONS = {"lstm": ["sigmoid", "tanh", "tanh"], "gru": ["sigmoid", "tanh"]}


def _gates(array: np.ndarray, kind: str) -> np.ndarray:
    blocks = np.split(array, len(_GATE_ORDER[kind]), axis=0)
    return np.concatenate([blocks[i] for i in _GATE_ORDER[kind]], axis=0)


def _layer_weights(ctx, kind: str, params: list, has_biases: bool, layer: int, dirs: int,
                   prefix: str) -> tuple[SSAValue, SSAValue, SSAValue | None]:
    per = 4 if has_biases else 2
    ws, rs, bs = [], [], []
    for d in range(dirs):
        group = params[(layer * dirs + d) * per:(layer * dirs + d + 1) * per]
        w_ih, w_hh = (ctx.parameter(p) for p in group[:2])
        ws.append(_gates(w_ih, kind))
        rs.append(_gates(w_hh, kind))
        if has_biases:
            b_ih, b_hh = (ctx.parameter(p) for p in group[2:])
            bs.append(np.concatenate([_gates(b_ih, kind), _gates(b_hh, kind)]))
    name = f"{prefix}.l{layer}"
    w = ctx.weight(f"{name}.W", np.stack(ws))
    r = ctx.weight(f"{name}.R", np.stack(rs))
    b = ctx.weight(f"{name}.B", np.stack(bs)) if has_biases else None
    return w, r, b


def _state_slice(ctx, state: SSAValue, layer: int, dirs: int) -> SSAValue:
    shape = list(g.shape_of(state))
    shape[0] = dirs
    return ctx.emit(g.SliceOp(state, ctx.int_constant([layer * dirs]),
                              ctx.int_constant([(layer + 1) * dirs]), ctx.int_constant([0]),
                              ctx.int_constant([1]), g.tensor_type(shape, g.element_type_of(
                                  state))))


def _merge_directions(ctx, y: SSAValue, dirs: int, hidden: int) -> SSAValue:
    """Y [T, D, B, H] -> [T, B, D*H] (the next layer's input, torch's output layout)."""
    if dirs == 1:
        return ctx.emit(g.SqueezeOp(y, [1]))
    y = ctx.emit(g.TransposeOp(y, [0, 2, 1, 3]))
    t, b = g.shape_of(y)[:2]
    result = g.tensor_type([t, b, dirs * hidden], g.element_type_of(y))
    if g.DYN not in (t, b):
        return ctx.emit(g.ReshapeOp(y, [t, b, dirs * hidden]))
    lead = ctx.emit(g.ShapeOp(y, 0, 2))
    shape = ctx.emit(g.ConcatOp([lead, ctx.int_constant([dirs * hidden])], 0))
    return ctx.emit(g.ReshapeDynamicOp(y, shape, result))


def _recurrent(kind: str):
    """aten.lstm.input(x, [h0, c0], params, has_biases, num_layers, dropout, train,
    bidirectional, batch_first) / aten.gru.input(x, h0, params, ...)."""

    def rule(ctx, node):
        x_arg, hx, params, has_biases, layers, dropout, train, bidirectional, batch_first = \
            node.args[:9]
        if train and dropout:
            raise NodeError("recurrent dropout in training mode: call model.eval()")
        dirs = 2 if bidirectional else 1
        per = 4 if has_biases else 2
        if len(params) != layers * dirs * per:
            raise NodeError("LSTM projections (proj_size) are not supported")
        states = [ctx.tensor(h) for h in (hx if kind == "lstm" else [hx])]
        hidden = g.shape_of(states[0])[-1]
        x = ctx.tensor(x_arg)
        if batch_first:
            x = ctx.emit(g.TransposeOp(x, [1, 0, 2]))
        prefix = getattr(params[0], "name", "rnn").rsplit("_weight", 1)[0]
        finals: list[list[SSAValue]] = [[] for _ in states]
        for layer in range(layers):
            w, r, b = _layer_weights(ctx, kind, list(params), bool(has_biases), layer, dirs,
                                     prefix)
            initial = [_state_slice(ctx, s, layer, dirs) for s in states]
            op = g.RNNOp(x, w, r, kind=kind,
                         direction="bidirectional" if dirs == 2 else "forward",
                         hidden_size=hidden, activations=_ACTIVATIONS[kind] * dirs,
                         activation_alpha=[0.0] * len(_ACTIVATIONS[kind]) * dirs,
                         activation_beta=[0.0] * len(_ACTIVATIONS[kind]) * dirs, bias=b,
                         initial_h=initial[0],
                         initial_c=initial[1] if kind == "lstm" else None,
                         linear_before_reset=kind == "gru")
            ctx.add(op)
            outs = list(op.outputs)
            for k in range(len(states)):
                finals[k].append(outs[1 + k])
            x = _merge_directions(ctx, outs[0], dirs, hidden)
        if batch_first:
            x = ctx.emit(g.TransposeOp(x, [1, 0, 2]))
        last = [ctx.emit(g.ConcatOp(f, 0)) if len(f) > 1 else f[0] for f in finals]
        return (x, *last)
    return rule


RULES: dict[str, Rule] = {"aten.lstm.input": _recurrent("lstm"),
                          "aten.gru.input": _recurrent("gru")}
