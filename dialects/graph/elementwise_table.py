"""The elementwise rule table behind `graph.elementwise` (dialects/graph/elementwise.py).

One `Rule` per kind says everything about an elementwise operator in one place: the ONNX
op type(s) it imports, the ONNX attributes that become its `params` (with defaults), the
element types it accepts, its result element type, its scalar lowering (arith + math on
one element per operand, used as a `linalg.generic` body) and its numpy evaluator (used
for compile-time folding only). Adding an elementwise op is adding a row.

Scalar lowerings receive a body builder `b` (lowering.graph_to_tensor._Body: `add`,
`const`, `binary`) and the operand scalars typed with their *graph* element types, so
they can tell signed from unsigned integers; convert-graph-to-tensor makes the types
signless afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ml_dtypes
import numpy as np
from xdsl.dialects import arith, llvm, math
from xdsl.dialects.builtin import (
    AnyFloat,
    Float4E2M1FNType,
    Float8E8M0FNUType,
    IntegerType,
    f32,
    f64,
    i1,
    i8,
    i32,
)
from xdsl.ir import Attribute, SSAValue

from dialects.graph import base as g

Lower = Callable[..., SSAValue]
"""(b, args: list[SSAValue], out: element type, params: tuple[float, ...]) -> SSAValue."""
Evaluate = Callable[[list[np.ndarray], tuple[float, ...], np.dtype], np.ndarray]

FLOAT = frozenset({"float"})
INT = frozenset({"int", "uint"})
NUMERIC = FLOAT | INT
ANY = NUMERIC | {"bool"}
BOOL = frozenset({"bool"})


@dataclass(frozen=True)
class Rule:
    """One elementwise kind: import, typing, lowering and evaluation."""

    kind: str
    onnx: tuple[str, ...]
    arity: int | None  # None: variadic (>= 1 operands)
    types: frozenset[str]  # type classes accepted for the data operands
    lower: Lower
    evaluate: Evaluate
    params: tuple[tuple[str, float], ...] = ()  # ONNX attribute name, default
    result: str = "same"  # "same" (the data operands' type), "bool", or "cast" (given)
    signature: str = "same"  # "same": all operands one type; "where"; "pow"; "cast"
    params_optional: bool = False  # no params at all means the defaults

    def data_operands(self, types: Sequence[Attribute]) -> list[Attribute]:
        """The operand types that must belong to `types` (Where's condition is not)."""
        if self.signature == "where":
            return list(types[1:])
        if self.signature == "pow":
            return list(types[:1])
        return list(types)

    def check_types(self, types: Sequence[Attribute]) -> str | None:
        """Why operands of element types `types` are invalid for this kind, or None."""
        if self.arity is not None and len(types) != self.arity:
            return f"needs {self.arity} operand(s), got {len(types)}"
        if not types:
            return "needs at least one operand"
        try:
            classes = [g.type_class(t) for t in types]
        except ValueError as e:
            return str(e)
        data = self.data_operands(types)
        if self.signature in ("same", "where") and len(set(map(str, data))) > 1:
            return f"operands must have one element type, got {', '.join(map(str, data))}"
        if self.signature == "where" and classes[0] != "bool":
            return f"the condition must be bool (i1), got {types[0]}"
        if self.signature == "pow" and classes[1] == "bool":
            return "the exponent must be numeric"
        if self.signature != "cast":
            for t in data:
                if g.type_class(t) not in self.types:
                    allowed = ", ".join(sorted(self.types))
                    return f"element type {t} is not supported (allowed: {allowed})"
        return None

    def result_type(self, types: Sequence[Attribute], given: Attribute | None) -> Attribute:
        if self.result == "bool":
            return i1
        if self.result == "cast":
            assert given is not None, f"{self.kind} needs an explicit result type"
            return given
        return self.data_operands(types)[0]


# --------------------------------------------------------------------------- scalar helpers


def _is_float(v: SSAValue) -> bool:
    return isinstance(v.type, AnyFloat)


def _cmp(b, pred: str, x: SSAValue, y: SSAValue) -> SSAValue:
    """Compare with eq/ne/lt/le/gt/ge: ordered for floats (NaN is false, != is true),
    signed or unsigned for integers by the graph type."""
    if _is_float(x):
        fpred = {"ne": "une"}.get(pred, "o" + pred)
        return b.add(arith.CmpfOp(x, y, fpred))
    if pred in ("eq", "ne"):
        return b.add(arith.CmpiOp(x, y, pred))
    return b.add(arith.CmpiOp(x, y, ("u" if g.is_unsigned(x.type) else "s") + pred))


def _sel(b, c: SSAValue, x: SSAValue, y: SSAValue) -> SSAValue:
    return b.add(arith.SelectOp(c, x, y))


def _op(b, cls, *args: SSAValue) -> SSAValue:
    return b.add(cls(*args))


def _all_ones(t: Attribute) -> int:
    assert isinstance(t, IntegerType)
    return (1 << t.width.data) - 1 if g.is_unsigned(t) else -1


ROUND_MODES = ("up", "down", "nearest")
"""ONNX Cast's `round_mode` (to float8e8m0) by its index in the cast kind's params."""


def cast_scalar(b, x: SSAValue, to: Attribute, saturate: bool = True,
                round_mode: str = "up") -> SSAValue:
    """Convert one element between any two supported types with ONNX Cast semantics
    (as onnx.reference and ml_dtypes compute them): float -> int truncates toward zero,
    to a 4-/2-bit integer a truncated value out of its range gives 0, int -> int wraps,
    anything -> bool is `!= 0`; float8 targets round to nearest even and, with
    `saturate`, clamp to their largest finite value (inf included) instead of
    overflowing to inf/NaN; float4e2m1 always saturates; float8e8m0 follows
    `round_mode` on the f32 bits. Minifloats are read through f32, which holds them
    exactly."""
    src, dst = g.type_class(x.type), g.type_class(to)
    if x.type == to:
        return x
    if src == "minifloat":
        x = b.add(arith.ExtFOp(x, f32))
        if to == f32:
            return x
        src = "float"
    if dst == "minifloat":
        return _to_minifloat(b, x, to, saturate, round_mode)
    if dst == "bool":
        return _cmp(b, "ne", x, b.const(0, x.type))
    if src == "float" and dst == "float":
        wider = x.type.bitwidth < to.bitwidth  # type: ignore[union-attr]
        if x.type.bitwidth == to.bitwidth:  # type: ignore[union-attr]  # f16 <-> bf16
            x = b.add(arith.ExtFOp(x, f32))
            wider = False
        return b.add((arith.ExtFOp if wider else arith.TruncFOp)(x, to))
    if src == "float" and to.width.data < 8:  # type: ignore[union-attr]
        lo, hi = (0, (1 << to.width.data) - 1) if dst == "uint" else (  # type: ignore[union-attr]
            -(1 << (to.width.data - 1)), (1 << (to.width.data - 1)) - 1)  # type: ignore[union-attr]
        t = b.add(arith.FPToSIOp(x, i32))
        fits = b.add(arith.AndIOp(_cmp(b, "ge", t, b.const(lo, i32)),
                                  _cmp(b, "le", t, b.const(hi, i32))))
        return b.add(arith.TruncIOp(_sel(b, fits, t, b.const(0, i32)), to))
    if src == "float":
        return b.add((arith.FPToUIOp if dst == "uint" else arith.FPToSIOp)(x, to))
    if dst == "float":
        return b.add((arith.SIToFPOp if src == "int" else arith.UIToFPOp)(x, to))
    sw, dw = x.type.width.data, to.width.data  # type: ignore[union-attr]
    if sw == dw:
        return x  # same bits; the signless sweep unifies the types
    if sw > dw:
        return b.add(arith.TruncIOp(x, to))
    return b.add((arith.ExtSIOp if src == "int" else arith.ExtUIOp)(x, to))


def _to_minifloat(b, x: SSAValue, to: Attribute, saturate: bool, round_mode: str):
    if isinstance(to, Float8E8M0FNUType):
        return _to_e8m0(b, x, saturate, round_mode)
    if not g.is_float_type(x.type):  # integers: exact in f32 below 2^24, beyond every max
        x = cast_scalar(b, x, f32)
    if saturate and not isinstance(to, Float4E2M1FNType):  # NaN compares false: kept
        top = float(ml_dtypes.finfo(g.numpy_dtype_of(to)).max)
        hi, lo = b.const(top, x.type), b.const(-top, x.type)
        x = _sel(b, _cmp(b, "gt", x, hi), hi, _sel(b, _cmp(b, "lt", x, lo), lo, x))
    return b.add(arith.TruncFOp(x, to))


def _to_e8m0(b, x: SSAValue, saturate: bool, round_mode: str) -> SSAValue:
    """onnx.numpy_helper.to_float8e8m0 on the f32 bits: the exponent field, incremented
    per `round_mode` (not past 0xFE when saturating); NaN and inf give 0xFF."""
    if x.type != f32:
        x = cast_scalar(b, x, f32)
    bits = b.add(arith.BitcastOp(x, i32))

    def c(v: int) -> SSAValue:
        return b.const(v, i32)

    def has(mask: int) -> SSAValue:
        return _cmp(b, "ne", b.add(arith.AndIOp(bits, c(mask))), c(0))

    exp = b.add(arith.AndIOp(b.add(arith.ShRUIOp(bits, c(23))), c(0xFF)))
    if round_mode == "nearest":
        tail = b.add(arith.OrIOp(b.add(arith.OrIOp(has(0x200000), has(0x1FFFFF))),
                                 _cmp(b, "gt", exp, c(0))))
        up = b.add(arith.AndIOp(has(0x400000), tail))
    elif round_mode == "up":
        up = has(0x7FFFFF)
    else:
        up = b.const(0, i1)
    if saturate:
        up = b.add(arith.AndIOp(up, _cmp(b, "ne", exp, c(0xFE))))
    rounded = b.add(arith.AddiOp(exp, b.add(arith.ExtUIOp(up, i32))))
    code = _sel(b, _cmp(b, "eq", exp, c(0xFF)), c(0xFF), rounded)
    return b.add(arith.BitcastOp(b.add(arith.TruncIOp(code, i8)), Float8E8M0FNUType()))


def _bitcast(b, args, out, params):
    """ONNX BitCast: the same bits in another type of the same size (bool is a byte)."""
    x = args[0]
    if x.type == out:
        return x
    if g.type_class(out) == "bool":
        return _cmp(b, "ne", x, b.const(0, x.type))
    if g.type_class(x.type) == "bool":
        return b.add(arith.ExtUIOp(x, g.signless(out)))
    if isinstance(x.type, IntegerType) and isinstance(out, IntegerType):
        return x  # same bits; the signless sweep unifies the types
    return b.add(arith.BitcastOp(x, g.signless(out)))


def np_cast(a: np.ndarray, dtype: np.dtype, saturate: bool = True,
            round_mode: str = "up") -> np.ndarray:
    """numpy Cast with ONNX semantics (onnx.reference's cast_to), for folding."""
    dtype = np.dtype(dtype)
    if dtype.name == "float8_e8m0fnu":
        return _np_e8m0(a, saturate, round_mode)
    if a.dtype.name in g.MINIFLOATS:
        a = a.astype(np.float32)
    if saturate and dtype.name in g.MINIFLOATS and dtype.name != "float4_e2m1fn":
        info = ml_dtypes.finfo(dtype)
        return np.clip(a, info.min, info.max).astype(dtype)
    return a.astype(dtype)


def _np_e8m0(a: np.ndarray, saturate: bool, round_mode: str) -> np.ndarray:
    bits = np.asarray(a, dtype=np.float32).view(np.uint32)
    exp = ((bits >> 23) & 0xFF).astype(np.uint16)
    if round_mode == "nearest":
        up = ((bits & 0x400000) > 0) & (((bits & 0x200000) > 0) | ((bits & 0x1FFFFF) > 0)
                                         | (exp > 0))
    elif round_mode == "up":
        up = (bits & 0x7FFFFF) > 0
    else:
        up = np.zeros(bits.shape, bool)
    if saturate:
        up &= exp != 0xFE
    code = np.where(exp == 0xFF, 0xFF, exp + up).astype(np.uint8)
    return code.view(ml_dtypes.float8_e8m0fnu)


def _cast_params(params: Sequence[float]) -> tuple[bool, str]:
    """(saturate, round_mode) of a cast kind; an op without params takes ONNX's defaults."""
    if not params:
        return True, "up"
    return bool(params[0]), ROUND_MODES[int(params[1])]


def _unary_math(cls) -> Lower:
    def lower(b, args, out, params):
        return b.add(cls(args[0]))

    return lower


def _fold(kind: str) -> Lower:
    """Variadic max/min/sum: a left fold of the binary op."""

    def lower(b, args, out, params):
        acc = args[0]
        for v in args[1:]:
            acc = b.binary(kind, acc, v)
        return acc

    return lower


# --------------------------------------------------------------------------- lowerings


def _abs(b, args, out, params):
    x = args[0]
    if _is_float(x):
        return b.add(math.AbsFOp(x))
    if g.is_unsigned(x.type):
        return x
    zero = b.const(0, x.type)
    return _sel(b, _cmp(b, "lt", x, zero), b.add(arith.SubiOp(zero, x)), x)


def _sign(b, args, out, params):
    x = args[0]
    zero, one = b.const(0, x.type), b.const(1, x.type)
    pos = _sel(b, _cmp(b, "gt", x, zero), one, zero)
    if g.is_unsigned(x.type):
        return pos
    return _sel(b, _cmp(b, "lt", x, zero), b.const(-1, x.type), pos)


def _reciprocal(b, args, out, params):
    return b.binary("div", b.const(1.0, args[0].type), args[0])


def _log(b, args, out, params):
    return b.add(math.LogOp(args[0]))


def _pow(b, args, out, params):
    x, y = args
    if _is_float(x):
        return b.add(math.PowFOp(x, cast_scalar(b, y, x.type)))
    # integer base: compute in f64, convert back (exact for results below 2^53)
    p = b.add(math.PowFOp(cast_scalar(b, x, f64), cast_scalar(b, y, f64)))
    return cast_scalar(b, p, x.type)


def _mod(b, args, out, params):
    x, y = args
    fmod = bool(params[0])
    if _is_float(x):
        # C fmod is LLVM's frem (exact); xDSL's arith has no remf, so the llvm op is
        # emitted directly (it passes through every later pass unchanged)
        r = b.add(llvm.FRemOp(x, y))
        if fmod:
            return r
        # Python mod (numpy.mod): the result takes the divisor's sign, zeros included
        zero = b.const(0.0, x.type)
        differ = _cmp(b, "ne", _cmp(b, "lt", r, zero), _cmp(b, "lt", y, zero))
        fix = b.add(arith.AndIOp(_cmp(b, "ne", r, zero), differ))
        r = _sel(b, fix, b.add(arith.AddfOp(r, y)), r)
        signed_zero = b.add(math.CopySignOp(r, y))
        return _sel(b, _cmp(b, "eq", r, zero), signed_zero, r)
    if g.is_unsigned(x.type):
        return b.add(arith.RemUIOp(x, y))
    r = b.add(arith.RemSIOp(x, y))
    if fmod:
        return r
    # Python mod: the result takes the divisor's sign
    zero = b.const(0, x.type)
    fix = b.add(arith.AndIOp(_cmp(b, "ne", r, zero),
                             _cmp(b, "ne", _cmp(b, "lt", r, zero), _cmp(b, "lt", y, zero))))
    return _sel(b, fix, b.add(arith.AddiOp(r, y)), r)


def _shift(left: bool) -> Lower:
    """ONNX BitShift: amounts outside [0, width) give 0 (or the sign fill for a signed
    right shift) instead of LLVM's poison."""

    def lower(b, args, out, params):
        x, n = args
        width = x.type.width.data
        valid = b.add(arith.CmpiOp(n, b.const(width, n.type), "ult"))  # also n < 0
        zero = b.const(0, x.type)
        if left:
            return _sel(b, valid, b.add(arith.ShLIOp(x, n)), zero)
        if g.is_unsigned(x.type):
            return _sel(b, valid, b.add(arith.ShRUIOp(x, n)), zero)
        amount = _sel(b, valid, n, b.const(width - 1, n.type))
        return b.add(arith.ShRSIOp(x, amount))

    return lower


def _np_shift(left: bool) -> Evaluate:
    def evaluate(a, p, dt):
        x, n = np.broadcast_arrays(*a)
        bits = np.iinfo(x.dtype).bits
        valid = (n >= 0) & (n < bits)
        safe = np.where(valid, n, 0).astype(x.dtype)
        if left:
            u = np.dtype(f"u{x.dtype.itemsize}")
            y = np.left_shift(x.view(u), safe.astype(u)).view(x.dtype)
            return np.where(valid, y, 0).astype(x.dtype)
        fill = np.where(x < 0, -1, 0) if x.dtype.kind == "i" else 0
        return np.where(valid, np.right_shift(x, safe), fill).astype(x.dtype)

    return evaluate


def _mean(b, args, out, params):
    total = _fold("add")(b, args, out, params)
    return b.binary("div", total, b.const(float(len(args)), total.type))


def _int_binary(cls) -> Lower:
    def lower(b, args, out, params):
        return b.add(cls(args[0], args[1]))

    return lower


def _not(b, args, out, params):
    x = args[0]
    return b.add(arith.XOrIOp(x, b.const(_all_ones(x.type), x.type)))


def _compare(pred: str) -> Lower:
    def lower(b, args, out, params):
        return _cmp(b, pred, args[0], args[1])

    return lower


def _isnan(b, args, out, params):
    return b.add(arith.CmpfOp(args[0], args[0], "uno"))


def _isinf(b, args, out, params):
    x = args[0]
    neg, pos = bool(params[0]), bool(params[1])
    inf = b.const(float("inf"), x.type)
    is_pos = b.add(arith.CmpfOp(x, inf, "oeq"))
    is_neg = b.add(arith.CmpfOp(x, b.add(arith.NegfOp(inf)), "oeq"))
    if neg and pos:
        return b.add(arith.OrIOp(is_pos, is_neg))
    if pos:
        return is_pos
    if neg:
        return is_neg
    return b.const(0, i1)


def _where(b, args, out, params):
    return _sel(b, args[0], args[1], args[2])


def _cast(b, args, out, params):
    return cast_scalar(b, args[0], out, *_cast_params(params))


def _fconst(b, x: SSAValue, value: float) -> SSAValue:
    return b.const(value, x.type)


def _leaky_relu(b, args, out, params):
    x = args[0]
    neg = _cmp(b, "lt", x, _fconst(b, x, 0.0))
    return _sel(b, neg, b.binary("mul", x, _fconst(b, x, params[0])), x)


def _prelu(b, args, out, params):
    x, slope = args
    neg = _cmp(b, "lt", x, b.const(0, x.type))
    return _sel(b, neg, b.binary("mul", x, slope), x)


def _expm1_scaled(b, x: SSAValue, alpha: float) -> SSAValue:
    """alpha * (exp(x) - 1)."""
    e = b.binary("sub", b.add(math.ExpOp(x)), _fconst(b, x, 1.0))
    return b.binary("mul", e, _fconst(b, x, alpha))


def _elu(b, args, out, params):
    x = args[0]
    neg = _cmp(b, "lt", x, _fconst(b, x, 0.0))
    return _sel(b, neg, _expm1_scaled(b, x, params[0]), x)


def _selu(b, args, out, params):
    x = args[0]
    alpha, gamma = params
    pos = _cmp(b, "gt", x, _fconst(b, x, 0.0))
    y = _sel(b, pos, x, _expm1_scaled(b, x, alpha))
    return b.binary("mul", y, _fconst(b, x, gamma))


def _celu(b, args, out, params):
    x = args[0]
    alpha = params[0]
    zero = _fconst(b, x, 0.0)
    scaled = b.binary("div", x, _fconst(b, x, alpha))
    neg = b.binary("min", zero, _expm1_scaled(b, scaled, alpha))
    return b.binary("add", b.binary("max", zero, x), neg)


def _hard_sigmoid_of(b, x: SSAValue, alpha: float, beta: float) -> SSAValue:
    y = b.binary("add", b.binary("mul", x, _fconst(b, x, alpha)), _fconst(b, x, beta))
    return b.binary("max", _fconst(b, x, 0.0), b.binary("min", _fconst(b, x, 1.0), y))


def _hard_sigmoid(b, args, out, params):
    return _hard_sigmoid_of(b, args[0], params[0], params[1])


def _hard_swish(b, args, out, params):
    x = args[0]
    return b.binary("mul", x, _hard_sigmoid_of(b, x, 1.0 / 6.0, 0.5))


def _softplus_of(b, x: SSAValue) -> SSAValue:
    return b.add(math.LogOp(b.binary("add", b.add(math.ExpOp(x)), _fconst(b, x, 1.0))))


def _softplus(b, args, out, params):
    return _softplus_of(b, args[0])


def _softsign(b, args, out, params):
    x = args[0]
    return b.binary("div", x, b.binary("add", _fconst(b, x, 1.0), b.add(math.AbsFOp(x))))


def _thresholded_relu(b, args, out, params):
    x = args[0]
    return _sel(b, _cmp(b, "gt", x, _fconst(b, x, params[0])), x, _fconst(b, x, 0.0))


def _shrink(b, args, out, params):
    x = args[0]
    bias, lambd = params
    if not _is_float(x):  # integers: computed in f64, truncated back (as ONNX's reference)
        return cast_scalar(b, _shrink(b, [cast_scalar(b, x, f64)], f64, params), x.type)
    t = x.type
    lo, hi, bb = b.const(-lambd, t), b.const(lambd, t), b.const(bias, t)
    zero = b.const(0, t)
    above = _sel(b, _cmp(b, "gt", x, hi), b.binary("sub", x, bb), zero)
    return _sel(b, _cmp(b, "lt", x, lo), b.binary("add", x, bb), above)


def _mish(b, args, out, params):
    x = args[0]
    return b.binary("mul", x, b.add(math.TanhOp(_softplus_of(b, x))))


# --------------------------------------------------------------------------- evaluators


def _np1(fn) -> Evaluate:
    return lambda a, p, dt: fn(a[0])


def _np2(fn) -> Evaluate:
    return lambda a, p, dt: fn(a[0], a[1])


def _np_fold(fn) -> Evaluate:
    def evaluate(a, p, dt):
        acc = a[0]
        for v in a[1:]:
            acc = fn(acc, v)
        return acc

    return evaluate


def _np_pow(a, p, dt):
    x, y = a
    if x.dtype.kind == "f":
        return np.power(x, y.astype(x.dtype))
    return np.power(x.astype(np.float64), y.astype(np.float64))


def _np_mod(a, p, dt):
    x, y = a
    return np.fmod(x, y) if p[0] else np.mod(x, y)


def _np_isinf(a, p, dt):
    x = a[0]
    return (np.isneginf(x) & bool(p[0])) | (np.isposinf(x) & bool(p[1]))


def _np_shrink(a, p, dt):
    x = a[0]
    bias, lambd = p
    return np.where(x < -lambd, x + bias, np.where(x > lambd, x - bias, 0)).astype(x.dtype)


def _np_selu(a, p, dt):
    x = a[0]
    alpha, gamma = p
    return np.where(x > 0, gamma * x, gamma * (alpha * np.exp(x) - alpha)).astype(x.dtype)


def _np_celu(a, p, dt):
    x, alpha = a[0], p[0]
    return (np.maximum(0, x) + np.minimum(0, alpha * (np.exp(x / alpha) - 1))).astype(x.dtype)


def _np_hard_sigmoid(x: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    return np.clip(alpha * x + beta, 0, 1).astype(x.dtype)


def _np_softplus(x: np.ndarray) -> np.ndarray:
    return np.log(np.exp(x) + 1).astype(x.dtype)


# --------------------------------------------------------------------------- the table


def _float_unary(kind: str, onnx: str, cls, fn) -> Rule:
    return Rule(kind, (onnx,), 1, FLOAT, _unary_math(cls), _np1(fn))


RULES: tuple[Rule, ...] = (
    # unary math
    Rule("abs", ("Abs",), 1, NUMERIC, _abs, _np1(np.abs)),
    _float_unary("ceil", "Ceil", math.CeilOp, np.ceil),
    _float_unary("floor", "Floor", math.FloorOp, np.floor),
    _float_unary("round", "Round", math.RoundEvenOp, np.round),
    Rule("sign", ("Sign",), 1, NUMERIC, _sign, _np1(np.sign)),
    Rule("reciprocal", ("Reciprocal",), 1, FLOAT, _reciprocal, _np1(np.reciprocal)),
    _float_unary("log", "Log", math.LogOp, np.log),
    _float_unary("sin", "Sin", math.SinOp, np.sin),
    _float_unary("cos", "Cos", math.CosOp, np.cos),
    _float_unary("tan", "Tan", math.TanOp, np.tan),
    _float_unary("asin", "Asin", math.AsinOp, np.arcsin),
    _float_unary("acos", "Acos", math.AcosOp, np.arccos),
    _float_unary("atan", "Atan", math.AtanOp, np.arctan),
    _float_unary("sinh", "Sinh", math.SinhOp, np.sinh),
    _float_unary("cosh", "Cosh", math.CoshOp, np.cosh),
    _float_unary("asinh", "Asinh", math.AsinhOp, np.arcsinh),
    _float_unary("acosh", "Acosh", math.AcoshOp, np.arccosh),
    _float_unary("atanh", "Atanh", math.AtanhOp, np.arctanh),
    _float_unary("erf", "Erf", math.ErfOp, g.erf_array),
    # binary and variadic arithmetic
    Rule("pow", ("Pow",), 2, NUMERIC, _pow, _np_pow, signature="pow"),
    Rule("mod", ("Mod",), 2, NUMERIC, _mod, _np_mod, params=(("fmod", 0),)),
    Rule("max", ("Max",), None, NUMERIC, _fold("max"), _np_fold(np.maximum)),
    Rule("min", ("Min",), None, NUMERIC, _fold("min"), _np_fold(np.minimum)),
    Rule("sum", ("Sum",), None, NUMERIC, _fold("add"), _np_fold(np.add)),
    Rule("mean", ("Mean",), None, FLOAT, _mean,
         lambda a, p, dt: (sum(a[1:], a[0]) / len(a)).astype(a[0].dtype)),
    # bitwise (integers) and logic (bool)
    Rule("shift_left", (), 2, INT, _shift(True), _np_shift(True)),
    Rule("shift_right", (), 2, INT, _shift(False), _np_shift(False)),
    Rule("bitwise_and", ("BitwiseAnd",), 2, INT, _int_binary(arith.AndIOp),
         _np2(np.bitwise_and)),
    Rule("bitwise_or", ("BitwiseOr",), 2, INT, _int_binary(arith.OrIOp), _np2(np.bitwise_or)),
    Rule("bitwise_xor", ("BitwiseXor",), 2, INT, _int_binary(arith.XOrIOp),
         _np2(np.bitwise_xor)),
    Rule("bitwise_not", ("BitwiseNot",), 1, INT, _not, _np1(np.invert)),
    Rule("and", ("And",), 2, BOOL, _int_binary(arith.AndIOp), _np2(np.logical_and)),
    Rule("or", ("Or",), 2, BOOL, _int_binary(arith.OrIOp), _np2(np.logical_or)),
    Rule("xor", ("Xor",), 2, BOOL, _int_binary(arith.XOrIOp), _np2(np.logical_xor)),
    Rule("not", ("Not",), 1, BOOL, _not, _np1(np.logical_not)),
    # comparisons and tests (bool results)
    Rule("equal", ("Equal",), 2, ANY, _compare("eq"), _np2(np.equal), result="bool"),
    Rule("less", ("Less",), 2, NUMERIC, _compare("lt"), _np2(np.less), result="bool"),
    Rule("less_equal", ("LessOrEqual",), 2, NUMERIC, _compare("le"), _np2(np.less_equal),
         result="bool"),
    Rule("greater", ("Greater",), 2, NUMERIC, _compare("gt"), _np2(np.greater),
         result="bool"),
    Rule("greater_equal", ("GreaterOrEqual",), 2, NUMERIC, _compare("ge"),
         _np2(np.greater_equal), result="bool"),
    Rule("isnan", ("IsNaN",), 1, FLOAT, _isnan, _np1(np.isnan), result="bool"),
    Rule("isinf", ("IsInf",), 1, FLOAT, _isinf, _np_isinf, result="bool",
         params=(("detect_negative", 1), ("detect_positive", 1))),
    # selection and conversion
    Rule("where", ("Where",), 3, ANY, _where, lambda a, p, dt: np.where(a[0], a[1], a[2]),
         signature="where"),
    Rule("cast", ("Cast", "CastLike"), 1, ANY, _cast,
         lambda a, p, dt: np_cast(a[0], dt, *_cast_params(p)), result="cast",
         signature="cast", params=(("saturate", 1), ("round_mode", 0)),
         params_optional=True),
    Rule("bitcast", ("BitCast",), 1, ANY, _bitcast,
         lambda a, p, dt: (a[0] != 0 if dt == np.bool_ else a[0].view(dt)),
         result="cast", signature="cast"),
    # activations
    Rule("leaky_relu", ("LeakyRelu",), 1, FLOAT, _leaky_relu,
         lambda a, p, dt: np.where(a[0] < 0, a[0] * p[0], a[0]).astype(a[0].dtype),
         params=(("alpha", 0.01),)),
    Rule("prelu", ("PRelu",), 2, NUMERIC, _prelu,
         lambda a, p, dt: np.where(a[0] < 0, a[0] * a[1], a[0]).astype(a[0].dtype)),
    Rule("elu", ("Elu",), 1, FLOAT, _elu,
         lambda a, p, dt: np.where(a[0] < 0, p[0] * (np.exp(a[0]) - 1), a[0]).astype(
             a[0].dtype), params=(("alpha", 1.0),)),
    Rule("selu", ("Selu",), 1, FLOAT, _selu, _np_selu,
         params=(("alpha", 1.67326319217681884765625), ("gamma", 1.05070102214813232421875))),
    Rule("celu", ("Celu",), 1, FLOAT, _celu, _np_celu, params=(("alpha", 1.0),)),
    Rule("hard_sigmoid", ("HardSigmoid",), 1, FLOAT, _hard_sigmoid,
         lambda a, p, dt: _np_hard_sigmoid(a[0], p[0], p[1]),
         params=(("alpha", 0.2), ("beta", 0.5))),
    Rule("hard_swish", ("HardSwish",), 1, FLOAT, _hard_swish,
         lambda a, p, dt: a[0] * _np_hard_sigmoid(a[0], 1 / 6, 0.5)),
    Rule("softplus", ("Softplus",), 1, FLOAT, _softplus, _np1(_np_softplus)),
    Rule("softsign", ("Softsign",), 1, FLOAT, _softsign,
         lambda a, p, dt: a[0] / (1 + np.abs(a[0]))),
    Rule("thresholded_relu", ("ThresholdedRelu",), 1, FLOAT, _thresholded_relu,
         lambda a, p, dt: np.where(a[0] > p[0], a[0], 0).astype(a[0].dtype),
         params=(("alpha", 1.0),)),
    Rule("shrink", ("Shrink",), 1, NUMERIC, _shrink, _np_shrink,
         params=(("bias", 0.0), ("lambd", 0.5))),
    Rule("mish", ("Mish",), 1, FLOAT, _mish,
         lambda a, p, dt: a[0] * np.tanh(_np_softplus(a[0]))),
)

BY_KIND: dict[str, Rule] = {r.kind: r for r in RULES}
BY_ONNX: dict[str, Rule] = {name: r for r in RULES for name in r.onnx}


def evaluate(kind: str, args: list[np.ndarray], params: tuple[float, ...],
             dtype: np.dtype) -> np.ndarray:
    """The numpy value of `kind` on constant operands (compile-time folding only)."""
    return BY_KIND[kind].evaluate(args, params, dtype)
