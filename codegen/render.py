"""Render kernels into source text through the Jinja2 templates.

:func:`render_kernels` is the end of the code generator: it returns a
:class:`GeneratedSource` - the source text plus the plain-data description of
its kernels that the build and runtime stages need (no SymPy in it).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import jinja2

from .elements import ChannelModel, lower_channel
from .kernels import IN, INOUT, OUT, SCALAR, Kernel, channel_kernels
from .exp_constants import exp_constants
from .printing import (PrintedFunction, check_dtype, float_literal, make_printer,
                       print_function)
from .spec import ChannelSpec

TARGETS = ("c", "cuda", "numpy")
RATE_MAX = {"float32": "1e18", "float64": "1e150"}
#: Loops shorter than this run on one thread (thread start-up costs more):
#: for kernels of plain arithmetic, and for kernels with transcendental calls.
OMP_THRESHOLD = 16384
OMP_THRESHOLD_TRANSCENDENTAL = 512


def omp_threshold(fn) -> int:
    """The loop length from which ``fn``'s kernel runs on all threads."""
    return OMP_THRESHOLD_TRANSCENDENTAL if fn.transcendentals else OMP_THRESHOLD

try:  # the installed version, when there is one
    from importlib.metadata import version as _version
    VERSION = _version("ionc")
except Exception:  # pragma: no cover - running from a source tree
    VERSION = "0+unknown"


@dataclass(frozen=True)
class KernelSignature:
    """Name and ``(name, kind)`` arguments of one compiled kernel (after ``n``)."""

    name: str
    args: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class GeneratedSource:
    """Emitted source of one channel for one target and dtype, and its interface."""

    channel: str
    target: str
    dtype: str
    method: str
    source: str
    declarations: str
    kernels: dict[str, KernelSignature]
    gates: tuple[str, ...]
    parameters: tuple[str, ...]
    rates: tuple[str, ...]
    array_params: frozenset = field(default_factory=frozenset)
    count_nan: str = ""

    @property
    def hash(self) -> str:
        """Content hash of the source (16 hex digits)."""
        return hashlib.sha256(self.source.encode()).hexdigest()[:16]


def _environment() -> jinja2.Environment:
    loader = jinja2.FunctionLoader(
        lambda name: resources.files("ionc.templates").joinpath(name).read_text())
    return jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, autoescape=False)


_ENV = _environment()


def _c_parameters(fn: PrintedFunction) -> str:
    ins = [f"real {name}" for name in fn.inputs]
    outs = [f"real *IONC_RESTRICT out_{name}" for name, _ in fn.outputs]
    return ", ".join(ins + outs)


def _c_declaration(k: Kernel, real: str, restrict: str = "IONC_RESTRICT") -> str:
    decl = ["int64_t n"]
    for a in k.args:
        if a.kind == SCALAR:
            decl.append(f"{real} {a.name}")
        elif a.kind in (OUT, INOUT):
            decl.append(f"{real} *{restrict} {a.name}".replace("* ", "*"))
        else:
            decl.append(f"const {real} *{restrict} {a.name}".replace("* ", "*"))
    return f"void {k.name}({', '.join(decl)})"


def _element_call(fn, k: Kernel, target: str) -> str:
    """One call of element function ``fn`` inside kernel ``k``: arrays indexed by ``i``."""
    arrays = set(k.arrays)
    element = "[...]" if target == "numpy" else "[i]"
    index = {} if target == "numpy" else {a: f"{a}[i]" for a in arrays}
    outputs = {o: f"{o}{element}" for o in fn.output_names if o in arrays}
    return _call_with(fn, index, outputs, target)


def _loop_lines(k: Kernel, target: str) -> tuple[list[str], list[str]]:
    """Statements before the loop (hoisted invariants) and inside it."""
    return ([_element_call(f, k, target) for f in k.hoisted],
            [_element_call(f, k, target) for f in (*k.per_element, k.element)])


def _call_with(fn, index: dict, outputs: dict, target: str) -> str:
    """A call of ``fn`` whose inputs and outputs are spelled by ``index``/``outputs``."""
    ins = [index.get(s.name, s.name) for s in fn.inputs]
    outs = [outputs.get(o, o) for o in fn.output_names]
    if target == "numpy":
        return (f"{', '.join(outs)}, = " if outs else "") + f"{fn.name}({', '.join(ins)})"
    decl = "".join(f"real {o}; " for o in fn.output_names if o not in outputs)
    return decl + f"{fn.name}({', '.join(ins + ['&' + o for o in outs])});"


def _run_kernel(update: Kernel, current: Kernel, gates, target: str) -> tuple[dict, KernelSignature]:
    """The fused multi-step kernel: all steps of a voltage trace in one call.

    Gates stay in a block-local buffer (registers/L1) across steps; only the
    recorded quantities (any of the gates and the current, every ``every``
    steps; a NULL/None record is skipped) are written.
    """
    params = [a for a in update.args if a.name not in ("dt", "V", *gates)]
    array_params = [a.name for a in params if a.is_array]
    records = [f"rec_{g}" for g in gates] + ["rec_I"]
    args = ([("steps", "int"), ("every", "int"), ("dt", SCALAR)]
            + [(a.name, a.kind) for a in params if not a.is_array]
            + [("V", IN)] + [(g, INOUT) for g in gates] + [(p, IN) for p in array_params]
            + [(r, OUT) for r in records])
    if target == "cuda":
        at = "ionc_r * n + i"
        index = {"V": "ionc_V", **{g: f"ionc_g_{g}" for g in gates},
                 **{p: f"{p}[i]" for p in array_params}}
        gate_out = {g: f"ionc_g_{g}" for g in gates}
        rec_gate = {g: f"rec_{g}[{at}] = ionc_g_{g};" for g in gates}
        current_out = {"I": f"rec_I[{at}]"}
    elif target == "numpy":
        index = {"V": "ionc_Vs"}
        gate_out = {g: f"{g}[...]" for g in gates}
        rec_gate = {g: f"rec_{g}[ionc_r] = {g}" for g in gates}
        current_out = {"I": "rec_I[ionc_r]"}
    else:
        at = "ionc_r * n + ionc_i0 + ionc_j"
        index = {"V": "ionc_Vs[ionc_j]", **{g: f"ionc_b_{g}[ionc_j]" for g in gates},
                 **{p: f"{p}[ionc_i0 + ionc_j]" for p in array_params}}
        gate_out = {g: f"ionc_b_{g}[ionc_j]" for g in gates}
        rec_gate = {g: f"rec_{g}[{at}] = ionc_b_{g}[ionc_j];" for g in gates}
        current_out = {"I": f"rec_I[{at}]"}
    per_element = [_call_with(f, index, {}, target) for f in update.per_element]
    real_decl = {"int": "int64_t {}", SCALAR: "real {}", IN: "const real *IONC_RESTRICT {}",
                 INOUT: "real *IONC_RESTRICT {}", OUT: "real *IONC_RESTRICT {}"}
    name = update.name.replace("_update_kernel", "_run_kernel")
    context = dict(
        name=name, gates=list(gates), records=records, args=[a for a, _ in args],
        declaration=f"void {name}(int64_t n, "
                    + ", ".join(real_decl[k].format(a) for a, k in args) + ")",
        prologue=[_call_with(f, {}, {}, target) for f in update.hoisted],
        step=per_element + [_call_with(update.element, index, gate_out, target)],
        record_gates=rec_gate,
        record_current=[_call_with(f, index, {}, target) for f in current.per_element]
        + [_call_with(current.element, index, current_out, target)],
    )
    return context, KernelSignature(name, tuple(args))


def header_context(name: str, dtype: str, singularities: list[str],
                   printed: list[PrintedFunction]) -> dict:
    """What the per-element header (element.h.j2) needs: types, numerics, functions."""
    f32 = dtype == "float32"
    return dict(
        channel=name, dtype=dtype, version=VERSION, real="float" if f32 else "double",
        rate_max=RATE_MAX[dtype], suffix="f" if f32 else "",
        vector_math=[f + ("f" if f32 else "") for f in ("exp", "expm1")],
        **{f"libm_{f}": f + ("f" if f32 else "") for f in ("exp", "expm1", "fma")},
        zero=float_literal(0, dtype), one=float_literal(1, dtype), two=float_literal(2, dtype),
        **exp_constants(dtype),
        singularities=singularities,
        functions=[dict(name=f.name, inputs=f.inputs, locals=f.locals, outputs=f.outputs,
                        doc=f.doc, parameters=_c_parameters(f)) for f in printed])


def math_header(dtype: str) -> str:
    """The per-element header without a channel: ionc's numerics for ``dtype``
    (``ionc_exp``, ``ionc_expm1``, ``ionc_exprelr``, ``ionc_capped_rate``)."""
    dtype = check_dtype(dtype)
    return _ENV.get_template("element.h.j2").render(**header_context("ionc", dtype, [], []))


@lru_cache(maxsize=None)
def _render_cached(spec: ChannelSpec, target: str, dtype: str, method: str,
                   array_params: frozenset) -> GeneratedSource:
    model: ChannelModel = lower_channel(spec, method)
    kernels = channel_kernels(model, array_params)
    lang = "numpy" if target == "numpy" else target
    printer = make_printer(lang, dtype)
    wide = frozenset(spec.intermediates)
    printed = [print_function(fn, printer, wide) for fn in model.functions.values()]
    real = "float" if dtype == "float32" else "double"
    context = dict(
        header_context(spec.name, dtype, [str(s) for s in model.singularities], printed),
        prefix=model.prefix, omp_threshold=OMP_THRESHOLD, kernels=[])
    for k in kernels.values():
        prologue, body = _loop_lines(k, lang)
        context["kernels"].append(dict(
            name=k.name, args=[a.name for a in k.args], prologue=prologue, body=body,
            declaration=_c_declaration(k, "real"), omp_threshold=omp_threshold(k.element)))
    run, run_signature = _run_kernel(kernels["update"], kernels["current"], model.gate_names,
                                     lang)
    context["run"] = dict(run, omp_threshold=omp_threshold(kernels["update"].element))
    template = {"c": "kernel.c.j2", "cuda": "kernel.cu.j2", "numpy": "kernel.py.j2"}[target]
    source = _ENV.get_template(template).render(**context)
    count_nan = (f"void {model.prefix}_count_nan(int64_t n, const {real} *V, "
                 f"unsigned long long *count);" if target == "cuda" else
                 f"int64_t {model.prefix}_count_nan(int64_t n, const {real} *V);")
    declarations = "\n".join(
        [count_nan]
        + [_c_declaration(k, real, restrict="").replace(" *", " *") + ";"
           for k in kernels.values()]
        + [run["declaration"].replace("IONC_RESTRICT ", "").replace("real", real) + ";"])
    signatures = {task: KernelSignature(k.name, tuple((a.name, a.kind) for a in k.args))
                  for task, k in kernels.items()}
    signatures["run"] = run_signature
    return GeneratedSource(spec.name, target, dtype, method, source, declarations, signatures,
                           model.gate_names, model.parameter_names, tuple(model.rates),
                           array_params, f"{model.prefix}_count_nan")


def render_kernels(spec: ChannelSpec, target: str = "c", dtype: str = "float64",
                   method: str = "exp_auto", array_params=frozenset()) -> GeneratedSource:
    """Emit the kernels of ``spec`` for ``target`` (``'c'`` or ``'numpy'``).

    ``array_params`` names the parameters given per neuron; the others are
    scalar kernel arguments, and quantities depending only on them are
    computed once per call.
    """
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; known: {TARGETS}")
    return _render_cached(spec, target, check_dtype(dtype), method, frozenset(array_params))
