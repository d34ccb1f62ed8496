"""Independent references for INa_Ba2002, written from the published formulas.

``mp_*``: 50-digit mpmath at the exact float inputs.  ``numpy_*``: a plain
float64 NumPy exponential Euler (exprelr by hand), sharing no code with ionc.
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 50
C = {k: mp.mpf(v) for k, v in dict(a=".32", b=".28", c=".128").items()}


def mp_rates(V: float, V_sh: float):
    x = mp.mpf(float(V)) - mp.mpf(float(V_sh))
    u = x - 13
    alpha_p = mp.mpf("1.28") if u == 0 else C["a"] * u / (1 - mp.exp(-u / 4))
    w = x - 40
    beta_p = mp.mpf("1.4") if w == 0 else -C["b"] * w / (1 - mp.exp(w / 5))
    alpha_q = C["c"] * mp.exp(-(x - 17) / 18)
    beta_q = 4 / (1 + mp.exp(-(x - 40) / 5))
    return alpha_p, beta_p, alpha_q, beta_q


def mp_steady(V: float, V_sh: float):
    ap, bp, aq, bq = mp_rates(V, V_sh)
    return ap / (ap + bp), aq / (aq + bq)


def _ordinal(value, dtype) -> int:
    """Position of ``value`` among the finite floats of ``dtype`` (monotone, 0 at +-0)."""
    itype = np.int32 if dtype == np.float32 else np.int64
    bits = int(np.array(value, dtype).view(itype))
    return bits if bits >= 0 else -(bits & int(np.iinfo(itype).max))


def ulp_error(got, ref_mp, dtype) -> int:
    """Number of ``dtype`` floats between ``got`` and the correctly rounded reference."""
    ref = dtype(mp.nstr(ref_mp, 40)) if dtype == np.float32 else dtype(float(ref_mp))
    return abs(_ordinal(got, dtype) - _ordinal(ref, dtype))


def _exprelr(u):
    with np.errstate(all="ignore"):
        return np.where(u == 0, 1.0, u / np.expm1(u))


def numpy_rates(V, V_sh=-50.0):
    x = np.asarray(V, float) - V_sh
    with np.errstate(all="ignore"):
        return (1.28 * _exprelr(-(x - 13) / 4), 1.4 * _exprelr((x - 40) / 5),
                0.128 * np.exp(-(x - 17) / 18), 4 / (1 + np.exp(-(x - 40) / 5)))


def numpy_trajectory(V_trace, dt, T=36.0, V_sh=-50.0):
    """Reset at V_trace[0], then one exponential-Euler step per row of V_trace."""
    phi = 3 ** ((T - 36) / 10)
    ap, bp, aq, bq = numpy_rates(V_trace[0], V_sh)
    p, q = ap / (ap + bp), aq / (aq + bq)
    out = []
    for V in V_trace:
        ap, bp, aq, bq = numpy_rates(V, V_sh)
        p = p + (ap / (ap + bp) - p) * -np.expm1(-dt * phi * (ap + bp))
        q = q + (aq / (aq + bq) - q) * -np.expm1(-dt * phi * (aq + bq))
        out.append((p, q))
    return np.array(out)
