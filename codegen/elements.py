"""Lower a channel spec to per-element functions (symbolic, target-neutral).

An :class:`ElementFunction` is what one neuron needs for one task - its rates,
its steady state, one integration step, its current - as named local
definitions followed by outputs.  Printers turn it into C, CUDA or NumPy;
kernels map it over arrays.  Here the singularity analysis is applied and the
integrator chosen.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

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
        return tuple(name for name, _ in self.outputs)


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
        return self.spec.name.lower()

    @property
    def gate_names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.spec.gates)

    @property
    def parameter_names(self) -> tuple[str, ...]:
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
    has_phi = spec.temperature_factor != 1
    derived = {PHI: sp.nsimplify(spec.temperature_factor, rational=True)} if has_phi else {}
    phi = PHI if has_phi else sp.Integer(1)
    prefix = spec.name.lower()

    def element(task, inputs, outputs, capped, doc):
        exprs = [e for _, e in outputs]
        return ElementFunction(f"{prefix}_{task}", tuple(inputs),
                               _definitions(spec, rates, exprs, capped), tuple(outputs), doc)

    derivs = {g.name: _derivative(g, phi) for g in spec.gates}
    extra = (PHI,) if has_phi else ()
    fns: dict[str, ElementFunction] = {}
    for name, expr in rates.items():
        fns[name] = element(name, (V, *params), [(name, symbol(name))], False,
                            f"{name}(V), singularities removed")
    fns["steady_state"] = element(
        "steady_state", (V, *params),
        [(g.name, _steady(g, derivs[g.name])) for g in spec.gates], True,
        "steady state of every gate at V")
    fns["update"] = element(
        "update", (V, dt, *gates, *params, *extra),
        [(g.name, integrate(derivs[g.name], g.symbol, dt)) for g in spec.gates], True,
        f"one {method} step of every gate at frozen V")
    fns["current"] = element("current", (V, *gates, *params), [("I", spec.current)], False,
                             "channel current at V with the given gates")
    for g in spec.gates:
        fns[f"d{g.name}"] = element(f"d{g.name}", (V, g.symbol, *params, *extra),
                                    [(f"d{g.name}", derivs[g.name])], False,
                                    f"d{g.name}/dt at V")
    for sym, expr in derived.items():
        fns[sym.name] = ElementFunction(f"{prefix}_{sym.name}", params, (),
                                        ((sym.name, expr),), "temperature factor")
    return ChannelModel(spec, method, report, rates, derived, fns)


def _steady(gate, derivative: sp.Expr) -> sp.Expr:
    ss = steady_state(derivative, gate.symbol)
    return ss.subs(PHI, 1) if gate.kind == "rates" else ss
