"""Channels from NEURON .mod files against NEURON itself: the files NEURON installs
(hh.mod, passive.mod) and ionc's own under tests/nmodl (compiled with nrnivmodl),
at finitialize over a voltage grid through every singular point and over a
200-step voltage protocol at dt = 0.025 ms, in float64 and float32."""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

neuron = pytest.importorskip("neuron")
from neuron import h  # noqa: E402

import ionc  # noqa: E402
from ionc.codegen import SpecError, lower_channel  # noqa: E402
from ionc.codegen.nmodl import parse_nmodl  # noqa: E402
from neuron_reference import (DT, SHARE, compare, driven_by_ica, installed,  # noqa: E402
                              load_mechanisms, section)
from targets import host  # noqa: E402

OWN = Path(__file__).parent / "nmodl"


@pytest.fixture(scope="module")
def own_mechanisms(tmp_path_factory):
    """ionc's test .mod files compiled by nrnivmodl and loaded into NEURON."""
    return load_mechanisms([*OWN.glob("*.mod"), *OWN.glob("*.inc"), OWN / "drivers" / "tica.mod",
                            *(installed(name) for name in DEMO)],
                           tmp_path_factory.mktemp("nrnivmodl"))


#: NEURON's demo channels: file -> (SUFFIX, states, conductance to zero, singular points).
DEMO = {"nachan.mod": ("HHna", ("m", "h"), "gnabar", (-40.0,)),
        "khhchan.mod": ("HHk", ("n",), "gkbar", (-55.0,)),
        "cachan1.mod": ("cachan1", ("S",), "imax", ()),
        "camchan.mod": ("cachan", ("oca",), "pcabar", (-40.0, 0.0))}


def _usetable_off() -> None:
    for name in ("hh", "tguard", *(suffix for suffix, *_ in DEMO.values())):
        if hasattr(h, f"usetable_{name}"):
            setattr(h, f"usetable_{name}", 0)


@pytest.mark.parametrize("name", sorted(DEMO))
def test_neurons_demo_channels_match_neuron(own_mechanisms, name):
    suffix, states, conductance, singular = DEMO[name]
    Ch = ionc.from_nmodl(installed(name))
    _usetable_off()
    grid = np.concatenate([np.linspace(-99.7, 50.3, 31),
                           [s + d for s in singular for d in (0.0, 1e-9, -1e-9)]])
    for celsius in (6.3, 22.0):
        init, worst = compare(Ch, suffix, states, grid, {conductance: 0}, celsius)
        assert init.max() <= 1e-10 and worst <= 1e-10, (celsius, init.max(), worst)
    # the current with the conductance on, after finitialize (NEURON's sign and units)
    h.celsius = 6.3
    sec, seg = section(suffix)
    ch = Ch(len(grid))
    ch.reset_state(grid)
    got = host(ch.current(grid))
    ion = next(iter(Ch.nmodl.currents))
    for k, v in enumerate(grid):
        h.finitialize(v)
        want = getattr(seg, ion)
        assert abs(got[k] - want) <= 1e-12 * max(abs(want), 1e-12), (v, got[k], want)


HH_GRID = np.concatenate([np.linspace(-100, 60, 41), [-40, -40 + 1e-9, -40 - 1e-9, -55,
                                                      -55 + 1e-9, -55 - 1e-9]])


@pytest.mark.parametrize("celsius", [6.3, 18.5])
def test_hh_mod_matches_neurons_hh(celsius):
    Ch = ionc.from_nmodl(installed("hh.mod"))
    assert Ch.nmodl.solve == "cnexp" and any("TABLE" in n for n in Ch.nmodl.notes)
    h.usetable_hh = 0
    init, worst = compare(Ch, "hh", "mhn", HH_GRID, dict(gnabar=0, gkbar=0, gl=0), celsius)
    assert init.max() <= 1e-13 and worst <= 1e-10, (init.max(), worst)
    init32, worst32 = compare(Ch, "hh", "mhn", HH_GRID, dict(gnabar=0, gkbar=0, gl=0), celsius,
                              dtype="float32")
    assert init32.max() <= 2e-6 and worst32 <= 2e-6, (init32.max(), worst32)


def test_hh_current_has_neurons_sign_and_units():
    Ch = ionc.from_nmodl(installed("hh.mod"))
    h.celsius = 6.3
    sec, seg = section("hh")
    grid = np.linspace(-90, 40, 14)
    ch = Ch(len(grid))
    ch.reset_state(grid)
    got = ch.current(grid)
    each = ch.currents(grid)
    assert set(each) == {"ina", "ik", "il"}
    for k, v in enumerate(grid):
        h.finitialize(v)
        want = seg.ina + seg.ik + seg.hh.il
        assert abs(got[k] - want) <= 1e-12 * max(1.0, abs(want)), (v, got[k], want)
        for name, value in (("ina", seg.ina), ("ik", seg.ik), ("il", seg.hh.il)):
            assert abs(each[name][k] - value) <= 1e-12 * max(1e-3, abs(value)), (name, v)


def test_passive_mod_matches_pas():
    Ch = ionc.from_nmodl(installed("passive.mod"))
    assert Ch.spec.gates == () and set(Ch.spec.parameters) >= {"g", "e"}
    sec, seg = section("pas")
    ch = Ch(5, g=0.002, e=-61.0)
    seg.pas.g, seg.pas.e = 0.002, -61.0
    V = np.array([-90.0, -61.0, -30.0, 0.0, 25.0])
    got = ch.current(V)
    for k, v in enumerate(V):
        h.finitialize(v)
        assert abs(got[k] - seg.i_pas) <= 1e-15, v


@pytest.mark.parametrize("celsius", [6.3, 30.0])
def test_guards_nudges_q10_and_nested_functions_match_neuron(own_mechanisms, celsius):
    Ch = ionc.from_nmodl(OWN / "tguard.mod")
    notes = " ".join(Ch.nmodl.notes)
    assert "equality nudge at V == -25" in notes and "guard |" in notes and "TABLE" in notes
    _usetable_off()
    grid = np.concatenate([np.linspace(-99.7, 50.3, 31), [-25 + 1e-9, -25 - 1e-9, -60, -60.5]])
    init, worst = compare(Ch, "tguard", "mh", grid, dict(gbar=0), celsius)
    assert init.max() <= 1e-10 and worst <= 1e-10, (init.max(), worst)
    # at the nudged point NEURON computes at -25 + 1e-4; ionc takes the exact limit
    ch = Ch(3, celsius=celsius)
    ch.reset_state(np.array([-25.0, -25.0 + 1e-9, -25.0 + 1e-4]))
    m = host(ch.states["m"])
    h.celsius = celsius
    sec, seg = section("tguard", dict(gbar=0))
    h.finitialize(-25.0)
    assert abs(m[0] - m[1]) <= 1e-9 and abs(seg.tguard.m - m[2]) <= 1e-10
    assert abs(seg.tguard.m - m[0]) > 1e-8        # NEURON's nudge is off by that much


@pytest.mark.parametrize("cai", [5e-5, 2e-3])
def test_a_calcium_reading_channel_takes_cai_as_an_input(own_mechanisms, cai):
    Ch = ionc.from_nmodl(OWN / "tkca.mod")
    assert Ch.spec.inputs == {"cai": 5e-5}
    h.celsius = 6.3
    sec, seg = section("tkca", dict(gbar=0))
    seg.cai = cai
    grid = np.linspace(-100, 50, 16)
    ch = Ch(len(grid))
    ch.reset_state(grid, cai=np.full(len(grid), cai))
    for k, v in enumerate(grid):
        h.finitialize(v)
        seg.cai = cai
        h.finitialize(v)
        assert abs(seg.tkca.n - ch.states["n"][k]) <= 1e-13


def test_derivimplicit_is_backward_euler_as_in_neuron(own_mechanisms):
    Ch = ionc.from_nmodl(OWN / "tderiv.mod")
    assert Ch.nmodl.solve == "derivimplicit" and Ch.nmodl.method == "implicit_euler"
    grid = np.linspace(-99.7, 50.3, 16)
    init, worst = compare(Ch, "tderiv", ("n",), grid, dict(gbar=0))
    assert init.max() <= 1e-13 and worst <= 1e-12, (init.max(), worst)
    # and it is not the exponential step: the cnexp file moves n differently
    cn = ionc.from_nmodl(OWN / "tkca.mod")(1)
    bw = Ch(1)
    for ch in (cn, bw):
        ch.reset_state(-65.0)
        ch.update(np.array([0.0]), dt=1.0)
    assert abs(host(cn.states["n"])[0] - host(bw.states["n"])[0]) > 1e-4


@pytest.mark.parametrize("name, states, passes", [
    ("tpump", ("cai",), 50), ("tbuffer", ("cai", "B"), 50),
    ("tcapump", ("cai", "pump", "pumpca"), 22)])
def test_nonlinear_blocks_are_neurons_newton_iterations(own_mechanisms, name, states, passes,
                                                         target):
    """derivimplicit: tpump, Destexhe's pump kt cai/(cai + kd), one state; tbuffer, calcium
    and a buffer bound by kf cai B, two coupled states. sparse: tcapump, a KINETIC scheme
    with ~ cai + pump <-> pumpca and CONSERVE. NEURON gets ica from the tica driver."""
    Ch = ionc.from_nmodl(OWN / f"{name}.mod")
    update = lower_channel(Ch.spec, Ch.nmodl.method).functions["update"]
    assert update.iteration is not None and update.iteration.limit == passes
    rng = np.random.default_rng(5)
    trace = np.concatenate([np.zeros(10), -rng.uniform(0, 2.0, 150), np.zeros(240)])
    init, worst, value = driven_by_ica(Ch(1, target=target), name, states, trace)
    assert init <= 1e-18 and worst <= 1e-10, (init, worst)
    assert value("cai") > 1e-2               # far from linear: the pump saturated
    if target == "cpu":                      # float32: the iteration runs in double
        wide, narrow = Ch(1), Ch(1, dtype="float32")
        for c in (wide, narrow):
            c.reset_state(-65.0)
        off, scale = dict.fromkeys(states, 0.0), dict.fromkeys(states, 0.0)
        for ica in trace:           # (each state's error against its largest value)
            for c in (wide, narrow):
                c.update(np.array([-65.0]), dt=DT, ica=np.array([ica]))
            for x in states:
                off[x] = max(off[x], abs(float(narrow.states[x][0]) - wide.states[x][0]))
                scale[x] = max(scale[x], abs(wide.states[x][0]))
        assert all(off[x] <= 2e-6 * scale[x] for x in states), (off, scale)


def test_arrays_and_from_loops_are_unrolled_as_neuron_runs_them(own_mechanisms, target):
    """tshell: DEFINE, STATE arrays, FROM loops in INITIAL and KINETIC, COMPARTMENT per
    element; four shells of calcium diffusing and bound by a buffer (nonlinear), driven
    through shell 0 by the tica driver's ica."""
    Ch = ionc.from_nmodl(OWN / "tshell.mod")
    names = [f"{a}_{i}" for a in ("ca", "B", "CaB") for i in range(4)]
    assert [g.name for g in Ch.spec.gates] == names
    (scheme,) = Ch.spec.schemes
    assert len(scheme.reactions) == 1 + 3 + 4 and scheme.volumes["ca_2"] == 3
    rng = np.random.default_rng(8)
    trace = np.concatenate([np.zeros(10), -rng.uniform(0, 1.0, 150), np.zeros(240)])
    init, worst, value = driven_by_ica(Ch(1, target=target), "tshell", names, trace)
    assert init <= 1e-18 and worst <= 1e-10, (init, worst)
    assert value("ca_0") > 10 * value("ca_3") > 1e-3       # a gradient across the shells


def test_array_and_from_refusals_name_the_construct_and_line():
    head = "NEURON { SUFFIX arr }\nDEFINE N 3\nSTATE { a[N] }\nPARAMETER { k = 2 }\n"
    for body, message in (
            ("INITIAL { FROM i = 0 TO k { a[i] = 1 } }\n", r"reads k, .*\(line 5\)"),
            ("INITIAL { a[3] = 1 }\n", r"a\[3\] is outside the array a\[3\] .*\(line 5\)"),
            ("INITIAL { FROM i = 0 TO 99 { a[0] = i } }\n", r"100 passes")):
        with pytest.raises(SpecError, match=message):
            parse_nmodl(head + body + "BREAKPOINT { SOLVE s METHOD cnexp }\n"
                        "DERIVATIVE s { a'[0] = -a[0] }\n")


def test_a_newton_iteration_under_jax_equals_the_c_target(jax_x64):
    import jax
    import ionc.jax as ij
    Ch = ionc.from_nmodl(OWN / "tbuffer.mod")
    ops = ij.ops(Ch, dtype="float64")
    rng = np.random.default_rng(9)
    ica = -rng.uniform(0, 2.0, (60, 32))
    ch = Ch(32)
    ch.reset_state(np.full(32, -65.0))
    states = jax.jit(ops.steady_state)(np.full(32, -65.0))
    step = jax.jit(lambda s, i: ops.step(s, np.full(32, -65.0), DT, ica=i))
    for i in ica:
        states = step(states, i)
        ch.update(np.full(32, -65.0), dt=DT, ica=i)
    assert all(np.array_equal(np.asarray(states[s]), ch.states[s]) for s in ch.states)
    assert ch.states["cai"].max() > 1e-2


def test_a_neuron_method_group_needs_its_step():
    from ionc.neuron import group_dt
    with pytest.raises(TypeError, match="method='neuron' needs dt=.*0.025 ms.*0.1 ms"):
        ionc.CondNeuGroup(2, method="neuron", IL=ionc.IL(2))
    with pytest.raises(TypeError, match="method='neuron' needs dt="):
        ionc.HH(2, method="neuron")
    assert group_dt(None, "exp_auto") == 0.1 == ionc.CondNeuGroup(2, IL=ionc.IL(2)).dt
    assert group_dt(0.025, "neuron") == 0.025


def test_neuron_names_a_file_the_neuron_package_installs():
    from ionc.nmodl import neuron_example
    assert neuron_example("hh") == installed("hh.mod")
    by_name, by_path = ionc.from_nmodl("neuron:hh"), ionc.from_nmodl(installed("hh.mod"))
    assert (ionc.render_kernels(by_name.spec).hash == ionc.render_kernels(by_path.spec).hash
            and by_name.nmodl.suffix == "hh")
    with pytest.raises(FileNotFoundError, match=r"installs no hhh.mod; close: neuron:hh"):
        ionc.from_nmodl("neuron:hhh")


REFUSED = {
    # the steady state of a nonlinear scheme (two species on one side)
    "KINETIC": "NEURON { SUFFIX k1 }\nSTATE { a b c }\nINITIAL { SOLVE s STEADYSTATE sparse }\n"
               "BREAKPOINT { SOLVE s METHOD sparse }\nKINETIC s {\n  ~ a + b <-> c (1, 2)\n}\n",
    "FUNCTION_TABLE": "NEURON { SUFFIX ft }\nFUNCTION_TABLE tab(v)\n",
    "NET_RECEIVE": "NEURON { POINT_PROCESS syn }\nNET_RECEIVE (w) {\n}\n",
    "VERBATIM": "NEURON { SUFFIX vb }\nVERBATIM\nint x;\nENDVERBATIM\n",
}


@pytest.mark.parametrize("construct", sorted(REFUSED))
def test_unsupported_constructs_are_refused_with_their_line(construct):
    with pytest.raises(SpecError, match=construct) as err:
        parse_nmodl(REFUSED[construct])
    assert "line" in str(err.value)


def test_every_installed_mod_file_compiles_or_is_refused_by_construct():
    compiled, refused = [], {}
    for f in sorted(SHARE.rglob("*.mod")):
        try:
            parse_nmodl(f.read_text())
            compiled.append(f.name)
        except SpecError as exc:
            refused[f.name] = str(exc)
    assert {"hh.mod", "passive.mod", "nachan.mod", "khhchan.mod", "cachan1.mod",
            "camchan.mod"} <= set(compiled)
    assert len(refused) >= 10
    for name, message in refused.items():
        assert "not supported" in message and "(line " in message, (name, message)
        assert "(line 0)" not in message, (name, message)


IDIOMS = """
NEURON { SUFFIX idioms USEION k READ ek WRITE ik RANGE gk }
UNITS { FARADAY = 96485.309 (coul/mole)  PI = (pi) (1) }
PARAMETER { gbar = 0.01  gk }
STATE { n }
ASSIGNED { v ek ik ninf ntau }
BREAKPOINT { SOLVE states METHOD cnexp  gk = gbar*n*n  ik = gk*(v - ek) }
INITIAL { rates(v)  n = ninf }
DERIVATIVE states { rates(v)  n' = (ninf - n)/ntau }
FUNCTION rates(v) {
    ninf = 1/(1 + exp(-(v + 30)/(PI*FARADAY/96485.309)))
    ntau = 2
}
"""


def test_common_idioms_of_real_files():
    """A FUNCTION called for its effect (no value assigned: NEURON's 0), a PARAMETER
    assigned in BREAKPOINT, UNITS constants given as numbers, and PI."""
    info = parse_nmodl(IDIOMS)
    (gate,) = info.spec.gates
    ch = ionc.from_nmodl(IDIOMS)(1)
    ch.reset_state(-30.0 + np.pi)
    assert abs(ch.states["n"][0] - 1 / (1 + np.exp(-1.0))) <= 1e-15
    v = np.array([-20.0])
    assert abs(ch.current(v)[0] - 0.01 * ch.states["n"][0] ** 2 * (-20.0 + 77.0)) <= 1e-15


def test_currents_of_a_file_with_a_nonlinear_gate():
    # each current is a kernel of its own, built with the file's method (cnexp here)
    Ch = ionc.from_nmodl(
        "NEURON { SUFFIX sq USEION k READ ek WRITE ik NONSPECIFIC_CURRENT i }\n"
        "PARAMETER { g = 0.01 }\nSTATE { w }\nASSIGNED { v ek ik i }\n"
        "BREAKPOINT { SOLVE s METHOD cnexp  ik = g*w*(v - ek)  i = 0.001*w*w*v }\n"
        "INITIAL { w = 0.5 }\nDERIVATIVE s { w' = -w*w }\n")
    assert Ch.nmodl.method == "cnexp"
    ch = Ch(1)
    ch.reset_state(-65.0)
    V = np.array([-20.0])
    parts = ch.currents(V)
    assert set(parts) == {"ik", "i"}
    assert abs(parts["ik"][0] - 0.01 * 0.5 * (-20.0 + 77.0)) <= 1e-15
    assert abs(parts["ik"][0] + parts["i"][0] - ch.current(V)[0]) <= 1e-15


def test_a_state_without_an_equation_is_left_out_only_when_nothing_reads_it():
    dead = NO_GUARD.replace("STATE { n }", "STATE { n h }")
    ch = ionc.from_nmodl(dead)
    assert [g.name for g in ch.spec.gates] == ["n"]
    assert any("['h']: no equation and read nowhere" in n for n in ch.nmodl.notes)
    read = dead.replace("ik = gbar*n*(v - ek)", "ik = gbar*n*h*(v - ek)")
    with pytest.raises(SpecError, match=r"STATE\(s\) \['h'\] have no equation"):
        parse_nmodl(read)


SLOW_TAU = """
NEURON { SUFFIX slowtau USEION k READ ek WRITE ik RANGE gbar }
PARAMETER { gbar = 0.001  timesTau = 1  plusTau = 0 }
STATE { u }
ASSIGNED { v ek ik celsius uinf utau }
BREAKPOINT { SOLVE states METHOD cnexp  ik = gbar*u*(v - ek) }
INITIAL { rates(v)  u = uinf }
DERIVATIVE states { rates(v)  u' = (uinf - u)/utau }
PROCEDURE rates(v) { LOCAL alpha, beta, sum, q10
    q10 = 5^((celsius - 23)/10)
    alpha = 0.016/exp((v + 52.7)/-23)
    beta = 0.016/exp((v + 52.7)/18.8)
    sum = alpha + beta
    uinf = alpha/sum
    utau = timesTau/(sum*q10) + plusTau
}
"""


def test_inf_and_tau_are_taken_as_the_file_writes_them():
    """``u' = (uinf - u)/utau`` gives back uinf and utau, not -B/A: the latter put utau (with
    parameters of unknown sign) in a denominator, and SymPy's solveset then ran for minutes.
    In a child process with a time limit, so that a regression fails instead of hanging."""
    code = ("import sys, numpy as np, ionc\n"
            "ch = ionc.from_nmodl(sys.stdin.read())(2)\n"
            "ch.reset_state(np.array([-52.7, 0.0]))\n"
            "print(*ch.states['u'])\n")
    r = subprocess.run([os.sys.executable, "-c", code], input=SLOW_TAU, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    got = np.array([float(x) for x in r.stdout.split()[-2:]])
    a = 0.016 / np.exp(np.array([0.0, 52.7]) / -23)
    b = 0.016 / np.exp(np.array([0.0, 52.7]) / 18.8)
    assert np.allclose(got, a / (a + b), rtol=1e-14, atol=0)
    (gate,) = parse_nmodl(SLOW_TAU).spec.gates
    assert gate.kind == "inf_tau" and "plusTau" in str(gate.tau) and "plusTau" not in str(gate.inf)


def test_a_reversed_equality_guard_is_recognised():
    text = NO_GUARD.replace(
        "FUNCTION a(v) { a = 0.01*(v + 55)/(1 - exp(-(v + 55)/10)) }",
        "FUNCTION a(v) {\n if (-v - 55 != 0) {\n  a = 0.01*(v + 55)/(1 - exp(-(v + 55)/10))\n"
        " } else {\n  a = 0.1\n }\n}")
    assert "!= 0" in text
    Ch = ionc.from_nmodl(text)
    assert any("equality guard" in n for n in Ch.nmodl.notes)
    ch = Ch(3)
    got = ch.rate("alpha_n", np.array([-55.0, -55.0 + 1e-9, -55.0 - 1e-9]))
    assert np.all(np.abs(got - 0.1) <= 1e-10)


def test_bad_files_get_clear_errors(tmp_path):
    with pytest.raises(SpecError, match="parse error"):
        parse_nmodl("NEURON { SUFFIX x \n")
    with pytest.raises(SpecError, match="SUFFIX"):
        parse_nmodl("PARAMETER { a = 1 }\n")
    with pytest.raises(ValueError, match="gbar = -1.0 is outside the limits <0, 1e\\+09>"):
        ionc.from_nmodl(OWN / "tguard.mod")(3, gbar=-1.0)
    with pytest.raises(FileNotFoundError, match="nothere.mod"):
        ionc.from_nmodl(tmp_path / "nothere.mod")
    text = (OWN / "tkca.mod").read_text().replace("rates(v, cai)\n    n = ninf", "n = 2*n")
    with pytest.raises(SpecError, match=r"INITIAL sets n = 2\*n from the state\(s\) \['n'\]"):
        parse_nmodl(text)


def _spike_steps(v: np.ndarray, v0: float = -65.0, threshold: float = 0.0) -> np.ndarray:
    """Steps (1-based: after which fadvance) at which v crosses the threshold upwards."""
    v = np.concatenate([[v0], v])
    return np.nonzero((v[:-1] < threshold) & (v[1:] >= threshold))[0]


@pytest.mark.parametrize("target", ["cpu", "numpy"])
def test_hh_and_pas_cell_fires_at_neurons_steps(target):
    """NEURON single compartments (hh + pas, an IClamp step each) against a CondNeuGroup of
    the same two files with method='neuron', 100 ms at dt = 0.025 ms."""
    HH = ionc.from_nmodl(installed("hh.mod"))
    PAS = ionc.from_nmodl(installed("passive.mod"))
    rng = np.random.default_rng(2)
    amps = np.concatenate([[0.0, 0.02, 0.05], rng.uniform(0.0, 0.3, 21)])
    h.celsius, h.dt = 6.3, DT
    _usetable_off()
    cells, records = [], []
    for a in amps:
        sec = h.Section()
        sec.L = sec.diam = float(np.sqrt(100 / np.pi))
        sec.insert("hh")
        sec.insert("pas")
        stim = h.IClamp(sec(0.5))
        stim.delay, stim.dur, stim.amp = 0, 1e9, float(a)
        records.append(h.Vector().record(sec(0.5)._ref_v))
        cells.append((sec, stim))
    steps = 4000
    h.finitialize(-65.0)
    for _ in range(steps):
        h.fadvance()
    v_neuron = np.array([np.array(r)[1:] for r in records])
    I = amps * 1e5 / cells[0][0](0.5).area()          # nA on the compartment -> uA/cm2
    n = len(amps)
    group = ionc.CondNeuGroup(n, method="neuron", dt=DT, V_th=0.0, V_initializer=-65.0,
                              hh=HH(n, target=target), pas=PAS(n, target=target))
    v_ionc = host(group.run(I, steps=steps, record=("V",))["V"]).T
    assert np.abs(v_ionc - v_neuron).max() <= 1e-8
    total = 0
    for k in range(n):
        want, got = _spike_steps(v_neuron[k]), _spike_steps(v_ionc[k])
        np.testing.assert_array_equal(got, want)
        total += len(want)
    assert total > 30                       # the comparison includes many spikes
    # BrainPy's exp_auto on the same cells: the same spikes to within a few steps
    other = ionc.CondNeuGroup(n, method="exp_auto", dt=DT, V_th=0.0, V_initializer=-65.0,
                              hh=HH(n, target=target), pas=PAS(n, target=target))
    v_exp = host(other.run(I, steps=steps, record=("V",))["V"]).T
    counts = [len(_spike_steps(v)) for v in v_exp]
    assert abs(sum(counts) - total) <= max(2, total // 20)


NO_GUARD = """
NEURON { SUFFIX nog USEION k READ ek WRITE ik }
PARAMETER { gbar = 0.01 }
STATE { n }
ASSIGNED { v ek ik }
BREAKPOINT { SOLVE states METHOD cnexp  ik = gbar*n*(v - ek) }
INITIAL { n = a(v)/(a(v) + b(v)) }
DERIVATIVE states { n' = a(v)*(1 - n) - b(v)*n }
FUNCTION a(v) { a = 0.01*(v + 55)/(1 - exp(-(v + 55)/10)) }
FUNCTION b(v) { b = 0.125*exp(-(v + 65)/80) }
"""


def test_lint_reports_each_guard_and_the_error_in_ulp():
    from ionc.nmodl import lint_nmodl
    text, entries = lint_nmodl(OWN / "tguard.mod")
    by_rate = {e.rate: e for e in entries}
    assert set(by_rate) == {"alpha_m", "beta_m"} and "equality nudge" in text
    for e in entries:
        assert e.V == -25.0 and "nudge" in e.handling
        assert all(int(u) <= 4 for u in e.ionc_ulp), e            # the accuracy contract
    assert "guard" not in by_rate["alpha_m"].handling              # alpha_m has no vtrap
    assert "guard |" in by_rate["beta_m"].handling                 # beta_m's trap() has one
    assert int(by_rate["alpha_m"].file_ulp[0]) > 1e6              # the nudge's own error
    assert int(by_rate["alpha_m"].file_ulp[1]) > 1e6              # unprotected 1e-9 away
    _, entries = lint_nmodl(installed("hh.mod"))
    assert {e.rate for e in entries} == {"alpha_m", "alpha_n"}
    assert all("guard" in e.handling and all(int(u) <= 4 for u in e.ionc_ulp)
               for e in entries)
    _, entries = lint_nmodl(NO_GUARD)
    (e,) = entries
    assert e.rate == "alpha_n" and e.V == -55.0 and "NaN" in e.handling
    assert e.file_ulp[0] == "NaN" and int(e.file_ulp[1]) > 1e3 and int(e.ionc_ulp[0]) <= 4


def test_a_reversed_guard_a_tau_floor_and_an_initial_off_the_steady_state(own_mechanisms):
    # tmig.mod: trap0 (|v - th| > 1e-6 picks the formula), minf = a/(a + b), a floor on
    # mtau, a clamped exp (MyExp) inside vtrap's 0/0 and in a Boltzmann, n initialised
    # from other rates than its DERIVATIVE's, and a gate w that is not linear in itself
    # (NEURON's cnexp linearises it)
    Ch = ionc.from_nmodl(OWN / "tmig.mod")
    notes = " ".join(Ch.nmodl.notes)
    assert "guard |V - tha| > 1/1000000" in notes and "INITIAL sets n" in notes
    assert "cnexp on ['w']" in notes
    grid = np.concatenate([np.linspace(-99.7, 50.3, 31),
                           [-30.0, -30 + 1e-9, -30 - 1e-9, -55.0, -55 + 1e-9, -55 - 1e-9,
                            43.0, 43 + 1e-9, 43 - 1e-9, -45.0, -44.9, 4.9, 5.0]])
    # every .mod mechanism takes NEURON's celsius; tmig's rates do not read it, so one
    # temperature is enough
    assert "celsius" in Ch.spec.parameters and not any(
        ionc.codegen.symbol("celsius") in e.free_symbols
        for g in Ch.spec.gates for e in g.rate_expressions().values())
    init, worst = compare(Ch, "tmig", "mhnw", grid, dict(gnabar=0, gkbar=0))
    assert init.max() <= 1e-10 and worst <= 1e-10, (init.max(), worst)
    init, worst = compare(Ch, "tmig", "mhnw", grid, dict(gnabar=0, gkbar=0), dtype="float32")
    assert init.max() <= 1e-6 and worst <= 1e-6, (init.max(), worst)     # float32: 8e-8, 2e-7
    # the initial n is not the steady state the DERIVATIVE relaxes to
    ch = Ch(1)
    ch.reset_state(-65.0)
    assert abs(host(ch.states["n"])[0] - 1 / (1 + np.exp((65.0 + 13.0) / 11))) > 0.1


@pytest.mark.parametrize("cai", [5e-5, 1e-3])
def test_a_0_0_whose_voltage_moves_with_calcium(own_mechanisms, cai):
    # tcalog.mod: alpha's 0/0 is at vs = -18 with vs = v + 40 log10(1000 cai)
    Ch = ionc.from_nmodl(OWN / "tcalog.mod")
    v0 = -18 - 40 * np.log10(1000 * cai)
    grid = np.concatenate([np.linspace(-99.7, 50.3, 31), [v0, v0 + 1e-9, v0 - 1e-9]])
    h.celsius = 6.3
    sec, seg = section("tcalog", dict(gbar=0))
    ch = Ch(len(grid))
    ch.reset_state(grid, cai=np.full(len(grid), cai))
    got = host(ch.states["c"])
    for k, v in enumerate(grid):
        seg.cai = cai
        h.finitialize(v)
        seg.cai = cai
        h.finitialize(v)
        if abs(v - v0) > 1e-6:
            assert abs(seg.tcalog.c - got[k]) <= 1e-12, (v, seg.tcalog.c, got[k])
    # at the point NEURON divides 0 by 0; ionc has the limit, continuous with both sides
    assert np.isfinite(got).all()
    assert abs(got[-3] - got[-2]) <= 1e-9 and abs(got[-3] - got[-1]) <= 1e-9
    if cai == 5e-5:                  # the lint finds the point at the default cai
        from ionc.nmodl import lint_nmodl
        _, entries = lint_nmodl(OWN / "tcalog.mod")
        assert {e.rate for e in entries if abs(e.V - v0) < 1e-9} == {"inf_c", "tau_c"}


def test_a_calcium_reading_channel_inside_a_neuron_matches_neuron(own_mechanisms):
    """hh + pas + tkca (gated by cai) cells, cai held fixed per cell, against NEURON."""
    HH = ionc.from_nmodl(installed("hh.mod"))
    PAS = ionc.from_nmodl(installed("passive.mod"))
    KCA = ionc.from_nmodl(OWN / "tkca.mod")
    amps, cais = np.array([0.05, 0.2, 0.05, 0.2]), np.array([5e-5, 5e-5, 2e-3, 2e-3])
    h.celsius, h.dt = 6.3, DT
    _usetable_off()
    steps, v_neuron = 1200, []
    for cai in sorted(set(cais)):
        cells, records = [], []
        for a in amps[cais == cai]:
            sec = h.Section()
            sec.L = sec.diam = float(np.sqrt(100 / np.pi))
            for mech in ("hh", "pas", "tkca"):
                sec.insert(mech)
            sec(0.5).tkca.gbar = 0.005
            sec(0.5).cai = cai                  # nothing writes cai: it stays there
            stim = h.IClamp(sec(0.5))
            stim.delay, stim.dur, stim.amp = 0, 1e9, float(a)
            records.append(h.Vector().record(sec(0.5)._ref_v))
            cells.append((sec, stim))
        h.finitialize(-65.0)
        for _ in range(steps):
            h.fadvance()
        v_neuron += [np.array(r)[1:] for r in records]
        del cells
    n = len(amps)
    I = amps * 1e5 / 100.0                   # nA on 100 um^2 -> uA/cm2
    group = ionc.CondNeuGroup(n, method="neuron", dt=DT, V_th=0.0, V_initializer=-65.0,
                              hh=HH(n), pas=PAS(n), kca=KCA(n, gbar=0.005),
                              concentrations={"kca.cai": cais})
    v_ionc = host(group.run(I, steps=steps, record=("V",))["V"]).T
    assert np.abs(v_ionc - np.array(v_neuron)).max() <= 1e-8
    assert sum(len(_spike_steps(v)) for v in v_ionc) >= 4     # spikes are compared too
    # the concentration matters: the same cells at one cai differ
    same = ionc.CondNeuGroup(n, method="neuron", dt=DT, V_th=0.0, V_initializer=-65.0,
                             hh=HH(n), pas=PAS(n), kca=KCA(n, gbar=0.005),
                             concentrations={"kca.cai": np.full(n, 5e-5)})   # same kernel
    assert np.abs(host(same.run(I, steps=steps, record=("V",))["V"]).T - v_ionc).max() > 1e-3
    with pytest.raises(ValueError, match="no channel of this group reads"):
        ionc.CondNeuGroup(n, method="neuron", dt=0.025, hh=HH(n), concentrations={"hh.cai": 1e-4})
    with pytest.raises(ValueError, match="must be finite and > 0"):
        ionc.CondNeuGroup(n, method="neuron", dt=0.025, kca=KCA(n),
                          concentrations={"kca.cai": -1.0})


#: ionc's files for NEURON's semantics where a front end could differ: (states, note).
SEMANTICS = {"tvcopy": ("m", ""),
             "tassign": ("m", "ASSIGNED tadj is read in INITIAL before it is set"),
             "tfwd": ("qp", "forward Euler"),
             "tinclude": ("n", "")}


@pytest.mark.parametrize("name", sorted(SEMANTICS))
def test_neurons_semantics_of_v_copies_unset_assigned_unnamed_states_and_include(
        own_mechanisms, name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)           # INCLUDE is looked up beside the file, not here
    states, note = SEMANTICS[name]
    Ch = ionc.from_nmodl(OWN / f"{name}.mod")
    assert note in " ".join(Ch.nmodl.notes)
    grid = np.linspace(-95.3, 44.7, 15)
    init, worst = compare(Ch, name, tuple(states), grid, dict(gbar=0), celsius=16.0)
    assert init.max() <= 1e-12 and worst <= 1e-12, (init.max(), worst)
    # the current sees the v its own block's run shifted (tvcopy: v - 3), the membrane not
    h.celsius = 16.0
    sec, seg = section(name)
    ch = Ch(len(grid), celsius=16.0)
    ch.reset_state(grid)
    got = host(ch.current(grid))
    for k, v in enumerate(grid):
        h.finitialize(v)
        want = sum(getattr(seg, i) for i in ("ik",) if name == "tinclude") or \
            getattr(getattr(seg, name), "i", 0.0)
        assert abs(got[k] - want) <= 1e-12 * max(1.0, abs(want)), (v, got[k], want)


def test_dt_reaching_a_rate_is_refused_by_line():
    text = ("NEURON { SUFFIX tdt NONSPECIFIC_CURRENT i }\nASSIGNED { v i minf }\n"
            "STATE { m }\nBREAKPOINT { SOLVE s METHOD cnexp\n i = m*v }\n"
            "INITIAL { m = 0 }\nDERIVATIVE s {\n  minf = exp(-dt/2)\n  m' = (minf - m)/2\n}\n")
    with pytest.raises(SpecError, match=r"equation of m reads dt, the integration step "
                                        r"\(line 8\)"):
        parse_nmodl(text)


def test_include_is_resolved_beside_the_file_and_nowhere_else(tmp_path):
    base = "NEURON { SUFFIX tinc2 }\nINCLUDE \"%s\"\n"
    with pytest.raises(SpecError, match=r'INCLUDE "x.inc" \(line 2\): NMODL given as text'):
        parse_nmodl(base % "x.inc")
    inner = tmp_path / "models"
    inner.mkdir()
    (tmp_path / "outside.inc").write_text("PARAMETER { a = 1 }\n")
    for name in ("/etc/passwd", "../outside.inc"):
        (inner / "m.mod").write_text(base % name)
        with pytest.raises(SpecError, match="only files inside"):
            parse_nmodl(base % name, path=inner / "m.mod")
    os.mkfifo(inner / "fifo.inc")               # would block a reader forever
    with pytest.raises(SpecError, match="fifo.inc.*not a regular file"):
        parse_nmodl(base % "fifo.inc", path=inner / "m.mod")
    (inner / "bad.inc").write_text("PARAMETER { a = }\n")
    with pytest.raises(SpecError, match="parse error"):
        parse_nmodl(base % "bad.inc", path=inner / "m.mod")



#: ionc's kinetic files: SUFFIX -> (states, conductance).  k3st is NEURON's own example
#: (see its header); tkin ionc's, with a 0/0 in a rate.
KINETIC = {"k3st": ("c1", "c2", "o"), "tkin": ("C", "O", "I")}


@pytest.mark.parametrize("name", sorted(KINETIC))
def test_kinetic_schemes_match_neurons_sparse(own_mechanisms, name, target):
    states = KINETIC[name]
    Ch = ionc.from_nmodl(OWN / f"{name}.mod")
    assert Ch.spec.schemes and Ch.nmodl.solve == "sparse"
    # (at tkin's 0/0, -35 mV, NEURON divides 0 by 0; 1e-9 mV away it is still exact)
    grid = np.concatenate([np.linspace(-99.7, 50.3, 31), [-35.0 + 1e-9, -35.0 - 1e-9]])
    zero = {"gbar": 0}
    for celsius in (6.3, 30.0):
        init, worst = compare(Ch, name, states, grid, zero, celsius, target=target)
        assert init.max() <= 1e-10 and worst <= 1e-10, (celsius, init.max(), worst)
    ch = Ch(3, target=target)
    ch.reset_state(np.array([-35.0, -35.0 + 1e-9, -35.0 - 1e-9]))
    near = np.stack([host(ch.states[s]) for s in states])
    assert np.abs(near[:, 0] - near[:, 1]).max() <= 1e-9     # the limit, not NaN
    for v in (-80.0, -35.0, 40.0, 200.0, -200.0):
        ch.update(np.full(3, v), dt=0.1)
        total = sum(host(ch.states[s]) for s in states)
        assert np.abs(total - 1).max() <= 1e-14 and np.isfinite(total).all()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_saturating_rate_stays_finite_at_extreme_voltages(dtype):
    # k3st's kf1 = K1/(tau1 (1 + K1)), K1 = exp(...): inf/inf beyond about +6000 mV as
    # written; as 1/(tau1 (1 + exp(-...))) it goes to 1/tau1
    from ionc.codegen.saturation import saturate
    import sympy as sp
    a, t = sp.symbols("a t")
    assert saturate(sp.exp(a) / (t * (1 + sp.exp(a)))) == 1 / (t * (1 + sp.exp(-a)))
    Ch = ionc.from_nmodl(OWN / "k3st.mod")
    V = np.array([-1e4, -6000.0, -200.0, 200.0, 6000.0, 1e4])
    ch = Ch(V.size, dtype=dtype)
    ch.reset_state(V)
    for _ in range(5):
        ch.update(V, dt=0.025)
    rates = [getattr(ch, f"f_{r}")(V) for r in ("kf1", "kb1", "kf2", "kb2")]
    assert all(np.isfinite(x).all() for x in (*ch.states.values(), *rates))
    assert np.abs(sum(ch.states.values()) - 1).max() <= (1e-14 if dtype == "float64" else 1e-6)
    assert host(ch.states["o"])[-1] == pytest.approx(1.0)       # kf1, kf2 saturate, kb -> 0


def test_kinetic_scheme_in_float32_is_within_the_contract(own_mechanisms):
    Ch = ionc.from_nmodl(OWN / "tkin.mod")
    grid = np.linspace(-99.7, 50.3, 31)
    init, worst = compare(Ch, "tkin", KINETIC["tkin"], grid, {"gbar": 0}, 6.3,
                          dtype="float32")
    assert init.max() <= 2e-6 and worst <= 2e-6, (init.max(), worst)
