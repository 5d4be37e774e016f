"""Concrete shape checking: graph-level shape functions evaluated on real input shapes.

A compiled kernel trusts the dims it is handed. Before any native call the runtime runs
these shape functions over the optimized graph with the concrete input shapes, so that
every mismatch a symbolic type cannot rule out (two `?` dims that must agree, a
contraction of unequal sizes, a reshape of the wrong element count) is a Python error
naming the op, never an out-of-bounds access.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdsl.dialects import func
from xdsl.dialects.builtin import NameLoc, TensorType
from xdsl.ir import Operation, SSAValue

from dialects import graph as g

Shape = tuple[int, ...]
ShapeFn = Callable[[Operation, list[Shape]], Shape | list[Shape | None] | None]


def _same(op: Operation, shapes: list[Shape]) -> Shape:
    return shapes[0]


def _binary(op: Operation, shapes: list[Shape]) -> Shape:
    result = g.broadcast_shapes(shapes[0], shapes[1])
    for operand, shape in zip(op.operands, shapes, strict=True):
        _check_no_dynamic_broadcast(g.shape_of(operand), shape, result)
    return result


def _check_no_dynamic_broadcast(declared: Shape, actual: Shape, result: Shape) -> None:
    """Kernels index a `?` dim as is: it may not broadcast (size 1 against more) at run time."""
    offset = len(result) - len(actual)
    for axis, (want, got) in enumerate(zip(declared, actual, strict=True)):
        if want == g.DYN and got != result[offset + axis]:
            raise ValueError(
                f"dim {axis} of an operand is {got} at run time and would broadcast to "
                f"{result[offset + axis]}, but it was compiled as a dynamic dim (?); "
                "broadcasting along a dynamic dim is not supported")


def _with_bias(result: Shape, bias: Shape | None) -> Shape:
    if bias is not None and g.broadcast_shapes(result, bias) != result:
        raise ValueError(f"bias of shape {list(bias)} does not broadcast to {list(result)}")
    return result


def _matmul(op: Operation, shapes: list[Shape]) -> Shape:
    assert isinstance(op, g.MatMulOp)
    out = g.MatMulOp.infer_shape(shapes[0], shapes[1])
    return _with_bias(out, shapes[2] if op.bias is not None else None)


def _gemm(op: Operation, shapes: list[Shape]) -> Shape:
    assert isinstance(op, g.GemmOp)
    out = g.GemmOp.infer_shape(shapes[0], shapes[1], bool(op.trans_a.value.data),
                               bool(op.trans_b.value.data))
    return _with_bias(out, shapes[2] if op.c is not None else None)


def _conv(op: Operation, shapes: list[Shape]) -> Shape:
    assert isinstance(op, g.ConvOp)
    if op.is_nhwc:  # optimizer layout: check channels-first, answer channels-last
        nchw = [g.to_channels_first(shapes[0]), *shapes[1:]]
        if op.residual is not None:
            nchw[-1] = g.to_channels_first(shapes[-1])
        return g.to_channels_last(_conv_nchw(op, nchw))
    return _conv_nchw(op, shapes)


def _conv_nchw(op: Operation, shapes: list[Shape]) -> Shape:
    assert isinstance(op, g.ConvOp)
    x, w = shapes[0], shapes[1]
    group = op.group.value.data
    if x[1] != w[1] * group:
        raise ValueError(f"input has {x[1]} channels, the weight expects {w[1] * group}")
    out = g.ConvOp.infer_shape(x, w, g.ints(op.strides), g.ints(op.pads), g.ints(op.dilations))
    if op.residual is not None and shapes[-1] != out:
        raise ValueError(f"residual of shape {list(shapes[-1])} differs from {list(out)}")
    if any(d < 1 for d in out[2:]):
        raise ValueError(f"the input is too small for the kernel: output {list(out)}")
    return out


def _pool(op: Operation, shapes: list[Shape]) -> Shape:
    assert isinstance(op, g.PoolOp)
    out = g.PoolOp.infer_shape(shapes[0], g.ints(op.kernel_shape), g.ints(op.strides),
                               g.ints(op.pads), g.ints(op.dilations),
                               bool(op.ceil_mode.value.data))
    if any(d < 1 for d in out[2:]):
        raise ValueError(f"the input is too small for the window: output {list(out)}")
    return out


def _global_pool(op: Operation, shapes: list[Shape]) -> Shape:
    x = shapes[0]
    return (x[0], x[1], *[1] * (len(x) - 2))


def _batch_norm(op: Operation, shapes: list[Shape]) -> Shape:
    channels = shapes[0][1]
    for s in shapes[1:]:
        if s != (channels,):
            raise ValueError(f"per-channel operand of shape {list(s)}, expected [{channels}]")
    return shapes[0]


def _reshape(op: Operation, shapes: list[Shape]) -> Shape:
    assert isinstance(op, g.ReshapeOp)
    return g.ReshapeOp.infer_shape(shapes[0], g.ints(op.shape))


def _transpose(op: Operation, shapes: list[Shape]) -> Shape:
    assert isinstance(op, g.TransposeOp)
    return tuple(shapes[0][p] for p in g.ints(op.perm))


def _concat(op: Operation, shapes: list[Shape]) -> Shape:
    assert isinstance(op, g.ConcatOp)
    axis = op.axis.value.data
    first = shapes[0]
    for s in shapes[1:]:
        if len(s) != len(first) or any(
                a != b for d, (a, b) in enumerate(zip(s, first, strict=True)) if d != axis):
            raise ValueError(f"inputs {list(first)} and {list(s)} differ outside axis {axis}")
    return (*first[:axis], sum(s[axis] for s in shapes), *first[axis + 1:])


def _layer_norm(op: Operation, shapes: list[Shape]) -> Shape:
    assert isinstance(op, g.LayerNormOp)
    tail = shapes[0][op.axis.value.data:]
    for s in shapes[1:]:
        if g.broadcast_shapes(tail, s) != tail:
            raise ValueError(f"scale/bias of shape {list(s)} do not broadcast to {list(tail)}")
    return shapes[0]


def _fused(op: Operation, shapes: list[Shape]) -> Shape:
    result = g.broadcast_shapes(*shapes)
    for operand, shape in zip(op.operands, shapes, strict=True):
        _check_no_dynamic_broadcast(g.shape_of(operand), shape, result)
    return result

# --------------------------------------------------------------------------- control flow


def _declared(value: SSAValue) -> Shape | None:
    shape = g.shape_of(value)
    return None if g.DYN in shape else shape


def _if(op: Operation, shapes: list[Shape]) -> list[Shape | None]:
    """Which branch runs is data-dependent: only fully static result types are known."""
    return [_declared(r) for r in op.results]


def _loop(op: Operation, shapes: list[Shape]) -> list[Shape | None]:
    """Carried values keep their shapes; scan outputs depend on the trip count."""
    assert isinstance(op, g.LoopOp)
    inits = shapes[len(shapes) - len(op.inits):]
    return [*inits, *(_declared(r) for r in op.outputs[len(op.inits):])]


def _scan(op: Operation, shapes: list[Shape]) -> list[Shape | None]:
    assert isinstance(op, g.ScanOp)
    n = len(op.inits)
    xs = shapes[n:]
    in_axes = g.ints(op.input_axes)
    trips = {x[a] for x, a in zip(xs, in_axes, strict=True)}
    if len(trips) != 1:
        raise ValueError(f"scan inputs have different lengths {sorted(trips)} along their "
                         "scan axes")
    trip = trips.pop()
    outs: list[Shape | None] = list(shapes[:n])
    for r, axis in zip(op.outputs[n:], g.ints(op.output_axes), strict=True):
        declared = list(g.shape_of(r))
        declared[axis] = trip
        outs.append(None if g.DYN in declared else tuple(declared))
    return outs


def _rnn(op: Operation, shapes: list[Shape]) -> list[Shape]:
    assert isinstance(op, g.RNNOp)
    t, b, i = shapes[0]
    w = shapes[1]
    if w[2] != i:
        raise ValueError(f"X has input size {i} but W expects {w[2]}")
    named = {"initial_h": op.initial_h, "initial_c": op.initial_c,
             "sequence_lens": op.sequence_lens}
    d, h = op.num_directions, op.hidden_size.value.data
    by_value = dict(zip(op.operands, shapes, strict=True))
    for what, value in named.items():
        if value is not None:
            want = (b,) if what == "sequence_lens" else (d, b, h)
            if by_value[value] != want:
                raise ValueError(f"{what} has shape {list(by_value[value])}, expected "
                                 f"{list(want)}")
    state = (d, b, h)
    return [(t, d, b, h), state, *([state] if op.kind.data == "lstm" else [])]


SHAPE_FUNCTIONS: dict[type[Operation], ShapeFn] = {
    **{op: _binary for op in g.ELEMENTWISE_BINARY_OPS},
    **{op: _same for op in g.ELEMENTWISE_UNARY_OPS},
    g.SoftmaxOp: _same,
    g.MatMulOp: _matmul,
    g.GemmOp: _gemm,
    g.ConvOp: _conv,
    g.MaxPoolOp: _pool,
    g.AvgPoolOp: _pool,
    g.GlobalAvgPoolOp: _global_pool,
    g.BatchNormOp: _batch_norm,
    g.ReshapeOp: _reshape,
    g.TransposeOp: _transpose,
    g.ConcatOp: _concat,
    # optimizer ops
    g.LayerNormOp: _layer_norm,
    g.FusedElementwiseOp: _fused,
    g.IfOp: _if,
    g.LoopOp: _loop,
    g.ScanOp: _scan,
    g.RNNOp: _rnn,
}


class ShapeCheckError(ValueError):
    """Concrete shapes violate an op's constraints."""


def check_shapes(main: func.FuncOp,
                 input_shapes: Sequence[Shape]) -> list[Shape | None]:
    """Propagate concrete `input_shapes` through `main`; return the output shapes.

    A shape function returns one shape, a list of shapes (multi-result ops), or None for
    results whose shape depends on tensor values (data-dependent ops: their kernels check
    themselves at run time). Unknown shapes propagate as None, except where the declared
    type is fully static. Raises ShapeCheckError naming the first op whose constraints fail.
    """
    known: dict[SSAValue, Shape | None] = dict(
        zip(main.args, (tuple(s) for s in input_shapes), strict=True))
    for op in main.body.block.ops:
        if isinstance(op, func.ReturnOp):
            return [known[v] for v in op.arguments]
        if not op.results:
            continue
        operand_shapes = [known.get(v) for v in op.operands]
        shape_fn = SHAPE_FUNCTIONS.get(type(op))
        results: Sequence[Shape | None]
        if isinstance(op, g.ConstantOp | g.WeightOp):
            results = [g.shape_of(op.results[0])]
        elif shape_fn is None or any(s is None for s in operand_shapes):
            results = [None] * len(op.results)
        else:
            try:
                computed = shape_fn(op, operand_shapes)  # type: ignore[arg-type]
            except ValueError as e:
                raise ShapeCheckError(f"{op.name}{_where(op)}: {e} (operand shapes "
                                      f"{_fmt_all(operand_shapes)})") from None
            results = computed if isinstance(computed, list) else [computed]
        for value, shape in zip(op.results, results, strict=True):
            known[value] = _reconcile(op, value, shape, operand_shapes)
    raise ShapeCheckError("@main has no func.return")


def _reconcile(op: Operation, value: SSAValue, shape: Sequence[int] | None,
               operand_shapes: list[Shape | None]) -> Shape | None:
    """Check a computed shape against the declared type; fall back to a static type."""
    if not isinstance(value.type, TensorType):
        return None
    declared = g.shape_of(value)
    if shape is None:
        return None if g.DYN in declared else declared
    shape = tuple(shape)
    if len(declared) != len(shape) or any(
            d not in (g.DYN, s) for d, s in zip(declared, shape, strict=True)):
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
    return "[" + ", ".join("?" if d == g.DYN else str(d) for d in shape) + "]"


def _fmt_all(shapes: Sequence[Shape | None]) -> str:
    return str([None if s is None else list(s) for s in shapes])
