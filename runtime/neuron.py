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
from .codegen.neuron import MEMBRANE_PARAMETERS, NEURON_METHOD, channel_method
from .inputs import check_count, check_dt, resolve_parameter, varshape_of
from .kernels import bind

#: Neuron methods: BrainPy's (exp_auto, exp_euler, euler) and NEURON's fixed step.
NEURON_METHODS = ("exp_auto", "exp_euler", "euler", NEURON_METHOD)

_names = itertools.count()


def run_options(record, every) -> tuple[str, ...]:
    """A neuron run's ``record`` as a tuple of names, after checking it and ``every``."""
    record = (record,) if isinstance(record, str) else tuple(record)
    bad = [r for r in record if r not in ("V", "spike")]
    if bad:
        raise ValueError(f"cannot record {bad}; choose from ('V', 'spike')")
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"every must be a positive int, got {every!r}")
    return record


class CondNeuGroup:
    """A conductance-based neuron group: ``C dV/dt = I_ext + sum of channel currents``.

    ``channels`` are ionc channel objects of this group's size, dtype and
    target, passed by label (``INa=INa_Ba2002(n)``); their parameters (scalars
    or per neuron) are compiled in.  One step follows BrainPy's exp_auto: gates
    at the old V, V by exponential Euler from the old gates.  ``method='neuron'``
    takes NEURON's fixed step instead (V by linearised backward Euler with NEURON's
    numerical di/dv, then the gates at the new V; the channels use exp_auto).  The external
    input ``x`` of :meth:`update` is scaled by ``1e-3 / A`` as in BrainPy (``A``
    in cm^2; the default 1e-3 makes ``x`` a current density in uA/cm^2).
    A channel that reads a concentration (a ``.mod`` file's ``cai``) gets it from
    ``concentrations={'label.cai': value}`` (a scalar or one per neuron; default: the
    channel's, NEURON's 5e-5 mM), held fixed as nothing in the group writes it.
    """

    def __init__(self, size, keep_size: bool = False, C: Any = 1.0, A: float = 1e-3,
                 V_th: Any = 0.0, V_initializer: Any = -65.0, method: str = "exp_auto",
                 name: str | None = None, mode: Any = None, *, dtype: str = "float64",
                 dt: float = 0.1, concentrations: dict | None = None, **channels: Channel):
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
        self.method, self.mode, self.dt = method, mode, check_dt(dt)
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
            if ch.method != wanted and not (wanted == "cnexp" and ch.method == "exp_auto"):
                raise ValueError(f"channel {label!r} uses method {ch.method!r}; the group's "
                                 f"{method!r} needs {wanted!r}")
        self.channels: dict[str, Channel] = dict(channels)
        self.spec = NeuronSpec(type(self).__name__,
                               {label: ch.spec for label, ch in self.channels.items()},
                               dict(MEMBRANE_PARAMETERS))
        membrane = {k: resolve_parameter(k, v, self._shape, self.dtype)
                    for k, v in {"C": C, "V_th": V_th}.items()}
        if np.any(np.asarray(membrane["C"]) <= 0):
            raise ValueError(f"C (membrane capacitance) must be > 0, got {C!r}")
        params = dict(membrane)
        for label, ch in self.channels.items():
            params.update({f"{label}.{p}": v for p, v in ch.parameters.items()})
        read = {f"{label}.{c}": value for label, ch in self.channels.items()
                for c, value in ch.spec.inputs.items()}
        given = dict(concentrations or {})
        unknown = sorted(set(given) - set(read))
        if unknown:
            raise ValueError(f"concentrations {unknown}: no channel of this group reads them; "
                             f"they read {sorted(read) or 'none'}")
        for key, default in read.items():
            value = resolve_parameter(key, given.get(key, default), self._shape, self.dtype)
            if np.any(np.asarray(value) <= 0):      # resolve_parameter refused non-finite
                raise ValueError(f"concentration {key} must be finite and > 0, got "
                                 f"{given.get(key, default)!r}")
            params[key] = value
        arrays = frozenset(k for k, v in params.items() if not isinstance(v, float))
        self._generated = render_neuron(self.spec, self.target, self.dtype.name, method, arrays)
        self._kernels = k = bind(self._generated)
        # the group's own arrays go to its target; the channels' are theirs already
        self._params = {key: (k.as_array(v, self._shape, self.dtype, key) if key in arrays
                              and (key in membrane or key in read) else v)
                        for key, v in params.items()}
        self._concentrations = {key: self._params[key] for key in read}
        self._V_initializer = V_initializer
        self.V = k.zeros(self._shape, self.dtype)
        self.spike = k.zeros(self._shape, bool)
        self._update_key = None
        self.reset_state()

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
            for label, ch in self.channels.items():
                ch.reset_state(V, **{c: self._concentrations[f"{label}.{c}"]
                                     for c in ch.spec.inputs})
            self.V[...] = V
            self.spike[...] = False

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
        record = run_options(record, every)
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
            if "V" in record:
                out["V"] = k.empty((n_rec, *self._shape), self.dtype)
            if "spike" in record:
                out["spike"] = k.zeros((n_rec, *self._shape), np.int32)
            values = self._values()
            values.update({("steps", "steps"): steps, ("every", "every"): int(every),
                           ("stride", "stride"): stride,
                           ("dt", "dt"): step, ("trace", "I_ext"): I_ext,
                           ("record", "V"): out.get("V"), ("record", "spike"): out.get("spike"),
                           ("output", "spike_count"): out["spike_count"]})
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
                 dtype: str = "float64", dt: float = 0.1, target: str = "cpu"):
        kw = dict(dtype=dtype, dt=dt, method=channel_method(method), target=target)
        super().__init__(size, keep_size, C=C, V_th=V_th, V_initializer=V_initializer,
                         name=name, dtype=dtype, dt=dt, method=method,
                         INa=INa_HH1952(size, keep_size, E=ENa, g_max=gNa, V_sh=-45.0, **kw),
                         IK=IK_HH1952(size, keep_size, E=EK, g_max=gK, V_sh=-45.0, **kw),
                         IL=IL(size, keep_size, E=EL, g_max=gL, **kw))
