"""Validation of an ONNX model before import: Kiln's own rules and onnx's checks.

The importer trusts what this module checks, in two steps. `check_model`, before the
importer reads anything: initializers and Constant tensors (dims >= 0, data size equal to
the product of the dims, a known data type), declared dims (no negative static dim),
onnx.checker, and graph structure (every tensor name defined once before it is used,
graph inputs and outputs). `check_semantics`, once the importer has listed the operators
it does not support: the attributes and constant inputs of every op it imports (axes in
range, permutations, flags 0 or 1, positive kernel sizes, strides and dilations,
non-negative pads of the right length, groups that divide the channels, recurrent weight
shapes, ...), then onnx's strict type and shape inference.

A model that breaks a rule is rejected with one CompileError listing every problem, each
naming the node (op type and name), the attribute or input, and the offending value. An
exception that still escapes the importer is a Kiln bug (compiler.errors.InternalError).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper

from compiler.errors import CompileError
from compiler.importers.onnx.checker_rules import (
    OP_RULES,
    NodeFacts,
    Shape,
    data_type_name,
    format_shape,
    format_value,
    node_label,
    show_int,
)

MAX_PROBLEMS = 20
"""Problems listed in one error; the rest are counted."""

MAX_TENSOR_ELEMENTS = 1 << 34
"""Elements an initializer may declare (dims whose product overflows are nonsense)."""


_CONTROL_FLOW = frozenset({"If", "Loop", "Scan"})


def check_model(proto: onnx.ModelProto, source: str) -> None:
    """Raise CompileError unless `proto` is structurally valid: onnx's checker, tensors,
    declared dims, every tensor name defined once before use.

    This runs before the importer reads anything; `check_semantics` follows once the
    importer has listed the operators it does not support (those are reported first).
    """
    if not proto.HasField("graph"):
        raise CompileError(f"{source}: not an ONNX model: it has no graph.")
    checker = ModelChecker(proto)
    # Kiln's tensor checks first: their messages name the tensor, its dims and its data
    _raise_problems(source, checker.check_tensors())
    _run_onnx_checker(proto, source)
    _raise_problems(source, checker.check_scopes())


def check_semantics(proto: onnx.ModelProto, source: str) -> None:
    """Raise CompileError unless Kiln's per-op rules and onnx's strict type and shape
    inference accept the (structurally valid) model. Kiln's rules go first: their
    messages name the node, the attribute and the value."""
    _raise_problems(source, ModelChecker(proto).check_ops())
    _run_strict_inference(proto, source)


def _raise_problems(source: str, problems: Sequence[str]) -> None:
    if problems:
        raise CompileError(_problem_report(source, problems))


def _problem_report(source: str, problems: Sequence[str]) -> str:
    shown = problems[:MAX_PROBLEMS]
    listing = "\n".join(f"  - {p}" for p in shown)
    more = len(problems) - len(shown)
    tail = f"\n  ... and {more} more" if more > 0 else ""
    n = len(problems)
    return (f"{source}: the model is not valid ({n} problem{'s' if n > 1 else ''}):\n"
            f"{listing}{tail}")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _run_onnx_checker(proto: onnx.ModelProto, source: str) -> None:
    # full_check=False: the full check adds strict shape inference that also fails when a
    # declared output or value_info shape disagrees with the inferred one, which
    # onnxruntime accepts (it merges leniently) and the importer cross-checks itself, and
    # on onnx's own function bodies (test_mvn). _run_strict_inference runs that inference
    # without those false alarms.
    try:
        onnx.checker.check_model(proto)
    except Exception as e:  # onnx.checker.ValidationError, or a C++ error surfaced as such
        raise CompileError(
            f"{source}: the ONNX checker rejects the model, so it is not a valid ONNX "
            f"model: {_one_line(e)}") from None


LARGE_INITIALIZER = 1024
"""Initializers with more elements than this reach onnx's shape inference as typed inputs."""


def inference_copy(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `proto` for onnx's shape inference: each large top-level initializer is a
    graph input of its type and shape instead. Inference needs the weights' types, not
    their bytes, and it serializes the model it is given (ResNet-18's 46 MB, three times,
    was 1.5 s of its import); the small ones (shape tensors) stay, for data propagation."""
    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    graph = copy.graph
    if not any(np.prod(i.dims) > LARGE_INITIALIZER for i in graph.initializer):
        return copy
    inputs = {i.name for i in graph.input}
    kept = []
    for init in graph.initializer:
        if np.prod(init.dims) <= LARGE_INITIALIZER:
            small = onnx.TensorProto()
            small.CopyFrom(init)
            kept.append(small)
        elif init.name not in inputs:
            graph.input.append(
                onnx.helper.make_tensor_value_info(init.name, init.data_type, init.dims))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return copy


def _without_declared_shapes(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A copy whose value_info and output shapes are dropped (element types kept)."""
    stripped = inference_copy(proto)
    for graph in all_graphs(stripped.graph):
        del graph.value_info[:]
        for out in graph.output:
            if out.type.HasField("tensor_type"):
                out.type.tensor_type.ClearField("shape")
    return stripped


def _ignorable_inference_error(message: str) -> bool:
    """Errors onnx reports inside the function body of an op the importer handles itself
    (e.g. MeanVarianceNormalization's Constant in onnx's test_mvn): not the model's."""
    nested = message.count("(op_type:") > 1
    outer = message.split("(op_type:", 1)[-1].split(")", 1)[0].split(",", 1)[0].strip()
    return nested and outer not in _CONTROL_FLOW


def _run_strict_inference(proto: onnx.ModelProto, source: str) -> None:
    """onnx's type and shape inference in strict mode (what onnxruntime runs on load)."""
    try:
        onnx.shape_inference.infer_shapes(_without_declared_shapes(proto), check_type=True,
                                          strict_mode=True)
    except Exception as e:  # InferenceError, or ValidationError for broken subgraphs
        message = _one_line(e)
        if _ignorable_inference_error(message):
            return
        raise CompileError(f"{source}: ONNX type and shape inference rejects the model: "
                           f"{message}") from None


# --------------------------------------------------------------------------- formatting


def _dims_of(info: onnx.ValueInfoProto) -> Shape | None:
    t = info.type.tensor_type
    if not info.type.HasField("tensor_type") or not t.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                 for d in t.shape.dim)


# --------------------------------------------------------------------------- graphs


def subgraphs(node: onnx.NodeProto) -> list[onnx.GraphProto]:
    """The graph-valued attributes of a node (If branches, Loop/Scan bodies)."""
    graphs: list[onnx.GraphProto] = []
    for a in node.attribute:
        if a.type == onnx.AttributeProto.GRAPH:
            graphs.append(a.g)
        elif a.type == onnx.AttributeProto.GRAPHS:
            graphs.extend(a.graphs)
    return graphs


def all_graphs(graph: onnx.GraphProto) -> list[onnx.GraphProto]:
    """A graph and, recursively, its subgraphs."""
    graphs = [graph]
    for node in graph.node:
        for sub in subgraphs(node):
            graphs.extend(all_graphs(sub))
    return graphs


# --------------------------------------------------------------------------- tensors


_TYPED_FIELDS: dict[int, str] = {
    onnx.TensorProto.FLOAT: "float_data", onnx.TensorProto.COMPLEX64: "float_data",
    onnx.TensorProto.DOUBLE: "double_data", onnx.TensorProto.COMPLEX128: "double_data",
    onnx.TensorProto.INT64: "int64_data", onnx.TensorProto.UINT32: "uint64_data",
    onnx.TensorProto.UINT64: "uint64_data", onnx.TensorProto.STRING: "string_data"}
"""TensorProto data types stored outside int32_data (which holds every other type)."""

_VALUES_PER_FIELD_ENTRY: dict[int, int] = {
    onnx.TensorProto.COMPLEX64: 2, onnx.TensorProto.COMPLEX128: 2}


def tensor_problems(tensor: onnx.TensorProto, what: str) -> list[str]:
    """Problems of an initializer or tensor attribute: dims, data type, data size."""
    dims = list(tensor.dims)
    shown = format_value(dims)
    if any(d < 0 for d in dims):
        return [f"{what} has dims {shown}: a dim cannot be negative"]
    count = int(np.prod(dims, dtype=object)) if dims else 1
    if count > MAX_TENSOR_ELEMENTS:
        return [f"{what} has dims {shown}: {count} elements is more than Kiln supports"]
    type_name = data_type_name(tensor.data_type)
    if type_name is None or tensor.data_type == onnx.TensorProto.UNDEFINED:
        return [f"{what} has data_type {tensor.data_type}, which is not a tensor type"]
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        return [f"{what} keeps its data in an external file, which Kiln does not load "
                "(save the model with its data embedded)"]
    stored = _stored_elements(tensor)
    bits = _element_bits(tensor.data_type)
    if stored is not None and bits is not None and bits < 8 and tensor.HasField("raw_data"):
        # packed sub-byte elements: an odd count leaves the last byte partly unused
        stored = count if len(tensor.raw_data) == -(-count * bits // 8) else stored
    if stored is not None and stored != count:
        return [f"{what} ({type_name}) has dims {shown} ({count} elements) but its data "
                f"holds {_format_count(stored)}"]
    if tensor.data_type == onnx.TensorProto.STRING:
        return []
    try:
        numpy_helper.to_array(tensor)
    except Exception as e:  # the last word on what onnx can decode
        return [f"{what} ({type_name}, dims {shown}) cannot be decoded: {_one_line(e)}"]
    return []


def _format_count(stored: float) -> str:
    if stored == int(stored):
        return f"{int(stored)} elements"
    return f"{stored:g} elements (a partial element)"


def _stored_elements(tensor: onnx.TensorProto) -> float | None:
    """How many elements the tensor's data holds (None when that cannot be told)."""
    if tensor.HasField("raw_data"):
        if tensor.data_type == onnx.TensorProto.STRING:
            return None
        bits = _element_bits(tensor.data_type)
        if bits is None:
            return None
        return len(tensor.raw_data) * 8 / bits
    name = _TYPED_FIELDS.get(tensor.data_type, "int32_data")
    entries = len(getattr(tensor, name))
    per_entry = _VALUES_PER_FIELD_ENTRY.get(tensor.data_type, 1)
    sub_byte = _element_bits(tensor.data_type)
    if name == "int32_data" and sub_byte is not None and sub_byte < 8:
        # 4-bit types pack two elements per int32_data entry
        return None
    return entries / per_entry


def _element_bits(data_type: int) -> int | None:
    try:
        np_type = onnx.helper.tensor_dtype_to_np_dtype(data_type)
    except (KeyError, ValueError, TypeError):
        return None
    name = onnx.TensorProto.DataType.Name(data_type)
    if name in ("INT4", "UINT4", "FLOAT4E2M1"):
        return 4
    if name in ("INT2", "UINT2"):
        return 2
    return np.dtype(np_type).itemsize * 8


# --------------------------------------------------------------------------- the checker


@dataclass
class _Scope:
    """Tensor names visible in a graph: defined locally or in enclosing graphs."""

    names: set[str] = field(default_factory=set)
    parent: _Scope | None = None

    def __contains__(self, name: str) -> bool:
        return name in self.names or (self.parent is not None and name in self.parent)


class ModelChecker:
    """Kiln's own validation of a ModelProto (see the module docstring)."""

    def __init__(self, proto: onnx.ModelProto):
        self.proto = proto
        self.shapes: dict[str, Shape] = {}
        self.elem_types: dict[str, int] = {}
        self.consts: dict[str, np.ndarray] = {}

    # ---- tensors and declared dims (before anything reads them)

    def check_tensors(self) -> list[str]:
        problems: list[str] = []
        for graph in all_graphs(self.proto.graph):
            where = _graph_label(graph, self.proto.graph)
            for init in graph.initializer:
                problems += tensor_problems(init, f"initializer '{init.name}'{where}")
            for info in [*graph.input, *graph.output, *graph.value_info]:
                problems += _declared_dims_problems(info, where)
            for node in graph.node:
                problems += _tensor_attribute_problems(node)
        return problems

    # ---- structure and op rules

    def check_scopes(self) -> list[str]:
        problems: list[str] = []
        self._check_scope(self.proto.graph, None, problems)
        return problems

    def check_ops(self) -> list[str]:
        self._collect_facts()
        problems: list[str] = []
        opset = {(i.domain or "ai.onnx"): i.version for i in self.proto.opset_import}
        version = opset.get("ai.onnx", 0)
        for graph in all_graphs(self.proto.graph):
            for node in graph.node:
                rule = OP_RULES.get(node.op_type)
                if rule is not None and node.domain in ("", "ai.onnx"):
                    problems += list(rule(NodeFacts(node, self, version)))
        return problems

    def _collect_facts(self) -> None:
        """Known shapes (onnx's inference on the declared inputs) and constant values."""
        try:
            inferred = onnx.shape_inference.infer_shapes(_without_declared_shapes(self.proto))
        except Exception:  # inference is best effort here: rules skip unknown shapes
            inferred = None
        for model in (self.proto, inferred):
            if model is None:
                continue
            for graph in all_graphs(model.graph):
                for info in [*graph.input, *graph.value_info, *graph.output]:
                    dims = _dims_of(info)
                    if dims is not None:
                        self.shapes.setdefault(info.name, dims)
                    if info.type.tensor_type.elem_type:
                        self.elem_types.setdefault(info.name, info.type.tensor_type.elem_type)
        for graph in all_graphs(self.proto.graph):
            for init in graph.initializer:
                self.shapes[init.name] = tuple(init.dims)
                self.elem_types[init.name] = init.data_type
                self.consts[init.name] = numpy_helper.to_array(init)
            for node in graph.node:
                value = _constant_node_value(node)
                if value is not None:
                    self.consts[node.output[0]] = value
                    self.shapes[node.output[0]] = value.shape

    def _check_scope(self, graph: onnx.GraphProto, parent: _Scope | None,
                     problems: list[str]) -> None:
        """Every name defined once (SSA) before it is used, in this graph's scope."""
        where = _graph_label(graph, self.proto.graph)
        scope = _Scope(parent=parent)
        for kind, names in (("graph input", [i.name for i in graph.input]),
                            ("initializer", [i.name for i in graph.initializer])):
            for name in _duplicates(names):
                problems.append(f"{kind} '{name}'{where} is declared more than once")
        scope.names.update(i.name for i in graph.input)
        scope.names.update(i.name for i in graph.initializer)
        for node in graph.node:
            for i, name in enumerate(node.input):
                if name and name not in scope:
                    problems.append(f"{node_label(node)}{where}: input {i} '{name}' is not "
                                    "defined before the node (not a graph input, "
                                    "initializer or earlier node output)")
            for sub in subgraphs(node):
                self._check_scope(sub, scope, problems)
            for name in node.output:
                if name and name in scope.names:
                    problems.append(f"{node_label(node)}{where}: output '{name}' is already "
                                    "defined (every tensor name must be assigned once)")
                elif name:
                    scope.names.add(name)
        for out in graph.output:
            if out.name not in scope:
                problems.append(f"graph output '{out.name}'{where} is not computed by any "
                                "node, input or initializer")


def _graph_label(graph: onnx.GraphProto, main: onnx.GraphProto) -> str:
    return "" if graph is main else f" (in subgraph '{graph.name}')"


def _duplicates(names: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    repeated: list[str] = []
    for name in names:
        if name in seen and name not in repeated:
            repeated.append(name)
        seen.add(name)
    return repeated


def _declared_dims_problems(info: onnx.ValueInfoProto, where: str) -> list[str]:
    dims = _dims_of(info)
    negative = [k for k, d in enumerate(dims or ()) if isinstance(d, int) and d < 0]
    if not negative:
        return []
    k = negative[0]
    shown = [d if j not in negative else "<negative>" for j, d in enumerate(dims or ())]
    return [f"tensor '{info.name}'{where} is declared with shape {format_shape(shown)}: "
            f"dim {k} is {show_int(dims[k])}, and a static dim cannot be negative"]  # type: ignore[index]


def _tensor_attribute_problems(node: onnx.NodeProto) -> list[str]:
    problems: list[str] = []
    for a in node.attribute:
        what = f"{node_label(node)}: attribute '{a.name}'"
        if a.type == onnx.AttributeProto.TENSOR:
            problems += tensor_problems(a.t, what)
        elif a.type == onnx.AttributeProto.TENSORS:
            for k, t in enumerate(a.tensors):
                problems += tensor_problems(t, f"{what}[{k}]")
    return problems


def _constant_node_value(node: onnx.NodeProto) -> np.ndarray | None:
    if node.op_type != "Constant" or node.domain or len(node.attribute) != 1 or \
            not node.output:
        return None
    a = node.attribute[0]
    try:
        if a.name == "value":
            return numpy_helper.to_array(a.t)
        if a.name in ("value_int", "value_ints"):
            return np.array(onnx.helper.get_attribute_value(a), dtype=np.int64)
        if a.name in ("value_float", "value_floats"):
            return np.array(onnx.helper.get_attribute_value(a), dtype=np.float32)
    except Exception:  # reported by check_tensors; no constant value here
        return None
    return None
