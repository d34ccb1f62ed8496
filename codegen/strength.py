"""Exponential strength reduction: fewer range reductions per element.

The rates of real channels are exponentials of affine forms of ``V`` (or of
``x = V - V_sh``) with commensurate slopes: HH's ``exp(-(x - 10)/10)`` is
``e^(1/2) exp(-(x - 5)/10)``, and ``exp(-(x - 5)/10)`` is computed anyway by the
``exprelr`` of ``alpha_m``.  Once the C compiler has inlined ionc's ``exp``,
``expm1`` and ``exprelr``, calls with one argument share their range reduction,
so rewriting

    exp(b) = exp(b - k a) * exp(a)^k,    b - k a a number,

with ``exp(a)`` already computed (the argument of an ``expm1``/``exprelr``, or
of another ``exp``) removes one reduction and its polynomial for a few
multiplications.

Error analysis (why ``|k| <= MAX_POWER``): ``exp(a)`` carries its own error
(about 1 ulp) plus the amplification ``|a| u`` of its argument's rounding; its
``k``-th power multiplies both by ``k`` and adds about ``log2 k`` roundings;
the constant ``exp(b - k a)`` is correctly rounded and its product adds half an
ulp.  Since ``k a`` is ``b`` up to a constant, the amplification term is what
computing ``exp(b)`` directly costs as well; the rewrite adds about
``(k - 1) + log2 k + 1`` ulp.  With ``|k| <= 4`` that is at most about 6 ulp,
inside the 32-ulp contract over [-200, 200] mV where the library's worst
direct rate measures 26 ulp; the mpmath suites check every library rate after
the rewrite.  Arguments of ``expm1``/``exprelr`` are never rewritten: near
their zero they need their own accurate evaluation.
"""
from __future__ import annotations

from fractions import Fraction

import sympy as sp

from .exponentials import EXP_LIKE, Definitions

#: Largest power of a computed exponential used in place of another exponential.
MAX_POWER = 4


def affine_form(arg: sp.Expr):
    """``(direction, scale, offset)`` with ``arg == scale * direction + offset``, the
    direction a tuple of ``(symbol, coefficient)`` normalised to a leading coefficient
    of 1; None unless ``arg`` is affine with rational coefficients."""
    symbols = sorted(arg.free_symbols, key=lambda s: s.name)
    if not symbols:
        return None
    try:
        poly = sp.Poly(sp.expand(arg), *symbols)
    except sp.PolynomialError:
        return None
    if poly.total_degree() != 1:
        return None
    coefficients = [poly.coeff_monomial(s) for s in symbols]
    offset = poly.coeff_monomial(1)
    if not all(c.is_Rational for c in coefficients) or not offset.is_Rational:
        return None
    lead = next(c for c in coefficients if c != 0)
    direction = tuple((s, c / lead) for s, c in zip(symbols, coefficients) if c != 0)
    return direction, lead, offset


def _power(ratio: sp.Rational) -> int | None:
    """``ratio`` as a usable integer power (``1 <= |k| <= MAX_POWER``), else None."""
    if not ratio.is_Integer:
        return None
    k = int(ratio)
    return k if 1 <= abs(k) <= MAX_POWER else None


def plan_powers(exprs) -> dict[sp.Expr, tuple[sp.Expr, int, sp.Expr]]:
    """``{b: (a, k, c)}``: every ``exp(b)`` in ``exprs`` to compute as ``exp(c) exp(a)^k``.

    Bases are the arguments of ``expm1``/``exprelr`` (computed anyway), then the
    plain exponentials in order of increasing slope, so that a steep one is a
    power of a shallow one; an exponential with no base within
    :data:`MAX_POWER` becomes a base itself.
    """
    anchors, plain = set(), set()
    for e in exprs:
        for f in e.atoms(*EXP_LIKE):
            (plain if isinstance(f, sp.exp) else anchors).add(f.args[0])
    forms = {a: affine_form(a) for a in anchors | plain}
    bases = [a for a in sorted(anchors, key=sp.default_sort_key) if forms[a] is not None]
    plan: dict[sp.Expr, tuple[sp.Expr, int, sp.Expr]] = {}
    candidates = [b for b in plain if forms[b] is not None and b not in anchors]
    candidates.sort(key=lambda b: (abs(Fraction(str(forms[b][1]))), sp.default_sort_key(b)))
    for b in candidates:
        direction, scale, offset = forms[b]
        best = None
        for a in bases:
            d_a, s_a, o_a = forms[a]
            if d_a != direction:
                continue
            k = _power(scale / s_a)
            if k is not None and (best is None or abs(k) < abs(best[1])):
                best = (a, k, offset - k * o_a)
        if best is None:
            bases.append(b)
        else:
            plan[b] = best
    return plan


def reduce_exponentials(definitions: Definitions, outputs, prefix: str = "ionc_pow"):
    """``(definitions, outputs, n)`` with each planned ``exp(b)`` replaced by
    ``exp(c) * E**k``, ``E = exp(a)`` a new local (one per base; a symbol, so that
    SymPy does not fold the power back into one exponential) and ``exp(c)`` a
    correctly rounded constant; ``n`` is the number of exponentials replaced."""
    exprs = [e for _, e in definitions] + [e for _, e in outputs]
    plan = plan_powers(exprs)
    if not plan:
        return tuple(definitions), tuple(outputs), 0
    bases = sorted({a for a, _, _ in plan.values()}, key=sp.default_sort_key)
    names = {a: sp.Symbol(f"{prefix}{i}", real=True) for i, a in enumerate(bases)}
    swap = {}
    for b, (a, k, c) in plan.items():
        factor = sp.Float(sp.exp(c).evalf(40), 40) if c != 0 else sp.Integer(1)
        swap[sp.exp(b)] = factor * names[a] ** k
    new = tuple((s, sp.exp(a)) for a, s in names.items())
    return (new + tuple((s, e.xreplace(swap)) for s, e in definitions),
            tuple((n, e.xreplace(swap)) for n, e in outputs), len(plan))

