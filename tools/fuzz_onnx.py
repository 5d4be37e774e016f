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
from functools import cache
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples" / "models"
SMALL_EXAMPLES = ("mlp", "cnn", "lstm", "gru")
LARGE_EXAMPLES = ("bert_static", "resnet18", "gpt2", "mobilenetv2", "bert")
EXAMPLE_SETS = {"none": (), "small": SMALL_EXAMPLES, "all": SMALL_EXAMPLES + LARGE_EXAMPLES}

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


# --------------------------------------------------------------------------- seed models


def _vi(name: str, elem: int, shape: Sequence[int | str | None] | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def _init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)


def _ints(name: str, values: Sequence[int]) -> onnx.TensorProto:
    return _init(name, np.asarray(values, dtype=np.int64))


def _weights(rng: np.random.Generator, name: str, *shape: int) -> onnx.TensorProto:
    return _init(name, rng.standard_normal(shape).astype(np.float32))


def _model(nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto],
           outputs: Sequence[tuple[str, int]], inits: Sequence[onnx.TensorProto] = (),
           opset: int = 17, ranks: dict[str, int] | None = None) -> onnx.ModelProto:
    """A model whose output shapes are filled in by onnx's inference (`ranks`: the
    output ranks inference cannot tell, as `?` dims)."""
    graph = helper.make_graph(nodes, "seed", inputs,
                              [_vi(n, t, None) for n, t in outputs], list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    inferred = onnx.shape_inference.infer_shapes(model)
    known = {v.name: v for v in [*inferred.graph.value_info, *inferred.graph.output]}
    for out in model.graph.output:
        if out.name in known and known[out.name].type.tensor_type.HasField("shape"):
            out.type.CopyFrom(known[out.name].type)
        else:
            for _ in range((ranks or {}).get(out.name, 1)):
                out.type.tensor_type.shape.dim.add()
    return model


def _n(op: str, inputs: Sequence[str], outputs: Sequence[str], **attrs) -> onnx.NodeProto:
    return helper.make_node(op, list(inputs), list(outputs), name=f"{op.lower()}_{outputs[0]}",
                            **attrs)


def seed_elementwise(rng):
    nodes = [_n("Add", ["x", "b"], ["s"]), _n("Relu", ["s"], ["r"]),
             _n("Mul", ["r", "y"], ["m"]), _n("Sigmoid", ["m"], ["g"]),
             _n("Sub", ["g", "x"], ["d"]), _n("Div", ["d", "c"], ["out"])]
    return _model(nodes, [_vi("x", F, ["n", 3, 4]), _vi("y", F, [1, 3, 1])],
                  [("out", F)], [_weights(rng, "b", 4), _init("c", np.float32(2.0))])


def seed_unary_chain(rng):
    nodes = [_n("Tanh", ["x"], ["t"]), _n("Exp", ["t"], ["e"]), _n("Sqrt", ["e"], ["q"]),
             _n("Neg", ["q"], ["ng"]), _n("Abs", ["ng"], ["a"]), _n("Log", ["a"], ["lg"]),
             _n("Clip", ["lg", "lo", "hi"], ["cl"]), _n("Pow", ["cl", "p"], ["out"])]
    inits = [_init("lo", np.float32(-0.5)), _init("hi", np.float32(0.75)),
             _init("p", np.float32(2.0))]
    return _model(nodes, [_vi("x", F, ["n", 5])], [("out", F)], inits)


def seed_compare_where(rng):
    nodes = [_n("Greater", ["x", "y"], ["gt"]), _n("Where", ["gt", "x", "y"], ["w"]),
             _n("Equal", ["x", "y"], ["eq"]), _n("Not", ["eq"], ["ne"]),
             _n("Cast", ["ne"], ["nf"], to=F), _n("Max", ["w", "nf"], ["mx"]),
             _n("Min", ["mx", "x"], ["out"])]
    return _model(nodes, [_vi("x", F, ["n", 4]), _vi("y", F, [4])], [("out", F)])


def seed_matmul(rng):
    nodes = [_n("MatMul", ["x", "w"], ["h"]), _n("Add", ["h", "b"], ["hb"]),
             _n("Relu", ["hb"], ["r"]), _n("MatMul", ["r", "w2"], ["out"])]
    inits = [_weights(rng, "w", 6, 5), _weights(rng, "b", 5), _weights(rng, "w2", 5, 3)]
    return _model(nodes, [_vi("x", F, ["batch", 6])], [("out", F)], inits)


def seed_batched_matmul(rng):
    nodes = [_n("MatMul", ["a", "b"], ["ab"]), _n("Transpose", ["ab"], ["t"], perm=[0, 2, 1]),
             _n("MatMul", ["t", "c"], ["out"])]
    return _model(nodes, [_vi("a", F, ["b", 2, 3]), _vi("b", F, [3, 4]),
                          _vi("c", F, ["b", 2, 2])], [("out", F)])


def seed_gemm(rng):
    nodes = [_n("Gemm", ["x", "w", "c"], ["g"], alpha=0.5, beta=2.0, transB=1),
             _n("Gemm", ["g", "w2"], ["out"], transA=0)]
    inits = [_weights(rng, "w", 4, 3), _weights(rng, "c", 4), _weights(rng, "w2", 4, 2)]
    return _model(nodes, [_vi("x", F, ["n", 3])], [("out", F)], inits)


def seed_conv(rng):
    nodes = [_n("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                strides=[1, 1]),
             _n("Relu", ["c"], ["r"]),
             _n("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             _n("Conv", ["p", "w2"], ["c2"], kernel_shape=[3, 3], dilations=[1, 1],
                auto_pad="SAME_UPPER"),
             _n("AveragePool", ["c2"], ["a"], kernel_shape=[2, 2], pads=[0, 0, 1, 1]),
             _n("GlobalAveragePool", ["a"], ["gp"]), _n("Flatten", ["gp"], ["out"], axis=1)]
    inits = [_weights(rng, "w", 4, 2, 3, 3), _weights(rng, "b", 4),
             _weights(rng, "w2", 3, 4, 3, 3)]
    return _model(nodes, [_vi("x", F, ["n", 2, 8, 8])], [("out", F)], inits)


def seed_grouped_conv(rng):
    nodes = [_n("Conv", ["x", "w"], ["c"], kernel_shape=[3], group=2, strides=[2],
                pads=[1, 0]),
             _n("BatchNormalization", ["c", "s", "bb", "m", "v"], ["bn"], epsilon=1e-3),
             _n("LpPool", ["bn"], ["out"], kernel_shape=[2], p=2)]
    inits = [_weights(rng, "w", 4, 2, 3), _init("s", np.ones(4, np.float32)),
             _weights(rng, "bb", 4), _weights(rng, "m", 4),
             _init("v", np.abs(rng.standard_normal(4)).astype(np.float32) + 0.5)]
    return _model(nodes, [_vi("x", F, [1, 4, 9])], [("out", F)], inits)


def seed_conv_transpose(rng):
    nodes = [_n("ConvTranspose", ["x", "w", "b"], ["ct"], kernel_shape=[3, 3],
                strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1]),
             _n("Sigmoid", ["ct"], ["out"])]
    inits = [_weights(rng, "w", 2, 3, 3, 3), _weights(rng, "b", 3)]
    return _model(nodes, [_vi("x", F, [1, 2, 4, 4])], [("out", F)], inits)


def seed_reshape_transpose(rng):
    nodes = [_n("Reshape", ["x", "shape"], ["r"]),
             _n("Transpose", ["r"], ["t"], perm=[0, 2, 1]),
             _n("Concat", ["t", "t"], ["c"], axis=1),
             _n("Slice", ["c", "starts", "ends", "axes", "steps"], ["s"]),
             _n("Gather", ["s", "idx"], ["g"], axis=1),
             _n("Unsqueeze", ["g", "uax"], ["u"]), _n("Squeeze", ["u", "uax"], ["out"])]
    inits = [_ints("shape", [-1, 2, 3]), _ints("starts", [0, 1]), _ints("ends", [4, 9]),
             _ints("axes", [1, 2]), _ints("steps", [2, 1]), _ints("idx", [1, 0, -1]),
             _ints("uax", [0])]
    return _model(nodes, [_vi("x", F, ["n", 6])], [("out", F)], inits)


def seed_shape_reshape(rng):
    nodes = [_n("Shape", ["x"], ["sh"]), _n("Gather", ["sh", "zero"], ["n0"], axis=0),
             _n("Unsqueeze", ["n0", "ax0"], ["n1"]),
             _n("Concat", ["n1", "minus1"], ["target"], axis=0),
             _n("Reshape", ["y", "target"], ["r"]), _n("Add", ["r", "x"], ["out"])]
    inits = [_ints("zero", 0), _ints("ax0", [0]), _ints("minus1", [-1])]
    return _model(nodes, [_vi("x", F, ["n", 6]), _vi("y", F, ["n", 2, 3])], [("out", F)],
                  inits)


def seed_expand_tile(rng):
    nodes = [_n("Expand", ["x", "shape"], ["e"]), _n("Tile", ["e", "reps"], ["t"]),
             _n("ReduceSum", ["t", "axes"], ["out"], keepdims=0)]
    inits = [_ints("shape", [2, 3, 4]), _ints("reps", [1, 2, 1]), _ints("axes", [1])]
    return _model(nodes, [_vi("x", F, [3, 1])], [("out", F)], inits)


def seed_dynamic_expand(rng):
    nodes = [_n("Shape", ["y"], ["sh"]), _n("Expand", ["x", "sh"], ["e"]),
             _n("Mul", ["e", "y"], ["out"])]
    return _model(nodes, [_vi("x", F, [1, "k"]), _vi("y", F, ["n", "k"])], [("out", F)])


def seed_reductions(rng):
    nodes = [_n("ReduceMean", ["x"], ["m"], axes=[1], keepdims=1),
             _n("ReduceMax", ["x"], ["mx"], axes=[-1], keepdims=0),
             _n("ArgMax", ["x"], ["am"], axis=2, keepdims=0),
             _n("Cast", ["am"], ["amf"], to=F),
             _n("Add", ["mx", "amf"], ["s"]), _n("ReduceL2", ["m"], ["out"], keepdims=0)]
    return _model(nodes, [_vi("x", F, ["n", 3, 4])], [("out", F), ("s", F)], opset=13)


def seed_reduce_axes_input(rng):
    nodes = [_n("ReduceSum", ["x", "axes"], ["s"], keepdims=1),
             _n("ReduceProd", ["x", "axes"], ["p"], keepdims=0),
             _n("ReduceLogSumExp", ["x"], ["out"], keepdims=1)]
    return _model(nodes, [_vi("x", F, [2, "m", 3]), _vi("axes", I64, [1])],
                  [("s", F), ("p", F), ("out", F)], opset=18, ranks={"s": 3, "p": 2})


def seed_softmax_norm(rng):
    nodes = [_n("Softmax", ["x"], ["sm"], axis=-1), _n("LogSoftmax", ["sm"], ["ls"], axis=1),
             _n("LayerNormalization", ["ls", "g", "b"], ["ln"], axis=-1, epsilon=1e-5),
             _n("InstanceNormalization", ["ln", "s", "bi"], ["out"])]
    inits = [_weights(rng, "g", 5), _weights(rng, "b", 5), _weights(rng, "s", 3),
             _weights(rng, "bi", 3)]
    return _model(nodes, [_vi("x", F, ["n", 3, 5])], [("out", F)], inits)


def seed_split_pad(rng):
    nodes = [_n("Split", ["x", "split"], ["a", "b"], axis=1),
             _n("Pad", ["a", "pads", "pv"], ["p"], mode="constant"),
             _n("Pad", ["b", "pads"], ["q"], mode="reflect"),
             _n("Concat", ["p", "q"], ["out"], axis=0)]
    inits = [_ints("split", [3, 3]), _ints("pads", [1, 0, 0, 2]), _init("pv", np.float32(3))]
    return _model(nodes, [_vi("x", F, [2, 6])], [("out", F)], inits)


def seed_topk_cumsum(rng):
    nodes = [_n("TopK", ["x", "k"], ["v", "i"], axis=-1, largest=1),
             _n("CumSum", ["v", "ax"], ["c"], exclusive=0, reverse=1),
             _n("Cast", ["i"], ["fi"], to=F), _n("Add", ["c", "fi"], ["out"])]
    inits = [_ints("k", [2]), _init("ax", np.int64(1))]
    return _model(nodes, [_vi("x", F, ["n", 5])], [("out", F)], inits)


def seed_gather_indices(rng):
    nodes = [_n("Gather", ["x", "idx"], ["g"], axis=0),
             _n("GatherElements", ["x", "el"], ["ge"], axis=1),
             _n("ReduceSum", ["ge", "one"], ["r"], keepdims=0),
             _n("Mul", ["g", "sc"], ["out"])]
    return _model(nodes, [_vi("x", F, [4, 3]), _vi("idx", I64, ["k"]), _vi("el", I64, [4, 2])],
                  [("out", F), ("r", F)], [_init("sc", np.float32(0.5)), _ints("one", [1])],
                  opset=13)


def seed_if(rng):
    then_g = helper.make_graph([_n("Add", ["x", "one"], ["t_out"])], "then_b", [],
                               [_vi("t_out", F, ["n", 3])])
    else_g = helper.make_graph([_n("Mul", ["x", "x"], ["e_out"])], "else_b", [],
                               [_vi("e_out", F, ["n", 3])])
    nodes = [helper.make_node("If", ["cond"], ["y"], name="if_y", then_branch=then_g,
                              else_branch=else_g),
             _n("Relu", ["y"], ["out"])]
    return _model(nodes, [_vi("cond", BOOL, []), _vi("x", F, ["n", 3])], [("out", F)],
                  [_init("one", np.ones(3, np.float32))])


def seed_loop(rng):
    body = helper.make_graph(
        [_n("Identity", ["cond_in"], ["cond_out"]), _n("Add", ["acc_in", "x"], ["acc_out"]),
         _n("Mul", ["acc_out", "half"], ["scan_out"])],
        "body", [_vi("i", I64, []), _vi("cond_in", BOOL, []), _vi("acc_in", F, [2, 3])],
        [_vi("cond_out", BOOL, []), _vi("acc_out", F, [2, 3]), _vi("scan_out", F, [2, 3])])
    nodes = [helper.make_node("Loop", ["trips", "", "acc0"], ["acc", "scans"], name="loop",
                              body=body),
             _n("ReduceSum", ["scans", "zero"], ["out"], keepdims=0)]
    inits = [_ints("trips", 3), _init("half", np.float32(0.5)), _ints("zero", [0])]
    return _model(nodes, [_vi("x", F, [2, 3]), _vi("acc0", F, [2, 3])],
                  [("out", F), ("acc", F)], inits, opset=13, ranks={"out": 2, "acc": 2})


def seed_resize_einsum(rng):
    nodes = [_n("Resize", ["x", "", "scales"], ["r"], mode="nearest"),
             _n("Einsum", ["r", "w"], ["out"], equation="nchw,wk->nchk")]
    inits = [_init("scales", np.array([1, 1, 2, 2], np.float32)), _weights(rng, "w", 6, 2)]
    return _model(nodes, [_vi("x", F, [1, 2, 3, 3])], [("out", F)], inits, opset=13)


def seed_constant_of_shape_range(rng):
    nodes = [helper.make_node("Constant", [], ["lim"], name="lim",
                              value=numpy_helper.from_array(np.array(5, np.int64))),
             _n("Range", ["start", "lim", "delta"], ["rg"]),
             _n("Cast", ["rg"], ["rf"], to=F),
             _n("ConstantOfShape", ["shape"], ["z"],
                value=numpy_helper.from_array(np.array([1.5], np.float32))),
             _n("Add", ["z", "rf"], ["s"]), _n("Add", ["s", "x"], ["out"])]
    inits = [_ints("start", 0), _ints("delta", 2), _ints("shape", [2, 3])]
    return _model(nodes, [_vi("x", F, ["n", 1, 3])], [("out", F)], inits)


def seed_rnn(rng):
    nodes = [_n("GRU", ["x", "w", "r", "b"], ["y", "h"], hidden_size=3),
             _n("Squeeze", ["h", "ax"], ["out"])]
    inits = [_weights(rng, "w", 1, 9, 4), _weights(rng, "r", 1, 9, 3),
             _weights(rng, "b", 1, 18), _ints("ax", [0])]
    return _model(nodes, [_vi("x", F, ["t", 2, 4])], [("out", F), ("y", F)], inits)


SEEDS: dict[str, Callable[[np.random.Generator], onnx.ModelProto]] = {
    name[len("seed_"):]: fn for name, fn in globals().items() if name.startswith("seed_")}
"""Seed model builders by name (deterministic for a given generator)."""


@cache
def _example(name: str) -> bytes:
    return (EXAMPLES_DIR / f"{name}.onnx").read_bytes()


def seed_model(name: str, rng: np.random.Generator) -> onnx.ModelProto:
    """A fresh copy of seed `name` (a builder above or an example model)."""
    if name in SEEDS:
        return SEEDS[name](rng)
    model = onnx.ModelProto()
    model.ParseFromString(_example(name))
    return model


def seed_names(examples: str = "small") -> list[str]:
    """Seeds a run draws from: the built models and the chosen example models."""
    return [*SEEDS, *(n for n in EXAMPLE_SETS[examples] if (EXAMPLES_DIR / f"{n}.onnx")
                      .exists())]


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
    sub.input.append(_vi("extra_in", F, [1]))
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
