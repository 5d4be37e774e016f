"""One-node ONNX models of ops the importer spells as compositions of graph ops:
`python ... OUT_DIR` writes <name>.onnx for every entry of MODELS."""

import sys
from pathlib import Path

from onnx import TensorProto, helper, save

F = TensorProto.FLOAT


def _one(op: str, x_dims, y_dims, opset: int, y_type: int = F, **attrs):
    graph = helper.make_graph(
        [helper.make_node(op, ["x"], ["y"], **attrs)], op.lower(),
        [helper.make_tensor_value_info("x", F, x_dims)],
        [helper.make_tensor_value_info("y", y_type, y_dims)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _group_norm(x_dims, opset: int = 21, **attrs):
    c = x_dims[1]
    graph = helper.make_graph(
        [helper.make_node("GroupNormalization", ["x", "s", "b"], ["y"], **attrs)], "gn",
        [helper.make_tensor_value_info("x", F, x_dims),
         helper.make_tensor_value_info("s", F, [c]),
         helper.make_tensor_value_info("b", F, [c])],
        [helper.make_tensor_value_info("y", F, x_dims)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _two(op: str, x_dims, second: tuple[str, int, list], y_dims, opset: int, **attrs):
    name, elem, dims = second
    graph = helper.make_graph(
        [helper.make_node(op, ["x", name], ["y"], **attrs)], op.lower(),
        [helper.make_tensor_value_info("x", F, x_dims),
         helper.make_tensor_value_info(name, elem, dims)],
        [helper.make_tensor_value_info("y", F, y_dims)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


MODELS = {
    "d2s_dcr": lambda: _one("DepthToSpace", [1, 8, 3, 4], [1, 2, 6, 8], 13, blocksize=2),
    "d2s_crd": lambda: _one("DepthToSpace", [1, 8, 3, 4], [1, 2, 6, 8], 13, blocksize=2,
                            mode="CRD"),
    "d2s_dyn": lambda: _one("DepthToSpace", ["n", "c", "h", "w"], [None] * 4, 13,
                            blocksize=2),
    "s2d_dcr": lambda: _one("SpaceToDepth", [1, 3, 4, 6], [1, 12, 2, 3], 13, blocksize=2),
    "s2d_crd": lambda: _one("SpaceToDepth", [1, 3, 4, 6], [1, 12, 2, 3], 28, blocksize=2,
                            mode="CRD"),
    "s2d_dyn_n": lambda: _one("SpaceToDepth", ["n", 3, 4, 6], ["n", 12, 2, 3], 13,
                              blocksize=2),
    "eye_static": lambda: _one("EyeLike", [2, 3], [2, 3], 22, k=1),
    "eye_dyn": lambda: _one("EyeLike", ["n", 3], ["n", 3], 22, TensorProto.INT32, k=-1,
                            dtype=TensorProto.INT32),
    "gn_static": lambda: _group_norm([2, 6, 3, 2], num_groups=3, epsilon=1e-3),
    "gn_dyn": lambda: _group_norm(["n", 6, "h", "w"], num_groups=2),
    "compress_axis": lambda: _two("Compress", ["n", 4], ("c", TensorProto.BOOL, [3]),
                                  [None, None], 11, axis=-1),
    "compress_flat": lambda: _two("Compress", [2, 3], ("c", TensorProto.BOOL, ["k"]), [None],
                                  11),
    "reverse_sequence": lambda: _two("ReverseSequence", ["t", 3, 2],
                                     ("l", TensorProto.INT64, [3]), ["t", 3, 2], 10,
                                     time_axis=0, batch_axis=1),
}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, build in MODELS.items():
        save(build(), out / f"{name}.onnx")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
