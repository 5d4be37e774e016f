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

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    BytesAttr,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    Float16Type,
    Float32Type,
    Float64Type,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    Signedness,
    StringAttr,
    TensorType,
    f16,
    f32,
    f64,
    i1,
    i64,
)
from xdsl.ir import Attribute, Dialect, SSAValue
from xdsl.irdl import (
    AnyAttr,
    AttrSizedOperandSegments,
    IRDLOperation,
    ParamAttrConstraint,
    ParsePropInAttrDict,
    VarConstraint,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.traits import Commutative, ConstantLike, NoMemoryEffect, Pure
from xdsl.utils.exceptions import VerifyException

DYN = DYNAMIC_INDEX
"""The value of a dynamic dim in a shape tuple (`?` in the text form)."""

ACTIVATIONS = ("relu", "sigmoid", "tanh")
"""Activations that conv/gemm/matmul can carry fused (`act = "relu"`)."""


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


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise VerifyException(message)


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
    data = np.ascontiguousarray(array)
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


def _verify_act(op: IRDLOperation, act: StringAttr | None) -> None:
    if act is not None:
        _check(act.data in ACTIVATIONS,
               f"{op.name}: act must be one of {', '.join(ACTIVATIONS)}, got '{act.data}'")


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
                 act: str | None = None):
        shape = self.infer_shape(shape_of(input), shape_of(weight), strides, pads,
                                 dilations)
        super().__init__(
            operands=[input, weight, [bias] if bias else [], [residual] if residual else []],
            properties={"strides": i64_array(strides), "pads": i64_array(pads),
                        "dilations": i64_array(dilations),
                        "group": IntegerAttr(group, i64), **_opt_act(act)},
            result_types=[tensor_type(shape, element_type_of(input))])

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
        try:
            expected = self.infer_shape(x, w, ints(self.strides), ints(self.pads),
                                        ints(self.dilations))
        except ValueError as e:
            raise VerifyException(f"graph.conv: {e}") from e
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
        try:
            expected = self.infer_shape(
                shape_of(self.input), ints(self.kernel_shape), ints(self.strides),
                ints(self.pads), ints(self.dilations), bool(self.ceil_mode.value.data))
        except ValueError as e:
            raise VerifyException(f"{self.name}: {e}") from e
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
            _check(len(s) == 1 and (x[1] == DYN or s[0] == x[1]),
                   f"graph.batch_norm: per-channel operands must have shape [{x[1]}]")
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
        for s in shapes:
            _check(len(s) == rank, "graph.concat: all inputs must have the same rank")
            for d in range(rank):
                if d != axis:
                    _check(s[d] == shapes[0][d] or DYN in (s[d], shapes[0][d]),
                           f"graph.concat: inputs differ in dim {d}")


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


ELEMENTWISE_BINARY_OPS: tuple[type[ElementwiseBinaryOp], ...] = (AddOp, SubOp, MulOp, DivOp)
ELEMENTWISE_UNARY_OPS: tuple[type[ElementwiseUnaryOp], ...] = (
    ReluOp, SigmoidOp, TanhOp, ExpOp, NegOp, SqrtOp)

Graph = Dialect(
    "graph",
    [
        ConstantOp, WeightOp,
        *ELEMENTWISE_BINARY_OPS, *ELEMENTWISE_UNARY_OPS,
        MatMulOp, GemmOp, ConvOp, MaxPoolOp, AvgPoolOp, GlobalAvgPoolOp, BatchNormOp,
        ReshapeOp, TransposeOp, ConcatOp, SoftmaxOp,
        ElementwiseOp,
    ],
    [],
)

# Names of function-level attributes shared by the importer, passes and runtime.
ARG_NAME_ATTR = "graph.name"  # on func args/results: the framework's tensor name
ARG_DIMS_ATTR = "graph.dims"  # on func args: names of symbolic dims ("" = static)
WEIGHTS_ATTR = "graph.weights"  # on the module: key of its weight store
