"""The xDSL context with every dialect Kiln reads or writes."""

from __future__ import annotations

from xdsl.context import Context
from xdsl.universe import Universe

from dialects.check import Check
from dialects.graph import Graph


def make_context(allow_unregistered: bool = False) -> Context:
    """A context with xDSL's upstream dialects plus Kiln's own (graph, check)."""
    ctx = Context(allow_unregistered=allow_unregistered)
    for name, factory in Universe.get_multiverse().all_dialects.items():
        ctx.register_dialect(name, factory)
    ctx.load_dialect(Graph)
    ctx.load_dialect(Check)
    return ctx
