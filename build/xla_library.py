"""Compile XLA FFI handlers and the kernels they call into one shared library, cached.

The kernels are compiled as C from the C target's source with the C target's
flags (so they are the same machine code as ``target='cpu'``), the handlers as
C++17 against the FFI headers that jaxlib ships; both are linked into one
shared library.  The cache key covers both sources, both compilers and their
flags, and the FFI headers' version (the jaxlib version).  As for the C
target, the build runs in a private temporary directory and the library is
renamed into the cache atomically, followed by a manifest with its SHA-256; a
corrupted entry is rebuilt, not loaded.  The CUDA variant is one nvcc
translation unit: the CUDA target's kernels, their twins and the handlers.
"""
from __future__ import annotations

import ctypes
import os
import shlex
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .c_extension import BuildError, first_errors
from .cache import (artifact_is_intact, build_directory, cache_dir, content_hash, remove_stale,
                    write_manifest)
from .compiler import CompilerNotFoundError, CompilerSettings, _version, compiler_settings
from .progress import progress_while

#: Flags of the handlers' translation unit (the FFI headers warn under gcc's -Wall).  The
#: handlers are glue around the kernels (which have the C target's flags): -O1 compiles
#: them in 2.4 s where -O2 takes 3.5, at the same cost per call (16.2-16.4 us for an
#: INa_Ba2002 step at N = 1e3 either way; -O0 adds 1 us).
CXX_FLAGS = ("-std=c++17", "-O1", "-g0", "-fPIC", "-w")
#: nvcc's flags for the CUDA handlers: a shared library, and otherwise nvcc's defaults, as
#: the CUDA target takes NVRTC's.
NVCC_FLAGS = ("-std=c++17", "-O3", "-shared", "-Xcompiler", "-fPIC", "-w")


@dataclass(frozen=True)
class XlaLibrary:
    """A loaded library of FFI handlers: ``handle`` is its ``ctypes.CDLL``."""

    handle: ctypes.CDLL
    path: Path
    key: str
    built: bool          # True when this call compiled it, False when it came from the cache
    seconds: float


_LOADED: dict[str, XlaLibrary] = {}
_LOCK = threading.Lock()


def cxx_command() -> tuple[str, ...]:
    """The C++ compiler: ``$CXX``, else ``c++``, else ``g++``."""
    if os.environ.get("CXX"):
        return tuple(shlex.split(os.environ["CXX"]))
    for name in ("c++", "g++"):
        if shutil.which(name):
            return (name,)
    raise CompilerNotFoundError("no C++ compiler found for the XLA back end: looked for "
                                "$CXX, c++ and g++ (install g++ or set CXX)")


def _run(command: list[str], what: str) -> None:
    _run_all([(command, what)])


def _run_all(jobs: list[tuple[list[str], str]]) -> None:
    """Run the compiler commands of ``jobs`` (``(command, what)``) side by side; the first
    that fails raises, naming what it compiled."""
    running = [(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True), command, what) for command, what in jobs]
    failed = []
    for process, command, what in running:
        try:
            output, _ = process.communicate(timeout=1800)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        if process.returncode:
            failed.append((command, what, output))
    if failed:
        command, what, output = failed[0]
        raise BuildError(f"compiling {what} failed with {command[0]}:\n{first_errors(output)}")


def _compile(name: str, kernels: str, handlers: str, include_dir: str,
             settings: CompilerSettings, cxx: tuple[str, ...], target: Path) -> None:
    workdir = build_directory(target, name)
    try:
        (workdir / "kernels.c").write_text(kernels)
        (workdir / "handlers.cc").write_text(handlers)
        with progress_while(f"ionc: compiling {name}"):
            _run_all([([*settings.command, *settings.compile_flags, "-fPIC", "-c",
                        str(workdir / "kernels.c"), "-o", str(workdir / "kernels.o")],
                       f"{name} (kernels)"),
                      ([*cxx, *CXX_FLAGS, f"-I{include_dir}", "-c",
                        str(workdir / "handlers.cc"), "-o", str(workdir / "handlers.o")],
                       f"{name} (XLA handlers)")])
            _run([*cxx, "-shared", str(workdir / "kernels.o"), str(workdir / "handlers.o"),
                  *settings.link_flags, "-lm", "-o", str(workdir / "lib.so")], f"{name} (link)")
        os.replace(workdir / "lib.so", target)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _cached(key: str, name: str, compile_into, manifest: dict) -> XlaLibrary:
    """The library ``name`` of cache ``key``: loaded from the cache when intact, else
    built by ``compile_into(path)`` and loaded."""
    with _LOCK:
        if key in _LOADED:
            return _LOADED[key]
        start = time.perf_counter()
        for attempt in range(3):     # a concurrent cache clear may remove a fresh entry
            handle, built = None, False
            for writable in (False, True):
                directory = cache_dir("xla", writable=writable)
                path = directory / f"{name}.so"
                if artifact_is_intact(path):
                    try:
                        handle = ctypes.CDLL(str(path))
                        break
                    except OSError:
                        handle = None
            if handle is None:
                remove_stale(directory)
                compile_into(path)
                try:
                    write_manifest(path, **manifest)
                    handle = ctypes.CDLL(str(path))
                except (FileNotFoundError, OSError):
                    if attempt == 2:
                        raise
                    continue
                built = True
            break
        library = XlaLibrary(handle, path, key, built, time.perf_counter() - start)
        _LOADED[key] = library
        return library


def build_xla_library(kernels: str, handlers: str, include_dir: str, ffi_version: str,
                      settings: CompilerSettings | None = None) -> XlaLibrary:
    """Compile (or fetch from the cache) the C ``kernels`` and the C++ ``handlers``
    into one shared library, loaded.  ``include_dir`` holds ``xla/ffi/api/ffi.h``;
    ``ffi_version`` (jaxlib's version) is part of the cache key."""
    settings = settings or compiler_settings()
    cxx = cxx_command()
    key = content_hash(kernels, handlers, *settings.command, settings.version,
                       *settings.compile_flags, *settings.link_flags, *cxx, _version(cxx[0]),
                       *CXX_FLAGS, ffi_version)
    name = f"_ionc_xla_{key}"
    return _cached(key, name, lambda path: _compile(name, kernels, handlers, include_dir,
                                                    settings, cxx, path),
                   dict(compiler=settings.describe(), ffi=ffi_version,
                        source_hash=content_hash(kernels, handlers)))


def nvcc_command() -> tuple[str, ...]:
    """nvcc and its flags for the XLA CUDA handlers (``$IONC_NVCC_FLAGS`` adds some,
    e.g. ``-arch=sm_90``)."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        raise CompilerNotFoundError("nvcc is not on PATH: the XLA back end on CUDA compiles "
                                    "its handlers with it (install the CUDA toolkit)")
    return (nvcc, *NVCC_FLAGS, *shlex.split(os.environ.get("IONC_NVCC_FLAGS", "")))


def build_xla_cuda_library(source: str, include_dir: str, ffi_version: str,
                           arch: str | None = None) -> XlaLibrary:
    """Compile (or fetch from the cache) the CUDA kernels and XLA handlers of ``source``
    with nvcc into a shared library, loaded (loading needs no GPU).  ``arch`` (e.g.
    ``"sm_90"``, the GPU's own) adds its machine code; without it nvcc's default
    architecture is built and the driver compiles its PTX for the GPU at load."""
    nvcc = nvcc_command() + ((f"-arch={arch}",) if arch else ())
    key = content_hash(source, *nvcc, _version(nvcc[0]), ffi_version)
    name = f"_ionc_xla_cuda_{key}"

    def compile_into(path: Path) -> None:
        workdir = build_directory(path, name)
        try:
            (workdir / "handlers.cu").write_text(source)
            with progress_while(f"ionc: compiling {name}"):
                _run([*nvcc, f"-I{include_dir}", str(workdir / "handlers.cu"), "-o",
                      str(workdir / "lib.so")], f"{name} (nvcc)")
            os.replace(workdir / "lib.so", path)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    return _cached(key, name, compile_into,
                   dict(compiler=" ".join(nvcc), ffi=ffi_version, source_hash=content_hash(source)))
