"""The C kernels' inline exp, expm1 and exprelr against 50-digit mpmath.

They are the arithmetic of every rate, so they are checked on their own: within
1 ulp over the whole range (near 0, across reduction boundaries, next to
overflow and into the subnormal range), exact limits at +-inf, NaN through,
with and without FMA (the portable build), in vector lanes and scalar tails.
"""
import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from sympy.codegen.cfunctions import expm1

from ionc.build import build_c_extension, compiler_settings
from ionc.codegen import get_channel
from ionc.codegen.lowering import lower_channel
from ionc.codegen.exp_constants import polynomial
from ionc.codegen.exponentials import reductions, share_exponentials, shared_exponentials
from ionc.codegen.render import math_header
from reference import ulp_error

FUNCTIONS = ("exp", "expm1", "exprelr")
LIMITS = {np.float64: (709.78, -745.1), np.float32: (88.72, -103.9)}


def _library(dtype, portable):
    real = "double" if dtype == np.float64 else "float"
    loops = "\n".join(
        f"void test_{f}(int64_t n, const real *x, real *y)\n"
        f"{{\n    #pragma omp simd\n    for (int64_t i = 0; i < n; ++i) y[i] = ionc_{f}(x[i]);\n}}"
        for f in FUNCTIONS)
    decls = "\n".join(f"void test_{f}(int64_t n, const {real} *x, {real} *y);"
                      for f in FUNCTIONS)
    return build_c_extension(math_header(np.dtype(dtype).name) + loops, decls,
                             compiler_settings(portable=portable))


def _call(ext, name, x):
    x = np.ascontiguousarray(x)
    y = np.full_like(x, np.nan)
    ctype = "double[]" if x.dtype == np.float64 else "float[]"
    getattr(ext.lib, f"test_{name}")(x.size, ext.ffi.from_buffer(ctype, x),
                                     ext.ffi.from_buffer(ctype, y))
    return y


def _inputs(dtype):
    rng = np.random.default_rng(11)
    top, bottom = LIMITS[dtype]
    ln2 = np.log(2)
    k = np.arange(-60, 61)
    x = np.concatenate([
        rng.uniform(-40, 40, 1500),
        np.outer([-1, 1], np.logspace(-30, 0, 150)).ravel(),          # expm1's relative range
        (k + 0.5) * ln2, (k + 0.4999) * ln2, k * ln2,                    # reduction boundaries
        rng.uniform(top - 3, top, 100), rng.uniform(bottom, bottom + 40, 200),
    ])
    return np.unique(x.astype(dtype))


def _reference(name, v):
    v = mp.mpf(float(v))
    if name == "exp":
        return mp.exp(v)
    if name == "expm1":
        return mp.expm1(v)
    return mp.mpf(1) if v == 0 else v / mp.expm1(v)


@pytest.mark.parametrize("portable", [False, True], ids=["native", "portable"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_within_one_ulp_of_mpmath(dtype, portable):
    ext = _library(dtype, portable)
    x = _inputs(dtype)
    mp.mp.dps = 50
    for name in FUNCTIONS:
        got = _call(ext, name, x)
        errors = np.array([ulp_error(g, _reference(name, v), dtype) for g, v in zip(got, x)])
        worst = int(errors.argmax())
        # exprelr adds the rounding of its division to expm1's error
        assert errors.max() <= (2 if name == "exprelr" else 1), (name, x[worst], got[worst])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_limits_and_nan(dtype):
    ext = _library(dtype, False)
    top, bottom = LIMITS[dtype]
    big = np.finfo(dtype).max
    x = np.array([np.inf, -np.inf, np.nan, top + 0.1, bottom - 1, big, -big, 0.0, -0.0,
                  np.finfo(dtype).tiny / 4, 1000.0, -1000.0, 0.5], dtype)
    exp, expm1, exprelr = (_call(ext, f, x) for f in FUNCTIONS)
    np.testing.assert_array_equal(exp[:9], np.array(
        [np.inf, 0, np.nan, np.inf, 0, np.inf, 0, 1, 1], dtype))
    np.testing.assert_array_equal(expm1[:9], np.array(
        [np.inf, -1, np.nan, np.inf, -1, np.inf, -1, 0, 0], dtype))
    assert expm1[9] == x[9]                             # subnormal: expm1(x) == x exactly
    # (exprelr(+inf) is inf/inf: rate arguments are finite for every finite V)
    np.testing.assert_array_equal(exprelr[[1, 2, 7, 8, 9, 10, 11]],
                                  np.array([np.inf, np.nan, 1, 1, 1, 0, 1000], dtype))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_polynomial_fit_is_far_below_an_ulp(dtype):
    _, ulps = polynomial(dtype)
    assert 0 < ulps < 0.01


def test_mirrored_exponentials_share_one_reduction():
    a, b = sp.symbols("a b", real=True)
    assert shared_exponentials([sp.exp(-a / 5 + 8) + expm1(a / 5 - 8)]) == {8 - a / 5: a / 5 - 8}
    assert shared_exponentials([sp.exp(a) + sp.exp(2 * a) + expm1(b)]) == {}
    plan = shared_exponentials([sp.exp(a) + 1, 1 / (1 + sp.exp(-a))])
    assert len(plan) == 1 and set(plan.items()) <= {(a, -a), (-a, a)}
    defs, outs = share_exponentials((), (("y", 4 / (1 + sp.exp(-a)) + expm1(a)),))
    assert len(defs) == 1 and defs[0][1] == sp.exp(a)
    value = outs[0][1].subs(defs[0][0], defs[0][1]).subs(a, sp.Rational(3, 7))
    assert abs(float(value - (4 / (1 + sp.exp(-a)) + expm1(a)).subs(a, sp.Rational(3, 7)))) < 1e-15

    # INa_Ba2002: beta_q's exp(-(x - 40)/5) is beta_p's exprelr((x - 40)/5) mirrored
    update = lower_channel(get_channel("INa_Ba2002")).functions["update"]
    assert len(reductions(update.expressions)) == 5          # was 6 before sharing


def _wide_library(portable):
    """float32's exp, expm1 and exprelr of a double argument (ionc_*_wide)."""
    loops = "\n".join(
        f"void test_{f}_wide(int64_t n, const double *x, float *y)\n"
        f"{{\n    #pragma omp simd\n    for (int64_t i = 0; i < n; ++i)\n"
        f"        y[i] = ionc_{f}_wide(x[i]);\n}}"
        for f in FUNCTIONS)
    decls = "\n".join(f"void test_{f}_wide(int64_t n, const double *x, float *y);"
                      for f in FUNCTIONS)
    return build_c_extension(math_header("float32") + loops, decls,
                             compiler_settings(portable=portable))


def _call_wide(ext, name, x):
    x = np.ascontiguousarray(x, np.float64)
    y = np.full(x.shape, np.nan, np.float32)
    getattr(ext.lib, f"test_{name}_wide")(x.size, ext.ffi.from_buffer("double[]", x),
                                          ext.ffi.from_buffer("float[]", y))
    return y


@pytest.mark.parametrize("portable", [False, True], ids=["native", "portable"])
def test_float32_of_a_double_argument_against_mpmath(portable):
    """A float32 kernel's exponent arguments are exact doubles (V - V_sh and what is
    built from it): exp of the double, not of its float rounding, within 1 ulp, also
    where |x| is large and (float)x alone would be |x| ulp off."""
    ext = _wide_library(portable)
    rng = np.random.default_rng(12)
    ln2 = np.log(2)
    k = np.arange(-149, 128)
    x = np.unique(np.concatenate([
        rng.uniform(-104, 88.7, 3000), rng.uniform(-1, 1, 300) * 1e-3,
        np.outer([-1, 1], np.logspace(-30, 0, 150)).ravel(),
        (k + 0.5) * ln2 * (1 + 1e-12), (k - 0.5) * ln2 * (1 + 1e-12), k * ln2]))
    x = x[(x > -104) & (x < 88.72)]
    mp.mp.dps = 50
    for name in FUNCTIONS:
        got = _call_wide(ext, name, x)
        errors = np.array([ulp_error(g, _reference(name, v), np.float32) for g, v in zip(got, x)])
        worst = int(errors.argmax())
        # The reduction is done in double and r rounds to float (2^-26 at most); expm1's
        # cancellation 2^k (1 + p) - 1 at k = +-1 can make that 2 ulp (1 point in
        # 4000 here).  exprelr divides the float of its argument: that rounding adds.
        assert errors.max() <= (1 if name == "exp" else 2), (name, x[worst], got[worst])


def test_float32_of_a_double_argument_limits_and_nan():
    ext = _wide_library(False)
    x = np.array([np.inf, -np.inf, np.nan, 88.73, -104.0, 1e300, -1e300, 0.0, -0.0,
                  3e-39, 1000.0, -1000.0])
    exp, expm1, exprelr = (_call_wide(ext, f, x) for f in FUNCTIONS)
    np.testing.assert_array_equal(exp[:9], np.array(
        [np.inf, 0, np.nan, np.inf, 0, np.inf, 0, 1, 1], np.float32))
    np.testing.assert_array_equal(expm1[:9], np.array(
        [np.inf, -1, np.nan, np.inf, -1, np.inf, -1, 0, 0], np.float32))
    assert expm1[9] == np.float32(3e-39)               # subnormal: expm1(x) == x exactly
    np.testing.assert_array_equal(exprelr[[1, 2, 7, 8, 9, 10, 11]],
                                  np.array([np.inf, np.nan, 1, 1, 1, 0, 1000], np.float32))
