"""Threads, faults and bad numbers: never a crash, never a torn or lost state.

Reproducers that could kill the interpreter run in a subprocess."""
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import ionc
from ionc import INa_Ba2002
from ionc.build import CacheError, build_c_extension, c_extension
from targets import host


def _in_threads(fn, count: int) -> None:
    """``fn(k)`` on ``count`` threads at once, joined."""
    threads = [threading.Thread(target=fn, args=(k,)) for k in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _python(script: str, timeout=300, **env):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **env})


def test_update_racing_reset_state_with_a_new_batch_never_crashes():
    r = _python("""
        import threading, numpy as np
        from ionc import INa_Ba2002
        ch = INa_Ba2002(2000)
        ch.reset_state(np.full(2000, -65.0))
        stop = threading.Event()
        errors = []
        def stepper():
            V = np.full(2000, -30.0)
            while not stop.is_set():
                try:
                    ch.update(V)          # may be refused (shape changed), never crash
                except ValueError:
                    pass
        t = threading.Thread(target=stepper)
        t.start()
        for k in range(301):
            ch.reset_state(np.full(2000, -65.0), batch_size=64 if k % 2 else None)
        stop.set(); t.join()
        print("ok", bool(np.isfinite(ch.p).all()), ch.p.shape)
    """)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split() == ["ok", "True", "(2000,)"]


def test_four_threads_updating_one_channel_lose_no_update():
    n, per_thread = 5000, 50
    ch, ref = INa_Ba2002(n), INa_Ba2002(n)
    V0, V = np.full(n, -65.0), np.full(n, -20.0)
    ch.reset_state(V0)
    ref.reset_state(V0)

    def work(_):
        for _ in range(per_thread):
            ch.update(V, dt=0.01)
    _in_threads(work, 4)
    for _ in range(4 * per_thread):
        ref.update(V, dt=0.01)
    np.testing.assert_array_equal(ch.p, ref.p)
    np.testing.assert_array_equal(ch.q, ref.q)


def test_a_failed_reset_state_leaves_shape_and_states_alone(monkeypatch, target):
    ch = INa_Ba2002(10, target=target)
    ch.reset_state(np.linspace(-80, 0, 10))
    before = {g: host(a).copy() for g, a in ch.states.items()}
    with pytest.raises(ValueError, match="non-finite"):
        ch.reset_state(np.full(10, np.nan), batch_size=2)
    with pytest.raises(ValueError, match="shape"):
        ch.reset_state(np.zeros(3), batch_size=2)
    kind = type(ch._kernels)                       # allocation fails half-way
    real_empty = kind.empty

    def failing(*args):
        shape = args[-2]
        if shape == (200000, 10):
            raise MemoryError("simulated")
        return real_empty(*args)
    monkeypatch.setattr(kind, "empty", failing if target == "cuda" else staticmethod(failing))
    with pytest.raises(MemoryError):
        ch.reset_state(-65.0, batch_size=200000)
    monkeypatch.undo()
    assert ch.p.shape == (10,)
    for g, a in before.items():
        np.testing.assert_array_equal(host(ch.states[g]), a)
    ch.update(np.full(10, -30.0))                 # still usable
    assert np.isfinite(host(ch.p)).all()


def test_builds_from_three_threads_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("IONC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(c_extension, "_LOADED", {})
    cwd, stdout, cc = os.getcwd(), sys.stdout, os.environ.get("CC")
    results, errors = {}, []

    def build(k):
        try:
            src = f"double twice{k}(double x) {{ return 2 * x + {k}; }}"
            results[k] = build_c_extension(src, f"double twice{k}(double x);")
        except Exception as exc:              # noqa: BLE001 - reported below
            errors.append(exc)
    _in_threads(build, 3)
    assert not errors, errors
    assert [getattr(results[k].lib, f"twice{k}")(1.0) for k in range(3)] == [2.0, 3.0, 4.0]
    assert os.getcwd() == cwd and sys.stdout is stdout and os.environ.get("CC") == cc


def test_compiler_errors_reach_the_exception_only(tmp_path):
    r = _python("""
        from ionc.build import BuildError, build_c_extension
        try:
            build_c_extension("double f(double x) { return x +; }", "double f(double x);")
        except BuildError as exc:
            print("BUILD-ERROR", len(str(exc).splitlines()), "error" in str(exc))
    """, IONC_CACHE_DIR=str(tmp_path / "c"))
    assert r.returncode == 0 and r.stdout.split()[0] == "BUILD-ERROR"
    lines, has_error = int(r.stdout.split()[1]), r.stdout.split()[2]
    assert has_error == "True" and lines <= 40
    assert r.stderr == ""                          # nothing from gcc on the terminal


def test_an_unwritable_cache_is_named_and_auto_falls_back(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("IONC_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(c_extension, "_LOADED", {})
    with pytest.raises(CacheError, match=f"{blocker}.*IONC_CACHE_DIR"):
        build_c_extension("double g1(double x) { return x; }", "double g1(double x);")
    monkeypatch.setenv("IONC_CFLAGS", "-DIONC_NEW_KEY=1")     # a cold build
    with pytest.warns(RuntimeWarning, match="cache directory is unusable.*NumPy"):
        ch = INa_Ba2002(4, target="auto", T=31.5)
    assert ch.target == "numpy"
    cpu = INa_Ba2002(4, target="cpu", T=31.5)          # kernels are built on first use
    before = {g: a.copy() for g, a in cpu.states.items()}
    with pytest.raises(CacheError):
        cpu.reset_state(-65.0)
    assert all(np.array_equal(cpu.states[g], a) for g, a in before.items())


def test_an_empty_home_does_not_put_the_cache_at_the_root():
    env = {k: v for k, v in os.environ.items() if k not in ("IONC_CACHE_DIR", "XDG_CACHE_HOME")}
    env["HOME"] = ""
    r = subprocess.run([sys.executable, "-c", "from ionc.build import cache_dir; "
                        "print(cache_dir('c'))"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    path = r.stdout.strip()
    assert not path.startswith("/.cache") and "ionc-cache-" in path


def test_a_killed_build_leaves_nothing_that_outlives_the_next_build(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("IONC_CACHE_DIR", str(cache))
    monkeypatch.setattr(c_extension, "_LOADED", {})
    r = _python("""
        import os, signal, threading
        from ionc.build import build_c_extension
        src = "double h(double x) { return x; }\\n" + "".join(
            f"double h{k}(double x) {{ return x * {k}; }}\\n" for k in range(20000))
        threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGKILL)).start()
        build_c_extension(src, "double h(double x);")
    """, IONC_CACHE_DIR=str(cache))
    assert r.returncode == -9
    left = [p for p in (cache / "c").iterdir() if p.name.startswith(".build-")]
    assert left, "the killed build left its directory (what this test is about)"
    for p in left:
        os.utime(p, (0, 0))                         # pretend it is an hour old
    build_c_extension("double h2(double x) { return x; }", "double h2(double x);")
    assert not [p for p in (cache / "c").iterdir() if p.name.startswith(".build-")]


def test_a_build_survives_a_concurrent_cache_clear(tmp_path):
    cache = tmp_path / "cache"
    builder = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        from ionc.build import build_c_extension
        for k in range(6):
            ext = build_c_extension(f"double w{k}(double x) {{ return x + {k}; }}",
                                    f"double w{k}(double x);")
            assert getattr(ext.lib, f"w{k}")(1.0) == 1.0 + k
        print("built")
    """)], env={**os.environ, "IONC_CACHE_DIR": str(cache)}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    while builder.poll() is None:
        subprocess.run([sys.executable, "-m", "ionc.cli", "cache", "clear"],
                       env={**os.environ, "IONC_CACHE_DIR": str(cache)}, capture_output=True)
    out, err = builder.communicate()
    assert builder.returncode == 0 and out.strip() == "built", err[-2000:]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(ionc.LIBRARY))
def test_infinite_voltage_is_refused_and_gates_stay_finite(name, dtype):
    cls = getattr(ionc, name)
    ch = cls(4, dtype=dtype)
    V = np.array([-70.0, -30.0, 0.0, 20.0], dtype)
    ch.reset_state(V)
    before = {g: a.copy() for g, a in ch.states.items()}
    for bad_value in (np.inf, -np.inf):
        bad = V.copy()
        bad[2] = bad_value
        for call in (lambda b=bad: ch.update(b), lambda b=bad: ch.reset_state(b),
                     lambda b=bad: ch.run(np.stack([V, b])), lambda b=bad: ch.current(b)):
            with pytest.raises(ValueError, match="1 non-finite value"):
                call()
    for g, a in ch.states.items():
        np.testing.assert_array_equal(a, before[g])
        assert np.isfinite(a).all()


def test_bad_arguments_are_type_errors_naming_them():
    ch = INa_Ba2002(3)
    with pytest.raises(TypeError, match="V must be an array or a number, got None"):
        ch.update(None)
    with pytest.raises(TypeError, match="size must be an int or a tuple of ints, got float"):
        INa_Ba2002(2.0)
    with pytest.raises(TypeError, match="batch_size"):
        ch.reset_state(-65.0, batch_size=2.5)
    with pytest.raises(TypeError, match="tdi must"):
        ch.update({"t": 0.0}, np.zeros(3))


@pytest.mark.parametrize("C", [0.0, -1.0, np.array([1.0, 0.0, 1.0])])
def test_non_positive_capacitance_is_refused(C):
    with pytest.raises(ValueError, match="capacitance"):
        ionc.HH(3, C=C)


def test_state_files_are_symmetric_and_checked(tmp_path):
    ch = INa_Ba2002(3)
    ch.reset_state(np.full(3, -65.0))
    written = ch.save_states(tmp_path / "ckpt")
    assert written.endswith("ckpt.npz")
    other = INa_Ba2002(3)
    other.load_states(tmp_path / "ckpt")                    # the name save_states was given
    np.testing.assert_array_equal(other.p, ch.p)
    for bad, match in [({"p": np.full(3, np.nan), "q": ch.q}, "non-finite"),
                       ({"p": np.full(3, 1.5), "q": ch.q}, r"outside \[0, 1\]"),
                       ({"p": ch.p, "q": ch.q, "r": ch.q}, "does not have")]:
        with pytest.raises((ValueError, KeyError), match=match):
            other.load_state_dict(bad)
        np.testing.assert_array_equal(other.p, ch.p)
    other.load_state_dict({"p": np.full(3, 1.5), "q": ch.q}, validate=False)
    assert other.p[0] == 1.5
    np.save(tmp_path / "single.npy", ch.p)
    with pytest.raises(ValueError, match="not an .npz archive"):
        other.load_states(tmp_path / "single.npy")
    with pytest.raises(FileNotFoundError):
        other.load_states(tmp_path / "missing")


def test_three_new_channels_built_from_three_threads(tmp_path, monkeypatch):
    from ionc import Channel
    from ionc.codegen import spec_from_strings
    monkeypatch.setenv("IONC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(c_extension, "_LOADED", {})
    results, errors = {}, []

    def make(k):
        try:
            spec = spec_from_strings(
                f"IThread{k}", {"g": 1.0 + k},
                {"m": {"alpha": "0.1*(V + 40)/(1 - exp(-(V + 40)/10))",
                       "beta": "4*exp(-(V + 65)/18)"}}, current="g*m*(0 - V)")
            ch = type(spec.name, (Channel,), {"spec": spec})(10)
            ch.reset_state(np.full(10, -40.0))
            results[k] = (float(ch.m[0]), float(ch.current(-40.0)[0]))
        except Exception as exc:              # noqa: BLE001 - reported below
            errors.append(exc)
    cwd, stdout = os.getcwd(), sys.stdout
    _in_threads(make, 3)
    assert not errors, errors
    m = 1.0 / (1.0 + 4 * np.exp(-25 / 18))                  # alpha = 1 at the 0/0 point
    for k in range(3):
        np.testing.assert_allclose(results[k], (m, (1.0 + k) * m * 40.0), rtol=1e-14)
    assert os.getcwd() == cwd and sys.stdout is stdout


def test_kernels_after_fork_do_not_hang():
    # the parent's parallel kernels start libgomp's pool; a forked child inherits the
    # pool without its threads (the reproducer hung forever in the child)
    r = _python("""
        import multiprocessing, os, numpy as np
        from ionc import INa_Ba2002
        ch = INa_Ba2002(4096)
        ch.reset_state(np.full(4096, -65.0))
        ch.update(np.full(4096, -20.0))
        pid = os.fork()
        if pid == 0:
            ch.update(np.full(4096, -10.0))
            os._exit(0 if np.isfinite(ch.p).all() else 3)
        _, status = os.waitpid(pid, 0)
        def step(v):
            c = INa_Ba2002(2048)
            c.reset_state(np.full(2048, v))
            c.update(np.full(2048, -10.0))
            return float(c.p.sum())
        with multiprocessing.get_context("fork").Pool(2) as pool:
            sums = pool.map(step, [-65.0, -70.0])
        print("CHILD", os.waitstatus_to_exitcode(status), len(sums))
    """, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["CHILD", "0", "2"]


def test_output_buffers_are_checked_before_anything_is_written(tmp_path):
    ch = INa_Ba2002(8)
    ch.reset_state(np.full(8, -65.0))
    V = np.full(8, -20.0)
    frozen = np.zeros(8)
    frozen.flags.writeable = False
    np.zeros(8).tofile(tmp_path / "m.bin")
    for out in (np.memmap(tmp_path / "m.bin", dtype=np.float64, mode="r"), frozen,
                np.frombuffer(bytes(64))):
        with pytest.raises(ValueError, match="read-only"):
            ch.current(V, out=out)
    before = {g: a.copy() for g, a in ch.states.items()}
    with pytest.raises(ValueError, match="shares memory with 'p'"):
        ch.current(V, out=ch.p)
    with pytest.raises(ValueError, match="shares memory with 'q'"):
        ch.run(np.full((1, 8), -20.0), out={"p": ch.q.reshape(1, 8)})
    trace_out = np.zeros((4, 8))
    with pytest.raises(ValueError, match=r"shares memory with \"out\['p'\]\""):
        ch.run(np.full((4, 8), -20.0), record=("p", "q"), out={"p": trace_out, "q": trace_out})
    assert all(np.array_equal(before[g], a) for g, a in ch.states.items())


def test_a_voltage_array_changed_in_place_is_read_again():
    r = _python("""
        import numpy as np
        from ionc import INa_Ba2002
        n = 1000
        a, b = INa_Ba2002(n), INa_Ba2002(n)
        for ch in (a, b):
            ch.reset_state(np.full(n, -65.0))
        V = np.array(np.linspace(-80, 20, n))
        a.update(V); b.update(V.copy())
        V.resize(50 * n, refcheck=False)      # moves the data elsewhere
        V.resize(n, refcheck=False)
        V[:] = np.linspace(-60, 40, n)
        a.update(V); b.update(V.copy())
        same = np.array_equal(a.p, b.p)
        W = np.linspace(-70, 30, n)
        a.update(W); b.update(W.copy())
        W.strides = (0,)                      # every element now reads W[0]
        a.update(W); b.update(W.copy())
        print("SAME", same, np.array_equal(a.p, b.p))
    """)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["SAME", "True", "True"]


def test_save_states_replaces_a_checkpoint_whole_or_not_at_all(tmp_path, monkeypatch):
    ch = INa_Ba2002(8)
    ch.reset_state(np.full(8, -65.0))
    path = ch.save_states(tmp_path / "ckpt")
    good = open(path, "rb").read()
    real = np.savez

    def disk_full(f, **arrays):
        f.write(b"PK\x03\x04 half")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(np, "savez", disk_full)
    ch.reset_state(np.full(8, -20.0))
    with pytest.raises(OSError, match="No space left"):
        ch.save_states(tmp_path / "ckpt")
    assert open(path, "rb").read() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.npz"]
    monkeypatch.setattr(np, "savez", real)


def test_load_states_refuses_a_member_that_would_inflate(tmp_path):
    ch = INa_Ba2002(8)
    ch.reset_state(np.full(8, -65.0))
    bomb = tmp_path / "bomb.npz"
    np.savez_compressed(bomb, p=np.zeros(5_000_000), q=np.zeros(8))   # 40 MB -> 40 kB
    assert bomb.stat().st_size < 200_000
    before = ch.p.copy()
    with pytest.raises(ValueError, match="'p.npy' would inflate to 4000"):
        ch.load_states(bomb)
    np.savez(tmp_path / "odd.npz", p=np.zeros(8), q=np.zeros(8), extra=np.zeros(8))
    with pytest.raises(KeyError, match="'extra.npy', which is not a state"):
        ch.load_states(tmp_path / "odd.npz")
    assert np.array_equal(ch.p, before)
