"""How many threads the compiled C kernels use (OpenMP).

The kernels of every channel and neuron share one OpenMP runtime (libgomp),
so one setting covers them all; the default is every core (or
``OMP_NUM_THREADS``).  ``with ionc.num_threads(1): ...`` runs a block on one.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from contextlib import contextmanager
from functools import lru_cache


@lru_cache(maxsize=None)
def _openmp() -> ctypes.CDLL:
    name = ctypes.util.find_library("gomp") or "libgomp.so.1"
    try:
        return ctypes.CDLL(name)
    except OSError as exc:
        raise RuntimeError(f"the OpenMP runtime ({name}) cannot be loaded: {exc}") from None


def get_num_threads() -> int:
    """Threads a parallel kernel uses now."""
    return int(_openmp().omp_get_max_threads())


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (at least 1) in the C kernels from now on."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"number of threads must be a positive int, got {n!r}")
    _openmp().omp_set_num_threads(ctypes.c_int(n))


@contextmanager
def num_threads(n: int):
    """Run the block with ``n`` threads, then restore the previous number."""
    before = get_num_threads()
    set_num_threads(n)
    try:
        yield
    finally:
        set_num_threads(before)
