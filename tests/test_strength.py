"""Exponential strength reduction: fewer range reductions, the same accuracy contract.

The rewritten exponentials live inside the steady-state and update functions (the
rate functions alone have nothing to share), so the contract is checked there:
every gate's steady state of every library channel against 50-digit mpmath."""
import mpmath as mp
import numpy as np
import pytest
import sympy as sp

import ionc
from ionc import Channel
from ionc.codegen import LIBRARY, ChannelSpec, Gate, V, lower_channel, symbol
from ionc.codegen.strength import affine_form, plan_powers
from reference import ulp_error

x = symbol("x")


def _mp_steady(spec, gate):
    """The value ``reset_state`` gives the gate, as written: its initial expression where
    the spec has one (an ODE state's), else its steady state (alpha/(alpha + beta) or
    inf); 50 digits, a function of V, the parameters and the inputs."""
    g = spec.gate(gate)
    if g.initial is not None:
        expr = g.initial
    elif g.kind == "rates":
        expr = g.alpha / (g.alpha + g.beta)
    else:
        expr = g.inf
    expr = sp.nsimplify(spec.expand_intermediates(expr), rational=True)
    inputs = [sp.Symbol(i, real=True) for i in spec.inputs]
    return sp.lambdify([V, *spec.parameter_symbols, *inputs], expr, modules="mpmath")


def _error(got, ref, dtype) -> int:
    """ulp error, except the one documented float32 limit (README, ICaL_IS2008): an exact
    value below float32's normal range may come out as 0 (a steady state's sum overflows
    to inf), an absolute error under 2^-126 that counts as 0 ulp; any other value there
    is still measured in ulp."""
    tiny = np.finfo(np.float32).tiny
    if dtype == np.float32 and got == 0 and 0 <= ref < tiny:
        return 0
    return ulp_error(got, ref, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(n for n, s in LIBRARY.items() if s.gates))
def test_every_steady_state_within_32_ulp_of_mpmath(name, dtype):
    """Over [-200, 200] mV, the contract's range: steep float32 gates (ICaT_HM1992's
    q_inf) need their exponents reduced in double there."""
    spec = LIBRARY[name]
    params = [dtype(v) for v in (*spec.parameters.values(), *spec.inputs.values())]
    rng = np.random.default_rng(11)
    V0 = np.unique(np.concatenate([np.linspace(-200, 200, 251),
                                   rng.uniform(-200, 200, 200)]).astype(dtype))
    ch = getattr(ionc, name)(V0.size, dtype=dtype.__name__)
    ch.reset_state(V0)
    mp.mp.dps = 50
    worst = {}
    for gate in spec.gates:
        ref = _mp_steady(spec, gate.name)
        got = ch.states[gate.name]
        args = [mp.mpf(float(p)) for p in params]
        errors = []
        for i, v in enumerate(V0):
            try:
                r = ref(mp.mpf(float(v)), *args)
            except ZeroDivisionError:
                r = ref(mp.mpf(float(v)) + mp.mpf("1e-25"), *args)
            errors.append(_error(got[i], r, dtype))
        worst[gate.name] = max(errors)
    assert max(worst.values()) <= 32, worst


def test_hh_sodium_shares_one_reduction_and_inspect_says_so():
    step = lower_channel(LIBRARY["INa_HH1952"]).functions["update"]
    assert step.powers == 1 and step.reductions == 5
    # beta_q = 1/(1 + exp(-(x - 10)/10)) = 1/(1 + e^(1/2) exp(-(x - 5)/10)), and
    # exp(-(x - 5)/10) is alpha_p's exprelr argument
    (name, base), = [(s.name, e) for s, e in step.definitions if s.name.startswith("ionc_pow")]
    assert base == sp.exp(sp.Rational(1, 2) - symbol("u_x") / 10)
    import contextlib
    import io

    from ionc.cli import main
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["inspect", "INa_HH1952"])
    assert "5 range reductions of exp/expm1 per element (6 before strength reduction" \
        in out.getvalue()


def test_commensurate_exponentials_become_powers_within_the_bound():
    a, b, c = (sp.exp(-(x + 65) / 80), sp.exp(-(x + 65) / 20), sp.exp(-(x + 35) / 10))
    plan = plan_powers([a + b + c])
    u = -(x + 65) / 80
    assert set(plan) == {b.args[0]}                       # t^4; t^8 exceeds MAX_POWER
    base, k, const = plan[b.args[0]]
    assert sp.simplify(base - u) == 0 and k == 4 and const == 0
    assert affine_form(sp.expand((x + 1) ** 2)) is None    # not affine: left alone
    assert affine_form(x / symbol("k")) is None            # parameter slope: left alone


def test_a_channel_of_powers_matches_mpmath_and_takes_fewer_reductions():
    """HH-like rates: exp(-(V+65)/80), exp(-(V+65)/20) = t^4, exp(-(V+60)/40) = e^(1/8) t^2."""
    m = symbol("m")
    spec = ChannelSpec("IPow", {"g": 1.0},
                       (Gate("m", alpha=0.07 * sp.exp(-(V + 65) / 20),
                             beta=0.125 * sp.exp(-(V + 65) / 80) + 0.01 * sp.exp(-(V + 60) / 40)),),
                       current=symbol("g") * m * V)
    step = lower_channel(spec).functions["steady_state"]
    assert step.powers == 2 and step.reductions == 1
    cls = type("IPow", (Channel,), {"spec": spec})
    mp.mp.dps = 50
    for dtype in (np.float64, np.float32):
        V0 = np.linspace(-200, 200, 801).astype(dtype)
        ch = cls(V0.size, dtype=dtype.__name__)
        ch.reset_state(V0)
        worst = 0
        for i, v in enumerate(V0):
            vm = mp.mpf(float(v))
            al = mp.mpf("0.07") * mp.exp(-(vm + 65) / 20)
            be = (mp.mpf("0.125") * mp.exp(-(vm + 65) / 80)
                  + mp.mpf("0.01") * mp.exp(-(vm + 60) / 40))
            worst = max(worst, ulp_error(ch.m[i], al / (al + be), dtype))
        assert worst <= 32, (dtype, worst)
