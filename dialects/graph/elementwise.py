"""Elementwise ops: add/sub/mul/div, the unary ops, `graph.elementwise` (one op for the
rows of elementwise_table.py), GELU and the fused elementwise chains of the optimizer."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import ClassVar

import numpy as np
from xdsl.dialects.arith import CMPF_COMPARISON_OPERATIONS
from xdsl.dialects.builtin import DenseArrayBase, StringAttr, TensorType, f64
from xdsl.ir import Attribute, Region, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    lazy_traits_def,
    opt_prop_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.traits import Commutative, HasParent, IsolatedFromAbove, IsTerminator, Pure
from xdsl.utils.exceptions import VerifyException

from dialects.graph.base import (
    ACT_EVALUATORS,
    ElementwiseBinaryOp,
    ElementwiseUnaryOp,
    GraphOp,
    Shape,
    broadcast_shapes,
    check,
    element_type_of,
    erf_array,
    is_float_type,
    numpy_dtype_of,
    shape_of,
    shapes_compatible,
    tensor_type,
)
from dialects.graph.elementwise_table import BY_KIND

NumpyFn = Callable[..., np.ndarray]

# --------------------------------------------------------------------------- elementwise


def onnx_divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ONNX Div: true division for floats, division truncating toward zero for integers."""
    if a.dtype.kind in "iu":
        safe = np.where(b == 0, 1, b).astype(b.dtype)
        q = a // safe
        return np.where((a % safe != 0) & ((a < 0) != (safe < 0)), q + 1, q).astype(a.dtype)
    return np.divide(a, b)


@irdl_op_definition
class AddOp(ElementwiseBinaryOp):
    """Elementwise addition with broadcasting."""

    name = "graph.add"
    NUMPY: ClassVar[NumpyFn] = np.add
    traits = traits_def(Pure(), Commutative())


@irdl_op_definition
class SubOp(ElementwiseBinaryOp):
    """Elementwise subtraction with broadcasting."""

    name = "graph.sub"
    NUMPY: ClassVar[NumpyFn] = np.subtract


@irdl_op_definition
class MulOp(ElementwiseBinaryOp):
    """Elementwise multiplication with broadcasting."""

    name = "graph.mul"
    NUMPY: ClassVar[NumpyFn] = np.multiply
    traits = traits_def(Pure(), Commutative())


@irdl_op_definition
class DivOp(ElementwiseBinaryOp):
    """Elementwise division with broadcasting."""

    name = "graph.div"
    NUMPY: ClassVar[NumpyFn] = staticmethod(onnx_divide)


@irdl_op_definition
class ReluOp(ElementwiseUnaryOp):
    """max(x, 0)."""

    name = "graph.relu"
    NUMPY: ClassVar[NumpyFn] = ACT_EVALUATORS["relu"]


@irdl_op_definition
class SigmoidOp(ElementwiseUnaryOp):
    """1 / (1 + exp(-x))."""

    name = "graph.sigmoid"
    NUMPY: ClassVar[NumpyFn] = ACT_EVALUATORS["sigmoid"]


@irdl_op_definition
class TanhOp(ElementwiseUnaryOp):
    """Hyperbolic tangent."""

    name = "graph.tanh"
    NUMPY: ClassVar[NumpyFn] = np.tanh


@irdl_op_definition
class ExpOp(ElementwiseUnaryOp):
    """e^x."""

    name = "graph.exp"
    NUMPY: ClassVar[NumpyFn] = np.exp


@irdl_op_definition
class NegOp(ElementwiseUnaryOp):
    """-x."""

    name = "graph.neg"
    NUMPY: ClassVar[NumpyFn] = np.negative


@irdl_op_definition
class SqrtOp(ElementwiseUnaryOp):
    """Square root."""

    name = "graph.sqrt"
    NUMPY: ClassVar[NumpyFn] = np.sqrt


# ------------------------------------------------------------------ table-driven elementwise


@irdl_op_definition
class ElementwiseOp(GraphOp):
    """An elementwise op named by `kind`, a row of elementwise_table.py's rule table.

    Operands broadcast together (numpy rules); `params` holds the kind's scalar attributes
    (e.g. LeakyRelu's alpha) in the rule's order. The result element type follows the rule:
    the operands' type, i1 for comparisons, or any type for `cast`.
    """

    name = "graph.elementwise"
    inputs = var_operand_def(TensorType)
    kind = prop_def(StringAttr)
    params = opt_prop_def(DenseArrayBase)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$inputs attr-dict `:` functional-type(operands, results)"

    def __init__(self, kind: str, inputs: Sequence[SSAValue], params: Sequence[float] = (),
                 result_element_type: Attribute | None = None):
        rule = BY_KIND.get(kind)
        if rule is None:
            raise ValueError(f"unknown elementwise kind '{kind}'")
        types = [element_type_of(v) for v in inputs]
        problem = rule.check_types(types)
        if problem:
            raise ValueError(f"{kind}: {problem}")
        shape = broadcast_shapes(*[shape_of(v) for v in inputs])
        props: dict[str, Attribute] = {"kind": StringAttr(kind)}
        if params:
            props["params"] = DenseArrayBase.from_list(f64, [float(p) for p in params])
        super().__init__(operands=[list(inputs)], properties=props, result_types=[
            tensor_type(shape, rule.result_type(types, result_element_type))])

    def param_values(self) -> tuple[float, ...]:
        return () if self.params is None else tuple(float(v) for v in self.params.get_values())

    def verify_(self) -> None:
        kind = self.kind.data
        rule = BY_KIND.get(kind)
        check(rule is not None, f"graph.elementwise: unknown kind '{kind}'")
        assert rule is not None
        types = [element_type_of(v) for v in self.inputs]
        problem = rule.check_types(types)
        check(problem is None, f"graph.elementwise '{kind}': {problem}")
        check(len(self.param_values()) == len(rule.params)
              or (rule.params_optional and not self.param_values()),
              f"graph.elementwise '{kind}': expects {len(rule.params)} params "
              f"({', '.join(n for n, _ in rule.params)}), got {len(self.param_values())}")
        if types and is_float_type(types[0]):
            limit = float(np.finfo(numpy_dtype_of(types[0])).max)
            check(all(not abs(p) > limit or math.isinf(p) for p in self.param_values()),
                  f"graph.elementwise '{kind}': params {list(self.param_values())} do not "
                  f"fit {types[0]}")
        if rule.result != "cast":
            expected_elt = rule.result_type(types, None)
            check(element_type_of(self.result) == expected_elt,
                  f"graph.elementwise '{kind}': result element type must be {expected_elt}")
        try:
            expected = broadcast_shapes(*[shape_of(v) for v in self.inputs])
        except ValueError as e:
            raise VerifyException(f"graph.elementwise '{kind}': operands do not broadcast: "
                                  f"{e}") from e
        check(shapes_compatible(expected, self.result_shape()),
              f"graph.elementwise '{kind}': result shape {list(self.result_shape())} does "
              f"not match broadcast shape {list(expected)}")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        """Numpy broadcasting of any number of operands."""
        return broadcast_shapes(*shapes)

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        dtype = numpy_dtype_of(element_type_of(self.result))
        return BY_KIND[self.kind.data].evaluate(args, self.param_values(), dtype)


# --------------------------------------------------------------------------- optimizer ops
# Ops created by the graph optimizer (passes/fuse.py, passes/layout.py) or imported from
# ONNX ops that already are one of these forms (LayerNormalization, Gelu).


@irdl_op_definition
class GeluOp(ElementwiseUnaryOp):
    """x * Phi(x): `approximate = "tanh"` uses 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3)))."""

    name = "graph.gelu"
    approximate = opt_prop_def(StringAttr)

    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, input: SSAValue, approximate: str | None = None):
        super().__init__(input)
        if approximate not in (None, "none"):
            self.properties["approximate"] = StringAttr(approximate)

    def verify_(self) -> None:
        super().verify_()
        if self.approximate is not None:
            check(self.approximate.data in ("none", "tanh"),
                  "graph.gelu: approximate must be \"none\" or \"tanh\"")

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        return ACT_EVALUATORS[unary_kind(self)](args[0])


def unary_kind(op: ElementwiseUnaryOp) -> str:
    """The scalar function of a unary op ("gelu_tanh" for the approximate GELU)."""
    if isinstance(op, GeluOp) and op.approximate is not None \
            and op.approximate.data == "tanh":
        return "gelu_tanh"
    return op.name.removeprefix("graph.")


@irdl_op_definition
class FusedYieldOp(IRDLOperation):
    """Terminator of a graph.fused body: the scalar result."""

    name = "graph.fused_yield"
    values = var_operand_def()

    traits = lazy_traits_def(lambda: (IsTerminator(), Pure(), HasParent(FusedElementwiseOp)))
    assembly_format = "$values attr-dict `:` type($values)"

    def __init__(self, *values: SSAValue):
        super().__init__(operands=[list(values)])


@irdl_op_definition
class FusedElementwiseOp(GraphOp):
    """A chain of elementwise ops as one op: the body computes one output element from one
    element of each input (numpy broadcasting), with arith/math ops on scalars.

        %y = graph.fused(%a, %b) : (tensor<4xf32>, tensor<1xf32>) -> tensor<4xf32> {
        ^bb0(%x: f32, %s: f32):
          %m = arith.mulf %x, %s : f32
          graph.fused_yield %m : f32
        }
    """

    name = "graph.fused"
    inputs = var_operand_def(TensorType)
    result = result_def(TensorType)
    body = region_def("single_block")

    traits = traits_def(Pure(), IsolatedFromAbove())
    assembly_format = "`(` $inputs `)` attr-dict `:` functional-type($inputs, $result) $body"

    def __init__(self, inputs: Sequence[SSAValue], body: Region,
                 result_type: Attribute | None = None):
        if result_type is None:
            result_type = tensor_type(broadcast_shapes(*(shape_of(v) for v in inputs)),
                                      element_type_of(inputs[0]))
        super().__init__(operands=[list(inputs)], regions=[body],
                         result_types=[result_type])

    def verify_(self) -> None:
        block = self.body.block
        check(len(block.args) == len(self.inputs),
              "graph.fused: the body needs one scalar argument per input")
        for arg, v in zip(block.args, self.inputs, strict=True):
            check(arg.type == element_type_of(v),
                  "graph.fused: body argument types must be the inputs' element types")
        try:
            expected = broadcast_shapes(*(shape_of(v) for v in self.inputs))
        except ValueError as e:
            raise VerifyException(f"graph.fused: inputs do not broadcast: {e}") from e
        check(shapes_compatible(expected, self.result_shape()),
              f"graph.fused: result shape {list(self.result_shape())} should be "
              f"{list(expected)}")
        last = block.last_op
        check(isinstance(last, FusedYieldOp) and len(last.operands) == 1
              and last.operands[0].type == element_type_of(self.result),
              "graph.fused: the body must yield one scalar of the result element type")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        return broadcast_shapes(*shapes)

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        """Interpret the scalar body on whole arrays (numpy broadcasting does the rest)."""
        block = self.body.block
        env: dict[SSAValue, np.ndarray] = dict(zip(block.args, args, strict=True))
        for inner in block.ops:
            if isinstance(inner, FusedYieldOp):
                return np.broadcast_to(env[inner.operands[0]], self.result_shape())
            operands = [env[v] for v in inner.operands]
            if inner.name == "arith.constant":
                value = np.float32(inner.properties["value"].value.data)
            elif inner.name == "arith.cmpf":
                predicate = inner.properties["predicate"].value.data
                value = _CMPF[CMPF_COMPARISON_OPERATIONS[predicate]](*operands)
            elif inner.name in _SCALAR_FNS:
                value = _SCALAR_FNS[inner.name](*operands)
            else:
                raise NotImplementedError(f"{inner.name} in a graph.fused body")
            env[inner.results[0]] = np.asarray(value)
        raise NotImplementedError("graph.fused body without graph.fused_yield")


_SCALAR_FNS: dict[str, Callable[..., np.ndarray]] = {
    "arith.addf": np.add, "arith.subf": np.subtract, "arith.mulf": np.multiply,
    "arith.divf": np.divide, "arith.maximumf": np.maximum, "arith.minimumf": np.minimum,
    "arith.negf": np.negative, "arith.select": np.where, "math.exp": np.exp,
    "math.tanh": np.tanh, "math.sqrt": np.sqrt, "math.erf": erf_array,
    "math.powf": np.power, "math.log": np.log, "math.absf": np.abs,
    "math.rsqrt": lambda x: 1.0 / np.sqrt(x)}
"""numpy forms of the scalar ops a graph.fused body may hold (for its evaluator)."""
_CMPF = {"ogt": np.greater, "oge": np.greater_equal, "olt": np.less, "ole": np.less_equal,
         "oeq": np.equal, "one": np.not_equal}


ELEMENTWISE_BINARY_OPS: tuple[type[ElementwiseBinaryOp], ...] = (AddOp, SubOp, MulOp, DivOp)
ELEMENTWISE_UNARY_OPS: tuple[type[ElementwiseUnaryOp], ...] = (
    ReluOp, SigmoidOp, TanhOp, ExpOp, NegOp, SqrtOp)
ELEMENTWISE_UNARY_OPS += (GeluOp,)  # optimizer
