"""Cells with ions: published somatic mechanism sets as one ionc group, against NEURON.

Three single-compartment cells (Hay et al.'s L5PC, the Allen perisomatic set with its
kinetic NaV, bluepyopt's thalamocortical cell with GHK calcium currents and a
derivimplicit calcium pool) are run in NEURON 9 (nrnivmodl in a temporary folder, in a
subprocess per model) and in ionc with ``method='neuron'``, at four injected currents
each, for 100 ms at dt = 0.025 ms.
"""
import sys

import numpy as np
import pytest

pytest.importorskip("neuron")

import ionc                                            # noqa: E402
from cells import CELLS, ionc_cell, current_density, neuron_run, spike_steps   # noqa: E402
from neuron_reference import compile_mechanisms, installed   # noqa: E402
from published import published_files                  # noqa: E402
from targets import host                               # noqa: E402

STEPS = 4000


@pytest.fixture(scope="module", params=sorted(CELLS))
def model(request, tmp_path_factory):
    """One cell: its NEURON run, its ionc classes and NEURON's mechanism order."""
    cell = CELLS[request.param]
    folder = tmp_path_factory.mktemp(cell.name) / "mod"
    folder.mkdir()
    published_files([k for k in cell.files.values() if k], folder)
    compile_mechanisms(folder)
    ref = neuron_run(cell, folder, STEPS)
    classes = {m: ionc.from_nmodl(folder / key.split("@")[0]) if key
               else ionc.from_nmodl(installed("passive.mod")) for m, key in cell.files.items()}
    return cell, ref, classes


def _compare(cell, ref, out, steps=STEPS):
    """Per amplitude: NEURON's and ionc's spike steps, and the worst V and relative cai
    differences before NEURON's first spike."""
    v, cai = host(out["V"]).T, host(out["cai"]).T
    rows = []
    for k in range(len(cell.amps)):
        want, got = spike_steps(ref["v"][k, :steps]), spike_steps(v[k])
        first = want[0] if len(want) else steps
        dv = np.abs(ref["v"][k, :first] - v[k, :first]).max()
        dca = (np.abs(ref["cai"][k, :first] - cai[k, :first]) / ref["cai"][k, :first]).max()
        rows.append((want, got, dv, dca))
    return rows


def test_published_cells_fire_neurons_spikes(model):
    """float64: every spike within 2 steps of NEURON's, V within 1e-6 mV and cai within
    1e-9 relative before the first spike, at each injected current."""
    cell, ref, classes = model
    group = ionc_cell(cell, classes, ref["order"])
    out = group.run(current_density(cell.amps), steps=STEPS, record=("V", "spike", "cai"))
    total = 0
    for want, got, dv, dca in _compare(cell, ref, out):
        assert len(got) == len(want)
        if len(want):
            assert np.abs(got - want).max() <= 2
        assert dv <= 1e-6 and dca <= 1e-9
        total += len(want)
    assert total >= 20                               # the cells do fire
    assert host(out["spike_count"]).sum() == total
    assert out["cai"].shape == (STEPS, len(cell.amps))


def test_float32_cells_keep_the_spike_counts(model):
    cell, ref, classes = model
    group = ionc_cell(cell, classes, ref["order"], dtype="float32")
    counts = host(group.run(current_density(cell.amps), steps=STEPS,
                            record=("spike",))["spike_count"])
    want = [len(spike_steps(v)) for v in ref["v"]]
    assert np.abs(counts - np.array(want)).max() <= 1


def test_cells_on_the_numpy_target(model):
    """The NumPy reference target runs the same cells (1000 steps: it is slow)."""
    cell, ref, classes = model
    steps = 1000
    group = ionc_cell(cell, classes, ref["order"], target="numpy")
    out = group.run(current_density(cell.amps), steps=steps, record=("V", "cai"))
    for want, got, dv, dca in _compare(cell, ref, out, steps):
        assert len(got) == len(want) and (not len(want) or np.abs(got - want).max() <= 2)
        assert dv <= 1e-6 and dca <= 1e-9


def test_a_cell_records_any_state_and_restarts_as_neuron_initialises(model):
    """record= takes mechanism states; reset_state is NEURON's finitialize again."""
    cell, ref, classes = model
    group = ionc_cell(cell, classes, ref["order"])
    label = next(m for m in ref["order"] if classes[m].spec.gates and m != "pas")
    gate = classes[label].spec.gates[0].name
    I = current_density(cell.amps)
    first = group.run(I, steps=200, record=("V", "cai", f"{label}.{gate}"))
    assert np.array_equal(host(first[f"{label}.{gate}"])[-1],
                          host(group.channels[label].states[gate]))
    group.reset_state()
    again = group.run(I, steps=200, record=("V", "cai"))
    assert np.array_equal(host(first["V"]), host(again["V"]))
    with pytest.raises(ValueError, match="cannot record"):
        group.run(I, steps=10, record=("nai",))


def test_a_cell_under_jax_equals_the_c_target(model, jax_x64):
    from ionc.jax import neuron_ops
    cell, ref, classes = model
    group = ionc_cell(cell, classes, ref["order"])
    ops = neuron_ops(group)
    I = np.broadcast_to(current_density(cell.amps), (400, len(cell.amps)))
    states, records = ops.run(ops.states(), I, 0.025, record=("V", "cai"))
    out = group.run(I, record=("V", "cai"))
    assert np.array_equal(np.asarray(records["V"]), host(out["V"]))
    assert np.array_equal(np.asarray(records["cai"]), host(out["cai"]))


def test_ion_wiring_errors_name_the_mechanism_and_the_ion(model):
    cell, ref, classes = model
    pool = next(m for m in ref["order"] if any(i.writes for i in classes[m].spec.ions))
    state = dict(classes[pool].spec.ion("ca").writes)["cai"]     # cai, or hnn's ca
    other = next(m for m in ref["order"] if m != pool)
    n = 2
    with pytest.raises(ValueError, match=f"{pool} reads ica, but no mechanism of this cell "
                                         f"carries a current of ion 'ca'"):
        ionc.CondNeuGroup(n, method="neuron", dt=0.025, **{pool: classes[pool](n)})
    alone = ionc.CondNeuGroup(n, method="neuron", dt=0.025, ions={"ca": {"ica": -1e-4}},
                              **{pool: classes[pool](n)})       # a given current drives it
    start = host(alone.channels[pool].states[state]).copy()
    alone.run(0.0, steps=10)
    assert np.all(host(alone.channels[pool].states[state]) > start)
    assert np.array_equal(host(alone.run(0.0, steps=1, record=("cai",))["cai"])[0],
                          host(alone.channels[pool].states[state]))
    with pytest.raises(ValueError, match="both write cai"):
        ionc.CondNeuGroup(n, method="neuron", dt=0.025, ions={"ca": {"ica": 0.0}},
                          a=classes[pool](n), b=classes[pool](n))
    with pytest.raises(ValueError, match="no mechanism of this cell uses"):
        ionc.CondNeuGroup(n, method="neuron", dt=0.025, ions={"cl": {"ecl": -70.0}},
                          **{other: classes[other](n)})
    with pytest.raises(ValueError, match="not quantities of ion 'ca'"):
        ionc.CondNeuGroup(n, method="neuron", dt=0.025, ions={"ca": {"ena": 1.0, "ica": 0.0}},
                          **{pool: classes[pool](n)})
    with pytest.raises(ValueError, match="concentration cao must be finite and > 0"):
        ionc.CondNeuGroup(n, method="neuron", dt=0.025, ions={"ca": {"cao": -2.0, "ica": 0.0}},
                          **{pool: classes[pool](n)})


def test_the_nernst_potential_is_neurons():
    """eca from the cell's moving cai, as NEURON's nrn_nernst (CODATA 2018 constants):
    127.58951061761749 mV at 6.3 degC, cai = 5e-5 and cao = 2 mM, and a given eca holds."""
    from ionc.codegen.ions import nernst
    import sympy as sp
    value = float(nernst(sp.Float(5e-5), sp.Integer(2), sp.Float(6.3), 2))
    assert value == pytest.approx(127.58951061761749, rel=1e-15)


def test_neurons_order_matters_and_is_kept(model):
    """A mechanism that reads cai in its state equation sees the pool's new value in
    NEURON (concentration writers advance first, whatever the order given)."""
    cell, ref, classes = model
    reversed_order = list(reversed(ref["order"]))
    one = ionc_cell(cell, classes, ref["order"])
    other = ionc_cell(cell, classes, reversed_order)
    I = current_density(cell.amps)
    a = host(one.run(I, steps=400, record=("V",))["V"])
    b = host(other.run(I, steps=400, record=("V",))["V"])
    assert np.abs(a - b).max() <= 1e-6              # only the writers' place matters


@pytest.mark.skipif(sys.platform != "linux", reason="the NVRTC wheel is installed on Linux")
def test_the_cells_cuda_source_compiles_with_cupys_options(model):
    """Without a GPU: NVRTC, with CuPy's options, compiles each cell's fused kernels."""
    from ionc.build.cuda_module import CUPY_NVRTC_OPTIONS, NVRTC_OPTIONS
    from targets import cuda_helper
    nvrtc = cuda_helper("nvrtc")
    cell, ref, classes = model
    for dtype in ("float32", "float64"):
        src = ionc_cell(cell, classes, ref["order"], dtype=dtype, target="numpy").source("cuda")
        status, log, ptx = nvrtc.compile_ptx(src, (*NVRTC_OPTIONS, *CUPY_NVRTC_OPTIONS,
                                                   "-arch=compute_90"))
        assert status == 0, (dtype, log[-3000:])
        assert ".entry ionc_run_kernel" in ptx


def test_per_neuron_values_in_a_cell_equal_separate_cells(model):
    """RANGE values, ions= and celsius given per neuron: each neuron runs as the cell of
    its own scalar values would."""
    cell, ref, classes = model
    carrier = next(m for m in ref["order"] if classes[m].spec.ion("ca")
                   and classes[m].spec.ion("ca").current)
    g = cell.params[carrier]
    key = next(iter(g))
    values = np.array([g[key], 0.5 * g[key]])
    n = len(values)

    def group(value, cao, size):
        chans = {m: classes[m](size, **{**cell.params[m],
                                        **({key: value} if m == carrier else {})})
                 for m in ref["order"]}
        ions = {**cell.ions, "ca": {"cao": cao}}
        return ionc.CondNeuGroup(size, method="neuron", dt=0.025, V_initializer=cell.v_init,
                                 V_th=0.0, celsius=cell.celsius, ions=ions, **chans)
    I = np.full(n, current_density(cell.amps)[2])
    both = group(values, np.array([2.0, 3.0]), n).run(I, steps=400, record=("V", "cai"))
    for k, cao in enumerate((2.0, 3.0)):
        one = group(float(values[k]), cao, 1).run(I[:1], steps=400, record=("V", "cai"))
        np.testing.assert_allclose(host(both["V"])[:, k], host(one["V"])[:, 0], rtol=0,
                                   atol=1e-9)
        np.testing.assert_allclose(host(both["cai"])[:, k], host(one["cai"])[:, 0],
                                   rtol=1e-10)
