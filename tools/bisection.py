"""First-divergence bisection: the node, and the optimization pass, after which Kiln's
result leaves the reference's (run-tool --bisect).

    report = bisect("model.onnx", dims={"batch": 2})
    print(report.format())

By node (`bisect_nodes`): every top-level value of the ONNX graph becomes a graph output
(types from ONNX shape inference); Kiln (without graph optimization) and onnxruntime (or
onnx.reference where onnxruntime refuses the model) run it on the same inputs, and the
first node in topological order whose output differs beyond tolerance is reported with
its inputs' and outputs' shapes, the error, and its IR at graph and loop level. Exposing
every value stops the optimizer's fusions (a value with a second use cannot be absorbed),
so the comparison is of the unoptimized graph; what goes wrong only with optimization is
what the by-pass bisection finds.

By pass (`bisect_passes`): the model is compiled after each prefix of the optimization
pipeline (O2's passes unless told otherwise) and the first pass after which the outputs
differ is named, with the rules that fired in it (passes.rewrite's statistics).

Every compile here is uncached (`cache=False`): a cached compile could hide the very
change being hunted.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, shape_inference
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, ModuleOp, NameLoc, StringAttr
from xdsl.ir import Block, BlockArgument, Operation, OpResult, Region, SSAValue
from xdsl.passes import ModulePass

import compiler
from compiler.context import make_context
from compiler.driver import apply_pass, load_graph_module, run_pipeline
from compiler.errors import CompileError, KilnError
from compiler.pipeline import lower_passes, optimize_passes, parse_pipeline, to_tensor_pass
from compiler.signature import main_function
from dialects import graph as g
from dialects import weights as weight_stores
from passes.rewrite import STATISTICS, reset_statistics

Log = Callable[[str], None]

IR_LINES = 60
"""Lines of IR shown per level in a report (the rest is counted, not printed)."""

UNOPTIMIZED = "O0"


# --------------------------------------------------------------------------- comparing


@dataclass(frozen=True)
class Difference:
    """How one Kiln value compares with the reference's."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    abs_err: float = 0.0
    rel_err: float = 0.0
    diverges: bool = False
    reason: str = ""
    """Why it diverges when the numbers alone do not say: a shape or NaN mismatch."""

    def describe(self) -> str:
        text = f"'{self.name}': {self.dtype}{list(self.shape)}"
        if self.reason:
            return f"{text}: {self.reason}"
        return f"{text}: max abs err {self.abs_err:.3g}, max rel err {self.rel_err:.3g}"


def compare(name: str, got: np.ndarray, want: np.ndarray, rtol: float,
            atol: float) -> Difference:
    """Kiln's `got` against the reference's `want` (NaN matches NaN; bools and integers
    compare exactly through the same formula, as their errors are whole numbers)."""
    got, want = np.asarray(got), np.asarray(want)
    base = dict(name=name, shape=tuple(got.shape), dtype=got.dtype.name)
    if got.shape != want.shape:
        return Difference(**base, diverges=True,
                          reason=f"shape {list(got.shape)}, reference {list(want.shape)}")
    if got.size == 0:
        return Difference(**base)
    a, b = got.astype(np.float64), want.astype(np.float64)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if (nan_a != nan_b).any():
        where = "Kiln" if (nan_a & ~nan_b).any() else "the reference"
        count = int((nan_a != nan_b).sum())
        return Difference(**base, diverges=True,
                          reason=f"{count} NaN element(s) only in {where}'s result")
    finite = ~nan_a
    with np.errstate(invalid="ignore"):
        err = np.where(finite, np.abs(a - b), 0.0)
        err = np.where(np.isinf(a) & (a == b), 0.0, err)
    rel = err / np.maximum(np.abs(b), atol / rtol if rtol else atol)
    close = np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    return Difference(**base, abs_err=float(np.nanmax(err)), rel_err=float(np.nanmax(rel)),
                      diverges=not close)


# --------------------------------------------------------------------------- the reference


def load_onnx(model: object, what: str) -> onnx.ModelProto:
    """The ONNX model `model` names (path, bytes or ModelProto); `what` says why one is
    needed, for the error when it is something else."""
    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, bytes):
        return onnx.load_from_string(model)
    if isinstance(model, str | os.PathLike) and not os.fspath(model).endswith(".mlir"):
        try:
            return onnx.load(os.fspath(model))
        except (OSError, onnx.onnx_cpp2py_export.checker.ValidationError) as e:
            raise CompileError(f"cannot read {os.fspath(model)}: {e}") from None
        except Exception as e:  # protobuf's DecodeError: not an ONNX file
            raise CompileError(f"cannot read {os.fspath(model)} as an ONNX model: {e}") \
                from None
    raise CompileError(f"{what} needs an ONNX model (the reference runs it); got "
                       f"{type(model).__name__ if not isinstance(model, str) else model}")


def random_feeds(model: onnx.ModelProto, dims: Mapping[str, int] | None = None,
                 seed: int = 0, given: Mapping[str, np.ndarray] | None = None
                 ) -> dict[str, np.ndarray]:
    """Inputs for `model`: `given` ones as they are, the others random exactly as run-tool
    makes them for the same seed (normal floats, integers in [0, 4)); a symbolic dim takes
    its size from `dims`, else 1."""
    dims, given = dims or {}, given or {}
    rng = np.random.default_rng(seed)
    initializers = {t.name for t in model.graph.initializer}
    feeds = {}
    for info in model.graph.input:
        if info.name in initializers:
            continue
        if info.name in given:
            feeds[info.name] = np.asarray(given[info.name])
            continue
        t = info.type.tensor_type
        dtype = helper.tensor_dtype_to_np_dtype(t.elem_type)
        shape = [d.dim_value if d.HasField("dim_value") else dims.get(d.dim_param, 1)
                 for d in t.shape.dim]
        if np.issubdtype(dtype, np.floating):
            feeds[info.name] = rng.standard_normal(shape).astype(dtype)
        else:
            feeds[info.name] = rng.integers(0, 4, size=shape).astype(dtype)
    return feeds


def run_reference(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]
                  ) -> tuple[str, dict[str, np.ndarray]]:
    """(runtime name, outputs by name) from onnxruntime without its graph optimizations,
    or from onnx.reference when onnxruntime is missing or refuses the model."""
    names = [o.name for o in model.graph.output]
    why = "onnxruntime is not installed"
    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
    if ort is not None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            session = ort.InferenceSession(model.SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
            return "onnxruntime", dict(zip(names, session.run(names, dict(feeds)),
                                           strict=True))
        except Exception as e:  # ORT's own exception types: it refuses this model
            why = f"onnxruntime refused the model ({str(e).splitlines()[0][:200]})"
    from onnx.reference import ReferenceEvaluator

    try:
        values = ReferenceEvaluator(model).run(names, dict(feeds))
    except Exception as e:
        raise CompileError(f"no reference for this model: {why}, and onnx.reference "
                           f"failed too ({type(e).__name__}: {e})") from None
    return f"onnx.reference ({why})", dict(zip(names, values, strict=True))


# --------------------------------------------------------------------------- by node


@dataclass
class NodeBisection:
    """What `bisect_nodes` found."""

    reference: str
    rtol: float
    atol: float
    nodes: int
    """Top-level nodes of the graph."""
    compared: int
    """Values compared (outputs of top-level nodes)."""
    first: int | None = None
    """Index of the first diverging node in topological order (None: none diverges)."""
    node_name: str = ""
    op_type: str = ""
    inputs: list[str] = field(default_factory=list)
    """`name: dtype[shape]` of the node's inputs, as the reference saw them."""
    outputs: list[Difference] = field(default_factory=list)
    later: int = 0
    """Diverging values after the first diverging node (errors propagate)."""
    graph_ir: str = ""
    loop_ir: str = ""
    notes: list[str] = field(default_factory=list)
    """What could not be exposed or compared, and why."""

    @property
    def diverges(self) -> bool:
        return self.first is not None

    def format(self, ir_lines: int = IR_LINES) -> str:
        """The report; each IR level cut after `ir_lines` lines (0: all of it)."""
        lines = [f"bisect by node: {self.compared} values of {self.nodes} nodes, Kiln "
                 f"({UNOPTIMIZED}, no graph optimization) vs {self.reference}, rtol "
                 f"{self.rtol:g}, atol {self.atol:g}"]
        if self.first is None:
            lines.append("  no node's output diverges")
        else:
            name = f"'{self.node_name}'" if self.node_name else "<unnamed>"
            lines.append(f"  first divergence: node {self.first + 1} of {self.nodes}, "
                         f"{name} ({self.op_type})")
            lines += [f"    input  {i}" for i in self.inputs]
            lines += [f"    output {d.describe()}{'' if d.diverges else ' (agrees)'}"
                      for d in self.outputs]
            if self.later:
                lines.append(f"    {self.later} later value(s) diverge too (errors "
                             "propagate from here)")
            lines.append("  graph level (as imported):")
            lines += _indent(self.graph_ir, ir_lines)
            lines.append("  loop level (the op alone, lowered as compile() lowers it, "
                         "up to lower-linalg-to-loops):")
            lines += _indent(self.loop_ir, ir_lines)
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _indent(text: str, limit: int) -> list[str]:
    lines = text.splitlines() or ["(none)"]
    if 0 < limit < len(lines):
        lines = [*lines[:limit], f"... ({len(lines) - limit} more lines)"]
    return [f"    {line}" for line in lines]


FUSION_NOTE = (
    "every intermediate value is a model output here, which stops the optimizer's "
    "fusions (an exposed value cannot be absorbed into its consumer), so this compares "
    "the graph without optimization; a divergence that appears only with optimization "
    "is what `run-tool --bisect=pass` finds")


def _body_nodes(node: onnx.NodeProto) -> int:
    """Nodes inside `node`'s subgraphs (If branches, Loop/Scan bodies), nested ones too."""
    count = 0
    for attr in node.attribute:
        for sub in [*([attr.g] if attr.HasField("g") else []), *attr.graphs]:
            count += sum(1 + _body_nodes(n) for n in sub.node)
    return count


def expose_all(model: onnx.ModelProto) -> tuple[onnx.ModelProto, list[str], list[str]]:
    """(`model` with every top-level node output a graph output, the exposed names in
    node order, notes on what could not be exposed)."""
    try:
        inferred = shape_inference.infer_shapes(model)
    except Exception:  # shape inference is best effort: types then come from Kiln's import
        inferred = model
    types = {v.name: v.type for v in [*inferred.graph.value_info, *inferred.graph.output,
                                      *inferred.graph.input]}
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    existing = {o.name for o in model.graph.output}
    names, notes, skipped = [], [], []
    for node in model.graph.node:
        for name in node.output:
            if not name:
                continue
            t = types.get(name)
            if t is not None and not t.HasField("tensor_type"):
                skipped.append(f"{name} ({t.WhichOneof('value')} of {node.op_type})")
                continue
            names.append(name)
            if name in existing:
                continue
            info = onnx.ValueInfoProto(name=name)
            if t is not None:
                info.type.CopyFrom(t)
            exposed.graph.output.append(info)
            existing.add(name)
    if skipped:
        notes.append(f"{len(skipped)} value(s) are not tensors and cannot be compared: "
                     + ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else ""))
    bodies = [(n, c) for n in model.graph.node if (c := _body_nodes(n))]
    if bodies:
        where = ", ".join(f"{n.op_type} '{n.name}' ({c} nodes)" for n, c in bodies[:5])
        notes.append(
            f"values inside the bodies of {where}{' ...' if len(bodies) > 5 else ''} cannot "
            "be exposed (an ONNX graph can output only its top-level values): a divergence "
            "inside a body shows at that node's outputs")
    return exposed, names, notes


def complete_output_types(model: onnx.ModelProto, values: Mapping[str, np.ndarray]) -> None:
    """Give each graph output that shape inference left without a shape (a Loop's result,
    say) the element type and rank of its reference value, with unknown dims: the ONNX
    checker, which Kiln's import runs, wants both."""
    for info in model.graph.output:
        t = info.type.tensor_type
        value = values.get(info.name)
        if value is None or (t.HasField("shape") and t.elem_type):
            continue
        value = np.asarray(value)
        t.elem_type = t.elem_type or helper.np_dtype_to_tensor_dtype(value.dtype)
        if not t.HasField("shape"):
            t.shape.SetInParent()
            for _ in value.shape:
                t.shape.dim.add()


def bisect_nodes(model: object, feeds: Mapping[str, np.ndarray] | None = None, *,
                 dims: Mapping[str, int] | None = None, seed: int = 0, rtol: float = 1e-4,
                 atol: float = 1e-5, checks: str | None = None, kernels: bool = True,
                 threads: int | None = None, log: Log | None = None) -> NodeBisection:
    """The first node whose output diverges from the reference (see the module doc)."""
    proto = load_onnx(model, "bisection by node")
    feeds = dict(feeds) if feeds is not None else random_feeds(proto, dims, seed)
    exposed, names, notes = expose_all(proto)
    _say(log, f"reference run of {len(names)} exposed values")
    reference, want = run_reference(exposed, feeds)
    complete_output_types(exposed, want)
    _say(log, f"Kiln compile ({UNOPTIMIZED}) with every value exposed")
    try:
        kiln = compiler.compile(exposed, pipeline=UNOPTIMIZED, checks=checks,
                                kernels=kernels, threads=threads, cache=False, quiet=True)
        got = kiln.run(feeds)
    except KilnError as e:
        raise CompileError(f"Kiln cannot run the model with every intermediate value "
                           f"exposed as an output: {e}") from None
    report = NodeBisection(reference, rtol, atol, len(proto.graph.node), 0,
                           notes=[FUSION_NOTE, *notes])
    exposed_set = set(names)
    for index, node in enumerate(proto.graph.node):
        outputs = [n for n in node.output if n in exposed_set]
        diffs = [compare(n, got[n], want[n], rtol, atol) for n in outputs]
        report.compared += len(diffs)
        if report.first is not None:
            report.later += sum(d.diverges for d in diffs)
        elif any(d.diverges for d in diffs):
            report.first, report.node_name, report.op_type = index, node.name, node.op_type
            report.outputs = diffs
            report.inputs = _input_shapes(proto, node, feeds, want)
            report.graph_ir, report.loop_ir = node_ir(exposed, node, checks, kernels)
    return report


def _input_shapes(model: onnx.ModelProto, node: onnx.NodeProto,
                  feeds: Mapping[str, np.ndarray], values: Mapping[str, np.ndarray]
                  ) -> list[str]:
    initializers = {t.name: t for t in model.graph.initializer}
    shapes = []
    for name in node.input:
        if not name:
            continue
        if name in feeds or name in values:
            v = np.asarray(feeds[name] if name in feeds else values[name])
            shapes.append(f"{name}: {v.dtype.name}{list(v.shape)}")
        elif name in initializers:
            t = initializers[name]
            dtype = np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type)).name
            shapes.append(f"{name}: {dtype}{list(t.dims)} (initializer)")
        else:
            shapes.append(f"{name}: (not known)")
    return shapes


# --------------------------------------------------------------------------- a node's IR


def node_ir(model: onnx.ModelProto, node: onnx.NodeProto, checks: str | None = None,
            kernels: bool = True) -> tuple[str, str]:
    """(graph-level, loop-level) IR of the ops Kiln imports `node` to, as a function of
    their own: the values they take from the rest of the graph become its arguments."""
    try:
        module = load_graph_module(model)
        isolated = isolate_node(module, node)
    except Exception as e:  # the IR is an aid: the report must not be lost over it
        return f"(not available: {e})", "(not available)"
    graph_text = str(main_function(isolated))
    # the loop level with the nests in @main (before outline-loop-kernels moves them out)
    passes = [to_tensor_pass(checks or "shapes"),
              *[p for p in lower_passes(kernels, checks or "shapes")
                if p.name not in ("outline-loop-kernels", "convert-to-llvm")]]
    try:
        run_pipeline(isolated, passes)
    except KilnError as e:
        return graph_text, f"(not available: lowering the op alone failed: {e})"
    return graph_text, str(main_function(isolated))


def _located_at(op: Operation, name: str) -> bool:
    return isinstance(op.location, NameLoc) and op.location.desc.data == name


def isolate_node(module: ModuleOp, node: onnx.NodeProto) -> ModuleOp:
    """A module whose @main holds only the top-level ops imported from `node` (weights and
    constants they use come along; other operands become arguments)."""
    main = main_function(module)
    ops = list(main.body.block.ops)
    group = [op for op in ops if node.name and _located_at(op, node.name)]
    if not group:
        returned = {_output_name(main, i): v for i, v in enumerate(ops[-1].operands)}
        value = next((returned[n] for n in node.output if n in returned), None)
        if value is None or not isinstance(value, OpResult):
            raise LookupError(f"node '{node.name}' imports to no op of its own (its "
                              "output is another value)")
        group = [value.op]
    inside = {inner for op in group for inner in op.walk()}
    blocks = {b for op in inside for r in op.regions for b in r.blocks}

    def is_inner(v: SSAValue) -> bool:
        if isinstance(v, OpResult):
            return v.op in inside
        return isinstance(v, BlockArgument) and v.block in blocks

    block = Block()
    mapping: dict[SSAValue, SSAValue] = {}
    arg_names: list[str] = []
    for op in group:
        for inner in op.walk():
            for v in inner.operands:
                if is_inner(v) or v in mapping:
                    continue
                if isinstance(v, OpResult) and isinstance(v.op, g.WeightOp | g.ConstantOp):
                    clone = v.op.clone()
                    block.add_op(clone)
                    mapping[v] = clone.results[v.index]
                    continue
                arg = mapping[v] = block.insert_arg(v.type, len(block.args))
                arg.name_hint = v.name_hint
                arg_names.append(v.name_hint or f"arg{len(arg_names)}")
    clones: dict[Operation, Operation] = {}
    for op in group:
        clones[op] = op.clone(value_mapper=mapping)
        block.add_op(clones[op])
    # what the rest of the graph uses (the node's outputs; a weight the importer located
    # at this node may serve others too, but it is not a result), else the last op's
    outs = [r for op in group if not isinstance(op, g.WeightOp | g.ConstantOp)
            for r in op.results
            if any(u.operation not in inside for u in r.uses)] or list(group[-1].results)
    results = [clones[r.op].results[r.index] for r in outs]
    block.add_op(func.ReturnOp(*results))
    isolated_main = func.FuncOp(
        "main", ([a.type for a in block.args], [r.type for r in results]), Region(block),
        arg_attrs=ArrayAttr([DictionaryAttr({g.ARG_NAME_ATTR: StringAttr(n)})
                             for n in arg_names]))
    isolated = ModuleOp([isolated_main])
    store = weight_stores.store_for(module)
    if store is not None:
        weight_stores.attach(isolated, store)
        isolated.__dict__["kiln_source_module"] = module  # keeps the store alive
    return isolated


def _output_name(main: func.FuncOp, index: int) -> str:
    attrs = main.res_attrs
    if attrs is None or index >= len(attrs.data):
        return ""
    name = attrs.data[index].data.get(g.ARG_NAME_ATTR)
    return name.data if isinstance(name, StringAttr) else ""


# --------------------------------------------------------------------------- by pass


@dataclass
class PassStep:
    """The model after one more pass of the pipeline."""

    index: int
    """1-based position in the pipeline."""
    name: str
    spec: str
    changed: bool
    fired: dict[str, int] | None
    """Rules that fired in this pass, from its statistics (None: it keeps none)."""
    outputs: list[Difference] = field(default_factory=list)
    """Empty when the pass changed nothing (the previous compile stands for it)."""

    @property
    def diverges(self) -> bool:
        return any(d.diverges for d in self.outputs)

    def rules(self) -> str:
        if self.fired is None:
            return "no statistics"
        return ", ".join(f"{r} {n}" for r, n in self.fired.items()) or "no rule fired"


@dataclass
class PassBisection:
    """What `bisect_passes` found."""

    reference: str
    rtol: float
    atol: float
    pipeline: list[str]
    before: list[Difference]
    """The outputs with no optimization pass run."""
    steps: list[PassStep] = field(default_factory=list)

    @property
    def first(self) -> PassStep | None:
        """The first pass after which the outputs diverge (None: none, or the outputs
        diverge before any pass)."""
        if any(d.diverges for d in self.before):
            return None
        return next((s for s in self.steps if s.diverges), None)

    @property
    def diverges_before(self) -> bool:
        return any(d.diverges for d in self.before)

    def format(self) -> str:
        lines = [f"bisect by pass: {', '.join(self.pipeline) or '(no passes)'}; outputs vs "
                 f"{self.reference}, rtol {self.rtol:g}, atol {self.atol:g}",
                 f"  before any pass: {_verdict(self.before)}"]
        for s in self.steps:
            what = _verdict(s.outputs) if s.changed else "IR unchanged"
            lines.append(f"  {s.index:>2} {s.spec}: {s.rules()} -> {what}")
        if self.diverges_before:
            lines.append("  the outputs diverge before any optimization pass: the import "
                         "or the lowering is wrong (run-tool --bisect=node finds the node)")
        elif (first := self.first) is not None:
            lines.append(f"  first divergence: after pass {first.index} '{first.spec}' "
                         f"(rules fired: {first.rules()})")
            lines += [f"    output {d.describe()}" for d in first.outputs if d.diverges]
        else:
            lines.append("  the outputs agree after every pass")
        return "\n".join(lines)


def _verdict(diffs: Sequence[Difference]) -> str:
    bad = [d for d in diffs if d.diverges]
    if bad:
        return "DIVERGE (" + "; ".join(d.describe() for d in bad[:3]) + ")"
    worst = max((d.abs_err for d in diffs), default=0.0)
    return f"agree (max abs err {worst:.3g})"


def bisect_passes(model: object, feeds: Mapping[str, np.ndarray] | None = None, *,
                  pipeline: str | Sequence[ModulePass] | None = None,
                  dims: Mapping[str, int] | None = None, seed: int = 0, rtol: float = 1e-4,
                  atol: float = 1e-5, checks: str | None = None, kernels: bool = True,
                  threads: int | None = None, log: Log | None = None) -> PassBisection:
    """The first pass of `pipeline` (default: O2's) after which the outputs diverge.

    The reference is onnxruntime (or onnx.reference) for an ONNX model; for a graph-dialect
    model it is Kiln's own compile before any pass."""
    passes = parse_pipeline(optimize_passes() if pipeline is None else pipeline)
    proto = None if _is_mlir(model) else load_onnx(model, "bisection by pass")
    module = load_graph_module(proto if proto is not None else model)
    if feeds is None:
        if proto is None:
            raise CompileError("bisecting a graph-dialect model needs its inputs (feeds)")
        feeds = random_feeds(proto, dims, seed)
    feeds = dict(feeds)

    def run(step: str) -> dict[str, np.ndarray]:
        _say(log, f"Kiln compile {step}")
        kiln = compiler.compile(module.clone(), pipeline=[], checks=checks, kernels=kernels,
                                threads=threads, cache=False, quiet=True)
        return kiln.run(feeds)

    before = run("before any pass")
    if proto is not None:
        reference, want = run_reference(proto, feeds)
    else:
        reference, want = "Kiln before any optimization pass", before
    names = list(want)

    def differences(got: Mapping[str, np.ndarray]) -> list[Difference]:
        return [compare(n, got[n], want[n], rtol, atol) for n in names]

    report = PassBisection(reference, rtol, atol,
                           [str(p.pipeline_pass_spec()) for p in passes], differences(before))
    if report.diverges_before:
        return report
    ctx = make_context()
    text = str(module)
    for index, p in enumerate(passes, 1):
        reset_statistics()
        apply_pass(p, ctx, module)
        fired = ({r: n for r, n in STATISTICS[p.name].items() if n}
                 if p.name in STATISTICS else None)
        new_text = str(module)
        step = PassStep(index, p.name, str(p.pipeline_pass_spec()), new_text != text, fired)
        text = new_text
        report.steps.append(step)
        if step.changed:
            step.outputs = differences(run(f"after pass {index} ({p.name})"))
            if step.diverges:
                break
    return report


def _is_mlir(model: object) -> bool:
    return isinstance(model, ModuleOp) or (
        isinstance(model, str | os.PathLike) and os.fspath(model).endswith(".mlir"))


def _say(log: Log | None, message: str) -> None:
    if log is not None:
        log(message)


# --------------------------------------------------------------------------- both


@dataclass
class Bisection:
    """`bisect`'s result: by node and by pass (either may be None: not asked for)."""

    nodes: NodeBisection | None
    passes: PassBisection | None

    def format(self, ir_lines: int = IR_LINES) -> str:
        parts = [self.nodes.format(ir_lines)] if self.nodes is not None else []
        return "\n\n".join([*parts, *([self.passes.format()] if self.passes else [])])


BISECT_KINDS = ("node", "pass", "all")


def bisect(model: object, feeds: Mapping[str, np.ndarray] | None = None, *,
           by: str = "all", pipeline: str | Sequence[ModulePass] | None = None,
           dims: Mapping[str, int] | None = None, seed: int = 0, rtol: float = 1e-4,
           atol: float = 1e-5, checks: str | None = None, kernels: bool = True,
           threads: int | None = None, log: Log | None = None) -> Bisection:
    """Bisect by node, by pass or both (`by`: "node", "pass", "all"), on the same inputs."""
    if by not in BISECT_KINDS:
        raise CompileError(f"unknown bisection '{by}'; choose from {', '.join(BISECT_KINDS)}")
    if feeds is None and not _is_mlir(model):
        model = load_onnx(model, "bisection")
        feeds = random_feeds(model, dims, seed)
    options = dict(rtol=rtol, atol=atol, checks=checks, kernels=kernels, threads=threads,
                   log=log)
    nodes = bisect_nodes(model, feeds, **options) if by in ("node", "all") else None
    passes = (bisect_passes(model, feeds, pipeline=pipeline, **options)
              if by in ("pass", "all") else None)
    return Bisection(nodes, passes)
