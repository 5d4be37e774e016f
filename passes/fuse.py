"""fuse: fold producer/consumer groups into the fused forms of conv, gemm and matmul.

Each fusion is a declarative rule (passes/rewrite.py). Rules only absorb an intermediate
value that has a single use, so no work is duplicated. Conv+BatchNorm emits the weight
arithmetic as graph ops on the weight values; `fold` then evaluates them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass

from dialects import graph as g
from passes.fold import materialize
from passes.rewrite import Match, P, Rule, RuleBuilder, apply_rules

LINEAR_OPS = (g.ConvOp, g.GemmOp, g.MatMulOp)
ACT_OPS = {g.ReluOp: "relu", g.SigmoidOp: "sigmoid", g.TanhOp: "tanh"}


def with_fields(op: Operation, **changes: object) -> Operation:
    """A copy of a conv/gemm/matmul with some operands (bias, residual, c) or `act` changed."""
    act = op.act.data if op.act is not None else None
    act = changes.get("act", act)
    if isinstance(op, g.ConvOp):
        return g.ConvOp(op.input, op.weight, changes.get("bias", op.bias),
                        changes.get("residual", op.residual), strides=g.ints(op.strides),
                        pads=g.ints(op.pads), dilations=g.ints(op.dilations),
                        group=op.group.value.data, act=act)
    if isinstance(op, g.GemmOp):
        return g.GemmOp(op.a, op.b, changes.get("c", op.c), alpha=op.alpha.value.data,
                        beta=changes.get("beta", op.beta.value.data),
                        trans_a=bool(op.trans_a.value.data),
                        trans_b=bool(op.trans_b.value.data), act=act)
    assert isinstance(op, g.MatMulOp)
    return g.MatMulOp(op.lhs, op.rhs, changes.get("bias", op.bias), act=act,
                      result_type=op.result.type)


def _plain(op: Operation) -> bool:
    """No fused activation or residual yet (later stages would change the meaning)."""
    return op.act is None and getattr(op, "residual", None) is None


def _is_const(v: SSAValue) -> bool:
    return isinstance(v.owner, (g.ConstantOp, g.WeightOp))


def _const(b: RuleBuilder, values: list[float]) -> SSAValue:
    return b.insert(materialize(np.array(values, dtype=np.float32), None, ""))


# --------------------------------------------------------------------------- conv + bn


def _conv_bn(m: Match, b: RuleBuilder) -> SSAValue:
    """w' = w * s, b' = (b - mean) * s + beta with s = scale / sqrt(var + eps)."""
    conv, bn = m.conv, m.bn
    out_channels = g.shape_of(conv.weight)[0]
    std = b.insert(g.SqrtOp(b.insert(g.AddOp(bn.var, _const(b, [bn.epsilon.value.data])))))
    s = b.insert(g.DivOp(bn.scale, std))
    s_w = b.insert(g.ReshapeOp(s, [out_channels, *[1] * (len(g.shape_of(conv.weight)) - 1)]))
    weight = b.insert(g.MulOp(conv.weight, s_w))
    if conv.bias is None:
        centered = b.insert(g.NegOp(bn.mean))
    else:
        centered = b.insert(g.SubOp(conv.bias, bn.mean))
    bias = b.insert(g.AddOp(b.insert(g.MulOp(centered, s)), bn.bias))
    new = g.ConvOp(conv.input, weight, bias, strides=g.ints(conv.strides),
                   pads=g.ints(conv.pads), dilations=g.ints(conv.dilations),
                   group=conv.group.value.data)
    return b.insert(new)


CONV_BN = Rule(
    "conv-bn",
    P(g.BatchNormOp, [P(g.ConvOp, name="conv", one_use=True, where=_plain)], name="bn"),
    _conv_bn)


# --------------------------------------------------------------------------- bias add


def _bias_add(m: Match, b: RuleBuilder) -> SSAValue | None:
    op, bias = m.op, m.bias
    out = op.result_shape()
    shape = g.shape_of(bias)
    try:
        if g.broadcast_shapes(out, shape) != out:
            return None  # the add broadcasts the result: not a bias
    except ValueError:
        return None
    if isinstance(op, g.ConvOp):
        channels = out[1]
        padded = (1,) * (len(out) - len(shape)) + shape
        if padded != (1, channels, *[1] * (len(out) - 2)) or channels == g.DYN:
            return None
        if shape != (channels,):
            bias = b.insert(g.ReshapeOp(bias, [channels]))
        return b.insert(with_fields(op, bias=bias))
    if isinstance(op, g.GemmOp):
        # without C, beta scaled nothing: the new C is added as is
        return b.insert(with_fields(op, c=bias, beta=1.0))
    return b.insert(with_fields(op, bias=bias))


def _no_bias(op: Operation) -> bool:
    bias = op.c if isinstance(op, g.GemmOp) else op.bias
    return bias is None and _plain(op)


BIAS_ADD = Rule(
    "bias-add",
    P(g.AddOp, [P(LINEAR_OPS, name="op", one_use=True, where=_no_bias),
                P(name="bias", where=_is_const)], commute=True),
    _bias_add)


# --------------------------------------------------------------------------- residual add


def _residual_add(m: Match, b: RuleBuilder) -> SSAValue | None:
    if m.other.type != m.conv.result.type:
        return None  # the add would broadcast: not a residual
    return b.insert(with_fields(m.conv, residual=m.other))


RESIDUAL_ADD = Rule(
    "residual-add",
    P(g.AddOp, [P(g.ConvOp, name="conv", one_use=True, where=_plain), P(name="other")],
      commute=True),
    _residual_add)


# --------------------------------------------------------------------------- activation


def _activation(m: Match, b: RuleBuilder) -> SSAValue:
    return b.insert(with_fields(m.op, act=ACT_OPS[type(m.act)]))


ACTIVATION = Rule(
    "activation",
    P(tuple(ACT_OPS), [P(LINEAR_OPS, name="op", one_use=True,
                         where=lambda op: op.act is None)], name="act"),
    _activation)

FUSION_RULES = [CONV_BN, BIAS_ADD, RESIDUAL_ADD, ACTIVATION]


@dataclass(frozen=True)
class FusePass(ModulePass):
    """Fuse BatchNorm, bias adds, residual adds and activations into conv/gemm/matmul."""

    name = "fuse"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        apply_rules(op, FUSION_RULES)
