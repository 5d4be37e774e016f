"""The `Emit` builder and the helpers shared by the convert-graph-to-tensor patterns."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdsl.dialects import arith, cf, tensor
from xdsl.dialects.builtin import (
    AffineMapAttr,
    AnyFloat,
    FloatAttr,
    IndexType,
    IntegerType,
    StringAttr,
    TensorType,
)
from xdsl.dialects.linalg.attrs import IteratorTypeAttr
from xdsl.dialects.linalg.ops import FillOp, GenericOp, YieldOp
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.ir.affine import AffineExpr, AffineMap
from xdsl.pattern_rewriter import (
    PatternRewriter,
)
from xdsl.rewriter import InsertPoint
from xdsl.utils.exceptions import DiagnosticException, PassFailedException

from dialects import graph
from dialects.graph import DYN, shape_of
from dialects.scalar_body import ScalarBody
from lowering.dims import (
    LoweringDims,
    broadcast_operands,
    broadcast_reads,
    emit_check,
    reified_size,
    verify_generic,
)
from lowering.dims import current as current_dims

Size = int | SSAValue
"""A dim size: a Python int when static, an `index` SSA value when dynamic."""


PARALLEL = IteratorTypeAttr.parallel()


REDUCTION = IteratorTypeAttr.reduction()


WEIGHT_ARG_ATTR = "graph.weight"


def fail(op: Operation, message: str) -> DiagnosticException:
    return PassFailedException(f"convert-graph-to-tensor: {op.name}: {message}")


def di(i: int) -> AffineExpr:
    return AffineExpr.dimension(i)


def affine_map(num_dims: int, results: Sequence[AffineExpr]) -> AffineMapAttr:
    return AffineMapAttr(AffineMap(num_dims, 0, tuple(results)))


def identity_map(rank: int) -> AffineMapAttr:
    return AffineMapAttr(AffineMap.identity(rank))


class Emit:
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
        if a == 0 or b == 0:
            return b if a == 0 else a
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
                body: Callable[[ScalarBody], Sequence[SSAValue]]) -> list[SSAValue]:
        arg_types = [elt_type(v) for v in (*ins, *outs)]
        block = Block(arg_types=arg_types)
        b = ScalarBody(block)
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


def elt_type(value: SSAValue) -> Attribute:
    t = value.type
    return t.element_type if isinstance(t, TensorType) else t


def act_epilogue(emit: Emit, value: SSAValue, act: StringAttr | None,
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
    dest = emit.empty(sizes, elt_type(value))

    def body(b: ScalarBody) -> list[SSAValue]:
        x = b.args[0]
        if residual is not None:
            x = b.binary("add", x, b.args[1])
        return [b.act(x, act, params)]

    return emit.generic(ins, [dest], [*maps, identity_map(rank)], [PARALLEL] * rank, body)[0]


def act_params(op: Operation) -> tuple[float, ...]:
    params = op.properties.get("act_params")
    return () if params is None else tuple(float(v) for v in params.get_values())


def assert_(emit: Emit, cond: SSAValue, message: str) -> None:
    """A run-time check: native code stops with `message` when `cond` is false."""
    emit.rewriter.insert(cf.AssertOp(cond, message), InsertPoint.before(emit.anchor))


# --------------------------------------------------------------------------- element types


def lowest(t: Attribute) -> float | int:
    """The identity of max over element type `t`: -inf, or the smallest integer."""
    if isinstance(t, AnyFloat):
        return float("-inf")
    assert isinstance(t, IntegerType)
    return 0 if graph.is_unsigned(t) else -(1 << (t.width.data - 1))
