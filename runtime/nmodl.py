"""Channels from NEURON ``.mod`` files: :func:`from_nmodl`.

The front end (:mod:`ionc.codegen.nmodl`) turns the file into a spec; the
class it returns is an ordinary :class:`~ionc.channel.Channel` over it, whose
default method is the file's SOLVE method (``cnexp``: exponential Euler, exact
for a gate linear in itself at frozen V) and whose ``current(V)`` is the
file's total current density in mA/cm2 with NEURON's sign (outward positive).
In a :class:`~ionc.CondNeuGroup` it mixes with library channels (the spec
carries ionc's convention, uA/cm2 inward positive).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from .channel import Channel
from .codegen import V, render_kernels, symbol
from .codegen.nmodl import (NmodlChannel, guard_zero, parse_nmodl, rates_as_written,
                            read_source)
from .codegen.tables import reference_evaluator
from .kernels import bind


class NmodlMechanism(Channel):
    """A channel compiled from an NMODL density mechanism (see :func:`from_nmodl`)."""

    nmodl: NmodlChannel

    def __init__(self, size, keep_size: bool = False, method: str | None = None,
                 name: str | None = None, mode: Any = None, **kwargs):
        given = {**(kwargs.get("parameters") or {}),
                 **{k: v for k, v in kwargs.items() if k in self.spec.parameters}}
        for p, (lo, hi) in self.nmodl.limits.items():
            if p in given and not callable(given[p]):
                value = np.asarray(given[p], dtype=float)
                if np.any(value < lo) or np.any(value > hi):
                    raise ValueError(f"{self.spec.name}: {p} = {given[p]!r} is outside the "
                                     f"limits <{lo:g}, {hi:g}> the file declares")
        super().__init__(size, keep_size, method or self.nmodl.method, name, mode, **kwargs)

    def current(self, V, out=None, **inputs):
        """The file's total current density at ``V`` in mA/cm2 with NEURON's sign (outward
        positive).  (In a neuron the channel contributes ``-1000`` times it, in uA/cm2.)"""
        out = super().current(V, out, **inputs)
        out *= -1e-3
        return out

    def currents(self, V, **inputs) -> dict:
        """Each current the file writes (``ina``, ``ik``, a nonspecific ``il``, ...) at ``V``
        with the present gates, in mA/cm2 with NEURON's sign.  Each is a kernel of its own,
        compiled on first use."""
        with self._lock:
            arr = self._voltage(V)
            extra = self._inputs(inputs)
            out = {}
            for name, kernels in self._current_kernels().items():
                buf = self._kernels.empty(self._shape, self.dtype)
                values = self._values()
                values.update({("input", "V"): arr, ("output", "I"): buf, **extra})
                kernels.call("current", self._n, values)
                buf *= -1e-3
                out[name] = buf
            return out

    def _current_kernels(self) -> dict:
        """One compiled ``current`` kernel per current of the file, for this layout."""
        key = (self._generated.target, self._generated.dtype, self._generated.array_params)
        cache = self.__dict__.setdefault("_per_current", {})
        if key not in cache:
            cache[key] = {
                name: bind(render_kernels(
                    dataclasses.replace(self.spec, name=f"{self.spec.name}_{name}",
                                        current=-1000 * expr),
                    self._generated.target, self._generated.dtype, self.method,
                    self._generated.array_params))
                for name, expr in self.nmodl.currents.items()}
        return cache[key]


#: ``neuron:<name>`` names a ``.mod`` file the ``neuron`` package installs (``neuron:hh``).
EXAMPLE_PREFIX = "neuron:"


def is_mod_name(name: str) -> bool:
    """Whether ``name`` names a ``.mod`` file: a path ending in ``.mod`` or ``neuron:<name>``."""
    return name.endswith(".mod") or name.startswith(EXAMPLE_PREFIX)


def neuron_example(name: str) -> Path:
    """The path of ``<name>.mod`` among the files the ``neuron`` package installs
    (``neuron_example("hh")``, or ``"neuron:hh"`` wherever a .mod path is taken)."""
    import difflib
    import importlib.util
    name = name.removeprefix(EXAMPLE_PREFIX).removesuffix(".mod")
    found = importlib.util.find_spec("neuron")
    if found is None or found.origin is None:
        raise FileNotFoundError(f"neuron:{name} is a file of the neuron package, which is not "
                                f"installed: pip install 'ionc[nmodl]'")
    files = sorted(Path(found.origin).parent.joinpath(".data", "share").rglob("*.mod"))
    for f in files:
        if f.stem == name:
            return f
    near = difflib.get_close_matches(name, sorted({f.stem for f in files}), n=5)
    raise FileNotFoundError(f"the neuron package installs no {name}.mod" + (
        f"; close: {', '.join('neuron:' + n for n in near)}" if near else ""))


def _read(source) -> tuple[str, Path | None]:
    """The NMODL text of a path (a ``.mod`` file: a regular file of bounded size, or
    ``neuron:<name>``) or the text itself, and the path (None for text)."""
    if isinstance(source, str) and source.startswith(EXAMPLE_PREFIX) and "\n" not in source:
        source = neuron_example(source)
    if isinstance(source, os.PathLike) or (isinstance(source, str) and "\n" not in source
                                           and source.rstrip().endswith(".mod")):
        path = Path(source)
        try:
            return read_source(path), path
        except OSError as exc:
            raise FileNotFoundError(str(exc)) from None
    if isinstance(source, str):
        return source, None
    raise TypeError(f"from_nmodl takes a path or NMODL text, got {type(source).__name__}")


def from_nmodl(source: str | os.PathLike, name: str | None = None) -> type[NmodlMechanism]:
    """The channel class of a ``.mod`` file (a path, or ``neuron:<name>`` for a file the
    neuron package installs, e.g. ``neuron:hh``) or of NMODL text.

    ``Ch(size, dtype=..., target=..., **parameters)``: parameters are the
    file's PARAMETERs, ``celsius`` and the ion variables it reads (NEURON's
    defaults); concentrations it reads (``cai``, ...) are per-call inputs.
    """
    text, path = _read(source)
    info = parse_nmodl(text, name, path=path)
    doc = f"{info.spec.doc}\n\nFrom NMODL (SUFFIX {info.suffix}, METHOD {info.solve})."
    return type(info.spec.name, (NmodlMechanism,), {"spec": info.spec, "nmodl": info,
                                                    "__doc__": doc,
                                                    "__module__": __name__})


@dataclass(frozen=True)
class SingularPoint:
    """One removable 0/0 of a ``.mod`` file: where, its limit, what the file does about it,
    and the error in ulp (float64) of the file's formula and of ionc's compiled one at the
    point and 1e-9 mV to either side, against 50-digit mpmath."""

    rate: str
    V: float
    limit: float
    handling: str
    file_ulp: tuple
    ionc_ulp: tuple


#: Where the lint measures: the point and 1e-9 mV to either side.
LINT_OFFSETS = (0.0, 1e-9, -1e-9)


def lint_nmodl(source: str | os.PathLike) -> tuple[str, list[SingularPoint]]:
    """Every removable singularity of a ``.mod`` file at its default parameters, what the
    file does about it (a guard, an equality nudge, or nothing: NaN in NEURON) and the
    file's error in ulp against ionc's.  Returns the report text and the entries.

    The file's formula is evaluated in float64 as SymPy orders its operations, which may
    differ from NEURON's C code by a few ulp; a NaN or a nudge shows as it does in NEURON."""
    text, path = _read(source)
    Ch = from_nmodl(source)
    spec = Ch.spec
    written = rates_as_written(text, path)
    params = {symbol(k): sp.Rational(repr(float(v))) for k, v in spec.parameters.items()}
    params.update({symbol(k): sp.Rational(repr(float(v))) for k, v in spec.inputs.items()})
    ch = Ch(len(LINT_OFFSETS), target="cpu")
    for arr in ch.states.values():
        arr[...] = 0.5                      # the current's singular factors do not read them
    gates = {symbol(g.name): sp.Rational(1, 2) for g in spec.gates}
    exact_rates = {f"{role}_{g.name}": e for g in spec.gates
                   for role, e in g.rate_expressions().items()}
    exact_rates["current"] = spec.current
    entries, seen = [], set()
    for s in ch.singularities.removable:
        v0 = s.location.subs(params)
        if not v0.is_number or s.rate_name not in written:
            continue
        v0 = float(v0)
        if (s.rate_name, v0) in seen:      # two terms of one rate (a GHK current)
            continue
        seen.add((s.rate_name, v0))
        points = np.array([v0 + d for d in LINT_OFFSETS])
        subs = {**params, **gates}
        exact_f = reference_evaluator([exact_rates[s.rate_name].subs(subs)])
        exact = [exact_f(mpmath.mpf(float(x)))[0] for x in points]
        as_written = sp.lambdify(V, written[s.rate_name].subs(subs), "numpy")
        with np.errstate(all="ignore"):
            file_values = np.array([float(as_written(np.float64(x))) for x in points])
        if s.rate_name == "current":
            ionc_values = Channel.current(ch, points)
        else:
            ionc_values = ch.rate(s.rate_name, points)
        handling = _handling(Ch.nmodl.guards, v0, params, file_values[0],
                             written[s.rate_name])
        entries.append(SingularPoint(s.rate_name, v0, float(exact[0]), handling,
                                     _ulps(file_values, exact), _ulps(ionc_values, exact)))
    lines = [f"{spec.name}: {len(entries)} removable singularit"
             f"{'y' if len(entries) == 1 else 'ies'} at the default parameters"]
    for e in entries:
        lines.append(f"  {e.rate} at V = {e.V:.12g} mV (limit {e.limit:.17g}): {e.handling}")
        lines.append("      error in ulp (float64)   at V0   V0+1e-9   V0-1e-9")
        for who, ulps in (("the file's formula", e.file_ulp), ("ionc", e.ionc_ulp)):
            lines.append(f"      {who:<22} " + " ".join(f"{u:>8}" for u in ulps))
    return "\n".join(lines), entries


def _handling(guards, v0: float, params: dict, at_point: float, written: sp.Expr) -> str:
    """What the file does about the singular point at ``v0`` in the rate it computes as
    ``written`` (every guard of that rate that covers the point)."""
    found = []
    # the guard conditions the rate as written contains (SymPy may reshape a condition)
    conditions = [c for pw in written.atoms(sp.Piecewise) for _, c in pw.args]
    conditions += [a for c in list(conditions) for a in c.atoms(sp.Rel)]
    zeros = {kind: [guard_zero(c) for c in conditions
                    if guard_zero(c) is not None and isinstance(c, sp.Eq) == (kind == "nudge")]
             for kind in ("nudge", "guard")}

    def covers(zero) -> bool:
        try:
            return abs(float(zero.subs(params).subs(V, v0))) <= 1e-9 * max(1.0, abs(v0))
        except TypeError:
            return False

    for description, zero, condition in guards:
        kind = "nudge" if isinstance(condition, sp.Eq) else "guard"
        if not (written.has(condition) or (covers(zero) and any(map(covers, zeros[kind])))):
            continue
        try:
            value = float(zero.subs(params).subs(V, v0))
        except TypeError:
            continue
        if abs(value) <= 1e-9 * max(1.0, abs(v0)) and description not in found:
            found.append(description)
    if found:
        notes = []
        if any(d.startswith("equality nudge") for d in found):
            notes.append("a nudge is off at the point itself and protects nothing beside it")
        if any(d.startswith("guard") for d in found):
            notes.append("a guard takes a Taylor branch near the point")
        return "; ".join(found) + " (" + "; ".join(notes) + ")"
    if not np.isfinite(at_point):
        return "nothing: 0/0 gives NaN in NEURON at the point"
    return "nothing (finite at the point, cancellation near it)"


def _ulps(values, exact) -> tuple:
    """|value - exact| in units in the last place of the exact value ('NaN' for NaN)."""
    out = []
    for v, y in zip(values, exact):
        if not np.isfinite(v):
            out.append("NaN")
            continue
        ref = float(y)
        spacing = np.spacing(abs(ref)) if ref != 0 else np.finfo(float).tiny
        with mpmath.workdps(50):
            out.append(str(int(round(float(abs(mpmath.mpf(float(v)) - y)) / spacing))))
    return tuple(out)
