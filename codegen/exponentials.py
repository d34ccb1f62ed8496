"""Share the work of exponentials within one element function.

The C target's ``exp``/``expm1`` are inline range reductions plus a polynomial,
so calls with the same argument share everything but the last few operations
once the compiler has inlined them.  What it cannot see is that
``exp(-a)`` is ``1/exp(a)``: a rate such as INa_Ba2002's
``beta_q = 4/(1 + exp(-(x - 40)/5))`` next to ``beta_p``'s
``exprelr((x - 40)/5)`` costs a second reduction.  :func:`share_exponentials`
rewrites every ``exp(-a)`` whose mirror ``a`` is already the argument of an
``exp``, ``expm1`` or ``exprelr`` as ``1/E`` with a local ``E = exp(a)``.
"""
from __future__ import annotations

import sympy as sp
from sympy.codegen.cfunctions import expm1

from .functions import exprelr
from .spec import symbol

Definitions = tuple[tuple[sp.Symbol, sp.Expr], ...]
#: The calls that cost one range reduction per distinct argument in C.
EXP_LIKE = (sp.exp, expm1, exprelr)


def _arguments(exprs, kinds) -> list[sp.Expr]:
    found = set()
    for e in exprs:
        found |= {f.args[0] for f in e.atoms(*kinds)}
    return sorted(found, key=sp.default_sort_key)


def reductions(exprs) -> list[sp.Expr]:
    """The distinct arguments of exp/expm1/exprelr in ``exprs``: one range
    reduction each once the C compiler has inlined and merged the calls."""
    return _arguments(exprs, EXP_LIKE)


def _mirror(arg: sp.Expr, among: list[sp.Expr]) -> sp.Expr | None:
    """The element of ``among`` equal to ``-arg``, if there is one."""
    return next((a for a in among if sp.expand(a + arg) == 0), None)


def shared_exponentials(exprs) -> dict[sp.Expr, sp.Expr]:
    """``{b: a}`` for every ``exp(b)`` in ``exprs`` to be computed as ``1/exp(a)``.

    ``a`` is an argument that is computed anyway: of an ``expm1``/``exprelr``
    first, else of another ``exp`` (of a mirrored pair of exps, the one later
    in SymPy's sort order is the reciprocal).
    """
    anchors = _arguments(exprs, (expm1, exprelr))
    exps = _arguments(exprs, (sp.exp,))
    plan: dict[sp.Expr, sp.Expr] = {}
    for b in exps:
        a = _mirror(b, anchors)
        if a is None:
            a = _mirror(b, [e for e in exps if e not in plan and
                            sp.default_sort_key(e) < sp.default_sort_key(b)])
        if a is not None:
            plan[b] = a
    return plan


def share_exponentials(definitions: Definitions, outputs, prefix: str = "ionc_exp"):
    """``(definitions, outputs)`` with each planned ``exp(-a)`` replaced by ``1/E``
    and a definition ``E = exp(a)`` added (one per distinct ``a``)."""
    exprs = [e for _, e in definitions] + [e for _, e in outputs]
    plan = shared_exponentials(exprs)
    if not plan:
        return tuple(definitions), tuple(outputs)
    names = {a: symbol(f"{prefix}{i}")
             for i, a in enumerate(sorted(set(plan.values()), key=sp.default_sort_key))}
    swap = {sp.exp(b): 1 / names[a] for b, a in plan.items()}
    new_defs = tuple((s, sp.exp(a)) for a, s in names.items())
    return (new_defs + tuple((s, e.xreplace(swap)) for s, e in definitions),
            tuple((n, e.xreplace(swap)) for n, e in outputs))
