"""convert-graph-to-tensor patterns: constants and elementwise ops (one parallel generic)."""

from __future__ import annotations

from xdsl.dialects import arith
from xdsl.ir import Operation, SSAValue
from xdsl.pattern_rewriter import (
    PatternRewriter,
    RewritePattern,
    op_type_rewrite_pattern,
)

from dialects import graph
from dialects.graph import shape_of
from dialects.graph.elementwise_table import BY_KIND
from dialects.scalar_body import ScalarBody
from lowering.graph_to_tensor.emit import PARALLEL, Emit, elt_type, fail, identity_map

# --------------------------------------------------------------------------- patterns


class ConstantPattern(RewritePattern):
    """graph.constant -> arith.constant dense."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ConstantOp, rewriter: PatternRewriter):
        rewriter.replace(op, arith.ConstantOp(op.value))


class ElementwiseBinaryPattern(RewritePattern):
    """add/sub/mul/div with numpy broadcasting -> one parallel generic."""

    KINDS = {graph.AddOp: "add", graph.SubOp: "sub", graph.MulOp: "mul", graph.DivOp: "div"}

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if not isinstance(op, graph.ElementwiseBinaryOp):
            return
        kind = self.KINDS[type(op)]
        emit = Emit(rewriter, op)
        rank = len(shape_of(op.result))
        sizes, ins, maps = emit.broadcast([op.lhs, op.rhs], op.result)
        dest = emit.empty(sizes, elt_type(op.result))
        res = emit.generic(ins, [dest], [*maps, identity_map(rank)], [PARALLEL] * rank,
                           lambda b: [b.binary(kind, b.args[0], b.args[1])])
        rewriter.replace(op, [], res)


class ElementwiseUnaryPattern(RewritePattern):
    """relu/sigmoid/tanh/exp/neg/sqrt -> one parallel generic."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if not isinstance(op, graph.ElementwiseUnaryOp):
            return
        kind = graph.unary_kind(op)
        emit = Emit(rewriter, op)
        rank = len(shape_of(op.input))
        dest = emit.empty(emit.sizes(op.input), elt_type(op.input))
        res = emit.generic([op.input], [dest], [identity_map(rank)] * 2, [PARALLEL] * rank,
                           lambda b: [b.unary(kind, b.args[0])])
        rewriter.replace(op, [], res)


class ElementwisePattern(RewritePattern):
    """graph.elementwise -> one parallel generic whose body is the kind's table lowering."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ElementwiseOp, rewriter: PatternRewriter):
        rule = BY_KIND[op.kind.data]
        params = op.param_values()
        emit = Emit(rewriter, op)
        inputs = list(op.inputs)
        rank = len(shape_of(op.result))
        out_elt = elt_type(op.result)
        sizes, ins, maps = emit.broadcast(inputs, op.result)
        dest = emit.empty(sizes, out_elt)
        res = emit.generic(ins, [dest], [*maps, identity_map(rank)], [PARALLEL] * rank,
                           lambda b: [rule.lower(b, list(b.args[:len(inputs)]), out_elt,
                                                 params)])
        rewriter.replace(op, [], res)


class FusedElementwisePattern(RewritePattern):
    """graph.fused -> one parallel generic whose body is a clone of the fused body."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.FusedElementwiseOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        rank = len(shape_of(op.result))
        inputs = list(op.inputs)
        sizes, ins, maps = emit.broadcast(inputs, op.result)
        dest = emit.empty(sizes, elt_type(op.result))
        maps = [*maps, identity_map(rank)]
        source = op.body.block

        def body(b: ScalarBody) -> list[SSAValue]:
            mapping: dict[SSAValue, SSAValue] = dict(
                zip(source.args, b.args[:len(inputs)], strict=True))
            for inner in source.ops:
                if isinstance(inner, graph.FusedYieldOp):
                    return [mapping[inner.operands[0]]]
                clone = inner.clone(value_mapper=mapping)
                b.block.add_op(clone)
                mapping.update(zip(inner.results, clone.results, strict=True))
            raise fail(op, "body has no graph.fused_yield")

        res = emit.generic(ins, [dest], maps, [PARALLEL] * rank, body)
        rewriter.replace(op, [], res)
