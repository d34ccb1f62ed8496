"""Neuron groups: ionc channels plus a membrane equation, compiled into one kernel.

:class:`CondNeuGroup` takes BrainPy's arguments (``C``, ``A``, ``V_th``,
``V_initializer``, channels as keywords) and compiles the whole neuron - every
channel's current, conductance and gates and the membrane potential - into
one C kernel per step and one per input trace.  The channel objects keep
their gate arrays: ``group.INa.p`` is the state the kernel advances.
:class:`HH` is BrainPy's Hodgkin-Huxley neuron built from the library.
"""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from .channel import Channel
from .channels import IK_HH1952, IL, INa_HH1952
from .codegen.neuron import MEMBRANE_PARAMETERS, NeuronSpec
from .codegen.render_neuron import render_neuron
from .inputs import as_voltage, check_dt, resolve_parameter, varshape_of
from .kernels import HostKernels

_names = itertools.count()


class CondNeuGroup:
    """A conductance-based neuron group: ``C dV/dt = I_ext + sum of channel currents``.

    ``channels`` are ionc channel objects of this group's size and dtype,
    passed by label (``INa=INa_Ba2002(n)``); their parameters (scalars or per
    neuron) are compiled in.  One step follows BrainPy's exp_auto: gates at
    the old V, V by exponential Euler from the old gates.  The external input
    ``x`` of :meth:`update` is scaled by ``1e-3 / A`` as in BrainPy (``A`` in
    cm^2; the default 1e-3 makes ``x`` a current density in uA/cm^2).
    """

    def __init__(self, size, keep_size: bool = False, C: Any = 1.0, A: float = 1e-3,
                 V_th: Any = 0.0, V_initializer: Any = -65.0, method: str = "exp_auto",
                 name: str | None = None, mode: Any = None, *, dtype: str = "float64",
                 dt: float = 0.1, **channels: Channel):
        self.varshape = varshape_of(size, keep_size)
        self._shape = self.varshape
        self._n = int(np.prod(self._shape))
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
        self.name = name or f"{type(self).__name__}{next(_names)}"
        self.method, self.mode, self.dt = method, mode, check_dt(dt)
        self.A = float(A)
        if not (self.A > 0 and np.isfinite(self.A)):
            raise ValueError(f"A (membrane area, cm^2) must be finite and > 0, got {A!r}")
        if not channels:
            raise ValueError(f"{type(self).__name__} needs at least one channel, "
                             f"e.g. INa=INa_Ba2002(size)")
        for label, ch in channels.items():
            if not isinstance(ch, Channel):
                raise TypeError(f"channel {label!r} must be an ionc channel object, got "
                                f"{type(ch).__name__}")
            if ch._shape != self._shape or ch.dtype != self.dtype or ch.target != "cpu":
                raise ValueError(
                    f"channel {label!r} has shape {ch._shape}, dtype {ch.dtype.name}, target "
                    f"{ch.target!r}; this group needs {self._shape}, {self.dtype.name}, 'cpu'")
            if ch.method != method:
                raise ValueError(f"channel {label!r} uses method {ch.method!r}, the group "
                                 f"{method!r}")
        self.channels: dict[str, Channel] = dict(channels)
        membrane = {"C": C, "V_th": V_th}
        self._membrane = {k: resolve_parameter(k, v, self._shape, self.dtype)
                          for k, v in membrane.items()}
        params = dict(self._membrane)
        for label, ch in self.channels.items():
            params.update({f"{label}_{p}": v for p, v in ch._params.items()})
        arrays = frozenset(k for k, v in params.items() if isinstance(v, np.ndarray))
        self.spec = NeuronSpec(type(self).__name__,
                               {label: ch.spec for label, ch in self.channels.items()},
                               dict(MEMBRANE_PARAMETERS))
        self._generated = render_neuron(self.spec, self.dtype.name, method, arrays)
        self._kernels = HostKernels(self._generated)
        self._params = params
        self._V_initializer = V_initializer
        self.V = np.zeros(self._shape, self.dtype)
        self.spike = np.zeros(self._shape, bool)
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
        V = as_voltage(np.asarray(value), self._shape, self.dtype, name="V_initializer")
        if not np.all(np.isfinite(V)):
            raise ValueError("V_initializer gave non-finite values")
        self.V[...] = V
        self.spike[...] = False
        for ch in self.channels.values():
            ch.reset_state(self.V)

    def _states(self) -> dict[str, np.ndarray]:
        states = {"V": self.V}
        for label, ch in self.channels.items():
            states.update({f"{label}_{g}": a for g, a in ch._states.items()})
        return states

    def _input(self, x, shape, name: str) -> np.ndarray:
        """External input as a current density of ``shape`` (a copy when scaled)."""
        arr = as_voltage(0.0 if x is None else x, shape, self.dtype, name=name)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} has NaN or infinite entries; the state was left "
                             f"unchanged")
        return arr * self.dtype.type(1e-3 / self.A) if self.A != 1e-3 else arr

    def _args(self, task: str, values: dict) -> list:
        k = self._kernels
        states = self._states()
        args = []
        for name, kind in self._generated.kernels[task].args:
            value = values[name] if name in values else states.get(name, self._params.get(name))
            if kind == "flags":
                args.append(k._ffi.from_buffer("unsigned char[]", value.view(np.uint8)))
            elif kind == "counts":
                args.append(k._ffi.NULL if value is None else k._ffi.from_buffer("int32_t[]", value))
            elif isinstance(value, np.ndarray) or value is None:
                args.append(k.pointer(value))
            else:
                args.append(k.scalar(value))
        return args

    # ---- dynamics -----------------------------------------------------
    def update(self, x=None, dt: float | None = None) -> np.ndarray:
        """One step with external input ``x`` (default 0); returns the spike flags
        (V crossed ``V_th`` upwards in this step)."""
        step = self.dt if dt is None else check_dt(dt)
        I_ext = self._input(x, self._shape, "x")
        # the argument list is built once and rebuilt only if a channel reallocated
        # its gate arrays; per call only dt and I_ext are filled in
        key = tuple(id(a) for ch in self.channels.values() for a in ch._states.values())
        if getattr(self, "_update_key", None) != key:
            self._update_args = self._args("update", {"dt": step, "I_ext": None,
                                                      "spike": self.spike})
            names = [a for a, _ in self._generated.kernels["update"].args]
            self._update_slots = (names.index("dt"), names.index("I_ext"))
            self._update_key = key
        args = self._update_args
        args[self._update_slots[0]] = self._kernels.scalar(step)
        args[self._update_slots[1]] = self._kernels.pointer(I_ext)
        self._kernels.functions["update"](self._n, *args)
        return self.spike

    def run(self, inputs, dt: float | None = None, record=("V", "spike"), every: int = 1
            ) -> dict[str, np.ndarray]:
        """All steps of an input trace (shape ``(steps, *shape)``, or a number) in one call.

        Returns ``{'V': V after every ``every``-th step, 'spike': spikes counted in
        each window of ``every`` steps, 'spike_count': all spikes per neuron}``
        for the names in ``record``.  The state ends at the last step.
        """
        step = self.dt if dt is None else check_dt(dt)
        record = (record,) if isinstance(record, str) else tuple(record)
        bad = [r for r in record if r not in ("V", "spike")]
        if bad:
            raise ValueError(f"cannot record {bad}; choose from ('V', 'spike')")
        if not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(f"every must be a positive int, got {every!r}")
        arr = np.asarray(inputs)
        if arr.ndim != len(self._shape) + 1:
            raise ValueError(f"inputs has shape {arr.shape}, expected (steps, *{self._shape})")
        I_ext = self._input(arr, (arr.shape[0], *self._shape), "inputs")
        n_rec = arr.shape[0] // int(every)
        out = {"spike_count": np.zeros(self._shape, np.int32)}
        if "V" in record:
            out["V"] = np.empty((n_rec, *self._shape), self.dtype)
        if "spike" in record:
            out["spike"] = np.zeros((n_rec, *self._shape), np.int32)
        values = {"steps": int(arr.shape[0]), "every": int(every), "dt": step, "I_ext": I_ext,
                  "rec_V": out.get("V"), "rec_spike": out.get("spike"),
                  "spike_count": out["spike_count"]}
        self._kernels.functions["run"](self._n, *self._args("run", values))
        return out

    # ---- inspection ---------------------------------------------------
    def source(self) -> str:
        """The emitted C source of the fused neuron kernels."""
        return self._generated.source

    @property
    def kernel_hash(self) -> str:
        """Content hash of the emitted source (16 hex digits)."""
        return self._generated.hash

    def __repr__(self) -> str:
        chans = ", ".join(f"{k}={ch.spec.name}" for k, ch in self.channels.items())
        return (f"{type(self).__name__}(name={self.name!r}, shape={self._shape}, "
                f"dtype={self.dtype.name}, {chans}, kernel={self.kernel_hash})")


class HH(CondNeuGroup):
    """BrainPy's Hodgkin-Huxley neuron (``brainpy.dyn.HH``) from library channels:
    INa_HH1952 and IK_HH1952 at V_sh = -45 mV, and a leak.  Its input ``x`` is a
    current density (uA/cm^2); spikes are upward crossings of ``V_th``."""

    def __init__(self, size, keep_size: bool = False, ENa: Any = 50., gNa: Any = 120.,
                 EK: Any = -77., gK: Any = 36., EL: Any = -54.387, gL: Any = 0.03,
                 V_th: Any = 20., C: Any = 1.0, V_initializer: Any = -65.0,
                 method: str = "exp_auto", name: str | None = None, *,
                 dtype: str = "float64", dt: float = 0.1):
        kw = dict(dtype=dtype, dt=dt, method=method)
        super().__init__(size, keep_size, C=C, V_th=V_th, V_initializer=V_initializer,
                         name=name, dtype=dtype, dt=dt, method=method,
                         INa=INa_HH1952(size, keep_size, E=ENa, g_max=gNa, V_sh=-45.0, **kw),
                         IK=IK_HH1952(size, keep_size, E=EK, g_max=gK, V_sh=-45.0, **kw),
                         IL=IL(size, keep_size, E=EL, g_max=gL, **kw))
