"""`ScalarBody`: the builder of scalar bodies (a `linalg.generic`'s region, or the scalar
lowering of an elementwise rule): it appends arith + math ops to one block.

Used by convert-graph-to-tensor (lowering/graph_to_tensor/) and by the fusion pass
(passes/fuse.py), and by the elementwise rules' scalar lowerings (`b` there).
"""

from __future__ import annotations

import math as pymath
from collections.abc import Sequence

from xdsl.dialects import arith, math
from xdsl.dialects.builtin import AnyFloat, FloatAttr, IndexType, StringAttr
from xdsl.dialects.linalg.ops import IndexOp
from xdsl.ir import Attribute, Block, Operation, SSAValue

from dialects.graph import is_unsigned


class ScalarBody:
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
        if is_unsigned(a.type):  # the graph type says how to treat the bits
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
