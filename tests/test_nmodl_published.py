"""Published .mod files that nobody here wrote, from pinned package downloads
(``published.py``), against NEURON itself: states after ``finitialize`` over a voltage
grid and over 200 clamp steps at dt = 0.025 ms, in float64."""
import numpy as np
import pytest

neuron = pytest.importorskip("neuron")

import ionc  # noqa: E402
from pathlib import Path  # noqa: E402

from neuron_reference import compare, driven_by_ica, load_mechanisms  # noqa: E402
from published import published_files  # noqa: E402

#: file -> (SUFFIX, states, conductances set to 0, what the file does that ionc follows)
CHANNELS = {
    # v = v + 10 ... v = v - 10 in a PROCEDURE without a v argument (a copy of v)
    "K_Pst.mod": ("K_Pst", "mh", {"gK_Pstbar": 0}),
    "K_Tst.mod": ("K_Tst", "mh", {"gK_Tstbar": 0}),
    "Ca_LVAst.mod": ("Ca_LVAst", "mh", {"gCa_LVAstbar": 0}),
    "Ca_LVA.mod": ("Ca_LVA", "mh", {"gbar": 0}),
    # dt read (in a dead variable), celsius declared as a PARAMETER, an || nudge
    "TC_HH.mod": ("TC_HH", "mhn", {"gna_max": 0, "gk_max": 0}),
    # Allen's sodium channel: a 12-state KINETIC scheme with CONSERVE, started by a LINEAR
    # block in INITIAL
    "NaV.mod": ("NaV", ("C1", "C2", "C3", "C4", "C5", "I1", "I2", "I3", "I4", "I5", "O", "I6"),
                {"gbar": 0}),
}


#: calcium pools: file -> SUFFIX
POOLS = {"CaDynamics_E2.mod": "CaDynamics_E2", "CaDynamics.mod": "CaDynamics"}
DRIVER = Path(__file__).parent / "nmodl" / "drivers" / "tica.mod"


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    folder = tmp_path_factory.mktemp("published")
    files = published_files(sorted({*CHANNELS, *POOLS}), folder)
    load_mechanisms([*files.values(), DRIVER], tmp_path_factory.mktemp("nrnivmodl-published"))
    return files


@pytest.mark.parametrize("name", sorted(set(CHANNELS) - {"NaV.mod"}))
def test_published_channels_match_neuron(published, name):
    suffix, states, zero = CHANNELS[name]
    Ch = ionc.from_nmodl(published[name])
    grid = np.linspace(-99.3, 50.7, 31)
    for celsius in (34.0, 22.0):
        init, worst = compare(Ch, suffix, tuple(states), grid, zero, celsius)
        assert init.max() <= 1e-10 and worst <= 1e-10, (celsius, init.max(), worst)


@pytest.mark.parametrize("target", ["cpu", "numpy"])
def test_allens_kinetic_sodium_channel(published, target):
    suffix, states, zero = CHANNELS["NaV.mod"]
    Ch = ionc.from_nmodl(published["NaV.mod"])
    (scheme,) = Ch.spec.schemes
    assert len(scheme.reactions) == 16 and scheme.conserve and scheme.equations
    grid = np.linspace(-99.3, 50.7, 16)
    init, worst = compare(Ch, suffix, states, grid, zero, 34.0, target=target)
    assert init.max() <= 1e-10 and worst <= 1e-10, (init.max(), worst)
    if target == "cpu":          # (float32 on one target: the numpy one is the same code)
        init32, worst32 = compare(Ch, suffix, states, grid, zero, 34.0, dtype="float32",
                                  target=target)
        assert init32.max() <= 2e-6 and worst32 <= 2e-6, (init32.max(), worst32)
    ch = Ch(len(grid), target=target)
    ch.reset_state(grid)
    rng = np.random.default_rng(7)
    for v in rng.uniform(-200, 200, 50):
        ch.update(np.full(len(grid), v), dt=0.025)
    total = sum(ch.states[s] for s in states)
    assert np.abs(total - 1).max() <= 1e-14


def test_allens_kinetic_sodium_channel_under_jax_equals_the_c_target(published, jax_x64):
    import jax
    import ionc.jax as ij
    Ch = ionc.from_nmodl(published["NaV.mod"])
    ops = ij.ops(Ch, dtype="float64", celsius=34.0)
    rng = np.random.default_rng(3)
    V0 = rng.uniform(-90, 30, 64)
    trace = rng.uniform(-100, 50, (40, 64))
    ch = Ch(64, celsius=34.0)
    ch.reset_state(V0)
    states = jax.jit(ops.steady_state)(V0)
    assert all(np.array_equal(np.asarray(states[s]), ch.states[s]) for s in ch.states)
    step = jax.jit(lambda s, v: ops.step(s, v, 0.025))
    for V in trace:
        states = step(states, V)
        ch.update(V, dt=0.025)
    assert all(np.array_equal(np.asarray(states[s]), ch.states[s]) for s in ch.states)


@pytest.mark.parametrize("name", sorted(POOLS))
def test_a_calcium_pool_alone_follows_neurons_for_a_given_ica(published, name):
    """USEION ca READ ica WRITE cai: cai is the pool's state, ica an input; NEURON gets
    the same ica from a driver mechanism (tica) and integrates the pool with cnexp."""
    suffix = POOLS[name]
    Ch = ionc.from_nmodl(published[name])
    assert "ica" in Ch.spec.inputs and Ch.spec.gate("cai").bounds[1] == np.inf
    rng = np.random.default_rng(11)
    trace = np.concatenate([np.zeros(20), -rng.uniform(0, 0.05, 300), np.zeros(200)])
    init, worst, value = driven_by_ica(Ch(1), suffix, ("cai",), trace)
    assert init <= 1e-18 and worst <= 1e-12, (init, worst)
    assert value("cai") > 2e-4            # the current raised cai well above its floor
