"""Lower a channel spec to per-element functions (symbolic, target-neutral).

An :class:`ElementFunction` is what one neuron needs for one task - its rates,
its steady state, one integration step, its current - as named local
definitions followed by outputs.  Printers turn it into C, CUDA or NumPy;
kernels map it over arrays.  Here the singularity analysis is applied, every
user symbol renamed through the symbol table (:mod:`.symbols`), the
integrator chosen, and mirrored exponentials shared (:mod:`.exponentials`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

import sympy as sp

from .exponentials import EXP_LIKE, reductions, share_exponentials
from .functions import capped_rate
from .budget import time_bound
from .integrators import get_integrator, linear_coefficients, relaxes
from .singularities import SingularityReport, analyse_current, analyse_rates
from .sparse import Conservation, backward_euler_block, linear_equations_block
from .strength import reduce_exponentials
from .spec import V, ChannelSpec, KineticScheme, SpecError, dt, symbol
from .symbols import INPUT, PARAMETER, SymbolTable, symbol_table

#: The symbol of the channel's temperature factor inside element functions.
PHI = symbol("ionc_phi")
#: NEURON's voltage increment (mV) for its numerical di/dv.
NEURON_DV = sp.Rational(1, 1000)
#: Prefix of the element functions of a channel (a neuron numbers its channels).
FUNCTION_PREFIX = "ionc_f"


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


def _gate_rates(gate, table: SymbolTable, rewritten: dict[str, sp.Expr],
                coupled: bool = False) -> dict[str, sp.Expr]:
    """The rates of one gate in internal symbols; an ODE gate linear in itself and
    reading no other state (not ``coupled``) gets ``inf = -B/A`` and ``tau = -1/A``
    from ``f = A g + B``."""
    if gate.kind != "ode":
        return {f"{role}_{gate.name}": table.rename(rewritten[f"{role}_{gate.name}"])
                for role in gate.rate_expressions()}
    f = table.rename(rewritten[f"ode_{gate.name}"])
    g = table.internal(gate.name)
    out = ({} if gate.initial is None else
           {f"initial_{gate.name}": table.rename(rewritten[f"initial_{gate.name}"])})
    if coupled or not relaxes(f, g):
        return out
    A, B = linear_coefficients(f, g)
    return {f"inf_{gate.name}": sp.factor_terms(-B / A),
            f"tau_{gate.name}": sp.factor_terms(-1 / A), **out}


def _derivative(model_rates, gate, table: SymbolTable, rewritten, phi: sp.Expr, rate_symbol):
    g = table.internal(gate.name)
    if gate.kind == "rates":
        a, b = rate_symbol(f"alpha_{gate.name}"), rate_symbol(f"beta_{gate.name}")
        return phi * (a * (1 - g) - b * g)
    if gate.kind == "inf_tau":
        inf, tau = rate_symbol(f"inf_{gate.name}"), rate_symbol(f"tau_{gate.name}")
        return phi * (inf - g) / tau
    return phi * table.rename(rewritten[f"ode_{gate.name}"])


@lru_cache(maxsize=None)
def lower_channel(spec: ChannelSpec, method: str = "exp_auto",
                  jacobians: bool = False) -> ChannelModel:
    """Analyse ``spec`` and build its element functions for ``method`` (and, with
    ``jacobians``, the exact Jacobians of ``update``, ``steady_state`` and ``current``
    that the XLA back end's derivatives use), under the analysis time bound
    (:mod:`.budget`)."""
    with time_bound(f"channel {spec.name}"):
        return _lower(spec, method, jacobians)


def _lower(spec: ChannelSpec, method: str, jacobians: bool) -> ChannelModel:
    rewritten, report = analyse_rates(spec)
    current_expr, found = analyse_current(spec)
    report = SingularityReport(spec.name, (*report, *found))
    if report.poles:
        raise SpecError(f"{spec.name} has non-removable singularities:\n{report}")
    table = symbol_table(spec)
    integrate = get_integrator(method)
    params = tuple(e.internal for e in table.of_kind(PARAMETER))
    inputs = tuple(e.internal for e in table.of_kind(INPUT))
    gates = tuple(table.internal(g.name) for g in spec.gates)
    intermediates = tuple((table.internal(str(s)), table.rename(e))
                          for s, e in spec.intermediate_symbols.items())
    wide = frozenset(s.name for s, _ in intermediates)
    derived, factors = _temperature_factors(spec, table)
    if spec.schemes and method == "table":
        raise SpecError(f"{spec.name}: method='table' tabulates gates; a kinetic scheme "
                        f"({spec.schemes[0].name}) has no table yet: use the exact step")
    rates: dict[str, sp.Expr] = {name: table.rename(rewritten[name]) for name in spec.rates}
    for g in spec.gates:
        rates.update(_gate_rates(g, table, rewritten, spec.scheme_of(g.name) is not None))

    def rate_symbol(rate: str) -> sp.Symbol:
        return rate_local(rate, spec, table)

    rate_locals = {rate_symbol(k): v for k, v in rates.items()}
    capped = {rate_symbol(f"{role}_{g.name}") for g in spec.gates if g.kind == "rates"
              for role in ("alpha", "beta")} | {table.internal(r) for r in spec.rates}

    def definitions(exprs, cap: bool):
        """The intermediates and rates that ``exprs`` need, in dependency order."""
        needed = [s for s in rate_locals if any(s in e.free_symbols for e in exprs)]
        rate_defs = [(s, capped_rate(rate_locals[s]) if cap and s in capped else rate_locals[s])
                     for s in needed]
        used = set().union(*(e.free_symbols for e in exprs),
                           *(d.free_symbols for _, d in rate_defs))
        inter = []
        for sym, value in reversed(intermediates):
            if sym in used:
                inter.insert(0, (sym, value))
                used |= value.free_symbols
        return tuple(inter) + tuple(rate_defs)

    def element(task, ins, outputs, cap, doc, solved=(), precise=False):
        """The element function of ``task``; ``solved`` are a block solver's locals,
        after the rates they read; ``precise``: every local in double precision."""
        exprs = [e for _, e in (*solved, *outputs)]
        defs, outs, powers = reduce_exponentials(
            *share_exponentials(definitions(exprs, cap) + tuple(solved), outputs))
        return ElementFunction(f"{FUNCTION_PREFIX}_{_task_identifier(task, table)}",
                               tuple(ins), defs, outs, doc, wide, powers, precise)

    derivs = {g.name: _derivative(rates, g, table, rewritten, factors[g.name], rate_symbol)
              for g in spec.gates}
    extra = tuple(derived)
    ident = {g.name: table.identifier(g.name) for g in spec.gates}
    fns: dict[str, ElementFunction] = {}
    for name in rates:
        sym = rate_symbol(name)
        fns[name] = element(name, (*inputs, *params), [(sym.name, sym)], False,
                            f"{name}(V), singularities removed")
    steady, steady_solved = _steady_states(spec, derivs, table, derived, rate_symbol)
    if steady is not None:
        fns["steady_state"] = element(
            "steady_state", (*inputs, *params),
            [(ident[g.name], steady[g.name]) for g in spec.gates], True,
            "steady state of every gate at V", steady_solved, precise=bool(steady_solved))
    try:
        steps, solved = _steps(spec, derivs, table, integrate)
    except SpecError as exc:
        raise SpecError(f"{spec.name}: {exc}") from None
    fns["update"] = element("update", (*inputs, dt, *gates, *params, *extra), steps, True,
                            f"one {method} step of every gate at frozen V" + (
                                ", backward Euler on each kinetic scheme" if spec.schemes
                                else ""), solved)
    current = table.rename(current_expr)
    fns["current"] = element("current", (*inputs, *gates, *params), [("I", current)], False,
                             "channel current at V with the given gates")
    for ion in spec.ion_currents:
        fns[ion_current_task(ion)] = element(
            ion_current_task(ion), (*inputs, *gates, *params),
            [("I", table.rename(analyse_current(spec, ion)[0]))], False,
            f"the part of the current that ion {ion} carries")
    for ion, expr in spec.ion_reversals.items():
        fns[ion_reversal_task(ion)] = element(
            ion_reversal_task(ion), (*inputs, *gates, *params), [("E", table.rename(expr))],
            False, f"the reversal potential of ion {ion} this mechanism sets")
    fns["conductance"] = element(
        "conductance", (*inputs, *gates, *params),
        [("G", sp.factor_terms(-sp.diff(current, V)))], False,
        "-dI/dV at V with the given gates (the membrane's linear coefficient)")
    fns["conductance_numeric"] = element(
        "conductance_numeric", (*inputs, *gates, *params),
        [("G", (current - current.subs(V, V + NEURON_DV)) / NEURON_DV)], False,
        "-dI/dV as NEURON estimates it: (I(V) - I(V + 0.001)) / 0.001")
    for g in spec.gates:
        own = tuple(s for s in extra if s in derivs[g.name].free_symbols)
        others = tuple(s for s in gates if s != table.internal(g.name)
                       and s in derivs[g.name].free_symbols)
        fns[f"d{g.name}"] = element(
            f"d{g.name}", (*inputs, table.internal(g.name), *others, *params, *own),
            [(f"d{ident[g.name]}", derivs[g.name])], False, f"d{g.name}/dt at V")
    def expanded(expr: sp.Expr, cap: bool) -> sp.Expr:
        """``expr`` with every intermediate and rate substituted: a function of the inputs."""
        for sym, value in reversed(definitions([expr], cap)):
            expr = expr.xreplace({sym: value})
        return expr

    tasks = {}
    for task, ins, outputs, cap, wrt in (
            ("update", (*inputs, dt, *gates, *params, *extra), steps, True, (*inputs, *gates)),
            ("steady_state", (*inputs, *params),
             [(ident[g.name], steady[g.name]) for g in spec.gates] if steady else [], True,
             inputs),
            ("current", (*inputs, *gates, *params), [("I", current)], False,
             (*inputs, *gates, *params))) if jacobians else ():
        if spec.schemes and task != "current":
            continue      # a scheme's solve is not differentiated (yet): its ops say so
        entries, exprs = [], []
        for out, expr in outputs:
            full = expanded(expr, cap)
            for x in wrt:
                d = sp.diff(full, x)
                if d != 0:
                    name = f"ionc_j{len(entries)}"
                    entries.append((name, table.user_name(out), table.user_name(x.name)))
                    exprs.append((name, d))
        if exprs:
            fns[f"jacobian_{task}"] = element(
                f"jacobian_{task}", ins, exprs, False, f"the exact Jacobian of {task} (SymPy)")
            tasks[f"jacobian_{task}"] = tuple(entries)
    if method == "table":
        fns["update_table"] = _table_step(spec, table)
    for sym, expr in derived.items():
        used = tuple(s for s in params if s in expr.free_symbols)
        fns[sym.name] = ElementFunction(f"{FUNCTION_PREFIX}_{sym.name}", used, (),
                                        ((sym.name, expr),), "temperature factor")
    return ChannelModel(spec, method, report, rates, derived, fns, table, tasks)


def table_inputs(spec: ChannelSpec, table: SymbolTable) -> tuple[sp.Symbol, ...]:
    """The tabulated values of ``method='table'`` in table column order: ``inf_<g>`` and
    ``frac_<g>`` of each gate (see :mod:`.tables`), as element-function locals."""
    return tuple(symbol(f"{role}_{table.identifier(g.name)}")
                 for g in spec.gates for role in ("inf", "frac"))


def _table_step(spec: ChannelSpec, table: SymbolTable) -> ElementFunction:
    """One step from tabulated values: ``g + (inf - g) frac`` per gate, as the exact
    exponential-Euler step ``g + (inf - g) (-expm1(-k dt))`` with both factors given."""
    gates = tuple(table.internal(g.name) for g in spec.gates)
    values = table_inputs(spec, table)
    outputs = tuple((table.identifier(g.name), s + (inf - s) * frac)
                    for g, s, inf, frac in zip(spec.gates, gates, values[::2], values[1::2]))
    return ElementFunction(f"{FUNCTION_PREFIX}_update_table", (*gates, *values), (), outputs,
                           "one step from the tabulated steady states and step fractions")


def _task_identifier(task: str, table: SymbolTable) -> str:
    """A task's name with its user gate name mangled: ``alpha_p`` -> ``alpha_u_p``."""
    for role in ("alpha", "beta", "inf", "tau"):
        if task.startswith(role + "_") and task[len(role) + 1:] in table:
            return f"{role}_{table.identifier(task[len(role) + 1:])}"
    if task.startswith("d") and task[1:] in table:
        return "d" + table.identifier(task[1:])
    return task


def _temperature_factors(spec: ChannelSpec, table: SymbolTable) -> tuple[dict, dict]:
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
        sym = symbol(f"ionc_phi_{table.identifier(g.name)}") if own else PHI
        derived[sym] = table.rename(sp.nsimplify(value, rational=True))
        factors[g.name] = sym
    return derived, factors


#: NEURON's STEADYSTATE sparse: one backward-Euler step of this many ms.
STEADY_STEP = sp.Integer(10) ** 9


def _laws(scheme: KineticScheme, table: SymbolTable) -> tuple[Conservation, ...]:
    """The scheme's conservation laws in internal symbols, each term times its state's
    volume (as NEURON writes the CONSERVE row of a scheme with COMPARTMENTs)."""
    def volume(s: str) -> sp.Expr:
        return table.rename(scheme.volumes.get(s, sp.Integer(1)))
    return tuple(Conservation(tuple((table.internal(s), table.rename(c) * volume(s))
                                    for s, c in terms), table.rename(total))
                 for terms, total in scheme.conserve)


def _steps(spec: ChannelSpec, derivs: dict, table: SymbolTable, integrate):
    """``(outputs, solver locals)`` of one step: each gate by ``integrate``, each kinetic
    scheme by backward Euler on all its states at once."""
    new: dict[str, sp.Expr] = {}
    solved: list = []
    for k, scheme in enumerate(spec.schemes):
        rhs = {table.internal(s): derivs[s] for s in scheme.states}
        defs, values = backward_euler_block(rhs, dt, _laws(scheme, table), f"ionc_k{k}_")
        solved += defs
        new.update({s: values[table.internal(s)] for s in scheme.states})
    for g in spec.gates:
        if g.name not in new:
            step = get_integrator(g.integrator) if g.integrator else integrate
            new[g.name] = step(derivs[g.name], table.internal(g.name), dt)
    return [(table.identifier(g.name), new[g.name]) for g in spec.gates], tuple(solved)


def _steady_states(spec, derivs, table: SymbolTable, derived, rate_symbol):
    """``(values, solver locals)``: what ``reset_state`` sets each gate to: its ``initial``
    value when given, else its fixed point (temperature factors cancel out of it), a
    steady kinetic scheme's by solving it; ``(None, ())`` when a gate without an initial
    value has a derivative that is not linear in the gate or couples gates."""
    out, solved = {}, []
    gates = {table.internal(g.name) for g in spec.gates}
    for k, scheme in enumerate(spec.schemes):
        states = [table.internal(s) for s in scheme.states]
        start = {table.internal(s): table.rename(scheme.initial.get(s, sp.Integer(0)))
                 for s in scheme.states}
        if scheme.equations:            # NMODL's LINEAR block in INITIAL
            defs, values = linear_equations_block(
                [table.rename(e) for e in scheme.equations], states, f"ionc_q{k}_")
        elif scheme.steady:             # NMODL's STEADYSTATE sparse: a step of 1e9 ms
            rhs = {table.internal(s): derivs[s].subs({d: 1 for d in derived})
                   for s in scheme.states}
            defs, values = backward_euler_block(rhs, STEADY_STEP, _laws(scheme, table),
                                                f"ionc_q{k}_")
            defs = tuple((sym, e.xreplace(start)) for sym, e in defs)
            values = {x: v.xreplace(start) for x, v in values.items()}
        else:
            continue
        solved += defs
        out.update({s: values[table.internal(s)] for s in scheme.states})
    for g in spec.gates:
        if g.name in out:
            continue
        if g.initial is not None:
            out[g.name] = rate_symbol(f"initial_{g.name}")
            continue
        sym = table.internal(g.name)
        f = derivs[g.name].subs({s: 1 for s in derived})
        if (f.free_symbols & gates) - {sym} or not relaxes(f, sym):
            return None, ()
        A, B = linear_coefficients(f, sym)
        out[g.name] = sp.factor_terms(-B / A)
    return out, tuple(solved)
