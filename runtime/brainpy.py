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
``current(V)``) is the one BrainPy has had since 2.4.  Channels with a
calcium master (``ICaT_HM1992`` and kin) read the ion's concentration through
BrainPy's ion machinery and are not adapted yet.  :func:`channel` makes a
BrainPy class of any other ionc channel class, ``.mod`` files included.
"""
from __future__ import annotations

import inspect
from typing import ClassVar

try:
    import brainpy as bp
    import brainpy.math as bm
    from brainpy.context import share
    from brainpy.initialize import parameter, variable
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("ionc.brainpy needs BrainPy: pip install brainpy") from exc

import jax.numpy as jnp

from . import channels as _library
from .channel import Channel
from .jax import ChannelOps

#: BrainPy's own keywords of a channel constructor (not channel parameters).
_KEYWORDS = ("size", "keep_size", "method", "name", "mode")
#: The channels adapted: those whose master is the neuron (they read only V).
ADAPTED = ("INa_Ba2002", "INa_TM1991", "INa_HH1952", "IKDR_Ba2002", "IK_TM1991", "IK_HH1952",
           "IKA1_HM1992", "Ih_HM1992", "IL")


class IoncChannel(bp.dyn.IonChannel):
    """A BrainPy ion channel whose step and current are ionc's compiled kernels."""

    ionc_class: ClassVar[type[Channel]]
    #: The BrainPy class whose constructor this one takes (None: :func:`channel`'s).
    brainpy_class: ClassVar[type | None] = None

    def __init__(self, *args, **kwargs):
        if self.brainpy_class is not None:
            bound = inspect.signature(self.brainpy_class.__init__).bind(self, *args, **kwargs)
        else:
            bound = _GENERIC.bind(self, *args, **kwargs)
        bound.apply_defaults()
        given = dict(bound.arguments)
        given.pop("self")
        given.update(given.pop("parameters", {}))
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
        return {p: (bm.as_jax(v) if isinstance(v, (bm.Array, bm.Variable)) else v)
                for p, v in ((p, getattr(self, p)) for p in self._values)}

    def _states(self) -> dict:
        return {g.name: bm.as_jax(getattr(self, g.name).value) for g in self.ionc_class.spec.gates}

    def _set(self, states: dict) -> None:
        for g, value in states.items():
            getattr(self, g).value = value

    # ---- BrainPy's channel API ---------------------------------------------
    def reset_state(self, V, batch_size=None):
        V = bm.as_jax(V)
        self._set(self.ops(V.dtype).steady_state(V, params=self._params()))
        if isinstance(batch_size, int):
            for g in self.ionc_class.spec.gates:
                assert getattr(self, g.name).shape[0] == batch_size

    def update(self, V):
        V = bm.as_jax(V)
        self._set(self.ops(V.dtype).step(self._states(), V, share["dt"], params=self._params()))

    def current(self, V):
        V = bm.as_jax(V)
        return self.ops(V.dtype).current(self._states(), V, params=self._params())


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


def adapter(name: str) -> type[IoncChannel]:
    """The BrainPy class of library channel ``name`` (one of :data:`ADAPTED`)."""
    if name not in ADAPTED:
        raise ValueError(f"ionc.brainpy adapts {ADAPTED}; {name} is not among them")
    cls = type(name, (IoncChannel,), dict(
        ionc_class=getattr(_library, name), brainpy_class=getattr(bp.dyn, name),
        __doc__=f"``brainpy.dyn.{name}`` with ionc's compiled kernels (same constructor).",
        __module__=__name__))
    return cls


for _name in ADAPTED:
    globals()[_name] = adapter(_name)

__all__ = ["ADAPTED", "IoncChannel", "adapter", "channel", *ADAPTED]
