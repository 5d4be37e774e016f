"""fold: evaluate graph ops on constant operands at compile time, and drop no-op arithmetic.

Operands count as constant when they come from `graph.constant`, or from `graph.weight`
while the module's weight store is available. Small results become `graph.constant`,
larger ones new weights in the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)

from dialects import graph as g
from dialects.graph import elementwise_table as elementwise
from dialects.weights import WeightStore, store_for
from passes.rewrite import P, Rule, RuleSet, record

MAX_INLINE_ELEMENTS = 64
"""Folded results up to this many elements are `graph.constant`, larger ones weights."""

MAX_FOLD_ELEMENTS = 16 * 1024 * 1024
"""Results above this many elements are not folded (memory and compile time)."""


# --------------------------------------------------------------------------- values


def constant_array(value: SSAValue, store: WeightStore | None) -> np.ndarray | None:
    """The compile-time value of `value`, or None when it is not known."""
    op = value.owner
    if isinstance(op, g.ConstantOp):
        return g.array_from_dense(op.value)
    if isinstance(op, g.WeightOp) and store is not None and op.weight_name.data in store:
        return store[op.weight_name.data]
    return None


def materialize(array: np.ndarray, store: WeightStore | None, name: str) -> Operation | None:
    """A graph.constant (small) or graph.weight (large, added to `store`) holding `array`."""
    data = np.asarray(array, order="C")  # not ascontiguousarray: rank 0 stays rank 0
    if data.size <= MAX_INLINE_ELEMENTS:
        return g.ConstantOp(g.dense_from_array(data))
    if store is None:
        return None
    return g.WeightOp(store.add(name, data),
                      g.tensor_type(data.shape, g.element_type_for(data.dtype)))


# --------------------------------------------------------------------------- numpy evaluation


def _act(op: Operation, y: np.ndarray) -> np.ndarray:
    act = getattr(op, "act", None)
    if act is not None and act.data in _PARAM_ACTS:
        params = [float(v) for v in op.properties["act_params"].get_values()]
        return _PARAM_ACTS[act.data](y, *params)
    return y if act is None else _UNARY_FNS[act.data](y)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


_UNARY_FNS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda x: np.maximum(x, 0), "sigmoid": _sigmoid, "tanh": np.tanh,
    "exp": np.exp, "neg": np.negative, "sqrt": np.sqrt}
def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ONNX Div: true division for floats, truncating division for integers."""
    if a.dtype.kind in "iu":
        safe = np.where(b == 0, 1, b).astype(b.dtype)
        q = a // safe
        return np.where((a % safe != 0) & ((a < 0) != (safe < 0)), q + 1, q).astype(a.dtype)
    return np.divide(a, b)


_BINARY_FNS: dict[type[Operation], Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    g.AddOp: np.add, g.SubOp: np.subtract, g.MulOp: np.multiply, g.DivOp: _divide}


def _windows(x: np.ndarray, kernel, strides, dilations) -> np.ndarray:
    """[N, C, *out, *kernel] windows of an already padded [N, C, *spatial] array."""
    n = len(kernel)
    extent = [(k - 1) * d + 1 for k, d in zip(kernel, dilations, strict=True)]
    w = sliding_window_view(x, extent, axis=tuple(range(2, 2 + n)))
    index = (slice(None), slice(None), *(slice(None, None, s) for s in strides),
             *(slice(None, None, d) for d in dilations))
    return w[index]


def _pad(x: np.ndarray, pads, value: float, extra=None) -> np.ndarray:
    n = len(pads) // 2
    extra = extra or [0] * n
    widths = [(0, 0), (0, 0)] + [(pads[i], pads[n + i] + extra[i]) for i in range(n)]
    return np.pad(x, widths, constant_values=value)


def eval_conv(op: g.ConvOp, x: np.ndarray, w: np.ndarray, bias=None,
              residual=None) -> np.ndarray:
    strides, pads, dilations = g.ints(op.strides), g.ints(op.pads), g.ints(op.dilations)
    group, n = op.group.value.data, x.ndim - 2
    win = _windows(_pad(x, pads, 0.0), w.shape[2:], strides, dilations)
    cg, og = x.shape[1] // group, w.shape[0] // group
    axes = ([1, *range(2 + n, 2 + 2 * n)], [1, *range(2, 2 + n)])
    parts = [np.tensordot(win[:, i * cg:(i + 1) * cg], w[i * og:(i + 1) * og], axes=axes)
             for i in range(group)]
    y = np.moveaxis(np.concatenate(parts, axis=-1), -1, 1)
    if bias is not None:
        y = y + bias.reshape(1, -1, *[1] * n)
    if residual is not None:
        y = y + residual
    return _act(op, y)


def eval_pool(op: g.PoolOp, x: np.ndarray) -> np.ndarray:
    kernel, strides = g.ints(op.kernel_shape), g.ints(op.strides)
    pads, dilations = g.ints(op.pads), g.ints(op.dilations)
    out = op.result_shape()[2:]
    n = len(kernel)
    # ceil_mode windows may run past the end padding: pad further, never counted
    extra = [max(0, (out[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1
                 - (x.shape[2 + i] + pads[i] + pads[n + i])) for i in range(n)]
    crop = (slice(None), slice(None), *(slice(0, o) for o in out))
    axes = tuple(range(-n, 0))
    if isinstance(op, g.MaxPoolOp):
        win = _windows(_pad(x, pads, -np.inf, extra), kernel, strides, dilations)
        return win.max(axis=axes)[crop]
    total = _windows(_pad(x, pads, 0.0, extra), kernel, strides, dilations).sum(axis=axes)
    ones = np.ones((1, 1, *x.shape[2:]), dtype=np.float32)
    include_pad = op.count_include_pad.value.data
    counted = _pad(ones, pads, 1.0 if include_pad else 0.0)
    counted = _pad(counted, [0] * (2 * n), 0.0, extra)
    count = _windows(counted, kernel, strides, dilations).sum(axis=axes)
    return (total / count)[crop]


def evaluate(op: Operation, args: list[np.ndarray]) -> np.ndarray:
    """The value of graph op `op` on constant operands `args`, computed with numpy."""
    if type(op) in REDUCTION_NN_EVALUATORS:
        return REDUCTION_NN_EVALUATORS[type(op)](op, args)
    if isinstance(op, g.ElementwiseOp):
        dtype = g.numpy_dtype_of(g.element_type_of(op.result))
        return elementwise.evaluate(op.kind.data, args, op.param_values(), dtype)
    if type(op) in _BINARY_FNS:
        return _BINARY_FNS[type(op)](args[0], args[1])
    if type(op) in OPTIMIZER_EVALUATORS:
        return OPTIMIZER_EVALUATORS[type(op)](op, args)
    if isinstance(op, g.ElementwiseUnaryOp):
        return _UNARY_FNS[op.name.removeprefix("graph.")](args[0])
    if isinstance(op, g.MatMulOp):
        y = np.matmul(args[0], args[1])
        return _act(op, y if op.bias is None else y + args[2])
    if isinstance(op, g.GemmOp):
        a = args[0].T if op.trans_a.value.data else args[0]
        b = args[1].T if op.trans_b.value.data else args[1]
        y = op.alpha.value.data * (a @ b)
        return _act(op, y if op.c is None else y + op.beta.value.data * args[2])
    if isinstance(op, g.ConvOp):
        rest = iter(args[2:])
        bias = next(rest) if op.bias is not None else None
        residual = next(rest) if op.residual is not None else None
        if op.is_nhwc:  # optimizer: evaluate channels-first, move channels back last
            residual = None if residual is None else np.moveaxis(residual, -1, 1)
            return np.moveaxis(eval_conv(op, np.moveaxis(args[0], -1, 1), args[1], bias,
                                         residual), 1, -1)
        return eval_conv(op, args[0], args[1], bias, residual)
    if isinstance(op, g.PoolOp):
        return eval_pool(op, args[0])
    if isinstance(op, g.GlobalAvgPoolOp):
        return args[0].mean(axis=tuple(range(2, args[0].ndim)), keepdims=True)
    if isinstance(op, g.BatchNormOp):
        x, scale, bias, mean, var = args
        shape = (1, -1, *[1] * (x.ndim - 2))
        inv = scale / np.sqrt(var + op.epsilon.value.data)
        return (x - mean.reshape(shape)) * inv.reshape(shape) + bias.reshape(shape)
    if isinstance(op, g.ReshapeOp):
        return args[0].reshape(op.result_shape())
    if isinstance(op, g.TransposeOp):
        return np.transpose(args[0], g.ints(op.perm))
    if isinstance(op, g.ConcatOp):
        return np.concatenate(args, axis=op.axis.value.data)
    if isinstance(op, g.SoftmaxOp):
        axis = op.axis.value.data
        e = np.exp(args[0] - args[0].max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)
    raise NotImplementedError(f"fold: no evaluator for {op.name}")


# --------------------------------------------------------------------------- optimizer ops


def _erf(x: np.ndarray) -> np.ndarray:
    from math import erf

    return np.vectorize(erf, otypes=[np.float64])(x).astype(x.dtype)


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


_UNARY_FNS.update({"gelu": _gelu, "gelu_tanh": _gelu_tanh})
_PARAM_ACTS: dict[str, Callable[..., np.ndarray]] = {
    "clip": lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi),
    "leaky_relu": lambda x, alpha: np.where(x > 0, x, alpha * x)}


def _eval_layer_norm(op: g.LayerNormOp, args: list[np.ndarray]) -> np.ndarray:
    x = args[0]
    axes = tuple(range(op.axis.value.data, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + op.epsilon.value.data)
    rest = iter(args[1:])
    if op.scale is not None:
        y = y * next(rest)
    if op.bias is not None:
        y = y + next(rest)
    return y


_SCALAR_FNS: dict[str, Callable[..., np.ndarray]] = {
    "arith.addf": np.add, "arith.subf": np.subtract, "arith.mulf": np.multiply,
    "arith.divf": np.divide, "arith.maximumf": np.maximum, "arith.minimumf": np.minimum,
    "arith.negf": np.negative, "arith.select": np.where, "math.exp": np.exp,
    "math.tanh": np.tanh, "math.sqrt": np.sqrt, "math.erf": _erf, "math.powf": np.power,
    "math.log": np.log, "math.absf": np.abs, "math.rsqrt": lambda x: 1.0 / np.sqrt(x)}
_CMPF = {"ogt": np.greater, "oge": np.greater_equal, "olt": np.less, "ole": np.less_equal,
         "oeq": np.equal, "one": np.not_equal}


def _eval_fused(op: g.FusedElementwiseOp, args: list[np.ndarray]) -> np.ndarray:
    """Interpret the scalar body on whole arrays (numpy broadcasting does the rest)."""
    block = op.body.block
    env: dict[SSAValue, np.ndarray] = dict(zip(block.args, args, strict=True))
    for inner in block.ops:
        if isinstance(inner, g.FusedYieldOp):
            return np.broadcast_to(env[inner.operands[0]], op.result_shape())
        operands = [env[v] for v in inner.operands]
        if inner.name == "arith.constant":
            value = np.float32(inner.properties["value"].value.data)
        elif inner.name == "arith.cmpf":
            predicate = inner.properties["predicate"].value.data
            from xdsl.dialects.arith import CMPF_COMPARISON_OPERATIONS

            value = _CMPF[CMPF_COMPARISON_OPERATIONS[predicate]](*operands)
        elif inner.name in _SCALAR_FNS:
            value = _SCALAR_FNS[inner.name](*operands)
        else:
            raise NotImplementedError(f"fold: {inner.name} in a graph.fused body")
        env[inner.results[0]] = np.asarray(value)
    raise NotImplementedError("fold: graph.fused body without graph.fused_yield")


OPTIMIZER_EVALUATORS: dict[type[Operation],
                           Callable[[Operation, list[np.ndarray]], np.ndarray]] = {
    g.GeluOp: lambda op, args: _UNARY_FNS[g.unary_kind(op)](args[0]),
    g.LayerNormOp: _eval_layer_norm,
    g.FusedElementwiseOp: _eval_fused,
}


# --------------------------------------------------------------------------- patterns


@dataclass
class FoldConstantOp(RewritePattern):
    """Replace a graph op whose operands are all known by its computed value."""

    store: WeightStore | None
    folded: int = 0

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, g.GraphOp) or isinstance(op, (g.ConstantOp, g.WeightOp)):
            return
        if isinstance(op, g.SHAPE_OPS):
            return  # FoldShapeOps
        shape = op.result_shape()
        if g.DYN in shape or int(np.prod(shape, dtype=np.int64)) > MAX_FOLD_ELEMENTS:
            return
        args = [constant_array(v, self.store) for v in op.operands]
        if any(a is None for a in args):
            return
        try:
            dtype = g.numpy_dtype_of(g.element_type_of(op.results[0]))
        except ValueError:
            return
        try:
            with np.errstate(all="ignore"):
                value = evaluate(op, list(args))
        except NotImplementedError:
            return  # an op without an evaluator stays (it runs at run time)
        new = materialize(_as_result(value, dtype, shape), self.store, _fresh_name(op))
        if new is not None:
            rewriter.replace(op, new)
            self.folded += 1


# --------------------------------------------------------------------------- shape and
# data-movement ops (graph.SHAPE_OPS)
#
# Shape chains (shape -> gather -> unsqueeze -> concat -> reshape_dynamic) fold to
# constants when the dims they read are static; a reshape_dynamic whose target became
# constant turns into a static graph.reshape.


def _onnx_slice(x: np.ndarray, starts, ends, axes, steps) -> np.ndarray:
    index = [slice(None)] * x.ndim
    for s, e, a, t in zip(starts, ends, axes, steps, strict=True):
        index[int(a) % x.ndim] = slice(int(s), int(e), int(t))
    return x[tuple(index)]


def _onnx_reshape(x: np.ndarray, target: np.ndarray, allowzero: bool) -> np.ndarray:
    shape = [int(t) for t in target]
    if not allowzero:
        shape = [x.shape[i] if t == 0 else t for i, t in enumerate(shape)]
    return x.reshape(shape)


def _cumsum(op: g.CumSumOp, x: np.ndarray, axis_value: np.ndarray) -> np.ndarray:
    axis = int(axis_value.reshape(-1)[0]) % x.ndim
    y = np.flip(x, axis) if op.reverse.value.data else x
    out = np.cumsum(y, axis=axis, dtype=x.dtype)
    if op.exclusive.value.data:
        out = out - y
    return np.flip(out, axis) if op.reverse.value.data else out


def evaluate_shape_op(op: Operation, args: list[np.ndarray]) -> list[np.ndarray] | None:
    """Results of a SHAPE_OPS op on constant operands (None: not folded here)."""
    match op:
        case (g.SqueezeOp() | g.UnsqueezeOp() | g.FlattenOp() | g.SqueezeDynamicOp()
              | g.UnsqueezeDynamicOp()):
            return [args[0].reshape(op.result_shape())]
        case g.ReshapeDynamicOp():
            return [_onnx_reshape(args[0], args[1], bool(op.allowzero.value.data))]
        case g.SplitOp():
            axis = op.axis.value.data
            sizes = [g.shape_of(r)[axis] for r in op.results]
            return np.split(args[0], np.cumsum(sizes)[:-1], axis=axis)
        case g.SliceOp():
            return [_onnx_slice(*args)]
        case g.GatherOp():
            return [np.take(args[0], args[1], axis=op.axis.value.data)]
        case g.GatherElementsOp():
            axis = op.axis.value.data
            ind = np.where(args[1] < 0, args[1] + args[0].shape[axis], args[1])
            return [np.take_along_axis(args[0], ind, axis=axis)]
        case g.ExpandOp():
            shape = np.broadcast_shapes(args[0].shape, tuple(int(v) for v in args[1]))
            return [np.broadcast_to(args[0], shape).copy()]
        case g.TileOp():
            return [np.tile(args[0], [int(r) for r in args[1]])]
        case g.RangeOp():
            start, limit, delta = (a.item() for a in args)
            return [np.arange(start, limit, delta).astype(args[0].dtype)]
        case g.ConstantOfShapeOp():
            value = g.array_from_dense(op.value).reshape(-1)[0]
            return [np.full([int(v) for v in args[0]], value)]
        case g.TriluOp():
            k = int(args[1].reshape(-1)[0])
            fn = np.triu if op.upper.value.data else np.tril
            return [fn(args[0], k)]
        case g.CumSumOp():
            return [_cumsum(op, args[0], args[1])]
        case g.NonZeroOp():
            return [np.array(np.nonzero(args[0]), dtype=np.int64).reshape(args[0].ndim, -1)]
    return None


@dataclass
class FoldShapeOps(RewritePattern):
    """graph.shape/size of static dims; SHAPE_OPS on constant operands; reshape_dynamic
    with a constant target -> graph.reshape."""

    store: WeightStore | None

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, g.GraphOp) or isinstance(op, g.ConstantOp | g.WeightOp):
            return
        if isinstance(op, g.ShapeOp | g.SizeOp):
            dims = g.shape_of(op.input)
            if isinstance(op, g.ShapeOp):
                dims = dims[op.start.value.data:op.end.value.data]
            if g.DYN not in dims:
                value = np.array(dims, dtype=np.int64)
                if isinstance(op, g.SizeOp):
                    value = np.array(int(np.prod(dims)), dtype=np.int64)
                rewriter.replace(op, g.ConstantOp(g.dense_from_array(value)))
            return
        if not isinstance(op, g.SHAPE_OPS):
            return  # FoldConstantOp's business
        args = [constant_array(v, self.store) for v in op.operands]
        if isinstance(op, g.ReshapeDynamicOp) and args[1] is not None and args[0] is None:
            self._static_reshape(op, args[1], rewriter)
            return
        if any(a is None for a in args) or any(
                g.DYN in g.shape_of(r) for r in op.results):
            return
        if int(sum(np.prod(g.shape_of(r)) for r in op.results)) > MAX_INLINE_ELEMENTS * 64:
            return
        try:
            with np.errstate(all="ignore"):
                values = evaluate_shape_op(op, args)  # type: ignore[arg-type]
        except (NotImplementedError, ValueError, IndexError, TypeError):
            return
        if values is None:
            return
        new_ops = []
        for result, value in zip(op.results, values, strict=True):
            dtype = g.numpy_dtype_of(g.element_type_of(result))
            value = np.asarray(value).astype(dtype).reshape(g.shape_of(result))
            new_ops.append(g.ConstantOp(g.dense_from_array(value)))
        rewriter.replace(op, new_ops, [c.result for c in new_ops])

    @staticmethod
    def _static_reshape(op: g.ReshapeDynamicOp, target: np.ndarray,
                        rewriter: PatternRewriter) -> None:
        x = g.shape_of(op.input)
        allowzero = bool(op.allowzero.value.data)
        shape = []
        for i, t in enumerate(int(v) for v in target):
            if t == 0 and not allowzero and i < len(x):
                shape.append(-1 if x[i] == g.DYN else x[i])
            elif t == 0:
                return
            else:
                shape.append(t)
        if shape.count(-1) > 1:
            return
        try:
            inferred = g.ReshapeOp.infer_shape(x, shape)
        except ValueError:
            return
        if len(inferred) != len(op.result_shape()):
            return
        # keep the declared type: it may be more static than the inference
        rewriter.replace(op, g.ReshapeOp.create(
            operands=[op.input], properties={"shape": g.i64_array(shape)},
            result_types=[op.result.type]))
def _as_result(value: np.ndarray, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """A folded value in the op's result dtype (integer division results truncate)."""
    value = np.asarray(value)
    if value.dtype != dtype and value.dtype.kind == "f" and dtype.kind in "iu":
        value = np.trunc(value)
    return np.asarray(value.astype(dtype, copy=False)).reshape(shape)


def _fresh_name(op: Operation) -> str:
    """A weight name derived from the first weight operand (the store makes it unique)."""
    for v in op.operands:
        if isinstance(v.owner, g.WeightOp):
            return f"{v.owner.weight_name.data}.{op.name.removeprefix('graph.')}"
    return f"folded.{op.name.removeprefix('graph.')}"


def identity_rules(store: WeightStore | None) -> list[Rule]:
    """x + 0, x - 0, x * 1, x / 1 -> x, when the constant does not change x's shape."""

    def is_splat(value: float) -> Callable[[SSAValue], bool]:
        def check(v: SSAValue) -> bool:
            a = constant_array(v, store)
            return a is not None and bool(np.all(a == value))

        return check

    def forward(m, b) -> SSAValue | None:
        return m.x if m.x.type == m.root.results[0].type else None

    zero, one = P(where=is_splat(0.0)), P(where=is_splat(1.0))
    x = P(name="x")
    return [
        Rule("add-zero", P(g.AddOp, [x, zero], name="root", commute=True), forward),
        Rule("sub-zero", P(g.SubOp, [x, zero], name="root"), forward),
        Rule("mul-one", P(g.MulOp, [x, one], name="root", commute=True), forward),
        Rule("div-one", P(g.DivOp, [x, one], name="root"), forward),
    ]


def erase_dead_values(module: ModuleOp) -> None:
    """Drop constants and weight references that nothing uses any more."""
    for op in reversed(list(module.walk())):
        if isinstance(op, (g.ConstantOp, g.WeightOp)) and not op.result.uses:
            op.detach()
            op.erase()


@dataclass(frozen=True)
class FoldPass(ModulePass):
    """Evaluate graph ops with known operands at compile time and drop no-op arithmetic."""

    name = "fold"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        store = store_for(op)
        folder, identities = FoldConstantOp(store), RuleSet(identity_rules(store))
        patterns: list[RewritePattern] = [folder, identities]
        patterns.append(FoldShapeOps(store))
        PatternRewriteWalker(GreedyRewritePatternApplier(patterns)).rewrite_module(op)
        erase_dead_values(op)
        record(self.name, {"constant": folder.folded, **identities.fired})


# --------------------------------------------------------------------------- reductions, NN ops


def _reduce_np(kind: str, x: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """ONNX ReduceX semantics on numpy arrays."""
    kw = {"axis": axes, "keepdims": keepdims}
    match kind:
        case "sum":
            return np.sum(x, **kw)
        case "mean":
            return np.mean(x, **kw)
        case "max":
            return np.max(x, **kw)
        case "min":
            return np.min(x, **kw)
        case "prod":
            return np.prod(x, **kw)
        case "l1":
            return np.sum(np.abs(x), **kw)
        case "l2":
            return np.sqrt(np.sum(x * x, **kw))
        case "log_sum":
            return np.log(np.sum(x, **kw))
        case "log_sum_exp":
            m = np.max(x, axis=axes, keepdims=True)
            m = np.where(np.isinf(m), 0, m)
            y = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
            return y if keepdims else np.squeeze(y, axis=axes)
        case "sum_square":
            return np.sum(x * x, **kw)
    raise ValueError(f"unknown reduction {kind}")


def _eval_reduce(op: g.ReduceOp, args: list[np.ndarray]) -> np.ndarray:
    x = args[0]
    if op.axes_input is not None:
        axes = tuple(sorted({int(a) % x.ndim for a in args[1].reshape(-1)}))
    else:
        axes = g.ints(op.axes)
    return _reduce_np(op.kind.data, x, axes, bool(op.keepdims.value.data))


def _eval_arg_reduce(op: g.ArgReduceOp, args: list[np.ndarray]) -> np.ndarray:
    x, axis = args[0], op.axis.value.data
    fn = np.argmax if op.kind.data == "max" else np.argmin
    if op.select_last_index.value.data:
        idx = x.shape[axis] - 1 - fn(np.flip(x, axis=axis), axis=axis)
    else:
        idx = fn(x, axis=axis)
    if op.keepdims.value.data:
        idx = np.expand_dims(idx, axis)
    return idx.astype(np.int64)


def _eval_log_softmax(op: g.LogSoftmaxOp, args: list[np.ndarray]) -> np.ndarray:
    axis = op.axis.value.data
    s = args[0] - args[0].max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


def _eval_hardmax(op: g.HardmaxOp, args: list[np.ndarray]) -> np.ndarray:
    axis = op.axis.value.data
    idx = np.expand_dims(np.argmax(args[0], axis=axis), axis)
    out = np.zeros_like(args[0])
    np.put_along_axis(out, idx, 1, axis=axis)
    return out


def _eval_lp_pool(op: g.LpPoolOp, args: list[np.ndarray]) -> np.ndarray:
    x = args[0]
    kernel, strides = g.ints(op.kernel_shape), g.ints(op.strides)
    pads, dilations = g.ints(op.pads), g.ints(op.dilations)
    p = op.p.value.data
    out = op.result_shape()[2:]
    n = len(kernel)
    extra = [max(0, (out[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1
                 - (x.shape[2 + i] + pads[i] + pads[n + i])) for i in range(n)]
    win = _windows(_pad(np.abs(x) ** p, pads, 0.0, extra), kernel, strides, dilations)
    total = win.sum(axis=tuple(range(-n, 0)))
    crop = (slice(None), slice(None), *(slice(0, o) for o in out))
    return (total ** (1.0 / p))[crop]


def _eval_lrn(op: g.LRNOp, args: list[np.ndarray]) -> np.ndarray:
    x = args[0]
    size = op.size.value.data
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    sq = np.pad(x * x, [(0, 0), (lo, hi)] + [(0, 0)] * (x.ndim - 2))
    total = sum(sq[:, i:i + x.shape[1]] for i in range(size))
    base = op.bias.value.data + op.alpha.value.data / size * total
    return x / base ** op.beta.value.data


def _eval_conv_transpose(op: g.ConvTransposeOp, args: list[np.ndarray]) -> np.ndarray:
    x, w = args[0], args[1]
    strides, pads, dil = g.ints(op.strides), g.ints(op.pads), g.ints(op.dilations)
    group = op.group.value.data
    n = x.ndim - 2
    out = op.result_shape()
    cg, fg = w.shape[0] // group, w.shape[1]
    full = [max((x.shape[2 + i] - 1) * strides[i] + (w.shape[2 + i] - 1) * dil[i] + 1,
                pads[i] + out[2 + i]) for i in range(n)]
    y = np.zeros((x.shape[0], fg * group, *full), dtype=x.dtype)
    for k in np.ndindex(*w.shape[2:]):
        region = tuple(slice(k[i] * dil[i], k[i] * dil[i] + (x.shape[2 + i] - 1) * strides[i]
                             + 1, strides[i]) for i in range(n))
        for gi in range(group):
            xs = x[:, gi * cg:(gi + 1) * cg]
            ws = w[(slice(gi * cg, (gi + 1) * cg), slice(None), *k)]
            part = np.einsum("nc...,cf->nf...", xs, ws)
            y[(slice(None), slice(gi * fg, (gi + 1) * fg), *region)] += part
    crop = tuple(slice(pads[i], pads[i] + out[2 + i]) for i in range(n))
    y = y[(slice(None), slice(None), *crop)]
    if op.bias is not None:
        y = y + args[2].reshape(1, -1, *[1] * n)
    return y


def _eval_max_pool_indices(op: g.MaxPoolIndicesOp, args: list[np.ndarray]) -> np.ndarray:
    x = args[0]
    kernel, strides = g.ints(op.kernel_shape), g.ints(op.strides)
    pads, dilations = g.ints(op.pads), g.ints(op.dilations)
    out = op.result_shape()[2:]
    n = len(kernel)
    spatial = x.shape[2:]
    order = "F" if op.storage_order.value.data else "C"
    offset = np.arange(int(np.prod(spatial))).reshape(spatial, order=order)
    base = np.arange(x.shape[0] * x.shape[1]).reshape(x.shape[:2]) * offset.size
    flat = (base.reshape(*x.shape[:2], *[1] * n) + offset).astype(np.float64)
    extra = [max(0, (out[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1
                 - (spatial[i] + pads[i] + pads[n + i])) for i in range(n)]
    vals = _windows(_pad(x, pads, -np.inf, extra), kernel, strides, dilations)
    idx = _windows(_pad(flat, pads, -1.0, extra), kernel, strides, dilations)
    vals = vals.reshape(*vals.shape[:2 + n], -1)
    best = np.expand_dims(np.argmax(vals, axis=-1), -1)
    chosen = np.take_along_axis(idx.reshape(*idx.shape[:2 + n], -1), best, axis=-1)[..., 0]
    crop = (slice(None), slice(None), *(slice(0, o) for o in out))
    return chosen[crop].astype(np.int64)


REDUCTION_NN_EVALUATORS: dict[type[Operation], Callable[..., np.ndarray]] = {
    g.ReduceOp: _eval_reduce,
    g.ArgReduceOp: _eval_arg_reduce,
    g.LogSoftmaxOp: _eval_log_softmax,
    g.HardmaxOp: _eval_hardmax,
    g.LpPoolOp: _eval_lp_pool,
    g.LRNOp: _eval_lrn,
    g.EinsumOp: lambda op, args: np.einsum(op.equation.data, *args),
    g.ConvTransposeOp: _eval_conv_transpose,
    g.MaxPoolIndicesOp: _eval_max_pool_indices,
}
"""Evaluators of the reduction / NN ops, consulted by evaluate() before its own rules."""
