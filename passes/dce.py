"""dce: dead code elimination on the graph dialect, regions included.

Removes every side-effect-free op whose results are unused (graph ops are Pure;
graph.weight has no memory effect), walking nested regions in reverse so that whole
dead chains go in one sweep.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.transforms.dead_code_elimination import dce

from passes.cse import count_ops
from passes.rewrite import record


@dataclass(frozen=True)
class GraphDCEPass(ModulePass):
    """Erase unused side-effect-free ops (nested regions included)."""

    name = "dce"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        before = count_ops(op)
        dce(op)
        record(self.name, {"erased": before - count_ops(op)})
