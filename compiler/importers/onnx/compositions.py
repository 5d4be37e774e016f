"""ONNX function ops imported as compositions of existing graph ops.

Attention, RotaryEmbedding, NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss have no
graph op of their own: each handler here spells the op's ONNX definition (the reference
implementation in onnx/reference/ops) with matmul, softmax, elementwise, reduce, gather,
transpose, reshape and concat. Everything data-dependent runs in the JIT-compiled code;
masks that depend only on static sizes are built here as constants.

The rules take the import context (`ctx`) like every other op family.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from xdsl.dialects.builtin import IntegerType
from xdsl.ir import SSAValue

from compiler.importers.onnx.common import NodeError, element_type
from compiler.importers.onnx.context import Rule
from dialects import graph as g

_BOOL = IntegerType(1)


# --------------------------------------------------------------------------- helpers


def _opt(ctx, node: onnx.NodeProto, i: int) -> SSAValue | None:
    return ctx.value(node.input[i]) if len(node.input) > i and node.input[i] else None


def _scalar(ctx, value: float, like: SSAValue) -> SSAValue:
    dtype = g.numpy_dtype_of(g.element_type_of(like))
    return ctx.constant(np.array(value, dtype=dtype))


def _ew(ctx, kind: str, *inputs: SSAValue, to=None) -> SSAValue:
    return ctx.emit(g.ElementwiseOp(kind, list(inputs), (), to))


def _static(value: SSAValue, dims: Sequence[int], what: str) -> None:
    shape = g.shape_of(value)
    for d in dims:
        if shape[d] == g.DYN:
            raise NodeError(f"{what} needs a static dim {d}, got {value.type}")


def _reshape(ctx, x: SSAValue, shape: Sequence[int]) -> SSAValue:
    target = [-1 if d == g.DYN else d for d in shape]
    if target.count(-1) > 1:
        raise NodeError(f"cannot reshape {x.type} to {list(shape)}: more than one "
                        "dynamic dim")
    return ctx.emit(g.ReshapeOp(x, target))


def _take(ctx, x: SSAValue, indices: Sequence[int], axis: int) -> SSAValue:
    """x[..., indices, ...] along `axis` (constant indices)."""
    return ctx.emit(g.GatherOp(x, ctx.constant(np.asarray(indices, np.int64)), axis))


def _additive(ctx, allowed: SSAValue, like: SSAValue) -> SSAValue:
    """A bool mask as an additive bias: 0 where allowed, -inf elsewhere."""
    return _ew(ctx, "where", allowed, _scalar(ctx, 0.0, like), _scalar(ctx, -np.inf, like))


# --------------------------------------------------------------------------- Attention


def _to_heads(ctx, x: SSAValue, heads: int, what: str) -> SSAValue:
    """[B, S, heads * D] -> [B, heads, S, D]."""
    _static(x, [2], what)
    b, s, e = g.shape_of(x)
    if heads <= 0 or e % heads:
        raise NodeError(f"{what} hidden size {e} is not a multiple of {heads} heads")
    x = _reshape(ctx, x, [b, s, heads, e // heads])
    return ctx.emit(g.TransposeOp(x, [0, 2, 1, 3]))


def attention(ctx, node, attrs, opset):
    """ONNX Attention (opset 23+): scaled dot-product attention with optional mask, KV
    cache (past/present), GQA, softcap, causal/sliding-window masks, nonpad_kv_seqlen."""
    q, k, v = (ctx.value(n) for n in node.input[:3])
    mask, past_k, past_v, nonpad = (_opt(ctx, node, i) for i in (3, 4, 5, 6))
    rank = len(g.shape_of(q))
    if rank == 3:
        if "q_num_heads" not in attrs or "kv_num_heads" not in attrs:
            raise NodeError("3-D inputs need q_num_heads and kv_num_heads")
        q = _to_heads(ctx, q, int(attrs["q_num_heads"]), "Q")
        k = _to_heads(ctx, k, int(attrs["kv_num_heads"]), "K")
        v = _to_heads(ctx, v, int(attrs["kv_num_heads"]), "V")
    elif rank != 4:
        raise NodeError(f"Q must have rank 3 or 4, got {q.type}")
    if (past_k is None) != (past_v is None):
        raise NodeError("past_key and past_value must be given together")
    _static(q, [1, 2, 3], "Q")
    batch, hq, lq, dq = g.shape_of(q)
    dtype = g.numpy_dtype_of(g.element_type_of(q))

    scale = attrs.get("scale")
    scale = float(scale) if scale is not None else 1.0 / np.sqrt(dq)
    root = ctx.constant(np.array(np.sqrt(scale), dtype=dtype))
    q = ctx.emit(g.MulOp(q, root))

    past_len = 0
    if past_k is not None and past_v is not None:
        _static(past_k, [2], "past_key")
        past_len = g.shape_of(past_k)[2]
        k = ctx.emit(g.ConcatOp([past_k, k], 2))
        v = ctx.emit(g.ConcatOp([past_v, v], 2))
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
                raise NodeError("an attn_mask shorter than the keys needs a static "
                                "shape")
            fill = np.full([*mshape[:-1], pad], False if is_bool else -np.inf,
                           g.numpy_dtype_of(g.element_type_of(mask)))
            mask = ctx.emit(g.ConcatOp([mask, ctx.constant(fill)], len(mshape) - 1))
        bias = _additive(ctx, mask, q) if is_bool else mask

    i_idx = np.arange(lq).reshape(lq, 1)
    j_idx = np.arange(lkv).reshape(1, lkv)
    per_batch = nonpad is not None and past_k is None
    offset = None  # per-batch frontier nonpad - lq, [B, 1, 1, 1] int64
    if per_batch:
        assert nonpad is not None
        offset = _reshape(ctx, nonpad, [batch, 1, 1, 1])
        offset = ctx.emit(g.SubOp(offset, ctx.constant(np.array(lq, np.int64))))
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
        d = ctx.emit(g.AddOp(offset, ctx.constant(diff.astype(np.int64))))
        if kind == "causal":
            allowed = _ew(ctx, "greater_equal", d, ctx.constant(np.array(0, np.int64)))
        elif kind == "left":
            allowed = _ew(ctx, "less_equal", d, ctx.constant(np.array(bound, np.int64)))
        else:
            allowed = _ew(ctx, "greater_equal", d, ctx.constant(np.array(-bound, np.int64)))
        term = _additive(ctx, allowed, q)
        bias = term if bias is None else ctx.emit(g.AddOp(bias, term))
    if nonpad is not None:
        n = _reshape(ctx, nonpad, [batch, 1, 1, 1])
        allowed = _ew(ctx, "less", ctx.constant(j_idx.reshape(1, 1, 1, lkv).astype(np.int64)),
                      n)
        term = _additive(ctx, allowed, q)
        bias = term if bias is None else ctx.emit(g.AddOp(bias, term))
    if np.any(const_bias != 0):
        c = ctx.constant(const_bias)
        bias = c if bias is None else ctx.emit(g.AddOp(bias, c))
    # rows whose bias is all -inf attend nothing: their probabilities are zeroed
    guard = bias is not None and not (bias.owner is not None and isinstance(
        bias.owner, g.ConstantOp | g.WeightOp) and not np.any(
            np.all(np.isneginf(const_bias), axis=-1)))

    # grouped-query attention: repeat each KV head (h0, h0, h1, h1, ...)
    if hq != hkv:
        if hkv <= 0 or hq % hkv:
            raise NodeError(f"{hq} query heads are not a multiple of {hkv} KV heads")
        reps = np.arange(hq) // (hq // hkv)
        k = _take(ctx, k, reps, 1)
        v = _take(ctx, v, reps, 1)

    k = ctx.emit(g.MulOp(k, root))
    qk = ctx.emit(g.MatMulOp(q, ctx.emit(g.TransposeOp(k, [0, 1, 3, 2]))))
    softcap = float(attrs.get("softcap", 0.0))
    if softcap > 0:
        c = _scalar(ctx, softcap, qk)
        qk = ctx.emit(g.MulOp(ctx.emit(g.TanhOp(ctx.emit(g.DivOp(qk, c)))), c))
    mode = int(attrs.get("qk_matmul_output_mode", 0))
    qk_out = qk
    logits = qk if bias is None else ctx.emit(g.AddOp(qk, bias))
    if mode == 2:
        qk_out = logits
    elt = g.element_type_of(q)
    precision = attrs.get("softmax_precision")
    if precision is not None:
        target = element_type(int(precision))
        if target is None:
            raise NodeError(f"softmax_precision {precision} is not supported")
        if target != elt:
            logits = _ew(ctx, "cast", logits, to=target)
    probs = ctx.emit(g.SoftmaxOp(logits, 3))
    if guard:
        assert bias is not None
        top = ctx.emit(g.ReduceOp(bias, "max", [len(g.shape_of(bias)) - 1], True))
        empty = _ew(ctx, "equal", top, _scalar(ctx, -np.inf, top))
        probs = _ew(ctx, "where", empty, _scalar(ctx, 0.0, probs), probs)
    if g.element_type_of(probs) != elt:
        probs = _ew(ctx, "cast", probs, to=elt)
    if mode == 3:
        qk_out = probs
    y = ctx.emit(g.MatMulOp(probs, v))
    if rank == 3:
        y = ctx.emit(g.TransposeOp(y, [0, 2, 1, 3]))
        b, s, h, d = g.shape_of(y)
        _static(y, [2, 3], "Y")
        y = _reshape(ctx, y, [b, s, h * d])
    return [y, present_k, present_v, qk_out]


# --------------------------------------------------------------------------- RotaryEmbedding


def rotary_embedding(ctx, node, attrs, opset):
    """ONNX RotaryEmbedding (opset 23): rotate (pairs of) the first rotary_embedding_dim
    features of every head by the cached cos/sin of its position."""
    x, cos, sin = (ctx.value(n) for n in node.input[:3])
    pos = _opt(ctx, node, 3)
    shape = g.shape_of(x)
    rank = len(shape)
    if rank == 4:
        xs = ctx.emit(g.TransposeOp(x, [0, 2, 1, 3]))  # [B, S, H, D]
    elif rank == 3:
        heads = int(attrs.get("num_heads", 0))
        _static(x, [2], "input")
        if heads <= 0 or shape[2] % heads:
            raise NodeError(f"3-D input needs num_heads dividing {shape[2]}")
        xs = _reshape(ctx, x, [shape[0], shape[1], heads, shape[2] // heads])
    else:
        raise NodeError(f"input must have rank 3 or 4, got {x.type}")
    _static(xs, [3], "input")
    head = g.shape_of(xs)[3]
    dim = int(attrs.get("rotary_embedding_dim", 0)) or head
    if dim % 2 or dim > head:
        raise NodeError(f"rotary_embedding_dim {dim} must be even and <= {head}")
    half = dim // 2
    if pos is not None:
        cos = ctx.emit(g.GatherOp(cos, pos, 0))
        sin = ctx.emit(g.GatherOp(sin, pos, 0))
    for name, c in (("cos_cache", cos), ("sin_cache", sin)):
        if g.shape_of(c)[-1] != half:
            raise NodeError(f"the last dim of {name} ({g.shape_of(c)[-1]}) must be "
                            f"rotary_embedding_dim / 2 ({half})")
    cs = g.shape_of(cos)
    cos = _reshape(ctx, cos, [*cs[:-1], 1, half])
    sin = _reshape(ctx, sin, [*cs[:-1], 1, half])
    interleaved = bool(attrs.get("interleaved", 0))
    first = range(0, dim, 2) if interleaved else range(half)
    second = range(1, dim, 2) if interleaved else range(half, dim)
    x1, x2 = _take(ctx, xs, first, 3), _take(ctx, xs, second, 3)
    real = ctx.emit(g.SubOp(ctx.emit(g.MulOp(cos, x1)), ctx.emit(g.MulOp(sin, x2))))
    imag = ctx.emit(g.AddOp(ctx.emit(g.MulOp(sin, x1)), ctx.emit(g.MulOp(cos, x2))))
    parts = ctx.emit(g.ConcatOp([real, imag], 3))  # [.., real..., imag...]
    if interleaved:
        order = [i // 2 + (half if i % 2 else 0) for i in range(dim)]
        parts = _take(ctx, parts, order, 3)
    if dim < head:
        parts = ctx.emit(g.ConcatOp([parts, _take(ctx, xs, range(dim, head), 3)], 3))
    if rank == 4:
        return [ctx.emit(g.TransposeOp(parts, [0, 2, 1, 3]))]
    return [_reshape(ctx, parts, shape)]


# --------------------------------------------------------------------------- losses


def _nll(ctx, log_prob: SSAValue, target: SSAValue, weight: SSAValue | None, attrs
         ) -> SSAValue:
    """NegativeLogLikelihoodLoss of `log_prob` [N, C, d..] and int `target` [N, d..]."""
    reduction = attrs.get("reduction", b"mean")
    reduction = reduction.decode() if isinstance(reduction, bytes) else str(reduction)
    if reduction not in ("none", "sum", "mean"):
        raise NodeError(f"unknown reduction '{reduction}'")
    x_shape, t_shape = g.shape_of(log_prob), g.shape_of(target)
    if len(x_shape) < 2 or len(t_shape) != len(x_shape) - 1:
        raise NodeError(f"input {log_prob.type} and target {target.type} must be "
                        "[N, C, d..] and [N, d..]")
    ignored = None
    if "ignore_index" in attrs:
        ii = ctx.constant(np.array(int(attrs["ignore_index"]), g.numpy_dtype_of(
            g.element_type_of(target))))
        ignored = _ew(ctx, "equal", target, ii)
        # an ignored target may be out of range: read class 0 instead, the loss is 0
        target = _ew(ctx, "where", ignored, _scalar(ctx, 0, target), target)
    expanded = _reshape(ctx, target, [t_shape[0], 1, *t_shape[1:]])
    picked = ctx.emit(g.GatherElementsOp(log_prob, expanded, 1))
    loss = ctx.emit(g.NegOp(_reshape(ctx, picked, t_shape)))
    w = None
    if weight is not None:
        w = ctx.emit(g.GatherOp(weight, target, 0))
    if ignored is not None:
        keep = _ew(ctx, "where", ignored, _scalar(ctx, 0.0, loss), _scalar(ctx, 1.0, loss))
        w = keep if w is None else ctx.emit(g.MulOp(w, keep))
    if w is not None:
        loss = ctx.emit(g.MulOp(loss, w))
    if reduction == "none":
        return loss
    axes = list(range(len(t_shape)))
    total = ctx.emit(g.ReduceOp(loss, "sum", axes, False))
    if reduction == "sum":
        return total
    if w is None:
        return ctx.emit(g.ReduceOp(loss, "mean", axes, False))
    return ctx.emit(g.DivOp(total, ctx.emit(g.ReduceOp(w, "sum", axes, False))))


def nll_loss(ctx, node, attrs, opset):
    """ONNX NegativeLogLikelihoodLoss (opset 12+)."""
    x, target = ctx.value(node.input[0]), ctx.value(node.input[1])
    return [_nll(ctx, x, target, _opt(ctx, node, 2), attrs)]


def softmax_cross_entropy_loss(ctx, node, attrs, opset):
    """ONNX SoftmaxCrossEntropyLoss (opset 12+): NLL of LogSoftmax over axis 1; the
    optional second output is the log-probabilities."""
    x, target = ctx.value(node.input[0]), ctx.value(node.input[1])
    log_prob = ctx.emit(g.LogSoftmaxOp(x, 1))
    return [_nll(ctx, log_prob, target, _opt(ctx, node, 2), attrs), log_prob]


# --------------------------------------------------------------------------- LpNormalization


def lp_normalization(ctx, node, attrs, opset):
    """ONNX LpNormalization: x / ||x||_p along `axis` (p = 1 or 2), 0 where the norm is 0."""
    x = ctx.value(node.input[0])
    rank = len(g.shape_of(x))
    axis = int(attrs.get("axis", -1))
    axis += rank if axis < 0 else 0
    p = int(attrs.get("p", 2))
    if p not in (1, 2) or not 0 <= axis < rank:
        raise NodeError(f"p must be 1 or 2 and axis in range, got p={p}, "
                        f"axis={axis} for rank {rank}")
    norm = ctx.emit(g.ReduceOp(x, "l1" if p == 1 else "l2", [axis], True))
    zero = _scalar(ctx, 0.0, x)
    return [_ew(ctx, "where", _ew(ctx, "equal", norm, zero), zero,
                ctx.emit(g.DivOp(x, norm)))]


RULES: dict[str, Rule] = {
    "Attention": attention, "LpNormalization": lp_normalization,
    "RotaryEmbedding": rotary_embedding, "NegativeLogLikelihoodLoss": nll_loss,
    "SoftmaxCrossEntropyLoss": softmax_cross_entropy_loss,
}
