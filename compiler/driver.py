"""compile(): model -> graph IR -> optimized graph -> llvm dialect -> native CompiledModel."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, ModuleOp, StringAttr, TensorType
from xdsl.ir import Attribute
from xdsl.parser import Parser
from xdsl.passes import ModulePass, PassPipeline
from xdsl.utils.exceptions import DiagnosticException, ParseError, VerifyException

from compiler import weights as weight_stores
from compiler.context import make_context
from compiler.errors import CompileError, InternalError, KilnError
from compiler.pipeline import LOWER_PIPELINE, OPTIMIZE_PIPELINE, expand_presets
from dialects.graph import ARG_DIMS_ATTR, ARG_NAME_ATTR, DYN, numpy_dtype_of

SUPPORTED_TARGETS = ("cpu",)


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


def numpy_dtype(element_type: Attribute) -> np.dtype:
    """The numpy dtype of a model input/output element type (CompileError if none)."""
    try:
        return numpy_dtype_of(element_type)
    except ValueError as e:
        raise CompileError(f"model inputs and outputs: {e}") from None


def load_graph_module(model: object) -> ModuleOp:
    """Accept an .onnx/.mlir path, ONNX bytes, an onnx.ModelProto or a graph ModuleOp."""
    if isinstance(model, ModuleOp):
        return model
    if isinstance(model, str | os.PathLike) and str(model).endswith(".mlir"):
        return parse_mlir_file(str(model))
    from compiler.importers.onnx_importer import import_onnx

    try:
        return import_onnx(model)  # type: ignore[arg-type]
    except KilnError:
        raise
    except Exception as e:  # an importer bug: still one clear error, with the cause chained
        raise InternalError("importing the model", e) from e


def parse_mlir_file(path: str) -> ModuleOp:
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise CompileError(f"cannot read {path}: {e.strerror}") from None
    try:
        module = Parser(make_context(), text, path).parse_module()
        module.verify()
    except ParseError as e:
        raise CompileError(f"{path}: invalid IR: {e}") from None
    except (VerifyException, DiagnosticException) as e:
        raise CompileError(f"{path}: IR does not verify: {e}") from None
    return module


def main_function(module: ModuleOp) -> func.FuncOp:
    for op in module.ops:
        if isinstance(op, func.FuncOp) and op.sym_name.data == "main":
            return op
    raise CompileError("the module has no func.func @main")


def _arg_attr(func_op: func.FuncOp, index: int, name: str, results: bool = False):
    attrs = func_op.res_attrs if results else func_op.arg_attrs
    if attrs is None:
        return None
    return attrs.data[index].data.get(name)


def read_signature(main: func.FuncOp) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Inputs and outputs of a graph-level @main, from its types and graph.* attrs."""
    inputs: list[TensorSpec] = []
    for i, arg in enumerate(main.args):
        assert isinstance(arg.type, TensorType)
        name = _arg_attr(main, i, ARG_NAME_ATTR)
        dim_names = _arg_attr(main, i, ARG_DIMS_ATTR)
        names = ([d.data for d in dim_names.data] if isinstance(dim_names, ArrayAttr)
                 else [""] * len(arg.type.get_shape()))
        shape = tuple(d if d != DYN else (names[k] or None)
                      for k, d in enumerate(arg.type.get_shape()))
        inputs.append(TensorSpec(name.data if isinstance(name, StringAttr) else f"input{i}",
                                 numpy_dtype(arg.type.element_type), shape))
    outputs: list[TensorSpec] = []
    for j, out_type in enumerate(main.function_type.outputs.data):
        assert isinstance(out_type, TensorType)
        name = _arg_attr(main, j, ARG_NAME_ATTR, results=True)
        outputs.append(TensorSpec(name.data if isinstance(name, StringAttr) else f"output{j}",
                                  numpy_dtype(out_type.element_type),
                                  tuple(None if d == DYN else d for d in out_type.get_shape())))
    return inputs, outputs


def run_pipeline(module: ModuleOp, spec: str, stats: CompileStats | None = None) -> None:
    """Run a comma-separated pass pipeline; a failing pass becomes a CompileError."""
    from passes.registry import all_pass_factories

    spec = expand_presets(spec)
    if not spec:
        return
    try:
        pipeline = PassPipeline.parse_spec(all_pass_factories(), spec)
    except ValueError as e:
        raise CompileError(f"bad pass pipeline '{spec}': {e}") from None
    ctx = make_context()
    for p in pipeline.passes:
        start = time.perf_counter()
        _apply_pass(p, ctx, module)
        if stats is not None:
            stats.seconds[p.name] = stats.seconds.get(p.name, 0.0) + time.perf_counter() - start


def _apply_pass(p: ModulePass, ctx, module: ModuleOp) -> None:
    try:
        p.apply(ctx, module)
        module.verify()
    except KilnError:
        raise
    except DiagnosticException as e:  # the pass rejects this IR (a clear, deliberate message)
        raise CompileError(f"pass '{p.name}' failed: {e}") from None
    except Exception as e:  # a pass bug: say which pass, keep the cause
        raise InternalError(f"running pass '{p.name}'", e) from e


def count_graph_ops(module: ModuleOp) -> int:
    return sum(1 for op in module.walk() if op.name.startswith("graph."))


def compile(model: object, *, target: str = "cpu", pipeline: str | None = None,
            kernels: bool = True):
    """Compile a model for `target`; return a CompiledModel callable on numpy arrays.

    `model` is a path to an .onnx or .mlir (graph dialect) file, ONNX bytes, an
    onnx.ModelProto, or a graph-dialect ModuleOp. `pipeline` overrides the graph
    optimizations (a comma-separated pass list or preset: "O0", "O1", "O2").
    `kernels=False` lowers matmul/gemm/conv to naive loop nests instead of calls of the
    generated GEMM kernel (for comparisons).
    """
    from compiler.runtime.cpu import CompiledModel

    if target not in SUPPORTED_TARGETS:
        raise CompileError(f"unknown target '{target}'; supported: {', '.join(SUPPORTED_TARGETS)}")
    stats = CompileStats()
    start = time.perf_counter()
    module = load_graph_module(model)
    store = weight_stores.store_for(module)
    if store is None:
        store = weight_stores.WeightStore()
        weight_stores.attach(module, store)
    stats.seconds["import"] = time.perf_counter() - start
    main = main_function(module)
    inputs, outputs = read_signature(main)
    stats.graph_ops_imported = count_graph_ops(module)

    run_pipeline(module, OPTIMIZE_PIPELINE if pipeline is None else pipeline, stats)
    stats.graph_ops_optimized = count_graph_ops(module)
    graph_main = main_function(module).clone()

    run_pipeline(module, "convert-graph-to-tensor", stats)
    weight_names = weight_arguments(main_function(module), len(inputs))
    missing = [n for n in weight_names if n not in store]
    if missing:
        raise CompileError(f"weights {missing} are referenced by the IR but not in its "
                           f"weight store ({module.attributes.get('graph.weights')})")
    rest = LOWER_PIPELINE.split(",", 1)[1]
    if not kernels:
        rest = rest.replace("lower-linalg-to-loops", "lower-linalg-to-loops{kernels=false}")
    run_pipeline(module, rest, stats)
    return CompiledModel(module, graph_main, inputs, outputs,
                         [store[n] for n in weight_names], store, stats)


def weight_arguments(tensor_main: func.FuncOp, num_inputs: int) -> list[str]:
    """Names of the weights that convert-graph-to-tensor appended as trailing arguments."""
    names = []
    for i in range(num_inputs, len(tensor_main.args)):
        name = _arg_attr(tensor_main, i, "graph.weight")
        if not isinstance(name, StringAttr):
            raise CompileError(f"argument {i} of the lowered @main is neither an input nor "
                               "a weight")
        names.append(name.data)
    return names
