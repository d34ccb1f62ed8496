"""Which C compiler and flags to use, from one place.

Precedence: the ``CC`` environment variable, else the compiler Python was
built with, else ``cc``.  Flags: ``-O3 -std=gnu99 -fopenmp -fno-math-errno
-fno-trapping-math -ffp-contract=off`` plus ``-march=native`` unless
``IONC_PORTABLE=1``; ``IONC_CFLAGS`` adds flags.  ``IONC_EXP=libm`` uses the
C library's exp/expm1 (libmvec's SIMD variants where glibc has them) instead
of the kernels' inline ones.  ``-fno-trapping-math``
changes no value (ionc never enables floating-point traps); it lets the
compiler turn the kernels' selects into blends.  Never ``-ffast-math``:
expm1 and NaN semantics are part of ionc's accuracy contract.
"""
from __future__ import annotations

import ctypes.util
import os
import platform
import shlex
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from functools import lru_cache


class CompilerNotFoundError(RuntimeError):
    """No working C compiler: the message names the one looked for."""


BASE_FLAGS = ("-O3", "-g0", "-std=gnu99", "-fopenmp", "-fno-math-errno", "-fno-trapping-math",
              "-ffp-contract=off")
NATIVE_FLAGS = ("-march=native",)
PORTABLE_FLAGS = ("-mtune=generic",)
#: ``IONC_EXP``: ionc's inline exp/expm1 (the default), or the C library's
#: (glibc's libmvec vector variants where available, unless IONC_VECTOR_MATH=0).
EXP_CHOICES = ("inline", "libm")


@dataclass(frozen=True)
class CompilerSettings:
    """The compiler command, its version banner and the flags of one build."""

    command: tuple[str, ...]
    version: str
    compile_flags: tuple[str, ...]
    link_flags: tuple[str, ...]

    def describe(self) -> str:
        """Compiler version and flags, in one line."""
        return f"{' '.join(self.command)} ({self.version}) {' '.join(self.compile_flags)}"


def _compiler_command() -> tuple[str, ...]:
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return tuple(shlex.split(cc))


@lru_cache(maxsize=None)
def _version(executable: str) -> str:
    try:
        out = subprocess.run([executable, "--version"], capture_output=True, text=True,
                             timeout=30)
    except OSError as exc:
        raise CompilerNotFoundError(f"C compiler {executable!r} cannot run: {exc}") from exc
    return (out.stdout or out.stderr).splitlines()[0].strip() if (out.stdout or out.stderr) \
        else "unknown"


def compiler_settings(portable: bool | None = None) -> CompilerSettings:
    """The settings a C build uses now (read from the environment each call)."""
    command = _compiler_command()
    exe = shutil.which(command[0]) if command else None
    if exe is None:
        raise CompilerNotFoundError(
            f"no C compiler found: looked for {command[0] if command else 'cc'!r} "
            "(set CC to a C compiler, install gcc, or use target='numpy')")
    if portable is None:
        portable = os.environ.get("IONC_PORTABLE", "") not in ("", "0")
    flags = BASE_FLAGS + (PORTABLE_FLAGS if portable else NATIVE_FLAGS)
    link = ("-fopenmp",)
    exp = os.environ.get("IONC_EXP", "inline")
    if exp not in EXP_CHOICES:
        raise ValueError(f"IONC_EXP={exp!r}: use one of {EXP_CHOICES}")
    if exp == "libm":
        flags += ("-DIONC_LIBM_EXP",)
        if _has_libmvec() and os.environ.get("IONC_VECTOR_MATH", "1") != "0":
            flags += ("-DIONC_VECTOR_MATH",)
            link += ("-lmvec",)
    flags += tuple(shlex.split(os.environ.get("IONC_CFLAGS", "")))
    return CompilerSettings(command, _version(exe), flags, link)


def _has_libmvec() -> bool:
    """glibc's vector math library is there (x86-64 Linux): exp/expm1 in SIMD lanes."""
    return (sys.platform.startswith("linux") and platform.machine() == "x86_64"
            and ctypes.util.find_library("mvec") is not None)
