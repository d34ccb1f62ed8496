"""Ions in a cell: where each ion quantity a mechanism reads comes from.

A mechanism's :class:`~.spec.Ion` ports say what it reads (``eca``, ``cai``,
``cao``, ``ica``) and writes (a current of the ion, a concentration it
integrates).  :func:`wire_ions` joins the mechanisms of one cell the way NEURON
joins those inserted in one section:

- the current of an ion (``ica`` as a reader sees it, NEURON's mA/cm^2, outward
  positive) is the sum of the parts every mechanism's current carries;
- a concentration one mechanism writes is that mechanism's state, read by every
  other; one that nothing writes is a parameter of the cell (given in ``ions=``, else
  NEURON's default ``cai0_ca_ion`` etc.); two mechanisms writing one concentration are
  refused (NEURON lets the last writer win, with a warning: a cell whose result
  depends on the order its files were compiled in is a mistake worth an error);
- a reversal potential follows NEURON's default ``ion_style``: the Nernst potential at
  the cell's ``celsius`` when a mechanism reads or writes a concentration of the ion
  (each step when one is written, else constant), a parameter of the cell when ``ions=``
  gives it, else each mechanism's own value (NEURON's ``ena = 50``, ...).
- NEURON's ``celsius`` is one global: every mechanism's ``celsius`` parameter is the
  cell's.

The result is data (:class:`Wiring`); :mod:`.neuron` turns it into kernel operands.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import sympy as sp

from .spec import ChannelSpec, Ion, SpecError, symbol

#: NEURON's initial concentrations (mM): its ``cai0_ca_ion``, ``nao0_na_ion``, ...
NEURON_CONCENTRATIONS = {"cai": 5e-5, "cao": 2.0, "nai": 10.0, "nao": 140.0, "ki": 54.4,
                         "ko": 2.5}
#: NEURON's temperature (degC) when nothing sets ``celsius``.
NEURON_CELSIUS = 6.3
#: The gas constant (J/(K mol)) and Faraday's constant (C/mol) of NEURON 9 (CODATA 2018).
GAS_CONSTANT = sp.Rational("8.31446261815324")
FARADAY = sp.Rational("96485.33212331001")
#: From a spec's current (uA/cm^2, depolarising positive) to NEURON's i<ion> (mA/cm^2,
#: outward positive), the units a mechanism that reads ``ica`` is written in.
TO_NEURON_CURRENT = sp.Rational(-1, 1000)


@dataclass(frozen=True)
class Source:
    """Where a cell takes one quantity a mechanism reads.

    ``kind`` is ``'state'`` (state ``name`` of mechanism ``label``), ``'parameter'``
    (cell parameter ``name``: ``'cao'``, ``'celsius'``), ``'nernst'``, ``'written'`` or
    ``'sum'`` (the ion ``name``'s Nernst potential, the reversal potential mechanism
    ``label`` sets, or its total current, computed each step)."""

    kind: str
    name: str
    label: str = ""


@dataclass(frozen=True)
class IonPlan:
    """One ion of a cell: its valence, the mechanisms whose currents carry it, and
    whether its reversal potential is the Nernst potential (and moves)."""

    name: str
    valence: int | None
    carriers: tuple[str, ...]
    concentrations: Mapping[str, Source]      # 'cai' -> its source
    nernst: bool
    moving: bool                              # a concentration is written
    reversal_writer: str | None = None        # the mechanism that sets e<ion>


@dataclass(frozen=True)
class Wiring:
    """Every ion-provided read of a cell: ``reads[(label, name)]`` is its
    :class:`Source`; ``parameters`` the cell's own ion parameters and their defaults;
    ``initial`` the writer states that start at the cell's concentration (a pool whose
    INITIAL leaves it at NEURON's ``cai0_ca_ion``)."""

    ions: Mapping[str, IonPlan]
    reads: Mapping[tuple[str, str], Source]
    parameters: Mapping[str, float]
    initial: Mapping[tuple[str, str], str]

    def writers(self) -> set[str]:
        """Labels of the mechanisms that write a concentration."""
        return {s.label for plan in self.ions.values() for s in plan.concentrations.values()
                if s.kind == "state"}


def ion_key(ion: str, quantity: str) -> str:
    """The cell's name for an ion quantity: NEURON's (``'cao'``, ``'ek'``), unique per ion
    by construction."""
    return quantity


def nernst(ci: sp.Expr, co: sp.Expr, celsius: sp.Expr, valence: int) -> sp.Expr:
    """NEURON's ``nrn_nernst`` (mV): ``1e3 R (celsius + 273.15) / (z F) log(co/ci)``, and
    its +-1e6 mV for a concentration that is not positive."""
    ktf = 1000 * GAS_CONSTANT * (celsius + sp.Rational("273.15")) / FARADAY
    return sp.Piecewise((sp.Float(1e6), ci <= 0), (sp.Float(-1e6), co <= 0),
                        (ktf / valence * sp.log(co / ci), True))


def _valence(ion: str, ports: list[tuple[str, Ion]]) -> int | None:
    found = {i.valence for _, i in ports if i.valence is not None}
    if len(found) > 1:
        raise SpecError(f"ion {ion!r}: the mechanisms disagree on its valence: "
                        + ", ".join(f"{label} {i.valence}" for label, i in ports))
    return found.pop() if found else None


def wire_ions(channels: Mapping[str, ChannelSpec], given: Mapping[str, tuple[str, ...]],
              held: frozenset = frozenset(), celsius: bool = False) -> Wiring:
    """The ion wiring of a cell of ``channels`` (by label).

    ``given`` names the quantities ``ions=`` gives per ion (``{'k': ('ek',)}``);
    ``held`` the ``'label.name'`` reads a mechanism keeps as its own parameter
    (``concentrations=``); ``celsius``: the cell has a ``celsius`` of its own.
    Raises :class:`SpecError` naming the mechanism and the ion for a read nothing
    provides, and for a concentration two mechanisms write."""
    ports: dict[str, list[tuple[str, Ion]]] = {}
    for label, spec in channels.items():
        for ion in spec.ions:
            ports.setdefault(ion.name, []).append((label, ion))
    stray = sorted(set(given) - set(ports))
    if stray:
        raise SpecError(f"ions= gives {stray}, which no mechanism of this cell uses (they "
                        f"use {sorted(ports) or 'none'})")
    ions, reads, parameters, initial = {}, {}, {}, {}
    for name, uses in ports.items():
        probe = Ion(name, valence=_valence(name, uses))
        bad = sorted(set(given.get(name, ())) - set(probe.ports()))
        if bad:
            raise SpecError(f"ions={{{name!r}: ...}}: {bad} are not quantities of ion {name!r}"
                            f" (it has {list(probe.ports())})")
        concentrations: dict[str, Source] = {}
        for conc in (probe.inside, probe.outside):
            writers = [(label, dict(i.writes)[conc]) for label, i in uses
                       if conc in dict(i.writes)]
            if len(writers) > 1:
                raise SpecError(f"{' and '.join(w for w, _ in writers)} both write {conc}: "
                                f"a concentration has one writer in an ionc cell (NEURON "
                                f"keeps the last one's, which depends on the order the files "
                                f"were compiled in)")
            if writers:
                label, state = writers[0]
                concentrations[conc] = Source("state", state, label)
                start = f"{conc}0_{name}_ion"
                if channels[label].gate(state).initial == symbol(start):
                    initial[(label, state)] = ion_key(name, conc)
                    parameters[ion_key(name, conc)] = channels[label].parameters[start]
        moving = bool(concentrations)
        touched = moving or any(c in i.reads for _, i in uses for c in (probe.inside,
                                                                         probe.outside))
        setters = [label for label, i in uses if i.sets_reversal]
        if len(setters) > 1 or setters and probe.reversal in given.get(name, ()):
            raise SpecError(f"{probe.reversal} is set by {' and '.join(setters)}"
                            + (" and given in ions=" if len(setters) == 1 else "")
                            + ": a reversal potential has one source")
        nernst_read = touched and probe.reversal not in given.get(name, ()) and not setters
        if nernst_read and any(probe.reversal in i.reads for _, i in uses):
            if probe.valence is None:
                raise SpecError(f"ion {name!r}: its Nernst potential needs a valence (USEION "
                                f"{name} ... VALENCE z), or give e{name} in ions=")
            for conc in (probe.inside, probe.outside):   # Nernst reads both
                concentrations.setdefault(conc, Source("parameter", ion_key(name, conc)))
        for label, ion in uses:
            for quantity in ion.reads:
                q, own = quantity, ion.name_of(quantity)     # NEURON's name, the spec's
                if f"{label}.{own}" in held:
                    continue
                if q == probe.current_name:
                    carriers = [lb for lb, i in uses if i.current]
                    if ion.current:
                        raise SpecError(f"{label} reads {q} and carries a current of ion "
                                        f"{name!r} itself: not supported in a cell")
                    if carriers:
                        reads[(label, own)] = Source("sum", name)
                    elif q in given.get(name, ()):
                        reads[(label, own)] = Source("parameter", ion_key(name, q))
                    else:
                        raise SpecError(f"{label} reads {q}, but no mechanism of this cell "
                                        f"carries a current of ion {name!r} and ions= does "
                                        f"not give {q}")
                elif q == probe.reversal:
                    if setters:
                        reads[(label, own)] = Source("written", name, setters[0])
                    elif q in given.get(name, ()):
                        reads[(label, own)] = Source("parameter", ion_key(name, q))
                    elif nernst_read:
                        reads[(label, own)] = Source("nernst", name)
                else:
                    source = concentrations.setdefault(q, Source("parameter", ion_key(name, q)))
                    reads[(label, own)] = source
        for conc, source in concentrations.items():
            if source.kind != "parameter":
                continue
            if conc not in given.get(name, ()) and conc not in NEURON_CONCENTRATIONS:
                reader = next((lb for lb, i in uses if conc in i.reads), uses[0][0])
                raise SpecError(f"{reader} reads {conc} of ion {name!r}, which NEURON has no "
                                f"default for: give it in ions={{{name!r}: {{{conc!r}: ...}}}}")
            parameters[source.name] = NEURON_CONCENTRATIONS.get(conc, 1.0)
        for q in given.get(name, ()):
            parameters.setdefault(ion_key(name, q), 0.0)
        ions[name] = IonPlan(name, probe.valence, tuple(lb for lb, i in uses if i.current),
                             concentrations, nernst_read and any(
                                 probe.reversal in i.reads for _, i in uses), moving,
                             setters[0] if setters else None)
    if celsius:
        for label, spec in channels.items():
            if "celsius" in spec.parameters and f"{label}.celsius" not in held:
                reads[(label, "celsius")] = Source("parameter", "celsius")
    return Wiring(ions, reads, parameters, initial)
