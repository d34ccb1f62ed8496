"""Find the removable singularities of rate functions and rewrite them away.

For every factor ``1/d`` of a rate whose denominator ``d`` vanishes on the
real line (solved for ``V`` as a function of the other symbols), the
numerator is checked to vanish at the same point; the two-sided limit is
obtained with :func:`sympy.limit`; and the factor is rewritten with
``exprelr(u) = u / expm1(u)``:

    K * M(V) / (s0 + s1 * exp(a))  ->  K * c / (s1 * r) * exprelr(a - log r)

with ``r = -s0/s1`` and ``M = c * (a - log r)`` (both linear in ``V``).  The
rewritten expression is proved equal to the limit at the point.  A zero of a
denominator where the numerator does not vanish is a pole: it is reported
with ``removable=False`` and left alone, and compiling such a channel fails.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import sympy as sp

from .functions import exprelr
from .spec import V, ChannelSpec, SpecError


@dataclass(frozen=True)
class Singularity:
    """One zero of a denominator of a rate function."""

    gate: str
    role: str
    location: sp.Expr          # the value of V, in terms of parameters
    removable: bool
    limit: sp.Expr | None      # the two-sided limit there (None for a pole)
    method: str                # 'exprelr' or 'none'
    original: sp.Expr          # the factor as written
    rewritten: sp.Expr         # its replacement (the original for a pole)
    proof: str                 # how the limit was established

    @property
    def rate_name(self) -> str:
        """``'alpha_p'`` etc."""
        return f"{self.role}_{self.gate}"

    def __str__(self) -> str:
        if not self.removable:
            return (f"{self.rate_name}: POLE at V = {self.location} "
                    f"(denominator vanishes, numerator does not): {self.original}")
        return (f"{self.rate_name}: removable 0/0 at V = {self.location}, limit "
                f"{self.limit} = {float(self.limit)!r}; {self.original}  ->  "
                f"{self.rewritten}  [{self.proof}]")


class SingularityReport(tuple):
    """All singularities found in a channel; ``print`` it for a table."""

    channel: str = ""

    def __new__(cls, channel: str, items: Iterable[Singularity]):
        self = super().__new__(cls, tuple(items))
        self.channel = channel
        return self

    @property
    def removable(self) -> tuple[Singularity, ...]:
        """The removable 0/0 points."""
        return tuple(s for s in self if s.removable)

    @property
    def poles(self) -> tuple[Singularity, ...]:
        """The zeros where the numerator does not vanish."""
        return tuple(s for s in self if not s.removable)

    def __str__(self) -> str:
        head = f"{self.channel}: {len(self.removable)} removable singularit" \
               f"{'y' if len(self.removable) == 1 else 'ies'}, {len(self.poles)} pole(s)"
        return "\n".join([head, *("  " + str(s) for s in self)])

    def __repr__(self) -> str:
        return f"SingularityReport({self.channel!r}, {list(self)!r})"


def _exp_decomposition(d: sp.Expr, depends: Callable[[sp.Expr], bool]):
    """``(s0, s1, a)`` with ``d == s0 + s1*exp(a)``, or None if d has another form."""
    s0, s1, a = [], None, None
    for term in sp.Add.make_args(d):
        if not depends(term):
            s0.append(term)
            continue
        exps = [f for f in sp.Mul.make_args(term) if isinstance(f, sp.exp)]
        others = [f for f in sp.Mul.make_args(term) if not isinstance(f, sp.exp)]
        if len(exps) != 1 or s1 is not None or any(depends(o) for o in others):
            return None
        s1, a = sp.Mul(*others), exps[0].args[0]
    if s1 is None:
        return None
    return sp.Add(*s0), s1, a


def _is_linear(expr: sp.Expr) -> bool:
    return sp.simplify(sp.diff(expr, V, 2)) == 0


def remove_singularities(expr: sp.Expr, spec: ChannelSpec, gate: str = "", role: str = ""
                         ) -> tuple[sp.Expr, list[Singularity]]:
    """Rewrite the removable singularities of ``expr``; return it and what was found.

    ``expr`` may use the spec's intermediates; they are kept in the result and
    expanded only to solve for ``V``.
    """
    found: list[Singularity] = []
    expand = spec.expand_intermediates

    def depends(e: sp.Expr) -> bool:
        return V in expand(e).free_symbols

    def visit(e: sp.Expr, factor_of_mul: bool = False) -> sp.Expr:
        if e.is_Atom:
            return e
        e = e.func(*(visit(a, e.is_Mul) for a in e.args))
        if not (e.is_Mul or (e.is_Pow and e.exp == -1 and not factor_of_mul)):
            return e
        factors = list(sp.Mul.make_args(e))
        changed = True
        while changed:
            changed = False
            for f in factors:
                if not (f.is_Pow and f.exp == -1 and depends(f.base)):
                    continue
                d = f.base
                zeros = sp.solveset(expand(d), V, sp.S.Reals)
                if zeros is sp.S.EmptySet:
                    continue
                if not isinstance(zeros, sp.FiniteSet):
                    raise SpecError(
                        f"{spec.name}: {role}_{gate}: cannot locate the zeros of the "
                        f"denominator {d} on the real line (solveset gave {zeros})")
                others = [g for g in factors if g is not f]
                numerator = sp.Mul(*others)
                for v0 in zeros:
                    if sp.simplify(expand(numerator).subs(V, v0)) != 0:
                        found.append(Singularity(gate, role, v0, False, None, "none",
                                                 e, e, "numerator nonzero at the zero"))
                        continue
                    new = _rewrite_exprelr(others, d, depends, expand)
                    if new is None:
                        raise SpecError(
                            f"{spec.name}: {role}_{gate} has a removable 0/0 at V = {v0} "
                            f"in {e}, but not of the form M(V)/(s0 + s1*exp(a)) with M "
                            f"and a linear in V; write it with exprelr or simplify it")
                    h = sp.Dummy("h")
                    original_v = expand(sp.Mul(*others) / d)
                    lim = sp.limit(original_v.subs(V, v0 + h), h, 0, "+-")
                    at_point = expand(new).subs(V, v0)
                    if sp.simplify(at_point - lim) != 0:
                        raise SpecError(
                            f"{spec.name}: {role}_{gate}: rewrite {new} gives {at_point} at "
                            f"V = {v0}, but the limit is {lim}")
                    found.append(Singularity(
                        gate, role, v0, True, lim, "exprelr", sp.Mul(*others) / d, new,
                        "two-sided sympy.limit equals the rewrite at the point"))
                    factors = list(sp.Mul.make_args(new))
                    changed = True
                    break
                if changed:
                    break
        return sp.Mul(*factors)

    rational = sp.nsimplify(expr, rational=True)
    return visit(rational), found


def _rewrite_exprelr(others, d, depends, expand) -> sp.Expr | None:
    decomposition = _exp_decomposition(d, depends)
    if decomposition is None:
        return None
    s0, s1, a = decomposition
    r = sp.simplify(-s0 / s1)
    shifted = sp.expand(a - sp.log(r))
    constant = sp.Mul(*(g for g in others if not depends(g)))
    linear = sp.Mul(*(g for g in others if depends(g)))
    lin_v, arg_v = expand(linear), expand(shifted)
    if not (_is_linear(lin_v) and _is_linear(arg_v)):
        return None
    c = sp.simplify(sp.diff(lin_v, V) / sp.diff(arg_v, V))
    if depends(c):
        return None
    return sp.simplify(constant * c / (s1 * r)) * exprelr(shifted)


def analyse_rates(spec: ChannelSpec) -> tuple[dict[str, sp.Expr], SingularityReport]:
    """Every rate of ``spec`` rewritten, keyed ``'alpha_p'``, and the report."""
    rates: dict[str, sp.Expr] = {}
    found: list[Singularity] = []
    for gate in spec.gates:
        for role, expr in gate.rate_expressions().items():
            new, singular = remove_singularities(expr, spec, gate.name, role)
            rates[f"{role}_{gate.name}"] = new
            found.extend(singular)
    return rates, SingularityReport(spec.name, found)


def find_removable_singularities(spec: ChannelSpec) -> SingularityReport:
    """The singularities of every rate of ``spec`` (removable ones and poles)."""
    return analyse_rates(spec)[1]
