"""Elementwise ATen ops: arithmetic with torch's type promotion (operands are cast to the
result type torch computed), comparisons, logic, unary math, activations, where, casts,
and the ops that only pass a value through (clone, alias, asserts)."""

from __future__ import annotations

import math

import numpy as np
import torch

from compiler.importers.torch.context import Rule, dense, element_type
from dialects import graph as g

_BINARY: dict[str, type[g.ElementwiseBinaryOp]] = {
    "add": g.AddOp, "sub": g.SubOp, "mul": g.MulOp, "div": g.DivOp}

_KIND = {"pow": "pow", "maximum": "max", "minimum": "min", "fmod": "mod"}


def _kwarg(node, index: int, name: str, default: object) -> object:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def _binary(op: str):
    """add/sub/mul/div (.Tensor and .Scalar): both operands in the result's type; alpha
    scales the second operand of add and sub."""

    def rule(ctx, node):
        elt = ctx.result_element()
        a, b = ctx.operand(node.args[0], elt), ctx.operand(node.args[1], elt)
        alpha = _kwarg(node, 2, "alpha", 1) if op in ("add", "sub") else 1
        if alpha != 1:
            b = ctx.emit(g.MulOp(b, ctx.scalar(alpha, elt)))
        return ctx.emit(_BINARY[op](a, b))
    return rule


def _div_mode(ctx, node):
    """div with rounding_mode: "trunc" and "floor" of the quotient (floats: of the float
    quotient; integers: graph.div truncates, and floor steps down by one where the
    remainder is non-zero and the operands' signs differ)."""
    mode = node.kwargs.get("rounding_mode", node.args[2] if len(node.args) > 2 else None)
    elt = ctx.result_element()
    a, b = ctx.operand(node.args[0], elt), ctx.operand(node.args[1], elt)
    quotient = ctx.emit(g.DivOp(a, b))
    if mode is None:
        return quotient
    if not g.is_float_type(elt):
        if mode == "trunc" or g.is_unsigned(elt):
            return quotient
        zero = ctx.scalar(0, elt)
        remainder = ctx.emit(g.ElementwiseOp("mod", [a, b], (1,)))  # C's, a's sign
        inexact = ctx.emit(g.ElementwiseOp("not", [ctx.emit(g.ElementwiseOp(
            "equal", [remainder, zero]))]))
        signs = ctx.emit(g.ElementwiseOp("xor", [
            ctx.emit(g.ElementwiseOp("less", [remainder, zero])),
            ctx.emit(g.ElementwiseOp("less", [b, zero]))]))
        step = ctx.cast(ctx.emit(g.ElementwiseOp("and", [inexact, signs])), elt)
        return ctx.emit(g.SubOp(quotient, step))
    if mode == "floor":
        return ctx.emit(g.ElementwiseOp("floor", [quotient]))
    # trunc, toward zero: sign(q) * floor(|q|)
    magnitude = ctx.emit(g.ElementwiseOp("floor", [ctx.emit(g.ElementwiseOp(
        "abs", [quotient]))]))
    return ctx.emit(g.MulOp(ctx.emit(g.ElementwiseOp("sign", [quotient])), magnitude))


def _table(kind: str, params: tuple[float, ...] = ()):
    def rule(ctx, node):
        elt = ctx.result_element()
        inputs = [ctx.operand(a, elt) for a in node.args if not isinstance(a, str)]
        return ctx.emit(g.ElementwiseOp(kind, inputs, params))
    return rule


def _promoted(ctx, node) -> object:
    """The element type torch promotes the two operands of a comparison to."""
    vals = [ctx.val(a) for a in node.args[:2]]
    like = [torch.empty((), dtype=v.dtype) if isinstance(v, torch.Tensor) else v for v in vals]
    return element_type(torch.result_type(*like))


def _compare(kind: str, negate: bool = False):
    def rule(ctx, node):
        elt = _promoted(ctx, node)
        result = ctx.emit(g.ElementwiseOp(kind, [ctx.operand(a, elt) for a in node.args[:2]]))
        return ctx.emit(g.ElementwiseOp("not", [result])) if negate else result
    return rule


def _logical(kind: str):
    """logical_* take any type: nonzero is true."""

    def rule(ctx, node):
        inputs = [_truth(ctx, a) for a in node.args]
        return ctx.emit(g.ElementwiseOp(kind, inputs))
    return rule


def _truth(ctx, arg):
    value = ctx.tensor(arg)
    if g.element_type_of(value) == g.element_type_for(np.dtype(bool)):
        return value
    zero = ctx.scalar(0, g.element_type_of(value))
    return ctx.emit(g.ElementwiseOp("not", [ctx.emit(g.ElementwiseOp("equal", [value, zero]))]))


def _bitwise(int_kind: str, bool_kind: str):
    def rule(ctx, node):
        elt = ctx.result_element()
        kind = bool_kind if elt == g.element_type_for(np.dtype(bool)) else int_kind
        return ctx.emit(g.ElementwiseOp(kind, [ctx.operand(a, elt) for a in node.args[:2]]))
    return rule


_UNARY_OPS: dict[str, type[g.ElementwiseUnaryOp]] = {
    "relu": g.ReluOp, "sigmoid": g.SigmoidOp, "tanh": g.TanhOp, "exp": g.ExpOp,
    "neg": g.NegOp, "sqrt": g.SqrtOp}

_UNARY_KINDS = ("abs", "ceil", "floor", "round", "sign", "reciprocal", "log", "sin", "cos",
                "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh",
                "erf")


def _unary(name: str):
    def rule(ctx, node):
        elt = ctx.result_element()
        x = ctx.operand(node.args[0], elt)
        if name in _UNARY_OPS:
            return ctx.emit(_UNARY_OPS[name](x))
        return ctx.emit(g.ElementwiseOp(name, [x]))
    return rule


def _bitwise_not(ctx, node):
    x = ctx.tensor(node.args[0])
    kind = "not" if g.element_type_of(x) == g.element_type_for(np.dtype(bool)) else "bitwise_not"
    return ctx.emit(g.ElementwiseOp(kind, [x]))


def _rsqrt(ctx, node):
    x = ctx.operand(node.args[0], ctx.result_element())
    return ctx.emit(g.ElementwiseOp("reciprocal", [ctx.emit(g.SqrtOp(x))]))


def _log_scaled(base: float):
    def rule(ctx, node):
        elt = ctx.result_element()
        log = ctx.emit(g.ElementwiseOp("log", [ctx.operand(node.args[0], elt)]))
        return ctx.emit(g.MulOp(log, ctx.scalar(1.0 / math.log(base), elt)))
    return rule


def _log1p(ctx, node):
    elt = ctx.result_element()
    x = ctx.operand(node.args[0], elt)
    return ctx.emit(g.ElementwiseOp("log", [ctx.emit(g.AddOp(x, ctx.scalar(1.0, elt)))]))


def _expm1(ctx, node):
    elt = ctx.result_element()
    return ctx.emit(g.SubOp(ctx.emit(g.ExpOp(ctx.operand(node.args[0], elt))),
                            ctx.scalar(1.0, elt)))


def _clamp(ctx, node):
    """clamp / clamp.Tensor / hardtanh: max then min, as ONNX Clip imports."""
    elt = ctx.result_element()
    x = ctx.operand(node.args[0], elt)
    low = _kwarg(node, 1, "min", None)
    high = _kwarg(node, 2, "max", None)
    if node.target is torch.ops.aten.hardtanh.default:
        low, high = _kwarg(node, 1, "min_val", -1.0), _kwarg(node, 2, "max_val", 1.0)
    if low is not None:
        x = ctx.emit(g.ElementwiseOp("max", [x, ctx.operand(low, elt)]))
    if high is not None:
        x = ctx.emit(g.ElementwiseOp("min", [x, ctx.operand(high, elt)]))
    return x


def _gelu(ctx, node):
    approximate = node.kwargs.get("approximate", node.args[1] if len(node.args) > 1 else "none")
    return ctx.emit(g.GeluOp(ctx.tensor(node.args[0]), approximate))


def _activation(kind: str, *names: tuple[int, str, float]):
    """A table activation whose params are the node's arguments (index, name, default)."""

    def rule(ctx, node):
        params = tuple(float(_kwarg(node, i, n, d)) for i, n, d in names)  # type: ignore
        return ctx.emit(g.ElementwiseOp(kind, [ctx.tensor(node.args[0])], params))
    return rule


def _elu(ctx, node):
    alpha, scale, input_scale = (float(_kwarg(node, i, n, 1.0))
                                 for i, n in ((1, "alpha"), (2, "scale"), (3, "input_scale")))
    x = ctx.tensor(node.args[0])
    elt = g.element_type_of(x)
    if input_scale != 1.0:
        x = ctx.emit(g.MulOp(x, ctx.scalar(input_scale, elt)))
    y = ctx.emit(g.ElementwiseOp("elu", [x], (alpha,)))
    return y if scale == 1.0 else ctx.emit(g.MulOp(y, ctx.scalar(scale, elt)))


def _softplus(ctx, node):
    """softplus(x, beta, threshold): log(1 + exp(beta x)) / beta, x where beta x > threshold."""
    beta, threshold = float(_kwarg(node, 1, "beta", 1.0)), float(_kwarg(node, 2, "threshold", 20))
    x = ctx.tensor(node.args[0])
    elt = g.element_type_of(x)
    bx = x if beta == 1.0 else ctx.emit(g.MulOp(x, ctx.scalar(beta, elt)))
    soft = ctx.emit(g.ElementwiseOp("softplus", [bx]))
    if beta != 1.0:
        soft = ctx.emit(g.DivOp(soft, ctx.scalar(beta, elt)))
    big = ctx.emit(g.ElementwiseOp("greater", [bx, ctx.scalar(threshold, elt)]))
    return ctx.emit(g.ElementwiseOp("where", [big, x, soft]))


def _silu(ctx, node):
    x = ctx.tensor(node.args[0])
    return ctx.emit(g.MulOp(x, ctx.emit(g.SigmoidOp(x))))


def _where(ctx, node):
    elt = ctx.result_element()
    cond = _truth(ctx, node.args[0])
    return ctx.emit(g.ElementwiseOp("where", [cond, ctx.operand(node.args[1], elt),
                                              ctx.operand(node.args[2], elt)]))


def _to_copy(ctx, node):
    """_to_copy / to: a cast to the result's dtype (device and layout moves are no-ops)."""
    return ctx.cast(ctx.tensor(node.args[0]), ctx.result_element())


def _identity(ctx, node):
    return ctx.tensor(node.args[0])


def _no_value(ctx, node):
    """Asserts on tensor metadata or ranges: torch.export already checked them."""
    return None


def _isinf(ctx, node):
    return ctx.emit(g.ElementwiseOp("isinf", [ctx.tensor(node.args[0])], (1.0, 1.0)))


def _scalar_tensor(ctx, node):
    t = ctx.result_type()
    return ctx.constant(np.array(node.args[0], dtype=g.numpy_dtype_of(t.element_type)))


def _full(ctx, node):
    """full(size, value) / full_like(x, value) / zeros_like / ones_like."""
    name = str(node.target)
    if "full_like" in name:
        value = node.args[1]
    elif "zeros_like" in name:
        value = 0
    elif "ones_like" in name:
        value = 1
    else:
        value = node.args[1]
    t = ctx.result_type()
    dtype = g.numpy_dtype_of(t.element_type)
    if g.DYN not in g.shape_of(t):
        return ctx.constant(np.full(g.shape_of(t), value, dtype=dtype))
    if "like" in name:
        shape = ctx.emit(g.ShapeOp(ctx.tensor(node.args[0])))
    else:
        shape = ctx.shape_operand(node.args[0])
    return ctx.emit(g.ConstantOfShapeOp(shape, dense(np.array([value], dtype=dtype)), t))


def _arange(ctx, node):
    """arange(end) / arange(start, end, step): a constant when the bounds are static."""
    args = list(node.args)
    if node.target is torch.ops.aten.arange.default:
        args = [0, args[0], 1]
    elif node.target is torch.ops.aten.arange.start:
        args = [args[0], args[1], 1]
    else:
        args = (args + [1])[:3] if len(args) < 3 else args[:3]
    t = ctx.result_type()
    dtype = g.numpy_dtype_of(t.element_type)
    if all(not hasattr(a, "meta") for a in args):
        return ctx.constant(np.arange(*args, dtype=dtype))
    bounds = [ctx.cast(ctx.sym(a, rank=0), t.element_type) if hasattr(a, "meta")
              else ctx.scalar(a, t.element_type) for a in args]
    return ctx.emit(g.RangeOp(*bounds, t))


_ATEN = "aten."

RULES: dict[str, Rule] = {
    **{f"{_ATEN}{op}.{form}": _binary(op) for op in _BINARY for form in ("Tensor", "Scalar")},
    "aten.div.Tensor_mode": _div_mode, "aten.div.Scalar_mode": _div_mode,
    **{f"{_ATEN}pow.{form}": _table("pow") for form in ("Tensor_Tensor", "Tensor_Scalar",
                                                        "Scalar")},
    "aten.maximum.default": _table("max"), "aten.minimum.default": _table("min"),
    "aten.fmod.Tensor": _table("mod", (1.0,)), "aten.fmod.Scalar": _table("mod", (1.0,)),
    "aten.remainder.Tensor": _table("mod", (0.0,)),
    "aten.remainder.Scalar": _table("mod", (0.0,)),
    **{f"{_ATEN}{op}.{form}": _compare(kind)
       for op, kind in (("eq", "equal"), ("lt", "less"), ("le", "less_equal"),
                        ("gt", "greater"), ("ge", "greater_equal"))
       for form in ("Tensor", "Scalar")},
    "aten.ne.Tensor": _compare("equal", negate=True),
    "aten.ne.Scalar": _compare("equal", negate=True),
    "aten.logical_and.default": _logical("and"), "aten.logical_or.default": _logical("or"),
    "aten.logical_xor.default": _logical("xor"), "aten.logical_not.default": _logical("not"),
    "aten.bitwise_and.Tensor": _bitwise("bitwise_and", "and"),
    "aten.bitwise_or.Tensor": _bitwise("bitwise_or", "or"),
    "aten.bitwise_xor.Tensor": _bitwise("bitwise_xor", "xor"),
    "aten.bitwise_not.default": _bitwise_not,
    **{f"{_ATEN}{name}.default": _unary(name) for name in (*_UNARY_OPS, *_UNARY_KINDS)},
    "aten.rsqrt.default": _rsqrt, "aten.log2.default": _log_scaled(2.0),
    "aten.log10.default": _log_scaled(10.0), "aten.log1p.default": _log1p,
    "aten.expm1.default": _expm1, "aten.isnan.default": _table("isnan"),
    "aten.isinf.default": _isinf,
    "aten.clamp.default": _clamp, "aten.clamp.Tensor": _clamp,
    "aten.hardtanh.default": _clamp, "aten.gelu.default": _gelu,
    "aten.leaky_relu.default": _activation("leaky_relu", (1, "negative_slope", 0.01)),
    "aten.elu.default": _elu, "aten.softplus.default": _softplus,
    "aten.hardsigmoid.default": _table("hard_sigmoid", (1.0 / 6.0, 0.5)),
    "aten.hardswish.default": _table("hard_swish"), "aten.silu.default": _silu,
    "aten.mish.default": _table("mish"),
    "aten.celu.default": _activation("celu", (1, "alpha", 1.0)),
    "aten.where.self": _where, "aten._to_copy.default": _to_copy,
    "aten.clone.default": _identity, "aten.alias.default": _identity,
    "aten.detach.default": _identity, "aten.lift_fresh_copy.default": _identity,
    "aten.dropout.default": _identity,
    "aten._assert_tensor_metadata.default": _no_value, "aten._assert_scalar.default": _no_value,
    "aten.sym_constrain_range_for_size.default": _no_value,
    "aten._assert_async.msg": _no_value,
    "aten.scalar_tensor.default": _scalar_tensor,
    "aten.full.default": _full, "aten.full_like.default": _full,
    "aten.zeros_like.default": _full, "aten.ones_like.default": _full,
    "aten.arange.default": _arange, "aten.arange.start": _arange,
    "aten.arange.start_step": _arange,
}
