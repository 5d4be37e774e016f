"""Helpers shared by the ONNX importer's core and its op families: the error a rule
raises for a node it cannot import, attribute and axis readers, dense attributes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import numpy_helper
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr
from xdsl.ir import Attribute, SSAValue

from compiler.importers.onnx.checker import format_shape
from dialects import graph as g


class NodeError(Exception):
    """A node that cannot be imported (the reason is the message); the importer reports
    it as a CompileError naming the node."""


def text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def dtype_name(elem_type: int) -> str:
    try:
        return onnx.TensorProto.DataType.Name(elem_type)
    except ValueError:  # not a TensorProto data type at all
        return f"<unknown data type {elem_type}>"


def typed_dense_attr(array: np.ndarray) -> DenseIntOrFPElementsAttr:
    """A numpy array of any supported dtype as a `dense<...>` attribute of its type."""
    try:
        return g.dense_from_array(array)
    except ValueError as e:
        raise NodeError(str(e)) from None


def dense_attr(array: np.ndarray) -> Attribute:
    """An array of any supported dtype as a `dense<...>` attribute of its graph type."""
    return g.dense_from_array(array)


def element_type(elem_type: int) -> Attribute | None:
    """The graph element type of an ONNX TensorProto data type, None if unsupported."""
    try:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(elem_type)
    except (KeyError, ValueError, TypeError):
        return None
    return g.ELEMENT_TYPES.get(np.dtype(dtype).name) if elem_type != 0 else None


def norm_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise NodeError(f"axis {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def norm_axes(axes: Sequence[int], rank: int, op_type: str) -> list[int]:
    """Axes made non-negative, checked, sorted and deduplicated."""
    out = set()
    for a in axes:
        if not -rank <= a < max(rank, 1):
            raise NodeError(f"{op_type} axis {a} is out of range for rank {rank}")
        out.add(a + rank if a < 0 else a)
    return sorted(out)


def vector_length(value: SSAValue, what: str) -> int:
    """The length of a 1-D operand (a shape, axes or sizes input)."""
    shape = g.shape_of(value)
    if len(shape) != 1:
        raise NodeError(f"{what} must be a 1-D tensor, got {format_shape(_dims(shape))}")
    return shape[0]


def _dims(shape: Sequence[int]) -> list[int | None]:
    """A graph shape for messages: None (printed `?`) for dynamic dims."""
    return [None if d == g.DYN else d for d in shape]


def extent(dims: Sequence[int]) -> int:
    """Product of dims, -1 when one of them is dynamic (a reshape target entry)."""
    if g.DYN in dims:
        return -1
    return int(np.prod(dims, dtype=np.int64))


def show_shape(shape: Sequence[int | None]) -> str:
    return "[" + ", ".join("?" if d is None or d == g.DYN else str(d) for d in shape) + "]"


def constant_value(node: onnx.NodeProto) -> np.ndarray:
    attr = node.attribute[0] if len(node.attribute) == 1 else None
    if attr is None:
        raise NodeError("a Constant needs exactly one value attribute")
    if attr.name == "value":
        return numpy_helper.to_array(attr.t)
    if attr.name == "value_float":
        return np.array(attr.f, dtype=np.float32)
    if attr.name == "value_floats":
        return np.array(list(attr.floats), dtype=np.float32)
    if attr.name == "value_int":
        return np.array(attr.i, dtype=np.int64)
    if attr.name == "value_ints":
        return np.array(list(attr.ints), dtype=np.int64)
    raise NodeError(f"Constant attribute '{attr.name}' is not supported")
