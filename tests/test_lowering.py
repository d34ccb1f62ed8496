"""The lowering passes (codegen/lowering.py), one at a time: each is a function of the IR
and is checked on what it alone adds."""
import pytest
import sympy as sp

from ionc.codegen import SpecError, V, dt, get_channel, spec_from_strings, symbol
from ionc.codegen.lowering import (assign_names, currents, derivatives, element_functions,
                                   integrate, lower_channel, lower_rates, remove_singularities,
                                   state_equations, tables)


def _spec(gates=None, current="g*m**3*h*s*(E - V)"):
    return spec_from_strings(
        "Passes", {"g": 2.0, "E": 50.0, "th": 3.0, "k": 4.0},
        gates or {"m": {"alpha": "0.1*(V + 40)/(1 - exp(-(V + 40)/10))", "beta": "4*exp(-V/18)",
                        "power": 3},
                  "h": {"inf": "1/(1 + exp((V + 60)/k))", "tau": "th"},
                  "s": {"ode": "(1/(1 + exp(-V)) - s)/2"}},
        current=current, temperature_factor="3**((36 - 6.3)/10)")


def _through(step, spec=None, method="exp_auto"):
    """The IR after every pass up to and including ``step``."""
    low = remove_singularities(spec or _spec(), method)
    for p in (assign_names, lower_rates, state_equations, integrate, currents,
              element_functions, derivatives, tables):
        low = p(low)
        if p is step:
            return low
    raise AssertionError(step)


def test_remove_singularities_rewrites_the_removable_point_and_refuses_a_pole():
    low = remove_singularities(_spec())
    (s,) = low.report.removable
    assert s.location == -40
    assert low.rewritten["alpha_m"] != _spec().gates[0].alpha      # the 0/0 is guarded
    with pytest.raises(SpecError, match="non-removable"):
        remove_singularities(_spec({"m": {"alpha": "1/(2 - exp(V/10))", "beta": "1"}},
                                  "g*m*(E - V)"))


def test_assign_names_renames_every_user_symbol_in_the_current():
    low = assign_names(remove_singularities(_spec()))
    names = {s.name for s in low.current.free_symbols}
    assert {"u_g", "u_E", "u_m", "u_h", "u_s", "V"} <= names
    assert not names & {"g", "E", "m", "h", "s"}


def test_lower_rates_names_each_role_and_derives_inf_tau_of_a_linear_ode():
    low = _through(lower_rates)
    assert {"alpha_m", "beta_m", "inf_h", "tau_h", "inf_s", "tau_s"} <= set(low.rates)
    assert low.rates["tau_s"] == 2 and low.rates["tau_h"] == symbol("u_th")
    assert sp.simplify(low.rates["inf_s"] - 1 / (1 + sp.exp(-V))) == 0
    (phi,) = low.derived
    assert all(low.factors[g] == phi for g in "mhs")


def test_state_equations_turn_every_gate_kind_into_one_ode():
    low = _through(state_equations)
    t = low.table
    m, h = t.internal("m"), t.internal("h")
    a, b = low.rate_symbol("alpha_m"), low.rate_symbol("beta_m")
    inf, tau = low.rate_symbol("inf_h"), low.rate_symbol("tau_h")
    (phi,) = low.derived
    assert sp.expand(low.odes["m"] - phi * (a * (1 - m) - b * m)) == 0
    assert sp.simplify(low.odes["h"] - phi * (inf - h) / tau) == 0
    assert set(low.odes) == {"m", "h", "s"}


def test_integrate_steps_each_state_exactly_and_fixes_its_steady_state():
    low = _through(integrate)
    t = low.table
    steps = dict(low.steps)
    s, (phi,) = t.internal("s"), low.derived
    inf = 1 / (1 + sp.exp(-V))
    exact = inf + (s - inf) * sp.exp(-phi * dt / 2)             # s' = (inf - s)/2, exactly
    value = {s: 0.3, V: -1.3, phi: 1.5, dt: 0.1}
    assert abs(float(steps[t.identifier("s")].subs(value)) - float(exact.subs(value))) < 1e-15
    assert sp.simplify(low.steady["s"] - inf) == 0
    euler = _through(integrate, method="euler")
    assert sp.simplify(dict(euler.steps)[t.identifier("s")]
                       - (s + dt * euler.odes["s"])) == 0


def test_integrate_gives_no_steady_state_for_a_gate_not_linear_in_itself():
    low = _through(integrate, _spec({"w": {"ode": "w*(1 - w)/100 - w**2/500"}},
                                      "g*w*(E - V)"), method="euler")
    assert low.steady is None


def test_currents_give_the_conductance_as_minus_dI_dV():
    low = _through(currents)
    (_, current), = low.outputs["current"][0]
    (_, g), = low.outputs["conductance"][0]
    assert sp.simplify(g + sp.diff(current, V)) == 0
    assert set(low.outputs) == {"current", "conductance", "conductance_numeric"}


def test_element_functions_have_every_task_with_its_signature():
    low = _through(element_functions)
    assert {"update", "steady_state", "current", "dm", "dh", "ds", "alpha_m"} <= set(
        low.functions)
    update = low.functions["update"]
    assert update.inputs[:2] == (V, dt) and len(update.outputs) == 3
    assert low.functions["alpha_m"].inputs == low.signature("alpha_m")


def test_derivatives_are_the_exact_jacobian_of_the_current():
    low = _through(derivatives)
    entries = dict((n, (o, x)) for n, o, x in low.jacobians["jacobian_current"])
    fn = low.functions["jacobian_current"]
    by_var = {entries[n][1]: e for n, e in fn.outputs}
    t = low.table
    h = t.internal("h")
    (_, current), = low.outputs["current"][0]
    assert sp.simplify(by_var["h"] - sp.diff(current, h)) == 0
    assert "jacobian_update" in low.jacobians


def test_tables_add_the_table_step_only_under_the_table_method():
    assert "update_table" not in _through(tables).functions
    low = _through(tables, method="table")
    assert "update_table" in low.functions and low.functions["ionc_phi"].outputs


def test_lower_channel_runs_the_passes_into_one_model():
    model = lower_channel(get_channel("INa_Ba2002"))
    assert set(model.gate_names) == {"p", "q"} and "update" in model.functions
    assert lower_channel(get_channel("INa_Ba2002")) is model          # cached
