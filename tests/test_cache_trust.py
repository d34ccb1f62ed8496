"""The compiled-module cache trusts nothing it did not make: a module planted by another
user is never loaded, folders another user can write are refused, and ``cache clear``
removes only the artifacts whose bytes an ionc manifest records."""
import os
import shutil
import stat
import subprocess
import sys
import textwrap

import pytest

from ionc.build import CacheError, build_c_extension, c_extension, cache
from ionc.build.cache import (cache_dir, cached_artifacts, manifest_path, remove_artifacts,
                              untrusted, write_manifest)

SOURCE = "double trust_me(double x) { return 3 * x; }"
DECLARATIONS = "double trust_me(double x);"
#: A module whose constructor leaves a mark: loading it is running someone else's code.
PLANTED = textwrap.dedent("""
    #include <fcntl.h>
    #include <unistd.h>
    __attribute__((constructor)) static void planted(void) {
        int fd = open(MARK, O_CREAT | O_WRONLY, 0644);
        if (fd >= 0) close(fd);
    }
    double trust_me(double x) { return -1.0; }
""")
NOBODY = 65534


def _plant(folder, name, mark):
    """A shared object named ``name`` in ``folder`` whose constructor creates ``mark``,
    with a manifest as ionc writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    src = folder / "planted.c"
    src.write_text(PLANTED)
    subprocess.run(["gcc", "-shared", "-fPIC", f'-DMARK="{mark}"', str(src), "-o",
                    str(folder / name)], check=True)
    src.unlink()
    write_manifest(folder / name)
    return folder / name


def _fresh(monkeypatch, root):
    monkeypatch.setenv("IONC_CACHE_DIR", str(root))
    monkeypatch.setattr(c_extension, "_LOADED", {})


def _artifact_name(tmp_path, monkeypatch):
    """The file name under which ionc caches SOURCE (built once in a private cache)."""
    _fresh(monkeypatch, tmp_path / "reference-cache")
    return build_c_extension(SOURCE, DECLARATIONS).path.name


def _hand_over(root):
    """Make everything under ``root`` another user's: user nobody's when this process is
    root (as CI is), else writable by everyone (what a planted folder of one's own
    would need to be to be exploited)."""
    for folder, _, files in os.walk(root):
        for path in (folder, *(os.path.join(folder, f) for f in files)):
            if os.geteuid() == 0:
                os.chown(path, NOBODY, NOBODY)
            else:
                os.chmod(path, 0o777)
    return "belongs to another user" if os.geteuid() == 0 else "is writable by others"


def test_a_module_planted_by_another_user_in_the_tmp_fallback_never_runs(tmp_path,
                                                                         monkeypatch):
    # the reproducer: with no usable home the cache is $TMPDIR/ionc-cache-<uid>;
    # user nobody creates it first and plants a module with a valid-looking manifest
    name = _artifact_name(tmp_path, monkeypatch)
    shared_tmp = tmp_path / "tmp"
    shared_tmp.mkdir()
    os.chmod(shared_tmp, 0o1777)                     # like /tmp: world-writable, sticky
    planted_root = shared_tmp / f"ionc-cache-{os.geteuid()}"
    mark = tmp_path / "PLANTED-CODE-RAN"
    _plant(planted_root / "c", name, mark)
    why = _hand_over(planted_root)
    env = {k: v for k, v in os.environ.items() if k not in ("IONC_CACHE_DIR", "XDG_CACHE_HOME")}
    env.update(HOME="", TMPDIR=str(shared_tmp))
    script = textwrap.dedent(f"""
        import warnings
        from ionc.build import build_c_extension
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ext = build_c_extension({SOURCE!r}, {DECLARATIONS!r})
        print(ext.lib.trust_me(2.0), ext.built, ext.path.parent.parent)
        print("WARNING", *[str(w.message) for w in caught])
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert not mark.exists(), "the planted module's constructor ran"
    value, built, root = r.stdout.split("\n")[0].split()
    assert float(value) == 6.0 and built == "True"        # ionc's own build, not the plant
    assert root != str(planted_root) and root.startswith(str(shared_tmp))
    assert why in r.stdout and str(planted_root) in r.stdout and "removed at exit" in r.stdout
    assert not os.path.exists(root)                       # the process's folder is gone
    assert (planted_root / "c" / name).exists()           # and the plant was not touched


def test_a_folder_others_can_write_is_refused_by_name(tmp_path, monkeypatch):
    root = tmp_path / "shared"
    (root / "c").mkdir(parents=True)
    for mode, who in ((0o777, "others"), (0o757, "others")):
        os.chmod(root, mode)
        _fresh(monkeypatch, root)
        with pytest.raises(CacheError, match=f"{root} is writable by {who}.*IONC_CACHE_DIR"):
            build_c_extension(SOURCE, DECLARATIONS)
    os.chmod(root, 0o700)
    os.chmod(root / "c", 0o777)                      # the kind's folder is checked too
    with pytest.raises(CacheError, match=f"{root / 'c'} is writable by others"):
        cache_dir("c")
    os.chmod(root / "c", 0o700)
    assert cache_dir("c") == root / "c"


def test_a_folder_of_another_user_is_refused(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    (root / "c").mkdir(parents=True)
    _fresh(monkeypatch, root)
    assert untrusted(root) is None
    if os.geteuid() == 0:
        os.chown(root, NOBODY, NOBODY)
    else:                  # seen from a process of another uid, the folder is someone else's
        monkeypatch.setattr(cache, "_uid", lambda: os.geteuid() + 1)
    with pytest.raises(CacheError, match=f"{root} belongs to another user.*IONC_CACHE_DIR"):
        build_c_extension(SOURCE, DECLARATIONS)


def test_folders_ionc_creates_are_private(tmp_path, monkeypatch):
    _fresh(monkeypatch, tmp_path / "new" / "cache")
    old = os.umask(0o002)                            # a user-private-group umask
    try:
        path = build_c_extension(SOURCE, DECLARATIONS).path
    finally:
        os.umask(old)
    for folder in (path.parent, path.parent.parent):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700, folder
    assert not os.stat(path).st_mode & 0o022
    assert not os.stat(manifest_path(path)).st_mode & 0o022


def test_a_symlinked_or_writable_artifact_is_rebuilt_not_loaded(tmp_path, monkeypatch):
    name = _artifact_name(tmp_path, monkeypatch)
    root = tmp_path / "cache"
    mark = tmp_path / "RAN"
    elsewhere = _plant(tmp_path / "elsewhere", name, mark)
    (root / "c").mkdir(parents=True, mode=0o700)
    os.symlink(elsewhere, root / "c" / name)          # a link to a module with its manifest
    shutil.copy(manifest_path(elsewhere), manifest_path(root / "c" / name))
    _fresh(monkeypatch, root)
    ext = build_c_extension(SOURCE, DECLARATIONS)
    assert ext.built and ext.lib.trust_me(1.0) == 3.0
    assert not (root / "c" / name).is_symlink()
    # an artifact others may write is not trusted either (its manifest may be stale)
    os.chmod(ext.path, 0o666)
    assert untrusted(ext.path, "file").startswith(f"{ext.path} is writable by others")
    _fresh(monkeypatch, root)
    assert build_c_extension(SOURCE, DECLARATIONS).built
    assert not mark.exists()


def test_cache_clear_removes_only_what_ionc_recorded(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    _fresh(monkeypatch, root)
    ours = build_c_extension(SOURCE, DECLARATIONS).path
    folder = ours.parent
    # the reproducer: a user's file whose sidecar JSON has sha256 and size keys
    (folder / "thesis.pdf").write_bytes(b"%PDF precious")
    (folder / "thesis.pdf.json").write_text('{"sha256": "00", "size": 13, "ionc": true}')
    # an ionc-like name whose manifest does not record its bytes (replaced since)
    impostor = folder / ("_ionc_" + "ab" * 10 + ".so")
    impostor.write_bytes(b"first")
    write_manifest(impostor)
    impostor.write_bytes(b"other bytes")
    listed = cached_artifacts(folder)
    assert listed == [ours]
    count, size = remove_artifacts(folder)
    assert count == 1 and not ours.exists() and not manifest_path(ours).exists()
    assert (folder / "thesis.pdf").read_bytes() == b"%PDF precious"
    assert (folder / "thesis.pdf.json").exists() and impostor.read_bytes() == b"other bytes"
