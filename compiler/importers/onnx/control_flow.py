"""Control flow: If, Loop and Scan (subgraphs become single-block regions ending in
`graph.yield`; ImportContext.import_subgraph imports them)."""

from __future__ import annotations

from xdsl.dialects.builtin import IntegerType, i64
from xdsl.ir import SSAValue

from compiler.importers.onnx.common import (
    NodeError,
)
from compiler.importers.onnx.context import Rule
from dialects import graph as g


def _bool_scalar(ctx, name: str, what: str) -> SSAValue:
    value = ctx.value(name)
    if g.element_type_of(value) != IntegerType(1) or any(d != 1 for d in
                                                         g.shape_of(value)):
        raise NodeError(f"{what} must be a one-element bool tensor, got {value.type}")
    return value


def _if(ctx, node, attrs, opset):
    cond = _bool_scalar(ctx, node.input[0], "the condition")
    then_region, then_values = ctx.import_subgraph(attrs["then_branch"], [])
    else_region, else_values = ctx.import_subgraph(attrs["else_branch"], [])
    if len(then_values) != len(else_values):
        raise NodeError("the branches have different numbers of outputs")
    types = []
    for i, (a, b) in enumerate(zip(then_values, else_values, strict=True)):
        if g.element_type_of(a) != g.element_type_of(b) or \
                len(g.shape_of(a)) != len(g.shape_of(b)):
            raise NodeError(f"output {i} of the branches differs in element type or "
                            f"rank ({a.type} vs {b.type})")
        types.append(g.join_types(a.type, b.type))
    op = g.IfOp(cond, types, then_region, else_region)
    ctx.add(op)
    return list(op.outputs)


def _loop(ctx, node, attrs, opset):
    inputs = list(node.input) + [""] * (2 - len(node.input))
    max_trip = ctx.value(inputs[0]) if inputs[0] else None
    if max_trip is not None and (g.element_type_of(max_trip) != i64 or any(
            d != 1 for d in g.shape_of(max_trip))):
        raise NodeError(f"the trip count must be a one-element int64 tensor, got "
                        f"{max_trip.type}")
    cond = _bool_scalar(ctx, inputs[1], "the condition") if inputs[1] else None
    if max_trip is None and cond is None:
        raise NodeError("a Loop with neither a trip count nor a condition never ends")
    inits = [ctx.value(n) for n in inputs[2:]]
    body = attrs["body"]
    scalar_i64, scalar_i1 = g.tensor_type([], i64), g.tensor_type([], IntegerType(1))
    region, outs = ctx.import_subgraph(body, [scalar_i64, scalar_i1,
                                              *[v.type for v in inits]])
    n = len(inits)
    if len(outs) < n + 1:
        raise NodeError(f"the body yields {len(outs)} values, expected at least {n + 1}")
    block = region.blocks.first
    assert block is not None
    yield_op = block.last_op
    assert isinstance(yield_op, g.YieldOp)
    cond_out = outs[0]
    if cond_out.type != scalar_i1:
        if g.element_type_of(cond_out) != IntegerType(1) or any(
                d != 1 for d in g.shape_of(cond_out)):
            raise NodeError(f"the body's condition output must be a one-element bool "
                            f"tensor, got {cond_out.type}")
        reshape = g.ReshapeOp(cond_out, [])
        block.insert_op_before(reshape, yield_op)
        yield_op.operands[0] = reshape.result
    for i, (init, out) in enumerate(zip(inits, outs[1:n + 1], strict=True)):
        if not g.compatible_types(init.type, out.type):
            raise NodeError(f"loop-carried value {i} changes type from {init.type} to "
                            f"{out.type}; Kiln needs loop-carried shapes that do not "
                            "change")
    trips = g.DYN
    if max_trip is not None and cond is None and inputs[0] in ctx.consts:
        trips = max(0, int(ctx.consts[inputs[0]].reshape(-1)[0]))
    scans = [g.tensor_type([trips, *g.shape_of(v)], g.element_type_of(v))
             for v in outs[n + 1:]]
    op = g.LoopOp(max_trip, cond, inits, [v.type for v in inits] + scans, region)
    ctx.add(op)
    return list(op.outputs)


def _scan(ctx, node, attrs, opset):
    m = int(attrs["num_scan_inputs"])
    values = [ctx.value(n) for n in node.input]
    if not 1 <= m <= len(values):
        raise NodeError(f"num_scan_inputs {m} does not fit the {len(values)} inputs")
    n = len(values) - m
    states, xs = values[:n], values[n:]
    in_axes = [int(a) for a in attrs.get("scan_input_axes", [0] * m)]
    in_axes = [a + len(g.shape_of(x)) if a < 0 else a
               for a, x in zip(in_axes, xs, strict=True)]
    in_dirs = [int(d) for d in attrs.get("scan_input_directions", [0] * m)]
    slices = []
    trip = g.DYN
    for x, axis in zip(xs, in_axes, strict=True):
        shape = g.shape_of(x)
        if not 0 <= axis < len(shape):
            raise NodeError(f"scan input axis {axis} out of range for {x.type}")
        if shape[axis] != g.DYN:
            trip = shape[axis]
        slices.append(g.tensor_type(shape[:axis] + shape[axis + 1:],
                                    g.element_type_of(x)))
    region, outs = ctx.import_subgraph(attrs["body"], [*(v.type for v in states), *slices])
    k = len(outs) - n
    out_axes = [int(a) for a in attrs.get("scan_output_axes", [0] * k)]
    out_axes = [a + len(g.shape_of(v)) + 1 if a < 0 else a
                for a, v in zip(out_axes, outs[n:], strict=True)]
    out_dirs = [int(d) for d in attrs.get("scan_output_directions", [0] * k)]
    for i, (init, out) in enumerate(zip(states, outs[:n], strict=True)):
        if not g.compatible_types(init.type, out.type):
            raise NodeError(f"state {i} changes type from {init.type} to {out.type}")
    types = [v.type for v in states]
    for v, axis in zip(outs[n:], out_axes, strict=True):
        shape = list(g.shape_of(v))
        shape.insert(axis, trip)
        types.append(g.tensor_type(shape, g.element_type_of(v)))
    op = g.ScanOp(states, xs, types, region, input_axes=in_axes,
                  input_directions=in_dirs, output_axes=out_axes,
                  output_directions=out_dirs)
    ctx.add(op)
    return list(op.outputs)


RULES: dict[str, Rule] = {"If": _if, "Loop": _loop, "Scan": _scan}
