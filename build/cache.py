"""The on-disk cache of compiled artifacts: location, keys, atomic writes.

Every artifact is stored under a name derived from a hash of everything that
determines it (source, compiler, flags, Python ABI).  Files are written to a
temporary name in the same directory and renamed into place, so a reader
never sees a half-written file and two concurrent builders of the same
artifact both succeed (the last rename wins; both files are identical).  A
sidecar manifest records the artifact's SHA-256 so that a corrupted or
truncated entry is detected before it is loaded, and rebuilt.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

#: Environment variable overriding the cache location.
CACHE_ENV = "IONC_CACHE_DIR"


def cache_dir(kind: str = "") -> Path:
    """The cache directory (``$IONC_CACHE_DIR``, else ``$XDG_CACHE_HOME/ionc``, else
    ``~/.cache/ionc``), created if needed; ``kind`` names a subdirectory."""
    root = os.environ.get(CACHE_ENV)
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "ionc")
    path = Path(root) / kind if kind else Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def content_hash(*parts: str, length: int = 20) -> str:
    """A hex digest of ``parts`` (each part delimited, so the split matters)."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()[:length]


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, in hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def manifest_path(artifact: Path) -> Path:
    """The manifest stored next to ``path``."""
    return artifact.with_name(artifact.name + ".json")


def write_manifest(artifact: Path, **info) -> None:
    """Record ``artifact``'s digest (and ``info``) next to it, atomically."""
    info = {"sha256": file_digest(artifact), "size": artifact.stat().st_size, **info}
    atomic_write(manifest_path(artifact), json.dumps(info, indent=1, sort_keys=True).encode())


def artifact_is_intact(artifact: Path) -> bool:
    """True when ``artifact`` exists and matches the digest in its manifest."""
    try:
        info = json.loads(manifest_path(artifact).read_text())
        return (artifact.stat().st_size == info["size"]
                and file_digest(artifact) == info["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
