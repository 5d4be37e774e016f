"""Small ONNX models for the optimizer tests, built with onnx.helper.

`make_resnet_like`: a ResNet-18-style stack (Conv+BN+Relu stem, max pool, basic blocks
with residual Add, a strided block with a 1x1 Conv+BN shortcut, global pool, Gemm).
`make_bert_like`: one BERT-style encoder layer at opset 20 (attention with
Reshape/Transpose/MatMul/Softmax, LayerNormalization, Gelu). `make_bert_decomposed`:
the same with LayerNorm, GELU written out as ReduceMean/Sub/Pow/Sqrt/Div and Div/Erf/Add/
Mul and shape sub-graphs Shape -> Gather -> Unsqueeze -> Concat -> Reshape (opset 17,
what older exporters emit).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class _Graph:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.n = 0

    def name(self, base: str) -> str:
        self.n += 1
        return f"{base}{self.n}"

    def weight(self, shape, scale=0.2, offset=0.0, dtype=np.float32) -> str:
        name = self.name("w")
        value = (offset + scale * self.rng.standard_normal(shape)).astype(dtype)
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def const(self, value, dtype=np.float32) -> str:
        name = self.name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs, **attrs) -> str:
        out = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out

    def model(self, inputs, outputs, opset: int) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, "m", inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        onnx.checker.check_model(model)
        return model


def _conv_bn(g: _Graph, x: str, cin: int, cout: int, k: int, stride: int = 1,
             relu: bool = True) -> str:
    w = g.weight((cout, cin, k, k), scale=float(np.sqrt(2.0 / (cin * k * k))))
    y = g.op("Conv", [x, w], kernel_shape=[k, k], strides=[stride, stride],
             pads=[k // 2] * 4)
    bn = [g.weight((cout,), 0.1, 1.0), g.weight((cout,), 0.1),
          g.weight((cout,), 0.1), g.const(1.0 + np.random.default_rng(cout).random(cout))]
    y = g.op("BatchNormalization", [y, *bn], epsilon=1e-5)
    return g.op("Relu", [y]) if relu else y


def _basic_block(g: _Graph, x: str, cin: int, cout: int, stride: int) -> str:
    y = _conv_bn(g, x, cin, cout, 3, stride)
    y = _conv_bn(g, y, cout, cout, 3, 1, relu=False)
    shortcut = x if stride == 1 and cin == cout else _conv_bn(g, x, cin, cout, 1, stride,
                                                              relu=False)
    return g.op("Relu", [g.op("Add", [y, shortcut])])


def make_resnet_like(size: int = 16) -> onnx.ModelProto:
    g = _Graph(0)
    y = _conv_bn(g, "x", 3, 8, 3)
    y = g.op("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])
    y = _basic_block(g, y, 8, 8, 1)
    y = _basic_block(g, y, 8, 8, 1)
    y = _basic_block(g, y, 8, 16, 2)
    y = _basic_block(g, y, 16, 16, 1)
    y = g.op("Flatten", [g.op("GlobalAveragePool", [y])])
    y = g.op("Gemm", [y, g.weight((10, 16)), g.weight((10,))], transB=1)
    g.nodes[-1].output[0] = "logits"
    return g.model([helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
                   [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], 17)


SEQ, HIDDEN, HEADS = 8, 16, 2


def _linear(g: _Graph, x: str, n_in: int, n_out: int) -> str:
    return g.op("Add", [g.op("MatMul", [x, g.weight((n_in, n_out))]), g.weight((n_out,))])


def _layer_norm(g: _Graph, x: str, decomposed: bool) -> str:
    gamma, beta = g.weight((HIDDEN,), 0.1, 1.0), g.weight((HIDDEN,), 0.1)
    if not decomposed:
        return g.op("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=1e-5)
    mean = g.op("ReduceMean", [x], axes=[-1])  # opset 17: axes is an attribute
    d = g.op("Sub", [x, mean])
    var = g.op("ReduceMean", [g.op("Pow", [d, g.const(2.0)])], axes=[-1])
    std = g.op("Sqrt", [g.op("Add", [var, g.const(1e-5)])])
    return g.op("Add", [g.op("Mul", [g.op("Div", [d, std]), gamma]), beta])


def _gelu(g: _Graph, x: str, decomposed: bool) -> str:
    if not decomposed:
        return g.op("Gelu", [x])
    erf = g.op("Erf", [g.op("Div", [x, g.const(np.sqrt(2.0))])])
    return g.op("Mul", [g.op("Mul", [x, g.op("Add", [erf, g.const(1.0)])]), g.const(0.5)])


def _dynamic_shape(g: _Graph, x: str, tail: list[int]) -> str:
    """Shape(x)[0] ++ tail, the way exporters build Reshape targets."""
    batch = g.op("Unsqueeze", [g.op("Gather", [g.op("Shape", [x]),
                                                g.const(0, np.int64)], axis=0),
                               g.const([0], np.int64)])
    return g.op("Concat", [batch, g.const(tail, np.int64)], axis=0)


def make_bert_like(decomposed: bool = False) -> onnx.ModelProto:
    g = _Graph(1)
    head = HIDDEN // HEADS
    x = "x"

    def heads(t: str) -> str:
        shape = (_dynamic_shape(g, t, [SEQ, HEADS, head]) if decomposed
                 else g.const([1, SEQ, HEADS, head], np.int64))
        return g.op("Transpose", [g.op("Reshape", [t, shape])], perm=[0, 2, 1, 3])

    q, k, v = (heads(_linear(g, x, HIDDEN, HIDDEN)) for _ in range(3))
    scores = g.op("Div", [g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])]),
                          g.const(np.sqrt(head))])
    scores = g.op("Add", [scores, g.weight((1, 1, 1, SEQ), 0.5)])  # an additive mask
    probs = g.op("Softmax", [scores], axis=-1)
    ctx = g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
    shape = (_dynamic_shape(g, ctx, [SEQ, HIDDEN]) if decomposed
             else g.const([1, SEQ, HIDDEN], np.int64))
    ctx = g.op("Reshape", [ctx, shape])
    h = _layer_norm(g, g.op("Add", [_linear(g, ctx, HIDDEN, HIDDEN), x]), decomposed)
    ff = _linear(g, _gelu(g, _linear(g, h, HIDDEN, 4 * HIDDEN), decomposed), 4 * HIDDEN,
                 HIDDEN)
    _layer_norm(g, g.op("Add", [ff, h]), decomposed)
    g.nodes[-1].output[0] = "y"
    return g.model([helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, SEQ, HIDDEN])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, SEQ, HIDDEN])],
                   17 if decomposed else 20)
