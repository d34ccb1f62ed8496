"""The channel library: one :class:`~ionc.codegen.spec.ChannelSpec` per channel.

Each spec transcribes BrainPy's formulas (``brainpy.dyn``) with BrainPy's
parameter names and defaults; nothing else in ionc knows about any channel.
"""
from __future__ import annotations

import math

import sympy as sp

from .spec import ChannelSpec, Gate, Ion, V, symbol

T, T_base, E, g_max, V_sh, x, phi = (
    symbol(n) for n in ("T", "T_base", "E", "g_max", "V_sh", "x", "phi"))
phi_p, phi_q, T_base_p, T_base_q = (symbol(n) for n in ("phi_p", "phi_q", "T_base_p", "T_base_q"))
p, q = symbol("p"), symbol("q")
#: The calcium concentration (mM) of a calcium node
C = symbol("C")


def R(decimal: str) -> sp.Rational:
    """The exact rational of a decimal constant as written in the paper (``R("8.5")``)."""
    return sp.Rational(decimal)

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

Ih_HM1992 = ChannelSpec(
    name="Ih_HM1992",
    doc="Hyperpolarisation-activated cation current of Huguenard and McCormick (1992): "
        "I = g_max p (E - V).",
    parameters={"g_max": 10.0, "E": 43.0, "phi": 1.0},
    gates=(Gate("p", inf=1 / (1 + sp.exp((V + 75) / R("5.5"))),
                tau=1 / (sp.exp(-R("0.086") * V - R("14.59"))
                         + sp.exp(R("0.0701") * V - R("1.87")))),),
    temperature_factor=phi, current=g_max * p * (E - V))

def _ika_p4q(name, doc, g_default, p_inf):
    """An A-type potassium current of Huguenard and McCormick (1992) as BrainPy's
    ``_IKA_p4q_ss``: I = g_max p^4 q (E - V), tau_q piecewise at V = V_sh - 63."""
    return ChannelSpec(
        name=name, doc=doc,
        parameters={"E": -90.0, "g_max": g_default, "V_sh": 0.0, "phi_p": 1.0, "phi_q": 1.0},
        intermediates={"x": V - V_sh},
        gates=(
            Gate("p", power=4, factor=phi_p, inf=p_inf,
                 tau=1 / (sp.exp((x + R("35.8")) / R("19.7"))
                          + sp.exp(-(x + R("79.7")) / R("12.7"))) + R("0.37")),
            Gate("q", power=1, factor=phi_q,
                 inf=1 / (1 + sp.exp((x + 78) / 6)),
                 tau=sp.Piecewise(
                     (1 / (sp.exp((x + 46) / 5) + sp.exp(-(x + 238) / R("37.5"))),
                      V < V_sh - 63),
                     (sp.Integer(19), True))),
        ),
        current=g_max * p**4 * q * (E - V))


IKA1_HM1992 = _ika_p4q(
    "IKA1_HM1992", "Rapidly inactivating potassium current IA1 of Huguenard and McCormick "
    "(1992): I = g_max p^4 q (E - V); tau_q is piecewise at V = V_sh - 63.",
    30.0, 1 / (1 + sp.exp(-(x + 60) / R("8.5"))))

IKA2_HM1992 = _ika_p4q(
    "IKA2_HM1992", "Rapidly inactivating potassium current IA2 of Huguenard and McCormick "
    "(1992): IA1's kinetics with p_inf = 1/(1 + exp(-(x + 36)/20)).",
    20.0, 1 / (1 + sp.exp(-(x + 36) / 20)))


def _ikk2_pq(name, doc, q_tau):
    """A slowly inactivating potassium current of Huguenard and Prince as BrainPy's
    ``_IKK2_pq_ss``: I = g_max p q (E - V)."""
    return ChannelSpec(
        name=name, doc=doc,
        parameters={"E": -90.0, "g_max": 10.0, "V_sh": 0.0, "phi_p": 1.0, "phi_q": 1.0},
        intermediates={"x": V - V_sh},
        gates=(
            Gate("p", power=1, factor=phi_p, inf=1 / (1 + sp.exp(-(x + 43) / 17)),
                 tau=1 / (sp.exp((x - 81) / R("25.6")) + sp.exp(-(x + 132) / 18)) + R("9.9")),
            Gate("q", power=1, factor=phi_q, inf=1 / (1 + sp.exp((x + 58) / R("10.6"))),
                 tau=q_tau),
        ),
        current=g_max * p * q * (E - V))


_IKK2_Q_TAU = 1 / (sp.exp((x - 1329) / 200) + sp.exp(-(x + 130) / R("7.1")))
IKK2A_HM1992 = _ikk2_pq(
    "IKK2A_HM1992", "Slowly inactivating potassium current IK2a of Huguenard and McCormick "
    "(1992): I = g_max p q (E - V).", _IKK2_Q_TAU)
IKK2B_HM1992 = _ikk2_pq(
    "IKK2B_HM1992", "Slowly inactivating potassium current IK2b of Huguenard and McCormick "
    "(1992): IK2a's kinetics with tau_q = 8.9 ms from V = V_sh - 70 up.",
    sp.Piecewise((_IKK2_Q_TAU, V < V_sh - 70), (R("8.9"), True)))

tau_max = symbol("tau_max")
IKNI_Ya1989 = ChannelSpec(
    name="IKNI_Ya1989",
    doc="Slow non-inactivating potassium current of Yamada et al. (1989): I = g_max p (E - V), "
        "tau_p = tau_max/(3.3 exp((x + 35)/20) + exp(-(x + 35)/20)). BrainPy's phi_q is "
        "accepted and unused, as there.",
    parameters={"E": -90.0, "g_max": 0.004, "phi_p": 1.0, "phi_q": 1.0, "tau_max": 4e3,
                "V_sh": 0.0},
    intermediates={"x": V - V_sh},
    gates=(Gate("p", power=1, factor=phi_p, inf=1 / (1 + sp.exp(-(x + 35) / 10)),
                tau=tau_max / (R("3.3") * sp.exp((x + 35) / 20) + sp.exp(-(x + 35) / 20))),),
    current=g_max * p * (E - V))

IKL = ChannelSpec(
    name="IKL", doc="Potassium leak current I = g_max (E - V) (BrainPy's IKL; no gates).",
    parameters={"g_max": 0.005, "E": -90.0}, gates=(), current=g_max * (E - V))

def _ca_p2q(name: str, doc: str, defaults: dict, p_rates: dict, q_rates: dict,
            offset: int = 24) -> ChannelSpec:
    """A calcium channel I = g_max p^2 q (E - V) of BrainPy's _ICa_p2q forms, each gate with
    its own factor T_base_<gate>^((T - offset)/10); ``p_rates``, ``q_rates``: inf/tau or
    alpha/beta.  Under a calcium node (CalciumDetailed, ...) E is the node's, and the
    current is calcium's."""
    current = g_max * p**2 * q * (E - V)
    return ChannelSpec(
        name=name, doc=doc, parameters={"T": 36.0, **defaults, "E": 120.0},
        intermediates={"x": V - V_sh},
        gates=(Gate("p", power=2, factor=T_base_p ** ((T - offset) / 10), **p_rates),
               Gate("q", power=1, factor=T_base_q ** ((T - offset) / 10), **q_rates)),
        current=current,
        ions=(Ion("ca", reads=("eca",), current=True, names={"eca": "E"}),),
        ion_currents={"ca": current})


_CA_DOC = (" BrainPy passes the calcium reversal E (and the concentration C, which these "
           "gates do not use) on every call from its calcium node; here E is a parameter, "
           "scalar or per neuron, default 120 mV.")

#: The p and q gates of Huguenard and McCormick (1992), low- and high-threshold alike.
_HM1992_GATES = (
    dict(inf=1 / (1 + sp.exp(-(x + 59) / R("6.2"))),
         tau=1 / (sp.exp(-(x + 132) / R("16.7")) + sp.exp((x + R("16.8")) / R("18.2")))
         + R("0.612")),
    dict(inf=1 / (1 + sp.exp((x + 83) / 4)),
         tau=sp.Piecewise((sp.exp(-(x + 22) / R("10.5")) + 28, V >= V_sh - 80),
                          (sp.exp((x + 467) / R("66.6")), True))))

ICaT_HM1992 = _ca_p2q(
    "ICaT_HM1992",
    "Low-threshold T-type calcium current of Huguenard and McCormick (1992): "
    "I = g_max p^2 q (E - V), phi_p = T_base_p^((T - 24)/10), phi_q = "
    "T_base_q^((T - 24)/10)." + _CA_DOC,
    {"T_base_p": 3.55, "T_base_q": 3.0, "g_max": 2.0, "V_sh": -3.0},
    *_HM1992_GATES)

ICaT_HP1992 = _ca_p2q(
    "ICaT_HP1992",
    "Low-threshold T-type calcium current of the thalamic reticular nucleus, Huguenard and "
    "Prince (1992): I = g_max p^2 q (E - V), phi_p = T_base_p^((T - 24)/10), phi_q = "
    "T_base_q^((T - 24)/10) (BrainPy's phi_p, phi_q set them directly)." + _CA_DOC,
    {"T_base_p": 5.0, "T_base_q": 3.0, "g_max": 1.75, "V_sh": -3.0},
    dict(inf=1 / (1 + sp.exp(-(x + 52) / R("7.4"))),
         tau=3 + 1 / (sp.exp((x + 27) / 10) + sp.exp(-(x + 102) / 15))),
    dict(inf=1 / (1 + sp.exp((x + 80) / 5)),
         tau=85 + 1 / (sp.exp((x + 48) / 4) + sp.exp(-(x + 407) / 50))))

ICaHT_HM1992 = _ca_p2q(
    "ICaHT_HM1992",
    "High-threshold T-type calcium current of Huguenard and McCormick (1992): ICaT_HM1992's "
    "gates with V_sh = 25 mV by default." + _CA_DOC,
    {"T_base_p": 3.55, "T_base_q": 3.0, "g_max": 2.0, "V_sh": 25.0},
    *_HM1992_GATES)

ICaHT_Re1993 = _ca_p2q(
    "ICaHT_Re1993",
    "High-threshold calcium current of Reuveni et al. (1993): I = g_max p^2 q (E - V), "
    "rates measured at 36 C, phi_p = T_base_p^((T - 23)/10), phi_q = T_base_q^((T - 23)/10) "
    "(BrainPy's phi_p, phi_q set them directly); alpha_p's 0/0 at V = V_sh - 27 is "
    "removed." + _CA_DOC,
    {"T_base_p": 2.3, "T_base_q": 2.3, "g_max": 1.0, "V_sh": 0.0},
    dict(alpha=R("0.055") * (-27 - x) / (sp.exp((-27 - x) / R("3.8")) - 1),
         beta=R("0.94") * sp.exp((-75 - x) / 17)),
    dict(alpha=R("0.000457") * sp.exp((-13 - x) / 50),
         beta=R("0.0065") / (sp.exp((-15 - x) / 28) + 1)),
    offset=23)

ICaL_IS2008 = _ca_p2q(
    "ICaL_IS2008",
    "L-type calcium current of Inoue and Strowbridge (2008): I = g_max p^2 q (E - V), "
    "phi_p = T_base_p^((T - 24)/10), phi_q = T_base_q^((T - 24)/10)." + _CA_DOC,
    {"T_base_p": 3.55, "T_base_q": 3.0, "g_max": 1.0, "V_sh": 0.0},
    dict(inf=1 / (1 + sp.exp(-(x + 10) / 4)),
         tau=R("0.4") + R("0.7") / (sp.exp(-(x + 5) / 15) + sp.exp((x + 5) / 15))),
    dict(inf=1 / (1 + sp.exp((x + 25) / 2)),
         tau=300 + 100 / (sp.exp((x + 40) / R("9.5")) + sp.exp(-(x + 40) / R("9.5")))))

# ---- channels gated by the calcium concentration C of their node ------------------------
#: The calcium concentration (mM) of the node a channel sits in: an input, the cell's
#: ``cai`` in a cell.  BrainPy's node sums the current of every channel it holds into its
#: calcium current, whatever ion carries it; these specs do the same, so that a cell of
#: ionc mechanisms is BrainPy's model.
_C_INPUT = {"C": 2.4e-4}
_C_DOC = (" C is the calcium concentration (mM) of its calcium node: BrainPy passes it on "
          "every call; in a cell it is cai. As in BrainPy's node, the current counts in the "
          "node's calcium current.")


def _calcium_gated(name: str, doc: str, parameters: dict, gates: tuple, current,
                   **fields) -> ChannelSpec:
    """A channel of a calcium node that reads the node's concentration C."""
    return ChannelSpec(
        name=name, doc=doc + _C_DOC, parameters=parameters, inputs=_C_INPUT,
        gates=gates, current=current, **fields,
        ions=(Ion("ca", reads=("cai",), current=True, names={"cai": "C"}),),
        ion_currents={"ca": current})


n_C, k1, k2, k3, k4 = (symbol(s) for s in ("n", "k1", "k2", "k3", "k4"))
alpha_C, beta_C = symbol("alpha"), symbol("beta")

ICaN_IS2008 = _calcium_gated(
    "ICaN_IS2008",
    "Calcium-activated non-selective cation current of Inoue and Strowbridge (2008): "
    "I = g_max C/(C + 0.2) p (E - V), dp/dt = phi (p_inf - p)/tau_p.",
    {"E": 10.0, "g_max": 1.0, "phi": 1.0},
    (Gate("p", factor=phi, inf=1 / (1 + sp.exp(-(V + 43) / R("5.2"))),
          tau=R("2.7") / (sp.exp(-(V + 55) / 15) + sp.exp((V + 55) / 15)) + R("1.6")),),
    g_max * C / (C + R("0.2")) * p * (E - V))

IAHP_De1994 = _calcium_gated(
    "IAHP_De1994",
    "Calcium-dependent potassium current of Destexhe et al. (1994): I = g_max p^2 (E - V), "
    "dp/dt = phi (alpha C^n (1 - p) - beta p).",
    {"E": -95.0, "n": 2.0, "g_max": 10.0, "alpha": 48.0, "beta": 0.09, "phi": 1.0},
    (Gate("p", power=2, factor=phi, alpha=alpha_C * C**n_C, beta=beta_C),),
    g_max * p**2 * (E - V))

O, OL, P1 = symbol("O"), symbol("OL"), symbol("P1")
_IH_U = sp.exp((V + 75 - V_sh) / R("5.5"))          # (1 - inf)/inf, inf = 1/(1 + _IH_U)
_IH_TAU = (20 + 1000 / (sp.exp((V + R("71.5") - V_sh) / R("14.2"))
                        + sp.exp(-(V + 89 - V_sh) / R("11.6")))) / phi
_IH_ALPHA, _IH_BETA = 1 / ((1 + _IH_U) * _IH_TAU), _IH_U / ((1 + _IH_U) * _IH_TAU)
#: BrainPy's initial P1 = k1 C^4/(k1 C^4 + k2), with k1 = k2/Ca_half^4
_IH_P1_INF = C**4 / (C**4 + symbol("Ca_half")**4)
#: BrainPy's initial O = alpha/(alpha + alpha k3 P1/k4 + beta), with beta/alpha = _IH_U
#: and k3/k4 = 100
_IH_O_INF = 1 / (1 + 100 * _IH_P1_INF + _IH_U)
Ih_De1996 = _calcium_gated(
    "Ih_De1996",
    "Hyperpolarisation-activated cation current of Destexhe et al. (1996): "
    "I = g_max (O + g_inc OL) (E - V); dO/dt = alpha (1 - O - OL) - beta O with "
    "alpha = inf/tau, beta = (1 - inf)/tau, dOL/dt = k3 P1 O - k4 OL, "
    "dP1/dt = k1 C^4 (1 - P1) - k2 P1, k1 = k2/Ca_half^4, k3 = k4/0.01, "
    "phi = T_base^((T - 24)/10) (BrainPy's phi sets it directly).",
    {"E": -40.0, "k2": 4e-4, "k4": 1e-3, "V_sh": 0.0, "g_max": 0.02, "g_inc": 2.0,
     "Ca_half": 2e-3, "T": 36.0, "T_base": 3.0},
    (Gate("O", ode=_IH_ALPHA * (1 - O - OL) - _IH_BETA * O, initial=_IH_O_INF),
     Gate("OL", ode=k3 * P1 * O - k4 * OL, initial=100 * _IH_P1_INF * _IH_O_INF),
     Gate("P1", ode=k1 * C**4 * (1 - P1) - k2 * P1, initial=_IH_P1_INF)),
    g_max * (O + symbol("g_inc") * OL) * (E - V),
    rates={"inf": 1 / (1 + _IH_U), "tau": _IH_TAU},     # BrainPy's f_inf, f_tau
    intermediates={"phi": T_base ** ((T - 24) / 10), "k1": k2 / symbol("Ca_half") ** 4,
                   "k3": k4 / R("0.01")})

# ---- BrainPy's calcium nodes (brainpy.dyn.CalciumDetailed, CalciumFirstOrder) ----------
#: BrainPy's constants of its calcium nodes: R (J/(mol K)) and F (C/mmol).
R_BRAINPY, F_BRAINPY = R("8.31441"), R("96.489")
C0, ica = symbol("C0"), symbol("ica")


def _calcium_node(name: str, doc: str, parameters: dict, rate) -> ChannelSpec:
    """A calcium node as a mechanism: its concentration ``C`` is the cell's ``cai``, driven
    by the cell's calcium current (``ica``, NEURON's mA/cm^2, outward: BrainPy's ``I_Ca`` is
    -1000 times it), and it sets the reversal potential as BrainPy's node does,
    ``R/(2F) (273.15 + T) log(C0/C)``."""
    return ChannelSpec(
        name=name, doc=doc,
        parameters={**parameters, "C0": 2.0, "C_initializer": 2.4e-4},
        inputs={"ica": 0.0},
        gates=(Gate("C", ode=rate, initial=symbol("C_initializer"), bounds=(0.0, math.inf)),),
        current=sp.Integer(0),
        ions=(Ion("ca", reads=("ica",), writes={"cai": "C"}, sets_reversal=True),),
        ion_reversals={"ca": R_BRAINPY / (2 * F_BRAINPY) * (R("273.15") + T)
                       * sp.log(C0 / C)})


CalciumDetailed = _calcium_node(
    "CalciumDetailed",
    "BrainPy's CalciumDetailed: a shell of depth d (um) beneath the membrane, "
    "dC/dt = max(-I_Ca/(2 F d), 0) + (C_rest - C)/tau, E from C by Nernst (BrainPy's R, F).",
    {"T": 36.0, "d": 1.0, "C_rest": 2.4e-4, "tau": 5.0},
    sp.Max(1000 * ica / (2 * F_BRAINPY * symbol("d")), 0)
    + (symbol("C_rest") - C) / symbol("tau"))

CalciumFirstOrder = _calcium_node(
    "CalciumFirstOrder",
    "BrainPy's CalciumFirstOrder: dC/dt = max(-alpha I_Ca, 0) - beta C, E from C by Nernst "
    "(BrainPy's R, F).",
    {"T": 36.0, "alpha": 0.13, "beta": 0.075},
    sp.Max(1000 * symbol("alpha") * ica, 0) - symbol("beta") * C)

#: BrainPy's ion nodes as mechanisms of a cell, by name.
ION_NODES: dict[str, ChannelSpec] = {s.name: s for s in (CalciumDetailed, CalciumFirstOrder)}

#: Every channel in the library, by name.
LIBRARY: dict[str, ChannelSpec] = {spec.name: spec for spec in (
    INa_Ba2002, IKDR_Ba2002, INa_HH1952, IK_HH1952, INa_TM1991, IK_TM1991, IL,
    Ih_HM1992, IKA1_HM1992, ICaT_HM1992, IKA2_HM1992, IKK2A_HM1992, IKK2B_HM1992, IKNI_Ya1989,
    IKL, ICaT_HP1992, ICaHT_HM1992, ICaHT_Re1993, ICaL_IS2008, ICaN_IS2008, IAHP_De1994,
    Ih_De1996)}


def get_channel(name: str) -> ChannelSpec:
    """The library spec called ``name`` (a clear error lists the known ones)."""
    try:
        return LIBRARY[name]
    except KeyError:
        raise KeyError(f"unknown channel {name!r}; known channels: {sorted(LIBRARY)}") from None
