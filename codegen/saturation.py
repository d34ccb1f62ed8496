"""Rates that saturate at extreme V without inf/inf: ``exp(a)/(1 + exp(a))`` is
``1/(1 + exp(-a))``.

A file's ``K/(1 + K)`` with ``K = exp(a)`` (NEURON's ``k3st``) is inf/inf, NaN, once
``exp(a)`` overflows (about +6000 mV there); the rewritten form goes to 1 as it should,
and is the same value to rounding everywhere else.  The accuracy contract asks for no
NaN or Inf at any finite V.
"""
from __future__ import annotations

import sympy as sp


def _saturated(m: sp.Mul) -> sp.Expr:
    """``m`` with each ``exp(a) * (1 + exp(a))**-1`` pair as ``(1 + exp(-a))**-1``."""
    args = list(m.args)
    for f in m.args:
        if not (isinstance(f, sp.Pow) and f.exp == -1 and isinstance(f.base, sp.Add)
                and len(f.base.args) == 2 and sp.Integer(1) in f.base.args):
            continue
        (E,) = [t for t in f.base.args if t != 1]
        if isinstance(E, sp.exp) and E in args and f in args:
            args.remove(E)
            args.remove(f)
            args.append(1 / (1 + sp.exp(-E.args[0])))
    return sp.Mul(*args) if len(args) != len(m.args) else m


def saturate(expr: sp.Expr) -> sp.Expr:
    """``expr`` with every ``exp(a)/(1 + exp(a))`` written as ``1/(1 + exp(-a))``."""
    return expr.replace(lambda e: isinstance(e, sp.Mul), _saturated)
