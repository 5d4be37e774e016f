"""Pictures of the graph IR: Graphviz DOT text, and SVG/PNG through Graphviz's `dot`.

    from compiler.graph_dot import graph_to_dot, pipeline_to_dot, render_dot
    text = graph_to_dot("examples/models/cnn.onnx")           # the imported graph
    svg = render_dot(pipeline_to_dot("examples/models/cnn.onnx", "O2"), "svg")

Ops are nodes (op name, node name, key attributes); edges carry the tensor types; weights
and constants are not nodes of their own but lines in their consumers' labels (a model's
hundreds of weights would otherwise outnumber its ops); regions of graph.if/loop/scan are
clusters. A scalar body (graph.fused, linalg.generic) is summarised in its op's label.
Labels are short by construction: long names and lists are cut, dense literals are never
spelled out, so a model with hundreds of ops stays readable. The writer reads any module,
lowered ones too, but it is made for the graph dialect.

`opt-tool --emit=dot|svg|png` (and `--before-after PIPELINE`) is the command-line form.
Graphviz is optional: only render_dot needs it, and says so when it is missing.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    DictionaryAttr,
    FileLineColLoc,
    FloatAttr,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    NameLoc,
    StringAttr,
    TensorType,
    UnitAttr,
    i1,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.irdl import IRDLOperation, OptOperandDef
from xdsl.passes import ModulePass
from xdsl.traits import ConstantLike, IsTerminator

from compiler.errors import KilnError
from dialects.graph.values import WeightOp

RENDER_FORMATS = ("svg", "png")
"""Formats render_dot asks Graphviz for."""

MAX_TEXT = 36
"""Longest name or value shown in a label line (longer ones are cut in the middle)."""

MAX_LIST = 6
"""Most elements of an array attribute (or ops of a scalar body) a label lists."""

MAX_LINES = 10
"""Most detail lines (attributes, weights) under an op's name."""

SMALL_CONSTANT = 4
"""Constants with at most this many elements show their values; bigger ones their type."""

RENDER_TIMEOUT_S = 600

# Attributes that are structure, not something to read on a node.
_HIDDEN_ATTRS = frozenset({"operandSegmentSizes", "resultSegmentSizes", "sym_name",
                           "function_type", "arg_attrs", "res_attrs", "sym_visibility"})
# Defaults that would only add noise to every conv and pool node.
_DEFAULT_ARRAYS = {"strides": 1, "dilations": 1, "pads": 0}

_STYLE = {  # fill colour, border colour, extra attributes
    "op": ('"#e7f0fb"', '"#4a6fa5"', ""),
    "region": ('"#e6fcf5"', '"#2b8a3e"', ""),
    "fused": ('"#ffc078"', '"#d9480f"', ", penwidth=2"),
    "changed": ('"#fff3bf"', '"#e67700"', ""),
    "gone": ('"#f1f3f5"', '"#adb5bd"', ', fontcolor="#868e96", style="rounded,filled,dashed"'),
}
_INPUT = 'shape=ellipse, style=filled, fillcolor="#d3f9d8", color="#2b8a3e"'
_OUTPUT = 'shape=ellipse, style=filled, fillcolor="#ffe3e3", color="#c92a2a"'
_ARG = 'shape=ellipse, style=filled, fillcolor="#ffffff", color="#868e96", fontsize=9'

LEGEND = ("orange: fused by the pipeline   yellow: rewritten (new kind, attributes or types)"
          "   dashed grey: gone after it (absorbed, folded or removed)")


class GraphvizError(KilnError):
    """Graphviz's `dot` is not installed, or it failed to render a graph."""


# --------------------------------------------------------------------------- escaping


def quote(text: str) -> str:
    """`text` as a DOT double-quoted string (backslashes, quotes and newlines escaped)."""
    text = "".join(ch if ch.isprintable() or ch == "\n" else "?" for ch in text)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def html(text: str) -> str:
    """`text` escaped for a Graphviz HTML-like label (one line: no markup survives)."""
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def shorten(text: str, limit: int = MAX_TEXT) -> str:
    """`text`, cut in the middle to `limit` characters (names differ at both ends)."""
    if len(text) <= limit:
        return text
    head = (limit - 1) * 2 // 3
    return text[:head] + "…" + text[len(text) - (limit - 1 - head):]


# --------------------------------------------------------------------------- summaries


def type_text(t: Attribute) -> str:
    """A tensor or memref type as `1x8x?xf32` (a scalar tensor as its element type)."""
    if isinstance(t, TensorType | MemRefType):
        dims = ["?" if d < 0 else str(d) for d in t.get_shape()]
        text = "x".join([*dims, str(t.element_type)])
        return f"memref {text}" if isinstance(t, MemRefType) else text
    return shorten(str(t))


def _count(t: Attribute) -> int | None:
    if isinstance(t, TensorType | MemRefType) and all(d >= 0 for d in t.get_shape()):
        return math.prod(t.get_shape())
    return None


def _number(v: float | int) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _listing(values: Sequence[object]) -> str:
    shown = ", ".join(_number(v) if isinstance(v, int | float) else str(v)
                      for v in values[:MAX_LIST])
    return shown + (f", … ({len(values)})" if len(values) > MAX_LIST else "")


def dense_text(attr: DenseIntOrFPElementsAttr) -> str:
    """A dense literal by its values when it is tiny, else by its type (and splat value)."""
    t = attr.get_type()
    n = _count(t)
    if n is not None and n <= SMALL_CONSTANT:
        values = attr.get_values()
        body = _number(values[0]) if n == 1 else f"[{_listing(list(values))}]"
        return f"{body} : {type_text(t)}"
    if n is not None and n <= 1 << 16 and attr.is_splat():  # the check reads every element
        return f"splat {_number(attr.get_values()[0])} : {type_text(t)}"
    return f"dense {type_text(t)}"


def attr_text(attr: Attribute) -> str | None:
    """A short text for an attribute value (None: show the name alone)."""
    if isinstance(attr, UnitAttr):
        return None
    if isinstance(attr, IntegerAttr) and attr.type == i1:
        return "true" if attr.value.data else "false"
    if isinstance(attr, IntegerAttr | FloatAttr):
        return _number(attr.value.data)
    if isinstance(attr, StringAttr):
        return shorten(attr.data)
    if isinstance(attr, DenseArrayBase):
        return _listing(list(attr.get_values()))
    if isinstance(attr, DenseIntOrFPElementsAttr):
        return dense_text(attr)
    if isinstance(attr, ArrayAttr):
        return _listing([attr_text(a) or "" for a in attr.data])
    return shorten(str(attr))


def key_attributes(op: Operation) -> list[str]:
    """`name value` lines for an op's properties and attributes (defaults left out)."""
    defaults = {}
    if isinstance(op, IRDLOperation):
        defaults = {name: d.default_value
                    for name, d in type(op).get_irdl_definition().properties.items()}
    lines = []
    for name, attr in [*op.properties.items(), *op.attributes.items()]:
        if (name in _HIDDEN_ATTRS or (isinstance(op, WeightOp) and name == "name")
                or defaults.get(name) == attr):
            continue
        if (name in _DEFAULT_ARRAYS and isinstance(attr, DenseArrayBase)
                and all(v == _DEFAULT_ARRAYS[name] for v in attr.get_values())):
            continue
        value = attr_text(attr)
        lines.append(name if value is None else f"{name} {value}")
    return lines


def node_name(op: Operation) -> str | None:
    """The framework node an op came from (its NameLoc), else its first result's name."""
    loc = getattr(op, "location", None)
    if isinstance(loc, NameLoc):
        return loc.desc.data
    if op.results and op.results[0].name_hint:
        return op.results[0].name_hint
    return None


def operand_roles(op: Operation) -> list[str]:
    """The definition's name of each operand (`bias`, `inputs1`, ...), or `#i`."""
    fallback = [f"#{i}" for i in range(len(op.operands))]
    if not isinstance(op, IRDLOperation):
        return fallback
    roles: list[str] = []
    for name, _ in type(op).get_irdl_definition().operands:
        value = getattr(op, name, None)
        if isinstance(value, SSAValue):
            roles.append(name)
        elif isinstance(value, Iterable):
            items = list(value)
            roles += [name] if len(items) == 1 else [f"{name}{i}" for i in range(len(items))]
    return roles if len(roles) == len(op.operands) else fallback


def _optional_operands(op: Operation) -> set[str]:
    """Names of the optional operands (bias, residual, ...): their edges say the role."""
    if not isinstance(op, IRDLOperation):
        return set()
    return {name for name, d in type(op).get_irdl_definition().operands
            if isinstance(d, OptOperandDef)}


def is_folded(op: Operation) -> bool:
    """Weights and constants: drawn inside their consumers, not as nodes."""
    return isinstance(op, WeightOp) or op.has_trait(ConstantLike)


def folded_text(op: Operation) -> str:
    """What a weight or constant looks like as a line of its consumer's label."""
    if isinstance(op, WeightOp):
        return f"{shorten(op.weight_name.data, MAX_TEXT - 12)} {type_text(op.result.type)}"
    value = op.properties.get("value") or op.attributes.get("value")
    if isinstance(value, DenseIntOrFPElementsAttr):
        return f"const {dense_text(value)}"
    if isinstance(value, IntegerAttr | FloatAttr):
        return f"const {_number(value.value.data)} : {value.type}"
    return f"const {type_text(op.results[0].type)}" if op.results else "const"


def _draws_as_cluster(region: Region) -> bool:
    """Regions over tensors (graph.if/loop/scan bodies) are clusters; scalar bodies
    (graph.fused, linalg.generic) are not."""
    def tensor(v: SSAValue) -> bool:
        return isinstance(v.type, TensorType | MemRefType)

    return any(tensor(a) for block in region.blocks for a in block.args) or any(
        tensor(v) for op in region.walk() for v in [*op.results, *op.operands])


def body_summary(op: Operation) -> str | None:
    """`body subf, mulf` for an op whose regions hold a scalar computation."""
    names = [inner.name.rpartition(".")[2] for region in op.regions
             if not _draws_as_cluster(region) for inner in region.walk()
             if not inner.has_trait(IsTerminator)]
    return f"body {_listing(names)}" if names else None


def op_key(op: Operation) -> tuple[str, str, str, str]:
    """What identifies an op across a pipeline run: kind, location, attributes, types."""
    loc = getattr(op, "location", None)
    where = (loc.desc.data if isinstance(loc, NameLoc) else
             f"{loc.filename.data}:{loc.line.data}:{loc.column.data}"
             if isinstance(loc, FileLineColLoc) else "")
    attrs = "; ".join(key_attributes(op) + [body_summary(op) or ""])
    return op.name, where, attrs, ",".join(type_text(r.type) for r in op.results)


# --------------------------------------------------------------------------- the writer


@dataclass
class _Writer:
    """Emits one module's nodes (with `prefix` on their ids) and collects its edges."""

    prefix: str
    marks: dict[Operation, str] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    edges: list[str] = field(default_factory=list)
    sources: dict[SSAValue, str] = field(default_factory=dict)
    uses: list[tuple[SSAValue, str, str, str]] = field(default_factory=list)
    serial: int = 0

    def new_id(self, kind: str = "n") -> str:
        self.serial += 1
        return f"{self.prefix}{kind}{self.serial}"

    def emit(self, depth: int, text: str) -> None:
        self.lines.append("  " * depth + text)

    def module(self, module: ModuleOp, depth: int) -> None:
        bodies = [op for op in module.ops if op.regions and op.regions[0].blocks]
        for op in bodies:
            if len(bodies) == 1:
                self.function(op, depth)
                continue
            name = op.properties.get("sym_name") or op.attributes.get("sym_name")
            title = f"@{name.data}" if isinstance(name, StringAttr) else op.name
            self.emit(depth, f"subgraph cluster_{self.new_id('f')} {{")
            self.emit(depth + 1, f'label={quote(title)}; style="rounded"; color="#adb5bd";')
            self.function(op, depth + 1)
            self.emit(depth, "}")

    def function(self, fn: Operation, depth: int) -> None:
        arg_attrs = _dicts(fn, "arg_attrs")
        for b, block in enumerate(fn.regions[0].blocks):
            for i, arg in enumerate(block.args):
                if b:  # a successor block's arguments (lowered control flow)
                    self.value_node(arg, depth, _label(f"^bb{b} {arg.name_hint or i}", None,
                                                       [type_text(arg.type)]), _ARG)
                    continue
                attrs = arg_attrs[i] if i < len(arg_attrs) else {}
                name = _str_attr(attrs.get("graph.name")) or arg.name_hint or f"arg{i}"
                lines = [type_text(arg.type)]
                dims = attrs.get("graph.dims")
                if isinstance(dims, ArrayAttr) and any(_str_attr(d) for d in dims.data):
                    lines.append("dims " + ", ".join(_str_attr(d) or "·" for d in dims.data))
                self.value_node(arg, depth, _label(name, None, lines), _INPUT)
            self.block_ops(block, depth, outputs=_dicts(fn, "res_attrs"))

    def value_node(self, value: SSAValue, depth: int, label: str, style: str) -> None:
        node = self.new_id()
        self.sources[value] = node
        self.emit(depth, f"{node} [label={label}, {style}];")

    def block_ops(self, block: Block, depth: int,
                  outputs: list[dict[str, Attribute]] | None = None,
                  sink: str | None = None) -> None:
        """Draw a block's ops; a function's return goes to output nodes, a region's yield
        to `sink` (the results node of the op that owns the region)."""
        for op in block.ops:
            if is_folded(op):
                continue
            if op.has_trait(IsTerminator) and outputs is not None and op.name.endswith(
                    ".return"):
                self.outputs(op, depth, outputs)
            elif op.has_trait(IsTerminator) and sink is not None:
                self.terminator(op, depth, sink)
            else:
                self.op(op, depth)

    def terminator(self, op: Operation, depth: int, sink: str) -> None:
        """A region's yield: a small node (so that an empty branch still shows) whose
        values flow on to the owning op's results."""
        node = self.new_id()
        lines = [f"= {folded_text(v.owner)}" for v in op.operands
                 if isinstance(v.owner, Operation) and is_folded(v.owner)]
        title = op.name.removeprefix("graph.")
        self.emit(depth, f"{node} [label={_label(title, None, lines)}, shape=box, "
                         'style="rounded", color="#868e96", fontsize=9];')
        for value in op.operands:
            self.edge(value, node)
        self.edges.append(f"{node} -> {sink} [style=dashed];")

    def outputs(self, ret: Operation, depth: int, res_attrs: list[dict[str, Attribute]]) -> None:
        for i, value in enumerate(ret.operands):
            attrs = res_attrs[i] if i < len(res_attrs) else {}
            name = _str_attr(attrs.get("graph.name")) or f"result {i}"
            node = self.new_id()
            lines = [type_text(value.type)]
            owner = value.owner
            if isinstance(owner, Operation) and is_folded(owner):
                lines.append(f"= {folded_text(owner)}")
            self.emit(depth, f"{node} [label={_label(name, None, lines)}, {_OUTPUT}];")
            self.edge(value, node)

    def op(self, op: Operation, depth: int) -> None:
        lines = key_attributes(op)
        if (summary := body_summary(op)) is not None:
            lines.append(summary)
        for role, value in zip(operand_roles(op), op.operands, strict=True):
            owner = value.owner
            if isinstance(owner, Operation) and is_folded(owner):
                lines.append(f"{role}: {folded_text(owner)}")
        title = op.name.removeprefix("graph.")
        regions = [r for r in op.regions if r.blocks and _draws_as_cluster(r)]
        kind = self.marks.get(op, "region" if regions else "op")
        fill, color, extra = _STYLE[kind]
        head = self.new_id()
        style = f'shape=box, style="rounded,filled", fillcolor={fill}, color={color}{extra}'
        if not regions:
            self.emit(depth, f"{head} [label={_label(title, node_name(op), lines)}, {style}];")
            self.wire(op, head, head)
            return
        self.emit(depth, f"subgraph cluster_{self.new_id('c')} {{")
        self.emit(depth + 1, f'label={quote(title)}; style="rounded,dashed"; color={color};')
        self.emit(depth + 1, f"{head} [label={_label(title, node_name(op), lines)}, {style}];")
        tail = self.new_id() if op.results else None
        names = _region_names(op)
        for region in regions:
            self.emit(depth + 1, f"subgraph cluster_{self.new_id('r')} {{")
            self.emit(depth + 2, f'label={quote(names.get(region, "region"))}; '
                                 'style="rounded"; color="#ced4da";')
            block = region.blocks.first
            assert block is not None
            for i, arg in enumerate(block.args):
                self.value_node(arg, depth + 2,
                                _label(arg.name_hint or f"arg{i}", None, [type_text(arg.type)]),
                                _ARG)
                self.edges.append(f"{head} -> {self.sources[arg]} "
                                  '[style=dotted, arrowhead=none, color="#868e96"];')
            first = len(self.lines)
            self.block_ops(block, depth + 2, sink=tail or head)
            # the op's node above its regions' nodes, without pulling them towards it
            self.edges += [f"{head} -> {node} [style=invis, weight=0];"
                           for node in _node_ids(self.lines[first:])]
            self.emit(depth + 1, "}")
        if tail is not None:
            self.emit(depth + 1, f'{tail} [label={quote(f"{title} results")}, shape=box, '
                                 f'style="rounded,filled", fillcolor={fill}, color={color}, '
                                 'fontsize=9];')
        self.emit(depth, "}")
        self.wire(op, head, tail or head)

    def wire(self, op: Operation, head: str, out: str) -> None:
        optional = _optional_operands(op)
        for role, value in zip(operand_roles(op), op.operands, strict=True):
            self.edge(value, head, role if role in optional else None)
        for result in op.results:
            self.sources[result] = out

    def edge(self, value: SSAValue, target: str, role: str | None = None,
             dashed: bool = False) -> None:
        """An edge from wherever `value` is drawn (known once every block is)."""
        self.uses.append((value, target, ", style=dashed" if dashed else "", role or ""))

    def edge_lines(self) -> list[str]:
        """Every edge; uses of weights and constants have none (their labels say it)."""
        lines = []
        for value, target, style, role in self.uses:
            source = self.sources.get(value)
            if source is None:
                continue
            label = type_text(value.type)
            owner = value.owner
            if isinstance(owner, Operation) and len(owner.results) > 1:
                label = f"#{owner.results.index(value)} {label}"
            if role:
                label = f"{role}: {label}"
            lines.append(f"{source} -> {target} [label={quote(label)}{style}];")
        return lines + self.edges


def _node_ids(lines: list[str]) -> list[str]:
    """The ids of the nodes (not clusters or attributes) among emitted lines."""
    return [text.split(" ", 1)[0] for line in lines
            if (text := line.strip()) and " [label=" in text and " -> " not in text]


def _label(title: str, name: str | None, lines: list[str]) -> str:
    """An HTML-like label: the op in bold, its node name, then the detail lines."""
    if len(lines) > MAX_LINES:
        lines = [*lines[:MAX_LINES - 1], f"… {len(lines) - MAX_LINES + 1} more"]
    parts = [f"<B>{html(shorten(title))}</B>"]
    if name:
        parts.append(f'<FONT POINT-SIZE="9" COLOR="#495057">{html(shorten(name))}</FONT>')
    parts += [f'<FONT POINT-SIZE="9">{html(shorten(line, MAX_TEXT + 12))}</FONT>'
              for line in lines]
    return "<" + "<BR/>".join(parts) + ">"


def _str_attr(attr: Attribute | None) -> str | None:
    return attr.data if isinstance(attr, StringAttr) and attr.data else None


def _dicts(fn: Operation, name: str) -> list[dict[str, Attribute]]:
    attr = fn.properties.get(name) or fn.attributes.get(name)
    if not isinstance(attr, ArrayAttr):
        return []
    return [dict(d.data) if isinstance(d, DictionaryAttr) else {} for d in attr.data]


def _region_names(op: Operation) -> dict[Region, str]:
    if not isinstance(op, IRDLOperation):
        return {}
    names: dict[Region, str] = {}
    for name, _ in type(op).get_irdl_definition().regions:
        value = getattr(op, name, None)
        if isinstance(value, Region):
            names[value] = name.removesuffix("_region")
    return names


def _header(title: str) -> list[str]:
    return [f"digraph {quote(title)} {{",
            '  graph [rankdir=TB, newrank=true, fontname="Helvetica", fontsize=11, labelloc=t];',
            '  node [fontname="Helvetica", fontsize=10];',
            '  edge [fontname="Helvetica", fontsize=8, color="#495057", '
            'fontcolor="#495057"];']


def graph_to_dot(module: object, *, title: str = "main") -> str:
    """DOT text for a module (a graph ModuleOp, or a model that load_graph_module takes)."""
    module = _as_module(module)
    writer = _Writer("")
    writer.module(module, 1)
    return "\n".join([*_header(title), *writer.lines, *("  " + e for e in writer.edge_lines()),
                      "}"]) + "\n"


def compare_to_dot(before: ModuleOp, after: ModuleOp, *, before_title: str = "before",
                   after_title: str = "after") -> str:
    """Two modules side by side: ops the second one fused or rewrote are highlighted,
    ops of the first one that are gone from the second are dashed."""
    before_marks, after_marks = change_marks(before, after)
    parts = _header(f"{before_title} / {after_title}")
    for side, module, marks, title in (("b", before, before_marks, before_title),
                                       ("a", after, after_marks, after_title)):
        writer = _Writer(f"{side}_", marks)
        writer.module(module, 2)
        parts += [f"  subgraph cluster_{side} {{",
                  f'    label={quote(title)}; labelloc=t; fontsize=14; '
                  'style="rounded"; '
                  'color="#ced4da";',
                  *writer.lines, "  }", *("  " + e for e in writer.edge_lines())]
    # last, so that the clusters (which inherit what is set before them) keep labelloc=t
    parts.append(f"  label={quote(LEGEND)}; labelloc=b;")
    return "\n".join([*parts, "}"]) + "\n"


def change_marks(before: ModuleOp, after: ModuleOp
                 ) -> tuple[dict[Operation, str], dict[Operation, str]]:
    """(before's ops that are gone, after's ops that are fused or rewritten), by op_key."""
    drawn_before = [op for op in before.walk() if _drawable(op)]
    drawn_after = [op for op in after.walk() if _drawable(op)]
    keys_before = Counter(op_key(op) for op in drawn_before)
    keys_after = Counter(op_key(op) for op in drawn_after)
    kind_at = {(op_key(op)[1], op.name) for op in drawn_before if op_key(op)[1]}
    located = {op_key(op)[1] for op in drawn_before if op_key(op)[1]}
    gone = {}
    for op in drawn_before:
        if keys_after[op_key(op)] > 0:
            keys_after[op_key(op)] -= 1
        else:
            gone[op] = "gone"
    marks = {}
    for op in drawn_after:
        key = op_key(op)
        if keys_before[key] > 0:
            keys_before[key] -= 1
            continue
        fused = (op.name == "graph.fused" or "act" in op.properties
                 or any(role == "residual" for role in operand_roles(op))
                 or (key[1] in located and (key[1], op.name) not in kind_at))
        marks[op] = "fused" if fused else "changed"
    return gone, marks


def _drawable(op: Operation) -> bool:
    parent = op.parent_op()
    return (not is_folded(op) and not op.has_trait(IsTerminator) and parent is not None
            and not isinstance(op, func.FuncOp) and not isinstance(parent, ModuleOp)
            and (isinstance(parent, func.FuncOp)
                 or any(_draws_as_cluster(r) for r in parent.regions)))


def pipeline_to_dot(module: object, pipeline: str | Sequence[ModulePass]) -> str:
    """The graph before and after running `pipeline` (a spec such as "O2", or passes) on a
    copy of `module` (a ModuleOp is left as it is), side by side."""
    from compiler.driver import run_pipeline

    before = _as_module(module)
    after = before.clone()
    run_pipeline(after, pipeline)
    name = pipeline if isinstance(pipeline, str) else ",".join(p.name for p in pipeline)
    return compare_to_dot(before, after, after_title=f"after {name}")


def _as_module(model: object) -> ModuleOp:
    if isinstance(model, ModuleOp):
        return model
    from compiler.driver import load_graph_module

    return load_graph_module(model)


# --------------------------------------------------------------------------- rendering


def dot_program() -> str | None:
    """The path of Graphviz's `dot`, or None when it is not installed."""
    return shutil.which("dot")


def render_dot(text: str, fmt: str = "svg") -> bytes:
    """Render DOT text to SVG or PNG with Graphviz's `dot` (a GraphvizError when `dot` is
    missing or fails)."""
    if fmt not in RENDER_FORMATS:
        raise GraphvizError(f"cannot render '{fmt}': the formats are "
                            f"{', '.join(RENDER_FORMATS)}")
    program = dot_program()
    if program is None:
        raise GraphvizError(
            f"rendering {fmt.upper()} needs Graphviz's `dot` program, which is not on PATH; "
            "install Graphviz (e.g. `apt-get install graphviz`), or write DOT text "
            "(--emit=dot) and render it elsewhere")
    try:
        done = subprocess.run([program, f"-T{fmt}"], input=text.encode(),
                              capture_output=True, timeout=RENDER_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise GraphvizError(f"Graphviz's dot did not finish rendering {fmt.upper()} within "
                            f"{RENDER_TIMEOUT_S} s") from None
    except OSError as e:
        raise GraphvizError(f"cannot run Graphviz's dot ({program}): {e}") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()[-2000:]
        raise GraphvizError(f"Graphviz's dot failed (exit {done.returncode}) rendering "
                            f"{fmt.upper()}: {message}")
    return done.stdout
