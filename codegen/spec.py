"""Declarative description of a Hodgkin-Huxley-type ion channel.

A :class:`ChannelSpec` is pure data: parameters with defaults, named
intermediate expressions, gates (each with ``alpha``/``beta`` or
``inf``/``tau`` SymPy expressions and an exponent), a temperature factor and
the current.  Every later stage (singularity analysis, integrators, printers)
reads a spec and nothing else, so adding a channel means writing a spec.
"""
from __future__ import annotations

import tokenize
from dataclasses import dataclass, field
from typing import Mapping

import sympy as sp

#: The membrane potential (mV); every spec's rates are functions of it.
V = sp.Symbol("V", real=True)
#: The integration time step (ms).
dt = sp.Symbol("dt", positive=True)


def symbol(name: str) -> sp.Symbol:
    """A real SymPy symbol, the kind every spec expression is built from."""
    return sp.Symbol(name, real=True)


#: Names the generated kernels use for themselves.
RESERVED = frozenset({"n", "i", "I", "steps", "every", "count", "real", "np", "numpy"})


class SpecError(ValueError):
    """A channel description that cannot be compiled (the message says why)."""


@dataclass(frozen=True)
class Gate:
    """One gating variable: ``alpha``/``beta`` rates or ``inf``/``tau``.

    ``power`` is the exponent with which the gate enters the current; it is
    informational (the current expression is given explicitly in the spec).
    ``factor`` is this gate's own temperature factor (BrainPy's ``phi_p``,
    ``phi_q``); ``None`` uses the channel's ``temperature_factor``.
    """

    name: str
    alpha: sp.Expr | None = None
    beta: sp.Expr | None = None
    inf: sp.Expr | None = None
    tau: sp.Expr | None = None
    power: int = 1
    factor: sp.Expr | None = None

    def __post_init__(self) -> None:
        has_rates = self.alpha is not None and self.beta is not None
        has_inf_tau = self.inf is not None and self.tau is not None
        if has_rates == has_inf_tau:
            raise SpecError(
                f"gate {self.name!r} needs either alpha and beta, or inf and tau "
                f"(got alpha={self.alpha}, beta={self.beta}, inf={self.inf}, tau={self.tau})")

    @property
    def symbol(self) -> sp.Symbol:
        """The state variable of this gate."""
        return symbol(self.name)

    @property
    def kind(self) -> str:
        """``'rates'`` for alpha/beta gates, ``'inf_tau'`` otherwise."""
        return "rates" if self.alpha is not None else "inf_tau"

    def rate_expressions(self) -> dict[str, sp.Expr]:
        """The voltage-dependent functions of this gate, keyed by role."""
        if self.kind == "rates":
            return {"alpha": self.alpha, "beta": self.beta}
        return {"inf": self.inf, "tau": self.tau}


@dataclass(frozen=True, eq=False)
class ChannelSpec:
    """A complete HH-type channel.

    Attributes:
        name: class name of the channel (``'INa_Ba2002'``).
        parameters: parameter name -> default value, in signature order.
        gates: the gating variables.
        current: the current expression in ``V``, gates and parameters.
        temperature_factor: multiplies every gate derivative (``phi``);
            it may depend on parameters only.
        intermediates: named helper expressions (``x = V - V_sh``) that the
            rates may use; they are printed as local variables.
        doc: a short description used in docstrings and reports.
    """

    name: str
    parameters: Mapping[str, float]
    gates: tuple[Gate, ...]
    current: sp.Expr
    temperature_factor: sp.Expr = sp.Integer(1)
    intermediates: Mapping[str, sp.Expr] = field(default_factory=dict)
    doc: str = ""

    def __post_init__(self) -> None:
        self.validate()

    # ---- symbols -----------------------------------------------------
    @property
    def parameter_symbols(self) -> tuple[sp.Symbol, ...]:
        """The parameters as SymPy symbols, in signature order."""
        return tuple(symbol(p) for p in self.parameters)

    @property
    def gate_symbols(self) -> tuple[sp.Symbol, ...]:
        """The gate state variables as SymPy symbols."""
        return tuple(g.symbol for g in self.gates)

    @property
    def intermediate_symbols(self) -> dict[sp.Symbol, sp.Expr]:
        """Intermediate symbol -> its definition, in order."""
        return {symbol(k): v for k, v in self.intermediates.items()}

    def expand_intermediates(self, expr: sp.Expr) -> sp.Expr:
        """``expr`` with every intermediate replaced by its definition."""
        for sym, value in reversed(list(self.intermediate_symbols.items())):
            expr = expr.xreplace({sym: value})
        return expr

    def gate(self, name: str) -> Gate:
        """The gate called ``name`` (KeyError naming the channel otherwise)."""
        for g in self.gates:
            if g.name == name:
                return g
        raise KeyError(f"{self.name} has no gate {name!r}")

    # ---- validation --------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`SpecError` naming the first problem found."""
        if not self.name.isidentifier():
            raise SpecError(f"channel name {self.name!r} is not an identifier")
        names = [*self.parameters, *self.intermediates, *(g.name for g in self.gates), "V", "dt"]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise SpecError(f"channel {self.name!r}: name(s) used twice: {sorted(dupes)}")
        for n in names:
            if not n.isidentifier():
                raise SpecError(f"channel {self.name!r}: {n!r} is not a valid identifier")
            if n in RESERVED or n.startswith(("ionc_", "rec_", "out_")):
                raise SpecError(f"channel {self.name!r}: the name {n!r} is reserved for the "
                                f"generated kernels; choose another")
        params = set(self.parameter_symbols)
        known = params | {V} | set(self.intermediate_symbols)
        defined = params | {V}
        for sym, value in self.intermediate_symbols.items():
            self._check_symbols(value, defined, f"intermediate {sym}")
            defined = defined | {sym}
        for g in self.gates:
            for role, expr in g.rate_expressions().items():
                self._check_symbols(expr, known, f"{role} of gate {g.name!r}")
        self._check_symbols(self.temperature_factor, params, "temperature factor")
        for g in self.gates:
            if g.factor is not None:
                self._check_symbols(g.factor, params, f"factor of gate {g.name!r}")
        self._check_symbols(self.current, known | set(self.gate_symbols), "current")

    def _check_symbols(self, expr: sp.Expr, allowed: set, where: str) -> None:
        if not isinstance(expr, sp.Basic):
            raise SpecError(f"channel {self.name!r}: {where} is not a SymPy expression: {expr!r}")
        unknown = sorted(str(s) for s in expr.free_symbols if s not in allowed)
        if unknown:
            raise SpecError(
                f"channel {self.name!r}: {where} uses unknown symbol(s) {unknown}; "
                f"known: {sorted(str(s) for s in allowed)}")


def parse(text: str, names) -> sp.Expr:
    """``text`` as a SymPy expression over the real symbols ``names`` (and ``V``).

    A name not in ``names`` stays a plain symbol, which spec validation then
    reports by name; syntax errors raise :class:`SpecError`.
    """
    local = {n: symbol(n) for n in names}
    local["V"] = V
    try:
        return sp.parse_expr(text, local_dict=local)
    except (SyntaxError, TypeError, ValueError, sp.SympifyError, tokenize.TokenError) as exc:
        raise SpecError(f"cannot parse {text!r}: {exc}") from None


def spec_from_strings(name: str, parameters: Mapping[str, float], gates: Mapping[str, dict],
                      current: str, temperature_factor: str = "1",
                      intermediates: Mapping[str, str] | None = None, doc: str = ""
                      ) -> ChannelSpec:
    """A :class:`ChannelSpec` from plain strings.

    ``gates`` maps a gate name to ``{"alpha": str, "beta": str}`` or
    ``{"inf": str, "tau": str}``, plus an optional ``"power"`` and ``"factor"``
    (the gate's own temperature factor).  Example::

        spec_from_strings("INa", {"g_max": 90.0, "E": 50.0, "V_sh": -50.0},
                          {"m": {"alpha": "0.32*(V - V_sh - 13)/(1 - exp(-(V - V_sh - 13)/4))",
                                 "beta": "0.28*(V - V_sh - 40)/(exp((V - V_sh - 40)/5) - 1)",
                                 "power": 3}},
                          current="g_max*m**3*(E - V)")
    """
    intermediates = dict(intermediates or {})
    names = [*parameters, *intermediates, *gates]
    inter = {k: parse(v, names) for k, v in intermediates.items()}
    gate_objs = []
    for gate, fields in gates.items():
        unknown = set(fields) - {"alpha", "beta", "inf", "tau", "power", "factor"}
        if unknown:
            raise SpecError(f"gate {gate!r}: unknown field(s) {sorted(unknown)}")
        exprs = {k: parse(v, names) for k, v in fields.items() if k != "power"}
        gate_objs.append(Gate(gate, power=int(fields.get("power", 1)), **exprs))
    return ChannelSpec(name=name, parameters=dict(parameters), gates=tuple(gate_objs),
                       current=parse(current, names),
                       temperature_factor=parse(temperature_factor, names),
                       intermediates=inter, doc=doc)
