"""The `graph` dialect: Kiln's framework-neutral, tensor-level operator set.

Every framework importer maps its operators onto these ops; the optimizer and the
lowering never see framework-specific ops. Conventions:

* Every value is a ranked `tensor<...>`; a dynamic (symbolic) dim prints as `?`.
  The *names* of symbolic dims live on the function arguments as the
  `graph.dims` attribute (e.g. `["batch", "", ""]`, "" for a static dim), so that the
  runtime can check that dims which share a name agree at call time.
* Attributes are normalized at import: pads are always explicit
  `[begin_0, .., begin_n, end_0, .., end_n]`, axes are non-negative, shapes are
  resolved as far as possible.
* Weights are runtime buffers: `graph.weight "name"` refers to an entry of the module's
  weight store by name, so weights are never printed, parsed or baked into LLVM IR.
  Small constants are inline `graph.constant dense<...>`.
* Fused forms are the same ops with optional operands/properties
  (e.g. `graph.conv` with `bias`, `residual` and `act = "relu"`), so a fusion pass only
  sets fields and the lowering emits one loop nest for the whole group.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    AnyFloat,
    ArrayAttr,
    BytesAttr,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    DictionaryAttr,
    Float16Type,
    Float32Type,
    Float64Type,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    Signedness,
    StringAttr,
    TensorType,
    VectorType,
    f16,
    f32,
    f64,
    i1,
    i64,
)
from xdsl.ir import Attribute, Data, Dialect, Operation, ParametrizedAttribute, Region, SSAValue
from xdsl.irdl import (
    AnyAttr,
    AttrSizedOperandSegments,
    IRDLOperation,
    ParamAttrConstraint,
    ParsePropInAttrDict,
    VarConstraint,
    irdl_op_definition,
    lazy_traits_def,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.parser import Parser, UnresolvedOperand
from xdsl.printer import Printer
from xdsl.traits import (
    Commutative,
    ConstantLike,
    HasParent,
    IsolatedFromAbove,
    IsTerminator,
    NoMemoryEffect,
    Pure,
    RecursiveMemoryEffect,
)
from xdsl.utils.exceptions import VerifyException

DYN = DYNAMIC_INDEX
"""The value of a dynamic dim in a shape tuple (`?` in the text form)."""

ACTIVATIONS = ("relu", "sigmoid", "tanh")
"""Activations that conv/gemm/matmul can carry fused (`act = "relu"`)."""
# optimizer (fuse): activations with parameters in `act_params` (clip: [min, max],
# leaky_relu: [alpha]) and GELU (erf form; gelu_tanh: the tanh approximation)
ACTIVATIONS += ("clip", "leaky_relu", "gelu", "gelu_tanh")
ACT_PARAM_COUNTS: dict[str, int] = {"clip": 2, "leaky_relu": 1}


# --------------------------------------------------------------------------- helpers


def tensor_type(shape: Sequence[int], element_type: Attribute = f32) -> TensorType:
    """A ranked tensor type; -1 (DYN) marks a dynamic dim."""
    return TensorType(element_type, list(shape))


def shape_of(value: SSAValue | Attribute) -> tuple[int, ...]:
    """Shape of a tensor value or type (DYN for dynamic dims)."""
    t = value.type if isinstance(value, SSAValue) else value
    assert isinstance(t, TensorType), f"expected a tensor, got {t}"
    return tuple(t.get_shape())


def element_type_of(value: SSAValue | Attribute) -> Attribute:
    t = value.type if isinstance(value, SSAValue) else value
    assert isinstance(t, TensorType), f"expected a tensor, got {t}"
    return t.element_type


def i64_array(values: Sequence[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i64, list(values))


def ints(attr: DenseArrayBase | None, default: Sequence[int] = ()) -> tuple[int, ...]:
    """Values of an optional i64 array property."""
    return tuple(default) if attr is None else tuple(int(v) for v in attr.get_values())


def broadcast_dim(a: int, b: int) -> int:
    """Numpy broadcasting of two dims; raises ValueError when they cannot match."""
    if a == b:
        return a
    if a == 1:
        return b
    if b == 1:
        return a
    if a == DYN:
        return b
    if b == DYN:
        return a
    raise ValueError(f"dims {a} and {b} do not broadcast")


def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    rank = max(len(s) for s in shapes)
    result = [1] * rank
    for shape in shapes:
        padded = [1] * (rank - len(shape)) + list(shape)
        result = [broadcast_dim(r, d) for r, d in zip(result, padded, strict=True)]
    return tuple(result)


def conv_out_dim(size: int, kernel: int, stride: int, pad_total: int, dilation: int,
                 ceil_mode: bool = False) -> int:
    """Output extent of a conv/pool window along one spatial dim."""
    if size == DYN:
        return DYN
    span = size + pad_total - dilation * (kernel - 1) - 1
    if ceil_mode:
        out = -(-span // stride) + 1
        # ONNX: the last window must start inside the input or the begin padding
        if (out - 1) * stride >= size + pad_total // 2:
            out -= 1
        return out
    return span // stride + 1


def to_channels_last(shape: Sequence[int]) -> tuple[int, ...]:
    """[N, C, *spatial] -> [N, *spatial, C] (optimizer: layout)."""
    return (shape[0], *shape[2:], shape[1])


def to_channels_first(shape: Sequence[int]) -> tuple[int, ...]:
    """[N, *spatial, C] -> [N, C, *spatial] (optimizer: layout)."""
    return (shape[0], shape[-1], *shape[1:-1])


# --------------------------------------------------------------------------- limits
# Sizes beyond these overflow the i64 byte counts and index arithmetic of the lowering
# (and no host could hold such a tensor), so they are rejected up front, with the type.

MAX_ELEMENTS = 1 << 48
"""The most elements a tensor, memref or vector type may have (also the largest dim)."""

MAX_RANK = 64
"""The highest rank a shaped type may have."""


def shaped_type_problem(t: Attribute) -> str | None:
    """Why a tensor/memref/vector type exceeds Kiln's limits, or None when it does not."""
    if not isinstance(t, TensorType | MemRefType | VectorType):
        return None
    shape = tuple(t.get_shape())
    if len(shape) > MAX_RANK:
        return f"{t} has rank {len(shape)}; Kiln supports at most rank {MAX_RANK}"
    count = 1
    for d in shape:
        if d < 0 and d != DYN:
            return f"{t} has a negative dim {d}"
        if d > MAX_ELEMENTS:
            return f"{t} has a dim of {d}; Kiln supports at most 2^48 per dim"
        if d != DYN:
            count *= d
    if count > MAX_ELEMENTS:
        return f"{t} has {count} elements; Kiln supports at most 2^48 elements per tensor"
    if not isinstance(t.element_type, IntegerType | IndexType | AnyFloat):
        return (f"{t} has element type {t.element_type}; Kiln supports integer, index and "
                "floating-point elements")
    return None


def _attribute_problem(attr: Attribute, seen: set[int]) -> str | None:
    if id(attr) in seen or isinstance(attr, Data) and not isinstance(
            attr, ArrayAttr | DictionaryAttr):
        return None
    seen.add(id(attr))
    if (problem := shaped_type_problem(attr)) is not None:
        return problem
    if isinstance(attr, ArrayAttr):
        children: Sequence[Attribute] = attr.data
    elif isinstance(attr, DictionaryAttr):
        children = list(attr.data.values())
    elif isinstance(attr, ParametrizedAttribute):
        children = [p for p in attr.parameters if isinstance(p, Attribute)]
    else:
        children = ()
    for child in children:
        if (problem := _attribute_problem(child, seen)) is not None:
            return problem
    return None


def limit_violation(root: Operation) -> tuple[Operation, str] | None:
    """The first op under `root` (itself included) whose result, block argument or
    attribute types exceed Kiln's limits, with the reason; None when all are in range."""
    seen: set[int] = set()
    for op in root.walk():
        types = [*op.result_types]
        types += [a.type for r in op.regions for b in r.blocks for a in b.args]
        for t in types:
            if (problem := _attribute_problem(t, seen)) is not None:
                return op, problem
        for attr in (*op.properties.values(), *op.attributes.values()):
            if (problem := _attribute_problem(attr, seen)) is not None:
                return op, problem
    return None


def _check(condition: bool, message: str) -> None:
    if not condition:
        # shapes formatted with list(...) show a dynamic dim as DYN's int value: the IR
        # (and every message) writes it `?`
        raise VerifyException(message.replace(str(DYN), "?"))


def _check_axis(op: Operation, axis: int, rank: int, what: str = "axis") -> None:
    _check(0 <= axis < rank, f"{op.name}: {what} {axis} out of range for rank {rank}")


def _check_flag(op: Operation, attr: IntegerAttr, what: str) -> None:
    _check(attr.value.data in (0, 1), f"{op.name}: {what} must be 0 or 1, got "
                                      f"{attr.value.data}")


def _check_at_least(op: Operation, values: Sequence[int], minimum: int, what: str) -> None:
    _check(all(v >= minimum for v in values),
           f"{op.name}: {what} must be >= {minimum}, got {list(values)}")


def _check_result(op: Operation, expected: Sequence[int], actual: Sequence[int],
                  what: str = "result") -> None:
    _check(_shapes_compatible(expected, actual),
           f"{op.name}: {what} shape {_dims(actual)} should be {_dims(expected)}")


def _check_one_element(op: Operation, value: SSAValue, what: str) -> None:
    _check(all(d in (1, DYN) for d in shape_of(value)),
           f"{op.name}: {what} must have one element (rank 0 or [1]), got {value.type}")


def _dims(shape: Sequence[int]) -> str:
    """A shape as the IR writes it: [2, ?, 4]."""
    return "[" + ", ".join("?" if d == DYN else str(d) for d in shape) + "]"


# --------------------------------------------------------------------------- element types
# Graph tensors carry the framework's element type: f16/f32/f64, signless iN for signed
# integers, uiN for unsigned ones and i1 for bool (docs/ADDING_OPS.md). The lowering works
# on signless types and picks the unsigned arith ops from the graph type.

ui8 = IntegerType(8, Signedness.UNSIGNED)
ui16 = IntegerType(16, Signedness.UNSIGNED)
ui32 = IntegerType(32, Signedness.UNSIGNED)
ui64 = IntegerType(64, Signedness.UNSIGNED)

ELEMENT_TYPES: dict[str, Attribute] = {
    "float16": f16, "float32": f32, "float64": f64,
    "int8": IntegerType(8), "int16": IntegerType(16), "int32": IntegerType(32),
    "int64": i64,
    "uint8": ui8, "uint16": ui16, "uint32": ui32, "uint64": ui64,
    "bool": i1,
}
"""numpy dtype name -> graph element type, for every element type Kiln supports."""

_DTYPE_OF_TYPE: dict[str, str] = {str(t): n for n, t in ELEMENT_TYPES.items()}


def element_type_for(dtype: np.dtype | str | type) -> Attribute:
    """The graph element type of a numpy dtype; ValueError for unsupported dtypes."""
    name = np.dtype(dtype).name
    if name not in ELEMENT_TYPES:
        raise ValueError(f"element type {name} is not supported (supported: "
                         f"{', '.join(ELEMENT_TYPES)})")
    return ELEMENT_TYPES[name]


def numpy_dtype_of(element_type: Attribute) -> np.dtype:
    """The numpy dtype of a graph element type; ValueError for unsupported types."""
    key = str(element_type)
    if key not in _DTYPE_OF_TYPE:
        raise ValueError(f"element type {key} is not supported")
    return np.dtype(_DTYPE_OF_TYPE[key])


def is_float_type(t: Attribute) -> bool:
    return isinstance(t, Float16Type | Float32Type | Float64Type)


def is_unsigned(t: Attribute) -> bool:
    """True for uiN graph types (and bool, which is unsigned in comparisons/casts)."""
    return isinstance(t, IntegerType) and (
        t.signedness.data == Signedness.UNSIGNED or t.width.data == 1)


def type_class(t: Attribute) -> str:
    """"float", "int" (signed), "uint" or "bool": how an op treats the element type."""
    if is_float_type(t):
        return "float"
    if isinstance(t, IntegerType):
        if t.width.data == 1:
            return "bool"
        return "uint" if t.signedness.data == Signedness.UNSIGNED else "int"
    raise ValueError(f"element type {t} is not supported")


def signless(t: Attribute) -> Attribute:
    """uiN -> iN (signless); other types unchanged. Tensor/memref types are mapped inside."""
    if isinstance(t, IntegerType) and t.signedness.data != Signedness.SIGNLESS:
        return IntegerType(t.width.data)
    if isinstance(t, TensorType) and t.element_type != signless(t.element_type):
        return TensorType(signless(t.element_type), t.get_shape())
    return t


def dense_from_array(array: np.ndarray) -> DenseIntOrFPElementsAttr:
    """A numpy array of a supported dtype as a `dense<...>` attribute of its graph type."""
    elt = element_type_for(array.dtype)
    data = np.asarray(array, order="C")  # not ascontiguousarray: it makes rank 0 rank 1
    data = data.astype(data.dtype.newbyteorder("<"), copy=False)
    return DenseIntOrFPElementsAttr(tensor_type(data.shape, elt), BytesAttr(data.tobytes()))


def array_from_dense(attr: DenseIntOrFPElementsAttr) -> np.ndarray:
    """The numpy value of a `dense<...>` attribute (any supported element type)."""
    t = attr.get_type()
    assert isinstance(t, TensorType)
    dtype = numpy_dtype_of(t.element_type).newbyteorder("<")
    shape = t.get_shape()
    flat = np.frombuffer(attr.data.data, dtype=dtype)
    count = int(np.prod(shape, dtype=np.int64))
    if flat.size == 1 and count != 1:  # splat
        return np.full(shape, flat[0], dtype=dtype.newbyteorder("="))
    return flat.reshape(shape).astype(dtype.newbyteorder("="))


# --------------------------------------------------------------------------- base classes


class GraphOp(IRDLOperation):
    """Common base of graph ops: single tensor result, no side effects."""

    def result_shape(self) -> tuple[int, ...]:
        return shape_of(self.results[0])


class ElementwiseBinaryOp(GraphOp):
    """Binary elementwise op with numpy (multidirectional) broadcasting."""

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    assembly_format = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)"

    def __init__(self, lhs: SSAValue, rhs: SSAValue, result_type: Attribute | None = None):
        if result_type is None:
            result_type = tensor_type(
                broadcast_shapes(shape_of(lhs), shape_of(rhs)), element_type_of(lhs)
            )
        super().__init__(operands=[lhs, rhs], result_types=[result_type])

    def verify_(self) -> None:
        _check(
            element_type_of(self.lhs) == element_type_of(self.rhs) == element_type_of(self.result),
            f"{self.name}: operand and result element types must match",
        )
        try:
            expected = broadcast_shapes(shape_of(self.lhs), shape_of(self.rhs))
        except ValueError as e:
            raise VerifyException(f"{self.name}: operands do not broadcast: {e}") from e
        _check(
            _shapes_compatible(expected, self.result_shape()),
            f"{self.name}: result shape {list(self.result_shape())} does not match "
            f"broadcast shape {list(expected)}",
        )


class ElementwiseUnaryOp(GraphOp):
    """Unary elementwise op; result has the operand's type."""

    input = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue):
        super().__init__(operands=[input], result_types=[input.type])

    def verify_(self) -> None:
        _check(self.input.type == self.result.type,
               f"{self.name}: result type must equal operand type")


def _shapes_compatible(expected: Sequence[int], actual: Sequence[int]) -> bool:
    if len(expected) != len(actual):
        return False
    return all(e == a or e == DYN or a == DYN for e, a in zip(expected, actual, strict=True))


# --------------------------------------------------------------------------- values


@irdl_op_definition
class ConstantOp(GraphOp):
    """A small constant tensor written inline in the IR."""

    name = "graph.constant"
    _T: ClassVar = VarConstraint("T", AnyAttr())
    value = prop_def(ParamAttrConstraint(DenseIntOrFPElementsAttr, (_T, AnyAttr())))
    result = result_def(_T)

    traits = traits_def(Pure(), ConstantLike())
    assembly_format = "attr-dict $value"

    def __init__(self, value: DenseIntOrFPElementsAttr):
        super().__init__(properties={"value": value}, result_types=[value.get_type()])

    def verify_(self) -> None:
        _check(self.value.get_type() == self.result.type,
               "graph.constant: value type must equal result type")


@irdl_op_definition
class WeightOp(GraphOp):
    """A reference, by name, to a weight held in the module's weight store.

    The data is a runtime buffer handed to native code as a pointer: it is never printed.
    """

    name = "graph.weight"
    weight_name = prop_def(StringAttr, prop_name="name")
    result = result_def(TensorType)

    traits = traits_def(NoMemoryEffect())
    assembly_format = "$name attr-dict `:` type($result)"

    def __init__(self, name: str, result_type: TensorType):
        super().__init__(properties={"name": StringAttr(name)}, result_types=[result_type])

    def verify_(self) -> None:
        _check(all(d != DYN for d in self.result_shape()),
               "graph.weight: a weight must have a static shape")


# --------------------------------------------------------------------------- elementwise


@irdl_op_definition
class AddOp(ElementwiseBinaryOp):
    """Elementwise addition with broadcasting."""

    name = "graph.add"
    traits = traits_def(Pure(), Commutative())


@irdl_op_definition
class SubOp(ElementwiseBinaryOp):
    """Elementwise subtraction with broadcasting."""

    name = "graph.sub"


@irdl_op_definition
class MulOp(ElementwiseBinaryOp):
    """Elementwise multiplication with broadcasting."""

    name = "graph.mul"
    traits = traits_def(Pure(), Commutative())


@irdl_op_definition
class DivOp(ElementwiseBinaryOp):
    """Elementwise division with broadcasting."""

    name = "graph.div"


@irdl_op_definition
class ReluOp(ElementwiseUnaryOp):
    """max(x, 0)."""

    name = "graph.relu"


@irdl_op_definition
class SigmoidOp(ElementwiseUnaryOp):
    """1 / (1 + exp(-x))."""

    name = "graph.sigmoid"


@irdl_op_definition
class TanhOp(ElementwiseUnaryOp):
    """Hyperbolic tangent."""

    name = "graph.tanh"


@irdl_op_definition
class ExpOp(ElementwiseUnaryOp):
    """e^x."""

    name = "graph.exp"


@irdl_op_definition
class NegOp(ElementwiseUnaryOp):
    """-x."""

    name = "graph.neg"


@irdl_op_definition
class SqrtOp(ElementwiseUnaryOp):
    """Square root."""

    name = "graph.sqrt"


# --------------------------------------------------------------------------- linear algebra


def _opt_act(act: str | None) -> dict[str, Attribute]:
    if act is None:
        return {}
    if act not in ACTIVATIONS:
        raise ValueError(f"unknown fused activation '{act}'")
    return {"act": StringAttr(act)}


FLOAT_ACTIVATIONS = ("sigmoid", "tanh", "leaky_relu", "gelu", "gelu_tanh")
"""Fused activations defined on floating-point results only."""


def _verify_act(op: IRDLOperation, act: StringAttr | None) -> None:
    if act is not None:
        _check(act.data in ACTIVATIONS,
               f"{op.name}: act must be one of {', '.join(ACTIVATIONS)}, got '{act.data}'")
        if act.data in FLOAT_ACTIVATIONS and op.results:
            _check(is_float_type(element_type_of(op.results[0])),
                   f"{op.name}: act '{act.data}' needs a floating-point result")
    params = op.properties.get("act_params")
    want = ACT_PARAM_COUNTS.get(act.data, 0) if act is not None else 0
    have = 0 if params is None else len(params.get_values())
    _check(have == want, f"{op.name}: act_params must have {want} values for act "
                         f"'{act.data if act is not None else ''}', got {have}")


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
                         properties=_opt_act(act), result_types=[result_type])

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
        _verify_act(self, self.act)
        try:
            expected = self.infer_shape(shape_of(self.lhs), shape_of(self.rhs))
        except ValueError as e:
            raise VerifyException(f"graph.matmul: {e}") from e
        _check(_shapes_compatible(expected, self.result_shape()),
               f"graph.matmul: result shape {list(self.result_shape())} should be "
               f"{list(expected)}")


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
            "trans_b": IntegerAttr(int(trans_b), i64), **_opt_act(act)}
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
        _verify_act(self, self.act)
        _check_flag(self, self.trans_a, "trans_a")
        _check_flag(self, self.trans_b, "trans_b")
        try:
            expected = self.infer_shape(shape_of(self.a), shape_of(self.b),
                                        bool(self.trans_a.value.data),
                                        bool(self.trans_b.value.data))
            if self.c is not None:
                broadcast_shapes(expected, shape_of(self.c))
        except ValueError as e:
            raise VerifyException(f"graph.gemm: {e}") from e
        _check(_shapes_compatible(expected, self.result_shape()),
               f"graph.gemm: result shape {list(self.result_shape())} should be "
               f"{list(expected)}")


# --------------------------------------------------------------------------- convolution


@irdl_op_definition
class ConvOp(GraphOp):
    """N-d convolution (NCHW, weights OIHW), the fused form included.

    y = act(conv(input, weight) + bias + residual); `pads` are
    [begin..., end...] per spatial dim; `group` splits channels.
    """

    name = "graph.conv"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    residual = opt_operand_def(TensorType)
    strides = prop_def(DenseArrayBase)
    pads = prop_def(DenseArrayBase)
    dilations = prop_def(DenseArrayBase)
    group = prop_def(IntegerAttr, default_value=IntegerAttr(1, i64))
    act = opt_prop_def(StringAttr)
    act_params = opt_prop_def(DenseArrayBase)  # optimizer: clip bounds, leaky_relu alpha
    layout = opt_prop_def(StringAttr)  # optimizer: "nhwc" = channels-last input/result
    kind = opt_prop_def(StringAttr)  # optimizer: "depthwise" (one input channel per group)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (AttrSizedOperandSegments(as_property=True), ParsePropInAttrDict())
    assembly_format = (
        "$input `,` $weight (`bias` `(` $bias^ `:` type($bias) `)`)? "
        "(`residual` `(` $residual^ `:` type($residual) `)`)? attr-dict "
        "`:` type($input) `,` type($weight) `->` type($result)"
    )

    def __init__(self, input: SSAValue, weight: SSAValue, bias: SSAValue | None = None,
                 residual: SSAValue | None = None, *, strides: Sequence[int],
                 pads: Sequence[int], dilations: Sequence[int], group: int = 1,
                 act: str | None = None, layout: str | None = None):
        x = shape_of(input)
        if layout == "nhwc":
            x = to_channels_first(x)
        shape = self.infer_shape(x, shape_of(weight), strides, pads, dilations)
        if layout == "nhwc":
            shape = to_channels_last(shape)
        super().__init__(
            operands=[input, weight, [bias] if bias else [], [residual] if residual else []],
            properties={"strides": i64_array(strides), "pads": i64_array(pads),
                        "dilations": i64_array(dilations),
                        "group": IntegerAttr(group, i64), **_opt_act(act),
                        **({"layout": StringAttr(layout)} if layout else {})},
            result_types=[tensor_type(shape, element_type_of(input))])

    @property
    def is_nhwc(self) -> bool:
        return self.layout is not None and self.layout.data == "nhwc"

    @staticmethod
    def infer_shape(x: Sequence[int], w: Sequence[int], strides: Sequence[int],
                    pads: Sequence[int], dilations: Sequence[int]) -> tuple[int, ...]:
        spatial = len(x) - 2
        if spatial < 1 or len(w) != len(x):
            raise ValueError(f"input rank {len(x)} and weight rank {len(w)} do not fit a conv")
        if not (len(strides) == len(dilations) == spatial and len(pads) == 2 * spatial):
            raise ValueError("strides/dilations need one value per spatial dim, pads two")
        out = [x[0], w[0]]
        for i in range(spatial):
            out.append(conv_out_dim(x[2 + i], w[2 + i], strides[i],
                                    pads[i] + pads[spatial + i], dilations[i]))
        return tuple(out)

    def verify_(self) -> None:
        _verify_act(self, self.act)
        x, w = shape_of(self.input), shape_of(self.weight)
        _check(len(x) >= 3 and len(w) == len(x),
               f"graph.conv: input rank {len(x)} and weight rank {len(w)} do not fit a conv")
        _check_at_least(self, ints(self.strides), 1, "strides")
        _check_at_least(self, ints(self.dilations), 1, "dilations")
        _check_at_least(self, ints(self.pads), 0, "pads")
        _check_at_least(self, [d for d in w[2:] if d != DYN], 1, "kernel dims")
        if self.layout is not None:
            _check(self.layout.data == "nhwc", "graph.conv: layout must be \"nhwc\"")
            x = to_channels_first(x)
        if self.kind is not None:
            _check(self.kind.data == "depthwise" and w[1] == 1,
                   "graph.conv: kind \"depthwise\" needs one input channel per group")
        try:
            expected = self.infer_shape(x, w, ints(self.strides), ints(self.pads),
                                        ints(self.dilations))
            if self.layout is not None:
                expected = to_channels_last(expected)
        except ValueError as e:
            raise VerifyException(f"graph.conv: {e}") from e
        _check_output_size(self, expected)
        group = self.group.value.data
        _check(group >= 1, "graph.conv: group must be >= 1")
        if x[1] != DYN:
            _check(x[1] == w[1] * group,
                   f"graph.conv: input has {x[1]} channels, weight expects "
                   f"{w[1]} x group {group}")
        _check(_shapes_compatible(expected, self.result_shape()),
               f"graph.conv: result shape {list(self.result_shape())} should be "
               f"{list(expected)}")
        if self.bias is not None:
            _check(shape_of(self.bias) == (w[0],),
                   f"graph.conv: bias must have shape [{w[0]}]")
        if self.residual is not None:
            _check(_shapes_compatible(self.result_shape(), shape_of(self.residual)),
                   "graph.conv: residual must have the result's shape")


def _check_output_size(op: Operation, shape: Sequence[int]) -> None:
    """Windows larger than the padded input leave no output element."""
    _check(all(d >= 0 or d == DYN for d in shape),
           f"{op.name}: the window does not fit the (padded) input: output size "
           f"{_dims(shape)}")


class PoolOp(GraphOp):
    """Common form of windowed pooling over the spatial dims of an NCHW tensor."""

    input = operand_def(TensorType)
    kernel_shape = prop_def(DenseArrayBase)
    strides = prop_def(DenseArrayBase)
    pads = prop_def(DenseArrayBase)
    dilations = prop_def(DenseArrayBase)
    ceil_mode = prop_def(IntegerAttr, default_value=IntegerAttr(0, i64))
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, *, kernel_shape: Sequence[int],
                 strides: Sequence[int], pads: Sequence[int], dilations: Sequence[int],
                 ceil_mode: bool = False, **extra: Attribute):
        shape = self.infer_shape(shape_of(input), kernel_shape, strides, pads, dilations,
                                 ceil_mode)
        super().__init__(
            operands=[input],
            properties={"kernel_shape": i64_array(kernel_shape), "strides": i64_array(strides),
                        "pads": i64_array(pads), "dilations": i64_array(dilations),
                        "ceil_mode": IntegerAttr(int(ceil_mode), i64), **extra},
            result_types=[tensor_type(shape, element_type_of(input))])

    @staticmethod
    def infer_shape(x: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                    pads: Sequence[int], dilations: Sequence[int],
                    ceil_mode: bool) -> tuple[int, ...]:
        spatial = len(x) - 2
        if spatial < 1:
            raise ValueError(f"pooling needs rank >= 3, got rank {len(x)}")
        if not (len(kernel) == len(strides) == len(dilations) == spatial
                and len(pads) == 2 * spatial):
            raise ValueError("kernel_shape/strides/dilations need one value per spatial "
                             "dim, pads two")
        out = [x[0], x[1]]
        for i in range(spatial):
            out.append(conv_out_dim(x[2 + i], kernel[i], strides[i],
                                    pads[i] + pads[spatial + i], dilations[i], ceil_mode))
        return tuple(out)

    def verify_(self) -> None:
        _check_at_least(self, ints(self.kernel_shape), 1, "kernel_shape")
        _check_at_least(self, ints(self.strides), 1, "strides")
        _check_at_least(self, ints(self.dilations), 1, "dilations")
        _check_at_least(self, ints(self.pads), 0, "pads")
        _check_flag(self, self.ceil_mode, "ceil_mode")
        for name in ("count_include_pad", "storage_order"):
            if isinstance(flag := self.properties.get(name), IntegerAttr):
                _check_flag(self, flag, name)
        if isinstance(p := self.properties.get("p"), IntegerAttr):
            _check(p.value.data >= 1, f"{self.name}: p must be >= 1, got {p.value.data}")
        try:
            expected = self.infer_shape(
                shape_of(self.input), ints(self.kernel_shape), ints(self.strides),
                ints(self.pads), ints(self.dilations), bool(self.ceil_mode.value.data))
        except ValueError as e:
            raise VerifyException(f"{self.name}: {e}") from e
        _check_output_size(self, expected)
        if isinstance(self, MaxPoolIndicesOp):
            _check(element_type_of(self.result) == i64, f"{self.name}: result must be i64")
        else:
            _check(element_type_of(self.result) == element_type_of(self.input),
                   f"{self.name}: result element type must equal the input's")
        _check(_shapes_compatible(expected, self.result_shape()),
               f"{self.name}: result shape {list(self.result_shape())} should be "
               f"{list(expected)}")


@irdl_op_definition
class MaxPoolOp(PoolOp):
    """Max over each window; padding never wins."""

    name = "graph.max_pool"


@irdl_op_definition
class AvgPoolOp(PoolOp):
    """Mean over each window; `count_include_pad` = 1 divides by the full window size."""

    name = "graph.avg_pool"
    count_include_pad = prop_def(IntegerAttr, default_value=IntegerAttr(0, i64))


@irdl_op_definition
class GlobalAvgPoolOp(GraphOp):
    """Mean over all spatial dims of an NCHW tensor, keeping them as size 1."""

    name = "graph.global_avg_pool"
    input = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue):
        x = shape_of(input)
        super().__init__(operands=[input], result_types=[
            tensor_type([x[0], x[1]] + [1] * (len(x) - 2), element_type_of(input))])

    def verify_(self) -> None:
        x = shape_of(self.input)
        _check(len(x) >= 3, "graph.global_avg_pool: input rank must be >= 3")
        _check(element_type_of(self.result) == element_type_of(self.input),
               "graph.global_avg_pool: result element type must equal the input's")
        _check(_shapes_compatible((x[0], x[1], *[1] * (len(x) - 2)), self.result_shape()),
               "graph.global_avg_pool: result must be [N, C, 1, ...]")


@irdl_op_definition
class BatchNormOp(GraphOp):
    """Inference-mode batch normalization over dim 1:
    (x - mean) / sqrt(var + epsilon) * scale + bias."""

    name = "graph.batch_norm"
    input = operand_def(TensorType)
    scale = operand_def(TensorType)
    bias = operand_def(TensorType)
    mean = operand_def(TensorType)
    var = operand_def(TensorType)
    epsilon = prop_def(FloatAttr, default_value=FloatAttr(1e-5, f32))
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "operands attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, scale: SSAValue, bias: SSAValue, mean: SSAValue,
                 var: SSAValue, epsilon: float = 1e-5):
        super().__init__(operands=[input, scale, bias, mean, var],
                         properties={"epsilon": FloatAttr(epsilon, f32)},
                         result_types=[input.type])

    def verify_(self) -> None:
        x = shape_of(self.input)
        _check(len(x) >= 2, "graph.batch_norm: input rank must be >= 2")
        for operand in (self.scale, self.bias, self.mean, self.var):
            s = shape_of(operand)
            _check(len(s) == 1 and (DYN in (x[1], s[0]) or s[0] == x[1]),
                   f"graph.batch_norm: per-channel operands must have shape {_dims(x[1:2])}")
            _check(element_type_of(operand) == element_type_of(self.input),
                   "graph.batch_norm: per-channel operands must have the input's element "
                   "type")
        _check(self.result.type == self.input.type,
               "graph.batch_norm: result type must equal input type")


# --------------------------------------------------------------------------- data movement


@irdl_op_definition
class ReshapeOp(GraphOp):
    """Reshape to `shape`; one entry may be -1 (inferred). Row-major order is kept."""

    name = "graph.reshape"
    input = operand_def(TensorType)
    shape = prop_def(DenseArrayBase)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, shape: Sequence[int]):
        out = self.infer_shape(shape_of(input), shape)
        super().__init__(operands=[input], properties={"shape": i64_array(shape)},
                         result_types=[tensor_type(out, element_type_of(input))])

    @staticmethod
    def infer_shape(x: Sequence[int], shape: Sequence[int]) -> tuple[int, ...]:
        if sum(1 for d in shape if d == -1) > 1:
            raise ValueError("at most one dim of the target shape may be -1")
        if any(d < -1 or d == 0 for d in shape):
            raise ValueError(f"invalid target shape {list(shape)}")
        if -1 not in shape:
            if DYN not in x:
                n_in, n_out = _product(x), _product(shape)
                if n_in != n_out:
                    raise ValueError(f"cannot reshape {n_in} elements into {list(shape)}")
            return tuple(shape)
        if DYN in x:
            return tuple(DYN if d == -1 else d for d in shape)
        known = _product([d for d in shape if d != -1])
        total = _product(x)
        if known == 0 or total % known:
            raise ValueError(f"cannot reshape {total} elements into {list(shape)}")
        return tuple(total // known if d == -1 else d for d in shape)

    def verify_(self) -> None:
        try:
            expected = self.infer_shape(shape_of(self.input), ints(self.shape))
        except ValueError as e:
            raise VerifyException(f"graph.reshape: {e}") from e
        _check(element_type_of(self.result) == element_type_of(self.input),
               "graph.reshape: result element type must equal the input's")
        _check(_shapes_compatible(expected, self.result_shape()),
               f"graph.reshape: result shape {list(self.result_shape())} should be "
               f"{list(expected)}")


def _product(values: Sequence[int]) -> int:
    result = 1
    for v in values:
        result *= v
    return result


@irdl_op_definition
class TransposeOp(GraphOp):
    """Permute dims: result dim i is input dim perm[i]."""

    name = "graph.transpose"
    input = operand_def(TensorType)
    perm = prop_def(DenseArrayBase)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, perm: Sequence[int]):
        x = shape_of(input)
        super().__init__(operands=[input], properties={"perm": i64_array(perm)},
                         result_types=[tensor_type([x[p] for p in perm],
                                                   element_type_of(input))])

    def verify_(self) -> None:
        perm = ints(self.perm)
        x = shape_of(self.input)
        _check(sorted(perm) == list(range(len(x))),
               f"graph.transpose: perm {list(perm)} is not a permutation of rank {len(x)}")
        _check(_shapes_compatible([x[p] for p in perm], self.result_shape()),
               "graph.transpose: result shape does not match the permuted input")
        _check(element_type_of(self.result) == element_type_of(self.input),
               "graph.transpose: result element type must equal the input's")


@irdl_op_definition
class ConcatOp(GraphOp):
    """Concatenate along `axis`; all other dims must agree."""

    name = "graph.concat"
    inputs = var_operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$inputs attr-dict `:` functional-type(operands, results)"

    def __init__(self, inputs: Sequence[SSAValue], axis: int):
        shapes = [shape_of(v) for v in inputs]
        out = list(shapes[0])
        sizes = [s[axis] for s in shapes]
        out[axis] = DYN if DYN in sizes else sum(sizes)
        super().__init__(operands=[list(inputs)], properties={"axis": IntegerAttr(axis, i64)},
                         result_types=[tensor_type(out, element_type_of(inputs[0]))])

    def verify_(self) -> None:
        axis = self.axis.value.data
        shapes = [shape_of(v) for v in self.inputs]
        _check(len(shapes) >= 1, "graph.concat: needs at least one input")
        rank = len(shapes[0])
        _check(0 <= axis < rank, f"graph.concat: axis {axis} out of range for rank {rank}")
        for v, s in zip(self.inputs, shapes, strict=True):
            _check(len(s) == rank, "graph.concat: all inputs must have the same rank")
            _check(element_type_of(v) == element_type_of(self.result),
                   "graph.concat: inputs and result must have one element type")
            for d in range(rank):
                if d != axis:
                    _check(s[d] == shapes[0][d] or DYN in (s[d], shapes[0][d]),
                           f"graph.concat: inputs differ in dim {d}")
        sizes = [s[axis] for s in shapes]
        expected = list(shapes[0])
        expected[axis] = DYN if DYN in sizes else sum(sizes)
        _check_result(self, expected, self.result_shape())


@irdl_op_definition
class SoftmaxOp(GraphOp):
    """exp(x - max) / sum(exp(x - max)) along `axis`."""

    name = "graph.softmax"
    input = operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, axis: int):
        super().__init__(operands=[input], properties={"axis": IntegerAttr(axis, i64)},
                         result_types=[input.type])

    def verify_(self) -> None:
        rank = len(shape_of(self.input))
        axis = self.axis.value.data
        _check(0 <= axis < rank, f"graph.softmax: axis {axis} out of range for rank {rank}")
        _check(self.result.type == self.input.type,
               "graph.softmax: result type must equal input type")


# ------------------------------------------------------------------ table-driven elementwise


@irdl_op_definition
class ElementwiseOp(GraphOp):
    """An elementwise op named by `kind`, a row of dialects/elementwise.py's rule table.

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
        from dialects.elementwise import BY_KIND

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
        from dialects.elementwise import BY_KIND

        kind = self.kind.data
        rule = BY_KIND.get(kind)
        _check(rule is not None, f"graph.elementwise: unknown kind '{kind}'")
        assert rule is not None
        types = [element_type_of(v) for v in self.inputs]
        problem = rule.check_types(types)
        _check(problem is None, f"graph.elementwise '{kind}': {problem}")
        _check(len(self.param_values()) == len(rule.params),
               f"graph.elementwise '{kind}': expects {len(rule.params)} params "
               f"({', '.join(n for n, _ in rule.params)}), got {len(self.param_values())}")
        if types and is_float_type(types[0]):
            limit = float(np.finfo(numpy_dtype_of(types[0])).max)
            _check(all(not abs(p) > limit or math.isinf(p) for p in self.param_values()),
                   f"graph.elementwise '{kind}': params {list(self.param_values())} do not "
                   f"fit {types[0]}")
        if rule.result != "cast":
            expected_elt = rule.result_type(types, None)
            _check(element_type_of(self.result) == expected_elt,
                   f"graph.elementwise '{kind}': result element type must be {expected_elt}")
        try:
            expected = broadcast_shapes(*[shape_of(v) for v in self.inputs])
        except ValueError as e:
            raise VerifyException(f"graph.elementwise '{kind}': operands do not broadcast: "
                                  f"{e}") from e
        _check(_shapes_compatible(expected, self.result_shape()),
               f"graph.elementwise '{kind}': result shape {list(self.result_shape())} does "
               f"not match broadcast shape {list(expected)}")


# --------------------------------------------------------------------------- shape and
# data-movement ops (shape tensors, gathers/scatters, slicing, padding, resizing)
#
# Operands that ONNX passes as tensors but that size a result (a reshape target, slice
# starts, pads, repeats, ...) stay operands here: they are 1-D (or rank-0) integer
# tensors read at run time by the lowering. The importer computes result types from
# their values when they are constants, `?` otherwise; `fold` folds what is constant.

REDUCTIONS = ("none", "add", "mul", "max", "min")
"""Scatter reductions (how an update combines with the value it lands on)."""

PAD_MODES = ("constant", "reflect", "edge", "wrap")
RESIZE_MODES = ("nearest", "linear")
RESIZE_COORDINATE_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel",
                           "align_corners", "asymmetric")
RESIZE_NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")
RESIZE_ASPECT_POLICIES = ("stretch", "not_larger", "not_smaller")


def _int_prop(value: int) -> IntegerAttr:
    return IntegerAttr(value, i64)


def _prop_int(attr: IntegerAttr) -> int:
    return attr.value.data


def _is_int_tensor(value: SSAValue) -> bool:
    t = value.type
    return isinstance(t, TensorType) and isinstance(t.element_type, IntegerType)


class DataOp(GraphOp):
    """Base of the shape/data-movement ops: operands + properties, results as given.

    The importer (or a pass) passes the result types; `verify_` checks ranks and element
    types. Subclasses describe integer operands in `INT_OPERANDS` (must be integer
    tensors) and `SAME_TYPE` (the result's element type equals operand 0's)."""

    INT_OPERANDS: ClassVar[tuple[str, ...]] = ()
    SAME_TYPE: ClassVar[bool] = True

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "operands attr-dict `:` functional-type(operands, results)"

    def verify_(self) -> None:
        for field in self.INT_OPERANDS:
            value = getattr(self, field)
            if value is not None:
                _check(_is_int_tensor(value),
                       f"{self.name}: operand '{field}' must be an integer tensor")
        if self.SAME_TYPE:
            _check(element_type_of(self.results[0]) == element_type_of(self.operands[0]),
                   f"{self.name}: result element type must equal the input's")
        self.verify_shapes()

    def verify_shapes(self) -> None:
        """Op-specific shape checks (ranks, static sizes)."""


@irdl_op_definition
class ShapeOp(DataOp):
    """The dims `start`..`end` (exclusive, already clamped) of the input as a 1-D i64."""

    name = "graph.shape"
    SAME_TYPE: ClassVar[bool] = False
    input = operand_def(TensorType)
    start = prop_def(IntegerAttr)
    end = prop_def(IntegerAttr)
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, start: int = 0, end: int | None = None):
        rank = len(shape_of(input))
        end = rank if end is None else end
        super().__init__(operands=[input],
                         properties={"start": _int_prop(start), "end": _int_prop(end)},
                         result_types=[tensor_type([max(0, end - start)], i64)])

    def verify_shapes(self) -> None:
        rank = len(shape_of(self.input))
        start, end = _prop_int(self.start), _prop_int(self.end)
        _check(0 <= start <= rank and 0 <= end <= rank,
               f"graph.shape: start/end must lie in [0, {rank}]")
        _check(shape_of(self.result) == (max(0, end - start),),
               "graph.shape: result must have end - start elements")
        _check(element_type_of(self.result) == i64, "graph.shape: result must be i64")


@irdl_op_definition
class SizeOp(DataOp):
    """The number of elements of the input as a rank-0 i64."""

    name = "graph.size"
    SAME_TYPE: ClassVar[bool] = False
    input = operand_def(TensorType)
    result = result_def(TensorType)

    def __init__(self, input: SSAValue):
        super().__init__(operands=[input], result_types=[tensor_type([], i64)])

    def verify_shapes(self) -> None:
        _check(self.result.type == tensor_type([], i64),
               "graph.size: result must be tensor<i64>")


@irdl_op_definition
class ReshapeDynamicOp(DataOp):
    """Reshape to the run-time shape in the 1-D integer tensor `shape` (ONNX Reshape:
    0 copies the input dim unless `allowzero`, one -1 is inferred)."""

    name = "graph.reshape_dynamic"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("shape",)
    input = operand_def(TensorType)
    shape = operand_def(TensorType)
    allowzero = prop_def(IntegerAttr, default_value=IntegerAttr(0, i64))
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, shape: SSAValue, result_type: Attribute,
                 allowzero: bool = False):
        super().__init__(operands=[input, shape],
                         properties={"allowzero": _int_prop(int(allowzero))},
                         result_types=[result_type])

    def verify_shapes(self) -> None:
        s = shape_of(self.shape)
        _check(len(s) == 1 and s[0] == len(self.result_shape()),
               "graph.reshape_dynamic: shape must be 1-D with one entry per result dim")
        _check_flag(self, self.allowzero, "allowzero")
        x, y = shape_of(self.input), self.result_shape()
        if DYN not in x and DYN not in y:
            _check(_product(x) == _product(y),
                   f"graph.reshape_dynamic: cannot reshape {_dims(x)} into {_dims(y)}")


class _AxesOp(DataOp):
    """Squeeze/unsqueeze: a reshape that removes/inserts size-1 dims at `axes`."""

    input = operand_def(TensorType)
    axes = prop_def(DenseArrayBase)
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, axes: Sequence[int]):
        shape = self.infer_shape(shape_of(input), sorted(axes))
        super().__init__(operands=[input], properties={"axes": i64_array(sorted(axes))},
                         result_types=[tensor_type(shape, element_type_of(input))])

    @staticmethod
    def infer_shape(x: Sequence[int], axes: Sequence[int]) -> tuple[int, ...]:
        raise NotImplementedError

    def verify_shapes(self) -> None:
        try:
            expected = self.infer_shape(shape_of(self.input), ints(self.axes))
        except ValueError as e:
            raise VerifyException(f"{self.name}: {e}") from e
        _check(_shapes_compatible(expected, self.result_shape()),
               f"{self.name}: result shape should be {list(expected)}")


@irdl_op_definition
class SqueezeOp(_AxesOp):
    """Remove the size-1 dims `axes` (non-negative, sorted)."""

    name = "graph.squeeze"

    @staticmethod
    def infer_shape(x: Sequence[int], axes: Sequence[int]) -> tuple[int, ...]:
        for a in axes:
            if not 0 <= a < len(x) or x[a] not in (1, DYN):
                raise ValueError(f"cannot squeeze dim {a} of {list(x)}")
        return tuple(d for i, d in enumerate(x) if i not in axes)


@irdl_op_definition
class UnsqueezeOp(_AxesOp):
    """Insert size-1 dims so that they end up at `axes` of the result."""

    name = "graph.unsqueeze"

    @staticmethod
    def infer_shape(x: Sequence[int], axes: Sequence[int]) -> tuple[int, ...]:
        rank = len(x) + len(axes)
        if len(set(axes)) != len(axes) or any(not 0 <= a < rank for a in axes):
            raise ValueError(f"bad unsqueeze axes {list(axes)} for rank {len(x)}")
        rest = iter(x)
        return tuple(1 if i in axes else next(rest) for i in range(rank))


class _AxesDynamicOp(DataOp):
    """Squeeze/unsqueeze at run-time `axes` (1-D integer): all result dims are `?`."""

    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("axes",)
    input = operand_def(TensorType)
    axes = operand_def(TensorType)
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, axes: SSAValue, result_type: Attribute):
        super().__init__(operands=[input, axes], result_types=[result_type])

    def verify_shapes(self) -> None:
        n = shape_of(self.axes)
        _check(len(n) == 1 and n[0] != DYN, f"{self.name}: axes must be 1-D, static length")
        rank = len(shape_of(self.input))
        want = rank - n[0] if isinstance(self, SqueezeDynamicOp) else rank + n[0]
        _check(want >= 0, f"{self.name}: {n[0]} axes for an input of rank {rank}")
        _check(len(self.result_shape()) == want,
               f"{self.name}: {n[0]} axes on rank {rank} give rank {want}, the result has "
               f"rank {len(self.result_shape())}")


@irdl_op_definition
class SqueezeDynamicOp(_AxesDynamicOp):
    """Remove the size-1 dims at run-time `axes` (negative counts from the end)."""

    name = "graph.squeeze_dynamic"


@irdl_op_definition
class UnsqueezeDynamicOp(_AxesDynamicOp):
    """Insert size-1 dims at run-time `axes` of the result (negative from the end)."""

    name = "graph.unsqueeze_dynamic"


@irdl_op_definition
class FlattenOp(DataOp):
    """2-D view [prod(x[:axis]), prod(x[axis:])] of the input."""

    name = "graph.flatten"
    input = operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, axis: int):
        super().__init__(operands=[input], properties={"axis": _int_prop(axis)},
                         result_types=[tensor_type(self.infer_shape(shape_of(input), axis),
                                                   element_type_of(input))])

    @staticmethod
    def infer_shape(x: Sequence[int], axis: int) -> tuple[int, int]:
        halves = [x[:axis], x[axis:]]
        return tuple(DYN if DYN in h else _product(h) for h in halves)  # type: ignore

    def verify_shapes(self) -> None:
        x, axis = shape_of(self.input), _prop_int(self.axis)
        _check(0 <= axis <= len(x), f"graph.flatten: axis {axis} out of range [0, {len(x)}]")
        _check_result(self, self.infer_shape(x, axis), self.result_shape())


@irdl_op_definition
class SplitOp(DataOp):
    """Split along `axis` into pieces of `splits` elements (or of the run-time 1-D integer
    `sizes`), else into len(results) pieces of ceil(n / len(results)) (the last one
    smaller)."""

    name = "graph.split"
    input = operand_def(TensorType)
    sizes = opt_operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    splits = opt_prop_def(DenseArrayBase)
    outputs = var_result_def(TensorType)

    def __init__(self, input: SSAValue, axis: int, splits: Sequence[int] | None,
                 num_outputs: int, sizes: SSAValue | None = None):
        x = shape_of(input)
        n = x[axis]
        if sizes is not None:
            splits = None
            parts = [DYN] * num_outputs
        elif splits is None:
            parts = [DYN] * num_outputs if n == DYN else even_splits(n, num_outputs)
        else:
            parts = list(splits)
        props: dict[str, Attribute] = {"axis": _int_prop(axis)}
        if splits is not None:
            props["splits"] = i64_array(splits)
        types = [tensor_type([*x[:axis], s, *x[axis + 1:]], element_type_of(input))
                 for s in parts]
        super().__init__(operands=[input, [sizes] if sizes else []], properties=props,
                         result_types=[types])

    def result_shape(self) -> tuple[int, ...]:
        return shape_of(self.results[0])

    def verify_shapes(self) -> None:
        axis = _prop_int(self.axis)
        x = shape_of(self.input)
        _check(0 <= axis < len(x), f"graph.split: axis {axis} out of range")
        _check(len(self.results) >= 1, "graph.split: needs at least one result")
        if self.splits is not None:
            splits = ints(self.splits)
            _check(len(splits) == len(self.results),
                   "graph.split: one split size per result")
            _check_at_least(self, splits, 0, "splits")
            _check(x[axis] == DYN or sum(splits) == x[axis],
                   f"graph.split: splits {list(splits)} do not add up to {x[axis]}")
        if self.sizes is not None:
            _check(self.splits is None, "graph.split: give splits or sizes, not both")
            _check(_is_int_tensor(self.sizes) and shape_of(self.sizes) == (len(self.results),),
                   "graph.split: sizes must be a 1-D integer tensor, one entry per result")
        for k, r in enumerate(self.results):
            s = shape_of(r)
            _check(len(s) == len(x) and all(
                _shapes_compatible([a], [b]) for i, (a, b) in enumerate(zip(x, s, strict=True))
                if i != axis), f"graph.split: result {k} of shape {_dims(s)} does not fit "
                               f"the input {_dims(x)}")
            if self.splits is not None:
                _check_result(self, [*x[:axis], ints(self.splits)[k], *x[axis + 1:]], s,
                              f"result {k}")


def even_splits(n: int, parts: int) -> list[int]:
    """ONNX num_outputs splitting: ceil(n / parts) each, the last one gets the rest."""
    chunk = -(-n // parts)
    return [max(0, min(chunk, n - i * chunk)) for i in range(parts)]


@irdl_op_definition
class SliceOp(DataOp):
    """ONNX Slice: 1-D integer `starts`, `ends`, `axes`, `steps` of equal length, read at
    run time (negative values count from the end, clamped per ONNX)."""

    name = "graph.slice"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("starts", "ends", "axes", "steps")
    input = operand_def(TensorType)
    starts = operand_def(TensorType)
    ends = operand_def(TensorType)
    axes = operand_def(TensorType)
    steps = operand_def(TensorType)
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, starts: SSAValue, ends: SSAValue, axes: SSAValue,
                 steps: SSAValue, result_type: Attribute):
        super().__init__(operands=[input, starts, ends, axes, steps],
                         result_types=[result_type])

    def verify_shapes(self) -> None:
        n = {shape_of(v) for v in (self.starts, self.ends, self.axes, self.steps)}
        _check(len(n) == 1 and len(next(iter(n))) == 1,
               "graph.slice: starts/ends/axes/steps must be 1-D of one length")
        _check(len(self.result_shape()) == len(shape_of(self.input)),
               "graph.slice: result rank must equal input rank")
        count, rank = next(iter(n))[0], len(shape_of(self.input))
        _check(count == DYN or count <= rank,
               f"graph.slice: {count} axes for an input of rank {rank}")



@irdl_op_definition
class GatherOp(DataOp):
    """out[a.., i.., b..] = data[a.., indices[i..], b..] along `axis`."""

    name = "graph.gather"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("indices",)
    input = operand_def(TensorType)
    indices = operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, indices: SSAValue, axis: int):
        x = shape_of(input)
        shape = [*x[:axis], *shape_of(indices), *x[axis + 1:]]
        super().__init__(operands=[input, indices], properties={"axis": _int_prop(axis)},
                         result_types=[tensor_type(shape, element_type_of(input))])

    def verify_shapes(self) -> None:
        x, axis = shape_of(self.input), _prop_int(self.axis)
        _check_axis(self, axis, len(x))
        _check_result(self, [*x[:axis], *shape_of(self.indices), *x[axis + 1:]],
                      self.result_shape())


@irdl_op_definition
class GatherElementsOp(DataOp):
    """out[i] = data[i with dim `axis` replaced by indices[i]]; out has indices' shape."""

    name = "graph.gather_elements"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("indices",)
    input = operand_def(TensorType)
    indices = operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, indices: SSAValue, axis: int):
        super().__init__(operands=[input, indices], properties={"axis": _int_prop(axis)},
                         result_types=[tensor_type(shape_of(indices), element_type_of(input))])

    def verify_shapes(self) -> None:
        x, ind = shape_of(self.input), shape_of(self.indices)
        _check_axis(self, _prop_int(self.axis), len(x))
        _check(len(ind) == len(x), f"{self.name}: indices must have the input's rank")
        _check_result(self, ind, self.result_shape())


@irdl_op_definition
class GatherNDOp(DataOp):
    """ONNX GatherND with `batch_dims`; indices' last dim must be static."""

    name = "graph.gather_nd"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("indices",)
    input = operand_def(TensorType)
    indices = operand_def(TensorType)
    batch_dims = prop_def(IntegerAttr, default_value=IntegerAttr(0, i64))
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, indices: SSAValue, batch_dims: int = 0):
        x, ind = shape_of(input), shape_of(indices)
        shape = [*ind[:-1], *x[batch_dims + ind[-1]:]]
        super().__init__(operands=[input, indices],
                         properties={"batch_dims": _int_prop(batch_dims)},
                         result_types=[tensor_type(shape, element_type_of(input))])

    def verify_shapes(self) -> None:
        x, ind, b = shape_of(self.input), shape_of(self.indices), _prop_int(self.batch_dims)
        _check(len(ind) >= 1 and ind[-1] != DYN,
               "graph.gather_nd: indices need rank >= 1 and a static last dim")
        _check(0 <= b < min(len(x), len(ind)) or b == 0,
               f"graph.gather_nd: batch_dims {b} out of range")
        _check(b + ind[-1] <= len(x),
               f"graph.gather_nd: {ind[-1]} index entries (+ {b} batch dims) exceed the "
               f"input rank {len(x)}")
        _check_result(self, [*ind[:-1], *x[b + ind[-1]:]], self.result_shape())


@irdl_op_definition
class ScatterNDOp(DataOp):
    """ONNX ScatterND: a copy of data with `updates` combined in at `indices`."""

    name = "graph.scatter_nd"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("indices",)
    input = operand_def(TensorType)
    indices = operand_def(TensorType)
    updates = operand_def(TensorType)
    reduction = prop_def(StringAttr, default_value=StringAttr("none"))
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, indices: SSAValue, updates: SSAValue,
                 reduction: str = "none"):
        super().__init__(operands=[input, indices, updates],
                         properties={"reduction": StringAttr(reduction)},
                         result_types=[input.type])

    def verify_shapes(self) -> None:
        _check(self.reduction.data in REDUCTIONS,
               f"{self.name}: reduction must be one of {', '.join(REDUCTIONS)}")
        x, ind = shape_of(self.input), shape_of(self.indices)
        _check(len(ind) >= 1 and ind[-1] != DYN,
               f"{self.name}: indices need rank >= 1 and a static last dim")
        _check(ind[-1] <= len(x),
               f"{self.name}: {ind[-1]} index entries exceed the input rank {len(x)}")
        _check_result(self, [*ind[:-1], *x[ind[-1]:]], shape_of(self.updates), "updates")
        _check(self.result.type == self.input.type and element_type_of(
            self.updates) == element_type_of(self.input),
               f"{self.name}: result and updates must have the input's (element) type")


@irdl_op_definition
class ScatterElementsOp(DataOp):
    """ONNX ScatterElements along `axis`: updates has the indices' shape."""

    name = "graph.scatter_elements"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("indices",)
    input = operand_def(TensorType)
    indices = operand_def(TensorType)
    updates = operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    reduction = prop_def(StringAttr, default_value=StringAttr("none"))
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, indices: SSAValue, updates: SSAValue, axis: int,
                 reduction: str = "none"):
        super().__init__(operands=[input, indices, updates],
                         properties={"axis": _int_prop(axis),
                                     "reduction": StringAttr(reduction)},
                         result_types=[input.type])

    def verify_shapes(self) -> None:
        _check(self.reduction.data in REDUCTIONS,
               f"{self.name}: reduction must be one of {', '.join(REDUCTIONS)}")
        x, ind = shape_of(self.input), shape_of(self.indices)
        _check_axis(self, _prop_int(self.axis), len(x))
        _check(len(ind) == len(x), f"{self.name}: indices must have the input's rank")
        _check_result(self, ind, shape_of(self.updates), "updates")
        _check(self.result.type == self.input.type and element_type_of(
            self.updates) == element_type_of(self.input),
               f"{self.name}: result and updates must have the input's (element) type")


@irdl_op_definition
class ExpandOp(DataOp):
    """Broadcast the input to the run-time 1-D integer `shape` (numpy rules, both ways)."""

    name = "graph.expand"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("shape",)
    input = operand_def(TensorType)
    shape = operand_def(TensorType)
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, shape: SSAValue, result_type: Attribute):
        super().__init__(operands=[input, shape], result_types=[result_type])

    def verify_shapes(self) -> None:
        s, rank = shape_of(self.shape), len(shape_of(self.input))
        _check(len(s) == 1 and s[0] != DYN, "graph.expand: shape must be 1-D, static length")
        _check(len(self.result_shape()) == max(rank, s[0]),
               f"graph.expand: result rank must be {max(rank, s[0])}")


@irdl_op_definition
class TileOp(DataOp):
    """Repeat the input `repeats[d]` times along every dim d (run-time 1-D integer)."""

    name = "graph.tile"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("repeats",)
    input = operand_def(TensorType)
    repeats = operand_def(TensorType)
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, repeats: SSAValue, result_type: Attribute):
        super().__init__(operands=[input, repeats], result_types=[result_type])

    def verify_shapes(self) -> None:
        rank = len(shape_of(self.input))
        _check(shape_of(self.repeats) == (rank,),
               f"graph.tile: repeats must be 1-D with {rank} entries")
        _check(len(self.result_shape()) == rank, "graph.tile: result rank must equal the "
                                                 "input's")


@irdl_op_definition
class PadOp(DataOp):
    """Pad the run-time dims `axes` by run-time `pads` ([begins.., ends..], negative
    crops) in `mode`; `value` (rank 0) fills in constant mode."""

    name = "graph.pad"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("pads", "axes")
    input = operand_def(TensorType)
    pads = operand_def(TensorType)
    value = operand_def(TensorType)
    axes = operand_def(TensorType)
    mode = prop_def(StringAttr, default_value=StringAttr("constant"))
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, pads: SSAValue, value: SSAValue, axes: SSAValue,
                 mode: str, result_type: Attribute):
        super().__init__(operands=[input, pads, value, axes],
                         properties={"mode": StringAttr(mode)}, result_types=[result_type])

    def verify_shapes(self) -> None:
        _check(self.mode.data in PAD_MODES,
               f"graph.pad: mode must be one of {', '.join(PAD_MODES)}")
        n = shape_of(self.axes)
        _check(len(n) == 1 and n[0] != DYN and shape_of(self.pads) == (2 * n[0],),
               "graph.pad: pads must hold two entries per axis")
        _check(n[0] <= len(shape_of(self.input)),
               f"graph.pad: {n[0]} axes for an input of rank {len(shape_of(self.input))}")
        _check_one_element(self, self.value, "value")
        _check(element_type_of(self.value) == element_type_of(self.input),
               "graph.pad: value must have the input's element type")
        _check(len(self.result_shape()) == len(shape_of(self.input)),
               "graph.pad: result rank must equal the input's")


@irdl_op_definition
class RangeOp(DataOp):
    """[start, start + delta, ...) up to `limit` (rank-0 operands of the result type)."""

    name = "graph.range"
    start = operand_def(TensorType)
    limit = operand_def(TensorType)
    delta = operand_def(TensorType)
    result = result_def(TensorType)

    def __init__(self, start: SSAValue, limit: SSAValue, delta: SSAValue,
                 result_type: Attribute):
        super().__init__(operands=[start, limit, delta], result_types=[result_type])

    def verify_shapes(self) -> None:
        for what, v in (("start", self.start), ("limit", self.limit), ("delta", self.delta)):
            _check_one_element(self, v, what)
            _check(element_type_of(v) == element_type_of(self.result),
                   f"graph.range: {what} must have the result's element type")
        _check(len(self.result_shape()) == 1, "graph.range: the result must be 1-D")


@irdl_op_definition
class ConstantOfShapeOp(DataOp):
    """A tensor of the run-time 1-D integer `shape` filled with the one-element `value`."""

    name = "graph.constant_of_shape"
    SAME_TYPE: ClassVar[bool] = False
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("shape",)
    shape = operand_def(TensorType)
    value = prop_def(DenseIntOrFPElementsAttr)
    result = result_def(TensorType)

    def __init__(self, shape: SSAValue, value: DenseIntOrFPElementsAttr,
                 result_type: Attribute):
        super().__init__(operands=[shape], properties={"value": value},
                         result_types=[result_type])

    def verify_shapes(self) -> None:
        s = shape_of(self.shape)
        _check(len(s) == 1 and s[0] == len(self.result_shape()),
               "graph.constant_of_shape: shape must be 1-D, one entry per result dim")
        t = self.value.get_type()
        _check(isinstance(t, TensorType) and all(d == 1 for d in shape_of(t))
               and t.element_type == element_type_of(self.result),
               "graph.constant_of_shape: value must be one element of the result's type")


@irdl_op_definition
class TriluOp(DataOp):
    """Keep the upper (`upper` = 1) or lower triangle of the last two dims, shifted by
    the run-time diagonal offset `k` (rank 0); zero elsewhere."""

    name = "graph.trilu"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("k",)
    input = operand_def(TensorType)
    k = operand_def(TensorType)
    upper = prop_def(IntegerAttr, default_value=IntegerAttr(1, i64))
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, k: SSAValue, upper: bool):
        super().__init__(operands=[input, k], properties={"upper": _int_prop(int(upper))},
                         result_types=[input.type])

    def verify_shapes(self) -> None:
        _check(len(shape_of(self.input)) >= 2, "graph.trilu: input rank must be >= 2")
        _check_one_element(self, self.k, "k")
        _check_flag(self, self.upper, "upper")
        _check(self.result.type == self.input.type,
               "graph.trilu: result type must equal input type")


@irdl_op_definition
class CumSumOp(DataOp):
    """Cumulative sum along the run-time `axis` (rank-0 or 1-element integer, negative
    counts from the end); `exclusive`, `reverse` as in ONNX."""

    name = "graph.cumsum"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("axis",)
    input = operand_def(TensorType)
    axis = operand_def(TensorType)
    exclusive = prop_def(IntegerAttr, default_value=IntegerAttr(0, i64))
    reverse = prop_def(IntegerAttr, default_value=IntegerAttr(0, i64))
    result = result_def(TensorType)

    def __init__(self, input: SSAValue, axis: SSAValue, exclusive: bool = False,
                 reverse: bool = False):
        super().__init__(operands=[input, axis],
                         properties={"exclusive": _int_prop(int(exclusive)),
                                     "reverse": _int_prop(int(reverse))},
                         result_types=[input.type])

    def verify_shapes(self) -> None:
        _check(len(shape_of(self.input)) >= 1, "graph.cumsum: input rank must be >= 1")
        _check_one_element(self, self.axis, "axis")
        _check_flag(self, self.exclusive, "exclusive")
        _check_flag(self, self.reverse, "reverse")
        _check(self.result.type == self.input.type,
               "graph.cumsum: result type must equal input type")


@irdl_op_definition
class TopKOp(DataOp):
    """The k (run-time, 1-element integer) largest/smallest along `axis`, sorted:
    values and i64 indices. Ties keep the lower index first."""

    name = "graph.topk"
    INT_OPERANDS: ClassVar[tuple[str, ...]] = ("k",)
    input = operand_def(TensorType)
    k = operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    largest = prop_def(IntegerAttr, default_value=IntegerAttr(1, i64))
    values = result_def(TensorType)
    indices = result_def(TensorType)

    def __init__(self, input: SSAValue, k: SSAValue, axis: int, largest: bool,
                 k_static: int | None):
        x = list(shape_of(input))
        x[axis] = DYN if k_static is None else k_static
        super().__init__(operands=[input, k],
                         properties={"axis": _int_prop(axis),
                                     "largest": _int_prop(int(largest))},
                         result_types=[tensor_type(x, element_type_of(input)),
                                       tensor_type(x, i64)])

    def verify_shapes(self) -> None:
        x, axis = shape_of(self.input), _prop_int(self.axis)
        _check_axis(self, axis, len(x))
        _check_one_element(self, self.k, "k")
        _check_flag(self, self.largest, "largest")
        expected = list(x)
        expected[axis] = shape_of(self.values)[axis] if len(shape_of(self.values)) == len(
            x) else DYN
        _check_result(self, expected, shape_of(self.values), "values")
        _check(self.indices.type == tensor_type(shape_of(self.values), i64),
               "graph.topk: indices must be i64 of the values' shape")


@irdl_op_definition
class ResizeOp(DataOp):
    """ONNX Resize (nearest/linear) of dims `axes` by the run-time 1-D `scales` (float),
    or to the run-time 1-D `sizes` (integer; then scale = size / input size, adjusted by
    `keep_aspect_ratio_policy`), with the ONNX coordinate transformation modes."""

    name = "graph.resize"
    input = operand_def(TensorType)
    scales = opt_operand_def(TensorType)
    sizes = opt_operand_def(TensorType)
    axes = prop_def(DenseArrayBase)
    mode = prop_def(StringAttr, default_value=StringAttr("nearest"))
    coordinate_mode = prop_def(StringAttr, default_value=StringAttr("half_pixel"))
    nearest_mode = prop_def(StringAttr, default_value=StringAttr("round_prefer_floor"))
    keep_aspect_ratio_policy = prop_def(StringAttr, default_value=StringAttr("stretch"))
    result = result_def(TensorType)

    irdl_options = (AttrSizedOperandSegments(as_property=True), ParsePropInAttrDict())
    assembly_format = (
        "$input (`scales` `(` $scales^ `:` type($scales) `)`)? "
        "(`sizes` `(` $sizes^ `:` type($sizes) `)`)? attr-dict "
        "`:` type($input) `->` type($result)")

    def __init__(self, input: SSAValue, scales: SSAValue | None, sizes: SSAValue | None, *,
                 axes: Sequence[int], mode: str, coordinate_mode: str, nearest_mode: str,
                 keep_aspect_ratio_policy: str, result_type: Attribute):
        props: dict[str, Attribute] = {
            "axes": i64_array(axes), "mode": StringAttr(mode),
            "coordinate_mode": StringAttr(coordinate_mode),
            "nearest_mode": StringAttr(nearest_mode),
            "keep_aspect_ratio_policy": StringAttr(keep_aspect_ratio_policy)}
        super().__init__(operands=[input, [scales] if scales else [], [sizes] if sizes else []],
                         properties=props, result_types=[result_type])

    def verify_shapes(self) -> None:
        for value, allowed in ((self.mode, RESIZE_MODES),
                               (self.coordinate_mode, RESIZE_COORDINATE_MODES),
                               (self.nearest_mode, RESIZE_NEAREST_MODES),
                               (self.keep_aspect_ratio_policy, RESIZE_ASPECT_POLICIES)):
            _check(value.data in allowed,
                   f"graph.resize: '{value.data}' is not one of {', '.join(allowed)}")
        _check((self.scales is None) != (self.sizes is None),
               "graph.resize: exactly one of scales and sizes")
        rank, axes = len(shape_of(self.input)), ints(self.axes)
        _check(len(axes) >= 1 and len(set(axes)) == len(axes)
               and all(0 <= a < rank for a in axes),
               f"graph.resize: axes {list(axes)} must be distinct and in [0, {rank})")
        given = self.scales if self.scales is not None else self.sizes
        assert given is not None
        _check(_shapes_compatible((len(axes),), shape_of(given)),
               "graph.resize: scales/sizes must be 1-D with one entry per axis")
        _check(is_float_type(element_type_of(given)) == (given is self.scales),
               "graph.resize: scales must be floats, sizes integers")
        _check(len(self.result_shape()) == rank,
               "graph.resize: result rank must equal the input's")


@irdl_op_definition
class OneHotOp(DataOp):
    """values[1] where the (run-time) depth position equals the index, else values[0];
    the depth dim is inserted at `axis`."""

    name = "graph.one_hot"
    SAME_TYPE: ClassVar[bool] = False
    indices = operand_def(TensorType)
    depth = operand_def(TensorType)
    values = operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    result = result_def(TensorType)

    def __init__(self, indices: SSAValue, depth: SSAValue, values: SSAValue, axis: int,
                 depth_static: int | None):
        shape = list(shape_of(indices))
        shape.insert(axis, DYN if depth_static is None else depth_static)
        super().__init__(operands=[indices, depth, values],
                         properties={"axis": _int_prop(axis)},
                         result_types=[tensor_type(shape, element_type_of(values))])

    def verify_shapes(self) -> None:
        ind, axis = shape_of(self.indices), _prop_int(self.axis)
        _check(0 <= axis <= len(ind),
               f"graph.one_hot: axis {axis} out of range [0, {len(ind)}]")
        _check_one_element(self, self.depth, "depth")
        _check(_shapes_compatible((2,), shape_of(self.values)),
               "graph.one_hot: values must be [off, on]")
        _check(element_type_of(self.result) == element_type_of(self.values),
               "graph.one_hot: result element type must equal the values'")
        y = self.result_shape()
        _check(len(y) == len(ind) + 1, f"graph.one_hot: result rank must be {len(ind) + 1}")
        _check_result(self, [*ind[:axis], y[axis], *ind[axis:]], y)


@irdl_op_definition
class NonZeroOp(DataOp):
    """Indices (i64, [rank, count]) of the non-zero elements in row-major order."""

    name = "graph.non_zero"
    SAME_TYPE: ClassVar[bool] = False
    input = operand_def(TensorType)
    result = result_def(TensorType)

    def __init__(self, input: SSAValue):
        super().__init__(operands=[input],
                         result_types=[tensor_type([len(shape_of(input)), DYN], i64)])

    def verify_shapes(self) -> None:
        y = self.result_shape()
        _check(len(y) == 2 and y[0] == len(shape_of(self.input))
               and element_type_of(self.result) == i64,
               f"graph.non_zero: result must be i64 [{len(shape_of(self.input))}, ?]")


SHAPE_OPS: tuple[type[DataOp], ...] = (
    ShapeOp, SizeOp, ReshapeDynamicOp, SqueezeOp, UnsqueezeOp, SqueezeDynamicOp,
    UnsqueezeDynamicOp, FlattenOp, SplitOp, SliceOp,
    GatherOp, GatherElementsOp, GatherNDOp, ScatterNDOp, ScatterElementsOp, ExpandOp,
    TileOp, PadOp, RangeOp, ConstantOfShapeOp, TriluOp, CumSumOp, TopKOp, ResizeOp,
    OneHotOp, NonZeroOp)
"""The shape and data-movement ops (their lowerings: lowering/graph_to_tensor.py)."""
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
            _check(self.approximate.data in ("none", "tanh"),
                   "graph.gelu: approximate must be \"none\" or \"tanh\"")


def unary_kind(op: ElementwiseUnaryOp) -> str:
    """The scalar function of a unary op ("gelu_tanh" for the approximate GELU)."""
    if isinstance(op, GeluOp) and op.approximate is not None \
            and op.approximate.data == "tanh":
        return "gelu_tanh"
    return op.name.removeprefix("graph.")


@irdl_op_definition
class LayerNormOp(GraphOp):
    """(x - mean) / sqrt(var + epsilon) * scale + bias, mean and (biased) variance over the
    dims `axis`..rank-1; `scale` and `bias` broadcast to those dims."""

    name = "graph.layer_norm"
    input = operand_def(TensorType)
    scale = opt_operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    epsilon = prop_def(FloatAttr, default_value=FloatAttr(1e-5, f32))
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (AttrSizedOperandSegments(as_property=True), ParsePropInAttrDict())
    assembly_format = (
        "$input (`scale` `(` $scale^ `:` type($scale) `)`)? "
        "(`bias` `(` $bias^ `:` type($bias) `)`)? attr-dict "
        "`:` type($input) `->` type($result)"
    )

    def __init__(self, input: SSAValue, scale: SSAValue | None, bias: SSAValue | None,
                 axis: int, epsilon: float = 1e-5):
        super().__init__(operands=[input, [scale] if scale else [], [bias] if bias else []],
                         properties={"axis": IntegerAttr(axis, i64),
                                     "epsilon": FloatAttr(epsilon, f32)},
                         result_types=[input.type])

    def verify_(self) -> None:
        x = shape_of(self.input)
        axis = self.axis.value.data
        _check(0 <= axis < len(x), f"graph.layer_norm: axis {axis} out of range")
        for operand in (self.scale, self.bias):
            if operand is None:
                continue
            try:
                ok = broadcast_shapes(x[axis:], shape_of(operand)) == tuple(x[axis:])
            except ValueError:
                ok = False
            _check(ok, f"graph.layer_norm: scale/bias must broadcast to {list(x[axis:])}")
        _check(self.result.type == self.input.type,
               "graph.layer_norm: result type must equal input type")
# --------------------------------------------------------------------------- reductions, NN ops
# Reductions (graph.reduce, graph.arg_reduce), the softmax family, LpPool, LRN, Einsum and
# ConvTranspose.

REDUCE_KINDS = ("sum", "mean", "max", "min", "prod", "l1", "l2", "log_sum", "log_sum_exp",
                "sum_square")
"""Kinds of graph.reduce: ONNX ReduceSum, ReduceMean, ... ReduceSumSquare."""


def reduce_shape(x: Sequence[int], axes: Sequence[int], keepdims: bool) -> tuple[int, ...]:
    """Result shape of a reduction of `x` over (non-negative) `axes`."""
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(x))
    return tuple(d for i, d in enumerate(x) if i not in axes)


def runtime_reduce_shape(x: Sequence[int], num_axes: int, keepdims: bool) -> tuple[int, ...]:
    """Result shape of a reduction over `num_axes` axes known only at run time."""
    if keepdims:
        return tuple(1 if d == 1 else DYN for d in x)
    all_ones = all(d == 1 for d in x)
    return tuple(1 if all_ones else DYN for _ in range(len(x) - num_axes))


@irdl_op_definition
class ReduceOp(GraphOp):
    """Reduce `input` over some axes with `kind` (one of REDUCE_KINDS).

    Compile-time axes are `axes` (sorted, distinct, non-negative, non-empty). Axes known
    only at run time are the `axes_input` operand (tensor<K x i64>, K >= 1, negative
    values count from the end) and `axes` is empty: the result rank is still static
    (rank - K without keepdims) but its dims are `?`.
    """

    name = "graph.reduce"
    input = operand_def(TensorType)
    axes_input = opt_operand_def(TensorType)
    kind = prop_def(StringAttr)
    axes = prop_def(DenseArrayBase)
    keepdims = prop_def(IntegerAttr, default_value=IntegerAttr(1, i64))
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = (
        "$input (`axes` `(` $axes_input^ `:` type($axes_input) `)`)? attr-dict "
        "`:` type($input) `->` type($result)"
    )

    def __init__(self, input: SSAValue, kind: str, axes: Sequence[int] = (),
                 keepdims: bool = True, axes_input: SSAValue | None = None):
        x = shape_of(input)
        if axes_input is not None:
            shape = runtime_reduce_shape(x, shape_of(axes_input)[0], keepdims)
        else:
            shape = reduce_shape(x, axes, keepdims)
        super().__init__(
            operands=[input, [axes_input] if axes_input is not None else []],
            properties={"kind": StringAttr(kind), "axes": i64_array(sorted(axes)),
                        "keepdims": IntegerAttr(int(keepdims), i64)},
            result_types=[tensor_type(shape, element_type_of(input))])

    def verify_(self) -> None:
        _check(self.kind.data in REDUCE_KINDS,
               f"graph.reduce: kind must be one of {', '.join(REDUCE_KINDS)}, "
               f"got '{self.kind.data}'")
        x = shape_of(self.input)
        axes = ints(self.axes)
        _check_flag(self, self.keepdims, "keepdims")
        keepdims = bool(self.keepdims.value.data)
        _check(element_type_of(self.result) == element_type_of(self.input),
               "graph.reduce: result element type must equal the input's")
        if self.axes_input is not None:
            a = shape_of(self.axes_input)
            _check(len(a) == 1 and a[0] not in (0, DYN),
                   "graph.reduce: axes_input must be a 1-D tensor of static size >= 1")
            _check(not axes, "graph.reduce: give axes or axes_input, not both")
            _check(a[0] <= len(x), f"graph.reduce: {a[0]} axes for an input of rank {len(x)}")
            expected = runtime_reduce_shape(x, a[0], keepdims)
        else:
            _check(len(axes) >= 1, "graph.reduce: axes must not be empty")
            _check(list(axes) == sorted(set(axes)) and all(0 <= a < len(x) for a in axes),
                   f"graph.reduce: axes {list(axes)} must be sorted, distinct and in "
                   f"[0, {len(x)})")
            expected = reduce_shape(x, axes, keepdims)
        _check(_shapes_compatible(expected, self.result_shape()),
               f"graph.reduce: result shape {list(self.result_shape())} should be "
               f"{list(expected)}")


ARG_REDUCE_KINDS = ("max", "min")


@irdl_op_definition
class ArgReduceOp(GraphOp):
    """Index (i64) of the max/min along `axis` (ONNX ArgMax/ArgMin); ties pick the first
    index, or the last with `select_last_index` = 1."""

    name = "graph.arg_reduce"
    input = operand_def(TensorType)
    kind = prop_def(StringAttr)
    axis = prop_def(IntegerAttr)
    keepdims = prop_def(IntegerAttr, default_value=IntegerAttr(1, i64))
    select_last_index = prop_def(IntegerAttr, default_value=IntegerAttr(0, i64))
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, kind: str, axis: int, keepdims: bool = True,
                 select_last_index: bool = False):
        shape = reduce_shape(shape_of(input), [axis], keepdims)
        super().__init__(
            operands=[input],
            properties={"kind": StringAttr(kind), "axis": IntegerAttr(axis, i64),
                        "keepdims": IntegerAttr(int(keepdims), i64),
                        "select_last_index": IntegerAttr(int(select_last_index), i64)},
            result_types=[tensor_type(shape, i64)])

    def verify_(self) -> None:
        _check(self.kind.data in ARG_REDUCE_KINDS,
               f"graph.arg_reduce: kind must be max or min, got '{self.kind.data}'")
        x = shape_of(self.input)
        axis = self.axis.value.data
        _check(0 <= axis < len(x),
               f"graph.arg_reduce: axis {axis} out of range for rank {len(x)}")
        _check_flag(self, self.keepdims, "keepdims")
        _check_flag(self, self.select_last_index, "select_last_index")
        _check(element_type_of(self.result) == i64, "graph.arg_reduce: result must be i64")
        expected = reduce_shape(x, [axis], bool(self.keepdims.value.data))
        _check(_shapes_compatible(expected, self.result_shape()),
               f"graph.arg_reduce: result shape {list(self.result_shape())} should be "
               f"{list(expected)}")


class AxisNormOp(GraphOp):
    """A normalization along one `axis` whose result has the input's type."""

    input = operand_def(TensorType)
    axis = prop_def(IntegerAttr)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, axis: int):
        super().__init__(operands=[input], properties={"axis": IntegerAttr(axis, i64)},
                         result_types=[input.type])

    def verify_(self) -> None:
        rank = len(shape_of(self.input))
        axis = self.axis.value.data
        _check(0 <= axis < rank, f"{self.name}: axis {axis} out of range for rank {rank}")
        _check(self.result.type == self.input.type,
               f"{self.name}: result type must equal input type")


@irdl_op_definition
class LogSoftmaxOp(AxisNormOp):
    """x - max - log(sum(exp(x - max))) along `axis`."""

    name = "graph.log_softmax"


@irdl_op_definition
class HardmaxOp(AxisNormOp):
    """1 where x is the first maximum along `axis`, else 0."""

    name = "graph.hardmax"


@irdl_op_definition
class LpPoolOp(PoolOp):
    """(sum over each window of |x|^p)^(1/p); padding contributes 0."""

    name = "graph.lp_pool"
    p = prop_def(IntegerAttr, default_value=IntegerAttr(2, i64))


@irdl_op_definition
class LRNOp(GraphOp):
    """Local response normalization across channels (dim 1):
    x / (bias + alpha / size * sum over a `size` window of x^2) ^ beta."""

    name = "graph.lrn"
    input = operand_def(TensorType)
    size = prop_def(IntegerAttr)
    alpha = prop_def(FloatAttr, default_value=FloatAttr(1e-4, f32))
    beta = prop_def(FloatAttr, default_value=FloatAttr(0.75, f32))
    bias = prop_def(FloatAttr, default_value=FloatAttr(1.0, f32))
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, size: int, alpha: float = 1e-4, beta: float = 0.75,
                 bias: float = 1.0):
        super().__init__(operands=[input], properties={
            "size": IntegerAttr(size, i64), "alpha": FloatAttr(alpha, f32),
            "beta": FloatAttr(beta, f32), "bias": FloatAttr(bias, f32)},
            result_types=[input.type])

    def verify_(self) -> None:
        _check(len(shape_of(self.input)) >= 2, "graph.lrn: input rank must be >= 2")
        _check(self.size.value.data >= 1, "graph.lrn: size must be >= 1")
        _check(self.result.type == self.input.type,
               "graph.lrn: result type must equal input type")


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
        _check(_shapes_compatible([sizes[c] for c in out], self.result_shape()),
               f"graph.einsum: result shape {list(self.result_shape())} does not match "
               f"'{self.equation.data}'")


def conv_transpose_out_dim(size: int, kernel: int, stride: int, pad_total: int,
                           dilation: int, output_padding: int) -> int:
    if size == DYN:
        return DYN
    return (size - 1) * stride + (kernel - 1) * dilation + 1 + output_padding - pad_total


@irdl_op_definition
class ConvTransposeOp(GraphOp):
    """N-d transposed convolution (NCHW input, weight [C, F / group, k...]).

    Output extent per spatial dim: (in - 1) * stride + (k - 1) * dilation + 1
    + output_padding - pad_begin - pad_end; `pads` are explicit [begin..., end...].
    """

    name = "graph.conv_transpose"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    strides = prop_def(DenseArrayBase)
    pads = prop_def(DenseArrayBase)
    dilations = prop_def(DenseArrayBase)
    output_padding = prop_def(DenseArrayBase)
    group = prop_def(IntegerAttr, default_value=IntegerAttr(1, i64))
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = (
        "$input `,` $weight (`bias` `(` $bias^ `:` type($bias) `)`)? attr-dict "
        "`:` type($input) `,` type($weight) `->` type($result)"
    )

    def __init__(self, input: SSAValue, weight: SSAValue, bias: SSAValue | None = None, *,
                 strides: Sequence[int], pads: Sequence[int], dilations: Sequence[int],
                 output_padding: Sequence[int], group: int = 1):
        shape = self.infer_shape(shape_of(input), shape_of(weight), strides, pads,
                                 dilations, output_padding, group)
        super().__init__(
            operands=[input, weight, [bias] if bias else []],
            properties={"strides": i64_array(strides), "pads": i64_array(pads),
                        "dilations": i64_array(dilations),
                        "output_padding": i64_array(output_padding),
                        "group": IntegerAttr(group, i64)},
            result_types=[tensor_type(shape, element_type_of(input))])

    @staticmethod
    def infer_shape(x: Sequence[int], w: Sequence[int], strides: Sequence[int],
                    pads: Sequence[int], dilations: Sequence[int],
                    output_padding: Sequence[int], group: int) -> tuple[int, ...]:
        spatial = len(x) - 2
        if spatial < 1 or len(w) != len(x):
            raise ValueError(f"input rank {len(x)} and weight rank {len(w)} do not fit a "
                             "transposed conv")
        if not (len(strides) == len(dilations) == len(output_padding) == spatial
                and len(pads) == 2 * spatial):
            raise ValueError("strides/dilations/output_padding need one value per spatial "
                             "dim, pads two")
        if x[1] != DYN and w[0] != DYN and x[1] != w[0]:
            raise ValueError(f"input has {x[1]} channels, the weight expects {w[0]}")
        out = [x[0], DYN if w[1] == DYN else w[1] * group]
        for i in range(spatial):
            out.append(conv_transpose_out_dim(x[2 + i], w[2 + i], strides[i],
                                              pads[i] + pads[spatial + i], dilations[i],
                                              output_padding[i]))
        return tuple(out)

    def verify_(self) -> None:
        _check(self.group.value.data >= 1, "graph.conv_transpose: group must be >= 1")
        _check_at_least(self, ints(self.strides), 1, "strides")
        _check_at_least(self, ints(self.dilations), 1, "dilations")
        _check_at_least(self, ints(self.output_padding), 0, "output_padding")
        try:
            expected = self.infer_shape(
                shape_of(self.input), shape_of(self.weight), ints(self.strides),
                ints(self.pads), ints(self.dilations), ints(self.output_padding),
                self.group.value.data)
        except ValueError as e:
            raise VerifyException(f"graph.conv_transpose: {e}") from e
        _check_output_size(self, expected)
        _check(element_type_of(self.result) == element_type_of(self.input),
               "graph.conv_transpose: result element type must equal the input's")
        _check(_shapes_compatible(expected, self.result_shape()),
               f"graph.conv_transpose: result shape {list(self.result_shape())} should be "
               f"{list(expected)}")
        if self.bias is not None:
            _check(_shapes_compatible((expected[1],), shape_of(self.bias)),
                   f"graph.conv_transpose: bias must have shape [{expected[1]}]")


@irdl_op_definition
class MaxPoolIndicesOp(PoolOp):
    """The i64 flat input index (padding not counted) of each max-pool window's first
    maximum: ONNX MaxPool's Indices output. `storage_order` 1 flattens the spatial dims
    column-major."""

    name = "graph.max_pool_indices"
    storage_order = prop_def(IntegerAttr, default_value=IntegerAttr(0, i64))

    def __init__(self, input: SSAValue, *, kernel_shape: Sequence[int],
                 strides: Sequence[int], pads: Sequence[int], dilations: Sequence[int],
                 ceil_mode: bool = False, storage_order: int = 0):
        shape = self.infer_shape(shape_of(input), kernel_shape, strides, pads, dilations,
                                 ceil_mode)
        IRDLOperation.__init__(
            self, operands=[input],
            properties={"kernel_shape": i64_array(kernel_shape), "strides": i64_array(strides),
                        "pads": i64_array(pads), "dilations": i64_array(dilations),
                        "ceil_mode": IntegerAttr(int(ceil_mode), i64),
                        "storage_order": IntegerAttr(storage_order, i64)},
            result_types=[tensor_type(shape, i64)])


@irdl_op_definition
class DropoutOp(IRDLOperation):
    """Dropout as inference computes it: `output` = input, `mask` (i1) all true.

    A `training` flag known only at run time is checked there: training with a `ratio`
    other than 0 would draw random masks, which is an error at run time.
    """

    name = "graph.dropout"
    input = operand_def(TensorType)
    ratio = opt_operand_def(TensorType)
    training = opt_operand_def(TensorType)
    output = result_def(TensorType)
    mask = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (AttrSizedOperandSegments(as_property=True), ParsePropInAttrDict())
    assembly_format = (
        "$input (`ratio` `(` $ratio^ `:` type($ratio) `)`)? "
        "(`training` `(` $training^ `:` type($training) `)`)? attr-dict "
        "`:` type($input) `->` type($output) `,` type($mask)"
    )

    def __init__(self, input: SSAValue, ratio: SSAValue | None = None,
                 training: SSAValue | None = None):
        mask_type = tensor_type(shape_of(input), IntegerType(1))
        super().__init__(operands=[input, [ratio] if ratio else [],
                                   [training] if training else []],
                         result_types=[input.type, mask_type])

    def verify_(self) -> None:
        _check(self.output.type == self.input.type,
               "graph.dropout: output type must equal input type")
        _check(self.mask.type == tensor_type(shape_of(self.input), IntegerType(1)),
               "graph.dropout: mask must be an i1 tensor of the input's shape")
        for name, v in (("ratio", self.ratio), ("training", self.training)):
            if v is not None:
                _check(shape_of(v) == (), f"graph.dropout: {name} must be rank 0")
        if self.ratio is not None:
            _check(is_float_type(element_type_of(self.ratio)),
                   "graph.dropout: ratio must be a float")
        if self.training is not None:
            _check(element_type_of(self.training) == i1, "graph.dropout: training must be i1")


REDUCTION_NN_OPS: tuple[type[IRDLOperation], ...] = (
    ReduceOp, ArgReduceOp, LogSoftmaxOp, HardmaxOp, LpPoolOp, LRNOp, EinsumOp,
    ConvTransposeOp, MaxPoolIndicesOp, DropoutOp)


# --------------------------------------------------------------------------- control flow
# Region ops (ONNX If, Loop, Scan) and recurrent cells (LSTM, GRU, RNN).
# Regions may use values of enclosing regions directly (captured values); every region
# ends in `graph.yield`.


def _parse_group(parser: Parser, keyword: str) -> tuple[list[SSAValue], list[Attribute]]:
    """`keyword(%a : T, %b : U)`, or nothing when the keyword is absent."""
    if parser.parse_optional_keyword(keyword) is None:
        return [], []

    def one() -> tuple[UnresolvedOperand, Attribute]:
        operand = parser.parse_unresolved_operand()
        parser.parse_punctuation(":")
        return operand, parser.parse_type()

    pairs = parser.parse_comma_separated_list(parser.Delimiter.PAREN, one)
    return ([parser.resolve_operand(o, t) for o, t in pairs], [t for _, t in pairs])


def _print_group(printer: Printer, keyword: str, values: Sequence[SSAValue]) -> None:
    if not values:
        return
    printer.print_string(f" {keyword}(")
    printer.print_list(values, lambda v: (printer.print_operand(v), printer.print_string(
        " : "), printer.print_attribute(v.type)))
    printer.print_string(")")


def _parse_result_types(parser: Parser) -> list[Attribute]:
    if parser.parse_optional_punctuation("->") is None:
        return []
    return parser.parse_comma_separated_list(parser.Delimiter.PAREN, parser.parse_type)


def _print_result_types(printer: Printer, op: IRDLOperation) -> None:
    if op.results:
        printer.print_string(" -> (")
        printer.print_list(op.result_types, printer.print_attribute)
        printer.print_string(")")


def _split_props(op_type: type[IRDLOperation], attrs: dict[str, Attribute]
                 ) -> tuple[dict[str, Attribute], dict[str, Attribute]]:
    """Split a parsed attribute dictionary into (properties, other attributes)."""
    names = set(op_type.get_irdl_definition().properties)
    props = {k: v for k, v in attrs.items() if k in names}
    return props, {k: v for k, v in attrs.items() if k not in names}


def _print_props(printer: Printer, op: IRDLOperation, skip: Sequence[str] = ()) -> None:
    printer.print_op_attributes({**{k: v for k, v in op.properties.items() if k not in skip},
                                 **op.attributes})


def compatible_types(a: Attribute, b: Attribute) -> bool:
    """Same element type and rank, dims equal where both are static."""
    if not (isinstance(a, TensorType) and isinstance(b, TensorType)):
        return a == b
    return a.element_type == b.element_type and _shapes_compatible(shape_of(a), shape_of(b))


def join_types(a: Attribute, b: Attribute) -> Attribute:
    """The most precise type both tensor types fit (`?` where their static dims differ)."""
    assert isinstance(a, TensorType) and isinstance(b, TensorType)
    if shape_of(a) == shape_of(b) or len(shape_of(a)) != len(shape_of(b)):
        return a
    return tensor_type([x if x == y else DYN for x, y in zip(shape_of(a), shape_of(b),
                                                              strict=True)], a.element_type)


def _check_scalar(op: IRDLOperation, value: SSAValue | None, element: Attribute,
                  what: str) -> None:
    if value is None:
        return
    t = value.type
    _check(isinstance(t, TensorType) and t.element_type == element
           and all(d == 1 for d in shape_of(t)),
           f"{op.name}: {what} must be a one-element tensor of {element}, got {t}")


def _yield_of(region: Region) -> YieldOp:
    block = region.blocks.first
    assert block is not None
    last = block.last_op
    assert isinstance(last, YieldOp)
    return last


@irdl_op_definition
class YieldOp(IRDLOperation):
    """Terminator of the regions of graph.if, graph.loop and graph.scan."""

    name = "graph.yield"
    values = var_operand_def(TensorType)

    traits = lazy_traits_def(lambda: (IsTerminator(), Pure(),
                                      HasParent(IfOp, LoopOp, ScanOp)))
    assembly_format = "attr-dict ($values^ `:` type($values))?"

    def __init__(self, *values: SSAValue):
        super().__init__(operands=[list(values)])


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
        _check(len(block.args) == len(self.inputs),
               "graph.fused: the body needs one scalar argument per input")
        for arg, v in zip(block.args, self.inputs, strict=True):
            _check(arg.type == element_type_of(v),
                   "graph.fused: body argument types must be the inputs' element types")
        try:
            expected = broadcast_shapes(*(shape_of(v) for v in self.inputs))
        except ValueError as e:
            raise VerifyException(f"graph.fused: inputs do not broadcast: {e}") from e
        _check(_shapes_compatible(expected, self.result_shape()),
               f"graph.fused: result shape {list(self.result_shape())} should be "
               f"{list(expected)}")
        last = block.last_op
        _check(isinstance(last, FusedYieldOp) and len(last.operands) == 1
               and last.operands[0].type == element_type_of(self.result),
               "graph.fused: the body must yield one scalar of the result element type")


OPTIMIZER_OPS = (LayerNormOp, FusedYieldOp, FusedElementwiseOp)  # GeluOp: unary list


def _verify_region(op: IRDLOperation, region: Region, arg_types: Sequence[Attribute],
                   yield_types: Sequence[Attribute], what: str) -> None:
    """One block with `arg_types` arguments, ending in a yield of `yield_types`."""
    _check(len(region.blocks) == 1, f"{op.name}: the {what} region must have one block")
    block = region.blocks.first
    assert block is not None
    got = [a.type for a in block.args]
    _check(len(got) == len(arg_types) and all(
        compatible_types(g_, w) for g_, w in zip(got, arg_types, strict=True)),
        f"{op.name}: the {what} region's arguments must have types "
        f"({', '.join(map(str, arg_types))}), got ({', '.join(map(str, got))})")
    _check(isinstance(block.last_op, YieldOp),
           f"{op.name}: the {what} region must end in graph.yield")
    yielded = [v.type for v in _yield_of(region).values]
    _check(len(yielded) == len(yield_types) and all(
        compatible_types(g_, w) for g_, w in zip(yielded, yield_types, strict=True)),
        f"{op.name}: the {what} region yields ({', '.join(map(str, yielded))}), expected "
        f"({', '.join(map(str, yield_types))})")


@irdl_op_definition
class IfOp(IRDLOperation):
    """ONNX If: runs the `then` or the `else` region by a one-element bool tensor.

    Both regions take no arguments and yield values compatible with the results (a
    result dim is `?` where the branches disagree).
    """

    name = "graph.if"
    cond = operand_def(TensorType)
    outputs = var_result_def(TensorType)
    then_region = region_def("single_block")
    else_region = region_def("single_block")

    traits = traits_def(RecursiveMemoryEffect())

    def __init__(self, cond: SSAValue, result_types: Sequence[Attribute],
                 then_region: Region, else_region: Region):
        super().__init__(operands=[cond], result_types=[list(result_types)],
                         regions=[then_region, else_region])

    def verify_(self) -> None:
        _check_scalar(self, self.cond, IntegerType(1), "the condition")
        types = list(self.outputs.types)
        _verify_region(self, self.then_region, [], types, "then")
        _verify_region(self, self.else_region, [], types, "else")

    @classmethod
    def parse(cls, parser: Parser) -> IfOp:
        cond = parser.parse_unresolved_operand()
        parser.parse_punctuation(":")
        cond_value = parser.resolve_operand(cond, parser.parse_type())
        types = _parse_result_types(parser)
        then_region = parser.parse_region()
        parser.parse_keyword("else")
        else_region = parser.parse_region()
        op = cls(cond_value, types, then_region, else_region)
        op.attributes.update(parser.parse_optional_attr_dict())
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_operand(self.cond)
        printer.print_string(" : ")
        printer.print_attribute(self.cond.type)
        _print_result_types(printer, self)
        printer.print_string(" ")
        printer.print_region(self.then_region, print_entry_block_args=False)
        printer.print_string(" else ")
        printer.print_region(self.else_region, print_entry_block_args=False)
        if self.attributes:
            printer.print_op_attributes(self.attributes)


@irdl_op_definition
class LoopOp(IRDLOperation):
    """ONNX Loop: `for (i = 0; i < max_trip && cond; ++i)` over a body region.

    Operands: optional `max_trip` (one-element i64 tensor; absent = no bound), optional
    `cond` (one-element i1 tensor; absent = the condition is ignored, as in ONNX) and
    the initial loop-carried values. The body takes (iteration number: tensor<i64>,
    condition: tensor<i1>, carried values...) and yields (condition, carried values...,
    scan slices...). Results: the final carried values, then one scan output per scan
    slice, the slices of all iterations stacked along a new axis 0.
    """

    name = "graph.loop"
    max_trip = opt_operand_def(TensorType)
    cond = opt_operand_def(TensorType)
    inits = var_operand_def(TensorType)
    outputs = var_result_def(TensorType)
    body = region_def("single_block")

    traits = traits_def(RecursiveMemoryEffect())
    irdl_options = (AttrSizedOperandSegments(as_property=True),)

    def __init__(self, max_trip: SSAValue | None, cond: SSAValue | None,
                 inits: Sequence[SSAValue], result_types: Sequence[Attribute], body: Region):
        super().__init__(
            operands=[[max_trip] if max_trip else [], [cond] if cond else [], list(inits)],
            result_types=[list(result_types)], regions=[body])

    @property
    def num_scan_outputs(self) -> int:
        return len(self.outputs) - len(self.inits)

    def verify_(self) -> None:
        _check_scalar(self, self.max_trip, i64, "max_trip")
        _check_scalar(self, self.cond, IntegerType(1), "cond")
        n = len(self.inits)
        _check(len(self.outputs) >= n,
               "graph.loop: needs a result for every loop-carried value")
        carried = [v.type for v in self.inits]
        for init, res in zip(carried, self.outputs.types[:n], strict=False):
            _check(compatible_types(init, res),
                   f"graph.loop: carried value of type {init} has result type {res}")
        scans = list(self.outputs.types[n:])
        for t in scans:
            _check(isinstance(t, TensorType) and len(shape_of(t)) >= 1,
                   "graph.loop: scan outputs have rank >= 1 (axis 0 = iterations)")
        slices = [tensor_type(shape_of(t)[1:], element_type_of(t)) for t in scans]
        scalar_i1, scalar_i64 = tensor_type([], IntegerType(1)), tensor_type([], i64)
        _verify_region(self, self.body, [scalar_i64, scalar_i1, *carried],
                       [scalar_i1, *carried, *slices], "body")

    @classmethod
    def parse(cls, parser: Parser) -> LoopOp:
        max_trip, _ = _parse_group(parser, "max_trip")
        cond, _ = _parse_group(parser, "cond")
        inits, _ = _parse_group(parser, "iter_args")
        types = _parse_result_types(parser)
        body = parser.parse_region()
        attrs = parser.parse_optional_attr_dict()
        op = cls(max_trip[0] if max_trip else None, cond[0] if cond else None, inits,
                 types, body)
        op.attributes.update(attrs)
        return op

    def print(self, printer: Printer) -> None:
        _print_group(printer, "max_trip", [self.max_trip] if self.max_trip else [])
        _print_group(printer, "cond", [self.cond] if self.cond else [])
        _print_group(printer, "iter_args", list(self.inits))
        _print_result_types(printer, self)
        printer.print_string(" ")
        printer.print_region(self.body)
        if self.attributes:
            printer.print_op_attributes(self.attributes)


@irdl_op_definition
class ScanOp(IRDLOperation):
    """ONNX Scan: iterates a body over slices of the scan inputs.

    The trip count is the size of the scan inputs along their `input_axes`; input j is
    read from its end when `input_directions[j]` is 1. The body takes (state...,
    input slices...) and yields (state..., output slices...); results are the final
    states, then the scan outputs: the slices stacked along `output_axes[k]`, in
    reverse iteration order when `output_directions[k]` is 1.
    """

    name = "graph.scan"
    inits = var_operand_def(TensorType)
    scan_inputs = var_operand_def(TensorType)
    input_axes = prop_def(DenseArrayBase)
    input_directions = prop_def(DenseArrayBase)
    output_axes = prop_def(DenseArrayBase)
    output_directions = prop_def(DenseArrayBase)
    outputs = var_result_def(TensorType)
    body = region_def("single_block")

    traits = traits_def(RecursiveMemoryEffect())
    irdl_options = (AttrSizedOperandSegments(as_property=True),)

    def __init__(self, inits: Sequence[SSAValue], scan_inputs: Sequence[SSAValue],
                 result_types: Sequence[Attribute], body: Region, *,
                 input_axes: Sequence[int], input_directions: Sequence[int],
                 output_axes: Sequence[int], output_directions: Sequence[int]):
        super().__init__(
            operands=[list(inits), list(scan_inputs)], result_types=[list(result_types)],
            regions=[body],
            properties={"input_axes": i64_array(input_axes),
                        "input_directions": i64_array(input_directions),
                        "output_axes": i64_array(output_axes),
                        "output_directions": i64_array(output_directions)})

    def verify_(self) -> None:
        n, m = len(self.inits), len(self.scan_inputs)
        k = len(self.outputs) - n
        in_axes, out_axes = ints(self.input_axes), ints(self.output_axes)
        _check(m >= 1, "graph.scan: needs at least one scan input")
        _check(k >= 0, "graph.scan: needs a result for every state value")
        _check(len(in_axes) == m and len(ints(self.input_directions)) == m,
               "graph.scan: input_axes/input_directions need one entry per scan input")
        _check(len(out_axes) == k and len(ints(self.output_directions)) == k,
               "graph.scan: output_axes/output_directions need one entry per scan output")
        slices = []
        for x, axis in zip(self.scan_inputs, in_axes, strict=True):
            shape = shape_of(x)
            _check(0 <= axis < len(shape),
                   f"graph.scan: input axis {axis} out of range for rank {len(shape)}")
            slices.append(tensor_type(shape[:axis] + shape[axis + 1:], element_type_of(x)))
        out_slices = []
        for t, axis in zip(self.outputs.types[n:], out_axes, strict=True):
            shape = shape_of(t)
            _check(0 <= axis < len(shape),
                   f"graph.scan: output axis {axis} out of range for rank {len(shape)}")
            out_slices.append(tensor_type(shape[:axis] + shape[axis + 1:],
                                          element_type_of(t)))
        states = [v.type for v in self.inits]
        for init, res in zip(states, self.outputs.types[:n], strict=False):
            _check(compatible_types(init, res),
                   f"graph.scan: state of type {init} has result type {res}")
        _verify_region(self, self.body, [*states, *slices], [*states, *out_slices], "body")

    @classmethod
    def parse(cls, parser: Parser) -> ScanOp:
        inits, _ = _parse_group(parser, "state")
        scan_inputs, _ = _parse_group(parser, "inputs")
        types = _parse_result_types(parser)
        body = parser.parse_region()
        props, attrs = _split_props(cls, parser.parse_optional_attr_dict())
        op = cls.build(operands=[inits, scan_inputs], result_types=[types],
                       regions=[body], properties=props, attributes=attrs)
        return op

    def print(self, printer: Printer) -> None:
        _print_group(printer, "state", list(self.inits))
        _print_group(printer, "inputs", list(self.scan_inputs))
        _print_result_types(printer, self)
        printer.print_string(" ")
        printer.print_region(self.body)
        _print_props(printer, self, skip=("operandSegmentSizes",))


RNN_KINDS = {"lstm": 4, "gru": 3, "rnn": 1}
"""Recurrent cell kinds and their number of gates."""
RNN_DIRECTIONS = ("forward", "reverse", "bidirectional")
RNN_ACTIVATIONS = ("sigmoid", "tanh", "relu", "affine", "leaky_relu", "thresholded_relu",
                   "scaled_tanh", "hard_sigmoid", "elu", "softsign", "softplus")
"""Cell activations (ONNX names in snake case); alpha/beta parameterize some of them."""


@irdl_op_definition
class RNNOp(IRDLOperation):
    """ONNX LSTM / GRU / RNN in layout 0 (time-major).

    X [T, B, I], W [D, G*H, I], R [D, G*H, H], optional bias [D, 2*G*H], sequence_lens
    [B] (integers), initial_h / initial_c [D, B, H], peepholes [D, 3*H] (LSTM). Results:
    Y [T, D, B, H], Y_h [D, B, H] and, for LSTM, Y_c [D, B, H]. Gate order is ONNX's
    (LSTM i, o, f, c; GRU z, r, h). `activations` has the cell's activation names per
    direction (LSTM 3, GRU 2, RNN 1) with `activation_alpha`/`activation_beta` beside.
    """

    name = "graph.rnn"
    x = operand_def(TensorType)
    w = operand_def(TensorType)
    r = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    sequence_lens = opt_operand_def(TensorType)
    initial_h = opt_operand_def(TensorType)
    initial_c = opt_operand_def(TensorType)
    peepholes = opt_operand_def(TensorType)
    kind = prop_def(StringAttr)
    direction = prop_def(StringAttr)
    hidden_size = prop_def(IntegerAttr)
    activations = prop_def(ArrayAttr[StringAttr])
    activation_alpha = prop_def(DenseArrayBase)
    activation_beta = prop_def(DenseArrayBase)
    clip = opt_prop_def(FloatAttr)
    linear_before_reset = prop_def(IntegerAttr, default_value=IntegerAttr(0, i64))
    input_forget = prop_def(IntegerAttr, default_value=IntegerAttr(0, i64))
    outputs = var_result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (AttrSizedOperandSegments(as_property=True), ParsePropInAttrDict())
    assembly_format = (
        "$x `,` $w `,` $r (`bias` `(` $bias^ `:` type($bias) `)`)? "
        "(`sequence_lens` `(` $sequence_lens^ `:` type($sequence_lens) `)`)? "
        "(`initial_h` `(` $initial_h^ `:` type($initial_h) `)`)? "
        "(`initial_c` `(` $initial_c^ `:` type($initial_c) `)`)? "
        "(`peepholes` `(` $peepholes^ `:` type($peepholes) `)`)? attr-dict "
        "`:` type($x) `,` type($w) `,` type($r) `->` type($outputs)"
    )

    def __init__(self, x: SSAValue, w: SSAValue, r: SSAValue, *, kind: str,
                 direction: str, hidden_size: int, activations: Sequence[str],
                 activation_alpha: Sequence[float], activation_beta: Sequence[float],
                 bias: SSAValue | None = None, sequence_lens: SSAValue | None = None,
                 initial_h: SSAValue | None = None, initial_c: SSAValue | None = None,
                 peepholes: SSAValue | None = None, clip: float | None = None,
                 linear_before_reset: bool = False, input_forget: bool = False):
        t, b = shape_of(x)[0], shape_of(x)[1]
        d = 2 if direction == "bidirectional" else 1
        elt = element_type_of(x)
        state = tensor_type([d, b, hidden_size], elt)
        types = [tensor_type([t, d, b, hidden_size], elt), state]
        if kind == "lstm":
            types.append(state)
        props: dict[str, Attribute] = {
            "kind": StringAttr(kind), "direction": StringAttr(direction),
            "hidden_size": IntegerAttr(hidden_size, i64),
            "activations": ArrayAttr([StringAttr(a) for a in activations]),
            "activation_alpha": DenseArrayBase.from_list(f32, list(activation_alpha)),
            "activation_beta": DenseArrayBase.from_list(f32, list(activation_beta)),
            "linear_before_reset": IntegerAttr(int(linear_before_reset), i64),
            "input_forget": IntegerAttr(int(input_forget), i64)}
        if clip is not None:
            props["clip"] = FloatAttr(clip, f32)
        opt = [[v] if v is not None else [] for v in
               (bias, sequence_lens, initial_h, initial_c, peepholes)]
        super().__init__(operands=[x, w, r, *opt], properties=props, result_types=[types])

    @property
    def num_directions(self) -> int:
        return 2 if self.direction.data == "bidirectional" else 1

    @property
    def num_gates(self) -> int:
        return RNN_KINDS[self.kind.data]

    def verify_(self) -> None:
        kind = self.kind.data
        _check(kind in RNN_KINDS, f"graph.rnn: kind must be one of {', '.join(RNN_KINDS)}")
        _check(self.direction.data in RNN_DIRECTIONS,
               f"graph.rnn: direction must be one of {', '.join(RNN_DIRECTIONS)}")
        d, g_, h = self.num_directions, self.num_gates, self.hidden_size.value.data
        x, w, r = shape_of(self.x), shape_of(self.w), shape_of(self.r)
        _check(len(x) == 3, f"graph.rnn: X must be [T, B, I], got {list(x)}")
        t, b, i = x
        expect = {"W": (w, [d, g_ * h, i]), "R": (r, [d, g_ * h, h])}
        if self.bias is not None:
            expect["B"] = (shape_of(self.bias), [d, 2 * g_ * h])
        if self.initial_h is not None:
            expect["initial_h"] = (shape_of(self.initial_h), [d, b, h])
        if self.initial_c is not None:
            _check(kind == "lstm", "graph.rnn: initial_c is for LSTM only")
            expect["initial_c"] = (shape_of(self.initial_c), [d, b, h])
        if self.peepholes is not None:
            _check(kind == "lstm", "graph.rnn: peepholes are for LSTM only")
            expect["P"] = (shape_of(self.peepholes), [d, 3 * h])
        if self.sequence_lens is not None:
            expect["sequence_lens"] = (shape_of(self.sequence_lens), [b])
            _check(isinstance(element_type_of(self.sequence_lens), IntegerType),
                   "graph.rnn: sequence_lens must be integers")
        for what, (got, want) in expect.items():
            _check(_shapes_compatible(want, got),
                   f"graph.rnn: {what} must have shape {list(want)}, got {list(got)}")
        n_act = {"lstm": 3, "gru": 2, "rnn": 1}[kind] * d
        acts = [a.data for a in self.activations.data]
        _check(len(acts) == n_act, f"graph.rnn: {kind} with {d} direction(s) needs "
                                   f"{n_act} activations, got {len(acts)}")
        for a in acts:
            _check(a in RNN_ACTIVATIONS, f"graph.rnn: unknown activation '{a}'")
        _check(len(self.activation_alpha) == len(self.activation_beta) == n_act,
               "graph.rnn: activation_alpha/beta need one entry per activation")
        n_out = 3 if kind == "lstm" else 2
        _check(len(self.outputs) == n_out, f"graph.rnn: {kind} has {n_out} results")
        state = [d, b, h]
        for res, want in zip(self.outputs.types, [[t, d, b, h], state, state],
                             strict=False):
            _check(_shapes_compatible(want, shape_of(res)),
                   f"graph.rnn: result of shape {list(shape_of(res))} should be {want}")


CONTROL_FLOW_OPS: tuple[type[IRDLOperation], ...] = (IfOp, LoopOp, ScanOp, YieldOp, RNNOp)


ELEMENTWISE_BINARY_OPS: tuple[type[ElementwiseBinaryOp], ...] = (AddOp, SubOp, MulOp, DivOp)
ELEMENTWISE_UNARY_OPS: tuple[type[ElementwiseUnaryOp], ...] = (
    ReluOp, SigmoidOp, TanhOp, ExpOp, NegOp, SqrtOp)
ELEMENTWISE_UNARY_OPS += (GeluOp,)  # optimizer

Graph = Dialect(
    "graph",
    [
        ConstantOp, WeightOp,
        *ELEMENTWISE_BINARY_OPS, *ELEMENTWISE_UNARY_OPS,
        MatMulOp, GemmOp, ConvOp, MaxPoolOp, AvgPoolOp, GlobalAvgPoolOp, BatchNormOp,
        ReshapeOp, TransposeOp, ConcatOp, SoftmaxOp,
        *REDUCTION_NN_OPS,
        ElementwiseOp,
        *SHAPE_OPS,
        *OPTIMIZER_OPS,
        *CONTROL_FLOW_OPS,
    ],
    [],
)

SUPPORTED_ELEMENT_TYPES = frozenset(ELEMENT_TYPES.values())


FLOAT_ONLY_OPS = frozenset({
    "graph.sigmoid", "graph.tanh", "graph.exp", "graph.sqrt", "graph.gelu", "graph.softmax",
    "graph.log_softmax", "graph.layer_norm", "graph.batch_norm", "graph.lrn",
    "graph.lp_pool", "graph.avg_pool", "graph.global_avg_pool"})
"""Ops defined on floating-point tensors only (as in ONNX): their lowerings use float
constants (-inf, 0.5, ...) and math functions."""


def _verify_element_types(op: Operation) -> None:
    """Graph tensors hold one of ELEMENT_TYPES (what the lowering and runtime handle)."""
    for kind, values in (("operand", op.operands), ("result", op.results)):
        for i, v in enumerate(values):
            t = v.type
            if isinstance(t, TensorType) and t.element_type not in SUPPORTED_ELEMENT_TYPES:
                raise VerifyException(
                    f"{op.name}: {kind} {i} has element type {t.element_type}; graph ops "
                    f"support {', '.join(str(e) for e in ELEMENT_TYPES.values())}")
    if op.name in FLOAT_ONLY_OPS and op.operands:
        t = op.operands[0].type
        if isinstance(t, TensorType) and not is_float_type(t.element_type):
            raise VerifyException(f"{op.name}: needs a floating-point input, got {t}")


def _with_element_type_check(verify):
    def verify_(self: IRDLOperation) -> None:
        _verify_element_types(self)
        verify(self)

    verify_.__wrapped__ = verify  # type: ignore[attr-defined]
    return verify_


# Every graph op checks its element types before its own verifier runs, so that no
# verifier (or lowering) has to expect `none`, `index` or `complex` elements.
for _op_class in Graph.operations:
    if not hasattr(_op_class.verify_, "__wrapped__"):
        _op_class.verify_ = _with_element_type_check(_op_class.verify_)

# Names of function-level attributes shared by the importer, passes and runtime.
ARG_NAME_ATTR = "graph.name"  # on func args/results: the framework's tensor name
ARG_DIMS_ATTR = "graph.dims"  # on func args: names of symbolic dims ("" = static)
WEIGHTS_ATTR = "graph.weights"  # on the module: key of its weight store
