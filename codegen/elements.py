"""Lower a channel spec to per-element functions (symbolic, target-neutral).

An :class:`ElementFunction` is what one neuron needs for one task - its rates,
its steady state, one integration step, its current - as named local
definitions followed by outputs.  Printers turn it into C, CUDA or NumPy;
kernels map it over arrays.  Here the singularity analysis is applied, the
integrator chosen, and mirrored exponentials shared (:mod:`.exponentials`).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from .exponentials import EXP_LIKE, share_exponentials
from .functions import capped_rate
from .integrators import get_integrator, steady_state
from .singularities import SingularityReport, analyse_rates
from .spec import V, ChannelSpec, SpecError, dt, symbol

#: The symbol of the temperature factor inside element functions.
PHI = symbol("ionc_phi")


@dataclass(frozen=True)
class ElementFunction:
    """``outputs = f(inputs)`` for one element, with named local definitions."""

    name: str
    inputs: tuple[sp.Symbol, ...]
    definitions: tuple[tuple[sp.Symbol, sp.Expr], ...]
    outputs: tuple[tuple[str, sp.Expr], ...]
    doc: str = ""

    @property
    def output_names(self) -> tuple[str, ...]:
        """Names of the outputs, in order."""
        return tuple(name for name, _ in self.outputs)

    @property
    def expressions(self) -> tuple[sp.Expr, ...]:
        """Every right-hand side: the definitions', then the outputs'."""
        return tuple(e for _, e in self.definitions) + tuple(e for _, e in self.outputs)

    @property
    def transcendentals(self) -> int:
        """Distinct exp/expm1/exprelr/log/power calls: what one element costs."""
        calls = set()
        for e in self.expressions:
            calls |= e.atoms(*EXP_LIKE, sp.log)
            calls |= {p for p in e.atoms(sp.Pow) if not p.exp.is_Integer}
        return len(calls)


@dataclass(frozen=True)
class ChannelModel:
    """A spec after analysis: rewritten rates and every element function."""

    spec: ChannelSpec
    method: str
    singularities: SingularityReport
    rates: dict[str, sp.Expr]
    derived: dict[sp.Symbol, sp.Expr]
    functions: dict[str, ElementFunction]

    @property
    def prefix(self) -> str:
        """Prefix of this channel's C names (``ina_ba2002``)."""
        return self.spec.name.lower()

    @property
    def gate_names(self) -> tuple[str, ...]:
        """The gates, in spec order."""
        return tuple(g.name for g in self.spec.gates)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """The parameters, in signature order."""
        return tuple(self.spec.parameters)


def _derivative(gate, phi: sp.Expr) -> sp.Expr:
    g = gate.symbol
    if gate.kind == "rates":
        a, b = symbol(f"alpha_{gate.name}"), symbol(f"beta_{gate.name}")
        return phi * (a * (1 - g) - b * g)
    inf, tau = symbol(f"inf_{gate.name}"), symbol(f"tau_{gate.name}")
    return phi * (inf - g) / tau


def _definitions(spec: ChannelSpec, rates: dict[str, sp.Expr], exprs, capped: bool):
    """The intermediates and rates that ``exprs`` need, in dependency order."""
    rate_syms = {symbol(k): v for k, v in rates.items()}
    needed_rates = [s for s in rate_syms if any(s in e.free_symbols for e in exprs)]
    rate_defs = [(s, capped_rate(rate_syms[s]) if capped and s.name.split("_")[0] in
                  ("alpha", "beta") else rate_syms[s]) for s in needed_rates]
    used = set().union(*(e.free_symbols for e in exprs), *(d.free_symbols for _, d in rate_defs))
    inter = []
    for sym, value in reversed(list(spec.intermediate_symbols.items())):
        if sym in used:
            inter.insert(0, (sym, value))
            used |= value.free_symbols
    return tuple(inter) + tuple(rate_defs)


@lru_cache(maxsize=None)
def lower_channel(spec: ChannelSpec, method: str = "exp_auto") -> ChannelModel:
    """Analyse ``spec`` and build its element functions for ``method``."""
    rates, report = analyse_rates(spec)
    if report.poles:
        raise SpecError(f"{spec.name} has non-removable singularities:\n{report}")
    integrate = get_integrator(method)
    params = spec.parameter_symbols
    gates = spec.gate_symbols
    derived, factors = _temperature_factors(spec)
    prefix = spec.name.lower()

    def element(task, inputs, outputs, capped, doc):
        exprs = [e for _, e in outputs]
        definitions, outputs = share_exponentials(_definitions(spec, rates, exprs, capped),
                                                  outputs)
        return ElementFunction(f"{prefix}_{task}", tuple(inputs), definitions, outputs, doc)

    derivs = {g.name: _derivative(g, factors[g.name]) for g in spec.gates}
    extra = tuple(derived)
    fns: dict[str, ElementFunction] = {}
    for name, expr in rates.items():
        fns[name] = element(name, (V, *params), [(name, symbol(name))], False,
                            f"{name}(V), singularities removed")
    fns["steady_state"] = element(
        "steady_state", (V, *params),
        [(g.name, _steady(derivs[g.name], g.symbol, derived)) for g in spec.gates], True,
        "steady state of every gate at V")
    fns["update"] = element(
        "update", (V, dt, *gates, *params, *extra),
        [(g.name, integrate(derivs[g.name], g.symbol, dt)) for g in spec.gates], True,
        f"one {method} step of every gate at frozen V")
    fns["current"] = element("current", (V, *gates, *params), [("I", spec.current)], False,
                             "channel current at V with the given gates")
    fns["conductance"] = element(
        "conductance", (V, *gates, *params), [("G", sp.factor_terms(-sp.diff(spec.current, V)))],
        False, "-dI/dV at V with the given gates (the membrane's linear coefficient)")
    for g in spec.gates:
        own = tuple(s for s in extra if s in derivs[g.name].free_symbols)
        fns[f"d{g.name}"] = element(f"d{g.name}", (V, g.symbol, *params, *own),
                                    [(f"d{g.name}", derivs[g.name])], False,
                                    f"d{g.name}/dt at V")
    for sym, expr in derived.items():
        used = tuple(s for s in params if s in expr.free_symbols)
        fns[sym.name] = ElementFunction(f"{prefix}_{sym.name}", used, (),
                                        ((sym.name, expr),), "temperature factor")
    return ChannelModel(spec, method, report, rates, derived, fns)


def _temperature_factors(spec: ChannelSpec) -> tuple[dict, dict]:
    """Derived temperature factors (symbol -> expression) and each gate's factor.

    The channel's factor is ``ionc_phi``; a gate with its own factor gets
    ``ionc_phi_<gate>``.  Both are computed once per call when they depend on
    scalar parameters only.
    """
    derived: dict[sp.Symbol, sp.Expr] = {}
    factors: dict[str, sp.Expr] = {}
    for g in spec.gates:
        own = g.factor is not None
        value = g.factor if own else spec.temperature_factor
        if value == 1:
            factors[g.name] = sp.Integer(1)
            continue
        sym = symbol(f"ionc_phi_{g.name}") if own else PHI
        derived[sym] = sp.nsimplify(value, rational=True)
        factors[g.name] = sym
    return derived, factors


def _steady(derivative: sp.Expr, gate: sp.Symbol, derived: dict) -> sp.Expr:
    """The fixed point of one gate; temperature factors cancel out of it."""
    return steady_state(derivative.subs({s: 1 for s in derived}), gate)
