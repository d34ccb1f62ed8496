"""The compiled channel users hold, with BrainPy's channel API.

:class:`Channel` is generic: a subclass names a spec and gets ``update``,
``current``, ``reset_state``, one ``d<gate>`` per gate and one
``f_<gate>_<rate>`` per rate.  States are arrays of shape ``varshape`` (or
``(batch, *varshape)`` after ``reset_state(V, batch_size)``): NumPy arrays on
the host targets, CuPy arrays on the GPU for ``target='cuda'``.  They are
always reachable by the user's names through ``ch.states`` and
``state_dict()``, and as attributes (``ch.p``) where a name does not shadow
the API.  Kernel arguments are found through the kernels' typed signatures by
role and user name, never by the spelling in the generated code.

Every call that reads or writes the states holds the channel's lock, so one
channel may be used from several threads: calls run one at a time, none sees
a half-written state.  A refused call (bad input, a failed allocation) leaves
the states as they were: new states are computed into new arrays and swapped
in at the end.
"""
from __future__ import annotations

import contextlib
import itertools
import math
import os
import sys
import tempfile
import threading
import warnings
import zipfile
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import numpy as np
from tqdm import tqdm

from .build import (CacheError, CompilerNotFoundError, CudaUnavailableError, compiler_settings,
                    cuda_device)
from .codegen import (ChannelSpec, GeneratedSource, SingularityReport, get_backend,
                      lower_channel, render_kernels)
from .codegen.tables import MIN_RTOL, RateTable, build_table, table_parameters
from .codegen.integrators import relaxes
from .inputs import MAX_ELEMENTS, check_count, check_dt, resolve_parameter, varshape_of
from .kernels import Kernels, bind

TARGETS = ("cpu", "cuda", "numpy", "auto")
NAN_POLICIES = ("raise", "propagate")
#: Keywords of the constructor: a parameter of the same name goes in ``parameters=``.
CONSTRUCTOR_KEYWORDS = frozenset({"size", "keep_size", "method", "name", "mode", "dtype",
                                  "target", "nan_policy", "dt", "parameters", "table_range",
                                  "table_rtol", "table_degree"})
METHODS = ("exp_auto", "exp_euler", "euler", "implicit_euler", "table", "cnexp", "sparse")
#: Attributes every channel object sets itself.
INSTANCE_ATTRIBUTES = frozenset({"varshape", "size", "keep_size", "method", "mode", "name",
                                 "nan_policy", "dt", "target", "dtype"})
_names = itertools.count()


def _resolve_target(target: str) -> str:
    """``target`` itself, checked (a missing GPU is an error for ``'cuda'``); ``'auto'``:
    CUDA when a GPU is usable, else the C target, else NumPy with a warning."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; use one of {TARGETS}")
    if target == "cuda":
        cuda_device()
        return target
    if target != "auto":
        return target
    try:
        cuda_device()
        return "cuda"
    except CudaUnavailableError:
        pass
    try:
        compiler_settings()
        return "cpu"
    except CompilerNotFoundError as exc:
        warnings.warn(f"{exc}; falling back to the NumPy target", RuntimeWarning, stacklevel=3)
        return "numpy"


def rate_methods(spec: ChannelSpec) -> dict[str, str]:
    """BrainPy's rate method names of ``spec`` and the rate each gives:
    ``{'f_p_alpha': 'alpha_p', ...}``, and ``f_<rate>`` for a named rate."""
    out = {f"f_{g.name}_{role}": f"{role}_{g.name}" for g in spec.gates
           for role in _rate_roles(g, spec)}
    out.update({f"f_{rate}": rate for rate in spec.rates})
    return out


def _rate_roles(gate, spec: ChannelSpec) -> tuple[str, ...]:
    """The rates a gate's ``f_<gate>_<role>`` methods give (an ODE gate: inf and tau, and
    its initial value when given; a kinetic scheme's state: its initial value)."""
    if gate.kind == "ode" and spec.scheme_of(gate.name) is not None:
        return ("initial",) if gate.initial is not None else ()
    if gate.kind == "ode":
        roles: tuple[str, ...] = ("inf", "tau") if relaxes(gate.ode, gate.symbol) else ()
        return roles + (("initial",) if gate.initial is not None else ())
    return tuple(gate.rate_expressions())


@dataclass
class _Layout:
    """Everything that depends on the states' shape: kernels, parameters, arguments."""

    shape: tuple[int, ...]
    n: int
    generated: GeneratedSource
    kernels: Kernels
    params: dict[str, Any]


class Channel:
    """A Hodgkin-Huxley-type channel compiled from ``spec`` (see subclasses)."""

    spec: ClassVar[ChannelSpec]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        spec = getattr(cls, "spec", None)
        if not isinstance(spec, ChannelSpec):
            return
        api = set(dir(Channel)) | INSTANCE_ATTRIBUTES
        own = {k for k in vars(cls) if k not in ("spec", "__init__", "__doc__", "__module__")}
        hidden = []

        def attach(attr: str, value, reach: str) -> None:
            if attr in api or attr.startswith("_") or attr in own:
                hidden.append(f"{attr!r} (reach it as {reach})")
            else:
                setattr(cls, attr, value)

        for gate in spec.gates:
            attach(gate.name, _state_property(gate.name), f"ch.states[{gate.name!r}]")
            attach(f"d{gate.name}", _derivative_method(gate.name),
                   f"ch.derivative({gate.name!r}, value, V)")
        for name, rate in rate_methods(spec).items():
            attach(name, _rate_method(rate, name), f"ch.rate({rate!r}, V)")
        keywords = sorted(set(spec.parameters) & CONSTRUCTOR_KEYWORDS)
        if hidden or keywords:
            parts = []
            if hidden:
                parts.append("these names would shadow the channel API and are not "
                             "attributes: " + ", ".join(hidden))
            if keywords:
                parts.append(f"parameter(s) {keywords} share a name with a constructor "
                             f"keyword; pass them as parameters={{...}}")
            warnings.warn(f"{spec.name}: " + "; ".join(parts), UserWarning, stacklevel=2)

    def __init__(self, size, keep_size: bool = False, method: str = "exp_auto",
                 name: str | None = None, mode: Any = None, *, dtype: str = "float64",
                 target: str = "cpu", nan_policy: str = "raise", dt: float = 0.1,
                 parameters: Mapping[str, Any] | None = None,
                 table_range: tuple[float, float] | None = None,
                 table_rtol: float | None = None, table_degree: int | None = None,
                 **keyword_parameters):
        values = dict(parameters or {})
        both = set(values) & set(keyword_parameters)
        if both:
            raise TypeError(f"{self.spec.name}: parameter(s) {sorted(both)} given twice")
        values.update(keyword_parameters)
        unknown = set(values) - set(self.spec.parameters)
        if unknown:
            raise TypeError(f"{self.spec.name} got unknown parameter(s) {sorted(unknown)}; "
                            f"its parameters are {list(self.spec.parameters)}")
        if nan_policy not in NAN_POLICIES:
            raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; use one of {METHODS}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__}")
        self._lock = threading.RLock()
        self.varshape = varshape_of(size, keep_size)
        self.size = size
        self.keep_size = keep_size
        self.method = method
        self.mode = mode
        self.name = name or f"{self.spec.name}{next(_names)}"
        self.nan_policy = nan_policy
        self.dt = check_dt(dt)
        self.dtype = np.dtype(dtype) if not isinstance(dtype, np.dtype) else dtype
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
        self.target = _resolve_target(target)
        self._parameter_values = {
            p: (lambda v: v(self.varshape) if callable(v) else v)(values.get(p, default))
            for p, default in self.spec.parameters.items()}
        self._table_options = _table_options(self, table_range, table_rtol, table_degree)
        self._tables: dict[float, tuple[RateTable, dict]] = {}
        try:
            layout = self._layout_for(self.varshape)
            if target == "auto":
                layout.kernels.load()             # built now: a failure falls back below
        except CacheError as exc:
            if target != "auto" or self.target != "cpu":
                raise
            warnings.warn(f"{exc}; falling back to the NumPy target", RuntimeWarning,
                          stacklevel=2)
            self.target = "numpy"
            layout = self._layout_for(self.varshape)
        self._install(layout, {g: layout.kernels.zeros(layout.shape, self.dtype)
                               for g in layout.generated.gates})

    # ---- construction -------------------------------------------------
    def _layout_for(self, shape: tuple[int, ...]) -> _Layout:
        """Kernels and parameters for states of ``shape`` (nothing on ``self`` changes)."""
        params = {p: resolve_parameter(p, v, shape, self.dtype)
                  for p, v in self._parameter_values.items()}
        arrays = frozenset(p for p, v in params.items() if isinstance(v, np.ndarray))
        if self.method == "table" and arrays & set(table_parameters(self.spec)):
            raise ValueError(
                f"{self.spec.name}: method='table' tabulates the rates for one value of "
                f"{sorted(arrays & set(table_parameters(self.spec)))}; give them as scalars "
                f"(or use method='exp_auto' for per-neuron values)")
        generated = render_kernels(self.spec, get_backend(self.target).name, self.dtype.name,
                                   self.method, arrays, self._table_options.get("degree"))
        k = bind(generated)
        params = {p: (k.as_array(v, shape, self.dtype, p) if p in arrays else v)
                  for p, v in params.items()}
        return _Layout(shape, int(np.prod(shape)), generated, k, params)

    def _install(self, layout: _Layout, states: dict) -> None:
        """Make ``layout`` and ``states`` current in one step.  Nothing compiles here: the
        kernels are built on first use (a channel inside a group never runs its own)."""
        if layout is not getattr(self, "_layout", None):
            self._tables = {}         # table arrays live where the kernels do
        self._layout, self._states = layout, states
        self._update_args = self._update_slots = None
        self._update_table_dt = None      # the dt whose table the update slots hold
        self._last_voltage = (None, None, None)

    def _update_call(self) -> tuple:
        """``update``'s kernel and arguments, prepared once per layout with dt and the inputs
        left as per-call slots."""
        if self._update_args is None:
            free = (("dt", "dt"),) + tuple(("input", i) for i in ("V", *self.spec.inputs))
            if self.method == "table":
                free += tuple(("table", key) for key in TABLE_KEYS)
            self._update_args, self._update_slots = self._kernels.prepare(
                "update", _bindings(self._layout, self._states), free=free)
            self._update_kernel = self._kernels.functions["update"]
        return self._update_kernel, self._update_args, self._update_slots

    @property
    def _shape(self) -> tuple[int, ...]:
        return self._layout.shape

    @property
    def _n(self) -> int:
        return self._layout.n

    @property
    def _kernels(self) -> Kernels:
        return self._layout.kernels

    @property
    def _generated(self) -> GeneratedSource:
        return self._layout.generated

    @property
    def _params(self) -> dict:
        return self._layout.params

    def _values(self) -> dict:
        """Parameters and states keyed ``(role, key)`` for a kernel call."""
        return _bindings(self._layout, self._states)

    # ---- inputs -------------------------------------------------------
    def _voltage(self, V, name: str = "V", layout: _Layout | None = None):
        """``V`` ready for a kernel (converted if needed, NaN and +-inf refused by default)."""
        layout = layout or self._layout
        if V is None:
            raise TypeError(f"{name} must be an array or a number, got None")
        arr = layout.kernels.as_array(V, layout.shape, self.dtype, name)
        self._refuse_nan(arr, layout, name)
        return arr

    def _voltage_pointer(self, V):
        """``(array, kernel argument)`` for ``V``.  The array passed last time is
        recognised by identity (its pointer is kept; shape and dtype are
        re-checked, as they can be reassigned in place); its values are checked
        for NaN and infinities on every call."""
        if V is None:
            raise TypeError("V must be an array or a number, got None")
        last = self._last_voltage
        layout = self._layout
        if (V is last[0] and V.shape == layout.shape and V.dtype is self.dtype
                and V.flags.c_contiguous and layout.kernels.same_buffer(V, last[2])):
            arr, ptr = last[1], last[2]     # the same buffer: resize or strides would show
        else:
            if (type(V) is np.ndarray and V.dtype == self.dtype and V.shape == layout.shape
                    and V.flags.c_contiguous and self.target != "cuda"):
                arr = V
            else:
                arr = layout.kernels.as_array(V, layout.shape, self.dtype, "V")
            ptr = layout.kernels.pointer(arr)
            self._last_voltage = ((V, arr, ptr) if arr is V and type(V) is np.ndarray
                                  else (None, None, None))
        self._refuse_nan(arr, layout, "V", ptr)
        return arr, ptr

    def _refuse_nan(self, arr, layout: _Layout, name: str, ptr=None) -> None:
        if self.nan_policy == "raise":
            k = layout.kernels
            bad = k.count_nonfinite(arr.size, k.pointer(arr) if ptr is None else ptr)
            if bad:
                raise ValueError(
                    f"{name} contains {bad} non-finite value(s) (NaN or +-inf); the states "
                    f"were left unchanged (pass nan_policy='propagate' to let them flow into "
                    f"the gates)")

    def _inputs(self, given: Mapping | None, layout: _Layout | None = None) -> dict:
        """The per-call inputs beyond V as ``(role, key)`` values (defaults when absent)."""
        layout = layout or self._layout
        given = dict(given or {})
        unknown = set(given) - set(self.spec.inputs)
        if unknown:
            raise TypeError(f"{self.spec.name} has no input(s) {sorted(unknown)}"
                            + (f"; its inputs are {list(self.spec.inputs)}" if self.spec.inputs
                               else "; it reads only V"))
        out = {}
        for name, default in self.spec.inputs.items():
            value = given.get(name, default)
            out[("input", name)] = self._voltage(value, name, layout)
        return out

    # ---- BrainPy API --------------------------------------------------
    def reset_state(self, V, batch_size: int | None = None, *, inputs: Mapping | None = None,
                    **more_inputs) -> None:
        """Set every gate to its steady state at ``V`` (states get a batch axis if asked).

        Nothing changes unless the whole call succeeds: the new states are
        computed into new arrays and swapped in at the end."""
        if batch_size is not None and (isinstance(batch_size, bool)
                                       or not isinstance(batch_size, (int, np.integer))):
            raise TypeError(f"batch_size must be a positive int or None, got {batch_size!r}")
        if batch_size is not None and int(batch_size) <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        total = None if batch_size is None else int(batch_size) * math.prod(self.varshape)
        if total is not None and total > MAX_ELEMENTS:
            raise ValueError(f"batch_size {batch_size} gives {total} elements, more than the "
                             f"{MAX_ELEMENTS} a channel may hold")
        if "steady_state" not in self._generated.kernels:
            raise NotImplementedError(
                f"{self.spec.name}: a gate's ODE has no closed-form steady state; set the "
                f"states with load_state_dict instead")
        with self._lock:
            shape = self.varshape if batch_size is None else (int(batch_size), *self.varshape)
            layout = self._layout if shape == self._shape else self._layout_for(shape)
            arr = self._voltage(V, "V", layout)
            extra = self._inputs({**(inputs or {}), **more_inputs}, layout)
            k = layout.kernels
            states = {g: k.empty(shape, self.dtype) for g in layout.generated.gates}
            values = _bindings(layout, states)
            values.update({("input", "V"): arr, **extra})
            k.call("steady_state", layout.n, values)
            self._install(layout, states)

    def reset(self, V, batch_size: int | None = None, **inputs) -> None:
        """Alias of :meth:`reset_state`."""
        self.reset_state(V, batch_size, **inputs)

    def update(self, *args, dt: float | None = None, inputs: Mapping | None = None,
               **more_inputs) -> None:
        """Advance the gates one step: ``update(V)`` or ``update(tdi, V)``.

        ``tdi`` is a dict with ``'t'`` and ``'dt'``; otherwise ``dt`` is the
        keyword, else the object's ``dt`` (default 0.1 ms).  The rates are
        evaluated at this ``V`` (and at the given inputs beyond V, e.g.
        ``cai=...``).  Invalid input raises before any state changes.
        """
        if len(args) == 2:
            tdi, V = args
            if dt is None:
                if isinstance(tdi, dict):
                    if "dt" not in tdi:
                        raise TypeError("update(tdi, V): tdi must hold 'dt'")
                    dt = tdi["dt"]
                else:
                    dt = getattr(tdi, "dt", None)
                    if dt is None:
                        raise TypeError(f"update(tdi, V): tdi must be a dict with 't' and "
                                        f"'dt', got {type(tdi).__name__}")
        elif len(args) == 1:
            V = args[0]
        else:
            raise TypeError(f"update takes (V) or (tdi, V), got {len(args)} positional args")
        step = self.dt if dt is None else check_dt(dt)
        with self._lock:
            _, ptr = self._voltage_pointer(V)
            extra = (self._inputs({**(inputs or {}), **more_inputs})
                     if self.spec.inputs or inputs or more_inputs else {})
            k = self._kernels
            kernel, args_, slots = self._update_call()
            args_[slots[("dt", "dt")]] = k.scalar(step)
            args_[slots[("input", "V")]] = ptr
            if self.method == "table" and step != self._update_table_dt:
                for key, arg in self._table(step)[2].items():   # converted once per dt
                    args_[slots[key]] = arg
                self._update_table_dt = step
            for key, value in extra.items():
                args_[slots[key]] = k.pointer(value)
            kernel(self._n, *args_)

    def run(self, V_trace, dt: float | None = None, record=None, every: int = 1,
            out: dict | None = None, progress: bool | None = None, *,
            steps: int | None = None, inputs: Mapping | None = None, **more_inputs) -> dict:
        """Integrate over a voltage trace in one kernel call (voltage clamp).

        ``V_trace`` has shape ``(steps, *shape)``: step ``k`` uses ``V_trace[k]``
        exactly as ``update(V_trace[k])`` would.  With ``steps=k``, ``V_trace`` is one
        level per neuron (broadcastable to the shape) held for ``k`` steps, read in
        place: no trace is built.  The gates end in their final
        state.  Returns ``{name: array of shape (steps // every, *shape)}`` for
        each name in ``record`` (gate names and ``'I'``, the current after the
        step; default: every gate and ``'I'``), sampled after every
        ``every``-th step.  ``progress`` shows a bar (the trace then runs in
        about 50 kernel calls, with identical results); by default it does so
        on a terminal for runs of 2e8 neuron-steps or more.
        """
        step = self.dt if dt is None else check_dt(dt)
        gates = tuple(self._generated.gates)
        if record is None:
            record = (*gates, "I")
        record = (record,) if isinstance(record, str) else tuple(record)
        known = (*gates, "I")
        bad = [r for r in record if r not in known]
        if bad:
            raise ValueError(f"cannot record {bad}; choose from {known}")
        if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(f"every must be a positive int, got {every!r}")
        every = int(every)
        with self._lock:
            k = self._kernels
            if steps is None:
                shape = np.shape(V_trace)
                if len(shape) != len(self._shape) + 1 or shape[1:] != self._shape:
                    raise ValueError(f"V_trace has shape {shape}, expected (steps, "
                                     f"*{self._shape}), or pass steps= for a held level")
                steps, stride = shape[0], self._n
                trace = k.as_array(V_trace, shape, self.dtype, "V_trace")
            else:
                steps, stride = check_count(steps, "steps"), 0
                trace = k.as_array(V_trace, self._shape, self.dtype, "V_trace")
                trace = trace.reshape((1, *self._shape))
            self._refuse_nan(trace, self._layout, "V_trace")
            extra = self._inputs({**(inputs or {}), **more_inputs})
            n_rec = steps // every
            given = out or {}
            results = {}
            for r in record:
                if r in given:
                    self._check_out(given[r], (n_rec, *self._shape), f"out[{r!r}]",
                                    tuple((f"out[{q!r}]", a) for q, a in results.items()))
                    results[r] = given[r]
                else:
                    results[r] = k.empty((n_rec, *self._shape), self.dtype)
            if progress is None:
                progress = sys.stderr.isatty() and steps * self._n >= 2e8
            values = self._values()
            values.update(extra)
            values[("every", "every")] = every
            values[("stride", "stride")] = stride
            values[("dt", "dt")] = step
            if self.method == "table":
                values.update(self._table_values(step))
            for k0, k1 in _chunks(steps, every, 50 if progress else 1, self.spec.name):
                r0, r1 = k0 // every, k1 // every
                values[("steps", "steps")] = k1 - k0
                values[("trace", "V")] = trace[k0:k1] if stride else trace
                for r in known:
                    key = ("record", r)
                    values[key] = results[r][r0:r1] if r in results else None
                k.call("run", self._n, values)
            return results

    def current(self, V, out=None, *, inputs: Mapping | None = None, **more_inputs):
        """The channel current at ``V`` with the gates of the last update."""
        with self._lock:
            arr = self._voltage(V)
            extra = self._inputs({**(inputs or {}), **more_inputs})
            if out is None:
                out = self._kernels.empty(self._shape, self.dtype)
            self._check_out(out, self._shape, "out")
            values = self._values()
            values.update({("input", "V"): arr, ("output", "I"): out, **extra})
            self._kernels.call("current", self._n, values)
            return out

    def _check_out(self, out, shape: tuple[int, ...], name: str, others=()) -> None:
        """``out`` is a writable C-contiguous array of ``shape`` and the dtype that shares
        no memory with a state (or with the ``others`` written by the same call)."""
        k = self._kernels
        if (not isinstance(out, k.array_type) or out.shape != shape
                or out.dtype != self.dtype or not out.flags.c_contiguous
                or (self.target == "cuda" and out.device.id != k.device.id)):
            where = f"CuPy on GPU {k.device.id}" if self.target == "cuda" else "NumPy"
            raise ValueError(f"{name} must be a C-contiguous {self.dtype} {where} array of "
                             f"shape {shape}")
        if isinstance(out, np.ndarray) and not out.flags.writeable:
            raise ValueError(f"{name} is read-only (a memmap opened with mode='r', or memory "
                             f"NumPy may not write): pass a writable array")
        for label, other in (*self._states.items(), *others):
            if _overlaps(out, other):
                raise ValueError(f"{name} shares memory with {label!r}: writing it would "
                                 f"overwrite that; pass a separate array")

    def rate(self, rate: str, V, **inputs):
        """Rate ``'<role>_<gate>'`` (``'alpha_p'``, ``'inf_m'``) or a named rate at ``V``."""
        if rate not in self._generated.kernels or rate not in self._generated.rates:
            raise KeyError(f"{self.spec.name} has no rate {rate!r}; its rates are "
                           f"{list(self._generated.rates)}")
        with self._lock:
            arr = self._voltage(V)
            extra = self._inputs(inputs)
            out = self._kernels.empty(self._shape, self.dtype)
            values = self._values()
            values.update({("input", "V"): arr, ("output", rate): out, **extra})
            self._kernels.call(rate, self._n, values)
            return out

    def derivative(self, gate: str, value, V, **inputs):
        """``d<gate>/dt`` at ``V`` for gate value ``value``."""
        if gate not in self._states:
            raise KeyError(f"{self.spec.name} has no gate {gate!r}")
        with self._lock:
            arr = self._voltage(V)
            extra = self._inputs(inputs)
            g = self._kernels.as_array(value, self._shape, self.dtype, gate)
            out = self._kernels.empty(self._shape, self.dtype)
            values = self._values()
            values.update({("input", "V"): arr, ("state", gate): g,
                           ("output", f"d{gate}"): out, **extra})
            self._kernels.call(f"d{gate}", self._n, values)
            return out

    # ---- states -------------------------------------------------------
    @property
    def parameters(self) -> dict:
        """The parameter values by name: numbers, or arrays of the states' shape
        (on the channel's device) for parameters given per neuron."""
        return dict(self._params)

    @property
    def states(self) -> dict:
        """The live state arrays by gate name (the arrays the kernels advance)."""
        return dict(self._states)

    def state_dict(self) -> dict:
        """Copies of the gate states (on the channel's device)."""
        with self._lock:
            return {g: a.copy() for g, a in self._states.items()}

    def load_state_dict(self, state: Mapping, validate: bool = True) -> None:
        """Load gate states (all or nothing: checked before anything is written).

        Every gate must be given, no other name; with ``validate`` (the default)
        values must be finite and within the state's bounds (a gating variable's [0, 1],
        a concentration's [0, inf))."""
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a mapping of gate name -> array, got "
                            f"{type(state).__name__}")
        with self._lock:
            missing = set(self._states) - set(state)
            if missing:
                raise KeyError(f"state dict lacks {sorted(missing)}")
            extra = set(state) - set(self._states)
            if extra:
                raise KeyError(f"state dict has {sorted(extra)}, which {self.spec.name} does "
                               f"not have; its states are {list(self._states)}")
            values = {g: self._kernels.as_array(state[g], self._shape, self.dtype, g)
                      for g in self._states}
            if validate:
                for g, v in values.items():
                    host = self._kernels.to_host(v)
                    if not np.all(np.isfinite(host)):
                        raise ValueError(f"state {g!r} has non-finite values; nothing was "
                                         f"loaded (validate=False loads it anyway)")
                    lo, hi = self.spec.gate(g).bounds
                    if host.size and (host.min() < lo or host.max() > hi):
                        raise ValueError(f"state {g!r} has values outside [{lo:g}, {hi:g}] "
                                         f"(from {host.min():g} to {host.max():g}); nothing "
                                         f"was loaded (validate=False loads it anyway)")
            for g, v in values.items():
                self._states[g][...] = v

    def save_states(self, filename) -> str:
        """Write the gate states to an ``.npz`` file (``.npz`` is appended to a name
        without it, as NumPy does); returns the path written."""
        with self._lock:
            arrays = {g: self._kernels.to_host(a) for g, a in self._states.items()}
        path = str(filename)
        if not path.endswith(".npz"):
            path += ".npz"
        # a temporary file beside it, synced, then renamed: an existing checkpoint is
        # replaced whole or not at all (a full disk leaves it as it was)
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.",
                                   suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return path

    def load_states(self, filename, validate: bool = True) -> None:
        """Read gate states written by :meth:`save_states` (the same name works for
        both, with or without ``.npz``); checked as by :meth:`load_state_dict`."""
        path = str(filename)
        if not os.path.exists(path) and not path.endswith(".npz") \
                and os.path.exists(path + ".npz"):
            path += ".npz"
        self._check_archive(path)
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError(f"{path} is a single array, not an .npz archive of gate states "
                             f"written by save_states")
        with loaded as data:
            self.load_state_dict({k: data[k] for k in data.files}, validate)

    def _check_archive(self, path: str) -> None:
        """Refuse an ``.npz`` whose members are not this channel's states or would inflate
        beyond what they must hold, before anything is decompressed."""
        try:
            with zipfile.ZipFile(path) as z:
                infos = z.infolist()
        except zipfile.BadZipFile:
            return                          # not a zip: np.load says what it is
        except OSError as exc:
            raise FileNotFoundError(f"cannot read {path}: {exc.strerror or exc}") from None
        limit = self._n * np.dtype(np.float64).itemsize + 4096   # data and an .npy header
        for info in infos:
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if name not in self._states:
                raise KeyError(f"{path} holds {info.filename!r}, which is not a state of "
                               f"{self.spec.name} ({list(self._states)}); nothing was loaded")
            if info.file_size > limit:
                raise ValueError(f"{path}: member {info.filename!r} would inflate to "
                                 f"{info.file_size} bytes, more than a state of {self._n} "
                                 f"elements needs ({limit}); nothing was loaded")

    def vars(self) -> dict:
        """The gate arrays by BrainPy-style path (``name.p``)."""
        return {f"{self.name}.{g}": a for g, a in self._states.items()}

    def train_vars(self) -> dict[str, np.ndarray]:
        """No trainable variables (BrainPy compatibility)."""
        return {}

    def nodes(self) -> dict[str, "Channel"]:
        """This channel by name (BrainPy compatibility)."""
        return {self.name: self}

    def clear_input(self) -> None:
        """Channels hold no input; present for BrainPy compatibility."""

    def unique_name(self) -> str:
        """The channel's name."""
        return self.name

    def cpu(self) -> "Channel":
        """Move the states to the host (C target); a no-op on a host target."""
        return self if self.target in ("cpu", "numpy") else self.to("cpu")

    def cuda(self) -> "Channel":
        """Move the states to the current GPU (CUDA target)."""
        return self.to("cuda")

    def to(self, device: str) -> "Channel":
        """Move the states to ``'cpu'`` or ``'cuda'`` (rebuilding the kernels for that
        target); values are kept exactly.  Returns the channel.  A failed move (no
        GPU, a failed build) leaves the channel where it was."""
        device = str(device)
        if device not in ("cpu", "cuda"):
            raise ValueError(f"cannot move {self.spec.name} to {device!r}; use 'cpu' or 'cuda'")
        with self._lock:
            if device == self.target or (device == "cpu" and self.target == "numpy"):
                return self
            host_states = {g: self._kernels.to_host(a) for g, a in self._states.items()}
            target, previous = _resolve_target(device), self.target
            try:
                self.target = target
                layout = self._layout_for(self._shape)
            except BaseException:
                self.target = previous
                raise
            states = {g: layout.kernels.as_array(a, layout.shape, self.dtype, g)
                      for g, a in host_states.items()}
            self._install(layout, states)
            return self

    # ---- rate tables ----------------------------------------------------
    def rate_table(self, dt: float | None = None) -> RateTable:
        """The rate table ``method='table'`` steps with at ``dt`` (default: the channel's
        ``dt``), built and proven against 50-digit mpmath on first use; its
        ``report()`` gives the grid, the size and the measured error."""
        if self.method != "table":
            raise ValueError(f"{self.spec.name} was built with method={self.method!r}; "
                             f"rate tables need method='table'")
        with self._lock:
            return self._table(self.dt if dt is None else check_dt(dt))[0]

    def _table(self, dt: float) -> tuple[RateTable, dict, dict]:
        """The table for ``dt``, its kernel values keyed ``(role, key)``, and those values
        as ``update``'s arguments (all cached per dt)."""
        entry = self._tables.get(dt)
        if entry is None:
            used = {p: self._parameter_values[p] for p in table_parameters(self.spec)}
            table = build_table(self.spec, self.dtype.name, dt, used,
                                **{k: v for k, v in self._table_options.items()
                                   if k != "degree"},
                                degree=self._generated.table_degree)
            coefficients = self._kernels.as_array(table.coefficients.ravel(),
                                                  (table.coefficients.size,), self.dtype,
                                                  "table")
            values = {("table", "coefficients"): coefficients, ("table", "lo"): table.lo,
                      ("table", "hi"): table.hi, ("table", "inv_h"): 1.0 / table.h,
                      ("table", "last"): table.intervals - 1}
            sig = self._generated.kernels["update"]
            args = {key: self._kernels.argument(sig.parameter(*key), v)
                    for key, v in values.items()}
            entry = self._tables[dt] = (table, values, args)
        return entry

    def _table_values(self, dt: float) -> dict:
        return self._table(dt)[1]

    # ---- inspection ---------------------------------------------------
    def source(self, target: str | None = None) -> str:
        """The emitted source of this channel for ``target`` (``'cpu'``/``'c'``, ``'cuda'``
        or ``'numpy'``; default: its own target), with this channel's parameter layout."""
        lang = self._generated.target if target is None else get_backend(target).name
        return render_kernels(self.spec, lang, self.dtype.name, self.method,
                              self._generated.array_params,
                              self._generated.table_degree or None).source

    @property
    def singularities(self) -> SingularityReport:
        """What the compiler found and rewrote in the rate functions."""
        return lower_channel(self.spec, self.method).singularities

    @property
    def kernel_hash(self) -> str:
        """Content hash of the emitted source (16 hex digits)."""
        return self._generated.hash

    @property
    def build_info(self) -> str:
        """Where the compiled module lives, whether it was built now, and the flags."""
        return self._kernels.describe()

    def __repr__(self) -> str:
        return (f"{self.spec.name}(name={self.name!r}, shape={self._shape}, "
                f"dtype={self.dtype.name}, target={self.target!r}, method={self.method!r}, "
                f"kernel={self.kernel_hash})")


#: Keys of the rate table's kernel values (role ``'table'``).
TABLE_KEYS = ("coefficients", "lo", "hi", "inv_h", "last")


def _table_options(channel: Channel, table_range, rtol, degree) -> dict:
    """The table keywords, checked (only with ``method='table'``)."""
    given = {k: v for k, v in (("table_range", table_range), ("table_rtol", rtol),
                               ("table_degree", degree)) if v is not None}
    if channel.method != "table":
        if given:
            raise TypeError(f"{sorted(given)} apply to method='table' only, not "
                            f"{channel.method!r}")
        return {}
    options = {}
    if table_range is not None:
        try:
            lo, hi = (float(x) for x in table_range)
        except (TypeError, ValueError):
            raise TypeError(f"table_range must be (lo, hi) in mV, got {table_range!r}") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"table_range must be finite with lo < hi, got {table_range!r}")
        options.update(lo=lo, hi=hi)
    if rtol is not None:
        if not float(rtol) >= MIN_RTOL[channel.dtype.name]:
            raise ValueError(f"table_rtol must be at least {MIN_RTOL[channel.dtype.name]:.3g} "
                             f"in {channel.dtype.name} (the rounding of the step itself), "
                             f"got {rtol!r}")
        options["rtol"] = float(rtol)
    if degree is not None:
        if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)):
            raise TypeError(f"table_degree must be an int, got {degree!r}")
        options["degree"] = int(degree)
    return options


def _bindings(layout: _Layout, states: dict) -> dict:
    """``layout``'s parameters and ``states`` keyed ``(role, key)``, as kernels bind them."""
    values = {("parameter", p): v for p, v in layout.params.items()}
    values.update({("state", g): a for g, a in states.items()})
    return values


def _chunks(steps: int, every: int, pieces: int, name: str):
    """``(first, end)`` step ranges covering ``steps``, each starting on a multiple of
    ``every``; with more than one piece, shown as a tqdm bar."""
    if pieces <= 1:
        return [(0, steps)]
    size = every * max(1, -(-steps // (every * pieces)))
    bounds = [(k, min(k + size, steps)) for k in range(0, steps, size)]
    return tqdm(bounds, desc=f"{name} run", unit="chunk", leave=False)


def _state_property(gate: str):
    def get(self):
        return self._states[gate]

    def set_(self, value):
        with self._lock:
            self._states[gate][...] = self._kernels.as_array(value, self._shape, self.dtype, gate)
    return property(get, set_, doc=f"state of gate {gate}")


def _derivative_method(gate: str):
    def derivative(self, value, t, V, **inputs):
        return self.derivative(gate, value, V, **inputs)
    derivative.__name__ = f"d{gate}"
    derivative.__doc__ = f"d{gate}/dt at V for gate value ``{gate}`` (t is unused)."
    return derivative


def _overlaps(a, b) -> bool:
    """True when arrays ``a`` and ``b`` may share memory (host or device)."""
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return bool(np.may_share_memory(a, b))
    try:
        lo_a, lo_b = a.data.ptr, b.data.ptr
    except AttributeError:
        return False
    return lo_a < lo_b + b.nbytes and lo_b < lo_a + a.nbytes


def _rate_method(rate: str, name: str | None = None):
    """The ``f_<gate>_<role>`` method of rate ``<role>_<gate>`` (a named rate's:
    ``f_<rate>``)."""
    if name is None:
        role, gate = rate.split("_", 1)
        name = f"f_{gate}_{role}"

    def f(self, V, **inputs):
        return self.rate(rate, V, **inputs)
    f.__name__ = name
    f.__doc__ = f"The rate {rate} at V (removable singularities handled exactly)."
    return f
