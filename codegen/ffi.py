"""The XLA FFI interface of a kernel: which of its parameters are buffers, results, attributes.

An XLA custom call passes *buffers* (operands and results, each with a shape
and a dtype) and static *attributes*.  :func:`ffi_interface` maps a typed
:class:`~.kernels.KernelSignature` onto that call, for the back end that writes
the handler (:class:`~.backends.XlaBackend`) and for the runtime that calls it
(``ionc.jax``), so both read one definition:

- real scalars (``dt``, scalar parameters) travel together in one operand,
  ``ionc_scalars`` (each buffer costs XLA some 20 ns a call), so that they may
  be traced values under ``jax.jit``; under ``jax.vmap`` it gets a batch axis
  and the handler runs the kernel once per batch member (a *chunk*);
- input arrays, states and per-neuron parameters are operands; a state is an
  operand and a result, aliased, so a step updates it without a copy;
- outputs are results (real, or a neuron's spike flags as uint8 and spike
  counts as int32); an optional record passed as a zero-size result is not
  written (a NULL pointer for the kernel);
- the element count ``n``, the trace's ``steps`` and the record interval
  ``every`` are attributes (static under ``jit``); ``stride`` is ``n``.
"""
from __future__ import annotations

from dataclasses import dataclass

from .kernels import (COUNT, COUNTS, EVERY, FLAGS, IN, INOUT, INT, OUT, REAL, STEPS, STRIDE,
                      TABLE, KernelParameter, KernelSignature)

#: The kernels that get a handler: what ``ionc.jax`` calls.
TASKS = ("steady_state", "update", "current", "run",
         "jacobian_update", "jacobian_steady_state", "jacobian_current")


def has_handler(task: str, extra=()) -> bool:
    """True when an XLA back end writes a handler for ``task``: one of :data:`TASKS`, or
    of a kernel set's ``extra`` tasks (its rates, their Jacobians and the states'
    derivatives, in the library ``ionc.jax`` builds for them)."""
    return task in TASKS or task in extra
#: Kinds of kernel parameter that are results of the call.
RESULT_KINDS = (INOUT, OUT, FLAGS, COUNTS)
#: The attributes every handler takes: elements per chunk, and 1 to refuse non-finite inputs.
ATTRIBUTES = ("n", "check_finite")
#: Attributes of a scan's handler besides: steps of the trace, and the record interval.
SCAN_ATTRIBUTES = ("steps", "every")


#: The operand that holds the real scalars, in :attr:`FfiInterface.scalars` order.
SCALARS = KernelParameter("ionc_scalars", IN, "scalars", "scalars")


@dataclass(frozen=True)
class FfiInterface:
    """Operands, results and attributes of one kernel's custom call, in call order.

    ``scalars`` are the kernel's real scalars, packed in this order into the
    first operand (:data:`SCALARS`) when there are any.  ``aliases`` maps an
    operand's index to the index of the result that shares its buffer (the
    states).
    """

    kernel: KernelSignature
    operands: tuple[KernelParameter, ...]
    results: tuple[KernelParameter, ...]
    attributes: tuple[str, ...]
    scalars: tuple[KernelParameter, ...] = ()

    @property
    def aliases(self) -> dict[int, int]:
        """``{operand index: result index}`` of the in-out states."""
        out = {}
        for i, p in enumerate(self.operands):
            if p.kind == INOUT:
                out[i] = self.results.index(p)
        return out

    @property
    def is_scan(self) -> bool:
        """True for a kernel over a trace (it takes ``steps``)."""
        return any(p.role == STEPS for p in self.kernel.parameters)


def ffi_interface(signature: KernelSignature) -> FfiInterface:
    """The custom call of ``signature`` (see the module's docstring).

    Raises ValueError for a kernel with parameters the call cannot carry (the
    rate table of ``method='table'``).
    """
    operands, results, scalars = [], [], []
    scan = False
    for p in signature.parameters:
        if p.kind == COUNT or p.role in (STRIDE, EVERY):
            continue
        if p.role == STEPS:
            scan = True
            continue
        if p.kind in (TABLE, INT):
            raise ValueError(f"{signature.name}: parameter {p.name} ({p.role} {p.key!r}) has "
                             "no XLA custom-call form yet (method='table' is not supported "
                             "on the XLA back end)")
        if p.kind == REAL:
            scalars.append(p)
        if p.kind in (IN, INOUT):
            operands.append(p)
        if p.kind in RESULT_KINDS:
            results.append(p)
    attributes = ATTRIBUTES + (SCAN_ATTRIBUTES if scan else ())
    if scalars:
        operands.insert(0, SCALARS)
    return FfiInterface(signature, tuple(operands), tuple(results), attributes, tuple(scalars))


def target_name(key: str, task: str) -> str:
    """The name a handler is registered under with XLA (unique per compiled library)."""
    return f"ionc_{key}_{task}"


def handler_symbol(task: str) -> str:
    """The exported C symbol of the handler of ``task``."""
    return f"ionc_xla_{task}"
