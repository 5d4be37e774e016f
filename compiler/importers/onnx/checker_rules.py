"""Kiln's per-op rules of the model checker (checker.py runs them in check_semantics):
the attributes and constant inputs of every op the importer handles (axes in range,
permutations, flags 0 or 1, positive kernel sizes, strides and dilations, non-negative pads
of the right length, groups that divide the channels, recurrent weight shapes, ...), with
the formatting helpers their messages share with checker.py."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import onnx

Dim = int | str | None
"""A declared dim: a size, a dim_param name, or None when unknown."""

Shape = tuple[Dim, ...]

MAX_OUTPUT_ELEMENTS = 1 << 31
"""Positions per channel a conv or pool may compute from static dims and attributes."""


class ModelFacts(Protocol):
    """What the rules read of the model: known shapes, element types and constants."""

    shapes: dict[str, Shape]
    elem_types: dict[str, int]
    consts: dict[str, np.ndarray]


# --------------------------------------------------------------------------- formatting


def format_shape(shape: Iterable[Dim]) -> str:
    """`[batch, ?, 4]`: dim names as they are, unknown dims as `?`."""
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def format_value(value: object) -> str:
    if isinstance(value, bytes):
        return repr(value.decode(errors="replace"))
    if isinstance(value, onnx.TensorProto):
        return f"a tensor of dims {list(value.dims)}"
    if isinstance(value, onnx.GraphProto):
        return f"graph '{value.name}'"
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple):
        items = [format_value(v) for v in value[:16]]
        return "[" + ", ".join(items) + (", ..." if len(value) > 16 else "") + "]"
    if isinstance(value, int) and not isinstance(value, bool):
        return show_int(value)
    return repr(value) if isinstance(value, str) else str(value)


def show_int(value: object) -> str:
    """An int for messages; the int64 minimum (Kiln's dynamic-dim marker inside, which a
    reader would take for a bug) is spelled -2**63."""
    return "-2**63" if value == -(2 ** 63) else str(value)


def node_label(node: onnx.NodeProto) -> str:
    """`Conv node 'conv1'`, or `Conv node <unnamed> (output 'y')`."""
    if node.name:
        return f"{node.op_type} node '{node.name}'"
    out = next((o for o in node.output if o), "")
    return f"{node.op_type} node <unnamed>" + (f" (output '{out}')" if out else "")


def data_type_name(data_type: int) -> str | None:
    try:
        return onnx.TensorProto.DataType.Name(data_type)
    except ValueError:
        return None


# --------------------------------------------------------------------------- op rules


@dataclass
class NodeFacts:
    """What the rules know about one node: attributes, input shapes and constants."""

    node: onnx.NodeProto
    checker: ModelFacts
    opset: int

    def __post_init__(self) -> None:
        self.attrs = {a.name: onnx.helper.get_attribute_value(a) for a in self.node.attribute}
        self.label = node_label(self.node)

    def input(self, i: int) -> str | None:
        return self.node.input[i] if len(self.node.input) > i and self.node.input[i] \
            else None

    def shape(self, i: int) -> Shape | None:
        name = self.input(i)
        return None if name is None else self.checker.shapes.get(name)

    def rank(self, i: int) -> int | None:
        shape = self.shape(i)
        return None if shape is None else len(shape)

    def static_dim(self, i: int, axis: int) -> int | None:
        shape = self.shape(i)
        if shape is None or not -len(shape) <= axis < len(shape):
            return None
        d = shape[axis]
        return d if isinstance(d, int) else None

    def elem_type(self, i: int) -> int | None:
        name = self.input(i)
        return None if name is None else self.checker.elem_types.get(name)

    def const(self, i: int) -> np.ndarray | None:
        name = self.input(i)
        return None if name is None else self.checker.consts.get(name)

    def const_ints(self, i: int) -> list[int] | None:
        value = self.const(i)
        if value is None or value.dtype.kind not in "iub":
            return None
        return [int(v) for v in value.reshape(-1).tolist()]

    def ints(self, name: str) -> list[int] | None:
        value = self.attrs.get(name)
        return None if value is None else [int(v) for v in value]  # type: ignore[union-attr]

    def bad_attr(self, name: str, why: str) -> str:
        value = format_value(self.attrs[name]) if name in self.attrs else \
            f"{_DEFAULTS.get(name, '?')} (the default)"
        return f"{self.label}: attribute '{name}' = {value}: {why}"

    def bad_input(self, i: int, why: str, value: object = None) -> str:
        shown = "" if value is None else f" = {format_value(value)}"
        return f"{self.label}: input {i} '{self.node.input[i]}'{shown}: {why}"


Rule = Callable[[NodeFacts], Iterator[str]]

_DEFAULTS = {"group": 1, "axis": 0}


def _in_range(value: int, low: int, high: int) -> bool:
    return low <= value <= high


def _axis_problem(n: NodeFacts, name: str, rank: int | None, extra: int = 0
                  ) -> Iterator[str]:
    """Attribute `name` is an axis of a rank-`rank` tensor (`extra` more dims allowed)."""
    if name not in n.attrs or rank is None:
        return
    axis, top = int(n.attrs[name]), rank + extra  # type: ignore[call-overload]
    if not _in_range(axis, -top, top - 1):
        yield n.bad_attr(name, f"out of range for rank {rank} (valid: {-top} to {top - 1})")


def _axes_problems(n: NodeFacts, axes: Sequence[int] | None, rank: int | None,
                   describe: Callable[[str], str], distinct: bool = True) -> Iterator[str]:
    """A list of axes of a rank-`rank` tensor: in range and (when `distinct`) unique."""
    if axes is None or rank is None:
        return
    bad = [a for a in axes if not _in_range(a, -rank, rank - 1)]
    if bad:
        yield describe(f"axis {show_int(bad[0])} is out of range for rank {rank} "
                       f"(valid: {-rank} to {rank - 1})")
        return
    normalized = [a + rank if a < 0 else a for a in axes]
    if distinct and len(set(normalized)) != len(normalized):
        yield describe("an axis is repeated")


def _attr_axes(n: NodeFacts, name: str, rank: int | None, distinct: bool = True
               ) -> Iterator[str]:
    yield from _axes_problems(n, n.ints(name), rank, lambda why: n.bad_attr(name, why),
                              distinct)


def _input_axes(n: NodeFacts, i: int, rank: int | None, distinct: bool = True
                ) -> Iterator[str]:
    values = n.const_ints(i)
    yield from _axes_problems(n, values, rank, lambda why: n.bad_input(i, why, values),
                              distinct)


def _one_element(n: NodeFacts, i: int, what: str) -> Iterator[str]:
    """Input i (when constant or of known shape) holds exactly one value."""
    shape = n.shape(i)
    value = n.const(i)
    if value is not None and value.size != 1:
        yield n.bad_input(i, f"{what} must be a single value, got shape "
                          f"{list(value.shape)}")
    elif shape is not None and all(isinstance(d, int) for d in shape) and \
            int(np.prod(shape, dtype=np.int64)) != 1:
        yield n.bad_input(i, f"{what} must be a single value, got shape "
                          f"{format_shape(shape)}")


def _vector(n: NodeFacts, i: int, what: str) -> Iterator[str]:
    """Input i (when its rank is known) is 1-D."""
    rank = n.rank(i)
    if rank is not None and rank != 1:
        yield n.bad_input(i, f"{what} must be a 1-D tensor, got shape "
                          f"{format_shape(n.shape(i) or ())}")


def _min_rank(n: NodeFacts, i: int, low: int, what: str = "the input") -> Iterator[str]:
    rank = n.rank(i)
    if rank is not None and rank < low:
        yield n.bad_input(i, f"{what} needs rank >= {low}, got shape "
                          f"{format_shape(n.shape(i) or ())}")


def _flag(n: NodeFacts, name: str, allowed: Sequence[int] = (0, 1)) -> Iterator[str]:
    """A flag attribute is 0 or 1: runtimes read other values differently (onnxruntime
    takes keepdims = -2 as false but largest = -3 as true), so they have no meaning."""
    if name in n.attrs and int(n.attrs[name]) not in allowed:  # type: ignore[call-overload]
        yield n.bad_attr(name, f"must be one of {list(allowed)}")


def _positive_attr(n: NodeFacts, name: str) -> Iterator[str]:
    if name in n.attrs and int(n.attrs[name]) < 1:  # type: ignore[call-overload]
        yield n.bad_attr(name, "must be >= 1")


# ---- axis and axes ops


def _concat(n: NodeFacts) -> Iterator[str]:
    present = [i for i in range(len(n.node.input)) if n.input(i)]
    if not present:
        yield f"{n.label}: needs at least one input"
        return
    yield from _axis_problem(n, "axis", n.rank(present[0]))


def _flatten(n: NodeFacts) -> Iterator[str]:
    yield from _axis_problem(n, "axis", n.rank(0), extra=1)


def _softmax(n: NodeFacts) -> Iterator[str]:
    yield from _min_rank(n, 0, 1)
    yield from _axis_problem(n, "axis", n.rank(0))


def _reduce(n: NodeFacts) -> Iterator[str]:
    yield from _flag(n, "keepdims")
    yield from _flag(n, "noop_with_empty_axes")
    yield from _attr_axes(n, "axes", n.rank(0), distinct=False)
    if n.input(1):
        yield from _vector(n, 1, "axes")
        yield from _input_axes(n, 1, n.rank(0), distinct=False)


def _arg_reduce(n: NodeFacts) -> Iterator[str]:
    yield from _flag(n, "keepdims")
    yield from _flag(n, "select_last_index")
    yield from _axis_problem(n, "axis", n.rank(0))


def _squeeze(n: NodeFacts) -> Iterator[str]:
    rank, shape = n.rank(0), n.shape(0)
    if "axes" in n.attrs:
        axes = n.ints("axes")
        yield from _attr_axes(n, "axes", rank)
    elif n.input(1):
        axes = n.const_ints(1)
        yield from _vector(n, 1, "axes")
        yield from _input_axes(n, 1, rank)
    else:
        return
    if axes is None or shape is None:
        return
    for a in axes:
        if _in_range(a, -len(shape), len(shape) - 1) and isinstance(shape[a], int) and \
                shape[a] != 1:
            why = f"dim {a} of {format_shape(shape)} is not 1"
            yield n.bad_attr("axes", why) if "axes" in n.attrs else n.bad_input(1, why, axes)
            return


def _unsqueeze(n: NodeFacts) -> Iterator[str]:
    rank = n.rank(0)
    if "axes" in n.attrs:
        axes = n.ints("axes") or []
        yield from _attr_axes(n, "axes", None if rank is None else rank + len(axes))
    elif n.input(1):
        axes = n.const_ints(1)
        axes_rank = n.rank(1)
        if axes_rank is not None and axes_rank > 1:  # a scalar is fine (onnxruntime too)
            yield n.bad_input(1, f"axes must be a scalar or a 1-D tensor, got shape "
                              f"{format_shape(n.shape(1) or ())}")
        if axes is not None:
            yield from _input_axes(n, 1, None if rank is None else rank + len(axes))


def _split(n: NodeFacts) -> Iterator[str]:
    yield from _axis_problem(n, "axis", n.rank(0))
    outputs = len(n.node.output)
    if "num_outputs" in n.attrs:
        parts = int(n.attrs["num_outputs"])  # type: ignore[call-overload]
        if parts < 1 or parts != outputs:
            yield n.bad_attr("num_outputs", f"must be >= 1 and equal the number of outputs "
                             f"({outputs})")
    sizes = n.ints("split") if "split" in n.attrs else n.const_ints(1)
    if n.input(1):
        yield from _vector(n, 1, "split")
    if sizes is None:
        return
    describe = (lambda why: n.bad_attr("split", why)) if "split" in n.attrs else \
        (lambda why: n.bad_input(1, why, sizes))
    if any(s < 0 for s in sizes):
        yield describe("split sizes cannot be negative")
    elif len(sizes) != outputs:
        yield describe(f"{len(sizes)} sizes for {outputs} outputs")
    else:
        axis = int(n.attrs.get("axis", 0))  # type: ignore[call-overload]
        dim = n.static_dim(0, axis)
        if dim is not None and sum(sizes) != dim:
            yield describe(f"the sizes add up to {sum(sizes)}, but dim {axis} is {dim}")


def _gather(n: NodeFacts) -> Iterator[str]:
    yield from _axis_problem(n, "axis", n.rank(0))
    rank = n.rank(0)
    axis = int(n.attrs.get("axis", 0))  # type: ignore[call-overload]
    indices = n.const_ints(1)
    if rank is None or indices is None or not _in_range(axis, -rank, rank - 1):
        return
    dim = n.static_dim(0, axis)
    if dim is not None:
        bad = [i for i in indices if not _in_range(i, -dim, dim - 1)]
        if bad:
            yield n.bad_input(1, f"index {show_int(bad[0])} is out of range for dim "
                              f"{axis} of size {dim}", indices)


def _gather_nd(n: NodeFacts) -> Iterator[str]:
    yield from _min_rank(n, 0, 1, "data")
    yield from _min_rank(n, 1, 1, "indices")
    if "batch_dims" not in n.attrs:
        return
    batch = int(n.attrs["batch_dims"])  # type: ignore[call-overload]
    ranks = [r for r in (n.rank(0), n.rank(1)) if r is not None]
    if batch < 0 or (ranks and batch >= min(ranks)):
        yield n.bad_attr("batch_dims", "must be >= 0 and less than the ranks of data and "
                         "indices")


def _scatter_elements(n: NodeFacts) -> Iterator[str]:
    yield from _axis_problem(n, "axis", n.rank(0))


def _scatter_nd(n: NodeFacts) -> Iterator[str]:
    yield from _min_rank(n, 0, 1, "data")
    yield from _min_rank(n, 1, 1, "indices")


def _transpose(n: NodeFacts) -> Iterator[str]:
    perm, rank = n.ints("perm"), n.rank(0)
    if perm is None:
        return
    size = len(perm) if rank is None else rank
    normalized = [p + size if p < 0 else p for p in perm]
    if (rank is not None and len(perm) != rank) or sorted(normalized) != list(range(size)):
        what = f"rank {rank}" if rank is not None else f"{len(perm)} dims"
        yield n.bad_attr("perm", f"not a permutation of the {what} (each of 0..{size - 1} "
                         "exactly once)")


def _topk(n: NodeFacts) -> Iterator[str]:
    yield from _flag(n, "largest")
    yield from _flag(n, "sorted")
    yield from _axis_problem(n, "axis", n.rank(0))
    yield from _one_element(n, 1, "K")
    k = n.const_ints(1)
    if k is None or len(k) != 1:
        return
    axis = int(n.attrs.get("axis", -1))  # type: ignore[call-overload]
    dim = n.static_dim(0, axis)
    if k[0] < 0 or (dim is not None and k[0] > dim):
        yield n.bad_input(1, f"K must be between 0 and the size of dim {axis} "
                          f"({'?' if dim is None else dim})", k)


def _cumsum(n: NodeFacts) -> Iterator[str]:
    yield from _flag(n, "exclusive")
    yield from _flag(n, "reverse")
    yield from _one_element(n, 1, "axis")
    axis = n.const_ints(1)
    if axis is not None and len(axis) == 1:
        yield from _input_axes(n, 1, n.rank(0))


def _depth_space(n: NodeFacts) -> Iterator[str]:
    rank = n.rank(0)
    if rank is not None and rank != 4:
        yield n.bad_input(0, f"the input must have rank 4 ([N, C, H, W]), got shape "
                          f"{format_shape(n.shape(0) or ())}")
    mode = n.attrs.get("mode", b"DCR")
    if mode not in (b"DCR", b"CRD"):
        yield n.bad_attr("mode", "must be 'DCR' or 'CRD'")
    b = int(n.attrs.get("blocksize", 0))  # type: ignore[call-overload]
    if b < 1:
        yield n.bad_attr("blocksize", "must be >= 1")
        return
    if rank != 4:
        return
    if n.node.op_type == "SpaceToDepth":
        for axis, what in ((2, "height"), (3, "width")):
            d = n.static_dim(0, axis)
            if d is not None and d % b:
                yield n.bad_attr("blocksize", f"the input {what} {d} is not a multiple "
                                 "of it")
        return
    channels = n.static_dim(0, 1)
    if channels is not None and channels % (b * b):
        yield n.bad_attr("blocksize", f"the {channels} input channels are not a multiple "
                         f"of blocksize² = {b * b}")


def _eye_like(n: NodeFacts) -> Iterator[str]:
    rank = n.rank(0)
    if rank is not None and rank != 2:
        yield n.bad_input(0, f"the input must be 2-D, got shape "
                          f"{format_shape(n.shape(0) or ())}")
    dtype = n.attrs.get("dtype")
    if isinstance(dtype, int) and (data_type_name(dtype) is None or
                                   dtype == onnx.TensorProto.UNDEFINED):
        yield n.bad_attr("dtype", "is not a TensorProto data type")


def _one_hot(n: NodeFacts) -> Iterator[str]:
    yield from _axis_problem(n, "axis", n.rank(0), extra=1)
    yield from _one_element(n, 1, "depth")
    depth = n.const(1)
    if depth is not None and depth.size == 1 and not float(depth.reshape(-1)[0]) >= 1:
        yield n.bad_input(1, "depth must be >= 1", depth.reshape(-1))
    values = n.shape(2)
    if values is not None and values != (2,) and None not in values and \
            all(isinstance(d, int) for d in values):
        yield n.bad_input(2, f"values must have shape [2], got {format_shape(values)}")


def _slice(n: NodeFacts) -> Iterator[str]:
    rank = n.rank(0)
    if n.opset < 10:
        return
    for i, what in ((1, "starts"), (2, "ends"), (3, "axes"), (4, "steps")):
        if n.input(i):
            yield from _vector(n, i, what)
    known = [n.const_ints(i) if n.input(i) else None for i in range(1, 5)]
    lengths = {len(k) for k in known if k is not None}
    if len(lengths) > 1:
        yield f"{n.label}: starts, ends, axes and steps have different lengths " \
              f"({', '.join(str(len(k)) if k is not None else '?' for k in known)})"
        return
    if n.input(3):
        yield from _input_axes(n, 3, rank)
    elif known[0] is not None and rank is not None and len(known[0]) > rank:
        yield n.bad_input(1, f"{len(known[0])} starts for a rank {rank} input", known[0])
    steps = known[3]
    if steps is not None and 0 in steps:
        yield n.bad_input(4, "a step cannot be 0", steps)


def _reshape(n: NodeFacts) -> Iterator[str]:
    yield from _flag(n, "allowzero")
    yield from _vector(n, 1, "the shape")
    target = n.const_ints(1)
    if target is None:
        return
    if any(d < -1 for d in target):
        yield n.bad_input(1, "a target dim must be >= -1", target)
    elif target.count(-1) > 1:
        yield n.bad_input(1, "at most one target dim can be -1", target)
    elif n.attrs.get("allowzero", 0) and 0 in target and -1 in target:
        yield n.bad_input(1, "with allowzero = 1, 0 and -1 cannot both appear", target)


def _non_negative_vector(n: NodeFacts, i: int, what: str) -> Iterator[str]:
    if n.input(i) is None:
        return
    yield from _vector(n, i, what)
    values = n.const_ints(i)
    if values is not None and any(v < 0 for v in values):
        yield n.bad_input(i, f"{what} cannot be negative", values)


def _expand(n: NodeFacts) -> Iterator[str]:
    yield from _non_negative_vector(n, 1, "the shape")


def _constant_of_shape(n: NodeFacts) -> Iterator[str]:
    yield from _non_negative_vector(n, 0, "the shape")
    value = n.attrs.get("value")
    if isinstance(value, onnx.TensorProto) and int(np.prod(value.dims, dtype=object)) != 1:
        yield n.bad_attr("value", "must hold exactly one element")


def _tile(n: NodeFacts) -> Iterator[str]:
    yield from _non_negative_vector(n, 1, "repeats")
    repeats, rank = n.const_ints(1), n.rank(0)
    if repeats is not None and rank is not None and len(repeats) != rank:
        yield n.bad_input(1, f"{len(repeats)} repeats for a rank {rank} input", repeats)


def _pad(n: NodeFacts) -> Iterator[str]:
    rank = n.rank(0)
    if n.opset < 11:
        return
    yield from _vector(n, 1, "pads")
    if n.input(3):
        yield from _vector(n, 3, "axes")
        yield from _input_axes(n, 3, rank)
    axes = n.const_ints(3) if n.input(3) else (None if rank is None else list(range(rank)))
    pads = n.const_ints(1)
    if pads is not None and axes is not None and len(pads) != 2 * len(axes):
        yield n.bad_input(1, f"needs 2 x {len(axes)} values (begin and end per padded "
                          "axis)", pads)
    if n.input(2):
        yield from _one_element(n, 2, "the constant value")


def _range(n: NodeFacts) -> Iterator[str]:
    for i, what in ((0, "start"), (1, "limit"), (2, "delta")):
        yield from _one_element(n, i, what)
    delta = n.const(2)
    if delta is not None and delta.size == 1 and float(delta.reshape(-1)[0]) == 0:
        yield n.bad_input(2, "delta cannot be 0", delta.reshape(-1))
    values = [n.const(i) for i in range(3)]
    if all(v is not None and v.size == 1 for v in values):
        start, limit, step = (float(v.reshape(-1)[0]) for v in values)  # type: ignore
        if not all(np.isfinite([start, limit, step])):
            yield f"{n.label}: start, limit and delta must be finite, got " \
                  f"{start}, {limit}, {step}"


def _trilu(n: NodeFacts) -> Iterator[str]:
    yield from _flag(n, "upper")
    yield from _min_rank(n, 0, 2)
    if n.input(1):
        yield from _one_element(n, 1, "k")


def _clip(n: NodeFacts) -> Iterator[str]:
    for i, what in ((1, "min"), (2, "max")):
        if n.input(i):
            yield from _one_element(n, i, what)


def _resize(n: NodeFacts) -> Iterator[str]:
    rank = n.rank(0)
    yield from _attr_axes(n, "axes", rank)
    axes = n.ints("axes") or (None if rank is None else list(range(rank)))
    for i, what in ((2, "scales"), (3, "sizes")):
        if n.input(i):
            yield from _vector(n, i, what)
        values = n.const(i)
        if values is None or values.size == 0:
            continue
        flat = values.reshape(-1)
        if axes is not None and flat.size != len(axes):
            yield n.bad_input(i, f"{flat.size} {what} for {len(axes)} resized axes", flat)
        elif not np.all((flat > 0) & np.isfinite(flat.astype(np.float64))):
            yield n.bad_input(i, f"{what} must be positive and finite", flat)


def _dropout(n: NodeFacts) -> Iterator[str]:
    for i, what in ((1, "ratio"), (2, "training_mode")):
        if n.input(i):
            yield from _one_element(n, i, what)
    ratio = n.const(1)
    if ratio is not None and ratio.size == 1 and not 0 <= float(ratio.reshape(-1)[0]) < 1:
        yield n.bad_input(1, "ratio must be in [0, 1)", ratio.reshape(-1))


# ---- convolution and pooling


def _window_problems(n: NodeFacts, spatial: int | None, pool: bool) -> Iterator[str]:
    """kernel_shape, strides, dilations and pads of a conv/pool node with `spatial` dims."""
    kernel = n.ints("kernel_shape")
    if spatial is None and kernel is not None:
        spatial = len(kernel)
    for name in ("kernel_shape", "strides", "dilations"):
        values = n.ints(name)
        if values is None:
            continue
        if spatial is not None and len(values) != spatial:
            yield n.bad_attr(name, f"needs {spatial} values (one per spatial dim)")
        elif any(v < 1 for v in values):
            yield n.bad_attr(name, "every value must be >= 1")
    pads = n.ints("pads")
    if pads is not None:
        if spatial is not None and len(pads) != 2 * spatial:
            yield n.bad_attr("pads", f"needs {2 * spatial} values (begin and end per spatial "
                             "dim)")
        elif any(p < 0 for p in pads):
            yield n.bad_attr("pads", "pads cannot be negative")
        elif pool and kernel is not None and len(kernel) * 2 == len(pads) and any(
                max(pads[i], pads[i + len(kernel)]) >= k for i, k in enumerate(kernel)):
            yield n.bad_attr("pads", f"each pad must be smaller than the kernel {kernel}")
    auto_pad = n.attrs.get("auto_pad", b"NOTSET")
    if auto_pad not in (b"NOTSET", b"VALID", b"SAME_UPPER", b"SAME_LOWER"):
        yield n.bad_attr("auto_pad", "must be NOTSET, VALID, SAME_UPPER or SAME_LOWER")


def _window_ok(n: NodeFacts, spatial: int) -> bool:
    """kernel_shape, strides, dilations and pads (where given) have valid lengths/values."""
    for name, size, low in (("kernel_shape", spatial, 1), ("strides", spatial, 1),
                            ("dilations", spatial, 1), ("pads", 2 * spatial, 0)):
        values = n.ints(name)
        if values is not None and (len(values) != size or any(v < low for v in values)):
            return False
    return True


def _output_extent_problems(n: NodeFacts, kernel: Sequence[int], spatial: int
                            ) -> Iterator[str]:
    """The padded input must hold the dilated kernel (static spatial dims only)."""
    if n.attrs.get("auto_pad", b"NOTSET") != b"NOTSET" or not _window_ok(n, spatial) or \
            len(kernel) != spatial:
        return
    shape = n.shape(0)
    assert shape is not None
    pads = n.ints("pads") or [0] * (2 * spatial)
    dilations = n.ints("dilations") or [1] * spatial
    strides = n.ints("strides") or [1] * spatial
    outputs = 1
    for i in range(spatial):
        size = shape[2 + i]
        if not isinstance(size, int):
            continue
        extent = (kernel[i] - 1) * dilations[i] + 1
        padded = size + pads[i] + pads[spatial + i]
        if padded < extent:
            yield (f"{n.label}: spatial dim {i} of the input {format_shape(shape)} is "
                   f"{size}, padded {padded}, smaller than the dilated kernel extent "
                   f"{extent} (kernel_shape {list(kernel)}, dilations {dilations}, pads "
                   f"{pads})")
            return
        outputs *= (padded - extent) // strides[i] + 1
    if outputs > MAX_OUTPUT_ELEMENTS:
        yield (f"{n.label}: kernel_shape {list(kernel)}, strides {strides}, dilations "
               f"{dilations} and pads {pads} give an output of {outputs} positions per "
               f"channel, more than Kiln supports ({MAX_OUTPUT_ELEMENTS})")


def _spatial_rank(n: NodeFacts) -> int | None:
    rank = n.rank(0)
    return None if rank is None else rank - 2


def _conv(n: NodeFacts) -> Iterator[str]:
    yield from _min_rank(n, 0, 3)
    yield from _min_rank(n, 1, 3, "the weight")
    spatial = _spatial_rank(n)
    if spatial is not None and spatial < 1:
        return
    yield from _window_problems(n, spatial, pool=False)
    yield from _positive_attr(n, "group")
    w = n.shape(1)
    kernel = n.ints("kernel_shape")
    if w is not None and kernel is not None and len(w) - 2 == len(kernel) and any(
            isinstance(d, int) and d != k for d, k in zip(w[2:], kernel, strict=True)):
        yield n.bad_attr("kernel_shape", f"differs from the weight's spatial dims "
                         f"{format_shape(w[2:])}")
    yield from _group_problems(n, transpose=False)
    if w is not None and spatial is not None and len(w) == spatial + 2 and \
            all(isinstance(d, int) for d in w[2:]):
        yield from _output_extent_problems(n, kernel or [int(d) for d in w[2:]], spatial)


def _group_problems(n: NodeFacts, transpose: bool) -> Iterator[str]:
    group = int(n.attrs.get("group", 1))  # type: ignore[call-overload]
    if group < 1:
        return
    channels = n.static_dim(0, 1)
    w = n.shape(1)
    if w is None or len(w) < 2:
        return
    w0, w1 = (d if isinstance(d, int) else None for d in w[:2])
    if transpose:
        if channels is not None and w0 is not None and channels != w0:
            yield n.bad_input(1, f"the weight {format_shape(w)} expects {w0} input "
                              f"channels, the input has {channels}")
        if w0 is not None and w0 % group:
            yield n.bad_attr("group", f"does not divide the {w0} input channels")
        return
    if w0 is not None and w0 % group:
        yield n.bad_attr("group", f"does not divide the {w0} output channels of the weight "
                         f"{format_shape(w)}")
    if channels is not None and w1 is not None and channels != w1 * group:
        yield n.bad_attr("group", f"the input has {channels} channels but the weight "
                         f"{format_shape(w)} with this group expects {w1 * group}")


def _conv_transpose(n: NodeFacts) -> Iterator[str]:
    yield from _min_rank(n, 0, 3)
    yield from _min_rank(n, 1, 3, "the weight")
    spatial = _spatial_rank(n)
    if spatial is not None and spatial < 1:
        return
    yield from _window_problems(n, spatial, pool=False)
    yield from _positive_attr(n, "group")
    yield from _group_problems(n, transpose=True)
    if spatial is None:
        return
    strides = n.ints("strides") or [1] * spatial
    dilations = n.ints("dilations") or [1] * spatial
    out_pad = n.ints("output_padding")
    if out_pad is not None:
        if len(out_pad) != spatial:
            yield n.bad_attr("output_padding", f"needs {spatial} values")
        elif len(strides) == spatial and len(dilations) == spatial and any(
                not 0 <= p < max(s, d) for p, s, d in zip(out_pad, strides, dilations,
                                                          strict=True)):
            yield n.bad_attr("output_padding", "each value must be >= 0 and less than the "
                             "stride or the dilation")
    shape = n.ints("output_shape")
    if shape is not None and (len(shape) not in (spatial, spatial + 2) or
                              any(d < 0 for d in shape)):
        yield n.bad_attr("output_shape", f"needs {spatial} non-negative sizes")


def _pool(n: NodeFacts) -> Iterator[str]:
    yield from _min_rank(n, 0, 3)
    spatial = _spatial_rank(n)
    if spatial is not None and spatial < 1:
        return
    yield from _window_problems(n, spatial, pool=True)
    yield from _flag(n, "ceil_mode")
    yield from _flag(n, "count_include_pad")
    yield from _flag(n, "storage_order")
    if "p" in n.attrs and int(n.attrs["p"]) < 1:  # type: ignore[call-overload]
        yield n.bad_attr("p", "must be >= 1")
    kernel = n.ints("kernel_shape")
    if kernel is not None and spatial is not None:
        yield from _output_extent_problems(n, kernel, spatial)


def _global_pool(n: NodeFacts) -> Iterator[str]:
    yield from _min_rank(n, 0, 3)
    if "p" in n.attrs and int(n.attrs["p"]) < 1:  # type: ignore[call-overload]
        yield n.bad_attr("p", "must be >= 1")


# ---- normalization, matrix and recurrent ops


def _per_channel_inputs(n: NodeFacts, indices: Iterable[int]) -> Iterator[str]:
    for i in indices:
        if n.input(i):
            yield from _vector(n, i, "a per-channel parameter")


def _batch_norm(n: NodeFacts) -> Iterator[str]:
    yield from _min_rank(n, 0, 2)
    yield from _flag(n, "training_mode")
    yield from _per_channel_inputs(n, range(1, 5))


def _instance_norm(n: NodeFacts) -> Iterator[str]:
    yield from _min_rank(n, 0, 3)
    yield from _per_channel_inputs(n, (1, 2))


def _layer_norm(n: NodeFacts) -> Iterator[str]:
    yield from _min_rank(n, 0, 1)
    yield from _axis_problem(n, "axis", n.rank(0))
    stash = n.attrs.get("stash_type")
    if isinstance(stash, int) and data_type_name(stash) is None:
        yield n.bad_attr("stash_type", "is not a TensorProto data type")


def _group_norm(n: NodeFacts) -> Iterator[str]:
    yield from _min_rank(n, 0, 2)
    yield from _per_channel_inputs(n, (1, 2))
    groups = int(n.attrs.get("num_groups", 0))  # type: ignore[call-overload]
    if groups < 1:
        yield n.bad_attr("num_groups", "must be >= 1")
        return
    channels = n.static_dim(0, 1)
    if channels is None and n.rank(1) == 1:  # a dynamic channel dim: scale has one each
        channels = n.static_dim(1, 0)
    if channels is not None and channels % groups:
        yield n.bad_attr("num_groups", f"does not divide the {channels} input channels")
    for i in (1, 2):
        length = n.static_dim(i, 0) if n.rank(i) == 1 else None
        if channels is not None and length is not None and length != channels:
            yield n.bad_input(i, f"needs one value per channel ({channels}), got shape "
                              f"{format_shape(n.shape(i) or ())}")
    stash = n.attrs.get("stash_type")
    if isinstance(stash, int) and data_type_name(stash) is None:
        yield n.bad_attr("stash_type", "is not a TensorProto data type")


def _mvn(n: NodeFacts) -> Iterator[str]:
    rank = n.rank(0)
    if "axes" in n.attrs:
        yield from _attr_axes(n, "axes", rank)
    elif rank is not None and rank < 4:
        yield f"{n.label}: the default axes [0, 2, 3] need an input of rank >= 4, got " \
              f"{format_shape(n.shape(0) or ())}"


def _lrn(n: NodeFacts) -> Iterator[str]:
    yield from _min_rank(n, 0, 3)
    yield from _positive_attr(n, "size")


def _lp_normalization(n: NodeFacts) -> Iterator[str]:
    yield from _axis_problem(n, "axis", n.rank(0))
    if "p" in n.attrs and int(n.attrs["p"]) not in (1, 2):  # type: ignore[call-overload]
        yield n.bad_attr("p", "must be 1 or 2")


def _gemm(n: NodeFacts) -> Iterator[str]:
    yield from _flag(n, "transA")
    yield from _flag(n, "transB")
    for i in (0, 1):
        rank = n.rank(i)
        if rank is not None and rank != 2:
            yield n.bad_input(i, f"Gemm needs a 2-D matrix, got shape "
                              f"{format_shape(n.shape(i) or ())}")


def _matmul(n: NodeFacts) -> Iterator[str]:
    yield from _min_rank(n, 0, 1)
    yield from _min_rank(n, 1, 1)


def _rnn(n: NodeFacts) -> Iterator[str]:
    yield from _positive_attr(n, "hidden_size")
    yield from _flag(n, "layout")
    yield from _flag(n, "input_forget")
    yield from _flag(n, "linear_before_reset")
    for i, what in ((0, "X"), (1, "W"), (2, "R")):
        rank = n.rank(i)
        if rank is not None and rank != 3:
            yield n.bad_input(i, f"{what} must be 3-D, got shape "
                              f"{format_shape(n.shape(i) or ())}")
    if "clip" in n.attrs and not float(n.attrs["clip"]) > 0:  # type: ignore[arg-type]
        yield n.bad_attr("clip", "must be positive")
    yield from _rnn_weight_shapes(n)


_RNN_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _rnn_weight_shapes(n: NodeFacts) -> Iterator[str]:
    """W [dirs, gates*hidden, input], R [dirs, gates*hidden, hidden], B [dirs,
    2*gates*hidden], initial states [dirs, batch, hidden], P [dirs, 3*hidden]."""
    dirs = 2 if n.attrs.get("direction", b"forward") == b"bidirectional" else 1
    r = n.shape(2)
    hidden = n.attrs.get("hidden_size")
    if hidden is None and r is not None and len(r) == 3 and isinstance(r[2], int):
        hidden = r[2]
    if not isinstance(hidden, int) or hidden < 1:
        return
    rows = _RNN_GATES[n.node.op_type] * hidden
    expected: dict[int, tuple[int | None, ...]] = {
        1: (dirs, rows, None), 2: (dirs, rows, hidden), 3: (dirs, 2 * rows),
        5: (dirs, None, hidden), 6: (dirs, None, hidden), 7: (dirs, 3 * hidden)}
    if n.node.op_type != "LSTM":
        del expected[6], expected[7]
    layout = n.attrs.get("layout", 0)
    for i, want in expected.items():
        shape = n.shape(i)
        if shape is None:
            continue
        if layout == 1 and i in (5, 6):
            want = (want[1], want[0], want[2])
        if len(shape) != len(want) or any(
                w is not None and isinstance(d, int) and d != w
                for d, w in zip(shape, want, strict=True)):
            yield n.bad_input(i, f"has shape {format_shape(shape)}, expected "
                              f"{format_shape(want)} for hidden_size {hidden} and {dirs} "
                              f"direction{'s' if dirs > 1 else ''}")


# ---- control flow


def _if(n: NodeFacts) -> Iterator[str]:
    yield from _one_element(n, 0, "the condition")
    then_g, else_g = n.attrs.get("then_branch"), n.attrs.get("else_branch")
    if isinstance(then_g, onnx.GraphProto) and isinstance(else_g, onnx.GraphProto):
        if len(then_g.output) != len(else_g.output):
            yield f"{n.label}: then_branch has {len(then_g.output)} outputs, else_branch " \
                  f"{len(else_g.output)}"
        elif len(then_g.output) != len(n.node.output):
            yield f"{n.label}: the branches have {len(then_g.output)} outputs, the node " \
                  f"{len(n.node.output)}"
        for kind, sub in (("then_branch", then_g), ("else_branch", else_g)):
            if len(sub.input):
                yield n.bad_attr(kind, f"takes {len(sub.input)} inputs, an If branch none")


def _loop(n: NodeFacts) -> Iterator[str]:
    if n.input(0):
        yield from _one_element(n, 0, "the trip count")
    if n.input(1):
        yield from _one_element(n, 1, "the condition")
    body = n.attrs.get("body")
    if not isinstance(body, onnx.GraphProto):
        return
    carried = max(0, len(n.node.input) - 2)
    if len(body.input) != carried + 2:
        yield n.bad_attr("body", f"takes {len(body.input)} inputs, expected {carried + 2} "
                         f"(iteration number, condition and {carried} loop-carried values)")
    if len(body.output) < carried + 1:
        yield n.bad_attr("body", f"yields {len(body.output)} values, expected at least "
                         f"{carried + 1}")
    elif len(n.node.output) != len(body.output) - 1:
        yield f"{n.label}: the node has {len(n.node.output)} outputs, the body yields " \
              f"{len(body.output) - 1} (after the condition)"


def _scan(n: NodeFacts) -> Iterator[str]:
    if n.opset < 9:  # Scan-8 has a leading sequence_lens input (the importer rejects it)
        return
    m = int(n.attrs.get("num_scan_inputs", 0))  # type: ignore[call-overload]
    inputs = len(n.node.input)
    if not 1 <= m <= inputs:
        yield n.bad_attr("num_scan_inputs", f"must be between 1 and the {inputs} inputs")
        return
    states = inputs - m
    body = n.attrs.get("body")
    outputs = len(body.output) - states if isinstance(body, onnx.GraphProto) else None
    if isinstance(body, onnx.GraphProto) and len(body.input) != inputs:
        yield n.bad_attr("body", f"takes {len(body.input)} inputs, the node has {inputs}")
    if outputs is not None and outputs < 0:
        yield n.bad_attr("body", f"yields {len(body.output)} values, fewer than the "
                         f"{states} states")
        return
    for name, count in (("scan_input_axes", m), ("scan_input_directions", m),
                        ("scan_output_axes", outputs), ("scan_output_directions", outputs)):
        values = n.ints(name)
        if values is not None and count is not None and len(values) != count:
            yield n.bad_attr(name, f"needs {count} values")
        elif values is not None and name.endswith("directions") and \
                any(v not in (0, 1) for v in values):
            yield n.bad_attr(name, "each direction must be 0 or 1")
    axes = n.ints("scan_input_axes")
    if axes is not None and len(axes) == m:
        for k, a in enumerate(axes):
            rank = n.rank(states + k)
            if rank is not None and not _in_range(a, -rank, rank - 1):
                yield n.bad_attr("scan_input_axes", f"axis {a} is out of range for scan "
                                 f"input {k} of rank {rank}")


def _einsum(n: NodeFacts) -> Iterator[str]:
    equation = n.attrs.get("equation", b"")
    text = equation.decode(errors="replace") if isinstance(equation, bytes) else ""
    terms = text.replace(" ", "").split("->")[0].split(",")
    if len(terms) != len(n.node.input):
        yield n.bad_attr("equation", f"has {len(terms)} operands, the node "
                         f"{len(n.node.input)} inputs")


def _cast(n: NodeFacts) -> Iterator[str]:
    to = n.attrs.get("to")
    if isinstance(to, int) and (data_type_name(to) is None or to == onnx.TensorProto.UNDEFINED):
        yield n.bad_attr("to", "is not a TensorProto data type")


OP_RULES: dict[str, Rule] = {
    "Cast": _cast,
    "Concat": _concat, "Flatten": _flatten, "Softmax": _softmax, "LogSoftmax": _softmax,
    "Hardmax": _softmax, "Gather": _gather, "GatherElements": _scatter_elements,
    "GatherND": _gather_nd, "ScatterND": _scatter_nd, "ScatterElements": _scatter_elements,
    "Scatter": _scatter_elements, "Split": _split, "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze, "ArgMax": _arg_reduce, "ArgMin": _arg_reduce, "TopK": _topk,
    "CumSum": _cumsum, "DepthToSpace": _depth_space, "EyeLike": _eye_like,
    "OneHot": _one_hot, "SpaceToDepth": _depth_space, "Transpose": _transpose,
    "Slice": _slice,
    "Reshape": _reshape, "Expand": _expand, "ConstantOfShape": _constant_of_shape,
    "Tile": _tile, "Pad": _pad, "Range": _range, "Trilu": _trilu, "Clip": _clip,
    "Resize": _resize, "Dropout": _dropout, "Conv": _conv,
    "ConvTranspose": _conv_transpose, "MaxPool": _pool, "AveragePool": _pool,
    "LpPool": _pool, "GlobalAveragePool": _global_pool, "GlobalMaxPool": _global_pool,
    "GlobalLpPool": _global_pool, "BatchNormalization": _batch_norm,
    "InstanceNormalization": _instance_norm, "LayerNormalization": _layer_norm,
    "RMSNormalization": _layer_norm, "GroupNormalization": _group_norm,
    "MeanVarianceNormalization": _mvn, "LRN": _lrn,
    "LpNormalization": _lp_normalization, "Gemm": _gemm, "MatMul": _matmul,
    "LSTM": _rnn, "GRU": _rnn, "RNN": _rnn, "If": _if, "Loop": _loop, "Scan": _scan,
    "Einsum": _einsum,
    **{op: _reduce for op in (
        "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
        "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")},
}
"""Kiln's attribute and constant-input rules per ONNX op type (default domain)."""
