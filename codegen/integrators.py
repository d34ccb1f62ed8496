"""Time-stepping schemes, built symbolically from a gate's derivative.

Each integrator maps ``(f, g, dt)`` - the right-hand side ``dg/dt = f(g)``,
the gate symbol and the step - to the expression of the gate after one step.
"""
from __future__ import annotations

from typing import Callable

import sympy as sp
from sympy.codegen.cfunctions import expm1

from .spec import SpecError


def linear_coefficients(f: sp.Expr, g: sp.Symbol) -> tuple[sp.Expr, sp.Expr]:
    """``(A, B)`` with ``f == A*g + B``; a :class:`SpecError` if f is not linear in g."""
    A = sp.expand(sp.diff(f, g))
    if g in A.free_symbols:
        raise SpecError(f"derivative {f} is not linear in {g}; use method='euler'")
    B = sp.expand(f).subs(g, 0)
    return A, B


def relaxes(f: sp.Expr, g: sp.Symbol) -> bool:
    """True when ``f = A g + B`` with ``A`` free of ``g`` and not zero: the gate relaxes to
    a steady state ``-B/A`` with time constant ``-1/A``."""
    try:
        A, _ = linear_coefficients(f, g)
    except SpecError:
        return False
    return A != 0


def steady_state(f: sp.Expr, g: sp.Symbol) -> sp.Expr:
    """The fixed point ``g_inf = -B/A`` of a gate linear in itself."""
    A, B = linear_coefficients(f, g)
    return sp.factor_terms(-B / A)


def exp_euler_step(f: sp.Expr, g: sp.Symbol, dt: sp.Symbol) -> sp.Expr:
    """Exponential Euler, exact for frozen V: ``g + (g_inf - g) * (-expm1(A dt))``; an
    equation that does not read ``g`` (``A = 0``) steps exactly as ``g + dt f``."""
    A, B = linear_coefficients(f, g)
    if A == 0:
        return g + dt * B
    return g + (steady_state(f, g) - g) * (-expm1(sp.factor_terms(A) * dt))


def implicit_euler_step(f: sp.Expr, g: sp.Symbol, dt: sp.Symbol) -> sp.Expr:
    """Backward Euler, ``g' = g + dt f(g')``, solved exactly for a gate linear in itself:
    ``(g + dt B) / (1 - dt A)`` (NMODL's ``derivimplicit``: Newton converges in one step),
    computed as ``g_inf + (g - g_inf) / (1 - dt A)``, which stays finite where a time
    constant underflows to 0 (``A = -inf``: the gate takes its steady state)."""
    A, B = linear_coefficients(f, g)
    if A == 0:
        return g + dt * B
    inf = steady_state(f, g)
    return inf + (g - inf) / (1 - dt * sp.factor_terms(A))


def euler_step(f: sp.Expr, g: sp.Symbol, dt: sp.Symbol) -> sp.Expr:
    """Forward Euler: ``g + dt * f(g)`` (conditionally stable; exp_auto is the default)."""
    return g + dt * f


def cnexp_step(f: sp.Expr, g: sp.Symbol, dt: sp.Symbol) -> sp.Expr:
    """NEURON's ``cnexp`` as its translator (nocmodl) emits it: exponential Euler for a
    gate linear in itself (forward Euler, ``g + dt f``, for an equation that does not read
    ``g``); otherwise ``g + (1 - exp(A dt)) (-B/A - g)`` with ``A = df/dg`` at the current
    ``g`` and ``B = f`` at ``g = 0``."""
    A = sp.diff(f, g)
    if g not in A.free_symbols:
        return exp_euler_step(f, g, dt)
    B = f.subs(g, 0)
    return g + (-B / A - g) * (-expm1(A * dt))


#: Integration methods by the names BrainPy uses (and NEURON's cnexp).
INTEGRATORS: dict[str, Callable[[sp.Expr, sp.Symbol, sp.Symbol], sp.Expr]] = {
    "exp_auto": exp_euler_step,
    "exp_euler": exp_euler_step,
    "euler": euler_step,
    "implicit_euler": implicit_euler_step,
    "cnexp": cnexp_step,
    "sparse": implicit_euler_step,    # NEURON's sparse on a gate: backward Euler
    "table": exp_euler_step,          # the exact step beside the tables (outside their range)
}


def get_integrator(method: str) -> Callable[[sp.Expr, sp.Symbol, sp.Symbol], sp.Expr]:
    """The step builder for ``method`` (a clear error lists the known ones)."""
    try:
        return INTEGRATORS[method]
    except KeyError:
        raise SpecError(f"unknown method {method!r}; known: {sorted(INTEGRATORS)}") from None
