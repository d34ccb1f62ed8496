"""Kernels: element functions mapped over arrays, with their argument lists.

A :class:`Kernel` says which arguments are scalars and which are arrays
(the *layout*: a parameter is a scalar unless the user gave it per neuron),
which derived quantities are loop invariants (hoisted before the loop) and
which must be computed per element.  The argument order of every kernel is
``n, scalars..., arrays...`` and is recorded here so that the runtime can
call any target the same way.
"""
from __future__ import annotations

from dataclasses import dataclass

from .elements import ChannelModel, ElementFunction
from .spec import V, dt

#: Kinds of kernel arguments.
SCALAR, IN, INOUT, OUT = "scalar", "in", "inout", "out"


@dataclass(frozen=True)
class KernelArg:
    """One kernel argument: its name and kind (scalar, in, inout, out)."""

    name: str
    kind: str

    @property
    def is_array(self) -> bool:
        """True for per-element arrays, False for scalars."""
        return self.kind != SCALAR


@dataclass(frozen=True)
class Kernel:
    """One loop over ``n`` elements calling ``element`` at each."""

    name: str
    task: str
    element: ElementFunction
    args: tuple[KernelArg, ...]
    hoisted: tuple[ElementFunction, ...]       # derived values computed before the loop
    per_element: tuple[ElementFunction, ...]   # derived values computed in the loop

    @property
    def arrays(self) -> tuple[str, ...]:
        """Names of the array arguments, in order."""
        return tuple(a.name for a in self.args if a.is_array)

    @property
    def scalars(self) -> tuple[str, ...]:
        """Names of the scalar arguments, in order."""
        return tuple(a.name for a in self.args if not a.is_array)


def _kernel(model: ChannelModel, task: str, element: ElementFunction, inputs_kind: dict,
            outputs: dict, array_params: frozenset) -> Kernel:
    derived_names = {s.name for s in model.derived}
    args: list[KernelArg] = []
    for sym in element.inputs:
        if sym.name in derived_names:
            continue
        if sym.name in model.parameter_names:
            kind = IN if sym.name in array_params else SCALAR
        else:
            kind = inputs_kind[sym.name]
        args.append(KernelArg(sym.name, kind))
    for name, kind in outputs.items():
        if not any(a.name == name for a in args):
            args.append(KernelArg(name, kind))
    scalars = [a for a in args if not a.is_array]
    arrays = [a for a in args if a.is_array]
    hoisted, per_element = [], []
    for sym in model.derived:
        if any(s.name == sym.name for s in element.inputs):
            fn = model.functions[sym.name]
            heterogeneous = any(s.name in array_params for s in fn.inputs)
            (per_element if heterogeneous else hoisted).append(fn)
    return Kernel(f"{element.name}_kernel", task, element, tuple(scalars + arrays),
                  tuple(hoisted), tuple(per_element))


def channel_kernels(model: ChannelModel, array_params: frozenset = frozenset()
                    ) -> dict[str, Kernel]:
    """Every kernel of ``model`` for the given per-neuron parameters, by task."""
    unknown = set(array_params) - set(model.parameter_names)
    if unknown:
        raise ValueError(f"{model.spec.name} has no parameter(s) {sorted(unknown)}")
    fns = model.functions
    gates = model.gate_names
    kernels = {
        "update": _kernel(model, "update", fns["update"],
                          {V.name: IN, dt.name: SCALAR, **{g: INOUT for g in gates}},
                          {g: INOUT for g in gates}, array_params),
        "steady_state": _kernel(model, "steady_state", fns["steady_state"], {V.name: IN},
                                {g: OUT for g in gates}, array_params),
        "current": _kernel(model, "current", fns["current"],
                           {V.name: IN, **{g: IN for g in gates}}, {"I": OUT}, array_params),
    }
    for rate in model.rates:
        kernels[rate] = _kernel(model, rate, fns[rate], {V.name: IN}, {rate: OUT}, array_params)
    for g in gates:
        kernels[f"d{g}"] = _kernel(model, f"d{g}", fns[f"d{g}"], {V.name: IN, g: IN},
                                   {f"d{g}": OUT}, array_params)
    return kernels
