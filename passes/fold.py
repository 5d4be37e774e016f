"""fold: evaluate graph ops on constant operands at compile time, and drop no-op arithmetic.

A generic driver over the ops' own `fold` hooks (GraphOp.fold / GraphOp.evaluate, next to
each op's definition). Operands count as constant when they come from `graph.constant`, or
from `graph.weight` while the module's weight store is available. Small results become
`graph.constant`, larger ones new weights in the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)

from dialects import graph as g
from dialects.weights import WeightStore, store_for
from passes.rewrite import P, Rule, RuleSet, record

MAX_INLINE_ELEMENTS = 64
"""Folded results up to this many elements are `graph.constant`, larger ones weights."""

MAX_FOLD_ELEMENTS = 16 * 1024 * 1024
"""Results above this many elements are not folded (memory and compile time)."""

MAX_SHAPE_FOLD_ELEMENTS = 4096
"""Shape and data-movement ops fold (into inline constants) up to this many elements."""


# --------------------------------------------------------------------------- values


def constant_array(value: SSAValue, store: WeightStore | None) -> np.ndarray | None:
    """The compile-time value of `value`, or None when it is not known."""
    op = value.owner
    if isinstance(op, g.ConstantOp):
        return g.array_from_dense(op.value)
    if isinstance(op, g.WeightOp) and store is not None and op.weight_name.data in store:
        return store[op.weight_name.data]
    return None


def materialize(array: np.ndarray, store: WeightStore | None, name: str) -> Operation | None:
    """A graph.constant (small) or graph.weight (large, added to `store`) holding `array`."""
    data = np.asarray(array, order="C")  # not ascontiguousarray: rank 0 stays rank 0
    if data.size <= MAX_INLINE_ELEMENTS:
        return g.ConstantOp(g.dense_from_array(data))
    if store is None:
        return None
    return g.WeightOp(store.add(name, data),
                      g.tensor_type(data.shape, g.element_type_for(data.dtype)))


# --------------------------------------------------------------------------- the driver


@dataclass
class FoldOp(RewritePattern):
    """Replace a graph op by the values its `fold` hook computes from known operands.

    The ops own their evaluators (`GraphOp.evaluate`, `GraphOp.fold`); this pattern only
    decides what is worth folding. Shape and data-movement ops (graph.SHAPE_OPS) fold into
    `graph.constant`s up to MAX_SHAPE_FOLD_ELEMENTS, so that shape chains (shape -> gather
    -> concat -> reshape_dynamic) become constants the symbolic shape analysis reads; other
    ops fold up to MAX_FOLD_ELEMENTS, into weights when large."""

    store: WeightStore | None
    folded: int = 0

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, g.GraphOp) or isinstance(op, (g.ConstantOp, g.WeightOp)):
            return
        shapes = [g.shape_of(r) for r in op.results]
        if any(g.DYN in s for s in shapes):
            return
        shape_data = isinstance(op, g.SHAPE_OPS)
        limit = MAX_SHAPE_FOLD_ELEMENTS if shape_data else MAX_FOLD_ELEMENTS
        if sum(int(np.prod(s, dtype=np.int64)) for s in shapes) > limit:
            return
        try:
            dtypes = [g.numpy_dtype_of(g.element_type_of(r)) for r in op.results]
            values = op.fold([constant_array(v, self.store) for v in op.operands])
        except (NotImplementedError, ValueError, IndexError, TypeError):
            return  # not foldable here (e.g. out-of-range constant indices): runs at run time
        if values is None or len(values) != len(op.results):
            return
        new_ops: list[Operation] = []
        for value, dtype, shape in zip(values, dtypes, shapes, strict=True):
            value = _as_result(value, dtype, shape)
            new = g.ConstantOp(g.dense_from_array(value)) if shape_data else \
                materialize(value, self.store, _fresh_name(op))
            if new is None:
                return
            new_ops.append(new)
        rewriter.replace(op, new_ops, [n.results[0] for n in new_ops])
        self.folded += 1


@dataclass
class StaticReshape(RewritePattern):
    """graph.reshape_dynamic with a constant target -> graph.reshape."""

    store: WeightStore | None

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, g.ReshapeDynamicOp):
            return
        target = constant_array(op.shape, self.store)
        if target is None or constant_array(op.input, self.store) is not None:
            return  # unknown target, or FoldOp folds the whole op
        x = g.shape_of(op.input)
        allowzero = bool(op.allowzero.value.data)
        shape = []
        for i, t in enumerate(int(v) for v in target):
            if t == 0 and not allowzero and i < len(x):
                shape.append(-1 if x[i] == g.DYN else x[i])
            elif t == 0:
                return
            else:
                shape.append(t)
        if shape.count(-1) > 1:
            return
        try:
            inferred = g.ReshapeOp.infer_shape(x, shape)
        except ValueError:
            return
        if len(inferred) != len(op.result_shape()):
            return
        # keep the declared type: it may be more static than the inference
        rewriter.replace(op, g.ReshapeOp.create(
            operands=[op.input], properties={"shape": g.i64_array(shape)},
            result_types=[op.result.type]))


def _as_result(value: np.ndarray, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """A folded value in the op's result dtype (integer division results truncate)."""
    value = np.asarray(value)
    if value.dtype != dtype and value.dtype.kind == "f" and dtype.kind in "iu":
        value = np.trunc(value)
    return np.asarray(value.astype(dtype, copy=False)).reshape(shape)


def _fresh_name(op: Operation) -> str:
    """A weight name derived from the first weight operand (the store makes it unique)."""
    for v in op.operands:
        if isinstance(v.owner, g.WeightOp):
            return f"{v.owner.weight_name.data}.{op.name.removeprefix('graph.')}"
    return f"folded.{op.name.removeprefix('graph.')}"


def identity_rules(store: WeightStore | None) -> list[Rule]:
    """x + 0, x - 0, x * 1, x / 1 -> x, when the constant does not change x's shape."""

    def is_splat(value: float) -> Callable[[SSAValue], bool]:
        def check(v: SSAValue) -> bool:
            a = constant_array(v, store)
            return a is not None and bool(np.all(a == value))

        return check

    def forward(m, b) -> SSAValue | None:
        return m.x if m.x.type == m.root.results[0].type else None

    zero, one = P(where=is_splat(0.0)), P(where=is_splat(1.0))
    x = P(name="x")
    return [
        Rule("add-zero", P(g.AddOp, [x, zero], name="root", commute=True), forward),
        Rule("sub-zero", P(g.SubOp, [x, zero], name="root"), forward),
        Rule("mul-one", P(g.MulOp, [x, one], name="root", commute=True), forward),
        Rule("div-one", P(g.DivOp, [x, one], name="root"), forward),
    ]


def erase_dead_values(module: ModuleOp) -> None:
    """Drop constants and weight references that nothing uses any more."""
    for op in reversed(list(module.walk())):
        if isinstance(op, (g.ConstantOp, g.WeightOp)) and not op.result.uses:
            op.detach()
            op.erase()


@dataclass(frozen=True)
class FoldPass(ModulePass):
    """Evaluate graph ops with known operands at compile time and drop no-op arithmetic."""

    name = "fold"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        store = store_for(op)
        folder, identities = FoldOp(store), RuleSet(identity_rules(store))
        patterns: list[RewritePattern] = [folder, identities, StaticReshape(store)]
        PatternRewriteWalker(GreedyRewritePatternApplier(patterns)).rewrite_module(op)
        erase_dead_values(op)
        record(self.name, {"constant": folder.folded, **identities.fired})
