"""Single-compartment cells of published models, for NEURON and for ionc.

Each :class:`Cell` is the somatic mechanism set of a published model (the ``.mod`` files
come from the pinned downloads of :mod:`published`), with parameter values inside the
ranges its authors' optimisation configs give.  :func:`neuron_run` runs the cells in
NEURON in a subprocess (each model's files are compiled on their own: two models'
``SK_E2`` would collide in one process); :func:`ionc_cell` builds the same cells as one
``ionc.CondNeuGroup``.  ``python cells.py`` is that subprocess.
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DT = 0.025
#: compartment: L = diam = sqrt(100/pi) um, an area of 100 um^2 (1e-6 cm^2)
SIDE = float(np.sqrt(100 / np.pi))


@dataclass(frozen=True)
class Cell:
    """A somatic mechanism set: ``files`` maps each mechanism (its SUFFIX) to its key in
    :data:`published.FILES` (``None``: NEURON's built-in ``pas``); ``params`` the RANGE
    values per mechanism; ``section`` the section-wide values (``ena``, ``ek``)."""

    name: str
    files: dict
    params: dict
    section: dict
    celsius: float
    v_init: float
    amps: tuple                      # IClamp amplitudes (nA), held from t = 0
    origin: str = ""
    ions: dict = field(default_factory=dict)   # ions= for ionc (also set in NEURON)


#: Hay et al. 2011 L5PC soma (bluepyopt's examples/l5pc; ranges from its params.json).
L5PC = Cell(
    "l5pc",
    files={"NaTs2_t": "NaTs2_t.mod", "SKv3_1": "SKv3_1.mod", "SK_E2": "SK_E2.mod",
           "Ca_HVA": "Ca_HVA.mod", "Ca_LVAst": "Ca_LVAst.mod", "CaDynamics_E2":
           "CaDynamics_E2.mod", "Ih": "Ih.mod", "pas": None},
    params={"NaTs2_t": {"gNaTs2_tbar": 0.983955}, "SKv3_1": {"gSKv3_1bar": 0.303472},
            "SK_E2": {"gSK_E2bar": 0.008407}, "Ca_HVA": {"gCa_HVAbar": 0.000994},
            "Ca_LVAst": {"gCa_LVAstbar": 0.000333},
            "CaDynamics_E2": {"gamma": 0.000609, "decay": 210.485284},
            "Ih": {"gIhbar": 8e-05}, "pas": {"g": 3e-5, "e": -75.0}},
    section={}, celsius=34.0, v_init=-65.0, amps=(0.0, 0.1, 0.3, 0.6),
    origin="Hay et al. 2011 (ModelDB 139653) via bluepyopt 1.14.26",
    ions={"na": {"ena": 50.0}, "k": {"ek": -85.0}})

#: The Allen Institute's perisomatic set (bmtk 1.2.0's modfiles), with Allen's kinetic NaV.
ALLEN = Cell(
    "allen",
    files={"NaV": "NaV.mod", "Nap": "Nap.mod", "K_P": "K_P.mod", "K_T": "K_T.mod",
           "Kd": "Kd.mod", "Kv2like": "Kv2like.mod", "Kv3_1": "Kv3_1.mod", "SK": "SK.mod",
           "Im_v2": "Im_v2.mod", "Ih": "Ih.mod@allen", "Ca_HVA": "Ca_HVA.mod@allen",
           "Ca_LVA": "Ca_LVA.mod", "CaDynamics": "CaDynamics.mod", "pas": None},
    params={"NaV": {"gbar": 0.06}, "Nap": {"gbar": 0.0002}, "K_P": {"gbar": 0.002},
            "K_T": {"gbar": 0.002}, "Kd": {"gbar": 0.001}, "Kv2like": {"gbar": 0.002},
            "Kv3_1": {"gbar": 0.4}, "SK": {"gbar": 0.002}, "Im_v2": {"gbar": 0.001},
            "Ih": {"gbar": 2e-5}, "Ca_HVA": {"gbar": 0.0005}, "Ca_LVA": {"gbar": 0.003},
            "CaDynamics": {"gamma": 0.002, "decay": 300.0}, "pas": {"g": 5e-5, "e": -85.0}},
    section={}, celsius=34.0, v_init=-80.0, amps=(0.0, 0.15, 0.3, 0.6),
    origin="Allen Cell Types perisomatic models via bmtk 1.2.0",
    ions={"na": {"ena": 53.0}, "k": {"ek": -107.0}})

#: The thalamocortical cell of bluepyopt's examples (its config/params/TC.json).
TC = Cell(
    "tc",
    files={"TC_HH": "TC_HH.mod", "TC_iT_Des98": "TC_ITGHK_Des98.mod",
           "TC_ih_Bud97": "TC_Ih_Bud97.mod", "TC_Nap_Et2": "TC_Nap_Et2.mod",
           "TC_cad": "TC_cadecay.mod", "TC_iA": "TC_iA.mod", "TC_iL": "TC_iL.mod",
           "SK_E2": "SK_E2.mod@tc", "pas": None},
    params={"TC_HH": {"gk_max": 0.1, "gna_max": 0.15}, "TC_iT_Des98": {"pcabar": 5e-5},
            "TC_ih_Bud97": {"gh_max": 5e-5}, "TC_Nap_Et2": {"gNap_Et2bar": 5e-5},
            "TC_cad": {"taur": 8.0, "gamma": 0.05}, "TC_iA": {"gk_max": 0.03},
            "TC_iL": {"pcabar": 5e-4}, "SK_E2": {"gSK_E2bar": 0.002},
            "pas": {"g": 2e-5, "e": -80.0}},
    section={}, celsius=34.0, v_init=-79.0, amps=(0.0, 0.05, 0.15, 0.4),
    origin="Iavarone et al. 2019 thalamocortical cell via bluepyopt 1.14.26",
    ions={"na": {"ena": 50.0}, "k": {"ek": -90.0}})

#: hnn-core 0.6.1's L5 pyramidal soma (its params_default.py values; celsius 37; a calcium
#: pool, cad, whose STATE ca it copies into cai).
HNN_L5 = Cell(
    "hnn_l5",
    files={"hh2": "hh2.mod", "ca": "ca.mod", "cad": "cad.mod", "kca": "kca.mod",
           "km": "km.mod", "cat": "cat.mod", "ar": "ar.mod"},
    params={"hh2": {"gkbar": 0.01, "gnabar": 0.16, "el": -65.0, "gl": 4.26e-5},
            "ca": {"gbar": 60.0}, "cad": {"taur": 20.0}, "kca": {"gbar": 2e-4},
            "km": {"gbar": 200.0}, "cat": {"gbar": 2e-4}, "ar": {"gbar": 1e-6}},
    section={}, celsius=37.0, v_init=-72.0, amps=(0.0, 0.003, 0.006, 0.012),
    origin="Jones et al. 2009 L5 pyramidal cell via hnn-core 0.6.1")

CELLS = {c.name: c for c in (L5PC, ALLEN, TC, HNN_L5)}


def neuron_run(cell: Cell, folder: Path, steps: int, record=("v", "cai")) -> dict:
    """NEURON's run of ``cell`` at each of its amplitudes (nrnivmodl output in ``folder``):
    ``{'v': (amps, steps), 'cai': ..., 'order': the mechanisms in NEURON's type order}``."""
    job = {"cell": cell.name, "folder": str(folder), "steps": steps, "record": list(record)}
    r = subprocess.run([sys.executable, __file__], input=json.dumps(job), text=True,
                       capture_output=True, cwd=folder.parent, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    with np.load(folder / "neuron.npz") as data:
        out = {k: data[k] for k in data.files}
    out["order"] = [str(x) for x in out["order"]]
    return out


def neuron_setup(h, cell: Cell) -> list[str]:
    """NEURON's globals for ``cell`` (celsius, dt, TABLEs off: the exact rates); returns
    the cell's mechanisms in NEURON's type order."""
    h.celsius, h.dt = cell.celsius, DT
    for mech in cell.files:
        if hasattr(h, f"usetable_{mech}"):
            setattr(h, f"usetable_{mech}", 0)
    mt, name, order = h.MechanismType(0), h.ref(""), []
    for i in range(int(mt.count())):
        mt.select(i)
        mt.selected(name)
        if name[0] in cell.files:
            order.append(name[0])
    return order


def neuron_compartment(h, cell: Cell, amp: float):
    """One NEURON section of ``cell`` with its IClamp of ``amp`` nA from t = 0."""
    sec = h.Section()
    sec.L = sec.diam = SIDE
    for mech, values in cell.params.items():
        sec.insert(mech)
        for k, v in values.items():
            setattr(sec(0.5), f"{k}_{mech}", v)
    for ion, quantities in cell.ions.items():
        if h.ismembrane(f"{ion}_ion", sec=sec):
            for k, v in quantities.items():
                setattr(sec(0.5), k, v)
    stim = h.IClamp(sec(0.5))
    stim.delay, stim.dur, stim.amp = 0, 1e9, float(amp)
    return sec, stim


def _neuron_main() -> None:
    job = json.loads(sys.stdin.read())
    from neuron import h
    folder = Path(job["folder"])
    assert h.nrn_load_dll(str(next(folder.rglob("libnrnmech.so")))) == 1
    cell = CELLS[job["cell"]]
    order = neuron_setup(h, cell)
    secs, recs = [], {r: [] for r in job["record"]}
    for amp in cell.amps:
        sec, stim = neuron_compartment(h, cell, amp)
        for r in recs:
            recs[r].append(h.Vector().record(getattr(sec(0.5), f"_ref_{r}")))
        secs.append((sec, stim))
    h.finitialize(cell.v_init)
    for _ in range(job["steps"]):
        h.fadvance()
    np.savez(folder / "neuron.npz", order=np.array(order),
             **{r: np.array([np.array(v)[1:] for v in vs]) for r, vs in recs.items()})


def current_density(amps) -> np.ndarray:
    """IClamp amplitudes (nA) on the 100 um^2 compartment as uA/cm^2."""
    return np.asarray(amps, dtype=float) * 1e-3 / 1e-6


def ionc_cell(cell: Cell, classes: dict, order, dtype="float64", target="cpu",
              method="neuron", n_per_amp: int = 1):
    """The cells as one ``ionc.CondNeuGroup`` (``classes``: mechanism -> ionc class),
    mechanisms in ``order`` (NEURON's), ``n_per_amp`` neurons per amplitude."""
    import ionc
    n = len(cell.amps) * n_per_amp
    chans = {m: classes[m](n, dtype=dtype, target=target, **cell.params[m]) for m in order}
    return ionc.CondNeuGroup(n, method=method, dt=DT, V_initializer=cell.v_init, V_th=0.0,
                             celsius=cell.celsius, dtype=dtype, ions=cell.ions, **chans)


def spike_steps(v, threshold: float = 0.0) -> np.ndarray:
    """Steps at which ``v`` crosses ``threshold`` upwards."""
    v = np.asarray(v)
    return np.flatnonzero((v[:-1] < threshold) & (v[1:] >= threshold)) + 1


if __name__ == "__main__":
    _neuron_main()
