"""Concrete shape checking: the ops' shape functions evaluated on real input shapes.

A compiled kernel trusts the dims it is handed. Before any native call the runtime runs
the ops' `concrete_shape` methods over the optimized graph with the concrete input shapes,
so that every mismatch a symbolic type cannot rule out (two `?` dims that must agree, a
contraction of unequal sizes, a reshape of the wrong element count) is a Python error
naming the op, never an out-of-bounds access.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects import func
from xdsl.dialects.builtin import NameLoc, TensorType
from xdsl.ir import Operation, SSAValue

from dialects.graph.base import DYN, Shape, shape_of


class ShapeCheckError(ValueError):
    """Concrete shapes violate an op's constraints."""


def check_shapes(main: func.FuncOp,
                 input_shapes: Sequence[Shape]) -> list[Shape | None]:
    """Propagate concrete `input_shapes` through `main`; return the output shapes.

    An op's `concrete_shape` returns one shape, a list of shapes (multi-result ops), or
    None for results whose shape depends on tensor values (data-dependent ops: their
    kernels check themselves at run time). Unknown shapes propagate as None, except where
    the declared type is fully static. Raises ShapeCheckError naming the first op whose
    constraints fail.
    """
    known = concrete_shapes(main, input_shapes)
    ret = main.body.block.last_op
    if not isinstance(ret, func.ReturnOp):
        raise ShapeCheckError("@main has no func.return")
    return [known[v] for v in ret.arguments]


def concrete_shapes(main: func.FuncOp,
                    input_shapes: Sequence[Shape]) -> dict[SSAValue, Shape | None]:
    """The concrete shape of every value of `main`'s body for `input_shapes` (None where
    it depends on tensor values); ShapeCheckError as in check_shapes."""
    known: dict[SSAValue, Shape | None] = dict(
        zip(main.args, (tuple(s) for s in input_shapes), strict=True))
    for op in main.body.block.ops:
        if not op.results:
            continue
        operand_shapes = [known.get(v) for v in op.operands]
        shape_fn = getattr(op, "concrete_shape", None)
        results: Sequence[Shape | None]
        if shape_fn is None or any(s is None for s in operand_shapes):
            results = [None] * len(op.results)
        else:
            try:
                computed = shape_fn(operand_shapes)
            except ValueError as e:
                raise ShapeCheckError(f"{op.name}{_where(op)}: {e} (operand shapes "
                                      f"{_fmt_all(operand_shapes)})") from None
            results = computed if isinstance(computed, list) else [computed]
        for value, shape in zip(op.results, results, strict=True):
            known[value] = _reconcile(op, value, shape, operand_shapes)
    return known


def _reconcile(op: Operation, value: SSAValue, shape: Sequence[int] | None,
               operand_shapes: list[Shape | None]) -> Shape | None:
    """Check a computed shape against the declared type; fall back to a static type."""
    if not isinstance(value.type, TensorType):
        return None
    declared = shape_of(value)
    if shape is None:
        return None if DYN in declared else declared
    shape = tuple(shape)
    if len(declared) != len(shape) or any(
            d not in (DYN, s) for d, s in zip(declared, shape, strict=True)):
        raise ShapeCheckError(
            f"{op.name}{_where(op)}: computes shape {list(shape)} but was compiled for "
            f"{_fmt(declared)} (operand shapes {_fmt_all(operand_shapes)})")
    return shape


def _where(op: Operation) -> str:
    """The framework node an op came from (its NameLoc), if known."""
    location = getattr(op, "location", None)
    if isinstance(location, NameLoc):
        return f" (node '{location.desc.data}')"
    return ""


def _fmt(shape: Shape) -> str:
    return "[" + ", ".join("?" if d == DYN else str(d) for d in shape) + "]"


def _fmt_all(shapes: Sequence[Shape | None]) -> str:
    return str([None if s is None else list(s) for s in shapes])
