"""Constants of the inline ``exp``/``expm1`` that C kernels use (templates/exp.h.j2).

The algorithm is the textbook one, written so that a compiler vectorises it:
``x = k ln2 + r`` with ``|r| <= ln2/2`` (Cody-Waite: ``ln2 = hi + lo`` where
``k*hi`` is exact), ``expm1(r)`` by a polynomial, and ``2^k`` built in the
exponent bits (for exp as ``2^k1 * 2^k2``) so that results near overflow and
in the subnormal range come out right.  ``expm1(r) = r + r^2 q(r)`` where ``q``
is a Chebyshev fit (mpmath, 50 digits) evaluated by Estrin's scheme, so that
its depth is log2 of the degree.  Constants are exact in SymPy/mpmath and
printed once per dtype.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import mpmath
import sympy as sp

from .printing import float_literal


@dataclass(frozen=True)
class FloatFormat:
    """IEEE binary format of one dtype, and the degree of expm1's polynomial."""

    bits: int          # storage width
    mantissa: int      # stored fraction bits
    bias: int
    hi_bits: int       # fraction bits of ln2's high part: k*hi is exact for |k| < 2^(p - hi_bits)
    degree: int        # degree of q in expm1(r) = r + r^2 q(r)
    lowest: float      # exp(x) rounds to 0 below this
    highest: float     # exp(x) overflows above this


FORMATS = {
    "float64": FloatFormat(64, 52, 1023, 32, 10, -746.0, 710.0),
    "float32": FloatFormat(32, 23, 127, 16, 5, -104.0, 89.0),
}
#: |r| <= ln2/2 after the reduction; the fit covers a little more.
REDUCED_RANGE = 0.35


def _q(r):
    """(expm1(r) - r) / r^2 by its series: exact at r = 0 too."""
    return mpmath.fsum(r ** j / mpmath.factorial(j + 2) for j in range(40))


@lru_cache(maxsize=None)
def polynomial(dtype: str) -> tuple[tuple[float, ...], float]:
    """Coefficients (lowest power first) of the Chebyshev fit of q on
    ``[-0.35, 0.35]``, and the fit's relative error bound on expm1 in ulp."""
    fmt = FORMATS[dtype]
    with mpmath.workdps(50):
        coeffs, err = mpmath.chebyfit(_q, [-REDUCED_RANGE, REDUCED_RANGE], fmt.degree + 1,
                                      error=True)
        ulps = float(err * REDUCED_RANGE / mpmath.mpf(2) ** -fmt.mantissa)
    return tuple(float(c) for c in reversed(coeffs)), ulps


def estrin(coeffs: list[str], x: str = "r", madd: str = "IONC_MADD") -> list[tuple[str, str]]:
    """``(name, code)`` statements evaluating ``sum coeffs[i] x^i`` by Estrin's
    scheme (depth log2 of the degree, not the degree).  The first statement
    defines ``x2``; the last name holds the value."""
    lines = [(f"{x}2", f"{x} * {x}")]
    terms, power, level = list(coeffs), x, 0
    while len(terms) > 1:
        pairs = [(f"ionc_q{level}_{i // 2}", f"{madd}({terms[i + 1]}, {power}, {terms[i]})")
                 for i in range(0, len(terms) - 1, 2)]
        terms = [name for name, _ in pairs] + ([terms[-1]] if len(terms) % 2 else [])
        lines += pairs
        level += 1
        if len(terms) > 1 and level > 1:
            lines.append((f"{x}{2 ** level}", f"{power} * {power}"))
        power = f"{x}{2 ** level}"
    return lines if len(coeffs) > 1 else lines + [("ionc_q", terms[0])]


def exp_constants(dtype: str) -> dict:
    """Template context for exp.h.j2: literals of ``dtype``, integer constants and
    the statements of the polynomial."""
    fmt = FORMATS[dtype]
    ln2 = sp.log(2)
    hi = sp.floor(ln2 * 2 ** fmt.hi_bits) / 2 ** fmt.hi_bits
    lo = (ln2 - hi).evalf(40)
    shifter = sp.Rational(3, 2) * 2 ** fmt.mantissa
    suffix = "ULL" if fmt.bits == 64 else "U"
    coeffs, _ = polynomial(dtype)
    return dict(
        exp_uint=f"uint{fmt.bits}_t",
        exp_shifter=float_literal(shifter, dtype),
        exp_shifter_bits="0x{:X}".format(
            (fmt.bias + fmt.mantissa) << fmt.mantissa | 1 << (fmt.mantissa - 1)) + suffix,
        exp_inv_ln2=float_literal((1 / ln2).evalf(40), dtype),
        exp_ln2_hi=float_literal(hi, dtype),
        exp_ln2_lo=float_literal(lo, dtype),
        exp_lowest=float_literal(fmt.lowest, dtype),
        exp_highest=float_literal(fmt.highest, dtype),
        exp_mantissa=fmt.mantissa,
        exp_bias=fmt.bias,
        exp_big=float_literal(fmt.mantissa + 3, dtype),
        exp_poly=estrin([float_literal(c, dtype) for c in coeffs]),
        exp_poly_degree=fmt.degree,
        exp_wide=_wide_reduction(fmt) if dtype == "float32" else None,
    )


def _wide_reduction(fmt: FloatFormat) -> dict:
    """Constants of a float32 kernel's reduction of a double argument: in double,
    one ln2 (its rounding times |k| <= 2^8 is far below float's rounding of r); k
    below which exp rounds to 0 (2^k (1 + p) < 2^-150 for k < -151)."""
    wide = FORMATS["float64"]
    ln2 = sp.log(2)
    return dict(
        shifter=float_literal(sp.Rational(3, 2) * 2 ** wide.mantissa, "float64"),
        inv_ln2=float_literal((1 / ln2).evalf(40), "float64"),
        ln2=float_literal(ln2.evalf(40), "float64"),
        highest=float_literal(fmt.highest, "float64"),
        k_zero=float_literal(-(fmt.bias + fmt.mantissa + 1), "float32"),
    )
