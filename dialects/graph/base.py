"""Shared pieces of the graph dialect: shape and type helpers, limits, element types,
the verifier helpers (`check*`) and the base classes of the ops (GraphOp, the elementwise
bases, DataOp)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import ClassVar

import ml_dtypes
import numpy as np
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    AnyFloat,
    ArrayAttr,
    BFloat16Type,
    BytesAttr,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    DictionaryAttr,
    Float4E2M1FNType,
    Float8E4M3FNType,
    Float8E4M3FNUZType,
    Float8E5M2FNUZType,
    Float8E5M2Type,
    Float8E8M0FNUType,
    Float16Type,
    Float32Type,
    Float64Type,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    Signedness,
    StringAttr,
    TensorType,
    VectorType,
    bf16,
    f16,
    f32,
    f64,
    i1,
    i64,
)
from xdsl.ir import Attribute, Data, Operation, ParametrizedAttribute, SSAValue
from xdsl.irdl import IRDLOperation, ParsePropInAttrDict, operand_def, result_def, traits_def
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

DYN = DYNAMIC_INDEX
"""The value of a dynamic dim in a shape tuple (`?` in the text form)."""

ACTIVATIONS = ("relu", "sigmoid", "tanh")
"""Activations that conv/gemm/matmul can carry fused (`act = "relu"`)."""

Shape = tuple[int, ...]
"""A concrete shape (no dynamic dims)."""
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


def check(condition: bool, message: str) -> None:
    if not condition:
        # shapes formatted with list(...) show a dynamic dim as DYN's int value: the IR
        # (and every message) writes it `?`
        raise VerifyException(message.replace(str(DYN), "?"))


def check_axis(op: Operation, axis: int, rank: int, what: str = "axis") -> None:
    check(0 <= axis < rank, f"{op.name}: {what} {axis} out of range for rank {rank}")


def check_flag(op: Operation, attr: IntegerAttr, what: str) -> None:
    check(attr.value.data in (0, 1), f"{op.name}: {what} must be 0 or 1, got "
                                     f"{attr.value.data}")


def check_at_least(op: Operation, values: Sequence[int], minimum: int, what: str) -> None:
    check(all(v >= minimum for v in values),
          f"{op.name}: {what} must be >= {minimum}, got {list(values)}")


def check_result(op: Operation, expected: Sequence[int], actual: Sequence[int],
                 what: str = "result") -> None:
    check(shapes_compatible(expected, actual),
          f"{op.name}: {what} shape {format_dims(actual)} should be {format_dims(expected)}")


def check_one_element(op: Operation, value: SSAValue, what: str) -> None:
    check(all(d in (1, DYN) for d in shape_of(value)),
          f"{op.name}: {what} must have one element (rank 0 or [1]), got {value.type}")


def format_dims(shape: Sequence[int]) -> str:
    """A shape as the IR writes it: [2, ?, 4]."""
    return "[" + ", ".join("?" if d == DYN else str(d) for d in shape) + "]"


# --------------------------------------------------------------------------- element types
# Graph tensors carry the framework's element type: f16/bf16/f32/f64, signless iN for
# signed integers, uiN for unsigned ones and i1 for bool (docs/ADDING_AN_OP.md). The
# lowering works on signless types and picks the unsigned arith ops from the graph type.
# The 8- and 4-bit floats (MINIFLOATS) and the 4-/2-bit integers are storage types: one
# byte per element in memory, as ml_dtypes holds them in numpy (a sub-byte integer in the
# low bits, zero above, the way LLVM stores an i4/i2); minifloats are only converted
# (Cast, quantization), never computed on.

ui8 = IntegerType(8, Signedness.UNSIGNED)
ui16 = IntegerType(16, Signedness.UNSIGNED)
ui32 = IntegerType(32, Signedness.UNSIGNED)
ui64 = IntegerType(64, Signedness.UNSIGNED)
i4, ui4 = IntegerType(4), IntegerType(4, Signedness.UNSIGNED)
i2, ui2 = IntegerType(2), IntegerType(2, Signedness.UNSIGNED)

MINIFLOATS: dict[str, Attribute] = {
    "float8_e4m3fn": Float8E4M3FNType(), "float8_e4m3fnuz": Float8E4M3FNUZType(),
    "float8_e5m2": Float8E5M2Type(), "float8_e5m2fnuz": Float8E5M2FNUZType(),
    "float8_e8m0fnu": Float8E8M0FNUType(), "float4_e2m1fn": Float4E2M1FNType(),
}
"""numpy (ml_dtypes) dtype name -> graph type of the storage-only floats."""

ELEMENT_TYPES: dict[str, Attribute] = {
    "float16": f16, "bfloat16": bf16, "float32": f32, "float64": f64,
    "int8": IntegerType(8), "int16": IntegerType(16), "int32": IntegerType(32),
    "int64": i64,
    "uint8": ui8, "uint16": ui16, "uint32": ui32, "uint64": ui64,
    "bool": i1,
    "int4": i4, "uint4": ui4, "int2": i2, "uint2": ui2,
    **MINIFLOATS,
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
    return np.dtype(getattr(ml_dtypes, _DTYPE_OF_TYPE[key], _DTYPE_OF_TYPE[key]))


def is_float_type(t: Attribute) -> bool:
    """f16/bf16/f32/f64: the float types Kiln computes in."""
    return isinstance(t, Float16Type | BFloat16Type | Float32Type | Float64Type)


def is_minifloat(t: Attribute) -> bool:
    """The 8- and 4-bit float storage types (converted, never computed on)."""
    return any(t == m for m in MINIFLOATS.values())


def is_unsigned(t: Attribute) -> bool:
    """True for uiN graph types (and bool, which is unsigned in comparisons/casts)."""
    return isinstance(t, IntegerType) and (
        t.signedness.data == Signedness.UNSIGNED or t.width.data == 1)


def type_class(t: Attribute) -> str:
    """"float", "int" (signed), "uint", "bool" or "minifloat" (storage only): how an op
    treats the element type."""
    if is_float_type(t):
        return "float"
    if isinstance(t, IntegerType):
        if t.width.data == 1:
            return "bool"
        return "uint" if t.signedness.data == Signedness.UNSIGNED else "int"
    if is_minifloat(t):
        return "minifloat"
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

    def concrete_shape(self, shapes: list[Shape]) -> Shape | list[Shape | None] | None:
        """The result shape(s) for concrete operand `shapes` (see shape_check.py).

        One shape, a list of them (multi-result ops) or None where a result's shape depends
        on tensor values; a ValueError when the shapes break the op's constraints. This
        default knows no result shape."""
        return [None] * len(self.results)

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray | list[np.ndarray]:
        """The result value(s) for constant operand values `args`, computed with numpy.

        Used by `fold` (compile-time evaluation); the run-time semantics are the lowering's,
        and the two are tested against each other. Ops without an evaluator raise
        NotImplementedError: they stay in the graph and run at run time."""
        raise NotImplementedError(f"{self.name} has no compile-time evaluator")

    def fold(self, operands: Sequence[np.ndarray | None]) -> list[np.ndarray] | None:
        """MLIR-style fold hook: the results' values when they follow from the known
        operand values (None for an operand not known at compile time), else None.

        The default needs every operand; ops whose results follow from operand types alone
        (graph.shape, graph.size) override it."""
        if any(a is None for a in operands):
            return None
        try:
            with np.errstate(all="ignore"):
                value = self.evaluate(list(operands))  # type: ignore[arg-type]
        except NotImplementedError:
            return None
        return value if isinstance(value, list) else [value]


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
        check(
           element_type_of(self.lhs) == element_type_of(self.rhs) == element_type_of(self.result),
           f"{self.name}: operand and result element types must match",
        )
        try:
            expected = broadcast_shapes(shape_of(self.lhs), shape_of(self.rhs))
        except ValueError as e:
            raise VerifyException(f"{self.name}: operands do not broadcast: {e}") from e
        check(
           shapes_compatible(expected, self.result_shape()),
           f"{self.name}: result shape {list(self.result_shape())} does not match "
           f"broadcast shape {list(expected)}",
        )

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        return broadcast_shapes(shapes[0], shapes[1])

    NUMPY: ClassVar[Callable[[np.ndarray, np.ndarray], np.ndarray]]
    """The op's value on numpy arrays (set by each subclass)."""

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        return type(self).NUMPY(args[0], args[1])


class ElementwiseUnaryOp(GraphOp):
    """Unary elementwise op; result has the operand's type."""

    input = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue):
        super().__init__(operands=[input], result_types=[input.type])

    def verify_(self) -> None:
        check(self.input.type == self.result.type,
              f"{self.name}: result type must equal operand type")

    def concrete_shape(self, shapes: list[Shape]) -> Shape:
        return shapes[0]

    NUMPY: ClassVar[Callable[[np.ndarray], np.ndarray]]
    """The op's value on a numpy array (set by each subclass)."""

    def evaluate(self, args: list[np.ndarray]) -> np.ndarray:
        return type(self).NUMPY(args[0])


def shapes_compatible(expected: Sequence[int], actual: Sequence[int]) -> bool:
    if len(expected) != len(actual):
        return False
    return all(e == a or e == DYN or a == DYN for e, a in zip(expected, actual, strict=True))


# --------------------------------------------------------------------------- fused activations


def opt_act(act: str | None) -> dict[str, Attribute]:
    if act is None:
        return {}
    if act not in ACTIVATIONS:
        raise ValueError(f"unknown fused activation '{act}'")
    return {"act": StringAttr(act)}


FLOAT_ACTIVATIONS = ("sigmoid", "tanh", "leaky_relu", "gelu", "gelu_tanh")
"""Fused activations defined on floating-point results only."""


def verify_act(op: IRDLOperation, act: StringAttr | None) -> None:
    if act is not None:
        check(act.data in ACTIVATIONS,
              f"{op.name}: act must be one of {', '.join(ACTIVATIONS)}, got '{act.data}'")
        if act.data in FLOAT_ACTIVATIONS and op.results:
            check(is_float_type(element_type_of(op.results[0])),
                  f"{op.name}: act '{act.data}' needs a floating-point result")
    params = op.properties.get("act_params")
    want = ACT_PARAM_COUNTS.get(act.data, 0) if act is not None else 0
    have = 0 if params is None else len(params.get_values())
    check(have == want, f"{op.name}: act_params must have {want} values for act "
                        f"'{act.data if act is not None else ''}', got {have}")


def erf_array(x: np.ndarray) -> np.ndarray:
    """erf elementwise (numpy has none; math.erf per element, compile time only)."""
    return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


ACT_EVALUATORS: dict[str, Callable[..., np.ndarray]] = {
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "gelu": lambda x: 0.5 * x * (1.0 + erf_array(x / np.sqrt(2.0))),
    "gelu_tanh": lambda x: 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi)
                                                    * (x + 0.044715 * x ** 3))),
    "clip": lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi),
    "leaky_relu": lambda x, alpha: np.where(x > 0, x, alpha * x),
}
"""numpy forms of the fused activations (ACTIVATIONS), parameters from `act_params`."""


def apply_act(op: Operation, y: np.ndarray) -> np.ndarray:
    """`y` through `op`'s fused activation (its `act` / `act_params`), if any."""
    act = op.properties.get("act")
    if act is None:
        return y
    params = op.properties.get("act_params")
    values = [] if params is None else [float(v) for v in params.get_values()]
    return ACT_EVALUATORS[act.data](y, *values)


def int_prop(value: int) -> IntegerAttr:
    return IntegerAttr(value, i64)


def prop_int(attr: IntegerAttr) -> int:
    return attr.value.data


def is_int_tensor(value: SSAValue) -> bool:
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
                check(is_int_tensor(value),
                      f"{self.name}: operand '{field}' must be an integer tensor")
        if self.SAME_TYPE:
            check(element_type_of(self.results[0]) == element_type_of(self.operands[0]),
                  f"{self.name}: result element type must equal the input's")
        self.verify_shapes()

    def verify_shapes(self) -> None:
        """Op-specific shape checks (ranks, static sizes)."""


def compatible_types(a: Attribute, b: Attribute) -> bool:
    """Same element type and rank, dims equal where both are static."""
    if not (isinstance(a, TensorType) and isinstance(b, TensorType)):
        return a == b
    return a.element_type == b.element_type and shapes_compatible(shape_of(a), shape_of(b))


def join_types(a: Attribute, b: Attribute) -> Attribute:
    """The most precise type both tensor types fit (`?` where their static dims differ)."""
    assert isinstance(a, TensorType) and isinstance(b, TensorType)
    if shape_of(a) == shape_of(b) or len(shape_of(a)) != len(shape_of(b)):
        return a
    return tensor_type([x if x == y else DYN for x, y in zip(shape_of(a), shape_of(b),
                                                              strict=True)], a.element_type)


SUPPORTED_ELEMENT_TYPES = frozenset(ELEMENT_TYPES.values())


FLOAT_ONLY_OPS = frozenset({
    "graph.sigmoid", "graph.tanh", "graph.exp", "graph.sqrt", "graph.gelu", "graph.softmax",
    "graph.log_softmax", "graph.layer_norm", "graph.batch_norm", "graph.lrn",
    "graph.lp_pool", "graph.avg_pool", "graph.global_avg_pool"})
"""Ops defined on floating-point tensors only (as in ONNX): their lowerings use float
constants (-inf, 0.5, ...) and math functions."""


def verify_element_types(op: Operation) -> None:
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


def with_element_type_check(verify):
    def verify_(self: IRDLOperation) -> None:
        verify_element_types(self)
        verify(self)

    verify_.__wrapped__ = verify  # type: ignore[attr-defined]
    return verify_


# Names of function-level attributes shared by the importer, passes and runtime.
ARG_NAME_ATTR = "graph.name"  # on func args/results: the framework's tensor name
ARG_DIMS_ATTR = "graph.dims"  # on func args: names of symbolic dims ("" = static)
WEIGHTS_ATTR = "graph.weights"  # on the module: key of its weight store
