"""More BrainPy channels through the same compiler, checked against BrainPy 2.8.2 goldens
and against 50-digit mpmath evaluations of the formulas as written."""
from pathlib import Path

import mpmath as mp
import numpy as np
import pytest
import sympy as sp

import ionc
from ionc.codegen import LIBRARY, find_removable_singularities
from ionc.codegen.spec import V as V_SYMBOL
from reference import ulp_error
from targets import GPU, host

GOLDEN = Path(__file__).parent / "golden"
TOL = {"float64": 1e-12, "float32": 1e-5}
CHANNELS = ["IKDR_Ba2002", "INa_HH1952", "IK_HH1952", "INa_TM1991", "IK_TM1991"]
KWARGS = {"IKDR_Ba2002": {"T": 30.0}, "INa_HH1952": {"phi": 1.5}, "IK_HH1952": {"phi": 0.7}}
SINGULAR = {"INa_Ba2002": 2, "IKDR_Ba2002": 1, "INa_HH1952": 1, "IK_HH1952": 1,
            "INa_TM1991": 2, "IK_TM1991": 1, "IL": 0, "Ih_HM1992": 0, "IKA1_HM1992": 0,
            "ICaT_HM1992": 0, "IKA2_HM1992": 0, "IKK2A_HM1992": 0, "IKK2B_HM1992": 0,
            "IKNI_Ya1989": 0, "IKL": 0, "ICaT_HP1992": 0, "ICaHT_HM1992": 0, "ICaHT_Re1993": 1,
            "ICaL_IS2008": 0, "ICaN_IS2008": 0, "IAHP_De1994": 0, "Ih_De1996": 0}
#: inf/tau channels: their goldens hold heterogeneous parameters and the current too
STEADY_STATE = ["Ih_HM1992", "IKA1_HM1992", "ICaT_HM1992"]


def test_every_library_singularity_is_found_and_removable():
    assert set(SINGULAR) == set(LIBRARY)
    for name, spec in LIBRARY.items():
        report = find_removable_singularities(spec)
        assert len(report.removable) == SINGULAR[name] and not report.poles, str(report)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", CHANNELS)
def test_rates_steady_states_and_trajectory_match_brainpy(name, dtype, target):
    g = np.load(GOLDEN / f"library_{dtype}.npz")
    cls = getattr(ionc, name)
    V = g[f"{name}.V"]
    ch = cls(V.size, dtype=dtype, target=target)
    tol = TOL[dtype]
    gates = [x for x in ("p", "q") if f"{name}.{x}_inf" in g.files]
    for gate in gates:
        for role in ("alpha", "beta"):
            got = host(getattr(ch, f"f_{gate}_{role}")(V))
            np.testing.assert_allclose(got, g[f"{name}.f_{gate}_{role}"], rtol=tol,
                                       atol=tol * 1e-3, err_msg=f"{gate} {role}")
    ch.reset_state(V)
    for gate in gates:
        np.testing.assert_allclose(host(getattr(ch, gate)), g[f"{name}.{gate}_inf"], rtol=tol,
                                   atol=tol * 1e-3)
    trace, V_sh = g[f"{name}.trace"], g[f"{name}.V_sh"]
    ch = cls(V_sh.size, V_sh=V_sh, dtype=dtype, target=target, **KWARGS.get(name, {}))
    ch.reset_state(trace[0])
    out = {k: host(v) for k, v in ch.run(trace, dt=float(g["dt"]), record=gates).items()}
    for gate in gates:
        np.testing.assert_allclose(out[gate], g[f"{name}.traj_{gate}"], rtol=0, atol=tol)


def test_positional_arguments_follow_brainpy_order():
    a = ionc.IKDR_Ba2002(3, False, -80.0, 5.0, -55.0)
    assert a._params["E"] == -80.0 and a._params["g_max"] == 5.0 and a._params["V_sh"] == -55.0
    with pytest.raises(TypeError, match="multiple values"):
        ionc.IK_HH1952(3, False, -80.0, E=-70.0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_leak_channel_without_gates_matches_brainpy(dtype, target):
    g = np.load(GOLDEN / f"library_{dtype}.npz")
    ch = ionc.IL(g["IL.V"].size, g_max=g["IL.g_max"], dtype=dtype, target=target)
    ch.reset_state(g["IL.V"])
    ch.update(g["IL.V"])
    assert ch.state_dict() == {}
    np.testing.assert_allclose(host(ch.current(g["IL.V"])), g["IL.I"], rtol=TOL[dtype],
                               atol=TOL[dtype])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", STEADY_STATE)
def test_inf_tau_channels_match_brainpy_through_their_piecewise_boundaries(name, dtype, target):
    g = np.load(GOLDEN / f"library_{dtype}.npz")
    cls = getattr(ionc, name)
    tol = TOL[dtype]
    V = g[f"{name}.V"]
    ch = cls(V.size, dtype=dtype, target=target)
    gates = [x for x in ("p", "q") if f"{name}.f_{x}_inf" in g.files]
    for gate in gates:
        for role in ("inf", "tau"):
            np.testing.assert_allclose(host(getattr(ch, f"f_{gate}_{role}")(V)),
                                       g[f"{name}.f_{gate}_{role}"], rtol=tol, atol=0,
                                       err_msg=f"{gate} {role}")
    trace = g[f"{name}.trace"]
    params = {k.split(".param_")[1]: g[k] for k in g.files if k.startswith(f"{name}.param_")}
    ch = cls(trace.shape[1], dtype=dtype, target=target, **params)
    ch.reset_state(trace[0])
    out = {k: host(v) for k, v in ch.run(trace, dt=0.1, record=(*gates, "I")).items()}
    for gate in gates:
        np.testing.assert_allclose(out[gate], g[f"{name}.traj_{gate}"], rtol=0, atol=tol)
    ref_I = g[f"{name}.traj_I"]
    np.testing.assert_allclose(out["I"], ref_I, rtol=tol, atol=tol * np.abs(ref_I).max())


def _rates(spec) -> dict:
    """The rate methods of a library channel and their expressions as written: each
    gate's (``f_p_alpha``; not an ODE gate's right-hand side) and each named rate's
    (``Ih_De1996``'s ``f_inf``)."""
    out = {f"f_{g.name}_{role}": e for g in spec.gates if g.kind != "ode"
           for role, e in g.rate_expressions().items()}
    out.update({f"f_{name}": e for name, e in spec.rates.items()})
    return out


def _mp_rate(spec, rate):
    """The rate as written in the spec (no singularity rewrite), in 50-digit mpmath, of V,
    the parameters and the inputs (a calcium node's C); decimal constants such as 0.32 are
    taken as the exact decimals they denote."""
    expr = sp.nsimplify(spec.expand_intermediates(rate), rational=True)
    inputs = [sp.Symbol(i, real=True) for i in spec.inputs]
    return sp.lambdify([V_SYMBOL, *spec.parameter_symbols, *inputs], expr, modules="mpmath")


def _at(rate, v, params, singular=()):
    """``rate`` at ``v``; at a 0/0 point (one of ``singular``, or where the division fails),
    at ``v + 1e-25`` (the limit to ~1e-25): 50 binary digits need not cancel the point's
    0/0 exactly (``-11 V/200 - 297/200`` at V = -27)."""
    args = [mp.mpf(float(p)) for p in params]
    if v in singular:
        return rate(mp.mpf(float(v)) + mp.mpf("1e-25"), *args)
    try:
        return rate(mp.mpf(float(v)), *args)
    except ZeroDivisionError:
        return rate(mp.mpf(float(v)) + mp.mpf("1e-25"), *args)


@pytest.mark.parametrize("target", ["cpu", GPU])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(n for n, s in LIBRARY.items() if s.gates))
def test_every_library_rate_within_32_ulp_of_mpmath(name, dtype, target):
    """Each compiled rate against the formula as written, evaluated in 50 digits at the
    same float inputs: over [-150, 100] mV and down to 1e-9 mV from each singular point."""
    spec = LIBRARY[name]
    params = [dtype(v) for v in (*spec.parameters.values(), *spec.inputs.values())]
    points = [float(s.location.subs(dict(zip(spec.parameter_symbols, params))))
              for s in find_removable_singularities(spec).removable]
    near = [dtype(p + d) for p in points for d in (-1e-3, -1e-6, -1e-9, 1e-9, 1e-6, 1e-3)]
    rng = np.random.default_rng(7)
    V = np.unique(np.concatenate([np.linspace(-150, 100, 251), rng.uniform(-150, 100, 200),
                                  near]).astype(dtype))
    ch = getattr(ionc, name)(V.size, dtype=dtype.__name__, target=target)
    mp.mp.dps = 50
    worst = {}
    rates = _rates(spec)
    assert rates
    for method, rate in rates.items():
        got = host(getattr(ch, method)(V))
        ref = _mp_rate(spec, rate)
        errors = [ulp_error(got[i], _at(ref, v, params, set(points)), dtype)
                  for i, v in enumerate(V)]
        worst[method] = max(errors)
    assert max(worst.values()) <= 32, worst
