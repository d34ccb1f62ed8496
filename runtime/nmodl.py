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
from pathlib import Path
from typing import Any

from .channel import Channel
from .codegen import render_kernels
from .codegen.nmodl import NmodlChannel, parse_nmodl
from .kernels import bind


class NmodlMechanism(Channel):
    """A channel compiled from an NMODL density mechanism (see :func:`from_nmodl`)."""

    nmodl: NmodlChannel

    def __init__(self, size, keep_size: bool = False, method: str | None = None,
                 name: str | None = None, mode: Any = None, **kwargs):
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
                    self._generated.target, self._generated.dtype, "exp_auto",
                    self._generated.array_params))
                for name, expr in self.nmodl.currents.items()}
        return cache[key]


def from_nmodl(source: str | os.PathLike, name: str | None = None) -> type[NmodlMechanism]:
    """The channel class of a ``.mod`` file (a path) or of NMODL text.

    ``Ch(size, dtype=..., target=..., **parameters)``: parameters are the
    file's PARAMETERs, ``celsius`` and the ion variables it reads (NEURON's
    defaults); concentrations it reads (``cai``, ...) are per-call inputs.
    """
    if isinstance(source, os.PathLike) or (isinstance(source, str) and "\n" not in source
                                           and source.rstrip().endswith(".mod")):
        path = Path(source)
        try:
            text = path.read_text()
        except OSError as exc:
            raise FileNotFoundError(f"cannot read {path}: {exc.strerror}") from None
    elif isinstance(source, str):
        text = source
    else:
        raise TypeError(f"from_nmodl takes a path or NMODL text, got {type(source).__name__}")
    info = parse_nmodl(text, name)
    doc = f"{info.spec.doc}\n\nFrom NMODL (SUFFIX {info.suffix}, METHOD {info.solve})."
    return type(info.spec.name, (NmodlMechanism,), {"spec": info.spec, "nmodl": info,
                                                    "__doc__": doc,
                                                    "__module__": __name__})
