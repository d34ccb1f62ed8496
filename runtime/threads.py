"""How many threads the compiled C kernels use (OpenMP).

The kernels of every channel and neuron share one OpenMP runtime (libgomp),
so one setting covers them all; the default is every core (or
``OMP_NUM_THREADS``).  ``with ionc.num_threads(1): ...`` runs a block on one.

A process forked from one whose kernels have run (``os.fork``, a fork-based
``multiprocessing.Pool``) inherits libgomp's thread pool without its threads, and
its first parallel kernel would wait for them forever; the child therefore runs
the kernels on one thread (``set_num_threads`` in the child changes that at its
own risk; ``multiprocessing``'s ``spawn`` and ``forkserver`` start fresh).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
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


def max_threads() -> int:
    """The most threads ionc lets the kernels use: 4 per core, at least 64 (more only
    costs memory; far more makes the OpenMP runtime fail to start a team)."""
    return max(64, 4 * (os.cpu_count() or 1))


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (1 .. :func:`max_threads`) in the C kernels from now on."""
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"number of threads must be an int, got {n!r}")
    if not 1 <= n <= max_threads():
        raise ValueError(f"number of threads must be between 1 and {max_threads()} "
                         f"(4 per core on this machine), got {n}")
    _openmp().omp_set_num_threads(ctypes.c_int(n))


def _one_thread_after_fork() -> None:
    """In a forked child: the kernels use one thread (libgomp's pool is not there)."""
    if _openmp.cache_info().currsize or _gomp_loaded():
        _openmp().omp_set_num_threads(ctypes.c_int(1))


def _gomp_loaded() -> bool:
    """True when libgomp is mapped into this process (a kernel module loaded it)."""
    try:
        with open("/proc/self/maps") as maps:
            return "libgomp" in maps.read()
    except OSError:
        return True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_one_thread_after_fork)


@contextmanager
def num_threads(n: int):
    """Run the block with ``n`` threads, then restore the previous number."""
    before = get_num_threads()
    set_num_threads(n)
    try:
        yield
    finally:
        set_num_threads(before)
