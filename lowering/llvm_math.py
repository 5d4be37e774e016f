"""Inline f32 exp, tanh and erf for convert-to-llvm: branch-free code LLVM vectorizes.

LLVM lowers `llvm.exp.f32` and libm's `tanhf`/`erff` to a call per element, which also
keeps the loop vectorizer away from every loop that contains one (softmax, sigmoid, the
LSTM and GRU gates, both forms of GELU). LLVM has no vector math library to call here, so
Kiln writes these two itself, in the way of Cephes' expf/tanhf (and of the polynomial
kernels in onnxruntime's MLAS): range reduction plus a short polynomial, from fmul, fadd,
fcmp, select and integer bit operations only. Errors stay within 1.5 ulp of the exact
result (measured over the whole range against numpy in float64: 0.91 for exp, 1.10 for
tanh; test/lowering/test_llvm_math.py), erf within 3 ulp and 1.8e-7 absolute (its tail
is Abramowitz and Stegun 7.1.26); NaN, infinities, -0, overflow and underflow
to subnormals and zero behave as in libm.
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects import llvm
from xdsl.dialects.builtin import f32, i32
from xdsl.ir import SSAValue

from lowering.llvm_types import Builder


def _c(b: Builder, value: float) -> SSAValue:
    return b.const(float(np.float32(value)), f32)  # exactly representable in f32


def _fmul(b: Builder, x: SSAValue, y: SSAValue) -> SSAValue:
    return b.add(llvm.FMulOp(x, y))


def _fadd(b: Builder, x: SSAValue, y: SSAValue) -> SSAValue:
    return b.add(llvm.FAddOp(x, y))


def _poly(b: Builder, x: SSAValue, coefficients: list[float]) -> SSAValue:
    """Horner: coefficients from the highest power down to the constant."""
    acc = _c(b, coefficients[0])
    for c in coefficients[1:]:
        acc = _fadd(b, _fmul(b, acc, x), _c(b, c))
    return acc


def _pow2(b: Builder, n: SSAValue) -> SSAValue:
    """2**n as f32 for an i32 n in [-126, 127] (the exponent field)."""
    biased = b.add(llvm.AddOp(n, b.const(127, i32)))
    bits = b.add(llvm.ShlOp(biased, b.const(23, i32)))
    return b.add(llvm.BitcastOp(bits, f32))


_LOG2E = 1.44269504088896341
_LN2_HI = 0.693359375  # ln 2 split so that n * _LN2_HI is exact for |n| <= 2^8
_LN2_LO = -2.12194440e-4
_EXP_POLY = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
             1.6666665459e-1, 5.0000001201e-1]


def exp_f32(b: Builder, x: SSAValue) -> SSAValue:
    """e**x: x = n ln2 + r with |r| <= ln2/2, e**r by a degree-7 polynomial, then
    scaled by 2**n in two halves so that results down to the subnormals (and overflow to
    inf) come out right."""
    low = b.add(llvm.CallIntrinsicOp("llvm.maxnum.f32", [x, _c(b, -104.0)], [f32]))
    clamped = b.add(llvm.CallIntrinsicOp("llvm.minnum.f32", [low, _c(b, 88.8)], [f32]))
    n = b.add(llvm.CallIntrinsicOp("llvm.rint.f32", [_fmul(b, clamped, _c(b, _LOG2E))],
                                   [f32]))
    r = b.add(llvm.FSubOp(clamped, _fmul(b, n, _c(b, _LN2_HI))))
    r = b.add(llvm.FSubOp(r, _fmul(b, n, _c(b, _LN2_LO))))
    r2 = _fmul(b, r, r)
    p = _fadd(b, _fadd(b, _fmul(b, _poly(b, r, _EXP_POLY), r2), r), _c(b, 1.0))
    ni = b.add(llvm.CallIntrinsicOp("llvm.fptosi.sat.i32.f32", [n], [i32]))  # |n| <= 150
    half = b.add(llvm.AShrOp(ni, b.const(1, i32)))
    rest = b.add(llvm.SubOp(ni, half))
    y = _fmul(b, _fmul(b, p, _pow2(b, half)), _pow2(b, rest))
    nan = b.add(llvm.FCmpOp(x, x, "uno"))
    return b.add(llvm.SelectOp(nan, x, y))


_TANH_POLY = [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1,
              -3.33332819422e-1]


def tanh_f32(b: Builder, x: SSAValue) -> SSAValue:
    """tanh x = sign(x) tanh|x|: |x| + |x|^3 P(x^2) below 0.625, else
    1 - 2 / (e^{2|x|} + 1) (no cancellation there); the sign copied last keeps -0."""
    ax = b.add(llvm.CallIntrinsicOp("llvm.fabs.f32", [x], [f32]))
    z = _fmul(b, x, x)
    small = _fadd(b, _fmul(b, _fmul(b, _poly(b, z, _TANH_POLY), z), ax), ax)
    e = exp_f32(b, _fmul(b, ax, _c(b, 2.0)))
    large = b.add(llvm.FSubOp(_c(b, 1.0), b.add(llvm.FDivOp(_c(b, 2.0),
                                                             _fadd(b, e, _c(b, 1.0))))))
    near_zero = b.add(llvm.FCmpOp(ax, _c(b, 0.625), "olt"))
    magnitude = b.add(llvm.SelectOp(near_zero, small, large))
    y = b.add(llvm.CallIntrinsicOp("llvm.copysign.f32", [magnitude, x], [f32]))
    nan = b.add(llvm.FCmpOp(x, x, "uno"))
    return b.add(llvm.SelectOp(nan, x, y))


# erf x / x = 2/sqrt(pi) * sum_n (-x^2)^n / (n! (2n + 1)), used for |x| < 1 (n <= 11:
# the next term is below 4e-10)
_ERF_SERIES = [(-1) ** n / (float(np.prod(np.arange(1, n + 1))) * (2 * n + 1))
               for n in range(11, -1, -1)]
_TWO_OVER_SQRT_PI = 1.1283791670955126
# Abramowitz and Stegun 7.1.26: erfc x ~ t P(t) e^{-x^2}, t = 1 / (1 + 0.3275911 x)
_ERFC_P = 0.3275911
_ERFC_POLY = [1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592]


def erf_f32(b: Builder, x: SSAValue) -> SSAValue:
    """erf x = sign(x) erf|x|: the Taylor series below 1, 1 - erfc above (A&S 7.1.26);
    |x| is clamped to 10, where erf is 1 in f32."""
    ax = b.add(llvm.CallIntrinsicOp("llvm.fabs.f32", [x], [f32]))
    ax = b.add(llvm.CallIntrinsicOp("llvm.minnum.f32", [ax, _c(b, 10.0)], [f32]))
    z = _fmul(b, ax, ax)
    series = [c * _TWO_OVER_SQRT_PI for c in _ERF_SERIES]
    small = _fmul(b, _poly(b, z, series), ax)
    t = b.add(llvm.FDivOp(_c(b, 1.0), _fadd(b, _fmul(b, ax, _c(b, _ERFC_P)), _c(b, 1.0))))
    tail = _fmul(b, _fmul(b, _poly(b, t, _ERFC_POLY), t),
                 exp_f32(b, b.add(llvm.FNegOp(z))))
    large = b.add(llvm.FSubOp(_c(b, 1.0), tail))
    near_zero = b.add(llvm.FCmpOp(ax, _c(b, 1.0), "olt"))
    magnitude = b.add(llvm.SelectOp(near_zero, small, large))
    y = b.add(llvm.CallIntrinsicOp("llvm.copysign.f32", [magnitude, x], [f32]))
    nan = b.add(llvm.FCmpOp(x, x, "uno"))
    return b.add(llvm.SelectOp(nan, x, y))
