"""Elementwise ops: the four binary arithmetic ops, the classic unary ops, the
table-driven `graph.elementwise` kinds (dialects/elementwise.py), BitShift, Clip, Gelu."""

from __future__ import annotations

import onnx
from xdsl.dialects.builtin import IntegerType
from xdsl.ir import Attribute

from compiler.importers.onnx.common import (
    NodeError,
    dtype_name,
    element_type,
    text,
)
from compiler.importers.onnx.context import Check, ImportContext, Rule
from dialects import graph as g
from dialects.graph import elementwise_table as ew

_BINARY: dict[str, type[g.ElementwiseBinaryOp]] = {
    "Add": g.AddOp, "Sub": g.SubOp, "Mul": g.MulOp, "Div": g.DivOp}


_UNARY: dict[str, type[g.ElementwiseUnaryOp]] = {
    "Relu": g.ReluOp, "Sigmoid": g.SigmoidOp, "Tanh": g.TanhOp, "Exp": g.ExpOp,
    "Neg": g.NegOp, "Sqrt": g.SqrtOp}


def _binary(ctx, node, attrs, opset):
    cls = _BINARY[node.op_type]
    return [ctx.emit(cls(ctx.value(node.input[0]), ctx.value(node.input[1])))]


def _unary(ctx, node, attrs, opset):
    return [ctx.emit(_UNARY[node.op_type](ctx.value(node.input[0])))]


def _elementwise(ctx, node, attrs, opset):
    rule = ew.BY_ONNX[node.op_type]
    inputs = [ctx.value(n) for n in node.input if n]
    to = None
    if node.op_type in ("Cast", "CastLike"):
        mode = ew.ROUND_MODES.index(text(attrs.get("round_mode", "up")))
        params = [float(int(attrs.get("saturate", 1)) != 0), float(mode)]
    else:
        params = [float(attrs.get(name, default)) for name, default in rule.params]
    if node.op_type in ("Cast", "BitCast"):
        to = element_type(int(attrs["to"]))
    elif node.op_type == "CastLike":
        to = g.element_type_of(inputs[1])
        inputs = inputs[:1]
    if node.op_type == "BitCast":
        problem = _bitcast_problem(g.element_type_of(inputs[0]), to)
        if problem:
            raise NodeError(problem)
    return [ctx.emit(g.ElementwiseOp(rule.kind, inputs, params, to))]


def _bitcast_problem(src: Attribute, to: Attribute | None) -> str | None:
    """Why BitCast cannot reinterpret `src` as `to` (ONNX: the same element size)."""
    if to is None:
        return None
    sizes = [g.numpy_dtype_of(t).itemsize for t in (src, to)]
    narrow = [t for t in (src, to) if isinstance(t, IntegerType) and t.width.data in (2, 4)
              or str(t) == "f4E2M1FN"]
    if narrow:
        return f"BitCast of a sub-byte type ({narrow[0]}) is not supported"
    if sizes[0] != sizes[1]:
        return (f"BitCast needs input and output types of one size, got {src} "
                f"({sizes[0] * 8} bits) and {to} ({sizes[1] * 8} bits)")
    return None


def _bitshift(ctx, node, attrs, opset):
    kind = "shift_left" if text(attrs["direction"]) == "LEFT" else "shift_right"
    return [ctx.emit(g.ElementwiseOp(kind, [ctx.value(n) for n in node.input]))]


def _clip(ctx, node, attrs, opset):
    """Clip(x, min?, max?) = min(max(x, min), max), as numpy.clip (opset >= 11)."""
    x = ctx.value(node.input[0])
    if len(node.input) > 1 and node.input[1]:
        x = ctx.emit(g.ElementwiseOp("max", [x, ctx.value(node.input[1])]))
    if len(node.input) > 2 and node.input[2]:
        x = ctx.emit(g.ElementwiseOp("min", [x, ctx.value(node.input[2])]))
    return [x]


def _gelu(ctx, node, attrs, opset):
    return [ctx.emit(g.GeluOp(ctx.value(node.input[0]),
                              text(attrs.get("approximate", "none"))))]


def _check_elementwise(ctx: ImportContext, node: onnx.NodeProto, attrs: dict,
                       used: set[str]) -> str | None:
    """Attribute checks of the table-driven elementwise ops (types are checked on build)."""
    if node.op_type in ("Cast", "BitCast"):
        to = int(attrs.get("to", 0))
        if element_type(to) is None:
            return f"{node.op_type} to {dtype_name(to)} is not supported"
    if node.op_type in ("Cast", "CastLike") and text(attrs.get(
            "round_mode", "up")) not in ew.ROUND_MODES:
        return (f"{node.op_type} round_mode must be one of {', '.join(ew.ROUND_MODES)}, "
                f"got '{text(attrs['round_mode'])}'")
    if node.op_type == "BitShift" and text(attrs.get("direction", "")) not in ("LEFT",
                                                                                 "RIGHT"):
        return "BitShift needs direction LEFT or RIGHT"
    return None


RULES: dict[str, Rule] = {
    **{op: _elementwise for op in ew.BY_ONNX},
    **{op: _binary for op in _BINARY},
    **{op: _unary for op in _UNARY},
    "BitShift": _bitshift, "Clip": _clip, "Gelu": _gelu,
}

CHECKS: dict[str, Check] = {
    op: _check_elementwise for op in (*ew.BY_ONNX, "BitShift", "Clip")}
