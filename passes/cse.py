"""cse: common subexpression elimination on the graph dialect, regions included.

xDSL's CSE (operation equivalence: name, properties, attributes, operands, region
structure) applied to pure graph ops: identical `graph.constant`s and `graph.weight`
references, and identical computations on the same values, are merged. Ops inside
regions (graph.fused bodies, control-flow ops) are processed too; values defined outside
a region are reused inside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.transforms.common_subexpression_elimination import cse

from passes.rewrite import record


def count_ops(module: ModuleOp) -> int:
    return sum(1 for _ in module.walk())


@dataclass(frozen=True)
class GraphCSEPass(ModulePass):
    """Merge identical pure ops (graph ops included) throughout the module."""

    name = "cse"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        before = count_ops(op)
        cse(op)
        record(self.name, {"merged": before - count_ops(op)})
