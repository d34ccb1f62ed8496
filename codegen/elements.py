"""Per-element functions (symbolic, target-neutral) and the lowered channel.

An :class:`ElementFunction` is what one neuron needs for one task - its rates,
its steady state, one integration step, its current - as named local
definitions followed by outputs.  Printers turn it into C, CUDA or NumPy;
kernels map it over arrays.  :mod:`.lowering` builds them, pass by pass, into a
:class:`ChannelModel`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import sympy as sp

from .exponentials import EXP_LIKE, Definitions, reductions
from .singularities import SingularityReport
from .spec import ChannelSpec, symbol
from .symbols import SymbolTable

#: The symbol of the channel's temperature factor inside element functions.
PHI = symbol("ionc_phi")
#: NEURON's voltage increment (mV) for its numerical di/dv.
NEURON_DV = sp.Rational(1, 1000)
#: Prefix of the element functions of a channel (a neuron numbers its channels).
FUNCTION_PREFIX = "ionc_f"


@dataclass(frozen=True)
class Iteration:
    """A loop inside an element function (NEURON's Newton iteration), after its
    definitions and before its outputs.  Each ``carried`` local starts at its value;
    every pass computes ``body`` (which may read the definitions, the inputs and the
    carried locals), then each carried local takes its ``next`` value (all at once);
    the loop ends after the pass where ``until`` (a condition on the body's locals)
    holds, or after ``limit`` passes.  The outputs read the carried locals."""

    carried: Definitions
    body: Definitions
    next: tuple[sp.Expr, ...]
    until: sp.Basic
    limit: int

    @property
    def expressions(self) -> tuple[sp.Expr, ...]:
        """Every right-hand side the loop computes."""
        return (*(e for _, e in self.carried), *(e for _, e in self.body), *self.next)


@dataclass(frozen=True)
class ElementFunction:
    """``outputs = f(inputs)`` for one element, with named local definitions.

    Every symbol is already spelled as generated code spells it (user names
    mangled); ``name`` is the function's identifier.
    """

    name: str
    inputs: tuple[sp.Symbol, ...]
    definitions: tuple[tuple[sp.Symbol, sp.Expr], ...]
    outputs: tuple[tuple[str, sp.Expr], ...]
    doc: str = ""
    wide: frozenset = frozenset()     # locals computed in double precision (V - V_sh)
    powers: int = 0                   # exponentials computed as powers of others
    precise: bool = False             # every local in double precision (a linear solve)
    iteration: Iteration | None = None   # a loop between the definitions and the outputs

    @property
    def reductions(self) -> int:
        """Range reductions one element takes (distinct arguments of exp, expm1, exprelr)."""
        return len(reductions(self.expressions))

    @property
    def output_names(self) -> tuple[str, ...]:
        """Names of the outputs, in order."""
        return tuple(name for name, _ in self.outputs)

    @property
    def expressions(self) -> tuple[sp.Expr, ...]:
        """Every right-hand side: the definitions', the loop's, then the outputs'."""
        loop = self.iteration.expressions if self.iteration else ()
        return (*(e for _, e in self.definitions), *loop, *(e for _, e in self.outputs))

    @property
    def transcendentals(self) -> int:
        """Distinct exp/expm1/exprelr/log/power calls: what one element costs."""
        calls = set()
        for e in self.expressions:
            calls |= e.atoms(*EXP_LIKE, sp.log)
            calls |= {p for p in e.atoms(sp.Pow) if not p.exp.is_Integer}
        return len(calls)

    def renamed(self, name: str) -> "ElementFunction":
        """The same function under another identifier."""
        return replace(self, name=name)


@dataclass(frozen=True)
class ChannelModel:
    """A spec after analysis: symbol table, rewritten rates, every element function.

    ``functions`` is keyed by task: ``update``, ``steady_state`` (absent when a
    gate's ODE has no closed-form fixed point), ``current``, ``conductance``,
    one ``<role>_<gate>`` per rate and ``d<gate>`` per gate (user names), and
    the derived temperature factors by their symbol's name.
    """

    spec: ChannelSpec
    method: str
    singularities: SingularityReport
    rates: dict[str, sp.Expr]                 # user-level rate name -> internal expression
    derived: dict[sp.Symbol, sp.Expr]
    functions: dict[str, ElementFunction]
    table: SymbolTable
    #: ``jacobian_<task>`` -> its outputs as ``(identifier, output, variable)`` (user names):
    #: d output / d variable of ``update``, ``steady_state`` and ``current``.
    jacobians: dict = field(default_factory=dict)

    @property
    def gate_names(self) -> tuple[str, ...]:
        """The gates (user names), in spec order."""
        return tuple(g.name for g in self.spec.gates)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """The parameters (user names), in signature order."""
        return tuple(self.spec.parameters)

    @property
    def input_names(self) -> tuple[str, ...]:
        """``V`` and the other per-call inputs (user names)."""
        return ("V",) + tuple(self.spec.inputs)

    def display(self, expr: sp.Expr) -> sp.Expr:
        """``expr`` under the user's names again (``u_x`` -> ``x``, ``alpha_u_p`` ->
        ``alpha_p``): for reports and ``ionc inspect``."""
        swap = {self.rate_symbol(r): symbol(r) for r in self.rates}
        swap.update({s: symbol(s.name.replace(self.table.identifier(g), g))
                     for s in self.derived for g in self.gate_names
                     if s.name.endswith("_" + self.table.identifier(g))})
        return self.table.restore(expr.xreplace(swap))

    def rate_symbol(self, rate: str) -> sp.Symbol:
        """The local holding rate ``'alpha_p'`` inside element functions (``alpha_u_p``)."""
        return rate_local(rate, self.spec, self.table)


def ion_current_task(ion: str) -> str:
    """The task (element function) of the current ion ``ion`` carries."""
    return f"ionc_i{ion}"


def ion_reversal_task(ion: str) -> str:
    """The task (element function) of the reversal potential a mechanism sets for ``ion``."""
    return f"ionc_e{ion}"


def rate_local(rate: str, spec: ChannelSpec, table: SymbolTable) -> sp.Symbol:
    """The local holding rate ``rate`` inside element functions: a named rate's own
    symbol (``u_a1``), ``<role>_<gate>``'s ``<role>_u_<gate>``."""
    if rate in spec.rates:
        return table.internal(rate)
    role, gate = rate.split("_", 1)
    return symbol(f"{role}_{table.identifier(gate)}")


def table_inputs(spec: ChannelSpec, table: SymbolTable) -> tuple[sp.Symbol, ...]:
    """The tabulated values of ``method='table'`` in table column order: ``inf_<g>`` and
    ``frac_<g>`` of each gate (see :mod:`.tables`), as element-function locals."""
    return tuple(symbol(f"{role}_{table.identifier(g.name)}")
                 for g in spec.gates for role in ("inf", "frac"))
