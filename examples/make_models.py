"""Build Kiln's bundled example ONNX models (random weights from a fixed seed).

    python examples/make_models.py [--out DIR]      # writes mlp.onnx and cnn.onnx

Importable too: `from examples.make_models import make_mlp, make_cnn`.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
MODELS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")


def _init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)


def _model(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="kiln-examples")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def make_mlp(seed: int = 0) -> onnx.ModelProto:
    """x[batch, 32] -> Gemm 64 -> Relu -> Gemm 64 -> Relu -> Gemm 10 -> y[batch, 10]."""
    rng = np.random.default_rng(seed)
    sizes = [32, 64, 64, 10]
    nodes, inits = [], []
    current = "x"
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        inits += [_init(f"fc{i}.weight", rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)),
                  _init(f"fc{i}.bias", rng.standard_normal(n_out) * 0.1)]
        out = "y" if i == len(sizes) - 2 else f"fc{i}"
        nodes.append(helper.make_node("Gemm", [current, f"fc{i}.weight", f"fc{i}.bias"], [out],
                                      name=f"fc{i}", transB=1))
        current = out
        if out != "y":
            nodes.append(helper.make_node("Relu", [out], [f"relu{i}"], name=f"relu{i}"))
            current = f"relu{i}"
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])], inits)
    return _model(graph)


def _bn(rng: np.random.Generator, prefix: str, c: int) -> list[onnx.TensorProto]:
    return [_init(f"{prefix}.scale", 1.0 + 0.1 * rng.standard_normal(c)),
            _init(f"{prefix}.bias", 0.1 * rng.standard_normal(c)),
            _init(f"{prefix}.mean", 0.1 * rng.standard_normal(c)),
            _init(f"{prefix}.var", 1.0 + 0.1 * rng.random(c))]


def make_cnn(seed: int = 0) -> onnx.ModelProto:
    """A small residual CNN: [1, 3, 16, 16] -> [1, 10]."""
    rng = np.random.default_rng(seed)
    inits = [
        _init("conv1.weight", rng.standard_normal((8, 3, 3, 3)) * 0.3),
        _init("conv1.bias", 0.1 * rng.standard_normal(8)),
        *_bn(rng, "bn1", 8),
        _init("conv2.weight", rng.standard_normal((8, 8, 3, 3)) * 0.15),
        *_bn(rng, "bn2", 8),
        _init("fc.weight", rng.standard_normal((10, 8)) * 0.3),
        _init("fc.bias", 0.1 * rng.standard_normal(10)),
    ]
    bn_inputs = ["scale", "bias", "mean", "var"]
    nodes = [
        helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["c1"], name="conv1",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", *[f"bn1.{n}" for n in bn_inputs]],
                         ["b1"], name="bn1", epsilon=1e-5),
        helper.make_node("Relu", ["b1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("Conv", ["p1", "conv2.weight"], ["c2"], name="conv2",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c2", *[f"bn2.{n}" for n in bn_inputs]],
                         ["b2"], name="bn2", epsilon=1e-5),
        helper.make_node("Add", ["b2", "p1"], ["s2"], name="residual"),
        helper.make_node("Relu", ["s2"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["output"], name="fc",
                         transB=1),
    ]
    graph = helper.make_graph(
        nodes, "cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 10])], inits)
    return _model(graph)


MODELS = {"mlp.onnx": make_mlp, "cnn.onnx": make_cnn}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=MODELS_DIR, help="output directory")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for name, make in MODELS.items():
        onnx.save(make(), os.path.join(args.out, name))


if __name__ == "__main__":
    main()
