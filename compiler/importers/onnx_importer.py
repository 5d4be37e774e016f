"""ONNX importer: an ONNX ModelProto becomes a `builtin.module` with one `func.func @main`
over graph ops (ARCHITECTURE.md, level 1).

The importer first checks the whole model and reports every node it cannot import in one
CompileError; only then does it build IR. Attributes are normalized here (explicit pads,
non-negative axes, resolved reshape targets) so that passes never see ONNX conventions.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseIntOrFPElementsAttr,
    DictionaryAttr,
    FunctionType,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    NameLoc,
    NoneAttr,
    StringAttr,
    TensorType,
    f32,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.utils.exceptions import DiagnosticException, VerifyException

from compiler.errors import CompileError, InternalError, UnsupportedOp
from compiler.importers.onnx_checker import check_model, check_semantics, format_shape
from dialects import elementwise as ew
from dialects import graph as g
from dialects import weights

MAX_INLINE_ELEMENTS = 64
"""Constant nodes up to this many elements are inline `graph.constant`s, larger ones weights."""

MIN_OPSET = 11
"""The oldest opset whose operator definitions Kiln's handlers are written against."""

# ---- opset policy (c1-conformance-a)
# A node of a model at opset N < MIN_OPSET is importable when the definition of its op in
# force at N (onnx.defs.get_schema(op, N).since_version) is still the one in force at
# MIN_OPSET (the same semantics), or an older definition listed here, whose differences
# the op's handler supports explicitly (it reads `opset`).
_OLD_DEFINITIONS: dict[str, frozenset[int]] = {
    # Scan-9 differs from Scan-11 only in allowing no negative axes (a subset)
    "Scan": frozenset({9}),
    # Scatter-9 (deprecated at 11) is ScatterElements-11 without negative indices
    "Scatter": frozenset({9}),
}


def _opset_reason(op_type: str, opset: int) -> str | None:
    """Why a node of `op_type` at `opset` cannot be imported (None when it can)."""
    if opset >= MIN_OPSET:
        return None
    try:
        since = onnx.defs.get_schema(op_type, opset).since_version
    except onnx.defs.SchemaError:
        return f"{op_type} is not defined at opset {opset}"
    try:
        current = onnx.defs.get_schema(op_type, MIN_OPSET).since_version
    except onnx.defs.SchemaError:
        current = None
    if since == current or since in _OLD_DEFINITIONS.get(op_type, ()):
        return None
    return (f"the {op_type}-{since} definition in force at opset {opset} differs from "
            f"{op_type}-{current} (opset {MIN_OPSET}); Kiln supports "
            f"{op_type} from opset {_first_supported(op_type)} (convert the model with "
            "onnx.version_converter)")


def _first_supported(op_type: str) -> int:
    try:
        current = onnx.defs.get_schema(op_type, MIN_OPSET).since_version
    except onnx.defs.SchemaError:
        current = MIN_OPSET
    old = [v for v in _OLD_DEFINITIONS.get(op_type, ()) if v < current]
    return min([current, *old])
# ---- end opset policy

_BINARY: dict[str, type[g.ElementwiseBinaryOp]] = {
    "Add": g.AddOp, "Sub": g.SubOp, "Mul": g.MulOp, "Div": g.DivOp}
_UNARY: dict[str, type[g.ElementwiseUnaryOp]] = {
    "Relu": g.ReluOp, "Sigmoid": g.SigmoidOp, "Tanh": g.TanhOp, "Exp": g.ExpOp,
    "Neg": g.NegOp, "Sqrt": g.SqrtOp}
_AUTO_PADS = ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER")

# Inputs (by position) that are attributes in disguise, consumed at import time.
_NON_DATA_INPUTS: dict[str, tuple[int, ...]] = {"Reshape": (1,), "Dropout": (1, 2)}

# ---- reductions and NN ops
_REDUCE_KINDS: dict[str, str] = {
    "ReduceSum": "sum", "ReduceMean": "mean", "ReduceMax": "max", "ReduceMin": "min",
    "ReduceProd": "prod", "ReduceL1": "l1", "ReduceL2": "l2", "ReduceLogSum": "log_sum",
    "ReduceLogSumExp": "log_sum_exp", "ReduceSumSquare": "sum_square"}
_NON_DATA_INPUTS.update({op: (1,) for op in _REDUCE_KINDS})
_SOFTMAX_FAMILY: dict[str, type[g.GraphOp]] = {
    "Softmax": g.SoftmaxOp, "LogSoftmax": g.LogSoftmaxOp, "Hardmax": g.HardmaxOp}


class _NodeError(Exception):
    """A node that cannot be imported (the reason is the message)."""


def import_onnx(model: str | os.PathLike | bytes | onnx.ModelProto, *,
                weights_key: str | None = None) -> ModuleOp:
    """Import an ONNX model (path, serialized bytes or ModelProto) as a graph module.

    Float initializers go to a WeightStore attached to the module. With `weights_key`
    (e.g. `file:<abs path>` of the model) the store is registered under that key, so IR
    printed from this module can find its weights again in another process.
    """
    source = _source_name(model, weights_key)
    proto = _load(model, source)
    check_model(proto, source)
    return _Importer(proto, source, weights_key).run()


# --------------------------------------------------------------------------- loading


def _source_name(model: object, weights_key: str | None) -> str:
    if isinstance(model, (str, os.PathLike)):
        return os.fspath(model)
    if weights_key and weights_key.startswith("file:"):
        return weights_key[len("file:"):]
    return "<onnx model>"


def _load(model: str | os.PathLike | bytes | onnx.ModelProto, source: str) -> onnx.ModelProto:
    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, (str, os.PathLike)):
        try:
            with open(model, "rb") as f:
                data = f.read()
        except OSError as e:
            raise CompileError(f"{source}: cannot read the model file: {e.strerror}.") from None
    else:
        data = bytes(model)
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception as e:  # protobuf's DecodeError, or a RuntimeWarning-turned-error
        raise CompileError(
            f"{source}: not an ONNX model: the file does not parse as an ONNX protobuf "
            f"({type(e).__name__}: {e}).") from None
    return proto


def _opsets(proto: onnx.ModelProto) -> dict[str, int]:
    return {(imp.domain or "ai.onnx"): imp.version for imp in proto.opset_import}


def _attrs(node: onnx.NodeProto) -> dict[str, object]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _dtype_name(elem_type: int) -> str:
    try:
        return onnx.TensorProto.DataType.Name(elem_type)
    except ValueError:  # not a TensorProto data type at all
        return f"<unknown data type {elem_type}>"


# --------------------------------------------------------------------------- shape and
# data-movement ops: ONNX nodes -> graph.SHAPE_OPS (and graph.reshape when static)
#
# Integer inputs that size a result (shapes, slice bounds, pads, repeats, k, depth) stay
# operands read at run time; result types use their values when they are constants
# and, failing that, onnx's shape inference with data propagation (static dims the
# lowering re-checks at run time), `?` otherwise.


def typed_dense_attr(array: np.ndarray) -> DenseIntOrFPElementsAttr:
    """A numpy array of any supported dtype as a `dense<...>` attribute of its type."""
    try:
        return g.dense_from_array(array)
    except ValueError as e:
        raise _NodeError(str(e)) from None


def _norm_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise _NodeError(f"axis {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def _vector_length(value: SSAValue, what: str) -> int:
    """The length of a 1-D operand (a shape, axes or sizes input)."""
    shape = g.shape_of(value)
    if len(shape) != 1:
        raise _NodeError(f"{what} must be a 1-D tensor, got {format_shape(_dims(shape))}")
    return shape[0]


def _dims(shape: Sequence[int]) -> list[int | None]:
    """A graph shape for messages: None (printed `?`) for dynamic dims."""
    return [None if d == g.DYN else d for d in shape]


def _flatten_axis(axis: int, rank: int) -> int:
    """A Flatten axis, in [-rank, rank], made non-negative."""
    if not -rank <= axis <= rank:
        raise _NodeError(f"axis {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def _input(node: onnx.NodeProto, i: int) -> str | None:
    """The name of optional input i, or None when absent/empty."""
    return node.input[i] if len(node.input) > i and node.input[i] else None


class _ShapeOpsMixin:
    """Importer rules for the shape and data-movement ops (mixed into _Importer)."""

    consts: dict[str, np.ndarray]
    values: dict[str, SSAValue]
    proto: onnx.ModelProto

    def _emit(self, op: Operation) -> SSAValue: ...
    def _value(self, name: str) -> SSAValue: ...

    def _any_value(self, name: str) -> SSAValue:
        """The SSA value of a tensor (any element type)."""
        return self._value(name)

    def _int_const(self, value: np.ndarray | Sequence[int], name: str = "") -> SSAValue:
        array = np.asarray(value, dtype=np.int64)
        result = self._emit(g.ConstantOp(typed_dense_attr(array)))
        if name:
            result.name_hint = name
        return result

    def _known(self, name: str | None) -> list[int] | None:
        """The values of a constant integer input, flattened."""
        if name is None or name not in self.consts:
            return None
        return [int(v) for v in self.consts[name].reshape(-1).tolist()]

    def _inferred_dims(self, name: str, rank: int) -> list[int]:
        """Static dims onnx infers (with data propagation) for output `name`, else `?`."""
        if not hasattr(self, "_dp_shapes"):
            shapes: dict[str, tuple[int | None, ...]] = {}
            try:
                inferred = onnx.shape_inference.infer_shapes(self.proto, data_prop=True).graph
                for info in [*inferred.value_info, *inferred.output]:
                    t = info.type.tensor_type
                    if t.HasField("shape"):
                        shapes[info.name] = tuple(
                            d.dim_value if d.HasField("dim_value") else None
                            for d in t.shape.dim)
            except Exception:
                pass
            self._dp_shapes = shapes
        dims = self._dp_shapes.get(name)
        if dims is None or len(dims) != rank:
            return [g.DYN] * rank
        return [g.DYN if d is None else d for d in dims]

    def _typed(self, node: onnx.NodeProto, shape: Sequence[int], elt: Attribute,
               index: int = 0) -> TensorType:
        """Result type: `shape`, with its `?` dims refined by onnx's inference."""
        inferred = self._inferred_dims(node.output[index], len(shape))
        return TensorType(elt, [d if d != g.DYN else i for d, i in zip(shape, inferred,
                                                                         strict=True)])

    # ---- shape tensors

    def _shape(self, node, attrs, opset):
        x = self._any_value(node.input[0])
        rank = len(g.shape_of(x))
        start = int(attrs.get("start", 0))
        end = int(attrs.get("end", rank))
        start = min(max(start + rank if start < 0 else start, 0), rank)
        end = min(max(end + rank if end < 0 else end, 0), rank)
        return [self._emit(g.ShapeOp(x, start, max(start, end)))]

    def _size(self, node, attrs, opset):
        return [self._emit(g.SizeOp(self._any_value(node.input[0])))]

    def _reshape_any(self, node, attrs, opset):
        x = self._any_value(node.input[0])
        allowzero = bool(attrs.get("allowzero", 0))
        target = self._known(node.input[1])
        if target is not None and not (allowzero and 0 in target):
            try:
                resolved = _resolve_reshape(g.shape_of(x), target, allowzero)
                return [self._emit(g.ReshapeOp(x, resolved))]
            except (_NodeError, ValueError):
                pass
        shape = self._any_value(node.input[1])
        n = _vector_length(shape, "the shape input")
        if n == g.DYN:
            raise _NodeError("the shape input has a dynamic length (unknown result rank)")
        dims = [g.DYN] * n
        x_shape = g.shape_of(x)
        if target is not None:
            dims = [x_shape[i] if t == 0 and not allowzero and i < len(x_shape) else
                    (t if t >= 0 else g.DYN) for i, t in enumerate(target)]
        result_type = self._typed(node, dims, g.element_type_of(x))
        return [self._emit(g.ReshapeDynamicOp(x, shape, result_type, allowzero))]

    def _flatten_any(self, node, attrs, opset):
        x = self._any_value(node.input[0])
        rank = len(g.shape_of(x))
        axis = _flatten_axis(int(attrs.get("axis", 1)), rank)
        shape = g.shape_of(x)
        target = [_extent(shape[:axis]), _extent(shape[axis:])]
        if target.count(-1) <= 1:
            return [self._emit(g.ReshapeOp(x, target))]
        return [self._emit(g.FlattenOp(x, axis))]

    def _axes_arg(self, node, attrs, opset: int, since: int) -> list[int] | None:
        if opset < since or "axes" in attrs:
            axes = attrs.get("axes")
            return None if axes is None else [int(a) for a in axes]
        name = _input(node, 1)
        if name is None:
            return None
        known = self._known(name)
        if known is None:
            raise _NodeError("the axes input must be a constant")
        return known

    def _runtime_axes(self, node, opset: int, unsqueeze: bool) -> list[SSAValue] | None:
        """graph.(un)squeeze_dynamic when the axes are a run-time input (opset >= 13)."""
        name = _input(node, 1)
        if opset < 13 or name is None or name in self.consts:
            return None
        x, axes = self._any_value(node.input[0]), self._any_value(name)
        n = g.shape_of(axes)
        if len(n) != 1 or n[0] == g.DYN:
            raise _NodeError("the axes input needs a static length (the result rank)")
        rank = len(g.shape_of(x)) + (n[0] if unsqueeze else -n[0])
        result_type = self._typed(node, [g.DYN] * rank, g.element_type_of(x))
        cls = g.UnsqueezeDynamicOp if unsqueeze else g.SqueezeDynamicOp
        return [self._emit(cls(x, axes, result_type))]

    def _squeeze(self, node, attrs, opset):
        dynamic = self._runtime_axes(node, opset, unsqueeze=False)
        if dynamic is not None:
            return dynamic
        x = self._any_value(node.input[0])
        shape = g.shape_of(x)
        axes = self._axes_arg(node, attrs, opset, 13)
        if axes is None:
            if g.DYN in shape:
                raise _NodeError("Squeeze without axes needs static dims")
            axes = [i for i, d in enumerate(shape) if d == 1]
        axes = sorted({_norm_axis(a, len(shape)) for a in axes})
        return [self._emit(g.SqueezeOp(x, axes))]

    def _unsqueeze(self, node, attrs, opset):
        dynamic = self._runtime_axes(node, opset, unsqueeze=True)
        if dynamic is not None:
            return dynamic
        x = self._any_value(node.input[0])
        axes = self._axes_arg(node, attrs, opset, 13)
        if axes is None:
            raise _NodeError("Unsqueeze needs axes")
        rank = len(g.shape_of(x)) + len(axes)
        return [self._emit(g.UnsqueezeOp(x, sorted(_norm_axis(a, rank) for a in axes)))]

    def _split(self, node, attrs, opset):
        x = self._any_value(node.input[0])
        shape = g.shape_of(x)
        axis = _norm_axis(int(attrs.get("axis", 0)), len(shape))
        splits: list[int] | None
        if opset < 13:
            splits = [int(s) for s in attrs["split"]] if "split" in attrs else None
        else:
            splits = self._known(_input(node, 1))
            if _input(node, 1) is not None and splits is None:
                sizes = self._any_value(node.input[1])
                split = g.SplitOp(x, axis, None, len(node.output), sizes)
                self.block.add_op(split)  # type: ignore[attr-defined]
                return list(split.results)
        parts = len(node.output)
        if splits is None and "num_outputs" in attrs:
            parts = int(attrs["num_outputs"])
        elif splits is None and shape[axis] != g.DYN and shape[axis] % parts:
            raise _NodeError(f"dim {shape[axis]} does not split evenly into {parts}")
        split = g.SplitOp(x, axis, splits, parts)
        self.block.add_op(split)  # type: ignore[attr-defined]
        return list(split.results)

    # ---- slicing and indexing

    def _slice(self, node, attrs, opset):
        x = self._any_value(node.input[0])
        shape = g.shape_of(x)
        rank = len(shape)
        names = [_input(node, i) for i in range(1, 5)]
        starts_known = self._known(names[0])
        n = len(starts_known) if starts_known is not None else _vector_length(
            self._any_value(names[0]), "starts")
        if n == g.DYN:
            raise _NodeError("starts has a dynamic length")
        defaults = {2: list(range(n)), 3: [1] * n}
        operands, known = [], []
        for i, name in enumerate(names):
            if name is None:
                values = defaults[i]
                operands.append(self._int_const(values))
                known.append(values)
            else:
                operands.append(self._any_value(name))
                known.append(self._known(name))
        dims = [g.DYN] * rank
        if any(k is not None and len(k) != n for k in known):
            raise _NodeError(f"starts, ends, axes and steps have different lengths "
                             f"({[None if k is None else len(k) for k in known]})")
        if all(k is not None for k in known):
            dims = list(shape)
            for s, e, a, t in zip(*known, strict=True):
                if t == 0:
                    raise _NodeError("a step cannot be 0")
                a = _norm_axis(a, rank)
                if shape[a] == g.DYN:
                    dims[a] = g.DYN
                else:
                    dims[a] = len(range(*slice(s, e, t).indices(shape[a])))
        else:
            axes = known[2]
            if axes is not None:
                sliced = {_norm_axis(a, rank) for a in axes}
                dims = [d if i not in sliced else g.DYN for i, d in enumerate(shape)]
        result_type = self._typed(node, dims, g.element_type_of(x))
        return [self._emit(g.SliceOp(x, *operands, result_type))]

    def _gather(self, node, attrs, opset):
        x, ind = self._any_value(node.input[0]), self._any_value(node.input[1])
        rank = len(g.shape_of(x))
        axis = _norm_axis(int(attrs.get("axis", 0)), rank)
        if node.op_type == "Gather":
            return [self._emit(g.GatherOp(x, ind, axis))]
        return [self._emit(g.GatherElementsOp(x, ind, axis))]

    def _gather_nd(self, node, attrs, opset):
        x, ind = self._any_value(node.input[0]), self._any_value(node.input[1])
        if not g.shape_of(ind) or g.shape_of(ind)[-1] == g.DYN:
            raise _NodeError("the last dim of indices must be static")
        return [self._emit(g.GatherNDOp(x, ind, int(attrs.get("batch_dims", 0))))]

    def _scatter(self, node, attrs, opset):
        x, ind, upd = (self._any_value(n) for n in node.input[:3])
        reduction = _text(attrs.get("reduction", "none"))
        if reduction not in g.REDUCTIONS:
            raise _NodeError(f"unknown reduction '{reduction}'")
        if node.op_type == "ScatterND":
            if not g.shape_of(ind) or g.shape_of(ind)[-1] == g.DYN:
                raise _NodeError("the last dim of indices must be static")
            return [self._emit(g.ScatterNDOp(x, ind, upd, reduction))]
        axis = _norm_axis(int(attrs.get("axis", 0)), len(g.shape_of(x)))
        return [self._emit(g.ScatterElementsOp(x, ind, upd, axis, reduction))]

    def _expand(self, node, attrs, opset):
        x, shape = self._any_value(node.input[0]), self._any_value(node.input[1])
        n = _vector_length(shape, "the shape input")
        if n == g.DYN:
            raise _NodeError("the shape input has a dynamic length (unknown result rank)")
        x_shape = g.shape_of(x)
        target = self._known(node.input[1])
        rank = max(n, len(x_shape))
        dims = [g.DYN] * rank
        if target is not None and g.DYN not in x_shape:
            dims = list(np.broadcast_shapes(tuple(x_shape), tuple(target)))
        result_type = self._typed(node, dims, g.element_type_of(x))
        return [self._emit(g.ExpandOp(x, shape, result_type))]

    def _tile(self, node, attrs, opset):
        x, repeats = self._any_value(node.input[0]), self._any_value(node.input[1])
        x_shape = g.shape_of(x)
        known = self._known(node.input[1])
        dims = [g.DYN] * len(x_shape)
        if known is not None and (len(known) != len(x_shape) or min(known, default=0) < 0):
            raise _NodeError(f"repeats {known} do not fit an input of rank {len(x_shape)}")
        if known is not None:
            dims = [g.DYN if d == g.DYN else d * r for d, r in zip(x_shape, known,
                                                                  strict=True)]
        result_type = self._typed(node, dims, g.element_type_of(x))
        return [self._emit(g.TileOp(x, repeats, result_type))]

    def _pad(self, node, attrs, opset):
        x = self._any_value(node.input[0])
        shape = g.shape_of(x)
        rank = len(shape)
        mode = _text(attrs.get("mode", "constant"))
        if mode not in g.PAD_MODES:
            raise _NodeError(f"unknown pad mode '{mode}'")
        axes_name = _input(node, 3)
        axes = self._any_value(axes_name) if axes_name else self._int_const(range(rank))
        known_axes = self._known(axes_name) if axes_name else list(range(rank))
        pads = self._any_value(node.input[1])
        elt = g.element_type_of(x)
        value_name = _input(node, 2)
        if value_name is not None:
            value = self._any_value(value_name)
            if g.shape_of(value) == (1,):
                value = self._emit(g.SqueezeOp(value, [0]))
        else:
            value = self._emit(g.ConstantOp(typed_dense_attr(
                np.zeros((), dtype=_element_dtype(elt)))))
        dims = [g.DYN] * rank
        known = self._known(node.input[1])
        if known is not None and known_axes is not None and len(known) != 2 * len(known_axes):
            raise _NodeError(f"pads {known} need 2 x {len(known_axes)} values")
        if known_axes is not None:
            sliced = {_norm_axis(a, rank) for a in known_axes}
            dims = [g.DYN if i in sliced else d for i, d in enumerate(shape)]
            if known is not None:
                dims = list(shape)
                for k, a in enumerate(known_axes):
                    a = _norm_axis(a, rank)
                    if shape[a] != g.DYN:
                        dims[a] = shape[a] + known[k] + known[len(known_axes) + k]
                        if dims[a] < 0:
                            raise _NodeError(f"pads {known} crop dim {a} of size "
                                             f"{shape[a]} below zero")
        result_type = self._typed(node, dims, elt)
        return [self._emit(g.PadOp(x, pads, value, axes, mode, result_type))]

    # ---- generators

    def _range(self, node, attrs, opset):
        start, limit, delta = (self._any_value(n) for n in node.input[:3])
        known = [self._known(n) for n in node.input[:3]]
        dims = [g.DYN]
        if all(k is not None for k in known):
            s, lim, d = (_scalar_value(self.consts[n], "Range") for n in node.input[:3])
            if d == 0 or not np.isfinite([s, lim, d]).all():
                raise _NodeError(f"start {s}, limit {lim} and delta {d} must be finite, "
                                 "with a non-zero delta")
            dims = [max(int(np.ceil((lim - s) / d)), 0)]
        result_type = self._typed(node, dims, g.element_type_of(start))
        return [self._emit(g.RangeOp(start, limit, delta, result_type))]

    def _constant_of_shape(self, node, attrs, opset):
        shape = self._any_value(node.input[0])
        value = attrs.get("value")
        array = np.zeros((1,), np.float32) if value is None else numpy_helper.to_array(value)
        if array.size != 1:
            raise _NodeError(f"value must hold one element, got shape {list(array.shape)}")
        attr = typed_dense_attr(array.reshape(1))
        n = _vector_length(shape, "the shape input")
        if n == g.DYN:
            raise _NodeError("the shape input has a dynamic length (unknown result rank)")
        known = self._known(node.input[0])
        if known is not None and any(d < 0 for d in known):
            raise _NodeError(f"the shape {known} has a negative dim")
        dims = known if known is not None else [g.DYN] * n
        result_type = self._typed(node, dims, attr.get_type().element_type)
        return [self._emit(g.ConstantOfShapeOp(shape, attr, result_type))]

    def _trilu(self, node, attrs, opset):
        x = self._any_value(node.input[0])
        name = _input(node, 1)
        k = self._any_value(name) if name is not None else self._int_const(0)
        return [self._emit(g.TriluOp(x, k, bool(attrs.get("upper", 1))))]

    def _cumsum(self, node, attrs, opset):
        x, axis = self._any_value(node.input[0]), self._any_value(node.input[1])
        return [self._emit(g.CumSumOp(x, axis, bool(attrs.get("exclusive", 0)),
                                      bool(attrs.get("reverse", 0))))]

    def _topk(self, node, attrs, opset):
        x, k = self._any_value(node.input[0]), self._any_value(node.input[1])
        axis = _norm_axis(int(attrs.get("axis", -1)), len(g.shape_of(x)))
        known = self._known(node.input[1])
        if known is not None and (len(known) != 1 or known[0] < 0):
            raise _NodeError(f"K = {known} must be one non-negative value")
        op = g.TopKOp(x, k, axis, bool(attrs.get("largest", 1)),
                      None if known is None else known[0])
        self.block.add_op(op)  # type: ignore[attr-defined]
        return list(op.results)

    def _resize(self, node, attrs, opset):
        x = self._any_value(node.input[0])
        shape = g.shape_of(x)
        rank = len(shape)
        mode = _text(attrs.get("mode", "nearest"))
        coord = _text(attrs.get("coordinate_transformation_mode", "half_pixel"))
        nearest = _text(attrs.get("nearest_mode", "round_prefer_floor"))
        policy = _text(attrs.get("keep_aspect_ratio_policy", "stretch"))
        if mode not in g.RESIZE_MODES:
            raise _NodeError(f"mode '{mode}' is not supported")
        if coord not in g.RESIZE_COORDINATE_MODES:
            raise _NodeError(f"coordinate_transformation_mode '{coord}' is not supported")
        if nearest not in g.RESIZE_NEAREST_MODES or policy not in g.RESIZE_ASPECT_POLICIES:
            raise _NodeError(f"nearest_mode '{nearest}' / keep_aspect_ratio_policy "
                             f"'{policy}' is not supported")
        if attrs.get("antialias", 0):
            raise _NodeError("antialias is not supported")
        axes = [_norm_axis(a, rank) for a in attrs.get("axes", range(rank))]
        scales_name, sizes_name = _input(node, 2), _input(node, 3)
        if scales_name is not None and g.shape_of(self._any_value(scales_name)) == (0,):
            scales_name = None
        if (scales_name is None) == (sizes_name is None):
            raise _NodeError("Resize needs exactly one of scales and sizes")
        scales = self._any_value(scales_name) if scales_name else None
        sizes = self._any_value(sizes_name) if sizes_name else None
        for value, what in ((scales, "scales"), (sizes, "sizes")):
            if value is not None:
                _vector_length(value, what)
        dims = [g.DYN if i in axes else d for i, d in enumerate(shape)]
        for name in (scales_name, sizes_name):
            if name in self.consts and self.consts[name].size != len(axes):
                raise _NodeError(f"'{name}' has {self.consts[name].size} values for "
                                 f"{len(axes)} resized axes")
        if scales_name in self.consts:
            values = self.consts[scales_name].reshape(-1)
            if not np.all(np.isfinite(values.astype(np.float64))):
                raise _NodeError(f"scales {values.tolist()} must be finite")
            for k, a in enumerate(axes):
                if shape[a] != g.DYN:
                    dims[a] = int(np.floor(shape[a] * float(values[k])))
        elif sizes_name in self.consts and policy == "stretch":
            for k, a in enumerate(axes):
                dims[a] = int(self.consts[sizes_name].reshape(-1)[k])
        result_type = self._typed(node, dims, g.element_type_of(x))
        return [self._emit(g.ResizeOp(
            x, scales, sizes, axes=axes, mode=mode, coordinate_mode=coord,
            nearest_mode=nearest, keep_aspect_ratio_policy=policy, result_type=result_type))]

    def _one_hot(self, node, attrs, opset):
        ind, depth, values = (self._any_value(n) for n in node.input[:3])
        rank = len(g.shape_of(ind)) + 1
        axis = _norm_axis(int(attrs.get("axis", -1)), rank)
        known = None
        if node.input[1] in self.consts:
            known = [int(_scalar_value(self.consts[node.input[1]], "the depth"))]
        return [self._emit(g.OneHotOp(ind, depth, values, axis,
                                      None if known is None else known[0]))]

    def _non_zero(self, node, attrs, opset):
        return [self._emit(g.NonZeroOp(self._any_value(node.input[0])))]


def _scalar_value(array: np.ndarray, what: str) -> float | int | bool:
    """The one value of a single-element constant."""
    if array.size != 1:
        raise _NodeError(f"{what} must be a single value, got shape {list(array.shape)}")
    return array.reshape(-1)[0].item()


def _element_dtype(elt: Attribute) -> np.dtype:
    try:
        return g.numpy_dtype_of(elt)
    except ValueError as e:
        raise _NodeError(str(e)) from None


_SHAPE_HANDLERS: dict[str, str] = {
    "Shape": "_shape", "Size": "_size", "Reshape": "_reshape_any",
    "Flatten": "_flatten_any", "Squeeze": "_squeeze", "Unsqueeze": "_unsqueeze",
    "Split": "_split", "Slice": "_slice", "Gather": "_gather",
    "GatherElements": "_gather", "GatherND": "_gather_nd", "ScatterND": "_scatter",
    "ScatterElements": "_scatter", "Expand": "_expand", "Tile": "_tile", "Pad": "_pad",
    "Range": "_range", "ConstantOfShape": "_constant_of_shape", "Trilu": "_trilu",
    "CumSum": "_cumsum", "TopK": "_topk", "Resize": "_resize", "OneHot": "_one_hot",
    "NonZero": "_non_zero"}
"""ONNX op type -> _ShapeOpsMixin method."""

_SHAPE_NON_DATA_INPUTS: dict[str, tuple[int, ...]] = {
    "Reshape": (1,), "Squeeze": (1,), "Unsqueeze": (1,), "Split": (1,),
    "Slice": (1, 2, 3, 4), "Gather": (1,), "GatherElements": (1,), "GatherND": (1,),
    "ScatterND": (1,), "ScatterElements": (1,), "Expand": (1,), "Tile": (1,),
    "Pad": (1, 3), "ConstantOfShape": (0,), "Trilu": (1,), "CumSum": (1,), "TopK": (1,),
    "Resize": (1, 2, 3), "OneHot": (0, 1, 2), "Range": (0, 1, 2)}
"""Integer (or otherwise non-float) inputs of those ops that the float check skips."""


# ---- import-time folding (c1-conformance-a): integer shape computations on constants
_FOLDABLE_OPS = frozenset({
    "Shape", "Size", "Neg", "Abs", "Range", "ConstantOfShape", "Concat", "Slice", "Gather",
    "Unsqueeze", "Squeeze", "Reshape", "Add", "Sub", "Mul", "Div", "Max", "Min", "Equal",
    "Less", "Greater", "Where", "Cast", "Identity", "ReduceProd", "ReduceSum", "Mod",
    "Floor", "Ceil", "Sqrt", "Pow", "Not", "And", "Or", "LessOrEqual", "GreaterOrEqual",
    "ReduceMax", "ReduceMin", "Expand", "Tile", "Transpose", "Flatten", "Sign"})
_FOLD_MAX_ELEMENTS = 64
# ---- end import-time folding


def _small_fold_result(node: onnx.NodeProto, inputs: dict[str, np.ndarray]) -> bool:
    """Whether folding `node` yields at most _FOLD_MAX_ELEMENTS elements, for the ops
    whose result size is set by their input values (the rest are bounded by their
    inputs), so that a huge ConstantOfShape or Range is never evaluated."""
    values = [inputs.get(n) for n in node.input]
    try:
        if node.op_type == "ConstantOfShape" and values[0] is not None:
            return bool(np.all(values[0] >= 0)) and \
                int(np.prod(values[0].astype(object))) <= _FOLD_MAX_ELEMENTS
        if node.op_type == "Range" and all(v is not None and v.size == 1 for v in values):
            start, limit, delta = (float(v.reshape(-1)[0]) for v in values)  # type: ignore
            count = (limit - start) / delta if delta else float("inf")
            return bool(np.isfinite(count)) and count <= _FOLD_MAX_ELEMENTS
    except (TypeError, ValueError, IndexError):
        return False
    return True


# --------------------------------------------------------------------------- importer


@dataclass
class _Importer(_ShapeOpsMixin):
    proto: onnx.ModelProto
    source: str
    weights_key: str | None

    def __post_init__(self) -> None:
        self.graph = self.proto.graph
        self.opsets = _opsets(self.proto)
        self.initializers = {i.name: i for i in self.graph.initializer}
        self.consts: dict[str, np.ndarray] = {}
        self.inferred = self._infer_shapes()
        self.values: dict[str, SSAValue] = {}
        self.block = Block()
        self.store = weights.WeightStore()

    # ---- checks before building

    def _infer_shapes(self) -> dict[str, tuple[int | None, ...]]:
        """Shapes from onnx's shape inference (None for unknown dims); a cross-check only."""
        try:
            inferred = onnx.shape_inference.infer_shapes(self.proto).graph
        except Exception:
            return {}
        shapes: dict[str, tuple[int | None, ...]] = {}
        for info in [*inferred.input, *inferred.value_info, *inferred.output]:
            t = info.type.tensor_type
            if t.HasField("shape"):
                shapes[info.name] = tuple(
                    d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)
        for init in self.graph.initializer:
            shapes[init.name] = tuple(init.dims)
        return shapes

    def _collect_constants(self) -> None:
        for name, init in self.initializers.items():
            self.consts[name] = numpy_helper.to_array(init)
        for graph in _all_graphs(self.graph)[1:]:
            for init in graph.initializer:
                self.consts[init.name] = numpy_helper.to_array(init)
        for node in _all_nodes(self.graph):
            if node.op_type == "Constant" and not node.domain:
                try:
                    self.consts[node.output[0]] = _constant_value(node)
                except _NodeError:
                    pass
            elif node.op_type == "Identity" and node.input[0] in self.consts:
                self.consts[node.output[0]] = self.consts[node.input[0]]
        self._fold_shape_computations()

    # ---- import-time folding of small shape computations (c1-conformance-a)

    def _fold_shape_computations(self) -> None:
        """Evaluate (with onnx.reference, at compile time) the small integer computations of
        the top-level graph whose inputs are constants or shapes of statically shaped
        tensors, so that handlers see them as constants (e.g. a Reshape target built from
        Shape/Slice/Concat, ReduceMean axes from Range)."""
        for node in self.graph.node:
            if node.domain or node.op_type not in _FOLDABLE_OPS:
                continue
            if any(o in self.consts for o in node.output if o):
                continue
            if node.op_type in ("Shape", "Size"):
                shape = self.inferred.get(node.input[0])
                if shape is None or any(d is None or d < 0 for d in shape) or \
                        int(np.prod(shape, dtype=object)) > _FOLD_MAX_ELEMENTS:
                    continue
                inputs = {node.input[0]: np.zeros(shape, dtype=np.int8)}
            else:
                names = [n for n in node.input if n]
                if not names or any(n not in self.consts for n in names):
                    continue
                inputs = {n: self.consts[n] for n in names}
                if any(a.size > _FOLD_MAX_ELEMENTS for a in inputs.values()):
                    continue
            if not _small_fold_result(node, inputs):
                continue
            try:
                from onnx.reference import ReferenceEvaluator

                ref = ReferenceEvaluator(node, opsets={"": self.opsets.get("ai.onnx", 0)})
                outputs = ref.run(None, inputs)
            except Exception:
                continue
            for name, value in zip(node.output, outputs, strict=False):
                value = np.asarray(value)
                if (name and value.dtype.name in g.ELEMENT_TYPES
                        and value.size <= _FOLD_MAX_ELEMENTS and value.dtype.kind in "iub"):
                    self.consts[name] = value

    # ---- end import-time folding

    def _check_io(self) -> None:
        """Every graph input and output is a tensor of a supported element type, and every
        input has a rank."""
        types, shapes = [], []
        for kind, infos in (("input", self.graph.input), ("output", self.graph.output)):
            for info in infos:
                if info.name in self.initializers:
                    continue
                if not info.type.HasField("tensor_type"):
                    types.append(f"{kind} '{info.name}' is not a tensor")
                elif _element_type(info.type.tensor_type.elem_type) is None:
                    types.append(f"{kind} '{info.name}' has element type "
                                 f"{_dtype_name(info.type.tensor_type.elem_type)}")
                elif kind == "input" and not info.type.tensor_type.HasField("shape"):
                    shapes.append(f"input '{info.name}' has no shape")
        if types:
            raise CompileError(
                f"{self.source}: unsupported tensor element type: "
                f"{'; '.join(types)} (supported: {', '.join(g.ELEMENT_TYPES)}).")
        if shapes:
            raise CompileError(f"{self.source}: {'; '.join(shapes)}: Kiln compiles for a "
                               "known rank of every input (declare its dims, `?` allowed).")

    def _collect_unsupported(self) -> list[UnsupportedOp]:
        used = {name for node in _all_nodes(self.graph) for name in node.input}
        used |= {o.name for graph in _all_graphs(self.graph) for o in graph.output}
        unsupported = []
        for node in _all_nodes(self.graph):
            domain = node.domain or "ai.onnx"
            opset = self.opsets.get(domain, 0)
            if domain != "ai.onnx" or node.op_type not in _HANDLERS:
                reason = "no importer rule" if domain == "ai.onnx" else \
                    f"no importer rule for domain '{node.domain}'"
            else:
                reason = _opset_reason(node.op_type, opset) or \
                    self._check_node(node, opset, used)
            if reason:
                unsupported.append(UnsupportedOp(node.op_type, opset, node.name, reason))
        return unsupported

    def _check_node(self, node: onnx.NodeProto, opset: int, used: set[str]) -> str | None:
        attrs = _attrs(node)
        skip = _NON_DATA_INPUTS.get(node.op_type, ())
        skip = skip + _SHAPE_NON_DATA_INPUTS.get(node.op_type, ())
        for i, name in enumerate(node.input):
            if name and i not in skip and name in self.consts:
                dtype = self.consts[name].dtype
                if dtype.name not in g.ELEMENT_TYPES:
                    return (f"input '{name}' has element type {dtype}, which is not "
                            "supported")
        op = node.op_type
        if op == "Constant":
            try:
                _constant_value(node)
            except _NodeError as e:
                return str(e)
        if op in ("Conv", "MaxPool", "AveragePool"):
            auto_pad = _text(attrs.get("auto_pad", "NOTSET"))
            if auto_pad not in _AUTO_PADS:
                return f"unknown auto_pad '{auto_pad}'"
            strides = attrs.get("strides")
            if auto_pad.startswith("SAME") and strides and any(s != 1 for s in strides):
                shape = self.inferred.get(node.input[0])
                if shape is None or any(d is None for d in shape[2:]):
                    return (f"auto_pad {auto_pad} with strides {list(strides)} needs static "
                            "spatial input dims")
        if op == "BatchNormalization":
            if not attrs.get("training_mode", 0) and any(o in used for o in node.output[1:]):
                return "extra outputs need training_mode = 1 (opset >= 14)"
        if op in ("LayerNormalization", "RMSNormalization"):
            stash = int(attrs.get("stash_type", 1))
            if _element_type(stash) is None or not g.is_float_type(_element_type(stash)):
                return f"stash_type {_dtype_name(stash)} is not a supported float type"
        if op == "Dropout":
            mode = self.consts.get(node.input[2]) if len(node.input) > 2 else None
            ratio_name = node.input[1] if len(node.input) > 1 and node.input[1] else None
            ratio = self.consts.get(ratio_name) if ratio_name else np.float32(0.5)
            if any(v is not None and np.size(v) != 1 for v in (mode, ratio)):
                return "ratio and training_mode must be single values"
            if mode is not None and bool(mode) and ratio is not None and float(ratio) != 0:
                return "training mode with ratio > 0 (random masks) is not supported"
        if op in ew.BY_ONNX or op in _ELEMENTWISE_SPECIAL:
            return _check_elementwise(node, attrs)
        return None

    # ---- building

    def run(self) -> ModuleOp:
        self._check_io()
        self._collect_constants()
        unsupported = self._collect_unsupported()
        if unsupported:
            n = len(unsupported)
            raise CompileError(
                f"{self.source}: {n} unsupported operator{'s' if n > 1 else ''}",
                unsupported=unsupported)
        check_semantics(self.proto, self.source)

        arg_attrs = []
        for info in self.graph.input:
            if info.name in self.initializers:
                continue
            shape, dims = _input_shape(info)
            elt = _element_type(info.type.tensor_type.elem_type) or f32
            arg = self.block.insert_arg(TensorType(elt, shape), len(self.block.args))
            arg.name_hint = ssa_name_hint(info.name)
            self.values[info.name] = arg
            arg_attrs.append(DictionaryAttr({
                g.ARG_NAME_ATTR: StringAttr(info.name),
                g.ARG_DIMS_ATTR: ArrayAttr([StringAttr(d) for d in dims])}))

        for node in self.graph.node:
            self._import_node(node)

        results = [self._output_value(o.name) for o in self.graph.output]
        self._cross_check_outputs(results)
        self.block.add_op(func.ReturnOp(*results))
        main = func.FuncOp(
            "main", FunctionType.from_lists([a.type for a in self.block.args],
                                            [r.type for r in results]),
            Region(self.block), arg_attrs=ArrayAttr(arg_attrs),
            res_attrs=ArrayAttr([DictionaryAttr({g.ARG_NAME_ATTR: StringAttr(o.name)})
                                 for o in self.graph.output]))
        module = ModuleOp([main])
        if self.weights_key:
            weights.register_as(self.store, self.weights_key)
            module.attributes[weights.WEIGHTS_ATTR] = StringAttr(self.weights_key)
        else:
            weights.attach(module, self.store)
        # keep the store alive as long as the module (the registry holds it weakly)
        module.__dict__["_kiln_weight_store"] = self.store
        _verify(module)
        return module

    def _output_value(self, name: str) -> SSAValue:
        try:
            return self._value(name)
        except _NodeError as e:
            raise CompileError(f"{self.source}: graph output '{name}': {e}") from None

    def _import_node(self, node: onnx.NodeProto) -> None:
        """Import one node; a node the handler rejects is a CompileError naming it."""
        opset = self.opsets.get("ai.onnx", 0)
        first_new = len(self.block.ops)
        try:
            outputs = _HANDLERS[node.op_type](self, node, _attrs(node), opset)
        except (_NodeError, ValueError) as e:
            node_name = f"'{node.name}'" if node.name else "<unnamed>"
            raise CompileError(
                f"{self.source}: cannot import {node.op_type} node {node_name}: {e}",
                unsupported=[UnsupportedOp(node.op_type, opset, node.name, str(e))]) from None
        new_ops = list(self.block.ops)[first_new:]
        _verify_node_ops(node, new_ops, self.source, opset)
        if node.name:
            for op in new_ops:
                op.location = NameLoc(StringAttr(node.name), NoneAttr())
        for name, value in zip(node.output, outputs, strict=False):
            if name:
                self.values[name] = value
                if isinstance(value.owner, Operation) and value.name_hint is None:
                    value.name_hint = ssa_name_hint(name)

    def _cross_check_outputs(self, results: Sequence[SSAValue]) -> None:
        for info, value in zip(self.graph.output, results, strict=True):
            expected = self.inferred.get(info.name)
            actual = g.shape_of(value)
            if expected is None:
                continue
            if len(expected) != len(actual) or any(
                    e is not None and a != g.DYN and e != a
                    for e, a in zip(expected, actual, strict=True)):
                raise CompileError(
                    f"{self.source}: output '{info.name}' imports with shape "
                    f"{_show(actual)} but ONNX shape inference gives {_show(expected)}; "
                    "the importer or the model is wrong.")

    def _emit(self, op: Operation) -> SSAValue:
        self.block.add_op(op)
        return op.results[0]

    def _value(self, name: str) -> SSAValue:
        """The SSA value of an ONNX tensor, materializing constants on first use."""
        if name in self.values:
            return self.values[name]
        if name not in self.consts:
            raise _NodeError(f"tensor '{name}' is not defined")
        array = self.consts[name]
        if array.dtype.name not in g.ELEMENT_TYPES:
            raise _NodeError(f"tensor '{name}' has element type {array.dtype}, which is "
                             "not supported")
        # small integer initializers are shape data (Reshape targets, axes, indices):
        # inline, so that folding and the symbolic shape analysis see their values
        shape_like = array.dtype.kind in "iub" and array.size <= MAX_INLINE_ELEMENTS
        if (name in self.initializers and not shape_like) or array.size > MAX_INLINE_ELEMENTS:
            stored = self.store.add(name, array)
            value = self._emit(g.WeightOp(stored, g.tensor_type(
                array.shape, g.element_type_for(array.dtype))))
        else:
            value = self._emit(g.ConstantOp(dense_attr(array)))
        value.name_hint = ssa_name_hint(name)
        self.values[name] = value
        return value

    def _const_ints(self, name: str) -> list[int]:
        return [int(v) for v in self.consts[name].reshape(-1).tolist()]

    # ---- op rules (each returns the values of the node's outputs)

    def _binary(self, node, attrs, opset):
        cls = _BINARY[node.op_type]
        return [self._emit(cls(self._value(node.input[0]), self._value(node.input[1])))]

    def _unary(self, node, attrs, opset):
        return [self._emit(_UNARY[node.op_type](self._value(node.input[0])))]

    def _forward(self, node, attrs, opset):
        return [self._value(node.input[0])]

    def _constant(self, node, attrs, opset):
        # materialized where it is used (it may be an attribute in disguise)
        return []

    def _gemm(self, node, attrs, opset):
        a, b = self._value(node.input[0]), self._value(node.input[1])
        c = self._value(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        return [self._emit(g.GemmOp(
            a, b, c,
            alpha=float(attrs.get("alpha", 1.0)), beta=float(attrs.get("beta", 1.0)),
            trans_a=bool(attrs.get("transA", 0)), trans_b=bool(attrs.get("transB", 0))))]

    def _matmul(self, node, attrs, opset):
        return [self._emit(g.MatMulOp(self._value(node.input[0]),
                                      self._value(node.input[1])))]

    def _conv(self, node, attrs, opset):
        x, w = self._value(node.input[0]), self._value(node.input[1])
        b = self._value(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        kernel = list(attrs.get("kernel_shape", g.shape_of(w)[2:]))
        strides, pads, dilations = self._window(attrs, g.shape_of(x), kernel)
        return [self._emit(g.ConvOp(x, w, b, strides=strides, pads=pads, dilations=dilations,
                                    group=int(attrs.get("group", 1))))]

    def _window(self, attrs, x: Sequence[int], kernel: Sequence[int]):
        """strides, explicit pads and dilations of a conv/pool node."""
        n = len(kernel)
        strides = list(attrs.get("strides", [1] * n))
        dilations = list(attrs.get("dilations", [1] * n))
        pads = list(attrs.get("pads", [0] * (2 * n)))
        auto_pad = _text(attrs.get("auto_pad", "NOTSET"))
        if auto_pad == "VALID":
            pads = [0] * (2 * n)
        elif auto_pad.startswith("SAME"):
            pads = _same_pads(auto_pad, x[2:], kernel, strides, dilations)
        return strides, pads, dilations

    def _pool(self, node, attrs, opset):
        x = self._value(node.input[0])
        kernel = list(attrs["kernel_shape"])
        strides, pads, dilations = self._window(attrs, g.shape_of(x), kernel)
        # with SAME padding the output size is ceil(in / stride) whatever ceil_mode says
        ceil_mode = bool(attrs.get("ceil_mode", 0)) and not _text(
            attrs.get("auto_pad", "NOTSET")).startswith("SAME")
        if node.op_type == "MaxPool":
            return [self._emit(g.MaxPoolOp(x, kernel_shape=kernel, strides=strides, pads=pads,
                                           dilations=dilations, ceil_mode=ceil_mode))]
        include = IntegerAttr(int(attrs.get("count_include_pad", 0)), i64)
        return [self._emit(g.AvgPoolOp(x, kernel_shape=kernel, strides=strides, pads=pads,
                                       dilations=dilations, ceil_mode=ceil_mode,
                                       count_include_pad=include))]

    def _global_avg_pool(self, node, attrs, opset):
        return [self._emit(g.GlobalAvgPoolOp(self._value(node.input[0])))]

    def _batch_norm(self, node, attrs, opset):
        if attrs.get("training_mode", 0):
            return self._batch_norm_training(node, attrs, opset)
        x, scale, bias, mean, var = (self._value(n) for n in node.input[:5])
        return [self._emit(g.BatchNormOp(x, scale, bias, mean, var,
                                         float(attrs.get("epsilon", 1e-5))))]

    def _flatten(self, node, attrs, opset):
        x = self._value(node.input[0])
        shape = g.shape_of(x)
        axis = _flatten_axis(int(attrs.get("axis", 1)), len(shape))
        target = [_extent(shape[:axis]), _extent(shape[axis:])]
        if target.count(-1) > 1:
            raise _NodeError(f"cannot flatten {_show(shape)} at axis {axis}: both halves "
                             "have dynamic dims")
        return [self._emit(g.ReshapeOp(x, target))]

    def _reshape(self, node, attrs, opset):
        x = self._value(node.input[0])
        target = _resolve_reshape(g.shape_of(x), self._const_ints(node.input[1]),
                                  bool(attrs.get("allowzero", 0)))
        return [self._emit(g.ReshapeOp(x, target))]

    def _transpose(self, node, attrs, opset):
        x = self._value(node.input[0])
        rank = len(g.shape_of(x))
        perm = [int(p) + (rank if p < 0 else 0)
                for p in attrs.get("perm", list(reversed(range(rank))))]
        if sorted(perm) != list(range(rank)):
            raise _NodeError(f"perm {list(attrs['perm'])} is not a permutation of the input's "
                             f"{rank} dims")
        return [self._emit(g.TransposeOp(x, perm))]

    def _concat(self, node, attrs, opset):
        inputs = [self._value(n) for n in node.input if n]
        if not inputs:
            raise _NodeError("Concat needs at least one input")
        axis = _norm_axis(int(attrs["axis"]), len(g.shape_of(inputs[0])))
        return [self._emit(g.ConcatOp(inputs, axis))]

    def _softmax(self, node, attrs, opset):
        cls = _SOFTMAX_FAMILY[node.op_type]
        x = self._value(node.input[0])
        shape = g.shape_of(x)
        rank = len(shape)
        axis = _norm_axis(int(attrs.get("axis", -1 if opset >= 13 else 1)), rank)
        if opset >= 13 or axis == rank - 1:
            return [self._emit(cls(x, axis))]
        # opset < 13: softmax over the 2-D coercion [prod(x[:axis]), prod(x[axis:])]
        flat = [_extent(shape[:axis]), _extent(shape[axis:])]
        back = [-1 if d == g.DYN else d for d in shape]
        if flat.count(-1) > 1 or back.count(-1) > 1:
            raise _NodeError(f"opset {opset} Softmax over {_show(shape)} at axis {axis} "
                             "needs at most one dynamic dim")
        y = self._emit(cls(self._emit(g.ReshapeOp(x, flat)), 1))
        return [self._emit(g.ReshapeOp(y, back))]

    # ---- table-driven elementwise ops (dialects/elementwise.py)

    def _elementwise(self, node, attrs, opset):
        rule = ew.BY_ONNX[node.op_type]
        inputs = [self._value(n) for n in node.input if n]
        params = [float(attrs.get(name, default)) for name, default in rule.params]
        to = None
        if node.op_type == "Cast":
            to = _element_type(int(attrs["to"]))
        elif node.op_type == "CastLike":
            to = g.element_type_of(inputs[1])
            inputs = inputs[:1]
        return [self._emit(g.ElementwiseOp(rule.kind, inputs, params, to))]

    def _bitshift(self, node, attrs, opset):
        kind = "shift_left" if _text(attrs["direction"]) == "LEFT" else "shift_right"
        return [self._emit(g.ElementwiseOp(kind, [self._value(n) for n in node.input]))]

    def _clip(self, node, attrs, opset):
        """Clip(x, min?, max?) = min(max(x, min), max), as numpy.clip (opset >= 11)."""
        x = self._value(node.input[0])
        if len(node.input) > 1 and node.input[1]:
            x = self._emit(g.ElementwiseOp("max", [x, self._value(node.input[1])]))
        if len(node.input) > 2 and node.input[2]:
            x = self._emit(g.ElementwiseOp("min", [x, self._value(node.input[2])]))
        return [x]


    # ---- reductions and NN ops (ReduceX, ArgMax/Min, softmax family, pooling, norms, ...)

    def _reduce(self, node, attrs, opset):
        x = self._value(node.input[0])
        rank = len(g.shape_of(x))
        kind = _REDUCE_KINDS[node.op_type]
        keepdims = bool(attrs.get("keepdims", 1))
        axes_name = node.input[1] if len(node.input) > 1 and node.input[1] else None
        if axes_name is not None and axes_name not in self.consts:
            runtime = self._value(axes_name)
            if g.shape_of(runtime) != (0,):
                if len(g.shape_of(runtime)) != 1 or g.shape_of(runtime)[0] == g.DYN:
                    raise _NodeError("a run-time axes input needs a static 1-D shape")
                return [self._emit(g.ReduceOp(x, kind, keepdims=keepdims,
                                              axes_input=runtime))]
            axes: list[int] = []
        elif axes_name is not None:
            axes = self._const_ints(axes_name)
        else:
            axes = [int(a) for a in attrs.get("axes", [])]
        if not axes:
            if rank == 0 and kind not in ("sum", "mean", "max", "min", "prod"):
                raise _NodeError(f"{node.op_type} of a rank-0 tensor is not supported")
            if attrs.get("noop_with_empty_axes", 0) or rank == 0:
                return [x]
            axes = list(range(rank))
        return [self._emit(g.ReduceOp(x, kind, _norm_axes(axes, rank, node.op_type),
                                      keepdims))]

    def _arg_reduce(self, node, attrs, opset):
        x = self._value(node.input[0])
        axis = _norm_axes([int(attrs.get("axis", 0))], len(g.shape_of(x)), node.op_type)[0]
        return [self._emit(g.ArgReduceOp(
            x, "max" if node.op_type == "ArgMax" else "min", axis,
            bool(attrs.get("keepdims", 1)), bool(attrs.get("select_last_index", 0))))]

    def _global_pool_reduce(self, node, attrs, opset):
        """GlobalMaxPool / GlobalLpPool: a reduction over the spatial dims, kept as 1."""
        x = self._value(node.input[0])
        rank = len(g.shape_of(x))
        if rank < 3:
            raise _NodeError(f"input rank must be >= 3, got {rank}")
        if node.op_type == "GlobalMaxPool":
            kind = "max"
        else:
            kind = {1: "l1", 2: "l2"}.get(int(attrs.get("p", 2)), "")
            if not kind:
                spatial = g.shape_of(x)[2:]
                if g.DYN in spatial:
                    raise _NodeError("GlobalLpPool with p not 1 or 2 needs static spatial dims")
                n = len(spatial)
                return [self._emit(g.LpPoolOp(
                    x, kernel_shape=spatial, strides=[1] * n, pads=[0] * (2 * n),
                    dilations=[1] * n, p=IntegerAttr(int(attrs["p"]), i64)))]
        return [self._emit(g.ReduceOp(x, kind, list(range(2, rank)), True))]

    def _lp_pool(self, node, attrs, opset):
        x = self._value(node.input[0])
        kernel = list(attrs["kernel_shape"])
        strides, pads, dilations = self._window(attrs, g.shape_of(x), kernel)
        ceil_mode = bool(attrs.get("ceil_mode", 0)) and not _text(
            attrs.get("auto_pad", "NOTSET")).startswith("SAME")
        return [self._emit(g.LpPoolOp(x, kernel_shape=kernel, strides=strides, pads=pads,
                                      dilations=dilations, ceil_mode=ceil_mode,
                                      p=IntegerAttr(int(attrs.get("p", 2)), i64)))]

    def _scalar(self, value: float, like: SSAValue) -> SSAValue:
        """A rank-0 constant of `like`'s element type."""
        dtype = g.numpy_dtype_of(g.element_type_of(like))
        return self._emit(g.ConstantOp(dense_attr(np.array(value, dtype=dtype))))

    def _normalize(self, x: SSAValue, axes: Sequence[int], epsilon: float) -> SSAValue:
        """(x - mean) / sqrt(var + epsilon) over `axes` (population variance)."""
        mean = self._emit(g.ReduceOp(x, "mean", axes, True))
        centered = self._emit(g.SubOp(x, mean))
        var = self._emit(g.ReduceOp(self._emit(g.MulOp(centered, centered)), "mean", axes,
                                    True))
        denom = self._emit(g.SqrtOp(self._emit(g.AddOp(var, self._scalar(epsilon, x)))))
        return self._emit(g.DivOp(centered, denom))

    def _per_channel(self, v: SSAValue, rank: int) -> SSAValue:
        """A [C] tensor as [C, 1, ...] so that it broadcasts along dim 1 of a rank-`rank` x."""
        c = _vector_length(v, "a per-channel parameter")
        return self._emit(g.ReshapeOp(v, [-1 if c == g.DYN else c, *[1] * (rank - 2)]))

    def _instance_norm(self, node, attrs, opset):
        x = self._value(node.input[0])
        rank = len(g.shape_of(x))
        if rank < 3:
            raise _NodeError(f"input rank must be >= 3, got {rank}")
        y = self._normalize(x, list(range(2, rank)), float(attrs.get("epsilon", 1e-5)))
        scale = self._per_channel(self._value(node.input[1]), rank)
        bias = self._per_channel(self._value(node.input[2]), rank)
        return [self._emit(g.AddOp(self._emit(g.MulOp(y, scale)), bias))]

    def _mvn(self, node, attrs, opset):
        x = self._value(node.input[0])
        rank = len(g.shape_of(x))
        axes = _norm_axes([int(a) for a in attrs.get("axes", [0, 2, 3])], rank, node.op_type)
        return [self._normalize(x, axes, 1e-9)]

    def _batch_norm_training(self, node, attrs, opset):
        """BatchNormalization with training_mode = 1: batch statistics, updated running
        mean/var as extra outputs."""
        x, scale, bias, mean, var = (self._value(n) for n in node.input[:5])
        rank = len(g.shape_of(x))
        axes = [0, *range(2, rank)]
        eps = float(attrs.get("epsilon", 1e-5))
        momentum = float(attrs.get("momentum", 0.9))
        y = self._normalize(x, axes, eps)
        y = self._emit(g.AddOp(self._emit(g.MulOp(y, self._per_channel(scale, rank))),
                               self._per_channel(bias, rank)))
        batch_mean = self._emit(g.ReduceOp(x, "mean", axes, False))
        centered = self._emit(g.SubOp(x, self._per_channel(batch_mean, rank)))
        batch_var = self._emit(g.ReduceOp(self._emit(g.MulOp(centered, centered)), "mean",
                                          axes, False))

        def blend(running: SSAValue, current: SSAValue) -> SSAValue:
            a = self._emit(g.MulOp(running, self._scalar(momentum, x)))
            b = self._emit(g.MulOp(current, self._scalar(1.0 - momentum, x)))
            return self._emit(g.AddOp(a, b))

        return [y, blend(mean, batch_mean), blend(var, batch_var)]

    def _max_pool(self, node, attrs, opset):
        """MaxPool; its optional Indices output is a graph.max_pool_indices."""
        values = self._pool(node, attrs, opset)
        if len(node.output) < 2 or not node.output[1]:
            return values
        pool = values[0].owner
        assert isinstance(pool, g.MaxPoolOp)
        return [*values, self._emit(g.MaxPoolIndicesOp(
            self._value(node.input[0]), kernel_shape=g.ints(pool.kernel_shape),
            strides=g.ints(pool.strides), pads=g.ints(pool.pads),
            dilations=g.ints(pool.dilations), ceil_mode=bool(pool.ceil_mode.value.data),
            storage_order=int(attrs.get("storage_order", 0))))]

    def _dropout(self, node, attrs, opset):
        """Dropout is the identity at inference; a mask output or a run-time training flag
        needs graph.dropout (all-true mask; the flag is checked at run time)."""
        x = self._value(node.input[0])
        ratio_name = node.input[1] if len(node.input) > 1 and node.input[1] else None
        mode_name = node.input[2] if len(node.input) > 2 and node.input[2] else None
        runtime_mode = mode_name is not None and mode_name not in self.consts
        wants_mask = len(node.output) > 1 and bool(node.output[1])
        if not runtime_mode and not wants_mask:
            return [x]
        ratio = None
        if runtime_mode and ratio_name is not None:
            ratio = self._value(ratio_name)
        elif runtime_mode:
            ratio = self._emit(g.ConstantOp(dense_attr(np.array(0.5, np.float32))))
        mode = self._value(mode_name) if runtime_mode else None
        drop = g.DropoutOp(x, ratio, mode)
        self.block.add_op(drop)
        return [drop.output, drop.mask]

    def _lrn(self, node, attrs, opset):
        return [self._emit(g.LRNOp(self._value(node.input[0]), int(attrs["size"]),
                                   float(attrs.get("alpha", 1e-4)),
                                   float(attrs.get("beta", 0.75)),
                                   float(attrs.get("bias", 1.0))))]

    def _einsum(self, node, attrs, opset):
        inputs = [self._value(n) for n in node.input]
        equation = _normalize_einsum(_text(attrs["equation"]),
                                     [len(g.shape_of(v)) for v in inputs])
        return [self._emit(g.EinsumOp(inputs, equation))]

    def _conv_transpose(self, node, attrs, opset):
        x, w = self._value(node.input[0]), self._value(node.input[1])
        b = self._value(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        x_shape, w_shape = g.shape_of(x), g.shape_of(w)
        n = len(x_shape) - 2
        kernel = list(attrs.get("kernel_shape", w_shape[2:]))
        strides = list(attrs.get("strides", [1] * n))
        dilations = list(attrs.get("dilations", [1] * n))
        out_pad = list(attrs.get("output_padding", [0] * n))
        auto_pad = _text(attrs.get("auto_pad", "NOTSET"))
        output_shape = list(attrs.get("output_shape", []))[-n:] if "output_shape" in attrs \
            else None
        pads = list(attrs["pads"]) if "pads" in attrs and auto_pad in ("NOTSET", "VALID") \
            else None
        if auto_pad == "VALID":
            pads = [0] * (2 * n)
        spatial = x_shape[2:]
        if output_shape is None and pads is None and auto_pad.startswith("SAME"):
            if g.DYN in spatial:
                raise _NodeError(f"auto_pad {auto_pad} needs static spatial input dims")
            output_shape = [spatial[i] * strides[i] for i in range(n)]
        if output_shape is not None and g.DYN in spatial:
            raise _NodeError("output_shape needs static spatial input dims")
        full = [None if spatial[i] == g.DYN else
                strides[i] * (spatial[i] - 1) + out_pad[i] + (kernel[i] - 1) * dilations[i] + 1
                for i in range(n)]
        if pads is None:
            pads = [0] * (2 * n)
            if output_shape is not None:
                total = [full[i] - output_shape[i] for i in range(n)]  # type: ignore[operator]
                upper = auto_pad == "SAME_UPPER"
                pads = [t // 2 if upper else t - t // 2 for t in total] + \
                    [t - t // 2 if upper else t // 2 for t in total]
        if output_shape is not None:
            # the output extent is exactly output_shape: fold any rest into output_padding
            out_pad = [output_shape[i] - (full[i] - pads[i] - pads[n + i]) + out_pad[i]
                       for i in range(n)]  # type: ignore[operator]
        return [self._emit(g.ConvTransposeOp(
            x, w, b, strides=strides, pads=pads, dilations=dilations, output_padding=out_pad,
            group=int(attrs.get("group", 1))))]

    # ---- optimizer ops (graph.layer_norm, graph.gelu)

    def _layer_norm(self, node, attrs, opset):
        x = self._value(node.input[0])
        rank = len(g.shape_of(x))
        axis = _norm_axis(int(attrs.get("axis", -1)), rank)
        scale = self._value(node.input[1])
        bias = self._value(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        return [self._emit(g.LayerNormOp(x, scale, bias, axis,
                                         float(attrs.get("epsilon", 1e-5))))]

    # ---- layer/RMS normalization with stash type and statistics (c1-conformance-a)

    def _norm_stats(self, node, attrs, rms: bool) -> tuple[SSAValue, list[SSAValue]]:
        """The normalized x (in x's type) and [mean?, inv_std] (stash type, keepdims), as
        the ONNX function bodies of LayerNormalization/RMSNormalization compute them."""
        x = self._value(node.input[0])
        rank = len(g.shape_of(x))
        axis = _norm_axis(int(attrs.get("axis", -1)), rank)
        axes = list(range(axis, rank))
        eps = float(attrs.get("epsilon", 1e-5))
        stash = _element_type(int(attrs.get("stash_type", 1)))
        elt = g.element_type_of(x)
        xu = x if stash == elt else self._emit(g.ElementwiseOp("cast", [x], (), stash))
        stats = []
        if rms:
            centered = xu
        else:
            mean = self._emit(g.ReduceOp(xu, "mean", axes, True))
            centered = self._emit(g.SubOp(xu, mean))
            stats.append(mean)
        var = self._emit(g.ReduceOp(self._emit(g.MulOp(centered, centered)), "mean", axes,
                                    True))
        std = self._emit(g.SqrtOp(self._emit(g.AddOp(var, self._scalar(eps, xu)))))
        inv_std = self._emit(g.DivOp(self._scalar(1.0, xu), std))
        stats.append(inv_std)
        y = self._emit(g.MulOp(centered, inv_std))
        if stash != elt:
            y = self._emit(g.ElementwiseOp("cast", [y], (), elt))
        return y, stats

    def _layer_norm_any(self, node, attrs, opset):
        """LayerNormalization: the fused graph.layer_norm when only Y is used in x's own
        type (stash f32 on f32 data), else the ONNX function body (Mean, InvStdDev)."""
        x = self._value(node.input[0])
        stash = _element_type(int(attrs.get("stash_type", 1)))
        wants_stats = any(o for o in node.output[1:])
        axis = _norm_axis(int(attrs.get("axis", -1)), len(g.shape_of(x)))
        # graph.layer_norm needs static normalized dims (its scale/bias are checked
        # against them); the composition broadcasts like the ONNX function body
        static = g.DYN not in g.shape_of(x)[axis:]
        if not wants_stats and stash == g.element_type_of(x) and static:
            return self._layer_norm(node, attrs, opset)
        y, stats = self._norm_stats(node, attrs, rms=False)
        y = self._emit(g.MulOp(y, self._value(node.input[1])))
        if len(node.input) > 2 and node.input[2]:
            y = self._emit(g.AddOp(y, self._value(node.input[2])))
        return [y, *stats]

    def _rms_norm(self, node, attrs, opset):
        y, _ = self._norm_stats(node, attrs, rms=True)
        return [self._emit(g.MulOp(y, self._value(node.input[1])))]

    # ---- end layer/RMS normalization

    def _gelu(self, node, attrs, opset):
        return [self._emit(g.GeluOp(self._value(node.input[0]),
                                    _text(attrs.get("approximate", "none"))))]

    # ---- control flow and recurrent cells (If, Loop, Scan, LSTM, GRU, RNN)

    def _subgraph(self, body: onnx.GraphProto, arg_types: Sequence[Attribute]
                  ) -> tuple[Region, list[SSAValue]]:
        """Import a subgraph into a new region whose block takes `arg_types`.

        Names of enclosing scopes stay visible (captured values); constants the subgraph
        captures are materialized in the enclosing block first, so they are shared.
        """
        for name in _captured_names(body):
            if name not in self.values and name in self.consts:
                self._value(name)
        if len(body.input) != len(arg_types):
            raise _NodeError(f"subgraph '{body.name}' takes {len(body.input)} inputs, "
                             f"expected {len(arg_types)}")
        outer_block, outer_values = self.block, self.values
        block = Block(arg_types=list(arg_types))
        self.block, self.values = block, dict(outer_values)
        try:
            for info, arg in zip(body.input, block.args, strict=True):
                arg.name_hint = info.name
                self.values[info.name] = arg
            for node in body.node:
                self._import_node(node)
            results = [self._value(o.name) for o in body.output]
            block.add_op(g.YieldOp(*results))
        finally:
            self.block, self.values = outer_block, outer_values
        return Region(block), results

    def _bool_scalar(self, name: str, what: str) -> SSAValue:
        value = self._value(name)
        if g.element_type_of(value) != IntegerType(1) or any(d != 1 for d in
                                                             g.shape_of(value)):
            raise _NodeError(f"{what} must be a one-element bool tensor, got {value.type}")
        return value

    def _if(self, node, attrs, opset):
        cond = self._bool_scalar(node.input[0], "the condition")
        then_region, then_values = self._subgraph(attrs["then_branch"], [])
        else_region, else_values = self._subgraph(attrs["else_branch"], [])
        if len(then_values) != len(else_values):
            raise _NodeError("the branches have different numbers of outputs")
        types = []
        for i, (a, b) in enumerate(zip(then_values, else_values, strict=True)):
            if g.element_type_of(a) != g.element_type_of(b) or \
                    len(g.shape_of(a)) != len(g.shape_of(b)):
                raise _NodeError(f"output {i} of the branches differs in element type or "
                                 f"rank ({a.type} vs {b.type})")
            types.append(g.join_types(a.type, b.type))
        op = g.IfOp(cond, types, then_region, else_region)
        self.block.add_op(op)
        return list(op.outputs)

    def _loop(self, node, attrs, opset):
        inputs = list(node.input) + [""] * (2 - len(node.input))
        max_trip = self._value(inputs[0]) if inputs[0] else None
        if max_trip is not None and (g.element_type_of(max_trip) != i64 or any(
                d != 1 for d in g.shape_of(max_trip))):
            raise _NodeError(f"the trip count must be a one-element int64 tensor, got "
                             f"{max_trip.type}")
        cond = self._bool_scalar(inputs[1], "the condition") if inputs[1] else None
        if max_trip is None and cond is None:
            raise _NodeError("a Loop with neither a trip count nor a condition never ends")
        inits = [self._value(n) for n in inputs[2:]]
        body = attrs["body"]
        scalar_i64, scalar_i1 = g.tensor_type([], i64), g.tensor_type([], IntegerType(1))
        region, outs = self._subgraph(body, [scalar_i64, scalar_i1,
                                             *[v.type for v in inits]])
        n = len(inits)
        if len(outs) < n + 1:
            raise _NodeError(f"the body yields {len(outs)} values, expected at least {n + 1}")
        block = region.blocks.first
        assert block is not None
        yield_op = block.last_op
        assert isinstance(yield_op, g.YieldOp)
        cond_out = outs[0]
        if cond_out.type != scalar_i1:
            if g.element_type_of(cond_out) != IntegerType(1) or any(
                    d != 1 for d in g.shape_of(cond_out)):
                raise _NodeError(f"the body's condition output must be a one-element bool "
                                 f"tensor, got {cond_out.type}")
            reshape = g.ReshapeOp(cond_out, [])
            block.insert_op_before(reshape, yield_op)
            yield_op.operands[0] = reshape.result
        for i, (init, out) in enumerate(zip(inits, outs[1:n + 1], strict=True)):
            if not g.compatible_types(init.type, out.type):
                raise _NodeError(f"loop-carried value {i} changes type from {init.type} to "
                                 f"{out.type}; Kiln needs loop-carried shapes that do not "
                                 "change")
        trips = g.DYN
        if max_trip is not None and cond is None and inputs[0] in self.consts:
            trips = max(0, int(self.consts[inputs[0]].reshape(-1)[0]))
        scans = [g.tensor_type([trips, *g.shape_of(v)], g.element_type_of(v))
                 for v in outs[n + 1:]]
        op = g.LoopOp(max_trip, cond, inits, [v.type for v in inits] + scans, region)
        self.block.add_op(op)
        return list(op.outputs)

    def _scan(self, node, attrs, opset):
        m = int(attrs["num_scan_inputs"])
        values = [self._value(n) for n in node.input]
        if not 1 <= m <= len(values):
            raise _NodeError(f"num_scan_inputs {m} does not fit the {len(values)} inputs")
        n = len(values) - m
        states, xs = values[:n], values[n:]
        in_axes = [int(a) for a in attrs.get("scan_input_axes", [0] * m)]
        in_axes = [a + len(g.shape_of(x)) if a < 0 else a
                   for a, x in zip(in_axes, xs, strict=True)]
        in_dirs = [int(d) for d in attrs.get("scan_input_directions", [0] * m)]
        slices = []
        trip = g.DYN
        for x, axis in zip(xs, in_axes, strict=True):
            shape = g.shape_of(x)
            if not 0 <= axis < len(shape):
                raise _NodeError(f"scan input axis {axis} out of range for {x.type}")
            if shape[axis] != g.DYN:
                trip = shape[axis]
            slices.append(g.tensor_type(shape[:axis] + shape[axis + 1:],
                                        g.element_type_of(x)))
        region, outs = self._subgraph(attrs["body"], [*(v.type for v in states), *slices])
        k = len(outs) - n
        out_axes = [int(a) for a in attrs.get("scan_output_axes", [0] * k)]
        out_axes = [a + len(g.shape_of(v)) + 1 if a < 0 else a
                    for a, v in zip(out_axes, outs[n:], strict=True)]
        out_dirs = [int(d) for d in attrs.get("scan_output_directions", [0] * k)]
        for i, (init, out) in enumerate(zip(states, outs[:n], strict=True)):
            if not g.compatible_types(init.type, out.type):
                raise _NodeError(f"state {i} changes type from {init.type} to {out.type}")
        types = [v.type for v in states]
        for v, axis in zip(outs[n:], out_axes, strict=True):
            shape = list(g.shape_of(v))
            shape.insert(axis, trip)
            types.append(g.tensor_type(shape, g.element_type_of(v)))
        op = g.ScanOp(states, xs, types, region, input_axes=in_axes,
                      input_directions=in_dirs, output_axes=out_axes,
                      output_directions=out_dirs)
        self.block.add_op(op)
        return list(op.outputs)

    def _rnn(self, node, attrs, opset):
        kind = node.op_type.lower()
        names = list(node.input) + [""] * (8 - len(node.input))

        def opt(i: int) -> SSAValue | None:
            return self._value(names[i]) if names[i] else None

        layout = int(attrs.get("layout", 0))
        x, w, r = (self._value(n) for n in names[:3])
        if any(len(g.shape_of(v)) != 3 for v in (x, w, r)):
            raise _NodeError(f"X, W and R must be 3-D, got {x.type}, {w.type}, {r.type}")
        h0, c0 = opt(5), opt(6) if kind == "lstm" else None
        if layout == 1:
            x = self._emit(g.TransposeOp(x, [1, 0, 2]))
            h0 = self._emit(g.TransposeOp(h0, [1, 0, 2])) if h0 is not None else None
            c0 = self._emit(g.TransposeOp(c0, [1, 0, 2])) if c0 is not None else None
        direction = _text(attrs.get("direction", "forward"))
        if direction not in g.RNN_DIRECTIONS:
            raise _NodeError(f"unknown direction '{direction}'")
        d = 2 if direction == "bidirectional" else 1
        hidden = int(attrs.get("hidden_size", g.shape_of(r)[-1]))
        seq = opt(4)
        t = g.shape_of(x)[0]
        if seq is not None and names[4] in self.consts and t != g.DYN and bool(
                np.all(self.consts[names[4]] == t)):
            seq = None  # every sequence is full length
        acts, alpha, beta = _rnn_activations(kind, d, attrs)
        clip = attrs.get("clip")
        op = g.RNNOp(x, w, r, kind=kind, direction=direction, hidden_size=hidden,
                     activations=acts, activation_alpha=alpha, activation_beta=beta,
                     bias=opt(3), sequence_lens=seq, initial_h=h0, initial_c=c0,
                     peepholes=opt(7) if kind == "lstm" else None,
                     clip=float(clip) if clip is not None else None,
                     linear_before_reset=bool(attrs.get("linear_before_reset", 0)),
                     input_forget=bool(attrs.get("input_forget", 0)))
        self.block.add_op(op)
        outs = list(op.outputs)
        if layout == 1:
            outs = [self._emit(g.TransposeOp(outs[0], [2, 0, 1, 3]))] + [
                self._emit(g.TransposeOp(v, [1, 0, 2])) for v in outs[1:]]
        return outs


_Handler = Callable[[_Importer, onnx.NodeProto, dict, int], list[SSAValue]]

_ELEMENTWISE_SPECIAL: dict[str, _Handler] = {
    "BitShift": _Importer._bitshift, "Clip": _Importer._clip}


def _check_elementwise(node: onnx.NodeProto, attrs: dict) -> str | None:
    """Attribute checks of the table-driven elementwise ops (types are checked on build)."""
    if node.op_type == "Cast":
        to = int(attrs.get("to", 0))
        if _element_type(to) is None:
            return f"Cast to {_dtype_name(to)} is not supported"
    if node.op_type == "BitShift" and _text(attrs.get("direction", "")) not in ("LEFT",
                                                                                 "RIGHT"):
        return "BitShift needs direction LEFT or RIGHT"
    return None


_HANDLERS: dict[str, _Handler] = {
    **{op: _Importer._binary for op in _BINARY},
    **{op: _Importer._unary for op in _UNARY},
    "Gemm": _Importer._gemm, "MatMul": _Importer._matmul, "Conv": _Importer._conv,
    "MaxPool": _Importer._max_pool, "AveragePool": _Importer._pool,
    "GlobalAveragePool": _Importer._global_avg_pool,
    "BatchNormalization": _Importer._batch_norm, "Flatten": _Importer._flatten,
    "Reshape": _Importer._reshape, "Transpose": _Importer._transpose,
    "Concat": _Importer._concat, "Softmax": _Importer._softmax,
    "Constant": _Importer._constant, "Identity": _Importer._forward,
    "Dropout": _Importer._dropout,
    **{op: _Importer._reduce for op in _REDUCE_KINDS},
    "ArgMax": _Importer._arg_reduce, "ArgMin": _Importer._arg_reduce,
    "LogSoftmax": _Importer._softmax, "Hardmax": _Importer._softmax,
    "GlobalMaxPool": _Importer._global_pool_reduce,
    "GlobalLpPool": _Importer._global_pool_reduce, "LpPool": _Importer._lp_pool,
    "InstanceNormalization": _Importer._instance_norm,
    "MeanVarianceNormalization": _Importer._mvn, "LRN": _Importer._lrn,
    "Einsum": _Importer._einsum, "ConvTranspose": _Importer._conv_transpose,
    "If": _Importer._if, "Loop": _Importer._loop, "Scan": _Importer._scan,
    "LSTM": _Importer._rnn, "GRU": _Importer._rnn, "RNN": _Importer._rnn,
    **{op: _Importer._elementwise for op in ew.BY_ONNX},
    **_ELEMENTWISE_SPECIAL,
    **{op: getattr(_Importer, method) for op, method in _SHAPE_HANDLERS.items()},
    "LayerNormalization": _Importer._layer_norm, "Gelu": _Importer._gelu,
}
# ---- old op names (c1-conformance-a): Scatter-9 is ScatterElements (no reduction)
_HANDLERS["Scatter"] = _Importer._scatter
# ---- end old op names
# ---- normalization variants (c1-conformance-a)
_HANDLERS["LayerNormalization"] = _Importer._layer_norm_any
_HANDLERS["RMSNormalization"] = _Importer._rms_norm
# ---- end normalization variants
SUPPORTED_OPS = tuple(sorted(_HANDLERS))
"""ONNX operator types (default domain) the importer handles."""


# --------------------------------------------------------------------------- helpers


def _verify_node_ops(node: onnx.NodeProto, ops: Sequence[Operation], source: str,
                     opset: int) -> None:
    """The ops built for one node must verify: a handler builds them from the node's
    tensors, so an op that does not verify means tensors that do not fit the op (shapes
    the checker could not see, e.g. after a run-time Shape), and names the node."""
    for op in ops:
        try:
            op.verify()
        except (VerifyException, DiagnosticException) as e:
            node_name = f"'{node.name}'" if node.name else "<unnamed>"
            # verifier messages print a dynamic dim as the int64 minimum; show it as `?`
            reason = str(e).replace(str(g.DYN), "?")
            raise CompileError(
                f"{source}: cannot import {node.op_type} node {node_name}: its inputs do not "
                f"fit the operation: {reason}",
                unsupported=[UnsupportedOp(node.op_type, opset, node.name, reason)]) from None


def _verify(module: ModuleOp) -> None:
    """The imported graph must verify: the checker and the handlers guarantee it, so a
    failure here is an importer bug, reported before any pass trips over it."""
    try:
        module.verify()
    except (VerifyException, DiagnosticException) as e:
        raise InternalError("verifying the imported graph", e) from e


def ssa_name_hint(name: str) -> str | None:
    """A readable SSA name for an ONNX value name, or None when nothing usable is left.

    Exporters use names like `/conv1/Conv_output_0` or `onnx::LSTM_349`; SSA names allow
    only [A-Za-z0-9_$.-] and must not start with a digit.
    """
    hint = re.sub(r"[^\w$.-]+", "_", name).strip("_")
    if hint and hint[0].isdigit():
        hint = "v" + hint
    return hint or None


def dense_attr(array: np.ndarray) -> Attribute:
    """An array of any supported dtype as a `dense<...>` attribute of its graph type."""
    return g.dense_from_array(array)


def _element_type(elem_type: int) -> Attribute | None:
    """The graph element type of an ONNX TensorProto data type, None if unsupported."""
    try:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(elem_type)
    except (KeyError, ValueError, TypeError):
        return None
    return g.ELEMENT_TYPES.get(np.dtype(dtype).name) if elem_type != 0 else None


def _constant_value(node: onnx.NodeProto) -> np.ndarray:
    attr = node.attribute[0] if len(node.attribute) == 1 else None
    if attr is None:
        raise _NodeError("a Constant needs exactly one value attribute")
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
    raise _NodeError(f"Constant attribute '{attr.name}' is not supported")


def _input_shape(info: onnx.ValueInfoProto) -> tuple[list[int], list[str]]:
    shape, dims = [], []
    for d in info.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            shape.append(d.dim_value)
            dims.append("")
        else:
            shape.append(g.DYN)
            dims.append(d.dim_param)
    return shape, dims


def _extent(dims: Sequence[int]) -> int:
    """Product of dims, -1 when one of them is dynamic (a reshape target entry)."""
    if g.DYN in dims:
        return -1
    return int(np.prod(dims, dtype=np.int64))


def _show(shape: Sequence[int | None]) -> str:
    return "[" + ", ".join("?" if d is None or d == g.DYN else str(d) for d in shape) + "]"


def _same_pads(auto_pad: str, spatial: Sequence[int], kernel: Sequence[int],
               strides: Sequence[int], dilations: Sequence[int]) -> list[int]:
    """Explicit pads for SAME_UPPER/SAME_LOWER: output size ceil(in / stride)."""
    begins, ends = [], []
    for size, k, s, d in zip(spatial, kernel, strides, dilations, strict=True):
        extent = (k - 1) * d + 1
        if s == 1:
            total = extent - 1
        elif size == g.DYN:
            raise _NodeError(f"auto_pad {auto_pad} with stride {s} needs static spatial dims")
        else:
            total = max(0, (-(-size // s) - 1) * s + extent - size)
        small, large = total // 2, total - total // 2
        begins.append(small if auto_pad == "SAME_UPPER" else large)
        ends.append(large if auto_pad == "SAME_UPPER" else small)
    return begins + ends


def _resolve_reshape(x: Sequence[int], target: Sequence[int], allowzero: bool) -> list[int]:
    """An ONNX Reshape target as a graph.reshape shape (entries > 0, at most one -1)."""
    if allowzero and 0 in target:
        raise _NodeError("allowzero = 1 with a zero in the target shape is not supported")
    if sum(1 for d in target if d == -1) > 1:
        raise _NodeError(f"target shape {list(target)} has more than one -1")
    out = list(target)
    copied_dyn = []
    for i, d in enumerate(target):
        if d == 0:
            if i >= len(x):
                raise _NodeError(f"target shape {list(target)} copies dim {i} of a rank "
                                 f"{len(x)} input")
            out[i] = x[i]
            if x[i] == g.DYN:
                copied_dyn.append(i)
    if not copied_dyn:
        if -1 in out and g.DYN not in x:
            # a static input resolves the -1 here ("shapes are resolved as far as possible")
            return list(g.ReshapeOp.infer_shape(x, out))
        return out
    if -1 in target:
        # the dynamic dims are copied as they are, so the -1 covers the static rest
        if x.count(g.DYN) != len(copied_dyn) or any(x[i] != g.DYN for i in copied_dyn):
            raise _NodeError(f"cannot resolve target {list(target)} for input {_show(x)}")
        static_in = int(np.prod([d for d in x if d != g.DYN], dtype=np.int64))
        static_out = int(np.prod([d for i, d in enumerate(out)
                                  if d not in (-1, g.DYN) and i not in copied_dyn],
                                 dtype=np.int64))
        if static_out == 0 or static_in % static_out:
            raise _NodeError(f"cannot reshape {_show(x)} into {list(target)}")
        out[target.index(-1)] = static_in // static_out
    if len(copied_dyn) > 1:
        raise _NodeError(f"target {list(target)} copies {len(copied_dyn)} dynamic dims; "
                         "graph.reshape can infer only one")
    out[copied_dyn[0]] = -1
    return out


# --------------------------------------------------------------------------- reductions, NN ops


def _norm_axes(axes: Sequence[int], rank: int, op_type: str) -> list[int]:
    """Axes made non-negative, checked, sorted and deduplicated."""
    out = set()
    for a in axes:
        if not -rank <= a < max(rank, 1):
            raise _NodeError(f"{op_type} axis {a} is out of range for rank {rank}")
        out.add(a + rank if a < 0 else a)
    return sorted(out)


def _normalize_einsum(equation: str, ranks: Sequence[int]) -> str:
    """An ONNX einsum equation with an explicit output and ellipses spelled out as
    upper-case letters (right-aligned across operands): "...ij,...jk" -> "Aij,Ajk->Aik"."""
    eq = equation.replace(" ", "")
    lhs, sep, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise _NodeError(f"equation '{equation}' has {len(terms)} operands, the node "
                         f"{len(ranks)}")
    used = set(eq) - set(",->.")
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used]
    widths = [r - len(t.replace("...", "")) if "..." in t else 0
              for t, r in zip(terms, ranks, strict=True)]
    width = max(widths, default=0)
    if width > len(free):
        raise _NodeError(f"equation '{equation}': ellipsis too wide")
    ell = "".join(free[:width])
    terms = [t.replace("...", ell[width - w:]) for t, w in zip(terms, widths, strict=True)]
    if sep:
        out = out.replace("...", ell)
    else:
        letters = "".join(terms)
        out = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1
                                   and c not in ell))
    return ",".join(terms) + "->" + out


# --------------------------------------------------------------------------- control flow


def _subgraphs(node: onnx.NodeProto) -> list[onnx.GraphProto]:
    """The graph-valued attributes of a node (If branches, Loop/Scan bodies)."""
    graphs: list[onnx.GraphProto] = []
    for a in node.attribute:
        if a.type == onnx.AttributeProto.GRAPH:
            graphs.append(a.g)
        elif a.type == onnx.AttributeProto.GRAPHS:
            graphs.extend(a.graphs)
    return graphs


def _all_nodes(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """The nodes of a graph and, recursively, of its subgraphs."""
    nodes = []
    for node in graph.node:
        nodes.append(node)
        for sub in _subgraphs(node):
            nodes.extend(_all_nodes(sub))
    return nodes


def _all_graphs(graph: onnx.GraphProto) -> list[onnx.GraphProto]:
    """A graph and, recursively, its subgraphs."""
    graphs = [graph]
    for node in graph.node:
        for sub in _subgraphs(node):
            graphs.extend(_all_graphs(sub))
    return graphs


def _captured_names(graph: onnx.GraphProto) -> set[str]:
    """Names a subgraph (or its own subgraphs) reads from enclosing scopes."""
    defined = {i.name for i in graph.input} | {i.name for i in graph.initializer}
    used: set[str] = set()
    for node in graph.node:
        used.update(n for n in node.input if n)
        for sub in _subgraphs(node):
            used |= _captured_names(sub)
        defined.update(node.output)
    used.update(o.name for o in graph.output)
    return used - defined


_RNN_ACTIVATIONS = {
    "Sigmoid": "sigmoid", "Tanh": "tanh", "Relu": "relu", "Affine": "affine",
    "LeakyRelu": "leaky_relu", "ThresholdedRelu": "thresholded_relu",
    "ScaledTanh": "scaled_tanh", "HardSigmoid": "hard_sigmoid", "Elu": "elu",
    "Softsign": "softsign", "Softplus": "softplus"}
# (default alpha, default beta, takes alpha, takes beta) per activation
_RNN_ACTIVATION_PARAMS = {
    "affine": (1.0, 0.0, True, True), "leaky_relu": (0.01, 0.0, True, False),
    "thresholded_relu": (1.0, 0.0, True, False), "scaled_tanh": (1.0, 1.0, True, True),
    "hard_sigmoid": (0.2, 0.5, True, True), "elu": (1.0, 0.0, True, False)}
_RNN_DEFAULT_ACTIVATIONS = {"lstm": ["Sigmoid", "Tanh", "Tanh"], "gru": ["Sigmoid", "Tanh"],
                            "rnn": ["Tanh"]}


def _rnn_activations(kind: str, directions: int, attrs: dict
                     ) -> tuple[list[str], list[float], list[float]]:
    """Activation names, alphas and betas for every direction of a recurrent node."""
    per_dir = len(_RNN_DEFAULT_ACTIVATIONS[kind])
    given = [_text(a) for a in attrs.get("activations", [])] or \
        _RNN_DEFAULT_ACTIVATIONS[kind] * directions
    if len(given) == per_dir and directions == 2:
        given = given * 2
    if len(given) != per_dir * directions:
        raise _NodeError(f"{len(given)} activations given, expected {per_dir * directions}")
    alphas = list(attrs.get("activation_alpha", []))
    betas = list(attrs.get("activation_beta", []))
    names, alpha, beta = [], [], []
    for a in given:
        matched = [v for k, v in _RNN_ACTIVATIONS.items() if k.lower() == a.lower()]
        if not matched:
            raise _NodeError(f"activation '{a}' is not supported")
        name = matched[0]
        da, db, takes_a, takes_b = _RNN_ACTIVATION_PARAMS.get(name, (0.0, 0.0, False, False))
        names.append(name)
        alpha.append(float(alphas.pop(0)) if takes_a and alphas else da)
        beta.append(float(betas.pop(0)) if takes_b and betas else db)
    return names, alpha, beta


# ---- ONNX function ops imported as compositions (compiler/importers/onnx_compositions.py)
from compiler.importers import onnx_compositions as _compositions  # noqa: E402


def _composition(handler):
    def run(imp, node, attrs, opset):
        try:
            return handler(imp, node, attrs, opset)
        except _compositions.CompositionError as e:
            raise _NodeError(str(e)) from None
    return run


_HANDLERS.update({op: _composition(h) for op, h in _compositions.HANDLERS.items()})
SUPPORTED_OPS = tuple(sorted(_HANDLERS))
