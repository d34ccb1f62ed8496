"""Bounds on the symbolic analysis of user text: time and size.

SymPy can run for minutes on a small hostile input (``exp(exp(exp(v)))``, a chain of
``if`` statements whose Piecewise doubles with each one).  :func:`time_bound` runs a
block under a deadline: in the main thread a timer interrupts SymPy wherever it is
(``signal.setitimer``, firing again every half second should some code swallow the
first); elsewhere (no signals there) the deadline is checked between statements and
rates by :func:`check_deadline`.  Either way the block ends with
:class:`AnalysisTimeout`, a :class:`SpecError` naming what was being analysed, where
(:func:`at`: the statement or rate last started) and the bound, and nothing of it is
kept.  ``IONC_ANALYSIS_SECONDS`` sets the bound (default
120 s; 0 turns it off).
"""
from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager

from .spec import SpecError

#: Environment variable holding the bound in seconds.
BOUND_ENV = "IONC_ANALYSIS_SECONDS"
#: The default bound (seconds).
DEFAULT_SECONDS = 120.0
_local = threading.local()


class AnalysisTimeout(SpecError):
    """The symbolic analysis ran past its time bound (the message names the bound)."""


def analysis_seconds() -> float:
    """The bound from ``IONC_ANALYSIS_SECONDS`` (a number of seconds; 0 or less: none)."""
    text = os.environ.get(BOUND_ENV, "")
    try:
        return float(text) if text.strip() else DEFAULT_SECONDS
    except ValueError:
        raise SpecError(f"{BOUND_ENV}={text!r} is not a number of seconds") from None


class _Deadline(BaseException):
    """Raised by the timer inside SymPy: a BaseException, so that no ``except Exception``
    on the way swallows it; :func:`time_bound` turns it into :class:`AnalysisTimeout`."""


def at(where: str) -> None:
    """Record what the analysis works on now (a statement's line, a rate), for the
    message of a timeout."""
    _local.where = where


def _expired(what: str, seconds: float) -> AnalysisTimeout:
    where = getattr(_local, "where", "")
    return AnalysisTimeout(f"the symbolic analysis of {what}{f' ({where})' if where else ''} "
                           f"ran past its bound of {seconds:g} s (set {BOUND_ENV} to allow "
                           f"more)")


def check_deadline() -> None:
    """Raise :class:`AnalysisTimeout` when the innermost :func:`time_bound` has expired."""
    bound = getattr(_local, "bound", None)
    if bound is not None and time.monotonic() > bound[0]:
        raise _expired(bound[1], bound[2])


@contextmanager
def time_bound(what: str, seconds: float | None = None):
    """Run the block under the analysis time bound (nested bounds keep the outer one)."""
    seconds = analysis_seconds() if seconds is None else seconds
    if seconds <= 0 or getattr(_local, "bound", None) is not None:
        yield
        return
    _local.bound = (time.monotonic() + seconds, what, seconds)
    _local.where = ""
    timer = threading.current_thread() is threading.main_thread() and hasattr(
        signal, "setitimer")
    if timer:
        def interrupt(signum, frame):
            raise _Deadline()
        previous = signal.signal(signal.SIGALRM, interrupt)
        signal.setitimer(signal.ITIMER_REAL, seconds, 0.5)
    try:
        yield
    except _Deadline:
        raise _expired(what, seconds) from None
    finally:
        if timer:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        _local.bound = None
