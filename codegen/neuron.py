"""Neurons: several channels and a membrane equation lowered into one step.

A :class:`NeuronSpec` names its channels by label (``INa``, ``IK``, ``IL``;
the same channel may appear under several labels) and adds the membrane
equation ``C dV/dt = I_ext + sum of channel currents``.  :func:`lower_neuron`
builds the membrane's element function; the channels keep theirs.  One step
follows BrainPy's ``exp_auto`` for ``HH`` and ``CondNeuGroup``: every variable
advances from the state at the start of the step - the gates at the old V,
and V by exponential Euler with the linear coefficient ``-G/C``,
``G = -d(sum I)/dV``:

    V' = V + dt (I_ext + I) / C * exprel(-G dt / C)

``method='neuron'`` is NEURON's fixed step instead: V by linearised backward
Euler with NEURON's numerical ``di/dv`` (the current at V + 0.001 mV),
``V' = V + dt (I_ext + I) / (C + G dt)``, then the gates (cnexp) at the new V.

:func:`neuron_kernels` lowers the step to the same kernel IR as a channel's
(:mod:`.kernels`): a map kernel ``update`` and a scan kernel ``run``, for
every back end.  In generated code channel ``j``'s gate ``p`` is
``c<j>_u_p``; the runtime binds it by the key ``'<label>.p'``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Mapping

import sympy as sp

from .elements import (FUNCTION_PREFIX, ChannelModel, ElementFunction, ion_current_task,
                       ion_reversal_task)
from .lowering import lower_channel
from .functions import exprelr
from .kernels import (COUNTS, FLAGS, IN, INOUT, INPUT, INT, OUT, OUTPUT, PARAMETER, REAL,
                      RECORD, STATE, STEP, STEPS, STRIDE, EVERY, TRACE, Call, Counter, Crossing,
                      KernelParameter, KernelSet, KernelSignature, MapKernel, Ref, ScanKernel,
                      Store, map_kernel, ordered)
from .ions import TO_NEURON_CURRENT, Source, Wiring, nernst, wire_ions
from .spec import V, ChannelSpec, SpecError, dt, symbol

#: The external current density (uA/cm^2 for C in uF/cm^2), an input per step.
I_EXT = symbol("I_ext")
#: Sum of the channel currents and of their conductances, at the old state.
I_SUM, G_SUM = symbol("ionc_I"), symbol("ionc_G")
#: The membrane's own parameters and their defaults (BrainPy's HH).
MEMBRANE_PARAMETERS = {"C": 1.0, "V_th": 20.0}
#: A cell's temperature (degC), NEURON's global: every mechanism's ``celsius``.
CELSIUS = "celsius"
#: Element functions of a channel that a neuron step calls.
NEURON_TASKS = ("current", "conductance", "conductance_numeric", "update")
#: A mechanism's INITIAL, as the neuron's kernel ``initial_<j>`` runs it.
INITIAL_TASK = "steady_state"
#: NEURON's fixed step as a neuron method: the membrane by linearised backward Euler with
#: NEURON's numerical di/dv at the old gates, then the gates (cnexp) at the new V.
NEURON_METHOD = "neuron"


def channel_method(method: str) -> str:
    """The method a neuron's channels step with (``'neuron'``: NEURON's cnexp, which is
    exp_auto on gates linear in themselves)."""
    return "cnexp" if method == NEURON_METHOD else method


#: The methods of their own that mechanisms keep in a neuron of method ``'neuron'``: a
#: ``.mod`` file's SOLVE ... METHOD (KINETIC's sparse, derivimplicit, euler).
OWN_METHODS = ("sparse", "implicit_euler", "euler", "cnexp")


@dataclass(frozen=True, eq=False)
class NeuronSpec:
    """Channels by label plus the membrane parameters ``C`` and ``V_th``."""

    name: str
    channels: Mapping[str, ChannelSpec]
    parameters: Mapping[str, float] = field(default_factory=lambda: dict(MEMBRANE_PARAMETERS))
    doc: str = ""
    #: per ion, the quantities the cell is given (``{'k': ('ek',), 'ca': ('cao',)}``)
    ions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: ``'label.name'`` reads a mechanism keeps as its own value (``concentrations=``)
    held: frozenset = frozenset()
    #: label -> the method a mechanism steps with, where it is its own (a ``.mod`` file's
    #: SOLVE: ``sparse``, ``implicit_euler``) rather than the neuron method's
    methods: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise SpecError(f"neuron name {self.name!r} is not an identifier")
        if not self.channels:
            raise SpecError(f"neuron {self.name!r} has no channels")
        if not set(MEMBRANE_PARAMETERS) <= set(self.parameters) <= {*MEMBRANE_PARAMETERS,
                                                                    CELSIUS}:
            raise SpecError(f"neuron {self.name!r}: parameters must be "
                            f"{sorted(MEMBRANE_PARAMETERS)} (and optionally {CELSIUS!r}), got "
                            f"{sorted(self.parameters)}")
        for label, spec in self.channels.items():
            if not (isinstance(label, str) and label.isidentifier()):
                raise SpecError(f"neuron {self.name!r}: channel label {label!r} is not a "
                                f"valid identifier")
            if not isinstance(spec, ChannelSpec):
                raise SpecError(f"neuron {self.name!r}: channel {label!r} is not a "
                                f"ChannelSpec: {spec!r}")


@dataclass(frozen=True)
class NeuronModel:
    """A neuron after lowering: each channel's model and the membrane step."""

    spec: NeuronSpec
    method: str
    channels: dict[str, ChannelModel]
    membrane: ElementFunction
    wiring: Wiring

    @property
    def labels(self) -> tuple[str, ...]:
        """The channel labels, in order."""
        return tuple(self.channels)

    def state_keys(self) -> tuple[str, ...]:
        """``V`` and every gate, as the runtime names them (``'INa.p'``)."""
        return ("V",) + tuple(f"{label}.{g}" for label, m in self.channels.items()
                              for g in m.gate_names)


def membrane_step(C: sp.Symbol, method: str) -> sp.Expr:
    """V after one step from the summed current ``ionc_I`` and conductance ``ionc_G``."""
    f = (I_EXT + I_SUM) / C
    if method == "euler":
        return V + dt * f
    if method == NEURON_METHOD:     # (C/dt + G) (V' - V) = I_ext + I
        return V + dt * (I_EXT + I_SUM) / (C + G_SUM * dt)
    # exprel(z) = 1/exprelr(z): exponential Euler, exact for a linear membrane
    return V + dt * f / exprelr(-G_SUM * dt / C)


@lru_cache(maxsize=None)
def lower_neuron(spec: NeuronSpec, method: str = "exp_auto") -> NeuronModel:
    """Lower every channel of ``spec`` and build the membrane's element function."""
    channels = {label: lower_channel(ch, spec.methods.get(label, channel_method(method)))
                for label, ch in spec.channels.items()}
    C = symbol("C")
    currents = tuple(symbol(f"ionc_I{j}") for j in range(len(channels)))
    conductances = tuple(symbol(f"ionc_G{j}") for j in range(len(channels)))
    membrane = ElementFunction(
        f"{FUNCTION_PREFIX}_membrane",
        (V, dt, I_EXT, C) + tuple(x for pair in zip(currents, conductances) for x in pair),
        ((I_SUM, sp.Add(*currents)), (G_SUM, sp.Add(*conductances))),
        (("V", membrane_step(C, method)),),
        f"V after one {method} step of C dV/dt = I_ext + I, linear coefficient -G/C")
    wiring = wire_ions(spec.channels, spec.ions, spec.held, CELSIUS in spec.parameters)
    return NeuronModel(spec, method, channels, membrane, wiring)


def neuron_parameters(spec: NeuronSpec) -> dict[str, float]:
    """Every parameter of the cell's kernels and its default, keyed as the runtime names
    them: the membrane's (``'C'``), the cell's ion quantities (``'cao'``) and each
    mechanism's own (``'INa.g_max'``, an input it keeps: ``'kca.cai'``)."""
    wiring = wire_ions(spec.channels, spec.ions, spec.held, CELSIUS in spec.parameters)
    out = dict(spec.parameters)
    out.update({k: v for k, v in wiring.parameters.items() if k in _used_ion_keys(wiring)})
    for label, ch in spec.channels.items():
        for p, v in {**ch.parameters, **ch.inputs}.items():
            if (label, p) not in wiring.reads:
                out[f"{label}.{p}"] = v
    return out


def is_concentration(key: str, spec: NeuronSpec) -> bool:
    """True for a parameter of the cell's kernels that is a concentration (which must be
    > 0): an input a mechanism keeps (``'kca.cai'``) or the cell's ``'cao'``."""
    if "." in key:
        label, name = key.split(".", 1)
        ch = spec.channels[label]
        return name in ch.inputs and not is_ion_current(name, ch)
    ions = {i.name: i for ch in spec.channels.values() for i in ch.ions}
    return any(key in (i.inside, i.outside) for i in ions.values())


def is_ion_current(name: str, ch: ChannelSpec) -> bool:
    """True when ``name`` is an ion current that ``ch`` reads (``ica``)."""
    return any(name == i.current_name for i in ch.ions)


def _used_ion_keys(wiring: Wiring) -> set[str]:
    """The cell ion parameters some kernel operand reads."""
    used = {s.name for s in wiring.reads.values() if s.kind == "parameter"}
    for plan in wiring.ions.values():
        if plan.nernst:
            used |= {s.name for s in plan.concentrations.values() if s.kind == "parameter"}
    return used - {CELSIUS}


def _prefixes(model: NeuronModel) -> dict[int, str]:
    """One element-function prefix per distinct channel spec (``ionc_f0``, ...)."""
    out: dict[int, str] = {}
    for m in model.channels.values():
        out.setdefault(id(m), f"{FUNCTION_PREFIX}{len(out)}")
    return out


def _ion_functions(model: NeuronModel) -> dict[str, ElementFunction]:
    """The cell's own element functions: each Nernst potential it computes and each ion
    current a mechanism reads (the carriers' parts summed, in NEURON's units)."""
    fns = {}
    has_celsius = CELSIUS in model.spec.parameters
    ci, co, T = symbol("ionc_ci"), symbol("ionc_co"), symbol(CELSIUS)
    for name, plan in model.wiring.ions.items():
        if plan.nernst:
            fns[f"nernst_{name}"] = ElementFunction(
                f"{FUNCTION_PREFIX}_nernst_{name}", (ci, co, T) if has_celsius else (ci, co),
                (), (("E", nernst(ci, co, T if has_celsius else sp.Float(6.3), plan.valence)),),
                f"the Nernst potential of {name} (NEURON's nrn_nernst)")
        if any(s.kind == "sum" and s.name == name for s in model.wiring.reads.values()):
            parts = tuple(symbol(f"ionc_x{j}") for j in range(len(plan.carriers)))
            fns[f"sum_{name}"] = ElementFunction(
                f"{FUNCTION_PREFIX}_sum_{name}", parts, (),
                (("I", TO_NEURON_CURRENT * sp.Add(*parts)),),
                f"the total current of {name} in NEURON's units (mA/cm^2, outward)")
    return fns


def _update_order(model: NeuronModel) -> list[int]:
    """The order the mechanisms' states advance in.  NEURON's fixed step takes the
    mechanisms that write a concentration first (``nrn_writes_conc`` moves them to the
    front), then the others in the order given (NEURON's: their types', the order
    nrnivmodl compiled the files in), each reading what the earlier ones wrote this step.
    BrainPy's methods advance every variable from the start of the step, so the writers go
    last there."""
    labels = list(model.channels)
    writers = model.wiring.writers()
    first = [j for j, lb in enumerate(labels) if lb in writers]
    rest = [j for j, lb in enumerate(labels) if lb not in writers]
    return first + rest if model.method == NEURON_METHOD else rest + first


def initial_order(spec: NeuronSpec) -> tuple[str, ...]:
    """The order of the mechanisms' INITIAL blocks (NEURON's ``finitialize``): the
    concentration writers first, then the others as given."""
    writers = wire_ions(spec.channels, spec.ions, spec.held).writers()
    return (tuple(lb for lb in spec.channels if lb in writers)
            + tuple(lb for lb in spec.channels if lb not in writers))


@lru_cache(maxsize=None)
def neuron_kernels(spec: NeuronSpec, method: str = "exp_auto",
                   array_params: frozenset = frozenset()) -> KernelSet:
    """The fused ``update`` (one step) and ``run`` (an input trace) kernels of a neuron.

    ``array_params`` names the parameters given per neuron (``'INa.g_max'``, ``'C'``,
    ``'cao'``).
    """
    model = lower_neuron(spec, method)
    wiring = model.wiring
    defaults = neuron_parameters(spec)
    unknown = set(array_params) - set(defaults)
    if unknown:
        raise ValueError(f"{spec.name} has no parameter(s) {sorted(unknown)}")
    prefixes = _prefixes(model)
    functions: list[ElementFunction] = []
    renamed: dict[tuple[int, str], str] = {}
    for m in model.channels.values():
        if any(k[0] == id(m) for k in renamed):
            continue
        own = (INITIAL_TASK,) if INITIAL_TASK in m.functions else ()
        for task in (*NEURON_TASKS, *own, *(ion_current_task(i) for i in m.spec.ion_currents),
                     *(ion_reversal_task(i) for i in m.spec.ion_reversals),
                     *(s.name for s in m.derived)):
            fn = m.functions[task]
            new = prefixes[id(m)] + fn.name[len(FUNCTION_PREFIX):]
            renamed[(id(m), task)] = new
            functions.append(fn.renamed(new))
    ion_fns = _ion_functions(model)
    functions += list(ion_fns.values())
    functions.append(model.membrane)

    def where_of(key: str) -> str:
        return "element" if key in array_params else "scalar"

    # kernel parameters: membrane scalars, the cell's ion quantities, then channel j's as
    # c<j>_<identifier>
    params: list[KernelParameter] = [KernelParameter("dt", REAL, STEP, "dt")]
    for p in spec.parameters:
        params.append(KernelParameter(p, IN if p in array_params else REAL, PARAMETER, p))
    ion_names = {}
    for key in sorted(k for k in defaults if "." not in k and k not in spec.parameters):
        ion_names[key] = f"ionc_ion_{key}"
        params.append(KernelParameter(ion_names[key], IN if key in array_params else REAL,
                                      PARAMETER, key))
    params.append(KernelParameter("V", INOUT, STATE, "V"))
    where: dict[tuple[int, str], str] = {}        # (channel j, identifier) -> kernel name
    labels = list(model.channels)
    for j, (label, m) in enumerate(model.channels.items()):
        for g in m.gate_names:
            name = f"c{j}_{m.table.identifier(g)}"
            where[(j, m.table.identifier(g))] = name
            params.append(KernelParameter(name, INOUT, STATE, f"{label}.{g}"))
    for j, (label, m) in enumerate(model.channels.items()):
        # inputs beyond V that no ion provides (cai) are held fixed over a run
        for p in (*m.parameter_names, *m.input_names[1:]):
            if (label, p) in wiring.reads:
                continue
            name = f"c{j}_{m.table.identifier(p)}"
            where[(j, m.table.identifier(p))] = name
            params.append(KernelParameter(name, IN if f"{label}.{p}" in array_params
                                          else REAL, PARAMETER, f"{label}.{p}"))
    kinds = {p.name: p for p in params}

    def source_ref(source: Source) -> Ref:
        if source.kind == "state":
            k = labels.index(source.label)
            m = model.channels[source.label]
            return Ref(where[(k, m.table.identifier(source.name))], "state")
        if source.kind == "parameter":
            name = ion_names.get(source.name, source.name)
            return Ref(name, where_of(source.name))
        return Ref(f"ionc_{'i' if source.kind == 'sum' else 'e'}_{source.name}", "local")

    provided: dict[tuple[int, str], Ref] = {}
    for (label, name), source in wiring.reads.items():
        j = labels.index(label)
        provided[(j, model.channels[label].table.identifier(name))] = source_ref(source)

    def operand(j: int, ident: str, m: ChannelModel) -> Ref:
        if ident == "V":
            return Ref("V", "state")
        if ident == "dt":
            return Ref("dt", "scalar")
        if any(s.name == ident for s in m.derived):
            return Ref(f"c{j}_{ident}", "scalar")
        if (j, ident) in provided:
            return provided[(j, ident)]
        name = where[(j, ident)]
        p = kinds[name]
        if p.role == STATE:
            return Ref(name, "state")
        return Ref(name, "element" if p.is_array else "scalar")

    def operands(j: int, m: ChannelModel, fn: ElementFunction) -> tuple[Ref, ...]:
        """The operands of a call of ``fn`` for channel ``j``.  An input the function does
        not read (a pool's ``ica`` in its zero current) gets ``dt``: the ion locals may
        not exist yet where it is called."""
        used = set().union(*(e.free_symbols for e in fn.expressions))
        out = []
        for s in fn.inputs:
            ref = operand(j, s.name, m)
            unread = s not in used and ref.where == "local"
            out.append(Ref("dt", "scalar") if unread else ref)
        return tuple(out)

    def place(call: Call, prologue: list, body: list) -> None:
        """A call reading scalars only is computed once per kernel call."""
        (body if any(r.where != "scalar" for r in call.inputs) else prologue).append(call)

    def ion_sums(body: list) -> None:
        """Each ion current a mechanism reads: its carriers' parts, summed."""
        for name, plan in wiring.ions.items():
            if f"sum_{name}" not in ion_fns:
                continue
            parts = []
            for label in plan.carriers:
                j = labels.index(label)
                m = model.channels[label]
                task = ion_current_task(name)
                parts.append(Ref(f"ionc_I{j}_{name}", "local"))
                body.append(Call(renamed[(id(m), task)], tuple(
                    operands(j, m, m.functions[task])), (parts[-1],)))
            body.append(Call(ion_fns[f"sum_{name}"].name, tuple(parts),
                             (Ref(f"ionc_i_{name}", "local"),)))

    def step(spike: Ref) -> tuple[list, list]:
        prologue, body = [], []
        for name, plan in wiring.ions.items():       # reversal potentials at the old state
            if plan.nernst:
                conc = [source_ref(plan.concentrations[c]) for c in (f"{name}i", f"{name}o")]
                if CELSIUS in spec.parameters:
                    conc.append(Ref(CELSIUS, where_of(CELSIUS)))
                place(Call(ion_fns[f"nernst_{name}"].name, tuple(conc),
                           (Ref(f"ionc_e_{name}", "local"),)), prologue, body)
        for j, m in enumerate(model.channels.values()):
            for sym in m.derived:
                fn = m.functions[sym.name]
                ins = operands(j, m, fn)
                place(Call(renamed[(id(m), sym.name)], ins, (Ref(f"c{j}_{sym.name}", "local"),)),
                      prologue, body)
        for name, plan in wiring.ions.items():       # reversal potentials a mechanism sets
            if plan.reversal_writer:
                j = labels.index(plan.reversal_writer)
                m = model.channels[plan.reversal_writer]
                task = ion_reversal_task(name)
                body.append(Call(renamed[(id(m), task)], tuple(
                    operands(j, m, m.functions[task])),
                    (Ref(f"ionc_e_{name}", "local"),)))
        if method == NEURON_METHOD:                  # NEURON: ion currents at the old state
            ion_sums(body)
        for j, m in enumerate(model.channels.values()):
            conductance = ("conductance_numeric" if method == NEURON_METHOD
                           else "conductance")
            for task, out in (("current", f"ionc_I{j}"), (conductance, f"ionc_G{j}")):
                fn = m.functions[task]
                body.append(Call(renamed[(id(m), task)],
                                 operands(j, m, fn),
                                 (Ref(out, "local"),)))
        C = Ref("C", where_of("C"))
        ins = [Ref("V", "state"), Ref("dt", "scalar"), Ref("I_ext", "trace"), C]
        for j in range(len(model.channels)):
            ins += [Ref(f"ionc_I{j}", "local"), Ref(f"ionc_G{j}", "local")]
        body.append(Call(model.membrane.name, tuple(ins), (Ref("ionc_Vn", "local"),)))
        summed: list = []
        writers = wiring.writers()
        for j in _update_order(model):
            m = list(model.channels.values())[j]
            if method != NEURON_METHOD and labels[j] in writers and not summed:
                # BrainPy: an ion node integrates its concentration from its channels'
                # current after they advanced, at the old V
                ion_sums(body)
                summed.append(True)
            if not m.gate_names:
                continue
            fn = m.functions["update"]
            ins = operands(j, m, fn)
            if method == NEURON_METHOD:   # NEURON advances the states at the new V
                ins = tuple(Ref("ionc_Vn", "local") if r == Ref("V", "state") else r
                            for r in ins)
            body.append(Call(renamed[(id(m), "update")], ins,
                             tuple(Ref(where[(j, m.table.identifier(g))], "state")
                                   for g in m.gate_names)))
        V_th = Ref("V_th", where_of("V_th"))
        body.append(Crossing(spike, Ref("V", "state"), Ref("ionc_Vn", "local"), V_th))
        body.append(Store(Ref("V", "state"), Ref("ionc_Vn", "local")))
        return prologue, body

    transcendental = True
    states = tuple(p.name for p in params if p.role == STATE)
    map_params = params + [KernelParameter("I_ext", IN, INPUT, "I_ext"),
                           KernelParameter("spike", FLAGS, OUTPUT, "spike")]
    prologue, body = step(Ref("spike", "element"))
    # in a map kernel the trace is just this call's input array
    body = [_as_map(s) for s in body]
    update = MapKernel(KernelSignature("ionc_update_kernel", ordered(map_params)),
                       tuple(prologue), tuple(body), transcendental)
    recorded = recordable(spec, method)
    record_params, records = [], []
    for i, (key, ref) in enumerate(_record_refs(model, recorded, source_ref, kinds)):
        name = "rec_V" if key == "V" else f"rec_{i}"
        record_params.append(KernelParameter(name, OUT, RECORD, key, optional=True))
        records.append((name, (Store(Ref(name, "record"), ref),)))
    scan_params = ([KernelParameter("steps", INT, STEPS, "steps"),
                    KernelParameter("every", INT, EVERY, "every"),
                    KernelParameter("stride", INT, STRIDE, "stride")] + params
                   + [KernelParameter("I_ext", IN, TRACE, "I_ext"), *record_params,
                      KernelParameter("rec_spike", COUNTS, RECORD, "spike", optional=True),
                      KernelParameter("spike_count", COUNTS, OUTPUT, "spike_count",
                                      optional=True)])
    run_prologue, run_body = step(Ref("ionc_spiked", "local"))
    run = ScanKernel(KernelSignature("ionc_run_kernel", ordered(scan_params)),
                     tuple(run_prologue), states, "I_ext", tuple(run_body), tuple(records),
                     Counter("ionc_spiked", "rec_spike", "spike_count"), transcendental)
    notes = tuple(f"{label}: {s}" for label, m in model.channels.items()
                  for s in m.singularities)
    kernels = {"update": update, **_initial_kernels(model, renamed, array_params)}
    return KernelSet(spec.name, tuple(functions), kernels, {"run": run}, notes)


def initial_task(j: int) -> str:
    """The kernel task of channel ``j``'s INITIAL in a neuron's kernel set."""
    return f"initial_{j}"


def _initial_kernels(model: NeuronModel, renamed: dict, array_params: frozenset
                     ) -> dict[str, MapKernel]:
    """Each mechanism's INITIAL (its states at their steady state) as a map kernel of the
    neuron, ``initial_<j>``, keyed as the mechanism's own ``steady_state`` kernel is
    (``('input', 'V')``, ``('parameter', 'g_max')``, ``('state', 'm')``): the runtime runs
    them in :func:`initial_order` with the inputs each reads at that point, so that a
    group's mechanisms need no kernels of their own."""
    out = {}
    for j, (label, m) in enumerate(model.channels.items()):
        if INITIAL_TASK not in m.functions or not m.gate_names:
            continue
        own = frozenset(p for p in m.parameter_names if f"{label}.{p}" in array_params)
        kernel = map_kernel(m, INITIAL_TASK, {m.table.identifier(g): (OUT, STATE, g)
                                              for g in m.gate_names}, own)
        names = {m.functions[t].name: new for (key, t), new in renamed.items() if key == id(m)}
        task = initial_task(j)
        out[task] = MapKernel(KernelSignature(f"ionc_{task}_kernel", kernel.signature.parameters),
                              _calling(kernel.prologue, names), _calling(kernel.body, names),
                              kernel.transcendental)
    return out


def _calling(statements, names: dict) -> tuple:
    """``statements`` with each call's function renamed by ``names``."""
    return tuple(Call(names[s.function], s.inputs, s.outputs) if isinstance(s, Call) else s
                 for s in statements)


def recordable(spec: NeuronSpec, method: str = "exp_auto") -> tuple[str, ...]:
    """What a cell's ``run`` can record besides ``'spike'``: ``'V'``, every mechanism
    state (``'Ca_HVA.m'``) and each ion concentration a mechanism reads or writes
    (``'cai'``)."""
    model = lower_neuron(spec, method)
    out = ["V"] + [f"{label}.{g}" for label, m in model.channels.items() for g in m.gate_names]
    for plan in model.wiring.ions.values():
        out += [c for c in plan.concentrations if c not in out]
    return tuple(out)


def _record_refs(model: NeuronModel, keys, source_ref, kinds):
    """``(key, operand)`` of each recordable quantity."""
    for key in keys:
        if key == "V":
            yield key, Ref("V", "state")
        elif "." in key:
            label, g = key.split(".", 1)
            j = list(model.channels).index(label)
            yield key, Ref(f"c{j}_{model.channels[label].table.identifier(g)}", "state")
        else:
            plan = next(p for p in model.wiring.ions.values() if key in p.concentrations)
            yield key, source_ref(plan.concentrations[key])


def _as_map(statement):
    """A step statement for a map kernel: the trace operand is the input array."""
    def fix(r: Ref) -> Ref:
        return Ref(r.name, "element") if r.where == "trace" else r
    if isinstance(statement, Call):
        return Call(statement.function, tuple(fix(r) for r in statement.inputs),
                    tuple(fix(r) for r in statement.outputs))
    return statement
