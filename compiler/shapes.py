"""Concrete shape checking: graph-level shape functions evaluated on real input shapes.

A compiled kernel trusts the dims it is handed. Before any native call the runtime runs
these shape functions over the optimized graph with the concrete input shapes, so that
every mismatch a symbolic type cannot rule out (two `?` dims that must agree, a
contraction of unequal sizes, a reshape of the wrong element count) is a Python error
naming the op, never an out-of-bounds access.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import NameLoc, TensorType
from xdsl.ir import Operation, SSAValue

from dialects import graph as g

Shape = tuple[int, ...]
ShapeFn = Callable[[Operation, list[Shape]], Shape | list[Shape | None] | None]


def _same(op: Operation, shapes: list[Shape]) -> Shape:
    return shapes[0]


def _binary(op: Operation, shapes: list[Shape]) -> Shape:
    return g.broadcast_shapes(shapes[0], shapes[1])


def _broadcast_all(op: Operation, shapes: list[Shape]) -> Shape:
    """Numpy broadcasting of any number of operands (graph.elementwise)."""
    return g.broadcast_shapes(*shapes)


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


# --------------------------------------------------------------------------- shape and
# data-movement ops (graph.SHAPE_OPS)
#
# Results sized by tensor *values* (a run-time reshape target, slice bounds, pads, k,
# ...) are computed here when those values are graph.constant, else None: the lowering
# checks such constraints itself with cf.assert.


def _operand_values(op: Operation, index: int) -> list[int] | None:
    """The values of operand `index` when it is a graph.constant, flattened."""
    owner = op.operands[index].owner
    if not isinstance(owner, g.ConstantOp):
        return None
    return [int(v) for v in g.array_from_dense(owner.value).reshape(-1).tolist()]


def _shape_op(op: Operation, shapes: list[Shape]) -> Shape:
    assert isinstance(op, g.ShapeOp)
    return (max(0, op.end.value.data - op.start.value.data),)


def _size_op(op: Operation, shapes: list[Shape]) -> Shape:
    return ()


def _reshape_dynamic(op: Operation, shapes: list[Shape]) -> Shape | None:
    assert isinstance(op, g.ReshapeDynamicOp)
    target = _operand_values(op, 1)
    if target is None:
        return None
    x = shapes[0]
    if not op.allowzero.value.data:
        target = [x[i] if t == 0 and i < len(x) else t for i, t in enumerate(target)]
    total = _prod(x)
    if -1 in target:
        known = _prod([t for t in target if t != -1])
        if known == 0 or total % known:
            raise ValueError(f"cannot reshape {total} elements into {target}")
        target = [total // known if t == -1 else t for t in target]
    if _prod(target) != total:
        raise ValueError(f"cannot reshape {total} elements into {target}")
    return tuple(target)


def _prod(values: Sequence[int]) -> int:
    result = 1
    for v in values:
        result *= v
    return result


def _squeeze(op: Operation, shapes: list[Shape]) -> Shape:
    assert isinstance(op, g.SqueezeOp)
    return g.SqueezeOp.infer_shape(shapes[0], g.ints(op.axes))


def _unsqueeze(op: Operation, shapes: list[Shape]) -> Shape:
    assert isinstance(op, g.UnsqueezeOp)
    return g.UnsqueezeOp.infer_shape(shapes[0], g.ints(op.axes))


def _axes_dynamic(op: Operation, shapes: list[Shape]) -> Shape | None:
    axes = _operand_values(op, 1)
    if axes is None:
        return None
    x = shapes[0]
    if isinstance(op, g.SqueezeDynamicOp):
        axes = [a + len(x) if a < 0 else a for a in axes]
        return g.SqueezeOp.infer_shape(x, sorted(axes))
    rank = len(x) + len(axes)
    return g.UnsqueezeOp.infer_shape(x, sorted(a + rank if a < 0 else a for a in axes))


def _flatten(op: Operation, shapes: list[Shape]) -> Shape:
    assert isinstance(op, g.FlattenOp)
    axis = op.axis.value.data
    return (_prod(shapes[0][:axis]), _prod(shapes[0][axis:]))


def _split(op: Operation, shapes: list[Shape]) -> list[Shape | None]:
    assert isinstance(op, g.SplitOp)
    x = shapes[0]
    axis = op.axis.value.data
    if op.sizes is not None:
        known = _operand_values(op, 1)
        if known is None:
            return [None] * len(op.results)
        sizes = known
    elif op.splits is not None:
        sizes = list(g.ints(op.splits))
    if op.sizes is not None or op.splits is not None:
        if sum(sizes) != x[axis]:
            raise ValueError(f"split sizes {sizes} do not add up to dim {axis} ({x[axis]})")
    else:
        sizes = g.even_splits(x[axis], len(op.results))
    return [(*x[:axis], s, *x[axis + 1:]) for s in sizes]


def _slice(op: Operation, shapes: list[Shape]) -> Shape | None:
    values = [_operand_values(op, i) for i in range(1, 5)]
    if any(v is None for v in values):
        return None
    out = list(shapes[0])
    for s, e, a, t in zip(*values, strict=True):  # type: ignore[misc]
        if t == 0:
            raise ValueError("a slice step is 0")
        a = a + len(out) if a < 0 else a
        out[a] = len(range(*slice(s, e, t).indices(shapes[0][a])))
    return tuple(out)


def _gather(op: Operation, shapes: list[Shape]) -> Shape:
    assert isinstance(op, g.GatherOp)
    axis = op.axis.value.data
    x = shapes[0]
    return (*x[:axis], *shapes[1], *x[axis + 1:])


def _gather_elements(op: Operation, shapes: list[Shape]) -> Shape:
    assert isinstance(op, g.GatherElementsOp)
    x, ind = shapes[0], shapes[1]
    axis = op.axis.value.data
    if len(x) != len(ind) or any(i > d for k, (d, i) in enumerate(zip(x, ind, strict=True))
                                 if k != axis):
        raise ValueError(f"indices {list(ind)} do not fit data {list(x)}")
    return ind


def _gather_nd(op: Operation, shapes: list[Shape]) -> Shape:
    assert isinstance(op, g.GatherNDOp)
    x, ind = shapes
    b = op.batch_dims.value.data
    if x[:b] != ind[:b] or b + ind[-1] > len(x):
        raise ValueError(f"indices {list(ind)} do not fit data {list(x)}")
    return (*ind[:-1], *x[b + ind[-1]:])


def _scatter_nd(op: Operation, shapes: list[Shape]) -> Shape:
    x, ind, upd = shapes
    expected = (*ind[:-1], *x[ind[-1]:])
    if upd != expected:
        raise ValueError(f"updates have shape {list(upd)}, expected {list(expected)}")
    return x


def _scatter_elements(op: Operation, shapes: list[Shape]) -> Shape:
    x, ind, upd = shapes
    if ind != upd or len(ind) != len(x):
        raise ValueError(f"indices {list(ind)} and updates {list(upd)} must have one shape "
                         f"of the data's rank {len(x)}")
    return x


def _expand(op: Operation, shapes: list[Shape]) -> Shape | None:
    target = _operand_values(op, 1)
    if target is None:
        return None
    return g.broadcast_shapes(shapes[0], target)


def _tile(op: Operation, shapes: list[Shape]) -> Shape | None:
    repeats = _operand_values(op, 1)
    if repeats is None:
        return None
    return tuple(d * r for d, r in zip(shapes[0], repeats, strict=True))


def _pad(op: Operation, shapes: list[Shape]) -> Shape | None:
    assert isinstance(op, g.PadOp)
    pads, axes = _operand_values(op, 1), _operand_values(op, 3)
    if pads is None or axes is None:
        return None
    out = list(shapes[0])
    for k, a in enumerate(axes):
        out[a] += pads[k] + pads[len(axes) + k]
        if out[a] < 0:
            raise ValueError(f"pads make dim {a} negative")
    return tuple(out)


def _data_dependent(op: Operation, shapes: list[Shape]) -> Shape | None:
    """Range, ConstantOfShape, NonZero: sized by values (the declared type if static)."""
    return None


def _same_first(op: Operation, shapes: list[Shape]) -> Shape:
    return shapes[0]


def _topk(op: Operation, shapes: list[Shape]) -> list[Shape | None]:
    assert isinstance(op, g.TopKOp)
    k = _operand_values(op, 1)
    if k is None:
        return [None, None]
    axis = op.axis.value.data
    if not 0 <= k[0] <= shapes[0][axis]:
        raise ValueError(f"k = {k[0]} is out of range for dim {axis} ({shapes[0][axis]})")
    out = (*shapes[0][:axis], k[0], *shapes[0][axis + 1:])
    return [out, out]


def _resize(op: Operation, shapes: list[Shape]) -> Shape | None:
    assert isinstance(op, g.ResizeOp)
    if op.sizes is not None or not isinstance(op.operands[1].owner, g.ConstantOp):
        return None
    scales = g.array_from_dense(op.operands[1].owner.value).reshape(-1)
    out = list(shapes[0])
    for k, a in enumerate(g.ints(op.axes)):
        out[a] = int(np.floor(out[a] * float(scales[k])))
    return tuple(out)


def _one_hot(op: Operation, shapes: list[Shape]) -> Shape | None:
    assert isinstance(op, g.OneHotOp)
    depth = _operand_values(op, 1)
    if depth is None:
        return None
    out = list(shapes[0])
    out.insert(op.axis.value.data, depth[0])
    return tuple(out)


SHAPE_OP_FUNCTIONS: dict[type[Operation], ShapeFn] = {
    g.ShapeOp: _shape_op, g.SizeOp: _size_op, g.ReshapeDynamicOp: _reshape_dynamic,
    g.SqueezeOp: _squeeze, g.UnsqueezeOp: _unsqueeze, g.FlattenOp: _flatten,
    g.SqueezeDynamicOp: _axes_dynamic, g.UnsqueezeDynamicOp: _axes_dynamic,
    g.SplitOp: _split, g.SliceOp: _slice, g.GatherOp: _gather,
    g.GatherElementsOp: _gather_elements, g.GatherNDOp: _gather_nd,
    g.ScatterNDOp: _scatter_nd, g.ScatterElementsOp: _scatter_elements,
    g.ExpandOp: _expand, g.TileOp: _tile, g.PadOp: _pad, g.RangeOp: _data_dependent,
    g.ConstantOfShapeOp: _data_dependent, g.TriluOp: _same_first,
    g.CumSumOp: _same_first, g.TopKOp: _topk, g.ResizeOp: _resize, g.OneHotOp: _one_hot,
    g.NonZeroOp: _data_dependent,
}
"""Shape functions of graph.SHAPE_OPS (merged into SHAPE_FUNCTIONS)."""
def _layer_norm(op: Operation, shapes: list[Shape]) -> Shape:
    assert isinstance(op, g.LayerNormOp)
    tail = shapes[0][op.axis.value.data:]
    for s in shapes[1:]:
        if g.broadcast_shapes(tail, s) != tail:
            raise ValueError(f"scale/bias of shape {list(s)} do not broadcast to {list(tail)}")
    return shapes[0]


def _fused(op: Operation, shapes: list[Shape]) -> Shape:
    return g.broadcast_shapes(*shapes)

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
    g.ElementwiseOp: _broadcast_all,
    **SHAPE_OP_FUNCTIONS,
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


# --------------------------------------------------------------------------- reductions, NN ops


def _reduce(op: Operation, shapes: list[Shape]) -> Shape | None:
    assert isinstance(op, g.ReduceOp)
    if op.axes_input is not None:
        return None  # the axes are data: the kernel computes the shape
    return g.reduce_shape(shapes[0], g.ints(op.axes), bool(op.keepdims.value.data))


def _arg_reduce(op: Operation, shapes: list[Shape]) -> Shape:
    assert isinstance(op, g.ArgReduceOp)
    if shapes[0][op.axis.value.data] == 0:
        raise ValueError("arg-reduction over an empty axis")
    return g.reduce_shape(shapes[0], [op.axis.value.data], bool(op.keepdims.value.data))


def _einsum(op: Operation, shapes: list[Shape]) -> Shape:
    assert isinstance(op, g.EinsumOp)
    terms, out = g.parse_einsum(op.equation.data)
    sizes = g.einsum_sizes(terms, shapes)
    return tuple(sizes[c] for c in out)


def _conv_transpose(op: Operation, shapes: list[Shape]) -> Shape:
    assert isinstance(op, g.ConvTransposeOp)
    out = g.ConvTransposeOp.infer_shape(
        shapes[0], shapes[1], g.ints(op.strides), g.ints(op.pads), g.ints(op.dilations),
        g.ints(op.output_padding), op.group.value.data)
    if any(d < 1 for d in out[2:]):
        raise ValueError(f"the padding leaves no output: {list(out)}")
    return out


def _dropout(op: Operation, shapes: list[Shape]) -> list[Shape | None]:
    return [shapes[0], shapes[0]]


SHAPE_FUNCTIONS.update({
    g.ReduceOp: _reduce,
    g.ArgReduceOp: _arg_reduce,
    g.LogSoftmaxOp: _same,
    g.HardmaxOp: _same,
    g.LpPoolOp: _pool,
    g.LRNOp: _same,
    g.EinsumOp: _einsum,
    g.ConvTransposeOp: _conv_transpose,
    g.MaxPoolIndicesOp: _pool,
    g.DropoutOp: _dropout,
})
