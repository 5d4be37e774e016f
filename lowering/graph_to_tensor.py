"""convert-graph-to-tensor: graph dialect -> linalg on tensors + tensor + arith + math.

Contract (docs/ARCHITECTURE.md, level 2): every graph op becomes `linalg.generic` /
`linalg.fill` over `tensor.empty` destinations; windowed and gathering ops read their
inputs with `linalg.index` + `tensor.extract` (at clamped, always in-bounds indices)
+ `arith.select`; weights become trailing arguments of @main.
"""

from __future__ import annotations

import math as pymath
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, func, math, tensor
from xdsl.dialects.builtin import (
    AffineMapAttr,
    AnyFloat,
    ArrayAttr,
    DictionaryAttr,
    FloatAttr,
    IndexType,
    IntegerType,
    ModuleOp,
    StringAttr,
    TensorType,
)
from xdsl.dialects.linalg.attrs import IteratorTypeAttr
from xdsl.dialects.linalg.ops import FillOp, GenericOp, IndexOp, YieldOp
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.ir.affine import AffineExpr, AffineMap
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.utils.exceptions import DiagnosticException, PassFailedException

from dialects import graph
from dialects.graph import DYN, ints, shape_of

Size = int | SSAValue
"""A dim size: a Python int when static, an `index` SSA value when dynamic."""

PARALLEL = IteratorTypeAttr.parallel()
REDUCTION = IteratorTypeAttr.reduction()
WEIGHT_ARG_ATTR = "graph.weight"


def _fail(op: Operation, message: str) -> DiagnosticException:
    return PassFailedException(f"convert-graph-to-tensor: {op.name}: {message}")


def _d(i: int) -> AffineExpr:
    return AffineExpr.dimension(i)


def _map(num_dims: int, results: Sequence[AffineExpr]) -> AffineMapAttr:
    return AffineMapAttr(AffineMap(num_dims, 0, tuple(results)))


def _identity(rank: int) -> AffineMapAttr:
    return AffineMapAttr(AffineMap.identity(rank))


# --------------------------------------------------------------------------- builders


class _Body:
    """Appends ops to a generic's body block; scalar helpers shared by all patterns."""

    def __init__(self, block: Block):
        self.block = block

    @property
    def args(self) -> tuple[SSAValue, ...]:
        return self.block.args

    def add(self, op: Operation) -> SSAValue:
        self.block.add_op(op)
        return op.results[0]

    def const(self, value: float | int, type: Attribute) -> SSAValue:
        if isinstance(type, AnyFloat):
            return self.add(arith.ConstantOp(FloatAttr(float(value), type)))
        return self.add(arith.ConstantOp.from_int_and_width(int(value), type))

    def index(self, value: int) -> SSAValue:
        return self.const(value, IndexType())

    def linalg_index(self, dim: int) -> SSAValue:
        return self.add(IndexOp(dim))

    # elementwise arithmetic on floats or integers
    def binary(self, kind: str, a: SSAValue, b: SSAValue) -> SSAValue:
        is_float = isinstance(a.type, AnyFloat)
        ops_f = {"add": arith.AddfOp, "sub": arith.SubfOp, "mul": arith.MulfOp,
                 "div": arith.DivfOp, "max": arith.MaximumfOp}
        ops_i = {"add": arith.AddiOp, "sub": arith.SubiOp, "mul": arith.MuliOp,
                 "div": arith.DivSIOp, "max": arith.MaxSIOp}
        return self.add((ops_f if is_float else ops_i)[kind](a, b))

    def unary(self, kind: str, x: SSAValue) -> SSAValue:
        t = x.type
        match kind:
            case "relu":
                return self.binary("max", x, self.const(0, t))
            case "sigmoid":
                # 1 / (1 + exp(-x))
                e = self.add(math.ExpOp(self.add(arith.NegfOp(x))))
                one = self.const(1.0, t)
                return self.add(arith.DivfOp(one, self.add(arith.AddfOp(one, e))))
            case "tanh":
                return self.add(math.TanhOp(x))
            case "exp":
                return self.add(math.ExpOp(x))
            case "neg":
                if isinstance(t, AnyFloat):
                    return self.add(arith.NegfOp(x))
                return self.add(arith.SubiOp(self.const(0, t), x))
            case "sqrt":
                return self.add(math.SqrtOp(x))
            case "gelu" | "gelu_tanh":
                return self.gelu(x, kind == "gelu_tanh")
        raise ValueError(f"unknown unary op {kind}")

    def act(self, x: SSAValue, act: StringAttr | None,
            params: Sequence[float] = ()) -> SSAValue:
        if act is not None and act.data == "clip":
            lo, hi = self.const(params[0], x.type), self.const(params[1], x.type)
            return self.add(arith.MinimumfOp(self.binary("max", x, lo), hi))
        if act is not None and act.data == "leaky_relu":
            zero = self.const(0.0, x.type)
            neg = self.binary("mul", x, self.const(params[0], x.type))
            return self.select(self.add(arith.CmpfOp(x, zero, "ogt")), x, neg)
        return x if act is None else self.unary(act.data, x)

    def gelu(self, x: SSAValue, tanh_form: bool) -> SSAValue:
        """0.5 x (1 + erf(x / sqrt 2)), or the tanh approximation (optimizer ops)."""
        t = x.type
        half, one = self.const(0.5, t), self.const(1.0, t)
        if tanh_form:
            cube = self.binary("mul", x, self.binary("mul", x, x))
            inner = self.binary("add", x, self.binary("mul", self.const(0.044715, t), cube))
            scaled = self.binary("mul", self.const(pymath.sqrt(2.0 / pymath.pi), t), inner)
            phi = self.add(math.TanhOp(scaled))
        else:
            phi = self.add(math.ErfOp(self.binary("mul", x, self.const(pymath.sqrt(0.5), t))))
        return self.binary("mul", self.binary("mul", half, x), self.binary("add", one, phi))

    def cmp(self, pred: str, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.add(arith.CmpiOp(a, b, pred))

    def select(self, c: SSAValue, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.add(arith.SelectOp(c, a, b))

    def and_(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.add(arith.AndIOp(a, b))

    def in_range(self, i: SSAValue, lo: SSAValue, hi: SSAValue) -> SSAValue:
        """lo <= i < hi."""
        return self.and_(self.cmp("sge", i, lo), self.cmp("slt", i, hi))

    def clamp(self, i: SSAValue, hi: SSAValue) -> SSAValue:
        """min(max(i, 0), hi - 1): an index that is always safe to read."""
        zero = self.index(0)
        top = self.add(arith.SubiOp(hi, self.index(1)))
        return self.add(arith.MinSIOp(self.add(arith.MaxSIOp(i, zero)), top))


class _Emit:
    """Inserts ops before the matched op; index arithmetic folds static sizes."""

    def __init__(self, rewriter: PatternRewriter, anchor: Operation):
        self.rewriter = rewriter
        self.anchor = anchor

    def __call__(self, op: Operation) -> SSAValue:
        self.rewriter.insert(op, InsertPoint.before(self.anchor))
        return op.results[0]

    def index(self, value: int) -> SSAValue:
        return self(arith.ConstantOp.from_int_and_width(value, IndexType()))

    def value(self, size: Size) -> SSAValue:
        return self.index(size) if isinstance(size, int) else size

    def size(self, tensor_value: SSAValue, dim: int) -> Size:
        s = shape_of(tensor_value)[dim]
        if s != DYN:
            return s
        return self(tensor.DimOp(tensor_value, self.index(dim)))

    def sizes(self, tensor_value: SSAValue) -> list[Size]:
        return [self.size(tensor_value, i) for i in range(len(shape_of(tensor_value)))]

    def add(self, a: Size, b: Size) -> Size:
        if isinstance(a, int) and isinstance(b, int):
            return a + b
        return self(arith.AddiOp(self.value(a), self.value(b)))

    def sub(self, a: Size, b: Size) -> Size:
        if isinstance(a, int) and isinstance(b, int):
            return a - b
        return self(arith.SubiOp(self.value(a), self.value(b)))

    def mul(self, a: Size, b: Size) -> Size:
        if isinstance(a, int) and isinstance(b, int):
            return a * b
        return self(arith.MuliOp(self.value(a), self.value(b)))

    def div(self, a: Size, b: Size) -> Size:
        if isinstance(a, int) and isinstance(b, int):
            return a // b
        return self(arith.DivSIOp(self.value(a), self.value(b)))

    def max(self, a: Size, b: Size) -> Size:
        if isinstance(a, int) and isinstance(b, int):
            return max(a, b)
        return self(arith.MaxSIOp(self.value(a), self.value(b)))

    def empty(self, sizes: Sequence[Size], element_type: Attribute) -> SSAValue:
        shape = [s if isinstance(s, int) else DYN for s in sizes]
        dynamic = [s for s in sizes if not isinstance(s, int)]
        return self(tensor.EmptyOp(dynamic, TensorType(element_type, shape)))

    def scalar(self, value: float, element_type: Attribute) -> SSAValue:
        if isinstance(element_type, AnyFloat):
            return self(arith.ConstantOp(FloatAttr(value, element_type)))
        return self(arith.ConstantOp.from_int_and_width(int(value), element_type))

    def fill(self, value: float, sizes: Sequence[Size], element_type: Attribute) -> SSAValue:
        dest = self.empty(sizes, element_type)
        return self(FillOp((self.scalar(value, element_type),), (dest,)))

    def generic(self, ins: Sequence[SSAValue], outs: Sequence[SSAValue],
                maps: Sequence[AffineMapAttr], iterators: Sequence[Attribute],
                body: Callable[[_Body], Sequence[SSAValue]]) -> list[SSAValue]:
        arg_types = [_element_type(v) for v in (*ins, *outs)]
        block = Block(arg_types=arg_types)
        b = _Body(block)
        block.add_op(YieldOp(*body(b)))
        op = GenericOp(ins, outs, Region(block), maps, iterators,
                              [v.type for v in outs])
        self(op)
        return list(op.results)


def _element_type(value: SSAValue) -> Attribute:
    t = value.type
    return t.element_type if isinstance(t, TensorType) else t


def _broadcast_map(operand: SSAValue, out_shape: Sequence[int], num_dims: int,
                   first_dim: int = 0) -> AffineMapAttr:
    """Map loops (d[first_dim..] = out dims) onto `operand` with numpy broadcasting.

    Missing leading dims are dropped; a static size-1 dim against a larger one reads
    index 0. A dynamic dim is assumed not to be broadcast (documented limitation).
    """
    shape = shape_of(operand)
    offset = len(out_shape) - len(shape)
    results = []
    for i, s in enumerate(shape):
        o = out_shape[offset + i]
        if s == 1 and o != 1:
            results.append(AffineExpr.constant(0))
        else:
            results.append(_d(first_dim + offset + i))
    return _map(num_dims, results)


def _broadcast_sizes(emit: _Emit, operands: Sequence[SSAValue],
                     out_shape: Sequence[int]) -> list[Size]:
    """Output sizes of a broadcast: static where known, else the max of operand dims."""
    sizes: list[Size] = []
    rank = len(out_shape)
    for d, s in enumerate(out_shape):
        if s != DYN:
            sizes.append(s)
            continue
        size: Size | None = None
        for v in operands:
            shape = shape_of(v)
            i = d - (rank - len(shape))
            if i < 0 or shape[i] == 1:
                continue
            this = emit.size(v, i)
            size = this if size is None else emit.max(size, this)
        sizes.append(1 if size is None else size)
    return sizes


def _act_epilogue(emit: _Emit, value: SSAValue, act: StringAttr | None,
                  residual: SSAValue | None = None,
                  params: Sequence[float] = ()) -> SSAValue:
    """One elementwise generic computing act(value + residual)."""
    if act is None and residual is None:
        return value
    rank = len(shape_of(value))
    out_shape = shape_of(value)
    ins = [value] + ([residual] if residual is not None else [])
    maps = [_identity(rank)]
    if residual is not None:
        maps.append(_broadcast_map(residual, out_shape, rank))
    dest = emit.empty(emit.sizes(value), _element_type(value))

    def body(b: _Body) -> list[SSAValue]:
        x = b.args[0]
        if residual is not None:
            x = b.binary("add", x, b.args[1])
        return [b.act(x, act, params)]

    return emit.generic(ins, [dest], [*maps, _identity(rank)], [PARALLEL] * rank, body)[0]


def _act_params(op: Operation) -> tuple[float, ...]:
    params = op.properties.get("act_params")
    return () if params is None else tuple(float(v) for v in params.get_values())


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
        emit = _Emit(rewriter, op)
        out_shape = shape_of(op.result)
        rank = len(out_shape)
        dest = emit.empty(_broadcast_sizes(emit, [op.lhs, op.rhs], out_shape),
                          _element_type(op.result))
        maps = [_broadcast_map(op.lhs, out_shape, rank),
                _broadcast_map(op.rhs, out_shape, rank), _identity(rank)]
        res = emit.generic([op.lhs, op.rhs], [dest], maps, [PARALLEL] * rank,
                           lambda b: [b.binary(kind, b.args[0], b.args[1])])
        rewriter.replace(op, [], res)


class ElementwiseUnaryPattern(RewritePattern):
    """relu/sigmoid/tanh/exp/neg/sqrt -> one parallel generic."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if not isinstance(op, graph.ElementwiseUnaryOp):
            return
        kind = graph.unary_kind(op)
        emit = _Emit(rewriter, op)
        rank = len(shape_of(op.input))
        dest = emit.empty(emit.sizes(op.input), _element_type(op.input))
        res = emit.generic([op.input], [dest], [_identity(rank)] * 2, [PARALLEL] * rank,
                           lambda b: [b.unary(kind, b.args[0])])
        rewriter.replace(op, [], res)


def _contraction(emit: _Emit, lhs: SSAValue, rhs: SSAValue, lhs_map: AffineMapAttr,
                 rhs_map: AffineMapAttr, init: SSAValue, out_rank: int,
                 alpha: float = 1.0) -> SSAValue:
    """init[out] += alpha * lhs * rhs with the reduction loop last (d[out_rank])."""
    iters = [PARALLEL] * out_rank + [REDUCTION]
    out_map = _map(out_rank + 1, [_d(i) for i in range(out_rank)])

    def body(b: _Body) -> list[SSAValue]:
        a, x, acc = b.args
        if alpha != 1.0:
            a = b.binary("mul", a, b.const(alpha, a.type))
        return [b.binary("add", acc, b.binary("mul", a, x))]

    return emit.generic([lhs, rhs], [init], [lhs_map, rhs_map, out_map], iters, body)[0]


def _init_from(emit: _Emit, sizes: Sequence[Size], element_type: Attribute,
               c: SSAValue | None, beta: float = 1.0,
               c_map: AffineMapAttr | None = None) -> SSAValue:
    """An accumulator initialised to beta * broadcast(c), or to 0."""
    if c is None or beta == 0.0:
        return emit.fill(0.0, sizes, element_type)
    rank = len(sizes)
    dest = emit.empty(sizes, element_type)
    assert c_map is not None

    def body(b: _Body) -> list[SSAValue]:
        v = b.args[0]
        if beta != 1.0:
            v = b.binary("mul", v, b.const(beta, v.type))
        return [v]

    return emit.generic([c], [dest], [c_map, _identity(rank)], [PARALLEL] * rank, body)[0]


class MatMulPattern(RewritePattern):
    """numpy matmul (batched, broadcast batch dims, 1-D operands) + bias + act."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.MatMulOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        a, b = shape_of(op.lhs), shape_of(op.rhs)
        out_shape = shape_of(op.result)
        out_rank = len(out_shape)
        a_vec, b_vec = len(a) == 1, len(b) == 1
        batch_rank = out_rank - (0 if a_vec else 1) - (0 if b_vec else 1)
        k = out_rank  # the reduction loop
        m_dim = batch_rank
        n_dim = batch_rank + (0 if a_vec else 1)
        n_loops = out_rank + 1

        def operand_map(v: SSAValue, shape: Sequence[int], tail: list[AffineExpr]):
            results: list[AffineExpr] = []
            batch = shape[:len(shape) - len(tail)]
            offset = batch_rank - len(batch)
            for i, s in enumerate(batch):
                o = out_shape[offset + i]
                results.append(AffineExpr.constant(0) if s == 1 and o != 1
                               else _d(offset + i))
            return _map(n_loops, results + tail)

        lhs_map = operand_map(op.lhs, a, [_d(k)] if a_vec else [_d(m_dim), _d(k)])
        rhs_map = operand_map(op.rhs, b, [_d(k)] if b_vec else [_d(k), _d(n_dim)])

        sizes: list[Size] = []
        for d in range(batch_rank):
            if out_shape[d] != DYN:
                sizes.append(out_shape[d])
                continue
            cands: list[Size] = []
            for v, shape in ((op.lhs, a), (op.rhs, b)):
                i = d - (batch_rank - (len(shape) - 2))
                if len(shape) >= 2 and i >= 0 and shape[i] != 1:
                    cands.append(emit.size(v, i))
            size: Size = 1
            for c in cands:
                size = c if size == 1 else emit.max(size, c)
            sizes.append(size)
        if not a_vec:
            sizes.append(emit.size(op.lhs, len(a) - 2))
        if not b_vec:
            sizes.append(emit.size(op.rhs, len(b) - 1))

        elt = _element_type(op.result)
        bias_map = None
        if op.bias is not None:
            bias_map = _broadcast_map(op.bias, out_shape, out_rank)
        init = _init_from(emit, sizes, elt, op.bias, 1.0, bias_map)
        res = _contraction(emit, op.lhs, op.rhs, lhs_map, rhs_map, init, out_rank)
        rewriter.replace(op, [], [_act_epilogue(emit, res, op.act,
                                                params=_act_params(op))])


class GemmPattern(RewritePattern):
    """act(alpha * op(A) @ op(B) + beta * C): C seeds the accumulator."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.GemmOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        ta, tb = bool(op.trans_a.value.data), bool(op.trans_b.value.data)
        alpha, beta = op.alpha.value.data, op.beta.value.data
        m, n, k = _d(0), _d(1), _d(2)
        lhs_map = _map(3, [k, m] if ta else [m, k])
        rhs_map = _map(3, [n, k] if tb else [k, n])
        sizes = [emit.size(op.a, 1 if ta else 0), emit.size(op.b, 0 if tb else 1)]
        out_shape = shape_of(op.result)
        c_map = _broadcast_map(op.c, out_shape, 2) if op.c is not None else None
        init = _init_from(emit, sizes, _element_type(op.result), op.c, beta, c_map)
        res = _contraction(emit, op.a, op.b, lhs_map, rhs_map, init, 2, alpha)
        rewriter.replace(op, [], [_act_epilogue(emit, res, op.act,
                                                params=_act_params(op))])


def _window_out_size(emit: _Emit, size: Size, kernel: int, stride: int, pad_total: int,
                     dilation: int, ceil_mode: bool, static: int) -> Size:
    if static != DYN:
        return static
    # floor((size + pads - dil*(k-1) - 1) / stride) + 1 (ceil_mode: dynamic unsupported)
    span = emit.sub(emit.add(size, pad_total), dilation * (kernel - 1) + 1)
    if ceil_mode:
        span = emit.add(span, stride - 1)
    return emit.add(emit.div(span, stride), 1)


def _pad_input(emit: _Emit, x: SSAValue, sizes: Sequence[Size], begin: Sequence[int],
               needed: Sequence[Size], pad_value: float,
               dim_pos: Callable[[int], int] = lambda d: d) -> SSAValue:
    """A copy of NC[spatial] `x` with `begin` leading pad and spatial extents `needed`.

    `sizes` are in NC[spatial] order; `dim_pos` maps such a dim to its position in `x`
    (channels-last tensors: the copy keeps x's layout)."""
    rank = len(sizes)
    spatial = rank - 2
    elt = _element_type(x)
    out_sizes_nc = [*sizes[:2], *needed]
    out_sizes: list[Size] = [0] * rank
    for d in range(rank):
        out_sizes[dim_pos(d)] = out_sizes_nc[d]
    dest = emit.empty(out_sizes, elt)
    dyn_sizes = [s for s in sizes]

    def body(b: _Body) -> list[SSAValue]:
        idx_x = [b.linalg_index(i) for i in range(rank)]
        idx = [idx_x[dim_pos(d)] for d in range(rank)]
        valid: SSAValue | None = None
        read = list(idx[:2])
        for s in range(spatial):
            hi = dyn_sizes[2 + s]
            hi_v = b.index(hi) if isinstance(hi, int) else hi
            pos = b.add(arith.SubiOp(idx[2 + s], b.index(begin[s])))
            ok = b.in_range(pos, b.index(0), hi_v)
            valid = ok if valid is None else b.and_(valid, ok)
            read.append(b.clamp(pos, hi_v))
        read_x: list[SSAValue] = list(read)
        for d in range(rank):
            read_x[dim_pos(d)] = read[d]
        v = b.add(tensor.ExtractOp(x, read_x, elt))
        assert valid is not None
        return [b.select(valid, v, b.const(pad_value, elt))]

    return emit.generic([], [dest], [_identity(rank)], [PARALLEL] * rank, body)[0]


class ConvPattern(RewritePattern):
    """N-d grouped conv: padded copy (if pads), bias-seeded reduction, fused epilogue."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ConvOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        x_shape, w_shape = shape_of(op.input), shape_of(op.weight)
        out_shape = shape_of(op.result)
        nhwc = op.is_nhwc
        # index helpers: dims of the input/result in NCHW order -> their position
        rank = len(x_shape)
        pos = (lambda d: 0 if d == 0 else (rank - 1 if d == 1 else d - 1)) if nhwc \
            else (lambda d: d)
        if nhwc:
            x_shape, out_shape = (graph.to_channels_first(x_shape),
                                  graph.to_channels_first(out_shape))
        spatial = len(x_shape) - 2
        strides, dil, pads = ints(op.strides), ints(op.dilations), ints(op.pads)
        group = op.group.value.data
        f_total, c_per_group = w_shape[0], w_shape[1]
        if f_total == DYN or f_total % group:
            raise _fail(op, "output channels must be static and divisible by group")
        f_per_group = f_total // group
        elt = _element_type(op.result)

        x_sizes = emit.sizes(op.input)
        if nhwc:
            x_sizes = [x_sizes[pos(d)] for d in range(rank)]
        out_sizes: list[Size] = [x_sizes[0], f_total]
        for i in range(spatial):
            out_sizes.append(_window_out_size(
                emit, x_sizes[2 + i], w_shape[2 + i], strides[i],
                pads[i] + pads[spatial + i], dil[i], False, out_shape[2 + i]))

        x = op.input
        if any(pads):
            # exactly the extent the windows reach: (out-1)*stride + dil*(k-1) + 1
            needed = [emit.add(emit.mul(emit.sub(out_sizes[2 + i], 1), strides[i]),
                               dil[i] * (w_shape[2 + i] - 1) + 1) for i in range(spatial)]
            x = _pad_input(emit, x, x_sizes, pads[:spatial], needed, 0.0, pos)

        # loops: n, f, o_1..o_s | c, k_1..k_s
        n_par = 2 + spatial
        n_loops = n_par + 1 + spatial
        c = _d(n_par)
        f = _d(1)
        chan = c if group == 1 else (f // f_per_group) * c_per_group + c
        depthwise = op.kind is not None and op.kind.data == "depthwise"
        if depthwise:  # optimizer: no channel reduction loop (c_per_group == 1)
            n_loops -= 1
            c = AffineExpr.constant(0)
            chan = f // f_per_group
        k0 = n_par + (0 if depthwise else 1)
        x_exprs = [_d(0), chan, *[
            _d(2 + i) * strides[i] + _d(k0 + i) * dil[i] for i in range(spatial)]]
        out_exprs = [_d(i) for i in range(n_par)]
        if nhwc:  # loops stay (n, f, spatial | c, kernel); only the maps permute
            x_exprs = graph.to_channels_last(x_exprs)
            out_exprs = graph.to_channels_last(out_exprs)
            out_sizes = list(graph.to_channels_last(out_sizes))
        x_map = _map(n_loops, x_exprs)
        w_map = _map(n_loops, [f, c, *[_d(k0 + i) for i in range(spatial)]])
        out_map = _map(n_loops, out_exprs)
        bias_map = _map(n_par, [_d(pos(1))]) if op.bias is not None else None
        init = _init_from(emit, out_sizes, elt, op.bias, 1.0, bias_map)

        def body(b: _Body) -> list[SSAValue]:
            xv, wv, acc = b.args
            return [b.binary("add", acc, b.binary("mul", xv, wv))]

        res = emit.generic([x, op.weight], [init], [x_map, w_map, out_map],
                           [PARALLEL] * n_par + [REDUCTION] * (n_loops - n_par), body)[0]
        rewriter.replace(op, [], [_act_epilogue(emit, res, op.act, op.residual,
                                                _act_params(op))])


class PoolPattern(RewritePattern):
    """max/avg pooling: a reduction over a window operand, inputs read with clamped
    `tensor.extract`; padding is masked out (never wins a max, counted only for
    count_include_pad)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if not isinstance(op, graph.MaxPoolOp | graph.AvgPoolOp):
            return
        is_max = isinstance(op, graph.MaxPoolOp)
        emit = _Emit(rewriter, op)
        x = op.input
        x_shape, out_shape = shape_of(x), shape_of(op.result)
        spatial = len(x_shape) - 2
        kernel, strides = ints(op.kernel_shape), ints(op.strides)
        pads, dil = ints(op.pads), ints(op.dilations)
        ceil_mode = bool(op.ceil_mode.value.data)
        include_pad = (not is_max) and bool(op.count_include_pad.value.data)
        elt = _element_type(op.result)
        if not isinstance(elt, AnyFloat):
            raise _fail(op, "only floating-point pooling is supported")
        if ceil_mode and any(s == DYN for s in out_shape[2:]):
            raise _fail(op, "ceil_mode with dynamic spatial dims is not supported")

        x_sizes = emit.sizes(x)
        out_sizes: list[Size] = x_sizes[:2]
        for i in range(spatial):
            out_sizes.append(_window_out_size(
                emit, x_sizes[2 + i], kernel[i], strides[i], pads[i] + pads[spatial + i],
                dil[i], ceil_mode, out_shape[2 + i]))
        window = emit.empty(list(kernel), elt)

        n_par = 2 + spatial
        n_loops = n_par + spatial
        win_map = _map(n_loops, [_d(n_par + i) for i in range(spatial)])
        out_map = _map(n_loops, [_d(i) for i in range(n_par)])
        iters = [PARALLEL] * n_par + [REDUCTION] * spatial
        acc = emit.fill(float("-inf") if is_max else 0.0, out_sizes, elt)
        outs = [acc]
        if not is_max:
            outs.append(emit.fill(0.0, out_sizes, elt))
        hi_sizes = x_sizes[2:]

        def body(b: _Body) -> list[SSAValue]:
            read = [b.linalg_index(0), b.linalg_index(1)]
            valid: SSAValue | None = None
            counted: SSAValue | None = None
            for i in range(spatial):
                o, k = b.linalg_index(2 + i), b.linalg_index(n_par + i)
                pos = _affine(b, o, strides[i], k, dil[i])
                if pads[i]:
                    pos = b.add(arith.SubiOp(pos, b.index(pads[i])))
                hi = hi_sizes[i]
                hi_v = b.index(hi) if isinstance(hi, int) else hi
                ok = b.in_range(pos, b.index(0), hi_v)
                valid = ok if valid is None else b.and_(valid, ok)
                if include_pad:
                    hi_p = b.add(arith.AddiOp(hi_v, b.index(pads[spatial + i])))
                    cnt = b.in_range(pos, b.index(-pads[i]), hi_p)
                    counted = cnt if counted is None else b.and_(counted, cnt)
                read.append(b.clamp(pos, hi_v))
            assert valid is not None
            v = b.add(tensor.ExtractOp(x, read, elt))
            if is_max:
                v = b.select(valid, v, b.const(float("-inf"), elt))
                return [b.binary("max", b.args[1], v)]
            v = b.select(valid, v, b.const(0.0, elt))
            one = b.select(counted if include_pad else valid, b.const(1.0, elt),
                           b.const(0.0, elt))
            return [b.binary("add", b.args[1], v), b.binary("add", b.args[2], one)]

        res = emit.generic([window], outs, [win_map] + [out_map] * len(outs), iters, body)
        if not is_max:
            rank = n_par
            dest = emit.empty(out_sizes, elt)
            res = emit.generic(res, [dest], [_identity(rank)] * 3, [PARALLEL] * rank,
                               lambda b: [b.binary("div", b.args[0], b.args[1])])
        rewriter.replace(op, [], [res[0]])


def _affine(b: _Body, o: SSAValue, stride: int, k: SSAValue, dil: int) -> SSAValue:
    """o * stride + k * dil on index values."""
    os = o if stride == 1 else b.add(arith.MuliOp(o, b.index(stride)))
    kd = k if dil == 1 else b.add(arith.MuliOp(k, b.index(dil)))
    return b.add(arith.AddiOp(os, kd))


class GlobalAvgPoolPattern(RewritePattern):
    """Sum over the spatial dims (reduction generic), then divide by their product."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.GlobalAvgPoolOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        x = op.input
        rank = len(shape_of(x))
        elt = _element_type(x)
        x_sizes = emit.sizes(x)
        out_sizes = [*x_sizes[:2], *[1] * (rank - 2)]
        acc = emit.fill(0.0, out_sizes, elt)
        out_map = _map(rank, [_d(0), _d(1), *[AffineExpr.constant(0)] * (rank - 2)])
        total = emit.generic([x], [acc], [_identity(rank), out_map],
                             [PARALLEL] * 2 + [REDUCTION] * (rank - 2),
                             lambda b: [b.binary("add", b.args[1], b.args[0])])[0]
        count: Size = 1
        for s in x_sizes[2:]:
            count = emit.mul(count, s)
        if isinstance(count, int):
            denom = emit.scalar(float(count), elt)
        else:
            as_int = emit(arith.IndexCastOp(count, IntegerType(64)))
            denom = emit(arith.SIToFPOp(as_int, elt))
        dest = emit.empty(out_sizes, elt)
        res = emit.generic([total], [dest], [_identity(rank)] * 2, [PARALLEL] * rank,
                           lambda b: [b.binary("div", b.args[0], denom)])
        rewriter.replace(op, [], res)


class BatchNormPattern(RewritePattern):
    """(x - mean) / sqrt(var + eps) * scale + bias, per channel (dim 1)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.BatchNormOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        rank = len(shape_of(op.input))
        elt = _element_type(op.input)
        eps = op.epsilon.value.data
        dest = emit.empty(emit.sizes(op.input), elt)
        chan = _map(rank, [_d(1)])

        def body(b: _Body) -> list[SSAValue]:
            x, scale, bias, mean, var = b.args[:5]
            denom = b.add(math.SqrtOp(b.binary("add", var, b.const(eps, elt))))
            y = b.binary("div", b.binary("sub", x, mean), denom)
            return [b.binary("add", b.binary("mul", y, scale), bias)]

        res = emit.generic([op.input, op.scale, op.bias, op.mean, op.var], [dest],
                           [_identity(rank), chan, chan, chan, chan, _identity(rank)],
                           [PARALLEL] * rank, body)
        rewriter.replace(op, [], res)


class ReshapePattern(RewritePattern):
    """tensor.reshape with a from_elements shape; -1 = total / product(known)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ReshapeOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        target = list(ints(op.shape))
        out_shape = shape_of(op.result)
        sizes: list[Size] = []
        for i, t in enumerate(target):
            sizes.append(out_shape[i] if out_shape[i] != DYN else t)
        if -1 in sizes:
            total: Size = 1
            for s in emit.sizes(op.input):
                total = emit.mul(total, s)
            known = 1
            for s in sizes:
                if s != -1:
                    known *= s  # type: ignore[operator]
            sizes[sizes.index(-1)] = emit.div(total, known)
        if pymath.prod(shape_of(op.input)) != pymath.prod(out_shape):
            # xDSL's tensor.reshape verifier multiplies `?` as -1, rejecting e.g.
            # ?x2 -> ?: such reshapes become a gathering copy instead of a view
            rewriter.replace(op, [], [_reshape_copy(emit, op.input, sizes)])
            return
        values = [emit.value(s) for s in sizes]
        shape = emit(tensor.FromElementsOp(*values))
        rewriter.replace(op, tensor.ReshapeOp(op.input, shape, op.result.type))


def _reshape_copy(emit: _Emit, x: SSAValue, sizes: Sequence[Size]) -> SSAValue:
    """Row-major reshape as a generic: linearize the output index, delinearize it."""
    in_sizes = [emit.value(s) for s in emit.sizes(x)]
    out_sizes = [emit.value(s) for s in sizes]
    rank = len(sizes)
    elt = _element_type(x)
    dest = emit.empty(sizes, elt)

    def body(b: _Body) -> list[SSAValue]:
        lin = b.linalg_index(0)
        for i in range(1, rank):
            lin = b.add(arith.AddiOp(b.add(arith.MuliOp(lin, out_sizes[i])),
                                     b.linalg_index(i)))
        read: list[SSAValue] = []
        for size in reversed(in_sizes):
            read.append(b.add(arith.RemSIOp(lin, size)))
            lin = b.add(arith.DivSIOp(lin, size))
        return [b.add(tensor.ExtractOp(x, list(reversed(read)), elt))]

    return emit.generic([], [dest], [_identity(rank)], [PARALLEL] * rank, body)[0]


class TransposePattern(RewritePattern):
    """A parallel generic whose input map is the inverse permutation."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.TransposeOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        perm = ints(op.perm)
        rank = len(perm)
        x_sizes = emit.sizes(op.input)
        dest = emit.empty([x_sizes[p] for p in perm], _element_type(op.input))
        inv = [perm.index(j) for j in range(rank)]
        res = emit.generic([op.input], [dest], [_map(rank, [_d(i) for i in inv]),
                                                _identity(rank)],
                           [PARALLEL] * rank, lambda b: [b.args[0]])
        rewriter.replace(op, [], res)


class ConcatPattern(RewritePattern):
    """A generic over the output selecting, along `axis`, the input that covers it."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ConcatOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        axis = op.axis.value.data
        inputs = list(op.inputs)
        rank = len(shape_of(op.result))
        elt = _element_type(op.result)
        if len(inputs) == 1:
            rewriter.replace(op, [], [inputs[0]])
            return
        along = [emit.value(emit.size(v, axis)) for v in inputs]
        offsets: list[SSAValue] = [emit.index(0)]
        for s in along[:-1]:
            offsets.append(emit(arith.AddiOp(offsets[-1], s)))
        total: Size = 0
        for v in inputs:
            total = emit.add(total, emit.size(v, axis))
        sizes = emit.sizes(inputs[0])
        sizes[axis] = total
        dest = emit.empty(sizes, elt)

        def body(b: _Body) -> list[SSAValue]:
            idx = [b.linalg_index(i) for i in range(rank)]
            result: SSAValue | None = None
            for v, off, size in reversed(list(zip(inputs, offsets, along, strict=True))):
                local = b.clamp(b.add(arith.SubiOp(idx[axis], off)), size)
                read = [*idx[:axis], local, *idx[axis + 1:]]
                val = b.add(tensor.ExtractOp(v, read, elt))
                if result is None:
                    result = val
                else:
                    end = b.add(arith.AddiOp(off, size))
                    result = b.select(b.cmp("slt", idx[axis], end), val, result)
            assert result is not None
            return [result]

        res = emit.generic([], [dest], [_identity(rank)], [PARALLEL] * rank, body)
        rewriter.replace(op, [], res)


class SoftmaxPattern(RewritePattern):
    """Numerically stable softmax: max-reduce, sum of exp(x - max), divide."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.SoftmaxOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        x = op.input
        axis = op.axis.value.data
        rank = len(shape_of(x))
        elt = _element_type(x)
        sizes = emit.sizes(x)
        red_sizes = sizes[:axis] + sizes[axis + 1:]
        ident = _identity(rank)
        red_map = _map(rank, [_d(i) for i in range(rank) if i != axis])
        iters = [REDUCTION if i == axis else PARALLEL for i in range(rank)]

        mx = emit.generic([x], [emit.fill(float("-inf"), red_sizes, elt)], [ident, red_map],
                          iters, lambda b: [b.binary("max", b.args[1], b.args[0])])[0]

        def exp_sum(b: _Body) -> list[SSAValue]:
            e = b.add(math.ExpOp(b.binary("sub", b.args[0], b.args[1])))
            return [b.binary("add", b.args[2], e)]

        total = emit.generic([x, mx], [emit.fill(0.0, red_sizes, elt)],
                             [ident, red_map, red_map], iters, exp_sum)[0]

        def normalize(b: _Body) -> list[SSAValue]:
            e = b.add(math.ExpOp(b.binary("sub", b.args[0], b.args[1])))
            return [b.binary("div", e, b.args[2])]

        res = emit.generic([x, mx, total], [emit.empty(sizes, elt)],
                           [ident, red_map, red_map, ident], [PARALLEL] * rank, normalize)
        rewriter.replace(op, [], res)


# --------------------------------------------------------------------------- optimizer ops


class LayerNormPattern(RewritePattern):
    """Sum, centered sum of squares (two reduction generics), then one normalizing generic."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.LayerNormOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        x = op.input
        shape = shape_of(x)
        rank, axis = len(shape), op.axis.value.data
        elt = _element_type(x)
        sizes = emit.sizes(x)
        count: Size = 1
        for size in sizes[axis:]:
            count = emit.mul(count, size)
        if isinstance(count, int):
            inv = emit.scalar(1.0 / count, elt)
        else:
            as_float = emit(arith.SIToFPOp(emit(arith.IndexCastOp(count, IntegerType(64))),
                                           elt))
            inv = emit(arith.DivfOp(emit.scalar(1.0, elt), as_float))
        eps = op.epsilon.value.data
        ident = _identity(rank)
        red_map = _map(rank, [_d(i) for i in range(axis)])
        iters = [PARALLEL] * axis + [REDUCTION] * (rank - axis)
        total = emit.generic([x], [emit.fill(0.0, sizes[:axis], elt)], [ident, red_map],
                             iters, lambda b: [b.binary("add", b.args[1], b.args[0])])[0]

        def square_sum(b: _Body) -> list[SSAValue]:
            centered = b.binary("sub", b.args[0], b.binary("mul", b.args[1], inv))
            return [b.binary("add", b.args[2], b.binary("mul", centered, centered))]

        squares = emit.generic([x, total], [emit.fill(0.0, sizes[:axis], elt)],
                               [ident, red_map, red_map], iters, square_sum)[0]
        ins = [x, total, squares]
        maps = [ident, red_map, red_map]
        for v in (op.scale, op.bias):
            if v is not None:
                ins.append(v)
                maps.append(_broadcast_map(v, shape[axis:], rank, first_dim=axis))
        has_scale, has_bias = op.scale is not None, op.bias is not None

        def normalize(b: _Body) -> list[SSAValue]:
            xv, tot, sq = b.args[:3]
            var = b.binary("mul", sq, inv)
            std = b.add(math.SqrtOp(b.binary("add", var, b.const(eps, elt))))
            y = b.binary("div", b.binary("sub", xv, b.binary("mul", tot, inv)), std)
            rest = list(b.args[3:-1])
            if has_scale:
                y = b.binary("mul", y, rest.pop(0))
            if has_bias:
                y = b.binary("add", y, rest.pop(0))
            return [y]

        res = emit.generic(ins, [emit.empty(sizes, elt)], [*maps, ident], [PARALLEL] * rank,
                           normalize)
        rewriter.replace(op, [], res)


class FusedElementwisePattern(RewritePattern):
    """graph.fused -> one parallel generic whose body is a clone of the fused body."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.FusedElementwiseOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        out_shape = shape_of(op.result)
        rank = len(out_shape)
        inputs = list(op.inputs)
        dest = emit.empty(_broadcast_sizes(emit, inputs, out_shape), _element_type(op.result))
        maps = [_broadcast_map(v, out_shape, rank) for v in inputs] + [_identity(rank)]
        source = op.body.block

        def body(b: _Body) -> list[SSAValue]:
            mapping: dict[SSAValue, SSAValue] = dict(
                zip(source.args, b.args[:len(inputs)], strict=True))
            for inner in source.ops:
                if isinstance(inner, graph.YieldOp):
                    return [mapping[inner.operands[0]]]
                clone = inner.clone(value_mapper=mapping)
                b.block.add_op(clone)
                mapping.update(zip(inner.results, clone.results, strict=True))
            raise _fail(op, "body has no graph.yield")

        res = emit.generic(inputs, [dest], maps, [PARALLEL] * rank, body)
        rewriter.replace(op, [], res)


class UnsupportedPattern(RewritePattern):
    """Anything of the graph dialect left over is an error naming the op."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if op.name.startswith("graph.") and not isinstance(op, graph.WeightOp):
            raise _fail(op, "no lowering for this op")


# --------------------------------------------------------------------------- pass


def _weights_to_arguments(fn: func.FuncOp) -> None:
    """Each distinct `graph.weight "n"` becomes a trailing argument {graph.weight = "n"}."""
    block = fn.body.blocks[0]
    by_name: dict[str, SSAValue] = {}
    arg_attrs = list(fn.arg_attrs.data) if fn.arg_attrs is not None else [
        DictionaryAttr({}) for _ in block.args]
    for op in list(fn.walk()):
        if not isinstance(op, graph.WeightOp):
            continue
        name = op.weight_name.data
        if name not in by_name:
            by_name[name] = block.insert_arg(op.result.type, len(block.args))
            arg_attrs.append(DictionaryAttr({WEIGHT_ARG_ATTR: StringAttr(name)}))
        op.result.replace_all_uses_with(by_name[name])
        Rewriter.erase_op(op)
    if by_name:
        fn.function_type = func.FunctionType.from_lists(
            [a.type for a in block.args], list(fn.function_type.outputs.data))
        fn.arg_attrs = ArrayAttr(arg_attrs)


@dataclass(frozen=True)
class ConvertGraphToTensorPass(ModulePass):
    """Lower the graph dialect to linalg on tensors (ARCHITECTURE.md level 2)."""

    name = "convert-graph-to-tensor"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for fn in op.walk():
            if isinstance(fn, func.FuncOp) and fn.body.blocks:
                _weights_to_arguments(fn)
        PatternRewriteWalker(
            GreedyRewritePatternApplier([
                ConstantPattern(), ElementwiseBinaryPattern(), ElementwiseUnaryPattern(),
                MatMulPattern(), GemmPattern(), ConvPattern(), PoolPattern(),
                GlobalAvgPoolPattern(), BatchNormPattern(), ReshapePattern(),
                TransposePattern(), ConcatPattern(), SoftmaxPattern(),
                LayerNormPattern(), FusedElementwisePattern(),  # optimizer ops
                UnsupportedPattern(),
            ]),
            apply_recursively=False,
        ).rewrite_module(op)

