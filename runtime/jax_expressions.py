"""A channel's current as jax.numpy arithmetic, where that is exact.

Most currents are polynomials in V, the states, the parameters and the inputs
(``g_max p^3 q (E - V)``): nothing to remove, nothing to round beyond the
products themselves.  Evaluated as jax.numpy arithmetic, XLA fuses such a
current into the membrane step around it and differentiates it itself, where a
custom call is one more pass over memory per call and one more (the Jacobian)
per derivative.  The expression is walked, not printed and executed.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable, Mapping

import jax.numpy as jnp
import sympy as sp

from .codegen.spec import ChannelSpec


@lru_cache(maxsize=None)
def polynomial_current(spec: ChannelSpec) -> sp.Expr | None:
    """The spec's current with its intermediates expanded, where it is a polynomial in
    every symbol it reads (integer powers, rational coefficients); else None."""
    expr = spec.expand_intermediates(spec.current)
    symbols = sorted(expr.free_symbols, key=lambda s: s.name)
    if not symbols or not expr.is_polynomial(*symbols):
        return None
    return expr


def evaluate(expr: sp.Expr, values: Mapping[str, jnp.ndarray], dtype) -> jnp.ndarray:
    """``expr`` (Add, Mul, non-negative integer Pow, symbols and numbers) with each symbol
    the array ``values[name]``, every constant in ``dtype``."""
    def walk(e: sp.Expr):
        if e.is_Symbol:
            return values[e.name]
        if e.is_Number:
            return jnp.asarray(float(e), dtype)
        if e.is_Add:
            return _fold(jnp.add, map(walk, e.args))
        if e.is_Mul:
            return _fold(jnp.multiply, map(walk, e.args))
        if e.is_Pow and e.exp.is_Integer and e.exp >= 0:
            base = walk(e.base)
            return _fold(jnp.multiply, [base] * int(e.exp)) if e.exp else jnp.ones_like(base)
        raise ValueError(f"not a polynomial term: {e}")
    return walk(expr)


def _fold(op: Callable, terms) -> jnp.ndarray:
    terms = iter(terms)
    out = next(terms)
    for t in terms:
        out = op(out, t)
    return out
