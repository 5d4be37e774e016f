"""ONNX function ops imported as compositions of existing graph ops.

Attention, RotaryEmbedding, NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss have no
graph op of their own: each handler here spells the op's ONNX definition (the reference
implementation in onnx/reference/ops) with matmul, softmax, elementwise, reduce, gather,
transpose, reshape and concat. Everything data-dependent runs in the JIT-compiled code;
masks that depend only on static sizes are built here as constants.

The handlers take the importer (`imp`) like the methods of `_Importer` and are registered
in onnx_importer's `_HANDLERS`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from xdsl.dialects.builtin import IntegerType
from xdsl.ir import SSAValue

from dialects import graph as g

_BOOL = IntegerType(1)


class CompositionError(Exception):
    """A node this module cannot express (re-raised by the importer as _NodeError)."""


# --------------------------------------------------------------------------- helpers


def _opt(imp, node: onnx.NodeProto, i: int) -> SSAValue | None:
    return imp._value(node.input[i]) if len(node.input) > i and node.input[i] else None


def _const(imp, array: np.ndarray) -> SSAValue:
    """A constant: inline when small, a weight otherwise (the importer's policy)."""
    from compiler.importers import onnx_importer as oi

    array = np.ascontiguousarray(array)
    if array.size > oi.MAX_INLINE_ELEMENTS:
        stored = imp.store.add("kiln.const", array)
        return imp._emit(g.WeightOp(stored, g.tensor_type(
            array.shape, g.element_type_for(array.dtype))))
    return imp._emit(g.ConstantOp(oi.dense_attr(array)))


def _scalar(imp, value: float, like: SSAValue) -> SSAValue:
    dtype = g.numpy_dtype_of(g.element_type_of(like))
    return _const(imp, np.array(value, dtype=dtype))


def _ew(imp, kind: str, *inputs: SSAValue, to=None) -> SSAValue:
    return imp._emit(g.ElementwiseOp(kind, list(inputs), (), to))


def _static(value: SSAValue, dims: Sequence[int], what: str) -> None:
    shape = g.shape_of(value)
    for d in dims:
        if shape[d] == g.DYN:
            raise CompositionError(f"{what} needs a static dim {d}, got {value.type}")


def _reshape(imp, x: SSAValue, shape: Sequence[int]) -> SSAValue:
    target = [-1 if d == g.DYN else d for d in shape]
    if target.count(-1) > 1:
        raise CompositionError(f"cannot reshape {x.type} to {list(shape)}: more than one "
                               "dynamic dim")
    return imp._emit(g.ReshapeOp(x, target))


def _take(imp, x: SSAValue, indices: Sequence[int], axis: int) -> SSAValue:
    """x[..., indices, ...] along `axis` (constant indices)."""
    return imp._emit(g.GatherOp(x, _const(imp, np.asarray(indices, np.int64)), axis))


def _additive(imp, allowed: SSAValue, like: SSAValue) -> SSAValue:
    """A bool mask as an additive bias: 0 where allowed, -inf elsewhere."""
    return _ew(imp, "where", allowed, _scalar(imp, 0.0, like), _scalar(imp, -np.inf, like))


# --------------------------------------------------------------------------- Attention


def _to_heads(imp, x: SSAValue, heads: int, what: str) -> SSAValue:
    """[B, S, heads * D] -> [B, heads, S, D]."""
    _static(x, [2], what)
    b, s, e = g.shape_of(x)
    if heads <= 0 or e % heads:
        raise CompositionError(f"{what} hidden size {e} is not a multiple of {heads} heads")
    x = _reshape(imp, x, [b, s, heads, e // heads])
    return imp._emit(g.TransposeOp(x, [0, 2, 1, 3]))


def attention(imp, node, attrs, opset):
    """ONNX Attention (opset 23+): scaled dot-product attention with optional mask, KV
    cache (past/present), GQA, softcap, causal/sliding-window masks, nonpad_kv_seqlen."""
    q, k, v = (imp._value(n) for n in node.input[:3])
    mask, past_k, past_v, nonpad = (_opt(imp, node, i) for i in (3, 4, 5, 6))
    rank = len(g.shape_of(q))
    if rank == 3:
        if "q_num_heads" not in attrs or "kv_num_heads" not in attrs:
            raise CompositionError("3-D inputs need q_num_heads and kv_num_heads")
        q = _to_heads(imp, q, int(attrs["q_num_heads"]), "Q")
        k = _to_heads(imp, k, int(attrs["kv_num_heads"]), "K")
        v = _to_heads(imp, v, int(attrs["kv_num_heads"]), "V")
    elif rank != 4:
        raise CompositionError(f"Q must have rank 3 or 4, got {q.type}")
    if (past_k is None) != (past_v is None):
        raise CompositionError("past_key and past_value must be given together")
    _static(q, [1, 2, 3], "Q")
    batch, hq, lq, dq = g.shape_of(q)
    dtype = g.numpy_dtype_of(g.element_type_of(q))

    scale = attrs.get("scale")
    scale = float(scale) if scale is not None else 1.0 / np.sqrt(dq)
    root = _const(imp, np.array(np.sqrt(scale), dtype=dtype))
    q = imp._emit(g.MulOp(q, root))

    past_len = 0
    if past_k is not None and past_v is not None:
        _static(past_k, [2], "past_key")
        past_len = g.shape_of(past_k)[2]
        k = imp._emit(g.ConcatOp([past_k, k], 2))
        v = imp._emit(g.ConcatOp([past_v, v], 2))
    present_k, present_v = k, v
    _static(k, [1, 2], "K")
    hkv, lkv = g.shape_of(k)[1], g.shape_of(k)[2]

    # the additive bias [.., lq, lkv]: attn_mask, causal and window masks, padding
    bias: SSAValue | None = None
    const_bias = np.zeros((lq, lkv), dtype)  # the part known at compile time
    if mask is not None:
        _static(mask, [-1 + len(g.shape_of(mask))], "attn_mask")
        is_bool = g.element_type_of(mask) == _BOOL
        pad = lkv - g.shape_of(mask)[-1]
        if pad > 0:
            mshape = g.shape_of(mask)
            if g.DYN in mshape:
                raise CompositionError("an attn_mask shorter than the keys needs a static "
                                       "shape")
            fill = np.full([*mshape[:-1], pad], False if is_bool else -np.inf,
                           g.numpy_dtype_of(g.element_type_of(mask)))
            mask = imp._emit(g.ConcatOp([mask, _const(imp, fill)], len(mshape) - 1))
        bias = _additive(imp, mask, q) if is_bool else mask

    i_idx = np.arange(lq).reshape(lq, 1)
    j_idx = np.arange(lkv).reshape(1, lkv)
    per_batch = nonpad is not None and past_k is None
    offset = None  # per-batch frontier nonpad - lq, [B, 1, 1, 1] int64
    if per_batch:
        assert nonpad is not None
        offset = _reshape(imp, nonpad, [batch, 1, 1, 1])
        offset = imp._emit(g.SubOp(offset, _const(imp, np.array(lq, np.int64))))
    left = int(attrs.get("left_window_size", -1))
    right = int(attrs.get("right_window_size", -1))
    diff = i_idx - j_idx  # query index minus key index, before the offset
    rules = []  # (diff bound, sign): allowed iff sign * (diff + offset) <= bound ...
    if attrs.get("is_causal", 0):
        rules.append(("causal", 0))
    if left >= 0:
        rules.append(("left", left))
    if right >= 0:
        rules.append(("right", right))
    for kind, bound in rules:
        if offset is None:
            d = diff + past_len
            allowed = d >= 0 if kind == "causal" else d <= bound if kind == "left" \
                else -d <= bound
            const_bias = const_bias + np.where(allowed, 0, -np.inf).astype(dtype)
            continue
        # per batch: diff + offset >= 0 (causal), <= left, >= -right
        d = imp._emit(g.AddOp(offset, _const(imp, diff.astype(np.int64))))
        if kind == "causal":
            allowed = _ew(imp, "greater_equal", d, _const(imp, np.array(0, np.int64)))
        elif kind == "left":
            allowed = _ew(imp, "less_equal", d, _const(imp, np.array(bound, np.int64)))
        else:
            allowed = _ew(imp, "greater_equal", d, _const(imp, np.array(-bound, np.int64)))
        term = _additive(imp, allowed, q)
        bias = term if bias is None else imp._emit(g.AddOp(bias, term))
    if nonpad is not None:
        n = _reshape(imp, nonpad, [batch, 1, 1, 1])
        allowed = _ew(imp, "less", _const(imp, j_idx.reshape(1, 1, 1, lkv).astype(np.int64)),
                      n)
        term = _additive(imp, allowed, q)
        bias = term if bias is None else imp._emit(g.AddOp(bias, term))
    if np.any(const_bias != 0):
        c = _const(imp, const_bias)
        bias = c if bias is None else imp._emit(g.AddOp(bias, c))
    # rows whose bias is all -inf attend nothing: their probabilities are zeroed
    guard = bias is not None and not (bias.owner is not None and isinstance(
        bias.owner, g.ConstantOp | g.WeightOp) and not np.any(
            np.all(np.isneginf(const_bias), axis=-1)))

    # grouped-query attention: repeat each KV head (h0, h0, h1, h1, ...)
    if hq != hkv:
        if hkv <= 0 or hq % hkv:
            raise CompositionError(f"{hq} query heads are not a multiple of {hkv} KV heads")
        reps = np.arange(hq) // (hq // hkv)
        k = _take(imp, k, reps, 1)
        v = _take(imp, v, reps, 1)

    k = imp._emit(g.MulOp(k, root))
    qk = imp._emit(g.MatMulOp(q, imp._emit(g.TransposeOp(k, [0, 1, 3, 2]))))
    softcap = float(attrs.get("softcap", 0.0))
    if softcap > 0:
        c = _scalar(imp, softcap, qk)
        qk = imp._emit(g.MulOp(imp._emit(g.TanhOp(imp._emit(g.DivOp(qk, c)))), c))
    mode = int(attrs.get("qk_matmul_output_mode", 0))
    qk_out = qk
    logits = qk if bias is None else imp._emit(g.AddOp(qk, bias))
    if mode == 2:
        qk_out = logits
    elt = g.element_type_of(q)
    precision = attrs.get("softmax_precision")
    if precision is not None:
        from compiler.importers import onnx_importer as oi

        target = oi._element_type(int(precision))
        if target is None:
            raise CompositionError(f"softmax_precision {precision} is not supported")
        if target != elt:
            logits = _ew(imp, "cast", logits, to=target)
    probs = imp._emit(g.SoftmaxOp(logits, 3))
    if guard:
        assert bias is not None
        top = imp._emit(g.ReduceOp(bias, "max", [len(g.shape_of(bias)) - 1], True))
        empty = _ew(imp, "equal", top, _scalar(imp, -np.inf, top))
        probs = _ew(imp, "where", empty, _scalar(imp, 0.0, probs), probs)
    if g.element_type_of(probs) != elt:
        probs = _ew(imp, "cast", probs, to=elt)
    if mode == 3:
        qk_out = probs
    y = imp._emit(g.MatMulOp(probs, v))
    if rank == 3:
        y = imp._emit(g.TransposeOp(y, [0, 2, 1, 3]))
        b, s, h, d = g.shape_of(y)
        _static(y, [2, 3], "Y")
        y = _reshape(imp, y, [b, s, h * d])
    return [y, present_k, present_v, qk_out]


# --------------------------------------------------------------------------- RotaryEmbedding


def rotary_embedding(imp, node, attrs, opset):
    """ONNX RotaryEmbedding (opset 23): rotate (pairs of) the first rotary_embedding_dim
    features of every head by the cached cos/sin of its position."""
    x, cos, sin = (imp._value(n) for n in node.input[:3])
    pos = _opt(imp, node, 3)
    shape = g.shape_of(x)
    rank = len(shape)
    if rank == 4:
        xs = imp._emit(g.TransposeOp(x, [0, 2, 1, 3]))  # [B, S, H, D]
    elif rank == 3:
        heads = int(attrs.get("num_heads", 0))
        _static(x, [2], "input")
        if heads <= 0 or shape[2] % heads:
            raise CompositionError(f"3-D input needs num_heads dividing {shape[2]}")
        xs = _reshape(imp, x, [shape[0], shape[1], heads, shape[2] // heads])
    else:
        raise CompositionError(f"input must have rank 3 or 4, got {x.type}")
    _static(xs, [3], "input")
    head = g.shape_of(xs)[3]
    dim = int(attrs.get("rotary_embedding_dim", 0)) or head
    if dim % 2 or dim > head:
        raise CompositionError(f"rotary_embedding_dim {dim} must be even and <= {head}")
    half = dim // 2
    if pos is not None:
        cos = imp._emit(g.GatherOp(cos, pos, 0))
        sin = imp._emit(g.GatherOp(sin, pos, 0))
    for name, c in (("cos_cache", cos), ("sin_cache", sin)):
        if g.shape_of(c)[-1] != half:
            raise CompositionError(f"the last dim of {name} ({g.shape_of(c)[-1]}) must be "
                                   f"rotary_embedding_dim / 2 ({half})")
    cs = g.shape_of(cos)
    cos = _reshape(imp, cos, [*cs[:-1], 1, half])
    sin = _reshape(imp, sin, [*cs[:-1], 1, half])
    interleaved = bool(attrs.get("interleaved", 0))
    first = range(0, dim, 2) if interleaved else range(half)
    second = range(1, dim, 2) if interleaved else range(half, dim)
    x1, x2 = _take(imp, xs, first, 3), _take(imp, xs, second, 3)
    real = imp._emit(g.SubOp(imp._emit(g.MulOp(cos, x1)), imp._emit(g.MulOp(sin, x2))))
    imag = imp._emit(g.AddOp(imp._emit(g.MulOp(sin, x1)), imp._emit(g.MulOp(cos, x2))))
    parts = imp._emit(g.ConcatOp([real, imag], 3))  # [.., real..., imag...]
    if interleaved:
        order = [i // 2 + (half if i % 2 else 0) for i in range(dim)]
        parts = _take(imp, parts, order, 3)
    if dim < head:
        parts = imp._emit(g.ConcatOp([parts, _take(imp, xs, range(dim, head), 3)], 3))
    if rank == 4:
        return [imp._emit(g.TransposeOp(parts, [0, 2, 1, 3]))]
    return [_reshape(imp, parts, shape)]


# --------------------------------------------------------------------------- losses


def _nll(imp, log_prob: SSAValue, target: SSAValue, weight: SSAValue | None, attrs
         ) -> SSAValue:
    """NegativeLogLikelihoodLoss of `log_prob` [N, C, d..] and int `target` [N, d..]."""
    reduction = attrs.get("reduction", b"mean")
    reduction = reduction.decode() if isinstance(reduction, bytes) else str(reduction)
    if reduction not in ("none", "sum", "mean"):
        raise CompositionError(f"unknown reduction '{reduction}'")
    x_shape, t_shape = g.shape_of(log_prob), g.shape_of(target)
    if len(x_shape) < 2 or len(t_shape) != len(x_shape) - 1:
        raise CompositionError(f"input {log_prob.type} and target {target.type} must be "
                               "[N, C, d..] and [N, d..]")
    ignored = None
    if "ignore_index" in attrs:
        ii = _const(imp, np.array(int(attrs["ignore_index"]), g.numpy_dtype_of(
            g.element_type_of(target))))
        ignored = _ew(imp, "equal", target, ii)
        # an ignored target may be out of range: read class 0 instead, the loss is 0
        target = _ew(imp, "where", ignored, _scalar(imp, 0, target), target)
    expanded = _reshape(imp, target, [t_shape[0], 1, *t_shape[1:]])
    picked = imp._emit(g.GatherElementsOp(log_prob, expanded, 1))
    loss = imp._emit(g.NegOp(_reshape(imp, picked, t_shape)))
    w = None
    if weight is not None:
        w = imp._emit(g.GatherOp(weight, target, 0))
    if ignored is not None:
        keep = _ew(imp, "where", ignored, _scalar(imp, 0.0, loss), _scalar(imp, 1.0, loss))
        w = keep if w is None else imp._emit(g.MulOp(w, keep))
    if w is not None:
        loss = imp._emit(g.MulOp(loss, w))
    if reduction == "none":
        return loss
    axes = list(range(len(t_shape)))
    total = imp._emit(g.ReduceOp(loss, "sum", axes, False))
    if reduction == "sum":
        return total
    if w is None:
        return imp._emit(g.ReduceOp(loss, "mean", axes, False))
    return imp._emit(g.DivOp(total, imp._emit(g.ReduceOp(w, "sum", axes, False))))


def nll_loss(imp, node, attrs, opset):
    """ONNX NegativeLogLikelihoodLoss (opset 12+)."""
    x, target = imp._value(node.input[0]), imp._value(node.input[1])
    return [_nll(imp, x, target, _opt(imp, node, 2), attrs)]


def softmax_cross_entropy_loss(imp, node, attrs, opset):
    """ONNX SoftmaxCrossEntropyLoss (opset 12+): NLL of LogSoftmax over axis 1; the
    optional second output is the log-probabilities."""
    x, target = imp._value(node.input[0]), imp._value(node.input[1])
    log_prob = imp._emit(g.LogSoftmaxOp(x, 1))
    return [_nll(imp, log_prob, target, _opt(imp, node, 2), attrs), log_prob]


# --------------------------------------------------------------------------- LpNormalization


def lp_normalization(imp, node, attrs, opset):
    """ONNX LpNormalization: x / ||x||_p along `axis` (p = 1 or 2), 0 where the norm is 0."""
    x = imp._value(node.input[0])
    rank = len(g.shape_of(x))
    axis = int(attrs.get("axis", -1))
    axis += rank if axis < 0 else 0
    p = int(attrs.get("p", 2))
    if p not in (1, 2) or not 0 <= axis < rank:
        raise CompositionError(f"p must be 1 or 2 and axis in range, got p={p}, "
                               f"axis={axis} for rank {rank}")
    norm = imp._emit(g.ReduceOp(x, "l1" if p == 1 else "l2", [axis], True))
    zero = _scalar(imp, 0.0, x)
    return [_ew(imp, "where", _ew(imp, "equal", norm, zero), zero,
                imp._emit(g.DivOp(x, norm)))]


HANDLERS = {"Attention": attention, "LpNormalization": lp_normalization,
            "RotaryEmbedding": rotary_embedding,
            "NegativeLogLikelihoodLoss": nll_loss,
            "SoftmaxCrossEntropyLoss": softmax_cross_entropy_loss}
