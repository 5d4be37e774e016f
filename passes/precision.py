"""precision: store the weights of contractions in float16 (compile(precision="fp16")).

Every float32 `graph.weight` that a conv, conv_transpose, matmul, gemm or rnn reads (its
weight, either matmul/gemm operand, the recurrent weights, or its bias) gets a float16
copy in the weight store; the op then reads `graph.elementwise {kind = "cast"}` of that
f16 weight, back to f32. Activations, accumulation and every other op stay float32. The
cast is not a copy at run time: `fuse-widening-casts` (lowering/fuse_casts.py) moves the
f16 -> f32 conversion into the loads of the consuming kernel, and the GEMM kernel widens
while it packs, so only the f16 weight is ever held in memory. A gather from a float32
weight (an embedding table) gathers from the f16 copy and widens the gathered rows.

A weight whose values do not fit float16 (|w| > 65504) stays float32. The pass runs
after the graph optimizations (fold would turn cast(weight) back into a f32 weight).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import Float16Type, Float32Type, ModuleOp, TensorType, f16, f32
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from dialects import graph as g
from dialects.weights import WeightStore, store_for
from passes.rewrite import record

WEIGHT_OPERANDS: dict[type[Operation], tuple[str, ...]] = {
    g.ConvOp: ("weight", "bias"),
    g.ConvTransposeOp: ("weight", "bias"),
    g.MatMulOp: ("lhs", "rhs", "bias"),
    g.GemmOp: ("a", "b", "c"),
    g.RNNOp: ("w", "r", "bias"),
}
"""The ops whose weight operands fp16 narrows, by operand name."""

F16_MAX = 65504.0


def weight_operands(op: Operation) -> Iterator[tuple[int, g.WeightOp]]:
    """(operand index, graph.weight) for each f32 weight operand of a contraction."""
    names = WEIGHT_OPERANDS.get(type(op))
    if names is None:
        return
    for name in names:
        value = getattr(op, name)
        if value is None:
            continue
        owner = value.owner
        if isinstance(owner, g.WeightOp) and isinstance(g.element_type_of(value),
                                                       Float32Type):
            yield op.operands.index(value), owner


def is_widened_weight(value: SSAValue) -> bool:
    """Whether `value` is cast(f16 graph.weight) to f32, the form this pass writes."""
    owner = value.owner
    return (isinstance(owner, g.ElementwiseOp) and owner.kind.data == "cast"
            and len(owner.inputs) == 1 and isinstance(owner.inputs[0].owner, g.WeightOp)
            and isinstance(g.element_type_of(owner.inputs[0]), Float16Type))


def _narrow(store: WeightStore, weight: g.WeightOp) -> SSAValue | None:
    """cast(f16 copy of `weight`), inserted after it; None if it does not fit f16."""
    array = store[weight.weight_name.data]
    if array.size and float(np.max(np.abs(array))) > F16_MAX:
        return None
    name = f"{weight.weight_name.data}.f16"
    known = store.arrays.get(name)
    # a store outlives a compile (file stores are per process): reuse the copy made before
    if known is None or known.dtype != np.float16 or known.shape != array.shape:
        name = store.add(name, array.astype(np.float16))
    shape = g.shape_of(weight.result)
    narrow = g.WeightOp(name, g.tensor_type(shape, f16))
    cast = g.ElementwiseOp("cast", [narrow.result], result_element_type=f32)
    Rewriter.insert_op([narrow, cast], InsertPoint.after(weight))
    return cast.result


@dataclass(frozen=True)
class PrecisionPass(ModulePass):
    """Weights of conv/matmul/gemm stored in float16, read through a widening cast."""

    name = "precision"

    mode: str = "fp16"
    """Only "fp16" rewrites anything here ("int8" is the quantize pass's)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.mode != "fp16":
            return
        store = store_for(op)
        if store is None:
            return  # IR text without its weights: nothing to narrow
        widened: dict[g.WeightOp, SSAValue | None] = {}
        narrowed = 0
        for user in list(op.walk()):
            for index, weight in list(weight_operands(user)):
                if weight not in widened:
                    widened[weight] = _narrow(store, weight)
                if widened[weight] is not None:
                    user.operands[index] = widened[weight]
                    narrowed += 1
        gathers = 0
        for gather in [o for o in op.walk() if isinstance(o, g.GatherOp)]:
            weight = gather.input.owner
            if not isinstance(weight, g.WeightOp) or not isinstance(
                    g.element_type_of(gather.input), Float32Type):
                continue
            if weight not in widened:
                widened[weight] = _narrow(store, weight)
            cast = widened[weight]
            if cast is None:
                continue
            # gather the f16 rows, widen only those (an embedding table stays f16)
            assert isinstance(cast.owner, g.ElementwiseOp)
            rows = g.GatherOp(cast.owner.inputs[0], gather.indices, gather.axis.value.data)
            wide = g.ElementwiseOp("cast", [rows.result], result_element_type=f32)
            Rewriter.insert_op([rows, wide], InsertPoint.after(gather))
            gather.result.replace_all_uses_with(wide.result)
            Rewriter.erase_op(gather)
            gathers += 1
        for weight, cast in widened.items():
            if cast is not None and not cast.uses:
                Rewriter.erase_op(cast.owner)  # type: ignore[arg-type]
            if cast is not None and not weight.result.uses:
                Rewriter.erase_op(weight)
        record(self.name, {"fp16-weights": sum(c is not None for c in widened.values()),
                           "operands": narrowed, "gathers": gathers})


def op_precisions(module: ModuleOp) -> dict[str, dict[str, int]]:
    """How many graph ops of each name run in which precision: "int8" (integer ops),
    "fp16-weights" (f16 weights, f32 arithmetic), "fp32" (float), "other" (the rest)."""
    table: dict[str, dict[str, int]] = {}
    for fn in module.ops:
        if not isinstance(fn, func.FuncOp):
            continue
        for op in fn.walk():
            if not op.name.startswith("graph.") or isinstance(
                    op, g.WeightOp | g.ConstantOp | g.FusedYieldOp):
                continue
            kind = _precision_of(op)
            if kind is None:
                continue
            row = table.setdefault(kind, {})
            row[op.name] = row.get(op.name, 0) + 1
    return table


def _precision_of(op: Operation) -> str | None:
    if isinstance(op, g.ElementwiseOp) and op.kind.data == "cast" and all(
            isinstance(u.operation, tuple(WEIGHT_OPERANDS)) for u in op.result.uses) \
            and is_widened_weight(op.result):
        return None  # part of its consumer's kernel
    if type(op) in WEIGHT_OPERANDS and any(is_widened_weight(v) for v in op.operands):
        return "fp16-weights"
    if isinstance(op, g.QUANTIZE_OPS):
        return "int8"
    types = [g.element_type_of(v) for v in op.operands if isinstance(v.type, TensorType)]
    if any(isinstance(t, Float32Type) for t in types) or any(
            isinstance(g.element_type_of(r), Float32Type) for r in op.results
            if isinstance(r.type, TensorType)):
        return "fp32"
    return "other"
