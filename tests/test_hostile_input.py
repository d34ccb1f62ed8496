"""Hostile input: channel text is data (never run), work is bounded, errors name the
problem.  Anything that could hang or run code is tried in a subprocess."""
import subprocess
import sys
import textwrap

import pytest
import sympy as sp

from ionc.codegen import ChannelSpec, Gate, SpecError, V, lower_channel, spec_from_strings, symbol


def _strings(**fields):
    args = dict(name="IHostile", parameters={"g": 1.0},
                gates={"m": {"alpha": "exp(V/10)", "beta": "1"}}, current="g*m*(0 - V)")
    args.update(fields)
    return spec_from_strings(**args)


def test_text_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    script = textwrap.dedent(f"""
        from ionc.codegen import SpecError, spec_from_strings
        attacks = [
            "__import__('os').system('touch {marker}')",
            "print(V)",
            "().__class__.__bases__[0].__subclasses__()",
            "exec('open(\\"{marker}\\", \\"w\\")')",
            "(lambda: open('{marker}', 'w'))()",
            "V if open('{marker}', 'w') else V",
        ]
        for text in attacks:
            for field in ("alpha", "current"):
                try:
                    if field == "current":
                        spec_from_strings("A", {{"g": 1.0}}, {{"m": {{"alpha": "V", "beta": "1"}}}},
                                          current=text)
                    else:
                        gates = {{"m": {{"alpha": text, "beta": "1"}}}}
                        spec_from_strings("A", {{"g": 1.0}}, gates, current="g*m")
                except SpecError as exc:
                    print("refused:", str(exc).splitlines()[0][:60])
                else:
                    print("ACCEPTED", text)
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "ACCEPTED" not in r.stdout and r.stdout.count("refused:") == 12
    assert not marker.exists()
    assert "V\n" not in r.stdout.replace("refused", "")        # print(V) printed nothing


@pytest.mark.parametrize("text, match", [
    ("10**10**10*V", "has about 10000000000 digits"),
    ("factorial(10**8)*V", "unknown function 'factorial'"),
    ("V*2**(2**40)", "exponent|digits"),
    ("(V + 1)**100000", "exponent .* too large"),
    ("9" * 5000 + "*V", "too many digits"),
    ("(" * 500 + "V" + ")" * 500, "nested too deeply|cannot parse"),
    ("V" + "+V" * 6000, "characters long"),
    ("1e400*V", "overflows a double"),
])
def test_huge_work_is_refused_quickly(text, match):
    script = ("import sys\nfrom ionc.codegen import SpecError, spec_from_strings\n"
              "try:\n"
              "    spec_from_strings('A', {'g': 1.0}, {'m': {'alpha': sys.argv[1], 'beta': '1'}},"
              " current='g*m')\n"
              "except SpecError as exc:\n"
              "    print('refused', exc)\n")
    r = subprocess.run([sys.executable, "-c", script, text], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("refused"), r.stdout
    import re
    assert re.search(match, r.stdout), r.stdout


@pytest.mark.parametrize("fields, match", [
    (dict(gates={"m": {"alpha": "foo(V)", "beta": "1"}}),
     r"gate 'm': alpha: unknown function 'foo'"),
    (dict(gates={"m": {"alpha": "zoo*V", "beta": "1"}}), r"gate 'm': alpha .*'zoo'"),
    (dict(gates={"m": {"alpha": "Integral(V, V)", "beta": "1"}}),
     r"gate 'm': alpha: unknown function 'Integral'"),
    (dict(gates={"m": {"alpha": None, "beta": "1"}}), r"gate 'm': alpha must be a string"),
    (dict(gates={"m": {"alpha": "V", "beta": "1", "power": "x"}}),
     r"gate 'm': power must be an int, got 'x'"),
    (dict(gates={"m": {"alpha": "V", "beta": "1", "power": -2}}),
     r"gate 'm': power must be a non-negative int"),
    (dict(gates={"m": "V"}), r"gate 'm' must map field names"),
    (dict(gates={"m": {"alpha": "V.real", "beta": "1"}}), "Attribute is not allowed"),
    (dict(gates={"m": {"alpha": "V[0]", "beta": "1"}}), "Subscript is not allowed"),
    (dict(gates={"m": {"alpha": "'text'", "beta": "1"}}), "is not a number"),
    (dict(gates={"m": {"alpha": "V < 3", "beta": "1"}}), "is a condition, not a value"),
    (dict(current="g*m*(0 - V) + W"), r"current uses unknown symbol\(s\) \['W'\]"),
])
def test_each_bad_field_is_a_spec_error_naming_gate_field_and_problem(fields, match):
    with pytest.raises(SpecError, match=match):
        _strings(**fields)


def test_numbers_in_gate_fields_are_constants():
    spec = _strings(gates={"m": {"alpha": 2, "beta": 0.5}})
    assert spec.gate("m").alpha == 2 and spec.gate("m").beta == sp.Rational(1, 2)


@pytest.mark.parametrize("build, match", [
    (lambda: Gate("m", alpha=None, beta=sp.Integer(1)), "needs either alpha and beta"),
    (lambda: Gate("m", alpha=V, beta=None, inf=V), "needs either"),
    (lambda: Gate("m", alpha="V", beta=sp.Integer(1)), r"gate 'm': alpha is not a SymPy"),
    (lambda: Gate("m", alpha=sp.Integral(V, V), beta=sp.Integer(1)), "Integral is not allowed"),
    (lambda: ChannelSpec("P", {"g": 1.0}, (Gate("m", alpha=sp.Piecewise((V, V > 0)),
                                                 beta=sp.Integer(1)),), symbol("m")),
     "Piecewise needs a default branch"),
    (lambda: ChannelSpec("Z", {"g": 1.0}, (Gate("m", alpha=sp.zoo * V, beta=sp.Integer(1)),),
                         symbol("m")), "infinite or undefined"),
    (lambda: Gate("m", alpha=V, beta=sp.Integer(1), power="x"), "power must be"),
    (lambda: ChannelSpec("P", {"g": "x"}, (), V), "needs a number as its default"),
    (lambda: ChannelSpec("P", {"g": 1.0}, (), V, inputs={"V": 1.0}), "used twice.*membrane"),
    (lambda: ChannelSpec("ionc_x", {"g": 1.0}, (), V), "kept for the generated code"),
    (lambda: ChannelSpec("P", {"g": 1.0}, (Gate("m", alpha=V * sp.I, beta=sp.Integer(1)),),
                         symbol("m")), "ImaginaryUnit is not allowed"),
])
def test_programmatic_specs_are_checked_too(build, match):
    with pytest.raises(SpecError, match=match):
        build()


def test_python_keywords_are_fine_as_names_in_sympy_specs():
    lam = symbol("lambda")
    spec = ChannelSpec("Kw", {"lambda": 2.0}, (Gate("class", inf=1 / (1 + sp.exp(-V)),
                                                    tau=lam),), symbol("class") * (lam - V))
    assert lower_channel(spec).rates["tau_class"] == symbol("u_lambda")


def test_numbers_that_would_not_stay_finite_are_refused_up_front():
    import numpy as np
    import ionc
    with pytest.raises(ValueError, match="more than the 1099511627776 a channel may hold"):
        ionc.INa_Ba2002((2**61 + 125, 8))          # numpy's product wraps to 1000
    with pytest.raises(ValueError, match="1e\\+300 is not finite in float32"):
        ionc.INa_Ba2002(3, g_max=1e300, dtype="float32")
    ch = ionc.INa_Ba2002(3)
    with pytest.raises(ValueError, match="batch_size 4611686018427387904 gives"):
        ch.reset_state(np.full(3, -65.0), batch_size=2**62)
    # a time constant that underflows to 0 at -1e4 mV: backward Euler takes the steady state
    for Ch in (ionc.Ih_HM1992, ionc.IKA1_HM1992):
        c = Ch(3, method="implicit_euler")
        c.reset_state(np.full(3, -65.0))
        c.update(np.full(3, -1e4), dt=0.1)
        assert all(np.isfinite(v).all() for v in c.states.values()), Ch.__name__


def test_nan_parameter_arrays_are_refused_inside_jax_as_nan_scalars_are(jax_x64):
    jax = pytest.importorskip("jax")
    import numpy as np
    import ionc
    import ionc.jax as ij
    with pytest.raises(ValueError, match="parameter g_max must be finite"):
        ij.ops(ionc.INa_Ba2002, g_max=np.array([1.0, np.nan]))
    ops = ij.ops(ionc.INa_Ba2002)
    with pytest.raises(ValueError, match="parameter V_sh must be finite"):
        ops.steady_state(np.full(2, -65.0), params={"V_sh": np.array([np.nan, 1.0])})
    traced = jax.jit(lambda v, p: ops.steady_state(v, params={"V_sh": p})["p"])
    assert np.isfinite(np.asarray(traced(np.full(2, -65.0), np.full(2, -50.0)))).all()
    group = ionc.CondNeuGroup(2, INa=ionc.INa_HH1952(2), IK=ionc.IK_HH1952(2))
    nops = ij.neuron_ops(group)
    with pytest.raises(ValueError, match="parameter C must be finite and > 0, got 0.0"):
        nops.step(nops.states(), 0.0, 0.025, params={"C": 0.0})
    pytest.importorskip("brainpy")            # (importing BrainPy may set JAX's 32-bit mode)
    import ionc.brainpy as ib
    with pytest.raises(ValueError, match="ionc.brainpy.INa_Ba2002: parameter g_max must be fin"):
        ib.INa_Ba2002(4, g_max=np.array([1.0, np.nan, 1.0, 1.0]))


@pytest.mark.parametrize("body, where", [
    ("minf = v/(1 - exp(exp(exp(v))))\n m' = (minf - m)/2", "the equation of m"),
])
def test_the_symbolic_analysis_of_a_file_is_bounded_in_time(tmp_path, body, where):
    import os
    import time
    mod = tmp_path / "slow.mod"
    mod.write_text("NEURON { SUFFIX slow NONSPECIFIC_CURRENT i }\nASSIGNED { v i minf }\n"
                   "STATE { m }\nBREAKPOINT { SOLVE s METHOD cnexp\n i = m*v }\n"
                   f"INITIAL {{ m = 0 }}\nDERIVATIVE s {{\n {body}\n}}\n")
    start = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "ionc.cli", "inspect", str(mod)],
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "IONC_ANALYSIS_SECONDS": "3"})
    assert time.monotonic() - start < 60
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert (f"the symbolic analysis of {mod} ({where}) ran past its bound of 3 s "
            f"(set IONC_ANALYSIS_SECONDS") in r.stderr, r.stderr


def test_sizes_of_user_text_are_bounded(tmp_path):
    from ionc.codegen.nmodl import parse_nmodl
    states = " ".join(f"s{k}" for k in range(300))
    with pytest.raises(SpecError, match=r"300 STATEs \(line 3\), more than the 256"):
        parse_nmodl(f"NEURON {{ SUFFIX many }}\nASSIGNED {{ v }}\nSTATE {{ {states} }}\n")
    deep = "(" * 5000 + "v" + ")" * 5000
    with pytest.raises(SpecError, match=r"nest more than 200 deep \(line 3\)"):
        parse_nmodl(f"NEURON {{ SUFFIX deep NONSPECIFIC_CURRENT i }}\nASSIGNED {{ v i }}\n"
                    f"BREAKPOINT {{ i = {deep} }}\n")
    gates = {f"g{k}": {"alpha": "1", "beta": "1"} for k in range(2000)}
    with pytest.raises(SpecError, match="2000 gates, more than the 256"):
        spec_from_strings("IMany", {"g": 1.0}, gates, current="g*(0 - V)")
