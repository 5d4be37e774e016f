"""The core of the torch importer: walk an ExportedProgram's FX graph (Core ATen) and the
import context that every op family's rules build IR through.

Every unsupported ATen op of the program is reported in one CompileError (op overload,
node name and the user's source line) before any IR is built. Parameters, buffers and
lifted constants become weights (runtime buffers; their numpy arrays share the tensors'
storage where the tensor is a contiguous CPU tensor). Result types come from the nodes'
`meta["val"]` (FakeTensors): a SymInt dim is `?`, and every op a rule builds is checked
against torch's static dims, so a rule that disagrees with torch fails at import.

A rule is `rule(ctx, node) -> value`, where value is an SSAValue, a tuple of them (ops
with several outputs, read by `operator.getitem`), or None (asserts). SymInt values (the
sizes of dynamic dims and arithmetic on them) are `tensor<1xi64>` values, so a view to
`[s0 * s1, 64]` becomes a concat of shape pieces and a graph.reshape_dynamic, as in an
exported ONNX model.
"""

from __future__ import annotations

import operator
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import fx
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind, OutputKind
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseIntOrFPElementsAttr,
    DictionaryAttr,
    FunctionType,
    ModuleOp,
    NameLoc,
    NoneAttr,
    StringAttr,
    TensorType,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.utils.exceptions import DiagnosticException, VerifyException

from compiler.errors import CompileError, InternalError, UnsupportedOp
from dialects import graph as g
from dialects import weights

MAX_INLINE_ELEMENTS = 64
"""Integer constants up to this many elements are inline `graph.constant`s (shape data
the folder and the symbolic shape analysis read), larger ones and all floats weights."""

_DTYPES: dict[torch.dtype, str] = {
    torch.float32: "float32", torch.float64: "float64", torch.float16: "float16",
    torch.int8: "int8", torch.int16: "int16", torch.int32: "int32", torch.int64: "int64",
    torch.uint8: "uint8", torch.bool: "bool"}


class NodeError(Exception):
    """A node that its rule cannot import (the reason, in words)."""


def target_name(target: object) -> str:
    """The table key of an FX call target: `aten.add.Tensor`, `operator.getitem`."""
    if isinstance(target, torch._ops.OpOverload):
        return str(target)
    name = getattr(target, "__name__", "")
    if name and getattr(operator, name, None) is target:
        return f"operator.{name}"
    module = getattr(target, "__module__", "") or ""
    return f"{module}.{name}" if module and name else str(target)


def numpy_dtype(dtype: torch.dtype) -> np.dtype:
    """The numpy dtype of a torch dtype Kiln supports (NodeError for the others)."""
    if dtype not in _DTYPES:
        raise NodeError(f"element type {dtype} is not supported (supported: "
                        f"{', '.join(str(d) for d in _DTYPES)})")
    return np.dtype(_DTYPES[dtype])


def element_type(dtype: torch.dtype) -> Attribute:
    return g.element_type_for(numpy_dtype(dtype))


def static_dim(d: object) -> int:
    """An int dim, or DYN for a SymInt that is not a known constant."""
    if isinstance(d, int):
        return d
    value = d.node.maybe_as_int() if isinstance(d, torch.SymInt) else None
    return g.DYN if value is None else int(value)


def tensor_type(val: torch.Tensor) -> TensorType:
    """The graph type of a (fake) tensor: `?` for its symbolic dims."""
    return TensorType(element_type(val.dtype), [static_dim(d) for d in val.shape])


def source_line(node: fx.Node) -> str:
    """Where the user's code made `node`: `file.py:12 in forward: code`, from the innermost
    frame of its stack trace outside torch itself ("" when torch recorded none)."""
    trace = node.meta.get("stack_trace") or ""
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)\n\s*(.*)', trace)
    torch_dir = os.path.dirname(torch.__file__)
    user = [f for f in frames if not f[0].startswith(torch_dir)] or frames
    if not user:
        return ""
    path, line, function, code = user[-1]
    return f"{path}:{line} in {function}: {code.strip()}"


def describe_node(node: fx.Node) -> str:
    where = source_line(node)
    return f"node '{node.name}'" + (f" ({where})" if where else "")


@dataclass
class _Pending:
    """A parameter, buffer or constant, made a weight (or inline constant) on first use."""

    name: str
    tensor: torch.Tensor


Value = SSAValue | tuple | None
"""What a node imports as: a tensor value, a tuple of them, or None."""


@dataclass
class TorchImportContext:
    """The state of one import and the API the op rules build IR through."""

    program: ExportedProgram
    source: str
    table: OpTable
    dim_names: Mapping[str, str]
    """Dim names of the dynamic input dims, by the name of torch's symbol (`s0`)."""

    def __post_init__(self) -> None:
        self.graph = self.program.graph
        self.values: dict[fx.Node, object] = {}
        self.block = Block()
        self.weights = weights.WeightStore()
        self.node: fx.Node | None = None

    # ---- checks before building

    def _collect_unsupported(self, graph: fx.Graph | None = None) -> list[UnsupportedOp]:
        unsupported = []
        for node in (graph or self.graph).nodes:
            if node.op in ("placeholder", "output"):
                continue
            if node.op == "get_attr" and isinstance(
                    sub := subgraph_module(node), fx.GraphModule):
                unsupported += self._collect_unsupported(sub.graph)  # a torch.cond branch
                continue
            name = target_name(node.target)
            reason = ""
            if node.op != "call_function":
                reason = f"FX {node.op} nodes are not supported"
            elif name not in self.table.rules:
                reason = self.table.hints.get(name, "no importer rule")
            if reason:
                where = source_line(node)
                unsupported.append(UnsupportedOp(
                    name if node.op == "call_function" else str(node.target), 0, node.name,
                    reason + (f"; from {where}" if where else "")))
        return unsupported

    # ---- building

    def run(self) -> ModuleOp:
        unsupported = self._collect_unsupported()
        if unsupported:
            n = len(unsupported)
            raise CompileError(
                f"{self.source}: {n} unsupported ATen operator{'s' if n > 1 else ''} "
                "(Kiln's torch importer lists every one)", unsupported=unsupported)
        arg_attrs = self._bind_inputs()
        for node in self.graph.nodes:
            if node.op == "call_function":
                self.import_node(node)
        results, names = self._outputs()
        self.block.add_op(func.ReturnOp(*results))
        main = func.FuncOp(
            "main", FunctionType.from_lists([a.type for a in self.block.args],
                                            [r.type for r in results]),
            Region(self.block), arg_attrs=ArrayAttr(arg_attrs),
            res_attrs=ArrayAttr([DictionaryAttr({g.ARG_NAME_ATTR: StringAttr(n)})
                                 for n in names]))
        module = ModuleOp([main])
        weights.attach(module, self.weights)
        # keep the store alive as long as the module (the registry holds it weakly)
        module.__dict__["_kiln_weight_store"] = self.weights
        try:
            module.verify()
        except (VerifyException, DiagnosticException) as e:
            raise InternalError("verifying the graph imported from torch", e) from e
        return module

    def _bind_inputs(self) -> list[DictionaryAttr]:
        specs = {s.arg.name: s for s in self.program.graph_signature.input_specs
                 if hasattr(s.arg, "name")}
        state = {**self.program.state_dict, **self.program.constants}
        arg_attrs = []
        for node in self.graph.nodes:
            if node.op != "placeholder":
                continue
            spec = specs.get(node.name)
            kind = spec.kind if spec is not None else InputKind.USER_INPUT
            if kind == InputKind.USER_INPUT:
                arg_attrs.append(self._user_input(node))
            elif kind in (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR):
                target = spec.target if spec is not None else node.name
                if target not in state:
                    raise CompileError(f"{self.source}: {kind.name.lower()} '{target}' is "
                                       "not in the exported program's state")
                self.values[node] = _Pending(str(target), state[target])
            else:
                raise CompileError(f"{self.source}: input '{node.name}' is a "
                                   f"{kind.name.lower()}, which Kiln cannot import")
        return arg_attrs

    def _user_input(self, node: fx.Node) -> DictionaryAttr:
        val = node.meta.get("val")
        if not isinstance(val, torch.Tensor):
            raise CompileError(
                f"{self.source}: input '{node.name}' is a {type(val).__name__}, not a "
                "tensor; Kiln compiles tensor inputs (make it a module attribute or a "
                "constant of forward)")
        try:
            t = tensor_type(val)
        except NodeError as e:
            raise CompileError(f"{self.source}: input '{node.name}': {e}") from None
        dims = []
        for d in val.shape:
            name = ""
            if isinstance(d, torch.SymInt) and static_dim(d) == g.DYN:
                name = dim_label(d.node.expr, self.dim_names)
            dims.append(name)
        arg = self.block.insert_arg(t, len(self.block.args))
        arg.name_hint = _ssa_name(node.name)
        self.values[node] = arg
        return DictionaryAttr({g.ARG_NAME_ATTR: StringAttr(node.name),
                               g.ARG_DIMS_ATTR: ArrayAttr([StringAttr(d) for d in dims])})

    def _outputs(self) -> tuple[list[SSAValue], list[str]]:
        output = next(n for n in self.graph.nodes if n.op == "output")
        specs = self.program.graph_signature.output_specs
        flat = list(output.args[0])
        results = []
        for spec, arg in zip(specs, flat, strict=True):
            if spec.kind != OutputKind.USER_OUTPUT:
                raise CompileError(
                    f"{self.source}: forward() {spec.kind.name.lower().replace('_', ' ')} "
                    f"'{spec.target}'; Kiln compiles programs without side effects (call "
                    "model.eval(), and do not assign to buffers in forward)")
            if not isinstance(arg, fx.Node) or not isinstance(self.values.get(arg), SSAValue
                                                                  | _Pending):
                raise CompileError(f"{self.source}: output {len(results)} of forward() is "
                                   f"{arg!r}, not a tensor; Kiln returns tensors only")
            results.append(self.tensor(arg))
        names = ["output"] if len(results) == 1 else [f"output_{i}" for i in range(len(results))]
        return results, names

    def import_node(self, node: fx.Node) -> None:
        """Import one node; a node its rule rejects is a CompileError naming it."""
        name = target_name(node.target)
        first = len(self.block.ops)
        self.node = node
        try:
            value = self.table.rules[name](self, node)
            new_ops = list(self.block.ops)[first:]
            for op in new_ops:
                op.verify()
            self._check_result(node, value)
        except (NodeError, ValueError, VerifyException, DiagnosticException) as e:
            reason = str(e).replace(str(g.DYN), "?")
            raise CompileError(
                f"{self.source}: cannot import {name} at {describe_node(node)}: {reason}",
                unsupported=[UnsupportedOp(name, 0, node.name, reason)]) from None
        for op in new_ops:
            op.location = NameLoc(StringAttr(node.name), NoneAttr())
        if isinstance(value, SSAValue) and isinstance(value.owner, Operation) and \
                value.name_hint is None:
            value.name_hint = _ssa_name(node.name)
        self.values[node] = value

    def import_region(self, gm: fx.GraphModule, operands: Sequence[object]
                      ) -> tuple[Region, list[SSAValue]]:
        """The graph of `gm` (a torch.cond branch) as a region without arguments that ends
        in graph.yield; its placeholders are `operands`, values of the enclosing block
        (used directly: regions capture them)."""
        values = [self.tensor(a) if isinstance(self.val(a), torch.Tensor) else self.sym(a)
                  for a in operands]
        outer, outer_node = self.block, self.node
        self.block = Block()
        try:
            placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
            if len(placeholders) != len(values):
                raise NodeError(f"the branch takes {len(placeholders)} operands, "
                                f"{len(values)} given")
            self.values.update(zip(placeholders, values, strict=True))
            for node in gm.graph.nodes:
                if node.op == "call_function":
                    self.import_node(node)
            output = next(n for n in gm.graph.nodes if n.op == "output")
            results = [self.tensor(a) for a in output.args[0]]
            self.block.add_op(g.YieldOp(*results))
            return Region(self.block), results
        finally:
            self.block, self.node = outer, outer_node

    def _check_result(self, node: fx.Node, value: object) -> None:
        """The graph type of a tensor result must agree with torch's."""
        val = node.meta.get("val")
        if not (isinstance(value, SSAValue) and isinstance(val, torch.Tensor)):
            return
        want = tensor_type(val)
        got = value.type
        if not isinstance(got, TensorType) or got.element_type != want.element_type or \
                not g.shapes_compatible(g.shape_of(value), want.get_shape()):
            raise NodeError(f"Kiln's result {got} differs from torch's {want}")

    # ---- the API of the op rules

    def emit(self, op: Operation) -> SSAValue:
        """Append `op` to the block being built; its first result."""
        self.block.add_op(op)
        return op.results[0]

    def add(self, op: Operation) -> Operation:
        """Append `op` (an op with several results)."""
        self.block.add_op(op)
        return op

    def tensor(self, arg: object) -> SSAValue:
        """The tensor value of an FX node argument (weights are materialized on first use)."""
        if not isinstance(arg, fx.Node):
            raise NodeError(f"expected a tensor argument, got {arg!r}")
        value = self.values.get(arg)
        if isinstance(value, _Pending):
            value = self.values[arg] = self._materialize(value)
        if not isinstance(value, SSAValue):
            raise NodeError(f"argument '{arg.name}' is not a tensor")
        return value

    def _materialize(self, pending: _Pending) -> SSAValue:
        tensor = pending.tensor.detach()
        if tensor.device.type != "cpu":
            tensor = tensor.cpu()
        try:
            numpy_dtype(tensor.dtype)
        except NodeError as e:
            raise NodeError(f"weight '{pending.name}': {e}") from None
        array = tensor.numpy()  # shares the tensor's storage
        if array.dtype.kind in "iub" and array.size <= MAX_INLINE_ELEMENTS:
            value = self.emit(g.ConstantOp(dense(array)))
        else:
            stored = self.weights.add(pending.name, array)
            value = self.emit(g.WeightOp(stored, g.tensor_type(
                array.shape, g.element_type_for(array.dtype))))
        value.name_hint = _ssa_name(pending.name)
        return value

    def parameter(self, arg: object) -> np.ndarray:
        """The array of a parameter/buffer argument (for rules that rearrange weights)."""
        value = self.values.get(arg) if isinstance(arg, fx.Node) else None
        if isinstance(value, _Pending):
            return value.tensor.detach().cpu().numpy()
        raise NodeError(f"argument {arg!r} must be a parameter or buffer of the module")

    def weight(self, name: str, array: np.ndarray) -> SSAValue:
        """A new weight `name` (made unique) holding `array`."""
        array = np.asarray(array, order="C")
        stored = self.weights.add(name, array)
        return self.emit(g.WeightOp(stored, g.tensor_type(
            array.shape, g.element_type_for(array.dtype))))

    def val(self, arg: object) -> object:
        """torch's value of an argument: the FakeTensor/SymInt of a node, else `arg`."""
        return arg.meta.get("val") if isinstance(arg, fx.Node) else arg

    def element(self, arg: object) -> Attribute:
        """The element type of a tensor argument."""
        return g.element_type_of(self.tensor(arg))

    def result_type(self, node: fx.Node | None = None, index: int | None = None
                    ) -> TensorType:
        """The graph type torch gives the (index-th) result of `node` (default: the node
        being imported)."""
        val = (node or self.node).meta.get("val")  # type: ignore[union-attr]
        if index is not None:
            val = val[index]
        if not isinstance(val, torch.Tensor):
            raise NodeError("the result is not a tensor")
        return tensor_type(val)

    def result_element(self) -> Attribute:
        return self.result_type().element_type

    def cast(self, value: SSAValue, elt: Attribute) -> SSAValue:
        """`value` converted to element type `elt` (itself when it already is)."""
        if g.element_type_of(value) == elt:
            return value
        return self.emit(g.ElementwiseOp("cast", [value], (), elt))

    def operand(self, arg: object, elt: Attribute) -> SSAValue:
        """A tensor argument cast to `elt`, or a Python number as a rank-0 constant."""
        if isinstance(arg, fx.Node) and isinstance(self.val(arg), torch.Tensor):
            return self.cast(self.tensor(arg), elt)
        if isinstance(arg, fx.Node):
            return self.cast(self.sym(arg, rank=0), elt)
        if not isinstance(arg, int | float | bool):
            raise NodeError(f"expected a tensor or a number, got {arg!r}")
        return self.scalar(arg, elt)

    def scalar(self, value: float, elt: Attribute) -> SSAValue:
        """A rank-0 constant of element type `elt`."""
        return self.emit(g.ConstantOp(dense(np.array(value, dtype=g.numpy_dtype_of(elt)))))

    def constant(self, array: np.ndarray) -> SSAValue:
        """A constant: inline when small, a weight otherwise."""
        array = np.asarray(array, order="C")  # (ascontiguousarray makes rank 0 rank 1)
        if array.size > MAX_INLINE_ELEMENTS:
            stored = self.weights.add("kiln.const", array)
            return self.emit(g.WeightOp(stored, g.tensor_type(
                array.shape, g.element_type_for(array.dtype))))
        return self.emit(g.ConstantOp(dense(array)))

    def int_constant(self, values: Sequence[int] | np.ndarray) -> SSAValue:
        """An inline int64 constant."""
        return self.emit(g.ConstantOp(dense(np.asarray(values, dtype=np.int64))))

    def ints(self, arg: object) -> list[int]:
        """A static int or int list argument (NodeError where a dim is symbolic)."""
        items = list(arg) if isinstance(arg, list | tuple) else [arg]
        out = []
        for item in items:
            value = self.val(item)
            dim = static_dim(value) if isinstance(value, int | torch.SymInt) else None
            if dim is None or dim == g.DYN:
                raise NodeError(f"needs a static integer here, got {item!r}")
            out.append(dim)
        return out

    def is_static(self, arg: object) -> bool:
        try:
            self.ints(arg)
        except NodeError:
            return False
        return True

    def sym(self, arg: object, rank: int = 1) -> SSAValue:
        """An int or SymInt argument as an int64 tensor of one element (rank 1 or 0)."""
        value = self.val(arg)
        if isinstance(value, int | torch.SymInt) and static_dim(value) != g.DYN:
            n = static_dim(value)
            return self.int_constant([n] if rank else n)
        if not isinstance(arg, fx.Node) or not isinstance(self.values.get(arg), SSAValue):
            raise NodeError(f"expected an integer, got {arg!r}")
        v = self.values[arg]
        assert isinstance(v, SSAValue)
        if rank == 0 and g.shape_of(v) == (1,):
            v = self.emit(g.ReshapeOp(v, []))
        return v

    def shape_operand(self, sizes: Sequence[object]) -> SSAValue:
        """A 1-D int64 tensor of `sizes` (ints and SymInt nodes): a constant when static,
        else a concat of the pieces."""
        if self.is_static(list(sizes)):
            return self.int_constant(self.ints(list(sizes)))
        pieces = [self.sym(s) for s in sizes]
        return self.emit(g.ConcatOp(pieces, 0)) if len(pieces) > 1 else pieces[0]


Rule = Callable[[TorchImportContext, fx.Node], object]
"""An op rule: (context, node) -> the node's value."""


@dataclass(frozen=True)
class OpTable:
    """Every op rule, by FX target name (`aten.add.Tensor`, `operator.getitem`), and the
    reasons shown for some ops without one (what to do instead)."""

    rules: Mapping[str, Rule]
    hints: Mapping[str, str]


def dim_label(expr: object, names: Mapping[str, str]) -> str:
    """The name of a dynamic dim: its Dim's name (`batch`), else torch's symbol (`s0`);
    "" for a dim derived from others (torch.export's `2 * n`): unnamed, as Kiln's shape
    analysis would take the name for an unrelated symbol."""
    symbol = str(expr)
    return names.get(symbol, symbol) if symbol.isidentifier() else ""


def subgraph_module(node: fx.Node) -> object:
    """What a get_attr node names in the module that owns its graph (a torch.cond
    branch's GraphModule, say); None when there is none."""
    owner = node.graph.owning_module
    value: object = owner
    for part in str(node.target).split("."):
        value = getattr(value, part, None)
    return value


def dense(array: np.ndarray) -> DenseIntOrFPElementsAttr:
    """A dense attribute of `array` (its shape and graph element type)."""
    return g.dense_from_array(array)


def normalize_axis(axis: int, rank: int) -> int:
    """A non-negative axis (torch allows -rank..rank-1; rank 0 takes 0 and -1)."""
    if not -max(rank, 1) <= axis < max(rank, 1):
        raise NodeError(f"dim {axis} is out of range for rank {rank}")
    return axis % max(rank, 1)


def _ssa_name(name: str) -> str | None:
    hint = re.sub(r"[^\w$.-]+", "_", name).strip("_")
    if hint and hint[0].isdigit():
        hint = "v" + hint
    return hint or None
