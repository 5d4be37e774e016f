"""fuse: fold producer/consumer groups into the fused forms of conv, gemm and matmul.

Each fusion is a declarative rule (passes/rewrite.py). Rules only absorb an intermediate
value that has a single use, so no work is duplicated. Conv+BatchNorm emits the weight
arithmetic as graph ops on the weight values; `fold` then evaluates them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import AnyFloat, DenseArrayBase, ModuleOp, TensorType, f32
from xdsl.ir import Block, Operation, Region, SSAValue

from dialects import graph as g
from dialects.graph.elementwise_table import BY_KIND
from dialects.scalar_body import ScalarBody
from dialects.weights import store_for
from passes.fold import constant_array, materialize
from passes.rewrite import Match, P, Rule, RuleBuilder, RulePass, attr_data

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


def _const(b: RuleBuilder, values: list[float], like: SSAValue) -> SSAValue:
    """A constant of `like`'s element type (an f32 one would not combine with f64/f16)."""
    dtype = g.numpy_dtype_of(g.element_type_of(like))
    return b.insert(materialize(np.array(values, dtype=dtype), None, ""))


# --------------------------------------------------------------------------- conv + bn


def _conv_bn(m: Match, b: RuleBuilder) -> SSAValue:
    """w' = w * s, b' = (b - mean) * s + beta with s = scale / sqrt(var + eps)."""
    conv, bn = m.conv, m.bn
    out_channels = g.shape_of(conv.weight)[0]
    std = b.insert(g.SqrtOp(b.insert(g.AddOp(bn.var, _const(b, [bn.epsilon.value.data], bn.var)))))
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


# FusePass (the `fuse` pass) is defined at the end of the file, after the optimizer rules.

# =========================================================================== optimizer
# Recognition of LayerNorm / GELU / Softmax sub-graphs, more activations and residuals,
# BatchNorm into Gemm/MatMul, and elementwise chains as one graph.fused op. Ops of other
# dialect sections (Erf, Pow, ReduceMean, Clip, ...) are matched by op name.


def _splat(store, value: float, rtol: float = 1e-4):
    """Predicate: the value is a known constant whose elements all equal `value`."""
    def check(v: SSAValue) -> bool:
        a = constant_array(v, store)
        return a is not None and a.size > 0 and bool(np.allclose(a, value, rtol=rtol,
                                                                  atol=1e-7))
    return check


def _is_known(store):
    return lambda v: constant_array(v, store) is not None


def _reduced_axes(op: Operation) -> tuple[int, ...] | None:
    """Axes a reduction op reduces (property `axes`, else read off the types)."""
    x, y = g.shape_of(op.operands[0]), g.shape_of(op.results[0])
    axes = attr_data(op.properties.get("axes", op.attributes.get("axes")))
    if isinstance(axes, tuple):
        return tuple(sorted(int(a) + (len(x) if a < 0 else 0) for a in axes))
    if len(x) != len(y):
        return None
    return tuple(i for i, (a, b) in enumerate(zip(x, y, strict=True)) if a != b)


def _keeps_dims(op: Operation) -> bool:
    return len(g.shape_of(op.operands[0])) == len(g.shape_of(op.results[0]))


def _trailing_reduction(op: Operation) -> bool:
    axes = _reduced_axes(op)
    rank = len(g.shape_of(op.operands[0]))
    return (_keeps_dims(op) and bool(axes)
            and list(axes) == list(range(rank - len(axes), rank)))


def _single_axis_reduction(op: Operation) -> bool:
    axes = _reduced_axes(op)
    return _keeps_dims(op) and axes is not None and len(axes) == 1


def _reduce_kind(kind: str, where):
    """A `where` for graph.reduce of `kind` (static axes) that also satisfies `where`."""
    return lambda op: (isinstance(op, g.ReduceOp) and op.kind.data == kind
                       and op.axes_input is None and where(op))


# --------------------------------------------------------------------------- layer norm


def _layer_norm(m: Match, b: RuleBuilder, store) -> SSAValue | None:
    axes = _reduced_axes(m.mean)
    if _reduced_axes(m.var) != axes:
        return None
    eps = constant_array(m.eps, store)
    if eps is None or eps.size != 1:
        return None
    return b.insert(g.LayerNormOp(m.x, None, None, axes[0], float(eps.reshape(-1)[0])))


def _layer_norm_rules(store) -> list[Rule]:
    x = P(name="x")
    mean = P(g.ReduceOp, [x], name="mean", where=_reduce_kind("mean", _trailing_reduction))
    d = P(g.SubOp, [x, mean], name="d")
    d_again = P(g.SubOp, name="d")
    squares = [P(g.ElementwiseOp, [d_again, P(where=_splat(store, 2.0))],
                 where=lambda op: op.kind.data == "pow"),
               P(g.MulOp, [d_again, d_again])]
    rules = []
    for i, sq in enumerate(squares):
        var = P(g.ReduceOp, [sq], name="var",
                where=_reduce_kind("mean", _trailing_reduction))
        std = P(g.SqrtOp, [P(g.AddOp, [var, P(name="eps", where=_is_known(store))],
                             commute=True)])
        rules.append(Rule(f"layer-norm{'-mul' if i else ''}", P(g.DivOp, [d, std]),
                          lambda m, b: _layer_norm(m, b, store)))

    def fits(m: Match) -> bool:
        ln: g.LayerNormOp = m.ln
        tail = ln.result_shape()[ln.axis.value.data:]
        try:
            return g.broadcast_shapes(tail, g.shape_of(m.p)) == tail
        except ValueError:
            return False

    def with_param(kind: str):
        def build(m: Match, b: RuleBuilder) -> SSAValue:
            ln: g.LayerNormOp = m.ln
            scale = m.p if kind == "scale" else ln.scale
            bias = m.p if kind == "bias" else ln.bias
            return b.insert(g.LayerNormOp(ln.input, scale, bias, ln.axis.value.data,
                                          ln.epsilon.value.data))
        return build

    param = P(name="p", where=_is_known(store))
    rules += [
        Rule("layer-norm-scale",
             P(g.MulOp, [P(g.LayerNormOp, name="ln", one_use=True,
                           where=lambda op: op.scale is None and op.bias is None), param],
               commute=True), with_param("scale"), where=fits),
        Rule("layer-norm-bias",
             P(g.AddOp, [P(g.LayerNormOp, name="ln", one_use=True,
                           where=lambda op: op.bias is None), param],
               commute=True), with_param("bias"), where=fits),
    ]
    return rules


# --------------------------------------------------------------------------- gelu


def _gelu_rules(store) -> list[Rule]:
    x = P(name="x")
    scaled = [P(g.DivOp, [x, P(where=_splat(store, float(np.sqrt(2.0))))]),
              P(g.MulOp, [x, P(where=_splat(store, float(np.sqrt(0.5))))], commute=True)]
    half, one = P(where=_splat(store, 0.5)), P(where=_splat(store, 1.0))
    rules = []
    for i, s in enumerate(scaled):
        phi = P(g.AddOp, [P(g.ElementwiseOp, [s], where=lambda op: op.kind.data == "erf"),
                          one], commute=True)
        forms = [  # (x * (1 + erf)) * 0.5  and  (x * 0.5) * (1 + erf)
            P(g.MulOp, [P(g.MulOp, [x, phi], commute=True), half], commute=True),
            P(g.MulOp, [P(g.MulOp, [x, half], commute=True), phi], commute=True),
        ]
        for j, form in enumerate(forms):
            rules.append(Rule(f"gelu{'' if i == j == 0 else f'-{i}{j}'}", form,
                              lambda m, b: b.insert(g.GeluOp(m.x))))
    return rules


# --------------------------------------------------------------------------- softmax


def _softmax(m: Match, b: RuleBuilder) -> SSAValue | None:
    axes = _reduced_axes(m.total)
    if "mx" in m and _reduced_axes(m.mx) != axes:
        return None
    return b.insert(g.SoftmaxOp(m.x, axes[0]))


def _softmax_rules() -> list[Rule]:
    x = P(name="x")
    stable = P(g.ExpOp, [P(g.SubOp, [x, P(g.ReduceOp, [x], name="mx",
                                          where=_reduce_kind("max", _single_axis_reduction))])],
               name="e")
    plain = P(g.ExpOp, [x], name="e")
    rules = []
    for name, e in (("softmax", stable), ("softmax-unstable", plain)):
        total = P(g.ReduceOp, [P(g.ExpOp, name="e")], name="total",
                  where=_reduce_kind("sum", _single_axis_reduction))
        rules.append(Rule(name, P(g.DivOp, [e, total]), _softmax))
    return rules


# --------------------------------------------------------------------------- activations


def _clip_bounds(op: Operation, store) -> tuple[float, float] | None:
    lo, hi = (attr_data(op.properties.get(k)) for k in ("min", "max"))
    if isinstance(lo, float) or isinstance(hi, float):
        return (float("-inf") if lo is None else float(lo),
                float("inf") if hi is None else float(hi))
    bounds = []
    for i, default in ((1, float("-inf")), (2, float("inf"))):
        if i >= len(op.operands):
            bounds.append(default)
            continue
        a = constant_array(op.operands[i], store)
        if a is None or a.size != 1:
            return None
        bounds.append(float(a.reshape(-1)[0]))
    return bounds[0], bounds[1]


def splat_value(v: SSAValue, store) -> float | None:
    a = constant_array(v, store)
    if a is None or a.size == 0 or not np.all(a == a.reshape(-1)[0]):
        return None
    return float(a.reshape(-1)[0])


def _fuse_clip(store):
    """min(max(conv, lo), hi) with splat bounds: the importer's form of Clip (and ReLU6)."""
    def build(m: Match, b: RuleBuilder) -> SSAValue | None:
        lo, hi = splat_value(m.lo, store), splat_value(m.hi, store)
        if lo is None or hi is None or m.act.results[0].type != m.op.results[0].type:
            return None
        new = with_fields(m.op, act="clip")
        new.properties["act_params"] = DenseArrayBase.from_list(f32, [lo, hi])
        return b.insert(new)
    return build


def _fuse_leaky_relu(m: Match, b: RuleBuilder) -> SSAValue | None:
    (alpha,) = m.act.param_values()
    new = with_fields(m.op, act="leaky_relu")
    new.properties["act_params"] = DenseArrayBase.from_list(f32, [alpha])
    return b.insert(new)


def _gelu_kind(m: Match) -> str:
    return g.unary_kind(m.act)


def _act_rules(store) -> list[Rule]:
    linear = P(LINEAR_OPS, name="op", one_use=True, where=lambda op: op.act is None)
    lower_bound = P(g.ElementwiseOp, [linear, P(name="lo")], attrs={"kind": "max"},
                    one_use=True)
    return [
        Rule("activation-gelu", P(g.GeluOp, [linear], name="act"),
             lambda m, b: b.insert(with_fields(m.op, act=_gelu_kind(m)))),
        Rule("activation-clip",
             P(g.ElementwiseOp, [lower_bound, P(name="hi")], attrs={"kind": "min"},
               name="act"),
             _fuse_clip(store)),
        Rule("activation-leaky-relu",
             P(g.ElementwiseOp, [linear], attrs={"kind": "leaky_relu"}, name="act"),
             _fuse_leaky_relu),
    ]


def with_act(op: Operation, **changes: object) -> Operation:
    """with_fields keeping `act_params` (clip bounds, leaky alpha)."""
    new = with_fields(op, **changes)
    if "act_params" in op.properties and "act" not in changes:
        new.properties["act_params"] = op.properties["act_params"]
    return new


# --------------------------------------------------------------------------- residuals, bn


def _mm_residual(m: Match, b: RuleBuilder) -> SSAValue | None:
    op = m.op
    if m.other.type != op.results[0].type:
        return None
    if isinstance(op, g.GemmOp):
        return b.insert(with_act(op, c=m.other, beta=1.0))
    return b.insert(with_act(op, bias=m.other))


MM_RESIDUAL = Rule(
    "residual-add-matmul",
    P(g.AddOp, [P((g.GemmOp, g.MatMulOp), name="op", one_use=True, where=_no_bias),
                P(name="other")], commute=True),
    _mm_residual)


def _gemm_bn(m: Match, b: RuleBuilder) -> SSAValue | None:
    """BN over the N columns of a 2-D Gemm/MatMul: scale B's columns, fold C."""
    op, bn = m.op, m.bn
    if len(op.result_shape()) != 2 or g.DYN in op.result_shape()[1:]:
        return None
    n = op.result_shape()[1]
    std = b.insert(g.SqrtOp(b.insert(g.AddOp(bn.var, _const(b, [bn.epsilon.value.data], bn.var)))))
    s = b.insert(g.DivOp(bn.scale, std))
    if isinstance(op, g.GemmOp):
        trans_b = bool(op.trans_b.value.data)
        weight = b.insert(g.MulOp(op.b, b.insert(g.ReshapeOp(s, [n, 1])) if trans_b else s))
        alpha = op.alpha.value.data
        c = None if op.c is None else op.c
        beta = op.beta.value.data
    else:
        if len(g.shape_of(op.rhs)) != 2 or len(g.shape_of(op.lhs)) != 2:
            return None
        trans_b, weight, alpha, beta = False, b.insert(g.MulOp(op.rhs, s)), 1.0, 1.0
        c = op.bias
    if c is None:
        centered = b.insert(g.NegOp(bn.mean))
    else:
        if beta != 1.0:
            c = b.insert(g.MulOp(c, _const(b, [beta], c)))
        centered = b.insert(g.SubOp(c, bn.mean))
    bias = b.insert(g.AddOp(b.insert(g.MulOp(centered, s)), bn.bias))
    lhs = op.a if isinstance(op, g.GemmOp) else op.lhs
    trans_a = bool(op.trans_a.value.data) if isinstance(op, g.GemmOp) else False
    return b.insert(g.GemmOp(lhs, weight, bias, alpha=alpha, beta=1.0, trans_a=trans_a,
                             trans_b=trans_b))


GEMM_BN = Rule(
    "gemm-bn",
    P(g.BatchNormOp, [P((g.GemmOp, g.MatMulOp), name="op", one_use=True,
                        where=lambda op: op.act is None)], name="bn"),
    _gemm_bn)


# --------------------------------------------------------------------------- elementwise chains


def _float_result(op: Operation) -> bool:
    t = op.results[0].type
    return isinstance(t, TensorType) and isinstance(t.element_type, AnyFloat)


_BINARY_KINDS = {g.AddOp: "add", g.SubOp: "sub", g.MulOp: "mul", g.DivOp: "div"}


_UNARY_KINDS = ("relu", "sigmoid", "tanh", "exp", "neg", "sqrt", "gelu", "gelu_tanh")


def _all_float(op: Operation) -> bool:
    types = [*op.operand_types, *op.result_types]
    return all(isinstance(t, TensorType) and isinstance(t.element_type, AnyFloat)
               for t in types)


def _fusible(op: Operation | None) -> bool:
    """An elementwise op on float tensors: a named form, a row of the elementwise table
    (any kind), or an already fused op."""
    if op is None or len(op.results) != 1 or not _float_result(op):
        return False
    if isinstance(op, g.ElementwiseUnaryOp):
        return g.unary_kind(op) in _UNARY_KINDS
    if isinstance(op, g.ElementwiseOp):
        return _all_float(op)
    return isinstance(op, g.FusedElementwiseOp) or type(op) in _BINARY_KINDS


def _emit_scalar(op: Operation, b: ScalarBody, args: list[SSAValue]) -> SSAValue:
    """The scalar computation of elementwise `op` on scalar `args`, appended to `b`."""
    if isinstance(op, g.FusedElementwiseOp):
        mapping: dict[SSAValue, SSAValue] = dict(zip(op.body.block.args, args, strict=True))
        for inner in op.body.block.ops:
            if isinstance(inner, g.FusedYieldOp):
                return mapping[inner.operands[0]]
            clone = inner.clone(value_mapper=mapping)
            b.block.add_op(clone)
            mapping.update(zip(inner.results, clone.results, strict=True))
        raise ValueError("graph.fused body without graph.fused_yield")
    if isinstance(op, g.ElementwiseOp):
        return BY_KIND[op.kind.data].lower(b, args, g.element_type_of(op.result),
                                          op.param_values())
    if isinstance(op, g.ElementwiseUnaryOp):
        return b.unary(g.unary_kind(op), args[0])
    return b.binary(_BINARY_KINDS[type(op)], args[0], args[1])


def _foldable(v: SSAValue, depth: int = 8) -> bool:
    """`v` is computed from constants only (so `fold` will evaluate it)."""
    op = v.owner
    if isinstance(op, (g.ConstantOp, g.WeightOp)):
        return True
    return (depth > 0 and isinstance(op, g.GraphOp) and bool(op.operands)
            and all(_foldable(w, depth - 1) for w in op.operands))


def _fuse_chain(m: Match, b: RuleBuilder, store=None) -> SSAValue | None:
    root = m.root
    producer = next((v.owner for v in root.operands
                     if isinstance(v.owner, Operation) and v.has_one_use()
                     and _fusible(v.owner) and v.type == root.results[0].type), None)
    if producer is None:
        return None
    out_shape = root.result_shape()
    # the new op's tensor inputs: producer's inputs in place of its result, deduplicated;
    # splat constants become arith.constant in the body
    order: list[SSAValue] = []
    for v in root.operands:
        for w in (producer.operands if v is producer.results[0] else [v]):
            if w not in order:
                order.append(w)
    if all(_foldable(v) for v in order):
        return None  # all inputs known: `fold` evaluates the chain instead
    splats = {v: splat_value(v, store) for v in order}
    inputs = [v for v in order if splats[v] is None]
    if not inputs:
        return None
    block = Block(arg_types=[g.element_type_of(v) for v in inputs])
    body = ScalarBody(block)
    scalars: dict[SSAValue, SSAValue] = dict(zip(inputs, block.args, strict=True))
    for v, value in splats.items():
        if value is not None:
            scalars[v] = body.const(value, g.element_type_of(v))
    p = _emit_scalar(producer, body, [scalars[v] for v in producer.operands])
    args = [p if v is producer.results[0] else scalars[v] for v in root.operands]
    block.add_op(g.FusedYieldOp(_emit_scalar(root, body, args)))
    new = g.FusedElementwiseOp(inputs, Region(block), g.tensor_type(
        out_shape, g.element_type_of(root.results[0])))
    return b.insert(new)


def elementwise_chain_rule(store) -> Rule:
    """Merge a single-use elementwise producer into its elementwise consumer."""
    return Rule("elementwise-chain", P(name="root", where=_fusible),
                lambda m, b: _fuse_chain(m, b, store))


def recognition_rules(store) -> list[Rule]:
    return [*_layer_norm_rules(store), *_gelu_rules(store), *_softmax_rules()]


@dataclass(frozen=True)
class FusePass(RulePass):
    """Recognize LayerNorm/GELU/Softmax, fuse BatchNorm, bias, residual and activations
    into conv/gemm/matmul, then merge elementwise chains into single graph.fused ops."""

    name = "fuse"

    elementwise: bool = True

    def phases(self, module: ModuleOp) -> list[list[Rule]]:
        store = store_for(module)
        phases = [recognition_rules(store),
                  [*FUSION_RULES, GEMM_BN, MM_RESIDUAL, *_act_rules(store)]]
        if self.elementwise:
            phases.append([elementwise_chain_rule(store)])
        return phases
