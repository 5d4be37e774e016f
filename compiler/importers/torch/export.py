"""torch.export for the importer: export a module (its failures explained, with what to
do), decompose to Core ATen, and recover the user's names and ranges of dynamic dims."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind

from compiler.errors import CompileError

_DATA_DEPENDENT = ("data-dependent", "GuardOnDataDependentSymNode", "data dependent",
                   "Dynamic control flow", "dynamic control flow", "unbacked")

_DATA_DEPENDENT_ADVICE = (
    "forward() decides something (an `if`, a loop count, a size) from the values in a "
    "tensor, which torch.export cannot trace into one graph. What to do: compute both "
    "results and pick with torch.where; or write the `if` as torch.cond(pred, true_fn, "
    "false_fn, operands), which Kiln imports as graph.if; or make the decision a Python "
    "argument or module attribute fixed at export time; or, for a size computed from "
    "data, bound it with torch._check(...).")

_MESSAGE_LINES = 12

KEPT_WHOLE = (torch.ops.aten.lstm.input, torch.ops.aten.gru.input)
"""Ops the decomposition leaves alone: one graph.rnn each, not a cell per time step."""


@dataclass(frozen=True)
class DimRange:
    """The sizes torch.export allows for one dynamic dim: lower <= size <= upper."""

    lower: int
    upper: int | None  # None: no upper bound


@dataclass
class ProgramInfo:
    """What a call of the compiled program needs besides the graph: the allowed sizes of
    its dynamic dims (by dim name), and the pytree of its outputs."""

    ranges: dict[str, DimRange] = field(default_factory=dict)
    out_spec: object = None


def export_module(module: torch.nn.Module, example_inputs: Sequence[object] | None,
                  dynamic_shapes: object) -> ExportedProgram:
    """torch.export.export of `module` with `example_inputs`; a CompileError carrying
    torch's message (and what to do) when it fails."""
    if example_inputs is None:
        raise CompileError(
            f"compiling a torch.nn.Module ({type(module).__name__}) needs example_inputs: "
            "compiler.compile(module, example_inputs=(x, ...))")
    args = tuple(example_inputs) if isinstance(example_inputs, list | tuple) \
        else (example_inputs,)
    try:
        return torch.export.export(module.eval(), args, dynamic_shapes=dynamic_shapes)
    except Exception as e:  # torch raises many types; each becomes one clear error
        raise CompileError(_export_failure(module, e)) from e


def _export_failure(module: torch.nn.Module, e: Exception) -> str:
    lines = [ln for ln in str(e).strip().splitlines() if ln.strip()][:_MESSAGE_LINES]
    torch_says = "\n    ".join(lines) or type(e).__name__
    head = (f"torch.export could not export {type(module).__name__} "
            f"({type(e).__name__}):\n    {torch_says}\n")
    text = f"{type(e).__name__} {e}"
    if any(marker in text for marker in _DATA_DEPENDENT):
        return head + _DATA_DEPENDENT_ADVICE
    if "Constraints violated" in text or "ConstraintViolation" in text:
        return head + ("The dynamic_shapes given do not hold for this module: use the "
                       "ranges or relations torch suggests above, or mark the dim static.")
    return head + ("Kiln imports what torch.export produces; make the module exportable "
                   "first (torch.export.export(module, example_inputs) shows the same "
                   "failure).")


def decompose(program: ExportedProgram) -> ExportedProgram:
    """The program in Core ATen (the op set Kiln's rules are written against)."""
    table = torch.export.default_decompositions()
    for op in KEPT_WHOLE:
        table.pop(op, None)
    try:
        return program.run_decompositions(table)
    except Exception as e:  # a decomposition that does not apply to this program
        raise CompileError(f"torch's Core ATen decomposition failed: {type(e).__name__}: "
                           f"{e}") from e


def dim_names(program: ExportedProgram, module: object, dynamic_shapes: object
              ) -> dict[str, str]:
    """The names of the `torch.export.Dim`s in `dynamic_shapes` (or, for an
    ExportedProgram, the ones torch recorded when it was exported), by the symbol torch
    gave each (`s0` -> `batch`); symbols with no Dim of the user's keep their own name."""
    specs = _per_input_specs(module, dynamic_shapes)
    names: dict[str, str] = _recorded_names(program)
    user_inputs = [s.arg.name for s in program.graph_signature.input_specs
                   if s.kind == InputKind.USER_INPUT and hasattr(s.arg, "name")]
    nodes = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    for position, input_name in enumerate(user_inputs):
        spec = specs.get(position)
        val = nodes[input_name].meta.get("val") if input_name in nodes else None
        if spec is None or not isinstance(val, torch.Tensor):
            continue
        axes = spec.items() if isinstance(spec, Mapping) else enumerate(spec)
        for axis, dim in axes:
            name = getattr(dim, "__name__", None)
            if name and isinstance(axis, int) and axis < val.dim() and \
                    isinstance(val.shape[axis], torch.SymInt):
                symbol = str(val.shape[axis].node.expr)
                if symbol.isidentifier():
                    names.setdefault(symbol, name)
    return names


def _recorded_names(program: ExportedProgram) -> dict[str, str]:
    """Dim names from the ShapeEnv of the program's fake inputs: torch.export records the
    name of the Dim behind each input size there ({} where that record is missing: it
    is torch's internal state, read defensively)."""
    names: dict[str, str] = {}
    try:
        for node in program.graph.nodes:
            val = node.meta.get("val") if node.op == "placeholder" else None
            env = getattr(getattr(val, "fake_mode", None), "shape_env", None)
            if not isinstance(val, torch.Tensor) or env is None:
                continue
            recorded = getattr(env, "source_name_to_debug_name", {})
            for d in val.shape:
                expr = d.node.expr if isinstance(d, torch.SymInt) else None
                if expr is None or not str(expr).isidentifier():
                    continue
                for source in env.var_to_sources.get(expr, []):
                    source_name = source.name() if callable(source.name) else source.name
                    if (name := recorded.get(source_name)) and str(name).isidentifier():
                        names.setdefault(str(expr), str(name))
    except Exception:  # torch's internals moved: fall back to the symbols' own names
        return {}
    return names


def _per_input_specs(module: object, dynamic_shapes: object) -> dict[int, object]:
    """dynamic_shapes as {input position: per-tensor spec} (top-level tensors only)."""
    if dynamic_shapes is None:
        return {}
    if isinstance(dynamic_shapes, Mapping):
        forward = getattr(module, "forward", None)
        try:
            params = list(inspect.signature(forward).parameters) if forward else []
        except (TypeError, ValueError):
            params = []
        return {params.index(k): v for k, v in dynamic_shapes.items()
                if k in params and v is not None}
    if isinstance(dynamic_shapes, list | tuple):
        return {i: v for i, v in enumerate(dynamic_shapes) if v is not None}
    return {}


def _bound(value: object) -> int | None:
    """A range bound as an int; None for torch's infinities (int_oo), which sympy cannot
    convert (and raises anything from TypeError to AttributeError on)."""
    if not getattr(value, "is_finite", True) or getattr(value, "is_infinite", False):
        return None
    try:
        return int(value)  # type: ignore[call-overload]
    except Exception:
        return None


def program_info(program: ExportedProgram, names: Mapping[str, str]) -> ProgramInfo:
    """The dim ranges (by Kiln's dim names) and the output pytree of `program`."""
    info = ProgramInfo(out_spec=program.call_spec.out_spec)
    for symbol, bounds in program.range_constraints.items():
        name = names.get(str(symbol), str(symbol))
        lower = _bound(bounds.lower)
        upper = _bound(bounds.upper)
        lower = 0 if lower is None else lower
        if upper is not None and upper > 2 ** 62:
            upper = None
        info.ranges[name] = DimRange(lower, upper)
    return info
