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
from xdsl.dialects import arith, cf, func, math, scf, tensor
from xdsl.dialects.builtin import (
    AffineMapAttr,
    AnyFloat,
    ArrayAttr,
    DenseIntOrFPElementsAttr,
    DictionaryAttr,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    StringAttr,
    TensorType,
    f64,
    i64,
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
from xdsl.traits import is_side_effect_free
from xdsl.transforms.dead_code_elimination import region_dce
from xdsl.utils.exceptions import DiagnosticException, PassFailedException

from dialects import check, graph
from dialects.graph import DYN, ints, shape_of
from dialects.symbolic import product as sym_product
from lowering.dims import (
    LoweringDims,
    broadcast_operands,
    broadcast_reads,
    broadcast_sizes,
    check_equal,
    emit_check,
    reified_size,
    verify_generic,
)
from lowering.dims import current as current_dims
from lowering.dims import done as end_lowering
from lowering.dims import lowering as begin_lowering

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
                 "div": arith.DivfOp, "max": arith.MaximumfOp, "min": arith.MinimumfOp}
        ops_i = {"add": arith.AddiOp, "sub": arith.SubiOp, "mul": arith.MuliOp,
                 "div": arith.DivSIOp, "max": arith.MaxSIOp, "min": arith.MinSIOp}
        if graph.is_unsigned(a.type):  # the graph type says how to treat the bits
            ops_i |= {"div": arith.DivUIOp, "max": arith.MaxUIOp, "min": arith.MinUIOp}
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
        self.dims: LoweringDims = current_dims()
        self._sizes: dict[tuple[SSAValue, int], Size] = {}

    def __call__(self, op: Operation) -> SSAValue:
        self.rewriter.insert(op, InsertPoint.before(self.anchor))
        return op.results[0] if op.results else None  # type: ignore[return-value]

    def index(self, value: int) -> SSAValue:
        return self(arith.ConstantOp.from_int_and_width(value, IndexType()))

    def value(self, size: Size) -> SSAValue:
        return self.index(size) if isinstance(size, int) else size

    def size(self, tensor_value: SSAValue, dim: int) -> Size:
        """The dim's size: static, the size its producer computed, or a tensor.dim."""
        s = shape_of(tensor_value)[dim]
        if s != DYN:
            return s
        key = (tensor_value, dim)
        found = self._sizes.get(key)
        if found is None:
            found = reified_size(tensor_value, dim)
        if found is None:
            found = self(tensor.DimOp(tensor_value, self.index(dim)))
        self._sizes[key] = found
        return self.dims.record(found, self.dims.analysis.dim(tensor_value, dim))

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
        verify_generic(self, op)  # its checks go before it
        self(op)
        return list(op.results)

    def check(self, condition: SSAValue, message: str, values: Sequence[Size] = ()) -> None:
        """A run-time check; `{i}` in `message` is the run-time value of `values[i]`."""
        emit_check(self, condition, message, values)

    def broadcast(self, operands: Sequence[SSAValue], result: SSAValue
                  ) -> tuple[list[Size], list[SSAValue], list[AffineMapAttr]]:
        """numpy broadcasting of `operands` onto `result`: its sizes, and the values and
        maps a parallel generic over the result reads them with."""
        sizes, reads = broadcast_operands(self, operands, shape_of(result), result)
        return sizes, [r.value for r in reads], [r.map for r in reads]


def _element_type(value: SSAValue) -> Attribute:
    t = value.type
    return t.element_type if isinstance(t, TensorType) else t


def _act_epilogue(emit: _Emit, value: SSAValue, act: StringAttr | None,
                  residual: SSAValue | None = None,
                  params: Sequence[float] = ()) -> SSAValue:
    """One elementwise generic computing act(value + residual)."""
    if act is None and residual is None:
        return value
    rank = len(shape_of(value))
    sizes = emit.sizes(value)
    ins = [value] + ([residual] if residual is not None else [])
    reads = broadcast_reads(emit, ins, sizes)
    ins = [r.value for r in reads]
    maps = [r.map for r in reads]
    dest = emit.empty(sizes, _element_type(value))

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
        rank = len(shape_of(op.result))
        sizes, ins, maps = emit.broadcast([op.lhs, op.rhs], op.result)
        dest = emit.empty(sizes, _element_type(op.result))
        res = emit.generic(ins, [dest], [*maps, _identity(rank)], [PARALLEL] * rank,
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


class ElementwisePattern(RewritePattern):
    """graph.elementwise -> one parallel generic whose body is the kind's table lowering."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ElementwiseOp, rewriter: PatternRewriter):
        from dialects.elementwise import BY_KIND

        rule = BY_KIND[op.kind.data]
        params = op.param_values()
        emit = _Emit(rewriter, op)
        inputs = list(op.inputs)
        rank = len(shape_of(op.result))
        out_elt = _element_type(op.result)
        sizes, ins, maps = emit.broadcast(inputs, op.result)
        dest = emit.empty(sizes, out_elt)
        res = emit.generic(ins, [dest], [*maps, _identity(rank)], [PARALLEL] * rank,
                           lambda b: [rule.lower(b, list(b.args[:len(inputs)]), out_elt,
                                                 params)])
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

        # batch dims broadcast like an elementwise op (views for run-time 1s)
        tails = [1 if a_vec else 2, 1 if b_vec else 2]
        batch_sizes, checked = broadcast_sizes(emit, [op.lhs, op.rhs], out_shape[:batch_rank],
                                               op.result, tails)
        lhs_read, rhs_read = broadcast_reads(emit, [op.lhs, op.rhs], batch_sizes, checked,
                                             num_loops=n_loops, tails=tails)
        lhs_tail = [_d(k)] if a_vec else [_d(m_dim), _d(k)]
        rhs_tail = [_d(k)] if b_vec else [_d(k), _d(n_dim)]
        lhs_map = _map(n_loops, [*lhs_read.map.data.results, *lhs_tail])
        rhs_map = _map(n_loops, [*rhs_read.map.data.results, *rhs_tail])
        sizes: list[Size] = list(batch_sizes)
        if not a_vec:
            sizes.append(emit.size(op.lhs, len(a) - 2))
        if not b_vec:
            sizes.append(emit.size(op.rhs, len(b) - 1))
        check_equal(emit, emit.size(op.lhs, len(a) - 1),
                    emit.size(op.rhs, len(b) - (1 if b_vec else 2)),
                    "the contracted dims differ: {0} in operand 0, {1} in operand 1")

        elt = _element_type(op.result)
        bias, bias_map = None, None
        if op.bias is not None:
            (read,) = broadcast_reads(emit, [op.bias], sizes)
            bias, bias_map = read.value, read.map
        init = _init_from(emit, sizes, elt, bias, 1.0, bias_map)
        res = _contraction(emit, lhs_read.value, rhs_read.value, lhs_map, rhs_map, init,
                           out_rank)
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
        c, c_map = None, None
        if op.c is not None:
            (read,) = broadcast_reads(emit, [op.c], sizes)
            c, c_map = read.value, read.map
        elt = _element_type(op.result)
        if pymath.isfinite(alpha):
            init = _init_from(emit, sizes, elt, c, beta, c_map)
            res = _contraction(emit, op.a, op.b, lhs_map, rhs_map, init, 2, alpha)
        else:
            # alpha * (A @ B) as ONNX defines it: per product, inf * 0 would be nan
            res = _contraction(emit, op.a, op.b, lhs_map, rhs_map,
                               emit.fill(0.0, sizes, elt), 2)
            res = _scale_add(emit, res, alpha, c, beta, c_map)
        rewriter.replace(op, [], [_act_epilogue(emit, res, op.act,
                                                params=_act_params(op))])


def _scale_add(emit: _Emit, x: SSAValue, alpha: float, c: SSAValue | None, beta: float,
               c_map: AffineMapAttr | None) -> SSAValue:
    """alpha * x (+ beta * c) in one elementwise generic."""
    sizes = emit.sizes(x)
    rank = len(sizes)
    ins = [x] + ([c] if c is not None and beta != 0.0 else [])
    maps = [_identity(rank)] + ([c_map] if len(ins) == 2 else [])  # type: ignore[list-item]

    def body(b: _Body) -> list[SSAValue]:
        y = b.binary("mul", b.args[0], b.const(alpha, b.args[0].type))
        if len(ins) == 2:
            y = b.binary("add", y, b.binary("mul", b.args[1], b.const(beta, y.type)))
        return [y]

    dest = emit.empty(sizes, _element_type(x))
    return emit.generic(ins, [dest], [*maps, _identity(rank)], [PARALLEL] * rank, body)[0]


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


@dataclass
class _PoolWindow:
    """The window geometry of a pooling op over the spatial dims of an NCHW input: the
    output sizes, a kernel-shaped `window` operand that gives the reduction loops their
    range, and the clamped reads of each window tap."""

    x: SSAValue
    spatial: int
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    pads: tuple[int, ...]
    dilations: tuple[int, ...]
    x_sizes: list[Size]
    out_sizes: list[Size]
    window: SSAValue

    @staticmethod
    def build(emit: _Emit, op: graph.PoolOp | graph.LpPoolOp, elt: Attribute) -> _PoolWindow:
        x = op.input
        out_shape = shape_of(op.result)
        spatial = len(shape_of(x)) - 2
        kernel, strides = ints(op.kernel_shape), ints(op.strides)
        pads, dil = ints(op.pads), ints(op.dilations)
        ceil_mode = bool(op.ceil_mode.value.data)
        if ceil_mode and any(s == DYN for s in out_shape[2:]):
            raise _fail(op, "ceil_mode with dynamic spatial dims is not supported")
        x_sizes = emit.sizes(x)
        out_sizes: list[Size] = x_sizes[:2]
        for i in range(spatial):
            out_sizes.append(_window_out_size(
                emit, x_sizes[2 + i], kernel[i], strides[i], pads[i] + pads[spatial + i],
                dil[i], ceil_mode, out_shape[2 + i]))
        return _PoolWindow(x, spatial, kernel, strides, pads, dil, x_sizes, out_sizes,
                           emit.empty(list(kernel), elt))

    @property
    def n_par(self) -> int:
        return 2 + self.spatial

    def maps(self) -> tuple[AffineMapAttr, AffineMapAttr]:
        """(window map, output map) over the parallel dims then the window dims."""
        n_par, n_loops = self.n_par, self.n_par + self.spatial
        return (_map(n_loops, [_d(n_par + i) for i in range(self.spatial)]),
                _map(n_loops, [_d(i) for i in range(n_par)]))

    def tap(self, b: _Body) -> tuple[list[SSAValue], SSAValue, list[SSAValue],
                                     list[SSAValue]]:
        """Inside the body: the clamped read indices of this tap, whether it lies inside
        the input, and per spatial dim its (unpadded) position and the input extent."""
        read = [b.linalg_index(0), b.linalg_index(1)]
        valid: SSAValue | None = None
        positions, highs = [], []
        for i in range(self.spatial):
            o, k = b.linalg_index(2 + i), b.linalg_index(self.n_par + i)
            pos = _affine(b, o, self.strides[i], k, self.dilations[i])
            if self.pads[i]:
                pos = b.add(arith.SubiOp(pos, b.index(self.pads[i])))
            hi = self.x_sizes[2 + i]
            hi_v = b.index(hi) if isinstance(hi, int) else hi
            ok = b.in_range(pos, b.index(0), hi_v)
            valid = ok if valid is None else b.and_(valid, ok)
            read.append(b.clamp(pos, hi_v))
            positions.append(pos)
            highs.append(hi_v)
        assert valid is not None
        return read, valid, positions, highs


class PoolPattern(RewritePattern):
    """max/avg pooling: a reduction over a window operand, inputs read with clamped
    `tensor.extract`; padding is masked out (never wins a max, counted only for
    count_include_pad)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if not isinstance(op, graph.MaxPoolOp | graph.AvgPoolOp):
            return
        is_max = isinstance(op, graph.MaxPoolOp)
        emit = _Emit(rewriter, op)
        include_pad = (not is_max) and bool(op.count_include_pad.value.data)
        elt = _element_type(op.result)
        if not isinstance(elt, AnyFloat) and not is_max:
            raise _fail(op, "only floating-point average pooling is supported")
        win = _PoolWindow.build(emit, op, elt)
        spatial, n_par, pads = win.spatial, win.n_par, win.pads
        win_map, out_map = win.maps()
        iters = [PARALLEL] * n_par + [REDUCTION] * spatial
        acc = emit.fill(_lowest(elt) if is_max else 0.0, win.out_sizes, elt)
        outs = [acc]
        if not is_max:
            outs.append(emit.fill(0.0, win.out_sizes, elt))

        def body(b: _Body) -> list[SSAValue]:
            read, valid, positions, highs = win.tap(b)
            v = b.add(tensor.ExtractOp(win.x, read, elt))
            if is_max:
                v = b.select(valid, v, b.const(_lowest(elt), elt))
                return [b.binary("max", b.args[1], v)]
            counted = valid
            if include_pad:
                counted = None
                for i, (pos, hi_v) in enumerate(zip(positions, highs, strict=True)):
                    hi_p = b.add(arith.AddiOp(hi_v, b.index(pads[spatial + i])))
                    cnt = b.in_range(pos, b.index(-pads[i]), hi_p)
                    counted = cnt if counted is None else b.and_(counted, cnt)
                assert counted is not None
            v = b.select(valid, v, b.const(0.0, elt))
            one = b.select(counted, b.const(1.0, elt), b.const(0.0, elt))
            return [b.binary("add", b.args[1], v), b.binary("add", b.args[2], one)]

        res = emit.generic([win.window], outs, [win_map] + [out_map] * len(outs), iters,
                           body)
        if not is_max:
            dest = emit.empty(win.out_sizes, elt)
            res = emit.generic(res, [dest], [_identity(n_par)] * 3, [PARALLEL] * n_par,
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
    """A view (or a gathering copy) of the input; -1 = total / product(known)."""

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
        result_exprs = emit.dims.analysis.dims_of(op.result) or ()
        for size, expr in zip(sizes, result_exprs, strict=False):
            emit.dims.record(size, expr)
        rewriter.replace(op, [], [_reshape_to(emit, op.input, sizes, op.result.type)])


def _reshape_copy(emit: _Emit, x: SSAValue, sizes: Sequence[Size]) -> SSAValue:
    """Row-major reshape as a generic: linearize the output index, delinearize it."""
    in_sizes = [emit.value(s) for s in emit.sizes(x)]
    out_sizes = [emit.value(s) for s in sizes]
    rank = len(sizes)
    elt = _element_type(x)
    dest = emit.empty(sizes, elt)

    def body(b: _Body) -> list[SSAValue]:
        lin = b.linalg_index(0) if rank else b.index(0)  # a rank-0 result has one element
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


# --------------------------------------------------------------------------- reductions, NN ops
# graph.reduce / arg_reduce, log_softmax / hardmax, lp_pool, lrn, einsum, conv_transpose.
# Scalar rules are element-type generic: floats, signed integers, unsigned integers and i1
# (bool, compared unsigned).


def _is_unsigned(t: Attribute) -> bool:
    return graph.is_unsigned(t)


def _int_limit(t: IntegerType, top: bool) -> int:
    """The largest (`top`) or smallest value of integer type `t` as a signless constant."""
    w = t.width.data
    if _is_unsigned(t):
        return (1 << w) - 1 if top else 0
    return (1 << (w - 1)) - 1 if top else -(1 << (w - 1))


def _identity_of(kind: str, t: Attribute) -> float | int:
    """The starting accumulator of a reduction `kind` over element type `t`."""
    if kind == "prod":
        return 1
    if kind in ("max", "min"):
        if isinstance(t, AnyFloat):
            return float("-inf") if kind == "max" else float("inf")
        assert isinstance(t, IntegerType)
        return _int_limit(t, top=kind == "min")
    return 0


def _r_combine(b: _Body, kind: str, acc: SSAValue, v: SSAValue) -> SSAValue:
    """acc (+ | * | max | min) v for the reduction `kind`."""
    t = v.type
    if kind == "prod":
        return b.binary("mul", acc, v)
    if kind in ("max", "min"):
        if isinstance(t, AnyFloat):
            return b.add((arith.MaximumfOp if kind == "max" else arith.MinimumfOp)(acc, v))
        if _is_unsigned(t):
            return b.add((arith.MaxUIOp if kind == "max" else arith.MinUIOp)(acc, v))
        return b.add((arith.MaxSIOp if kind == "max" else arith.MinSIOp)(acc, v))
    return b.binary("add", acc, v)


def _r_abs(b: _Body, v: SSAValue) -> SSAValue:
    if isinstance(v.type, AnyFloat):
        return b.add(math.AbsFOp(v))
    if _is_unsigned(v.type):
        return v
    neg = b.add(arith.SubiOp(b.const(0, v.type), v))
    return b.select(b.cmp("slt", v, b.const(0, v.type)), neg, v)


def _r_element(b: _Body, kind: str, v: SSAValue) -> SSAValue:
    """The per-element term of a reduction: |x| (l1), x^2 (l2, sum_square), else x."""
    if kind == "l1":
        return _r_abs(b, v)
    if kind in ("l2", "sum_square"):
        return b.binary("mul", v, v)
    return v


def _r_div(b: _Body, a: SSAValue, d: SSAValue) -> SSAValue:
    if isinstance(a.type, AnyFloat):
        return b.add(arith.DivfOp(a, d))
    return b.add((arith.DivUIOp if _is_unsigned(a.type) else arith.DivSIOp)(a, d))


def _size_as(emit: _Emit, size: Size, t: Attribute) -> SSAValue:
    """An index size as a scalar of element type `t`."""
    if isinstance(size, int):
        return emit.scalar(float(size) if isinstance(t, AnyFloat) else size, t)
    as_int = emit(arith.IndexCastOp(size, IntegerType(64)))
    if isinstance(t, AnyFloat):
        return emit(arith.SIToFPOp(as_int, t))
    return emit(arith.IndexCastOp(size, t))


@dataclass
class _ReduceLoops:
    """The loop structure of a reduction of `x`.

    Static axes: one loop per input dim, reduction iterators on the axes, `x` read through
    the identity map and the accumulator through `out_map`. Run-time axes: loops over the
    (keepdims-shaped) result then over a `window` whose dim i has size n_i on reduced dims
    and 1 elsewhere, so that `x[o + w]` walks exactly the reduced elements.
    """

    x: SSAValue
    n_loops: int
    iterators: list[Attribute]
    out_map: AffineMapAttr
    out_sizes: list[Size]
    count: Size
    window: SSAValue | None = None

    def generic(self, emit: _Emit, extra: Sequence[SSAValue], inits: Sequence[SSAValue],
                body: Callable[[_Body, SSAValue, Sequence[SSAValue], Sequence[SSAValue]],
                               list[SSAValue]]) -> list[SSAValue]:
        """A reduction generic: `extra` are accumulator-shaped inputs; `body` gets the
        element of x, the extra values and the accumulators, returns new accumulators."""
        rank = len(shape_of(self.x))
        elt = _element_type(self.x)
        n_extra = len(extra)
        if self.window is None:
            ins = [self.x, *extra]
            maps = [_identity(rank), *[self.out_map] * n_extra]
        else:
            ins = [self.window, *extra]
            maps = [_map(self.n_loops, [_d(rank + i) for i in range(rank)]),
                    *[self.out_map] * n_extra]

        def wrapped(b: _Body) -> list[SSAValue]:
            if self.window is None:
                xv = b.args[0]
            else:
                read = [b.add(arith.AddiOp(b.linalg_index(i), b.linalg_index(rank + i)))
                        for i in range(rank)]
                xv = b.add(tensor.ExtractOp(self.x, read, elt))
            return body(b, xv, b.args[1:1 + n_extra], b.args[1 + n_extra:])

        return emit.generic(ins, list(inits), [*maps, *[self.out_map] * len(inits)],
                            self.iterators, wrapped)


def _static_reduce_loops(emit: _Emit, x: SSAValue, axes: Sequence[int],
                         keepdims: bool) -> _ReduceLoops:
    rank = len(shape_of(x))
    sizes = emit.sizes(x)
    exprs: list[AffineExpr] = []
    out_sizes: list[Size] = []
    count: Size = 1
    for i in range(rank):
        if i in axes:
            count = emit.mul(count, sizes[i])
            if keepdims:
                exprs.append(AffineExpr.constant(0))
                out_sizes.append(1)
        else:
            exprs.append(_d(i))
            out_sizes.append(sizes[i])
    iters = [REDUCTION if i in axes else PARALLEL for i in range(rank)]
    return _ReduceLoops(x, rank, iters, _map(rank, exprs), out_sizes, count)


def _runtime_axes_flags(emit: _Emit, axes: SSAValue, rank: int,
                        name: str = "graph.reduce") -> list[SSAValue]:
    """Per input dim, an i1 `dim is listed in axes` (negative axes count from the end);
    axes out of range or listed twice fail run-time checks."""
    values = []
    for j in range(shape_of(axes)[0]):
        a = emit(tensor.ExtractOp(axes, [emit.index(j)], _element_type(axes)))
        a = emit(arith.IndexCastOp(a, IndexType()))
        wrapped = emit(arith.AddiOp(a, emit.index(rank)))
        a = emit(arith.SelectOp(emit(arith.CmpiOp(a, emit.index(0), "slt")), wrapped, a))
        in_range = emit(arith.AndIOp(emit(arith.CmpiOp(a, emit.index(0), "sge")),
                                     emit(arith.CmpiOp(a, emit.index(rank), "slt"))))
        _assert(emit, in_range, f"{name}: an axis is out of range for rank {rank}")
        values.append(a)
    flags = []
    listed: Size = 0
    for i in range(rank):
        flag: SSAValue | None = None
        for a in values:
            eq = emit(arith.CmpiOp(a, emit.index(i), "eq"))
            flag = eq if flag is None else emit(arith.OrIOp(flag, eq))
        assert flag is not None
        flags.append(flag)
        listed = emit.add(listed, emit(arith.SelectOp(flag, emit.index(1), emit.index(0))))
    distinct = emit(arith.CmpiOp(emit.value(listed), emit.index(len(values)), "eq"))
    _assert(emit, distinct, f"{name}: the axes must be distinct")
    return flags


def _assert(emit: _Emit, condition: SSAValue, message: str) -> None:
    """A run-time check (cf.assert; the runtime raises InputError with `message`)."""
    emit.rewriter.insert(cf.AssertOp(condition, message), InsertPoint.before(emit.anchor))


def _runtime_reduce_loops(emit: _Emit, x: SSAValue,
                          flags: Sequence[SSAValue]) -> _ReduceLoops:
    rank = len(shape_of(x))
    sizes = emit.sizes(x)
    one = emit.index(1)
    out_sizes: list[Size] = []
    win_sizes: list[Size] = []
    count: Size = 1
    for i in range(rank):
        if sizes[i] == 1:
            out_sizes.append(1)
            win_sizes.append(1)
            continue
        n = emit.value(sizes[i])
        out_sizes.append(emit(arith.SelectOp(flags[i], one, n)))
        win_sizes.append(emit(arith.SelectOp(flags[i], n, one)))
        count = emit.mul(count, win_sizes[-1])
    window = emit.empty(win_sizes, _element_type(x))
    iters = [PARALLEL] * rank + [REDUCTION] * rank
    return _ReduceLoops(x, 2 * rank, iters, _map(2 * rank, [_d(i) for i in range(rank)]),
                        out_sizes, count, window)


def _drop_reduced_dims(emit: _Emit, value: SSAValue, flags: Sequence[SSAValue],
                       out_type: Attribute) -> SSAValue:
    """Remove the (run-time chosen) reduced size-1 dims of a keepdims-shaped result."""
    sizes = [emit.value(s) for s in emit.sizes(value)]
    rank = len(sizes)
    out_rank = len(shape_of(out_type))
    if all(d == 1 for d in shape_of(out_type)):
        return _reshape_copy(emit, value, [1] * out_rank)
    one, zero = emit.index(1), emit.index(0)
    kept = [emit(arith.XOrIOp(f, emit(arith.ConstantOp.from_int_and_width(1, 1))))
            for f in flags]
    position: list[SSAValue] = []
    seen = zero
    for i in range(rank):
        position.append(seen)
        seen = emit(arith.AddiOp(seen, emit(arith.SelectOp(kept[i], one, zero))))
    out_sizes: list[Size] = []
    for j in range(out_rank):
        size = one
        for i in range(rank):
            here = emit(arith.AndIOp(kept[i], emit(arith.CmpiOp(position[i], emit.index(j),
                                                                "eq"))))
            size = emit(arith.SelectOp(here, sizes[i], size))
        out_sizes.append(size)
    return _reshape_copy(emit, value, out_sizes)


class ReducePattern(RewritePattern):
    """graph.reduce: a reduction generic into a filled accumulator, then (for mean, l2,
    log_sum, log_sum_exp) one elementwise generic; log_sum_exp subtracts a max-reduce
    first. Run-time axes reduce over a data-dependent window (see _ReduceLoops)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ReduceOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        kind = op.kind.data
        x = op.input
        elt = _element_type(x)
        keepdims = bool(op.keepdims.value.data)
        if kind in ("l2", "log_sum", "log_sum_exp") and not isinstance(elt, AnyFloat):
            raise _fail(op, f"reduction '{kind}' needs a floating-point element type")
        flags: list[SSAValue] = []
        if op.axes_input is None:
            loops = _static_reduce_loops(emit, x, ints(op.axes), keepdims)
        else:
            flags = _runtime_axes_flags(emit, op.axes_input, len(shape_of(x)))
            loops = _runtime_reduce_loops(emit, x, flags)
        acc_kind = "sum" if kind in ("mean", "l1", "l2", "log_sum", "log_sum_exp",
                                     "sum_square") else kind
        shift: SSAValue | None = None
        if kind == "log_sum_exp":
            mx = loops.generic(emit, [], [emit.fill(float("-inf"), loops.out_sizes, elt)],
                               lambda b, v, e, acc: [_r_combine(b, "max", acc[0], v)])[0]

            def exp_term(b: _Body, v: SSAValue, e: Sequence[SSAValue],
                         acc: Sequence[SSAValue]) -> list[SSAValue]:
                m = _lse_shift(b, e[0])
                return [b.binary("add", acc[0], b.add(math.ExpOp(b.binary("sub", v, m))))]

            shift = mx
            total = loops.generic(emit, [mx], [emit.fill(0.0, loops.out_sizes, elt)],
                                  exp_term)[0]
        else:
            init = emit.fill(_identity_of(acc_kind, elt), loops.out_sizes, elt)
            total = loops.generic(
                emit, [], [init],
                lambda b, v, e, acc: [_r_combine(b, acc_kind, acc[0], _r_element(b, kind, v))])[0]
        result = self._finish(emit, kind, total, shift, loops.count, loops.out_sizes)
        if op.axes_input is not None and not keepdims:
            result = _drop_reduced_dims(emit, result, flags, op.result.type)
        rewriter.replace(op, [], [result])

    @staticmethod
    def _finish(emit: _Emit, kind: str, total: SSAValue, shift: SSAValue | None,
                count: Size, sizes: Sequence[Size]) -> SSAValue:
        if kind not in ("mean", "l2", "log_sum", "log_sum_exp"):
            return total
        elt = _element_type(total)
        rank = len(sizes)
        ins = [total] + ([shift] if shift is not None else [])
        denom = _size_as(emit, count, elt) if kind == "mean" else None

        def body(b: _Body) -> list[SSAValue]:
            v = b.args[0]
            if kind == "mean":
                assert denom is not None
                return [_r_div(b, v, denom)]
            if kind == "l2":
                return [b.add(math.SqrtOp(v))]
            log = b.add(math.LogOp(v))
            if kind == "log_sum":
                return [log]
            return [b.binary("add", log, _lse_shift(b, b.args[1]))]

        dest = emit.empty(list(sizes), elt)
        return emit.generic(ins, [dest], [_identity(rank)] * (len(ins) + 1),
                            [PARALLEL] * rank, body)[0]


def _lse_shift(b: _Body, m: SSAValue) -> SSAValue:
    """The max used to shift log-sum-exp, 0 when it is infinite: -inf (all -inf, or empty)
    or +inf (then exp(x - m) would be exp(inf - inf) = nan, not the inf of the sum)."""
    inf = b.const(float("inf"), m.type)
    is_inf = b.add(arith.CmpfOp(b.add(math.AbsFOp(m)), inf, "oeq"))
    return b.select(is_inf, b.const(0.0, m.type), m)


def _better(b: _Body, kind: str, last: bool, v: SSAValue, best: SSAValue) -> SSAValue:
    """v beats the best so far: > (argmax) or < (argmin); >= / <= to keep the last tie."""
    if isinstance(v.type, AnyFloat):
        pred = {("max", False): "ogt", ("max", True): "oge",
                ("min", False): "olt", ("min", True): "ole"}[(kind, last)]
        return b.add(arith.CmpfOp(v, best, pred))
    u = "u" if _is_unsigned(v.type) else "s"
    pred = {("max", False): "gt", ("max", True): "ge",
            ("min", False): "lt", ("min", True): "le"}[(kind, last)]
    return b.cmp(u + pred, v, best)


def _arg_reduce(emit: _Emit, x: SSAValue, axis: int, kind: str, last: bool,
                keepdims: bool) -> SSAValue:
    """The i64 index of the max/min of `x` along `axis` (one reduction generic)."""
    loops = _static_reduce_loops(emit, x, [axis], keepdims)
    elt = _element_type(x)
    vals = emit.fill(_identity_of(kind, elt), loops.out_sizes, elt)
    idx = emit.fill(0, loops.out_sizes, IntegerType(64))

    def body(b: _Body, v: SSAValue, e: Sequence[SSAValue],
             acc: Sequence[SSAValue]) -> list[SSAValue]:
        i = b.add(arith.IndexCastOp(b.linalg_index(axis), IntegerType(64)))
        better = _better(b, kind, last, v, acc[0])
        return [b.select(better, v, acc[0]), b.select(better, i, acc[1])]

    return loops.generic(emit, [], [vals, idx], body)[1]


class ArgReducePattern(RewritePattern):
    """graph.arg_reduce: (best value, best index) accumulated in one reduction generic."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ArgReduceOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        res = _arg_reduce(emit, op.input, op.axis.value.data, op.kind.data,
                          bool(op.select_last_index.value.data),
                          bool(op.keepdims.value.data))
        rewriter.replace(op, [], [res])


class LogSoftmaxPattern(RewritePattern):
    """x - max - log(sum(exp(x - max))) along the axis."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.LogSoftmaxOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        x = op.input
        axis = op.axis.value.data
        rank = len(shape_of(x))
        elt = _element_type(x)
        loops = _static_reduce_loops(emit, x, [axis], False)
        mx = loops.generic(emit, [], [emit.fill(float("-inf"), loops.out_sizes, elt)],
                           lambda b, v, e, acc: [_r_combine(b, "max", acc[0], v)])[0]
        total = loops.generic(
            emit, [mx], [emit.fill(0.0, loops.out_sizes, elt)],
            lambda b, v, e, acc: [b.binary("add", acc[0], b.add(math.ExpOp(
                b.binary("sub", v, e[0]))))])[0]

        def body(b: _Body) -> list[SSAValue]:
            shifted = b.binary("sub", b.args[0], b.args[1])
            return [b.binary("sub", shifted, b.add(math.LogOp(b.args[2])))]

        res = emit.generic([x, mx, total], [emit.empty(emit.sizes(x), elt)],
                           [_identity(rank), loops.out_map, loops.out_map, _identity(rank)],
                           [PARALLEL] * rank, body)
        rewriter.replace(op, [], res)


class HardmaxPattern(RewritePattern):
    """1 at the first maximum along the axis: an argmax, then a compare with the index."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.HardmaxOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        x = op.input
        axis = op.axis.value.data
        rank = len(shape_of(x))
        elt = _element_type(x)
        idx = _arg_reduce(emit, x, axis, "max", False, False)
        red_map = _map(rank, [_d(i) for i in range(rank) if i != axis])

        def body(b: _Body) -> list[SSAValue]:
            i = b.add(arith.IndexCastOp(b.linalg_index(axis), IntegerType(64)))
            hit = b.cmp("eq", i, b.args[0])
            return [b.select(hit, b.const(1, elt), b.const(0, elt))]

        res = emit.generic([idx], [emit.empty(emit.sizes(x), elt)],
                           [red_map, _identity(rank)], [PARALLEL] * rank, body)
        rewriter.replace(op, [], res)


class LpPoolPattern(RewritePattern):
    """(sum |x|^p over each window)^(1/p); padding and out-of-range taps contribute 0."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.LpPoolOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        p = op.p.value.data
        elt = _element_type(op.result)
        if not isinstance(elt, AnyFloat):
            raise _fail(op, "only floating-point pooling is supported")
        win = _PoolWindow.build(emit, op, elt)
        n_par = win.n_par

        def body(b: _Body) -> list[SSAValue]:
            read, valid, _, _ = win.tap(b)
            v = b.add(math.AbsFOp(b.add(tensor.ExtractOp(win.x, read, elt))))
            if p == 2:
                v = b.binary("mul", v, v)
            elif p != 1:
                v = b.add(math.PowFOp(v, b.const(float(p), elt)))
            v = b.select(valid, v, b.const(0.0, elt))
            return [b.binary("add", b.args[1], v)]

        acc = emit.fill(0.0, win.out_sizes, elt)
        total = emit.generic([win.window], [acc], list(win.maps()),
                             [PARALLEL] * n_par + [REDUCTION] * win.spatial, body)
        if p != 1:
            def root(b: _Body) -> list[SSAValue]:
                if p == 2:
                    return [b.add(math.SqrtOp(b.args[0]))]
                return [b.add(math.PowFOp(b.args[0], b.const(1.0 / p, elt)))]

            total = emit.generic(total, [emit.empty(win.out_sizes, elt)],
                                 [_identity(n_par)] * 2, [PARALLEL] * n_par, root)
        rewriter.replace(op, [], total)


class LRNPattern(RewritePattern):
    """Sum of squares over a channel window (a reduction over a `size` window operand,
    out-of-range channels masked), then x / (bias + alpha / size * sum) ^ beta."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.LRNOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        x = op.input
        rank = len(shape_of(x))
        elt = _element_type(x)
        size = op.size.value.data
        alpha, beta, bias = op.alpha.value.data, op.beta.value.data, op.bias.value.data
        sizes = emit.sizes(x)
        channels = sizes[1]
        lo = (size - 1) // 2
        window = emit.empty([size], elt)

        def body(b: _Body) -> list[SSAValue]:
            idx = [b.linalg_index(i) for i in range(rank)]
            c = b.add(arith.AddiOp(idx[1], b.linalg_index(rank)))
            if lo:
                c = b.add(arith.SubiOp(c, b.index(lo)))
            hi = b.index(channels) if isinstance(channels, int) else channels
            v = b.add(tensor.ExtractOp(x, [idx[0], b.clamp(c, hi), *idx[2:]], elt))
            v = b.select(b.in_range(c, b.index(0), hi), b.binary("mul", v, v),
                         b.const(0.0, elt))
            return [b.binary("add", b.args[1], v)]

        total = emit.generic([window], [emit.fill(0.0, sizes, elt)],
                             [_map(rank + 1, [_d(rank)]),
                              _map(rank + 1, [_d(i) for i in range(rank)])],
                             [PARALLEL] * rank + [REDUCTION], body)[0]

        def scale(b: _Body) -> list[SSAValue]:
            s = b.binary("mul", b.args[1], b.const(alpha / size, elt))
            base = b.binary("add", s, b.const(bias, elt))
            return [b.binary("div", b.args[0],
                             b.add(math.PowFOp(base, b.const(beta, elt))))]

        res = emit.generic([x, total], [emit.empty(sizes, elt)], [_identity(rank)] * 3,
                           [PARALLEL] * rank, scale)
        rewriter.replace(op, [], res)


class EinsumPattern(RewritePattern):
    """One generic: a loop per letter (output letters parallel, the rest reductions),
    each operand read through its subscripts (a repeated letter reads a diagonal)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.EinsumOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        terms, out = graph.parse_einsum(op.equation.data)
        inputs = list(op.inputs)
        summed = sorted(set("".join(terms)) - set(out))
        letters = [*out, *summed]
        dim = {c: i for i, c in enumerate(letters)}
        n = len(letters)
        elt = _element_type(op.result)
        sizes: list[Size] = []
        for c in out:
            term_i, v = next((t, v) for t, v in zip(terms, inputs, strict=True) if c in t)
            sizes.append(emit.size(v, term_i.index(c)))
        maps = [_map(n, [_d(dim[c]) for c in t]) for t in terms]
        out_map = _map(n, [_d(dim[c]) for c in out])

        def body(b: _Body) -> list[SSAValue]:
            prod = b.args[0]
            for v in b.args[1:len(inputs)]:
                prod = b.binary("mul", prod, v)
            return [b.binary("add", b.args[len(inputs)], prod)]

        init = emit.fill(0, sizes, elt)
        res = emit.generic(inputs, [init], [*maps, out_map],
                           [PARALLEL] * len(out) + [REDUCTION] * len(summed), body)
        rewriter.replace(op, [], res)


class ConvTransposePattern(RewritePattern):
    """Transposed conv as a gather over the output: out[n, f, o] += x[n, c, i] * w[c, f, k]
    where i = (o + pad - k * dilation) / stride is integral and in range (masked)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ConvTransposeOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        x, w = op.input, op.weight
        x_shape, w_shape = shape_of(x), shape_of(w)
        spatial = len(x_shape) - 2
        strides, dil, pads = ints(op.strides), ints(op.dilations), ints(op.pads)
        out_pad = ints(op.output_padding)
        group = op.group.value.data
        c_total, f_per_group = w_shape[0], w_shape[1]
        if c_total == DYN or f_per_group == DYN or c_total % group:
            raise _fail(op, "weight channels must be static and divisible by group")
        c_per_group = c_total // group
        elt = _element_type(op.result)
        out_shape = shape_of(op.result)
        x_sizes = emit.sizes(x)
        out_sizes: list[Size] = [x_sizes[0], f_per_group * group]
        for i in range(spatial):
            if out_shape[2 + i] != DYN:
                out_sizes.append(out_shape[2 + i])
                continue
            extent = (w_shape[2 + i] - 1) * dil[i] + 1 + out_pad[i] - pads[i] - pads[
                spatial + i]
            out_sizes.append(emit.add(emit.mul(emit.sub(x_sizes[2 + i], 1), strides[i]),
                                      extent))
        # loops: n, f, o_1..o_s | c, k_1..k_s
        n_par = 2 + spatial
        n_loops = n_par + 1 + spatial
        f, c = _d(1), _d(n_par)
        chan = c if group == 1 else (f // f_per_group) * c_per_group + c
        f_local = f if group == 1 else (
            AffineExpr.constant(0) if f_per_group == 1 else f % f_per_group)
        w_map = _map(n_loops, [chan, f_local, *[_d(n_par + 1 + i) for i in range(spatial)]])
        out_map = _map(n_loops, [_d(i) for i in range(n_par)])
        bias_map = _map(n_par, [_d(1)]) if op.bias is not None else None
        init = _init_from(emit, out_sizes, elt, op.bias, 1.0, bias_map)

        ins, maps = [w], [w_map]
        if group > 1:
            # grouped weight reads are not plain dims: a window operand gives c, k ranges
            ins.append(emit.empty([c_per_group, *w_shape[2:]], elt))
            maps.append(_map(n_loops, [_d(n_par + i) for i in range(1 + spatial)]))

        def body(b: _Body) -> list[SSAValue]:
            wv, acc = b.args[0], b.args[-1]
            ch = b.linalg_index(n_par)
            if group > 1:
                g_idx = b.add(arith.DivSIOp(b.linalg_index(1), b.index(f_per_group)))
                ch = b.add(arith.AddiOp(b.add(arith.MuliOp(g_idx, b.index(c_per_group))), ch))
            read = [b.linalg_index(0), ch]
            valid: SSAValue | None = None
            for i in range(spatial):
                o, k = b.linalg_index(2 + i), b.linalg_index(n_par + 1 + i)
                num = b.add(arith.AddiOp(o, b.index(pads[i]))) if pads[i] else o
                kd = k if dil[i] == 1 else b.add(arith.MuliOp(k, b.index(dil[i])))
                num = b.add(arith.SubiOp(num, kd))
                hi = x_sizes[2 + i]
                hi_v = b.index(hi) if isinstance(hi, int) else hi
                if strides[i] == 1:
                    pos, ok = num, b.in_range(num, b.index(0), hi_v)
                else:
                    s = b.index(strides[i])
                    pos = b.add(arith.DivSIOp(num, s))
                    exact = b.cmp("eq", b.add(arith.RemSIOp(num, s)), b.index(0))
                    nonneg = b.cmp("sge", num, b.index(0))
                    ok = b.and_(b.and_(exact, nonneg), b.cmp("slt", pos, hi_v))
                valid = ok if valid is None else b.and_(valid, ok)
                read.append(b.clamp(pos, hi_v))
            assert valid is not None
            xv = b.add(tensor.ExtractOp(x, read, elt))
            term = b.select(valid, b.binary("mul", xv, wv), b.const(0, elt))
            return [b.binary("add", acc, term)]

        res = emit.generic(ins, [init], [*maps, out_map],
                           [PARALLEL] * n_par + [REDUCTION] * (1 + spatial), body)
        rewriter.replace(op, [], res)


class MaxPoolIndicesPattern(RewritePattern):
    """The flat input index of each window's first maximum: (value, index) accumulated in
    one reduction generic over a window operand, like max pooling."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.MaxPoolIndicesOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        x = op.input
        x_shape, out_shape = shape_of(x), shape_of(op.result)
        spatial = len(x_shape) - 2
        kernel, strides = ints(op.kernel_shape), ints(op.strides)
        pads, dil = ints(op.pads), ints(op.dilations)
        ceil_mode = bool(op.ceil_mode.value.data)
        column_major = bool(op.storage_order.value.data)
        elt = _element_type(x)
        i64t = IntegerType(64)
        if ceil_mode and any(s == DYN for s in out_shape[2:]):
            raise _fail(op, "ceil_mode with dynamic spatial dims is not supported")
        x_sizes = emit.sizes(x)
        out_sizes: list[Size] = x_sizes[:2]
        for i in range(spatial):
            out_sizes.append(_window_out_size(
                emit, x_sizes[2 + i], kernel[i], strides[i], pads[i] + pads[spatial + i],
                dil[i], ceil_mode, out_shape[2 + i]))
        hi = [emit.value(s) for s in x_sizes]
        n_par = 2 + spatial
        n_loops = n_par + spatial

        def body(b: _Body) -> list[SSAValue]:
            read = [b.linalg_index(0), b.linalg_index(1)]
            valid: SSAValue | None = None
            for i in range(spatial):
                o, k = b.linalg_index(2 + i), b.linalg_index(n_par + i)
                pos = _affine(b, o, strides[i], k, dil[i])
                if pads[i]:
                    pos = b.add(arith.SubiOp(pos, b.index(pads[i])))
                ok = b.in_range(pos, b.index(0), hi[2 + i])
                valid = ok if valid is None else b.and_(valid, ok)
                read.append(b.clamp(pos, hi[2 + i]))
            assert valid is not None
            # flat index: (n * C + c) * prod(spatial) + spatial offset (row/column-major)
            flat = b.add(arith.AddiOp(b.add(arith.MuliOp(read[0], hi[1])), read[1]))
            order = list(range(spatial))
            if column_major:
                order.reverse()
            offset: SSAValue | None = None
            for i in order:
                offset = read[2 + i] if offset is None else b.add(arith.AddiOp(
                    b.add(arith.MuliOp(offset, hi[2 + i])), read[2 + i]))
            for i in range(spatial):
                flat = b.add(arith.MuliOp(flat, hi[2 + i]))
            assert offset is not None
            flat = b.add(arith.IndexCastOp(b.add(arith.AddiOp(flat, offset)), i64t))
            v = b.add(tensor.ExtractOp(x, read, elt))
            best, best_i = b.args[1], b.args[2]
            first = b.cmp("eq", best_i, b.const(-1, i64t))
            take = b.and_(valid, b.add(arith.OrIOp(first, _better(b, "max", False, v, best))))
            return [b.select(take, v, best), b.select(take, flat, best_i)]

        window = emit.empty(list(kernel), elt)
        outs = [emit.fill(_identity_of("max", elt), out_sizes, elt),
                emit.fill(-1, out_sizes, i64t)]
        res = emit.generic([window], outs, [
            _map(n_loops, [_d(n_par + i) for i in range(spatial)]),
            *[_map(n_loops, [_d(i) for i in range(n_par)])] * 2],
            [PARALLEL] * n_par + [REDUCTION] * spatial, body)
        rewriter.replace(op, [], [res[1]])


class DropoutPattern(RewritePattern):
    """output = input, mask = all true; a run-time training flag with a ratio other than
    0 fails a `cf.assert`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.DropoutOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        if op.training is not None:
            i1 = IntegerType(1)
            training = emit(tensor.ExtractOp(op.training, [], i1))
            ok = emit(arith.XOrIOp(training, emit(arith.ConstantOp.from_int_and_width(1, i1))))
            if op.ratio is not None:
                ratio = emit(tensor.ExtractOp(op.ratio, [], _element_type(op.ratio)))
                zero = emit.scalar(0.0, _element_type(op.ratio))
                ok = emit(arith.OrIOp(ok, emit(arith.CmpfOp(ratio, zero, "oeq"))))
            _assert(emit, ok, "Dropout: training mode with a ratio other than 0 draws random "
                    "masks, which Kiln does not support")
        mask = emit.fill(1, emit.sizes(op.input), IntegerType(1))
        rewriter.replace(op, [], [op.input, mask])


REDUCTION_NN_PATTERNS: tuple[type[RewritePattern], ...] = (
    ReducePattern, ArgReducePattern, LogSoftmaxPattern, HardmaxPattern, LpPoolPattern,
    LRNPattern, EinsumPattern, ConvTransposePattern, MaxPoolIndicesPattern, DropoutPattern)


# --------------------------------------------------------------------------- shape and
# data-movement ops (graph.SHAPE_OPS)
#
# Integer operands that size results (reshape targets, slice bounds, pads, repeats, k)
# are read at run time with tensor.extract + index_cast; data-dependent constraints are
# checked with `cf.assert` before any kernel runs, and every computed read index is
# clamped into bounds besides.


class _Ix:
    """Scalar arithmetic on `index` (and other integer/float) values through `add`.

    `add` is an `_Emit` (top level) or a `_Body.add` (inside a generic body)."""

    def __init__(self, add: Callable[[Operation], SSAValue]):
        self.add = add

    def c(self, value: int) -> SSAValue:
        return self.add(arith.ConstantOp.from_int_and_width(value, IndexType()))

    def v(self, size: Size) -> SSAValue:
        return self.c(size) if isinstance(size, int) else size

    def f(self, value: float, type: Attribute = f64) -> SSAValue:
        return self.add(arith.ConstantOp(FloatAttr(value, type)))

    def addi(self, a: Size, b: Size) -> SSAValue:
        return self.add(arith.AddiOp(self.v(a), self.v(b)))

    def subi(self, a: Size, b: Size) -> SSAValue:
        return self.add(arith.SubiOp(self.v(a), self.v(b)))

    def muli(self, a: Size, b: Size) -> SSAValue:
        return self.add(arith.MuliOp(self.v(a), self.v(b)))

    def divi(self, a: Size, b: Size) -> SSAValue:
        return self.add(arith.DivSIOp(self.v(a), self.v(b)))

    def remi(self, a: Size, b: Size) -> SSAValue:
        return self.add(arith.RemSIOp(self.v(a), self.v(b)))

    def mini(self, a: Size, b: Size) -> SSAValue:
        return self.add(arith.MinSIOp(self.v(a), self.v(b)))

    def maxi(self, a: Size, b: Size) -> SSAValue:
        return self.add(arith.MaxSIOp(self.v(a), self.v(b)))

    def cmp(self, pred: str, a: Size, b: Size) -> SSAValue:
        return self.add(arith.CmpiOp(self.v(a), self.v(b), pred))

    def sel(self, cond: SSAValue, a: Size, b: Size) -> SSAValue:
        return self.add(arith.SelectOp(cond, self.v(a), self.v(b)))

    def and_(self, *conds: SSAValue) -> SSAValue:
        result = conds[0]
        for c in conds[1:]:
            result = self.add(arith.AndIOp(result, c))
        return result

    def or_(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.add(arith.OrIOp(a, b))

    def clamp(self, i: Size, lo: Size, hi: Size) -> SSAValue:
        """min(max(i, lo), hi)."""
        return self.mini(self.maxi(i, lo), hi)

    def safe(self, i: Size, n: Size) -> SSAValue:
        """i clamped into [0, n - 1]: always a valid read index when n > 0."""
        return self.clamp(i, 0, self.subi(n, 1))

    def wrap_negative(self, i: SSAValue, n: Size) -> SSAValue:
        """i + n when i < 0 (ONNX negative indices)."""
        return self.sel(self.cmp("slt", i, 0), self.addi(i, n), i)

    def floormod(self, a: Size, n: Size) -> SSAValue:
        r = self.remi(a, n)
        return self.sel(self.cmp("slt", r, 0), self.addi(r, n), r)

    def to_index(self, value: SSAValue) -> SSAValue:
        """An integer or float scalar as an index (floats truncate toward zero)."""
        if isinstance(value.type, AnyFloat):
            value = self.add(arith.FPToSIOp(value, IntegerType(64)))
        if isinstance(value.type, IndexType):
            return value
        return self.add(arith.IndexCastOp(value, IndexType()))

    def to_int(self, value: SSAValue, type: Attribute) -> SSAValue:
        """An index as an integer of `type`."""
        return self.add(arith.IndexCastOp(value, type))

    def to_float(self, value: SSAValue, type: Attribute = f64) -> SSAValue:
        """An index as a float of `type`."""
        as_int = self.add(arith.IndexCastOp(value, IntegerType(64)))
        return self.add(arith.SIToFPOp(as_int, type))

    def read(self, t: SSAValue, indices: Sequence[Size]) -> SSAValue:
        return self.add(tensor.ExtractOp(t, [self.v(i) for i in indices], _element_type(t)))

    def read_index(self, t: SSAValue, indices: Sequence[Size]) -> SSAValue:
        return self.to_index(self.read(t, indices))


def _assert(emit: _Emit, cond: SSAValue, message: str) -> None:
    """A run-time check: native code stops with `message` when `cond` is false."""
    emit.rewriter.insert(cf.AssertOp(cond, message), InsertPoint.before(emit.anchor))


def _static_or(shape: Sequence[int], sizes: Sequence[Size], emit: _Emit | None = None,
               what: str = "") -> list[Size]:
    """Declared static dims win over computed sizes; with `emit`, a computed run-time
    size is checked (cf.assert) against the declared static dim."""
    result: list[Size] = []
    for d, (s, c) in enumerate(zip(shape, sizes, strict=True)):
        if s != DYN and emit is not None and not isinstance(c, int):
            _assert(emit, _Ix(emit).cmp("eq", c, s),
                    f"{what}: result dim {d} is not {s} at run time")
        result.append(s if s != DYN else c)
    return result


def _vector_len(op: Operation, value: SSAValue) -> int:
    shape = shape_of(value)
    if len(shape) > 1 or (shape and shape[0] == DYN):
        raise _fail(op, "a shape-like operand must be rank 0 or 1-D of static length")
    return shape[0] if shape else 1


def _read_vector(emit: _Emit, op: Operation, value: SSAValue) -> list[SSAValue]:
    """The entries of a small 1-D (or rank-0) integer/float operand as index values."""
    ix = _Ix(emit)
    if not shape_of(value):
        return [ix.read_index(value, [])]
    return [ix.read_index(value, [i]) for i in range(_vector_len(op, value))]


def _combine(b: _Body, kind: str, acc: SSAValue, value: SSAValue) -> SSAValue:
    """A scatter reduction of `value` into `acc`."""
    if kind == "none":
        return value
    if kind in ("add", "mul", "max"):
        return b.binary(kind, acc, value)
    if isinstance(acc.type, AnyFloat):
        return b.add(arith.MinimumfOp(acc, value))
    return b.add(arith.MinSIOp(acc, value))


def _reshape_to(emit: _Emit, x: SSAValue, sizes: Sequence[Size],
                result_type: TensorType) -> SSAValue:
    """Row-major reshape of `x` to `sizes` (a view when xDSL's verifier allows one),
    checking at run time that the element counts agree."""
    ix = _Ix(emit)
    sizes = _static_or(result_type.get_shape(), sizes)
    in_sizes = emit.sizes(x)
    if any(not isinstance(s, int) for s in (*sizes, *in_sizes)) and \
            not _same_count(emit.dims, in_sizes, sizes):
        total_in: Size = 1
        for s in in_sizes:
            total_in = emit.mul(total_in, s)
        total_out: Size = 1
        for s in sizes:
            total_out = emit.mul(total_out, s)
        emit.check(ix.cmp("eq", total_in, total_out),
                   "cannot reshape {0} elements into a shape of {1} elements",
                   [total_in, total_out])
    if not sizes or pymath.prod(shape_of(x)) != pymath.prod(result_type.get_shape()):
        copy = _reshape_copy(emit, x, sizes)
        if copy.type != result_type:  # keep the op's (less static) result type
            copy = emit(tensor.CastOp(copy, result_type))
        return copy
    shape = emit(tensor.FromElementsOp(*[emit.value(s) for s in sizes]))
    return emit(tensor.ReshapeOp(x, shape, result_type))


def _same_count(dims: LoweringDims, a: Sequence[Size], b: Sequence[Size]) -> bool:
    """The two shapes provably have the same number of elements."""
    if not dims.trust_analysis:
        return False
    exprs_a, exprs_b = [dims.expr(s) for s in a], [dims.expr(s) for s in b]
    if any(e is None for e in (*exprs_a, *exprs_b)):
        return False
    return sym_product(exprs_a) == sym_product(exprs_b)  # type: ignore[arg-type]


def _strided_copy(emit: _Emit, x: SSAValue, out_sizes: Sequence[Size],
                  starts: Sequence[Size], steps: Sequence[Size],
                  result_type: Attribute) -> SSAValue:
    """out[i] = x[starts + i * steps] (reads clamped into x)."""
    rank = len(out_sizes)
    x_sizes = emit.sizes(x)
    dest = emit.empty(_static_or(shape_of(result_type), out_sizes), _element_type(x))

    def body(b: _Body) -> list[SSAValue]:
        ix = _Ix(b.add)
        read = []
        for d in range(rank):
            i = b.linalg_index(d)
            if steps[d] != 1:
                i = ix.muli(i, steps[d])
            if starts[d] != 0:
                i = ix.addi(i, starts[d])
            read.append(ix.safe(i, x_sizes[d]))
        return [ix.read(x, read)]

    return emit.generic([], [dest], [_identity(rank)], [PARALLEL] * rank, body)[0]


def _check_indices(emit: _Emit, indices: SSAValue, bound: Size, what: str,
                   components: int | None = None, bounds: Sequence[Size] = ()) -> None:
    """cf.assert that every index lies in [-bound, bound) (per last-dim component when
    `bounds` is given), counting violations in one reduction generic."""
    shape = shape_of(indices)
    rank = len(shape)
    i64 = IntegerType(64)
    ix = _Ix(emit)
    if rank == 0:
        v = ix.read_index(indices, [])
        ok = ix.and_(ix.cmp("sge", v, ix.subi(0, bound)), ix.cmp("slt", v, bound))
        _assert(emit, ok, f"{what}: index out of range")
        return
    count = emit.fill(0, [], i64)

    def body(b: _Body) -> list[SSAValue]:
        bx = _Ix(b.add)
        v = bx.to_index(b.args[0])
        if bounds:
            k = b.linalg_index(rank - 1)
            n = bx.v(bounds[0])
            for j, bj in enumerate(bounds[1:], start=1):
                n = bx.sel(bx.cmp("eq", k, j), bj, n)
        else:
            n = bx.v(bound)
        ok = bx.and_(bx.cmp("sge", v, bx.subi(0, n)), bx.cmp("slt", v, n))
        bad = b.add(arith.SelectOp(ok, b.const(0, i64), b.const(1, i64)))
        return [b.add(arith.AddiOp(b.args[1], bad))]

    total = emit.generic([indices], [count], [_identity(rank), _map(rank, [])],
                         [REDUCTION] * rank, body)[0]
    zero = emit(arith.ConstantOp.from_int_and_width(0, i64))
    bad = emit(tensor.ExtractOp(total, [], i64))
    _assert(emit, emit(arith.CmpiOp(bad, zero, "eq")), f"{what}: index out of range")


class ShapeOfPattern(RewritePattern):
    """graph.shape -> tensor.dim + index_cast + tensor.from_elements."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ShapeOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        ix = _Ix(emit)
        i64 = IntegerType(64)
        start, end = op.start.value.data, op.end.value.data
        dims = [ix.to_int(emit.value(emit.size(op.input, d)), i64) for d in range(start, end)]
        if not dims:
            rewriter.replace(op, [], [emit.empty([0], i64)])
            return
        rewriter.replace(op, tensor.FromElementsOp(*dims, result_type=op.result.type))


class SizePattern(RewritePattern):
    """graph.size -> product of tensor.dim, filled into a rank-0 i64."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.SizeOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        total: Size = 1
        for s in emit.sizes(op.input):
            total = emit.mul(total, s)
        value = _Ix(emit).to_int(emit.value(total), IntegerType(64))
        dest = emit.empty([], IntegerType(64))
        rewriter.replace(op, FillOp((value,), (dest,)))


class ReshapeDynamicPattern(RewritePattern):
    """Run-time ONNX Reshape: 0 copies an input dim, -1 is total / product(others).

    Target entries whose values the shape analysis knows need no run-time read (a
    constant) or no -1/0 handling (a dim, >= 0; the input's own dim when it is that);
    the rest are read, checked and resolved at run time."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ReshapeDynamicOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        ix = _Ix(emit)
        dims_state = emit.dims
        x_sizes = emit.sizes(op.input)
        allowzero = bool(op.allowzero.value.data)
        n = _vector_len(op, op.shape)
        known = dims_state.analysis.elements_of(op.shape) if dims_state.trust_analysis \
            else None
        if known is not None and len(known) != n:
            known = None
        x_exprs = [dims_state.expr(v) for v in x_sizes]
        entries: list[Size | None] = []  # None: the -1 to infer
        may_infer: list[int] = []  # entries read at run time that may be -1
        for i in range(n):
            value = known[i] if known is not None else None
            c = value.as_int() if value is not None else None
            if c is not None and c >= -1:
                copy = c == 0 and not allowzero and i < len(x_sizes)
                entries.append(x_sizes[i] if copy else (None if c == -1 else c))
                continue
            if value is not None and value.nonnegative() and i < len(x_sizes) and \
                    not allowzero and x_exprs[i] == value:
                entries.append(x_sizes[i])  # this entry is the input's own dim
                continue
            s = ix.read_index(op.shape, [i] if shape_of(op.shape) else [])
            if value is None or not value.nonnegative():
                emit.check(ix.cmp("sge", s, -1), f"Reshape: target dim {i} is {{0}}, "
                           "below -1", [s])
                may_infer.append(i)
            if not allowzero and i < len(x_sizes):
                s = ix.sel(ix.cmp("eq", s, 0), x_sizes[i], s)
            entries.append(s)
        total: Size = 1
        for size in x_sizes:
            total = emit.mul(total, size)
        product: Size = 1
        for i, e in enumerate(entries):
            if e is None:
                continue
            if i in may_infer:
                e = ix.sel(ix.cmp("eq", e, -1), 1, e)
            product = emit.mul(product, e)
        if None in entries or may_infer:  # a -1 next to a 0 is ambiguous (numpy refuses)
            infers = [ix.cmp("eq", entries[i], -1) for i in may_infer]
            if None in entries:
                infers.append(emit(arith.ConstantOp.from_int_and_width(1, 1)))
            any_infer = infers[0]
            for f in infers[1:]:
                any_infer = ix.or_(any_infer, f)
            no_infer = emit(arith.XOrIOp(any_infer, emit(arith.ConstantOp.from_int_and_width(
                1, 1))))
            emit.check(ix.or_(no_infer, ix.cmp("ne", product, 0)),
                       "Reshape cannot infer its -1 dim: the other target dims multiply "
                       "to 0")
            inferred = ix.divi(total, ix.maxi(product, 1))
        sizes: list[Size] = []
        for i, e in enumerate(entries):
            if e is None:
                e = inferred
            elif i in may_infer:
                e = ix.sel(ix.cmp("eq", e, -1), inferred, e)
            sizes.append(e)
        for size, expr in zip(sizes, dims_state.analysis.dims_of(op.result) or (),
                              strict=False):
            dims_state.record(size, expr)
        for d, want in enumerate(shape_of(op.result)):
            if want != DYN and not (isinstance(sizes[d], int) and sizes[d] == want):
                emit.check(ix.cmp("eq", sizes[d], want),
                           f"Reshape: dim {d} of the target is {{0}}, not {want}", [sizes[d]])
        result = _reshape_to(emit, op.input, sizes, op.result.type)
        rewriter.replace(op, [], [result])


class AxesReshapePattern(RewritePattern):
    """graph.squeeze / graph.unsqueeze / graph.flatten -> a reshape on tensor.dim sizes."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if not isinstance(op, graph.SqueezeOp | graph.UnsqueezeOp | graph.FlattenOp):
            return
        emit = _Emit(rewriter, op)
        ix = _Ix(emit)
        x_sizes = emit.sizes(op.input)
        sizes: list[Size]
        if isinstance(op, graph.SqueezeOp):
            axes = ints(op.axes)
            for a in axes:
                if not isinstance(x_sizes[a], int):
                    _assert(emit, ix.cmp("eq", x_sizes[a], 1),
                            f"Squeeze: dim {a} is not 1 at run time")
            sizes = [s for i, s in enumerate(x_sizes) if i not in axes]
        elif isinstance(op, graph.UnsqueezeOp):
            rest = iter(x_sizes)
            sizes = [1 if i in ints(op.axes) else next(rest)
                     for i in range(len(shape_of(op.result)))]
        else:
            axis = op.axis.value.data
            outer: Size = 1
            inner: Size = 1
            for s in x_sizes[:axis]:
                outer = emit.mul(outer, s)
            for s in x_sizes[axis:]:
                inner = emit.mul(inner, s)
            sizes = [outer, inner]
        rewriter.replace(op, [], [_reshape_to(emit, op.input, sizes, op.result.type)])


class AxesDynamicPattern(RewritePattern):
    """graph.squeeze_dynamic / unsqueeze_dynamic: result sizes from run-time axes."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if not isinstance(op, graph.SqueezeDynamicOp | graph.UnsqueezeDynamicOp):
            return
        emit = _Emit(rewriter, op)
        ix = _Ix(emit)
        x_sizes = emit.sizes(op.input)
        out_rank = len(shape_of(op.result))
        squeeze = isinstance(op, graph.SqueezeDynamicOp)
        axes_rank = len(x_sizes) if squeeze else out_rank
        axes = []
        for a in _read_vector(emit, op, op.axes):
            _assert(emit, ix.and_(ix.cmp("sge", a, -axes_rank), ix.cmp("slt", a, axes_rank)),
                    f"{op.name}: an axis is out of range for rank {axes_rank}")
            axes.append(ix.wrap_negative(a, axes_rank))

        def listed(d: int) -> SSAValue:
            hit = ix.cmp("eq", axes[0], d)
            for a in axes[1:]:
                hit = ix.or_(hit, ix.cmp("eq", a, d))
            return hit

        sizes: list[Size] = []
        if squeeze:
            kept_before: SSAValue = ix.c(0)
            sizes = [ix.c(0)] * out_rank
            for d, n in enumerate(x_sizes):
                gone = listed(d)
                keep = ix.cmp("eq", ix.sel(gone, 1, 0), 0)
                _assert(emit, ix.or_(keep, ix.cmp("eq", n, 1)),
                        f"Squeeze: dim {d} is squeezed but is not 1")
                for p in range(out_rank):
                    here = ix.and_(ix.cmp("eq", kept_before, p), keep)
                    sizes[p] = ix.sel(here, n, sizes[p])
                kept_before = ix.addi(kept_before, ix.sel(gone, 0, 1))
        else:
            for p in range(out_rank):
                before: SSAValue = ix.c(0)
                for a in axes:
                    before = ix.addi(before, ix.sel(ix.cmp("slt", a, p), 1, 0))
                source = ix.subi(p, before)
                size = ix.v(x_sizes[0]) if x_sizes else ix.c(1)
                for d, n in enumerate(x_sizes[1:], start=1):
                    size = ix.sel(ix.cmp("eq", source, d), n, size)
                sizes.append(ix.sel(listed(p), 1, size))
        rewriter.replace(op, [], [_reshape_to(emit, op.input, sizes, op.result.type)])


class SplitPattern(RewritePattern):
    """Each result of graph.split is a copy of its window along `axis`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.SplitOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        ix = _Ix(emit)
        axis = op.axis.value.data
        x_sizes = emit.sizes(op.input)
        n = x_sizes[axis]
        parts = len(op.results)
        results = []
        if op.sizes is not None:
            lengths = _read_vector(emit, op, op.sizes)
            offsets = [0]
            for length in lengths[:-1]:
                offsets.append(emit.add(offsets[-1], length))
            total = emit.add(offsets[-1], lengths[-1])
            for length in lengths:
                _assert(emit, ix.cmp("sge", length, 0), "Split: a split size is negative")
            _assert(emit, ix.cmp("eq", total, n),
                    f"Split: the split sizes do not add up to dim {axis}")
        elif op.splits is not None:
            splits = ints(op.splits)
            if not isinstance(n, int) or sum(splits) != n:
                _assert(emit, ix.cmp("eq", n, sum(splits)),
                        f"Split: the split sizes do not add up to dim {axis}")
            offsets: list[Size] = [sum(splits[:i]) for i in range(parts)]
            lengths: list[Size] = list(splits)
        else:
            chunk = emit.div(emit.add(n, parts - 1), parts)
            offsets = [emit.mul(chunk, i) for i in range(parts)]
            lengths = [emit.max(0, ix.mini(chunk, emit.sub(n, off)))
                       if not (isinstance(chunk, int) and isinstance(n, int))
                       else max(0, min(chunk, n - off))  # type: ignore[operator]
                       for off in offsets]
        for res, off, length in zip(op.results, offsets, lengths, strict=True):
            sizes = list(x_sizes)
            sizes[axis] = length
            starts: list[Size] = [0] * len(sizes)
            starts[axis] = off
            results.append(_strided_copy(emit, op.input, sizes, starts, [1] * len(sizes),
                                         res.type))
        rewriter.replace(op, [], results)


class SlicePattern(RewritePattern):
    """ONNX Slice with run-time starts/ends/axes/steps (clamped per ONNX)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.SliceOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        ix = _Ix(emit)
        x_sizes = emit.sizes(op.input)
        rank = len(x_sizes)
        starts_in = _read_vector(emit, op, op.starts)
        ends_in = _read_vector(emit, op, op.ends)
        axes_in = _read_vector(emit, op, op.axes)
        steps_in = _read_vector(emit, op, op.steps)
        starts: list[Size] = [0] * rank
        steps: list[Size] = [1] * rank
        sizes: list[Size] = list(x_sizes)
        for k, (s, e, a, t) in enumerate(zip(starts_in, ends_in, axes_in, steps_in,
                                             strict=True)):
            _assert(emit, ix.cmp("ne", t, 0), "Slice: a step is 0")
            _assert(emit, ix.and_(ix.cmp("sge", a, -rank), ix.cmp("slt", a, rank)),
                    f"Slice: an axis is out of range for rank {rank}")
            a = ix.wrap_negative(a, rank)
            for d in range(rank):
                n = x_sizes[d]
                hit = ix.cmp("eq", a, d)
                pos = ix.cmp("sgt", t, 0)
                s_d = ix.wrap_negative(s, n)
                e_d = ix.wrap_negative(e, n)
                n1 = ix.subi(n, 1)
                s_d = ix.sel(pos, ix.clamp(s_d, 0, n), ix.clamp(s_d, 0, n1))
                e_d = ix.sel(pos, ix.clamp(e_d, 0, n), ix.clamp(e_d, -1, n1))
                span = ix.sel(pos, ix.subi(e_d, s_d), ix.subi(s_d, e_d))
                mag = ix.sel(pos, t, ix.subi(0, t))
                count = ix.maxi(ix.divi(ix.addi(span, ix.subi(mag, 1)), mag), 0)
                starts[d] = ix.sel(hit, s_d, starts[d])
                steps[d] = ix.sel(hit, t, steps[d])
                sizes[d] = ix.sel(hit, count, sizes[d])
            del k
        sizes = _static_or(shape_of(op.result), sizes, emit, "Slice")
        result = _strided_copy(emit, op.input, sizes, starts, steps, op.result.type)
        rewriter.replace(op, [], [result])


class GatherPattern(RewritePattern):
    """graph.gather / gather_elements / gather_nd: a generic over the output reading the
    data at (normalized, clamped) gathered indices; indices are range-checked first."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if not isinstance(op, graph.GatherOp | graph.GatherElementsOp | graph.GatherNDOp):
            return
        emit = _Emit(rewriter, op)
        x, ind = op.input, op.indices
        x_sizes = emit.sizes(x)
        ind_shape = shape_of(ind)
        out_shape = shape_of(op.result)
        rank = len(out_shape)
        elt = _element_type(op.result)
        if isinstance(op, graph.GatherOp):
            axis = op.axis.value.data
            q = len(ind_shape)
            _check_indices(emit, ind, x_sizes[axis], "Gather")
            ind_sizes = emit.sizes(ind)
            sizes = [*x_sizes[:axis], *ind_sizes, *x_sizes[axis + 1:]]

            def body(b: _Body) -> list[SSAValue]:
                ix = _Ix(b.add)
                o = [b.linalg_index(d) for d in range(rank)]
                i = ix.read_index(ind, o[axis:axis + q])
                i = ix.safe(ix.wrap_negative(i, x_sizes[axis]), x_sizes[axis])
                return [ix.read(x, [*o[:axis], i, *o[axis + q:]])]
        elif isinstance(op, graph.GatherElementsOp):
            axis = op.axis.value.data
            _check_indices(emit, ind, x_sizes[axis], "GatherElements")
            sizes = emit.sizes(ind)
            for d in range(rank):
                if d != axis:
                    ok = _Ix(emit).cmp("sle", sizes[d], x_sizes[d])
                    _assert(emit, ok, f"GatherElements: indices dim {d} exceeds the data's")

            def body(b: _Body) -> list[SSAValue]:
                ix = _Ix(b.add)
                o = [b.linalg_index(d) for d in range(rank)]
                i = ix.read_index(ind, o)
                i = ix.safe(ix.wrap_negative(i, x_sizes[axis]), x_sizes[axis])
                read = [i if d == axis else ix.safe(o[d], x_sizes[d]) for d in range(rank)]
                return [ix.read(x, read)]
        else:
            bd = op.batch_dims.value.data
            r = ind_shape[-1]
            q = len(ind_shape)
            _check_indices(emit, ind, 0, "GatherND", bounds=x_sizes[bd:bd + r])
            sizes = [*emit.sizes(ind)[:-1], *x_sizes[bd + r:]]

            def body(b: _Body) -> list[SSAValue]:
                ix = _Ix(b.add)
                o = [b.linalg_index(d) for d in range(rank)]
                batch = [ix.safe(o[d], x_sizes[d]) for d in range(bd)]
                picked = []
                for k in range(r):
                    n = x_sizes[bd + k]
                    i = ix.read_index(ind, [*o[:q - 1], k])
                    picked.append(ix.safe(ix.wrap_negative(i, n), n))
                return [ix.read(x, [*batch, *picked, *o[q - 1:]])]

        dest = emit.empty(_static_or(out_shape, sizes), elt)
        res = emit.generic([], [dest], [_identity(rank)], [PARALLEL] * rank, body)
        rewriter.replace(op, [], res)


class ScatterPattern(RewritePattern):
    """graph.scatter_nd / scatter_elements: a generic over (output, updates) that, in
    update order, combines each update into the output element it targets."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if not isinstance(op, graph.ScatterNDOp | graph.ScatterElementsOp):
            return
        emit = _Emit(rewriter, op)
        x, ind, upd = op.input, op.indices, op.updates
        kind = op.reduction.data
        x_sizes = emit.sizes(x)
        rank = len(x_sizes)
        ind_shape = shape_of(ind)
        if isinstance(op, graph.ScatterNDOp):
            r = ind_shape[-1]
            nu = len(ind_shape) - 1
            _check_indices(emit, ind, 0, "ScatterND", bounds=x_sizes[:r])
            loops = rank + nu
            ind_map = _map(loops, [*[_d(rank + i) for i in range(nu)],
                                   AffineExpr.constant(0)])

            def body(b: _Body) -> list[SSAValue]:
                ix = _Ix(b.add)
                o = [b.linalg_index(d) for d in range(rank)]
                u = [b.linalg_index(rank + i) for i in range(nu)]
                hits = []
                for k in range(r):
                    i = ix.read_index(ind, [*u, k])
                    hits.append(ix.cmp("eq", ix.wrap_negative(i, x_sizes[k]), o[k]))
                v = ix.read(upd, [*u, *o[r:]])
                acc = b.args[1]
                return [b.select(ix.and_(*hits), _combine(b, kind, acc, v), acc)]

            ins, maps = [ind], [ind_map]
        else:
            axis = op.axis.value.data
            _check_indices(emit, ind, x_sizes[axis], "ScatterElements")
            loops = 2 * rank
            u_map = _map(loops, [_d(rank + i) for i in range(rank)])

            def body(b: _Body) -> list[SSAValue]:
                ix = _Ix(b.add)
                o = [b.linalg_index(d) for d in range(rank)]
                u = [b.linalg_index(rank + d) for d in range(rank)]
                i = ix.wrap_negative(ix.to_index(b.args[0]), x_sizes[axis])
                hits = [ix.cmp("eq", i if d == axis else u[d], o[d]) for d in range(rank)]
                acc = b.args[2]
                return [b.select(ix.and_(*hits), _combine(b, kind, acc, b.args[1]), acc)]

            ins, maps = [ind, upd], [u_map, u_map]
        out_map = _map(loops, [_d(d) for d in range(rank)])
        iters = [PARALLEL] * rank + [REDUCTION] * (loops - rank)
        res = emit.generic(ins, [x], [*maps, out_map], iters, body)
        rewriter.replace(op, [], res)


def _expand_target(emit: _Emit, op: graph.ExpandOp) -> list[Size]:
    """The target shape's entries: constants the shape analysis knows, else run-time reads
    (recorded with the analysis's symbolic value, so they compare with other dims)."""
    dims = emit.dims
    known = dims.analysis.elements_of(op.shape) if dims.trust_analysis else None
    entries: list[Size] = []
    runtime = _read_vector(emit, op, op.shape) if known is None else None
    for i in range(_vector_len(op, op.shape)):
        value = known[i] if known is not None else None
        c = value.as_int() if value is not None else None
        if c is not None and c >= 0:
            entries.append(c)
        elif runtime is not None:
            entries.append(runtime[i])
        else:
            s = _Ix(emit).read_index(op.shape, [i] if shape_of(op.shape) else [])
            entries.append(dims.record(s, value))
    return entries


class ExpandTilePattern(RewritePattern):
    """graph.expand (two-way broadcast to a run-time shape) and graph.tile (run-time
    repeats): a generic over the output reading the input at a computed index."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if not isinstance(op, graph.ExpandOp | graph.TileOp):
            return
        emit = _Emit(rewriter, op)
        ix = _Ix(emit)
        x = op.input
        x_sizes = emit.sizes(x)
        out_shape = shape_of(op.result)
        rank, x_rank = len(out_shape), len(x_sizes)
        sizes: list[Size] = []
        if isinstance(op, graph.ExpandOp):
            target = _expand_target(emit, op)
            off_x, off_t = rank - x_rank, rank - len(target)
            for d in range(rank):
                n = x_sizes[d - off_x] if d >= off_x else None
                s = target[d - off_t] if d >= off_t else None
                if n is None:
                    sizes.append(s)  # type: ignore[arg-type]
                elif s is None or s == 1 or emit.dims.same(s, n):
                    sizes.append(n)
                elif isinstance(s, int) and isinstance(n, int):
                    if n not in (1, s):
                        raise _fail(op, f"dim {d} of the input is {n}, which does not "
                                    f"broadcast to {s}")
                    sizes.append(s)
                else:
                    ok = ix.or_(ix.or_(ix.cmp("eq", s, n), ix.cmp("eq", s, 1)),
                                ix.cmp("eq", n, 1))
                    emit.check(ok, f"Expand: dim {d} of the input is {{0}}, which does not "
                               "broadcast to the target's {1}", [n, s])
                    sizes.append(ix.sel(ix.cmp("eq", n, 1), s, n))
            for size, expr in zip(sizes, emit.dims.analysis.dims_of(op.result) or (),
                                  strict=False):
                emit.dims.record(size, expr)
        else:
            repeats = _read_vector(emit, op, op.repeats)
            for d in range(rank):
                _assert(emit, ix.cmp("sge", repeats[d], 0), "Tile: a repeat is negative")
                sizes.append(emit.mul(x_sizes[d], repeats[d]))
        is_tile = isinstance(op, graph.TileOp)

        def body(b: _Body) -> list[SSAValue]:
            bx = _Ix(b.add)
            read = []
            for d in range(x_rank):
                o = b.linalg_index(d + rank - x_rank)
                n = x_sizes[d]
                if is_tile:
                    read.append(bx.safe(bx.remi(o, bx.maxi(n, 1)), n))
                else:
                    read.append(bx.safe(bx.sel(bx.cmp("eq", n, 1), 0, o), n))
            return [bx.read(x, read)]

        what = "Expand" if isinstance(op, graph.ExpandOp) else "Tile"
        dest = emit.empty(_static_or(out_shape, sizes, emit, what), _element_type(x))
        res = emit.generic([], [dest], [_identity(rank)], [PARALLEL] * rank, body)
        rewriter.replace(op, [], res)


class PadPattern(RewritePattern):
    """graph.pad: constant/reflect/edge/wrap with run-time pads (negative pads crop)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.PadOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        ix = _Ix(emit)
        x = op.input
        x_sizes = emit.sizes(x)
        rank = len(x_sizes)
        pads = _read_vector(emit, op, op.pads)
        axes_in = _read_vector(emit, op, op.axes)
        mode = op.mode.data
        begins: list[Size] = [0] * rank
        ends: list[Size] = [0] * rank
        for k, a in enumerate(axes_in):
            _assert(emit, ix.and_(ix.cmp("sge", a, -rank), ix.cmp("slt", a, rank)),
                    f"Pad: an axis is out of range for rank {rank}")
            a = ix.wrap_negative(a, rank)
            for d in range(rank):
                hit = ix.cmp("eq", a, d)
                begins[d] = ix.sel(hit, pads[k], begins[d])
                ends[d] = ix.sel(hit, pads[len(axes_in) + k], ends[d])
        sizes: list[Size] = list(x_sizes)
        axes = list(range(rank)) if axes_in else []
        for a in axes:
            sizes[a] = ix.addi(ix.addi(x_sizes[a], begins[a]), ends[a])
            _assert(emit, ix.cmp("sge", sizes[a], 0), f"Pad: dim {a} would be negative")
            if mode != "constant":
                _assert(emit, ix.or_(ix.cmp("sgt", x_sizes[a], 0), ix.cmp("eq", sizes[a], 0)),
                        f"Pad: {mode} padding of an empty dim {a}")
        elt = _element_type(x)
        value = ix.read(op.value, []) if mode == "constant" else None

        def body(b: _Body) -> list[SSAValue]:
            bx = _Ix(b.add)
            read, valid = [], []
            for d in range(rank):
                n = x_sizes[d]
                i = b.linalg_index(d)
                if d not in axes:
                    read.append(i)
                    continue
                i = bx.subi(i, begins[d])
                if mode == "constant":
                    valid.append(bx.and_(bx.cmp("sge", i, 0), bx.cmp("slt", i, n)))
                elif mode == "wrap":
                    i = bx.floormod(i, bx.maxi(n, 1))
                elif mode == "reflect":
                    period = bx.maxi(bx.muli(bx.subi(n, 1), 2), 1)
                    m = bx.floormod(i, period)
                    i = bx.sel(bx.cmp("slt", m, n), m, bx.subi(period, m))
                read.append(bx.safe(i, n))
            v = bx.read(x, read)
            if valid:
                assert value is not None
                v = b.select(bx.and_(*valid), v, value)
            return [v]

        dest = emit.empty(_static_or(shape_of(op.result), sizes, emit, "Pad"), elt)
        res = emit.generic([], [dest], [_identity(rank)], [PARALLEL] * rank, body)
        rewriter.replace(op, [], res)


class RangePattern(RewritePattern):
    """graph.range: n = max(ceil((limit - start) / delta), 0); out[i] = start + i*delta."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.RangeOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        ix = _Ix(emit)
        elt = _element_type(op.result)
        start, limit, delta = (ix.read(v, []) for v in (op.start, op.limit, op.delta))
        if isinstance(elt, AnyFloat):
            _assert(emit, emit(arith.CmpfOp(delta, emit.scalar(0.0, elt), "one")),
                    "Range: delta is 0")
            steps = emit(math.CeilOp(emit(arith.DivfOp(emit(arith.SubfOp(limit, start)),
                                                       delta))))
            n = ix.maxi(ix.to_index(steps), 0)
        else:
            s, lim, dl = (ix.to_index(v) for v in (start, limit, delta))
            _assert(emit, ix.cmp("ne", dl, 0), "Range: delta is 0")
            diff = ix.subi(lim, s)
            up = ix.divi(ix.addi(diff, ix.subi(dl, 1)), dl)
            down = ix.divi(ix.addi(diff, ix.addi(dl, 1)), dl)
            n = ix.maxi(ix.sel(ix.cmp("sgt", dl, 0), up, down), 0)
        dest = emit.empty(_static_or(shape_of(op.result), [n], emit, "Range"), elt)

        def body(b: _Body) -> list[SSAValue]:
            i = b.linalg_index(0)
            if isinstance(elt, AnyFloat):
                fi = b.add(arith.SIToFPOp(b.add(arith.IndexCastOp(i, IntegerType(64))), elt))
            else:
                fi = b.add(arith.IndexCastOp(i, elt))
            return [b.binary("add", start, b.binary("mul", fi, delta))]

        res = emit.generic([], [dest], [_identity(1)], [PARALLEL], body)
        rewriter.replace(op, [], res)


class ConstantOfShapePattern(RewritePattern):
    """graph.constant_of_shape -> linalg.fill of a tensor sized by the run-time shape."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ConstantOfShapeOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        ix = _Ix(emit)
        sizes = _read_vector(emit, op, op.shape) if shape_of(op.shape) != (0,) else []
        for s in sizes:
            _assert(emit, ix.cmp("sge", s, 0), "ConstantOfShape: a dim is negative")
        elt = _element_type(op.result)
        attr = op.value
        if isinstance(elt, AnyFloat):
            value = emit(arith.ConstantOp(FloatAttr(float(attr.get_values()[0]), elt)))
        else:
            v = int(attr.get_values()[0])
            if isinstance(elt, IntegerType) and elt.width.data == 1:
                v = -1 if v else 0
            value = emit(arith.ConstantOp(IntegerAttr(v, elt)))
        dest = emit.empty(_static_or(shape_of(op.result), sizes, emit, "ConstantOfShape"), elt)
        rewriter.replace(op, FillOp((value,), (dest,)))


class TriluPattern(RewritePattern):
    """graph.trilu: keep x where (col - row) >= k (upper) or <= k (lower), else 0."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.TriluOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        k = _Ix(emit).read_index(op.k, [0] * len(shape_of(op.k)))
        rank = len(shape_of(op.input))
        upper = bool(op.upper.value.data)
        elt = _element_type(op.input)
        dest = emit.empty(emit.sizes(op.input), elt)

        def body(b: _Body) -> list[SSAValue]:
            ix = _Ix(b.add)
            diff = ix.subi(b.linalg_index(rank - 1), b.linalg_index(rank - 2))
            keep = ix.cmp("sge" if upper else "sle", diff, k)
            return [b.select(keep, b.args[0], b.const(0, elt))]

        res = emit.generic([op.input], [dest], [_identity(rank)] * 2, [PARALLEL] * rank,
                           body)
        rewriter.replace(op, [], res)


class CumSumPattern(RewritePattern):
    """graph.cumsum along a run-time axis a: out[i] = sum of x[i with dim a = j] over
    j <= i[a] (< when exclusive, >= / > when reversed). j runs over the largest dim (a
    dummy `window` input gives its range); entries past dim a's size are masked."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.CumSumOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        ix = _Ix(emit)
        x = op.input
        rank = len(shape_of(x))
        x_sizes = emit.sizes(x)
        axis = _read_vector(emit, op, op.axis)[0]
        _assert(emit, ix.and_(ix.cmp("sge", axis, -rank), ix.cmp("slt", axis, rank)),
                f"CumSum: axis is out of range for rank {rank}")
        axis = ix.wrap_negative(axis, rank)
        exclusive, reverse = bool(op.exclusive.value.data), bool(op.reverse.value.data)
        pred = {(False, False): "sle", (True, False): "slt",
                (False, True): "sge", (True, True): "sgt"}[(exclusive, reverse)]
        elt = _element_type(x)
        longest: Size = 1
        for size in x_sizes:
            longest = emit.max(longest, size)
        window = emit.empty([longest], IntegerType(8))
        acc = emit.fill(0, x_sizes, elt)
        out_map = _map(rank + 1, [_d(d) for d in range(rank)])

        def body(b: _Body) -> list[SSAValue]:
            bx = _Ix(b.add)
            j = b.linalg_index(rank)
            o = [b.linalg_index(d) for d in range(rank)]
            here, n = o[0], bx.v(x_sizes[0])
            read = []
            for d in range(rank):
                on_axis = bx.cmp("eq", axis, d)
                if d:
                    here = bx.sel(on_axis, o[d], here)
                    n = bx.sel(on_axis, x_sizes[d], n)
                read.append(bx.safe(bx.sel(on_axis, j, o[d]), x_sizes[d]))
            take = bx.and_(bx.cmp(pred, j, here), bx.cmp("slt", j, n))
            v = b.select(take, bx.read(x, read), b.const(0, elt))
            return [b.binary("add", b.args[1], v)]

        res = emit.generic([window], [acc], [_map(rank + 1, [_d(rank)]), out_map],
                           [PARALLEL] * rank + [REDUCTION], body)
        rewriter.replace(op, [], res)


class TopKPattern(RewritePattern):
    """graph.topk: rank every element along `axis` (O(n^2) comparisons, ties by index),
    then pick the elements of rank 0..k-1 into values and indices."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.TopKOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        ix = _Ix(emit)
        x = op.input
        axis = op.axis.value.data
        rank = len(shape_of(x))
        largest = bool(op.largest.value.data)
        elt = _element_type(x)
        i64 = IntegerType(64)
        x_sizes = emit.sizes(x)
        k = _read_vector(emit, op, op.k)[0]
        _assert(emit, ix.and_(ix.cmp("sge", k, 0), ix.cmp("sle", k, x_sizes[axis])),
                "TopK: k is out of range for the axis")
        is_float = isinstance(elt, AnyFloat)
        along = _map(rank + 1, [_d(rank) if d == axis else _d(d) for d in range(rank)])
        ident = _map(rank + 1, [_d(d) for d in range(rank)])
        iters = [PARALLEL] * rank + [REDUCTION]

        def rank_body(b: _Body) -> list[SSAValue]:
            xi, xj, acc = b.args
            if is_float:
                better = b.add(arith.CmpfOp(xj, xi, "ogt" if largest else "olt"))
                same = b.add(arith.CmpfOp(xj, xi, "oeq"))
            else:
                better = b.cmp("sgt" if largest else "slt", xj, xi)
                same = b.cmp("eq", xj, xi)
            earlier = b.cmp("slt", b.linalg_index(rank), b.linalg_index(axis))
            before = b.add(arith.OrIOp(better, b.and_(same, earlier)))
            return [b.add(arith.AddiOp(acc, b.select(before, b.const(1, i64),
                                                     b.const(0, i64))))]

        ranks = emit.generic([x, x], [emit.fill(0, x_sizes, i64)], [ident, along, ident],
                             iters, rank_body)[0]
        out_sizes = list(x_sizes)
        out_sizes[axis] = k
        out_sizes = _static_or(shape_of(op.values), out_sizes, emit, "TopK")
        values = emit.fill(0, out_sizes, elt)
        indices = emit.fill(0, out_sizes, i64)

        def pick_body(b: _Body) -> list[SSAValue]:
            xi, ri, v_acc, i_acc = b.args
            hit = b.cmp("eq", ri, b.add(arith.IndexCastOp(b.linalg_index(axis), i64)))
            pos = b.add(arith.IndexCastOp(b.linalg_index(rank), i64))
            return [b.select(hit, xi, v_acc), b.select(hit, pos, i_acc)]

        res = emit.generic([x, ranks], [values, indices], [along, along, ident, ident],
                           iters, pick_body)
        rewriter.replace(op, [], res)


class ResizePattern(RewritePattern):
    """graph.resize (nearest/linear): per resized dim, the ONNX coordinate transform in
    f64 with the run-time scale, then a rounded read (nearest) or a 2^m-corner weighted
    sum (linear). Dims whose constant scale is 1 are copied as they are."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ResizeOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        ix = _Ix(emit)
        x = op.input
        x_sizes = emit.sizes(x)
        rank = len(x_sizes)
        axes = ints(op.axes)
        out_shape = shape_of(op.result)
        elt = _element_type(x)
        mode, coord = op.mode.data, op.coordinate_mode.data
        nearest = op.nearest_mode.data
        policy = op.keep_aspect_ratio_policy.data
        source = op.scales if op.scales is not None else op.sizes
        assert source is not None
        known = source.owner.value if isinstance(source.owner, graph.ConstantOp) else None
        known_values = list(graph.array_from_dense(known).reshape(-1)) if known else None
        given = [ix.read(source, [k]) for k in range(len(axes))]
        n_in = {a: ix.to_float(ix.v(x_sizes[a])) for a in axes}
        scales: dict[int, SSAValue] = {}
        out_sizes: list[Size] = list(x_sizes)
        if op.scales is not None:
            for k, a in enumerate(axes):
                s = given[k]
                scales[a] = s if s.type == f64 else emit(arith.ExtFOp(s, f64))
                scaled = emit(arith.MulfOp(n_in[a], scales[a]))
                out_sizes[a] = ix.to_index(emit(math.FloorOp(scaled)))
        else:
            ratios = {a: emit(arith.DivfOp(ix.to_float(ix.to_index(given[k])), n_in[a]))
                      for k, a in enumerate(axes)}
            if policy != "stretch":
                pick = arith.MinimumfOp if policy == "not_larger" else arith.MaximumfOp
                r = ratios[axes[0]]
                for a in axes[1:]:
                    r = emit(pick(r, ratios[a]))
                ratios = dict.fromkeys(axes, r)
            for k, a in enumerate(axes):
                scales[a] = ratios[a]
                if policy == "stretch":
                    out_sizes[a] = ix.to_index(given[k])
                else:
                    grown = emit(arith.AddfOp(emit(arith.MulfOp(ratios[a], n_in[a])),
                                              ix.f(0.5)))
                    out_sizes[a] = ix.to_index(emit(math.FloorOp(grown)))
        for a in axes:
            _assert(emit, ix.cmp("sge", out_sizes[a], 0), "Resize: a negative output size")
        out_sizes = _static_or(out_shape, out_sizes, emit, "Resize")
        resized = []
        for k, a in enumerate(axes):
            if known_values is not None and op.scales is not None and known_values[k] == 1.0:
                continue
            if (known_values is not None and op.sizes is not None and policy == "stretch"
                    and known_values[k] == shape_of(x)[a]):
                continue
            resized.append(a)
        # ONNX uses the fractional output length scale * n_in in the formulas
        lens = {a: (n_in[a], emit(arith.MulfOp(scales[a], n_in[a])), scales[a],
                    ix.to_float(ix.v(out_sizes[a]))) for a in resized}

        def coordinate(b: _Body, d: int) -> SSAValue:
            bx = _Ix(b.add)
            n_in, n_out, scale, n_out_int = lens[d]
            o = bx.to_float(b.linalg_index(d))
            half = bx.f(0.5)
            if coord == "asymmetric":
                return b.add(arith.DivfOp(o, scale))
            single = b.add(arith.CmpfOp(n_out, bx.f(1.0), "oeq"))
            if coord == "align_corners":
                one = bx.f(1.0)
                ratio = b.add(arith.DivfOp(b.add(arith.SubfOp(n_in, one)),
                                           b.add(arith.SubfOp(n_out, one))))
                return b.select(single, bx.f(0.0), b.add(arith.MulfOp(o, ratio)))
            x_orig = b.add(arith.SubfOp(b.add(arith.DivfOp(b.add(arith.AddfOp(o, half)),
                                                           scale)), half))
            if coord == "pytorch_half_pixel":
                return b.select(single, bx.f(-0.5), x_orig)
            if coord == "half_pixel_symmetric":
                adj = b.add(arith.DivfOp(n_out_int, n_out))
                center = b.add(arith.MulfOp(n_in, half))
                offset = b.add(arith.MulfOp(center, b.add(arith.SubfOp(bx.f(1.0), adj))))
                return b.add(arith.AddfOp(offset, x_orig))
            return x_orig

        def body(b: _Body) -> list[SSAValue]:
            bx = _Ix(b.add)
            base: list[SSAValue] = [b.linalg_index(d) for d in range(rank)]
            if mode == "nearest":
                read = list(base)
                for d in resized:
                    c = coordinate(b, d)
                    if nearest == "round_prefer_floor":
                        r = b.add(math.CeilOp(b.add(arith.SubfOp(c, bx.f(0.5)))))
                    elif nearest == "round_prefer_ceil":
                        r = b.add(math.FloorOp(b.add(arith.AddfOp(c, bx.f(0.5)))))
                    elif nearest == "floor":
                        r = b.add(math.FloorOp(c))
                    else:
                        r = b.add(math.CeilOp(c))
                    read[d] = bx.safe(bx.to_index(r), x_sizes[d])
                return [bx.read(x, read)]
            corners: list[tuple[list[SSAValue], SSAValue | None]] = [(list(base), None)]
            for d in resized:
                n_in = lens[d][0]
                c = coordinate(b, d)
                top = b.add(arith.SubfOp(n_in, bx.f(1.0)))
                c = b.add(arith.MinimumfOp(b.add(arith.MaximumfOp(c, bx.f(0.0))), top))
                lo_f = b.add(math.FloorOp(c))
                w1 = b.add(arith.SubfOp(c, lo_f))
                w0 = b.add(arith.SubfOp(bx.f(1.0), w1))
                lo = bx.safe(bx.to_index(lo_f), x_sizes[d])
                hi = bx.safe(bx.addi(lo, 1), x_sizes[d])
                nxt = []
                for read, w in corners:
                    for idx, wd in ((lo, w0), (hi, w1)):
                        r = list(read)
                        r[d] = idx
                        nxt.append((r, wd if w is None else b.add(arith.MulfOp(w, wd))))
                corners = nxt
            total: SSAValue | None = None
            for read, w in corners:
                v = bx.read(x, read)
                if w is not None:
                    wv = w if w.type == elt else b.add(arith.TruncFOp(w, elt))
                    v = b.binary("mul", v, wv)
                total = v if total is None else b.binary("add", total, v)
            assert total is not None
            return [total]

        if mode == "linear" and not isinstance(elt, AnyFloat):
            raise _fail(op, "linear resize needs a floating-point tensor")
        dest = emit.empty(out_sizes, elt)
        res = emit.generic([], [dest], [_identity(rank)], [PARALLEL] * rank, body)
        rewriter.replace(op, [], res)


class OneHotPattern(RewritePattern):
    """graph.one_hot: values[1] where the depth position equals the (normalized) index."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.OneHotOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        ix = _Ix(emit)
        axis = op.axis.value.data
        depth = _read_vector(emit, op, op.depth)[0]
        _assert(emit, ix.cmp("sge", depth, 0), "OneHot: depth is negative")
        off, on = ix.read(op.values, [0]), ix.read(op.values, [1])
        sizes = emit.sizes(op.indices)
        sizes.insert(axis, depth)
        rank = len(sizes)
        elt = _element_type(op.result)

        def body(b: _Body) -> list[SSAValue]:
            bx = _Ix(b.add)
            o = [b.linalg_index(d) for d in range(rank)]
            i = bx.read_index(op.indices, o[:axis] + o[axis + 1:])
            i = bx.wrap_negative(i, depth)
            return [b.select(bx.cmp("eq", i, o[axis]), on, off)]

        dest = emit.empty(_static_or(shape_of(op.result), sizes, emit, "OneHot"), elt)
        res = emit.generic([], [dest], [_identity(rank)], [PARALLEL] * rank, body)
        rewriter.replace(op, [], res)


class NonZeroPattern(RewritePattern):
    """graph.non_zero: count the non-zeros (its size), number each by the non-zeros
    before it in row-major order, then pick number c into column c."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.NonZeroOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        x = op.input
        rank = len(shape_of(x))
        elt = _element_type(x)
        i64 = IntegerType(64)
        x_sizes = emit.sizes(x)

        def nonzero(b: _Body, v: SSAValue) -> SSAValue:
            if isinstance(elt, AnyFloat):
                return b.add(arith.CmpfOp(v, b.const(0.0, elt), "une"))
            return b.cmp("ne", v, b.const(0, elt))

        def one_if(b: _Body, cond: SSAValue) -> SSAValue:
            return b.select(cond, b.const(1, i64), b.const(0, i64))

        def linear(b: _Body, first: int) -> SSAValue:
            ix = _Ix(b.add)
            lin = b.linalg_index(first)
            for d in range(1, rank):
                lin = ix.addi(ix.muli(lin, x_sizes[d]), b.linalg_index(first + d))
            return lin

        count = emit.generic([x], [emit.fill(0, [], i64)], [_identity(rank), _map(rank, [])],
                             [REDUCTION] * rank,
                             lambda b: [b.add(arith.AddiOp(b.args[1],
                                                           one_if(b, nonzero(b, b.args[0]))))])
        n = _Ix(emit).to_index(emit(tensor.ExtractOp(count[0], [], i64)))
        j_map = _map(2 * rank, [_d(rank + d) for d in range(rank)])
        i_map = _map(2 * rank, [_d(d) for d in range(rank)])

        def before_body(b: _Body) -> list[SSAValue]:
            ix = _Ix(b.add)
            earlier = ix.cmp("slt", linear(b, rank), linear(b, 0))
            hit = b.and_(earlier, nonzero(b, b.args[0]))
            return [b.add(arith.AddiOp(b.args[1], one_if(b, hit)))]

        numbers = emit.generic([x], [emit.fill(0, x_sizes, i64)], [j_map, i_map],
                               [PARALLEL] * rank + [REDUCTION] * rank, before_body)[0]
        loops = 2 + rank
        in_map = _map(loops, [_d(2 + d) for d in range(rank)])

        def pick_body(b: _Body) -> list[SSAValue]:
            ix = _Ix(b.add)
            v, number, acc = b.args
            col = b.add(arith.IndexCastOp(b.linalg_index(1), i64))
            hit = b.and_(nonzero(b, v), b.cmp("eq", number, col))
            row = b.linalg_index(0)
            coord = b.linalg_index(2)
            for d in range(1, rank):
                coord = ix.sel(ix.cmp("eq", row, d), b.linalg_index(2 + d), coord)
            return [b.select(hit, b.add(arith.IndexCastOp(coord, i64)), acc)]

        out = emit.fill(0, [rank, n], i64)
        res = emit.generic([x, numbers], [out], [in_map, in_map, _map(loops, [_d(0), _d(1)])],
                           [PARALLEL] * 2 + [REDUCTION] * rank, pick_body)
        rewriter.replace(op, [], res)


SHAPE_OP_PATTERNS: tuple[RewritePattern, ...] = (
    ShapeOfPattern(), SizePattern(), ReshapeDynamicPattern(), AxesReshapePattern(),
    AxesDynamicPattern(),
    SplitPattern(), SlicePattern(), GatherPattern(), ScatterPattern(), ExpandTilePattern(),
    PadPattern(), RangePattern(), ConstantOfShapePattern(), TriluPattern(), CumSumPattern(),
    TopKPattern(), ResizePattern(), OneHotPattern(), NonZeroPattern())
"""Lowerings of graph.SHAPE_OPS."""
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
                (read,) = broadcast_reads(emit, [v], sizes[axis:], num_loops=rank,
                                          first_loop=axis)
                ins.append(read.value)
                maps.append(read.map)
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
        rank = len(shape_of(op.result))
        inputs = list(op.inputs)
        sizes, ins, maps = emit.broadcast(inputs, op.result)
        dest = emit.empty(sizes, _element_type(op.result))
        maps = [*maps, _identity(rank)]
        source = op.body.block

        def body(b: _Body) -> list[SSAValue]:
            mapping: dict[SSAValue, SSAValue] = dict(
                zip(source.args, b.args[:len(inputs)], strict=True))
            for inner in source.ops:
                if isinstance(inner, graph.FusedYieldOp):
                    return [mapping[inner.operands[0]]]
                clone = inner.clone(value_mapper=mapping)
                b.block.add_op(clone)
                mapping.update(zip(inner.results, clone.results, strict=True))
            raise _fail(op, "body has no graph.fused_yield")

        res = emit.generic(ins, [dest], maps, [PARALLEL] * rank, body)
        rewriter.replace(op, [], res)

# --------------------------------------------------------------------------- control flow
# graph.if -> scf.if, graph.loop -> scf.for / scf.while, graph.scan -> scf.for, all on
# tensors: carried values are iter_args; scan outputs are preallocated [trip, ...]
# tensors carried through the loop and written one slice per iteration
# (tensor.insert_slice); scan inputs are read with rank-reducing tensor.extract_slice.
# The walker lowers region bodies first, so these patterns see lowered bodies that
# still end in graph.yield.


def _scalar_of(emit: _Emit, value: SSAValue) -> SSAValue:
    """The element of a one-element tensor."""
    zeros = [emit.index(0) for _ in shape_of(value)]
    return emit(tensor.ExtractOp(value, zeros, _element_type(value)))


def _cast_to(value: SSAValue, t: Attribute, before: Operation) -> SSAValue:
    """`value` as type `t` (a tensor.cast when the static dims differ)."""
    if value.type == t:
        return value
    cast = tensor.CastOp(value, t)
    Rewriter.insert_op(cast, InsertPoint.before(before))
    return cast.dest


def _insert_before(op: Operation, before: Operation) -> SSAValue:
    Rewriter.insert_op(op, InsertPoint.before(before))
    return op.results[0]


def _index_const(value: int, before: Operation) -> SSAValue:
    return _insert_before(arith.ConstantOp.from_int_and_width(value, IndexType()), before)


def _as_tensor(scalar: SSAValue, t: Attribute, before: Operation) -> SSAValue:
    """A one-element tensor of type `t` holding `scalar`."""
    return _insert_before(tensor.FromElementsOp(scalar, result_type=t), before)


def _replace_yield(block: Block, values: Sequence[SSAValue] | None = None,
                   terminator: type[Operation] = scf.YieldOp) -> None:
    """Swap the block's graph.yield for an scf terminator (of `values` if given)."""
    old = block.last_op
    assert isinstance(old, graph.YieldOp)
    new = terminator(*(old.values if values is None else values))
    Rewriter.replace_op(old, new)


def _yielded(block: Block) -> list[SSAValue]:
    last = block.last_op
    assert isinstance(last, graph.YieldOp)
    return list(last.values)


class IfPattern(RewritePattern):
    """graph.if -> scf.if on the extracted i1 condition."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.IfOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        cond = _scalar_of(emit, op.cond)
        types = list(op.outputs.types)
        regions = []
        for region in (op.then_region, op.else_region):
            block = region.blocks.first
            assert block is not None
            yield_op = block.last_op
            assert yield_op is not None
            values = [_cast_to(v, t, yield_op) for v, t in zip(_yielded(block), types,
                                                                 strict=True)]
            _replace_yield(block, values)
            regions.append(op.detach_region(region))
        rewriter.replace(op, scf.IfOp(cond, types, regions[0], regions[1]))


def _dim_outside(value: SSAValue, dim: int, loop: Operation, emit: _Emit,
                 args: dict[SSAValue, tuple[SSAValue, list[int]]]) -> Size | None:
    """Size `dim` of `value` (defined in `loop`'s body) computed before `loop`.

    Follows tensor.empty sizes and linalg outs back to values outside the loop or to
    body arguments (`args`: argument -> (outer value, outer dim of each arg dim)).
    None when the size is only known inside the loop.
    """
    s = shape_of(value)[dim]
    if s != DYN:
        return s
    if value in args:
        outer, dims = args[value]
        return emit.size(outer, dims[dim])
    owner = value.owner
    if not loop.is_ancestor(owner if isinstance(owner, Operation) else owner.parent_op()):
        return emit.size(value, dim)
    if isinstance(owner, GenericOp | FillOp):
        return _dim_outside(owner.outputs[value.index], dim, loop, emit, args)
    if isinstance(owner, tensor.CastOp):
        return _dim_outside(owner.source, dim, loop, emit, args)
    if isinstance(owner, tensor.EmptyOp):
        shape = shape_of(value)
        k = sum(1 for d in shape[:dim] if d == DYN)
        return _index_outside(owner.dynamic_sizes[k], loop, emit, args)
    return None


def _index_outside(value: SSAValue, loop: Operation, emit: _Emit,
                   args: dict[SSAValue, tuple[SSAValue, list[int]]]) -> Size | None:
    owner = value.owner
    if not isinstance(owner, Operation) or not loop.is_ancestor(owner):
        return None if isinstance(owner, Block) and loop.is_ancestor(
            owner.parent_op() or loop) else value
    if isinstance(owner, tensor.DimOp):
        const = owner.index.owner
        if isinstance(const, arith.ConstantOp):
            return _dim_outside(owner.source, const.value.value.data, loop, emit, args)
        return None
    if isinstance(owner, arith.ConstantOp):
        return owner.value.value.data
    kinds = {arith.AddiOp: emit.add, arith.SubiOp: emit.sub, arith.MuliOp: emit.mul,
             arith.DivSIOp: emit.div, arith.MaxSIOp: emit.max}
    if type(owner) in kinds:
        a = _index_outside(owner.operands[0], loop, emit, args)
        b = _index_outside(owner.operands[1], loop, emit, args)
        if a is None or b is None:
            return None
        return kinds[type(owner)](a, b)
    return None


def _scan_buffers(emit: _Emit, op: Operation, slices: Sequence[SSAValue],
                  result_types: Sequence[Attribute], axes: Sequence[int], trip: Size,
                  args: dict[SSAValue, tuple[SSAValue, list[int]]]) -> list[SSAValue]:
    """One `tensor.empty` per scan output: the slice shape with `trip` at its axis."""
    buffers = []
    for v, t, axis in zip(slices, result_types, axes, strict=True):
        sizes: list[Size] = []
        for d in range(len(shape_of(v))):
            size = _dim_outside(v, d, op, emit, args)
            if size is None:
                raise _fail(op, f"the size of dim {d} of scan output slices is known only "
                            "inside the loop")
            sizes.append(size)
        full = shape_of(t)
        sizes.insert(axis, full[axis] if full[axis] != DYN else trip)
        sizes = [full[i] if full[i] != DYN else s for i, s in enumerate(sizes)]
        buffers.append(emit.empty(sizes, graph.element_type_of(t)))
    return buffers


def _insert_slice(value: SSAValue, dest: SSAValue, axis: int, at: SSAValue,
                  before: Operation) -> SSAValue:
    """dest with `value` (rank one less) written at position `at` along `axis`."""
    shape = shape_of(dest)
    sizes: list[int | SSAValue] = []
    for d, s in enumerate(shape):
        if d == axis:
            sizes.append(1)
        elif s != DYN:
            sizes.append(s)
        else:
            sizes.append(_insert_before(tensor.DimOp(dest, _index_const(d, before)), before))
    offsets: list[int | SSAValue] = [0] * len(shape)
    offsets[axis] = at
    static_o = [DYN if isinstance(o, SSAValue) else o for o in offsets]
    static_s = [DYN if isinstance(s, SSAValue) else s for s in sizes]
    op = tensor.InsertSliceOp.get(
        value, dest, static_s, static_o, [1] * len(shape),
        offsets=[o for o in offsets if isinstance(o, SSAValue)],
        sizes=[s for s in sizes if isinstance(s, SSAValue)])
    return _insert_before(op, before)


def _extract_slice(emit: _Emit, source: SSAValue, axis: int, at: SSAValue,
                   result_type: Attribute, before: Operation) -> SSAValue:
    """Rank-reducing slice of `source` at position `at` along `axis`."""
    shape = shape_of(source)
    offsets: list[int | SSAValue] = [0] * len(shape)
    offsets[axis] = at
    sizes: list[int | SSAValue] = []
    for d in range(len(shape)):
        s = 1 if d == axis else emit.size(source, d)
        sizes.append(s)
    op = tensor.ExtractSliceOp(source, offsets, sizes, [1] * len(shape), result_type)
    return _insert_before(op, before)


def _position(iv: SSAValue, trip: SSAValue, reverse: bool, before: Operation) -> SSAValue:
    """iv, or trip - 1 - iv when reading/writing from the end."""
    if not reverse:
        return iv
    last = _insert_before(arith.SubiOp(trip, _index_const(1, before)), before)
    return _insert_before(arith.SubiOp(last, iv), before)


class ScanPattern(RewritePattern):
    """graph.scan -> scf.for over the scan axis; states and output buffers as iter_args."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ScanOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        n = len(op.inits)
        in_axes, in_dirs = ints(op.input_axes), ints(op.input_directions)
        out_axes, out_dirs = ints(op.output_axes), ints(op.output_directions)
        trip = emit.value(emit.size(op.scan_inputs[0], in_axes[0]))
        block = op.body.blocks.first
        assert block is not None
        slice_args = list(block.args[n:])
        args: dict[SSAValue, tuple[SSAValue, list[int]]] = {}
        for arg, init in zip(block.args[:n], op.inits, strict=True):
            args[arg] = (init, list(range(len(shape_of(init)))))
        for arg, x, axis in zip(slice_args, op.scan_inputs, in_axes, strict=True):
            args[arg] = (x, [d for d in range(len(shape_of(x))) if d != axis])
        yielded = _yielded(block)
        buffers = _scan_buffers(emit, op, yielded[n:], list(op.outputs.types)[n:], out_axes,
                                trip, args)
        inits = list(op.inits)
        # body block: (iv, states..., buffers...) instead of (states..., slices...)
        iv = block.insert_arg(IndexType(), 0)
        first = block.first_op
        assert first is not None
        for arg, x, axis, rev in zip(slice_args, op.scan_inputs, in_axes, in_dirs,
                                     strict=True):
            at = _position(iv, trip, bool(rev), first)
            arg.replace_all_uses_with(_extract_slice(emit, x, axis, at, arg.type, first))
            block.erase_arg(arg)
        buf_args = [block.insert_arg(b.type, len(block.args)) for b in buffers]
        yield_op = block.last_op
        assert yield_op is not None
        new_yield = [_cast_to(v, a.type, yield_op)
                     for v, a in zip(yielded[:n], block.args[1:n + 1], strict=True)]
        for v, buf, axis, rev in zip(yielded[n:], buf_args, out_axes, out_dirs, strict=True):
            at = _position(iv, trip, bool(rev), yield_op)
            new_yield.append(_insert_slice(v, buf, axis, at, yield_op))
        _replace_yield(block, new_yield)
        body = op.detach_region(op.body)
        loop = scf.ForOp(emit.index(0), trip, emit.index(1), [*inits, *buffers], body)
        emit(loop)
        results = [_cast_to(r, t, op) for r, t in zip(loop.results, op.outputs.types,
                                                      strict=True)]
        rewriter.replace(op, [], results)


class LoopPattern(RewritePattern):
    """graph.loop -> scf.for (no condition, or scan outputs: after a counting
    scf.while) or scf.while (condition, no scan outputs)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.LoopOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        k = op.num_scan_outputs
        bound: SSAValue | None = None
        if op.max_trip is not None:
            m = _scalar_of(emit, op.max_trip)
            bound = emit(arith.IndexCastOp(m, IndexType()))
            bound = emit.value(emit.max(bound, emit.index(0)))
        if op.cond is None and bound is None:
            raise _fail(op, "a loop with neither a trip count nor a condition never ends")
        if op.cond is None:
            assert bound is not None
            self.for_loop(emit, op, bound, rewriter)
            return
        if k == 0:
            results = self.while_loop(emit, op, bound, op.body.clone())
            rewriter.replace(op, [], results[2:])
            return
        count = self.while_loop(emit, op, bound, op.body.clone())[0]
        self.for_loop(emit, op, count, rewriter)

    def for_loop(self, emit: _Emit, op: graph.LoopOp, trip: SSAValue,
                 rewriter: PatternRewriter) -> None:
        n = len(op.inits)
        block = op.body.blocks.first
        assert block is not None
        yielded = _yielded(block)
        args = {arg: (init, list(range(len(shape_of(init)))))
                for arg, init in zip(block.args[2:], op.inits, strict=True)}
        buffers = _scan_buffers(emit, op, yielded[n + 1:], list(op.outputs.types)[n:],
                                [0] * op.num_scan_outputs, trip, args)
        true = emit(arith.ConstantOp.from_int_and_width(1, 1))
        iv = block.insert_arg(IndexType(), 0)
        self._iteration_args_at(block, iv, true)
        yielded = _yielded(block)
        buf_args = [block.insert_arg(b.type, len(block.args)) for b in buffers]
        yield_op = block.last_op
        assert yield_op is not None
        new_yield = [_cast_to(v, a.type, yield_op)
                     for v, a in zip(yielded[1:n + 1], block.args[1:n + 1], strict=True)]
        for v, buf in zip(yielded[n + 1:], buf_args, strict=True):
            new_yield.append(_insert_slice(v, buf, 0, iv, yield_op))
        _replace_yield(block, new_yield)
        body = op.detach_region(op.body)
        loop = scf.ForOp(emit.index(0), trip, emit.index(1), [*op.inits, *buffers], body)
        emit(loop)
        results = [_cast_to(r, t, op) for r, t in zip(loop.results, op.outputs.types,
                                                      strict=True)]
        rewriter.replace(op, [], results)

    def _iteration_args_at(self, block: Block, iv: SSAValue, cond: SSAValue) -> None:
        # block args are now (iv, iteration, cond, carried...)
        first = block.first_op
        assert first is not None
        it_arg, cond_arg = block.args[1], block.args[2]
        if it_arg.uses:
            it64 = _insert_before(arith.IndexCastOp(iv, i64), first)
            it_arg.replace_all_uses_with(_as_tensor(it64, it_arg.type, first))
        if cond_arg.uses:
            cond_arg.replace_all_uses_with(_as_tensor(cond, cond_arg.type, first))
        block.erase_arg(it_arg)
        block.erase_arg(cond_arg)

    @staticmethod
    def while_loop(emit: _Emit, op: graph.LoopOp, bound: SSAValue | None,
                   body: Region) -> list[SSAValue]:
        """scf.while over (i, cond, carried...) dropping scan slices; its results."""
        n = len(op.inits)
        assert op.cond is not None
        cond0 = _scalar_of(emit, op.cond)
        inits = [emit.index(0), cond0, *op.inits]
        types = [a.type for a in inits]
        before = Block(arg_types=types)
        go = before.args[1]
        if bound is not None:
            lt = arith.CmpiOp(before.args[0], bound, "slt")
            both = arith.AndIOp(lt, go)
            before.add_ops([lt, both])
            go = both.result
        before.add_op(scf.ConditionOp(go, *before.args))
        block = body.blocks.first
        assert block is not None
        yielded = _yielded(block)
        i_arg = block.insert_arg(IndexType(), 0)
        c_arg = block.insert_arg(IntegerType(1), 1)
        # args: (i, c, iteration tensor, cond tensor, carried...)
        first = block.first_op
        assert first is not None
        it_arg, cond_arg = block.args[2], block.args[3]
        if it_arg.uses:
            it64 = _insert_before(arith.IndexCastOp(i_arg, i64), first)
            it_arg.replace_all_uses_with(_as_tensor(it64, it_arg.type, first))
        if cond_arg.uses:
            cond_arg.replace_all_uses_with(_as_tensor(c_arg, cond_arg.type, first))
        block.erase_arg(it_arg)
        block.erase_arg(cond_arg)
        yielded = _yielded(block)
        yield_op = block.last_op
        assert yield_op is not None
        nxt = _insert_before(arith.AddiOp(i_arg, _index_const(1, yield_op)), yield_op)
        c_next = yielded[0]
        zeros = [_index_const(0, yield_op) for _ in shape_of(c_next)]
        c_scalar = _insert_before(tensor.ExtractOp(c_next, zeros, IntegerType(1)), yield_op)
        carried = [_cast_to(v, a.type, yield_op)
                   for v, a in zip(yielded[1:n + 1], block.args[2:], strict=True)]
        _replace_yield(block, [nxt, c_scalar, *carried])
        _erase_dead(block)
        loop = scf.WhileOp(inits, types, Region(before), body)
        emit(loop)
        return list(loop.results)


def _erase_dead(block: Block) -> None:
    """Drop side-effect-free ops whose results nobody uses (dropped scan slices)."""
    changed = True
    while changed:
        changed = False
        for inner in reversed(list(block.ops)):
            if inner.results and not any(r.uses for r in inner.results) and \
                    is_side_effect_free(inner):
                Rewriter.erase_op(inner)
                changed = True



# --------------------------------------------------------------------------- recurrent cells


def _rnn_activation(b: _Body, name: str, alpha: float, beta: float, x: SSAValue) -> SSAValue:
    """One ONNX recurrent-cell activation on a float scalar."""
    t = x.type
    zero = b.const(0.0, t)
    match name:
        case "sigmoid" | "tanh" | "relu":
            return b.unary(name, x)
        case "affine":
            return b.binary("add", b.binary("mul", b.const(alpha, t), x), b.const(beta, t))
        case "leaky_relu":
            neg = b.add(arith.CmpfOp(x, zero, "olt"))
            return b.select(neg, b.binary("mul", b.const(alpha, t), x), x)
        case "thresholded_relu":
            keep = b.add(arith.CmpfOp(x, b.const(alpha, t), "ogt"))
            return b.select(keep, x, zero)
        case "scaled_tanh":
            inner = b.add(math.TanhOp(b.binary("mul", b.const(beta, t), x)))
            return b.binary("mul", b.const(alpha, t), inner)
        case "hard_sigmoid":
            y = b.binary("add", b.binary("mul", b.const(alpha, t), x), b.const(beta, t))
            y = b.add(arith.MinimumfOp(y, b.const(1.0, t)))
            return b.add(arith.MaximumfOp(y, zero))
        case "elu":
            neg = b.add(arith.CmpfOp(x, zero, "olt"))
            em1 = b.binary("sub", b.add(math.ExpOp(x)), b.const(1.0, t))
            return b.select(neg, b.binary("mul", b.const(alpha, t), em1), x)
        case "softsign":
            denom = b.binary("add", b.const(1.0, t), b.add(math.AbsFOp(x)))
            return b.binary("div", x, denom)
        case "softplus":
            return b.add(math.LogOp(b.binary("add", b.const(1.0, t), b.add(math.ExpOp(x)))))
    raise ValueError(f"unknown activation {name}")


class RNNPattern(RewritePattern):
    """graph.rnn -> X @ W^T for all steps (one generic), then one scf.for over time:
    H @ R^T (one generic for all directions), one cell generic for all directions
    computing the new states and the step's output slab, written into Y per direction."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.RNNOp, rewriter: PatternRewriter):
        emit = _Emit(rewriter, op)
        kind, hidden = op.kind.data, op.hidden_size.value.data
        n_dir, n_gates = op.num_directions, op.num_gates
        gh = n_gates * hidden
        elt = _element_type(op.x)
        if not isinstance(elt, AnyFloat):
            raise _fail(op, "only floating-point recurrent cells are supported")
        t_size, b_size, i_size = emit.sizes(op.x)
        trip = emit.value(t_size)
        # XW[t, d, b, g] = sum_i X[t, b, i] * W[d, g, i]
        xw = _contraction(
            emit, op.x, op.w, _map(5, [_d(0), _d(2), _d(4)]), _map(5, [_d(1), _d(3), _d(4)]),
            emit.fill(0.0, [t_size, n_dir, b_size, gh], elt), 4)
        state_sizes: list[Size] = [n_dir, b_size, hidden]
        h0 = op.initial_h if op.initial_h is not None else emit.fill(0.0, state_sizes, elt)
        states = [h0]
        if kind == "lstm":
            c0 = op.initial_c if op.initial_c is not None else emit.fill(0.0, state_sizes,
                                                                        elt)
            states.append(c0)
        y0 = emit.empty([t_size, n_dir, b_size, hidden], elt)
        inits = [_cast_to(v, tensor_type_of(state_sizes, elt), op) for v in states] + [y0]

        block = Block(arg_types=[IndexType(), *[v.type for v in inits]])
        loop = scf.ForOp(emit.index(0), trip, emit.index(1), inits, block)
        emit(loop)
        placeholder = scf.YieldOp()
        block.add_op(placeholder)
        inner = _Emit(rewriter, placeholder)
        step = block.args[0]
        h_prev = block.args[1]
        c_prev = block.args[2] if kind == "lstm" else None
        y_prev = block.args[-1]
        cell = _RNNCell(op, inner, xw, step, trip, elt)
        new_states, slab = cell.build(h_prev, c_prev)
        y = y_prev
        for d in range(n_dir):
            at = _position(step, trip, cell.reverse(d), placeholder)
            part = _extract_slice(inner, slab, 0, _index_const(d, placeholder),
                                  tensor_type_of([b_size, hidden], elt), placeholder)
            y = _insert_slab(part, y, at, d, placeholder)
        Rewriter.replace_op(placeholder, scf.YieldOp(*new_states, y))
        outs = [loop.results[-1], *loop.results[:-1]]
        rewriter.replace(op, [], [_cast_to(v, t, op) for v, t in
                                     zip(outs, op.outputs.types, strict=True)])


def tensor_type_of(sizes: Sequence[Size], element_type: Attribute) -> TensorType:
    return TensorType(element_type, [s if isinstance(s, int) else DYN for s in sizes])


def _insert_slab(part: SSAValue, y: SSAValue, at: SSAValue, direction: int,
                 before: Operation) -> SSAValue:
    """Y[at, direction, :, :] = part (a [B, H] tensor)."""
    shape = shape_of(y)
    sizes: list[int | SSAValue] = [1, 1]
    for d in (2, 3):
        sizes.append(shape[d] if shape[d] != DYN else _insert_before(
            tensor.DimOp(y, _index_const(d, before)), before))
    op = tensor.InsertSliceOp.get(
        part, y, [DYN if isinstance(s, SSAValue) else s for s in sizes],
        [DYN, direction, 0, 0], [1, 1, 1, 1], offsets=[at],
        sizes=[s for s in sizes if isinstance(s, SSAValue)])
    return _insert_before(op, before)


class _RNNCell:
    """The per-step computations of a graph.rnn, emitted into the time loop's body."""

    def __init__(self, op: graph.RNNOp, emit: _Emit, xw: SSAValue, step: SSAValue,
                 trip: SSAValue, elt: Attribute):
        self.op, self.emit, self.xw, self.step, self.trip, self.elt = op, emit, xw, step, \
            trip, elt
        self.kind = op.kind.data
        self.hidden = op.hidden_size.value.data
        self.n_dir = op.num_directions
        self.acts = [a.data for a in op.activations.data]
        self.alpha = [float(v) for v in op.activation_alpha.get_values()]
        self.beta = [float(v) for v in op.activation_beta.get_values()]
        self.per_dir = len(self.acts) // self.n_dir
        self.clip = op.clip.value.data if op.clip is not None else None

    def reverse(self, d: int) -> bool:
        direction = self.op.direction.data
        return direction == "reverse" or (direction == "bidirectional" and d == 1)

    def matmul_r(self, h: SSAValue) -> SSAValue:
        """[D, B, G*H]: h[d, b, :] @ R[d, :, :]^T."""
        sizes = [self.n_dir, self.emit.size(h, 1), self.op.num_gates * self.hidden]
        init = self.emit.fill(0.0, sizes, self.elt)
        return _contraction(self.emit, h, self.op.r, _map(4, [_d(0), _d(1), _d(3)]),
                            _map(4, [_d(0), _d(2), _d(3)]), init, 3)

    def build(self, h: SSAValue, c: SSAValue | None) -> tuple[list[SSAValue], SSAValue]:
        op = self.op
        lbr = bool(op.linear_before_reset.value.data)
        hr = self.matmul_r(h)
        hr_h = None
        if self.kind == "gru" and not lbr:
            r_gate = self.generic(h, c, hr, None, "gru_r")[0]
            rh = self.emit.generic(
                [r_gate, h], [self.emit.empty(self.emit.sizes(h), self.elt)],
                [_identity(3)] * 3, [PARALLEL] * 3,
                lambda b: [b.binary("mul", b.args[0], b.args[1])])[0]
            hr_h = self.matmul_r(rh)
        results = self.generic(h, c, hr, hr_h, "cell")
        n_states = 2 if self.kind == "lstm" else 1
        return results[:n_states], results[n_states]

    def generic(self, h: SSAValue, c: SSAValue | None, hr: SSAValue, hr_h: SSAValue | None,
                what: str) -> list[SSAValue]:
        """A [D, B, H] generic; `cell` yields new states and the output slab, `gru_r`
        the GRU reset gate."""
        op, hidden, n_gates = self.op, self.hidden, self.op.num_gates
        emit, elt = self.emit, self.elt
        ident = _identity(3)
        ins: list[SSAValue] = [h]
        maps = [ident]
        names = ["h"]

        def add(value: SSAValue, amap: AffineMapAttr, name: str) -> None:
            ins.append(value)
            maps.append(amap)
            names.append(name)

        if c is not None:
            add(c, ident, "c")
        sizes = emit.sizes(h)
        n_out = 1 if what == "gru_r" else (3 if self.kind == "lstm" else 2)
        outs = [emit.empty(sizes, elt) for _ in range(n_out)]
        step, trip = self.step, self.trip
        xw, seq = self.xw, op.sequence_lens
        n_in = len(ins)

        def body(b: _Body) -> list[SSAValue]:
            v = dict(zip(names, b.args[:n_in], strict=True))
            d, bi, hi = b.linalg_index(0), b.linalg_index(1), b.linalg_index(2)

            def at(source: SSAValue, offset: int, batch: bool = True) -> SSAValue:
                col = hi if offset == 0 else b.add(arith.AddiOp(hi, b.index(offset)))
                return b.add(tensor.ExtractOp(source, [d, bi, col] if batch else [d, col],
                                              elt))

            for gate in range(n_gates):
                v[f"hr{gate}"] = at(hr, gate * hidden)
                if op.bias is not None:
                    v[f"wb{gate}"] = at(op.bias, gate * hidden, False)
                    v[f"rb{gate}"] = at(op.bias, (n_gates + gate) * hidden, False)
            if hr_h is not None:
                v["hr_h"] = at(hr_h, 2 * hidden)
            if op.peepholes is not None:
                for k in range(3):
                    v[f"p{k}"] = at(op.peepholes, k * hidden, False)
            t = step
            if any(self.reverse(k) for k in range(self.n_dir)):
                back = b.add(arith.SubiOp(b.add(arith.SubiOp(trip, b.index(1))), step))
                if all(self.reverse(k) for k in range(self.n_dir)):
                    t = back
                else:
                    t = b.select(b.cmp("eq", d, b.index(1)), back, step)

            def gate_in(gate: int) -> SSAValue:
                col = b.add(arith.AddiOp(hi, b.index(gate * hidden)))
                x = b.add(tensor.ExtractOp(xw, [t, d, bi, col], elt))
                if gate != 2 or self.kind != "gru":
                    x = b.binary("add", x, v[f"hr{gate}"])
                if op.bias is not None:
                    x = b.binary("add", x, v[f"wb{gate}"])
                    if not (self.kind == "gru" and gate == 2 and lbr):
                        x = b.binary("add", x, v[f"rb{gate}"])
                return x

            def act(j: int, x: SSAValue, clip: bool = True) -> SSAValue:
                if self.clip is not None and clip:  # gate inputs only, as onnxruntime
                    x = b.add(arith.MinimumfOp(x, b.const(self.clip, elt)))
                    x = b.add(arith.MaximumfOp(x, b.const(-self.clip, elt)))
                ys = [_rnn_activation(b, self.acts[k * self.per_dir + j],
                                      self.alpha[k * self.per_dir + j],
                                      self.beta[k * self.per_dir + j], x)
                      for k in range(self.n_dir)]
                if self.n_dir == 2 and self.acts[j] != self.acts[self.per_dir + j]:
                    return b.select(b.cmp("eq", d, b.index(1)), ys[1], ys[0])
                return ys[0]

            lbr = bool(op.linear_before_reset.value.data)
            one = b.const(1.0, elt)
            h_old = v["h"]
            if what == "gru_r":
                return [act(0, gate_in(1))]
            c_new = None
            if self.kind == "rnn":
                h_new = act(0, gate_in(0))
            elif self.kind == "gru":
                z = act(0, gate_in(0))
                r = act(0, gate_in(1))
                if lbr:
                    hh = v["hr2"]
                    if op.bias is not None:
                        hh = b.binary("add", hh, v["rb2"])
                    pre = b.binary("add", gate_in(2), b.binary("mul", r, hh))
                else:
                    pre = b.binary("add", gate_in(2), v["hr_h"])
                cand = act(1, pre)
                h_new = b.binary("add", b.binary("mul", b.binary("sub", one, z), cand),
                                 b.binary("mul", z, h_old))
            else:
                c_old = v["c"]

                def peep(x: SSAValue, k: int, cell: SSAValue) -> SSAValue:
                    if op.peepholes is None:
                        return x
                    return b.binary("add", x, b.binary("mul", v[f"p{k}"], cell))

                i = act(0, peep(gate_in(0), 0, c_old))
                if op.input_forget.value.data:
                    f = b.binary("sub", one, i)
                else:
                    f = act(0, peep(gate_in(2), 2, c_old))
                cand = act(1, gate_in(3))
                c_new = b.binary("add", b.binary("mul", f, c_old), b.binary("mul", i, cand))
                o = act(0, peep(gate_in(1), 1, c_new))
                h_new = b.binary("mul", o, act(2, c_new, clip=False))
            y = h_new
            if seq is not None:
                length = b.add(tensor.ExtractOp(seq, [bi], _element_type(seq)))
                t_int = b.add(arith.IndexCastOp(t, length.type))
                active = b.cmp("slt", t_int, length)
                h_new = b.select(active, h_new, h_old)
                if c_new is not None:
                    c_new = b.select(active, c_new, v["c"])
                y = b.select(active, y, b.const(0.0, elt))
            return [h_new, *([c_new] if c_new is not None else []), y]

        return emit.generic(ins, outs, [*maps, *[ident] * n_out], [PARALLEL] * 3, body)


class UnsupportedPattern(RewritePattern):
    """Anything of the graph dialect left over is an error naming the op."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if op.name.startswith("graph.") and not isinstance(op, graph.WeightOp) \
                and not isinstance(op, graph.YieldOp | graph.FusedYieldOp):  # go with parents
            raise _fail(op, "no lowering for this op")


# --------------------------------------------------------------------------- element types


def _lowest(t: Attribute) -> float | int:
    """The identity of max over element type `t`: -inf, or the smallest integer."""
    if isinstance(t, AnyFloat):
        return float("-inf")
    assert isinstance(t, IntegerType)
    return 0 if graph.is_unsigned(t) else -(1 << (t.width.data - 1))


def _signless_attr(attr: Attribute) -> Attribute:
    """A typed attribute (integer, dense, function/tensor type) with uiN made signless."""
    if isinstance(attr, IntegerAttr) and graph.is_unsigned(attr.type) \
            and attr.type != graph.signless(attr.type):
        width = attr.type.width.data
        value = attr.value.data
        value = value - (1 << width) if value >= 1 << (width - 1) else value
        return IntegerAttr(value, graph.signless(attr.type))
    if isinstance(attr, DenseIntOrFPElementsAttr):
        t = attr.get_type()
        if graph.signless(t) != t:
            return DenseIntOrFPElementsAttr(graph.signless(t), attr.data)  # type: ignore
    if isinstance(attr, func.FunctionType):
        return func.FunctionType.from_lists([graph.signless(t) for t in attr.inputs],
                                            [graph.signless(t) for t in attr.outputs])
    return graph.signless(attr)


def make_signless(module: ModuleOp) -> None:
    """Rewrite every uiN type in `module` (values, block args, properties) as signless iN.

    Patterns emit arith on the graph types so they can pick unsigned ops; this sweep makes
    the result valid upstream IR (arith and linalg want signless integers).
    """
    for op in module.walk():
        for r in op.results:
            new = graph.signless(r.type)
            if new != r.type:
                r._type = new  # noqa: SLF001 (in-place retype, uses unchanged)
        for region in op.regions:
            for block in region.blocks:
                for arg in block.args:
                    new = graph.signless(arg.type)
                    if new != arg.type:
                        arg._type = new  # noqa: SLF001
        for props in (op.properties, op.attributes):
            for name, attr in list(props.items()):
                new_attr = _signless_attr(attr)
                if new_attr != attr:
                    props[name] = new_attr


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

    check_proofs: bool = False
    """Do not trust the symbolic shape analysis: every dim relation it proves is checked
    at run time instead (`compile(..., checks="bounds")`)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for fn in [f for f in op.walk() if isinstance(f, func.FuncOp) and f.body.blocks]:
            _weights_to_arguments(fn)
            state = LoweringDims.for_function(fn, trust_analysis=not self.check_proofs)
            token = begin_lowering(state)
            try:
                _check_named_dims(fn, state)
                self._lower(fn, state)
            finally:
                end_lowering(token)
        make_signless(op)

    @staticmethod
    def _lower(fn: func.FuncOp, state: LoweringDims) -> None:
        PatternRewriteWalker(
            GreedyRewritePatternApplier([
                ConstantPattern(), ElementwiseBinaryPattern(), ElementwiseUnaryPattern(),
                MatMulPattern(), GemmPattern(), ConvPattern(), PoolPattern(),
                GlobalAvgPoolPattern(), BatchNormPattern(), ReshapePattern(),
                TransposePattern(), ConcatPattern(), SoftmaxPattern(),
                *(p() for p in REDUCTION_NN_PATTERNS),
                ElementwisePattern(),
                *SHAPE_OP_PATTERNS,
                LayerNormPattern(), FusedElementwisePattern(),  # optimizer ops
                IfPattern(), LoopPattern(), ScanPattern(), RNNPattern(),
                UnsupportedPattern(),
            ]),
            apply_recursively=False,
            walk_regions_first=True,  # region bodies are lowered before their op
            listener=state.listener(),
        ).rewrite_region(fn.body)
        _cast_results_to_declared_types(fn)
        region_dce(fn.body)  # sizes computed for checks that proofs made unnecessary


def _cast_results_to_declared_types(fn: func.FuncOp) -> None:
    """A lowered result may be more or less static than the graph op declared (the
    importer refines types with ONNX's inference); the function's results keep their
    declared types: a tensor.cast, checked at run time where it makes a `?` dim static."""
    ret = fn.body.blocks[0].last_op
    if not isinstance(ret, func.ReturnOp):
        return
    for i, (value, want) in enumerate(zip(ret.operands, fn.function_type.outputs.data,
                                          strict=False)):
        if value.type == want or not isinstance(want, TensorType) or \
                not isinstance(value.type, TensorType):
            continue
        have = value.type.get_shape()
        shape = want.get_shape()
        if len(have) != len(shape) or any(a != DYN and b != DYN and a != b
                                          for a, b in zip(have, shape, strict=True)):
            raise _fail(ret, f"result {i} lowers to {value.type}, but the function "
                        f"declares {want}")
        emit = _Emit(PatternRewriter(ret), ret)
        for k, (a, b) in enumerate(zip(have, shape, strict=True)):
            if a == DYN and b != DYN:
                size = emit.size(value, k)
                emit.check(emit(arith.CmpiOp(emit.value(size), emit.index(b), "eq")),
                           f"dim {k} of result {i} is {{0}} at run time, but the model "
                           f"declares {b}", [size])
        ret.operands = [*ret.operands[:i], emit(tensor.CastOp(value, want)),
                        *ret.operands[i + 1:]]


def _check_named_dims(fn: func.FuncOp, state: LoweringDims) -> None:
    """Inputs whose dims share a name must agree: checked on entry, since the analysis
    proves dims equal by their names (the Python caller checks it first, more kindly)."""
    block = fn.body.blocks[0]
    first = block.first_op
    if first is None:
        return
    seen: dict[str, tuple[int, int]] = {}
    rewriter = PatternRewriter(first)
    emit = _Emit(rewriter, first)
    for i, arg in enumerate(block.args):
        attrs = fn.arg_attrs.data[i].data if fn.arg_attrs is not None else {}
        names = attrs.get(graph.ARG_DIMS_ATTR)
        if not isinstance(names, ArrayAttr) or not isinstance(arg.type, TensorType):
            continue
        for k, name in enumerate(names.data):
            if not isinstance(name, StringAttr) or not name.data or \
                    arg.type.get_shape()[k] != DYN:
                continue
            if name.data not in seen:
                seen[name.data] = (i, k)
                continue
            j, m = seen[name.data]
            a = emit(tensor.DimOp(block.args[j], emit.index(m)))
            b = emit(tensor.DimOp(arg, emit.index(k)))
            emit(check.AssertOp(emit(arith.CmpiOp(a, b, "eq")),
                                f"inputs {j} and {i} must agree on dim '{name.data}' "
                                "({0} vs {1})", [a, b]))

