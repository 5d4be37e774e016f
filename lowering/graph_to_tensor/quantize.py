"""convert-graph-to-tensor patterns: the quantize family.

quantize_linear, dequantize_linear and requantize are one elementwise generic over the
result, each quantization parameter read per tensor (index 0), per axis (the axis loop)
or per block (the axis loop floordiv block_size, its extent checked first). The integer
contractions widen their operands to i32 with the zero points subtracted (a padded conv
tap then adds 0) and reuse the graph.matmul / graph.conv lowerings on i32.
"""

from __future__ import annotations

from xdsl.dialects import arith, math
from xdsl.dialects.builtin import (
    AffineMapAttr,
    AnyFloat,
    ArrayAttr,
    Float4E2M1FNType,
    IntegerType,
    f32,
    f64,
)
from xdsl.dialects.linalg.ops import GenericOp, YieldOp
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.ir.affine import AffineExpr
from xdsl.pattern_rewriter import PatternRewriter, RewritePattern, op_type_rewrite_pattern
from xdsl.rewriter import InsertPoint

from dialects import graph
from dialects.graph import shape_of
from dialects.graph.base import is_minifloat
from dialects.graph.elementwise_table import cast_scalar
from dialects.scalar_body import ScalarBody
from lowering.dims import broadcast_reads, check_equal
from lowering.graph_to_tensor.conv import ConvPattern
from lowering.graph_to_tensor.emit import (
    PARALLEL,
    Emit,
    affine_map,
    di,
    elt_type,
    identity_map,
)
from lowering.graph_to_tensor.linalg import MatMulPattern

i32 = IntegerType(32)


def param_map(emit: Emit, x: SSAValue, p: SSAValue, axis: int, block: int) -> AffineMapAttr:
    """How a generic over `x`'s shape reads the quantization parameter `p`."""
    rank = len(shape_of(x))
    mode = graph.param_mode(shape_of(x), shape_of(p), block)
    if mode == "tensor":
        return affine_map(rank, [AffineExpr.constant(0)] * len(shape_of(p)))
    if mode == "axis":
        return affine_map(rank, [di(axis)])
    # the floordiv read is not one verify_generic bounds: its extent is checked here
    blocks = emit.div(emit.add(emit.size(x, axis), block - 1), block)
    check_equal(emit, emit.size(p, axis), blocks,
                f"dim {axis} of the blocked scale or zero point is {{0}}, but the input "
                f"needs {{1}} blocks of {block}")
    return affine_map(rank, [di(d) // block if d == axis else di(d) for d in range(rank)])


def _wider_float(a: Attribute, b: Attribute) -> Attribute:
    assert isinstance(a, AnyFloat) and isinstance(b, AnyFloat)
    return a if a.bitwidth >= b.bitwidth else b


def _saturate(b: ScalarBody, y: SSAValue, out: Attribute) -> SSAValue:
    """An f64 `y` clamped to `out`'s range (NaN becomes the lowest value) and converted."""
    lo_v, hi_v = graph.quant_range(out)
    lo, hi = b.const(lo_v, f64), b.const(hi_v, f64)
    y = b.select(b.add(arith.CmpfOp(y, lo, "oge")), y, lo)
    y = b.select(b.add(arith.CmpfOp(y, hi, "ole")), y, hi)
    return cast_scalar(b, y, out)


def _round_to_f64(b: ScalarBody, y: SSAValue) -> SSAValue:
    return cast_scalar(b, b.add(math.RoundEvenOp(y)), f64)


def _params_generic(emit: Emit, op: Operation, x: SSAValue, params: list[SSAValue],
                    axis: int, block: int, body) -> SSAValue:
    """One parallel generic over `x` reading `params` as quantization parameters."""
    rank = len(shape_of(x))
    maps = [identity_map(rank), *[param_map(emit, x, p, axis, block) for p in params]]
    dest = emit.empty(emit.sizes(x), elt_type(op.results[0]))
    return emit.generic([x, *params], [dest], [*maps, identity_map(rank)],
                        [PARALLEL] * rank, body)[0]


def _to_minifloat(b: ScalarBody, q: SSAValue, zp: SSAValue | None, out: Attribute,
                  saturate: bool) -> SSAValue:
    """q + zp converted as Cast does; a float8 zero zp is left out (-0 stays -0, as in
    onnx.reference)."""
    if zp is not None:
        zp = cast_scalar(b, zp, q.type)
        q_zp = b.binary("add", q, zp)
        if not isinstance(out, Float4E2M1FNType):
            zero = b.add(arith.CmpfOp(zp, b.const(0.0, q.type), "oeq"))
            q_zp = b.select(zero, q, q_zp)
        q = q_zp
    return cast_scalar(b, q, out, saturate)


class QuantizeLinearPattern(RewritePattern):
    """saturate(round_half_even(x / scale) + zero_point); to a minifloat the Cast of
    x / scale + zero_point."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.QuantizeLinearOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        out = elt_type(op.result)
        ftype = _wider_float(elt_type(op.input), elt_type(op.scale))
        params = [op.scale] + ([op.zero_point] if op.zero_point is not None else [])
        minifloat = is_minifloat(out)

        def body(b: ScalarBody) -> list[SSAValue]:
            x, s = cast_scalar(b, b.args[0], ftype), cast_scalar(b, b.args[1], ftype)
            if minifloat:
                zp = b.args[2] if op.zero_point is not None else None
                return [_to_minifloat(b, b.binary("div", x, s), zp, out,
                                      bool(op.saturate.value.data))]
            y = _round_to_f64(b, b.binary("div", x, s))
            if op.zero_point is not None:
                y = b.binary("add", y, cast_scalar(b, b.args[2], f64))
            return [_saturate(b, y, out)]

        rewriter.replace(op, [], [_params_generic(emit, op, op.input, params,
                                                  op.quant_axis(), op.quant_block(), body)])


class DequantizeLinearPattern(RewritePattern):
    """(x - zero_point) * scale in f32 (f64 for 32-bit integers with a zero point)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.DequantizeLinearOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        out = elt_type(op.result)
        ftype = f64 if op.wide() else f32
        params = [op.scale] + ([op.zero_point] if op.zero_point is not None else [])

        def body(b: ScalarBody) -> list[SSAValue]:
            x = cast_scalar(b, cast_scalar(b, b.args[0], f32), ftype)
            if op.zero_point is not None:
                x = b.binary("sub", x, cast_scalar(b, b.args[2], ftype))
            y = b.binary("mul", x, cast_scalar(b, b.args[1], ftype))
            return [cast_scalar(b, y, out)]

        rewriter.replace(op, [], [_params_generic(emit, op, op.input, params,
                                                  op.quant_axis(), op.quant_block(), body)])


class RequantizePattern(RewritePattern):
    """saturate(round_half_even((acc + bias) * multiplier) + zero_point), in f64."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.RequantizeOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        out = elt_type(op.result)
        params = [v for v, _ in op.params()]
        has_zp, has_bias = op.zero_point is not None, op.bias is not None

        def body(b: ScalarBody) -> list[SSAValue]:
            acc = b.args[0]
            if has_bias:
                acc = b.binary("add", acc, b.args[2 + has_zp])
            y = b.binary("mul", cast_scalar(b, acc, f64), cast_scalar(b, b.args[1], f64))
            y = _round_to_f64(b, y)
            if has_zp:
                y = b.binary("add", y, cast_scalar(b, b.args[2], f64))
            return [_saturate(b, y, out)]

        rewriter.replace(op, [], [_params_generic(emit, op, op.input, params,
                                                  op.axis.value.data, 0, body)])


def _widen(emit: Emit, x: SSAValue, zp: SSAValue | None,
           zp_map: AffineMapAttr | None = None) -> SSAValue:
    """x as i32 minus its zero point (numpy-broadcast, or read through `zp_map`)."""
    rank = len(shape_of(x))
    sizes = emit.sizes(x)
    ins, maps = [x], [identity_map(rank)]
    if zp is not None:
        if zp_map is None:
            (read,) = broadcast_reads(emit, [zp], sizes)
            zp, zp_map = read.value, read.map
        ins.append(zp)
        maps.append(zp_map)

    def body(b: ScalarBody) -> list[SSAValue]:
        v = cast_scalar(b, b.args[0], i32)
        if zp is not None:
            v = b.binary("sub", v, cast_scalar(b, b.args[1], i32))
        return [v]

    dest = emit.empty(sizes, i32)
    return emit.generic(ins, [dest], [*maps, identity_map(rank)], [PARALLEL] * rank, body)[0]


def _lower_as(op: Operation, new: Operation, pattern: RewritePattern,
              rewriter: PatternRewriter) -> None:
    """Replace `op` by the graph op `new` (inserted before it) and lower `new` now with
    `pattern` (this walk does not revisit inserted ops), its replacements tracked."""
    rewriter.insert(new, InsertPoint.before(op))
    rewriter.replace(op, [], list(new.results))
    inner = PatternRewriter(new)
    inner.extend_from_listener(rewriter)
    pattern.match_and_rewrite(new, inner)


def _byte_operand(x: SSAValue, zp: SSAValue | None, per_column: bool) -> bool:
    """An 8-bit operand whose zero point is one element (or, `per_column`, one per
    column of a 2-D operand): the integer GEMM kernel takes those as they are."""
    if elt_type(x) not in (IntegerType(8), graph.ui8):
        return False
    if zp is None or shape_of(zp) in ((), (1,)):
        return True
    return (per_column and len(shape_of(x)) == 2 and len(shape_of(zp)) == 1
            and shape_of(zp)[0] == shape_of(x)[1] != graph.DYN)


def _byte_contraction(wide: GenericOp, lhs: SSAValue, rhs: SSAValue,
                      zps: list[tuple[SSAValue | None, int]], rewriter: PatternRewriter
                      ) -> None:
    """Replace the contraction `wide` (its body not yet meaningful for byte operands) by
    acc + (ext(a) - ext(a_zp)) * (ext(b) - ext(b_zp)) over the 8-bit operands; each zero
    point is read at index 0, or along loop `dim` (>= 0)."""
    maps = list(wide.indexing_maps.data)
    n_loops = maps[0].data.num_dims
    ins, zp_maps, present = [lhs, rhs], [], []
    for zp, dim in zps:
        present.append(zp is not None)
        if zp is None:
            continue
        ins.append(zp)
        exprs = ([AffineExpr.dimension(dim)] if dim >= 0
                 else [AffineExpr.constant(0)] * len(shape_of(zp)))
        zp_maps.append(affine_map(n_loops, exprs))
    block = Block(arg_types=[elt_type(v) for v in ins] + [i32])
    b = ScalarBody(block)
    args = list(block.args)
    zp_args = iter(args[2:-1])
    factors = []
    for x, has in zip(args[:2], present, strict=True):
        v = cast_scalar(b, x, i32)
        if has:
            v = b.binary("sub", v, cast_scalar(b, next(zp_args), i32))
        factors.append(v)
    block.add_op(YieldOp(b.binary("add", args[-1], b.binary("mul", *factors))))
    new = GenericOp(ins, list(wide.outputs), Region(block),
                    ArrayAttr([*maps[:2], *zp_maps, maps[2]]), wide.iterator_types,
                    [r.type for r in wide.results])
    rewriter.replace(wide, [new])


class MatMulIntegerPattern(RewritePattern):
    """(a - a_zp) @ (b - b_zp). 8-bit operands with per-tensor (b: or per-column) zero
    points: one contraction over the bytes, zero points subtracted in its body (the
    shape lower-contractions-to-kernels gives the integer GEMM kernel); otherwise
    widened operands through the i32 graph.matmul lowering."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.MatMulIntegerOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        direct = (_byte_operand(op.lhs, op.lhs_zero_point, False)
                  and _byte_operand(op.rhs, op.rhs_zero_point, True)
                  and len(shape_of(op.lhs)) >= 2 and len(shape_of(op.rhs)) >= 2)
        if not direct:
            lhs = _widen(emit, op.lhs, op.lhs_zero_point)
            rhs = _widen(emit, op.rhs, op.rhs_zero_point)
            _lower_as(op, graph.MatMulOp(lhs, rhs, result_type=op.result.type),
                      MatMulPattern(), rewriter)
            return
        use = next(iter(op.result.uses))
        _lower_as(op, graph.MatMulOp(op.lhs, op.rhs, result_type=op.result.type),
                  MatMulPattern(), rewriter)
        wide = use.operation.operands[use.index].owner
        assert isinstance(wide, GenericOp)
        n_dim = len(shape_of(op.result)) - 1
        per_col = op.rhs_zero_point is not None and shape_of(op.rhs_zero_point) not in (
            (), (1,))
        _byte_contraction(wide, op.lhs, op.rhs,
                          [(op.lhs_zero_point, -1),
                           (op.rhs_zero_point, n_dim if per_col else -1)], rewriter)


class ConvIntegerPattern(RewritePattern):
    """conv(x - x_zp, w - w_zp): widened operands through the i32 graph.conv lowering
    (its zero padding is x_zp padding of the original input)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: graph.ConvIntegerOp, rewriter: PatternRewriter):
        emit = Emit(rewriter, op)
        x = _widen(emit, op.input, op.input_zero_point)
        w_zp, w_map = op.weight_zero_point, None
        if w_zp is not None:
            w_map = param_map(emit, op.weight, w_zp, 0, 0)
        w = _widen(emit, op.weight, w_zp, w_map)
        conv = graph.ConvOp(x, w, strides=graph.ints(op.strides), pads=graph.ints(op.pads),
                            dilations=graph.ints(op.dilations), group=op.group.value.data)
        _lower_as(op, conv, ConvPattern(), rewriter)


QUANTIZE_PATTERNS: tuple[type[RewritePattern], ...] = (
    QuantizeLinearPattern, DequantizeLinearPattern, RequantizePattern,
    MatMulIntegerPattern, ConvIntegerPattern)
"""Lowerings of graph.QUANTIZE_OPS."""
