"""The ionc command line, run as a subprocess: output, files and error paths."""
import os
import subprocess
import sys

import pytest


def ionc(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "ionc.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=os.environ.copy(), timeout=300)


def test_emit_to_stdout_and_file(tmp_path):
    r = ionc("emit", "INa_Ba2002", "--target", "c", "--dtype", "float32")
    assert r.returncode == 0 and "expm1f(" in r.stdout and "ina_ba2002_update_kernel" in r.stdout
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


def test_cache_list_and_clear(tmp_path):
    env_cache = os.environ["IONC_CACHE_DIR"]
    r = ionc("cache", "list")
    assert r.returncode == 0 and "compiled module(s)" in r.stdout and env_cache in r.stdout


@pytest.mark.parametrize("args, message", [
    (("emit", "INa_Nope"), "unknown channel 'INa_Nope'"),
    (("emit", "INa_Ba2002", "--target", "tpu"), "unknown target 'tpu'"),
    (("emit", "INa_Ba2002", "-o", "/nonexistent-dir/x.c"), "cannot write"),
    (("inspect", "INa_Ba2002", "--method", "rk99"), "unknown method 'rk99'"),
])
def test_errors_are_one_line_without_traceback(args, message):
    r = ionc(*args)
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_dtype_and_help():
    r = ionc("emit", "INa_Ba2002", "--dtype", "float16")
    assert r.returncode == 2 and "invalid choice" in r.stderr
    for sub in ("emit", "inspect", "demo", "cache"):
        h = ionc(sub, "--help")
        assert h.returncode == 0 and "usage: ionc" in h.stdout


def test_demo_runs_small(tmp_path):
    r = ionc("demo", "--neurons", "2600", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "NaN or Inf anywhere: False" in r.stdout
    assert (tmp_path / "INa_Ba2002_float64.c").read_text().count("ionc_exprelr") > 2
