"""The channels of the library as classes with BrainPy's signatures."""
from __future__ import annotations

from typing import Any

import numpy as np

from .channel import Channel
from .codegen import channels as specs


class INa_Ba2002(Channel):
    """Sodium current of Bazhenov et al. (2002), compiled by ionc.

    ``I = g_max p^3 q (E - V)``; ``dp/dt = phi (alpha_p (1 - p) - beta_p p)``,
    ``dq/dt = phi (alpha_q (1 - q) - beta_q q)``, ``phi = 3^((T - 36)/10)``,
    with ``alpha_p = 0.32 (x - 13)/(1 - exp(-(x - 13)/4))``,
    ``beta_p = -0.28 (x - 40)/(1 - exp((x - 40)/5))``,
    ``alpha_q = 0.128 exp(-(x - 17)/18)``, ``beta_q = 4/(1 + exp(-(x - 40)/5))``
    and ``x = V - V_sh``.  The 0/0 points of alpha_p (x = 13, limit 1.28) and
    beta_p (x = 40, limit 1.4) are found and removed by the compiler.

    Parameters follow BrainPy (``T``, ``E``, ``g_max``, ``V_sh``: a number, an
    array broadcastable to the shape, or a callable ``f(shape)``).  ionc adds
    ``dtype`` (``'float32'``/``'float64'``), ``target`` (``'cpu'``, ``'cuda'``,
    ``'numpy'``, ``'auto'``: the GPU if usable, else the CPU), ``nan_policy``
    (``'raise'``: a NaN or infinity in V is refused and the states are left unchanged;
    ``'propagate'``) and ``dt`` (ms, for ``update(V)``).  ``method='table'`` steps with
    error-bounded rate tables (``table_range``, ``table_rtol``, ``table_degree``; see
    :mod:`ionc.codegen.tables`).
    """

    spec = specs.INa_Ba2002

    def __init__(self, size, keep_size: bool = False, T: Any = 36., E: Any = 50.,
                 g_max: Any = 90., V_sh: Any = -50., method: str = "exp_auto",
                 name: str | None = None, mode: Any = None, *, dtype: str = "float64",
                 target: str = "cpu", nan_policy: str = "raise", dt: float = 0.1,
                 table_range: tuple[float, float] | None = None, table_rtol: float | None = None,
                 table_degree: int | None = None):
        super().__init__(size, keep_size, method, name, mode, dtype=dtype, target=target,
                         nan_policy=nan_policy, dt=dt, T=T, E=E, g_max=g_max, V_sh=V_sh,
                         table_range=table_range, table_rtol=table_rtol,
                         table_degree=table_degree)


#: BrainPy keywords that give temperature factors directly, by channel: each keyword's
#: base parameter (of a factor ``base ** ((T - offset)/10)``), and the offset.
PHI_KEYWORDS = {"IKDR_Ba2002": ({"phi": "T_base"}, 36.0),
                "ICaT_HP1992": ({"phi_p": "T_base_p", "phi_q": "T_base_q"}, 24.0),
                "ICaHT_Re1993": ({"phi_p": "T_base_p", "phi_q": "T_base_q"}, 23.0),
                "Ih_De1996": ({"phi": "T_base"}, 24.0)}


def phi_as_parameters(name: str, values: dict) -> dict:
    """``values`` with BrainPy's ``phi=`` (``phi_p=``, ``phi_q=``), where given and not None,
    as the parameters that give those factors: ``T = offset + 10``, so that each factor is
    its base to the power 1.0 (exactly the base), and each base the keyword's value, or
    the factor the given ``T`` makes of it (BrainPy, too, lets ``phi`` override ``T``)."""
    if name not in PHI_KEYWORDS:
        return values
    keywords, offset = PHI_KEYWORDS[name]
    values = dict(values)
    given = {k: values.pop(k) for k in keywords if k in values}
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return values
    defaults = getattr(specs, name).parameters
    T = np.asarray(values.get("T", defaults["T"]), dtype=float)
    for key, base in keywords.items():
        values[base] = given[key] if key in given else (
            np.asarray(values.get(base, defaults[base]), dtype=float) ** ((T - offset) / 10))
    values["T"] = offset + 10
    return values


def library_class(spec, positional: list[str] | None = None) -> type[Channel]:
    """A channel class for ``spec`` with BrainPy's signature:
    ``(size, keep_size=False, <parameters in order>, method, name, mode, *, dtype, target, ...)``.

    ``positional`` names the parameters BrainPy takes by position where they
    differ from the spec's order; the others (and method, name, mode) are
    then keyword-only, so that no BrainPy call binds a value to the wrong name.
    """
    names = list(spec.parameters) + ["method", "name", "mode"]
    positional = names if positional is None else list(positional)

    def __init__(self, size, keep_size: bool = False, *args, **kwargs):
        if len(args) > len(positional):
            raise TypeError(f"{spec.name}() takes at most {len(positional) + 2} positional "
                            f"arguments")
        for key, value in zip(positional, args):
            if key in kwargs:
                raise TypeError(f"{spec.name}() got multiple values for {key!r}")
            kwargs[key] = value
        kwargs = phi_as_parameters(spec.name, kwargs)
        Channel.__init__(self, size, keep_size, kwargs.pop("method", "exp_auto"),
                         kwargs.pop("name", None), kwargs.pop("mode", None), **kwargs)

    doc = (f"{spec.doc}\n\nParameters (BrainPy's names and defaults): "
           + ", ".join(f"{k}={v}" for k, v in spec.parameters.items())
           + ". ionc adds dtype, target, nan_policy, dt and the table_* options as for "
           "INa_Ba2002.")
    return type(spec.name, (Channel,), {"spec": spec, "__init__": __init__, "__doc__": doc,
                                        "__module__": __name__})


IKDR_Ba2002 = library_class(specs.IKDR_Ba2002, positional=[
    "E", "g_max", "V_sh", "T_base", "T", "phi", "method", "name", "mode"])
INa_HH1952 = library_class(specs.INa_HH1952)
IK_HH1952 = library_class(specs.IK_HH1952)
INa_TM1991 = library_class(specs.INa_TM1991)
IK_TM1991 = library_class(specs.IK_TM1991)
IL = library_class(specs.IL)
Ih_HM1992 = library_class(specs.Ih_HM1992)
IKA1_HM1992 = library_class(specs.IKA1_HM1992)
IKA2_HM1992 = library_class(specs.IKA2_HM1992)
IKK2A_HM1992 = library_class(specs.IKK2A_HM1992)
IKK2B_HM1992 = library_class(specs.IKK2B_HM1992)
IKNI_Ya1989 = library_class(specs.IKNI_Ya1989)
IKL = library_class(specs.IKL)
_CA_ORDER = ["T", "T_base_p", "T_base_q", "g_max", "V_sh", "method", "name", "mode"]
ICaT_HM1992 = library_class(specs.ICaT_HM1992, positional=_CA_ORDER)
ICaT_HP1992 = library_class(specs.ICaT_HP1992, positional=[
    "T", "T_base_p", "T_base_q", "g_max", "V_sh", "phi_p", "phi_q", "method", "name", "mode"])
ICaHT_HM1992 = library_class(specs.ICaHT_HM1992, positional=_CA_ORDER)
ICaHT_Re1993 = library_class(specs.ICaHT_Re1993, positional=[
    "T", "T_base_p", "T_base_q", "phi_p", "phi_q", "g_max", "V_sh", "method", "name", "mode"])
ICaL_IS2008 = library_class(specs.ICaL_IS2008, positional=_CA_ORDER)
#: The channels gated by their calcium node's concentration C (an input; a cell's cai)
ICaN_IS2008 = library_class(specs.ICaN_IS2008)
IAHP_De1994 = library_class(specs.IAHP_De1994)
Ih_De1996 = library_class(specs.Ih_De1996, positional=[
    "E", "k2", "k4", "V_sh", "g_max", "g_inc", "Ca_half", "T", "T_base", "phi", "method",
    "name", "mode"])
#: BrainPy's calcium nodes as cell mechanisms (put them in a CondNeuGroup beside the
#: calcium channels, which BrainPy nests inside the node instead)
CalciumDetailed = library_class(specs.CalciumDetailed)
CalciumFirstOrder = library_class(specs.CalciumFirstOrder)
