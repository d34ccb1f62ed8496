"""More BrainPy channels through the same compiler, checked against BrainPy 2.8.2 goldens."""
from pathlib import Path

import numpy as np
import pytest

import ionc
from ionc.codegen import LIBRARY, find_removable_singularities

GOLDEN = Path(__file__).parent / "golden"
TOL = {"float64": 1e-12, "float32": 1e-5}
CHANNELS = ["IKDR_Ba2002", "INa_HH1952", "IK_HH1952", "INa_TM1991", "IK_TM1991"]
KWARGS = {"IKDR_Ba2002": {"T": 30.0}, "INa_HH1952": {"phi": 1.5}, "IK_HH1952": {"phi": 0.7}}
SINGULAR = {"INa_Ba2002": 2, "IKDR_Ba2002": 1, "INa_HH1952": 1, "IK_HH1952": 1,
            "INa_TM1991": 2, "IK_TM1991": 1, "IL": 0}


def test_every_library_singularity_is_found_and_removable():
    assert set(SINGULAR) == set(LIBRARY)
    for name, spec in LIBRARY.items():
        report = find_removable_singularities(spec)
        assert len(report.removable) == SINGULAR[name] and not report.poles, str(report)


@pytest.mark.parametrize("target", ["cpu", "numpy"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", CHANNELS)
def test_rates_steady_states_and_trajectory_match_brainpy(name, dtype, target):
    g = np.load(GOLDEN / f"library_{dtype}.npz")
    cls = getattr(ionc, name)
    V = g[f"{name}.V"]
    ch = cls(V.size, dtype=dtype, target=target)
    tol = TOL[dtype]
    gates = [x for x in ("p", "q") if f"{name}.{x}_inf" in g.files]
    for gate in gates:
        for role in ("alpha", "beta"):
            got = getattr(ch, f"f_{gate}_{role}")(V)
            np.testing.assert_allclose(got, g[f"{name}.f_{gate}_{role}"], rtol=tol,
                                       atol=tol * 1e-3, err_msg=f"{gate} {role}")
    ch.reset_state(V)
    for gate in gates:
        np.testing.assert_allclose(getattr(ch, gate), g[f"{name}.{gate}_inf"], rtol=tol,
                                   atol=tol * 1e-3)
    trace, V_sh = g[f"{name}.trace"], g[f"{name}.V_sh"]
    ch = cls(V_sh.size, V_sh=V_sh, dtype=dtype, target=target, **KWARGS.get(name, {}))
    ch.reset_state(trace[0])
    out = ch.run(trace, dt=float(g["dt"]), record=gates)
    for gate in gates:
        np.testing.assert_allclose(out[gate], g[f"{name}.traj_{gate}"], rtol=0, atol=tol)


def test_positional_arguments_follow_brainpy_order():
    a = ionc.IKDR_Ba2002(3, False, -80.0, 5.0, -55.0)
    assert a._params["E"] == -80.0 and a._params["g_max"] == 5.0 and a._params["V_sh"] == -55.0
    with pytest.raises(TypeError, match="multiple values"):
        ionc.IK_HH1952(3, False, -80.0, E=-70.0)


@pytest.mark.parametrize("target", ["cpu", "numpy"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_leak_channel_without_gates_matches_brainpy(dtype, target):
    g = np.load(GOLDEN / f"library_{dtype}.npz")
    ch = ionc.IL(g["IL.V"].size, g_max=g["IL.g_max"], dtype=dtype, target=target)
    ch.reset_state(g["IL.V"])
    ch.update(g["IL.V"])
    assert ch.state_dict() == {}
    np.testing.assert_allclose(ch.current(g["IL.V"]), g["IL.I"], rtol=TOL[dtype], atol=TOL[dtype])
