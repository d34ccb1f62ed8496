"""Render kernel sets into source text through a back end and its template.

:func:`render_kernels` (a channel) and :func:`render_neuron` (a neuron) are the
end of the code generator: each returns a :class:`GeneratedSource` - the
source text plus the typed signatures of its kernels that the build and
runtime stages need (no SymPy in it).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import jinja2

from .backends import MAP, SCAN, Backend, get_backend
from .lowering import RATE_JACOBIANS, lower_channel
from .exp_constants import exp_constants
from .kernels import KernelSet, KernelSignature, channel_kernels
from .neuron import NeuronSpec, neuron_kernels
from .printing import PrintedFunction, check_dtype, float_literal, print_function
from .spec import ChannelSpec
from .tables import DEFAULT_DEGREE

RATE_MAX = {"float32": "1e18", "float64": "1e150"}
#: Loops shorter than this run on one thread (thread start-up costs more):
#: for kernels of plain arithmetic, and for kernels with transcendental calls.
OMP_THRESHOLD = 16384
OMP_THRESHOLD_TRANSCENDENTAL = 512

try:  # the installed version, when there is one
    from importlib.metadata import version as _version
    VERSION = _version("ionc")
except Exception:  # pragma: no cover - running from a source tree
    VERSION = "0+unknown"


def omp_threshold(transcendental: bool) -> int:
    """The loop length from which a kernel runs on all threads."""
    return OMP_THRESHOLD_TRANSCENDENTAL if transcendental else OMP_THRESHOLD


@dataclass(frozen=True)
class GeneratedSource:
    """Emitted source of one channel or neuron for one target and dtype, and its interface.

    ``kernels`` holds every kernel's typed signature by task; ``declarations``
    the FFI declarations (C target only).
    """

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
    count_nonfinite: str = "ionc_count_nonfinite"
    table_columns: tuple[str, ...] = ()      # method='table': the tabulated functions
    table_degree: int = 0                    # and their polynomials' degree
    extra: tuple[str, ...] = ()              # tasks beyond ffi.TASKS with XLA handlers

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


def header_context(name: str, dtype: str, singularities: list[str],
                   printed: list[PrintedFunction], table_terms: int = 0,
                   table_width: int = 0) -> dict:
    """What the per-element header (element.h.j2) needs: types, numerics, functions."""
    f32 = dtype == "float32"
    return dict(
        channel=name, dtype=dtype, version=VERSION, real="float" if f32 else "double",
        rate_max=RATE_MAX[dtype], suffix="f" if f32 else "",
        vector_math=[f + ("f" if f32 else "") for f in ("exp", "expm1")],
        **{f"libm_{f}": f + ("f" if f32 else "") for f in ("exp", "expm1", "fma")},
        zero=float_literal(0, dtype), one=float_literal(1, dtype), two=float_literal(2, dtype),
        **exp_constants(dtype),
        singularities=singularities, table_terms=table_terms, table_width=table_width,
        functions=[dict(name=f.name, inputs=f.inputs, locals=f.locals, outputs=f.outputs,
                        loop=f.loop, doc=f.doc, parameters=_c_parameters(f)) for f in printed])


def math_header(dtype: str) -> str:
    """The per-element header without a channel: ionc's numerics for ``dtype``
    (``ionc_exp``, ``ionc_expm1``, ``ionc_exprelr``, ``ionc_capped_rate``)."""
    dtype = check_dtype(dtype)
    return _ENV.get_template("element.h.j2").render(**header_context("ionc", dtype, [], []))


def render_set(kernel_set: KernelSet, backend: Backend, dtype: str,
               table_degree: int = 0) -> tuple[str, str]:
    """``(source, FFI declarations)`` of ``kernel_set`` for ``backend`` and ``dtype``
    (with a rate table of polynomials of ``table_degree`` when the set has one)."""
    printer = backend.printer(dtype)
    printed = [print_function(fn, printer) for fn in kernel_set.functions]
    real = "float" if dtype == "float32" else "double"

    def lines(statements, context):
        return [backend.statement(s, context) for s in statements]

    def guard(kernel, context):
        return backend.guard(kernel.guard, context) if kernel.guard else ""

    declaration = backend.declaration
    kernels = [dict(name=k.signature.name, args=list(k.signature.names),
                    declaration=declaration(k.signature),
                    prologue=lines(k.prologue, MAP), body=lines(k.body, MAP),
                    fast=lines(k.fast, MAP), guard=guard(k, MAP),
                    omp_threshold=omp_threshold(k.transcendental))
               for k in kernel_set.kernels.values()]
    scans = [dict(name=s.signature.name, args=list(s.signature.names),
                  declaration=declaration(s.signature), trace=s.trace, states=list(s.states),
                  prologue=lines(s.prologue, SCAN), step=lines(s.step, SCAN),
                  fast=lines(s.fast, SCAN), guard=guard(s, SCAN),
                  records=[dict(name=r, lines=lines(body, SCAN)) for r, body in s.records],
                  counter=s.counter, omp_threshold=omp_threshold(s.transcendental))
             for s in kernel_set.scans.values()]
    thresholds = {task: omp_threshold(k.transcendental)
                  for task, k in {**kernel_set.kernels, **kernel_set.scans}.items()}
    terms = table_degree + 1 if kernel_set.table_columns else 0
    context = dict(header_context(kernel_set.name, dtype, list(kernel_set.notes), printed,
                                  terms, terms * len(kernel_set.table_columns)),
                   count_nonfinite=kernel_set.count_nonfinite, omp_threshold=OMP_THRESHOLD,
                   kernels=kernels, scans=scans,
                   **backend.context(kernel_set.signatures, dtype, thresholds,
                                     kernel_set.extra))
    source = _ENV.get_template(backend.template).render(**context)
    return source, backend.cdefs(kernel_set.signatures.values(), real)


@lru_cache(maxsize=None)
def _render_channel(spec: ChannelSpec, target: str, dtype: str, method: str,
                    array_params: frozenset, table_degree: int,
                    jacobians: bool | str) -> GeneratedSource:
    backend = get_backend(target)
    model = lower_channel(spec, method, jacobians)
    kernel_set = channel_kernels(model, array_params)
    source, declarations = render_set(kernel_set, backend, dtype, table_degree)
    return GeneratedSource(spec.name, backend.name, dtype, method, source, declarations,
                           kernel_set.signatures, model.gate_names, model.parameter_names,
                           tuple(model.rates), array_params, kernel_set.count_nonfinite,
                           kernel_set.table_columns, table_degree, kernel_set.extra)


def render_kernels(spec: ChannelSpec, target: str = "c", dtype: str = "float64",
                   method: str = "exp_auto", array_params=frozenset(),
                   table_degree: int | None = None,
                   jacobians: bool | str | None = None) -> GeneratedSource:
    """Emit the kernels of ``spec`` for ``target`` (``'c'``, ``'cuda'`` or ``'numpy'``).

    ``array_params`` names the parameters given per neuron; the others are
    scalar kernel arguments, and quantities depending only on them are
    computed once per call.  ``method='table'`` adds the rate table's fast step
    (polynomials of ``table_degree``, by default :data:`.tables.DEFAULT_DEGREE`);
    the table itself is a kernel argument (:func:`.tables.build_table`).
    ``jacobians`` adds the exact Jacobian kernels (by default for the XLA targets,
    whose derivatives use them; ``ionc.jax`` asks for them in the C source it links);
    ``'rates'`` adds each rate's too, and an XLA target then has handlers for the rates.
    """
    dtype = check_dtype(dtype)
    degree = 0
    if method == "table":
        degree = DEFAULT_DEGREE[dtype] if table_degree is None else int(table_degree)
    backend = get_backend(target).name
    if jacobians is None:
        jacobians = backend.startswith("xla")
    return _render_channel(spec, backend, dtype, method, frozenset(array_params), degree,
                           jacobians if jacobians == RATE_JACOBIANS else bool(jacobians))


@lru_cache(maxsize=None)
def _render_neuron(spec: NeuronSpec, target: str, dtype: str, method: str,
                   array_params: frozenset) -> GeneratedSource:
    backend = get_backend(target)
    kernel_set = neuron_kernels(spec, method, array_params)
    source, declarations = render_set(kernel_set, backend, dtype)
    states = tuple(p.key for p in kernel_set.kernels["update"].signature.parameters
                   if p.role == "state")
    return GeneratedSource(spec.name, backend.name, dtype, method, source, declarations,
                           kernel_set.signatures, states, (), (), array_params,
                           kernel_set.count_nonfinite)


def render_neuron(spec: NeuronSpec, target: str = "c", dtype: str = "float64",
                  method: str = "exp_auto", array_params=frozenset()) -> GeneratedSource:
    """Emit the fused kernels of neuron ``spec``: ``update`` (one step) and ``run`` (a
    trace).  ``array_params`` names the parameters given per neuron (``'INa.g_max'``,
    ``'C'``)."""
    return _render_neuron(spec, get_backend(target).name, check_dtype(dtype), method,
                          frozenset(array_params))
