"""SymPy functions that ionc's printers know how to emit.

``exprelr(u) = u / expm1(u)`` (1 at u = 0) is the accurate form of every
removable singularity of the ``u / (exp(u) - 1)`` family, ``dexprelr`` its
derivative (for the kernels' Jacobians); ``capped_rate(r)``
bounds a rate so that steady states and exponential-Euler factors stay finite
for any finite voltage.  Each has one C definition in the per-element header
and one NumPy definition in the NumPy template.
"""
from __future__ import annotations

import sympy as sp


class exprelr(sp.Function):
    """``u / expm1(u)``, continuous at ``u = 0`` where it equals 1."""

    nargs = 1

    @classmethod
    def eval(cls, u):
        if u.is_zero:
            return sp.Integer(1)
        return None

    def fdiff(self, argindex=1):
        return dexprelr(self.args[0])

    def _eval_rewrite_as_exp(self, u, **kwargs):
        return u / (sp.exp(u) - 1)

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_is_positive(self):
        return self.args[0].is_real


class dexprelr(sp.Function):
    """``d/du exprelr(u)``, continuous at ``u = 0`` where it equals -1/2 (a series there,
    and a form in ``exp(-|u|)`` elsewhere that cannot overflow; element.h.j2)."""

    nargs = 1

    @classmethod
    def eval(cls, u):
        if u.is_zero:
            return sp.Rational(-1, 2)
        return None

    def _eval_rewrite_as_exp(self, u, **kwargs):
        return (sp.exp(u) - 1 - u * sp.exp(u)) / (sp.exp(u) - 1) ** 2

    def _eval_is_real(self):
        return self.args[0].is_real


class capped_rate(sp.Function):
    """A rate bounded above by a large finite number of the target type.

    NaN passes through (the comparison is false for NaN), so a NaN voltage is
    never silently turned into a number.
    """

    nargs = 1

    def fdiff(self, argindex=1):
        return sp.Integer(1)          # below the cap, where every real rate lies

    def _eval_rewrite_as_exp(self, r, **kwargs):
        return r

    def _eval_is_real(self):
        return self.args[0].is_real


def strip_numerics(expr: sp.Expr) -> sp.Expr:
    """``expr`` in plain SymPy (exp, division): for limits and references."""
    return expr.replace(capped_rate, lambda r: r).rewrite(sp.exp)
