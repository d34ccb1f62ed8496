"""BrainPy's channel API, input checks, and state safety after refused calls."""
import numpy as np
import pytest

import ionc
from ionc import INa_Ba2002
from targets import host


def _primed(target, n=10, **kw):
    ch = INa_Ba2002(n, target=target, **kw)
    ch.reset_state(np.linspace(-80, 0, n))
    ch.update(np.linspace(-60, 20, n), dt=0.1)
    return ch


def _assert_unchanged(ch, before):
    for g, a in before.items():
        np.testing.assert_array_equal(host(getattr(ch, g)), host(a))


@pytest.mark.parametrize("bad, error, match", [
    (np.zeros(9), ValueError, r"shape \(9,\), expected \(10,\)"),
    (np.zeros((2, 10)), ValueError, "shape"),
    (np.array(["a"] * 10), TypeError, "real numbers"),
    (np.zeros(10, complex), TypeError, "real numbers"),
])
def test_bad_voltage_is_refused_and_states_kept(target, bad, error, match):
    ch = _primed(target)
    before = ch.state_dict()
    with pytest.raises(error, match=match):
        ch.update(bad)
    _assert_unchanged(ch, before)


def test_nan_voltage_refused_by_default_and_allowed_on_request(target):
    ch = _primed(target)
    before = ch.state_dict()
    V = np.full(10, -30.0)
    V[3] = np.nan
    with pytest.raises(ValueError, match="1 non-finite"):
        ch.update(V)
    _assert_unchanged(ch, before)
    free = _primed(target, nan_policy="propagate")
    free.update(V)
    p = host(free.p)
    assert np.isnan(p[3]) and np.isfinite(np.delete(p, 3)).all()
    with pytest.raises(ValueError, match="nan_policy"):
        INa_Ba2002(3, nan_policy="ignore")


def test_the_same_voltage_array_is_rechecked_on_every_call(target):
    # update keeps the pointer of the array it saw last; values, shape and dtype
    # changed in place are still seen
    ch = _primed(target)
    V = np.full(10, -30.0)
    ch.update(V)
    V[:] = 20.0
    ch.update(V)
    fresh = _primed(target)
    fresh.update(np.full(10, -30.0))
    fresh.update(np.full(10, 20.0))
    np.testing.assert_array_equal(host(ch.p), host(fresh.p))
    before = ch.state_dict()
    V[3] = np.nan
    with pytest.raises(ValueError, match="1 non-finite"):
        ch.update(V)
    _assert_unchanged(ch, before)
    V[3] = 0.0
    V.shape = (2, 5)
    with pytest.raises(ValueError, match="shape"):
        ch.update(V)
    _assert_unchanged(ch, before)
    V.shape = (10,)
    V.dtype = np.int64                       # now read as integers, converted like any int input
    V[:] = -30
    ch.update(V)
    fresh.update(np.full(10, -30.0))
    np.testing.assert_array_equal(host(ch.p), host(fresh.p))


@pytest.mark.parametrize("dt", [0.0, -0.1, float("nan"), float("inf")])
def test_non_positive_dt_refused(target, dt):
    ch = _primed(target)
    before = ch.state_dict()
    with pytest.raises(ValueError, match="dt must be finite and > 0"):
        ch.update(np.zeros(10), dt=dt)
    with pytest.raises(ValueError, match="dt"):
        ch.update({"t": 0.0, "dt": dt}, np.zeros(10))
    _assert_unchanged(ch, before)


def test_conversions_give_the_same_answer(target):
    V = np.linspace(-70, 10, 10)
    ref = _primed(target)
    ref.update(V)
    for variant in (list(V), V[::-1].copy()[::-1], np.asfortranarray(V),
                    np.stack([V, V])[:, :][0]):
        ch = _primed(target)
        ch.update(variant)
        np.testing.assert_array_equal(host(ch.p), host(ref.p))
    ch = _primed(target)
    ch.update(-30.0)   # a scalar clamp level broadcasts
    r = _primed(target)
    r.update(np.full(10, -30.0))
    np.testing.assert_array_equal(host(ch.q), host(r.q))


def test_update_signatures_agree(target):
    V = np.linspace(-70, 10, 10)
    a, b, c = _primed(target), _primed(target), _primed(target, dt=0.025)
    a.update({"t": 0.0, "dt": 0.025}, V)
    b.update(V, dt=0.025)
    c.update(V)
    np.testing.assert_array_equal(host(a.p), host(b.p))
    np.testing.assert_array_equal(host(a.p), host(c.p))


def test_batch_keep_size_and_parameters(target):
    ch = INa_Ba2002((4, 5), keep_size=True, target=target, g_max=lambda shape: np.full(shape, 60.))
    assert ch.varshape == (4, 5)
    ch.reset_state(-65.0, batch_size=3)
    assert ch.p.shape == (3, 4, 5)
    ch.update(np.full((3, 4, 5), -20.0))
    I = ch.current(np.full((3, 4, 5), -20.0))
    assert I.shape == (3, 4, 5)
    flat = INa_Ba2002((4, 5), target=target)
    assert flat.varshape == (20,)
    with pytest.raises(TypeError, match="gmax"):
        INa_Ba2002(3, gmax=1.0)
    with pytest.raises(ValueError, match="does not broadcast"):
        INa_Ba2002(3, E=np.zeros(4))


def test_heterogeneous_parameters_equal_separate_channels(target):
    E = np.array([50.0, 40.0, 55.0])
    T = np.array([36.0, 30.0, 22.0])
    ch = INa_Ba2002(3, E=E, T=T, target=target)
    V = np.array([-20.0, -37.0, -10.0])
    ch.reset_state(V - 30)
    ch.update(V)
    I = ch.current(V)
    for i in range(3):
        one = INa_Ba2002(1, E=E[i], T=T[i], target=target)
        one.reset_state(V[i:i + 1] - 30)
        one.update(V[i:i + 1])
        np.testing.assert_allclose(host(one.p), host(ch.p)[i:i + 1], rtol=1e-15)
        np.testing.assert_allclose(host(one.current(V[i:i + 1])), host(I)[i:i + 1], rtol=1e-14)


def test_derivatives_and_rates(target):
    ch = _primed(target)
    V = np.linspace(-60, 20, 10)
    p = np.linspace(0, 1, 10)
    a, b = host(ch.f_p_alpha(V)), host(ch.f_p_beta(V))
    np.testing.assert_allclose(host(ch.dp(p, 0.0, V)), a * (1 - p) - b * p, rtol=1e-13,
                               atol=1e-15)
    hot = INa_Ba2002(10, T=46.0, target=target)
    np.testing.assert_allclose(host(hot.dq(p, 0.0, V)), 3.0 * (host(ch.f_q_alpha(V)) * (1 - p)
                               - host(ch.f_q_beta(V)) * p), rtol=1e-13, atol=1e-15)


def test_state_dict_and_files_round_trip(target, tmp_path):
    ch = _primed(target)
    saved = ch.state_dict()
    path = tmp_path / "states.npz"
    ch.save_states(str(path))
    ch.update(np.zeros(10))
    ch.load_states(str(path))
    _assert_unchanged(ch, saved)
    with pytest.raises(KeyError, match="lacks"):
        ch.load_state_dict({"p": saved["p"]})
    _assert_unchanged(ch, saved)
    assert set(ch.vars()) == {f"{ch.name}.p", f"{ch.name}.q"} and ch.nodes() == {ch.name: ch}


def test_inspection(target):
    ch = INa_Ba2002(4, dtype="float32", target=target)
    assert "INa_Ba2002" in repr(ch) and "float32" in repr(ch) and ch.kernel_hash in repr(ch)
    c_source, numpy_source = ch.source("c"), ch.source("numpy")
    assert "expm1f(" in c_source and "ionc_exprelr(" in c_source
    assert "numpy.expm1(" in numpy_source and "= _exprelr(" not in numpy_source
    assert "_capped_rate((1.4)*_exprelr(" in numpy_source    # beta_p, rewritten
    assert len(ch.singularities.removable) == 2
    with pytest.raises(ValueError, match="unknown target"):
        INa_Ba2002(3, target="tpu")
    with pytest.raises(ValueError, match="dtype"):
        INa_Ba2002(3, dtype="float16")


def test_euler_method_is_forward_euler(target):
    V = np.linspace(-70, 10, 10)
    ch = INa_Ba2002(10, method="euler", target=target, T=40.0)
    ch.reset_state(V - 20)
    p0, q0 = host(ch.p).copy(), host(ch.q).copy()
    dp, dq = host(ch.dp(p0, 0.0, V)), host(ch.dq(q0, 0.0, V))
    ch.update(V, dt=0.01)
    np.testing.assert_allclose(host(ch.p), p0 + 0.01 * dp, rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(host(ch.q), q0 + 0.01 * dq, rtol=1e-14, atol=1e-16)
    with pytest.raises(ValueError, match="unknown method"):
        INa_Ba2002(3, method="rk99", target=target)


@pytest.mark.parametrize("every", [1, 7])
def test_run_with_progress_bar_is_identical_and_shows_on_stderr(every, capsys):
    rng = np.random.default_rng(11)
    V = rng.uniform(-90, 40, (1003, 50))
    a, b = INa_Ba2002(50), INa_Ba2002(50)
    a.reset_state(V[0])
    b.reset_state(V[0])
    plain = a.run(V, dt=0.05, every=every, progress=False)
    assert capsys.readouterr().err == ""
    chunked = b.run(V, dt=0.05, every=every, progress=True)
    assert "INa_Ba2002 run" in capsys.readouterr().err
    for k in plain:
        np.testing.assert_array_equal(plain[k], chunked[k])
    np.testing.assert_array_equal(a.p, b.p)
    np.testing.assert_array_equal(a.q, b.q)


def test_progress_line_only_on_a_terminal_and_only_after_the_delay():
    import io
    import time

    from ionc.build.progress import progress_while

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    slow, quick, pipe = Terminal(), Terminal(), io.StringIO()
    with progress_while("compiling X", delay=0.05, stream=slow):
        time.sleep(0.4)
    with progress_while("compiling Y", delay=5.0, stream=quick):
        time.sleep(0.05)
    with progress_while("compiling Z", delay=0.0, stream=pipe):
        time.sleep(0.2)
    assert "compiling X" in slow.getvalue()
    assert quick.getvalue() == "" and pipe.getvalue() == ""


def test_thread_count_is_set_restored_and_does_not_change_results():
    n = 20000                                    # above the parallel threshold
    V = np.random.default_rng(3).uniform(-90, 40, n)
    results = []
    before = ionc.get_num_threads()
    for threads in (1, 2):
        with ionc.num_threads(threads):
            assert ionc.get_num_threads() == threads
            ch = INa_Ba2002(n)
            ch.reset_state(V)
            ch.update(V[::-1].copy())
            results.append(ch.p.copy())
    assert ionc.get_num_threads() == before
    np.testing.assert_array_equal(results[0], results[1])
    for bad in (0, -1, 100000, 2**31):          # 2**31 would wrap to 1 in a C int
        with pytest.raises(ValueError, match="between 1 and"):
            ionc.set_num_threads(bad)
    for bad in (1.5, True, "2"):
        with pytest.raises(TypeError, match="an int"):
            ionc.set_num_threads(bad)
    assert ionc.get_num_threads() == before
