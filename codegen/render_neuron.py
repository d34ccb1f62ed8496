"""Render a neuron - channels plus membrane - into one C source with fused kernels.

The per-element functions of every channel (current, conductance, update,
temperature factors) and the membrane step are printed into the shared
header; the kernels call them in the order one exp_auto step needs: currents
and conductances at the old state, the membrane step, the gate updates at
the old V, then V and the spike flag are stored.
"""
from __future__ import annotations

from functools import lru_cache

from .elements import ChannelModel
from .kernels import IN, INOUT, OUT, SCALAR
from .neuron import NeuronModel, NeuronSpec, lower_neuron
from .printing import check_dtype, make_printer, print_function
from .render import (_ENV, OMP_THRESHOLD_TRANSCENDENTAL, GeneratedSource, KernelSignature,
                     _call_with, header_context)

#: Element functions of a channel that a neuron step calls.
NEURON_TASKS = ("current", "conductance", "update")


def _channel_names(label: str, m: ChannelModel, access, array_params) -> dict[str, str]:
    """How each input of ``m``'s element functions is spelled inside a neuron kernel."""
    names = {"V": access("V"), "dt": "dt"}
    for g in m.gate_names:
        names[g] = access(f"{label}_{g}")
    for p in m.parameter_names:
        full = f"{label}_{p}"
        names[p] = access(full) if full in array_params else full
    for sym in m.derived:
        names[sym.name] = f"{label}_{sym.name}"
    return names


def _step_lines(model: NeuronModel, access, store, array_params: frozenset,
                spike_out: str | None) -> tuple[list[str], list[str]]:
    """Statements before the element loop (hoisted factors) and of one element's step.

    ``access(name)`` reads state or array ``name`` of this element;
    ``store(name)`` is where its new value goes.
    """
    prologue, body, currents, conductances = [], [], [], []
    for label, m in model.channels.items():
        names = _channel_names(label, m, access, array_params)
        for sym in m.derived:
            fn = m.functions[sym.name]
            out = {sym.name: f"{label}_{sym.name}"}
            line = f"real {label}_{sym.name}; " + _call_with(fn, names, out, "c")
            per_element = any(f"{label}_{s.name}" in array_params for s in fn.inputs)
            (body if per_element else prologue).append(line)
        fns = m.functions
        body.append(f"real {label}_I, {label}_G;")
        body.append(_call_with(fns["current"], names, {"I": f"{label}_I"}, "c"))
        body.append(_call_with(fns["conductance"], names, {"G": f"{label}_G"}, "c"))
        currents.append(f"{label}_I")
        conductances.append(f"{label}_G")
    body.append(f"const real ionc_I = {' + '.join(currents)};")
    body.append(f"const real ionc_G = {' + '.join(conductances)};")
    membrane = {"V": access("V"), "dt": "dt", "I_ext": access("I_ext"),
                "C": access("C") if "C" in array_params else "C"}
    body.append("real ionc_Vn; " + _call_with(model.membrane, membrane, {"V": "ionc_Vn"}, "c"))
    for label, m in model.channels.items():
        if m.gate_names:
            names = _channel_names(label, m, access, array_params)
            outs = {g: store(f"{label}_{g}") for g in m.gate_names}
            body.append(_call_with(m.functions["update"], names, outs, "c"))
    V_th = access("V_th") if "V_th" in array_params else "V_th"
    if spike_out is not None:
        # "&", not "&&": no short circuit, so the loop stays branch-free and vectorises
        body.append(f"{spike_out} = ({access('V')} < {V_th}) & (ionc_Vn >= {V_th});")
    body.append(f"{store('V')} = ionc_Vn;")
    return prologue, body


def _arguments(model: NeuronModel, array_params: frozenset) -> tuple[list, list]:
    """Scalar parameters and per-neuron arrays (states inout, parameters in)."""
    params = [f"{label}_{p}" for label, m in model.channels.items() for p in m.parameter_names]
    params += list(model.spec.parameters)
    scalars = [(p, SCALAR) for p in params if p not in array_params]
    arrays = ([(s, INOUT) for s in model.states]
              + [(p, IN) for p in params if p in array_params])
    return scalars, arrays


_DECL = {"int": "int64_t {}", SCALAR: "real {}", IN: "const real *IONC_RESTRICT {}",
         INOUT: "real *IONC_RESTRICT {}", OUT: "real *IONC_RESTRICT {}",
         "flags": "unsigned char *IONC_RESTRICT {}", "counts": "int32_t *IONC_RESTRICT {}"}


def _declaration(name: str, args) -> str:
    return f"void {name}(int64_t n, " + ", ".join(_DECL[k].format(a) for a, k in args) + ")"


@lru_cache(maxsize=None)
def _render_neuron(spec: NeuronSpec, dtype: str, method: str,
                   array_params: frozenset) -> GeneratedSource:
    model = lower_neuron(spec, method)
    known = {f"{label}_{p}" for label, m in model.channels.items() for p in m.parameter_names}
    unknown = set(array_params) - known - set(spec.parameters)
    if unknown:
        raise ValueError(f"{spec.name} has no parameter(s) {sorted(unknown)}")
    printer = make_printer("c", dtype)
    printed = []
    for m in model.channels.values():
        wide = frozenset(m.spec.intermediates)
        printed += [print_function(m.functions[t], printer, wide) for t in NEURON_TASKS]
        printed += [print_function(m.functions[s.name], printer) for s in m.derived]
    printed.append(print_function(model.membrane, printer))
    singularities = [f"{label}: {s}" for label, m in model.channels.items()
                     for s in m.singularities]
    scalars, arrays = _arguments(model, array_params)
    gates = [s for s in model.states if s != "V"]
    array_names = {a for a, _ in arrays}

    def at(i: str):
        return lambda name: f"{name}[{i}]" if name in array_names | {"I_ext"} else name

    # one step: V[i], gates[i] in place; spike[i] set
    step = [("dt", SCALAR), *scalars, *arrays, ("I_ext", IN), ("spike", "flags")]
    update_name = f"{model.prefix}_update_kernel"
    prologue, body = _step_lines(model, at("i"), at("i"), array_params, "spike[i]")
    update = dict(name=update_name, declaration=_declaration(update_name, step),
                  prologue=prologue, body=body)

    # all steps of an input trace I_ext[steps][n], states in block-local buffers
    run_args = [("steps", "int"), ("every", "int"), ("dt", SCALAR), *scalars, *arrays,
                ("I_ext", IN), ("rec_V", OUT), ("rec_spike", "counts"),
                ("spike_count", "counts")]
    run_name = f"{model.prefix}_run_kernel"

    def block(name: str) -> str:
        if name in model.states:
            return f"ionc_b_{name}[ionc_j]"
        if name == "I_ext":
            return "ionc_Is[ionc_j]"
        return f"{name}[ionc_i0 + ionc_j]" if name in array_names else name

    run_prologue, run_body = _step_lines(model, block, block, array_params, "ionc_spiked")
    run = dict(name=run_name, declaration=_declaration(run_name, run_args),
               prologue=run_prologue, body=run_body, states=list(model.states))
    context = dict(header_context(spec.name, dtype, singularities, printed),
                   prefix=model.prefix, omp_threshold=OMP_THRESHOLD_TRANSCENDENTAL, update=update,
                   run=run)
    source = _ENV.get_template("neuron.c.j2").render(**context)
    real = context["real"]
    declarations = "\n".join(
        d["declaration"].replace("IONC_RESTRICT ", "").replace("real ", f"{real} ") + ";"
        for d in (update, run))
    signatures = {"update": KernelSignature(update_name, tuple(step)),
                  "run": KernelSignature(run_name, tuple(run_args))}
    return GeneratedSource(spec.name, "c", dtype, method, source, declarations, signatures,
                           tuple(gates), tuple(a for a, _ in scalars), (), array_params, "")


def render_neuron(spec: NeuronSpec, dtype: str = "float64", method: str = "exp_auto",
                  array_params=frozenset()) -> GeneratedSource:
    """Emit the C kernels of neuron ``spec``: ``update`` (one step) and ``run`` (a trace).

    ``array_params`` names the parameters given per neuron (``INa_g_max``, ``C``).
    """
    return _render_neuron(spec, check_dtype(dtype), method, frozenset(array_params))
