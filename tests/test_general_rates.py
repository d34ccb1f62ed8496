"""Rates beyond the library's: parameter-dependent singularities, gates given as ODEs,
and inputs beyond V, on every target, against independent NumPy formulas."""
import warnings

import numpy as np
import pytest
import sympy as sp

from ionc import Channel
from ionc.codegen import (ChannelSpec, Gate, SpecError, V, find_removable_singularities,
                          lower_channel, spec_from_strings, symbol)
from targets import host

k, vh, A, g, E, tau, cai, kd = (symbol(n) for n in ("k", "vh", "A", "g", "E", "tau", "cai",
                                                     "kd"))
m = symbol("m")


def _cls(spec):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return type(spec.name, (Channel,), {"spec": spec})


def test_parameter_slope_singularity_is_found_proved_and_reported_symbolically():
    spec = ChannelSpec("Slope", {"k": 10.0, "g": 1.0},
                       (Gate("m", alpha=0.01 * (V + 55) / (1 - sp.exp(-(V + 55) / k)),
                             beta=sp.Integer(1)),),
                       current=g * m * V)
    report = find_removable_singularities(spec)
    (s,) = report.removable
    assert s.location == -55 and sp.simplify(s.limit - k / 100) == 0
    (c,) = report.conditional
    assert c.conditional == "k = 0" and not report.poles
    text = str(report)
    assert "limit k/100;" in text and "undefined where k = 0" in text and "1 conditional" in text
    lower_channel(spec)                       # a conditional pole does not stop compilation


def test_parameter_boltzmann_has_no_singularity_and_a_sign_dependent_zero_is_conditional():
    boltz = ChannelSpec("Boltz", {"vh": -40.0, "k": 5.0, "g": 1.0},
                        (Gate("m", inf=1 / (1 + sp.exp(-(V - vh) / k)), tau=sp.Integer(2)),),
                        current=g * m * V)
    report = find_removable_singularities(boltz)
    assert not report.removable and not report.poles and len(report.conditional) == 1
    signed = ChannelSpec("Signed", {"A": 2.0, "g": 1.0},
                         (Gate("m", alpha=1 / (A - sp.exp(V / 10)), beta=sp.Integer(1)),),
                         current=g * m * V)
    (s,) = find_removable_singularities(signed)
    assert not s.removable and s.conditional == "A > 0" and "10*log(A)" in str(s.location)
    fixed = ChannelSpec("Fixed", {"g": 1.0},
                        (Gate("m", alpha=1 / (2 - sp.exp(V / 10)), beta=sp.Integer(1)),),
                        current=g * m * V)
    with pytest.raises(SpecError, match="non-removable"):
        lower_channel(fixed)


def _ode_pair():
    minf = 1 / (1 + sp.exp(-(V - vh) / k))
    as_ode = ChannelSpec("AsOde", {"vh": -40.0, "k": 6.0, "tau": 3.0, "g": 2.0, "E": 50.0},
                         (Gate("m", ode=(minf - m) / tau),), current=g * m * (E - V))
    as_inf = ChannelSpec("AsInf", {"vh": -40.0, "k": 6.0, "tau": 3.0, "g": 2.0, "E": 50.0},
                         (Gate("m", inf=minf, tau=tau),), current=g * m * (E - V))
    return as_ode, as_inf


def test_a_linear_ode_gate_steps_exactly_like_the_same_inf_tau_gate(target):
    as_ode, as_inf = _ode_pair()
    model = lower_channel(as_ode)
    assert set(model.rates) == {"inf_m", "tau_m"}
    rng = np.random.default_rng(0)
    V0 = rng.uniform(-90, 30, 20)
    a, b = _cls(as_ode)(20, target=target), _cls(as_inf)(20, target=target)
    for ch in (a, b):
        ch.reset_state(V0)
    for _ in range(30):
        Vs = rng.uniform(-90, 30, 20)
        a.update(Vs, dt=0.1)
        b.update(Vs, dt=0.1)
    np.testing.assert_allclose(host(a.m), host(b.m), rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(host(a.f_m_inf(V0)), 1 / (1 + np.exp(-(V0 + 40) / 6)),
                               rtol=1e-14)
    np.testing.assert_allclose(host(a.f_m_tau(V0)), 3.0)


def test_an_ode_with_a_singular_rate_is_rewritten_and_exact_at_the_point(target):
    alpha = 0.1 * (V + 40) / (1 - sp.exp(-(V + 40) / 10))
    beta = 4 * sp.exp(-(V + 65) / 18)
    spec = ChannelSpec("OdeHH", {"g": 1.0}, (Gate("m", ode=alpha * (1 - m) - beta * m),),
                       current=g * m * V)
    (s,) = find_removable_singularities(spec)
    assert s.rate_name == "ode_m" and s.location == -40 and s.limit == 1 - m
    ch = _cls(spec)(3, target=target)
    V0 = np.array([-40.0, -40.0 + 1e-9, -65.0])
    ch.reset_state(V0)
    w = V0 + 40
    with np.errstate(all="ignore"):
        a = np.where(w == 0, 1.0, 0.1 * w / -np.expm1(-w / 10))
    b = 4 * np.exp(-(V0 + 65) / 18)
    np.testing.assert_allclose(host(ch.m), a / (a + b), rtol=1e-14)


def test_a_nonlinear_ode_refuses_exponential_euler_and_runs_forward_euler(target):
    spec = ChannelSpec("Quad", {"g": 1.0}, (Gate("m", ode=(1 - m**2) * sp.exp(V / 20)),),
                       current=g * m * V)
    with pytest.raises(SpecError, match="not linear in u_m; use method='euler'"):
        lower_channel(spec, "exp_auto")
    ch = _cls(spec)(4, target=target, method="euler")
    with pytest.raises(NotImplementedError, match="no closed-form steady state"):
        ch.reset_state(np.zeros(4))
    ch.load_state_dict({"m": np.full(4, 0.2)})
    V0 = np.array([-40.0, -10.0, 0.0, 20.0])
    ch.update(V0, dt=0.05)
    np.testing.assert_allclose(host(ch.m), 0.2 + 0.05 * (1 - 0.04) * np.exp(V0 / 20),
                               rtol=1e-14)


def _calcium():
    return ChannelSpec("ICaDep", {"g": 5.0, "E": -90.0, "kd": 1e-3},
                       (Gate("m", inf=cai**2 / (cai**2 + kd**2), tau=10 / (1 + cai / kd)),),
                       current=g * m * (E - V), inputs={"cai": 5e-5})


def test_a_calcium_dependent_channel_reads_cai_per_neuron(target):
    ch = _cls(_calcium())(4, target=target)
    c = np.array([1e-4, 5e-4, 1e-3, 2e-3])
    ch.reset_state(np.full(4, -60.0), cai=c)
    inf = c**2 / (c**2 + 1e-6)
    np.testing.assert_allclose(host(ch.m), inf, rtol=1e-14)
    c2 = c[::-1].copy()
    ch.update(np.full(4, -60.0), dt=0.5, cai=c2)
    inf2, tau2 = c2**2 / (c2**2 + 1e-6), 10 / (1 + c2 / 1e-3)
    expect = inf2 + (inf - inf2) * np.exp(-0.5 / tau2)
    np.testing.assert_allclose(host(ch.m), expect, rtol=1e-13)
    ch.update(np.full(4, -60.0), dt=0.5)                       # the default, 5e-5
    inf3 = 2.5e-9 / (2.5e-9 + 1e-6)
    np.testing.assert_allclose(host(ch.m), inf3 + (expect - inf3) * np.exp(-0.5 / (10 / 1.05)),
                               rtol=1e-13)
    out = ch.run(np.full((3, 4), -60.0), dt=0.5, cai=c)
    assert out["m"].shape == (3, 4)
    before = host(ch.m).copy()
    bad = c.copy()
    bad[1] = np.nan
    with pytest.raises(ValueError, match="cai contains 1 non-finite"):
        ch.update(np.full(4, -60.0), cai=bad)
    with pytest.raises(TypeError, match="no input.*'cao'.*'cai'"):
        ch.update(np.full(4, -60.0), cao=c)
    np.testing.assert_array_equal(host(ch.m), before)


def test_strings_give_ode_gates_and_inputs():
    spec = spec_from_strings(
        "IStr", {"g": 1.0, "kd": 1e-3, "vh": -40.0, "k": 5.0},
        {"m": {"ode": "(1/(1 + exp(-(V - vh)/k)) - m)/(1 + cai/kd)"}},
        current="g*m*(0 - V)", inputs={"cai": 1e-4})
    model = lower_channel(spec)
    assert set(model.rates) == {"inf_m", "tau_m"}
    ch = _cls(spec)(2)
    ch.reset_state(np.array([-40.0, 0.0]), cai=np.array([1e-4, 1e-3]))
    np.testing.assert_allclose(ch.m, [0.5, 1 / (1 + np.exp(-8.0))], rtol=1e-14)
