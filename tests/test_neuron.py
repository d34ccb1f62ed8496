"""Neurons compiled into one fused kernel, against BrainPy 2.8.2's HH and CondNeuGroup."""
from pathlib import Path

import numpy as np
import pytest

import ionc
from ionc.codegen import LIBRARY, SpecError, spec_from_strings
from ionc.codegen.neuron import NeuronSpec
from targets import host

GOLDEN = Path(__file__).parent / "golden"


def _tc_cell(n, dtype, g_leak=0.05, target="cpu", **kw):
    return ionc.CondNeuGroup(
        n, C=1.0, A=1e-3, V_th=0.0, V_initializer=-65.0, dtype=dtype, dt=0.01, **kw,
        INa=ionc.INa_Ba2002(n, dtype=dtype, target=target),
        IK=ionc.IKDR_Ba2002(n, dtype=dtype, target=target),
        IL=ionc.IL(n, g_max=g_leak, E=-70.0, dtype=dtype, target=target))


def _neuron(name, g, dtype, target="cpu"):
    n = g[f"{name}.I_ext"].size
    if name == "HH":
        return ionc.HH(n, V_initializer=-65.0, dtype=dtype, dt=float(g["dt"]), target=target)
    return _tc_cell(n, dtype, g_leak=g["TC.IL_g_max"], target=target)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["HH", "TC"])
def test_spike_times_match_brainpy_within_one_step_over_100_ms(name, dtype, target):
    g = np.load(GOLDEN / f"neurons_{dtype}.npz")
    neu = _neuron(name, g, dtype, target)
    steps = int(g["steps"])
    inputs = np.broadcast_to(g[f"{name}.I_ext"], (steps, g[f"{name}.I_ext"].size))
    out = {k: host(v) for k, v in neu.run(inputs, record=("V", "spike")).items()}
    ref = g[f"{name}.spikes"]
    assert ref.sum() > 20, "the protocol must make the cells spike"
    for i in range(ref.shape[1]):
        got_t, ref_t = np.flatnonzero(out["spike"][:, i]), np.flatnonzero(ref[:, i])
        assert got_t.size == ref_t.size, (i, got_t, ref_t)
        assert np.all(np.abs(got_t - ref_t) <= 1), (i, got_t - ref_t)
    np.testing.assert_array_equal(out["spike_count"], ref.sum(axis=0))
    tol = 1e-8 if dtype == "float64" else 1.0   # mV; float32 differs on upstrokes
    np.testing.assert_allclose(out["V"][9::10], g[f"{name}.V_every10"], rtol=0, atol=tol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_update_loop_and_fused_run_agree(dtype):
    """The same arithmetic; only which elements take libmvec's vector exp and which
    the scalar one (loop peeling) may differ, by an ulp of exp."""
    rng = np.random.default_rng(5)
    inputs = rng.uniform(-2, 15, (400, 7)).astype(dtype)
    a, b = ionc.HH(7, dtype=dtype, dt=0.025), ionc.HH(7, dtype=dtype, dt=0.025)
    out = a.run(inputs, record=("V", "spike"), every=4)
    Vs, spikes = [], []
    for k in range(400):
        spikes.append(b.update(inputs[k]).copy())
        if (k + 1) % 4 == 0:
            Vs.append(b.V.copy())
    tol = 1e-11 if dtype == "float64" else 1e-4
    # float32 upstrokes magnify an ulp of exp to ~1e-3 mV
    np.testing.assert_allclose(out["V"], np.array(Vs), rtol=tol,
                               atol=0 if dtype == "float64" else 1e-2)
    counts = np.array(spikes).reshape(100, 4, 7).sum(axis=1)
    assert counts.sum() > 0
    np.testing.assert_array_equal(out["spike"], counts)
    for g in ("p", "q"):
        np.testing.assert_allclose(getattr(a.INa, g), getattr(b.INa, g), rtol=tol, atol=0)
    np.testing.assert_allclose(a.IK.p, b.IK.p, rtol=tol, atol=0)


def test_channel_objects_hold_the_gates_the_kernel_advances():
    neu = ionc.HH(3, V_initializer=[-70.0, -65.0, -60.0])
    ch = ionc.INa_HH1952(3, V_sh=-45.0)
    ch.reset_state(neu.V)
    np.testing.assert_array_equal(neu.INa.p, ch.p)
    before = neu.INa.p.copy()
    neu.update(10.0)    # gates move from the second step on (the first uses the reset V)
    neu.update(10.0)
    assert not np.array_equal(neu.INa.p, before)
    assert "INa=INa_HH1952" in repr(neu) and "kernel=" in repr(neu)
    assert "ionc_run_kernel" in neu.source() and "ionc_f0_update(" in neu.source()


def test_a_groups_channels_build_no_kernels_of_their_own(monkeypatch):
    """The group's kernel steps and initialises its channels: one build for a cell of
    three channels; a channel on its own builds when it first runs."""
    import ionc.kernels as binding
    built = []
    real = binding.build_c_extension
    monkeypatch.setattr(binding, "build_c_extension",
                        lambda source, declarations: built.append(source) or real(
                            source, declarations))
    neu = _tc_cell(3, "float64")
    neu.run(np.full((20, 3), 5.0))
    neu.reset_state()
    assert len(built) == 1 and "ionc_run_kernel" in built[0]
    ch = ionc.INa_Ba2002(3)
    assert len(built) == 1
    ch.reset_state(neu.V)
    assert len(built) == 2
    np.testing.assert_array_equal(neu.INa.p, ch.p)


def test_per_neuron_parameters_and_area_scaling():
    n = 4
    g_leak = np.array([0.02, 0.05, 0.08, 0.11])
    hetero = _tc_cell(n, "float64", g_leak=g_leak)
    assert "const real *c2_u_g_max" in hetero.source().replace("IONC_RESTRICT ", "")
    counts = hetero.run(np.full((3000, n), 3.0))["spike_count"]
    assert len(set(counts)) > 1, counts          # the leak changes the firing
    for i in range(n):
        single = _tc_cell(1, "float64", g_leak=float(g_leak[i]))
        assert single.run(np.full((3000, 1), 3.0))["spike_count"][0] == counts[i]
        np.testing.assert_allclose(hetero.V[i], single.V[0], rtol=0, atol=1e-12)
    # BrainPy scales the input by 1e-3 / A: x = 2 on A = 2e-3 is a density of 1
    half = ionc.CondNeuGroup(2, A=2e-3, IL=ionc.IL(2), V_initializer=-50.0)
    unit = ionc.CondNeuGroup(2, A=1e-3, IL=ionc.IL(2), V_initializer=-50.0)
    half.update(2.0)
    unit.update(1.0)
    np.testing.assert_array_equal(half.V, unit.V)


def test_bad_input_is_refused_and_leaves_the_state_unchanged():
    neu = ionc.HH(3)
    neu.update(5.0)
    V, p = neu.V.copy(), neu.INa.p.copy()
    with pytest.raises(ValueError, match="NaN"):
        neu.update(np.array([1.0, np.nan, 2.0]))
    with pytest.raises(ValueError, match="shape"):
        neu.update(np.ones(4))
    with pytest.raises(ValueError, match="dt"):
        neu.update(1.0, dt=0.0)
    with pytest.raises(ValueError, match="steps"):
        neu.run(np.ones(3))
    with pytest.raises(ValueError, match="record"):
        neu.run(np.ones((5, 3)), record=("m",))
    np.testing.assert_array_equal(neu.V, V)
    np.testing.assert_array_equal(neu.INa.p, p)


def test_bad_composition_is_refused_with_a_message():
    with pytest.raises(ValueError, match="shape"):
        ionc.CondNeuGroup(3, INa=ionc.INa_Ba2002(4))
    with pytest.raises(ValueError, match="dtype"):
        ionc.CondNeuGroup(3, dtype="float32", INa=ionc.INa_Ba2002(3))
    with pytest.raises(TypeError, match="channel object"):
        ionc.CondNeuGroup(3, INa="INa_Ba2002")
    with pytest.raises(ValueError, match="at least one channel"):
        ionc.CondNeuGroup(3)
    a = spec_from_strings("A", {"g_max": 1.0}, {}, current="g_max*(0 - V)")
    b = spec_from_strings("B", {"max": 1.0}, {}, current="max*(0 - V)")
    # labels cannot make names ambiguous: L.g_max and L_g.max are c0_u_g_max, c1_u_max
    assert NeuronSpec("N", {"L": a, "L_g": b}, {"C": 1.0, "V_th": 0.0})
    with pytest.raises(SpecError, match="label"):
        NeuronSpec("N", {"not a label": LIBRARY["IL"]}, {"C": 1.0, "V_th": 0.0})


def test_two_instances_of_one_channel_class_in_one_neuron(target):
    """Two leaks (the same spec twice) on every target: the current is the sum."""
    n = 3
    two = ionc.CondNeuGroup(n, V_initializer=-60.0, dt=0.01,
                            IL1=ionc.IL(n, g_max=0.05, E=-70.0, target=target),
                            IL2=ionc.IL(n, g_max=np.array([0.01, 0.02, 0.03]), E=-50.0,
                                        target=target))
    src = two.source()
    assert src.count("ionc_f0_current(") >= 1 and "ionc_f1_" not in src   # printed once
    for _ in range(50):
        two.update(np.array([0.0, 1.0, 2.0]))
    # one equivalent leak: g = g1 + g2, E = (g1 E1 + g2 E2)/g
    g2 = np.array([0.01, 0.02, 0.03])
    gs, Es = 0.05 + g2, (0.05 * -70.0 + g2 * -50.0) / (0.05 + g2)
    one = ionc.CondNeuGroup(n, V_initializer=-60.0, dt=0.01,
                            IL=ionc.IL(n, g_max=gs, E=Es, target=target))
    for _ in range(50):
        one.update(np.array([0.0, 1.0, 2.0]))
    np.testing.assert_allclose(host(two.V), host(one.V), rtol=1e-13)
    out = two.run(np.ones((20, n)), record=("V",))
    assert host(out["V"]).shape == (20, n)


def test_neuron_update_and_run_agree_on_every_target(target):
    a = ionc.HH(4, dt=0.025, target=target)
    b = ionc.HH(4, dt=0.025, target=target)
    rng = np.random.default_rng(1)
    inputs = rng.uniform(0, 15, (200, 4))
    out = a.run(inputs, record=("V", "spike"), every=5)
    spikes = np.array([host(b.update(inputs[k])).copy() for k in range(200)])
    np.testing.assert_allclose(host(out["V"])[-1], host(b.V), rtol=1e-10)
    np.testing.assert_array_equal(host(out["spike"]), spikes.reshape(40, 5, 4).sum(axis=1))
    np.testing.assert_array_equal(host(out["spike_count"]), spikes.sum(axis=0))


def test_a_held_input_equals_its_trace_on_every_target(target):
    I = np.linspace(0.0, 20.0, 5)
    a, b = ionc.HH(5, dt=0.025, target=target), ionc.HH(5, dt=0.025, target=target)
    traced = a.run(np.tile(I, (300, 1)), record=("V", "spike"), every=7)
    held = b.run(I, record=("V", "spike"), every=7, steps=300)
    for key in ("V", "spike", "spike_count"):
        np.testing.assert_array_equal(host(held[key]), host(traced[key]))
    np.testing.assert_array_equal(host(a.V), host(b.V))
    c, d = ionc.INa_Ba2002(4, target=target), ionc.INa_Ba2002(4, target=target)
    c.reset_state(-80.0)
    d.reset_state(-80.0)
    clamp = c.run(np.full((40, 4), -10.0), record=("I",))
    level = d.run(-10.0, record=("I",), steps=40)
    np.testing.assert_array_equal(host(level["I"]), host(clamp["I"]))
    with pytest.raises(TypeError, match="steps must be an int"):
        d.run(-10.0, steps=2.5)
    with pytest.raises(ValueError, match="or pass steps="):
        d.run(-10.0)
