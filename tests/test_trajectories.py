"""Trajectories against an independent NumPy integrator and BrainPy 2.8.2 goldens."""
from pathlib import Path

import numpy as np
import pytest

from ionc import INa_Ba2002
from reference import numpy_trajectory
from targets import host

GOLDEN = Path(__file__).parent / "golden"
TOL = {"float64": 1e-12, "float32": 1e-5}


def _run(ch, trace, dt):
    ch.reset_state(trace[0])
    out = []
    for V in trace:
        ch.update(V, dt=dt)
        out.append((host(ch.p).copy(), host(ch.q).copy()))
    return np.array(out)


def test_matches_independent_numpy_exponential_euler(target):
    rng = np.random.default_rng(7)
    n, steps = 64, 400
    trace = rng.uniform(-90, 40, (steps, n))
    trace[::7, :8] = -37.0          # exactly at the singular points, often
    trace[::5, 8:16] = -10.0
    got = _run(INa_Ba2002(n, target=target), trace, 0.05)
    want = numpy_trajectory(trace, 0.05)
    np.testing.assert_allclose(got[:, 0], want[:, 0], rtol=0, atol=1e-13)
    np.testing.assert_allclose(got[:, 1], want[:, 1], rtol=0, atol=1e-13)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_rates_and_steady_states_match_brainpy(dtype, target):
    g = np.load(GOLDEN / f"ina_ba2002_{dtype}.npz")
    V = g["V"]
    ch = INa_Ba2002(V.size, dtype=dtype, target=target)
    for name in ("f_p_alpha", "f_p_beta", "f_q_alpha", "f_q_beta"):
        np.testing.assert_allclose(host(getattr(ch, name)(V)), g[name], rtol=TOL[dtype],
                                   atol=TOL[dtype] * 1e-3, err_msg=name)
    ch.reset_state(V)
    np.testing.assert_allclose(host(ch.p), g["p_inf"], rtol=TOL[dtype], atol=TOL[dtype] * 1e-3)
    np.testing.assert_allclose(host(ch.q), g["q_inf"], rtol=TOL[dtype], atol=TOL[dtype] * 1e-3)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_clamp_trajectory_with_heterogeneous_V_sh_matches_brainpy(dtype, target):
    g = np.load(GOLDEN / f"ina_ba2002_{dtype}.npz")
    trace, dt = g["trace"], float(g["dt"])
    ch = INa_Ba2002(g["V_sh"].size, V_sh=g["V_sh"], T=float(g["T"]), dtype=dtype, target=target)
    ch.reset_state(trace[0])
    tol = TOL[dtype]
    for k, V in enumerate(trace):
        ch.update({"t": k * dt, "dt": dt}, V)
        I = host(ch.current(V))
        np.testing.assert_allclose(host(ch.p), g["p"][k], rtol=0, atol=tol, err_msg=f"p, step {k}")
        np.testing.assert_allclose(host(ch.q), g["q"][k], rtol=0, atol=tol, err_msg=f"q, step {k}")
        np.testing.assert_allclose(I, g["I"][k], rtol=tol, atol=tol * 90, err_msg=f"I, step {k}")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_per_neuron_V_sh_moves_singular_points_and_keeps_exact_limits(dtype):
    rng = np.random.default_rng(3)
    V_sh = rng.uniform(-70, -30, 50).astype(dtype)
    ch = INa_Ba2002(50, V_sh=V_sh, dtype=dtype)
    at_alpha = (V_sh + dtype_type(dtype)(13)).astype(dtype)
    at_beta = (V_sh + dtype_type(dtype)(40)).astype(dtype)
    a, b = ch.f_p_alpha(at_alpha), ch.f_p_beta(at_beta)
    eps = np.finfo(dtype).eps
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(b))
    # x = V - V_sh rounds to within a few ulp of 13 and 40; exprelr's slope is 1/2
    np.testing.assert_allclose(a, 1.28, rtol=8 * eps * 40)
    np.testing.assert_allclose(b, 1.4, rtol=8 * eps * 40)
    ch.reset_state(at_beta)
    for _ in range(10):
        ch.update(at_alpha)
    assert np.all(np.isfinite(ch.p)) and np.all(np.isfinite(ch.q))


def dtype_type(dtype):
    return np.dtype(dtype).type


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fused_run_equals_update_loop(dtype, target):
    rng = np.random.default_rng(11)
    n, steps = 300, 90
    trace = rng.uniform(-85, 35, (steps, n)).astype(dtype)
    trace[::4, :20] = -37.0
    V_sh = rng.uniform(-60, -40, n)
    a = INa_Ba2002(n, V_sh=V_sh, dtype=dtype, target=target)
    b = INa_Ba2002(n, V_sh=V_sh, dtype=dtype, target=target)
    a.reset_state(trace[0])
    b.reset_state(trace[0])
    out = {k: host(v) for k, v in a.run(trace, dt=0.05, record=("p", "I"), every=3).items()}
    assert set(out) == {"p", "I"} and out["p"].shape == (steps // 3, n)
    for k in range(steps):
        b.update(trace[k], dt=0.05)
        if (k + 1) % 3 == 0:
            np.testing.assert_array_equal(out["p"][(k + 1) // 3 - 1], host(b.p))
            np.testing.assert_array_equal(out["I"][(k + 1) // 3 - 1], host(b.current(trace[k])))
    np.testing.assert_array_equal(host(a.p), host(b.p))
    np.testing.assert_array_equal(host(a.q), host(b.q))


def test_fused_run_refuses_bad_input_and_keeps_states():
    ch = INa_Ba2002(4)
    ch.reset_state(np.full(4, -70.0))
    before = ch.state_dict()
    trace = np.full((5, 4), -20.0)
    trace[2, 1] = np.nan
    for bad, kw, match in [(trace, {}, "non-finite"), (np.zeros((5, 3)), {}, "shape"),
                           (np.zeros((5, 4)), {"dt": -1.0}, "dt"),
                           (np.zeros((5, 4)), {"record": ("m",)}, "cannot record"),
                           (np.zeros((5, 4)), {"every": 0}, "every")]:
        with pytest.raises(ValueError, match=match):
            ch.run(bad, **kw)
        np.testing.assert_array_equal(ch.p, before["p"])
        np.testing.assert_array_equal(ch.q, before["q"])
