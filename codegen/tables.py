"""Error-bounded rate tables for ``method='table'``.

For a fixed step ``dt`` and fixed rate parameters, the exponential-Euler step
of a gate needs two functions of V only: its steady state ``inf_<g>(V)`` and
the fraction of the way to it covered in one step,
``frac_<g>(V) = 1 - exp(-dt k(V))`` (``k = phi (alpha + beta)`` or
``phi / tau``).  The step is then ``g + (inf - g) frac``, as in the exact
kernel.  This module tabulates those functions on one grid of ``V`` and
proves the table's error:

* the functions come from the spec's own formulas (not from the compiler's
  rewritten ones) with the parameters substituted, and are evaluated with
  mpmath at 50 digits; at a removable 0/0 the value is the two-sided limit;
* on each interval ``[lo + i h, lo + (i+1) h]`` (``h`` a power of two, so the
  grid is exact in binary) a function is interpolated at the Chebyshev nodes
  by a polynomial of degree ``d`` in ``t = (V - lo)/h - i - 1/2``, and its
  coefficients are stored in the kernel's dtype;
* the error is measured against mpmath at points spread densely over every
  interval (its ends included), with the rounded coefficients and in the
  kernel's arithmetic, relative to the function's largest magnitude over
  the range (both functions lie in [0, 1]);
* ``h`` is halved until every function meets ``rtol``; a table that would
  outgrow the per-core cache budget is refused.

The state error of one step is then at most ``|inf - g| rtol_frac +
(frac) rtol_inf <= 2 rtol`` (times each function's scale, at most 1).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import mpmath
import numpy as np
import sympy as sp

from .integrators import linear_coefficients
from .spec import V, ChannelSpec, SpecError, symbol

#: Digits of the reference evaluation.
DIGITS = 50
#: Default table range (mV), tolerance per dtype, and polynomial degree per dtype.
DEFAULT_RANGE = (-150.0, 100.0)
DEFAULT_RTOL = {"float64": 1e-12, "float32": 2.0 ** -24}
DEFAULT_DEGREE = {"float64": 5, "float32": 3}
#: The smallest tolerance a table may be asked for (float64 rounding of the step itself).
MIN_RTOL = {"float64": 1e-14, "float32": 2.0 ** -24}
#: Reference points per interval when sizing and when proving the final table.
SIZING_SAMPLES, PROOF_SAMPLES = 5, 9


def cache_budget() -> int:
    """Bytes a channel's table may take: half the per-core L2 cache (256 KiB when the
    cache size cannot be read)."""
    try:
        with open("/sys/devices/system/cpu/cpu0/cache/index2/size") as f:
            text = f.read().strip().upper()
        scale = {"K": 1024, "M": 1024 ** 2}.get(text[-1], 1)
        return int(text.rstrip("KM")) * scale // 2
    except (OSError, ValueError):
        return 256 * 1024


def tabulated_functions(spec: ChannelSpec, dt: float, values: dict[str, float]
                        ) -> dict[str, sp.Expr]:
    """``inf_<g>`` and ``frac_<g>`` of every gate as expressions of ``V`` alone.

    ``values`` holds the parameters the rates use (scalars).  A gate whose
    derivative is not linear in itself, or that reads another gate or an
    input beyond V, cannot be tabulated (a :class:`SpecError` says which).
    """
    subs = {symbol(p): sp.Rational(float(v)) for p, v in values.items()}
    step = sp.Rational(float(dt))
    out: dict[str, sp.Expr] = {}
    for gate in spec.gates:
        phi = gate.factor if gate.factor is not None else spec.temperature_factor
        rates = {r: spec.expand_intermediates(e) for r, e in gate.rate_expressions().items()}
        if gate.kind == "rates":
            a, b = rates["alpha"], rates["beta"]
            inf, k = a / (a + b), phi * (a + b)
        elif gate.kind == "inf_tau":
            inf, k = rates["inf"], phi / rates["tau"]
        else:
            try:
                A, B = linear_coefficients(rates["ode"], gate.symbol)
            except SpecError:
                raise SpecError(f"{spec.name}: gate {gate.name!r} is not linear in itself; "
                                f"method='table' needs an exponential-Euler step") from None
            inf, k = -B / A, -phi * A
        for name, expr in ((f"inf_{gate.name}", inf), (f"frac_{gate.name}",
                                                       1 - sp.exp(-step * k))):
            expr = _exact(expr).xreplace(subs)
            extra = expr.free_symbols - {V}
            if extra:
                raise SpecError(f"{spec.name}: {name} depends on {sorted(map(str, extra))}, "
                                f"not on V alone; method='table' needs them as scalar "
                                f"parameters (inputs and other gates cannot be tabulated)")
            out[name] = expr
    return out


def _exact(expr: sp.Expr) -> sp.Expr:
    """``expr`` with its decimal constants as exact rationals (0.32 -> 8/25), so that a
    0/0 stays an exact 0/0 when SymPy expands a product (0.32 (V + 37) would round)."""
    return expr.xreplace({f: sp.Rational(str(f)) for f in expr.atoms(sp.Float)})


def reference_evaluator(exprs: list[sp.Expr]):
    """``[f(V) for f in exprs]`` at :data:`DIGITS` digits, common subexpressions shared
    and constants converted once; a removable 0/0 gives its two-sided limit."""
    constants: dict = {}
    for e in exprs:
        for c in e.atoms(sp.Rational, sp.Float):
            if not (c.is_Integer and abs(c) <= 2):
                constants.setdefault(c, sp.Symbol(f"ionc_c{len(constants)}"))
    body = [e.xreplace(constants) for e in exprs]
    f = sp.lambdify([V, *constants.values()], body, modules="mpmath", cse=True)
    with mpmath.workdps(DIGITS + 30):
        values = [mpmath.mpf(c.p) / c.q if c.is_Rational else mpmath.mpf(str(c))
                  for c in constants]

    def value(v: mpmath.mpf) -> list:
        with mpmath.workdps(DIGITS):
            try:
                y = f(v, *values)
                if all(mpmath.isfinite(x) for x in y):
                    return y
            except ZeroDivisionError:
                pass
        with mpmath.workdps(DIGITS + 30):
            d = mpmath.mpf(10) ** -(DIGITS + 5)
            return [(a + b) / 2 for a, b in zip(f(v + d, *values), f(v - d, *values))]
    return value


@lru_cache(maxsize=None)
def _nodes(degree: int) -> tuple[tuple, "mpmath.matrix"]:
    """Chebyshev nodes in t on [-1/2, 1/2] and the inverse of their Vandermonde matrix."""
    with mpmath.workdps(DIGITS):
        t = [mpmath.cos((2 * j + 1) * mpmath.pi / (2 * (degree + 1))) / 2
             for j in range(degree + 1)]
        vandermonde = mpmath.matrix([[tj ** k for k in range(degree + 1)] for tj in t])
        return tuple(t), vandermonde ** -1


@dataclass(frozen=True)
class RateTable:
    """A fitted, checked table: ``coefficients[i, f, k]`` is the coefficient of t^k of
    function ``f`` on interval ``i`` (in the kernel's dtype)."""

    functions: tuple[str, ...]
    dtype: str
    dt: float
    lo: float
    h: float
    intervals: int
    degree: int
    rtol: float
    coefficients: np.ndarray = field(repr=False)
    errors: dict = field(default_factory=dict)      # worst error / scale, float64 arithmetic
    errors_dtype: dict = field(default_factory=dict)  # the same in the kernel's dtype
    scales: dict = field(default_factory=dict)

    @property
    def hi(self) -> float:
        """The table's upper end (``lo + intervals h``)."""
        return self.lo + self.intervals * self.h

    @property
    def nbytes(self) -> int:
        """Size of the coefficients."""
        return self.coefficients.nbytes

    @property
    def width(self) -> int:
        """Coefficients per row (one interval, every function)."""
        return len(self.functions) * (self.degree + 1)

    def evaluate(self, v, dtype: str | None = None) -> dict[str, np.ndarray]:
        """Every function at ``v`` (inside the range) as the kernels compute it."""
        return _evaluate(self.coefficients.astype(dtype or self.dtype), self.lo, self.h,
                         self.intervals, np.asarray(v, np.float64), dtype or self.dtype,
                         self.functions)

    def report(self) -> str:
        """What the table is and its measured error, a few lines."""
        lines = [f"rate table: V in [{self.lo:g}, {self.hi:g}] mV, h = {self.h:g} mV, "
                 f"{self.intervals} intervals, degree {self.degree}, dt = {self.dt:g} ms, "
                 f"{self.nbytes / 1024:.1f} KiB ({self.dtype}); rtol {self.rtol:.3g}",
                 "  function   worst error / scale (float64 | " + self.dtype + ")   scale"]
        for f in self.functions:
            lines.append(f"  {f:<10} {self.errors[f]:.2e} | {self.errors_dtype[f]:.2e}"
                         f"{'':>18}{self.scales[f]:.3g}")
        return "\n".join(lines)


def _evaluate(coefficients: np.ndarray, lo: float, h: float, intervals: int, v: np.ndarray,
              dtype: str, functions) -> dict[str, np.ndarray]:
    """The kernels' lookup: index and t in float64, Horner in ``dtype``."""
    x = (v - lo) * (1.0 / h)
    i = np.minimum(x.astype(np.int64), intervals - 1)
    t = (x - i - 0.5).astype(dtype)
    rows = coefficients[i]                           # (points, F, d + 1)
    out = {}
    for j, f in enumerate(functions):
        c = rows[:, j, :]
        p = c[:, -1].copy()
        for k in range(c.shape[1] - 2, -1, -1):
            p = p * t + c[:, k]
        out[f] = p
    return out


def _fit(ref, count: int, lo: float, h: float, intervals: int, degree: int) -> np.ndarray:
    """Interpolating coefficients (float64) of the ``count`` functions on every interval."""
    t, inverse = _nodes(degree)
    out = np.empty((intervals, count, degree + 1))
    with mpmath.workdps(DIGITS):
        for i in range(intervals):
            centre = mpmath.mpf(lo) + (i + mpmath.mpf(1) / 2) * mpmath.mpf(h)
            values = [ref(centre + tj * mpmath.mpf(h)) for tj in t]
            for j in range(count):
                column = mpmath.matrix([v[j] for v in values])
                out[i, j, :] = [float(c) for c in inverse * column]
    return out


def _errors(ref, names, coefficients, lo, h, intervals, samples, dtype):
    """Worst |table - f| / scale per function in float64 and in ``dtype``, and the scales."""
    pts = np.linspace(-0.5, 0.5, samples)
    v = (lo + h * (np.arange(intervals)[:, None] + 0.5 + pts[None, :])).ravel()
    v = np.minimum(v, lo + h * intervals)
    with mpmath.workdps(DIGITS):
        exact = [ref(mpmath.mpf(x)) for x in v]
    got64 = _evaluate(coefficients, lo, h, intervals, v, "float64", names)
    got = _evaluate(coefficients.astype(dtype), lo, h, intervals, v, dtype, names)
    errors, errors_dtype, scales = {}, {}, {}
    for j, n in enumerate(names):
        y = np.array([float(e[j]) for e in exact])
        # |table - f| to well below an ulp: f - float(f) is carried separately
        rest = np.array([float(e[j] - mpmath.mpf(float(e[j]))) for e in exact])
        scale = float(np.max(np.abs(y))) or 1.0
        scales[n] = scale
        errors[n] = float(np.max(np.abs((got64[n] - y) - rest))) / scale
        errors_dtype[n] = float(np.max(np.abs((got[n].astype(np.float64) - y) - rest))) / scale
    return errors, errors_dtype, scales


def build_table(spec: ChannelSpec, dtype: str, dt: float, values: dict[str, float],
                lo: float | None = None, hi: float | None = None, rtol: float | None = None,
                degree: int | None = None, budget: int | None = None) -> RateTable:
    """The smallest power-of-two grid on which every tabulated function of ``spec``
    (for step ``dt`` and parameter ``values``) is within ``rtol`` of its 50-digit value."""
    key = tuple(sorted((k, float(v)) for k, v in values.items()))
    return _build_table(spec, dtype, float(dt), key,
                        DEFAULT_RANGE[0] if lo is None else float(lo),
                        DEFAULT_RANGE[1] if hi is None else float(hi),
                        DEFAULT_RTOL[dtype] if rtol is None else float(rtol),
                        DEFAULT_DEGREE[dtype] if degree is None else int(degree),
                        cache_budget() if budget is None else int(budget))


@lru_cache(maxsize=64)
def _build_table(spec, dtype, dt, values, lo, hi, rtol, degree, budget) -> RateTable:
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"table range must be two finite voltages lo < hi, got ({lo}, {hi})")
    if not rtol >= MIN_RTOL[dtype]:
        raise ValueError(f"table_rtol must be at least {MIN_RTOL[dtype]:.3g} in {dtype} "
                         f"(the rounding of the step itself), got {rtol}")
    if not 1 <= degree <= 9:
        raise ValueError(f"table_degree must be between 1 and 9, got {degree}")
    functions = tabulated_functions(spec, dt, dict(values))
    names = tuple(functions)
    ref = reference_evaluator([functions[n] for n in names])
    itemsize = np.dtype(dtype).itemsize
    h = 2.0 ** math.ceil(math.log2((hi - lo) / 16))
    samples = SIZING_SAMPLES
    while True:
        intervals = math.ceil((hi - lo) / h)
        size = intervals * len(names) * (degree + 1) * itemsize
        if size > budget:
            raise SpecError(
                f"{spec.name}: a rate table within rtol={rtol:.3g} over [{lo:g}, {hi:g}] mV "
                f"needs h <= {h:g} mV, {size // 1024} KiB, more than the cache budget of "
                f"{budget // 1024} KiB; raise table_rtol or table_degree, or narrow "
                f"table_range")
        coefficients = _fit(ref, len(names), lo, h, intervals, degree)
        errors, errors_dtype, scales = _errors(ref, names, coefficients, lo, h, intervals,
                                               samples, dtype)
        worst = max(errors.values())
        if worst <= rtol and samples == PROOF_SAMPLES:
            break
        if worst <= rtol:
            samples = PROOF_SAMPLES       # prove it on denser points
            continue
        # the interpolation error falls as h^(degree+1): jump to the predicted h
        halvings = max(1, math.ceil(math.log2(worst / rtol) / (degree + 1)))
        h /= 2 ** halvings
        samples = SIZING_SAMPLES
    return RateTable(names, dtype, dt, lo, h, intervals, degree, rtol,
                     coefficients.astype(dtype), errors, errors_dtype, scales)


def table_parameters(spec: ChannelSpec) -> tuple[str, ...]:
    """The parameters the tabulated functions read (they must be scalars)."""
    used: set = set()
    for gate in spec.gates:
        for role, e in gate.rate_expressions().items():
            if role != "initial":                  # reset_state is not tabulated
                used |= spec.expand_intermediates(e).free_symbols
        phi = gate.factor if gate.factor is not None else spec.temperature_factor
        used |= sp.sympify(phi).free_symbols
    return tuple(p for p in spec.parameters if symbol(p) in used)

