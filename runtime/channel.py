"""The compiled channel users hold, with BrainPy's channel API.

:class:`Channel` is generic: a subclass names a spec and gets ``update``,
``current``, ``reset_state``, one ``d<gate>`` per gate and one
``f_<gate>_<rate>`` per rate.  States ``p``, ``q``, ... are arrays of shape
``varshape`` (or ``(batch, *varshape)`` after ``reset_state(V, batch_size)``):
NumPy arrays on the host targets, CuPy arrays on the GPU for ``target='cuda'``.
"""
from __future__ import annotations

import itertools
import sys
import warnings
from typing import Any, ClassVar

import numpy as np
from tqdm import tqdm

from .build import CompilerNotFoundError, CudaUnavailableError, compiler_settings, cuda_device
from .codegen import ChannelSpec, GeneratedSource, SingularityReport, lower_channel, render_kernels
from .inputs import check_dt, resolve_parameter, varshape_of
from .kernels import DeviceKernels, HostKernels

TARGETS = ("cpu", "cuda", "numpy", "auto")
NAN_POLICIES = ("raise", "propagate")
#: The language each target's kernels are emitted in.
LANGUAGES = {"cpu": "c", "cuda": "cuda", "numpy": "numpy"}
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


class Channel:
    """A Hodgkin-Huxley-type channel compiled from ``spec`` (see subclasses)."""

    spec: ClassVar[ChannelSpec]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for gate in cls.spec.gates:
            setattr(cls, f"d{gate.name}", _derivative_method(gate.name))
            for role in gate.rate_expressions():
                setattr(cls, f"f_{gate.name}_{role}", _rate_method(f"{role}_{gate.name}"))
            setattr(cls, gate.name, _state_property(gate.name))

    def __init__(self, size, keep_size: bool = False, method: str = "exp_auto",
                 name: str | None = None, mode: Any = None, *, dtype: str = "float64",
                 target: str = "cpu", nan_policy: str = "raise", dt: float = 0.1,
                 **parameters):
        unknown = set(parameters) - set(self.spec.parameters)
        if unknown:
            raise TypeError(f"{self.spec.name} got unknown parameter(s) {sorted(unknown)}; "
                            f"its parameters are {list(self.spec.parameters)}")
        if nan_policy not in NAN_POLICIES:
            raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
        self.varshape = varshape_of(size, keep_size)
        self.size = size
        self.keep_size = keep_size
        self.method = method
        self.mode = mode
        self.name = name or f"{self.spec.name}{next(_names)}"
        self.nan_policy = nan_policy
        self.dt = check_dt(dt)
        self.target = _resolve_target(target)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
        self._parameter_values = {
            p: (lambda v: v(self.varshape) if callable(v) else v)(parameters.get(p, default))
            for p, default in self.spec.parameters.items()}
        self._allocate(self.varshape)

    # ---- construction -------------------------------------------------
    def _allocate(self, shape: tuple[int, ...]) -> None:
        """(Re)build states and parameters for ``shape``; compile kernels if needed."""
        self._last_voltage = (None, None, None)
        params = {p: resolve_parameter(p, v, shape, self.dtype)
                  for p, v in self._parameter_values.items()}
        arrays = frozenset(p for p, v in params.items() if isinstance(v, np.ndarray))
        generated = render_kernels(self.spec, LANGUAGES[self.target], self.dtype.name,
                                   self.method, arrays)
        self._generated: GeneratedSource = generated
        k = self._kernels = (DeviceKernels if self.target == "cuda" else HostKernels)(generated)
        self._shape = shape
        self._n = int(np.prod(shape))
        self._params = {p: (k.as_array(v, shape, self.dtype, p) if p in arrays else v)
                        for p, v in params.items()}
        self._states = {g: k.zeros(shape, self.dtype) for g in generated.gates}
        self._fixed = {p: (k.pointer(v) if p in arrays else k.scalar(v))
                       for p, v in self._params.items()}
        self._fixed.update({g: k.pointer(a) for g, a in self._states.items()})
        self._update_args, self._update_slots = self._template("update", ("dt", "V"))

    def _template(self, task: str, free: tuple[str, ...]):
        """Arguments of ``task`` with the ``free`` ones left as slots to fill per call."""
        args, slots = [], []
        for name, _ in self._generated.kernels[task].args:
            args.append(None if name in free else self._fixed[name])
            if name in free:
                slots.append((len(args) - 1, name))
        return args, slots

    def _call(self, task: str, **values) -> None:
        args, slots = self._template(task, tuple(values))
        for index, name in slots:
            value = values[name]
            args[index] = (self._kernels.pointer(value)
                           if value is None or isinstance(value, self._kernels.array_type)
                           else self._kernels.scalar(value))
        self._kernels.functions[task](self._n, *args)

    # ---- inputs -------------------------------------------------------
    def _voltage(self, V) -> np.ndarray:
        """``V`` ready for a kernel (converted if needed, NaN refused by default)."""
        return self._voltage_pointer(V)[0]

    def _voltage_pointer(self, V, name: str = "V"):
        """``(array, kernel pointer)`` for ``V``.  The array passed last time is
        recognised by identity (its pointer is kept; shape and dtype are
        re-checked, as they can be reassigned in place); its values are checked
        for NaN on every call."""
        last = self._last_voltage
        if V is last[0] and V.shape == self._shape and V.dtype is self.dtype:
            arr, ptr = last[1], last[2]
        else:
            if (type(V) is np.ndarray and V.dtype == self.dtype and V.shape == self._shape
                    and V.flags.c_contiguous and self.target != "cuda"):
                arr = V
            else:
                arr = self._kernels.as_array(V, self._shape, self.dtype, name)
            ptr = self._kernels.pointer(arr)
            self._last_voltage = (V, arr, ptr) if arr is V else (None, None, None)
        self._refuse_nan(arr, ptr, name)
        return arr, ptr

    def _refuse_nan(self, arr, ptr, name: str) -> None:
        if self.nan_policy == "raise":
            bad = self._kernels.count_nan(arr.size, ptr)
            if bad:
                raise ValueError(
                    f"{name} contains {bad} NaN value(s); the states were left unchanged "
                    f"(pass nan_policy='propagate' to let NaN flow into the gates)")

    # ---- BrainPy API --------------------------------------------------
    def reset_state(self, V, batch_size: int | None = None) -> None:
        """Set every gate to its steady state at ``V`` (states get a batch axis if asked)."""
        shape = self.varshape if batch_size is None else (int(batch_size), *self.varshape)
        if batch_size is not None and int(batch_size) <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if shape != self._shape:
            self._allocate(shape)
        arr = self._voltage(V)
        self._call("steady_state", V=arr)

    def reset(self, V, batch_size: int | None = None) -> None:
        """Alias of :meth:`reset_state`."""
        self.reset_state(V, batch_size)

    def update(self, *args, dt: float | None = None) -> None:
        """Advance the gates one step: ``update(V)`` or ``update(tdi, V)``.

        ``tdi`` is a dict with ``'t'`` and ``'dt'``; otherwise ``dt`` is the
        keyword, else the object's ``dt`` (default 0.1 ms).  The rates are
        evaluated at this ``V``.  Invalid input raises before any state changes.
        """
        if len(args) == 2:
            tdi, V = args
            if dt is None:
                dt = tdi["dt"] if isinstance(tdi, dict) else getattr(tdi, "dt")
        elif len(args) == 1:
            V = args[0]
        else:
            raise TypeError(f"update takes (V) or (tdi, V), got {len(args)} positional args")
        step = self.dt if dt is None else check_dt(dt)
        _, ptr = self._voltage_pointer(V)
        args_ = self._update_args
        for index, name in self._update_slots:
            args_[index] = self._kernels.scalar(step) if name == "dt" else ptr
        self._kernels.functions["update"](self._n, *args_)

    def run(self, V_trace, dt: float | None = None, record=("p", "q", "I"), every: int = 1,
            out: dict[str, np.ndarray] | None = None, progress: bool | None = None
            ) -> dict[str, np.ndarray]:
        """Integrate over a voltage trace in one kernel call (voltage clamp).

        ``V_trace`` has shape ``(steps, *shape)``: step ``k`` uses ``V_trace[k]``
        exactly as ``update(V_trace[k])`` would.  The gates end in their final
        state.  Returns ``{name: array of shape (steps // every, *shape)}`` for
        each name in ``record`` (gate names and ``'I'``, the current after the
        step), sampled after every ``every``-th step.  ``progress`` shows a bar
        (the trace then runs in about 50 kernel calls, with identical results);
        by default it does so on a terminal for runs of 2e8 neuron-steps or more.
        """
        step = self.dt if dt is None else check_dt(dt)
        record = (record,) if isinstance(record, str) else tuple(record)
        known = (*self._states, "I")
        bad = [r for r in record if r not in known]
        if bad:
            raise ValueError(f"cannot record {bad}; choose from {known}")
        if not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(f"every must be a positive int, got {every!r}")
        shape = np.shape(V_trace)
        if len(shape) != len(self._shape) + 1 or shape[1:] != self._shape:
            raise ValueError(f"V_trace has shape {shape}, expected (steps, *{self._shape})")
        steps = shape[0]
        k = self._kernels
        trace = k.as_array(V_trace, shape, self.dtype, "V_trace")
        self._refuse_nan(trace, k.pointer(trace), "V_trace")
        n_rec = steps // int(every)
        given = out or {}
        out = {}
        for r in record:
            if r in given:
                a = given[r]
                self._check_out(a, (n_rec, *self._shape), f"out[{r!r}]")
                out[r] = a
            else:
                out[r] = k.empty((n_rec, *self._shape), self.dtype)
        if progress is None:
            progress = sys.stderr.isatty() and steps * self._n >= 2e8
        for k0, k1 in _chunks(steps, int(every), 50 if progress else 1, self.spec.name):
            r0, r1 = k0 // every, k1 // every
            self._call("run", steps=k1 - k0, every=int(every), dt=step, V=trace[k0:k1],
                       **{f"rec_{r}": (out[r][r0:r1] if r in out else None) for r in known})
        return out

    def current(self, V, out=None):
        """The channel current at ``V`` with the gates of the last update."""
        arr = self._voltage(V)
        if out is None:
            out = self._kernels.empty(self._shape, self.dtype)
        self._check_out(out, self._shape, "out")
        self._call("current", V=arr, I=out)
        return out

    def _check_out(self, out, shape: tuple[int, ...], name: str) -> None:
        k = self._kernels
        if (not isinstance(out, k.array_type) or out.shape != shape
                or out.dtype != self.dtype or not out.flags.c_contiguous
                or (self.target == "cuda" and out.device.id != k.device.id)):
            where = f"CuPy on GPU {k.device.id}" if self.target == "cuda" else "NumPy"
            raise ValueError(f"{name} must be a C-contiguous {self.dtype} {where} array of "
                             f"shape {shape}")

    def _rate(self, rate: str, V):
        arr = self._voltage(V)
        out = self._kernels.empty(self._shape, self.dtype)
        self._call(rate, V=arr, **{rate: out})
        return out

    def _derivative(self, gate: str, value, V):
        arr = self._voltage(V)
        g = self._kernels.as_array(value, self._shape, self.dtype, gate)
        out = self._kernels.empty(self._shape, self.dtype)
        self._call(f"d{gate}", V=arr, **{gate: g, f"d{gate}": out})
        return out

    # ---- states -------------------------------------------------------
    def state_dict(self) -> dict:
        """Copies of the gate states (on the channel's device)."""
        return {g: a.copy() for g, a in self._states.items()}

    def load_state_dict(self, state: dict) -> None:
        """Load gate states (all or nothing: checked before anything is written)."""
        missing = set(self._states) - set(state)
        if missing:
            raise KeyError(f"state dict lacks {sorted(missing)}")
        values = {g: self._kernels.as_array(state[g], self._shape, self.dtype, g)
                  for g in self._states}
        for g, v in values.items():
            self._states[g][...] = v

    def save_states(self, filename: str) -> None:
        """Write the gate states to an ``.npz`` file."""
        np.savez(filename, **{g: self._kernels.to_host(a) for g, a in self._states.items()})

    def load_states(self, filename: str) -> None:
        """Read gate states written by :meth:`save_states`."""
        with np.load(filename) as data:
            self.load_state_dict({k: data[k] for k in data.files})

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
        target); values are kept exactly.  Returns the channel."""
        device = str(device)
        if device not in ("cpu", "cuda"):
            raise ValueError(f"cannot move {self.spec.name} to {device!r}; use 'cpu' or 'cuda'")
        if device == self.target or (device == "cpu" and self.target == "numpy"):
            return self
        states = {g: self._kernels.to_host(a) for g, a in self._states.items()}
        target, previous = _resolve_target(device), self.target
        try:
            self.target = target
            self._allocate(self._shape)
        except Exception:
            self.target = previous                 # a failed build leaves the channel as it was
            self._allocate(self._shape)
            self.load_state_dict(states)
            raise
        self.load_state_dict(states)
        return self

    # ---- inspection ---------------------------------------------------
    def source(self, target: str | None = None) -> str:
        """The emitted source of this channel for ``target`` (``'cpu'``/``'c'``, ``'cuda'``
        or ``'numpy'``; default: its own target), with this channel's parameter layout."""
        lang = self._generated.target if target is None else LANGUAGES.get(target, target)
        return render_kernels(self.spec, lang, self.dtype.name, self.method,
                              self._generated.array_params).source

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
        self._states[gate][...] = self._kernels.as_array(value, self._shape, self.dtype, gate)
    return property(get, set_, doc=f"state of gate {gate}")


def _derivative_method(gate: str):
    def derivative(self, value, t, V):
        return self._derivative(gate, value, V)
    derivative.__name__ = f"d{gate}"
    derivative.__doc__ = f"d{gate}/dt at V for gate value ``{gate}`` (t is unused)."
    return derivative


def _rate_method(rate: str):
    role, gate = rate.split("_", 1)

    def f(self, V):
        return self._rate(rate, V)
    f.__name__ = f"f_{gate}_{role}"
    f.__doc__ = f"The rate {rate} at V (removable singularities handled exactly)."
    return f
