"""A channel defined by a user compiles through the same pipeline, with no special code."""
import numpy as np
import pytest
import sympy as sp

from ionc import Channel
from ionc.codegen import ChannelSpec, Gate, V, symbol
from targets import host

x, V_sh, g_max, E = (symbol(n) for n in ("x", "V_sh", "g_max", "E"))
m, h = symbol("m"), symbol("h")
SPEC = ChannelSpec(
    name="IUser", parameters={"g_max": 10.0, "E": -90.0, "V_sh": -50.0},
    intermediates={"x": V - V_sh},
    gates=(Gate("m", power=2, alpha=0.01 * (x - 10) / (1 - sp.exp(-(x - 10) / 10)),
                beta=0.125 * sp.exp(-x / 80)),
           Gate("h", inf=1 / (1 + sp.exp((x + 5) / 6)), tau=1 + 4 / (1 + sp.exp(x / 10)))),
    current=g_max * m**2 * h * (E - V))


class IUser(Channel):
    spec = SPEC


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_user_channel_runs_and_is_exact_at_its_singular_point(target, dtype):
    shifts = np.array([-50.0, -55.0, -60.0, -45.0, -50.0])
    ch = IUser(5, V_sh=shifts, dtype=dtype, target=target)
    sh = shifts.astype(dtype)
    V = (shifts + 10).astype(dtype)
    np.testing.assert_allclose(host(ch.f_m_alpha(V)), 0.1, rtol=4 * np.finfo(dtype).eps)
    ch.reset_state(V)
    np.testing.assert_allclose(host(ch.h), 1 / (1 + np.exp((V - sh + 5) / 6)),
                               rtol=8 * np.finfo(dtype).eps)
    before = host(ch.m).copy()
    ch.update(V - 30, dt=0.1)
    assert np.all(host(ch.m) < before) and np.all(np.isfinite(host(ch.current(V - 30))))
    # inf/tau gate: exponential Euler is exact for frozen V
    h0 = host(ch.h).copy()
    inf = 1 / (1 + np.exp((V - 30 - sh + 5) / 6))
    tau = 1 + 4 / (1 + np.exp((V - 30 - sh) / 10))
    ch.update(V - 30, dt=0.5)
    np.testing.assert_allclose(host(ch.h), inf + (h0 - inf) * np.exp(-0.5 / tau),
                               rtol=50 * np.finfo(dtype).eps, atol=10 * np.finfo(dtype).eps)


def test_channel_from_strings_finds_the_singularity_and_runs():
    from ionc.codegen import find_removable_singularities, spec_from_strings
    spec = spec_from_strings(
        "IStr", {"g_max": 90.0, "E": 50.0, "V_sh": -50.0},
        {"m": {"alpha": "0.32*(V - V_sh - 13)/(1 - exp(-(V - V_sh - 13)/4))",
               "beta": "0.28*(V - V_sh - 40)/(exp((V - V_sh - 40)/5) - 1)", "power": 3}},
        current="g_max*m**3*(E - V)")
    report = find_removable_singularities(spec)
    assert len(report.removable) == 2

    IStr = type("IStr", (Channel,), {"spec": spec})
    ch = IStr(2)
    np.testing.assert_allclose(ch.f_m_alpha(np.array([-37.0, -37.0])), 1.28, rtol=1e-15)
    np.testing.assert_allclose(ch.f_m_beta(np.array([-10.0, -10.0])), 1.4, rtol=1e-15)


@pytest.mark.parametrize("kwargs, match", [
    (dict(current="g_max*m*(E - V) + W"), r"unknown symbol.*'W'"),
    (dict(current="g_max*m*(E - V"), "cannot parse"),
    (dict(gates={"m": {"alpha": "1"}}), "alpha and beta, or inf and tau"),
    (dict(gates={"m": {"alpha": "1/(1 - exp(-(V - 13)/4))", "beta": "1"}}), "non-removable"),
])
def test_string_channel_errors_name_the_problem(kwargs, match):
    from ionc.codegen import SpecError, lower_channel, spec_from_strings
    args = dict(name="IBad", parameters={"g_max": 1.0, "E": 0.0},
                gates={"m": {"alpha": "exp(V/10)", "beta": "1"}}, current="g_max*m*(E - V)")
    args.update(kwargs)
    with pytest.raises(SpecError, match=match):
        lower_channel(spec_from_strings(**args))
