"""ionc.brainpy: BrainPy's channel classes with ionc's kernels, against BrainPy itself.

BrainPy runs live here (the test extra installs it): each adapter is checked
against the BrainPy class it replaces, alone and inside a CondNeuGroup.
"""
import contextlib
import inspect
from pathlib import Path

import numpy as np
import pytest

bp = pytest.importorskip("brainpy", reason="ionc.brainpy needs BrainPy (the test extra)")
import brainpy.math as bm  # noqa: E402
import jax  # noqa: E402

import ionc.brainpy as ib  # noqa: E402

DT = 0.025


@contextlib.contextmanager
def precision(dtype: str):
    """BrainPy's float type (x64 on or off) for a block, restored afterwards."""
    before = jax.config.jax_enable_x64
    (bm.enable_x64 if dtype == "float64" else bm.disable_x64)()
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", before)


#: One adapter of each kind of gate (p^3 q rates, p^4 rates, inf/tau, Ih) and the leak in
#: float64, a sodium channel and the leak in float32; the HH CondNeuGroup below runs
#: INa_HH1952 and IK_HH1952.  (ionc's kernels themselves are checked against BrainPy's
#: goldens for every channel in test_library.py; here it is the adapter.)
CASES = ([(name, "float64") for name in ("INa_Ba2002", "IKDR_Ba2002", "IKA1_HM1992",
                                         "Ih_HM1992", "IL", "IKA2_HM1992", "IKK2B_HM1992",
                                         "IKNI_Ya1989", "IKL")]
         + [(name, "float32") for name in ("INa_Ba2002", "IL")])


def _trace(steps: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-90.0, 30.0, (steps, n))


@pytest.mark.parametrize("name,dtype", CASES)
def test_each_adapter_matches_brainpys_channel(name, dtype):
    with precision(dtype):
        _compare_with_brainpy(name, np.dtype(dtype))


def _compare_with_brainpy(name: str, dtype: np.dtype):
    n, steps = 64, 40
    tol = 1e-12 if dtype == np.float64 else 1e-5
    trace = _trace(steps, n, 1).astype(dtype)
    ours, theirs = getattr(ib, name)(n), getattr(bp.dyn, name)(n)
    assert isinstance(ours, bp.dyn.IonChannel)
    results = []
    for ch in (ours, theirs):
        ch.reset_state(bm.asarray(trace[0]))

        def step(v, ch=ch):
            ch.update(v)
            return ch.current(v)

        bp.share.save(dt=DT, t=0.0)
        currents = bm.for_loop(step, bm.asarray(trace))
        gates = [g.name for g in ours.ionc_class.spec.gates]
        results.append((np.asarray(currents), {g: np.asarray(getattr(ch, g).value)
                                               for g in gates}))
    (I1, s1), (I2, s2) = results
    assert I1.dtype == dtype
    scale = np.max(np.abs(I2)) + 1e-30
    assert np.max(np.abs(I1 - I2)) <= tol * scale * 10
    for g in s2:
        assert np.max(np.abs(s1[g] - s2[g])) <= tol, g


def _spiking_steps(make, mod, n: int, steps: int, currents: np.ndarray,
                   group=bp.dyn.CondNeuGroup):
    bm.random.seed(3)
    net = make(mod, n, group)
    net.reset_state()

    def step(i):
        bp.share.save(t=i * DT, i=i, dt=DT)
        net.input.value = bm.asarray(currents)
        net.update()
        return net.V.value, net.spike.value

    bp.share.save(dt=DT)
    V, spikes = bm.for_loop(step, np.arange(steps))
    return np.asarray(V), np.asarray(spikes)


def _ba2002_cell(mod, n, group):
    return group(n, C=1.0, V_initializer=bp.init.Uniform(-75.0, -60.0),
                 INa=mod.INa_Ba2002(n, V_sh=-50.0), IK=mod.IKDR_Ba2002(n, V_sh=-50.0),
                 IL=mod.IL(n, E=-70.0, g_max=0.05))


def _hh(mod, n, group):
    return group(n, C=1.0, V_initializer=bp.init.Uniform(-70.0, -60.0),
                 INa=mod.INa_HH1952(n), IK=mod.IK_HH1952(n),
                 IL=mod.IL(n, E=-54.387, g_max=0.03))


@pytest.mark.slow
@pytest.mark.parametrize("make", [_ba2002_cell, _hh], ids=["Ba2002-cell", "HH"])
def test_a_condneugroup_with_ionc_channels_spikes_at_brainpys_steps(make):
    with precision("float64"):
        n, steps = 40, 4000                               # 100 ms at dt = 0.025
        currents = np.linspace(0.0, 15.0, n)
        V0, s0 = _spiking_steps(make, bp.dyn, n, steps, currents)
        V1, s1 = _spiking_steps(make, ib, n, steps, currents)
        # the whole group as one fused kernel per step (ionc.brainpy.CondNeuGroup)
        V2, s2 = _spiking_steps(make, ib, n, steps, currents, ib.CondNeuGroup)
    assert s0.sum() > n                                    # most cells fire, some repeatedly
    assert np.array_equal(s0, s1) and np.array_equal(s0, s2)
    assert np.max(np.abs(V0 - V1)) < 1e-8 and np.max(np.abs(V0 - V2)) < 1e-8


def test_the_fused_group_reads_parameters_inputs_and_batches_as_brainpys():
    """ionc.brainpy.CondNeuGroup: a parameter set after construction, a synaptic current
    input, a delta input and a batch axis, each as BrainPy's group has them; what it
    cannot do is refused by name."""
    n, steps = 12, 300
    currents = np.linspace(2.0, 14.0, n)
    with precision("float64"):
        runs = []
        for group in (bp.dyn.CondNeuGroup, ib.CondNeuGroup):
            mod = ib if group is ib.CondNeuGroup else bp.dyn
            bm.random.seed(5)
            mode = bm.BatchingMode(2)
            net = group(n, C=1.0, V_initializer=bp.init.Uniform(-70.0, -60.0), mode=mode,
                        INa=mod.INa_HH1952(n, mode=mode), IK=mod.IK_HH1952(n, mode=mode),
                        IL=mod.IL(n, E=-54.387, g_max=0.03, mode=mode))
            net.IL.g_max = bm.asarray(np.linspace(0.03, 0.06, n))   # after construction
            net.add_inp_fun("syn", lambda V: 0.2 * (-60.0 - V), category="current")
            net.add_inp_fun("kick", lambda: bm.where(bp.share["i"] == 100, 3.0, 0.0),
                            category="delta")
            net.reset_state(batch_size=2)

            def step(i, net=net):
                bp.share.save(t=i * DT, i=i, dt=DT)
                net.input.value = bm.asarray(np.stack([currents, currents[::-1]]))
                net.update()
                return net.V.value, net.spike.value

            bp.share.save(dt=DT)
            runs.append([np.asarray(r) for r in bm.for_loop(step, np.arange(steps))])
        # a parameter that turns from one number into one per neuron between steps
        V = []
        for group, mod in ((bp.dyn.CondNeuGroup, bp.dyn), (ib.CondNeuGroup, ib)):
            bm.random.seed(6)
            net = _hh(mod, n, group)
            net.reset_state()
            bp.share.save(t=0.0, i=0, dt=DT)
            net.update(5.0)
            net.IL.g_max = bm.asarray(np.linspace(0.03, 0.06, n))
            net.update(5.0)
            V.append(np.asarray(net.V.value))
    (V0, s0), (V1, s1) = runs
    assert V0.shape == (steps, 2, n) and s0.sum() > n
    assert np.array_equal(s0, s1) and np.max(np.abs(V0 - V1)) < 1e-8
    assert np.max(np.abs(V[0] - V[1])) < 1e-12
    with pytest.raises(TypeError, match="ionc.brainpy channels"):
        ib.CondNeuGroup(4, INa=bp.dyn.INa_HH1952(4))
    with pytest.raises(ValueError, match="steps every channel with exp_auto"):
        ib.CondNeuGroup(4, IL=ib.IL(4, method="euler"))
    leak = ib.IL(4)
    with pytest.raises(ValueError, match="two labels"):
        ib.CondNeuGroup(4, IL1=leak, IL2=leak)
    with pytest.raises(ValueError, match="no fused ops"):  # no channel (yet): BrainPy's step
        ib.CondNeuGroup(4).ops(np.float64)
    with pytest.raises(NotImplementedError, match="noise"):
        ib.CondNeuGroup(4, noise=0.1, IL=ib.IL(4))


def test_the_constructor_is_brainpys():
    ch = ib.INa_Ba2002(5, False, 30.0, 45.0)               # size, keep_size, T, E
    assert float(ch.T) == 30.0 and float(ch.E) == 45.0 and ch.varshape == (5,)
    bm.random.seed(0)
    ch = ib.INa_Ba2002(8, g_max=bp.init.Uniform(50.0, 100.0))
    assert np.asarray(ch.g_max).shape == (8,)
    leak = ib.IL(4)                                        # set after construction, as
    leak.g_max = 0.0                                       # BrainPy's own channels allow
    assert np.all(np.asarray(leak.current(bm.asarray(np.full(4, -60.0)))) == 0.0)
    ch = ib.IKDR_Ba2002(4, phi=2.0)          # BrainPy's phi: the factor T_base^((T-36)/10)
    assert float(ch.T_base) == 2.0 and float(ch.T) == 46.0
    with pytest.raises(ValueError, match="adapts"):
        ib.adapter("CalciumDetailed")          # a node, not a channel


def test_current_is_differentiable_in_v_exactly():
    with precision("float64"):
        ch = ib.INa_Ba2002(16)
        V = bm.asarray(np.linspace(-80.0, 20.0, 16))
        ch.reset_state(V)
        ops = ch.ops(np.float64)
        states = ch._states()
        grad = jax.grad(lambda v: ops.current(states, v).sum())(bm.as_jax(V))
        p, q, g = np.asarray(states["p"]), np.asarray(states["q"]), 90.0
        assert np.allclose(np.asarray(grad), -g * p ** 3 * q, rtol=1e-14, atol=0)


def _custom_calls(fn, *args) -> int:
    """How many XLA custom calls ``fn(*args)`` lowers to."""
    return jax.jit(fn).lower(*args).as_text().count("custom_call")


def test_a_polynomial_current_is_arithmetic_that_xla_fuses_and_a_ghk_one_a_kernel():
    """In BrainPy's group the current and its V-derivative (exp_auto) run as XLA
    arithmetic where the current is a polynomial: no custom call, the same values and
    derivative as the kernel's.  ICaN_IS2008's (C/(C + ...)) stays a kernel."""
    with precision("float64"):
        V = bm.asarray(np.linspace(-80.0, 20.0, 16))
        ch = ib.INa_Ba2002(16)
        ch.reset_state(V)
        v = bm.as_jax(V)
        states, ops = ch._states(), ch.ops(np.float64)
        assert _custom_calls(lambda v: jax.grad(lambda w: ch.current(w).sum())(v), v) == 0
        assert _custom_calls(lambda v: ops.current(states, v), v) == 1
        assert np.allclose(np.asarray(ch.current(V)), np.asarray(ops.current(states, v)),
                           rtol=1e-15, atol=1e-13)
        grad = jax.grad(lambda w: ch.current(w).sum())(v)
        assert np.allclose(np.asarray(grad), -90.0 * np.asarray(states["p"]) ** 3
                           * np.asarray(states["q"]), rtol=1e-14, atol=0)
        ican = ib.ICaN_IS2008(16)
        ican.reset_state(V, 2.4e-4, 120.0)
        assert not ican.ops(np.float64).arithmetic_current
        assert _custom_calls(lambda v: ican.current(v, 2.4e-4, 120.0), v) == 1


@pytest.mark.slow
def test_mod_file_channels_run_in_a_brainpy_condneugroup():
    """hh.mod and passive.mod as BrainPy channels: a BrainPy CondNeuGroup of them fires at
    the steps of ionc's own CondNeuGroup of the same files (both BrainPy's exp_auto)."""
    import ionc
    from neuron_reference import installed
    HH, PAS = ionc.from_nmodl(installed("hh.mod")), ionc.from_nmodl(installed("passive.mod"))
    n, steps = 8, 2000                                 # 50 ms
    currents = np.linspace(2.0, 30.0, n)
    with precision("float64"):
        net = bp.dyn.CondNeuGroup(n, C=1.0, V_initializer=bp.init.Constant(-65.0),
                                  hh=ib.channel(HH)(n), pas=ib.channel(PAS)(n))
        net.reset_state()

        def step(i):
            bp.share.save(t=i * DT, i=i, dt=DT)
            net.input.value = bm.asarray(currents)
            net.update()
            return net.V.value

        bp.share.save(dt=DT)
        V_bp = np.asarray(bm.for_loop(step, np.arange(steps)))
    group = ionc.CondNeuGroup(n, dt=DT, V_th=0.0, V_initializer=-65.0, hh=HH(n), pas=PAS(n))
    V_ionc = group.run(currents, steps=steps, record=("V",))["V"]
    assert np.max(np.abs(V_bp - V_ionc)) < 1e-8
    spikes = ((V_bp[:-1] < 0.0) & (V_bp[1:] >= 0.0)).sum()
    assert spikes >= n // 2                 # the comparison includes spikes
    with pytest.raises(TypeError, match="reads"):
        ib.channel(ionc.from_nmodl(Path(__file__).parent / "nmodl" / "tkca.mod"))


def test_the_fused_group_in_float32_follows_brainpys():
    """BrainPy's default precision: below threshold (no spike to amplify a rounding), V of
    the fused group stays within float32's reach of BrainPy's group over 5 ms."""
    n, steps = 16, 200
    with precision("float32"):
        V = []
        for group, mod in ((bp.dyn.CondNeuGroup, bp.dyn), (ib.CondNeuGroup, ib)):
            bm.random.seed(8)
            net = _hh(mod, n, group)
            net.reset_state()

            def step(i, net=net):
                bp.share.save(t=i * DT, i=i, dt=DT)
                net.input.value = bm.asarray(np.linspace(0.0, 2.0, n, dtype=np.float32))
                net.update()
                return net.V.value

            bp.share.save(dt=DT)
            V.append(np.asarray(bm.for_loop(step, np.arange(steps))))
    assert V[1].dtype == np.float32 and np.all(V[0] < 0)
    assert np.max(np.abs(V[0] - V[1])) < 1e-3                # 5.8e-4 measured


def _hh_subclass(mod, n, group):
    """BrainPy's usual way to build a cell: channels assigned after super().__init__."""
    class HH(group):
        def __init__(self, size):
            super().__init__(size, C=1.0, V_initializer=bp.init.Uniform(-70.0, -60.0))
            self.INa = mod.INa_HH1952(size)
            self.IK = mod.IK_HH1952(size)
            self.IL = mod.IL(size, E=-54.387, g_max=0.03)
    return HH(n)


def test_the_fused_group_takes_brainpys_subclass_pattern():
    n, steps = 12, 800
    currents = np.linspace(0.0, 15.0, n)
    with precision("float64"):
        V0, s0 = _spiking_steps(_hh_subclass, bp.dyn, n, steps, currents)
        V1, s1 = _spiking_steps(_hh_subclass, ib, n, steps, currents, ib.CondNeuGroup)
        V2, s2 = _spiking_steps(_hh, ib, n, steps, currents, ib.CondNeuGroup)
    assert s0.sum() > 0 and np.array_equal(s0, s1) and np.array_equal(s1, s2)
    assert np.array_equal(V1, V2) and np.max(np.abs(V0 - V1)) < 1e-8

    class Empty(ib.CondNeuGroup):
        def __init__(self, size):
            super().__init__(size)
    empty = Empty(3)                  # no channel: it steps as BrainPy's (V integrates input)
    assert not empty.fused()
    with pytest.raises(ValueError, match="steps as BrainPy's CondNeuGroup"):
        empty.ops(np.float64)


def test_every_adapter_has_brainpys_rate_methods():
    for name in (*ib.ADAPTED, *ib.CALCIUM_ADAPTED, *ib.ION_ADAPTED):
        theirs = {m for m in dir(getattr(bp.dyn, name)) if m.startswith("f_")}
        assert theirs <= set(dir(getattr(ib, name))), (name, theirs)


#: (class, rate method, a singular voltage of it at the default parameters)
SINGULAR = [("INa_Ba2002", "f_p_alpha", -37.0), ("INa_Ba2002", "f_p_beta", -10.0),
            ("INa_Ba2002", "f_q_alpha", -50.0), ("IKNI_Ya1989v2", "f_p_inf", -35.0),
            ("IKNI_Ya1989v2", "f_p_tau", -35.0), ("ICaHT_Re1993", "f_p_alpha", -27.0)]


@pytest.mark.parametrize("name,method,v0", SINGULAR)
def test_rate_methods_equal_brainpys_and_are_differentiable_at_their_singular_points(
        name, method, v0):
    """The adapters' f_* are ionc's rate kernels inside JAX: equal to BrainPy 2.8.2's (which
    guards its 0/0 points with an exprel) over a sweep through the singular voltage, and
    jax.grad of them finite there and equal to BrainPy's."""
    import jax.numpy as jnp
    with precision("float64"):
        V = jnp.asarray(np.concatenate([np.linspace(-120.0, 60.0, 91), [v0, v0 + 1e-9]]))
        ours, theirs = getattr(ib, name)(1), getattr(bp.dyn, name)(1)
        a, b = np.asarray(getattr(ours, method)(V)), np.asarray(getattr(theirs, method)(V))
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-300)

        def grad(channel):
            return float(jax.grad(lambda v: getattr(channel, method)(jnp.asarray([v]))[0])(v0))
        ga, gb = grad(ours), grad(theirs)
        assert np.isfinite(ga) and abs(ga - gb) <= 1e-9 * max(abs(gb), 1e-12), (ga, gb)


@pytest.mark.parametrize("name,method", [("INa_Ba2002", "dp"), ("INa_Ba2002", "dq"),
                                         ("IKNI_Ya1989v2", "dp"),
                                         ("IKDR_Ba2002", "derivative")])
def test_state_derivatives_equal_brainpys(name, method):
    """dp(p, t, V), dq and a lone gate's derivative(p, t, V), with per-neuron values."""
    import jax.numpy as jnp
    rng = np.random.default_rng(3)
    with precision("float64"):
        V = jnp.asarray(np.concatenate([rng.uniform(-100.0, 40.0, 30), [-37.0, -10.0]]))
        x = jnp.asarray(rng.uniform(0.0, 1.0, V.size))
        ours, theirs = getattr(ib, name)(V.size), getattr(bp.dyn, name)(V.size)
        a = np.asarray(getattr(ours, method)(x, 0.0, V))
        b = np.asarray(getattr(theirs, method)(x, 0.0, V))
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


ALL = (*ib.ADAPTED, *ib.CALCIUM_ADAPTED, *ib.ION_ADAPTED)


def test_every_adapter_has_every_public_attribute_of_brainpys():
    with precision("float32"):
        for name in ALL:
            theirs = {a for a in dir(getattr(bp.dyn, name)(2)) if not a.startswith("_")}
            ours = set(dir(getattr(ib, name)(2)))
            assert theirs <= ours, (name, sorted(theirs - ours))


@pytest.mark.parametrize("name", ALL)
def test_derived_attributes_and_integral_equal_brainpys(name):
    """phi (phi_p, phi_q; Ih_De1996's k1, k3) from the parameters, at T = 30 where the
    channel has T, and integral(*states, t, V, dt) (C_Ca= where the node's C gates it) as
    BrainPy calls it, with per-neuron states, in BrainPy's default float32."""
    import jax.numpy as jnp
    rng = np.random.default_rng(11)
    with precision("float32"):
        kwargs = {"T": 30.0} if "T" in getattr(ib, name).ionc_class.spec.parameters else {}
        ours, theirs = getattr(ib, name)(6, **kwargs), getattr(bp.dyn, name)(6, **kwargs)
        for attr in ("phi", "phi_p", "phi_q", "k1", "k3"):
            if hasattr(theirs, attr):
                np.testing.assert_allclose(np.asarray(getattr(ours, attr)),
                                           np.asarray(getattr(theirs, attr)), rtol=1e-6)
        if not hasattr(theirs, "integral"):                 # the leaks
            return
        gates = [g.name for g in ours.ionc_class.spec.gates]
        states = [jnp.asarray(rng.uniform(0.0, 0.5, 6), jnp.float32) for _ in gates]
        V = jnp.asarray(rng.uniform(-90.0, 20.0, 6), jnp.float32)
        signature = inspect.signature(theirs.integral)
        args, kw = [*states, 0.0], {"dt": 0.1}
        if "C_Ca" in signature.parameters or name.startswith(("IAHP", "Ih_De")):
            kw["C_Ca"] = jnp.asarray(rng.uniform(1e-4, 3e-3, 6), jnp.float32)
        if not name.startswith("IAHP"):                      # dp(p, t, C_Ca): no V
            args.append(V)
        a, b = ours.integral(*args, **kw), theirs.integral(*args, **kw)
        a, b = (list(x) if isinstance(x, (tuple, list)) else [x] for x in (a, b))
        assert len(a) == len(b) == len(gates)
        for x, y in zip(a, b):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("name,method", [("IAHP_De1994", "dp"), ("Ih_De1996", "dO"),
                                         ("Ih_De1996", "dOL"), ("Ih_De1996", "dP1"),
                                         ("ICaN_IS2008", "derivative")])
def test_derivatives_take_brainpys_own_arguments(name, method):
    """dp(p, t, C_Ca), dO(O, t, OL, V), dOL(OL, t, O, P1), dP1(P1, t, C_Ca): BrainPy's
    arguments by BrainPy's names, equal to BrainPy's."""
    import jax.numpy as jnp
    rng = np.random.default_rng(4)
    with precision("float64"):
        ours, theirs = getattr(ib, name)(20), getattr(bp.dyn, name)(20)
        values = {"V": rng.uniform(-100.0, 30.0, 20), "C_Ca": rng.uniform(1e-4, 3e-3, 20)}
        values.update({g.name: rng.uniform(0.0, 0.5, 20) for g in ours.ionc_class.spec.gates})
        names = list(inspect.signature(getattr(theirs, method)).parameters)
        args = [jnp.asarray(values[names[0]]), 0.0,
                *(jnp.asarray(values[k]) for k in names[2:])]
        np.testing.assert_allclose(np.asarray(getattr(ours, method)(*args)),
                                   np.asarray(getattr(theirs, method)(*args)),
                                   rtol=1e-12, atol=1e-15)
