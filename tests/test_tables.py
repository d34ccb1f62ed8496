"""Rate tables (method='table'): the table against 50-digit mpmath at nodes, between
them, at the range ends and at the singular points, and the channel stepping with it
against the exact method on every target, inside and outside the table's range."""
import mpmath as mp
import numpy as np
import pytest
import sympy as sp

from ionc import Channel, INa_Ba2002
from ionc.codegen import ChannelSpec, Gate, SpecError, V, channels, symbol
from ionc.codegen.tables import DEFAULT_RTOL, build_table
from reference import mp_rates
from targets import host

DT = 0.025
SINGULAR = (-37.0, -10.0)          # x - 13 = 0 and x - 40 = 0 at V_sh = -50


def mp_functions(v: float) -> dict:
    """inf and frac of both gates at 50 digits, from the published formulas (T = 36)."""
    ap, bp, aq, bq = mp_rates(v, -50.0)
    dt = mp.mpf(DT)
    return {"inf_p": ap / (ap + bp), "frac_p": 1 - mp.exp(-dt * (ap + bp)),
            "inf_q": aq / (aq + bq), "frac_q": 1 - mp.exp(-dt * (aq + bq))}


def probe_points(table) -> np.ndarray:
    """Nodes, midpoints, quarter points, the ends, the singular points and 1e-9 mV
    beside them, and seeded random voltages."""
    rng = np.random.default_rng(7)
    nodes = table.lo + table.h * np.arange(0, table.intervals + 1, 7)
    singular = [s + d for s in SINGULAR for d in (0.0, 1e-9, -1e-9)]
    return np.concatenate([nodes, nodes[:-1] + table.h / 2, nodes[:-1] + table.h / 4,
                           [table.lo, table.hi, np.nextafter(table.hi, -np.inf)], singular,
                           rng.uniform(table.lo, table.hi, 200)])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_table_is_within_its_tolerance_of_50_digit_mpmath(dtype):
    spec = channels.INa_Ba2002
    table = build_table(spec, dtype, DT, dict(spec.parameters))
    rtol = DEFAULT_RTOL[dtype]
    assert table.rtol == rtol and max(table.errors.values()) <= rtol
    v = probe_points(table)
    got64 = table.evaluate(v, "float64")
    got = table.evaluate(v)
    # in the kernel's arithmetic the rounding of the Horner steps comes on top
    slack = 2.0 ** -52 * 4 if dtype == "float64" else 2.0 ** -23 * 2
    for k, x in enumerate(v):
        exact = mp_functions(x)
        for name, y in exact.items():
            scale = table.scales[name]
            assert abs(mp.mpf(float(got64[name][k])) - y) / scale <= rtol * 1.0001, (name, x)
            assert abs(mp.mpf(float(got[name][k])) - y) / scale <= rtol + slack, (name, x)


def test_grid_is_sized_to_the_tolerance_and_the_budget():
    spec = channels.INa_Ba2002
    loose = build_table(spec, "float64", DT, dict(spec.parameters), rtol=1e-8)
    tight = build_table(spec, "float64", DT, dict(spec.parameters))
    assert loose.h > tight.h and loose.nbytes < tight.nbytes
    assert max(loose.errors.values()) <= 1e-8
    # the grid is the coarsest power of two that meets the tolerance
    assert max(loose.errors.values()) > 1e-8 / 2 ** (loose.degree + 1) / 4
    with pytest.raises(SpecError, match="cache budget"):
        build_table(spec, "float64", DT, dict(spec.parameters), budget=4096)
    with pytest.raises(ValueError, match="rtol"):
        build_table(spec, "float64", DT, dict(spec.parameters), rtol=1e-17)


def _pair(target, dtype, n, **kw):
    exact = INa_Ba2002(n, dtype=dtype, target=target)
    table = INa_Ba2002(n, dtype=dtype, target=target, method="table", **kw)
    return exact, table


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_table_step_matches_the_exact_step_on_every_target(target, dtype):
    n = 1500                              # three blocks of the C kernels
    rng = np.random.default_rng(11)
    exact, table = _pair(target, dtype, n)
    V0 = rng.uniform(-90, 50, n)
    exact.reset_state(V0)
    table.reset_state(V0)
    tab = table.rate_table(DT)
    special = np.array([tab.lo, tab.hi, tab.lo + 3 * tab.h, tab.lo + 3.5 * tab.h,
                        *SINGULAR, SINGULAR[0] + 1e-9, SINGULAR[1] - 1e-9])
    steps = 40
    bound = steps * 2 * DEFAULT_RTOL[dtype] + (0 if dtype == "float64" else 1e-6)
    for s in range(steps):
        V = rng.uniform(-100, 60, n)
        V[:len(special)] = special
        if s % 4 == 0:                              # the third block leaves the table
            V[1100] = 150.0 if s % 8 else -200.0
        exact.update(V, dt=DT)
        table.update(V, dt=DT)
    for g in ("p", "q"):
        a, b = host(exact.states[g]), host(table.states[g])
        assert np.abs(a - b).max() <= bound, g
        assert np.abs(a - b).max() > 0, "the table was never used"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_run_takes_the_same_steps_as_update(target, dtype):
    n, steps = 700, 30
    rng = np.random.default_rng(3)
    trace = rng.uniform(-100, 60, (steps, n))
    trace[5:9, 600] = 120.0                         # outside for a few steps
    a = INa_Ba2002(n, dtype=dtype, target=target, method="table")
    b = INa_Ba2002(n, dtype=dtype, target=target, method="table")
    a.reset_state(-65.0)
    b.reset_state(-65.0)
    rec = a.run(trace, dt=DT, record=("p", "q"))
    for row in trace:
        b.update(row, dt=DT)
    for g in ("p", "q"):
        np.testing.assert_array_equal(host(rec[g][-1]), host(b.states[g]))


def test_outside_the_range_the_step_is_the_exact_one(target):
    exact, table = _pair(target, "float64", 600, table_range=(-80.0, 40.0))
    for ch in (exact, table):
        ch.reset_state(-65.0)
    V = np.where(np.arange(600) % 2, 45.0, -120.0)
    for _ in range(5):
        exact.update(V, dt=DT)
        table.update(V, dt=DT)
    for g in ("p", "q"):
        np.testing.assert_array_equal(host(exact.states[g]), host(table.states[g]))


def test_a_new_dt_gets_its_own_table():
    exact, table = _pair("cpu", "float64", 300)
    rng = np.random.default_rng(5)
    V = rng.uniform(-90, 40, 300)
    for ch in (exact, table):
        ch.reset_state(-70.0)
        ch.update(V, dt=DT)
        ch.update(V, dt=0.05)
    assert table.rate_table(0.05).dt == 0.05 and table.rate_table(DT).dt == DT
    for g in ("p", "q"):
        assert np.abs(exact.states[g] - table.states[g]).max() <= 4e-12


def test_table_options_are_checked():
    with pytest.raises(TypeError, match="method='table'"):
        INa_Ba2002(4, table_degree=3)
    with pytest.raises(ValueError, match="table_rtol"):
        INa_Ba2002(4, method="table", table_rtol=1e-16)
    with pytest.raises(ValueError, match="table_range"):
        INa_Ba2002(4, method="table", table_range=(10.0, -10.0))
    with pytest.raises(ValueError, match="V_sh"):
        INa_Ba2002(4, method="table", V_sh=np.full(4, -50.0))
    with pytest.raises(ValueError, match="method='table'"):
        INa_Ba2002(4).rate_table()
    ch = INa_Ba2002(4, method="table", dt=DT, g_max=np.full(4, 90.0))  # g_max may vary
    report = ch.rate_table().report()
    assert "rate table" in report and "inf_q" in report


def test_rates_reading_an_input_cannot_be_tabulated():
    cai, g, m = symbol("cai"), symbol("g"), symbol("m")
    spec = ChannelSpec("CaGated", {"g": 1.0},
                       (Gate("m", alpha=cai * sp.exp(V / 20), beta=sp.exp(-V / 20)),),
                       current=g * m * (0 - V), inputs={"cai": 1e-4})
    cls = type("CaGated", (Channel,), {"spec": spec})
    ch = cls(3, method="table")
    with pytest.raises(SpecError, match="cai"):
        ch.update(np.zeros(3), dt=DT)
