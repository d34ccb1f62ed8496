"""Compile C source into a cffi extension module, cached by content hash.

The cache key covers the source, the declarations, the compiler and its
version, the flags and the Python ABI.  The compiler runs in a child process
(cffi's build changes the working directory and the environment, which no
thread of the caller should see) in a private temporary directory; the
finished module is renamed into the cache atomically and a manifest with its
SHA-256 is written after it.  Loading checks the manifest first, so a
truncated or corrupted entry is rebuilt instead of loaded.  Builds are safe
from several threads (one build per key at a time; nothing process-global is
changed) and from several processes, and survive a concurrent ``ionc cache
clear``.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .cache import (CacheError, artifact_is_intact, build_directory, cache_dir, content_hash,
                    remove_stale, write_manifest)
from .compiler import CompilerSettings, compiler_settings
from .progress import progress_while

#: How many lines of the compiler's log a BuildError shows.
LOG_LINES = 30
#: The child process that runs cffi's build (reads a JSON job on standard input).
_BUILD_SCRIPT = """
import json, sys
import cffi
job = json.load(sys.stdin)
ffi = cffi.FFI()
ffi.cdef(job["declarations"])
ffi.set_source(job["name"], job["source"], extra_compile_args=job["compile_flags"],
               extra_link_args=job["link_flags"], libraries=["m"])
print("IONC-BUILT " + ffi.compile(tmpdir=job["workdir"], verbose=True))
"""


class BuildError(RuntimeError):
    """The C compiler rejected the generated source (the message holds its first errors)."""


@dataclass(frozen=True)
class CompiledExtension:
    """A loaded cffi module: ``lib`` holds the kernels, ``ffi`` converts arrays."""

    lib: object
    ffi: object
    path: Path
    key: str
    settings: CompilerSettings
    built: bool          # True when this call compiled it, False when it came from the cache
    seconds: float


_LOADED: dict[str, CompiledExtension] = {}
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(key: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def first_errors(log: str, lines: int = LOG_LINES) -> str:
    """The compiler log from its first error on, at most ``lines`` lines (the whole
    tail when no line says error)."""
    text = log.splitlines()
    start = next((i for i, line in enumerate(text) if "error" in line.lower()), None)
    if start is None:
        return "\n".join(text[-lines:])
    return "\n".join(text[max(0, start - 2):start + lines])


def _compile(name: str, source: str, declarations: str, settings: CompilerSettings,
             target: Path) -> None:
    """Build in a child process into a private directory, then rename into ``target``."""
    workdir = build_directory(target, name)
    job = dict(name=name, source=source, declarations=declarations, workdir=str(workdir),
               compile_flags=list(settings.compile_flags), link_flags=list(settings.link_flags))
    env = {**os.environ, "CC": " ".join(settings.command)}
    try:
        with progress_while(f"ionc: compiling {name}"):
            result = subprocess.run([sys.executable, "-c", _BUILD_SCRIPT], input=json.dumps(job),
                                    capture_output=True, text=True, env=env, timeout=1800)
        log = result.stdout + result.stderr
        built = [line[len("IONC-BUILT "):] for line in result.stdout.splitlines()
                 if line.startswith("IONC-BUILT ")]
        if result.returncode or not built:
            if "No space left on device" in log or "Errno 28" in log:
                # not the source's fault: the cache's disk is full (target='auto' then falls
                # back to NumPy, as for an unwritable cache)
                raise CacheError(f"cannot build {name} in {target.parent}: no space left on "
                                 f"device (free some, or set IONC_CACHE_DIR to another disk)")
            raise BuildError(f"compiling {name} failed with {' '.join(settings.command)}:\n"
                             f"{first_errors(log)}")
        os.replace(built[-1], target)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def build_c_extension(source: str, declarations: str,
                      settings: CompilerSettings | None = None) -> CompiledExtension:
    """Compile (or fetch from the cache) ``source`` exposing ``declarations``.

    Raises :class:`~ionc.build.CompilerNotFoundError` when no C compiler is
    installed, :class:`BuildError` when compilation fails and
    :class:`~ionc.build.CacheError` when the cache directory cannot be written.
    """
    settings = settings or compiler_settings()
    abi = sysconfig.get_config_var("EXT_SUFFIX") or sys.implementation.cache_tag
    key = content_hash(source, declarations, *settings.command, settings.version,
                       *settings.compile_flags, *settings.link_flags, abi)
    if key in _LOADED:
        return _LOADED[key]
    with _lock_for(key):
        if key in _LOADED:
            return _LOADED[key]
        name = f"_ionc_{key}"
        start = time.perf_counter()
        for attempt in range(3):     # a concurrent cache clear may remove a fresh entry
            built, module = False, None
            for writable in (False, True):   # a read-only cache is read; builds go elsewhere
                directory = cache_dir("c", writable=writable)
                path = directory / f"{name}{abi}"
                if artifact_is_intact(path):
                    try:
                        module = _load(name, path)
                        break
                    except ImportError:
                        module = None
            if module is None:
                remove_stale(directory)
                _compile(name, source, declarations, settings, path)
                try:
                    write_manifest(path, compiler=settings.describe(),
                                   source_hash=content_hash(source))
                    module = _load(name, path)
                except (FileNotFoundError, ImportError):
                    if attempt == 2:
                        raise
                    continue
                built = True
            break
        ext = CompiledExtension(module.lib, module.ffi, path, key, settings, built,
                                time.perf_counter() - start)
        _LOADED[key] = ext
        return ext
