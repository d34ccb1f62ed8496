"""The on-disk cache of compiled artifacts: location, trust, keys, atomic writes, cleaning.

Every artifact is stored under a name derived from a hash of everything that
determines it (source, compiler, flags, Python ABI).  Files are written to a
temporary name in the same directory and renamed into place, so a reader
never sees a half-written file and two concurrent builders of the same
artifact both succeed (the last rename wins; both files are identical).  A
sidecar manifest records the artifact's SHA-256 so that a corrupted or
truncated entry is detected before it is loaded, and rebuilt.

The cache holds code that ionc loads into the process, so it trusts nothing it
did not make.  Every folder ionc creates is private (mode 0700); on every use the
cache folder, its parent, each kind's folder and each artifact and manifest is
checked: a real folder or regular file (no symbolic link inside the cache),
owned by this user (or by root, for a shared read-only cache), and writable by
no one else (a private group of this user alone excepted); a folder that fails is
refused, naming it and why.  With the default location refused, the cache falls
back to a per-user folder in the temporary directory, and if that was taken by
someone else, to a folder private to this process (removed at exit), with a
warning.  Only an artifact whose ionc manifest records its exact bytes is ionc's:
``cache list`` and ``cache clear`` touch nothing else.
"""
from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import time
import warnings
from pathlib import Path

#: Environment variable overriding the cache location.
CACHE_ENV = "IONC_CACHE_DIR"
#: Temporary build directories and files older than this (seconds) were left by a
#: killed build and are removed.
STALE_AFTER = 3600.0
#: Prefixes of ionc's temporary entries in a cache directory.
TEMPORARY = (".build-", ".tmp-")
#: The names ionc gives its artifacts (``_ionc_<key>...``, ``_ionc_xla_<key>.so``, ...).
ARTIFACT_NAME = re.compile(r"^_ionc_(?:[a-z]+_)*[0-9a-f]{20}[A-Za-z0-9_.-]*$")
#: The manifest format this version writes.
MANIFEST_FORMAT = 2
#: Mode of the folders ionc creates.
PRIVATE = 0o700


class CacheError(RuntimeError):
    """The cache directory cannot be created, written or trusted (the message names it)."""


def _uid() -> int | None:
    """This process's effective user id (None where the OS has none)."""
    return os.geteuid() if hasattr(os, "geteuid") else None


def _private_group(gid: int, uid: int) -> bool:
    """True when group ``gid`` is the user's own group with no other member (a
    group-writable file of such a group is writable by this user alone)."""
    try:
        import grp
        import pwd
        user = pwd.getpwuid(uid)
        group = grp.getgrgid(gid)
    except (ImportError, KeyError):
        return False
    return user.pw_gid == gid and set(group.gr_mem) <= {user.pw_name}


def untrusted(path: Path, kind: str = "folder") -> str | None:
    """Why ``path`` (a ``"folder"`` or a ``"file"``) must not be trusted to hold code for
    this user, or None when it may: it is a real folder or regular file, not a symbolic
    link, owned by this user or root, and writable by no other user."""
    uid = _uid()
    try:
        st = os.lstat(path)
    except OSError as exc:
        return f"cannot inspect {path}: {exc.strerror or exc}"
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symbolic link"
    wanted = stat.S_ISDIR if kind == "folder" else stat.S_ISREG
    if not wanted(st.st_mode):
        return f"{path} is not a {'folder' if kind == 'folder' else 'regular file'}"
    if uid is None:
        return None
    if st.st_uid not in (uid, 0):
        return f"{path} belongs to another user (uid {st.st_uid}; this process runs as {uid})"
    if st.st_mode & stat.S_IWOTH or (st.st_mode & stat.S_IWGRP
                                     and not _private_group(st.st_gid, uid)):
        return (f"{path} is writable by {'others' if st.st_mode & stat.S_IWOTH else 'its group'}"
                f" (mode {stat.S_IMODE(st.st_mode):o}; chmod go-w it)")
    return None


def _unsafe_parent(root: Path) -> str | None:
    """Why the folder holding the cache root lets another user swap the root, or None:
    writable by others without the sticky bit (a private group excepted)."""
    uid = _uid()
    try:
        st = os.stat(root.parent)
    except OSError as exc:
        return f"cannot inspect {root.parent}: {exc.strerror or exc}"
    if uid is None or st.st_mode & stat.S_ISVTX:
        return None
    if st.st_mode & stat.S_IWOTH or (st.st_mode & stat.S_IWGRP and not (
            st.st_uid == uid and _private_group(st.st_gid, uid))):
        return (f"{root.parent}, which holds {root.name}, is writable by other users "
                f"without the sticky bit (mode {stat.S_IMODE(st.st_mode):o})")
    return None


def _tmp_root() -> Path:
    """The per-user fallback folder in the temporary directory."""
    uid = _uid()
    return Path(tempfile.gettempdir()) / f"ionc-cache-{uid if uid is not None else 'user'}"


def _default_root() -> Path:
    """``$XDG_CACHE_HOME/ionc``, else ``~/.cache/ionc``; a per-user directory under the
    temporary directory when there is no usable home (``HOME`` empty or ``/``)."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg) / "ionc"
    home = os.path.expanduser("~")
    if home in ("", "/", "~") or not os.path.isdir(home):
        return _tmp_root()
    return Path(home) / ".cache" / "ionc"


_PROCESS_ROOT: list[Path] = []


def _process_root(problem: str) -> Path:
    """A folder private to this process (created once, removed at exit), for when every
    shared location was refused; warns once, naming the refused folder."""
    if not _PROCESS_ROOT:
        path = Path(tempfile.mkdtemp(prefix=f"{_tmp_root().name}-"))
        atexit.register(shutil.rmtree, path, True)
        _PROCESS_ROOT.append(path)
        warnings.warn(f"ionc's cache folder was refused ({problem}); this process compiles "
                      f"into {path}, removed at exit (set {CACHE_ENV} to a private folder "
                      f"to keep builds)", RuntimeWarning, stacklevel=4)
    return _PROCESS_ROOT[0]


def _ensure_folder(path: Path) -> None:
    """Create ``path`` and its missing parents, each private to this user."""
    missing = []
    while not os.path.lexists(path) and path != path.parent:
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        folder.mkdir(mode=PRIVATE, exist_ok=True)


def _usable(root: Path, kind: str, writable: bool) -> tuple[Path | None, str]:
    """``root/kind`` created and checked, or ``(None, why not)``."""
    try:
        _ensure_folder(root)
    except OSError as exc:
        return None, f"cannot create {root}: {exc.strerror or exc}"
    real = Path(os.path.realpath(root))       # a link to the root is followed once, here
    problem = untrusted(real) or _unsafe_parent(real)
    path = real / kind if kind else real
    if not problem and kind:
        try:
            _ensure_folder(path)
        except OSError as exc:
            return None, f"cannot create {path}: {exc.strerror or exc}"
        problem = untrusted(path)
    if problem:
        return None, f"{problem}: ionc does not load code from a folder another user can write"
    if writable and not os.access(path, os.W_OK | os.X_OK):
        return None, f"{path} is not writable"
    return path, ""


def cache_dir(kind: str = "", writable: bool = False) -> Path:
    """The cache directory (``$IONC_CACHE_DIR``, else ``$XDG_CACHE_HOME/ionc``, else
    ``~/.cache/ionc``), created private if needed and checked on every call (see the
    module's docstring); ``kind`` names a subdirectory.

    A default location that cannot be created, trusted or (with ``writable``) written
    falls back to a per-user directory under the temporary directory, then to one private
    to this process; an explicit ``$IONC_CACHE_DIR`` that fails is a :class:`CacheError`
    naming it.
    """
    explicit = os.environ.get(CACHE_ENV)
    candidates = [Path(explicit)] if explicit else [_default_root(), _tmp_root()]
    problem = ""
    for root in candidates:
        path, why = _usable(root, kind, writable)
        if path is not None:
            return path
        problem = problem or why
    if explicit:
        raise CacheError(f"ionc's cache directory is unusable: {problem} ({CACHE_ENV}="
                         f"{explicit} is set: point it to a writable directory or unset it)")
    try:
        path, why = _usable(_process_root(problem), kind, writable)
    except OSError as exc:
        path, why = None, f"cannot create a private folder: {exc.strerror or exc}"
    if path is None:
        raise CacheError(f"ionc's cache directory is unusable: {problem}; {why} "
                         f"(set {CACHE_ENV} to a writable directory)")
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
    """Make ``artifact`` writable by this user only and record its name, size and digest
    (and ``info``) in its manifest, atomically."""
    os.chmod(artifact, 0o755)
    info = {"ionc": MANIFEST_FORMAT, "artifact": artifact.name,
            "sha256": file_digest(artifact), "size": artifact.stat().st_size, **info}
    atomic_write(manifest_path(artifact), json.dumps(info, indent=1, sort_keys=True).encode())


def _manifest(artifact: Path) -> dict | None:
    """The ionc manifest of ``artifact`` when it is a trusted file ionc wrote, else None."""
    manifest = manifest_path(artifact)
    if not ARTIFACT_NAME.match(artifact.name) or untrusted(manifest, "file"):
        return None
    try:
        info = json.loads(manifest.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not (isinstance(info, dict) and info.get("ionc") in (True, MANIFEST_FORMAT)
            and isinstance(info.get("sha256"), str) and isinstance(info.get("size"), int)
            and info.get("artifact", artifact.name) == artifact.name):
        return None
    return info


def _matches(artifact: Path, info: dict) -> bool:
    """True when ``artifact`` is a trusted regular file with the size and digest ``info``
    records."""
    try:
        return (untrusted(artifact, "file") is None
                and os.lstat(artifact).st_size == info["size"]
                and file_digest(artifact) == info["sha256"])
    except OSError:
        return False


def artifact_is_intact(artifact: Path) -> bool:
    """True when ``artifact`` and its manifest are trusted files (see :func:`untrusted`),
    the manifest is this version's and names it, and the artifact's bytes match it."""
    info = _manifest(artifact)
    return info is not None and info.get("ionc") == MANIFEST_FORMAT and _matches(artifact, info)


def cached_artifacts(directory: Path) -> list[Path]:
    """The artifacts in ``directory`` whose exact bytes an ionc manifest records (other
    files are not ionc's and are never listed or removed)."""
    found = []
    for manifest in sorted(directory.glob("_ionc_*.json")):
        artifact = manifest.with_name(manifest.name[:-len(".json")])
        info = _manifest(artifact)
        if info is not None and _matches(artifact, info):
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
            if now - entry.lstat().st_mtime < age:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed += 1
        except OSError:
            continue
    return removed


def remove_artifacts(directory: Path) -> tuple[int, int]:
    """Remove every artifact an ionc manifest records (and its manifest), manifests whose
    artifact is gone, and stale temporary entries; return ``(artifacts removed, bytes
    freed)``.  A build running now keeps its temporary directory and finishes."""
    count = size = 0
    for artifact in cached_artifacts(directory):
        try:
            size += artifact.stat().st_size
            artifact.unlink()
            manifest_path(artifact).unlink(missing_ok=True)
            count += 1
        except OSError:
            continue
    for manifest in directory.glob("_ionc_*.json"):
        artifact = manifest.with_name(manifest.name[:-len(".json")])
        if not os.path.lexists(artifact) and _manifest(artifact) is not None:
            manifest.unlink(missing_ok=True)
    remove_stale(directory)
    return count, size
