"""A pytest plugin that runs BrainPy's own tests with ionc.brainpy's classes in place of
BrainPy's (``pytest -p brainpy_substitution``; used by test_brainpys_own_tests.py).

Every BrainPy module that exposes a class ionc.brainpy provides (``brainpy.dyn``,
``brainpy.channels``, ``brainpy.dyn.neurons.hh``, ...) gets ionc's class under that name
before the tests run.  Each test's report records the channel classes it built (every
``IonChannel`` constructed, by module and name) and whether it built ionc's
``CondNeuGroup``; the reports go to ``$IONC_BRAINPY_REPORT`` as JSON.
"""
import json
import os
import sys

import brainpy.dyn.channels.base as channel_base
import pytest

import ionc.brainpy as ib

#: Every class ionc.brainpy provides under BrainPy's name.
PROVIDED = (*ib.ADAPTED, *ib.CALCIUM_ADAPTED, *ib.ION_ADAPTED, "CondNeuGroup")


def substitute() -> int:
    """Put ionc's classes in BrainPy's modules; the number of names replaced."""
    count = 0
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] != "brainpy" or module is None:
            continue
        for cls in PROVIDED:
            theirs = getattr(module, cls, None)
            if isinstance(theirs, type) and theirs is not getattr(ib, cls):
                setattr(module, cls, getattr(ib, cls))
                count += 1
    return count


BUILT: list = []
REPORTS: dict = {}


def _recording(init, label=None):
    def __init__(self, *args, **kwargs):
        cls = type(self)
        BUILT.append(label or [cls.__module__, cls.__name__])
        init(self, *args, **kwargs)
    return __init__


def pytest_configure(config):
    assert substitute() >= len(PROVIDED)
    channel_base.IonChannel.__init__ = _recording(channel_base.IonChannel.__init__)
    ib.CondNeuGroup.__init__ = _recording(ib.CondNeuGroup.__init__,
                                          ["ionc.brainpy", "CondNeuGroup"])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if report.when == "setup":
        BUILT.clear()
    if report.when == "call" or report.failed:
        REPORTS[item.nodeid] = {"outcome": report.outcome,
                                "built": sorted({tuple(b) for b in BUILT})}


def pytest_sessionfinish(session):
    with open(os.environ["IONC_BRAINPY_REPORT"], "w") as f:
        json.dump(REPORTS, f, indent=1)
