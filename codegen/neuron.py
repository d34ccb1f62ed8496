"""Neurons: several channels and a membrane equation lowered into one step.

A :class:`NeuronSpec` names its channels by label (``INa``, ``IK``, ``IL``)
and adds the membrane equation ``C dV/dt = I_ext + sum of channel currents``.
:func:`lower_neuron` builds the membrane's element function; the channels
keep theirs.  One step follows BrainPy's ``exp_auto`` for ``HH`` and
``CondNeuGroup``: every variable advances from the state at the start of the
step - the gates at the old V, and V by exponential Euler with the linear
coefficient ``-G/C``, ``G = -d(sum I)/dV``:

    V' = V + dt (I_ext + I) / C * exprel(-G dt / C)

States and parameters of channel ``INa`` are called ``INa_p``, ``INa_g_max``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Mapping

import sympy as sp

from .elements import ChannelModel, ElementFunction, lower_channel
from .functions import exprelr
from .spec import V, ChannelSpec, SpecError, dt, symbol

#: The external current density (uA/cm^2 for C in uF/cm^2), an input per step.
I_EXT = symbol("I_ext")
#: Sum of the channel currents and of their conductances, at the old state.
I_SUM, G_SUM = symbol("ionc_I"), symbol("ionc_G")
#: The membrane's own parameters and their defaults (BrainPy's HH).
MEMBRANE_PARAMETERS = {"C": 1.0, "V_th": 20.0}


@dataclass(frozen=True, eq=False)
class NeuronSpec:
    """Channels by label plus the membrane parameters ``C`` and ``V_th``."""

    name: str
    channels: Mapping[str, ChannelSpec]
    parameters: Mapping[str, float] = field(default_factory=lambda: dict(MEMBRANE_PARAMETERS))
    doc: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise SpecError(f"neuron name {self.name!r} is not an identifier")
        if not self.channels:
            raise SpecError(f"neuron {self.name!r} has no channels")
        if set(self.parameters) != set(MEMBRANE_PARAMETERS):
            raise SpecError(f"neuron {self.name!r}: parameters must be "
                            f"{sorted(MEMBRANE_PARAMETERS)}, got {sorted(self.parameters)}")
        for label, spec in self.channels.items():
            if not (label.isidentifier() and not label.startswith("ionc_")):
                raise SpecError(f"neuron {self.name!r}: channel label {label!r} is not a "
                                f"valid identifier")
            if not isinstance(spec, ChannelSpec):
                raise SpecError(f"neuron {self.name!r}: channel {label!r} is not a "
                                f"ChannelSpec: {spec!r}")
        names = [f"{label}_{n}" for label, spec in self.channels.items()
                 for n in (*spec.parameters, *(g.name for g in spec.gates))]
        clash = {n for n in names if names.count(n) > 1 or n in ("V", "I_ext", "C", "V_th")}
        if clash:
            raise SpecError(f"neuron {self.name!r}: labels make these names ambiguous: "
                            f"{sorted(clash)}; choose other labels")


@dataclass(frozen=True)
class NeuronModel:
    """A neuron after lowering: each channel's model and the membrane step."""

    spec: NeuronSpec
    method: str
    channels: dict[str, ChannelModel]
    membrane: ElementFunction

    @property
    def prefix(self) -> str:
        """Prefix of this neuron's C names."""
        return self.spec.name.lower()

    @property
    def states(self) -> tuple[str, ...]:
        """``V`` and every gate, as the kernels name them (``INa_p``)."""
        return ("V",) + tuple(f"{label}_{g}" for label, m in self.channels.items()
                              for g in m.gate_names)


def membrane_step(C: sp.Symbol, method: str) -> sp.Expr:
    """V after one step from the summed current ``ionc_I`` and conductance ``ionc_G``."""
    f = (I_EXT + I_SUM) / C
    if method == "euler":
        return V + dt * f
    # exprel(z) = 1/exprelr(z): exponential Euler, exact for a linear membrane
    return V + dt * f / exprelr(-G_SUM * dt / C)


@lru_cache(maxsize=None)
def lower_neuron(spec: NeuronSpec, method: str = "exp_auto") -> NeuronModel:
    """Lower every channel of ``spec`` and build the membrane's element function."""
    channels = {label: lower_channel(ch, method) for label, ch in spec.channels.items()}
    C = symbol("C")
    membrane = ElementFunction(
        f"{spec.name.lower()}_membrane", (V, dt, I_EXT, C, I_SUM, G_SUM), (),
        (("V", membrane_step(C, method)),),
        f"V after one {method} step of C dV/dt = I_ext + I, linear coefficient -G/C")
    return NeuronModel(spec, method, channels, membrane)
