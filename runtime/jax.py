"""ionc inside JAX: a channel's compiled kernels as XLA custom calls.

``ops = ionc.jax.ops(INa_Ba2002, dtype="float64", g_max=...)`` gives pure
functions over JAX arrays - ``steady_state``, ``step``, ``current`` and a fused
``run`` over a voltage trace - that call the channel's C kernels through XLA's
typed FFI (``jax.ffi``).  They work under ``jax.jit``, ``lax.scan``,
``jax.vmap`` and ``shard_map``, and their results are the C target's to the
bit: the kernels are compiled from the same source with the same flags.  When
JAX has a GPU, the same names are registered for CUDA: the CUDA target's
kernels, launched on XLA's stream.

- States are dicts keyed by the channel's state names.  A step's states are
  aliased to its results (``input_output_aliases``): inside ``jit`` and
  ``scan`` the step writes them in place, without a copy.
- ``jax.vmap`` uses ``vmap_method='broadcast_all'``: every operand gets the
  batch axis in front and the handler runs the kernel once per batch member,
  so batched scalars (``dt``, a scalar parameter) keep one value per member
  and nothing is computed twice.
- Bad input is refused with an error naming it: shapes, dtypes and state
  names when the call is traced; a non-positive ``dt`` and (by default) a NaN
  or infinite voltage when it runs, as an ``XlaRuntimeError`` from the handler
  before anything is written.
- ``step`` and ``steady_state`` are differentiable in V, the inputs and the
  states, ``current`` in the parameters too: each has a Jacobian kernel whose
  entries SymPy derives exactly (the derivative of ``exprelr`` has its own
  accurate form), and a ``custom_jvp`` combines them with the tangents, so
  ``jax.grad`` runs through ``lax.scan`` of steps.  BrainPy's ``exp_auto``
  takes the current's derivative in V to linearise a membrane equation.
  Derivatives in ``dt`` or in a step's parameters, second derivatives, and
  ``run`` are a ``TypeError`` saying so, never silent zeros.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Mapping

import numpy as np

try:
    import jax
    import jax.numpy as jnp
    import jaxlib
    from jax.custom_derivatives import SymbolicZero
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("ionc.jax needs jax and jaxlib: pip install 'ionc[jax]'") from exc

from .build import (BuildError, CompilerNotFoundError, build_xla_cuda_library,
                    build_xla_library)
from .channel import METHODS, NAN_POLICIES, Channel
from .codegen import ChannelSpec, GeneratedSource, get_channel, render_kernels
from .codegen.lowering import RATE_JACOBIANS, lower_channel
from .codegen.ffi import (SCALARS, FfiInterface, ffi_interface, handler_symbol,
                          has_handler, target_name)
from .inputs import check_dt
from .jax_expressions import evaluate, polynomial_current

#: vmap_method of every ionc custom call (see the module's docstring).
VMAP_METHOD = "broadcast_all"
_REGISTERED: set[tuple[str, str]] = set()     # (target name, platform)


@dataclass(frozen=True)
class CompiledOps:
    """One compiled library of handlers: its cache key and each task's interface."""

    key: str
    interfaces: dict[str, FfiInterface]
    kernel_source: str
    handler_source: str
    path: str


def gpu_available() -> bool:
    """True when JAX has a GPU backend (then ionc's handlers are built for CUDA too)."""
    try:
        return bool(jax.devices("gpu"))
    except RuntimeError:
        return False


def gpu_architecture() -> str | None:
    """``sm_XY`` of JAX's first GPU (what nvcc builds the CUDA handlers for), or None."""
    capability = getattr(jax.devices("gpu")[0], "compute_capability", None)
    if not capability or "." not in str(capability):
        return None
    major, minor = str(capability).split(".")[:2]
    return f"sm_{major}{minor}"


@lru_cache(maxsize=None)
def compile_ops(spec: ChannelSpec, dtype: str, method: str,
                array_params: frozenset = frozenset(), rates: bool = False) -> CompiledOps:
    """Build (or load) the handlers of ``spec`` and register them with XLA: on the CPU
    always, and on CUDA under the same name when JAX has a GPU.  ``rates``: a second
    library that has handlers for the rates and their Jacobians as well, built on the
    first rate call (the usual library does without them, and builds faster)."""
    jacobians = RATE_JACOBIANS if rates else True
    return register_library(
        spec.name, render_kernels(spec, "c", dtype, method, array_params, jacobians=jacobians),
        render_kernels(spec, "xla", dtype, method, array_params, jacobians=jacobians),
        lambda: render_kernels(spec, "xla-cuda", dtype, method, array_params,
                               jacobians=jacobians))


def register_library(name: str, kernels: GeneratedSource, handlers: GeneratedSource,
                     cuda: Callable[[], GeneratedSource]) -> CompiledOps:
    """Compile the C kernels ``kernels`` with the XLA handlers ``handlers`` (rendered
    sources of channel or neuron ``name``), and ``cuda()``'s CUDA handlers when JAX has
    a GPU; register each handler (:data:`TASKS`, the rates and their Jacobians) with XLA
    under its :func:`target_name`."""
    version = f"jaxlib {jaxlib.__version__}"
    library = build_xla_library(kernels.source, handlers.source, jax.ffi.include_dir(), version)
    platforms = [("cpu", library)]
    if gpu_available():
        try:
            platforms.append(("CUDA", build_xla_cuda_library(
                cuda().source, jax.ffi.include_dir(), version, gpu_architecture())))
        except (CompilerNotFoundError, BuildError) as exc:
            warnings.warn(f"ionc.jax: {name} runs on the CPU only; its CUDA handlers "
                          f"could not be built: {exc}", RuntimeWarning, stacklevel=2)
    interfaces = {}
    for task, signature in handlers.kernels.items():
        if not has_handler(task, handlers.extra):
            continue
        target = target_name(library.key, task)
        for platform, lib in platforms:
            if (target, platform) not in _REGISTERED:
                symbol = getattr(lib.handle, handler_symbol(task))
                jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(symbol), platform=platform)
                _REGISTERED.add((target, platform))
        interfaces[task] = ffi_interface(signature)
    return CompiledOps(library.key, interfaces, kernels.source, handlers.source,
                       str(library.path))


def _spec_of(channel) -> ChannelSpec:
    if isinstance(channel, ChannelSpec):
        return channel
    if isinstance(channel, str):
        return get_channel(channel)
    if isinstance(channel, type) and issubclass(channel, Channel):
        return channel.spec
    if isinstance(channel, Channel):
        return type(channel).spec
    raise TypeError(f"ionc.jax.ops takes a channel class, a ChannelSpec or a library name, "
                    f"got {channel!r}")


def _not_differentiable(fn, what: str):
    """``fn`` with a JVP rule that refuses, naming ``what``."""
    wrapped = jax.custom_jvp(fn)

    def jvp(primals, tangents):
        raise TypeError(f"ionc.jax: {what} is not differentiable (the compiled kernel has "
                        "no derivative rule); use jax.lax.stop_gradient on its inputs if the "
                        "gradient is not needed through it")

    wrapped.defjvp(jvp)
    return wrapped


def finite_if_known(value) -> bool:
    """False when ``value`` is a concrete number or array with a NaN or an infinity (a
    traced value inside jit cannot be inspected here: the handler sees it)."""
    if isinstance(value, jax.core.Tracer):
        return True
    try:
        return bool(np.all(np.isfinite(np.asarray(value, dtype=float))))
    except (TypeError, ValueError):
        return True                 # not a number: the conversion later says what it is


class ChannelOps:
    """Pure JAX functions of one channel, dtype and method (see :func:`ops`)."""

    def __init__(self, channel, dtype: str = "float64", method: str | None = None,
                 nan_policy: str = "raise", **parameters):
        self.spec = _spec_of(channel)
        nmodl = getattr(channel, "nmodl", None)
        self.method = method or getattr(nmodl, "method", None) or "exp_auto"
        self.dtype = np.dtype(dtype)
        name = self.spec.name
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
        if self.method not in METHODS or self.method == "table":
            allowed = tuple(m for m in METHODS if m != "table")
            raise ValueError(f"{name}: method {self.method!r} is not available in ionc.jax; "
                             f"use one of {allowed}")
        if nan_policy not in NAN_POLICIES:
            raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
        if self.dtype == np.float64 and not jax.config.jax_enable_x64:
            raise ValueError(f"{name}: float64 ops need JAX's 64-bit mode "
                             "(jax.config.update('jax_enable_x64', True) before creating "
                             "arrays), or use dtype='float32'")
        self.nan_policy = nan_policy
        self.gates = tuple(g.name for g in self.spec.gates)
        self._invocations: dict = {}
        self.parameters = self._parameters(parameters, {p: v for p, v in
                                                        self.spec.parameters.items()})

    # ---- arguments -------------------------------------------------------
    def _parameters(self, given: Mapping[str, Any], base: Mapping[str, Any]) -> dict:
        unknown = set(given) - set(self.spec.parameters)
        if unknown:
            raise TypeError(f"{self.spec.name} got unknown parameter(s) {sorted(unknown)}; "
                            f"its parameters are {list(self.spec.parameters)}")
        out = dict(base)
        for p, value in given.items():
            if callable(value):
                raise TypeError(f"parameter {p}: ionc.jax takes numbers or arrays, not "
                                "initializers (call it with the population's shape first)")
            if not finite_if_known(value):
                raise ValueError(f"parameter {p} must be finite, got {value!r}")
            out[p] = value
        return out

    def _real(self, value, name: str):
        arr = jnp.asarray(value)
        if not jnp.issubdtype(arr.dtype, jnp.floating) and not jnp.issubdtype(arr.dtype,
                                                                              jnp.integer):
            raise TypeError(f"{self.spec.name}: {name} must be real, got dtype {arr.dtype}")
        return arr.astype(self.dtype)

    def _population(self, V, name: str = "V"):
        arr = self._real(V, name)
        if arr.ndim == 0:
            raise ValueError(f"{self.spec.name}: {name} must be an array of the population's "
                             f"shape, got a scalar (use jnp.full(shape, v))")
        return arr

    def _states(self, states: Mapping, shape: tuple[int, ...]) -> dict:
        if not isinstance(states, Mapping):
            raise TypeError(f"{self.spec.name}: states must be a dict keyed by "
                            f"{list(self.gates)}, got {type(states).__name__}")
        if set(states) != set(self.gates):
            raise KeyError(f"{self.spec.name}: states must have exactly the keys "
                           f"{list(self.gates)}, got {sorted(states)}")
        out = {}
        for g in self.gates:
            arr = jnp.asarray(states[g])
            if arr.dtype != self.dtype:
                raise TypeError(f"{self.spec.name}: state {g} has dtype {arr.dtype}, these "
                                f"ops are {self.dtype} (ops(..., dtype=...) decides)")
            if arr.shape != shape:
                raise ValueError(f"{self.spec.name}: state {g} has shape {arr.shape}, the "
                                 f"voltage's population has shape {shape}")
            out[g] = arr
        return out

    def _values(self, shape: tuple[int, ...], params: Mapping | None, inputs: Mapping
                ) -> tuple[dict, frozenset]:
        """Parameters and inputs keyed ``(role, key)``, and the per-neuron parameters."""
        values, arrays = {}, set()
        for p, v in self._parameters(dict(params or {}), self.parameters).items():
            arr = self._real(v, f"parameter {p}")
            if arr.ndim:
                try:
                    arr = jnp.broadcast_to(arr, shape)
                except ValueError:
                    raise ValueError(f"{self.spec.name}: parameter {p} has shape {arr.shape}, "
                                     f"which does not broadcast to the population's shape "
                                     f"{shape}") from None
                arrays.add(p)
            values[("parameter", p)] = arr
        unknown = set(inputs) - set(self.spec.inputs)
        if unknown:
            raise TypeError(f"{self.spec.name} has no input(s) {sorted(unknown)}"
                            + (f"; its inputs are {list(self.spec.inputs)}" if self.spec.inputs
                               else "; it reads only V"))
        for i, default in self.spec.inputs.items():
            arr = self._real(inputs.get(i, default), i)
            try:
                values[("input", i)] = jnp.broadcast_to(arr, shape)
            except ValueError:
                raise ValueError(f"{self.spec.name}: input {i} has shape {arr.shape}, which "
                                 f"does not broadcast to {shape}") from None
        return values, frozenset(arrays)

    def _dt(self, dt):
        if isinstance(dt, (int, float, np.number)):
            check_dt(dt)
        arr = self._real(dt, "dt")
        if arr.ndim:
            raise ValueError(f"{self.spec.name}: dt must be a scalar, got shape {arr.shape} "
                             "(jax.vmap over dt batches it)")
        return arr

    def _invoke(self, task: str, arrays: frozenset, n: int, shapes: dict, attributes: dict):
        """``(operand keys, f)``: ``f(*operands)`` runs ``task``'s custom call and returns
        its results keyed ``(role, key)``; ``shapes`` gives each result's shape.  The
        real scalars come first among the operands, one by one; ``f`` packs them.  Made
        once per task and shapes, so that eager calls do not rebuild the call."""
        memo = (task, arrays, n, tuple(sorted(shapes.items())), tuple(sorted(attributes.items())))
        if memo not in self._invocations:
            self._invocations[memo] = self._make_invocation(task, arrays, n, shapes, attributes)
        return self._invocations[memo]

    def _make_invocation(self, task: str, arrays: frozenset, n: int, shapes: dict,
                         attributes: dict):
        compiled = self._compiled(task, arrays)
        interface = compiled.interfaces[task]
        results = [jax.ShapeDtypeStruct(shapes[(p.role, p.key)], self.dtype)
                   for p in interface.results]
        packed = len(interface.scalars)
        call = jax.ffi.ffi_call(target_name(compiled.key, task), results,
                                vmap_method=VMAP_METHOD,
                                input_output_aliases=interface.aliases)
        attributes = {k: np.int64(v) for k, v in attributes.items()}
        check = np.int64(self.nan_policy == "raise")

        def f(*operands):
            if packed:
                operands = (jnp.stack(operands[:packed]), *operands[packed:])
            out = call(*operands, n=np.int64(n), check_finite=check, **attributes)
            return {(p.role, p.key): x for p, x in zip(interface.results, out)}

        keys = [(p.role, p.key) for p in interface.scalars]
        keys += [(p.role, p.key) for p in interface.operands if p != SCALARS]
        return keys, f

    def _compiled(self, task: str, arrays: frozenset) -> CompiledOps:
        """The library that has ``task``'s handler: the rates' (and their Jacobians') is
        a second one, built on the first rate call."""
        base = task[len("jacobian_"):] if task.startswith("jacobian_") else task
        extra = base in self._rates or task in {f"d{g}" for g in self.gates}
        return compile_ops(self.spec, self.dtype.name, self.method, arrays, extra)

    def _call(self, task: str, values: dict, arrays: frozenset, n: int, shapes: dict,
              **attributes) -> dict:
        """Run ``task`` on ``values`` (keyed ``(role, key)``); not differentiable."""
        keys, f = self._invoke(task, arrays, n, shapes, attributes)
        wrapped = _not_differentiable(lambda *ops: f(*ops), f"{self.spec.name}.{task}")
        return wrapped(*[values[k] for k in keys])

    def _differentiated(self, task: str) -> set[tuple[str, str]]:
        """The operands a Jacobian kernel of ``task`` differentiates in (codegen's
        ``derivatives``): V and the inputs; the states for ``update`` and ``current``;
        the parameters for ``current``.  One it has no entry for has derivative 0
        (``current`` of a channel gated by C does not read C)."""
        keys = {("input", "V"), *(("input", i) for i in self.spec.inputs)}
        if task in ("update", "current"):
            keys |= {("state", g) for g in self.gates}
        if task == "current":
            keys |= {("parameter", p) for p in self.spec.parameters}
        return keys

    def _key(self, name: str) -> tuple[str, str]:
        """The operand key of a user name in a Jacobian (``'V'``, an input, a state or
        a parameter)."""
        if name == "V" or name in self.spec.inputs:
            return ("input", name)
        if name in self.gates:
            return ("state", name)
        return ("parameter", name)

    def _differentiable(self, task: str, values: dict, arrays: frozenset,
                        shape: tuple[int, ...], results: dict) -> dict:
        """``task`` (results keyed ``(role, key)`` with the shapes in ``results``) with a
        JVP from its exact Jacobian kernel: tangent = sum of d out/d x times dx over
        the variables the kernel differentiates (V, the inputs, the states; the
        parameters too for the current).  Other tangents are a TypeError."""
        n = int(np.prod(shape))
        keys, primal = self._invoke(task, arrays, n, results, {})
        compiled = self._compiled(task, arrays)
        jtask = f"jacobian_{task}"
        if jtask not in compiled.interfaces:
            return self._call(task, values, arrays, n, results)
        entries = [p.key.split("/") for p in compiled.interfaces[jtask].results]
        jkeys, jacobian = self._invoke(jtask, arrays, n, {("output", f"{o}/{x}"): shape
                                                          for o, x in entries}, {})
        allowed = {self._key(x) for _, x in entries} | self._differentiated(task)
        name = self.spec.name

        @jax.custom_jvp
        def f(*operands):
            return primal(*operands)

        def jvp(primals, tangents):
            given = dict(zip(keys, tangents))
            for key, t in given.items():
                if key not in allowed and not isinstance(t, SymbolicZero):
                    raise TypeError(
                        f"ionc.jax: {name}.{task} is differentiable in "
                        f"{sorted(k[1] for k in allowed)} only; not in {key[0]} {key[1]!r}")
            out = f(*primals)
            by_key = dict(zip(keys, primals))
            J = _not_differentiable(jacobian, f"{name}.{jtask}")(*[by_key[k] for k in jkeys])
            tangent = {k: None for k in out}
            for o, x in entries:
                t = given[self._key(x)]
                if isinstance(t, SymbolicZero):
                    continue
                k = ("output", o) if ("output", o) in out else ("state", o)
                term = J[("output", f"{o}/{x}")] * t
                tangent[k] = term if tangent[k] is None else tangent[k] + term
            return out, {k: jnp.zeros_like(out[k]) if t is None else t
                         for k, t in tangent.items()}

        f.defjvp(jvp, symbolic_zeros=True)
        return f(*[values[k] for k in keys])

    # ---- the functions -----------------------------------------------------
    def steady_state(self, V, *, params: Mapping | None = None, **inputs) -> dict:
        """Every state at its steady state at ``V`` (the channel's ``reset_state``)."""
        V = self._population(V)
        values, arrays = self._values(V.shape, params, inputs)
        if not self.gates:
            return {}
        values[("input", "V")] = V
        out = self._differentiable("steady_state", values, arrays, V.shape,
                                   {("state", g): V.shape for g in self.gates})
        return {g: out[("state", g)] for g in self.gates}

    def step(self, states: Mapping, V, dt, *, params: Mapping | None = None, **inputs) -> dict:
        """The states one step of ``dt`` later, with the rates at ``V``."""
        V = self._population(V)
        values, arrays = self._values(V.shape, params, inputs)
        values.update({("state", g): x for g, x in self._states(states, V.shape).items()})
        values[("input", "V")] = V
        values[("dt", "dt")] = self._dt(dt)
        if not self.gates:
            return {}
        out = self._differentiable("update", values, arrays, V.shape,
                                   {("state", g): V.shape for g in self.gates})
        return {g: out[("state", g)] for g in self.gates}

    def current(self, states: Mapping, V, *, params: Mapping | None = None, **inputs):
        """The channel's current at ``V`` with ``states`` (the C target's ``current``);
        differentiable in ``V``."""
        V = self._population(V)
        values, arrays = self._values(V.shape, params, inputs)
        values.update({("state", g): x for g, x in self._states(states, V.shape).items()})
        values[("input", "V")] = V
        return self._differentiable("current", values, arrays, V.shape,
                                    {("output", "I"): V.shape})[("output", "I")]

    @property
    def arithmetic_current(self) -> bool:
        """Whether :meth:`current_arithmetic` applies: the current is a polynomial in
        what it reads (``g_max p^3 q (E - V)``; not a GHK current)."""
        return polynomial_current(self.spec) is not None

    def current_arithmetic(self, states: Mapping, V, *, params: Mapping | None = None,
                           **inputs):
        """The current of :meth:`current` as jax.numpy arithmetic (a polynomial current
        only, :attr:`arithmetic_current`): XLA fuses it into the computation around it
        and differentiates it in everything it reads.  It runs no kernel, so it checks
        no value: the step's kernel, called on the same V and states, does."""
        expr = polynomial_current(self.spec)
        if expr is None:
            raise ValueError(f"{self.spec.name}: its current is not a polynomial; use "
                             "current()")
        V = self._population(V)
        values, _ = self._values(V.shape, params, inputs)
        named = {key: x for (_, key), x in values.items()}
        named.update(self._states(states, V.shape), V=V)
        return evaluate(expr, named, self.dtype)

    def rate(self, rate: str, V, *, params: Mapping | None = None, **inputs):
        """Rate ``'<role>_<gate>'`` (``'alpha_p'``, ``'tau_q'``) or a named rate at ``V``,
        its singularities removed (the limit at a 0/0); differentiable in ``V`` and the
        inputs by its exact derivative."""
        if rate not in self._rates:
            raise KeyError(f"{self.spec.name} has no rate {rate!r}; its rates are "
                           f"{sorted(self._rates)}")
        V = self._population(V)
        values, arrays = self._values(V.shape, params, inputs)
        values[("input", "V")] = V
        return self._differentiable(rate, values, arrays, V.shape,
                                    {("output", rate): V.shape})[("output", rate)]

    def derivative(self, gate: str, states: Mapping, V, *, params: Mapping | None = None,
                   **inputs):
        """``d gate/dt`` at ``V`` with ``states`` (BrainPy's ``dp``); not differentiable."""
        if gate not in self.gates:
            raise KeyError(f"{self.spec.name} has no state {gate!r}; its states are "
                           f"{list(self.gates)}")
        V = self._population(V)
        values, arrays = self._values(V.shape, params, inputs)
        values.update({("state", g): x for g, x in self._states(states, V.shape).items()})
        values[("input", "V")] = V
        task = f"d{gate}"
        return self._call(task, values, arrays, int(np.prod(V.shape)),
                          {("output", task): V.shape})[("output", task)]

    @property
    def _rates(self) -> tuple[str, ...]:
        """The rates a :meth:`rate` call may name (the kernels' rate tasks)."""
        return tuple(lower_channel(self.spec, self.method).rates)

    def run(self, states: Mapping, V_trace, dt, *, every: int = 1, record=None,
            params: Mapping | None = None, **inputs) -> tuple[dict, dict]:
        """All steps of ``V_trace[steps, *shape]`` in one call: ``(states, records)``.

        ``records[name][r]`` is state ``name`` (or the current ``'I'``) after step
        ``(r + 1) * every``; ``record`` names what to record (default: every state
        and ``'I'``; ``()`` records nothing).
        """
        trace = self._population(V_trace, "V_trace")
        if trace.ndim < 2:
            raise ValueError(f"{self.spec.name}: V_trace must have shape (steps, *shape), "
                             f"got {trace.shape}")
        if not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(f"every must be a positive int, got {every!r}")
        names = self.gates + ("I",)
        record = names if record is None else tuple(record)
        unknown = set(record) - set(names)
        if unknown:
            raise ValueError(f"{self.spec.name}: cannot record {sorted(unknown)}; "
                             f"records are {list(names)}")
        steps, shape = trace.shape[0], trace.shape[1:]
        values, arrays = self._values(shape, params, inputs)
        values.update({("state", g): x for g, x in self._states(states, shape).items()})
        values[("trace", "V")] = trace
        values[("dt", "dt")] = self._dt(dt)
        rows = steps // every
        shapes = {("state", g): shape for g in self.gates}
        shapes.update({("record", r): ((rows, *shape) if r in record else (0,)) for r in names})
        n = int(np.prod(shape))
        out = self._call("run", values, arrays, n, shapes, steps=steps, every=int(every))
        return ({g: out[("state", g)] for g in self.gates},
                {r: out[("record", r)] for r in record})

    def __repr__(self) -> str:
        return (f"ionc.jax.ops({self.spec.name}, dtype={self.dtype.name}, "
                f"method={self.method!r})")


def ops(channel, dtype: str = "float64", method: str | None = None, nan_policy: str = "raise",
        **parameters) -> ChannelOps:
    """Pure JAX functions of ``channel`` (a channel class, e.g. ``ionc.INa_Ba2002`` or a
    ``from_nmodl`` class; a ChannelSpec; or a library name).

    ``parameters`` are numbers or arrays broadcastable to the population
    (per-neuron values); each function also takes ``params={...}`` to override
    them per call, traced values included.  ``method`` defaults to the channel's
    (``exp_auto``, or a ``.mod`` file's SOLVE method).  ``nan_policy='raise'``
    refuses non-finite voltages at run time; ``'propagate'`` lets them through.
    """
    return ChannelOps(channel, dtype, method, nan_policy, **parameters)


#: What ionc.jax_neuron (which builds on this module) adds to ``ionc.jax``.
_NEURON_NAMES = ("NeuronOps", "compile_neuron_ops", "neuron_ops")


def __getattr__(name: str):
    """``ionc.jax.NeuronOps``, ``neuron_ops`` and ``compile_neuron_ops``, from
    :mod:`ionc.jax_neuron` on first use (so that either module may be imported first)."""
    if name in _NEURON_NAMES:
        from . import jax_neuron
        return getattr(jax_neuron, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ChannelOps", "CompiledOps", "VMAP_METHOD", "compile_ops", "finite_if_known", "ops",
           "register_library",
           *_NEURON_NAMES]
