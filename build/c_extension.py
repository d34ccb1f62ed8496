"""Compile C source into a cffi extension module, cached by content hash.

The cache key covers the source, the declarations, the compiler and its
version, the flags and the Python ABI.  A build runs in a private temporary
directory; the finished module is renamed into the cache atomically and a
manifest with its SHA-256 is written after it.  Loading checks the manifest
first, so a truncated or corrupted entry is rebuilt instead of loaded.
"""
from __future__ import annotations

import importlib.util
import io
import os
import shutil
import sys
import sysconfig
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

from .cache import artifact_is_intact, cache_dir, content_hash, write_manifest
from .compiler import CompilerSettings, compiler_settings
from .progress import progress_while


class BuildError(RuntimeError):
    """The C compiler rejected the generated source (the message holds its log)."""


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


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _compile(name: str, source: str, declarations: str, settings: CompilerSettings,
             target: Path) -> None:
    import cffi

    ffi = cffi.FFI()
    ffi.cdef(declarations)
    ffi.set_source(name, source, extra_compile_args=list(settings.compile_flags),
                   extra_link_args=list(settings.link_flags), libraries=["m"])
    workdir = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".build-{name}-"))
    log = io.StringIO()
    env_cc = os.environ.get("CC")
    try:
        os.environ["CC"] = " ".join(settings.command)
        with progress_while(f"ionc: compiling {name}"), redirect_stdout(log), \
                redirect_stderr(log):
            built = Path(ffi.compile(tmpdir=str(workdir), verbose=True))
        os.replace(built, target)
    except Exception as exc:
        raise BuildError(f"compiling {name} failed with {' '.join(settings.command)}: "
                         f"{exc}\n{log.getvalue()[-4000:]}") from exc
    finally:
        if env_cc is None:
            os.environ.pop("CC", None)
        else:
            os.environ["CC"] = env_cc
        shutil.rmtree(workdir, ignore_errors=True)


def build_c_extension(source: str, declarations: str,
                      settings: CompilerSettings | None = None) -> CompiledExtension:
    """Compile (or fetch from the cache) ``source`` exposing ``declarations``.

    Raises :class:`~ionc.build.CompilerNotFoundError` when no C compiler is
    installed and :class:`BuildError` when compilation fails.
    """
    settings = settings or compiler_settings()
    abi = sysconfig.get_config_var("EXT_SUFFIX") or sys.implementation.cache_tag
    key = content_hash(source, declarations, *settings.command, settings.version,
                       *settings.compile_flags, *settings.link_flags, abi)
    if key in _LOADED:
        return _LOADED[key]
    name = f"_ionc_{key}"
    path = cache_dir("c") / f"{name}{abi}"
    start = time.perf_counter()
    built = False
    module = None
    if artifact_is_intact(path):
        try:
            module = _load(name, path)
        except ImportError:
            module = None
    if module is None:
        _compile(name, source, declarations, settings, path)
        write_manifest(path, compiler=settings.describe(), source_hash=content_hash(source))
        module = _load(name, path)
        built = True
    ext = CompiledExtension(module.lib, module.ffi, path, key, settings, built,
                            time.perf_counter() - start)
    _LOADED[key] = ext
    return ext
