"""NEURON itself as the reference for ``.mod`` files: compiling files with nrnivmodl,
one compartment with a mechanism, and the comparison of ionc's states with NEURON's
after ``finitialize`` and over a voltage protocol.  Imported by the tests that need
NEURON (which skip the module when it is not installed)."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
from neuron import h

import neuron
from targets import host

SHARE = Path(neuron.__file__).parent / ".data" / "share"
DT = 0.025


def installed(name: str) -> Path:
    """A .mod file the neuron package installs."""
    hits = sorted(SHARE.rglob(name))
    assert hits, f"neuron ships no {name}"
    return hits[0]


def compile_mechanisms(work: Path) -> Path:
    """The .mod files in ``work`` compiled by nrnivmodl there: the library's path."""
    exe = shutil.which("nrnivmodl") or str(Path(os.sys.executable).parent / "nrnivmodl")
    r = subprocess.run([exe], cwd=work, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return next(work.rglob("libnrnmech.so"))


def _loaded() -> set:
    """The names of the mechanisms NEURON has now (built in and loaded)."""
    types, names = h.MechanismType(0), set()
    for i in range(int(types.count())):
        types.select(i)
        name = h.ref("")
        types.selected(name)
        names.add(name[0])
    return names


def load_mechanisms(files, work: Path) -> Path:
    """``files`` compiled by nrnivmodl in ``work`` and loaded into NEURON; a .mod file
    whose SUFFIX another module of this process has loaded already is left out."""
    loaded = _loaded()
    for f in files:
        suffix = re.search(r"\bSUFFIX\s+(\w+)", Path(f).read_text(errors="replace"))
        if suffix is None or suffix[1] not in loaded:
            shutil.copy(f, work)
    lib = compile_mechanisms(work)
    assert h.nrn_load_dll(str(lib)) == 1
    return work


def section(mechanism: str, zero: dict | None = None):
    """One compartment with ``mechanism``; conductances in ``zero`` set to 0 so that v
    stays exactly where it is put (no current flows)."""
    sec = h.Section()
    sec.nseg = 1
    sec.insert(mechanism)
    seg = sec(0.5)
    for k, v in (zero or {}).items():
        setattr(getattr(seg, mechanism), k, v)
    return sec, seg


def driven_by_ica(ch, mechanism: str, states, trace):
    """ionc's ``ch`` (one element) and NEURON's ``mechanism`` in one compartment with the
    ``tica`` driver, both given the ica (mA/cm2) of each step of ``trace``: ``(worst
    |difference| after finitialize, worst relative difference over the steps (floor 1e-12),
    value)``, ``value(state)`` reading NEURON's state (``cai`` the segment's, ``a_2`` the
    element a[2] of an array)."""
    sec, seg = section(mechanism)
    sec.insert("tica")
    mech = getattr(seg, mechanism)

    def value(x: str) -> float:
        if x == "cai":
            return seg.cai
        if hasattr(mech, x):
            return getattr(mech, x)
        array, i = x.rsplit("_", 1)
        return getattr(mech, array)[int(i)]
    value.section = sec                 # keeps the compartment alive with the reader
    h.dt = DT
    h.finitialize(-65.0)
    ch.reset_state(-65.0)
    init = max(abs(host(ch.states[x])[0] - value(x)) for x in states)
    worst = 0.0
    for ica in trace:
        seg.tica.amp = ica
        h.fadvance()
        ch.update(np.array([seg.v]), dt=DT, ica=np.array([ica]))
        worst = max(worst, *(abs(host(ch.states[x])[0] - value(x)) / max(abs(value(x)), 1e-12)
                             for x in states))
    return init, worst, value


def compare(Ch, mechanism, states, grid, zero, celsius=6.3, dtype="float64", steps=200,
            **kw):
    """Worst |ionc - NEURON| over the states: after finitialize at each V of ``grid``,
    and over a ``steps``-step protocol (v set before each fadvance).  Both simulators get
    the same voltages: in float32, the grid and protocol are rounded to float32 first."""
    def same(x):
        return np.asarray(x, dtype=dtype).astype(float)
    grid = same(grid)
    h.celsius = celsius
    sec, seg = section(mechanism, zero)
    params = {"celsius": celsius} if "celsius" in Ch.spec.parameters else {}
    ch = Ch(len(grid), dtype=dtype, **params, **kw)
    ch.reset_state(grid)
    init = np.zeros((len(grid), len(states)))
    for k, v in enumerate(grid):
        h.finitialize(v)
        init[k] = [getattr(getattr(seg, mechanism), s) for s in states]
    ours = np.stack([host(ch.states[s]) for s in states], axis=1)
    rng = np.random.default_rng(1)
    protocol = rng.uniform(-100, 50, steps)
    protocol[::17] = grid[rng.integers(0, len(grid), len(protocol[::17]))]
    protocol = same(protocol)
    h.dt = DT
    h.finitialize(-65.0)
    one = Ch(1, dtype=dtype, **params, **kw)
    one.reset_state(-65.0)
    worst = 0.0
    for v in protocol:
        seg.v = v
        h.fadvance()
        assert abs(seg.v - v) < 1e-9    # no current flows: v stays (to rounding)
        one.update(np.array([seg.v]), dt=DT)   # NEURON steps the states at the new v
        worst = max(worst, max(abs(getattr(getattr(seg, mechanism), s) - host(one.states[s])[0])
                               for s in states))
    return np.abs(ours - init), worst
