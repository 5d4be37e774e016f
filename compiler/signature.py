"""A compiled model's signature: its inputs and outputs, and where compile time went."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, ModuleOp, StringAttr, TensorType
from xdsl.ir import Attribute

from dialects.errors import CompileError
from dialects.graph import ARG_DIMS_ATTR, ARG_NAME_ATTR, DYN, numpy_dtype_of
from dialects.symbolic_shapes import output_dim_names


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output: its name, dtype and shape (int, a dim name, or None)."""

    name: str
    dtype: np.dtype
    shape: tuple[int | str | None, ...]

    def __str__(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name}: {self.dtype.name}[{dims}]"


@dataclass
class CompileStats:
    """Where compile time went, and how the graph changed."""

    seconds: dict[str, float] = field(default_factory=dict)
    graph_ops_imported: int = 0
    graph_ops_optimized: int = 0
    threads: int = 1
    """Threads the compiled kernels use (1 where libgomp is missing)."""
    peak_bytes: int = 0
    """The most bytes @main's static-shape temporaries hold at once, by liveness (each
    is freed after its last use; lowering/plan_memory.py). Results, and temporaries of
    dynamic shape or allocated inside loops, come on top."""
    arena_bytes: int = 0
    """The part of them (buffers of 64 KiB and more) that shares one arena per call."""
    cache: str = "off"
    """The compile cache's part: "hit" (loaded from it: `seconds` then holds only
    "cache-load"), "miss" (compiled and saved) or "off" (not used)."""
    precision: str = "fp32"
    """compile(precision=...): "fp32", "fp16", "int8" or "int8-dynamic"."""
    weight_bytes: int = 0
    """Bytes of the weights the compiled model holds (after the precision rewrite)."""
    weight_bytes_fp32: int = 0
    """Bytes of the same weights before it (what precision="fp32" would hold)."""
    op_precisions: dict[str, dict[str, int]] = field(default_factory=dict)
    """Graph ops by the precision they run in ("fp32", "fp16-weights", "int8", "other"),
    then by op name: counts."""


def numpy_dtype(element_type: Attribute) -> np.dtype:
    """The numpy dtype of a model input/output element type (CompileError if none)."""
    try:
        return numpy_dtype_of(element_type)
    except ValueError as e:
        raise CompileError(f"model inputs and outputs: {e}") from None


def main_function(module: ModuleOp) -> func.FuncOp:
    for op in module.ops:
        if isinstance(op, func.FuncOp) and op.sym_name.data == "main":
            return op
    raise CompileError("the module has no func.func @main")


def arg_attr(func_op: func.FuncOp, index: int, name: str, results: bool = False):
    attrs = func_op.res_attrs if results else func_op.arg_attrs
    if attrs is None:
        return None
    return attrs.data[index].data.get(name)


def read_signature(main: func.FuncOp) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Inputs and outputs of a graph-level @main, from its types and graph.* attrs."""
    if not main.body.blocks:
        raise CompileError("func.func @main is a declaration: it has no body to compile")
    inputs: list[TensorSpec] = []
    for i, arg in enumerate(main.args):
        if not isinstance(arg.type, TensorType):
            raise CompileError(f"@main argument {i} has type {arg.type}; a graph-level "
                               "@main takes and returns tensors")
        name = arg_attr(main, i, ARG_NAME_ATTR)
        dim_names = arg_attr(main, i, ARG_DIMS_ATTR)
        names = ([d.data for d in dim_names.data] if isinstance(dim_names, ArrayAttr)
                 else [""] * len(arg.type.get_shape()))
        shape = tuple(d if d != DYN else (names[k] or None)
                      for k, d in enumerate(arg.type.get_shape()))
        inputs.append(TensorSpec(name.data if isinstance(name, StringAttr) else f"input{i}",
                                 numpy_dtype(arg.type.element_type), shape))
    outputs: list[TensorSpec] = []
    # a `?` output dim is named by what the shape analysis derives from the input names
    dim_names = output_dim_names(main)
    for j, out_type in enumerate(main.function_type.outputs.data):
        if not isinstance(out_type, TensorType):
            raise CompileError(f"@main result {j} has type {out_type}; a graph-level "
                               "@main takes and returns tensors")
        name = arg_attr(main, j, ARG_NAME_ATTR, results=True)
        outputs.append(TensorSpec(name.data if isinstance(name, StringAttr) else f"output{j}",
                                  numpy_dtype(out_type.element_type),
                                  tuple(d if d != DYN else _name(dim_names, j, k)
                                        for k, d in enumerate(out_type.get_shape()))))
    return inputs, outputs


def _name(names: list[tuple[str | None, ...]], result: int, dim: int) -> str | None:
    row = names[result] if result < len(names) else ()
    return row[dim] if dim < len(row) else None
