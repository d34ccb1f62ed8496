"""Library channels against BrainPy itself, live (BrainPy is in the test extra): BrainPy's
V-only potassium classes that joined the library, their rates, steady states, a 40-step
trajectory over random voltages and the current, on the host targets, in both dtypes."""
import numpy as np
import pytest

bp = pytest.importorskip("brainpy", reason="the BrainPy reference needs the test extra")
import brainpy.math as bm  # noqa: E402
import jax  # noqa: E402

import ionc  # noqa: E402

NEW = ["IKA2_HM1992", "IKK2A_HM1992", "IKK2B_HM1992", "IKNI_Ya1989", "IKL"]
TOL = {"float64": 1e-12, "float32": 1e-5}
#: BrainPy's positional order after (size, keep_size), which ionc's constructors follow
POSITIONAL = {"IKA2_HM1992": (-85.0, 15.0, 2.0, 1.3, 0.8),
              "IKK2A_HM1992": (-85.0, 12.0, 2.0, 1.3, 0.8),
              "IKK2B_HM1992": (-85.0, 12.0, 2.0, 1.3, 0.8),
              "IKNI_Ya1989": (-85.0, 0.01, 1.3, 0.8, 3000.0, 2.0),
              "IKL": (0.01, -85.0)}


@pytest.fixture
def x64(request):
    before = jax.config.jax_enable_x64
    (bm.enable_x64 if request.param == "float64" else bm.disable_x64)()
    yield request.param
    jax.config.update("jax_enable_x64", before)


@pytest.mark.parametrize("x64", ["float64", "float32"], indirect=True)
@pytest.mark.parametrize("target", ["cpu", "numpy"])
@pytest.mark.parametrize("name", NEW)
def test_brainpys_v_only_potassium_channels(name, target, x64):
    dtype, tol, n = x64, TOL[x64], 64
    rng = np.random.default_rng(5)
    trace = rng.uniform(-120.0, 40.0, (40, n)).astype(dtype)
    args = POSITIONAL[name]
    theirs = getattr(bp.dyn, name)(n, False, *args)
    ours = getattr(ionc, name)(n, False, *args, dtype=dtype, target=target)
    gates = [g.name for g in ours.spec.gates]
    for g in gates:
        for role in ("inf", "tau"):
            want = np.asarray(getattr(theirs, f"f_{g}_{role}")(bm.asarray(trace[0])))
            got = getattr(ours, f"f_{g}_{role}")(trace[0])
            np.testing.assert_allclose(got, want, rtol=tol, atol=0, err_msg=f"{g} {role}")
    theirs.reset_state(bm.asarray(trace[0]))
    ours.reset_state(trace[0])
    bp.share.save(dt=0.025, t=0.0)

    def step(v):
        theirs.update(v)
        return theirs.current(v)
    want_I = np.asarray(bm.for_loop(step, bm.asarray(trace)))
    got = ours.run(trace, dt=0.025, record=(*gates, "I"))
    scale = np.abs(want_I).max()
    assert np.abs(got["I"] - want_I).max() <= 10 * tol * scale
    for g in gates:
        assert np.abs(ours.states[g] - np.asarray(getattr(theirs, g).value)).max() <= tol, g


#: BrainPy's calcium channels: their positional arguments after (size, keep_size), with
#: phi_p or phi_q given where the class takes them
CALCIUM = {"ICaT_HM1992": (30.0, 3.0, 2.5, 1.5, -2.0),
           "ICaT_HP1992": (30.0, 4.0, 2.5, 1.5, -2.0, None, 1.7),
           "ICaHT_HM1992": (30.0, 3.0, 2.5, 1.5, 20.0),
           "ICaHT_Re1993": (30.0, 2.0, 2.5, 1.3, None, 1.1, 3.0)}


@pytest.mark.parametrize("x64, target", [("float64", "cpu"), ("float32", "cpu"),
                                         ("float64", "numpy")], indirect=["x64"])
@pytest.mark.parametrize("name", sorted(CALCIUM))
def test_brainpys_calcium_channels(name, target, x64):
    """Rates (through ICaHT_Re1993's 0/0 at V = V_sh - 27), steady states, 40 steps and the
    current, with the calcium node's E per neuron (BrainPy passes it on every call)."""
    dtype, tol, n = x64, TOL[x64], 64
    rng = np.random.default_rng(6)
    trace = rng.uniform(-120.0, 40.0, (40, n)).astype(dtype)
    trace[0, :3] = (-24.0, -24.0 + 1e-9, -24.0 - 1e-9)
    E = rng.uniform(100.0, 140.0, n).astype(dtype)
    C = np.full(n, 2.4e-4, dtype)
    theirs = getattr(bp.dyn, name)(n, False, *CALCIUM[name])
    ours = getattr(ionc, name)(n, False, *CALCIUM[name], E=E, dtype=dtype, target=target)
    for g in ours.spec.gates:
        for role in (("alpha", "beta") if g.kind == "rates" else ("inf", "tau")):
            want = np.asarray(getattr(theirs, f"f_{g.name}_{role}")(bm.asarray(trace[0])))
            got = getattr(ours, f"f_{g.name}_{role}")(trace[0])
            np.testing.assert_allclose(got, want, rtol=tol, atol=0, err_msg=f"{g.name} {role}")
    args = (bm.asarray(C), bm.asarray(E))
    theirs.reset_state(bm.asarray(trace[0]), *args)
    ours.reset_state(trace[0])
    bp.share.save(dt=0.025, t=0.0)

    def step(v):
        theirs.update(v, *args)
        return theirs.current(v, *args)
    want_I = np.asarray(bm.for_loop(step, bm.asarray(trace)))
    got = ours.run(trace, dt=0.025, record=("p", "q", "I"))
    assert np.abs(got["I"] - want_I).max() <= 10 * tol * np.abs(want_I).max()
    for g in ("p", "q"):
        assert np.abs(ours.states[g] - np.asarray(getattr(theirs, g).value)).max() <= tol, g


@pytest.mark.parametrize("x64", ["float64"], indirect=True)
def test_brainpys_phi_keyword_sets_the_temperature_factor(x64):
    import ionc.brainpy as ib
    rng = np.random.default_rng(9)
    trace = rng.uniform(-90.0, 30.0, (30, 16))
    for phi in (None, 2.0, np.linspace(0.5, 3.0, 16)):
        theirs = bp.dyn.IKDR_Ba2002(16, phi=phi)
        mine = [ionc.IKDR_Ba2002(16, phi=phi), ib.IKDR_Ba2002(16, phi=phi),
                ionc.IKDR_Ba2002(16, False, -90.0, 10.0, -50.0, 3.0, 36.0, phi)]
        theirs.reset_state(bm.asarray(trace[0]))
        for ch in mine:
            ch.reset_state(bm.asarray(trace[0]) if isinstance(ch, bp.dyn.IonChannel)
                           else trace[0])
        bp.share.save(dt=0.025, t=0.0)
        for v in trace:
            theirs.update(bm.asarray(v))
            for ch in mine:
                ch.update(bm.asarray(v)) if isinstance(ch, bp.dyn.IonChannel) else \
                    ch.update(v, dt=0.025)
        want = np.asarray(theirs.p.value)
        for ch in mine:
            got = np.asarray(ch.p.value) if isinstance(ch, bp.dyn.IonChannel) else ch.p
            assert np.abs(got - want).max() <= 1e-12, (phi, type(ch))


def _brainpy_cell(node: str, n: int, I, steps: int, dt: float, channels=None,
                  calcium=("ICaT_HM1992",)):
    """BrainPy's cell with a calcium node holding calcium channels (``calcium``, each with
    g_max = 1): V and C per step.  ``channels``: the module of the channel classes
    (BrainPy's own by default)."""
    bm.set_dt(dt)
    lib = channels or bp.dyn

    class Cell(bp.dyn.CondNeuGroup):
        def __init__(self, size):
            super().__init__(size, V_initializer=bp.init.Constant(-65.0), V_th=0.0)
            self.INa = lib.INa_Ba2002(size)
            self.IK = lib.IKDR_Ba2002(size)
            self.IL = lib.IL(size, E=-70.0, g_max=0.05)
            self.Ca = getattr(bp.dyn, node)(
                size, C_initializer=bp.init.OneInit(2e-3),
                **{name: getattr(lib, name)(size, g_max=1.0) for name in calcium})
    cell = Cell(n)
    cell.reset_state()

    def step(k):
        bp.share.save(t=k * dt, dt=dt, i=k)
        cell.update(I)
        cell.clear_input()
        return cell.V.value, cell.Ca.C.value
    V, C = bm.for_loop(step, np.arange(steps), jit=True)
    return np.asarray(V), np.asarray(C)


@pytest.mark.parametrize("x64", ["float64"], indirect=True)
@pytest.mark.parametrize("node", ["CalciumDetailed", "CalciumFirstOrder"])
def test_brainpys_calcium_nodes_drive_a_cell_as_in_brainpy(node, x64):
    """A node's C integrates the cell's calcium current and sets E, which the calcium
    channel reads (BrainPy nests the channel in the node; in ionc both are mechanisms of
    the group).  C starts high and decays, moving E; the cell fires."""
    n, steps, dt = 4, 3000, 0.01
    I = np.array([0.0, 2.0, 5.0, 10.0])
    V, C = _brainpy_cell(node, n, I, steps, dt)
    cell = ionc.CondNeuGroup(n, V_initializer=-65.0, V_th=0.0, dt=dt,
                             INa=ionc.INa_Ba2002(n), IK=ionc.IKDR_Ba2002(n),
                             IL=ionc.IL(n, E=-70.0, g_max=0.05),
                             ICaT=ionc.ICaT_HM1992(n, g_max=1.0),
                             Ca=getattr(ionc, node)(n, C_initializer=2e-3))
    out = cell.run(np.broadcast_to(I, (steps, n)), record=("V", "spike", "cai"))
    assert C[-1].max() < 0.75 * C[0].min()                  # C moves
    assert np.abs(out["V"] - V).max() <= 1e-8
    assert (np.abs(out["cai"] - C) / C).max() <= 1e-10
    spikes = (V[:-1] < 0) & (V[1:] >= 0)
    assert spikes.sum() >= 3
    np.testing.assert_array_equal(out["spike"][1:].astype(bool), spikes)


@pytest.mark.parametrize("x64", ["float64"], indirect=True)
@pytest.mark.parametrize("calcium", ["ICaT_HP1992", "ICaHT_Re1993"])   # inf/tau, alpha/beta
def test_ionc_brainpys_calcium_channels_inside_brainpys_calcium_node(calcium, x64):
    """ionc.brainpy's calcium channels in BrainPy's own CalciumDetailed node and group,
    against the same cell of BrainPy's channels: the node passes C and E on every call."""
    import ionc.brainpy as ib
    n, steps, dt = 4, 2000, 0.01
    I = np.array([0.0, 2.0, 5.0, 10.0])
    V, C = _brainpy_cell("CalciumDetailed", n, I, steps, dt, calcium=(calcium,))
    V2, C2 = _brainpy_cell("CalciumDetailed", n, I, steps, dt, channels=ib, calcium=(calcium,))
    assert all(isinstance(getattr(ib, name)(2), bp.dyn.CalciumChannel)
               == issubclass(getattr(bp.dyn, name), bp.dyn.CalciumChannel)
               for name in ib.CALCIUM_ADAPTED)
    assert np.abs(V2 - V).max() <= 1e-9, np.abs(V2 - V).max()
    assert (np.abs(C2 - C) / C).max() <= 1e-10
    assert ((V[:-1] < 0) & (V[1:] >= 0)).sum() >= 3


#: g_max of each v2 channel in the one cell that holds them all (a spiking mix)
V2_CELL = {"INa_Ba2002v2": 30.0, "INa_TM1991v2": 40.0, "INa_HH1952v2": 40.0,
           "IKDR_Ba2002v2": 5.0, "IK_TM1991v2": 3.0, "IK_HH1952v2": 3.0, "IKA1_HM1992v2": 2.0,
           "IKA2_HM1992v2": 2.0, "IKK2A_HM1992v2": 1.0, "IKK2B_HM1992v2": 1.0,
           "IKNI_Ya1989v2": 0.004, "IK_Leak": 0.005}


def _v2_cell(lib, n: int, I, steps: int, dt: float):
    """A BrainPy cell of every v2 channel (and IK_Leak) in BrainPy's SodiumFixed and
    PotassiumFixed nodes, with per-neuron conductances: V and every gate per step."""
    bm.set_dt(dt)
    g = np.linspace(0.8, 1.2, n)             # per neuron for two channels, else scalars

    def chans(names):
        return {name: getattr(lib, name)(n, g_max=V2_CELL[name] * (
            g if name in ("INa_Ba2002v2", "IKDR_Ba2002v2") else 1.0)) for name in names}

    class Cell(bp.dyn.CondNeuGroup):
        def __init__(self, size):
            super().__init__(size, V_initializer=bp.init.Constant(-65.0), V_th=0.0)
            self.IL = bp.dyn.IL(size, E=-70.0, g_max=0.05)
            self.Na = bp.dyn.SodiumFixed(size, E=55.0, **chans(
                [k for k in V2_CELL if k.startswith("INa")]))
            self.K = bp.dyn.PotassiumFixed(size, E=-95.0, **chans(
                [k for k in V2_CELL if not k.startswith("INa")]))
    cell = Cell(n)
    cell.reset_state()
    gates = {f"{node}.{name}.{v}": ch for node in ("Na", "K")
             for name, ch in getattr(cell, node).children.items()
             for v in ("p", "q") if isinstance(getattr(ch, v, None), bm.Variable)}

    def step(k):
        bp.share.save(t=k * dt, dt=dt, i=k)
        cell.update(I)
        cell.clear_input()
        return cell.V.value, {key: getattr(ch, key.rsplit(".", 1)[1]).value
                              for key, ch in gates.items()}
    V, states = bm.for_loop(step, np.arange(steps), jit=True)
    return np.asarray(V), {k: np.asarray(v) for k, v in states.items()}


@pytest.mark.parametrize("x64", ["float64"], indirect=True)
def test_the_v2_channels_inside_brainpys_sodium_and_potassium_nodes(x64):
    """ionc.brainpy's v2 classes and IK_Leak in BrainPy's own SodiumFixed and
    PotassiumFixed nodes (which pass C and E on every call), against the same cell of
    BrainPy's classes: V within 1e-9 mV and every gate within 1e-10 over 2000 steps."""
    import ionc.brainpy as ib
    n, steps, dt = 4, 2000, 0.01
    I = np.array([0.0, 20.0, 40.0, 80.0])
    V, S = _v2_cell(bp.dyn, n, I, steps, dt)
    V2, S2 = _v2_cell(ib, n, I, steps, dt)
    assert set(ib.ION_ADAPTED) - {"IAHP_De1994v2"} == set(V2_CELL)   # that one: below
    assert sorted(S) == sorted(S2) and len(S) >= 15
    assert np.abs(V2 - V).max() <= 1e-9, np.abs(V2 - V).max()
    for key in S:
        assert np.abs(S2[key] - S[key]).max() <= 1e-10, key
    spikes = ((V[:-1] < 0) & (V[1:] >= 0)).sum(axis=0)
    assert spikes.sum() >= 10 and spikes[0] < spikes[-1]


#: The calcium-gated classes and ICaL_IS2008 in one cell: label -> (class, g_max)
GATED_CELL = {"ICaL": ("ICaL_IS2008", 0.5), "ICaN": ("ICaN_IS2008", 0.5),
              "KCa": ("IAHP_De1994", 2.0), "IH": ("Ih_De1996", 0.05)}


def _calcium_gated_cell(lib, n: int, I, steps: int, dt: float):
    """BrainPy's cell of the channels a calcium node's C gates: ICaL_IS2008, ICaN_IS2008,
    IAHP_De1994 and Ih_De1996 in a CalciumDetailed node (per-neuron conductances), and
    IAHP_De1994v2 in a MixIons of that node and a PotassiumFixed; V, C and every state per
    step."""
    bm.set_dt(dt)
    g = np.linspace(0.8, 1.2, n)

    class Cell(bp.dyn.CondNeuGroup):
        def __init__(self, size):
            super().__init__(size, V_initializer=bp.init.Constant(-65.0), V_th=0.0)
            self.INa = lib.INa_Ba2002(size)
            self.IK = lib.IKDR_Ba2002(size)
            self.IL = lib.IL(size, E=-70.0, g_max=0.05)
            self.Ca = bp.dyn.CalciumDetailed(size, C_initializer=bp.init.OneInit(2e-3), **{
                k: getattr(lib, c)(size, g_max=g_max * g) for k, (c, g_max) in GATED_CELL.items()})
            self.K = bp.dyn.PotassiumFixed(size, E=-95.0)
            self.KCa = bp.dyn.MixIons(self.Ca, self.K)
            self.KCa.add_elem(AHP=lib.IAHP_De1994v2(size, g_max=1.0))
    cell = Cell(n)
    cell.reset_state()
    states = {f"{node}.{k}.{v}": (ch, v) for node in ("Ca", "KCa")
              for k, ch in getattr(cell, node).children.items()
              for v in ("p", "q", "O", "OL", "P1") if isinstance(getattr(ch, v, None), bm.Variable)}

    def step(k):
        bp.share.save(t=k * dt, dt=dt, i=k)
        cell.update(I)
        cell.clear_input()
        return cell.V.value, cell.Ca.C.value, {key: getattr(ch, v).value
                                                for key, (ch, v) in states.items()}
    V, C, S = bm.for_loop(step, np.arange(steps), jit=True)
    return np.asarray(V), np.asarray(C), {k: np.asarray(v) for k, v in S.items()}


_GATED_RUNS: dict = {}


def _gated_run(lib: str, dtype: str):
    """The calcium-gated cell of ``lib`` ("brainpy" or "ionc") in ``dtype``, 4 neurons and
    2000 steps, each run once per session (two tests compare the same runs)."""
    if (lib, dtype) not in _GATED_RUNS:
        import ionc.brainpy as ib
        before = jax.config.jax_enable_x64
        try:
            (bm.enable_x64 if dtype == "float64" else bm.disable_x64)()
            _GATED_RUNS[lib, dtype] = _calcium_gated_cell(
                bp.dyn if lib == "brainpy" else ib, 4, np.array([0.0, 5.0, 10.0, 20.0]),
                2000, 0.01)
        finally:
            (bm.enable_x64 if before else bm.disable_x64)()
    return _GATED_RUNS[lib, dtype]


def test_the_calcium_gated_channels_inside_brainpys_calcium_node():
    """ionc.brainpy's ICaL_IS2008, ICaN_IS2008, IAHP_De1994, Ih_De1996 (in BrainPy's
    CalciumDetailed, which passes its moving C) and IAHP_De1994v2 (in BrainPy's MixIons),
    against the same cell of BrainPy's classes: V within 1e-9 mV, C and every state within
    1e-10 over 2000 steps, with spikes.  As in BrainPy, the node's reset leaves IAHP_De1994
    and Ih_De1996 (not CalciumChannels there) at zero."""
    V, C, S = _gated_run("brainpy", "float64")
    V2, C2, S2 = _gated_run("ionc", "float64")
    assert sorted(S) == sorted(S2) and len(S) == 8
    assert C.max() > 3 * C.min()                                   # C moves
    assert np.abs(V2 - V).max() <= 1e-9, np.abs(V2 - V).max()
    assert (np.abs(C2 - C) / C).max() <= 1e-10
    for key in S:
        assert np.abs(S2[key] - S[key]).max() <= 1e-10, key
    assert S["Ca.KCa.p"][0].max() < 1e-5                          # started from 0
    spikes = ((V[:-1] < 0) & (V[1:] >= 0)).sum(axis=0)
    assert spikes.sum() >= 6 and spikes[0] < spikes[-1]


def test_the_calcium_gated_cell_in_float32_is_as_close_to_float64_as_brainpys():
    """BrainPy's default precision: the cell above in float32, ionc.brainpy's classes and
    BrainPy's, each against BrainPy's float64 run.  Spikes amplify rounding, so ionc's
    float32 is held to BrainPy's own float32 distance (not to a fixed bound)."""
    V64, C64, _ = _gated_run("brainpy", "float64")
    V32, C32, _ = _gated_run("brainpy", "float32")
    W32, D32, _ = _gated_run("ionc", "float32")
    assert W32.dtype == np.float32 and np.all(np.isfinite(W32)) and np.all(np.isfinite(D32))
    theirs, ours = np.abs(V32 - V64).max(), np.abs(W32 - V64).max()
    print(f"float32 against BrainPy's float64: V ionc {ours:.3g} mV, BrainPy {theirs:.3g} mV")
    assert ours <= 2 * theirs + 1e-4, (ours, theirs)
    c_theirs, c_ours = (np.abs(x - C64).max() / C64.max() for x in (C32, D32))
    assert c_ours <= 2 * c_theirs + 1e-6, (c_ours, c_theirs)
