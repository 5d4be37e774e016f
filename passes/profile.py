"""insert-profile-marks: time each graph op of @main when the model runs.

Before the i-th graph op of @main's body (constants and weight references excepted) the
pass inserts `func.call @kiln_profile_mark(i)`, and `@kiln_profile_mark(-1)` before the
return. The calls have side effects, so every later pass keeps them in place around the
code that op lowers to; the runtime (compiler/runtime/profile.py) adds the time between
one mark and the next to op i. Ops inside regions (if/loop bodies) count towards their
parent. The module attribute `kiln.profile_ops` describes each op: name, ONNX node, the
floating-point operations and the bytes it reads and writes (-1 where dims are dynamic).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import arith, func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    IntegerAttr,
    ModuleOp,
    NameLoc,
    StringAttr,
    TensorType,
    i64,
)
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from dialects import graph as g

PROFILE_MARK = "kiln_profile_mark"
PROFILE_OPS_ATTR = "kiln.profile_ops"
MAX_PROFILED_OPS = 1 << 16
"""Ops beyond this many share the last slot (the runtime's counter array is this long)."""


ShapeOf = Callable[[SSAValue], "tuple[int, ...] | None"]
"""A value's concrete shape, None where unknown (non-tensors: ())."""


def static_shape(value: SSAValue) -> tuple[int, ...] | None:
    if not isinstance(value.type, TensorType):
        return ()
    shape = g.shape_of(value)
    return None if g.DYN in shape else shape


def op_work(op: Operation, shape_of: ShapeOf = static_shape) -> tuple[int, int]:
    """(floating-point operations, bytes read and written) of one run of `op`, -1 where
    unknown; flops only for contractions (a multiply-add counts two)."""
    shapes = [shape_of(v) for v in [*op.operands, *op.results]]
    nbytes = 0
    for v, shape in zip([*op.operands, *op.results], shapes, strict=True):
        if shape is None:
            nbytes = -1
            break
        if isinstance(v.type, TensorType):
            itemsize = g.numpy_dtype_of(g.element_type_of(v)).itemsize
            nbytes += int(np.prod(shape, dtype=np.int64)) * itemsize
    out = shape_of(op.results[0]) if op.results else None
    flops = -1
    if out is not None and isinstance(op, g.MatMulOp | g.GemmOp | g.ConvOp):
        outputs = int(np.prod(out, dtype=np.int64))
        if isinstance(op, g.MatMulOp):
            lhs = shape_of(op.lhs)
            flops = -1 if lhs is None else 2 * outputs * lhs[-1]
        elif isinstance(op, g.GemmOp):
            a = shape_of(op.a)
            flops = -1 if a is None else 2 * outputs * (a[0] if op.trans_a.value.data else a[1])
        else:
            w = shape_of(op.weight)
            flops = -1 if w is None else 2 * outputs * int(np.prod(w[1:], dtype=np.int64))
    return flops, nbytes


def profiled_ops(main: func.FuncOp) -> list[Operation]:
    """The ops of `main` that get a mark, in order (graph ops but constants and weights)."""
    return [op for op in main.body.block.ops if op.name.startswith("graph.")
            and not isinstance(op, g.ConstantOp | g.WeightOp)]


def _describe(op: Operation) -> DictionaryAttr:
    location = op.location
    node = location.desc.data if isinstance(location, NameLoc) else ""
    flops, nbytes = op_work(op)
    return DictionaryAttr({
        "op": StringAttr(op.name), "node": StringAttr(node),
        "flops": IntegerAttr(flops, i64), "bytes": IntegerAttr(nbytes, i64)})


def _mark(index: int, before: Operation) -> None:
    c = arith.ConstantOp(IntegerAttr(index, i64))
    Rewriter.insert_op([c, func.CallOp(PROFILE_MARK, [c.result], [])],
                       InsertPoint.before(before))


@dataclass(frozen=True)
class InsertProfileMarksPass(ModulePass):
    """Mark each graph op of @main so that the runtime can time it (run-tool --profile)."""

    name = "insert-profile-marks"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        main = next((f for f in op.ops if isinstance(f, func.FuncOp)
                     and f.sym_name.data == "main"), None)
        if main is None or PROFILE_OPS_ATTR in op.attributes:
            return
        described: list[DictionaryAttr] = []
        for inner in profiled_ops(main):
            _mark(min(len(described), MAX_PROFILED_OPS - 1), inner)
            described.append(_describe(inner))
        ret = main.body.block.last_op
        assert isinstance(ret, func.ReturnOp)
        _mark(-1, ret)
        op.body.block.add_op(func.FuncOp.external(PROFILE_MARK, [i64], []))
        op.attributes[PROFILE_OPS_ATTR] = ArrayAttr(described)
