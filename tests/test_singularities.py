"""The singularity analysis finds, proves and rewrites 0/0 points, and reports poles."""
import re

import pytest
import sympy as sp

from ionc.codegen import (ChannelSpec, Gate, SpecError, V, exprelr, find_removable_singularities,
                          get_channel, lower_channel, render_kernels, symbol)

x, V_sh = symbol("x"), symbol("V_sh")


ONE = sp.Integer(1)


def _spec(alpha, beta=ONE, name="Test"):
    return ChannelSpec(name=name, parameters={"V_sh": 0.0}, intermediates={"x": V - V_sh},
                       gates=(Gate("m", alpha=alpha, beta=beta),), current=symbol("m") * V)


def test_ina_ba2002_has_exactly_two_removable_singularities():
    report = find_removable_singularities(get_channel("INa_Ba2002"))
    assert len(report) == 2 and not report.poles
    found = {s.rate_name: s for s in report}
    assert set(found) == {"alpha_p", "beta_p"}
    assert sp.simplify(found["alpha_p"].location - (V_sh + 13)) == 0
    assert sp.simplify(found["beta_p"].location - (V_sh + 40)) == 0
    assert found["alpha_p"].limit == sp.Rational(128, 100)
    assert found["beta_p"].limit == sp.Rational(14, 10)
    assert all(s.method == "exprelr" and s.rewritten.has(exprelr) for s in report)
    text = str(report)
    assert "V_sh + 13" in text and "1.28" in text and "1.4" in text


def test_no_singularity_is_reported_for_smooth_rates():
    spec = _spec(0.128 * sp.exp(-(x - 17) / 18), 4 / (1 + sp.exp(-(x - 40) / 5)))
    assert len(find_removable_singularities(spec)) == 0


def test_a_pole_is_reported_and_refused():
    spec = _spec(1 / (1 - sp.exp(-(x - 13) / 4)), name="Pole")
    report = find_removable_singularities(spec)
    assert len(report.poles) == 1 and not report.removable
    assert "POLE" in str(report)
    with pytest.raises(SpecError, match="non-removable"):
        lower_channel(spec)


def test_shifted_exponential_denominator_is_found_and_rewritten():
    # 3 (x - 2 ln 2) / (exp(x/2) - 2) vanishes at x = 2 ln 2 with limit 6/2 = 3
    spec = _spec(3 * (x - 2 * sp.log(2)) / (sp.exp(x / 2) - 2))
    (s,) = find_removable_singularities(spec)
    assert s.removable and sp.simplify(s.location - (V_sh + 2 * sp.log(2))) == 0
    assert s.limit == 3


def test_emitted_c_has_no_raw_cancellation_on_singular_rates():
    def code(dtype):  # the C text without its comments
        return re.sub(r"/\*.*?\*/", "", render_kernels(get_channel("INa_Ba2002"), "c",
                                                          dtype).source, flags=re.S)
    def body(src, fn):  # one element function's statements
        return src[src.index(f"IONC_FN void {fn}("):].split("\n}\n")[0]
    src = code("float64")
    for rate in ("alpha_u_p", "beta_u_p"):      # the singular rates: exprelr, no raw exp
        text = body(src, f"ionc_f_{rate}")
        assert re.search(r"ionc_exprelr(_div)?\(", text), text
        assert not re.search(r"ionc_expm?1?(_div)?\(", text), text
    assert re.search(r"ionc_exp(_div)?\(", body(src, "ionc_f_alpha_u_q"))  # smooth: exp
    src32 = code("float32")
    assert "ionc_exp(" in src32 and "ionc_expm1(" in src32
    assert re.search(r"\bexpf\(", src32) and re.search(r"\bfmaf\(", src32)  # the libm path
    # no double promotion in float32, but for exp's reduction of a double argument
    wide = re.search(r"#define IONC_MADD_WIDE\(a, b, c\) fma\(.*\n", src32)
    assert wide and "IONC_MADD_WIDE(" in src32[wide.end():]
    src32 = src32[:wide.start()] + src32[wide.end():]
    for double_fn in ("exp", "expm1", "fma", "pow"):
        assert not re.search(rf"\b{double_fn}\(", src32), double_fn


def test_constant_divisions_in_double_become_multiplications_only_in_float32():
    # x = V - V_sh is double in a float32 kernel: (x - 40)/5 would be a double division
    def update(dtype):
        src = render_kernels(get_channel("INa_Ba2002"), "c", dtype).source
        return src[src.index("void ionc_f_update("):].split("\n}\n")[0]
    f32, f64 = update("float32"), update("float64")
    assert "(u_x - 40.0f)*(ionc_wide)0.2;" in f32
    assert "(17.0f - u_x)*(ionc_wide)0.05555555555555555" in f32
    assert "/5.0f" not in f32 and "/18.0f" not in f32
    assert "(13.0f - u_x)/4.0f" in f32                     # a power of two stays (exact)
    # float64: the division itself, its rounding corrected inside ionc_*_div
    assert "ionc_exprelr_div(u_x - 40.0, 5.0)" in f64 and "*0.2" not in f64


def test_unknown_symbol_is_named():
    with pytest.raises(SpecError, match="unknown symbol.*W"):
        _spec(symbol("W") * x)


def test_gate_without_rates_is_refused():
    with pytest.raises(SpecError, match="alpha and beta, or inf and tau"):
        Gate("m", alpha=x)


def test_inf_as_a_over_a_plus_b_with_the_0_0_in_its_numerator():
    # minf = a/(a + b) with a = Ra (V - th)/(1 - exp(-(V - th)/q)): the 0/0 factor of the
    # numerator is rewritten and the sum of rates below it carried along; that sum of
    # one-signed rates has no zero at the defaults, and the report says when it could
    import mpmath
    Ra, Rb, q, th = (symbol(s) for s in ("Ra", "Rb", "q", "th"))
    a = Ra * (V - th) / (1 - sp.exp(-(V - th) / q))
    b = Rb * (th - V) / (1 - sp.exp((V - th) / q))
    spec = ChannelSpec(name="Mig", parameters={"Ra": 0.4, "Rb": 0.124, "q": 7.2, "th": -30.0},
                       gates=(Gate("m", inf=a / (a + b), tau=1 / (a + b)),),
                       current=symbol("m") * V)
    report = find_removable_singularities(spec)
    assert {s.rate_name for s in report.removable} == {"inf_m", "tau_m"}
    assert any("Ra*q" in s.conditional and "not positive" in s.conditional
               for s in report.conditional), str(report)
    model = lower_channel(spec)
    f = sp.lambdify(V, model.display(model.rates["inf_m"]).subs(
        {symbol(k): sp.Float(v) for k, v in spec.parameters.items()}),
        modules=[{"exprelr": lambda u: u / mpmath.expm1(u) if u != 0 else mpmath.mpf(1)},
                 "mpmath"])
    mpmath.mp.dps = 50
    for v in (-30.0 + 1e-9, -30.0 - 1e-9, -10.0, -30.0):
        x = mpmath.mpf(v) + 30
        if x == 0:
            want = mpmath.mpf("0.4") / (mpmath.mpf("0.4") + mpmath.mpf("0.124"))
        else:
            va = mpmath.mpf("0.4") * x / (1 - mpmath.exp(-x / mpmath.mpf("7.2")))
            vb = mpmath.mpf("0.124") * -x / (1 - mpmath.exp(x / mpmath.mpf("7.2")))
            want = va / (va + vb)
        assert abs(f(v) - want) <= 1e-14, (v, f(v), want)


def test_a_pole_that_cancels_inside_a_over_a_plus_b_is_named_as_a_pole():
    # alpha's numerator misses its denominator's zero (0.00642 where 0.0064 would vanish at
    # V = -18): a/(a + b) is finite there, but the file's own a is not
    a = (-0.00642 * V - 0.1152) / (-1 + sp.exp(-(V + 18) / 12))
    b = 1.7 * sp.exp(-(V + 152) / 30)
    spec = ChannelSpec(name="Typo", parameters={}, gates=(Gate("c", inf=a / (a + b),
                                                               tau=1 / (a + b)),),
                       current=symbol("c") * V)
    with pytest.raises(SpecError, match=r"has a pole at V = -18: its numerator is 9/25000"):
        lower_channel(spec)
