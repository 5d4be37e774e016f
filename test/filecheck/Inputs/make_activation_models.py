"""Small ONNX models whose activations the fuse pass absorbs: `python ... OUT_DIR`.

conv_clip.onnx: Conv -> Clip(0, 6) (ReLU6); gemm_leaky.onnx: Gemm -> LeakyRelu(0.1);
conv_silu_chain.onnx: Conv -> Sin -> Mul (table kinds in one elementwise chain).
"""

import sys
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save


def _model(name, nodes, inputs, output, inits):
    graph = helper.make_graph(nodes, name, inputs, [output],
                              [numpy_helper.from_array(a, n) for n, a in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def main(out: Path) -> None:
    rng = np.random.default_rng(0)
    out.mkdir(parents=True, exist_ok=True)
    f32 = TensorProto.FLOAT
    x4 = helper.make_tensor_value_info("x", f32, [1, 3, 8, 8])
    y4 = helper.make_tensor_value_info("y", f32, [1, 4, 8, 8])
    conv = {"w": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
            "b": rng.standard_normal(4).astype(np.float32)}
    save(_model("conv_clip", [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Clip", ["c", "lo", "hi"], ["y"])], [x4], y4,
        {**conv, "lo": np.array(0, np.float32), "hi": np.array(6, np.float32)}),
        out / "conv_clip.onnx")
    save(_model("gemm_leaky", [
        helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1),
        helper.make_node("LeakyRelu", ["g"], ["y"], alpha=0.1)],
        [helper.make_tensor_value_info("x", f32, ["n", 16])],
        helper.make_tensor_value_info("y", f32, ["n", 8]),
        {"w": rng.standard_normal((8, 16)).astype(np.float32),
         "b": rng.standard_normal(8).astype(np.float32)}), out / "gemm_leaky.onnx")
    save(_model("conv_sin_chain", [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Sin", ["c"], ["s"]),
        helper.make_node("Softsign", ["s"], ["t"]),
        helper.make_node("Mul", ["t", "c"], ["y"])], [x4], y4, conv),
        out / "conv_sin_chain.onnx")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
