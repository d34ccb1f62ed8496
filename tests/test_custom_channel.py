"""A channel defined by a user compiles through the same pipeline, with no special code."""
import numpy as np
import pytest
import sympy as sp

from ionc import Channel
from ionc.codegen import ChannelSpec, Gate, V, symbol

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


@pytest.mark.parametrize("target", ["cpu", "numpy"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_user_channel_runs_and_is_exact_at_its_singular_point(target, dtype):
    ch = IUser(5, V_sh=np.array([-50.0, -55.0, -60.0, -45.0, -50.0]), dtype=dtype, target=target)
    V = (np.array([-50.0, -55.0, -60.0, -45.0, -50.0]) + 10).astype(dtype)
    np.testing.assert_allclose(ch.f_m_alpha(V), 0.1, rtol=4 * np.finfo(dtype).eps)
    ch.reset_state(V)
    np.testing.assert_allclose(ch.h, 1 / (1 + np.exp((V - ch._params["V_sh"] + 5) / 6)),
                               rtol=8 * np.finfo(dtype).eps)
    before = ch.m.copy()
    ch.update(V - 30, dt=0.1)
    assert np.all(ch.m < before) and np.all(np.isfinite(ch.current(V - 30)))
    # inf/tau gate: exponential Euler is exact for frozen V
    h0 = ch.h.copy()
    inf = 1 / (1 + np.exp((V - 30 - ch._params["V_sh"] + 5) / 6))
    tau = 1 + 4 / (1 + np.exp((V - 30 - ch._params["V_sh"]) / 10))
    ch.update(V - 30, dt=0.5)
    np.testing.assert_allclose(ch.h, inf + (h0 - inf) * np.exp(-0.5 / tau),
                               rtol=50 * np.finfo(dtype).eps, atol=10 * np.finfo(dtype).eps)
