"""ONNX importer: an ONNX ModelProto becomes a `builtin.module` with one `func.func @main`
over graph ops (ARCHITECTURE.md, level 1).

The importer first checks the whole model and reports every node it cannot import in one
CompileError; only then does it build IR. Attributes are normalized here (explicit pads,
non-negative axes, resolved reshape targets) so that passes never see ONNX conventions.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    FunctionType,
    IntegerAttr,
    ModuleOp,
    NameLoc,
    NoneAttr,
    StringAttr,
    TensorType,
    f32,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue

from compiler import weights
from compiler.errors import CompileError, UnsupportedOp
from dialects import graph as g

MAX_INLINE_ELEMENTS = 64
"""Constant nodes up to this many elements are inline `graph.constant`s, larger ones weights."""

MIN_OPSET = 11

_BINARY: dict[str, type[g.ElementwiseBinaryOp]] = {
    "Add": g.AddOp, "Sub": g.SubOp, "Mul": g.MulOp, "Div": g.DivOp}
_UNARY: dict[str, type[g.ElementwiseUnaryOp]] = {
    "Relu": g.ReluOp, "Sigmoid": g.SigmoidOp, "Tanh": g.TanhOp, "Exp": g.ExpOp,
    "Neg": g.NegOp, "Sqrt": g.SqrtOp}
_AUTO_PADS = ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER")

# Inputs (by position) that are attributes in disguise, consumed at import time.
_NON_DATA_INPUTS: dict[str, tuple[int, ...]] = {"Reshape": (1,), "Dropout": (1, 2)}


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
    _check_model(proto, source)
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


def _check_model(proto: onnx.ModelProto, source: str) -> None:
    if not proto.HasField("graph"):
        raise CompileError(f"{source}: not an ONNX model: it has no graph.")
    try:
        onnx.checker.check_model(proto)
    except Exception as e:
        detail = " ".join(str(e).split())
        raise CompileError(
            f"{source}: the ONNX checker rejects the model, so it is not a valid ONNX "
            f"model: {detail}") from None
    opset = _opsets(proto).get("ai.onnx", 0)
    if opset < MIN_OPSET:
        raise CompileError(
            f"{source}: the model uses ONNX opset {opset}; Kiln imports opsets "
            f"{MIN_OPSET} to {onnx.defs.onnx_opset_version()} (convert it with "
            f"onnx.version_converter first).")


def _opsets(proto: onnx.ModelProto) -> dict[str, int]:
    return {(imp.domain or "ai.onnx"): imp.version for imp in proto.opset_import}


def _attrs(node: onnx.NodeProto) -> dict[str, object]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _dtype_name(elem_type: int) -> str:
    return onnx.TensorProto.DataType.Name(elem_type)


# --------------------------------------------------------------------------- importer


@dataclass
class _Importer:
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
        for node in self.graph.node:
            if node.op_type == "Constant" and not node.domain:
                try:
                    self.consts[node.output[0]] = _constant_value(node)
                except _NodeError:
                    pass
            elif node.op_type == "Identity" and node.input[0] in self.consts:
                self.consts[node.output[0]] = self.consts[node.input[0]]

    def _check_io(self) -> None:
        problems = []
        for kind, infos in (("input", self.graph.input), ("output", self.graph.output)):
            for info in infos:
                if info.name in self.initializers:
                    continue
                if not info.type.HasField("tensor_type"):
                    problems.append(f"{kind} '{info.name}' is not a tensor")
                elif info.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
                    problems.append(f"{kind} '{info.name}' has element type "
                                    f"{_dtype_name(info.type.tensor_type.elem_type)}")
        if problems:
            raise CompileError(
                f"{self.source}: only float32 tensors are supported, but "
                f"{'; '.join(problems)}.")

    def _collect_unsupported(self) -> list[UnsupportedOp]:
        used = {name for node in self.graph.node for name in node.input}
        used |= {o.name for o in self.graph.output}
        unsupported = []
        for node in self.graph.node:
            domain = node.domain or "ai.onnx"
            opset = self.opsets.get(domain, 0)
            if domain != "ai.onnx" or node.op_type not in _HANDLERS:
                reason = "no importer rule" if domain == "ai.onnx" else \
                    f"no importer rule for domain '{node.domain}'"
            else:
                reason = self._check_node(node, opset, used)
            if reason:
                unsupported.append(UnsupportedOp(node.op_type, opset, node.name, reason))
        return unsupported

    def _check_node(self, node: onnx.NodeProto, opset: int, used: set[str]) -> str | None:
        attrs = _attrs(node)
        skip = _NON_DATA_INPUTS.get(node.op_type, ())
        for i, name in enumerate(node.input):
            if name and i not in skip and name in self.consts:
                dtype = self.consts[name].dtype
                if dtype != np.float32:
                    return f"input '{name}' has element type {dtype}; only float32 is supported"
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
        if op == "MaxPool":
            if len(node.output) > 1 and node.output[1] in used:
                return "the Indices output is not supported"
        if op == "BatchNormalization":
            if attrs.get("training_mode", 0) or any(o in used for o in node.output[1:]):
                return "only inference mode (one output, training_mode = 0) is supported"
        if op == "Reshape":
            if node.input[1] not in self.consts:
                return f"the shape input '{node.input[1]}' is not a constant"
            if attrs.get("allowzero", 0) and 0 in self.consts[node.input[1]].tolist():
                return "allowzero = 1 with a zero in the target shape (empty tensors)"
        if op == "LayerNormalization":
            if attrs.get("stash_type", 1) != 1 or any(o in used for o in node.output[1:]):
                return "only the normalized output with stash_type = 1 is supported"
        if op == "Dropout":
            if len(node.input) > 2 and node.input[2]:
                mode = self.consts.get(node.input[2])
                if mode is None or bool(mode):
                    return "training_mode must be a constant false"
            if len(node.output) > 1 and node.output[1] in used:
                return "the mask output is not supported"
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

        arg_attrs = []
        for info in self.graph.input:
            if info.name in self.initializers:
                continue
            shape, dims = _input_shape(info)
            arg = self.block.insert_arg(TensorType(f32, shape), len(self.block.args))
            arg.name_hint = info.name
            self.values[info.name] = arg
            arg_attrs.append(DictionaryAttr({
                g.ARG_NAME_ATTR: StringAttr(info.name),
                g.ARG_DIMS_ATTR: ArrayAttr([StringAttr(d) for d in dims])}))

        for node in self.graph.node:
            self._import_node(node)

        results = [self._value(o.name) for o in self.graph.output]
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
        return module

    def _import_node(self, node: onnx.NodeProto) -> None:
        opset = self.opsets.get("ai.onnx", 0)
        first_new = len(self.block.ops)
        try:
            outputs = _HANDLERS[node.op_type](self, node, _attrs(node), opset)
        except (_NodeError, ValueError) as e:
            node_name = f"'{node.name}'" if node.name else "<unnamed>"
            raise CompileError(
                f"{self.source}: cannot import {node.op_type} node {node_name}: {e}",
                unsupported=[UnsupportedOp(node.op_type, opset, node.name, str(e))]) from None
        if node.name:
            for op in list(self.block.ops)[first_new:]:
                op.location = NameLoc(StringAttr(node.name), NoneAttr())
        for name, value in zip(node.output, outputs, strict=False):
            if name:
                self.values[name] = value
                if isinstance(value.owner, Operation) and value.name_hint is None:
                    value.name_hint = name

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
        if array.dtype != np.float32:
            raise _NodeError(f"tensor '{name}' has element type {array.dtype}; only float32 "
                             "is supported")
        if name in self.initializers or array.size > MAX_INLINE_ELEMENTS:
            stored = self.store.add(name, array)
            value = self._emit(g.WeightOp(stored, g.tensor_type(array.shape)))
        else:
            value = self._emit(g.ConstantOp(dense_attr(array)))
        value.name_hint = name
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
        x, scale, bias, mean, var = (self._value(n) for n in node.input[:5])
        return [self._emit(g.BatchNormOp(x, scale, bias, mean, var,
                                         float(attrs.get("epsilon", 1e-5))))]

    def _flatten(self, node, attrs, opset):
        x = self._value(node.input[0])
        shape = g.shape_of(x)
        axis = int(attrs.get("axis", 1))
        axis += len(shape) if axis < 0 else 0
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
        return [self._emit(g.TransposeOp(x, perm))]

    def _concat(self, node, attrs, opset):
        inputs = [self._value(n) for n in node.input if n]
        axis = int(attrs["axis"])
        axis += len(g.shape_of(inputs[0])) if axis < 0 else 0
        return [self._emit(g.ConcatOp(inputs, axis))]

    def _softmax(self, node, attrs, opset):
        x = self._value(node.input[0])
        shape = g.shape_of(x)
        rank = len(shape)
        axis = int(attrs.get("axis", -1 if opset >= 13 else 1))
        axis += rank if axis < 0 else 0
        if opset >= 13 or axis == rank - 1:
            return [self._emit(g.SoftmaxOp(x, axis))]
        # opset < 13: softmax over the 2-D coercion [prod(x[:axis]), prod(x[axis:])]
        flat = [_extent(shape[:axis]), _extent(shape[axis:])]
        back = [-1 if d == g.DYN else d for d in shape]
        if flat.count(-1) > 1 or back.count(-1) > 1:
            raise _NodeError(f"opset {opset} Softmax over {_show(shape)} at axis {axis} "
                             "needs at most one dynamic dim")
        y = self._emit(g.SoftmaxOp(self._emit(g.ReshapeOp(x, flat)), 1))
        return [self._emit(g.ReshapeOp(y, back))]


    # ---- optimizer ops (graph.layer_norm, graph.gelu)

    def _layer_norm(self, node, attrs, opset):
        x = self._value(node.input[0])
        rank = len(g.shape_of(x))
        axis = int(attrs.get("axis", -1))
        axis += rank if axis < 0 else 0
        scale = self._value(node.input[1])
        bias = self._value(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        return [self._emit(g.LayerNormOp(x, scale, bias, axis,
                                         float(attrs.get("epsilon", 1e-5))))]

    def _gelu(self, node, attrs, opset):
        return [self._emit(g.GeluOp(self._value(node.input[0]),
                                    _text(attrs.get("approximate", "none"))))]


_Handler = Callable[[_Importer, onnx.NodeProto, dict, int], list[SSAValue]]
_HANDLERS: dict[str, _Handler] = {
    **{op: _Importer._binary for op in _BINARY},
    **{op: _Importer._unary for op in _UNARY},
    "Gemm": _Importer._gemm, "MatMul": _Importer._matmul, "Conv": _Importer._conv,
    "MaxPool": _Importer._pool, "AveragePool": _Importer._pool,
    "GlobalAveragePool": _Importer._global_avg_pool,
    "BatchNormalization": _Importer._batch_norm, "Flatten": _Importer._flatten,
    "Reshape": _Importer._reshape, "Transpose": _Importer._transpose,
    "Concat": _Importer._concat, "Softmax": _Importer._softmax,
    "Constant": _Importer._constant, "Identity": _Importer._forward,
    "Dropout": _Importer._forward,
    "LayerNormalization": _Importer._layer_norm, "Gelu": _Importer._gelu,
}
SUPPORTED_OPS = tuple(sorted(_HANDLERS))
"""ONNX operator types (default domain) the importer handles."""


# --------------------------------------------------------------------------- helpers


def dense_attr(array: np.ndarray) -> Attribute:
    """A float32 array as a `dense<...>` attribute."""
    from xdsl.dialects.builtin import BytesAttr, DenseIntOrFPElementsAttr

    data = np.ascontiguousarray(array, dtype="<f4")
    return DenseIntOrFPElementsAttr(g.tensor_type(data.shape), BytesAttr(data.tobytes()))


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
