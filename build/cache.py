"""The on-disk cache of compiled artifacts: location, keys, atomic writes, cleaning.

Every artifact is stored under a name derived from a hash of everything that
determines it (source, compiler, flags, Python ABI).  Files are written to a
temporary name in the same directory and renamed into place, so a reader
never sees a half-written file and two concurrent builders of the same
artifact both succeed (the last rename wins; both files are identical).  A
sidecar manifest records the artifact's SHA-256 so that a corrupted or
truncated entry is detected before it is loaded, and rebuilt.  Only what a
manifest lists is ionc's: cleaning removes those artifacts and build
directories left by killed builds, nothing else.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

#: Environment variable overriding the cache location.
CACHE_ENV = "IONC_CACHE_DIR"
#: Temporary build directories and files older than this (seconds) were left by a
#: killed build and are removed.
STALE_AFTER = 3600.0
#: Prefixes of ionc's temporary entries in a cache directory.
TEMPORARY = (".build-", ".tmp-")


class CacheError(RuntimeError):
    """The cache directory cannot be created or written (the message names it)."""


def _default_root() -> Path:
    """``$XDG_CACHE_HOME/ionc``, else ``~/.cache/ionc``; a per-user directory under the
    temporary directory when there is no usable home (``HOME`` empty or ``/``)."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg) / "ionc"
    home = os.path.expanduser("~")
    if home in ("", "/", "~") or not os.path.isdir(home):
        uid = os.getuid() if hasattr(os, "getuid") else "user"
        return Path(tempfile.gettempdir()) / f"ionc-cache-{uid}"
    return Path(home) / ".cache" / "ionc"


def cache_dir(kind: str = "", writable: bool = False) -> Path:
    """The cache directory (``$IONC_CACHE_DIR``, else ``$XDG_CACHE_HOME/ionc``, else
    ``~/.cache/ionc``), created if needed; ``kind`` names a subdirectory.

    A default location that cannot be created or (with ``writable``) written
    falls back to a per-user directory under the temporary directory; an
    explicit ``$IONC_CACHE_DIR`` that cannot is a :class:`CacheError` naming it.
    """
    explicit = os.environ.get(CACHE_ENV)
    candidates = [Path(explicit)] if explicit else [_default_root()]
    if not explicit:
        uid = os.getuid() if hasattr(os, "getuid") else "user"
        candidates.append(Path(tempfile.gettempdir()) / f"ionc-cache-{uid}")
    problem = ""
    for root in candidates:
        path = root / kind if kind else root
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problem = f"cannot create {path}: {exc.strerror or exc}"
            continue
        if writable and not os.access(path, os.W_OK | os.X_OK):
            problem = f"{path} is not writable"
            continue
        return path
    hint = (f"set {CACHE_ENV} to a writable directory" if not explicit else
            f"{CACHE_ENV}={explicit} is set: point it to a writable directory or unset it")
    raise CacheError(f"ionc's cache directory is unusable: {problem} ({hint})")


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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.name}.", suffix=".tmp")
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


def build_directory(target: Path, name: str) -> Path:
    """A private temporary directory beside ``target`` for building ``name`` (removed by
    :func:`remove_stale` if a killed build leaves it); CacheError if none can be made."""
    try:
        return Path(tempfile.mkdtemp(dir=target.parent, prefix=f"{TEMPORARY[0]}{name}-"))
    except OSError as exc:
        raise CacheError(f"cannot write to the cache directory {target.parent}: "
                         f"{exc.strerror or exc} (set IONC_CACHE_DIR to a writable "
                         f"directory)") from None


def manifest_path(artifact: Path) -> Path:
    """The manifest stored next to ``path``."""
    return artifact.with_name(artifact.name + ".json")


def write_manifest(artifact: Path, **info) -> None:
    """Record ``artifact``'s digest (and ``info``) next to it, atomically."""
    info = {"ionc": True, "sha256": file_digest(artifact), "size": artifact.stat().st_size,
            **info}
    atomic_write(manifest_path(artifact), json.dumps(info, indent=1, sort_keys=True).encode())


def artifact_is_intact(artifact: Path) -> bool:
    """True when ``artifact`` exists and matches the digest in its manifest."""
    try:
        info = json.loads(manifest_path(artifact).read_text())
        return (artifact.stat().st_size == info["size"]
                and file_digest(artifact) == info["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def cached_artifacts(directory: Path) -> list[Path]:
    """The artifacts in ``directory`` that an ionc manifest lists (other files are not
    ionc's and are never listed or removed)."""
    found = []
    for manifest in sorted(directory.glob("*.json")):
        try:
            info = json.loads(manifest.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and "sha256" in info and "size" in info:
            artifact = manifest.with_name(manifest.name[:-len(".json")])
            if artifact.exists():
                found.append(artifact)
    return found


def remove_stale(directory: Path, age: float = STALE_AFTER) -> int:
    """Remove ionc's temporary build directories and files older than ``age`` seconds
    (left by killed builds); return how many."""
    removed, now = 0, time.time()
    for entry in directory.iterdir() if directory.is_dir() else ():
        if not entry.name.startswith(TEMPORARY):
            continue
        try:
            if now - entry.stat().st_mtime < age:
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed += 1
        except OSError:
            continue
    return removed


def remove_artifacts(directory: Path) -> tuple[int, int]:
    """Remove every manifest-listed artifact (and its manifest) and stale temporary
    entries; return ``(artifacts removed, bytes freed)``.  A build running now keeps
    its temporary directory and finishes."""
    count = size = 0
    for artifact in cached_artifacts(directory):
        try:
            size += artifact.stat().st_size
            artifact.unlink()
            manifest_path(artifact).unlink(missing_ok=True)
            count += 1
        except OSError:
            continue
    remove_stale(directory)
    return count, size
