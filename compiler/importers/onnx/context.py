"""The core of the ONNX importer: load and check a model, walk its graph, and the
import context that every op family's rules build IR through.

The importer first checks the whole model and reports every node it cannot import in one
CompileError; only then does it build IR. Attributes are normalized by the rules (explicit
pads, non-negative axes, resolved reshape targets) so that passes never see ONNX
conventions.

A rule is `rule(ctx, node, attrs, opset) -> [the values of the node's outputs]`; it reads
its inputs with `ctx.value(name)` (constants are materialized on first use), appends ops
with `ctx.emit(op)` (first result) or `ctx.add(op)` (the op, for several results), makes
constants with `ctx.constant(array)`, `ctx.scalar(value, like)` and
`ctx.int_constant(values)`, reads constant inputs with `ctx.known(name)`,
`ctx.const_ints(name)` and `ctx.consts`, result types refined by onnx's inference with
`ctx.typed(...)`, imports subgraphs with `ctx.import_subgraph(...)`, and stores weights in
`ctx.weights`. A node it cannot import raises NodeError (common.py). The rules themselves
live in the family modules; registry.py assembles their tables into one OpTable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    FunctionType,
    ModuleOp,
    NameLoc,
    NoneAttr,
    StringAttr,
    TensorType,
    f32,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.utils.exceptions import DiagnosticException, VerifyException

from compiler.errors import CompileError, InternalError, UnsupportedOp
from compiler.importers.onnx.checker import check_semantics, inference_copy
from compiler.importers.onnx.common import (
    NodeError,
    constant_value,
    dense_attr,
    dtype_name,
    element_type,
    show_shape,
    typed_dense_attr,
)
from dialects import graph as g
from dialects import weights

MAX_INLINE_ELEMENTS = 64
"""Constant nodes up to this many elements are inline `graph.constant`s, larger ones weights."""

MIN_OPSET = 11
"""The oldest opset whose operator definitions Kiln's handlers are written against."""

# ---- opset policy
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


# --------------------------------------------------------------------------- loading


def source_name(model: object, weights_key: str | None) -> str:
    """The name messages use for a model (its path, or `<onnx model>`)."""
    if isinstance(model, (str, os.PathLike)):
        return os.fspath(model)
    if weights_key and weights_key.startswith("file:"):
        return weights_key[len("file:"):]
    return "<onnx model>"


def load_model(model: str | os.PathLike | bytes | onnx.ModelProto, source: str
               ) -> onnx.ModelProto:
    """A ModelProto from a path, serialized bytes or a ModelProto (CompileError if it
    cannot be read or parsed)."""
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


# ---- import-time folding: integer shape computations on constants
_FOLDABLE_OPS = frozenset({
    "Shape", "Size", "Neg", "Abs", "Range", "ConstantOfShape", "Concat", "Slice", "Gather",
    "Unsqueeze", "Squeeze", "Reshape", "Add", "Sub", "Mul", "Div", "Max", "Min", "Equal",
    "Less", "Greater", "Where", "Cast", "Identity", "ReduceProd", "ReduceSum", "Mod",
    "Floor", "Ceil", "Sqrt", "Pow", "Not", "And", "Or", "LessOrEqual", "GreaterOrEqual",
    "ReduceMax", "ReduceMin", "Expand", "Tile", "Transpose", "Flatten", "Sign"})


_FOLD_MAX_ELEMENTS = 64


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


# --------------------------------------------------------------------------- the context


@dataclass
class ImportContext:
    """The state of one import and the API the op rules build IR through."""

    proto: onnx.ModelProto
    source: str
    weights_key: str | None
    table: OpTable

    def __post_init__(self) -> None:
        self.graph = self.proto.graph
        self.opsets = _opsets(self.proto)
        self.initializers = {i.name: i for i in self.graph.initializer}
        self.consts: dict[str, np.ndarray] = {}
        self.inferred = self._infer_shapes()
        self.values: dict[str, SSAValue] = {}
        self.block = Block()
        self.weights = weights.WeightStore()
        self._dp_shapes: dict[str, tuple[int | None, ...]] | None = None

    # ---- checks before building

    def _infer_shapes(self) -> dict[str, tuple[int | None, ...]]:
        """Shapes from onnx's shape inference (None for unknown dims); a cross-check only."""
        try:
            inferred = onnx.shape_inference.infer_shapes(inference_copy(self.proto)).graph
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
                    self.consts[node.output[0]] = constant_value(node)
                except NodeError:
                    pass
            elif node.op_type == "Identity" and node.input[0] in self.consts:
                self.consts[node.output[0]] = self.consts[node.input[0]]
        self._fold_shape_computations()

    # ---- import-time folding of small shape computations

    def _fold_shape_computations(self) -> None:
        """Evaluate at compile time the small integer computations of the top-level graph
        whose inputs are constants or shapes of statically shaped tensors, so that rules
        see them as constants (e.g. a Reshape target built from Shape/Slice/Concat,
        ReduceMean axes from Range).

        Each such node is imported by its own rule into a scratch block whose graph ops
        are then evaluated by their `fold` hooks: the values come from the same op
        semantics the `fold` pass uses, not from a second evaluator."""
        for node in self.graph.node:
            if node.domain or node.op_type not in _FOLDABLE_OPS or \
                    node.op_type not in self.table.rules:
                continue
            if any(o in self.consts for o in node.output if o):
                continue
            unknown: dict[str, tuple[int, ...]] = {}
            if node.op_type in ("Shape", "Size"):
                shape = self.inferred.get(node.input[0])
                if shape is None or any(d is None or d < 0 for d in shape):
                    continue
                unknown[node.input[0]] = tuple(int(d) for d in shape)  # type: ignore[arg-type]
            else:
                names = [n for n in node.input if n]
                if not names or any(n not in self.consts for n in names):
                    continue
                inputs = {n: self.consts[n] for n in names}
                if any(a.size > _FOLD_MAX_ELEMENTS for a in inputs.values()) or \
                        not _small_fold_result(node, inputs):
                    continue
            for name, value in zip(node.output, self._evaluate_node(node, unknown),
                                   strict=False):
                if (name and value is not None and value.dtype.name in g.ELEMENT_TYPES
                        and value.size <= _FOLD_MAX_ELEMENTS and value.dtype.kind in "iub"):
                    self.consts[name] = value

    def _evaluate_node(self, node: onnx.NodeProto, unknown: Mapping[str, Sequence[int]]
                       ) -> list[np.ndarray | None]:
        """The values of `node`'s outputs where its rule's graph ops fold (None where not),
        with the inputs named in `unknown` as values of that static shape and unknown
        contents. The context's block, values and weights are untouched."""
        saved = self.block, self.values, self.weights
        self.block, self.values, self.weights = Block(), {}, weights.WeightStore()
        try:
            for name, shape in unknown.items():
                self.values[name] = self.block.insert_arg(TensorType(f32, shape), 0)
            outputs = self.table.rules[node.op_type](
                self, node, _attrs(node), self.opsets.get("ai.onnx", 0))
            known: dict[SSAValue, np.ndarray] = {}
            for op in self.block.ops:
                if isinstance(op, g.WeightOp):
                    known[op.result] = self.weights[op.weight_name.data]
                    continue
                if not isinstance(op, g.GraphOp):
                    return []
                values = op.fold([known.get(v) for v in op.operands])
                if values is None:
                    return []
                known.update(zip(op.results, values, strict=True))
            results: list[np.ndarray | None] = []
            for v in outputs:
                value = known.get(v)
                if value is not None:
                    value = np.asarray(value).astype(g.numpy_dtype_of(g.element_type_of(v)))
                    shape = g.shape_of(v)
                    if len(shape) != value.ndim or any(
                            d not in (g.DYN, n) for d, n in zip(shape, value.shape,
                                                                strict=True)):
                        raise ValueError(f"folded {list(value.shape)}, typed {shape}")
                results.append(value)
            return results
        except (NodeError, NotImplementedError, ValueError, TypeError, IndexError,
                KeyError, VerifyException):
            return []
        finally:
            self.block, self.values, self.weights = saved

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
                elif element_type(info.type.tensor_type.elem_type) is None:
                    types.append(f"{kind} '{info.name}' has element type "
                                 f"{dtype_name(info.type.tensor_type.elem_type)}")
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
            if domain != "ai.onnx" or node.op_type not in self.table.rules:
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
        skip = self.table.non_data_inputs.get(node.op_type, ())
        for i, name in enumerate(node.input):
            if name and i not in skip and name in self.consts:
                dtype = self.consts[name].dtype
                if dtype.name not in g.ELEMENT_TYPES:
                    return (f"input '{name}' has element type {dtype}, which is not "
                            "supported")
        check = self.table.checks.get(node.op_type)
        return None if check is None else check(self, node, attrs, used)

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
            elt = element_type(info.type.tensor_type.elem_type) or f32
            arg = self.block.insert_arg(TensorType(elt, shape), len(self.block.args))
            arg.name_hint = ssa_name_hint(info.name)
            self.values[info.name] = arg
            arg_attrs.append(DictionaryAttr({
                g.ARG_NAME_ATTR: StringAttr(info.name),
                g.ARG_DIMS_ATTR: ArrayAttr([StringAttr(d) for d in dims])}))

        for node in self.graph.node:
            self.import_node(node)

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
            weights.register_as(self.weights, self.weights_key)
            module.attributes[weights.WEIGHTS_ATTR] = StringAttr(self.weights_key)
        else:
            weights.attach(module, self.weights)
        # keep the store alive as long as the module (the registry holds it weakly)
        module.__dict__["_kiln_weight_store"] = self.weights
        _verify(module)
        return module

    def _output_value(self, name: str) -> SSAValue:
        try:
            return self.value(name)
        except NodeError as e:
            raise CompileError(f"{self.source}: graph output '{name}': {e}") from None

    def import_node(self, node: onnx.NodeProto) -> None:
        """Import one node; a node the handler rejects is a CompileError naming it."""
        opset = self.opsets.get("ai.onnx", 0)
        first_new = len(self.block.ops)
        try:
            outputs = self.table.rules[node.op_type](self, node, _attrs(node), opset)
        except (NodeError, ValueError) as e:
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
                    f"{show_shape(actual)} but ONNX shape inference gives {show_shape(expected)}; "
                    "the importer or the model is wrong.")

    # ---- the API of the op rules

    def emit(self, op: Operation) -> SSAValue:
        """Append `op` to the block being built; its first result."""
        self.block.add_op(op)
        return op.results[0]

    def add(self, op: Operation) -> Operation:
        """Append `op` (an op with several results) to the block being built."""
        self.block.add_op(op)
        return op

    def value(self, name: str) -> SSAValue:
        """The SSA value of an ONNX tensor, materializing constants on first use."""
        if name in self.values:
            return self.values[name]
        if name not in self.consts:
            raise NodeError(f"tensor '{name}' is not defined")
        array = self.consts[name]
        if array.dtype.name not in g.ELEMENT_TYPES:
            raise NodeError(f"tensor '{name}' has element type {array.dtype}, which is "
                            "not supported")
        # small integer initializers are shape data (Reshape targets, axes, indices):
        # inline, so that folding and the symbolic shape analysis see their values
        shape_like = array.dtype.kind in "iub" and array.size <= MAX_INLINE_ELEMENTS
        if (name in self.initializers and not shape_like) or array.size > MAX_INLINE_ELEMENTS:
            stored = self.weights.add(name, array)
            value = self.emit(g.WeightOp(stored, g.tensor_type(
                array.shape, g.element_type_for(array.dtype))))
        else:
            value = self.emit(g.ConstantOp(dense_attr(array)))
        value.name_hint = ssa_name_hint(name)
        self.values[name] = value
        return value

    def constant(self, array: np.ndarray) -> SSAValue:
        """A constant: inline when small, a weight otherwise (the importer's policy)."""
        array = np.ascontiguousarray(array)
        if array.size > MAX_INLINE_ELEMENTS:
            stored = self.weights.add("kiln.const", array)
            return self.emit(g.WeightOp(stored, g.tensor_type(
                array.shape, g.element_type_for(array.dtype))))
        return self.emit(g.ConstantOp(dense_attr(array)))

    def scalar(self, value: float, like: SSAValue) -> SSAValue:
        """A rank-0 constant of `like`'s element type."""
        dtype = g.numpy_dtype_of(g.element_type_of(like))
        return self.emit(g.ConstantOp(dense_attr(np.array(value, dtype=dtype))))

    def int_constant(self, value: np.ndarray | Sequence[int], name: str = "") -> SSAValue:
        """An inline int64 constant (named `name` when given)."""
        array = np.asarray(value, dtype=np.int64)
        result = self.emit(g.ConstantOp(typed_dense_attr(array)))
        if name:
            result.name_hint = name
        return result

    def const_ints(self, name: str) -> list[int]:
        """The values of the constant integer input `name`, flattened."""
        return [int(v) for v in self.consts[name].reshape(-1).tolist()]

    def known(self, name: str | None) -> list[int] | None:
        """The values of a constant integer input, flattened."""
        if name is None or name not in self.consts:
            return None
        return [int(v) for v in self.consts[name].reshape(-1).tolist()]

    def _inferred_dims(self, name: str, rank: int) -> list[int]:
        """Static dims onnx infers (with data propagation) for output `name`, else `?`."""
        if self._dp_shapes is None:
            shapes: dict[str, tuple[int | None, ...]] = {}
            try:
                inferred = onnx.shape_inference.infer_shapes(inference_copy(self.proto),
                                                           data_prop=True).graph
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

    def typed(self, node: onnx.NodeProto, shape: Sequence[int], elt: Attribute,
              index: int = 0) -> TensorType:
        """Result type: `shape`, with its `?` dims refined by onnx's inference."""
        inferred = self._inferred_dims(node.output[index], len(shape))
        return TensorType(elt, [d if d != g.DYN else i for d, i in zip(shape, inferred,
                                                                         strict=True)])

    def import_subgraph(self, body: onnx.GraphProto, arg_types: Sequence[Attribute]
                        ) -> tuple[Region, list[SSAValue]]:
        """Import a subgraph into a new region whose block takes `arg_types`.

        Names of enclosing scopes stay visible (captured values); constants the subgraph
        captures are materialized in the enclosing block first, so they are shared.
        """
        for name in _captured_names(body):
            if name not in self.values and name in self.consts:
                self.value(name)
        if len(body.input) != len(arg_types):
            raise NodeError(f"subgraph '{body.name}' takes {len(body.input)} inputs, "
                            f"expected {len(arg_types)}")
        outer_block, outer_values = self.block, self.values
        block = Block(arg_types=list(arg_types))
        self.block, self.values = block, dict(outer_values)
        try:
            for info, arg in zip(body.input, block.args, strict=True):
                arg.name_hint = info.name
                self.values[info.name] = arg
            for node in body.node:
                self.import_node(node)
            results = [self.value(o.name) for o in body.output]
            block.add_op(g.YieldOp(*results))
        finally:
            self.block, self.values = outer_block, outer_values
        return Region(block), results


Rule = Callable[[ImportContext, onnx.NodeProto, dict, int], list[SSAValue]]
"""An op rule: (context, node, attributes, opset) -> the values of the node's outputs."""

Check = Callable[[ImportContext, onnx.NodeProto, dict, set[str]], "str | None"]
"""An op's pre-build check: (context, node, attributes, names used anywhere) -> why the
node cannot be imported, or None."""


@dataclass(frozen=True)
class OpTable:
    """Every op rule, by ONNX op type (default domain), with the ops' non-data inputs
    (skipped by the element-type check of constant inputs) and pre-build checks."""

    rules: Mapping[str, Rule]
    non_data_inputs: Mapping[str, tuple[int, ...]]
    checks: Mapping[str, Check]


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
