"""replace: swap an op group for an equivalent, cheaper form.

* `matmul-add-gemm`: 2-D MatMul (+ Add of a [N] / [M, N] / [1, N] tensor) -> Gemm with C;
* `conv1x1-matmul`: a 1x1, stride-1, unpadded, ungrouped NCHW Conv -> Reshape + MatMul +
  Reshape (option `conv1x1`, on by default);
* `depthwise-conv`: a grouped Conv with groups == input channels == output channels is
  marked `depthwise` so the lowering drops the size-1 channel reduction.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.ir import SSAValue

from dialects import graph as g
from passes.rewrite import Match, P, Rule, RuleBuilder, RulePass
from passes.simplify import copy_activation


def _is_2d_matmul(op: g.MatMulOp) -> bool:
    return len(g.shape_of(op.lhs)) == 2 and len(g.shape_of(op.rhs)) == 2


def _broadcasts_to(value: SSAValue, shape: tuple[int, ...]) -> bool:
    try:
        return g.broadcast_shapes(shape, g.shape_of(value)) == shape
    except ValueError:
        return False


def _matmul_add(m: Match, b: RuleBuilder) -> SSAValue | None:
    mm: g.MatMulOp = m.mm
    if mm.bias is not None or mm.act is not None:
        return None
    if not _broadcasts_to(m.c, mm.result_shape()):
        return None
    return b.insert(g.GemmOp(mm.lhs, mm.rhs, m.c))


def _matmul_bias(m: Match, b: RuleBuilder) -> SSAValue | None:
    mm: g.MatMulOp = m.mm
    if mm.bias is None or not _broadcasts_to(mm.bias, mm.result_shape()):
        return None
    new = g.GemmOp(mm.lhs, mm.rhs, mm.bias)
    copy_activation(mm, new)
    return b.insert(new)


MATMUL_RULES = [
    Rule("matmul-add-gemm",
         P(g.AddOp, [P(g.MatMulOp, name="mm", one_use=True, where=_is_2d_matmul),
                     P(name="c")], commute=True),
         _matmul_add),
    Rule("matmul-bias-gemm", P(g.MatMulOp, name="mm", where=_is_2d_matmul), _matmul_bias),
]


def _is_pointwise_conv(op: g.ConvOp) -> bool:
    x, w = g.shape_of(op.input), g.shape_of(op.weight)
    return (not op.is_nhwc and len(x) == 4 and w[2:] == (1, 1) and op.group.value.data == 1
            and set(g.ints(op.strides)) == {1} and set(g.ints(op.pads)) == {0}
            and op.residual is None and g.DYN not in x[1:])


def _conv1x1(m: Match, b: RuleBuilder) -> SSAValue:
    conv: g.ConvOp = m.conv
    n, c, h, w = g.shape_of(conv.input)
    o = g.shape_of(conv.weight)[0]
    x = b.insert(g.ReshapeOp(conv.input, [-1 if n == g.DYN else n, c, h * w]))
    weight = b.insert(g.ReshapeOp(conv.weight, [o, c]))
    bias = None if conv.bias is None else b.insert(g.ReshapeOp(conv.bias, [o, 1]))
    mm = g.MatMulOp(weight, x, bias)
    copy_activation(conv, mm)
    y = b.insert(mm)
    return b.insert(g.ReshapeOp(y, [-1 if n == g.DYN else n, o, h, w]))


CONV1X1_RULE = Rule("conv1x1-matmul", P(g.ConvOp, name="conv", where=_is_pointwise_conv),
                    _conv1x1)


def _is_depthwise(op: g.ConvOp) -> bool:
    groups = op.group.value.data
    return groups > 1 and g.shape_of(op.weight)[1] == 1


def _depthwise(m: Match, b: RuleBuilder) -> SSAValue:
    conv: g.ConvOp = m.conv
    new = conv.clone()
    new.properties["kind"] = StringAttr("depthwise")
    return b.insert(new)


DEPTHWISE_RULE = Rule("depthwise-conv",
                      P(g.ConvOp, name="conv", where=_is_depthwise,
                        attrs={"kind": None}), _depthwise)


@dataclass(frozen=True)
class ReplacePass(RulePass):
    """Swap op groups for cheaper equivalents: MatMul+Add -> Gemm, 1x1 Conv -> MatMul,
    groups == channels -> depthwise conv."""

    name = "replace"

    conv1x1: bool = True

    def phases(self, module: ModuleOp) -> list[list[Rule]]:
        rules = [*MATMUL_RULES, DEPTHWISE_RULE]
        if self.conv1x1:
            rules.append(CONV1X1_RULE)
        return [rules]
