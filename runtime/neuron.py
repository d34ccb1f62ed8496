"""Neuron groups: ionc channels plus a membrane equation, compiled into one kernel.

:class:`CondNeuGroup` takes BrainPy's arguments (``C``, ``A``, ``V_th``,
``V_initializer``, channels as keywords) and compiles the whole neuron - every
channel's current, conductance and gates and the membrane potential - into
one kernel per step and one per input trace, on the channels' target
(``cpu``, ``numpy`` or ``cuda``).  The channel objects keep their gate
arrays: ``group.INa.p`` is the state the kernel advances.  The same channel
class may appear under several labels (two leaks).  :class:`HH` is BrainPy's
Hodgkin-Huxley neuron built from the library.
"""
from __future__ import annotations

import itertools
import threading
from typing import Any

import numpy as np

from .channel import Channel
from .channels import IK_HH1952, IL, INa_HH1952
from .codegen import NeuronSpec, render_neuron
from .codegen import SpecError
from .codegen.ions import NEURON_CONCENTRATIONS, wire_ions
from .codegen.neuron import (CELSIUS, MEMBRANE_PARAMETERS, NEURON_METHOD, OWN_METHODS,
                             channel_method, initial_order, initial_task, is_concentration,
                             is_ion_current, neuron_parameters, recordable)
from .inputs import check_count, check_dt, resolve_parameter, varshape_of
from .kernels import bind

#: A group's step (ms) when none is given: BrainPy's default (``bm.dt``).
DEFAULT_DT = 0.1


def group_dt(dt: float | None, method: str) -> float:
    """The step a group takes by default: ``dt``, else BrainPy's 0.1 ms; under
    ``method="neuron"`` it must be given (NEURON's default step is 0.025 ms, BrainPy's
    0.1 ms, and either would surprise someone)."""
    if dt is not None:
        return check_dt(dt)
    if method == NEURON_METHOD:
        raise TypeError("method='neuron' needs dt= (ms): NEURON's default step is 0.025 ms "
                        "and BrainPy's 0.1 ms, so ionc assumes neither")
    return DEFAULT_DT

#: Neuron methods: BrainPy's (exp_auto, exp_euler, euler) and NEURON's fixed step.
NEURON_METHODS = ("exp_auto", "exp_euler", "euler", NEURON_METHOD)

_names = itertools.count()


def run_options(record, every, recordable=("V",)) -> tuple[str, ...]:
    """A neuron run's ``record`` as a tuple of names, after checking it and ``every``
    (``recordable``: what besides ``'spike'`` the cell can record)."""
    record = (record,) if isinstance(record, str) else tuple(record)
    bad = [r for r in record if r != "spike" and r not in recordable]
    if bad:
        raise ValueError(f"cannot record {bad}; choose from {('spike', *recordable)}")
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"every must be a positive int, got {every!r}")
    return record


class CondNeuGroup:
    """A conductance-based neuron group: ``C dV/dt = I_ext + sum of channel currents``.

    ``channels`` are ionc mechanism objects of this group's size, dtype and
    target, passed by label (``INa=INa_Ba2002(n)``); their parameters (scalars
    or per neuron) are compiled in.  One step follows BrainPy's exp_auto: gates
    at the old V, V by exponential Euler from the old gates.  ``method='neuron'``
    takes NEURON's fixed step instead (V by linearised backward Euler with NEURON's
    numerical di/dv, then the states at the new V, each mechanism by its own .mod
    method).  The external input ``x`` of :meth:`update` is scaled by ``1e-3 / A`` as in
    BrainPy (``A`` in cm^2; the default 1e-3 makes ``x`` a current density in uA/cm^2).

    The mechanisms are coupled through their ions as NEURON couples those of one
    section (:mod:`ionc.codegen.ions`): ion currents are summed, a concentration one
    mechanism writes is its state and every other reads it, reversal potentials are
    Nernst at ``celsius`` where concentrations are read or written.  ``ions=`` gives an
    ion's quantities (``{'ca': {'cao': 2.0, 'cai': 5e-5}, 'k': {'ek': -85.0}}``: a
    written concentration's start, a held one's value, a fixed reversal potential);
    ``celsius`` is every mechanism's temperature.  ``concentrations={'label.cai': v}``
    holds one mechanism's input at its own value instead.
    """

    def __init__(self, size, keep_size: bool = False, C: Any = 1.0, A: float = 1e-3,
                 V_th: Any = 0.0, V_initializer: Any = -65.0, method: str = "exp_auto",
                 name: str | None = None, mode: Any = None, *, dtype: str = "float64",
                 dt: float | None = None, celsius: Any = None, ions: dict | None = None,
                 concentrations: dict | None = None, **channels: Channel):
        self._lock = threading.RLock()
        self.varshape = varshape_of(size, keep_size)
        self._shape = self.varshape
        self._n = int(np.prod(self._shape))
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
        self.name = name or f"{type(self).__name__}{next(_names)}"
        if method not in NEURON_METHODS:
            raise ValueError(f"unknown method {method!r}; use one of {NEURON_METHODS}")
        self.method, self.mode, self.dt = method, mode, group_dt(dt, method)
        self.A = float(A)
        if not (self.A > 0 and np.isfinite(self.A)):
            raise ValueError(f"A (membrane area, cm^2) must be finite and > 0, got {A!r}")
        if not channels:
            raise ValueError(f"{type(self).__name__} needs at least one channel, "
                             f"e.g. INa=INa_Ba2002(size)")
        targets = set()
        for label, ch in channels.items():
            if not isinstance(ch, Channel):
                raise TypeError(f"channel {label!r} must be an ionc channel object, got "
                                f"{type(ch).__name__}")
            targets.add(ch.target)
        self.target = targets.pop() if len(targets) == 1 else None
        for label, ch in channels.items():
            if ch.states and next(iter(ch.states.values())).shape != self._shape \
                    or ch.varshape != self._shape or ch.dtype != self.dtype \
                    or ch.target != self.target:
                raise ValueError(
                    f"channel {label!r} has shape {ch.varshape}, dtype {ch.dtype.name}, target "
                    f"{ch.target!r}; this group needs shape {self._shape}, dtype "
                    f"{self.dtype.name} and one target for every channel")
            wanted = channel_method(method)
            if ch.method != wanted and not (wanted == "cnexp" and ch.method in (
                    "exp_auto", *OWN_METHODS)):
                raise ValueError(f"channel {label!r} uses method {ch.method!r}; the group's "
                                 f"{method!r} needs {wanted!r}")
        self.channels: dict[str, Channel] = dict(channels)
        membrane = {"C": C, "V_th": V_th}
        temperature = self._celsius(celsius)
        if temperature is not None:
            membrane[CELSIUS] = temperature
        ions = self._check_ions(ions)
        held = dict(concentrations or {})
        self.spec = NeuronSpec(type(self).__name__,
                               {label: ch.spec for label, ch in self.channels.items()},
                               {**MEMBRANE_PARAMETERS, **({CELSIUS: temperature}
                                                          if temperature is not None else {})},
                               ions={ion: tuple(q) for ion, q in ions.items()},
                               held=frozenset(held),
                               methods={label: ch.method for label, ch in self.channels.items()
                                        if method == NEURON_METHOD and ch.method in OWN_METHODS
                                        and ch.method != "cnexp"})
        try:
            defaults = neuron_parameters(self.spec)
            self._wiring = wire_ions(self.spec.channels, self.spec.ions, self.spec.held,
                                     CELSIUS in self.spec.parameters)
        except SpecError as exc:
            raise ValueError(str(exc)) from None
        read = {f"{label}.{c}": value for label, ch in self.channels.items()
                for c, value in ch.spec.inputs.items()}
        unknown = sorted(set(held) - set(read))
        if unknown:
            raise ValueError(f"concentrations {unknown}: no channel of this group reads them; "
                             f"they read {sorted(read) or 'none'}")
        given = {q: v for quantities in ions.values() for q, v in quantities.items()}
        for ion, quantities in ions.items():           # every given value, used or not
            for q, v in quantities.items():
                value = resolve_parameter(q, v, self._shape, self.dtype)
                if q in (f"{ion}i", f"{ion}o") and np.any(np.asarray(value) <= 0):
                    raise ValueError(f"concentration {q} must be finite and > 0, got {v!r}")
        values = {}
        for key, default in defaults.items():
            if key in membrane:
                value = membrane[key]
            elif key in given:
                value = given[key]
            elif key in held:
                value = held[key]
            elif "." in key:
                label, name = key.split(".", 1)
                value = self.channels[label].parameters.get(name, default)
            else:
                value = default
            values[key] = value
        params = {}
        positive = {"C"} | {k for k in defaults if is_concentration(k, self.spec)}
        for key, value in values.items():
            if isinstance(value, np.ndarray) or key in membrane or key in given or key in held:
                value = resolve_parameter(key, value, self._shape, self.dtype)
            if key in positive and np.any(np.asarray(value) <= 0):
                what = "C (membrane capacitance)" if key == "C" else f"concentration {key}"
                raise ValueError(f"{what} must be finite and > 0, got {values[key]!r}")
            params[key] = value
        # each written concentration's value when finitialize starts (NEURON's cai0_ca_ion,
        # or ions=): what mechanisms before its writer read in their INITIAL, and where a
        # writer whose INITIAL does not set it starts
        self._start = {}
        for plan in self._wiring.ions.values():
            for conc, source in plan.concentrations.items():
                if source.kind == "state":
                    own = self._wiring.initial.get((source.label, source.name))
                    self._start[(source.label, source.name)] = given.get(
                        conc, params.get(own, NEURON_CONCENTRATIONS.get(conc, 1.0)))
        arrays = frozenset(k for k, v in params.items() if not isinstance(v, float))
        self._generated = render_neuron(self.spec, self.target, self.dtype.name, method, arrays)
        self._kernels = k = bind(self._generated)
        self._recordable = recordable(self.spec, method)
        # the group's own arrays go to its target; the channels' are theirs already
        self._params = {key: (k.as_array(v, self._shape, self.dtype, key) if key in arrays
                              and "." not in key or key in held and key in arrays else v)
                        for key, v in params.items()}
        self._V_initializer = V_initializer
        self.V = k.zeros(self._shape, self.dtype)
        self.spike = k.zeros(self._shape, bool)
        self._update_key = None
        self.reset_state()

    def _celsius(self, celsius):
        """The cell's temperature: ``celsius`` when given, else the one its mechanisms'
        ``celsius`` parameters share; None when nothing reads one."""
        own = {label: ch.parameters["celsius"] for label, ch in self.channels.items()
               if "celsius" in ch.spec.parameters}
        if celsius is not None:
            return celsius
        if not own:
            return None
        values = {float(v) if np.ndim(v) == 0 else None for v in own.values()}
        if len(values) != 1 or None in values:
            raise ValueError(f"the mechanisms' celsius differ or vary per neuron ({own}); "
                             f"NEURON's celsius is one value for the whole cell: give it as "
                             f"celsius= to the group")
        return values.pop()

    def _check_ions(self, ions) -> dict:
        """``ions=`` as ``{ion: {quantity: value}}`` after checking its shape."""
        if ions is None:
            return {}
        if not isinstance(ions, dict):
            raise TypeError(f"ions must be a dict such as {{'ca': {{'cao': 2.0}}}}, got "
                            f"{type(ions).__name__}")
        out = {}
        for ion, quantities in ions.items():
            if not isinstance(quantities, dict):
                raise TypeError(f"ions[{ion!r}] must be a dict of quantities such as "
                                f"{{'e{ion}': ...}}, got {type(quantities).__name__}")
            out[ion] = dict(quantities)
        return out

    def __getattr__(self, label: str) -> Channel:
        channels = self.__dict__.get("channels", {})
        if label in channels:
            return channels[label]
        raise AttributeError(f"{type(self).__name__} has no attribute or channel {label!r}")

    # ---- state --------------------------------------------------------
    def reset_state(self, batch_size: int | None = None) -> None:
        """V from ``V_initializer`` (a number, an array or ``f(shape)``); gates at their
        steady state at that V; no spike."""
        if batch_size is not None:
            raise ValueError("CondNeuGroup has no batch axis; build it with the batch in "
                             "its size instead")
        init = self._V_initializer
        value = init(self._shape) if callable(init) else init
        if hasattr(value, "__cuda_array_interface__"):
            value = value.get()
        V = np.asarray(value)
        if V.dtype.kind not in "fiu" or not np.all(np.isfinite(V)):
            raise ValueError("V_initializer gave non-finite or non-real values")
        with self._lock:
            V = self._kernels.as_array(V, self._shape, self.dtype, "V_initializer")
            k = self._kernels
            start = {key: k.as_array(v, self._shape, self.dtype, key[1])
                     for key, v in self._start.items()}
            for (label, state), value in start.items():
                self.channels[label].states[state][...] = value
            for label in initial_order(self.spec):        # NEURON's INITIAL blocks, in order
                self._initial(label, V)
                for (writer, state), value in start.items():
                    if writer == label and (writer, state) in self._wiring.initial:
                        self.channels[label].states[state][...] = value
            self.V[...] = V
            self.spike[...] = False

    def _initial(self, label: str, V) -> None:
        """Mechanism ``label``'s INITIAL, by the group's own kernel: its states at their
        steady state at ``V``, from the inputs and parameters it reads now."""
        j = list(self.channels).index(label)
        ch = self.channels[label]
        task = initial_task(j)
        if task not in self._generated.kernels:
            if ch.spec.gates:
                raise NotImplementedError(
                    f"{label} ({ch.spec.name}): a state's ODE has no closed-form steady "
                    f"state; this group cannot initialise it")
            return
        k = self._kernels
        values = {("input", "V"): V, **{("state", g): a for g, a in ch.states.items()}}
        values.update({("input", c): k.as_array(v, self._shape, self.dtype, c)
                       for c, v in self._inputs_now(label, ch).items()})
        for p, own in ch.parameters.items():
            source = self._wiring.reads.get((label, p))
            value = self._params.get(f"{label}.{p}", own)
            if source is not None and source.kind == "parameter":
                value = self._params[source.name]          # the cell's celsius, ek, cao
            values[("parameter", p)] = value
        k.call(task, self._n, values)

    def _inputs_now(self, label: str, ch: Channel) -> dict:
        """The inputs beyond V of mechanism ``label`` as the cell holds them now: another
        mechanism's state, a cell or mechanism parameter; an ion current is zero (NEURON's
        INITIAL blocks run before any current is computed)."""
        out = {}
        for c in ch.spec.inputs:
            source = self._wiring.reads.get((label, c))
            if source is None:
                out[c] = self._params[f"{label}.{c}"]
            elif source.kind == "state":
                out[c] = self.channels[source.label].states[source.name]
            elif source.kind == "parameter" and not is_ion_current(c, ch.spec):
                out[c] = self._params[source.name]
            else:
                out[c] = 0.0
        return out

    def _values(self) -> dict:
        values = {("parameter", k): v for k, v in self._params.items()}
        values[("state", "V")] = self.V
        for label, ch in self.channels.items():
            values.update({("state", f"{label}.{g}"): a for g, a in ch.states.items()})
        return values

    def _input(self, x, shape, name: str):
        """External input as a current density of ``shape`` (a copy when scaled)."""
        if x is not None and not isinstance(x, (int, float, np.integer, np.floating)) \
                and not hasattr(x, "shape") and not isinstance(x, (list, tuple)):
            raise TypeError(f"{name} must be a number or an array, got {type(x).__name__}")
        k = self._kernels
        arr = k.as_array(0.0 if x is None else x, shape, self.dtype, name)
        if k.count_nonfinite(arr.size, k.pointer(arr)):    # the compiled count: no temporary
            raise ValueError(f"{name} has NaN or infinite entries; the state was left "
                             f"unchanged")
        return arr * self.dtype.type(1e-3 / self.A) if self.A != 1e-3 else arr

    # ---- dynamics -----------------------------------------------------
    def update(self, x=None, dt: float | None = None):
        """One step with external input ``x`` (default 0); returns the spike flags
        (V crossed ``V_th`` upwards in this step)."""
        step = self.dt if dt is None else check_dt(dt)
        with self._lock:
            I_ext = self._input(x, self._shape, "x")
            k = self._kernels
            # the argument list is built once and rebuilt only if a channel reallocated
            # its gate arrays; per call only dt and I_ext are filled in
            key = tuple(id(a) for ch in self.channels.values() for a in ch.states.values())
            if self._update_key != key:
                values = self._values()
                values[("output", "spike")] = self.spike.view(np.uint8)
                self._update_args, self._update_slots = k.prepare(
                    "update", values, free=(("dt", "dt"), ("input", "I_ext")))
                self._update_key = key
            args = self._update_args
            args[self._update_slots[("dt", "dt")]] = k.scalar(step)
            args[self._update_slots[("input", "I_ext")]] = k.pointer(I_ext)
            k.functions["update"](self._n, *args)
            return self.spike

    def run(self, inputs, dt: float | None = None, record=("V", "spike"), every: int = 1,
            steps: int | None = None) -> dict:
        """All steps of an input trace (shape ``(steps, *shape)``) in one call; with
        ``steps=k``, ``inputs`` is one input per neuron (broadcastable to the shape)
        held for ``k`` steps, and no trace is built.

        Returns ``{'V': V after every ``every``-th step, 'spike': spikes counted in
        each window of ``every`` steps, 'spike_count': all spikes per neuron}``
        for the names in ``record``.  The state ends at the last step.
        """
        step = self.dt if dt is None else check_dt(dt)
        record = run_options(record, every, self._recordable)
        if steps is None:
            shape = np.shape(inputs)
            if len(shape) != len(self._shape) + 1:
                raise ValueError(f"inputs has shape {shape}, expected (steps, *{self._shape}),"
                                 f" or pass steps= for a held input")
            steps, stride = shape[0], self._n
        else:
            steps, stride = check_count(steps, "steps"), 0
        with self._lock:
            k = self._kernels
            if stride:
                I_ext = self._input(inputs, (steps, *self._shape), "inputs")
            else:
                I_ext = self._input(inputs, self._shape, "inputs").reshape((1, *self._shape))
            n_rec = steps // int(every)
            out = {"spike_count": k.zeros(self._shape, np.int32)}
            for r in record:
                out[r] = (k.zeros((n_rec, *self._shape), np.int32) if r == "spike"
                          else k.empty((n_rec, *self._shape), self.dtype))
            values = self._values()
            values.update({("steps", "steps"): steps, ("every", "every"): int(every),
                           ("stride", "stride"): stride,
                           ("dt", "dt"): step, ("trace", "I_ext"): I_ext,
                           ("output", "spike_count"): out["spike_count"]})
            values.update({("record", r): out.get(r) for r in ("spike", *self._recordable)})
            k.call("run", self._n, values)
            return out

    # ---- inspection ---------------------------------------------------
    def source(self, target: str | None = None) -> str:
        """The emitted source of the fused neuron kernels (default: this group's target)."""
        if target is None:
            return self._generated.source
        return render_neuron(self.spec, target, self.dtype.name, self.method,
                             self._generated.array_params).source

    @property
    def kernel_hash(self) -> str:
        """Content hash of the emitted source (16 hex digits)."""
        return self._generated.hash

    def __repr__(self) -> str:
        chans = ", ".join(f"{k}={ch.spec.name}" for k, ch in self.channels.items())
        return (f"{type(self).__name__}(name={self.name!r}, shape={self._shape}, "
                f"dtype={self.dtype.name}, target={self.target!r}, {chans}, "
                f"kernel={self.kernel_hash})")


class HH(CondNeuGroup):
    """BrainPy's Hodgkin-Huxley neuron (``brainpy.dyn.HH``) from library channels:
    INa_HH1952 and IK_HH1952 at V_sh = -45 mV, and a leak.  Its input ``x`` is a
    current density (uA/cm^2); spikes are upward crossings of ``V_th``."""

    def __init__(self, size, keep_size: bool = False, ENa: Any = 50., gNa: Any = 120.,
                 EK: Any = -77., gK: Any = 36., EL: Any = -54.387, gL: Any = 0.03,
                 V_th: Any = 20., C: Any = 1.0, V_initializer: Any = -65.0,
                 method: str = "exp_auto", name: str | None = None, *,
                 dtype: str = "float64", dt: float | None = None, target: str = "cpu"):
        kw = dict(dtype=dtype, dt=group_dt(dt, method), method=channel_method(method),
                  target=target)
        super().__init__(size, keep_size, C=C, V_th=V_th, V_initializer=V_initializer,
                         name=name, dtype=dtype, dt=dt, method=method,
                         INa=INa_HH1952(size, keep_size, E=ENa, g_max=gNa, V_sh=-45.0, **kw),
                         IK=IK_HH1952(size, keep_size, E=EK, g_max=gK, V_sh=-45.0, **kw),
                         IL=IL(size, keep_size, E=EL, g_max=gL, **kw))
