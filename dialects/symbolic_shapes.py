"""Symbolic shape analysis of graph-dialect functions.

For every tensor value of a `func.func` of graph ops this computes its dims as `SymInt`s
over the function's input dims, and, for small integer tensors (shape vectors: the
`Shape -> Gather -> Concat -> Reshape` chains of exported models), their element values.
So `reshape_dynamic(x, concat(shape(x)[0], shape(x)[1], -1, 16))` of an `x[b, s, 64]` has
dims `[b, s, 4, 16]`, and the lowering can prove that a `?` dim of the attention scores
equals the same `?` dim of the mask instead of checking it at run time.

Soundness rules (see dialects/symbolic.py): a dim is a polynomial only where the lowering
computes exactly that value for every input it accepts; anything else is an opaque symbol
named by its computation (`slice(seq, 1, 9223372036854775807, 1)`), or a fresh symbol
(`dyn3`) for dims that depend on tensor data. Static dims of result types always win:
the lowering allocates them as declared.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseIntOrFPElementsAttr,
    IntegerType,
    StringAttr,
    TensorType,
)
from xdsl.ir import Block, Operation, SSAValue

from dialects import graph as g
from dialects.symbolic import SymInt, broadcast_dim, product, reshape_copy

Dims = tuple[SymInt, ...]
Elements = tuple[SymInt, ...]

MAX_ELEMENTS = 64
"""Integer tensors up to this many elements have their values tracked."""

_NAME = re.compile(r"[A-Za-z_][\w.]*\Z")


def input_dim_symbol(name: str) -> SymInt:
    """The symbol of a named input dim (ONNX dim_param): the same name, the same symbol."""
    return SymInt.symbol(name if _NAME.match(name) else repr(name))


class SymbolicShapes:
    """Dims (and small integer values) of every tensor value of one graph function."""

    def __init__(self, fn: func.FuncOp | None = None):
        self.dims: dict[SSAValue, Dims] = {}
        self.elements: dict[SSAValue, Elements] = {}
        self._fresh = itertools.count()
        if fn is not None:
            self.analyze(fn)

    # ---- queries

    def dims_of(self, value: SSAValue) -> Dims | None:
        return self.dims.get(value)

    def dim(self, value: SSAValue, k: int) -> SymInt | None:
        dims = self.dims.get(value)
        return dims[k] if dims is not None and k < len(dims) else None

    def elements_of(self, value: SSAValue) -> Elements | None:
        return self.elements.get(value)

    def alias(self, old: SSAValue, new: SSAValue) -> None:
        """`new` replaces `old` (the lowering replaced its producer): same dims, values."""
        if old in self.dims:
            self.dims[new] = self.dims[old]
        if old in self.elements:
            self.elements[new] = self.elements[old]

    def fresh(self) -> SymInt:
        """A dim known only at run time, from tensor data: equal to nothing else."""
        return SymInt.symbol(f"dyn{next(self._fresh)}")

    # ---- the walk

    def analyze(self, fn: func.FuncOp) -> None:
        if not fn.body.blocks:
            return
        block = fn.body.blocks[0]
        for i, arg in enumerate(block.args):
            self.dims[arg] = self._argument_dims(fn, i, arg)
        self._block(block)

    def _argument_dims(self, fn: func.FuncOp, index: int, arg: SSAValue) -> Dims:
        t = arg.type
        if not isinstance(t, TensorType):
            return ()
        names: list[str] = []
        attrs = fn.arg_attrs.data[index].data if fn.arg_attrs is not None else {}
        dim_names = attrs.get(g.ARG_DIMS_ATTR)
        if isinstance(dim_names, ArrayAttr):
            names = [d.data for d in dim_names.data if isinstance(d, StringAttr)]
        arg_name = attrs.get(g.ARG_NAME_ATTR)
        base = arg_name.data if isinstance(arg_name, StringAttr) else f"arg{index}"
        dims: list[SymInt] = []
        for k, d in enumerate(t.get_shape()):
            if d != g.DYN:
                dims.append(SymInt.const(d))
            elif k < len(names) and names[k]:
                dims.append(input_dim_symbol(names[k]))
            else:
                dims.append(input_dim_symbol(f"{base}.{k}"))
        return tuple(dims)

    def _block(self, block: Block) -> None:
        for arg in block.args:
            if arg not in self.dims:
                self.dims[arg] = self._from_type(arg)
        for op in block.ops:
            for region in op.regions:
                for inner in region.blocks:
                    self._block(inner)
            self._op(op)

    def _op(self, op: Operation) -> None:
        rule = _rule_for(op)
        results: list[Dims | None] = [None] * len(op.results)
        if rule is not None:
            try:
                out = rule(self, op)
            except (ValueError, IndexError, KeyError, TypeError, ZeroDivisionError):
                out = None  # an op the verifier accepts but a rule cannot model
            if out is not None:
                results = list(out) if isinstance(out, list) else [out]
        for res, dims in zip(op.results, results, strict=False):
            if not isinstance(res.type, TensorType):
                continue
            self.dims[res] = self._merge_type(res, dims)

    def _from_type(self, value: SSAValue) -> Dims:
        t = value.type
        if not isinstance(t, TensorType):
            return ()
        return tuple(SymInt.const(d) if d != g.DYN else self.fresh() for d in t.get_shape())

    def _merge_type(self, value: SSAValue, dims: Dims | None) -> Dims:
        """Static dims of the declared type win; a rank mismatch discards the rule."""
        shape = g.shape_of(value)
        if dims is None or len(dims) != len(shape):
            return self._from_type(value)
        return tuple(SymInt.const(s) if s != g.DYN else d for s, d in zip(shape, dims,
                                                                            strict=True))

    # ---- helpers for rules

    def d(self, value: SSAValue) -> Dims:
        dims = self.dims.get(value)
        if dims is None:
            dims = self.dims[value] = self._from_type(value)
        return dims

    def e(self, value: SSAValue) -> Elements | None:
        return self.elements.get(value)

    def set_elements(self, value: SSAValue, elements: Sequence[SymInt] | None) -> None:
        if elements is not None and len(elements) <= MAX_ELEMENTS:
            self.elements[value] = tuple(elements)


# --------------------------------------------------------------------------- rules

Rule = Callable[[SymbolicShapes, Operation], "Dims | list[Dims | None] | None"]
_RULES: dict[type[Operation], Rule] = {}


def _rule(*classes: type[Operation]) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for cls in classes:
            _RULES[cls] = fn
        return fn
    return register


def _rule_for(op: Operation) -> Rule | None:
    for cls in type(op).__mro__:
        rule = _RULES.get(cls)  # type: ignore[arg-type]
        if rule is not None:
            return rule
    return None


def _is_int_tensor(value: SSAValue) -> bool:
    t = value.type
    return isinstance(t, TensorType) and isinstance(t.element_type, IntegerType)


def _static_count(value: SSAValue) -> int | None:
    shape = g.shape_of(value)
    if g.DYN in shape:
        return None
    return int(np.prod(shape, dtype=np.int64)) if shape else 1


def broadcast(shapes: Sequence[Dims]) -> Dims | None:
    rank = max((len(s) for s in shapes), default=0)
    out: list[SymInt] = []
    for d in range(rank):
        column = [s[d - (rank - len(s))] for s in shapes if d - (rank - len(s)) >= 0]
        b = broadcast_dim(column)
        if b is None:
            return None
        out.append(b)
    return tuple(out)


def _const_ints(values: Elements | None) -> list[int] | None:
    if values is None:
        return None
    out = [v.as_int() for v in values]
    return None if any(v is None for v in out) else out  # type: ignore[return-value]


@_rule(g.ConstantOp)
def _constant(a: SymbolicShapes, op: g.ConstantOp) -> Dims:
    value = op.value
    if (_is_int_tensor(op.result) and isinstance(value, DenseIntOrFPElementsAttr)
            and (_static_count(op.result) or 0) <= MAX_ELEMENTS):
        values = [int(v) for v in value.get_values()]
        count = _static_count(op.result) or 0
        if len(values) == 1 and count != 1:  # a splat
            values = values * count
        if len(values) == count:
            a.set_elements(op.result, [SymInt.const(v) for v in values])
    return tuple(SymInt.const(s) for s in g.shape_of(op.result))


def _int_binary(kind: str, x: SymInt, y: SymInt, unsigned: bool) -> SymInt | None:
    match kind:
        case "add":
            return x + y
        case "sub":
            return x - y
        case "mul":
            return x * y
        case "div":
            xi, yi = x.as_int(), y.as_int()
            if xi is not None and yi is not None and yi != 0:
                q = abs(xi) // abs(yi)  # ONNX integer division truncates toward zero
                return SymInt.const(q if (xi >= 0) == (yi >= 0) else -q)
            if x.nonnegative() and y.positive_const():
                return x.floordiv(y)  # trunc == floor for non-negative values
            return SymInt.opaque("div", x, y)
        case "max" | "min":
            if x == y:
                return x
            xi, yi = x.as_int(), y.as_int()
            if xi is not None and yi is not None:
                return SymInt.const(max(xi, yi) if kind == "max" else min(xi, yi))
            return SymInt.opaque(kind, *sorted((x, y), key=str))
        case "mod":
            xi, yi = x.as_int(), y.as_int()
            if xi is not None and yi is not None and yi != 0:
                return SymInt.const(xi % yi)  # numpy/onnx fmod=0 semantics: sign of y
            return SymInt.opaque("mod", x, y)
    return None


def _broadcast_elements(a: SymbolicShapes, op: Operation, operands: Sequence[SSAValue],
                        fn: Callable[[list[SymInt]], SymInt | None]) -> None:
    """Elementwise values of an integer op over small operands with known values."""
    result = op.results[0]
    if not _is_int_tensor(result):
        return
    count = _static_count(result)
    if count is None or count > MAX_ELEMENTS:
        return
    arrays = []
    for v in operands:
        values = a.e(v)
        if values is None or _static_count(v) is None:
            return
        arrays.append(np.array(values, dtype=object).reshape(g.shape_of(v)))
    try:
        arrays = np.broadcast_arrays(*arrays)
    except ValueError:
        return
    out: list[SymInt] = []
    for items in zip(*(arr.reshape(-1) for arr in arrays), strict=True):
        v = fn(list(items))
        if v is None:
            return
        out.append(v)
    if len(out) == count:
        a.set_elements(result, out)


@_rule(g.ElementwiseBinaryOp)
def _binary(a: SymbolicShapes, op: g.ElementwiseBinaryOp) -> Dims | None:
    kind = {g.AddOp: "add", g.SubOp: "sub", g.MulOp: "mul", g.DivOp: "div"}[type(op)]
    unsigned = g.is_unsigned(g.element_type_of(op.result))
    _broadcast_elements(a, op, [op.lhs, op.rhs],
                        lambda xs: _int_binary(kind, xs[0], xs[1], unsigned))
    return broadcast([a.d(op.lhs), a.d(op.rhs)])


@_rule(g.ElementwiseUnaryOp)
def _unary(a: SymbolicShapes, op: Operation) -> Dims:
    x = op.operands[0]
    if isinstance(op, g.NegOp):
        _broadcast_elements(a, op, [x], lambda xs: -xs[0])
    elif isinstance(op, g.ReluOp):
        _broadcast_elements(a, op, [x], lambda xs: xs[0] if xs[0].nonnegative() else None)
    return a.d(x)


_SAME_VALUE_CASTS = ("int64", "int32")


def _elementwise_value(kind: str, op: g.ElementwiseOp, xs: list[SymInt]) -> SymInt | None:
    if kind in ("max", "min", "mod"):
        result = xs[0]
        for y in xs[1:]:
            r = _int_binary(kind, result, y, False)
            if r is None:
                return None
            result = r
        return result
    if kind == "abs":
        return xs[0] if xs[0].nonnegative() else None
    if kind == "cast":
        src = g.element_type_of(op.inputs[0])
        dst = g.element_type_of(op.result)
        if not (isinstance(src, IntegerType) and isinstance(dst, IntegerType)):
            return None
        v = xs[0].as_int()
        if v is not None:
            bits = dst.width.data
            wrapped = v & ((1 << bits) - 1)
            if not g.is_unsigned(dst) and bits > 1 and wrapped >= 1 << (bits - 1):
                wrapped -= 1 << bits
            return SymInt.const(wrapped)
        # dims, products of dims and the like fit: widening or int64 <-> int32 of a dim
        if dst.width.data >= 32 and not g.is_unsigned(dst) and xs[0].nonnegative():
            return xs[0]
        return None
    if kind == "where":
        c = xs[0].as_int()
        if c is not None:
            return xs[1] if c else xs[2]
        return xs[1] if xs[1] == xs[2] else None
    if kind in ("equal", "less", "greater", "less_or_equal", "greater_or_equal", "not"):
        values = [x.as_int() for x in xs]
        if kind == "equal" and xs[0] == xs[1]:
            return SymInt.const(1)
        if any(v is None for v in values):
            return _compare_with_sign(kind, xs)
        match kind:
            case "equal":
                return SymInt.const(int(values[0] == values[1]))
            case "less":
                return SymInt.const(int(values[0] < values[1]))
            case "greater":
                return SymInt.const(int(values[0] > values[1]))
            case "less_or_equal":
                return SymInt.const(int(values[0] <= values[1]))
            case "greater_or_equal":
                return SymInt.const(int(values[0] >= values[1]))
            case "not":
                return SymInt.const(int(not values[0]))
    return None


def _compare_with_sign(kind: str, xs: list[SymInt]) -> SymInt | None:
    """A dim (>= 0) against a negative constant: ONNX exports compare shape values with
    -1 to find the entries a Reshape must infer."""
    if len(xs) != 2:
        return None
    x, y = xs
    if y.nonnegative() and not x.nonnegative():
        x, y = y, x
        kind = {"less": "greater", "greater": "less", "less_or_equal": "greater_or_equal",
                "greater_or_equal": "less_or_equal"}.get(kind, kind)
    c = y.as_int()
    if not x.nonnegative() or c is None or c >= 0:
        return None
    # x >= 0 > c
    return SymInt.const(int(kind in ("greater", "greater_or_equal")))


@_rule(g.ElementwiseOp)
def _elementwise(a: SymbolicShapes, op: g.ElementwiseOp) -> Dims | None:
    kind = op.kind.data
    _broadcast_elements(a, op, list(op.inputs), lambda xs: _elementwise_value(kind, op, xs))
    return broadcast([a.d(v) for v in op.inputs])


@_rule(g.FusedElementwiseOp)
def _fused(a: SymbolicShapes, op: Operation) -> Dims | None:
    return broadcast([a.d(v) for v in op.operands])


@_rule(g.MatMulOp)
def _matmul(a: SymbolicShapes, op: g.MatMulOp) -> Dims | None:
    x, y = a.d(op.lhs), a.d(op.rhs)
    xb = x[:-2] if len(x) >= 2 else ()
    yb = y[:-2] if len(y) >= 2 else ()
    batch = broadcast([xb, yb])
    if batch is None:
        return None
    tail: list[SymInt] = []
    if len(x) >= 2:
        tail.append(x[-2])
    if len(y) >= 2:
        tail.append(y[-1])
    return (*batch, *tail)


@_rule(g.GemmOp)
def _gemm(a: SymbolicShapes, op: g.GemmOp) -> Dims:
    x, y = a.d(op.a), a.d(op.b)
    m = x[1] if op.trans_a.value.data else x[0]
    n = y[0] if op.trans_b.value.data else y[1]
    return (m, n)


def window_out(size: SymInt, kernel: int, stride: int, pad_total: int, dilation: int,
               ceil_mode: bool = False) -> SymInt:
    """floor((size + pads - dil*(k-1) - 1) / stride) + 1, as the lowering computes it."""
    span = size + pad_total - (dilation * (kernel - 1) + 1)
    if ceil_mode:
        span = span + (stride - 1)
    return span.floordiv(stride) + 1


@_rule(g.ConvOp)
def _conv(a: SymbolicShapes, op: g.ConvOp) -> Dims:
    x = a.d(op.input)
    if op.is_nhwc:
        x = g.to_channels_first(x)
    w = g.shape_of(op.weight)
    spatial = len(x) - 2
    strides, pads, dil = g.ints(op.strides), g.ints(op.pads), g.ints(op.dilations)
    out = [x[0], SymInt.const(w[0])]
    for i in range(spatial):
        out.append(window_out(x[2 + i], w[2 + i], strides[i], pads[i] + pads[spatial + i],
                              dil[i]))
    return tuple(g.to_channels_last(out)) if op.is_nhwc else tuple(out)


@_rule(g.PoolOp)
def _pool(a: SymbolicShapes, op: g.PoolOp) -> Dims | list[Dims | None]:
    x = a.d(op.input)
    kernel = g.ints(op.kernel_shape)
    strides, pads, dil = g.ints(op.strides), g.ints(op.pads), g.ints(op.dilations)
    spatial = len(kernel)
    ceil_mode = bool(op.ceil_mode.value.data)
    out = [x[0], x[1]]
    for i in range(spatial):
        out.append(window_out(x[2 + i], kernel[i], strides[i], pads[i] + pads[spatial + i],
                              dil[i], ceil_mode))
    dims = tuple(out)
    return [dims] * len(op.results)


@_rule(g.GlobalAvgPoolOp)
def _global_pool(a: SymbolicShapes, op: Operation) -> Dims:
    x = a.d(op.operands[0])
    return (x[0], x[1], *[SymInt.const(1)] * (len(x) - 2))


def _same_as_input(a: SymbolicShapes, op: Operation) -> list[Dims | None]:
    """Result 0 has the input's dims (other results, e.g. statistics: their types)."""
    return [a.d(op.operands[0])] + [None] * (len(op.results) - 1)


for _cls in (g.BatchNormOp, g.SoftmaxOp, g.LayerNormOp, g.AxisNormOp, g.LRNOp, g.TriluOp,
             g.CumSumOp):
    _RULES[_cls] = _same_as_input  # type: ignore[assignment]


@_rule(g.DropoutOp)
def _dropout(a: SymbolicShapes, op: Operation) -> list[Dims | None]:
    x = a.d(op.operands[0])
    return [x, x]


def reshape_target(x: Dims, target: Sequence[SymInt], allowzero: bool) -> Dims | None:
    """ONNX Reshape of dims `x` to `target` (0 copies, -1 infers), as the lowering does it.

    The lowering checks that a -1 is inferred from a non-zero product of the other dims,
    so an exact symbolic division is the run-time value. A symbolic entry that may be 0 at
    run time copies the input dim then: it is itself only when that dim is the same value.
    """
    out: list[SymInt | None] = []
    for i, t in enumerate(target):
        v = t.as_int()
        if v is not None:
            if v < -1:
                return None
            if v == -1:
                out.append(None)
            elif v == 0 and not allowzero:
                if i >= len(x):
                    return None
                out.append(x[i])
            else:
                out.append(t)
        elif not t.nonnegative():
            return None  # might be -1 (infer) at run time
        elif allowzero or i >= len(x):
            out.append(t)
        else:
            out.append(reshape_copy(t, x[i]))
    if out.count(None) > 1:
        return None
    if None in out:
        known = product(d for d in out if d is not None)
        inferred = product(x).exact_div(known)
        if inferred is None:
            inferred = SymInt.opaque("reshape_infer", product(x), known)
        out[out.index(None)] = inferred
    return tuple(d for d in out if d is not None)


@_rule(g.ReshapeOp)
def _reshape(a: SymbolicShapes, op: g.ReshapeOp) -> Dims | None:
    x = a.d(op.input)
    a.set_elements(op.result, a.e(op.input))
    return reshape_target(x, [SymInt.const(t) for t in g.ints(op.shape)], False)


@_rule(g.ReshapeDynamicOp)
def _reshape_dynamic(a: SymbolicShapes, op: g.ReshapeDynamicOp) -> Dims | None:
    x = a.d(op.input)
    a.set_elements(op.result, a.e(op.input))
    target = a.e(op.shape)
    if target is None:
        return None
    return reshape_target(x, target, bool(op.allowzero.value.data))


@_rule(g.TransposeOp)
def _transpose(a: SymbolicShapes, op: g.TransposeOp) -> Dims:
    x = a.d(op.input)
    return tuple(x[p] for p in g.ints(op.perm))


@_rule(g.ConcatOp)
def _concat(a: SymbolicShapes, op: g.ConcatOp) -> Dims:
    axis = op.axis.value.data
    inputs = list(op.inputs)
    first = a.d(inputs[0])
    total = SymInt.const(0)
    for v in inputs:
        total = total + a.d(v)[axis]
    values = [a.e(v) for v in inputs]
    if len(first) == 1 and all(v is not None for v in values):
        a.set_elements(op.result, [x for v in values for x in v])  # type: ignore[union-attr]
    return (*first[:axis], total, *first[axis + 1:])


@_rule(g.ShapeOp)
def _shape(a: SymbolicShapes, op: g.ShapeOp) -> Dims:
    x = a.d(op.input)
    part = x[op.start.value.data:op.end.value.data]
    a.set_elements(op.result, part)
    return (SymInt.const(len(part)),)


@_rule(g.SizeOp)
def _size(a: SymbolicShapes, op: g.SizeOp) -> Dims:
    a.set_elements(op.result, [product(a.d(op.input))])
    return ()


@_rule(g.SqueezeOp, g.UnsqueezeOp)
def _axes(a: SymbolicShapes, op: Operation) -> Dims:
    x = list(a.d(op.operands[0]))
    axes = sorted(g.ints(op.axes))  # type: ignore[attr-defined]
    a.set_elements(op.results[0], a.e(op.operands[0]))
    if isinstance(op, g.SqueezeOp):
        return tuple(d for i, d in enumerate(x) if i not in axes)
    for axis in axes:
        x.insert(axis, SymInt.const(1))
    return tuple(x)


@_rule(g.FlattenOp)
def _flatten(a: SymbolicShapes, op: g.FlattenOp) -> Dims:
    x = a.d(op.input)
    axis = op.axis.value.data
    a.set_elements(op.result, a.e(op.input))
    return (product(x[:axis]), product(x[axis:]))


@_rule(g.SplitOp)
def _split(a: SymbolicShapes, op: g.SplitOp) -> list[Dims | None]:
    x = a.d(op.input)
    axis = op.axis.value.data
    n = len(op.results)
    if op.splits is not None:
        parts = [SymInt.const(s) for s in g.ints(op.splits)]
    elif op.sizes is not None:
        values = a.e(op.sizes)
        if values is None or len(values) != n:
            return [None] * n
        parts = list(values)
    else:
        total = x[axis]
        static = total.as_int()
        exact = total.exact_div(n)
        if static is not None:
            parts = [SymInt.const(s) for s in g.even_splits(static, n)]
        elif exact is not None:
            parts = [exact] * n  # ceil(total / n) pieces, all equal
        else:
            parts = [SymInt.opaque("split", total, n, i) for i in range(n)]
    return [(*x[:axis], p, *x[axis + 1:]) for p in parts]


_BIG = 2**62


def slice_length(dim: SymInt, start: SymInt, end: SymInt, step: SymInt) -> SymInt:
    """len(range(*slice(start, end, step).indices(dim))), exact where it can be."""
    d, s, e, st = dim.as_int(), start.as_int(), end.as_int(), step.as_int()
    if None not in (d, s, e, st) and st != 0:
        return SymInt.const(len(range(*slice(s, e, st).indices(d))))  # type: ignore[arg-type]
    if s == 0 and st == 1 and e is not None and e >= _BIG:
        return dim  # x[0:] of a symbolic dim: all of it
    return SymInt.opaque("slice", dim, start, end, step)


@_rule(g.SliceOp)
def _slice(a: SymbolicShapes, op: g.SliceOp) -> Dims | None:
    x = list(a.d(op.input))
    rank = len(x)
    starts, ends, axes, steps = (a.e(v) for v in (op.starts, op.ends, op.axes, op.steps))
    if starts is None or ends is None or axes is None or steps is None:
        return None
    axis_values = _const_ints(axes)
    if axis_values is None:
        return None
    out = list(x)
    per_axis: dict[int, tuple[SymInt, SymInt, SymInt]] = {}
    for s, e, ax, st in zip(starts, ends, axis_values, steps, strict=True):
        ax = ax + rank if ax < 0 else ax
        out[ax] = slice_length(x[ax], s, e, st)
        per_axis[ax] = (s, e, st)
    source = a.e(op.input)
    if source is not None and rank == 1 and 0 in per_axis:
        s, e, st = per_axis[0]
        bounds = _const_ints((s, e, st))
        if bounds is not None and bounds[2] != 0:
            a.set_elements(op.result, list(source)[slice(*bounds)])
    return tuple(out)


@_rule(g.GatherOp)
def _gather(a: SymbolicShapes, op: g.GatherOp) -> Dims:
    data, ind = a.d(op.input), a.d(op.indices)
    axis = op.axis.value.data
    source, picks = a.e(op.input), _const_ints(a.e(op.indices))
    if source is not None and picks is not None and len(data) == 1:
        n = len(source)
        if all(-n <= p < n for p in picks):
            a.set_elements(op.result, [source[p] for p in picks])
    return (*data[:axis], *ind, *data[axis + 1:])


@_rule(g.GatherElementsOp)
def _gather_elements(a: SymbolicShapes, op: Operation) -> Dims:
    return a.d(op.operands[1])


@_rule(g.ScatterNDOp, g.ScatterElementsOp)
def _scatter(a: SymbolicShapes, op: Operation) -> Dims:
    return a.d(op.operands[0])


@_rule(g.ExpandOp)
def _expand(a: SymbolicShapes, op: g.ExpandOp) -> Dims | None:
    target = a.e(op.shape)
    if target is None:
        return None
    return broadcast([a.d(op.input), target])


@_rule(g.TileOp)
def _tile(a: SymbolicShapes, op: g.TileOp) -> Dims | None:
    repeats = a.e(op.repeats)
    x = a.d(op.input)
    if repeats is None or len(repeats) != len(x):
        return None
    return tuple(d * r if r.nonnegative() else SymInt.opaque("tile", d, r)
                 for d, r in zip(x, repeats, strict=True))


@_rule(g.ConstantOfShapeOp)
def _constant_of_shape(a: SymbolicShapes, op: g.ConstantOfShapeOp) -> Dims | None:
    values = a.e(op.shape)
    if values is None:
        return None
    fill = op.value
    if _is_int_tensor(op.result) and isinstance(fill, DenseIntOrFPElementsAttr):
        count = _const_ints((product(values),))
        if count is not None and count[0] <= MAX_ELEMENTS:
            v = int(next(iter(fill.get_values())))
            a.set_elements(op.result, [SymInt.const(v)] * count[0])
    return tuple(v if v.nonnegative() else SymInt.opaque("dim", v) for v in values)


@_rule(g.RangeOp)
def _range(a: SymbolicShapes, op: g.RangeOp) -> Dims:
    scalars = []
    for v in (op.start, op.limit, op.delta):
        values = a.e(v)
        scalars.append(values[0] if values is not None and len(values) == 1 else None)
    start, limit, delta = scalars
    bounds = _const_ints(tuple(x for x in scalars if x is not None))
    if bounds is not None and len(bounds) == 3 and bounds[2] != 0:
        items = list(range(*bounds))
        if _is_int_tensor(op.result) and len(items) <= MAX_ELEMENTS:
            a.set_elements(op.result, [SymInt.const(v) for v in items])
        return (SymInt.const(len(items)),)
    if start is not None and limit is not None and delta is not None:
        step = delta.as_int()
        span = limit - start
        if step is not None and step > 0 and span.nonnegative():
            return (span.ceildiv(step),)  # max(ceil(span / step), 0) for span >= 0
        return (SymInt.opaque("range", start, limit, delta),)
    return (a.fresh(),)


@_rule(g.ReduceOp)
def _reduce(a: SymbolicShapes, op: g.ReduceOp) -> Dims | None:
    if op.axes_input is not None:
        return None
    x = a.d(op.input)
    axes = set(g.ints(op.axes)) or set(range(len(x)))
    if op.keepdims.value.data:
        return tuple(SymInt.const(1) if i in axes else d for i, d in enumerate(x))
    return tuple(d for i, d in enumerate(x) if i not in axes)


@_rule(g.ArgReduceOp)
def _arg_reduce(a: SymbolicShapes, op: g.ArgReduceOp) -> Dims:
    x = a.d(op.input)
    axis = op.axis.value.data
    if op.keepdims.value.data:
        return tuple(SymInt.const(1) if i == axis else d for i, d in enumerate(x))
    return tuple(d for i, d in enumerate(x) if i != axis)


@_rule(g.RNNOp)
def _rnn(a: SymbolicShapes, op: g.RNNOp) -> list[Dims | None]:
    x = a.d(op.x)  # [T, B, I]
    dirs = SymInt.const(g.shape_of(op.w)[0])
    hidden = SymInt.const(op.hidden_size.value.data)
    state = (dirs, x[1], hidden)
    return [(x[0], dirs, x[1], hidden)] + [state] * (len(op.outputs) - 1)


MAX_DIM_NAME = 48
"""Longest derived expression an output dim is named by (longer ones read as `?`)."""


def output_dim_names(fn: func.FuncOp) -> list[tuple[str | None, ...]]:
    """Per result of `fn`, per dim: for a `?` dim, the input dim name (ONNX dim_param)
    or the expression over such names that the analysis derives (`seq*2`,
    `floordiv(h - 1, 2) + 1`); None for static dims and for dims known only at run time
    or from unnamed input dims. Names are only informative: an analysis that fails on an
    op leaves that op's dims unnamed, never fails the caller."""
    if not fn.body.blocks or fn.body.blocks[0].last_op is None:
        return []
    named: dict[str, str] = {}  # symbol -> the dim_param it stands for
    for attrs in fn.arg_attrs.data if fn.arg_attrs is not None else ():
        dims = attrs.data.get(g.ARG_DIMS_ATTR)
        for d in dims.data if isinstance(dims, ArrayAttr) else ():
            if isinstance(d, StringAttr) and d.data:
                named[str(input_dim_symbol(d.data))] = d.data
    try:
        analysis = SymbolicShapes(fn)
    except (ValueError, IndexError, KeyError, TypeError, ZeroDivisionError):
        return []
    names = []
    for value in fn.body.blocks[0].last_op.operands:
        shape = g.shape_of(value) if isinstance(value.type, TensorType) else ()
        dims = analysis.dims_of(value) or ()
        row: list[str | None] = []
        for k, size in enumerate(shape):
            dim = dims[k] if k < len(dims) else None
            text = str(dim)
            if size != g.DYN or dim is None or dim.is_const or not _over_names(dim, named):
                row.append(None)
            else:
                row.append(named.get(text, text if len(text) <= MAX_DIM_NAME else None))
        names.append(tuple(row))
    return names


def _over_names(x: SymInt, named: dict[str, str]) -> bool:
    """Whether `x` is built from named input dims only (through opaque operations too)."""
    for name in x.symbols():
        if name in named:
            continue
        parts = SymInt.symbol(name).opaque_parts()
        if parts is None or not all(_over_names(a, named) for a in parts[1]):
            return False
    return True


def _register_optional() -> None:
    """Rules for ops whose class names differ between dialect versions."""
    for name, rule in (("MaxPoolIndicesOp", _pool),):
        cls = getattr(g, name, None)
        if cls is not None:
            _RULES[cls] = rule  # type: ignore[assignment]


_register_optional()
