"""Scalar casts in the llvm dialect for convert-to-llvm: integer resizes, int <-> float,
and the portable (libcall-free) f16/bf16 conversions and fma.
"""

from __future__ import annotations

from xdsl.dialects import llvm
from xdsl.dialects.builtin import (
    AnyFloat,
    BFloat16Type,
    Float16Type,
    Float32Type,
    Float64Type,
    IntegerAttr,
    IntegerType,
    bf16,
    f32,
    f64,
    i1,
    i16,
    i32,
    i64,
)
from xdsl.ir import Attribute, SSAValue

from lowering.llvm_types import Builder


def icmp(b: Builder, pred: str, lhs: SSAValue, rhs: SSAValue) -> SSAValue:
    flag = llvm.ICmpPredicateFlag(pred)
    return b.add(llvm.ICmpOp(lhs, rhs, IntegerAttr(llvm.ALL_ICMP_FLAGS.index(flag), i64)))


def type_suffix(t: Attribute) -> str:
    if isinstance(t, IntegerType):
        return f"i{t.width.data}"
    if isinstance(t, AnyFloat):
        return f"f{t.bitwidth}"
    raise ValueError(f"no intrinsic suffix for {t}")


def bitwidth(t: Attribute) -> int:
    if isinstance(t, IntegerType):
        return t.width.data
    assert isinstance(t, AnyFloat)
    return t.bitwidth


def int_resize(b: Builder, v: SSAValue, t: Attribute, signed: bool) -> SSAValue:
    src, dst = bitwidth(v.type), bitwidth(t)
    if src == dst:
        return v
    if src > dst:
        return b.add(llvm.TruncOp(v, t))  # type: ignore[arg-type]
    return b.add(llvm.SExtOp(v, t) if signed else llvm.ZExtOp(v, t))  # type: ignore[arg-type]


def uitofp(b: Builder, v: SSAValue, t: Attribute) -> SSAValue:
    """uitofp without the llvm op xDSL lacks: exact for < 64 bits via zext + sitofp."""
    if bitwidth(v.type) < 64:
        return b.add(llvm.SIToFPOp(int_resize(b, v, i64, signed=False), t))
    # top bit set: halve (keeping the sticky bit for rounding), convert, double
    zero = b.const(0, i64)
    neg = icmp(b, "slt", v, zero)
    one = b.const(1, i64)
    half = b.add(llvm.OrOp(b.add(llvm.LShrOp(v, one)), b.add(llvm.AndOp(v, one))))
    f_half = b.add(llvm.SIToFPOp(half, t))
    doubled = b.add(llvm.FAddOp(f_half, f_half))
    direct = b.add(llvm.SIToFPOp(v, t))
    return b.add(llvm.SelectOp(neg, doubled, direct))


# Portable float conversions. x86 CPUs without AVX512-FP16 (all AMD, most Intel) have
# instructions only for f32 <-> f16 (F16C) and none for rounding to bf16: LLVM lowers
# fptrunc f64 -> f16, anything -> bf16 and i128 -> f16 to compiler-rt libcalls
# (__truncdfhf2, __truncsfbf2, __floattihf ...) that MCJIT cannot resolve. So the only
# narrow-float conversions emitted here are f32 <-> f16 fptrunc/fpext (one instruction with
# F16C; compiler/runtime/jit.py provides the routines for CPUs without it), integer ops and
# f32/f64 arithmetic, all rounding exactly like IEEE round-to-nearest-even hardware.


def is_narrow_float(t: Attribute) -> bool:
    return isinstance(t, Float16Type | BFloat16Type)


def _fabs(b: Builder, x: SSAValue) -> SSAValue:
    return b.add(llvm.CallIntrinsicOp(f"llvm.fabs.{type_suffix(x.type)}", [x], [x.type]))


def _round_to_odd(b: Builder, rne: SSAValue, inexact: SSAValue, away: SSAValue) -> SSAValue:
    """Turn a round-to-nearest-even result into round-to-odd (truncate, then set the last
    bit if inexact): `away` says RNE rounded away from zero, then truncation is bits - 1."""
    it = IntegerType(bitwidth(rne.type))
    bits = b.add(llvm.BitcastOp(rne, it))
    down = b.add(llvm.SubOp(bits, b.add(llvm.ZExtOp(away, it))))
    odd = b.add(llvm.OrOp(down, b.const(1, it)))
    return b.add(llvm.BitcastOp(b.add(llvm.SelectOp(inexact, odd, bits)), rne.type))


def _f64_to_f32_odd(b: Builder, x: SSAValue) -> SSAValue:
    """f64 -> f32 rounded to odd. Rounding that to nearest-even in a format with at most 22
    significand bits (f16: 11, bf16: 8) equals rounding x directly, so f64 -> f16 rounds
    once, exactly as hardware would (Boldo & Melquiond, "Emulation of FMA and correctly
    rounded sums: proved algorithms using rounding to odd", 2008).

    NaN and infinities are exact (`one` is false for NaN); an overflow to inf becomes
    FLT_MAX, which still overflows the narrow format; signed zeros and tiny values keep
    their sign."""
    f = b.add(llvm.FPTruncOp(x, f32))
    back = b.add(llvm.FPExtOp(f, f64))
    inexact = b.add(llvm.FCmpOp(back, x, "one"))
    away = b.add(llvm.FCmpOp(_fabs(b, back), _fabs(b, x), "ogt"))
    return _round_to_odd(b, f, inexact, away)


def _f32_to_bf16(b: Builder, x: SSAValue) -> SSAValue:
    """f32 -> bf16, round to nearest even, on the bits (carries into the exponent give
    the next binade or inf); NaN keeps sign and top payload and is quieted."""
    bits = b.add(llvm.BitcastOp(x, i32))
    sixteen = b.const(16, i32)
    lsb = b.add(llvm.AndOp(b.add(llvm.LShrOp(bits, sixteen)), b.const(1, i32)))
    rounded = b.add(llvm.AddOp(bits, b.add(llvm.AddOp(lsb, b.const(0x7FFF, i32)))))
    quiet = b.add(llvm.OrOp(bits, b.const(0x00400000, i32)))
    nan = b.add(llvm.FCmpOp(x, x, "uno"))
    res = b.add(llvm.SelectOp(nan, quiet, rounded))
    top = b.add(llvm.TruncOp(b.add(llvm.LShrOp(res, sixteen)), i16))
    return b.add(llvm.BitcastOp(top, bf16))


def narrow_float(b: Builder, x: SSAValue, t: Attribute) -> SSAValue:
    """Round f32/f64 `x` to f16/bf16 `t`, once, to nearest even."""
    if isinstance(x.type, Float64Type):
        x = _f64_to_f32_odd(b, x)
    if isinstance(t, BFloat16Type):
        return _f32_to_bf16(b, x)
    return b.add(llvm.FPTruncOp(x, t))


def _u64_to_f64_odd(b: Builder, u: SSAValue) -> SSAValue:
    """Unsigned i64 -> f64 rounded to odd: keep the top 53 significant bits, OR a sticky
    bit into the last kept one; the result has <= 53 significant bits, so it converts
    exactly."""
    lz = b.add(llvm.CallIntrinsicOp("llvm.ctlz.i64", [u, b.const(0, i1)], [i64]))
    eleven = b.const(11, i64)
    dropped = b.add(
        llvm.SelectOp(icmp(b, "ult", lz, eleven), b.add(llvm.SubOp(eleven, lz)), b.const(0))
    )
    low = b.add(llvm.SubOp(b.add(llvm.ShlOp(b.const(1), dropped)), b.const(1)))
    sticky = b.add(llvm.ZExtOp(icmp(b, "ne", b.add(llvm.AndOp(u, low)), b.const(0)), i64))
    kept = b.add(llvm.AndOp(u, b.add(llvm.XOrOp(low, b.const(-1)))))
    odd = b.add(llvm.OrOp(kept, b.add(llvm.ShlOp(sticky, dropped))))
    return uitofp(b, odd, f64)


def int_to_narrow_float(b: Builder, v: SSAValue, t: Attribute, signed: bool) -> SSAValue:
    """iN -> f16/bf16, rounded once.

    f16: through f32. Integers below 2^24 are exact in f32, and any larger one rounds to
    at least 2^24, which overflows f16 to inf exactly as the integer itself does.
    bf16 (8 significand bits, f32's range) needs an exact intermediate: integers of up to
    53 bits are exact in f64; i64 goes through a round-to-odd f64 (_u64_to_f64_odd)."""
    width = bitwidth(v.type)
    if isinstance(t, Float16Type):
        f = b.add(llvm.SIToFPOp(v, f32)) if signed else uitofp(b, v, f32)
        return b.add(llvm.FPTruncOp(f, t))
    if width <= 24:
        f = b.add(llvm.SIToFPOp(v, f32)) if signed else uitofp(b, v, f32)
        return _f32_to_bf16(b, f)
    if width <= 53:
        f = b.add(llvm.SIToFPOp(int_resize(b, v, i64, signed), f64))
        return narrow_float(b, f, t)
    v = int_resize(b, v, i64, signed)
    if not signed:
        return narrow_float(b, _u64_to_f64_odd(b, v), t)
    neg = icmp(b, "slt", v, b.const(0))
    magnitude = b.add(llvm.SelectOp(neg, b.add(llvm.SubOp(b.const(0), v)), v))
    f = _u64_to_f64_odd(b, magnitude)
    return narrow_float(b, b.add(llvm.SelectOp(neg, b.add(llvm.FNegOp(f)), f)), t)


def narrow_fma(b: Builder, x: SSAValue, y: SSAValue, z: SSAValue) -> SSAValue:
    """fma on f16/bf16 with one rounding. x*y is exact in f64 (<= 22 significand bits, no
    overflow); the sum's RNE error is exact by TwoSum (Knuth), which gives the f64
    round-to-odd of x*y+z, and that rounds correctly to the narrow type. (LLVM's own
    promotion, an f64 fma then fptrunc, is a libcall, and for bf16 a double rounding:
    x*y on a bf16 tie plus a tiny z.)"""
    t = x.type
    x, y, z = (widen_float(b, v, f64) for v in (x, y, z))
    p = b.add(llvm.FMulOp(x, y))
    s = b.add(llvm.FAddOp(p, z))
    bv = b.add(llvm.FSubOp(s, p))
    av = b.add(llvm.FSubOp(s, bv))
    err = b.add(llvm.FAddOp(b.add(llvm.FSubOp(p, av)), b.add(llvm.FSubOp(z, bv))))
    inexact = b.add(llvm.FCmpOp(err, b.const(0.0, f64), "one"))
    # rounded away from zero iff the error points back towards zero (sign bits differ)
    signs = b.add(llvm.XOrOp(b.add(llvm.BitcastOp(s, i64)), b.add(llvm.BitcastOp(err, i64))))
    away = icmp(b, "slt", signs, b.const(0))
    return narrow_float(b, _round_to_odd(b, s, inexact, away), t)


def widen_float(b: Builder, x: SSAValue, t: Attribute) -> SSAValue:
    """Exact float extension; f16/bf16 go through f32 (fpext half -> double is a libcall
    on CPUs without F16C, and no cheaper anywhere)."""
    if x.type == t:
        return x
    if is_narrow_float(x.type) and not isinstance(t, Float32Type):
        x = b.add(llvm.FPExtOp(x, f32))
    return b.add(llvm.FPExtOp(x, t))


def fp_to_int(b: Builder, src: SSAValue, t: Attribute, signed: bool) -> SSAValue:
    """fptosi/fptoui, saturating; f16/bf16 are widened to f32 first (exact, and there is no
    narrow conversion instruction to rely on)."""
    if is_narrow_float(src.type):
        src = b.add(llvm.FPExtOp(src, f32))
    kind = "fptosi" if signed else "fptoui"
    name = f"llvm.{kind}.sat.{type_suffix(t)}.{type_suffix(src.type)}"
    return b.add(llvm.CallIntrinsicOp(name, [src], [t]))
