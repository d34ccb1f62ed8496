"""Drop-in replacements for BrainPy's channel classes, running ionc's kernels.

``ionc.brainpy.INa_Ba2002`` is a subclass of BrainPy's ``IonChannel`` with
the constructor of ``brainpy.dyn.INa_Ba2002`` (same arguments, same order,
same defaults): its gates are BrainPy variables (``ch.p.value``) and its
``update(V)``, ``current(V)`` and ``reset_state(V, batch_size)`` call the
channel's compiled kernels through :mod:`ionc.jax`.  Swap the class in a
``CondNeuGroup`` and nothing else changes; it runs under ``bm.for_loop``,
``bm.jit`` and ``DSRunner`` like BrainPy's own.

Written against BrainPy 2.8.2 (the newest release the package index has
today); the channel API it relies on (``IonChannel``, ``share['dt']``,
``parameter``/``variable``, ``CondNeuGroup`` calling ``update(V)`` then
``current(V)``) is the one BrainPy has had since 2.4.  All 35 of BrainPy's channel
classes are here.  The calcium channels (``ICaT_HM1992`` and kin) are
:class:`IoncCalciumChannel`: they sit in BrainPy's calcium nodes, which pass them ``C``
and ``E`` on every call; ``ICaN_IS2008``, ``IAHP_De1994`` and ``Ih_De1996`` read that
``C``, and ``IAHP_De1994v2`` (:class:`IoncKCaChannel`) sits in a ``MixIons``.
BrainPy's ion nodes hold ionc's channels (ionc has no nodes of its own here: the nodes
carry BrainPy's semantics).  :func:`channel` makes a
BrainPy class of any other ionc channel class, ``.mod`` files included.
:class:`CondNeuGroup` replaces BrainPy's group of such channels by one fused
kernel per step (a group holding ion nodes steps as BrainPy's).
"""
from __future__ import annotations

import inspect
from functools import lru_cache
from typing import ClassVar

try:
    import brainpy as bp
    import brainpy.math as bm
    from brainpy.context import share
    from brainpy.initialize import parameter, variable
    from brainpy.dyn.base import IonChaDyn
    from brainpy.dyn.channels.potassium_calcium import KCaChannel
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("ionc.brainpy needs BrainPy: pip install 'ionc[brainpy]'") from exc

import numpy as np
import jax
import jax.numpy as jnp
import sympy as sp

from . import channels as _library
from .channels import phi_as_parameters
from .channel import Channel, rate_methods
from .codegen.neuron import NeuronSpec
from .codegen.spec import symbol
from .jax import ChannelOps, NeuronOps, finite_if_known

#: BrainPy's own keywords of a channel constructor (not channel parameters).
_KEYWORDS = ("size", "keep_size", "method", "name", "mode")
#: The channels adapted: those whose master is the neuron (they read only V).
ADAPTED = ("INa_Ba2002", "INa_TM1991", "INa_HH1952", "IKDR_Ba2002", "IK_TM1991", "IK_HH1952",
           "IKA1_HM1992", "Ih_HM1992", "IL", "IKA2_HM1992", "IKK2A_HM1992", "IKK2B_HM1992",
           "IKNI_Ya1989", "IKL")
#: The calcium channels adapted: their master is a calcium node, which passes C and E.
CALCIUM_ADAPTED = ("ICaT_HM1992", "ICaT_HP1992", "ICaHT_HM1992", "ICaHT_Re1993", "ICaL_IS2008",
                   "ICaN_IS2008", "IAHP_De1994", "Ih_De1996")
#: BrainPy's channels under a fixed sodium or potassium node (``SodiumFixed``,
#: ``PotassiumFixed``), which passes C and E: each is the library channel it names (the
#: same kinetics) with E from the node.
ION_ADAPTED = {"INa_Ba2002v2": "INa_Ba2002", "INa_TM1991v2": "INa_TM1991",
               "INa_HH1952v2": "INa_HH1952", "IKDR_Ba2002v2": "IKDR_Ba2002",
               "IK_TM1991v2": "IK_TM1991", "IK_HH1952v2": "IK_HH1952",
               "IKA1_HM1992v2": "IKA1_HM1992", "IKA2_HM1992v2": "IKA2_HM1992",
               "IKK2A_HM1992v2": "IKK2A_HM1992", "IKK2B_HM1992v2": "IKK2B_HM1992",
               "IKNI_Ya1989v2": "IKNI_Ya1989", "IK_Leak": "IL",
               "IAHP_De1994v2": "IAHP_De1994"}


class IoncChannel(bp.dyn.IonChannel):
    """A BrainPy ion channel whose step and current are ionc's compiled kernels."""

    ionc_class: ClassVar[type[Channel]]
    #: The BrainPy class whose constructor this one takes (None: :func:`channel`'s).
    brainpy_class: ClassVar[type | None] = None

    def __init_subclass__(cls, **kwargs):
        """BrainPy's rate methods (``f_p_alpha``, ``f_q_inf``, ...) and derivatives
        (``dp``, ``derivative``) for the channel: for an adapter those BrainPy's class has,
        taking its arguments; for :func:`channel`'s classes, every rate and ``d<state>``."""
        super().__init_subclass__(**kwargs)
        ionc_class = vars(cls).get("ionc_class")
        if ionc_class is None:
            return
        spec, brainpy_class = ionc_class.spec, vars(cls).get("brainpy_class")

        def wanted(name: str) -> bool:
            return name not in vars(cls) and (brainpy_class is None
                                               or callable(getattr(brainpy_class, name, None)))
        for name, rate in rate_methods(spec).items():
            if wanted(name):
                setattr(cls, name, _rate_method(name, rate))
        for name, expr in derived_parameters(spec).items():
            if name not in vars(cls):
                setattr(cls, name, _derived_property(name, expr))
        methods = {f"d{g.name}": g.name for g in spec.gates}
        if len(spec.gates) == 1:                  # BrainPy's name for a lone gate's
            methods["derivative"] = spec.gates[0].name
        for name, gate in methods.items():
            if wanted(name):
                signature = (inspect.signature(getattr(brainpy_class, name))
                             if brainpy_class is not None else None)
                setattr(cls, name, _derivative_method(name, gate, signature))

    def __init__(self, *args, **kwargs):
        if self.brainpy_class is not None:
            bound = inspect.signature(self.brainpy_class.__init__).bind(self, *args, **kwargs)
        else:
            bound = _GENERIC.bind(self, *args, **kwargs)
        bound.apply_defaults()
        given = dict(bound.arguments)
        given.pop("self")
        given.update(given.pop("parameters", {}))
        given = phi_as_parameters(self.ionc_class.spec.name, given)
        super().__init__(size=given["size"], keep_size=given["keep_size"], name=given["name"],
                         mode=given["mode"])
        self.method = given["method"]
        spec = self.ionc_class.spec
        values = {}
        for p, value in {**spec.parameters, **given}.items():
            if p in _KEYWORDS:
                continue
            if p not in spec.parameters:
                if value is None:
                    continue
                raise TypeError(f"ionc.brainpy.{spec.name}: parameter {p} is BrainPy's but not "
                                f"ionc's (its parameters are {list(spec.parameters)}); leave it "
                                "at its default")
            values[p] = parameter(value, self.varshape, allow_none=False)
            if not finite_if_known(bm.as_jax(values[p]) if isinstance(
                    values[p], (bm.Array, bm.Variable)) else values[p]):
                raise ValueError(f"ionc.brainpy.{spec.name}: parameter {p} must be finite, "
                                 f"got {value!r}")
            setattr(self, p, values[p])
        self._values = values
        self._ops: dict[str, ChannelOps] = {}
        for g in spec.gates:
            setattr(self, g.name, variable(bm.zeros, self.mode, self.varshape))

    # ---- ionc --------------------------------------------------------------
    def ops(self, dtype) -> ChannelOps:
        """The :mod:`ionc.jax` functions of this channel for ``dtype``."""
        name = jnp.dtype(dtype).name
        if name not in self._ops:
            method = "exp_auto" if self.method in ("exp_auto", "exp_euler") else self.method
            self._ops[name] = ChannelOps(self.ionc_class, name, method)
        return self._ops[name]

    def _params(self) -> dict:
        """The parameters as they are now (a user may set ``ch.g_max`` after construction,
        as BrainPy's own channels allow)."""
        return {p: _array(getattr(self, p)) for p in self._values}

    def _states(self) -> dict:
        return {g.name: bm.as_jax(getattr(self, g.name).value) for g in self.ionc_class.spec.gates}

    def _set(self, states: dict) -> None:
        for g, value in states.items():
            getattr(self, g).value = value

    def _reset(self, V, params: dict, batch_size=None, inputs: dict | None = None) -> None:
        V = bm.as_jax(V)
        self._set(self.ops(V.dtype).steady_state(V, params=params, **(inputs or {})))
        if isinstance(batch_size, int):
            for g in self.ionc_class.spec.gates:
                assert getattr(self, g.name).shape[0] == batch_size

    def _step(self, V, params: dict, inputs: dict | None = None) -> None:
        V = bm.as_jax(V)
        self._set(self.ops(V.dtype).step(self._states(), V, share["dt"], params=params,
                                         **(inputs or {})))

    def _current(self, V, params: dict, inputs: dict | None = None):
        """The current: jax.numpy arithmetic where it is a polynomial (XLA fuses it into
        BrainPy's membrane step and differentiates it there, one custom call fewer per
        channel and per derivative), else the current kernel."""
        V = bm.as_jax(V)
        ops = self.ops(V.dtype)
        current = ops.current_arithmetic if ops.arithmetic_current else ops.current
        return current(self._states(), V, params=params, **(inputs or {}))

    def integral(self, *args, **kwargs):
        """BrainPy's integrator of the channel's states, called as BrainPy calls it:
        ``integral(p, q, t, V, dt)`` (the states in order, then ``t``, ``V``, ``dt``,
        positional or by name; ``C_Ca=`` for a channel its node's C gates); the states
        after one step of ionc's kernel, one array or a tuple.  ``t`` is not read."""
        gates = [g.name for g in self.ionc_class.spec.gates]
        named = dict(zip(("t", "V", "dt"), args[len(gates):]), **kwargs)
        states, V, inputs = self._arguments(dict(zip(gates, args[:len(gates)])), named)
        new = self.ops(V.dtype).step(states, V, named.get("dt", share["dt"]),
                                     params=self._params(), **inputs)
        out = tuple(new[g] for g in gates)
        return out[0] if len(out) == 1 else out

    def _arguments(self, given: dict, named: dict) -> tuple[dict, jax.Array, dict]:
        """The states, V and inputs of a call made with BrainPy's arguments: ``given``
        states (the others as they are now), ``named['V']`` (0 mV where BrainPy's method
        takes none: it does not read V) and ``named['C_Ca']`` (the input C)."""
        ref = _floating(named.get("V", next(iter(given.values()), 0.0)))
        V = ref if "V" in named else jnp.zeros_like(ref)
        inputs = {"C": _array(named["C_Ca"])} if "C_Ca" in named else {}
        states = {g: jnp.broadcast_to(jnp.asarray(bm.as_jax(x), V.dtype), V.shape)
                  for g, x in {**self._states(), **given}.items()}
        return states, V, inputs

    # ---- BrainPy's channel API ---------------------------------------------
    def reset_state(self, V, batch_size=None):
        self._reset(V, self._params(), batch_size)

    def update(self, V):
        self._step(V, self._params())

    def current(self, V):
        return self._current(V, self._params())


class IoncIonChannel(IoncChannel):
    """A BrainPy channel held by an ion node, whose step and current are ionc's kernels.
    The node passes its concentration ``C`` and reversal potential ``E`` on every call, as
    to BrainPy's own.  A channel gated by the concentration (its spec's input ``C``: the
    calcium-activated ones) reads ``C`` and keeps its own ``E``; the others take ``E`` as
    their parameter ``E`` and do not read ``C``."""

    def _from_node(self, C, E) -> tuple[dict, dict]:
        """The parameters and inputs of a call with the node's ``C`` and ``E``."""
        if "C" in self.ionc_class.spec.inputs:
            return self._params(), {"C": _array(C)}
        return {**self._params(), "E": _array(E)}, {}

    def reset_state(self, V, C, E, batch_size=None):
        params, inputs = self._from_node(C, E)
        self._reset(V, params, batch_size, inputs)

    def update(self, V, C, E):
        self._step(V, *self._from_node(C, E))

    def current(self, V, C, E):
        return self._current(V, *self._from_node(C, E))


class IoncKCaChannel(IoncChannel, KCaChannel):
    """A channel of a ``MixIons`` of calcium and potassium (``IAHP_De1994v2``): gated by
    the calcium node's ``C``, driven by the potassium node's ``E``; each node passes its
    ``{'C': ..., 'E': ...}``."""

    def _from_nodes(self, Ca_info, K_info) -> tuple[dict, dict]:
        return {**self._params(), "E": _array(K_info["E"])}, {"C": _array(Ca_info["C"])}

    def reset_state(self, V, Ca_info, K_info, batch_size=None):
        params, inputs = self._from_nodes(Ca_info, K_info)
        self._reset(V, params, batch_size, inputs)

    def update(self, V, Ca_info, K_info):
        self._step(V, *self._from_nodes(Ca_info, K_info))

    def current(self, V, Ca_info, K_info):
        return self._current(V, *self._from_nodes(Ca_info, K_info))


def _array(x):
    """A JAX array of a BrainPy variable or array (other values as they are)."""
    return bm.as_jax(x) if isinstance(x, (bm.Array, bm.Variable)) else x


def _floating(x) -> jax.Array:
    """``x`` as a JAX array of a floating type (an integer one in BrainPy's float)."""
    x = jnp.asarray(bm.as_jax(x))
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(bm.float_)


class IoncCalciumChannel(IoncIonChannel, bp.dyn.CalciumChannel):
    """A calcium channel of a calcium node (``brainpy.dyn.CalciumDetailed``, ...)."""


class IoncSodiumChannel(IoncIonChannel, bp.dyn.SodiumChannel):
    """A sodium channel of a sodium node (``brainpy.dyn.SodiumFixed``)."""


class IoncPotassiumChannel(IoncIonChannel, bp.dyn.PotassiumChannel):
    """A potassium channel of a potassium node (``brainpy.dyn.PotassiumFixed``)."""


#: BrainPy's default initial V of a CondNeuGroup.
_V_INITIALIZER = bp.init.Uniform(-70, -60.)


@lru_cache(maxsize=None)
def _neuron_spec(channels: tuple) -> NeuronSpec:
    """One NeuronSpec per ``((label, ionc class), ...)``: groups of the same channels
    share their lowering and their compiled ops."""
    return NeuronSpec("CondNeuGroup", {label: cls.spec for label, cls in channels})


def _channel_method(ch: IoncChannel) -> str:
    """The method a channel steps with on its own (a ``.mod`` file's when not given)."""
    nmodl = getattr(ch.ionc_class, "nmodl", None)
    return ch.method or getattr(nmodl, "method", None) or "exp_auto"


class CondNeuGroup(bp.dyn.CondNeuGroup):
    """``brainpy.dyn.CondNeuGroup`` (the same constructor) whose step is ionc's fused
    neuron kernel: every channel, the membrane and the spike test in one XLA custom
    call (:class:`ionc.jax.NeuronOps`), where BrainPy's group calls each channel
    in turn.  The channels must be ``ionc.brainpy`` channels, each once; their
    gates stay BrainPy variables, read and written every step, and their
    parameters are read every step as BrainPy's are.  The input variable, current
    inputs (synapses, at the pre-step V) and delta inputs behave as in BrainPy.
    A group that holds BrainPy's ion nodes, or no channel, steps as BrainPy's does
    (:meth:`fused`).  Refused: ``noise``, methods other than ``exp_auto`` (the
    group's and the channels'), and channels of BrainPy's own (put them in a
    ``brainpy.dyn.CondNeuGroup``).  A non-finite input raises, as ``ionc.brainpy``
    channels do; gradients through a step are a TypeError.
    """

    def __init__(self, size, keep_size: bool = False, C=1., A=1e-3, V_th=0.,
                 V_initializer=_V_INITIALIZER, noise=None, method: str = "exp_auto",
                 name: str | None = None, mode=None, init_var: bool = True,
                 input_var: bool = True, spk_type=None, **channels) -> None:
        if noise is not None:
            raise NotImplementedError("ionc.brainpy.CondNeuGroup has no noise; use "
                                      "brainpy.dyn.CondNeuGroup with ionc.brainpy channels")
        if method != "exp_auto":
            raise ValueError(f"ionc.brainpy.CondNeuGroup steps with exp_auto (BrainPy's "
                             f"default), got method {method!r}")
        _check_channels({k: c for k, c in channels.items() if isinstance(c, bp.dyn.IonChannel)})
        super().__init__(size, keep_size=keep_size, C=C, A=A, V_th=V_th,
                         V_initializer=V_initializer, method=method, name=name, mode=mode,
                         init_var=init_var, input_var=input_var, spk_type=spk_type, **channels)
        self._neuron_ops: dict = {}

    def _members(self) -> dict:
        """The group's channels and ion nodes by label: those given to the constructor and
        (BrainPy's subclass pattern) those assigned as attributes after
        ``super().__init__``."""
        members = dict(self.children)
        seen = {id(m) for m in members.values()}
        for label, node in vars(self).items():
            if isinstance(node, IonChaDyn) and id(node) not in seen:
                members[label] = node
                seen.add(id(node))
        return members

    def fused(self) -> bool:
        """Whether the group steps as one fused kernel: it holds ionc.brainpy channels
        only (at least one).  A group that holds BrainPy ion nodes (``CalciumDetailed``,
        ``SodiumFixed``, ``MixIons``, ... with ionc.brainpy channels in them) steps as
        BrainPy's group does, each node in turn, each ionc channel one custom call."""
        members = self._members()
        _check_channels({k: m for k, m in members.items() if isinstance(m, bp.dyn.IonChannel)})
        return bool(members) and all(isinstance(m, IoncChannel) for m in members.values())

    def _channels(self) -> dict:
        """The channels of the fused step by label (checked on every use)."""
        if not self.fused():
            raise ValueError(f"{type(self).__name__} holds ion nodes or no channel, and "
                             "steps as BrainPy's CondNeuGroup (see fused()); it has no fused ops")
        return self._members()

    def _params(self) -> dict:
        """Every parameter as it is now, keyed as :class:`~ionc.jax.NeuronOps` keys them."""
        out = {k: getattr(self, k) for k in ("C", "V_th")}
        for label, ch in self._channels().items():
            out.update({f"{label}.{p}": v for p, v in ch._params().items()})
        return {k: _array(v) for k, v in out.items()}

    def ops(self, dtype, params: dict | None = None) -> NeuronOps:
        """The :mod:`ionc.jax` functions of this group for ``dtype`` and for which of
        ``params`` (default: the present ones) are per neuron; the values themselves
        are passed per call.  Made from stand-ins of their shapes."""
        params = self._params() if params is None else params
        arrays = frozenset(k for k, v in params.items() if np.ndim(v))
        key = (jnp.dtype(dtype).name, arrays)
        if key not in self._neuron_ops:
            spec = _neuron_spec(tuple((label, ch.ionc_class)
                                      for label, ch in self._channels().items()))
            shapes = {k: np.ones(np.shape(v)) for k, v in params.items()}
            self._neuron_ops[key] = NeuronOps(spec, self.varshape, key[0], "exp_auto", shapes,
                                              name=self.name)
        return self._neuron_ops[key]

    def update(self, x=None):
        """One step with input ``x`` (added to the input variable, as BrainPy does);
        returns the spikes.  Fused unless the group holds ion nodes (:meth:`fused`)."""
        if not self.fused():
            return super().update(x)
        V_old = bm.as_jax(self.V.value)
        params, dt = self._params(), share["dt"]
        ops = self.ops(V_old.dtype, params)          # before anything changes state
        syn = self.sum_current_inputs(self.V.value, init=0.)
        x = 0. if x is None else x
        if self.input_var:
            self.input += x
            x = self.input.value
        I_ext = bm.as_jax(x * (1e-3 / self.A) + syn)
        states = {"V": V_old}
        channels = self._channels()
        for label, ch in channels.items():
            states.update({f"{label}.{g}": v for g, v in ch._states().items()})

        def step(states, I_ext):
            return ops.step(states, I_ext, dt, params=params)

        if V_old.ndim > len(self.varshape):                 # a batch axis in front
            step = jax.vmap(step)
        new, spike = step(states, jnp.broadcast_to(I_ext, V_old.shape))
        V = new["V"]
        if self.delta_inputs:                               # as BrainPy: V moves, then the test
            V = V + bm.as_jax(self.sum_delta_inputs())
            spike = jnp.logical_and(V >= bm.as_jax(self.V_th), V_old < bm.as_jax(self.V_th))
        for label, ch in channels.items():
            ch._set({g: new[f"{label}.{g}"] for g in ch._states()})
        self.spike.value = spike if self.spike.dtype == bool else spike.astype(self.spike.dtype)
        self.V.value = V
        return self.spike.value


def derived_parameters(spec) -> dict:
    """The quantities BrainPy's channel holds as attributes that ionc derives from the
    parameters: the temperature factor ``phi`` (``phi_p``, ``phi_q`` of gates with their
    own) where it is not a parameter, and the intermediates free of V and the states
    (``Ih_De1996``'s ``k1``, ``k3``, ``phi``)."""
    out = {}
    if spec.temperature_factor != 1:
        out["phi"] = spec.temperature_factor
    for g in spec.gates:
        if g.factor is not None and g.factor != 1:
            out[f"phi_{g.name}"] = g.factor
    moving = {"V", *spec.inputs, *(g.name for g in spec.gates)}
    for name, expr in spec.intermediates.items():
        if not {s.name for s in expr.free_symbols} & moving:
            out[name] = expr
    subs = {symbol(k): v for k, v in spec.intermediates.items()}
    return {k: e.subs(subs) for k, e in out.items()
            if k not in spec.parameters and not {s.name for s in e.subs(subs).free_symbols}
            - set(spec.parameters)}


def _derived_property(name: str, expr):
    """A read-only attribute: ``expr`` at the parameters as they are now."""
    symbols = sorted(expr.free_symbols, key=lambda s: s.name)
    f = sp.lambdify(symbols, expr, modules=[jnp])

    def get(self):
        params = self._params()
        return f(*(jnp.asarray(params[s.name]) for s in symbols))
    return property(get, doc=f"{name} = {expr} (from the parameters, as BrainPy's)")


def _rate_method(name: str, rate: str):
    """BrainPy's ``f_<gate>_<role>(V)``: ionc's rate ``<role>_<gate>`` at ``V`` with the
    parameters as they are now, its 0/0 points at their limits; differentiable in V by
    its exact derivative (``jax.grad`` is finite at the singular voltages too)."""
    def f(self, V):
        V = _floating(V)
        return self.ops(V.dtype).rate(rate, V, params=self._params())
    f.__name__ = name
    f.__doc__ = f"The rate {rate} at V (ionc's kernel; removable singularities exact)."
    return f


def _derivative_method(name: str, gate: str, signature: inspect.Signature | None = None):
    """BrainPy's ``dp(p, t, V)``: ``d gate/dt`` with the gate at ``p`` and the other states
    as they are now (ionc's derivative kernel).  With ``signature`` (BrainPy's own method's),
    the arguments are BrainPy's: the state, ``t``, then by name ``V``, ``C_Ca`` (the
    calcium concentration) and other states (``dOL(OL, t, O, P1)``).  Where BrainPy's
    method takes no V, its derivative does not read V, and the kernel is called at 0 mV."""
    names = list(signature.parameters)[1:] if signature is not None else ["p", "t", "V"]

    def d(self, *args, **kwargs):
        bound = dict(zip(names, args), **kwargs)
        bound.pop("t", None)
        named = {k: bound.pop(k) for k in ("V", "C_Ca") if k in bound}
        states, V, inputs = self._arguments({gate: bound.pop(names[0]), **bound}, named)
        return self.ops(V.dtype).derivative(gate, states, V, params=self._params(), **inputs)
    d.__name__ = name
    d.__doc__ = f"d{gate}/dt (ionc's kernel; t is not read)."
    if signature is not None:
        d.__signature__ = signature
    return d


def _check_channels(channels: dict) -> None:
    """ionc.brainpy channels only, each once, stepping with exp_auto."""
    for label, ch in channels.items():
        if not isinstance(ch, IoncChannel):
            raise TypeError(f"channel {label!r} is {type(ch).__name__}; "
                            "ionc.brainpy.CondNeuGroup takes ionc.brainpy channels "
                            "(ionc.brainpy.INa_HH1952, ionc.brainpy.channel(...))")
        if _channel_method(ch) not in ("exp_auto", "exp_euler"):
            raise ValueError(f"channel {label!r} steps with {_channel_method(ch)!r}; the "
                             "fused group steps every channel with exp_auto")
    if len({id(ch) for ch in channels.values()}) < len(channels):
        raise ValueError("one channel object appears under two labels; give each label "
                         "its own channel")


def _generic(self, size, keep_size: bool = False, method: str | None = None,
             name: str | None = None, mode=None, **parameters):
    """The constructor of :func:`channel`'s classes."""


_GENERIC = inspect.signature(_generic)


def channel(ionc_class: type[Channel]) -> type[IoncChannel]:
    """A BrainPy channel class running any ionc channel class: one made from a string, or
    from a NEURON ``.mod`` file (``ionc.from_nmodl``), whose currents then flow in a
    BrainPy ``CondNeuGroup`` with BrainPy's sign and units (uA/cm^2, inward positive).
    Its constructor is ``(size, keep_size=False, method=None, name=None, mode=None,
    **parameters)``; ``method`` defaults to the channel's (a ``.mod`` file's SOLVE)."""
    if not (isinstance(ionc_class, type) and issubclass(ionc_class, Channel)):
        raise TypeError(f"ionc.brainpy.channel takes an ionc channel class, got {ionc_class!r}")
    spec = ionc_class.spec
    if spec.inputs:
        raise TypeError(f"ionc.brainpy: {spec.name} reads {list(spec.inputs)} besides V; "
                        "channels that read an ion's concentration are not adapted yet")
    return type(spec.name, (IoncChannel,), dict(
        ionc_class=ionc_class, __module__=__name__,
        __doc__=f"ionc's {spec.name} as a BrainPy ion channel."))


def _base(name: str) -> type[IoncChannel]:
    """The ionc.brainpy base class of BrainPy's channel ``name``: by the node it sits in."""
    master = getattr(bp.dyn, name).master_type
    if getattr(master, "__args__", None):                 # a MixIons of several ions
        return IoncKCaChannel
    if name in CALCIUM_ADAPTED:     # as BrainPy's: IAHP_De1994 and Ih_De1996 are not calcium
        return (IoncCalciumChannel       # channels, so that a node's reset skips them, as there
                if issubclass(getattr(bp.dyn, name), bp.dyn.CalciumChannel) else IoncIonChannel)
    if name in ION_ADAPTED:
        return IoncSodiumChannel if issubclass(master, bp.dyn.Sodium) else IoncPotassiumChannel
    return IoncChannel


def adapter(name: str) -> type[IoncChannel]:
    """The BrainPy class of ``name``, one of BrainPy's channels: :data:`ADAPTED`,
    :data:`CALCIUM_ADAPTED` or :data:`ION_ADAPTED`."""
    names = (*ADAPTED, *CALCIUM_ADAPTED, *ION_ADAPTED)
    if name not in names:
        raise ValueError(f"ionc.brainpy adapts {names}; {name} is not among them")
    cls = type(name, (_base(name),), dict(
        ionc_class=getattr(_library, ION_ADAPTED.get(name, name)),
        brainpy_class=getattr(bp.dyn, name), master_type=getattr(bp.dyn, name).master_type,
        __doc__=f"``brainpy.dyn.{name}`` with ionc's compiled kernels (same constructor).",
        __module__=__name__))
    return cls


for _name in (*ADAPTED, *CALCIUM_ADAPTED, *ION_ADAPTED):
    globals()[_name] = adapter(_name)

__all__ = ["ADAPTED", "CALCIUM_ADAPTED", "ION_ADAPTED", "CondNeuGroup", "IoncCalciumChannel",
           "IoncChannel", "IoncIonChannel", "IoncKCaChannel", "IoncPotassiumChannel",
           "IoncSodiumChannel",
           "adapter", "channel", *ADAPTED, *CALCIUM_ADAPTED, *ION_ADAPTED]
