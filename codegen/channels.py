"""The channel library: one :class:`~ionc.codegen.spec.ChannelSpec` per channel.

Each spec transcribes BrainPy's formulas (``brainpy.dyn``) with BrainPy's
parameter names and defaults; nothing else in ionc knows about any channel.
"""
from __future__ import annotations

import sympy as sp

from .spec import ChannelSpec, Gate, V, symbol

T, T_base, E, g_max, V_sh, x, phi = (
    symbol(n) for n in ("T", "T_base", "E", "g_max", "V_sh", "x", "phi"))
p, q = symbol("p"), symbol("q")

INa_Ba2002 = ChannelSpec(
    name="INa_Ba2002",
    doc="Sodium current of Bazhenov et al. (2002), J. Neurosci. 22(19):8691.",
    parameters={"T": 36.0, "E": 50.0, "g_max": 90.0, "V_sh": -50.0},
    intermediates={"x": V - V_sh},
    gates=(
        Gate("p", power=3,
             alpha=0.32 * (x - 13) / (1 - sp.exp(-(x - 13) / 4)),
             beta=-0.28 * (x - 40) / (1 - sp.exp((x - 40) / 5))),
        Gate("q", power=1,
             alpha=0.128 * sp.exp(-(x - 17) / 18),
             beta=4 / (1 + sp.exp(-(x - 40) / 5))),
    ),
    temperature_factor=sp.Integer(3) ** ((T - 36) / 10),
    current=g_max * p**3 * q * (E - V),
)



def _na_p3q(name, doc, defaults, p_alpha, p_beta, q_alpha, q_beta, factor=phi):
    """A sodium channel I = g_max p^3 q (E - V) with BrainPy's _INa_p3q_markov form."""
    return ChannelSpec(name=name, doc=doc, parameters=defaults, intermediates={"x": V - V_sh},
                       gates=(Gate("p", power=3, alpha=p_alpha, beta=p_beta),
                              Gate("q", power=1, alpha=q_alpha, beta=q_beta)),
                       temperature_factor=factor, current=g_max * p**3 * q * (E - V))


def _k_p4(name, doc, defaults, p_alpha, p_beta, factor=phi):
    """A potassium channel I = g_max p^4 (E - V) with BrainPy's _IK_p4_markov form."""
    return ChannelSpec(name=name, doc=doc, parameters=defaults, intermediates={"x": V - V_sh},
                       gates=(Gate("p", power=4, alpha=p_alpha, beta=p_beta),),
                       temperature_factor=factor, current=g_max * p**4 * (E - V))


IKDR_Ba2002 = _k_p4(
    "IKDR_Ba2002", "Delayed-rectifier potassium current of Bazhenov et al. (2002). BrainPy "
    "also accepts phi directly; here phi = T_base^((T - 36)/10).",
    {"E": -90.0, "g_max": 10.0, "V_sh": -50.0, "T_base": 3.0, "T": 36.0},
    0.032 * (x - 15) / (1 - sp.exp(-(x - 15) / 5)), 0.5 * sp.exp(-(x - 10) / 40),
    factor=T_base ** ((T - 36) / 10))

INa_HH1952 = _na_p3q(
    "INa_HH1952", "Sodium current of Hodgkin and Huxley (1952), shifted by V_sh.",
    {"E": 50.0, "g_max": 120.0, "phi": 1.0, "V_sh": -45.0},
    0.1 * (x - 5) / (1 - sp.exp(-(x - 5) / 10)), 4 * sp.exp(-(x + 20) / 18),
    0.07 * sp.exp(-(x + 20) / 20), 1 / (1 + sp.exp(-(x - 10) / 10)))

IK_HH1952 = _k_p4(
    "IK_HH1952", "Potassium current of Hodgkin and Huxley (1952), shifted by V_sh.",
    {"E": -90.0, "g_max": 10.0, "phi": 1.0, "V_sh": -45.0},
    0.01 * (x + 10) / (1 - sp.exp(-(x + 10) / 10)), 0.125 * sp.exp(-(x + 20) / 80))

INa_TM1991 = _na_p3q(
    "INa_TM1991", "Sodium current of Traub and Miles (1991).",
    {"E": 50.0, "g_max": 120.0, "phi": 1.0, "V_sh": -63.0},
    0.32 * (x - 13) / (1 - sp.exp(-(x - 13) / 4)), 0.28 * (x - 40) / (sp.exp((x - 40) / 5) - 1),
    0.128 * sp.exp((17 - x) / 18), 4 / (1 + sp.exp(-(x - 40) / 5)))

IK_TM1991 = _k_p4(
    "IK_TM1991", "Potassium current of Traub and Miles (1991).",
    {"E": -90.0, "g_max": 10.0, "phi": 1.0, "V_sh": -60.0},
    0.032 * (x - 15) / (1 - sp.exp(-(x - 15) / 5)), 0.5 * sp.exp((10 - x) / 40))

IL = ChannelSpec(
    name="IL", doc="Leak current I = g_max (E - V) (BrainPy's IL; no gates).",
    parameters={"g_max": 0.1, "E": -70.0}, gates=(), current=g_max * (E - V))

#: Every channel in the library, by name.
LIBRARY: dict[str, ChannelSpec] = {spec.name: spec for spec in (
    INa_Ba2002, IKDR_Ba2002, INa_HH1952, IK_HH1952, INa_TM1991, IK_TM1991, IL)}


def get_channel(name: str) -> ChannelSpec:
    """The library spec called ``name`` (a clear error lists the known ones)."""
    try:
        return LIBRARY[name]
    except KeyError:
        raise KeyError(f"unknown channel {name!r}; known channels: {sorted(LIBRARY)}") from None
