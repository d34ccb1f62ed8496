"""BrainPy's own tests of its channels, ion nodes and HH neurons, unchanged, copied from
the installed wheel and run with ionc.brainpy's classes in place of BrainPy's (every class
it provides, CondNeuGroup included; see brainpy_substitution.py)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

bp = pytest.importorskip("brainpy", reason="BrainPy's tests need the test extra")

#: The test files of brainpy 2.8.2's wheel that build channels, ion nodes or HH neurons.
FILES = ("dyn/channels/Ca_test.py", "dyn/channels/IH_test.py", "dyn/channels/KCa_test.py",
         "dyn/channels/K_test.py", "dyn/channels/Na_test.py", "dyn/channels/leaky_test.py",
         "dyn/channels/dyn_channels_fixes_test.py", "dyn/ions/MixIons_test.py",
         "dyn/neurons/hh_test.py", "dyn/neurons/neu_HH_test.py")
#: BrainPy's tests that build no channel (its own HH-type neurons, an ion node's default
#: E): they pass, and do not count.
NO_CHANNEL = {"test_m17_potassium_fixed_default_E", "test2", *(
    f"test_{m}{s}" for m in ("HH", "HHLTC", "MorrisLecar", "MorrisLecarLTC",
                             "WangBuzsakiModel", "WangBuzsakiModelLTC")
    for s in ("", "_batching_mode"))}


def test_brainpys_own_tests_pass_with_ioncs_classes(tmp_path):
    import ionc.brainpy as ib
    root = Path(bp.__file__).parent
    for f in FILES:
        shutil.copy(root / f, tmp_path / Path(f).name)
    report = tmp_path / "report.json"
    env = {**os.environ, "IONC_BRAINPY_REPORT": str(report),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent),
                                          os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-p", "brainpy_substitution", str(tmp_path)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1500)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    tests = json.loads(report.read_text())
    assert len(tests) >= 60 and all(t["outcome"] == "passed" for t in tests.values())
    built = {name: {tuple(b) for b in t["built"]} for name, t in tests.items()}
    theirs = {(m, c) for b in built.values() for m, c in b if not m.startswith("ionc")}
    assert not theirs, f"BrainPy's own channel classes were built: {sorted(theirs)}"
    counted = {name for name, b in built.items() if b}
    assert {name.rsplit("::", 1)[1] for name in set(tests) - counted} == NO_CHANNEL
    classes = {c for b in built.values() for _, c in b}
    provided = {*ib.ADAPTED, *ib.CALCIUM_ADAPTED, *ib.ION_ADAPTED, "CondNeuGroup"}
    assert classes == provided, sorted(provided ^ classes)
    groups = sum(("ionc.brainpy", "CondNeuGroup") in b for b in built.values())
    assert groups >= 15
