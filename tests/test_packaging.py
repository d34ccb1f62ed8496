"""Packaging: the sdist holds every tracked file (so its tests and Makefile run), and a
build writes nothing into the source tree."""
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                                reason="needs a git checkout")


def _untracked() -> set[str]:
    r = subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"],
                       cwd=ROOT, capture_output=True, text=True, check=True)
    return {line[3:] for line in r.stdout.splitlines()
            if "__pycache__" not in line and not line[3:].startswith((".venv", ".pytest_cache",
                                                                       ".ruff_cache"))}


def test_the_sdist_holds_every_tracked_file_and_the_build_writes_nothing_here(tmp_path):
    before = _untracked()
    code = ("import sys; from setuptools import build_meta as b; "
            "print(b.build_sdist(sys.argv[1]))")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "warning" not in r.stderr.lower(), r.stderr[-2000:]
    assert _untracked() == before                   # no egg-info, no build folder here
    archive = tmp_path / r.stdout.split()[-1]
    with tarfile.open(archive) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    missing = sorted(f for f in tracked if f not in names and f != ".gitignore")
    assert missing == []
