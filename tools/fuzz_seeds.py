"""Seed models for the ONNX fuzzer (tools/fuzz_onnx.py): small valid models across the op
families the importer supports, built with onnx.helper, and the bundled examples."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


# --------------------------------------------------------------------------- seed models


def info(name: str, elem: int, shape: Sequence[int | str | None] | None) -> onnx.ValueInfoProto:
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
                              [info(n, t, None) for n, t in outputs], list(inits))
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
    return _model(nodes, [info("x", F, ["n", 3, 4]), info("y", F, [1, 3, 1])],
                  [("out", F)], [_weights(rng, "b", 4), _init("c", np.float32(2.0))])


def seed_unary_chain(rng):
    nodes = [_n("Tanh", ["x"], ["t"]), _n("Exp", ["t"], ["e"]), _n("Sqrt", ["e"], ["q"]),
             _n("Neg", ["q"], ["ng"]), _n("Abs", ["ng"], ["a"]), _n("Log", ["a"], ["lg"]),
             _n("Clip", ["lg", "lo", "hi"], ["cl"]), _n("Pow", ["cl", "p"], ["out"])]
    inits = [_init("lo", np.float32(-0.5)), _init("hi", np.float32(0.75)),
             _init("p", np.float32(2.0))]
    return _model(nodes, [info("x", F, ["n", 5])], [("out", F)], inits)


def seed_compare_where(rng):
    nodes = [_n("Greater", ["x", "y"], ["gt"]), _n("Where", ["gt", "x", "y"], ["w"]),
             _n("Equal", ["x", "y"], ["eq"]), _n("Not", ["eq"], ["ne"]),
             _n("Cast", ["ne"], ["nf"], to=F), _n("Max", ["w", "nf"], ["mx"]),
             _n("Min", ["mx", "x"], ["out"])]
    return _model(nodes, [info("x", F, ["n", 4]), info("y", F, [4])], [("out", F)])


def seed_matmul(rng):
    nodes = [_n("MatMul", ["x", "w"], ["h"]), _n("Add", ["h", "b"], ["hb"]),
             _n("Relu", ["hb"], ["r"]), _n("MatMul", ["r", "w2"], ["out"])]
    inits = [_weights(rng, "w", 6, 5), _weights(rng, "b", 5), _weights(rng, "w2", 5, 3)]
    return _model(nodes, [info("x", F, ["batch", 6])], [("out", F)], inits)


def seed_batched_matmul(rng):
    nodes = [_n("MatMul", ["a", "b"], ["ab"]), _n("Transpose", ["ab"], ["t"], perm=[0, 2, 1]),
             _n("MatMul", ["t", "c"], ["out"])]
    return _model(nodes, [info("a", F, ["b", 2, 3]), info("b", F, [3, 4]),
                          info("c", F, ["b", 2, 2])], [("out", F)])


def seed_gemm(rng):
    nodes = [_n("Gemm", ["x", "w", "c"], ["g"], alpha=0.5, beta=2.0, transB=1),
             _n("Gemm", ["g", "w2"], ["out"], transA=0)]
    inits = [_weights(rng, "w", 4, 3), _weights(rng, "c", 4), _weights(rng, "w2", 4, 2)]
    return _model(nodes, [info("x", F, ["n", 3])], [("out", F)], inits)


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
    return _model(nodes, [info("x", F, ["n", 2, 8, 8])], [("out", F)], inits)


def seed_grouped_conv(rng):
    nodes = [_n("Conv", ["x", "w"], ["c"], kernel_shape=[3], group=2, strides=[2],
                pads=[1, 0]),
             _n("BatchNormalization", ["c", "s", "bb", "m", "v"], ["bn"], epsilon=1e-3),
             _n("LpPool", ["bn"], ["out"], kernel_shape=[2], p=2)]
    inits = [_weights(rng, "w", 4, 2, 3), _init("s", np.ones(4, np.float32)),
             _weights(rng, "bb", 4), _weights(rng, "m", 4),
             _init("v", np.abs(rng.standard_normal(4)).astype(np.float32) + 0.5)]
    return _model(nodes, [info("x", F, [1, 4, 9])], [("out", F)], inits)


def seed_conv_transpose(rng):
    nodes = [_n("ConvTranspose", ["x", "w", "b"], ["ct"], kernel_shape=[3, 3],
                strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1]),
             _n("Sigmoid", ["ct"], ["out"])]
    inits = [_weights(rng, "w", 2, 3, 3, 3), _weights(rng, "b", 3)]
    return _model(nodes, [info("x", F, [1, 2, 4, 4])], [("out", F)], inits)


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
    return _model(nodes, [info("x", F, ["n", 6])], [("out", F)], inits)


def seed_shape_reshape(rng):
    nodes = [_n("Shape", ["x"], ["sh"]), _n("Gather", ["sh", "zero"], ["n0"], axis=0),
             _n("Unsqueeze", ["n0", "ax0"], ["n1"]),
             _n("Concat", ["n1", "minus1"], ["target"], axis=0),
             _n("Reshape", ["y", "target"], ["r"]), _n("Add", ["r", "x"], ["out"])]
    inits = [_ints("zero", 0), _ints("ax0", [0]), _ints("minus1", [-1])]
    return _model(nodes, [info("x", F, ["n", 6]), info("y", F, ["n", 2, 3])], [("out", F)],
                  inits)


def seed_expand_tile(rng):
    nodes = [_n("Expand", ["x", "shape"], ["e"]), _n("Tile", ["e", "reps"], ["t"]),
             _n("ReduceSum", ["t", "axes"], ["out"], keepdims=0)]
    inits = [_ints("shape", [2, 3, 4]), _ints("reps", [1, 2, 1]), _ints("axes", [1])]
    return _model(nodes, [info("x", F, [3, 1])], [("out", F)], inits)


def seed_dynamic_expand(rng):
    nodes = [_n("Shape", ["y"], ["sh"]), _n("Expand", ["x", "sh"], ["e"]),
             _n("Mul", ["e", "y"], ["out"])]
    return _model(nodes, [info("x", F, [1, "k"]), info("y", F, ["n", "k"])], [("out", F)])


def seed_reductions(rng):
    nodes = [_n("ReduceMean", ["x"], ["m"], axes=[1], keepdims=1),
             _n("ReduceMax", ["x"], ["mx"], axes=[-1], keepdims=0),
             _n("ArgMax", ["x"], ["am"], axis=2, keepdims=0),
             _n("Cast", ["am"], ["amf"], to=F),
             _n("Add", ["mx", "amf"], ["s"]), _n("ReduceL2", ["m"], ["out"], keepdims=0)]
    return _model(nodes, [info("x", F, ["n", 3, 4])], [("out", F), ("s", F)], opset=13)


def seed_reduce_axes_input(rng):
    nodes = [_n("ReduceSum", ["x", "axes"], ["s"], keepdims=1),
             _n("ReduceProd", ["x", "axes"], ["p"], keepdims=0),
             _n("ReduceLogSumExp", ["x"], ["out"], keepdims=1)]
    return _model(nodes, [info("x", F, [2, "m", 3]), info("axes", I64, [1])],
                  [("s", F), ("p", F), ("out", F)], opset=18, ranks={"s": 3, "p": 2})


def seed_softmax_norm(rng):
    nodes = [_n("Softmax", ["x"], ["sm"], axis=-1), _n("LogSoftmax", ["sm"], ["ls"], axis=1),
             _n("LayerNormalization", ["ls", "g", "b"], ["ln"], axis=-1, epsilon=1e-5),
             _n("InstanceNormalization", ["ln", "s", "bi"], ["out"])]
    inits = [_weights(rng, "g", 5), _weights(rng, "b", 5), _weights(rng, "s", 3),
             _weights(rng, "bi", 3)]
    return _model(nodes, [info("x", F, ["n", 3, 5])], [("out", F)], inits)


def seed_split_pad(rng):
    nodes = [_n("Split", ["x", "split"], ["a", "b"], axis=1),
             _n("Pad", ["a", "pads", "pv"], ["p"], mode="constant"),
             _n("Pad", ["b", "pads"], ["q"], mode="reflect"),
             _n("Concat", ["p", "q"], ["out"], axis=0)]
    inits = [_ints("split", [3, 3]), _ints("pads", [1, 0, 0, 2]), _init("pv", np.float32(3))]
    return _model(nodes, [info("x", F, [2, 6])], [("out", F)], inits)


def seed_topk_cumsum(rng):
    nodes = [_n("TopK", ["x", "k"], ["v", "i"], axis=-1, largest=1),
             _n("CumSum", ["v", "ax"], ["c"], exclusive=0, reverse=1),
             _n("Cast", ["i"], ["fi"], to=F), _n("Add", ["c", "fi"], ["out"])]
    inits = [_ints("k", [2]), _init("ax", np.int64(1))]
    return _model(nodes, [info("x", F, ["n", 5])], [("out", F)], inits)


def seed_gather_indices(rng):
    nodes = [_n("Gather", ["x", "idx"], ["g"], axis=0),
             _n("GatherElements", ["x", "el"], ["ge"], axis=1),
             _n("ReduceSum", ["ge", "one"], ["r"], keepdims=0),
             _n("Mul", ["g", "sc"], ["out"])]
    return _model(nodes, [info("x", F, [4, 3]), info("idx", I64, ["k"]), info("el", I64, [4, 2])],
                  [("out", F), ("r", F)], [_init("sc", np.float32(0.5)), _ints("one", [1])],
                  opset=13)


def seed_if(rng):
    then_g = helper.make_graph([_n("Add", ["x", "one"], ["t_out"])], "then_b", [],
                               [info("t_out", F, ["n", 3])])
    else_g = helper.make_graph([_n("Mul", ["x", "x"], ["e_out"])], "else_b", [],
                               [info("e_out", F, ["n", 3])])
    nodes = [helper.make_node("If", ["cond"], ["y"], name="if_y", then_branch=then_g,
                              else_branch=else_g),
             _n("Relu", ["y"], ["out"])]
    return _model(nodes, [info("cond", BOOL, []), info("x", F, ["n", 3])], [("out", F)],
                  [_init("one", np.ones(3, np.float32))])


def seed_loop(rng):
    body = helper.make_graph(
        [_n("Identity", ["cond_in"], ["cond_out"]), _n("Add", ["acc_in", "x"], ["acc_out"]),
         _n("Mul", ["acc_out", "half"], ["scan_out"])],
        "body", [info("i", I64, []), info("cond_in", BOOL, []), info("acc_in", F, [2, 3])],
        [info("cond_out", BOOL, []), info("acc_out", F, [2, 3]), info("scan_out", F, [2, 3])])
    nodes = [helper.make_node("Loop", ["trips", "", "acc0"], ["acc", "scans"], name="loop",
                              body=body),
             _n("ReduceSum", ["scans", "zero"], ["out"], keepdims=0)]
    inits = [_ints("trips", 3), _init("half", np.float32(0.5)), _ints("zero", [0])]
    return _model(nodes, [info("x", F, [2, 3]), info("acc0", F, [2, 3])],
                  [("out", F), ("acc", F)], inits, opset=13, ranks={"out": 2, "acc": 2})


def seed_resize_einsum(rng):
    nodes = [_n("Resize", ["x", "", "scales"], ["r"], mode="nearest"),
             _n("Einsum", ["r", "w"], ["out"], equation="nchw,wk->nchk")]
    inits = [_init("scales", np.array([1, 1, 2, 2], np.float32)), _weights(rng, "w", 6, 2)]
    return _model(nodes, [info("x", F, [1, 2, 3, 3])], [("out", F)], inits, opset=13)


def seed_constant_of_shape_range(rng):
    nodes = [helper.make_node("Constant", [], ["lim"], name="lim",
                              value=numpy_helper.from_array(np.array(5, np.int64))),
             _n("Range", ["start", "lim", "delta"], ["rg"]),
             _n("Cast", ["rg"], ["rf"], to=F),
             _n("ConstantOfShape", ["shape"], ["z"],
                value=numpy_helper.from_array(np.array([1.5], np.float32))),
             _n("Add", ["z", "rf"], ["s"]), _n("Add", ["s", "x"], ["out"])]
    inits = [_ints("start", 0), _ints("delta", 2), _ints("shape", [2, 3])]
    return _model(nodes, [info("x", F, ["n", 1, 3])], [("out", F)], inits)


def seed_rnn(rng):
    nodes = [_n("GRU", ["x", "w", "r", "b"], ["y", "h"], hidden_size=3),
             _n("Squeeze", ["h", "ax"], ["out"])]
    inits = [_weights(rng, "w", 1, 9, 4), _weights(rng, "r", 1, 9, 3),
             _weights(rng, "b", 1, 18), _ints("ax", [0])]
    return _model(nodes, [info("x", F, ["t", 2, 4])], [("out", F), ("y", F)], inits)


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
