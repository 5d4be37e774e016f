"""Scalar casts in the llvm dialect for convert-to-llvm: integer resizes, int <-> float,
the portable (libcall-free) f16/bf16 conversions and fma, and the minifloat (8-/4-bit
float) conversions on integer bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.dialects import arith, llvm, math
from xdsl.dialects.builtin import (
    AnyFloat,
    BFloat16Type,
    Float4E2M1FNType,
    Float8E4M3FNType,
    Float8E4M3FNUZType,
    Float8E5M2FNUZType,
    Float8E5M2Type,
    Float8E8M0FNUType,
    Float16Type,
    Float32Type,
    Float64Type,
    IntegerAttr,
    IntegerType,
    f32,
    f64,
    i1,
    i8,
    i16,
    i32,
    i64,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.pattern_rewriter import PatternRewriter, RewritePattern

from dialects.graph.base import numpy_dtype_of
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


# llvmlite has no bfloat type: a bf16 is carried as its i16 bits (llvm_types.convert_type),
# so in these conversions an i16 where a float is expected is a bf16, and arith/math on
# bf16 computes in f32 with one rounding per op (EmulateBF16, as ml_dtypes does).


def is_narrow_float(t: Attribute) -> bool:
    return isinstance(t, Float16Type | BFloat16Type) or t == i16


def _is_bf16(t: Attribute) -> bool:
    return isinstance(t, BFloat16Type) or t == i16


def bf16_to_f32(b: Builder, bits: SSAValue) -> SSAValue:
    """bf16 (its i16 bits) -> f32, exact: the bits are f32's top half."""
    wide = b.add(llvm.ShlOp(b.add(llvm.ZExtOp(bits, i32)), b.const(16, i32)))
    return b.add(llvm.BitcastOp(wide, f32))


_BF16_NATIVE = (
    arith.ExtFOp, arith.TruncFOp, arith.SIToFPOp, arith.UIToFPOp, arith.FPToSIOp,
    arith.FPToUIOp, arith.BitcastOp, arith.ConstantOp, arith.SelectOp, math.FmaOp)


class EmulateBF16(RewritePattern):
    """arith/math ops on bf16 (other than conversions, constants, select and fma, which
    convert-to-llvm lowers on the bits) -> the f32 op between extf and truncf."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not op.name.startswith(("arith.", "math.")) or isinstance(op, _BF16_NATIVE):
            return
        types = [v.type for v in (*op.operands, *op.results)]
        if not any(isinstance(t, BFloat16Type) for t in types):
            return
        new_ops: list[Operation] = []
        operands = []
        for v in op.operands:
            if isinstance(v.type, BFloat16Type):
                new_ops.append(arith.ExtFOp(v, f32))
                v = new_ops[-1].results[0]
            operands.append(v)
        wide = op.create(
            operands=operands,
            result_types=[f32 if isinstance(r.type, BFloat16Type) else r.type
                          for r in op.results],
            properties=dict(op.properties), attributes=dict(op.attributes))
        new_ops.append(wide)
        results = []
        for old, new in zip(op.results, wide.results, strict=True):
            if isinstance(old.type, BFloat16Type):
                new_ops.append(arith.TruncFOp(new, old.type))
                new = new_ops[-1].results[0]
            results.append(new)
        rewriter.replace_op(op, new_ops, results)


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
    """f32 -> bf16 (its i16 bits), round to nearest even, on the bits (carries into the
    exponent give the next binade or inf); NaN keeps sign and top payload and is
    quieted."""
    bits = b.add(llvm.BitcastOp(x, i32))
    sixteen = b.const(16, i32)
    lsb = b.add(llvm.AndOp(b.add(llvm.LShrOp(bits, sixteen)), b.const(1, i32)))
    rounded = b.add(llvm.AddOp(bits, b.add(llvm.AddOp(lsb, b.const(0x7FFF, i32)))))
    quiet = b.add(llvm.OrOp(bits, b.const(0x00400000, i32)))
    nan = b.add(llvm.FCmpOp(x, x, "uno"))
    res = b.add(llvm.SelectOp(nan, quiet, rounded))
    return b.add(llvm.TruncOp(b.add(llvm.LShrOp(res, sixteen)), i16))


def narrow_float(b: Builder, x: SSAValue, t: Attribute) -> SSAValue:
    """Round f32/f64 `x` to f16/bf16 `t`, once, to nearest even."""
    if isinstance(x.type, Float64Type):
        x = _f64_to_f32_odd(b, x)
    if _is_bf16(t):
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
    if _is_bf16(x.type):
        x = bf16_to_f32(b, x)
        return x if isinstance(t, Float32Type) else b.add(llvm.FPExtOp(x, t))
    if is_narrow_float(x.type) and not isinstance(t, Float32Type):
        x = b.add(llvm.FPExtOp(x, f32))
    return b.add(llvm.FPExtOp(x, t))


def fp_to_int(b: Builder, src: SSAValue, t: Attribute, signed: bool) -> SSAValue:
    """fptosi/fptoui, saturating; f16/bf16 are widened to f32 first (exact, and there is no
    narrow conversion instruction to rely on)."""
    if is_narrow_float(src.type):
        src = widen_float(b, src, f32)
    kind = "fptosi" if signed else "fptoui"
    name = f"llvm.{kind}.sat.{type_suffix(t)}.{type_suffix(src.type)}"
    return b.add(llvm.CallIntrinsicOp(name, [src], [t]))


# Minifloats (the 8-bit floats and f4E2M1FN) have no LLVM type: they are i8 bit patterns
# and every conversion is integer arithmetic on the f32 bits, exact and portable. The
# results follow ml_dtypes (what ONNX's reference and test data use): round to nearest
# even; an overflow gives the format's inf, or NaN where it has no inf (saturation is a
# clamp before the conversion, see dialects/graph/elementwise_table.cast_scalar).


@dataclass(frozen=True)
class Minifloat:
    """A small float format: exponent/mantissa bits, bias, how it encodes NaN ("fn": all
    ones, "ieee": inf and NaN like IEEE, "fnuz": the negative zero pattern, "none") and
    its largest finite magnitude code."""

    ebits: int
    mbits: int
    bias: int
    nan: str
    max_code: int

    @property
    def sign_shift(self) -> int:
        return self.ebits + self.mbits


MINIFLOAT_FORMATS: dict[type[Attribute], Minifloat] = {
    Float8E4M3FNType: Minifloat(4, 3, 7, "fn", 0x7E),
    Float8E4M3FNUZType: Minifloat(4, 3, 8, "fnuz", 0x7F),
    Float8E5M2Type: Minifloat(5, 2, 15, "ieee", 0x7B),
    Float8E5M2FNUZType: Minifloat(5, 2, 16, "fnuz", 0x7F),
    Float4E2M1FNType: Minifloat(2, 1, 1, "none", 0x7),
}


def float_bits(value: float, t: Attribute) -> int:
    """The bit pattern of the constant `value` in bf16 or a minifloat (ml_dtypes rounds)."""
    dtype = numpy_dtype_of(t)
    bits = np.array(value, np.float64).astype(dtype).reshape(1).view(f"u{dtype.itemsize}")
    return int(bits[0])


def _sel(b: Builder, c: SSAValue, x: SSAValue | int, y: SSAValue | int) -> SSAValue:
    x = b.const(x, i32) if isinstance(x, int) else x
    y = b.const(y, i32) if isinstance(y, int) else y
    return b.add(llvm.SelectOp(c, x, y))


def _f32_to_minifloat_bits(b: Builder, x: SSAValue, fmt: Minifloat) -> SSAValue:
    """f32 -> the format's code (in an i32), RNE, overflow to inf or NaN."""
    bits = b.add(llvm.BitcastOp(x, i32))
    sign = b.add(llvm.LShrOp(bits, b.const(31, i32)))
    a = b.add(llvm.AndOp(bits, b.const(0x7FFFFFFF, i32)))
    shift = 23 - fmt.mbits
    # normal results: round the f32 bits at the format's last mantissa bit (a carry
    # moves into the exponent), then rebias
    lsb = b.add(llvm.AndOp(b.add(llvm.LShrOp(a, b.const(shift, i32))), b.const(1, i32)))
    rounded = b.add(llvm.AddOp(a, b.add(llvm.AddOp(lsb, b.const((1 << (shift - 1)) - 1, i32)))))
    normal = b.add(llvm.SubOp(b.add(llvm.LShrOp(rounded, b.const(shift, i32))),
                              b.const((127 - fmt.bias) << fmt.mbits, i32)))
    # subnormal results: |x| in units of the smallest subnormal (an exact power-of-two
    # scaling), rounded to an integer by adding 2^23 (RNE, read off the bits); 2^mbits, the
    # smallest normal code, comes out right too
    scale = float(2.0 ** (fmt.bias + fmt.mbits - 1))
    scaled = b.add(llvm.FMulOp(b.add(llvm.BitcastOp(a, f32)), b.const(scale, f32)))
    biased = b.add(llvm.BitcastOp(b.add(llvm.FAddOp(scaled, b.const(2.0**23, f32))), i32))
    sub = b.add(llvm.SubOp(biased, b.const(0x4B000000, i32)))  # the bits of 2^23
    tiny = icmp(b, "ult", a, b.const((128 - fmt.bias) << 23, i32))
    code = _sel(b, tiny, sub, normal)
    over = icmp(b, "ugt", code, b.const(fmt.max_code, i32))
    nan = icmp(b, "ugt", a, b.const(0x7F800000, i32))
    top = b.add(llvm.ShlOp(sign, b.const(fmt.sign_shift, i32)))
    if fmt.nan == "fnuz":  # no -0; NaN and overflow are the -0 pattern
        signed = _sel(b, icmp(b, "eq", code, b.const(0, i32)), 0, b.add(llvm.OrOp(top, code)))
        return _sel(b, b.add(llvm.OrOp(over, nan)), 1 << fmt.sign_shift, signed)
    if fmt.nan == "none":  # saturates; NaN becomes a zero of the opposite sign (ml_dtypes)
        mag = _sel(b, over, fmt.max_code, code)
        flipped = b.add(llvm.XOrOp(top, b.const(1 << fmt.sign_shift, i32)))
        return _sel(b, nan, flipped, b.add(llvm.OrOp(top, mag)))
    ovf, qnan = (0x7F, 0x7F) if fmt.nan == "fn" else (fmt.max_code + 1, 0x7E)
    mag = _sel(b, nan, qnan, _sel(b, over, ovf, code))
    return b.add(llvm.OrOp(top, mag))


def _minifloat_bits_to_f32(b: Builder, code: SSAValue, fmt: Minifloat) -> SSAValue:
    """The format's code (i32) -> f32, exact."""
    mag = b.add(llvm.AndOp(code, b.const((1 << fmt.sign_shift) - 1, i32)))
    sign = b.add(llvm.ShlOp(b.add(llvm.LShrOp(code, b.const(fmt.sign_shift, i32))),
                            b.const(31, i32)))
    normal = b.add(llvm.AddOp(b.add(llvm.ShlOp(mag, b.const(23 - fmt.mbits, i32))),
                              b.const((127 - fmt.bias) << 23, i32)))
    unit = float(2.0 ** (1 - fmt.bias - fmt.mbits))
    sub_f = b.add(llvm.FMulOp(b.add(llvm.SIToFPOp(mag, f32)), b.const(unit, f32)))
    sub = b.add(llvm.BitcastOp(sub_f, i32))
    tiny = icmp(b, "ult", mag, b.const(1 << fmt.mbits, i32))
    value = b.add(llvm.OrOp(sign, _sel(b, tiny, sub, normal)))
    if fmt.nan == "fn":
        value = _sel(b, icmp(b, "eq", mag, b.const(0x7F, i32)),
                     b.add(llvm.OrOp(sign, b.const(0x7FC00000, i32))), value)
    elif fmt.nan == "ieee":
        inf_code = fmt.max_code + 1
        special = _sel(b, icmp(b, "eq", mag, b.const(inf_code, i32)), 0x7F800000, 0x7FC00000)
        value = _sel(b, icmp(b, "uge", mag, b.const(inf_code, i32)),
                     b.add(llvm.OrOp(sign, special)), value)
    elif fmt.nan == "fnuz":
        value = _sel(b, icmp(b, "eq", code, b.const(1 << fmt.sign_shift, i32)),
                     b.const(0xFFC00000 - (1 << 32), i32), value)
    return b.add(llvm.BitcastOp(value, f32))


def _e8m0_to_f32(b: Builder, code: SSAValue) -> SSAValue:
    """2^(code - 127); code 0 is the f32 subnormal 2^-127, 0xFF is NaN."""
    normal = b.add(llvm.ShlOp(code, b.const(23, i32)))
    value = _sel(b, icmp(b, "eq", code, b.const(0, i32)), 0x00400000, normal)
    value = _sel(b, icmp(b, "eq", code, b.const(0xFF, i32)), 0x7FC00000, value)
    return b.add(llvm.BitcastOp(value, f32))


def minifloat_to_float(b: Builder, v: SSAValue, src: Attribute, t: Attribute) -> SSAValue:
    """extf from a minifloat (`v` its i8 bits) to f16/bf16/f32/f64: exact to f32, then
    one rounding (only e8m0 can need one, to f16/bf16)."""
    code = b.add(llvm.ZExtOp(v, i32))
    if isinstance(src, Float8E8M0FNUType):
        x = _e8m0_to_f32(b, code)
    else:
        x = _minifloat_bits_to_f32(b, code, MINIFLOAT_FORMATS[type(src)])
    if is_narrow_float(t):
        return narrow_float(b, x, t)
    return widen_float(b, x, t)


def float_to_minifloat(b: Builder, x: SSAValue, t: Attribute) -> SSAValue:
    """truncf of f16/bf16/f32/f64 to a minifloat's i8 bits, rounded once: f16/bf16 widen
    exactly to f32, f64 rounds to odd into f32 first (as narrow_float; <= 4 significand
    bits here)."""
    if type(t) not in MINIFLOAT_FORMATS:
        raise ValueError(f"no rounding conversion to {t} (cast to it from f32 bits)")
    if isinstance(x.type, Float64Type):
        x = _f64_to_f32_odd(b, x)
    elif not isinstance(x.type, Float32Type):
        x = widen_float(b, x, f32)
    code = _f32_to_minifloat_bits(b, x, MINIFLOAT_FORMATS[type(t)])
    return b.add(llvm.TruncOp(code, i8))
