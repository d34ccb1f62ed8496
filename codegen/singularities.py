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

import math
from dataclasses import dataclass
from typing import Callable, Iterable

import sympy as sp

from .functions import exprelr
from .budget import at, check_deadline
from .spec import V, ChannelSpec, SpecError, symbol


@dataclass(frozen=True)
class Singularity:
    """One zero of a denominator of a rate function.

    ``removable`` zeros are 0/0 points with a finite limit, rewritten away.
    Otherwise it is a pole; a pole that exists only for some parameter values
    (``conditional``: a slope ``k = 0``, or a zero that exists only when a
    parameter has some sign) is reported and compiled, an unconditional one
    makes the channel refuse to compile.
    """

    gate: str
    role: str
    location: sp.Expr          # the value of V (or, conditional, the parameter equation)
    removable: bool
    limit: sp.Expr | None      # the two-sided limit there (None for a pole)
    method: str                # 'exprelr' or 'none'
    original: sp.Expr          # the factor as written
    rewritten: sp.Expr         # its replacement (the original for a pole)
    proof: str                 # how the limit was established
    conditional: str = ""      # for a pole: the parameter values for which it exists

    @property
    def rate_name(self) -> str:
        """``'alpha_p'`` etc. (``'current'`` for the channel's current)."""
        return f"{self.role}_{self.gate}" if self.gate else self.role

    def __str__(self) -> str:
        if self.conditional:
            return (f"{self.rate_name}: undefined where {self.conditional} (a denominator "
                    f"vanishes there): {self.original}")
        if not self.removable:
            return (f"{self.rate_name}: POLE at V = {self.location} "
                    f"(denominator vanishes, numerator does not): {self.original}")
        value = f" = {float(self.limit)!r}" if self.limit.is_number else ""
        return (f"{self.rate_name}: removable 0/0 at V = {self.location}, limit "
                f"{self.limit}{value}; {self.original}  ->  {self.rewritten}  [{self.proof}]")


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
        """The zeros where the numerator does not vanish, for every parameter value."""
        return tuple(s for s in self if not s.removable and not s.conditional)

    @property
    def conditional(self) -> tuple[Singularity, ...]:
        """Poles that exist only for some parameter values (reported, compiled)."""
        return tuple(s for s in self if s.conditional)

    def __str__(self) -> str:
        head = (f"{self.channel}: {len(self.removable)} removable singularit"
                f"{'y' if len(self.removable) == 1 else 'ies'}, {len(self.poles)} pole(s)")
        if self.conditional:
            head += f", {len(self.conditional)} conditional"
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
    """``expr`` is linear in V: its second derivative is 0 as SymPy writes it or once
    expanded (no ``simplify``: its polynomial GCDs overflow GMP on powers such as
    ``(1000 cai)**(10/(3 log(10)))`` and abort the process)."""
    d2 = sp.diff(expr, V, 2)
    return d2 == 0 or sp.expand(d2) == 0


def _one_signed_sum(d: sp.Expr, defaults: dict) -> tuple[bool, str]:
    """``(True, condition)`` when ``d`` is a sum of terms ``c exp(a) exprelr(b) ...`` (and
    constants) whose coefficients ``c`` all have one sign: such a sum of rates has no
    real zero (``exp`` and ``exprelr`` are positive).  A coefficient with parameters is
    signed at their defaults, and ``condition`` says when the sum could vanish.  (SymPy's
    solveset can take minutes on sums of incommensurate exponentials.)"""
    signs, symbolic = set(), []
    for term in sp.Add.make_args(d):
        coeff, rest = term.as_independent(V, as_Add=False)
        if rest != 1 and not all(isinstance(f, (sp.exp, exprelr))
                                 and f.args[0].is_real is not False
                                 for f in sp.Mul.make_args(rest)):
            return False, ""
        if not coeff.is_number:
            symbolic.append(coeff)
            coeff = coeff.subs(defaults)
        if not coeff.is_number or coeff == 0:
            return False, ""
        signs.add(bool(coeff > 0))
    if len(signs) != 1:
        return False, ""
    if not symbolic:
        return True, ""
    sign = "positive" if signs.pop() else "negative"
    return True, f"any of {', '.join(map(str, symbolic))} is not {sign}"


def _zeros(d: sp.Expr, where: str, defaults: dict | None = None
           ) -> tuple[list[sp.Expr], str]:
    """The real zeros of ``d`` (a function of V and parameters) and, when they exist
    only for some parameter values, that condition as text.

    ``s0 + s1*exp(c1*V + c0)`` is solved in closed form: a zero exists where
    ``r = -s0/s1 > 0``, at ``V = (log r - c0)/c1``; a sign of ``r`` that depends
    on parameters makes it conditional.  A sum of one-signed terms has none (see
    :func:`_one_signed_sum`; with parameters in the coefficients, none at their
    ``defaults``, and the condition says when).  Other forms go to ``sympy.solveset``.
    """
    parts = _exp_decomposition(d, lambda e: V in e.free_symbols)
    if parts is not None:
        s0, s1, a = parts
        c1 = sp.simplify(sp.diff(a, V))
        if V not in c1.free_symbols and c1 != 0:
            r = sp.simplify(-s0 / s1)
            if r.is_zero or r.is_nonpositive:
                return [], ""
            c0 = sp.simplify(a - c1 * V)
            v0 = sp.simplify((sp.log(r) - c0) / c1)
            return [v0], ("" if r.is_positive else f"{r} > 0")
    one_signed, condition = _one_signed_sum(d, defaults or {})
    if one_signed:
        return [], condition
    try:
        zeros = sp.solveset(d, V, sp.S.Reals)
    except NotImplementedError:
        raise SpecError(f"{where}: cannot locate the zeros of the denominator {d} on the real "
                        f"line (SymPy's solveset cannot solve it)") from None
    if zeros is sp.S.EmptySet:
        return [], ""
    if isinstance(zeros, sp.FiniteSet):
        return list(zeros), ""
    raise SpecError(f"{where}: cannot locate the zeros of the denominator {d} on the real "
                    f"line (solveset gave {zeros})")


def _settle(e: sp.Expr) -> sp.Expr:
    """``e`` with logs of products and powers taken apart (where the symbols allow it),
    simplified."""
    return sp.simplify(sp.expand_log(e))


def _rational_values(values: dict) -> dict:
    """The numeric entries of ``values`` (parameters or inputs by name) as exact rationals
    keyed by their symbols: the shortest decimal that is the float (``nsimplify``'s
    base-10 conversion first tries to identify each float as an expression, some
    8 ms apiece).  A non-finite default stays ``oo`` or ``nan``."""
    return {symbol(k): sp.Integer(v) if isinstance(v, int)
            else sp.Rational(repr(float(v))) if math.isfinite(v) else sp.nsimplify(v)
            for k, v in values.items() if isinstance(v, (int, float))}


def _equal(a: sp.Expr, b: sp.Expr, defaults: dict) -> bool:
    """``a == b``: SymPy simplifies the difference to 0, or, where it cannot (logs of
    powers of a concentration), the two agree to 40 digits (mpmath at 50 digits) for
    three parameter sets (the defaults, and two with each parameter moved by its own
    small factor) and five values of the positive symbols left, a different one each."""
    import mpmath
    if _settle(a - b) == 0:
        return True
    exprelr_mp = {"exprelr": lambda u: (1 - u / 2 if abs(u) < mpmath.mpf("1e-30")
                                        else u / mpmath.expm1(u))}
    for shift in (0, 1, 2):
        params = {k: v * (1 + sp.Rational(shift * (3 + j), 97))
                  for j, (k, v) in enumerate(sorted(defaults.items(), key=str))}
        x, y = a.subs(params), b.subs(params)
        free = sorted((x - y).free_symbols, key=str)
        if any(not f.is_positive for f in free):
            return False
        fx, fy = (sp.lambdify(free, e, modules=[exprelr_mp, "mpmath"]) for e in (x, y))
        with mpmath.workdps(50):
            for c in ("1e-7", "3e-5", "5e-4", "2e-2", "10"):
                values = [mpmath.mpf(c) * (1 + mpmath.mpf(k) / 7) for k in range(len(free))]
                u, w = fx(*values), fy(*values)
                if not abs(u - w) <= mpmath.mpf("1e-40") * (1 + abs(u)):
                    return False
    return True


def _limit(expr: sp.Expr, v0: sp.Expr, numerator: sp.Expr, denominator: sp.Expr
           ) -> tuple[sp.Expr, str]:
    """The two-sided limit of ``expr`` at ``V = v0`` and how it was obtained."""
    h = sp.Dummy("h")
    try:
        lim = sp.limit(expr.subs(V, v0 + h), h, 0, "+-")
        if lim.is_finite is not False and not lim.has(sp.Limit, sp.nan, sp.zoo, sp.AccumBounds):
            return sp.simplify(lim), "two-sided sympy.limit equals the rewrite at the point"
    except (NotImplementedError, ValueError, TypeError):
        pass
    return _lhopital(expr, v0, numerator, denominator)


def _lhopital(expr: sp.Expr, v0: sp.Expr, numerator: sp.Expr, denominator: sp.Expr
              ) -> tuple[sp.Expr, str]:
    """The limit at a simple zero of both: ``N'(v0)/D'(v0)`` with ``D'(v0) != 0``."""
    slope = sp.simplify(sp.diff(denominator, V).subs(V, v0))
    if slope == 0:
        raise SpecError(f"cannot establish the limit of {expr} at V = {v0}")
    return (sp.simplify(sp.diff(numerator, V).subs(V, v0) / slope),
            "l'Hopital (simple zeros of numerator and denominator) equals the rewrite")


def _parameter_poles(expr: sp.Expr, expand, gate: str, role: str) -> list[Singularity]:
    """Denominators of parameters only that vanish for some values (a slope k = 0)."""
    found, seen = [], set()
    for node in sp.preorder_traversal(expr):
        if not (node.is_Pow and node.exp.is_negative):
            continue
        base = expand(node.base)
        if V in base.free_symbols or not base.free_symbols or base.is_nonzero:
            continue
        if isinstance(base, sp.exp) or base in seen:
            continue
        seen.add(base)
        found.append(Singularity(gate, role, sp.Eq(base, 0), False, None, "none", expr, expr,
                                 "a denominator of parameters only",
                                 conditional=f"{base} = 0"))
    return found


def remove_singularities(expr: sp.Expr, spec: ChannelSpec, gate: str = "", role: str = ""
                         ) -> tuple[sp.Expr, list[Singularity]]:
    """Rewrite the removable singularities of ``expr``; return it and what was found.

    ``expr`` may use the spec's intermediates; they are kept in the result and
    expanded only to solve for ``V``.  Locations and limits may depend on
    parameters (a half-activation voltage, a slope ``k``).
    """
    found: list[Singularity] = []
    expand = spec.expand_intermediates
    # Only to prove that a numerator vanishes at a zero, or that a rewrite equals the
    # limit, are the inputs beyond V taken as positive (concentrations): SymPy then takes
    # log((1000 cai)^p) apart.  Where zeros are and what is reported keep the spec's
    # real symbols, so an input that may be negative still has its poles found.
    positive = {symbol(c): sp.Dummy(c, positive=True) for c in spec.inputs}
    real = {x: c for c, x in positive.items()}

    def settled(e: sp.Expr) -> sp.Expr:
        """``e`` simplified with the inputs positive, in the spec's symbols again."""
        return _settle(e.xreplace(positive)).xreplace(real)

    def vanishes(e: sp.Expr) -> bool:
        return settled(e) == 0

    def equal(a: sp.Expr, b: sp.Expr) -> bool:
        return _equal(a.xreplace(positive), b.xreplace(positive), defaults)
    states = set(spec.gate_symbols)
    where = f"{spec.name}: {role}_{gate}" if gate else f"{spec.name}: {role}"
    defaults = _rational_values(spec.parameters)
    conditional_sums: set = set()
    # where a sum's coefficients hold parameters or inputs, its sign is taken at their
    # defaults (and the report says when it could change)
    signs_at = {**defaults, **_rational_values(spec.inputs)}

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
                if not (f.is_Pow and f.exp == -1 and depends(f.base)
                        and not (expand(f.base).free_symbols & states)):
                    continue
                d = f.base
                zeros, condition = _zeros(expand(d), where, signs_at)
                if not zeros and condition and expand(d) not in conditional_sums:
                    conditional_sums.add(expand(d))
                    found.append(Singularity(gate, role, sp.Eq(expand(d), 0), False, None,
                                             "none", e, e, "a sum of one-signed rates",
                                             conditional=condition))
                others = [g for g in factors if g is not f]
                numerator = sp.Mul(*others)
                for v0 in zeros:
                    if not vanishes(expand(numerator).subs(V, v0)):
                        found.append(Singularity(gate, role, v0, False, None, "none",
                                                 e, e, "numerator nonzero at the zero",
                                                 conditional=condition))
                        continue
                    new = _rewrite_exprelr(others, d, depends, expand, v0, vanishes)
                    if new is None:
                        plain = sp.Mul(*(g for g in others if depends(g)
                                         and not (g.is_Pow and g.exp.is_negative)))
                        at = settled(expand(plain).subs(V, v0))
                        if at != 0:
                            # the product vanishes only through a reciprocal that blows
                            # up: the term plain/d has a pole there, cancelled in the whole
                            raise SpecError(
                                f"{where}: the term ({plain})/({d}) has a pole at V = {v0}: "
                                f"its numerator is {at} there, not 0 (NEURON divides by zero "
                                f"at that point too); only removable 0/0 points are "
                                f"rewritten, so check the file's coefficients")
                        raise SpecError(
                            f"{where} has a removable 0/0 at V = {v0} "
                            f"in {e}, but not of the form M(V)/(s0 + s1*exp(a)) with M "
                            f"and a linear in V; write it with exprelr or simplify it")
                    original_v = expand(numerator / d)
                    lim, proof = _limit(original_v, v0, expand(numerator), expand(d))
                    at_point = expand(new).subs(V, v0)
                    if not equal(at_point, lim) and "Hopital" not in proof:
                        # sympy.limit can miss with symbols in exponents ((1000 cai)**p)
                        lim, proof = _lhopital(original_v, v0, expand(numerator), expand(d))
                    if not equal(at_point, lim):
                        raise SpecError(
                            f"{where}: rewrite {new} gives {at_point} at "
                            f"V = {v0}, but the limit is {lim}")
                    found.append(Singularity(gate, role, v0, True, lim, "exprelr",
                                             numerator / d, new, proof))
                    factors = list(sp.Mul.make_args(new))
                    changed = True
                    break
                if changed:
                    break
        return sp.Mul(*factors)

    rational = sp.nsimplify(expr, rational=True)
    poles = _parameter_poles(rational, expand, gate, role)
    try:
        return visit(rational), poles + found
    except SpecError:
        # a 0/0 behind a branch (a clamped exp: exp(50) above 50, 0 below -50): taken
        # into every branch, each branch's 0/0 is of the usual form
        folded = sp.piecewise_fold(rational)
        if folded == rational or not rational.has(sp.Piecewise):
            raise
    found.clear()
    return visit(folded), poles + found


def _rewrite_exprelr(others, d, depends, expand, v0, vanishes) -> sp.Expr | None:
    """``others / d`` with ``M / (s0 + s1 exp(a))`` as ``exprelr``.  ``M`` is the product
    of the factors that depend on V or, when that is not linear, the one linear factor
    that vanishes at ``v0``; the other factors (``a / (a + b)``'s ``1/(a + b)``) are
    carried along unchanged."""
    decomposition = _exp_decomposition(d, depends)
    if decomposition is None:
        return None
    s0, s1, a = decomposition
    r = sp.simplify(-s0 / s1)
    shifted = sp.expand(a - sp.log(r)) if r != 1 else a
    constant = sp.Mul(*(g for g in others if not depends(g)))
    varying = [g for g in others if depends(g)]
    carried = sp.Integer(1)
    if not _is_linear(expand(sp.Mul(*varying))):
        vanishing = [g for g in varying if _is_linear(expand(g))
                     and vanishes(expand(g).subs(V, v0))]
        if len(vanishing) != 1:
            return None
        carried = sp.Mul(*(g for g in varying if g is not vanishing[0]))
        varying = vanishing
    linear = sp.Mul(*varying)
    lin_v, arg_v = expand(linear), expand(shifted)
    if not (_is_linear(lin_v) and _is_linear(arg_v)):
        return None
    c = sp.simplify(sp.diff(lin_v, V) / sp.diff(arg_v, V))
    if depends(c):
        return None
    return sp.simplify(constant * c / (s1 * r)) * exprelr(shifted) * carried


def analyse_rates(spec: ChannelSpec) -> tuple[dict[str, sp.Expr], SingularityReport]:
    """Every rate of ``spec`` rewritten, keyed ``'alpha_p'`` (a named rate by its name),
    and the report."""
    rates: dict[str, sp.Expr] = {}
    found: list[Singularity] = []
    for name, expr in spec.rates.items():
        check_deadline()
        at(f"rate {name}")
        rates[name], singular = remove_singularities(expr, spec, "", name)
        found.extend(singular)
    for gate in spec.gates:
        for role, expr in gate.rate_expressions().items():
            check_deadline()
            at(f"{role}_{gate.name}")
            new, singular = remove_singularities(expr, spec, gate.name, role)
            rates[f"{role}_{gate.name}"] = new
            found.extend(singular)
    return rates, SingularityReport(spec.name, found)


def analyse_current(spec: ChannelSpec, ion: str | None = None
                    ) -> tuple[sp.Expr, list[Singularity]]:
    """The current (or the part ``ion`` carries) with its removable 0/0 points rewritten
    (a GHK current at V = 0), and what was found; the current as written when there is
    nothing to rewrite."""
    expr = spec.current if ion is None else spec.ion_currents[ion]
    new, found = remove_singularities(expr, spec, "", "current" if ion is None
                                      else f"i{ion}")
    return (new if any(s.removable for s in found) else expr), found


def find_removable_singularities(spec: ChannelSpec) -> SingularityReport:
    """The singularities of every rate and of the current of ``spec`` (removable ones and
    poles)."""
    report = analyse_rates(spec)[1]
    return SingularityReport(spec.name, (*report, *analyse_current(spec)[1]))
