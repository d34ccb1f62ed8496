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

from .elements import FUNCTION_PREFIX, ChannelModel, ElementFunction, lower_channel
from .functions import exprelr
from .kernels import (COUNTS, FLAGS, IN, INOUT, INPUT, INT, OUT, OUTPUT, PARAMETER, REAL,
                      RECORD, STATE, STEP, STEPS, STRIDE, EVERY, TRACE, Call, Counter, Crossing,
                      KernelParameter, KernelSet, KernelSignature, MapKernel, Ref, ScanKernel,
                      Store, ordered)
from .spec import V, ChannelSpec, SpecError, dt, symbol

#: The external current density (uA/cm^2 for C in uF/cm^2), an input per step.
I_EXT = symbol("I_ext")
#: Sum of the channel currents and of their conductances, at the old state.
I_SUM, G_SUM = symbol("ionc_I"), symbol("ionc_G")
#: The membrane's own parameters and their defaults (BrainPy's HH).
MEMBRANE_PARAMETERS = {"C": 1.0, "V_th": 20.0}
#: Element functions of a channel that a neuron step calls.
NEURON_TASKS = ("current", "conductance", "conductance_numeric", "update")
#: NEURON's fixed step as a neuron method: the membrane by linearised backward Euler with
#: NEURON's numerical di/dv at the old gates, then the gates (cnexp) at the new V.
NEURON_METHOD = "neuron"


def channel_method(method: str) -> str:
    """The method a neuron's channels step with (``'neuron'``: NEURON's cnexp, which is
    exp_auto on gates linear in themselves)."""
    return "cnexp" if method == NEURON_METHOD else method


@dataclass(frozen=True, eq=False)
class NeuronSpec:
    """Channels by label plus the membrane parameters ``C`` and ``V_th``."""

    name: str
    channels: Mapping[str, ChannelSpec]
    parameters: Mapping[str, float] = field(default_factory=lambda: dict(MEMBRANE_PARAMETERS))
    doc: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise SpecError(f"neuron name {self.name!r} is not an identifier")
        if not self.channels:
            raise SpecError(f"neuron {self.name!r} has no channels")
        if set(self.parameters) != set(MEMBRANE_PARAMETERS):
            raise SpecError(f"neuron {self.name!r}: parameters must be "
                            f"{sorted(MEMBRANE_PARAMETERS)}, got {sorted(self.parameters)}")
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
    channels = {label: lower_channel(ch, channel_method(method))
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
    return NeuronModel(spec, method, channels, membrane)


def _prefixes(model: NeuronModel) -> dict[int, str]:
    """One element-function prefix per distinct channel spec (``ionc_f0``, ...)."""
    out: dict[int, str] = {}
    for m in model.channels.values():
        out.setdefault(id(m), f"{FUNCTION_PREFIX}{len(out)}")
    return out


@lru_cache(maxsize=None)
def neuron_kernels(spec: NeuronSpec, method: str = "exp_auto",
                   array_params: frozenset = frozenset()) -> KernelSet:
    """The fused ``update`` (one step) and ``run`` (an input trace) kernels of a neuron.

    ``array_params`` names the parameters given per neuron (``'INa.g_max'``, ``'C'``).
    """
    model = lower_neuron(spec, method)
    known = {f"{label}.{p}" for label, m in model.channels.items()
             for p in (*m.parameter_names, *m.input_names[1:])}
    unknown = set(array_params) - known - set(spec.parameters)
    if unknown:
        raise ValueError(f"{spec.name} has no parameter(s) {sorted(unknown)}")
    prefixes = _prefixes(model)
    functions: list[ElementFunction] = []
    renamed: dict[tuple[int, str], str] = {}
    for m in model.channels.values():
        if any(k[0] == id(m) for k in renamed):
            continue
        for task in (*NEURON_TASKS, *(s.name for s in m.derived)):
            fn = m.functions[task]
            new = prefixes[id(m)] + fn.name[len(FUNCTION_PREFIX):]
            renamed[(id(m), task)] = new
            functions.append(fn.renamed(new))
    functions.append(model.membrane)

    # kernel parameters: membrane scalars, then channel j's as c<j>_<identifier>
    params: list[KernelParameter] = [KernelParameter("dt", REAL, STEP, "dt")]
    where: dict[tuple[int, str], str] = {}        # (channel j, identifier) -> kernel name
    for p in spec.parameters:
        array = p in array_params
        params.append(KernelParameter(p, IN if array else REAL, PARAMETER, p))
    params.append(KernelParameter("V", INOUT, STATE, "V"))
    for j, (label, m) in enumerate(model.channels.items()):
        for g in m.gate_names:
            name = f"c{j}_{m.table.identifier(g)}"
            where[(j, m.table.identifier(g))] = name
            params.append(KernelParameter(name, INOUT, STATE, f"{label}.{g}"))
        # inputs beyond V (cai) are held fixed over a run: parameters of the neuron
        for p in (*m.parameter_names, *m.input_names[1:]):
            name = f"c{j}_{m.table.identifier(p)}"
            where[(j, m.table.identifier(p))] = name
            array = f"{label}.{p}" in array_params
            params.append(KernelParameter(name, IN if array else REAL, PARAMETER,
                                          f"{label}.{p}"))
    kinds = {p.name: p for p in params}

    def operand(j: int, ident: str, m: ChannelModel) -> Ref:
        if ident == "V":
            return Ref("V", "state")
        if ident == "dt":
            return Ref("dt", "scalar")
        if any(s.name == ident for s in m.derived):
            return Ref(f"c{j}_{ident}", "scalar")
        name = where[(j, ident)]
        p = kinds[name]
        if p.role == STATE:
            return Ref(name, "state")
        return Ref(name, "element" if p.is_array else "scalar")

    def step(spike: Ref) -> tuple[list, list]:
        prologue, body = [], []
        for j, m in enumerate(model.channels.values()):
            for sym in m.derived:
                fn = m.functions[sym.name]
                ins = tuple(operand(j, s.name, m) for s in fn.inputs)
                call = Call(renamed[(id(m), sym.name)], ins, (Ref(f"c{j}_{sym.name}", "local"),))
                (body if any(r.where == "element" for r in ins) else prologue).append(call)
            conductance = ("conductance_numeric" if method == NEURON_METHOD
                           else "conductance")
            for task, out in (("current", f"ionc_I{j}"), (conductance, f"ionc_G{j}")):
                fn = m.functions[task]
                body.append(Call(renamed[(id(m), task)],
                                 tuple(operand(j, s.name, m) for s in fn.inputs),
                                 (Ref(out, "local"),)))
        C = Ref("C", "element" if "C" in array_params else "scalar")
        ins = [Ref("V", "state"), Ref("dt", "scalar"), Ref("I_ext", "trace"), C]
        for j in range(len(model.channels)):
            ins += [Ref(f"ionc_I{j}", "local"), Ref(f"ionc_G{j}", "local")]
        body.append(Call(model.membrane.name, tuple(ins), (Ref("ionc_Vn", "local"),)))
        for j, m in enumerate(model.channels.values()):
            if not m.gate_names:
                continue
            fn = m.functions["update"]
            ins = tuple(operand(j, s.name, m) for s in fn.inputs)
            if method == NEURON_METHOD:   # NEURON advances the states at the new V
                ins = tuple(Ref("ionc_Vn", "local") if r == Ref("V", "state") else r
                            for r in ins)
            body.append(Call(renamed[(id(m), "update")], ins,
                             tuple(Ref(where[(j, m.table.identifier(g))], "state")
                                   for g in m.gate_names)))
        V_th = Ref("V_th", "element" if "V_th" in array_params else "scalar")
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
    scan_params = ([KernelParameter("steps", INT, STEPS, "steps"),
                    KernelParameter("every", INT, EVERY, "every"),
                    KernelParameter("stride", INT, STRIDE, "stride")] + params
                   + [KernelParameter("I_ext", IN, TRACE, "I_ext"),
                      KernelParameter("rec_V", OUT, RECORD, "V", optional=True),
                      KernelParameter("rec_spike", COUNTS, RECORD, "spike", optional=True),
                      KernelParameter("spike_count", COUNTS, OUTPUT, "spike_count",
                                      optional=True)])
    run_prologue, run_body = step(Ref("ionc_spiked", "local"))
    run = ScanKernel(KernelSignature("ionc_run_kernel", ordered(scan_params)),
                     tuple(run_prologue), states, "I_ext", tuple(run_body),
                     (("rec_V", (Store(Ref("rec_V", "record"), Ref("V", "state")),)),),
                     Counter("ionc_spiked", "rec_spike", "spike_count"), transcendental)
    notes = tuple(f"{label}: {s}" for label, m in model.channels.items()
                  for s in m.singularities)
    return KernelSet(spec.name, tuple(functions), {"update": update}, {"run": run}, notes)


def _as_map(statement):
    """A step statement for a map kernel: the trace operand is the input array."""
    def fix(r: Ref) -> Ref:
        return Ref(r.name, "element") if r.where == "trace" else r
    if isinstance(statement, Call):
        return Call(statement.function, tuple(fix(r) for r in statement.inputs),
                    tuple(fix(r) for r in statement.outputs))
    return statement
