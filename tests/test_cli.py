"""The ionc command line, run as a subprocess: output, files and error paths."""
import os
import re
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest


def ionc(*args, cwd=None, **env):
    return subprocess.run([sys.executable, "-m", "ionc.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, **env}, timeout=300)


def test_emit_to_stdout_and_file(tmp_path):
    r = ionc("emit", "INa_Ba2002", "--target", "c", "--dtype", "float32")
    assert r.returncode == 0 and "expm1f(" in r.stdout and "ionc_update_kernel" in r.stdout
    out = tmp_path / "k.py"
    r = ionc("emit", "INa_Ba2002", "--target", "numpy", "-o", str(out))
    assert r.returncode == 0 and out.read_text().startswith('"""INa_Ba2002')
    compile(out.read_text(), str(out), "exec")
    r = ionc("emit", "INa_Ba2002", "--target", "cuda")
    assert r.returncode == 0 and 'extern "C" __global__' in r.stdout


def test_inspect_shows_singularities_and_kernels():
    r = ionc("inspect", "INa_Ba2002")
    assert r.returncode == 0, r.stderr
    for needle in ("V_sh + 13", "V_sh + 40", "32/25", "7/5", "exprelr", "update_kernel",
                   "phi = ", "cached in"):
        assert needle in r.stdout, needle


def test_inspect_reports_the_rate_tables():
    r = ionc("inspect", "IK_HH1952", "--method", "table", "--dt", "0.05")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("rate table: V in [-150, ") == 2 and "dt = 0.05 ms" in r.stdout
    assert "frac_p" in r.stdout and "ionc_table_inv_h" in r.stdout


def test_inspect_reads_a_mod_file(tmp_path):
    pytest.importorskip("neuron")
    mod = Path(__file__).parent / "nmodl" / "tguard.mod"
    r = ionc("inspect", str(mod))
    assert r.returncode == 0, r.stderr
    for needle in ("SUFFIX tguard", "SOLVE METHOD cnexp", "equality nudge at V == -25",
                   "removable 0/0 at V = -25", "ina = gbar*h*m**3*(V - ena)"):
        assert needle in r.stdout, needle
    r = ionc("emit", str(mod), "--target", "numpy")
    assert r.returncode == 0 and "def ionc_update_kernel" in r.stdout
    r = ionc("lint", str(mod))
    assert r.returncode == 0, r.stderr
    assert "alpha_m at V = -25 mV" in r.stdout and "error in ulp" in r.stdout
    # a file whose gate is not linear in itself: its own method (cnexp), not exp_auto
    square = tmp_path / "square.mod"
    square.write_text("NEURON { SUFFIX sq NONSPECIFIC_CURRENT i }\nSTATE { w }\n"
                      "ASSIGNED { v i }\nBREAKPOINT { SOLVE s METHOD cnexp  i = w*v }\n"
                      "INITIAL { w = 0.5 }\nDERIVATIVE s { w' = -w*w }\n")
    r = ionc("emit", str(square), "--target", "numpy")
    assert r.returncode == 0 and "def ionc_update_kernel" in r.stdout, r.stderr
    r = ionc("lint", str(mod.with_name("missing.mod")))
    assert r.returncode != 0 and "missing.mod" in r.stderr


def test_cache_list_and_clear(tmp_path):
    env_cache = os.environ["IONC_CACHE_DIR"]
    r = ionc("cache", "list")
    assert r.returncode == 0 and "compiled module(s)" in r.stdout and env_cache in r.stdout
    from ionc.build.cache import write_manifest
    private = tmp_path / "cache"
    c = private / "c"
    c.mkdir(parents=True)
    ours = c / "_ionc_0123456789abcdef0123.so"
    ours.write_bytes(b"\0" * 2048)
    write_manifest(ours)                                 # ionc's: a manifest lists it
    (c / "thesis.tex").write_text("not ionc's")          # a user's file in the same folder
    (c / "other.so").write_bytes(b"\0" * 10)
    stale, fresh = c / ".build-_ionc_9-killed", c / ".build-_ionc_8-running"
    stale.mkdir(), fresh.mkdir()
    os.utime(stale, (0, 0))                              # left by a build killed long ago
    r = ionc("cache", "list", IONC_CACHE_DIR=str(private))
    assert ours.name in r.stdout and "1 compiled module(s), 2.0 KiB" in r.stdout
    assert "thesis" not in r.stdout and "other.so" not in r.stdout
    r = ionc("cache", "clear", IONC_CACHE_DIR=str(private))
    assert r.returncode == 0 and "removed 1 compiled module(s)" in r.stdout
    assert not ours.exists() and not (c / (ours.name + ".json")).exists()
    assert (c / "thesis.tex").read_text() == "not ionc's" and (c / "other.so").exists()
    assert not stale.exists() and fresh.exists()         # a running build keeps its folder


@pytest.mark.parametrize("args, message", [
    (("emit", "INa_Nope"), "unknown channel 'INa_Nope'"),
    (("emit", "INa_Ba2002", "--target", "tpu"), "unknown target 'tpu'"),
    (("emit", "INa_Ba2002", "-o", "/nonexistent-dir/x.c"), "cannot write"),
    (("inspect", "INa_Ba2002", "--method", "rk99"), "unknown method 'rk99'"),
    (("plot", "INa_Nope"), "unknown channel 'INa_Nope'"),
    (("plot", "INa_Ba2002", "-o", "/proc/ionc/x.png"), "cannot write"),
    (("demo", "--neurons", "5"), "--neurons must be at least 13"),
    (("demo", "--neurons", "1e8"), "GiB is available: use fewer neurons"),
    (("demo", "--out", "/proc/ionc-out"), "cannot write"),
])
def test_errors_are_one_line_without_traceback(args, message):
    r = ionc(*args)
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_dtype_and_help():
    r = ionc("emit", "INa_Ba2002", "--dtype", "float16")
    assert r.returncode == 2 and "invalid choice" in r.stderr
    for sub in ("emit", "inspect", "demo", "plot", "bench", "cache"):
        h = ionc(sub, "--help")
        assert h.returncode == 0 and "usage: ionc" in h.stdout


def _assert_real_picture(path, min_size=(600, 300), min_colours=6):
    """A PNG of at least ``min_size`` pixels with several distinct colours (not blank)."""
    from matplotlib.image import imread
    image = imread(path)
    height, width = image.shape[:2]
    assert width >= min_size[0] and height >= min_size[1], image.shape
    colours = np.unique((image[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) >= min_colours, len(colours)


def test_demo_runs_small(tmp_path):
    r = ionc("demo", "--neurons", "2600", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "NaN or Inf anywhere: False" in r.stdout
    assert "-37.0" in r.stdout and "-10.0" in r.stdout      # the singular levels
    assert (tmp_path / "INa_Ba2002_float64.c").read_text().count("ionc_exprelr") > 2
    png = tmp_path / "INa_Ba2002_float64_clamp.png"
    assert str(png) in r.stdout
    _assert_real_picture(png, min_colours=13)               # one colour per step level


@pytest.mark.parametrize("channel", ["INa_Ba2002", "IKA1_HM1992"])
def test_plot_writes_steady_states_and_time_constants(tmp_path, channel):
    out = tmp_path / "gates.png"
    r = ionc("plot", channel, "-o", str(out), "--vmin", "-100", "--vmax", "40")
    assert r.returncode == 0, r.stderr
    assert f"wrote {out}" in r.stdout and "from -100 to 40 mV" in r.stdout
    _assert_real_picture(out)


def test_bench_runs_the_benchmark_suite(tmp_path):
    csv = tmp_path / "bench.csv"
    png = tmp_path / "bench.png"
    r = ionc("bench", "--", "--sizes", "1000,3000", "--repeats", "1", "--csv", str(csv),
             "--png", str(png))
    assert r.returncode == 0, r.stderr
    _assert_real_picture(png, min_size=(600, 300), min_colours=6)
    assert "ionc update" in r.stdout and "numpy" in r.stdout
    rows = csv.read_text().splitlines()
    assert len(rows) == 5 and "ionc update" in rows[0] and "memory floor" in rows[0]
    bad = ionc("bench", "--", "--sizes", "abc")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("ionc: error:") and "'abc'" in bad.stderr


def test_inspect_shows_a_kinetic_scheme():
    mod = Path(__file__).parent / "nmodl" / "tkin.mod"
    r = ionc("inspect", str(mod))
    assert r.returncode == 0, r.stderr
    for needle in ("kinetic scheme kin: 3 states C, O, I", "~ C <-> O (kco, koc)",
                   "CONSERVE C + O + I = 1   (replaces the equation of I)",
                   "STEADYSTATE sparse, one backward-Euler step of 1e9 ms",
                   "a 3x3 system solved by elimination unrolled at compile time",
                   "kco = ", "removable 0/0 at V = -35"):
        assert needle in r.stdout, (needle, r.stdout)


def test_a_file_the_neuron_package_installs_is_named_neuron_colon():
    pytest.importorskip("neuron")
    r = ionc("inspect", "neuron:hh")
    assert r.returncode == 0 and "NMODL: SUFFIX hh" in r.stdout, r.stderr
    r = ionc("lint", "neuron:hh")
    assert r.returncode == 0 and "alpha_m at V = -40 mV (limit 1)" in r.stdout, r.stderr
    bad = ionc("inspect", "neuron:nosuch")
    assert bad.returncode == 2 and "installs no nosuch.mod" in bad.stderr, bad.stderr


def test_inspect_shows_a_newton_iteration():
    mod = Path(__file__).parent / "nmodl" / "tbuffer.mod"
    r = ionc("inspect", str(mod))
    assert r.returncode == 0, r.stderr
    for needle in ("derivimplicit with ['cai', 'B'] reading other states",
                   "cai, B <- backward Euler solved together by Newton's iteration",
                   "at most 50 passes"):
        assert needle in r.stdout, (needle, r.stdout)
    r = ionc("inspect", str(mod.with_name("tcapump.mod")))
    assert r.returncode == 0, r.stderr
    for needle in ("~ cai + pump <-> pumpca (k1, k2)", "CONSERVE pump + pumpca = ptot",
                   "step: backward Euler iterated as NEURON's sparse", "at most 22 passes"):
        assert needle in r.stdout, (needle, r.stdout)


@pytest.mark.parametrize("body, message", [
    ("PARAMETER { gbar = 1e999 }\nASSIGNED { v i }\nBREAKPOINT { i = gbar*v }\n",
     r"PARAMETER gbar = 1e999 \(line 2\) is not a finite float64"),
    ("ASSIGNED { v i }\nBREAKPOINT { i = 10^(10^5)*v }\n",
     r"constant power 10\^100000 has about 1e\+05 digits \(at most 400\) \(line 3\)"),
])
@pytest.mark.parametrize("command", ["inspect", "lint", "plot", "emit"])
def test_bad_mod_files_get_one_line_and_no_traceback(tmp_path, command, body, message):
    mod = tmp_path / "bad.mod"
    mod.write_text("NEURON { SUFFIX bad NONSPECIFIC_CURRENT i }\n" + body)
    r = ionc(command, str(mod), cwd=tmp_path)
    lines = [x for x in r.stderr.splitlines() if x.strip() and "DISPLAY" not in x
             and "No graphics" not in x]
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0].startswith(f"ionc: error: {mod}: ") and "Traceback" not in r.stderr
    assert re.search(message, lines[0]), lines[0]


def test_plot_of_a_mod_file_and_writes_that_fail(tmp_path):
    mod = Path(__file__).parent / "nmodl" / "tkin.mod"
    r = ionc("plot", str(mod), "-o", str(tmp_path / "k.png"))
    assert r.returncode == 0 and (tmp_path / "k.png").stat().st_size > 1000, r.stderr
    r = ionc("plot", "INa_Ba2002", "-o", "/dev/full")
    assert r.returncode == 2 and "cannot write /dev/full: No space left" in r.stderr
    r = ionc("plot", "INa_Ba2002", "-o", str(tmp_path / "no" / "such" / "x.png"))
    assert r.returncode == 2 and "does not exist" in r.stderr
    assert not (tmp_path / "no").exists()


def test_non_ascii_names_are_refused_by_the_spec():
    import sympy as sp
    from ionc.codegen import ChannelSpec, Gate, SpecError, V, symbol
    for name in ("ñ", "\ufb01"):
        with pytest.raises(SpecError, match="not an ASCII identifier"):
            ChannelSpec("Ix", {name: 1.0}, (Gate("m", alpha=sp.exp(V / 10), beta=1),),
                        symbol(name) * symbol("m") * (0 - V))
        with pytest.raises(SpecError, match="not an ASCII identifier"):
            Gate(name, alpha=1, beta=1)


def test_a_fifo_or_a_device_named_mod_is_refused_not_read(tmp_path):
    os.mkfifo(tmp_path / "x.mod")
    (tmp_path / "zero.mod").symlink_to("/dev/zero")
    for name in ("x.mod", "zero.mod"):
        r = ionc("inspect", str(tmp_path / name))
        assert r.returncode == 2 and "not a regular file" in r.stderr, r.stderr


def test_version_help_and_argument_checks(tmp_path):
    r = ionc("--version")
    assert r.returncode == 0 and r.stdout.startswith("ionc 0.")
    r = ionc("inspect", "INa_Ba2002", "--dt", "-1")
    assert r.returncode == 2 and "dt must be finite and > 0, got -1.0" in r.stderr
    r = ionc("plot", "--help")
    assert "highest V (mV, default 60)" in r.stdout and "path of a NEURON .mod file" in r.stdout
    mod = tmp_path / "nosolve.mod"
    mod.write_text("NEURON { SUFFIX ns NONSPECIFIC_CURRENT i }\nSTATE { m }\nASSIGNED { v i }\n"
                   "BREAKPOINT { SOLVE states METHOD cnexp\n i = m*v }\n")
    r = ionc("inspect", str(mod))
    assert r.returncode == 2 and "SOLVE states (line 4): the file has no DERIVATIVE or KINETIC " \
                                 "block states" in r.stderr, r.stderr


def test_a_misspelt_channel_names_the_nearest():
    import ionc as package
    with pytest.raises(AttributeError, match=r"'INa_Ba2020' \(nearest: INa_Ba2002"):
        _ = package.INa_Ba2020


def test_a_closed_pipe_ends_the_listing_quietly():
    proc = subprocess.Popen([sys.executable, "-m", "ionc.cli", "cache", "list"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()                    # as `ionc cache list | true` does
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and b"Broken pipe" not in err, err
