"""The kernel IR: typed signatures and loops of element-function calls.

A kernel is a loop over ``n`` elements.  Its :class:`KernelSignature` lists
typed parameters - each knows its kind (the element count, an int64
scalar, a scalar of the real type, an input array, an in-out state, an
output, a flag or counter array), its identifier in the source and what it
binds to (a role and the user's name) - and every back end derives its
declarations from it, and the runtime its argument casts.  The loop body is a
list of statements (:class:`Call`, :class:`Store`, :class:`Crossing`) over
:class:`Ref` operands that say *where* a value lives (a scalar argument, an
element of an array, a state, a step of a trace, a local, a record), not how
a target spells that; the back end does (:mod:`.backends`).

:class:`MapKernel` is one pass over the elements (update, steady state,
current, ...); :class:`ScanKernel` runs all steps of an input trace with the
states held locally (the fused ``run``).  :func:`channel_kernels` builds
them for a channel; :mod:`.neuron` for a neuron.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .elements import ChannelModel, ElementFunction, table_inputs
from .spec import SpecError

#: Kinds of kernel parameters.
COUNT, INT, REAL = "count", "int", "real"            # int64 n, int64 scalar, real scalar
IN, INOUT, OUT = "in", "inout", "out"                # real arrays
FLAGS, COUNTS = "flags", "counts"                    # uint8 flags written, int32 counters
TABLE = "table"                                      # real array of any length, read only
SCALAR_KINDS = (COUNT, INT, REAL)
#: Element type of each array kind.
ELEMENT_TYPES = {IN: "real", INOUT: "real", OUT: "real", FLAGS: "uint8", COUNTS: "int32",
                 TABLE: "real"}

#: Roles: what a parameter binds to.
SIZE, STEPS, EVERY, STEP = "size", "steps", "every", "dt"
#: Elements between a trace's steps: n, or 0 for an input held constant over the steps.
STRIDE = "stride"
INPUT, STATE, PARAMETER, OUTPUT, RECORD, TRACE = (
    "input", "state", "parameter", "output", "record", "trace")
#: The rate table of ``method='table'`` (role ``'table'``): its coefficients, its range
#: ``[lo, hi]``, ``1/h`` and the index of its last interval, by key.
TABLE_PARAMETERS = (("ionc_table", TABLE, "coefficients"), ("ionc_table_lo", REAL, "lo"),
                    ("ionc_table_hi", REAL, "hi"), ("ionc_table_inv_h", REAL, "inv_h"),
                    ("ionc_table_last", INT, "last"))


@dataclass(frozen=True)
class KernelParameter:
    """One typed kernel parameter.

    ``name`` is its identifier in the source; ``kind`` its type class;
    ``role`` and ``key`` what the runtime binds to it (``('state', 'p')``,
    ``('parameter', 'g_max')``, ``('input', 'V')``); ``optional`` arrays may
    be NULL/None (records the caller did not ask for).
    """

    name: str
    kind: str
    role: str
    key: str
    optional: bool = False

    @property
    def is_array(self) -> bool:
        """True for arrays, False for scalars."""
        return self.kind not in SCALAR_KINDS

    @property
    def element_type(self) -> str:
        """``'real'``, ``'int64'``, ``'uint8'`` or ``'int32'``."""
        return ELEMENT_TYPES.get(self.kind, "int64" if self.kind in (COUNT, INT) else "real")


@dataclass(frozen=True)
class KernelSignature:
    """A kernel's identifier and its typed parameters (the first is the count ``n``)."""

    name: str
    parameters: tuple[KernelParameter, ...]

    def parameter(self, role: str, key: str) -> KernelParameter:
        """The parameter bound to ``(role, key)`` (KeyError otherwise)."""
        for p in self.parameters:
            if p.role == role and p.key == key:
                return p
        raise KeyError(f"{self.name} has no parameter for {role} {key!r}")

    @property
    def names(self) -> tuple[str, ...]:
        """The identifiers, in order."""
        return tuple(p.name for p in self.parameters)


# ---- statements -------------------------------------------------------------
#: Where a value lives: a scalar argument or hoisted local, an element of an
#: array, a state (buffered in scans), the current step of the trace, a
#: per-element local, or the current row of a record.
WHERE = ("scalar", "element", "state", "trace", "local", "record")


@dataclass(frozen=True)
class Ref:
    """An operand: identifier ``name`` living ``where`` (see :data:`WHERE`)."""

    name: str
    where: str


@dataclass(frozen=True)
class Call:
    """``outputs = function(inputs)``; outputs that are locals are declared."""

    function: str
    inputs: tuple[Ref, ...]
    outputs: tuple[Ref, ...]


@dataclass(frozen=True)
class Store:
    """``target = source``."""

    target: Ref
    source: Ref


@dataclass(frozen=True)
class Crossing:
    """``target = before < threshold and after >= threshold`` (an upward crossing,
    computed without a short circuit so that loops stay branch-free)."""

    target: Ref
    before: Ref
    after: Ref
    threshold: Ref


@dataclass(frozen=True)
class Lookup:
    """``outputs = ionc_table(x)``: the polynomials of x's interval, one per output in
    the table's column order (:mod:`.tables`)."""

    x: Ref
    outputs: tuple[Ref, ...]


@dataclass(frozen=True)
class Guard:
    """Where a table applies: ``value`` (an input or a state) within ``[lo, hi]``.
    Elements outside run the exact ``body``; C decides per block of elements,
    CUDA per element, NumPy per call."""

    value: Ref
    lo: Ref = Ref("ionc_table_lo", "scalar")
    hi: Ref = Ref("ionc_table_hi", "scalar")


Statement = Union[Call, Store, Crossing, Lookup]


@dataclass(frozen=True)
class MapKernel:
    """One pass over the elements: ``prologue`` once (hoisted invariants), ``body``
    per element."""

    signature: KernelSignature
    prologue: tuple[Statement, ...]
    body: tuple[Statement, ...]
    transcendental: bool = True        # calls exp & co. (decides where threads pay off)
    guard: Guard | None = None         # with a table: where ``fast`` replaces ``body``
    fast: tuple[Statement, ...] = ()


@dataclass(frozen=True)
class Counter:
    """A per-step flag counted in windows of ``every`` steps (spikes)."""

    flag: str          # the local set by the step
    window: str        # record of the counts per window (may be NULL)
    total: str         # per-element total over the call (may be NULL)


@dataclass(frozen=True)
class ScanKernel:
    """All steps of an input trace in one call: the ``states`` stay local to the
    element across steps, ``trace`` is read one step at a time (``stride``
    elements apart: ``n``, or 0 for an input held constant), and every ``every``
    steps each record's statements run (a NULL record is skipped)."""

    signature: KernelSignature
    prologue: tuple[Statement, ...]
    states: tuple[str, ...]
    trace: str
    step: tuple[Statement, ...]
    records: tuple[tuple[str, tuple[Statement, ...]], ...]
    counter: Counter | None = None
    transcendental: bool = True
    guard: Guard | None = None         # with a table: where ``fast`` replaces ``step``
    fast: tuple[Statement, ...] = ()


@dataclass(frozen=True)
class KernelSet:
    """Element functions plus the kernels that call them: what a back end renders."""

    name: str                                     # the channel or neuron, for comments
    functions: tuple[ElementFunction, ...]
    kernels: dict[str, MapKernel]
    scans: dict[str, ScanKernel]
    notes: tuple[str, ...] = ()                   # comment lines (singularities removed)
    count_nonfinite: str = "ionc_count_nonfinite"
    table_columns: tuple[str, ...] = ()           # tabulated functions (method='table')
    extra: tuple[str, ...] = ()                   # more tasks with XLA handlers

    @property
    def signatures(self) -> dict[str, KernelSignature]:
        """Every kernel's signature by task."""
        out = {task: k.signature for task, k in self.kernels.items()}
        out.update({task: k.signature for task, k in self.scans.items()})
        return out


def ordered(parameters: list[KernelParameter]) -> tuple[KernelParameter, ...]:
    """``n`` first, then scalars, then arrays (each group in the given order)."""
    n = KernelParameter("n", COUNT, SIZE, "n")
    return (n, *(p for p in parameters if not p.is_array), *(p for p in parameters if p.is_array))


# ---- channels ---------------------------------------------------------------

def _binding(model: ChannelModel, identifier: str, array_params: frozenset
             ) -> tuple[str, str, str]:
    """``(role, key, where)`` of an element-function input of ``model``."""
    table = model.table
    if identifier == "dt":
        return STEP, "dt", "scalar"
    if identifier in {s.name for s in model.derived}:
        return "derived", identifier, "scalar"
    name = table.user_name(identifier)
    entry = table[name]
    if entry.kind == "parameter":
        return PARAMETER, name, ("element" if name in array_params else "scalar")
    if entry.kind == "input":
        return INPUT, name, "element"
    if entry.kind == "state":
        return STATE, name, "state"
    raise SpecError(f"{model.spec.name}: {identifier} cannot be a kernel argument")


def _derived_calls(model: ChannelModel, fn: ElementFunction, array_params: frozenset
                   ) -> tuple[list[Call], list[Call]]:
    """Calls of the temperature factors ``fn`` needs: hoisted, and per element."""
    hoisted, per_element = [], []
    needed = {s.name for s in fn.inputs}
    for sym in model.derived:
        if sym.name not in needed:
            continue
        factor = model.functions[sym.name]
        heterogeneous = any(_binding(model, s.name, array_params)[2] == "element"
                            for s in factor.inputs)
        ins = tuple(Ref(s.name, _binding(model, s.name, array_params)[2])
                    for s in factor.inputs)
        call = Call(factor.name, ins, (Ref(sym.name, "local"),))
        (per_element if heterogeneous else hoisted).append(call)
    return hoisted, per_element


def map_kernel(model: ChannelModel, task: str, outputs: dict[str, tuple[str, str, str]],
                array_params: frozenset, state_kind: str = IN) -> MapKernel:
    """A pass of element function ``task``; ``outputs`` maps each of its outputs to
    ``(kind, role, key)``.  Gates read by the function are ``state_kind``."""
    fn = model.functions[task]
    params: list[KernelParameter] = []
    ins = []
    for sym in fn.inputs:
        role, key, where = _binding(model, sym.name, array_params)
        ins.append(Ref(sym.name, where))
        if role == "derived":
            continue
        if role == STATE:
            kind = INOUT if sym.name in fn.output_names else state_kind
        elif where == "scalar":
            kind = REAL
        else:
            kind = IN
        params.append(KernelParameter(sym.name, kind, role, key))
    outs = []
    for name in fn.output_names:
        outs.append(Ref(name, "element"))
        if not any(p.name == name for p in params):
            kind, role, key = outputs[name]
            params.append(KernelParameter(name, kind, role, key))
    hoisted, per_element = _derived_calls(model, fn, array_params)
    guard, fast = None, ()
    if task == "update" and model.method == "table":
        params += _table_parameters()
        guard = Guard(Ref("V", "element"))
        fast = _table_step(model, Ref("V", "element"), "state")
    signature = KernelSignature(f"ionc_{fn.name[len('ionc_f_'):]}_kernel", ordered(params))
    return MapKernel(signature, tuple(hoisted),
                     tuple(per_element) + (Call(fn.name, tuple(ins), tuple(outs)),),
                     transcendental=bool(fn.transcendentals), guard=guard, fast=fast)


def _table_parameters() -> list[KernelParameter]:
    """The rate table's kernel parameters (:data:`TABLE_PARAMETERS`)."""
    return [KernelParameter(name, kind, TABLE, key) for name, kind, key in TABLE_PARAMETERS]


def _table_step(model: ChannelModel, v: Ref, where: str, prefix: str = "") -> tuple:
    """A step of every gate from the table: look up, then ``g + (inf - g) frac``."""
    fn = model.functions["update_table"]
    values = tuple(Ref(prefix + s.name, "local") for s in table_inputs(model.spec, model.table))
    gates = tuple(Ref(prefix + model.table.identifier(g), where) for g in model.gate_names)
    return (Lookup(v, values), Call(fn.name, gates + values, gates))


def _run_kernel(model: ChannelModel, array_params: frozenset) -> ScanKernel:
    """The fused multi-step kernel over a voltage trace ``V[steps][n]``."""
    update, current = model.functions["update"], model.functions["current"]
    table = model.table
    gates = tuple(table.identifier(g) for g in model.gate_names)

    def ref(sym_name: str) -> Ref:
        role, _, where = _binding(model, sym_name, array_params)
        return Ref(sym_name, "trace" if sym_name == "V" else where)

    params = [KernelParameter("steps", INT, STEPS, "steps"),
              KernelParameter("every", INT, EVERY, "every"),
              KernelParameter("stride", INT, STRIDE, "stride"),
              KernelParameter("dt", REAL, STEP, "dt")]
    params += [KernelParameter(table.identifier(p), REAL, PARAMETER, p)
               for p in model.parameter_names if p not in array_params]
    params.append(KernelParameter("V", IN, TRACE, "V"))
    params += [KernelParameter(table.identifier(i), IN, INPUT, i) for i in model.input_names[1:]]
    params += [KernelParameter(g, INOUT, STATE, name) for g, name in zip(gates, model.gate_names)]
    params += [KernelParameter(table.identifier(p), IN, PARAMETER, p)
               for p in model.parameter_names if p in array_params]
    params += [KernelParameter(f"rec_{g}", OUT, RECORD, name, optional=True)
               for g, name in zip(gates, model.gate_names)]
    params.append(KernelParameter("rec_I", OUT, RECORD, "I", optional=True))
    hoisted, per_element = _derived_calls(model, update, array_params)
    step = tuple(per_element) + (Call(update.name, tuple(ref(s.name) for s in update.inputs),
                                      tuple(Ref(g, "state") for g in gates)),)
    records = [(f"rec_{g}", (Store(Ref(f"rec_{g}", "record"), Ref(g, "state")),)) for g in gates]
    records.append(("rec_I", (Call(current.name, tuple(ref(s.name) for s in current.inputs),
                                   (Ref("rec_I", "record"),)),)))
    guard, fast = None, ()
    if model.method == "table":
        params += _table_parameters()
        guard = Guard(Ref("V", "trace"))
        fast = _table_step(model, Ref("V", "trace"), "state")
    return ScanKernel(KernelSignature("ionc_run_kernel", ordered(params)), tuple(hoisted),
                      gates, "V", step, tuple(records),
                      transcendental=bool(update.transcendentals), guard=guard, fast=fast)


def _extra_tasks(model: ChannelModel, kernels: dict) -> tuple[str, ...]:
    """Where the rates have Jacobians (the library ``ionc.jax`` builds for rate calls):
    the rates, their Jacobians and each state's derivative, as XLA handlers too."""
    if not any(f"jacobian_{r}" in kernels for r in model.rates):
        return ()
    return (*model.rates, *(f"jacobian_{r}" for r in model.rates if f"jacobian_{r}" in kernels),
            *(f"d{g}" for g in model.gate_names))


def channel_kernels(model: ChannelModel, array_params: frozenset = frozenset()) -> KernelSet:
    """Every kernel of ``model`` for the given per-neuron parameters."""
    unknown = set(array_params) - set(model.parameter_names)
    if unknown:
        raise ValueError(f"{model.spec.name} has no parameter(s) {sorted(unknown)}")
    table = model.table
    fns = model.functions
    gate_id = {g: table.identifier(g) for g in model.gate_names}
    kernels = {"update": map_kernel(model, "update", {}, array_params)}
    if "steady_state" in fns:
        kernels["steady_state"] = map_kernel(
            model, "steady_state", {gate_id[g]: (OUT, STATE, g) for g in model.gate_names},
            array_params)
    kernels["current"] = map_kernel(model, "current", {"I": (OUT, OUTPUT, "I")}, array_params)
    for task, entries in model.jacobians.items():        # keys "out/variable"
        kernels[task] = map_kernel(
            model, task, {name: (OUT, OUTPUT, f"{out}/{x}") for name, out, x in entries},
            array_params)
    for rate in model.rates:
        sym = model.rate_symbol(rate).name
        kernels[rate] = map_kernel(model, rate, {sym: (OUT, OUTPUT, rate)}, array_params)
    for g in model.gate_names:
        kernels[f"d{g}"] = map_kernel(model, f"d{g}", {f"d{gate_id[g]}": (OUT, OUTPUT, f"d{g}")},
                                       array_params)
    functions = tuple(fns.values())
    notes = tuple(str(s) for s in model.singularities)
    columns = (tuple(f"{role}_{g}" for g in model.gate_names for role in ("inf", "frac"))
               if model.method == "table" else ())
    return KernelSet(model.spec.name, functions, kernels,
                     {"run": _run_kernel(model, array_params)}, notes,
                     table_columns=columns, extra=_extra_tasks(model, kernels))
