"""ONNX mutants for the fuzzer (tools/fuzz_tool.py): seed models, mutators, call inputs.

A case is a small valid seed model (built here with onnx.helper across the op families
the importer supports, or a bundled examples/models/*.onnx), zero to three mutations of
its attributes, shapes, dtypes, initializers, graph structure or serialized bytes, and one
to three sets of call-time inputs (consistent with the declared dims, or not: other sizes
for symbolic dims, size-1 and 0-size dims, wrong rank or dtype, extreme values, indices
out of range). Everything follows from (seed, index), so any case can be rebuilt alone:

    case = onnx_case(seed=0, index=17)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tools.fuzz_seeds import LARGE_EXAMPLES, SMALL_EXAMPLES, info, seed_model, seed_names

F, I64, BOOL = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


@dataclass(frozen=True)
class Feed:
    """One call's inputs and how they relate to the declared dims."""

    note: str
    arrays: dict[str, np.ndarray]


@dataclass(frozen=True)
class OnnxCase:
    """One ONNX fuzz case: a (mutated) model, serialized, and the calls to make."""

    index: int
    seed_model: str
    mutations: tuple[str, ...]
    model: bytes
    feeds: tuple[Feed, ...] = field(default=())
    nan_weights: bool = False
    """A NaN was planted in an initializer: runtimes propagate it differently."""

    @property
    def name(self) -> str:
        return f"onnx-{self.index}"


# --------------------------------------------------------------------------- helpers


def _choice(rng: np.random.Generator, items: Sequence):
    return items[int(rng.integers(len(items)))]


def _graphs(model: onnx.ModelProto) -> list[onnx.GraphProto]:
    graphs = [model.graph]
    k = 0
    while k < len(graphs):
        for node in graphs[k].node:
            for a in node.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    graphs.append(a.g)
                graphs.extend(a.graphs)
        k += 1
    return graphs


def _nodes(model: onnx.ModelProto) -> list[tuple[onnx.GraphProto, onnx.NodeProto]]:
    return [(g, n) for g in _graphs(model) for n in g.node]


def _tensor_names(graph: onnx.GraphProto) -> list[str]:
    names = [i.name for i in graph.input] + [i.name for i in graph.initializer]
    return names + [o for n in graph.node for o in n.output if o]


def _special_int(rng: np.random.Generator, around: int = 2) -> int:
    return int(_choice(rng, [-(2 ** 31), -(2 ** 63), 2 ** 31 - 1, 2 ** 62, -1, 0, 1, 2, 3,
                             around, -around, around + 1, -around - 1,
                             int(rng.integers(-8, 9))]))


def _tensor_dims(t: onnx.TensorProto) -> list[int]:
    return list(t.dims)


# --------------------------------------------------------------------------- mutators
# Each mutator changes the model in place and returns a description, or None when it
# does not apply to this model.

Mutator = Callable[[onnx.ModelProto, np.random.Generator], str | None]


def _node_with_attr(model, rng, types: Sequence[int]):
    picks = [(n, a) for _, n in _nodes(model) for a in n.attribute if a.type in types]
    return _choice(rng, picks) if picks else (None, None)


def mutate_attr_int(model, rng):
    node, attr = _node_with_attr(model, rng, [onnx.AttributeProto.INT])
    if node is None:
        return None
    old, attr.i = attr.i, _special_int(rng, max(2, abs(attr.i)))
    return f"{node.name}.{attr.name}: {old} -> {attr.i}"


def mutate_attr_ints(model, rng):
    node, attr = _node_with_attr(model, rng, [onnx.AttributeProto.INTS])
    if node is None:
        return None
    values, old = list(attr.ints), list(attr.ints)
    how = _choice(rng, ["element", "drop", "append", "empty", "shuffle", "negate", "zero"])
    if how == "element" and values:
        values[int(rng.integers(len(values)))] = _special_int(rng, len(values))
    elif how == "drop" and values:
        values.pop(int(rng.integers(len(values))))
    elif how == "append":
        values.append(_special_int(rng, len(values)))
    elif how == "empty":
        values = []
    elif how == "shuffle":
        values = [values[i] for i in rng.permutation(len(values))]
    elif how == "negate":
        values = [-v for v in values]
    else:
        values = [0] * len(values)
    del attr.ints[:]
    attr.ints.extend(values)
    return f"{node.name}.{attr.name}: {old} -> {values}"


def mutate_attr_float(model, rng):
    node, attr = _node_with_attr(model, rng, [onnx.AttributeProto.FLOAT])
    if node is None:
        return None
    old, attr.f = attr.f, float(_choice(rng, [np.nan, np.inf, -np.inf, 0.0, -1.0, 1e30,
                                              1e-30, 0.5]))
    return f"{node.name}.{attr.name}: {old} -> {attr.f}"


_STRING_VALUES = [b"", b"NOTSET", b"VALID", b"SAME_UPPER", b"SAME_LOWER", b"constant",
                  b"reflect", b"edge", b"wrap", b"linear", b"nearest", b"cubic", b"bogus",
                  b"LEFT", b"RIGHT", b"forward", b"reverse", b"bidirectional",
                  b"ij,jk->ik", b"...ij->...ji", b"tanh", b"none"]


def mutate_attr_string(model, rng):
    node, attr = _node_with_attr(model, rng, [onnx.AttributeProto.STRING])
    if node is None:
        return None
    old, attr.s = attr.s, _choice(rng, _STRING_VALUES)
    return f"{node.name}.{attr.name}: {old!r} -> {attr.s!r}"


def mutate_attr_drop(model, rng):
    picks = [(n, k) for _, n in _nodes(model) for k in range(len(n.attribute))]
    if not picks:
        return None
    node, k = _choice(rng, picks)
    name = node.attribute[k].name
    del node.attribute[k]
    return f"{node.name}: drop attribute {name}"


_OPEN_SEMANTICS = {("TopK", "sorted")}
"""Attributes whose effect ONNX leaves to the runtime (TopK sorted = 0: any order)."""


def mutate_attr_add(model, rng):
    """Add an attribute the op's schema defines but the node does not set."""
    picks = []
    for _, node in _nodes(model):
        try:
            schema = onnx.defs.get_schema(node.op_type, 25, node.domain)
        except onnx.defs.SchemaError:
            continue
        present = {a.name for a in node.attribute}
        picks += [(node, a) for name, a in schema.attributes.items()
                  if name not in present and (node.op_type, name) not in _OPEN_SEMANTICS]
    if not picks:
        return None
    node, spec = _choice(rng, picks)
    kinds = onnx.defs.OpSchema.AttrType
    if spec.type == kinds.INT:
        value: object = _special_int(rng)
    elif spec.type == kinds.INTS:
        value = [_special_int(rng) for _ in range(int(rng.integers(0, 5)))]
    elif spec.type == kinds.FLOAT:
        value = float(_choice(rng, [0.0, 1.0, -1.0, np.nan]))
    elif spec.type == kinds.STRING:
        value = _choice(rng, _STRING_VALUES)
    else:
        return None
    node.attribute.append(helper.make_attribute(spec.name, value))
    return f"{node.name}: add {spec.name} = {value!r}"


def _tensor_infos(model, inputs_only: bool = False) -> list[onnx.ValueInfoProto]:
    g = model.graph
    infos = list(g.input) if inputs_only else [*g.input, *g.output, *g.value_info]
    return [i for i in infos if i.type.HasField("tensor_type") and
            i.type.tensor_type.HasField("shape")]


def mutate_dims(model, rng):
    infos = _tensor_infos(model, inputs_only=rng.random() < 0.7)
    infos = [i for i in infos if i.type.tensor_type.shape.dim]
    if not infos:
        return None
    info = _choice(rng, infos)
    dims = info.type.tensor_type.shape.dim
    d = dims[int(rng.integers(len(dims)))]
    old = d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
    how = _choice(rng, ["dynamic", "unnamed", "static", "negative", "zero", "share"])
    if how == "dynamic":
        d.dim_param = f"d{int(rng.integers(3))}"
    elif how == "unnamed":
        d.Clear()
    elif how == "static":
        d.dim_value = int(rng.integers(1, 7))
    elif how == "negative":
        d.dim_value = int(_choice(rng, [-1, -5, -(2 ** 63)]))
    elif how == "zero":
        d.dim_value = 0
    else:
        names = [x.dim_param for i in _tensor_infos(model) for x in
                 i.type.tensor_type.shape.dim if x.dim_param]
        if not names:
            return None
        d.dim_param = _choice(rng, names)
    new = d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
    return f"{info.name} dim: {old} -> {new} ({how})"


def mutate_rank(model, rng):
    infos = _tensor_infos(model, inputs_only=rng.random() < 0.8)
    if not infos:
        return None
    info = _choice(rng, infos)
    dims = info.type.tensor_type.shape.dim
    if dims and rng.random() < 0.5:
        del dims[int(rng.integers(len(dims)))]
        return f"{info.name}: drop a dim (rank {len(dims)})"
    new = dims.add()
    new.dim_value = int(_choice(rng, [1, 2, 3]))
    return f"{info.name}: add a dim (rank {len(dims)})"


_DTYPES = [TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.INT32,
           TensorProto.INT64, TensorProto.INT8, TensorProto.UINT8, TensorProto.BOOL,
           TensorProto.STRING, TensorProto.BFLOAT16, TensorProto.UNDEFINED, 1000]


def mutate_io_dtype(model, rng):
    infos = [i for i in [*model.graph.input, *model.graph.output]
             if i.type.HasField("tensor_type")]
    if not infos:
        return None
    info = _choice(rng, infos)
    old = info.type.tensor_type.elem_type
    info.type.tensor_type.elem_type = int(_choice(rng, _DTYPES[:-2] if rng.random() < 0.9
                                                  else _DTYPES))
    return f"{info.name} elem_type: {old} -> {info.type.tensor_type.elem_type}"


def _initializers(model) -> list[onnx.TensorProto]:
    inits = [t for g in _graphs(model) for t in g.initializer]
    for _, node in _nodes(model):
        inits += [a.t for a in node.attribute if a.type == onnx.AttributeProto.TENSOR]
    return inits


def mutate_init_dtype(model, rng):
    inits = _initializers(model)
    if not inits:
        return None
    t = _choice(rng, inits)
    old, t.data_type = t.data_type, int(_choice(rng, _DTYPES[:-1]))
    return f"initializer {t.name or '(attribute)'} data_type: {old} -> {t.data_type}"


def mutate_init_dims(model, rng):
    inits = _initializers(model)
    if not inits:
        return None
    t = _choice(rng, inits)
    dims, old = _tensor_dims(t), _tensor_dims(t)
    how = _choice(rng, ["grow", "shrink", "negative", "append", "drop", "zero"])
    if how == "grow" and dims:
        dims[int(rng.integers(len(dims)))] += 1
    elif how == "shrink" and dims:
        k = int(rng.integers(len(dims)))
        dims[k] = max(0, dims[k] - 1)
    elif how == "negative" and dims:
        dims[int(rng.integers(len(dims)))] = -1
    elif how == "append":
        dims.append(int(_choice(rng, [1, 2, 2 ** 40])))
    elif how == "drop" and dims:
        dims.pop()
    else:
        dims = [0] + dims
    del t.dims[:]
    t.dims.extend(dims)
    return f"initializer {t.name or '(attribute)'} dims: {old} -> {dims} (data unchanged)"


def mutate_init_data(model, rng):
    inits = [t for t in _initializers(model) if t.HasField("raw_data") and t.raw_data]
    if not inits:
        return None
    t = _choice(rng, inits)
    n = len(t.raw_data)
    how = _choice(rng, ["truncate", "extend", "odd"])
    if how == "truncate":
        t.raw_data = t.raw_data[: int(rng.integers(n))]
    elif how == "extend":
        t.raw_data = t.raw_data + bytes(int(rng.integers(1, 9)))
    else:
        t.raw_data = t.raw_data[:-1]
    return f"initializer {t.name or '(attribute)'} raw_data: {n} -> {len(t.raw_data)} bytes"


def mutate_init_values(model, rng):
    """New values, same shape and dtype: shape targets, indices and weights change."""
    inits = _initializers(model)
    if not inits:
        return None
    t = _choice(rng, inits)
    try:
        array = numpy_helper.to_array(t).copy()
    except Exception:
        return None
    if array.size == 0:
        return None
    flat = array.reshape(-1)
    k = int(rng.integers(flat.size))
    if array.dtype.kind in "iu":
        flat[k] = np.array(_choice(rng, [-1, 0, 1, 2, -2, 5, 100, -100,
                                         np.iinfo(array.dtype).max,
                                         np.iinfo(array.dtype).min])).astype(array.dtype)
    elif array.dtype.kind == "f":
        flat[k] = _choice(rng, [np.nan, np.inf, -np.inf, 0.0, 1e30, -1e-30])
    elif array.dtype.kind == "b":
        flat[k] = not flat[k]
    else:
        return None
    new = numpy_helper.from_array(flat.reshape(array.shape), t.name)
    t.CopyFrom(new)
    return f"initializer {t.name or '(attribute)'}[{k}] = {flat[k]}"


def mutate_init_reshape(model, rng):
    """The same data under other (consistent) dims: a shape mismatch further on."""
    inits = [t for t in model.graph.initializer if len(t.dims)]
    if not inits:
        return None
    t = _choice(rng, inits)
    array = numpy_helper.to_array(t)
    shapes = [(array.size,), (1, array.size), (array.size, 1), array.shape[::-1]]
    new_shape = _choice(rng, shapes)
    t.CopyFrom(numpy_helper.from_array(array.reshape(new_shape), t.name))
    return f"initializer {t.name}: shape {list(array.shape)} -> {list(new_shape)}"


def mutate_init_drop_or_dup(model, rng):
    g = model.graph
    if not g.initializer:
        return None
    k = int(rng.integers(len(g.initializer)))
    name = g.initializer[k].name
    if rng.random() < 0.5:
        del g.initializer[k]
        return f"drop initializer {name}"
    if rng.random() < 0.5:
        g.initializer.append(g.initializer[k])
        return f"duplicate initializer {name}"
    t = g.initializer[k]
    g.input.append(helper.make_tensor_value_info(name, t.data_type, list(t.dims)))
    return f"initializer {name} is also a graph input"


def mutate_node_drop(model, rng):
    g = model.graph
    if len(g.node) < 2:
        return None
    k = int(rng.integers(len(g.node)))
    name = g.node[k].name
    if rng.random() < 0.5:  # bypass: consumers read the node's first input instead
        node = g.node[k]
        src = next((i for i in node.input if i), None)
        if src and node.output:
            for other in g.node:
                for j, i in enumerate(other.input):
                    if i == node.output[0]:
                        other.input[j] = src
            for out in g.output:
                if out.name == node.output[0]:
                    out.name = src
    del g.node[k]
    return f"drop node {name}"


def mutate_node_duplicate(model, rng):
    g = model.graph
    if not g.node:
        return None
    k = int(rng.integers(len(g.node)))
    copy = onnx.NodeProto()
    copy.CopyFrom(g.node[k])
    renamed = rng.random() < 0.6
    if renamed:
        for j, o in enumerate(copy.output):
            copy.output[j] = f"{o}_dup"
        copy.name = f"{copy.name}_dup"
    g.node.insert(k + 1, copy)
    return f"duplicate node {g.node[k].name}" + (" (renamed outputs)" if renamed else "")


def mutate_edge(model, rng):
    picks = [(g, n) for g, n in _nodes(model) if len(n.input)]
    if not picks:
        return None
    g, node = _choice(rng, picks)
    j = int(rng.integers(len(node.input)))
    old = node.input[j]
    how = _choice(rng, ["rewire", "rewire", "swap", "empty", "undefined"])
    if how == "rewire":
        earlier = [nm for nm in _tensor_names(model.graph) if nm not in node.output]
        node.input[j] = _choice(rng, earlier) if earlier else old
    elif how == "swap" and len(node.input) > 1:
        k = (j + 1) % len(node.input)
        node.input[j], node.input[k] = node.input[k], node.input[j]
    elif how == "empty":
        node.input[j] = ""
    else:
        node.input[j] = "no_such_tensor"
    return f"{node.name}: input {j} {old!r} -> {node.input[j]!r} ({how})"


def mutate_node_order(model, rng):
    g = model.graph
    if len(g.node) < 2:
        return None
    a, b = (int(v) for v in rng.choice(len(g.node), 2, replace=False))
    na, nb = onnx.NodeProto(), onnx.NodeProto()
    na.CopyFrom(g.node[a])
    nb.CopyFrom(g.node[b])
    g.node[a].CopyFrom(nb)
    g.node[b].CopyFrom(na)
    return f"swap nodes {a} and {b}"


_OP_FAMILIES = [
    ["Add", "Sub", "Mul", "Div", "Max", "Min", "Pow", "Mod", "PRelu"],
    ["Relu", "Sigmoid", "Tanh", "Exp", "Neg", "Abs", "Sqrt", "Log", "Erf", "Floor",
     "Reciprocal", "Softplus", "Identity", "Not", "Sign"],
    ["MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool"],
    ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
     "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare"],
    ["Softmax", "LogSoftmax", "Hardmax", "Flatten"],
    ["ArgMax", "ArgMin"], ["MatMul", "Gemm", "Add"], ["Conv", "ConvTranspose"],
    ["Squeeze", "Unsqueeze"], ["Gather", "GatherElements", "GatherND"],
    ["Greater", "Less", "Equal", "GreaterOrEqual", "LessOrEqual"],
    ["Expand", "Tile", "Reshape"], ["LSTM", "GRU", "RNN"],
]


def mutate_op_type(model, rng):
    picks = [(n, fam) for _, n in _nodes(model) for fam in _OP_FAMILIES if n.op_type in fam]
    if not picks:
        return None
    node, family = _choice(rng, picks)
    old = node.op_type
    node.op_type = _choice(rng, [op for op in family if op != old])
    return f"{node.name}: op {old} -> {node.op_type}"


def mutate_outputs(model, rng):
    g = model.graph
    how = _choice(rng, ["add", "drop", "duplicate", "rename"])
    if how == "add":
        inner = [o for n in g.node for o in n.output if o]
        if not inner:
            return None
        name = _choice(rng, inner)
        g.output.append(helper.make_tensor_value_info(name, F, [None]))
        return f"expose {name} as an output"
    if not g.output:
        return None
    k = int(rng.integers(len(g.output)))
    if how == "drop" and len(g.output) > 1:
        name = g.output[k].name
        del g.output[k]
        return f"drop output {name}"
    if how == "duplicate":
        g.output.append(g.output[k])
        return f"duplicate output {g.output[k].name}"
    g.output[k].name = "renamed_output"
    return "rename an output"


def mutate_inputs(model, rng):
    g = model.graph
    if not g.input:
        return None
    k = int(rng.integers(len(g.input)))
    name = g.input[k].name
    if rng.random() < 0.5:
        del g.input[k]
        return f"drop input {name}"
    g.input.append(g.input[k])
    return f"duplicate input {name}"


def mutate_opset(model, rng):
    old = model.opset_import[0].version
    model.opset_import[0].version = int(_choice(rng, [7, 9, 10, 11, 12, 13, 15, 17, 18, 21,
                                                      23, 25]))
    return f"opset {old} -> {model.opset_import[0].version}"


def mutate_subgraph_io(model, rng):
    graphs = _graphs(model)[1:]
    if not graphs:
        return None
    sub = _choice(rng, graphs)
    if sub.output and rng.random() < 0.5:
        del sub.output[int(rng.integers(len(sub.output)))]
        return f"subgraph {sub.name}: drop an output"
    if sub.input:
        del sub.input[int(rng.integers(len(sub.input)))]
        return f"subgraph {sub.name}: drop an input"
    sub.input.append(info("extra_in", F, [1]))
    return f"subgraph {sub.name}: add an input"


MUTATORS: dict[str, tuple[str, Mutator]] = {
    "attr-int": ("attribute", mutate_attr_int),
    "attr-ints": ("attribute", mutate_attr_ints),
    "attr-float": ("attribute", mutate_attr_float),
    "attr-string": ("attribute", mutate_attr_string),
    "attr-drop": ("attribute", mutate_attr_drop),
    "attr-add": ("attribute", mutate_attr_add),
    "dims": ("shape", mutate_dims),
    "rank": ("shape", mutate_rank),
    "io-dtype": ("dtype", mutate_io_dtype),
    "init-dtype": ("dtype", mutate_init_dtype),
    "init-dims": ("initializer", mutate_init_dims),
    "init-data": ("initializer", mutate_init_data),
    "init-values": ("initializer", mutate_init_values),
    "init-reshape": ("initializer", mutate_init_reshape),
    "init-drop-dup": ("initializer", mutate_init_drop_or_dup),
    "node-drop": ("structure", mutate_node_drop),
    "node-duplicate": ("structure", mutate_node_duplicate),
    "edge": ("structure", mutate_edge),
    "node-order": ("structure", mutate_node_order),
    "op-type": ("structure", mutate_op_type),
    "outputs": ("structure", mutate_outputs),
    "inputs": ("structure", mutate_inputs),
    "opset": ("structure", mutate_opset),
    "subgraph-io": ("structure", mutate_subgraph_io),
}
"""Model mutators by name: (family, function)."""

_FAMILY_WEIGHTS = {"attribute": 3.0, "shape": 2.0, "dtype": 0.8, "initializer": 2.0,
                   "structure": 1.5}


def mutate_bytes(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """Damage the serialized model: flip, drop, insert or repeat bytes, or truncate."""
    if not data:
        return data, "empty"
    buf = bytearray(data)
    how = _choice(rng, ["flip", "truncate", "insert", "repeat", "varint"])
    k = int(rng.integers(len(buf)))
    if how == "flip":
        for _ in range(int(rng.integers(1, 5))):
            j = int(rng.integers(len(buf)))
            buf[j] ^= 1 << int(rng.integers(8))
    elif how == "truncate":
        del buf[k:]
    elif how == "insert":
        buf[k:k] = bytes(int(b) for b in rng.integers(0, 256, int(rng.integers(1, 9))))
    elif how == "repeat":
        buf[k:k] = buf[k:k + int(rng.integers(1, 64))]
    else:
        buf[k] = 0xFF
    return bytes(buf), f"bytes: {how} at {k}"


# --------------------------------------------------------------------------- call inputs


def _declared(info: onnx.ValueInfoProto) -> tuple[int, list[int | str | None]]:
    t = info.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in t.shape.dim]
    return t.elem_type, dims


def _random_array(rng: np.random.Generator, elem: int, shape: Sequence[int],
                  extreme: str = "", index_range: int | None = None) -> np.ndarray:
    """Random values; `extreme` "inf" or "nan" plants one such value in a float array
    (and makes integers span negative and too-large values)."""
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(elem))
    except Exception:
        dtype = np.dtype(np.float32)
    shape = tuple(shape)
    if dtype.kind == "b":
        return np.asarray(rng.random(shape) < 0.5)
    if dtype.kind in "iu":
        high = index_range if index_range is not None else 3
        low = -high if (extreme and dtype.kind == "i") else 0
        return rng.integers(low, high + (high if extreme else 0), size=shape).astype(dtype)
    if dtype.kind == "f":
        values = rng.standard_normal(shape)
        if extreme and values.size:
            flat = values.reshape(-1)
            k = int(rng.integers(flat.size))
            flat[k] = np.nan if extreme == "nan" else _choice(rng, [np.inf, -np.inf, 1e30])
        return values.astype(dtype)
    return np.zeros(shape, dtype=np.float32)


def _sizes(rng: np.random.Generator, names: Sequence[str], low: int) -> dict[str, int]:
    return {n: int(rng.integers(low, 5)) for n in names}


def _shape(dims: Sequence[int | str | None], sizes: dict[str, int],
           rng: np.random.Generator) -> list[int]:
    out = []
    for d in dims:
        if isinstance(d, int):
            out.append(max(d, 0))
        elif isinstance(d, str):
            out.append(sizes.setdefault(d, int(rng.integers(1, 5))))
        else:
            out.append(int(rng.integers(1, 5)))
    return out


_FEED_KINDS = ["resized", "size-one", "zero-size", "inconsistent", "wrong-rank",
               "wrong-dtype", "extreme-inf", "extreme-nan", "indices", "resized"]
"""Call variations. extreme-nan: only output shapes and dtypes are compared (how min, max,
argmax and topk treat NaN is left open by ONNX and differs between runtimes)."""


def make_feeds(model: onnx.ModelProto, rng: np.random.Generator) -> tuple[Feed, ...]:
    """The calls of a case: consistent inputs first, then zero to two variations."""
    inits = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits and
              i.type.HasField("tensor_type")]
    declared = {i.name: _declared(i) for i in inputs}
    names = sorted({d for _, dims in declared.values() for d in dims if isinstance(d, str)})
    kinds = ["consistent"] + [_choice(rng, _FEED_KINDS) for _ in range(int(rng.integers(3)))]
    return tuple(_feed(kind, declared, names, rng) for kind in kinds)


def _feed(kind: str, declared: dict[str, tuple[int, list]], names: Sequence[str],
          rng: np.random.Generator) -> Feed:
    low = 0 if kind == "zero-size" else 1
    sizes = _sizes(rng, names, low) if kind != "size-one" else {n: 1 for n in names}
    arrays: dict[str, np.ndarray] = {}
    targets = list(declared)
    victim = _choice(rng, targets) if targets else None
    for name, (elem, dims) in declared.items():
        local = dict(sizes)
        if kind == "inconsistent" and name == victim:
            local = {n: s + 1 for n, s in sizes.items()}
        shape = _shape(dims, local, rng)
        if kind == "zero-size" and name == victim and shape:
            shape[int(rng.integers(len(shape)))] = 0
        if kind == "wrong-rank" and name == victim:
            shape = shape[:-1] if shape and rng.random() < 0.5 else [*shape, 2]
        if kind == "wrong-dtype" and name == victim:
            elem = TensorProto.DOUBLE if elem != TensorProto.DOUBLE else TensorProto.FLOAT
        index_range = 6 if kind == "indices" else None
        extreme = {"extreme-inf": "inf", "extreme-nan": "nan", "indices": "inf"}.get(kind, "")
        arrays[name] = _random_array(rng, elem, shape, extreme=extreme,
                                     index_range=index_range)
    return Feed(kind, arrays)


# --------------------------------------------------------------------------- cases


def onnx_case(seed: int, index: int, examples: str = "small") -> OnnxCase:
    """Case `index` of the run with `seed` (independent of the other cases)."""
    rng = np.random.default_rng([seed, index])
    seeds = seed_names(examples)
    weights = np.array([0.25 if s in SMALL_EXAMPLES else 0.04 if s in LARGE_EXAMPLES
                        else 1.0 for s in seeds])
    seed_name = seeds[int(rng.choice(len(seeds), p=weights / weights.sum()))]
    model = seed_model(seed_name, rng)
    mutations = _mutate(model, rng)
    feeds = make_feeds(model, rng)
    nan_weights = _has_nan(_initializers(model))
    data = model.SerializeToString()
    if rng.random() < 0.06:
        data, what = mutate_bytes(data, rng)
        mutations.append(what)
    return OnnxCase(index, seed_name, tuple(mutations), data, feeds, nan_weights)


def _has_nan(tensors: Sequence[onnx.TensorProto]) -> bool:
    for t in tensors:
        try:
            array = numpy_helper.to_array(t)
        except Exception:  # a damaged tensor: the model is rejected before any run
            continue
        if array.dtype.kind == "f" and bool(np.isnan(array).any()):
            return True
    return False


def _mutate(model: onnx.ModelProto, rng: np.random.Generator) -> list[str]:
    count = int(rng.choice(4, p=[0.2, 0.55, 0.2, 0.05]))
    names = list(MUTATORS)
    weights = np.array([_FAMILY_WEIGHTS[MUTATORS[n][0]] for n in names])
    done: list[str] = []
    attempts = 0
    while len(done) < count and attempts < 10:
        attempts += 1
        name = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        try:
            what = MUTATORS[name][1](model, rng)
        except (ValueError, TypeError, IndexError):  # a mutator that does not fit: skip
            what = None
        if what is not None:
            done.append(f"{name}: {what}")
    return done
