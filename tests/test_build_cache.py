"""The compilation cache: concurrent builders, corrupted entries, missing compilers."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ionc import INa_Ba2002
from ionc.build import CompilerNotFoundError, build_c_extension, compiler_settings
from ionc.build import c_extension

SRC = textwrap.dedent("""
    #include <stdint.h>
    double twice(double x) { return 2 * x + %d; }
""")


def _replace_file(path, data: bytes) -> None:
    """Put ``data`` at ``path`` as a new file (the loaded library's pages stay valid)."""
    tmp = path.with_name(path.name + ".corrupt")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _fresh(tmp_path, monkeypatch, tag):
    monkeypatch.setenv("IONC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(c_extension, "_LOADED", {})
    return SRC % tag, "double twice(double x);"


def test_two_processes_build_the_same_kernel_at_once(tmp_path):
    script = textwrap.dedent("""
        import sys, numpy as np
        from ionc import INa_Ba2002
        ch = INa_Ba2002(8, T=float(sys.argv[1]))
        ch.reset_state(np.full(8, -37.0))
        ch.update(np.full(8, -10.0))
        print(ch.build_info.split(" (")[0], float(ch.p.sum()))
    """)
    env = {**os.environ, "IONC_CACHE_DIR": str(tmp_path / "shared-cache"),
           "IONC_CFLAGS": "-DIONC_RACE=1"}
    procs = [subprocess.Popen([sys.executable, "-c", script, "36.0"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    lines = {o[0].strip() for o in outs}
    assert len(lines) == 1, lines            # same artifact path, same numbers
    leftovers = [f for f in os.listdir(tmp_path / "shared-cache" / "c") if f.startswith(".")]
    assert leftovers == []                   # no temporary files or build dirs left behind


def test_truncated_cache_entry_is_rebuilt(tmp_path, monkeypatch):
    source, decl = _fresh(tmp_path, monkeypatch, 1)
    first = build_c_extension(source, decl)
    assert first.built and first.lib.twice(2.0) == 5.0
    data = first.path.read_bytes()
    _replace_file(first.path, data[: len(data) // 3])          # truncated entry
    monkeypatch.setattr(c_extension, "_LOADED", {})
    second = build_c_extension(source, decl)
    assert second.built and second.path == first.path
    assert second.path.read_bytes() == data


def test_corrupted_but_same_size_entry_is_rebuilt(tmp_path, monkeypatch):
    source, decl = _fresh(tmp_path, monkeypatch, 2)
    first = build_c_extension(source, decl)
    data = bytearray(first.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    _replace_file(first.path, bytes(data))
    monkeypatch.setattr(c_extension, "_LOADED", {})
    assert build_c_extension(source, decl).built


def test_intact_entry_is_reused(tmp_path, monkeypatch):
    source, decl = _fresh(tmp_path, monkeypatch, 3)
    assert build_c_extension(source, decl).built
    monkeypatch.setattr(c_extension, "_LOADED", {})
    again = build_c_extension(source, decl)
    assert not again.built and again.lib.twice(1.0) == 5.0


def test_cache_key_covers_flags(tmp_path, monkeypatch):
    source, decl = _fresh(tmp_path, monkeypatch, 4)
    a = build_c_extension(source, decl)
    monkeypatch.setenv("IONC_CFLAGS", "-DSOMETHING=1")
    b = build_c_extension(source, decl)
    assert a.key != b.key and b.built


def test_missing_compiler_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)   # no GPU either, so auto cannot take one
    monkeypatch.setenv("CC", "no-such-cc-ionc")
    with pytest.raises(CompilerNotFoundError, match="no-such-cc-ionc"):
        compiler_settings()
    with pytest.warns(RuntimeWarning, match="NumPy target"):
        ch = INa_Ba2002(4, target="auto")
    assert ch.target == "numpy"
    ch.reset_state(np.full(4, -37.0))
    assert np.isfinite(ch.p).all()


def test_compile_error_is_reported(tmp_path, monkeypatch):
    from ionc.build import BuildError
    _fresh(tmp_path, monkeypatch, 5)
    with pytest.raises(BuildError, match="error"):
        build_c_extension("double twice(double x) { return x +; }", "double twice(double x);")


def test_emitted_source_is_deterministic_across_processes():
    # rendered in fresh interpreters with different hash seeds (set and dict orders
    # differ), not taken twice from this process's render cache
    script = ("from ionc.codegen import get_channel, render_kernels; import hashlib; "
              "g = render_kernels(get_channel('INa_Ba2002'), 'c', 'float64', "
              "array_params={'V_sh', 'T'}); "
              "print(hashlib.sha256(g.source.encode()).hexdigest(), "
              "'const real *IONC_RESTRICT u_V_sh' in g.source)")
    digests = set()
    for seed in ("1", "2", "3"):
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}, check=True)
        digests.add(r.stdout)
    assert len(digests) == 1 and digests.pop().split()[1] == "True"


def test_a_full_disk_is_a_cache_error_and_auto_falls_back(tmp_path, monkeypatch):
    from ionc.build import CacheError
    _fresh(tmp_path, monkeypatch, 6)
    real = subprocess.run

    def disk_full(cmd, *args, **kwargs):
        if cmd[:2] == [sys.executable, "-c"] and "ffi.compile" in cmd[2]:
            return subprocess.CompletedProcess(cmd, 1, "", "Traceback (most recent call last):\n"
                                               "OSError: [Errno 28] No space left on device")
        return real(cmd, *args, **kwargs)
    monkeypatch.setattr(c_extension.subprocess, "run", disk_full)
    monkeypatch.setenv("IONC_CFLAGS", "-DIONC_FULL_DISK=1")     # a cold build
    with pytest.raises(CacheError, match="no space left on device.*IONC_CACHE_DIR"):
        build_c_extension("double full(double x) { return x; }", "double full(double x);")
    with pytest.warns(RuntimeWarning, match="no space left on device.*NumPy"):
        ch = INa_Ba2002(4, target="auto", T=33.3)
    assert ch.target == "numpy"
