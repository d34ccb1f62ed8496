"""A whole neuron group inside JAX (ionc.jax.neuron_ops): the fused kernels as custom calls.

The reference is the group itself on the C target: the handlers call the same
kernels, compiled from the same source with the same flags, so states, spike
flags, records and counts must equal the group's to the bit.
"""
import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="ionc.jax needs the jax extra")
jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

import ionc  # noqa: E402
import ionc.jax as ij  # noqa: E402

N = 67                     # not a multiple of a vector width
STEPS = 300


pytestmark = pytest.mark.usefixtures("jax_x64")


def group(dtype: str, method: str):
    """Per-neuron C and sodium conductance, a membrane area that scales the input, and
    (for NEURON's method) channels stepped with cnexp: the paths a group can take."""
    rng = np.random.default_rng(3)
    C = rng.uniform(0.8, 1.2, N)
    g_na = rng.uniform(80.0, 120.0, N)
    channel = "cnexp" if method == "neuron" else "exp_auto"
    return ionc.CondNeuGroup(
        N, C=C, A=2e-3, V_th=-20.0, method=method, dtype=dtype,
        dt=0.025 if method == "neuron" else 0.1,
        V_initializer=lambda s: np.linspace(-75.0, -55.0, s[0]),
        INa=ionc.INa_HH1952(N, g_max=g_na, dtype=dtype, method=channel),
        IK=ionc.IK_HH1952(N, dtype=dtype, method=channel),
        IL=ionc.IL(N, E=-54.387, g_max=0.03, dtype=dtype, method=channel))


def inputs(dtype: str) -> np.ndarray:
    rng = np.random.default_rng(4)
    return rng.uniform(0.0, 40.0, (STEPS, N)).astype(dtype)


def equal(a, b) -> bool:
    return np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("dtype,method", [("float64", "exp_auto"), ("float32", "neuron")])
def test_step_in_scan_equals_the_groups_update_bit_for_bit(dtype, method):
    host, ref = group(dtype, method), group(dtype, method)
    ops = ij.neuron_ops(host)
    x = inputs(dtype)
    start = ops.states()
    flags = np.stack([ref.update(x[k], dt=0.05).copy() for k in range(STEPS)])
    assert flags.sum() > N // 2                        # the protocol spikes

    @jax.jit
    def scan(states, x):
        return jax.lax.scan(lambda s, xk: ops.step(s, xk, 0.05), states, x)

    end, spikes = scan(start, x)
    assert spikes.dtype == jnp.bool_ and equal(spikes, flags)
    assert equal(end["V"], ref.V)
    for label, ch in ref.channels.items():
        for g, value in ch.states.items():
            assert equal(end[f"{label}.{g}"], value), f"{label}.{g}"


@pytest.mark.parametrize("dtype,method", [("float64", "exp_auto"), ("float32", "neuron")])
def test_run_equals_the_groups_run(dtype, method):
    host, ref = group(dtype, method), group(dtype, method)
    ops = ij.neuron_ops(host)
    x = inputs(dtype)[:100]
    want = ref.run(x, dt=0.05, every=3)
    end, got = jax.jit(lambda s, x: ops.run(s, x, 0.05, every=3))(ops.states(), x)
    assert set(got) == {"V", "spike", "spike_count"} and got["spike"].dtype == jnp.int32
    for name in got:
        assert equal(got[name], want[name]), name
    assert want["spike_count"].sum() > 0
    assert equal(end["V"], ref.V)
    # counts only: no record written, the totals still start from zero
    _, counts = ops.run(end, x, 0.05, record=())
    assert set(counts) == {"spike_count"}
    assert equal(counts["spike_count"], ref.run(x, dt=0.05, record=())["spike_count"])


def test_vmap_over_inputs_equals_each_member():
    ops = ij.neuron_ops(group("float64", "exp_auto"))
    start = ops.states()
    xs = np.stack([inputs("float64")[k] for k in (0, 1, 2)])
    batched = jax.vmap(lambda x: ops.step(start, x, 0.05))(xs)
    for b in range(3):
        states, spike = ops.step(start, xs[b], 0.05)
        assert equal(batched[1][b], spike)
        for k in states:
            assert equal(batched[0][k][b], states[k])
    trace = inputs("float64")[:40]
    runs = jax.vmap(lambda s: ops.run(s, trace, 0.05)[1])(
        {**{k: jnp.stack([v, v]) for k, v in start.items()},
         "V": jnp.stack([start["V"], start["V"] + 5.0])})
    for b, shift in enumerate((0.0, 5.0)):
        one = ops.run({**start, "V": start["V"] + shift}, trace, 0.05)[1]
        for name in one:
            assert equal(runs[name][b], one[name]), name
    assert int(runs["spike_count"].sum()) > 0


def test_bad_input_is_refused_naming_it():
    ops = ij.neuron_ops(group("float64", "exp_auto"))
    start = ops.states()
    x = inputs("float64")[0]
    with pytest.raises(KeyError, match="INa.p"):
        ops.step({k: v for k, v in start.items() if k != "INa.p"}, x, 0.05)
    with pytest.raises(ValueError, match="state V has shape"):
        ops.step({**start, "V": start["V"][:-1]}, x, 0.05)
    with pytest.raises(ValueError, match="does not broadcast"):
        ops.step(start, x[:-1], 0.05)
    with pytest.raises(ValueError, match="dt"):
        ops.step(start, x, 0.0)
    with pytest.raises(Exception, match="dt must be finite and > 0"):
        jax.jit(lambda d: ops.step(start, x, d))(-0.1)[0]["V"].block_until_ready()
    bad = x.copy()
    bad[5] = np.nan
    with pytest.raises(Exception, match="I_ext contains 1 non-finite"):
        ops.step(start, bad, 0.05)[0]["V"].block_until_ready()
    with pytest.raises(ValueError, match="expected"):
        ops.run(start, x, 0.05)
    with pytest.raises(TypeError, match="not differentiable"):
        jax.grad(lambda V: ops.step({**start, "V": V}, x, 0.05)[0]["V"].sum())(start["V"])
    with pytest.raises(TypeError, match="CondNeuGroup"):
        ij.neuron_ops(ionc.INa_HH1952(4))
    spec = group("float64", "exp_auto").spec
    with pytest.raises(ValueError, match="C must be finite and > 0"):
        ij.NeuronOps(spec, N, parameters={"C": 0.0})
    with pytest.raises(ValueError, match="INa.g_max must be finite"):
        ij.NeuronOps(spec, N, parameters={"INa.g_max": np.nan})
    with pytest.raises(ValueError, match="no parameter"):
        ij.NeuronOps(spec, N, parameters={"INa.nope": 1.0})
    with pytest.raises(ValueError, match="parameter C has shape"):   # before compiling
        ij.NeuronOps(spec, N, parameters={"C": np.ones(3)})
    with pytest.raises(ValueError, match="A .membrane area"):
        ij.NeuronOps(spec, N, A=0.0)
    with pytest.raises(ValueError, match="shape must be positive"):
        ij.NeuronOps(spec, 0)
    with pytest.raises(ValueError, match="compiled as a scalar"):
        ops.step(start, x, 0.05, params={"IL.E": np.zeros(N)})
    # the propagating policy lets NaN through, as the group's kernels would
    loose = ij.neuron_ops(group("float64", "exp_auto"), nan_policy="propagate")
    assert np.isnan(np.asarray(loose.step(start, bad, 0.05)[0]["V"])[5])
