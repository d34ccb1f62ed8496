"""The channel library: one :class:`~ionc.codegen.spec.ChannelSpec` per channel.

Each spec transcribes BrainPy's formulas (``brainpy.dyn``) with BrainPy's
parameter names and defaults; nothing else in ionc knows about any channel.
"""
from __future__ import annotations

import sympy as sp

from .spec import ChannelSpec, Gate, V, symbol

T, E, g_max, V_sh, x = (symbol(n) for n in ("T", "E", "g_max", "V_sh", "x"))
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

#: Every channel in the library, by name.
LIBRARY: dict[str, ChannelSpec] = {spec.name: spec for spec in (INa_Ba2002,)}


def get_channel(name: str) -> ChannelSpec:
    """The library spec called ``name`` (a clear error lists the known ones)."""
    try:
        return LIBRARY[name]
    except KeyError:
        raise KeyError(f"unknown channel {name!r}; known channels: {sorted(LIBRARY)}") from None
