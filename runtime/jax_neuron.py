"""A whole neuron group inside JAX: ionc's fused CondNeuGroup kernels as XLA custom calls.

``ops = ionc.jax.neuron_ops(group)`` takes an ionc :class:`~ionc.CondNeuGroup`
(or :class:`~ionc.HH`) and gives pure functions over JAX arrays that call the
group's fused kernels - every channel's current and conductance, the membrane
and every gate in one pass over the neurons - through XLA's typed FFI
(:class:`NeuronOps` makes the same from a :class:`~ionc.codegen.NeuronSpec`):

- ``ops.states()``: the group's present state as a dict of JAX arrays, keyed
  ``'V'`` and ``'<label>.<gate>'`` (``'INa.p'``);
- ``ops.step(states, x, dt) -> (states, spike)``: one step with external input
  ``x`` (scaled by ``1e-3 / A`` as the group's ``update`` does), the states
  aliased to the results, and the spike flags as a bool array;
- ``ops.run(states, inputs, dt, every=1, record=('V', 'spike'))`` ->
  ``(states, records)``: a whole input trace ``inputs[steps, *shape]`` in one
  call, the records as the group's ``run`` gives them (``'V'`` every
  ``every`` steps, ``'spike'`` counted per window, ``'spike_count'`` in all).

The parameters are the group's (which are per neuron is fixed when the ops
are made); ``params={...}`` overrides their values per call.  Results equal
the group's C kernels to the bit: the handlers call kernels compiled from the
same source with the same flags.  Under
``jax.vmap`` (``vmap_method='broadcast_all'``) the handler runs the kernel
once per batch member.  Not differentiable: a spike is a threshold crossing,
and a gradient through it is a TypeError, never silent zeros.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Mapping

import numpy as np

import jax
import jax.numpy as jnp

from .codegen import render_neuron
from .codegen.ffi import SCALARS, target_name
from .codegen.kernels import (ELEMENT_TYPES, INPUT, OUTPUT, PARAMETER, RECORD, STATE, STEP,
                               TRACE)
from .codegen import SpecError
from .codegen.neuron import NeuronSpec, is_concentration, neuron_parameters, recordable
from .channel import NAN_POLICIES
from .inputs import check_dt
from .jax import VMAP_METHOD, CompiledOps, _not_differentiable, register_library
from .neuron import NEURON_METHODS, CondNeuGroup, run_options

#: dtype of each integer result kind (the spike flags and counts).
_INTEGER = {"uint8": np.uint8, "int32": np.int32}


@lru_cache(maxsize=None)
def compile_neuron_ops(spec: NeuronSpec, dtype: str, method: str,
                       array_params: frozenset = frozenset()) -> CompiledOps:
    """Build (or load) the XLA handlers of neuron ``spec`` and register them."""
    return register_library(
        spec.name, render_neuron(spec, "c", dtype, method, array_params),
        render_neuron(spec, "xla", dtype, method, array_params),
        lambda: render_neuron(spec, "xla-cuda", dtype, method, array_params))


def _host(value):
    """A NumPy copy of a group's array (a CuPy array is copied from the device)."""
    return np.array(value.get() if hasattr(value, "get") else value)


class NeuronOps:
    """Pure JAX functions of one neuron (see :func:`neuron_ops`).

    ``spec`` is the neuron (channels by label and the membrane), ``parameters``
    its values keyed ``'C'``, ``'V_th'``, ``'<label>.<parameter>'`` (numbers, or
    arrays broadcastable to ``shape``: those are compiled per neuron; the rest
    take their defaults), and ``A`` the membrane area that scales the input."""

    def __init__(self, spec: NeuronSpec, shape, dtype: str = "float64",
                 method: str = "exp_auto", parameters: Mapping | None = None, A: float = 1e-3,
                 nan_policy: str = "raise", name: str | None = None,
                 group: CondNeuGroup | None = None):
        if nan_policy not in NAN_POLICIES:
            raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
        self.dtype = np.dtype(dtype)
        self.name = name or spec.name
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
        if self.dtype == np.float64 and not jax.config.jax_enable_x64:
            raise ValueError(f"{self.name}: float64 ops need JAX's 64-bit mode "
                             "(jax.config.update('jax_enable_x64', True)), or use "
                             "dtype='float32'")
        if method not in NEURON_METHODS:
            raise ValueError(f"unknown method {method!r}; use one of {NEURON_METHODS}")
        self.spec, self.method, self.nan_policy = spec, method, nan_policy
        self.shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        if not self.shape or not all(isinstance(d, (int, np.integer)) and d > 0
                                     for d in self.shape):
            raise ValueError(f"{self.name}: shape must be positive ints, got {shape!r}")
        self._n = int(np.prod(self.shape))
        if not (isinstance(A, (int, float, np.number)) and np.isfinite(A) and A > 0):
            raise ValueError(f"{self.name}: A (membrane area, cm^2) must be finite and > 0, "
                             f"got {A!r}")
        self._scale = None if A == 1e-3 else self.dtype.type(1e-3 / A)
        try:
            defaults = neuron_parameters(spec)
        except SpecError as exc:
            raise ValueError(f"{self.name}: {exc}") from None
        given = dict(parameters or {})
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            raise ValueError(f"{self.name} has no parameter(s) {unknown}; its parameters are "
                             f"{sorted(defaults)}")
        values = {k: np.asarray(_host(given.get(k, v)), self.dtype) for k, v in defaults.items()}
        self._positive = {"C"} | {k for k in defaults if is_concentration(k, spec)}
        for k, v in values.items():
            self._check_value(k, v, given.get(k, defaults[k]))
        self._arrays = arrays = frozenset(k for k, v in values.items() if v.ndim)
        self._parameters = {k: self._parameter(k, v) for k, v in values.items()}
        self._compiled = compile_neuron_ops(spec, self.dtype.name, method, arrays)
        update = self._compiled.interfaces["update"]
        self.state_names = tuple(p.key for p in update.operands if p.role == STATE)
        self.recordable = recordable(spec, method)
        self._group = group
        self._calls: dict = {}

    def _check_value(self, key: str, value, shown=None) -> None:
        """A ValueError unless a concrete parameter value is finite (and > 0 for C and the
        concentrations); a traced value is left to the kernel."""
        if isinstance(value, jax.core.Tracer):
            return
        v = np.asarray(_host(value), dtype=float)
        positive = key in self._positive
        if not np.all(np.isfinite(v)) or (positive and not np.all(v > 0)):
            raise ValueError(f"{self.name}: parameter {key} must be finite"
                             + (" and > 0" if positive else "")
                             + f", got {value if shown is None else shown!r}")

    def _parameter(self, key: str, value):
        """``value`` as the kernel takes parameter ``key``: one per neuron (flattened) or
        a scalar, as compiled."""
        arr = jnp.asarray(value).astype(self.dtype)
        if key in self._arrays:
            try:
                return jnp.broadcast_to(arr, self.shape).reshape(-1)
            except ValueError:
                raise ValueError(f"{self.name}: parameter {key} has shape {arr.shape}, which "
                                 f"does not broadcast to {self.shape}") from None
        if arr.ndim:
            raise ValueError(f"{self.name}: parameter {key} was compiled as a scalar; give "
                             f"it per neuron when the ops are made to pass an array")
        return arr

    # ---- arguments -------------------------------------------------------
    def states(self) -> dict:
        """The group's present state (V and every gate) as JAX arrays (ops made from a
        group by :func:`neuron_ops`)."""
        if self._group is None:
            raise TypeError(f"{self.name}: these ops were not made from a group; build the "
                            f"states yourself, keyed {list(self.state_names)}")
        values = self._group._values()
        return {k: jnp.asarray(_host(values[("state", k)]).reshape(self.shape))
                for k in self.state_names}

    def _states(self, states: Mapping) -> dict:
        if not isinstance(states, Mapping) or set(states) != set(self.state_names):
            got = sorted(states) if isinstance(states, Mapping) else type(states).__name__
            raise KeyError(f"{self.name}: states must be a dict with exactly the keys "
                           f"{list(self.state_names)}, got {got}")
        out = {}
        for k in self.state_names:
            arr = jnp.asarray(states[k])
            if arr.dtype != self.dtype or arr.shape != self.shape:
                raise ValueError(f"{self.name}: state {k} has shape {arr.shape} and dtype "
                                 f"{arr.dtype}; this group's are {self.shape} and "
                                 f"{self.dtype.name}")
            out[k] = arr.reshape(-1)
        return out

    def _input(self, x, shape: tuple[int, ...], name: str):
        arr = jnp.asarray(x)
        if not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype,
                                                                          jnp.integer)):
            raise TypeError(f"{self.name}: {name} must be real, got dtype {arr.dtype}")
        try:
            arr = jnp.broadcast_to(arr.astype(self.dtype), shape)
        except ValueError:
            raise ValueError(f"{self.name}: {name} has shape {arr.shape}, which does not "
                             f"broadcast to {shape}") from None
        return arr if self._scale is None else arr * self._scale

    def _dt(self, dt):
        if isinstance(dt, (int, float, np.number)):
            check_dt(dt)
        arr = jnp.asarray(dt)
        if arr.ndim:
            raise ValueError(f"{self.name}: dt must be a scalar, got shape {arr.shape}")
        return arr.astype(self.dtype)

    def _call(self, task: str, values: dict, shapes: dict, **attributes) -> dict:
        """Run ``task``'s custom call on ``values`` (keyed ``(role, key)``); results keyed
        likewise, with the shapes in ``shapes``.  Not differentiable."""
        interface = self._compiled.interfaces[task]
        memo = (task, tuple(sorted(shapes.items())), tuple(sorted(attributes.items())))
        if memo not in self._calls:
            results = [jax.ShapeDtypeStruct(shapes[(p.role, p.key)], _INTEGER.get(
                ELEMENT_TYPES[p.kind], self.dtype)) for p in interface.results]
            call = jax.ffi.ffi_call(target_name(self._compiled.key, task), results,
                                    vmap_method=VMAP_METHOD,
                                    input_output_aliases=interface.aliases)
            attrs = {k: np.int64(v) for k, v in attributes.items()}
            attrs.update(n=np.int64(self._n), check_finite=np.int64(self.nan_policy == "raise"))
            packed = len(interface.scalars)

            def f(*operands):
                if packed:
                    operands = (jnp.stack(operands[:packed]), *operands[packed:])
                return call(*operands, **attrs)

            self._calls[memo] = _not_differentiable(f, f"{self.name}.{task}")
        keys = [(p.role, p.key) for p in interface.scalars]
        keys += [(p.role, p.key) for p in interface.operands if p != SCALARS]
        out = self._calls[memo](*[values[k] for k in keys])
        return {(p.role, p.key): x for p, x in zip(interface.results, out)}

    def _values(self, states: Mapping, dt, params: Mapping | None) -> dict:
        values = {(PARAMETER, k): v for k, v in self._parameters.items()}
        for k, v in (params or {}).items():
            if k not in self._parameters:
                raise ValueError(f"{self.name} has no parameter {k!r}; its parameters are "
                                 f"{sorted(self._parameters)}")
            self._check_value(k, v)
            values[(PARAMETER, k)] = self._parameter(k, v)
        values.update({(STATE, k): v for k, v in self._states(states).items()})
        values[(STEP, "dt")] = self._dt(dt)
        return values

    # ---- the functions -----------------------------------------------------
    def step(self, states: Mapping, x, dt, *, params: Mapping | None = None
             ) -> tuple[dict, jax.Array]:
        """One step with external input ``x`` (broadcast to the group's shape):
        ``(states, spike)``, spike True where V crossed ``V_th`` upwards.  ``params``
        overrides parameters for this call (traced values too)."""
        values = self._values(states, dt, params)
        values[(INPUT, "I_ext")] = self._input(x, self.shape, "x").reshape(-1)
        n = (self._n,)
        shapes = {(STATE, k): n for k in self.state_names}
        shapes[(OUTPUT, "spike")] = n
        out = self._call("update", values, shapes)
        return ({k: out[(STATE, k)].reshape(self.shape) for k in self.state_names},
                out[(OUTPUT, "spike")].reshape(self.shape).astype(bool))

    def run(self, states: Mapping, inputs, dt, *, every: int = 1, record=("V", "spike"),
            params: Mapping | None = None) -> tuple[dict, dict]:
        """All steps of ``inputs[steps, *shape]`` in one call: ``(states, records)``,
        records as the group's ``run``: ``'V'`` after every ``every``-th step,
        ``'spike'`` counted in each window of ``every`` steps, ``'spike_count'``."""
        record = run_options(record, every, self.recordable)
        shape = jnp.shape(inputs)
        if len(shape) != len(self.shape) + 1:
            raise ValueError(f"{self.name}: inputs has shape {shape}, expected "
                             f"(steps, *{self.shape})")
        steps = shape[0]
        values = self._values(states, dt, params)
        values[(TRACE, "I_ext")] = self._input(inputs, (steps, *self.shape),
                                                 "inputs").reshape(steps, -1)
        rows = steps // int(every)
        shapes = {(STATE, k): (self._n,) for k in self.state_names}
        shapes.update({(RECORD, r): ((rows, self._n) if r in record else (0,))
                       for r in ("spike", *self.recordable)})
        shapes[(OUTPUT, "spike_count")] = (self._n,)
        out = self._call("run", values, shapes, steps=steps, every=int(every))
        records = {r: out[(RECORD, r)].reshape(rows, *self.shape) for r in record}
        records["spike_count"] = out[(OUTPUT, "spike_count")].reshape(self.shape)
        return {k: out[(STATE, k)].reshape(self.shape) for k in self.state_names}, records

    def __repr__(self) -> str:
        return (f"ionc.jax.neuron_ops({self.name}: {', '.join(self.spec.channels)}, "
                f"dtype={self.dtype.name}, method={self.method!r})")


def neuron_ops(group: CondNeuGroup, nan_policy: str = "raise") -> NeuronOps:
    """Pure JAX functions of an ionc neuron group: its fused kernels as XLA custom calls,
    with the group's parameters.

    ``nan_policy='raise'`` refuses a non-finite external input at run time (an
    ``XlaRuntimeError`` naming it, before anything is written); ``'propagate'``
    lets it through.
    """
    if not isinstance(group, CondNeuGroup):
        raise TypeError(f"ionc.jax.neuron_ops takes an ionc CondNeuGroup (or HH), got "
                        f"{type(group).__name__}")
    return NeuronOps(group.spec, group.varshape, group.dtype.name, group.method,
                     group._params, group.A, nan_policy, group.name, group)


__all__ = ["NeuronOps", "compile_neuron_ops", "neuron_ops"]
