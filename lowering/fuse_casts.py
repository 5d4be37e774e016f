"""fuse-widening-casts: move float widenings (f16 -> f32) into the generics that read them
(level 2, linalg on tensors, right after convert-graph-to-tensor).

An elementwise `linalg.generic` whose body is only `arith.extf` of its one input, with
identity maps, materializes a wide copy of a narrow tensor: for precision="fp16" that is
a float32 copy of every float16 weight, which would undo the memory saving. Each generic
that reads such a copy reads the narrow tensor instead (same indexing map) and widens the
element in its body; the copy goes away once nothing reads it. lower-contractions-to-kernels
then sees a contraction over an f16 operand and calls the GEMM kernel variant that widens
while packing.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, tensor
from xdsl.dialects.builtin import ModuleOp
from xdsl.dialects.linalg.ops import GenericOp, YieldOp
from xdsl.ir import Block
from xdsl.ir.affine import AffineMap
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter


def widening_copy(op: GenericOp) -> bool:
    """Whether `op` is out[i] = extf(in[i]) over identity maps, all loops parallel."""
    if len(op.inputs) != 1 or len(op.outputs) != 1 or len(op.results) != 1:
        return False
    if any(str(it.data) != "parallel" for it in op.get_iterator_types()):
        return False
    if any(m.data != AffineMap.identity(m.data.num_dims) for m in op.get_indexing_maps()):
        return False
    ops = list(op.body.block.ops)
    return (len(ops) == 2 and isinstance(ops[0], arith.ExtFOp) and isinstance(ops[1], YieldOp)
            and ops[0].input == op.body.block.args[0] and ops[1].operands[0] == ops[0].result)


def _widen_input(user: GenericOp, index: int, copy: GenericOp) -> None:
    """`user` reads operand `index` (the copy's result) from the copy's input instead."""
    block: Block = user.body.block
    old = block.args[index]
    narrow = block.insert_arg(copy.inputs[0].type.element_type, index)  # type: ignore
    ext = arith.ExtFOp(narrow, old.type)
    Rewriter.insert_op(ext, InsertPoint.at_start(block))
    old.replace_all_uses_with(ext.result)
    block.erase_arg(old)
    user.operands[index] = copy.inputs[0]


@dataclass(frozen=True)
class FuseWideningCastsPass(ModulePass):
    """Read narrow tensors through an extf in the consumer instead of a widened copy."""

    name = "fuse-widening-casts"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for copy in [o for o in op.walk() if isinstance(o, GenericOp) and widening_copy(o)]:
            wide = copy.results[0]
            for use in list(wide.uses):
                user = use.operation
                if isinstance(user, GenericOp) and use.index < len(user.inputs):
                    _widen_input(user, use.index, copy)
            if wide.uses:
                continue
            dest = copy.outputs[0].owner
            Rewriter.erase_op(copy)
            if isinstance(dest, tensor.EmptyOp) and not dest.results[0].uses:
                Rewriter.erase_op(dest)
