"""Linear algebra: matmul, gemm and einsum."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import (
    DenseArrayBase,
    FloatAttr,
    IntegerAttr,
    StringAttr,
    TensorType,
    f32,
    i64,
)
from xdsl.ir import Attribute, SSAValue
from xdsl.irdl import (
    AttrSizedOperandSegments,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from dialects.graph.base import (
    DYN,
    GraphOp,
    Shape,
    apply_act,
    broadcast_shapes,
    check,
    check_flag,
    element_type_of,
    opt_act,
    shape_of,
    shapes_compatible,
    tensor_type,
    verify_act,
)


@irdl_op_definition
class MatMulOp(GraphOp):
    """Matrix product with numpy `matmul` semantics (batched, broadcast batch dims).

    Optionally fused: `bias` (broadcast to the result) is added, then `act` applied.
    """

    name = "graph.matmul"
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    act = opt_prop_def(StringAttr)
    act_params = opt_prop_def(DenseArrayBase)  # optimizer: clip bounds, leaky_relu alpha
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (AttrSizedOperandSegments(as_property=True), ParsePropInAttrDict())
    assembly_format = (
        "$lhs `,` $rhs (`bias` `(` $bias^ `:` type($bias) `)`)? attr-dict "
        "`:` type($lhs) `,` type($rhs) `->` type($result)"
    )

    def __init__(self, lhs: SSAValue, rhs: SSAValue, bias: SSAValue | None = None,
                 act: str | None = None, result_type: Attribute | None = None):
        if result_type is None:
            result_type = tensor_type(
                self.infer_shape(shape_of(lhs), shape_of(rhs)), element_type_of(lhs))
        super().__init__(operands=[lhs, rhs, [bias] if bias else []],
                         properties=opt_act(act), result_types=[result_type])

    @staticmethod
    def infer_shape(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...]:
        if len(a) == 0 or len(b) == 0:
            raise ValueError("matmul operands must have rank >= 1")
        a2 = [1, *a] if len(a) == 1 else list(a)
        b2 = [*b, 1] if len(b) == 1 else list(b)
        k_a, k_b = a2[-1], b2[-2]
        if k_a != DYN and k_b != DYN and k_a != k_b:
            raise ValueError(f"contraction dims differ ({k_a} vs {k_b})")
        batch = broadcast_shapes(a2[:-2], b2[:-2])
        out = [*batch, a2[-2], b2[-1]]
        if len(a) == 1:
            out.pop(-2)
        if len(b) == 1:
            out.pop(-1)
        return tuple(out)

    def verify_(self) -> None:
        verify_act(self, self.act)
        try:
            expected = self.infer_shape(shape_of(self.lhs), shape_of(self.rhs))
        except ValueError as e:
            raise VerifyException(f"graph.matmul: {e}") from e
        check(shapes_compatible(expected, self.result_shape()),
              f"graph.matmul: result shape {list(self.result_shape())} should be "
              f"{list(expected)}")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        out = MatMulOp.infer_shape(shapes[0], shapes[1])
        return _with_bias(out, shapes[2] if self.bias is not None else None)

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        y = np.matmul(args[0], args[1])
        return apply_act(self, y if self.bias is None else y + args[2])


@irdl_op_definition
class GemmOp(GraphOp):
    """General matrix multiply: act(alpha * op(A) @ op(B) + beta * C).

    `A`, `B` are 2-D; op() transposes when `trans_a`/`trans_b` is 1; `C` broadcasts
    to [M, N]. `act` is an optional fused activation.
    """

    name = "graph.gemm"
    a = operand_def(TensorType)
    b = operand_def(TensorType)
    c = opt_operand_def(TensorType)
    alpha = prop_def(FloatAttr, default_value=FloatAttr(1.0, f32))
    beta = prop_def(FloatAttr, default_value=FloatAttr(1.0, f32))
    trans_a = prop_def(IntegerAttr, default_value=IntegerAttr(0, i64))
    trans_b = prop_def(IntegerAttr, default_value=IntegerAttr(0, i64))
    act = opt_prop_def(StringAttr)
    act_params = opt_prop_def(DenseArrayBase)  # optimizer: clip bounds, leaky_relu alpha
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (AttrSizedOperandSegments(as_property=True), ParsePropInAttrDict())
    assembly_format = (
        "$a `,` $b (`bias` `(` $c^ `:` type($c) `)`)? attr-dict "
        "`:` type($a) `,` type($b) `->` type($result)"
    )

    def __init__(self, a: SSAValue, b: SSAValue, c: SSAValue | None = None, *,
                 alpha: float = 1.0, beta: float = 1.0, trans_a: bool = False,
                 trans_b: bool = False, act: str | None = None):
        shape = self.infer_shape(shape_of(a), shape_of(b), trans_a, trans_b)
        props: dict[str, Attribute] = {
            "alpha": FloatAttr(alpha, f32), "beta": FloatAttr(beta, f32),
            "trans_a": IntegerAttr(int(trans_a), i64),
            "trans_b": IntegerAttr(int(trans_b), i64), **opt_act(act)}
        super().__init__(operands=[a, b, [c] if c else []], properties=props,
                         result_types=[tensor_type(shape, element_type_of(a))])

    @staticmethod
    def infer_shape(a: Sequence[int], b: Sequence[int], trans_a: bool,
                    trans_b: bool) -> tuple[int, int]:
        if len(a) != 2 or len(b) != 2:
            raise ValueError("gemm operands must be 2-D")
        m, k_a = (a[1], a[0]) if trans_a else (a[0], a[1])
        k_b, n = (b[1], b[0]) if trans_b else (b[0], b[1])
        if k_a != DYN and k_b != DYN and k_a != k_b:
            raise ValueError(f"contraction dims differ ({k_a} vs {k_b})")
        return (m, n)

    def verify_(self) -> None:
        verify_act(self, self.act)
        check_flag(self, self.trans_a, "trans_a")
        check_flag(self, self.trans_b, "trans_b")
        try:
            expected = self.infer_shape(shape_of(self.a), shape_of(self.b),
                                        bool(self.trans_a.value.data),
                                        bool(self.trans_b.value.data))
            if self.c is not None:
                broadcast_shapes(expected, shape_of(self.c))
        except ValueError as e:
            raise VerifyException(f"graph.gemm: {e}") from e
        check(shapes_compatible(expected, self.result_shape()),
              f"graph.gemm: result shape {list(self.result_shape())} should be "
              f"{list(expected)}")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        out = GemmOp.infer_shape(shapes[0], shapes[1], bool(self.trans_a.value.data),
                                 bool(self.trans_b.value.data))
        return _with_bias(out, shapes[2] if self.c is not None else None)

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        a = args[0].T if self.trans_a.value.data else args[0]
        b = args[1].T if self.trans_b.value.data else args[1]
        y = self.alpha.value.data * (a @ b)
        return apply_act(self, y if self.c is None else y + self.beta.value.data * args[2])


def parse_einsum(equation: str) -> tuple[list[str], str]:
    """Operand subscripts and output subscripts of a normalized equation "ab,bc->ac"."""
    lhs, sep, out = equation.partition("->")
    if not sep:
        raise ValueError(f"einsum equation '{equation}' has no '->'")
    terms = lhs.split(",")
    for t in [*terms, out]:
        if not all(c.isalpha() for c in t):
            raise ValueError(f"einsum subscripts must be letters, got '{t}'")
    if len(set(out)) != len(out):
        raise ValueError(f"einsum output '{out}' repeats a letter")
    if not set(out) <= set("".join(terms)):
        raise ValueError(f"einsum output '{out}' names a letter no operand has")
    return terms, out


def einsum_sizes(terms: Sequence[str], shapes: Sequence[Sequence[int]]) -> dict[str, int]:
    """Size of each letter (DYN when only dynamic dims carry it); ValueError on mismatch."""
    if len(terms) != len(shapes):
        raise ValueError(f"{len(terms)} subscripts for {len(shapes)} operands")
    sizes: dict[str, int] = {}
    for term, shape in zip(terms, shapes, strict=True):
        if len(term) != len(shape):
            raise ValueError(f"subscripts '{term}' for an operand of rank {len(shape)}")
        for c, d in zip(term, shape, strict=True):
            known = sizes.get(c, DYN)
            if d == DYN:
                sizes.setdefault(c, DYN)
            elif known not in (DYN, d):
                raise ValueError(f"letter '{c}' has sizes {known} and {d}")
            else:
                sizes[c] = d
    return sizes


@irdl_op_definition
class EinsumOp(GraphOp):
    """Einstein summation; `equation` is normalized: explicit output, no ellipsis, no
    spaces ("bij,bjk->bik"). Letters missing from the output are summed over."""

    name = "graph.einsum"
    inputs = var_operand_def(TensorType)
    equation = prop_def(StringAttr)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$inputs attr-dict `:` functional-type(operands, results)"

    def __init__(self, inputs: Sequence[SSAValue], equation: str):
        terms, out = parse_einsum(equation)
        sizes = einsum_sizes(terms, [shape_of(v) for v in inputs])
        super().__init__(operands=[list(inputs)],
                         properties={"equation": StringAttr(equation)},
                         result_types=[tensor_type([sizes[c] for c in out],
                                                   element_type_of(inputs[0]))])

    def verify_(self) -> None:
        try:
            terms, out = parse_einsum(self.equation.data)
            sizes = einsum_sizes(terms, [shape_of(v) for v in self.inputs])
        except ValueError as e:
            raise VerifyException(f"graph.einsum: {e}") from e
        check(shapes_compatible([sizes[c] for c in out], self.result_shape()),
              f"graph.einsum: result shape {list(self.result_shape())} does not match "
              f"'{self.equation.data}'")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        terms, out = parse_einsum(self.equation.data)
        sizes = einsum_sizes(terms, shapes)
        return tuple(sizes[c] for c in out)

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        return np.einsum(self.equation.data, *args)


def _with_bias(result: Shape, bias: Shape | None) -> Shape:
    if bias is not None and broadcast_shapes(result, bias) != result:
        raise ValueError(f"bias of shape {list(bias)} does not broadcast to {list(result)}")
    return result
