"""layout: run 2-D convolutions channels-last (NHWC).

Each NCHW graph.conv becomes transpose(NCHW->NHWC) + graph.conv {layout = "nhwc"} +
transpose(NHWC->NCHW). Transposes are then sunk through elementwise ops and cancelled
where two meet, so a chain of convolutions (residuals included) stays NHWC inside and
transposes remain only at the borders of the region (the graph inputs, pooling, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import SSAValue

from dialects import graph as g
from passes.rewrite import Match, P, Rule, RuleBuilder, RulePass
from passes.simplify import TRANSPOSE_RULES

TO_NHWC = (0, 2, 3, 1)
TO_NCHW = (0, 3, 1, 2)


def _nchw_2d_conv(op: g.ConvOp) -> bool:
    return not op.is_nhwc and len(g.shape_of(op.input)) == 4


def _conv_nhwc(m: Match, b: RuleBuilder) -> SSAValue:
    conv: g.ConvOp = m.conv
    x = b.insert(g.TransposeOp(conv.input, TO_NHWC))
    residual = None
    if conv.residual is not None:
        residual = b.insert(g.TransposeOp(conv.residual, TO_NHWC))
    new = g.ConvOp(x, conv.weight, conv.bias, residual, strides=g.ints(conv.strides),
                   pads=g.ints(conv.pads), dilations=g.ints(conv.dilations),
                   group=conv.group.value.data, layout="nhwc")
    for key in ("act", "act_params", "kind"):
        if key in conv.properties:
            new.properties[key] = conv.properties[key]
    return b.insert(g.TransposeOp(b.insert(new), TO_NCHW))


CONV_NHWC = Rule("conv-nhwc", P(g.ConvOp, name="conv", where=_nchw_2d_conv), _conv_nhwc)


# --------------------------------------------------------------------------- sinking


def _sink_unary(m: Match, b: RuleBuilder) -> SSAValue:
    """unary(transpose(x)) -> transpose(unary(x))."""
    inner = type(m.root)(m.x)
    inner.properties.update(m.root.properties)
    return b.insert(g.TransposeOp(b.insert(inner), g.ints(m.t.perm)))


def _sink_binary(m: Match, b: RuleBuilder) -> SSAValue | None:
    """binary(transpose(x, p), transpose(y, p)) -> transpose(binary(x, y), p)."""
    if g.ints(m.t.perm) != g.ints(m.u.perm) or m.x.type != m.y.type:
        return None
    return b.insert(g.TransposeOp(b.insert(type(m.root)(m.x, m.y)), g.ints(m.t.perm)))


_UNARY = tuple(g.ELEMENTWISE_UNARY_OPS)
SINK_RULES = [
    Rule("sink-unary",
         P(_UNARY, [P(g.TransposeOp, [P(name="x")], name="t", one_use=True)], name="root"),
         _sink_unary),
    Rule("sink-binary",
         P(tuple(g.ELEMENTWISE_BINARY_OPS),
           [P(g.TransposeOp, [P(name="x")], name="t", one_use=True),
            P(g.TransposeOp, [P(name="y")], name="u", one_use=True)], name="root"),
         _sink_binary),
]


@dataclass(frozen=True)
class LayoutPass(RulePass):
    """NCHW convolutions -> NHWC, transposes only at region borders (cancelled inside)."""

    name = "layout"

    def phases(self, module: ModuleOp) -> list[list[Rule]]:
        return [[CONV_NHWC], [*SINK_RULES, *TRANSPOSE_RULES]]
