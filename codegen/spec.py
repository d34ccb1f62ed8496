"""Declarative description of a Hodgkin-Huxley-type ion channel.

A :class:`ChannelSpec` is pure data: parameters with defaults, inputs beyond
``V`` (an ion concentration given per neuron on every call), named
intermediate expressions, named rates (functions of V such as a kinetic
scheme's rate constants), gates (each with ``alpha``/``beta``, ``inf``/``tau``
or its own ODE ``dg/dt = f(V, g)``), kinetic schemes (reactions between
states, whose ODEs the spec derives), a temperature factor and the current.
Every later stage reads a spec and nothing else, so adding a channel means
writing a spec; a front end (library, strings, NMODL) is
anything that produces one.

Names are the user's: nothing is reserved but ``V``.  The generated code
never prints them verbatim (:mod:`.symbols` mangles every one), so a gate
may be called ``n``, ``real`` or ``int``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

#: The membrane potential (mV); every spec's rates are functions of it.
V = sp.Symbol("V", real=True)
#: The integration time step (ms).  It never appears in a spec, only in the
#: element functions the compiler builds; a user symbol may share its name.
dt = sp.Symbol("dt", positive=True)


def is_name(name) -> bool:
    """True for an ASCII identifier: every target spells it the same (a non-ASCII letter
    such as ``ñ``, or ``ﬁ``, which Python folds into ``fi``, is not one)."""
    return isinstance(name, str) and name.isascii() and name.isidentifier()


def symbol(name: str) -> sp.Symbol:
    """A real SymPy symbol, the kind every spec expression is built from."""
    return sp.Symbol(name, real=True)


#: The one name the physics fixes.
RESERVED = frozenset({"V"})
#: The most gates (states), rates, parameters or inputs one channel may have: the
#: symbolic analysis of user text is bounded in size as well as in time.
MAX_STATES = 256
#: Names of the compiler's per-element tasks, which a named rate cannot take.
TASK_NAMES = frozenset({"update", "steady_state", "current", "conductance",
                        "conductance_numeric", "update_table"})


class SpecError(ValueError):
    """A channel description that cannot be compiled (the message says why)."""


#: Function classes a spec expression may contain (anything else is refused).
ALLOWED_FUNCTIONS = (sp.exp, sp.log, expm1, log1p, sp.Abs, sp.Min, sp.Max, sp.Piecewise,
                     sp.sin, sp.cos, sp.tan, sp.sinh, sp.cosh, sp.tanh, sp.sign)
#: Gate fields holding expressions, by gate kind.
GATE_FIELDS = {"rates": ("alpha", "beta"), "inf_tau": ("inf", "tau"), "ode": ("ode",)}


def is_condition(value) -> bool:
    """True for a relation or a logical expression (a Symbol is not one here)."""
    return isinstance(value, (sp.core.relational.Relational, sp.logic.boolalg.BooleanFunction,
                              sp.logic.boolalg.BooleanAtom))


def _expression(value, where: str) -> sp.Expr:
    """``value`` as a SymPy expression (numbers are converted), else a SpecError."""
    if isinstance(value, bool) or value is None:
        raise SpecError(f"{where} must be an expression, got {value!r}")
    if isinstance(value, (int, float)):
        return sp.nsimplify(value, rational=True) if isinstance(value, float) else sp.Integer(value)
    if not isinstance(value, sp.Basic):
        raise SpecError(f"{where} is not a SymPy expression or a number: {value!r}")
    if is_condition(value) or not value.is_commutative:
        raise SpecError(f"{where} must be a real-valued expression, got {value}")
    return value


def check_expression(expr: sp.Expr, where: str) -> None:
    """A :class:`SpecError` naming ``where`` unless ``expr`` is finite arithmetic of
    symbols, numbers and the allowed functions (``exp``, ``log``, ``Piecewise`` with a
    default, ...)."""
    from .functions import capped_rate, exprelr
    if expr.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
        raise SpecError(f"{where} contains an infinite or undefined constant: {expr}")
    for node in sp.preorder_traversal(expr):
        if isinstance(node, (sp.Symbol, sp.Number, sp.NumberSymbol, sp.Add, sp.Mul, sp.Pow,
                             sp.logic.boolalg.BooleanAtom)):
            continue
        if isinstance(node, (sp.core.relational.Relational, sp.And, sp.Or, sp.Not)):
            continue
        if isinstance(node, sp.Piecewise):
            if node.args[-1].cond != True:  # noqa: E712 - SymPy's true
                raise SpecError(f"{where}: a Piecewise needs a default branch (condition "
                                f"True): {node}")
            continue
        if isinstance(node, sp.functions.elementary.piecewise.ExprCondPair):
            continue
        if isinstance(node, ALLOWED_FUNCTIONS + (exprelr, capped_rate)):
            continue
        raise SpecError(f"{where}: {type(node).__name__} is not allowed in a channel "
                        f"(in {expr}); use arithmetic, exp, log, Piecewise, ...")


@dataclass(frozen=True)
class Gate:
    """One gating variable: ``alpha``/``beta`` rates, ``inf``/``tau``, or an ODE.

    ``ode`` is the right-hand side ``f`` of ``d<gate>/dt = f(V, gate, ...)``
    (what NMODL's ``m' = (minf - m)/mtau`` is); it may use the gate's own
    symbol.  ``power`` is the exponent with which the gate enters the current;
    it is informational (the current expression is given explicitly).
    ``factor`` is this gate's own temperature factor (BrainPy's ``phi_p``);
    ``None`` uses the channel's ``temperature_factor``.  ``initial`` is the value
    ``reset_state`` gives the gate (a function of V, the parameters and inputs:
    what an NMODL INITIAL block sets); ``None`` is the gate's steady state.
    ``integrator='euler'`` steps this gate by forward Euler whatever the channel's
    method (what NEURON's cnexp does with an equation that does not name its state).
    ``bounds`` are the values the state may take (a gate's [0, 1]; a concentration's
    ``(0, inf)``), checked when states are loaded.
    """

    name: str
    alpha: sp.Expr | None = None
    beta: sp.Expr | None = None
    inf: sp.Expr | None = None
    tau: sp.Expr | None = None
    power: int = 1
    factor: sp.Expr | None = None
    ode: sp.Expr | None = None
    initial: sp.Expr | None = None
    integrator: str | None = None
    bounds: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        if not is_name(self.name):
            raise SpecError(f"gate name {self.name!r} is not an ASCII identifier")
        if self.integrator not in (None, "euler"):
            raise SpecError(f"gate {self.name!r}: integrator must be None (the channel's "
                            f"method) or 'euler', got {self.integrator!r}")
        given = {k: getattr(self, k) for k in ("alpha", "beta", "inf", "tau", "ode")
                 if getattr(self, k) is not None}
        kinds = [k for k, fields in GATE_FIELDS.items() if set(fields) == set(given)]
        if not kinds:
            raise SpecError(
                f"gate {self.name!r} needs either alpha and beta, or inf and tau, or ode "
                f"(got {', '.join(given) or 'none of them'})")
        for key, value in given.items():
            expr = _expression(value, f"gate {self.name!r}: {key}")
            check_expression(expr, f"gate {self.name!r}: {key}")
            object.__setattr__(self, key, expr)
        if self.factor is not None:
            object.__setattr__(self, "factor",
                               _expression(self.factor, f"gate {self.name!r}: factor"))
        if self.initial is not None:
            expr = _expression(self.initial, f"gate {self.name!r}: initial")
            check_expression(expr, f"gate {self.name!r}: initial")
            object.__setattr__(self, "initial", expr)
        if isinstance(self.power, bool) or not isinstance(self.power, int) or self.power < 0:
            raise SpecError(f"gate {self.name!r}: power must be a non-negative int, got "
                            f"{self.power!r}")

    @property
    def symbol(self) -> sp.Symbol:
        """The state variable of this gate."""
        return symbol(self.name)

    @property
    def kind(self) -> str:
        """``'rates'`` (alpha/beta), ``'inf_tau'`` or ``'ode'``."""
        if self.ode is not None:
            return "ode"
        return "rates" if self.alpha is not None else "inf_tau"

    def rate_expressions(self) -> dict[str, sp.Expr]:
        """The functions of this gate as written, keyed by role (``initial`` last, when
        given)."""
        out = {role: getattr(self, role) for role in GATE_FIELDS[self.kind]}
        if self.initial is not None:
            out["initial"] = self.initial
        return out


def _stoichiometry(side, where: str) -> tuple[tuple[str, int], ...]:
    """``side`` as ``((state, count), ...)``: a name, or ``(name, count)`` pairs."""
    out = []
    for item in (side,) if isinstance(side, str) else side:
        name, count = (item, 1) if isinstance(item, str) else item
        if not is_name(name):
            raise SpecError(f"{where}: {name!r} is not a state name (an ASCII identifier)")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise SpecError(f"{where}: the count of {name} must be a positive int, "
                            f"got {count!r}")
        out.append((name, count))
    return tuple(out)


@dataclass(frozen=True)
class Reaction:
    """``~ reactants <-> products (forward, backward)`` at mass action: the reaction
    flows at ``forward * prod(reactants^count) - backward * prod(products^count)``.
    A side is a state name or ``((name, count), ...)``; an empty side (``()``) is a
    source or sink: ``Reaction((), "ca", f)`` is NMODL's ``~ ca << (f)``, a flux
    ``f`` into ``ca`` independent of ``ca``."""

    reactants: tuple
    products: tuple
    forward: sp.Expr
    backward: sp.Expr = sp.Integer(0)

    def __post_init__(self) -> None:
        where = "reaction"
        object.__setattr__(self, "reactants", _stoichiometry(self.reactants, where))
        object.__setattr__(self, "products", _stoichiometry(self.products, where))
        if not self.reactants and not self.products:
            raise SpecError("a reaction needs a state on at least one side")
        for key in ("forward", "backward"):
            expr = _expression(getattr(self, key), f"{where}: {key} rate")
            check_expression(expr, f"{where}: {key} rate")
            object.__setattr__(self, key, expr)

    def __str__(self) -> str:
        def side(items):
            return " + ".join(f"{c if c > 1 else ''}{n}" for n, c in items) or "0"
        if not self.reactants:
            return f"~ {side(self.products)} << ({self.forward})"
        return f"~ {side(self.reactants)} <-> {side(self.products)} ({self.forward}, " \
               f"{self.backward})"


@dataclass(frozen=True)
class KineticScheme:
    """Reactions between states (NMODL's KINETIC block).

    ``states`` are the scheme's state variables, ``reactions`` the reactions between
    them, ``volumes`` the COMPARTMENT size of a state (its equation is divided by it),
    ``conserve`` conservation laws ``({state: coefficient}, total)`` (NMODL's
    CONSERVE: each replaces the equation of the last state it names), ``initial`` the
    value ``reset_state`` gives each state (missing: 0); with ``steady``, reset_state
    then takes one backward-Euler step of 1e9 ms from there (NMODL's ``SOLVE ...
    STEADYSTATE sparse``, as NEURON computes it), and with ``equations`` (expressions
    that are 0, linear in the states: NMODL's LINEAR block) it solves them instead.
    The spec adds a gate (an ODE state) for each state; the step is backward Euler
    on the whole scheme, as NEURON's ``sparse``.
    """

    name: str
    states: tuple[str, ...]
    reactions: tuple[Reaction, ...]
    volumes: Mapping[str, sp.Expr] = field(default_factory=dict)
    conserve: tuple = ()
    initial: Mapping[str, sp.Expr] = field(default_factory=dict)
    steady: bool = False
    equations: tuple = ()

    def __post_init__(self) -> None:
        where = f"kinetic scheme {self.name!r}"
        object.__setattr__(self, "states", tuple(self.states))
        object.__setattr__(self, "reactions", tuple(self.reactions))
        object.__setattr__(self, "equations", tuple(
            _expression(e, f"{where}: a linear equation") for e in self.equations))
        if self.equations and len(self.equations) != len(self.states):
            raise SpecError(f"{where}: {len(self.equations)} linear equation(s) for "
                            f"{len(self.states)} states")
        if not self.states:
            raise SpecError(f"{where} has no states")
        for r in self.reactions:
            if not isinstance(r, Reaction):
                raise SpecError(f"{where}: reactions must be Reaction objects, got {r!r}")
            stray = [n for n, _ in (*r.reactants, *r.products) if n not in self.states]
            if stray:
                raise SpecError(f"{where}: {r} names {stray}, not states of the scheme "
                                f"{list(self.states)}")
        laws = []
        for law in self.conserve:
            coefficients, total = law
            terms = {k: _expression(c, f"{where}: CONSERVE") for k, c in dict(coefficients).items()}
            stray = [k for k in terms if k not in self.states]
            if stray or not terms:
                raise SpecError(f"{where}: CONSERVE names {stray or 'no state'}, not states "
                                f"of the scheme {list(self.states)}")
            laws.append((tuple(terms.items()), _expression(total, f"{where}: CONSERVE")))
        object.__setattr__(self, "conserve", tuple(laws))
        for attr in ("volumes", "initial"):
            values = {k: _expression(v, f"{where}: {attr}") for k, v in dict(
                getattr(self, attr)).items()}
            stray = [k for k in values if k not in self.states]
            if stray:
                raise SpecError(f"{where}: {attr} of {stray}, not states of the scheme")
            object.__setattr__(self, attr, values)

    @property
    def closed(self) -> bool:
        """True when every reaction turns states into as many states (no source, sink or
        change of count): ``sum(volume * state)`` is then conserved."""
        return all(r.reactants and r.products and sum(c for _, c in r.reactants)
                   == sum(c for _, c in r.products) for r in self.reactions)

    def odes(self) -> dict[str, sp.Expr]:
        """``d state/dt`` of each state: the sum of its reactions' flows, times its
        net count, over its volume (NMODL's stoichiometric matrices, applied)."""
        rhs = {s: sp.Integer(0) for s in self.states}
        for r in self.reactions:
            flow = r.forward * sp.Mul(*(symbol(n) ** c for n, c in r.reactants))
            if r.reactants:
                flow -= r.backward * sp.Mul(*(symbol(n) ** c for n, c in r.products))
            for n, c in r.reactants:
                rhs[n] -= c * flow
            for n, c in r.products:
                rhs[n] += c * flow
        return {s: f / self.volumes[s] if s in self.volumes else f for s, f in rhs.items()}

    def gates(self) -> tuple[Gate, ...]:
        """One ODE gate per state, with its initial value."""
        solved = self.steady or bool(self.equations)
        return tuple(Gate(s, ode=f, initial=None if solved
                          else self.initial.get(s, sp.Integer(0)))
                     for s, f in self.odes().items())


#: The charge number of the ions NEURON defines (its na_ion, k_ion and ca_ion).
VALENCES = {"na": 1, "k": 1, "ca": 2}


@dataclass(frozen=True)
class Ion:
    """What a mechanism does with one ion species (NMODL's ``USEION``, Arbor's ion
    dependency).

    ``reads`` names the ion's quantities the mechanism reads, as NEURON spells them:
    ``e<ion>`` (a parameter of the spec: a cell supplies the ion's reversal potential),
    ``<ion>i`` and ``<ion>o`` (inputs: the concentrations, mM) and ``i<ion>`` (an input:
    the ion's total current in NEURON's units, mA/cm^2, outward positive).  ``current``
    says the mechanism carries a current of this ion (its expression is the spec's
    ``ion_currents[name]``).  ``writes`` maps a concentration the mechanism integrates
    (``'cai'``) to the state that holds it.  ``valence`` is the charge number (NEURON's
    for na, k and ca by default), which the Nernst potential needs.  ``sets_reversal`` says
    the mechanism sets the ion's reversal potential (NMODL's ``WRITE eca``; a BrainPy calcium
    node's ``E``), given by the spec's ``ion_reversals[name]``.  ``names`` maps a quantity to
    the spec's own name for it where they differ (a library channel's ``{'eca': 'E'}``).
    """

    name: str
    reads: tuple[str, ...] = ()
    current: bool = False
    writes: tuple[tuple[str, str], ...] = ()
    valence: int | None = None
    sets_reversal: bool = False
    names: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not is_name(self.name):
            raise SpecError(f"ion name {self.name!r} is not an ASCII identifier")
        object.__setattr__(self, "reads", tuple(self.reads))
        for attr in ("writes", "names"):
            pairs = getattr(self, attr)
            pairs = pairs.items() if isinstance(pairs, Mapping) else pairs
            object.__setattr__(self, attr, tuple((str(c), str(s)) for c, s in pairs))
        if self.valence is None:
            object.__setattr__(self, "valence", VALENCES.get(self.name))
        if isinstance(self.valence, bool) or not isinstance(self.valence, (int, type(None))) \
                or self.valence == 0:
            raise SpecError(f"ion {self.name!r}: valence must be a non-zero int, got "
                            f"{self.valence!r}")
        ports = set(self.ports())
        for name in (*self.reads, *(c for c, _ in self.writes)):
            if name not in ports:
                raise SpecError(f"ion {self.name!r}: {name!r} is not one of its quantities "
                                f"{sorted(ports)}")
        for c, _ in self.writes:
            if c in (self.current_name, self.reversal):
                raise SpecError(f"ion {self.name!r}: a written current is `current=True` and a "
                                f"written reversal potential `sets_reversal=True`, not entries of "
                                f"writes")
        for q, _ in self.names:
            if q not in ports:
                raise SpecError(f"ion {self.name!r}: names maps {q!r}, which is not one of its "
                                f"quantities {sorted(ports)}")

    def name_of(self, quantity: str) -> str:
        """The spec's name for ``quantity`` (``'eca'`` -> ``'E'`` in a library channel)."""
        return dict(self.names).get(quantity, quantity)

    def ports(self) -> tuple[str, ...]:
        """The ion's quantities by NEURON's names: e<ion>, <ion>i, <ion>o, i<ion>."""
        return (self.reversal, self.inside, self.outside, self.current_name)

    @property
    def reversal(self) -> str:
        return f"e{self.name}"

    @property
    def inside(self) -> str:
        return f"{self.name}i"

    @property
    def outside(self) -> str:
        return f"{self.name}o"

    @property
    def current_name(self) -> str:
        return f"i{self.name}"

    @property
    def concentrations(self) -> dict[str, str]:
        """Written concentration -> the mechanism's state holding it."""
        return dict(self.writes)


@dataclass(frozen=True, eq=False)
class ChannelSpec:
    """A complete HH-type channel.

    Attributes:
        name: class name of the channel (``'INa_Ba2002'``).
        parameters: parameter name -> default value, in signature order.
        gates: the gating variables.
        current: the current expression in ``V``, gates, inputs and parameters.
        temperature_factor: multiplies every gate derivative (``phi``);
            it may depend on parameters only.
        intermediates: named helper expressions (``x = V - V_sh``) that the
            rates may use; they are printed as local variables.
        inputs: quantities given per neuron on every call, like ``V`` (an
            ion concentration such as ``cai``), with the value used when a
            call does not pass them.
        doc: a short description used in docstrings and reports.
        rates: named functions of V, the inputs and the parameters (a kinetic
            scheme's rate constants); each is analysed for removable singularities
            on its own, computed once per element and has an ``f_<name>`` method.
        schemes: kinetic schemes; each adds an ODE gate per state, stepped
            together by backward Euler.
        ions: the ion species the mechanism uses (:class:`Ion`): what a cell wires
            to other mechanisms.
        ion_currents: ion name -> the part of ``current`` that ion carries (same
            units and sign), for each ion with ``current=True``.
        ion_reversals: ion name -> the reversal potential (mV) the mechanism sets, for
            each ion with ``sets_reversal=True`` (a function of its states and parameters).
    """

    name: str
    parameters: Mapping[str, float]
    gates: tuple[Gate, ...]
    current: sp.Expr
    temperature_factor: sp.Expr = sp.Integer(1)
    intermediates: Mapping[str, sp.Expr] = field(default_factory=dict)
    doc: str = ""
    inputs: Mapping[str, float] = field(default_factory=dict)
    rates: Mapping[str, sp.Expr] = field(default_factory=dict)
    schemes: tuple[KineticScheme, ...] = ()
    ions: tuple[Ion, ...] = ()
    ion_currents: Mapping[str, sp.Expr] = field(default_factory=dict)
    ion_reversals: Mapping[str, sp.Expr] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "schemes", tuple(self.schemes))
        object.__setattr__(self, "ions", tuple(self.ions))
        for scheme in self.schemes:
            if not isinstance(scheme, KineticScheme):
                raise SpecError(f"channel {self.name!r}: schemes must be KineticScheme "
                                f"objects, got {scheme!r}")
        object.__setattr__(self, "gates", tuple(self.gates) + tuple(
            g for scheme in self.schemes for g in scheme.gates()))
        self.validate()

    # ---- symbols -----------------------------------------------------
    @property
    def parameter_symbols(self) -> tuple[sp.Symbol, ...]:
        """The parameters as SymPy symbols, in signature order."""
        return tuple(symbol(p) for p in self.parameters)

    @property
    def input_symbols(self) -> tuple[sp.Symbol, ...]:
        """``V`` and the other per-call inputs, in order."""
        return (V,) + tuple(symbol(p) for p in self.inputs)

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

    def scheme_of(self, gate: str) -> KineticScheme | None:
        """The kinetic scheme whose state ``gate`` is, or None."""
        return next((s for s in self.schemes if gate in s.states), None)

    @property
    def rate_symbols(self) -> tuple[sp.Symbol, ...]:
        """The named rates as SymPy symbols, in order."""
        return tuple(symbol(r) for r in self.rates)

    def gate(self, name: str) -> Gate:
        """The gate called ``name`` (KeyError naming the channel otherwise)."""
        for g in self.gates:
            if g.name == name:
                return g
        raise KeyError(f"{self.name} has no gate {name!r}")

    # ---- validation --------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`SpecError` naming the first problem found."""
        if not is_name(self.name):
            raise SpecError(f"channel name {self.name!r} is not an ASCII identifier")
        if self.name.lower().startswith(("ionc", "u_")):
            raise SpecError(f"channel name {self.name!r}: names starting with 'ionc' or "
                            f"'u_' are kept for the generated code; choose another")
        for what, items in (("gates and states", self.gates), ("rates", self.rates),
                            ("parameters", self.parameters), ("inputs", self.inputs)):
            if len(items) > MAX_STATES:
                raise SpecError(f"channel {self.name!r}: {len(items)} {what}, more than the "
                                f"{MAX_STATES} one channel may have")
        for what, mapping in (("parameters", self.parameters), ("inputs", self.inputs)):
            for key, value in mapping.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise SpecError(f"channel {self.name!r}: {what[:-1]} {key!r} needs a number "
                                    f"as its default, got {value!r}")
        names = [*self.parameters, *self.inputs, *self.intermediates, *self.rates,
                 *(g.name for g in self.gates), "V"]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise SpecError(f"channel {self.name!r}: name(s) used twice: {sorted(dupes)}"
                            + (" ('V' is the membrane potential)" if "V" in dupes else ""))
        for n in names:
            if not is_name(n):
                raise SpecError(f"channel {self.name!r}: {n!r} is not an ASCII identifier "
                                f"(letters, digits and _, not starting with a digit)")
        self._canonicalise(set(names))
        params = set(self.parameter_symbols)
        known = params | set(self.input_symbols) | set(self.intermediate_symbols)
        defined = params | set(self.input_symbols)
        for sym, value in self.intermediate_symbols.items():
            self._check(value, defined, f"intermediate {sym}")
            defined = defined | {sym}
        gate_names = {g.name for g in self.gates}
        for name, value in self.rates.items():
            role, _, of = name.partition("_")
            if (name in TASK_NAMES or name.startswith(("jacobian_", "ionc", "u_"))
                    or (name[:1] == "d" and name[1:] in gate_names) or of in gate_names):
                raise SpecError(f"channel {self.name!r}: rate name {name!r} is taken by the "
                                f"compiler's functions (update, current, d<gate>, "
                                f"<role>_<gate>, ...); choose another")
            self._check(value, known, f"rate {name!r}")
        rates = set(self.rate_symbols)
        for g in self.gates:
            # an ODE may read any state (a system); a kinetic state's comes from its scheme
            allowed = known | rates | (set(self.gate_symbols) if g.kind == "ode" else set())
            for role, expr in g.rate_expressions().items():
                self._check(expr, known if role == "initial" else allowed,
                            f"gate {g.name!r}: {role}")
        self._check(self.temperature_factor, params, "temperature factor")
        for g in self.gates:
            if g.factor is not None:
                self._check(g.factor, params, f"gate {g.name!r}: factor")
        for scheme in self.schemes:
            for state, value in (*scheme.volumes.items(), *scheme.initial.items()):
                self._check(value, known, f"kinetic scheme {scheme.name!r}: {state}")
            for terms, total in scheme.conserve:
                for value in (*dict(terms).values(), total):
                    self._check(value, params, f"kinetic scheme {scheme.name!r}: CONSERVE")
            states = {symbol(x) for x in scheme.states}
            for e in scheme.equations:
                self._check(e, known | rates | states,
                            f"kinetic scheme {scheme.name!r}: linear equation")
        self._check(self.current, known | rates | set(self.gate_symbols), "current")
        self._check_ions(known | rates | set(self.gate_symbols))

    def _check_ions(self, allowed: set) -> None:
        """Each ion's ports are names of the spec of the right kind (see :class:`Ion`)."""
        seen = set()
        for ion in self.ions:
            if not isinstance(ion, Ion):
                raise SpecError(f"channel {self.name!r}: ions must be Ion objects, got {ion!r}")
            if ion.name in seen:
                raise SpecError(f"channel {self.name!r}: ion {ion.name!r} given twice")
            seen.add(ion.name)
            for name in ion.reads:
                kind = ("parameters" if name == ion.reversal else "inputs")
                if ion.name_of(name) not in getattr(self, kind):
                    raise SpecError(f"channel {self.name!r}: reads {name} of ion {ion.name!r} "
                                    f"as {ion.name_of(name)!r}, which must be one of its {kind}")
            for conc, state in ion.writes:
                if state not in {g.name for g in self.gates}:
                    raise SpecError(f"channel {self.name!r}: writes {conc} of ion "
                                    f"{ion.name!r} from {state!r}, which is not a state")
                if conc in self.inputs:
                    raise SpecError(f"channel {self.name!r}: {conc} is written and read "
                                    f"as an input")
        for attr, flag, what in (("ion_currents", "current", "current"),
                                 ("ion_reversals", "sets_reversal", "reversal potential")):
            given = getattr(self, attr)
            flagged = {ion.name for ion in self.ions if getattr(ion, flag)}
            if set(given) != flagged:
                raise SpecError(f"channel {self.name!r}: {attr} has {sorted(given)}, the ions "
                                f"with {flag}=True are {sorted(flagged)}")
            checked = {}
            for name, expr in given.items():
                where = f"the {what} of ion {name!r}"
                expr = _expression(expr, f"channel {self.name!r}: {where}")
                expr = expr.xreplace({s: symbol(s.name) for s in expr.free_symbols
                                      if isinstance(s, sp.Symbol) and s.name != "V"
                                      and s != symbol(s.name)})
                self._check(expr, allowed, where)
                checked[name] = expr
            object.__setattr__(self, attr, checked)

    def ion(self, name: str) -> Ion | None:
        """The :class:`Ion` called ``name`` (``'ca'``), or None."""
        return next((i for i in self.ions if i.name == name), None)

    def _canonicalise(self, names: set[str]) -> None:
        """Every symbol named like one of the spec's names becomes that (real) symbol,
        whatever assumptions it was created with; numbers become SymPy numbers."""
        def fix(expr, where):
            expr = _expression(expr, f"channel {self.name!r}: {where}")
            swap = {s: symbol(s.name) for s in expr.free_symbols
                    if isinstance(s, sp.Symbol) and s.name in names and s != symbol(s.name)}
            swap.pop(V, None)
            if any(s.name == "V" for s in swap):
                swap = {s: (V if s.name == "V" else t) for s, t in swap.items()}
            return expr.xreplace(swap) if swap else expr
        for attr in ("current", "temperature_factor"):
            object.__setattr__(self, attr, fix(getattr(self, attr), attr))
        object.__setattr__(self, "intermediates",
                           {k: fix(v, f"intermediate {k}") for k, v in self.intermediates.items()})
        object.__setattr__(self, "rates", {k: fix(v, f"rate {k}") for k, v in self.rates.items()})
        gates = []
        for g in self.gates:
            if not isinstance(g, Gate):
                raise SpecError(f"channel {self.name!r}: gates must be Gate objects, got {g!r}")
            values = {role: fix(e, f"gate {g.name!r}: {role}")
                      for role, e in g.rate_expressions().items()}
            if g.factor is not None:
                values["factor"] = fix(g.factor, f"gate {g.name!r}: factor")
            gates.append(Gate(g.name, power=g.power, integrator=g.integrator, bounds=g.bounds,
                              **{**{"factor": g.factor}, **values}))
        object.__setattr__(self, "gates", tuple(gates))

    def _check(self, expr: sp.Expr, allowed: set, where: str) -> None:
        where = f"channel {self.name!r}: {where}"
        check_expression(expr, where)
        unknown = sorted(str(s) for s in expr.free_symbols if s not in allowed)
        if unknown:
            raise SpecError(
                f"{where} uses unknown symbol(s) {unknown}; "
                f"known: {sorted(str(s) for s in allowed)}")
