"""Lower a mechanism to element functions: a sequence of small named passes.

Each pass is a function from a :class:`Lowering` (the mechanism as far as it is
lowered) to the next, in the style of NMODL's visitors::

    remove_singularities -> assign_names -> lower_rates -> state_equations
        -> integrate -> currents -> element_functions -> derivatives -> tables

Gates are front-end sugar: :func:`lower_rates` turns alpha/beta and inf/tau into named
rates and :func:`state_equations` into one ODE right side per state, after which no pass
asks what kind a gate was (the rate roles stay as names, for the singularity report,
``f_<gate>_<rate>`` methods and rate tables).  :func:`lower_channel` runs them all.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

import sympy as sp

from .budget import time_bound
from .elements import (FUNCTION_PREFIX, NEURON_DV, PHI, ChannelModel, ElementFunction,
                       Iteration, ion_current_task, ion_reversal_task, rate_local,
                       table_inputs)
from .functions import capped_rate
from .integrators import get_integrator, implicit_euler_step, linear_coefficients, relaxes
from .newton import newton_block, sparse_block
from .saturation import saturate
from .singularities import SingularityReport, analyse_current, analyse_rates
from .sparse import Conservation, backward_euler_block, is_linear, linear_equations_block
from .spec import V, ChannelSpec, KineticScheme, SpecError, dt, symbol
from .strength import reduce_exponentials
from .exponentials import share_exponentials
from .symbols import INPUT, PARAMETER, SymbolTable, symbol_table

#: NEURON's STEADYSTATE sparse: one backward-Euler step of this many ms.
STEADY_STEP = sp.Integer(10) ** 9

Outputs = tuple[tuple[str, sp.Expr], ...]


@dataclass(frozen=True)
class Lowering:
    """A mechanism part way through lowering; each pass fills its own fields.

    User-level expressions (``rewritten``) are in the spec's symbols; everything
    after :func:`assign_names` is in internal symbols (:mod:`.symbols`).
    """

    spec: ChannelSpec
    method: str = "exp_auto"
    report: SingularityReport | None = None
    rewritten: dict[str, sp.Expr] = field(default_factory=dict)   # singularities removed
    current: sp.Expr | None = None                                 # the channel's current
    table: SymbolTable | None = None
    rates: dict[str, sp.Expr] = field(default_factory=dict)       # user rate name -> expr
    derived: dict[sp.Symbol, sp.Expr] = field(default_factory=dict)   # temperature factors
    factors: dict[str, sp.Expr] = field(default_factory=dict)     # state -> its factor
    odes: dict[str, sp.Expr] = field(default_factory=dict)        # state -> d state/dt
    steps: Outputs = ()                                            # one step of each state
    solved: tuple = ()                                             # a block solver's locals
    newton: Iteration | None = None                                # a nonlinear block's loop
    steady: dict[str, sp.Expr] | None = None                       # what reset_state sets
    steady_solved: tuple = ()
    outputs: dict[str, tuple[Outputs, str]] = field(default_factory=dict)  # currents: (out, doc)
    functions: dict[str, ElementFunction] = field(default_factory=dict)
    jacobians: dict = field(default_factory=dict)

    # -- views every later pass shares ---------------------------------------------------

    @property
    def parameters(self) -> tuple[sp.Symbol, ...]:
        return tuple(e.internal for e in self.table.of_kind(PARAMETER))

    @property
    def inputs(self) -> tuple[sp.Symbol, ...]:
        return tuple(e.internal for e in self.table.of_kind(INPUT))

    @property
    def states(self) -> tuple[sp.Symbol, ...]:
        return tuple(self.table.internal(g.name) for g in self.spec.gates)

    @property
    def identifiers(self) -> dict[str, str]:
        return {g.name: self.table.identifier(g.name) for g in self.spec.gates}

    def rate_symbol(self, rate: str) -> sp.Symbol:
        return rate_local(rate, self.spec, self.table)

    def signature(self, task: str) -> tuple[sp.Symbol, ...]:
        """The inputs of a task's element function."""
        if task == "update":
            return (*self.inputs, dt, *self.states, *self.parameters, *self.derived)
        if task == "steady_state" or task in self.rates:
            return (*self.inputs, *self.parameters)
        return (*self.inputs, *self.states, *self.parameters)


# -- the passes, in order ---------------------------------------------------------------

def remove_singularities(spec: ChannelSpec, method: str = "exp_auto") -> Lowering:
    """Find and remove the removable singularities of every rate and of the current (and
    the inf/inf of ``exp(a)/(1 + exp(a))`` at extreme V, :mod:`.saturation`); a
    non-removable one is a :class:`SpecError` listing them all."""
    rewritten, report = analyse_rates(spec)
    rewritten = {name: saturate(expr) for name, expr in rewritten.items()}
    current, found = analyse_current(spec)
    current = saturate(current)
    report = SingularityReport(spec.name, (*report, *found))
    if report.poles:
        raise SpecError(f"{spec.name} has non-removable singularities:\n{report}")
    if spec.schemes and method == "table":
        raise SpecError(f"{spec.name}: method='table' tabulates gates; a kinetic scheme "
                        f"({spec.schemes[0].name}) has no table yet: use the exact step")
    return Lowering(spec, method, report, rewritten, current)


def assign_names(low: Lowering) -> Lowering:
    """Give every user symbol its generated-code name (the symbol table)."""
    table = symbol_table(low.spec)
    return replace(low, table=table, current=table.rename(low.current))


def lower_rates(low: Lowering) -> Lowering:
    """Named rates: the spec's own, each gate's (alpha/beta, inf/tau, or inf/tau of an
    ODE gate linear in itself alone), and the temperature factors."""
    spec, table = low.spec, low.table
    rates = {name: table.rename(low.rewritten[name]) for name in spec.rates}
    states = set(spec.gate_symbols)
    for g in spec.gates:
        coupled = spec.scheme_of(g.name) is not None or (
            g.kind == "ode" and bool(g.ode.free_symbols & (states - {g.symbol})))
        rates.update(_gate_rates(g, table, low.rewritten, coupled))
    derived, factors = _temperature_factors(spec, table)
    return replace(low, rates=rates, derived=derived, factors=factors)


def state_equations(low: Lowering) -> Lowering:
    """Each state's ODE right side, times its temperature factor: after this pass a
    mechanism is a system of ODEs and no pass asks what kind a gate was."""
    odes = {g.name: low.factors[g.name] * _right_side(low, g) for g in low.spec.gates}
    return replace(low, odes=odes)


def integrate(low: Lowering) -> Lowering:
    """One step of every state (each by its integrator, a kinetic scheme by backward
    Euler on all its states, the backward-Euler states by NEURON's Newton iteration when
    one is not linear in itself or they couple) and the steady state ``reset_state``
    sets."""
    try:
        steps, solved, newton = _steps(low, low.method)
    except SpecError as exc:
        raise SpecError(f"{low.spec.name}: {exc}") from None
    steady, steady_solved = _steady_states(low)
    return replace(low, steps=steps, solved=solved, newton=newton, steady=steady,
                   steady_solved=steady_solved)


def currents(low: Lowering) -> Lowering:
    """The current, the part each ion carries, the reversal potentials the mechanism
    sets, and the membrane's conductance (exact and as NEURON estimates it)."""
    spec, table, current = low.spec, low.table, low.current
    outputs = {"current": ((("I", current),), "channel current at V with the given gates")}
    for ion in spec.ion_currents:
        outputs[ion_current_task(ion)] = (
            (("I", table.rename(analyse_current(spec, ion)[0])),),
            f"the part of the current that ion {ion} carries")
    for ion, expr in spec.ion_reversals.items():
        outputs[ion_reversal_task(ion)] = (
            (("E", table.rename(expr)),),
            f"the reversal potential of ion {ion} this mechanism sets")
    outputs["conductance"] = (
        (("G", sp.factor_terms(-sp.diff(current, V))),),
        "-dI/dV at V with the given gates (the membrane's linear coefficient)")
    outputs["conductance_numeric"] = (
        (("G", (current - current.subs(V, V + NEURON_DV)) / NEURON_DV),),
        "-dI/dV as NEURON estimates it: (I(V) - I(V + 0.001)) / 0.001")
    return replace(low, outputs=outputs)


def element_functions(low: Lowering) -> Lowering:
    """The element function of every task: rates, steady state, update, the currents,
    and each state's derivative."""
    locals_ = _Locals(low)
    fns: dict[str, ElementFunction] = {}
    for name in low.rates:
        sym = low.rate_symbol(name)
        fns[name] = locals_.element(name, low.signature(name), [(sym.name, sym)], False,
                                    f"{name}(V), singularities removed")
    ident = low.identifiers
    if low.steady is not None:
        fns["steady_state"] = locals_.element(
            "steady_state", low.signature("steady_state"),
            [(ident[g.name], low.steady[g.name]) for g in low.spec.gates], True,
            "steady state of every gate at V", low.steady_solved,
            precise=bool(low.steady_solved))
    fns["update"] = locals_.element(
        "update", low.signature("update"), low.steps, True,
        f"one {low.method} step of every gate at frozen V" + (
            ", backward Euler on each kinetic scheme" if low.spec.schemes else "") + (
            ", Newton's iteration on the nonlinear block" if low.newton else ""),
        low.solved, precise=low.newton is not None, iteration=low.newton)
    for task, (outputs, doc) in low.outputs.items():
        fns[task] = locals_.element(task, low.signature(task), outputs, False, doc)
    for g in low.spec.gates:
        state, ode = low.table.internal(g.name), low.odes[g.name]
        own = tuple(s for s in low.derived if s in ode.free_symbols)
        others = tuple(s for s in low.states if s != state and s in ode.free_symbols)
        fns[f"d{g.name}"] = locals_.element(
            f"d{g.name}", (*low.inputs, state, *others, *low.parameters, *own),
            [(f"d{ident[g.name]}", ode)], False, f"d{g.name}/dt at V")
    return replace(low, functions=fns)


def derivatives(low: Lowering, rates: bool = False) -> Lowering:
    """The exact Jacobians (SymPy) of ``update`` and ``steady_state`` in the inputs and
    states, of ``current`` in the parameters too, and (``rates``) of each rate in the
    inputs: what the XLA back end's derivatives use.  A kinetic scheme's solve and a Newton
    iteration are not differentiated (their ops say so)."""
    locals_ = _Locals(low)
    ident = low.identifiers
    steady = [(ident[g.name], low.steady[g.name]) for g in low.spec.gates] if low.steady else []
    fns, tasks = dict(low.functions), dict(low.jacobians)
    named = {}                                     # output identifier -> its user name
    plans = [("update", low.steps, True, (*low.inputs, *low.states)),
             ("steady_state", steady, True, low.inputs),
             ("current", low.outputs["current"][0], False,
              (*low.inputs, *low.states, *low.parameters))]
    for rate in low.rates if rates else ():
        sym = low.rate_symbol(rate)
        named[sym.name] = rate
        plans.append((rate, [(sym.name, sym)], False, low.inputs))
    for task, outputs, cap, wrt in plans:
        if (low.spec.schemes or low.newton) and task in ("update", "steady_state"):
            continue
        entries, exprs = [], []
        for out, expr in outputs:
            full = locals_.expanded(expr, cap)
            for x in wrt:
                d = sp.diff(full, x)
                if d != 0:
                    name = f"ionc_j{len(entries)}"
                    entries.append((name, named.get(out) or low.table.user_name(out),
                                    low.table.user_name(x.name)))
                    exprs.append((name, d))
        if exprs:
            fns[f"jacobian_{task}"] = locals_.element(
                f"jacobian_{task}", low.signature(task), exprs, False,
                f"the exact Jacobian of {task} (SymPy)")
            tasks[f"jacobian_{task}"] = tuple(entries)
    return replace(low, functions=fns, jacobians=tasks)


def tables(low: Lowering) -> Lowering:
    """Under ``method='table'``, the step from tabulated values; and the temperature
    factors, each computed once per call from the scalar parameters it reads."""
    fns = dict(low.functions)
    if low.method == "table":
        fns["update_table"] = _table_step(low.spec, low.table)
    for sym, expr in low.derived.items():
        used = tuple(s for s in low.parameters if s in expr.free_symbols)
        fns[sym.name] = ElementFunction(f"{FUNCTION_PREFIX}_{sym.name}", used, (),
                                        ((sym.name, expr),), "temperature factor")
    return replace(low, functions=fns)


#: ``lower_channel(..., jacobians=RATE_JACOBIANS)``: each rate's Jacobian as well.
RATE_JACOBIANS = "rates"


@lru_cache(maxsize=None)
def lower_channel(spec: ChannelSpec, method: str = "exp_auto",
                  jacobians: bool | str = False) -> ChannelModel:
    """Analyse ``spec`` and build its element functions for ``method`` (and, with
    ``jacobians``, the exact Jacobians of ``update``, ``steady_state`` and ``current``
    that the XLA back end's derivatives use; with :data:`RATE_JACOBIANS`, each rate's
    too), under the analysis time bound (:mod:`.budget`)."""
    with time_bound(f"channel {spec.name}"):
        low = remove_singularities(spec, method)
        for step in (assign_names, lower_rates, state_equations, integrate, currents,
                     element_functions):
            low = step(low)
        if jacobians:
            low = derivatives(low, jacobians == RATE_JACOBIANS)
        low = tables(low)
    return ChannelModel(spec, method, low.report, low.rates, low.derived, low.functions,
                        low.table, low.jacobians)


# -- what the passes share --------------------------------------------------------------

class _Locals:
    """The local definitions an element function needs: the intermediates and rates its
    expressions read, in dependency order (``cap``: alpha/beta and named rates capped)."""

    def __init__(self, low: Lowering):
        spec, table = low.spec, low.table
        self.low = low
        self.rates = {low.rate_symbol(k): v for k, v in low.rates.items()}
        self.capped = ({low.rate_symbol(f"{role}_{g.name}") for g in spec.gates
                        if g.kind == "rates" for role in ("alpha", "beta")}
                       | {table.internal(r) for r in spec.rates})
        self.intermediates = tuple((table.internal(str(s)), table.rename(e))
                                   for s, e in spec.intermediate_symbols.items())
        self.wide = frozenset(s.name for s, _ in self.intermediates)

    def definitions(self, exprs, cap: bool) -> tuple:
        """The intermediates and rates that ``exprs`` need, in dependency order."""
        needed = [s for s in self.rates if any(s in e.free_symbols for e in exprs)]
        rate_defs = [(s, capped_rate(self.rates[s]) if cap and s in self.capped
                      else self.rates[s]) for s in needed]
        used = set().union(*(e.free_symbols for e in exprs),
                           *(d.free_symbols for _, d in rate_defs))
        inter = []
        for sym, value in reversed(self.intermediates):
            if sym in used:
                inter.insert(0, (sym, value))
                used |= value.free_symbols
        return tuple(inter) + tuple(rate_defs)

    def expanded(self, expr: sp.Expr, cap: bool) -> sp.Expr:
        """``expr`` with every intermediate and rate substituted: a function of the inputs."""
        for sym, value in reversed(self.definitions([expr], cap)):
            expr = expr.xreplace({sym: value})
        return expr

    def element(self, task: str, ins, outputs, cap: bool, doc: str, solved=(),
                precise: bool = False, iteration: Iteration | None = None) -> ElementFunction:
        """The element function of ``task``; ``solved`` are a block solver's locals,
        after the rates they read; ``precise``: every local in double precision;
        ``iteration``: a loop after the definitions (it reads the rates it needs)."""
        exprs = [e for _, e in (*solved, *outputs)]
        exprs += iteration.expressions if iteration else ()
        defs, outs, powers = reduce_exponentials(
            *share_exponentials(self.definitions(exprs, cap) + tuple(solved), tuple(outputs)))
        return ElementFunction(f"{FUNCTION_PREFIX}_{_task_identifier(task, self.low.table)}",
                               tuple(ins), defs, outs, doc, self.wide, powers, precise,
                               iteration)


def _gate_rates(gate, table: SymbolTable, rewritten: dict[str, sp.Expr],
                coupled: bool = False) -> dict[str, sp.Expr]:
    """The rates of one gate in internal symbols; an ODE gate linear in itself and
    reading no other state (not ``coupled``: in a scheme or reading another) gets
    ``inf = -B/A`` and ``tau = -1/A`` from ``f = A g + B``."""
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


def _right_side(low: Lowering, gate) -> sp.Expr:
    """A state's ODE right side before its temperature factor: the gate sugar's last use."""
    g = low.table.internal(gate.name)
    if gate.kind == "rates":
        a, b = low.rate_symbol(f"alpha_{gate.name}"), low.rate_symbol(f"beta_{gate.name}")
        return a * (1 - g) - b * g
    if gate.kind == "inf_tau":
        inf, tau = low.rate_symbol(f"inf_{gate.name}"), low.rate_symbol(f"tau_{gate.name}")
        return (inf - g) / tau
    return low.table.rename(low.rewritten[f"ode_{gate.name}"])


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


def _laws(scheme: KineticScheme, table: SymbolTable) -> tuple[Conservation, ...]:
    """The scheme's conservation laws in internal symbols, each term times its state's
    volume (as NEURON writes the CONSERVE row of a scheme with COMPARTMENTs)."""
    def volume(s: str) -> sp.Expr:
        return table.rename(scheme.volumes.get(s, sp.Integer(1)))
    return tuple(Conservation(tuple((table.internal(s), table.rename(c) * volume(s))
                                    for s, c in terms), table.rename(total))
                 for terms, total in scheme.conserve)


def _steps(low: Lowering, method: str) -> tuple[Outputs, tuple, Iteration | None]:
    """``(outputs, solver locals, iteration)`` of one step: each gate by its integrator
    (its own or ``method``'s), each kinetic scheme by backward Euler on all its states at
    once (iterated as NEURON's sparse when a reaction multiplies states), and the
    backward-Euler gates together by Newton's iteration when one of them is not linear
    in itself or reads another."""
    spec, table = low.spec, low.table
    new: dict[str, sp.Expr] = {}
    solved: list = []
    loops = []
    for k, scheme in enumerate(spec.schemes):
        rhs = {table.internal(s): low.odes[s] for s in scheme.states}
        if is_linear(rhs):
            defs, values = backward_euler_block(rhs, dt, _laws(scheme, table), f"ionc_k{k}_")
            solved += defs
        else:       # a product of states: NEURON's sparse iterates
            loop, values = sparse_block(
                {x: _state_rates_inlined(low, f) for x, f in rhs.items()}, rhs, dt,
                _laws(scheme, table), f"ionc_p{k}_")
            loops.append(f"kinetic scheme {scheme.name}")
        new.update({s: values[table.internal(s)] for s in scheme.states})
    rest = [g for g in spec.gates if g.name not in new]
    implicit = {table.internal(g.name): _state_rates_inlined(low, low.odes[g.name])
                for g in rest if get_integrator(g.integrator or method) is implicit_euler_step}
    if any(not _linear_alone(f, x, implicit) for x, f in implicit.items()):
        loop, values = newton_block(implicit, dt)
        loops.append(f"the backward-Euler states {[table.user_name(x.name) for x in implicit]}")
        new.update({table.user_name(x.name): v for x, v in values.items()})
    if len(loops) > 1:
        raise SpecError(f"{' and '.join(loops)} each need an iteration; one nonlinear "
                        f"block per mechanism is supported")
    newton = loop if loops else None
    for g in rest:
        if g.name not in new:
            step = get_integrator(g.integrator or method)
            new[g.name] = step(low.odes[g.name], table.internal(g.name), dt)
    outputs = tuple((table.identifier(g.name), new[g.name]) for g in spec.gates)
    return outputs, tuple(solved), newton


def _linear_alone(f: sp.Expr, x: sp.Symbol, block: dict) -> bool:
    """Whether ``dx/dt = f`` is linear in ``x`` and reads no other state of ``block``."""
    if (f.free_symbols & set(block)) - {x}:
        return False
    try:
        linear_coefficients(f, x)
    except SpecError:
        return False
    return True


def _state_rates_inlined(low: Lowering, expr: sp.Expr) -> sp.Expr:
    """``expr`` with every rate and intermediate that reads a state substituted (a
    Newton iteration evaluates them at each iterate; the others stay locals)."""
    values = {low.rate_symbol(k): v for k, v in low.rates.items()}
    values.update({low.table.internal(str(s)): low.table.rename(e)
                   for s, e in low.spec.intermediate_symbols.items()})
    moving = set(low.states)
    changed = True
    while changed:
        changed = False
        for sym, value in values.items():
            if sym not in moving and value.free_symbols & moving:
                moving.add(sym)
                changed = True
    swap = {sym: v for sym, v in values.items() if sym in moving}
    while expr.free_symbols & set(swap):
        expr = expr.xreplace(swap)
    return expr


def _steady_states(low: Lowering) -> tuple[dict | None, tuple]:
    """``(values, solver locals)``: what ``reset_state`` sets each gate to: its ``initial``
    value when given, else its fixed point (temperature factors cancel out of it), a
    steady kinetic scheme's by solving it; ``(None, ())`` when a gate without an initial
    value has a derivative that is not linear in the gate or couples gates."""
    spec, table, derived = low.spec, low.table, low.derived
    out, solved = {}, []
    gates = set(low.states)
    for k, scheme in enumerate(spec.schemes):
        states = [table.internal(s) for s in scheme.states]
        start = {table.internal(s): table.rename(scheme.initial.get(s, sp.Integer(0)))
                 for s in scheme.states}
        if scheme.equations:            # NMODL's LINEAR block in INITIAL
            defs, values = linear_equations_block(
                [table.rename(e) for e in scheme.equations], states, f"ionc_q{k}_")
        elif scheme.steady:             # NMODL's STEADYSTATE sparse: a step of 1e9 ms
            rhs = {table.internal(s): low.odes[s].subs({d: 1 for d in derived})
                   for s in scheme.states}
            if not is_linear(rhs):
                raise SpecError(f"kinetic scheme {scheme.name}: STEADYSTATE of a scheme whose "
                                f"reactions multiply states is not supported; set its states "
                                f"in INITIAL")
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
            out[g.name] = low.rate_symbol(f"initial_{g.name}")
            continue
        sym = table.internal(g.name)
        f = low.odes[g.name].subs({s: 1 for s in derived})
        if (f.free_symbols & gates) - {sym} or not relaxes(f, sym):
            return None, ()
        A, B = linear_coefficients(f, sym)
        out[g.name] = sp.factor_terms(-B / A)
    return out, tuple(solved)
