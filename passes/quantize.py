"""quantize: DQ -> conv/matmul/gemm -> (bias, act) -> Q into integer graph ops.

A conv, matmul or gemm whose activation operand is `graph.dequantize_linear` of a uint8
/int8 tensor (per-tensor constant scale and zero point) and whose weight is a constant
(a float weight, as fold leaves onnxruntime's DQ(int8 initializer), or a DQ of one)
becomes an integer contraction on the quantized activation and int8 weights quantized
per output channel, symmetric (graph.conv_integer / graph.matmul_integer, int32
accumulator). Its epilogue:

* followed by exactly one `graph.quantize_linear` (per tensor), with no residual and an
  activation the output range absorbs (none, relu with zero point 0, a clip containing
  the quantized range): `graph.requantize` with multiplier x_scale * w_scale / y_scale
  per channel and the bias as int32 (round(bias / (x_scale * w_scale))), which replaces
  the Q: the QDQ pair disappears;
* otherwise a float epilogue (cast, scale, bias, residual, activation) that fuse merges
  into one elementwise kernel.

Ops that do not fit stay float32. `Q(DQ(x))` with the same parameters cancels to x.

Also here, for compiler/calibration.py: the quantizable sites of a graph, the pass that
exposes their activations as extra results (calibration), the insertion of Q/DQ pairs
from measured ranges (static int8) and the dynamic variant (`quantize-dynamic`: matmul/
gemm activations quantized per call from their run-time range).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    Float32Type,
    FunctionType,
    ModuleOp,
    StringAttr,
    f32,
    i8,
)
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint, Rewriter

from dialects import graph as g
from dialects.weights import WeightStore, store_for
from passes.rewrite import record

CONTRACTIONS = (g.ConvOp, g.MatMulOp, g.GemmOp)
EPILOGUE_ACTS = ("relu", "clip", "leaky_relu", "sigmoid", "tanh")
"""Fused activations the float epilogue can apply (others keep the op in float32)."""


# --------------------------------------------------------------------------- constants


def constant_value(v: SSAValue, store: WeightStore | None) -> np.ndarray | None:
    """The value of a graph.constant, a graph.weight or a DQ of either; else None."""
    owner = v.owner
    if isinstance(owner, g.ConstantOp):
        return g.array_from_dense(owner.value)
    if isinstance(owner, g.WeightOp):
        name = owner.weight_name.data
        return store[name] if store is not None and name in store else None
    if isinstance(owner, g.DequantizeLinearOp):
        args = [constant_value(o, store) for o in owner.operands]
        return None if any(a is None for a in args) else owner.evaluate(args)  # type: ignore
    return None


def _const(rewriter_or_point, array: np.ndarray) -> SSAValue:
    op = g.ConstantOp(g.dense_from_array(np.asarray(array)))
    _insert(rewriter_or_point, op)
    return op.result


def _insert(where, op: Operation) -> None:
    if isinstance(where, PatternRewriter):
        where.insert_op(op)
    else:
        Rewriter.insert_op(op, where)


def _weight(where, store: WeightStore | None, name: str, array: np.ndarray) -> SSAValue:
    """A graph.weight holding `array` (added to the store) for a large array, else (or
    without a store: IR text) an inline constant."""
    if array.size <= 16 or store is None:
        return _const(where, array)
    known = store.arrays.get(name)
    # a store outlives a compile (file stores are per process): reuse an equal array
    if known is None or known.dtype != array.dtype or not np.array_equal(known, array):
        name = store.add(name, array)
    op = g.WeightOp(name, g.tensor_type(array.shape, g.element_type_for(array.dtype)))
    _insert(where, op)
    return op.result


# --------------------------------------------------------------------------- sites


@dataclass
class Site:
    """A contraction the quantize pass can make integer: which operand is the activation,
    which the constant weight (float), its layout, bias and epilogue."""

    op: Operation
    x: SSAValue
    weight: np.ndarray
    """As the integer op reads it: OIHW for conv, [K, N] for matmul/gemm."""
    bias: np.ndarray | None
    channel_axis: int
    """The axis of the result that the per-channel weight scales run along."""


def site_of(op: Operation, store: WeightStore | None) -> Site | None:
    """The quantizable site `op` is, or None (kept in float32)."""
    if not isinstance(op, CONTRACTIONS) or not isinstance(g.element_type_of(op.results[0]),
                                                          Float32Type):
        return None
    act = op.act.data if op.act is not None else None
    if act is not None and act not in EPILOGUE_ACTS:
        return None
    rank = len(g.shape_of(op.results[0]))
    bias = None
    if isinstance(op, g.ConvOp):
        if op.is_nhwc or len(g.shape_of(op.weight)) < 3:
            return None
        x, w, axis = op.input, constant_value(op.weight, store), 1
        if op.bias is not None:
            bias = constant_value(op.bias, store)
            if bias is None:
                return None
    elif isinstance(op, g.MatMulOp):
        if len(g.shape_of(op.rhs)) != 2 or len(g.shape_of(op.lhs)) < 2:
            return None
        x, w, axis = op.lhs, constant_value(op.rhs, store), rank - 1
        if op.bias is not None:
            bias = constant_value(op.bias, store)
            if bias is None or bias.size != g.shape_of(op.rhs)[1]:
                return None
    else:
        if (op.trans_a.value.data or op.alpha.value.data != 1.0
                or (op.c is not None and op.beta.value.data != 1.0)):
            return None
        x, w, axis = op.a, constant_value(op.b, store), 1
        if w is not None and op.trans_b.value.data:
            w = np.ascontiguousarray(w.T)
        if op.c is not None:
            bias = constant_value(op.c, store)
            if bias is None or bias.size != g.shape_of(op.results[0])[1]:
                return None
    if w is None or w.dtype != np.float32 or constant_value(x, store) is not None:
        return None
    if bias is not None:
        bias = bias.reshape(-1).astype(np.float32)
    return Site(op, x, w, bias, axis)


def sites(module: ModuleOp) -> list[Site]:
    """The quantizable sites of @main's body, in op order."""
    store = store_for(module)
    return [s for op in module.walk() if (s := site_of(op, store)) is not None]


def output_quantizable(op: Operation) -> bool:
    """Whether a site's result can be requantized (no residual, act absorbed by the
    output range: none or relu; clips are checked against the range later)."""
    act = op.act.data if op.act is not None else None
    return getattr(op, "residual", None) is None and act in (None, "relu", "clip")


def calibration_values(module: ModuleOp) -> list[SSAValue]:
    """The distinct values static int8 needs ranges of: each site's activation, and its
    result where a requantize could produce it. The order is the op order (a clone of
    the module lists the corresponding values in the same order)."""
    values: list[SSAValue] = []
    for s in sites(module):
        for v in (s.x, s.op.results[0] if output_quantizable(s.op) else None):
            if v is not None and v not in values:
                values.append(v)
    return values


def main_of(module: ModuleOp) -> func.FuncOp:
    for op in module.ops:
        if isinstance(op, func.FuncOp) and op.sym_name.data == "main":
            return op
    raise ValueError("the module has no func.func @main")


@dataclass(frozen=True)
class ExposeCalibrationValuesPass(ModulePass):
    """Append every value static quantization needs a range of (calibration_values) to
    @main's results, named `kiln.calibration.<i>` (the calibration run reads them)."""

    name = "expose-calibration-values"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        values = calibration_values(op)
        main = main_of(op)
        ret = main.body.block.last_op
        assert isinstance(ret, func.ReturnOp)
        outs = list(main.function_type.outputs.data)
        attrs = list(main.res_attrs.data) if main.res_attrs is not None else \
            [DictionaryAttr({}) for _ in outs]
        new_ret = func.ReturnOp(*ret.operands, *values)
        Rewriter.replace_op(ret, new_ret)
        main.function_type = FunctionType.from_lists(
            list(main.function_type.inputs.data), [*outs, *[v.type for v in values]])
        main.res_attrs = ArrayAttr([*attrs, *[DictionaryAttr(
            {g.ARG_NAME_ATTR: StringAttr(f"kiln.calibration.{i}")})
            for i in range(len(values))]])


# --------------------------------------------------------------------------- Q/DQ insertion


def activation_params(lo: float, hi: float) -> tuple[np.float32, np.uint8]:
    """uint8 asymmetric scale and zero point of the range [lo, hi] (widened to hold 0),
    as onnxruntime's quantizer computes them."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = np.float32((hi - lo) / 255.0) if hi > lo else np.float32(1.0)
    zp = np.uint8(np.clip(np.rint(-lo / scale), 0, 255))
    return scale, zp


def insert_qdq(module: ModuleOp, ranges: Sequence[tuple[float, float]]) -> int:
    """Quantize-dequantize each calibration value with its range; returns the pairs.
    The function's results keep the float value (outputs are not rounded)."""
    values = calibration_values(module)
    if len(values) != len(ranges):
        raise ValueError(f"{len(ranges)} ranges for {len(values)} calibration values")
    for v, (lo, hi) in zip(values, ranges, strict=True):
        scale, zp = activation_params(lo, hi)
        point = InsertPoint.after(v.owner) if isinstance(v.owner, Operation) else \
            InsertPoint.at_start(v.owner)  # type: ignore[arg-type]
        s, z = g.ConstantOp(g.dense_from_array(np.array(scale))), \
            g.ConstantOp(g.dense_from_array(np.array(zp)))
        q = g.QuantizeLinearOp(v, s.result, z.result, axis=0)
        dq = g.DequantizeLinearOp(q.result, s.result, z.result, axis=0)
        Rewriter.insert_op([s, z, q, dq], point)
        v.replace_uses_with_if(dq.result, lambda use, q=q: use.operation is not q and not
                               isinstance(use.operation, func.ReturnOp))
    return len(values)


# --------------------------------------------------------------------------- the rewrite


def _tensor_params(op: g.QuantParamsOp, store) -> tuple[float, int] | None:
    """(scale, zero point) of a per-tensor Q/DQ with constant parameters."""
    if op.mode() != "tensor" or op.quant_block():
        return None
    scale = constant_value(op.scale, store)
    zp = constant_value(op.zero_point, store) if op.zero_point is not None else \
        np.zeros((), np.uint8)
    if scale is None or zp is None:
        return None
    return float(scale.reshape(-1)[0]), int(zp.reshape(-1)[0])


def quantize_weight(w: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """int8 symmetric per-channel weights along `axis` (0 for OIHW, 1 for [K, N]):
    (q, scale per channel)."""
    moved = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    top = np.abs(moved).max(axis=1) if moved.size else np.zeros(w.shape[axis])
    scale = np.where(top > 0, top / 127.0, 1.0).astype(np.float32)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.rint(w / scale.reshape(shape)), -127, 127).astype(np.int8)
    return q, scale


class CancelQuantizeDequantize(RewritePattern):
    """Q(DQ(x, s, zp), s, zp) -> x (requantizing with the same parameters)."""

    def __init__(self, store):
        self.store = store

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: g.QuantizeLinearOp, rewriter: PatternRewriter):
        dq = op.input.owner
        if not isinstance(dq, g.DequantizeLinearOp) or dq.input.type != op.result.type:
            return
        p, q = _tensor_params(op, self.store), _tensor_params(dq, self.store)
        if p is None or p != q:
            return
        rewriter.replace(op, [], [dq.input])


class DequantizeAfterReshape(RewritePattern):
    """reshape(DQ(x)) -> DQ(reshape(x)) for per-tensor parameters, so that the Q of the
    next op meets its DQ (onnxruntime's QDQ models dequantize before a Reshape)."""

    def __init__(self, store):
        self.store = store

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: g.ReshapeOp, rewriter: PatternRewriter):
        dq = op.input.owner
        if not isinstance(dq, g.DequantizeLinearOp) or _tensor_params(dq, self.store) is None:
            return
        moved = g.ReshapeOp(dq.input, g.ints(op.shape))
        new = g.DequantizeLinearOp(moved.result, dq.scale, dq.zero_point,
                                   axis=dq.quant_axis(),
                                   element_type=g.element_type_of(op.result))
        rewriter.replace(op, [moved, new])


class IntegerContraction(RewritePattern):
    """conv/matmul/gemm on DQ(activation) and a constant weight -> integer contraction
    with a requantize (when a Q follows) or a float epilogue."""

    def __init__(self, store: WeightStore | None):
        self.store = store
        self.counts = {"requantize": 0, "float-epilogue": 0}

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        site = site_of(op, self.store)
        if site is None or not isinstance(site.x.owner, g.DequantizeLinearOp):
            return
        dq = site.x.owner
        params = _tensor_params(dq, self.store)
        if params is None or g.element_type_of(dq.input) not in (g.ui8, i8):
            return
        x_scale, x_zp = params
        w_axis = 0 if isinstance(op, g.ConvOp) else 1
        wq, w_scale = quantize_weight(site.weight, w_axis)
        name = getattr(op.operands[1].owner, "weight_name", None)
        wname = (name.data if name is not None else "weight") + ".q8"
        wv = _weight(rewriter, self.store, wname, wq)
        zp = dq.zero_point if x_zp else None
        if isinstance(op, g.ConvOp):
            acc = g.ConvIntegerOp(dq.input, wv, zp, None, strides=g.ints(op.strides),
                                  pads=g.ints(op.pads), dilations=g.ints(op.dilations),
                                  group=op.group.value.data)
        else:
            acc = g.MatMulIntegerOp(dq.input, wv, zp, None)
        rewriter.insert_op(acc)
        channel_scale = (x_scale * w_scale.astype(np.float64))
        q = self._single_quantize(op)
        if q is not None:
            self._requantize(op, site, acc.result, channel_scale, q, rewriter)
            self.counts["requantize"] += 1
        else:
            y = float_epilogue(rewriter, op, site, acc.result, channel_scale)
            rewriter.replace(op, [], [y])
            self.counts["float-epilogue"] += 1

    def _single_quantize(self, op: Operation) -> g.QuantizeLinearOp | None:
        uses = list(op.results[0].uses)
        if len(uses) != 1 or not isinstance(uses[0].operation, g.QuantizeLinearOp):
            return None
        q = uses[0].operation
        if not output_quantizable(op) or _tensor_params(q, self.store) is None:
            return None
        y_scale, y_zp = _tensor_params(q, self.store)  # type: ignore[misc]
        lo, hi = g.quant_range(g.element_type_of(q.result))
        real_lo, real_hi = (lo - y_zp) * y_scale, (hi - y_zp) * y_scale
        act = op.act.data if op.act is not None else None
        if act == "relu" and real_lo < 0:
            return None
        if act == "clip":
            c_lo, c_hi = (float(v) for v in op.act_params.get_values())  # type: ignore
            if real_lo < c_lo - 1e-6 or real_hi > c_hi + 1e-6:
                return None
        return q

    def _requantize(self, op: Operation, site: Site, acc: SSAValue, channel_scale,
                    q: g.QuantizeLinearOp, rewriter: PatternRewriter) -> None:
        y_scale, _ = _tensor_params(q, self.store)  # type: ignore[misc]
        mult = _const(rewriter, (channel_scale / y_scale).astype(np.float32))
        bias = None
        if site.bias is not None:
            bias = _const(rewriter, np.rint(site.bias / channel_scale).astype(np.int32))
        req = g.RequantizeOp(acc, mult, q.zero_point, bias, axis=site.channel_axis,
                             element_type=g.element_type_of(q.result))
        rewriter.insert_op(req, InsertPoint.before(q))  # after Q's zero point
        rewriter.replace(q, [], [req.result])
        rewriter.erase_op(op)


def float_epilogue(where, op: Operation, site: Site, acc: SSAValue,
                   channel_scale: np.ndarray, run_time_scale: SSAValue | None = None
                   ) -> SSAValue:
    """act(float(acc) * scale (* run_time_scale) + bias + residual) as elementwise ops."""
    rank = len(g.shape_of(op.results[0]))
    shape = [1] * rank
    shape[site.channel_axis] = -1

    def emit(new: Operation) -> SSAValue:
        _insert(where, new)
        return new.results[0]

    y = emit(g.ElementwiseOp("cast", [acc], (), f32))
    if run_time_scale is not None:
        y = emit(g.MulOp(y, run_time_scale))
    y = emit(g.MulOp(y, _const(where, channel_scale.astype(np.float32).reshape(shape))))
    if site.bias is not None:
        y = emit(g.AddOp(y, _const(where, site.bias.reshape(shape))))
    residual = getattr(op, "residual", None)
    if residual is not None:
        y = emit(g.AddOp(y, residual))
    act = op.act.data if op.act is not None else None
    if act == "relu":
        y = emit(g.ReluOp(y))
    elif act == "sigmoid":
        y = emit(g.SigmoidOp(y))
    elif act == "tanh":
        y = emit(g.TanhOp(y))
    elif act == "leaky_relu":
        (alpha,) = op.act_params.get_values()  # type: ignore[union-attr]
        y = emit(g.ElementwiseOp("leaky_relu", [y], [float(alpha)]))
    elif act == "clip":
        lo, hi = op.act_params.get_values()  # type: ignore[union-attr]
        y = emit(g.ElementwiseOp("max", [y, _const(where, np.array(lo, np.float32))]))
        y = emit(g.ElementwiseOp("min", [y, _const(where, np.array(hi, np.float32))]))
    return y


@dataclass(frozen=True)
class QuantizePass(ModulePass):
    """DQ -> conv/matmul/gemm -> (Q) into integer contractions with a requantize epilogue
    (or a float one); Q(DQ(x)) pairs with equal parameters cancel, DQs move after reshapes."""

    name = "quantize"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        store = store_for(op)  # None: IR text, whose inline constants still quantize
        contraction = IntegerContraction(store)
        PatternRewriteWalker(GreedyRewritePatternApplier(
            [CancelQuantizeDequantize(store), DequantizeAfterReshape(store), contraction]),
            apply_recursively=True
        ).rewrite_module(op)
        record(self.name, contraction.counts)


# --------------------------------------------------------------------------- dynamic


def dynamic_quantize(where, x: SSAValue) -> tuple[SSAValue, SSAValue, SSAValue]:
    """uint8 quantization of `x` with the scale and zero point of its run-time range
    (with 0), as ONNX DynamicQuantizeLinear: (quantized, scale, zero point)."""

    def emit(new: Operation) -> SSAValue:
        _insert(where, new)
        return new.results[0]

    def scalar(v: float) -> SSAValue:
        return _const(where, np.array(v, np.float32))

    axes = list(range(len(g.shape_of(x))))
    zero = scalar(0.0)
    hi = emit(g.ElementwiseOp("max", [emit(g.ReduceOp(x, "max", axes, False)), zero]))
    lo = emit(g.ElementwiseOp("min", [emit(g.ReduceOp(x, "min", axes, False)), zero]))
    same = emit(g.ElementwiseOp("equal", [hi, lo]))
    span = emit(g.ElementwiseOp("where", [same, scalar(1.0), emit(g.SubOp(hi, lo))]))
    scale = emit(g.DivOp(span, scalar(255.0)))
    initial = emit(g.SubOp(zero, emit(g.DivOp(lo, scale))))
    clipped = emit(g.ElementwiseOp("min", [emit(g.ElementwiseOp("max", [initial, zero])),
                                           scalar(255.0)]))
    zp = emit(g.ElementwiseOp("cast", [emit(g.ElementwiseOp("round", [clipped]))], (),
                              g.ui8))
    return emit(g.QuantizeLinearOp(x, scale, zp, axis=0)), scale, zp


class DynamicIntegerMatMul(RewritePattern):
    """matmul/gemm with a constant weight -> run-time quantized activation, int8 weights
    per column, matmul_integer, float epilogue."""

    def __init__(self, store: WeightStore | None):
        self.store = store
        self.count = 0

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if not isinstance(op, g.MatMulOp | g.GemmOp):
            return
        site = site_of(op, self.store)
        if site is None or isinstance(site.x.owner, g.DequantizeLinearOp):
            return
        wq, w_scale = quantize_weight(site.weight, 1)
        name = getattr(op.operands[1].owner, "weight_name", None)
        wv = _weight(rewriter, self.store, (name.data if name else "weight") + ".q8", wq)
        xq, x_scale, x_zp = dynamic_quantize(rewriter, site.x)
        acc = g.MatMulIntegerOp(xq, wv, x_zp, None)
        rewriter.insert_op(acc)
        y = float_epilogue(rewriter, op, site, acc.result, w_scale.astype(np.float64),
                           x_scale)
        rewriter.replace(op, [], [y])
        self.count += 1


@dataclass(frozen=True)
class QuantizeDynamicPass(ModulePass):
    """compile(precision="int8-dynamic"): matmul/gemm with constant weights run as
    integer matmuls on activations quantized per call (per tensor, uint8) and int8
    per-column weights (onnxruntime's quantize_dynamic)."""

    name = "quantize-dynamic"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        pattern = DynamicIntegerMatMul(store_for(op))
        PatternRewriteWalker(pattern, apply_recursively=False).rewrite_module(op)
        record(self.name, {"matmul-integer": pattern.count})
