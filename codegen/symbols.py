"""The symbol table: every user name, what it is, and how generated code spells it.

A user's names (parameters, inputs, intermediates, rates, gates) are never printed
verbatim: each becomes ``u_<name>`` in C, CUDA and Python alike.  Every name
the compiler generates for itself starts with something else (``ionc_``,
``alpha_``, ``rec_``, ``out_``, ...) or is one of a fixed few (``n``, ``i``,
``V``, ``dt``), so no user name can collide with a keyword of any target, a
macro, a C library name, a generated name or another user name.  ``V`` is
the one name the physics fixes; it is printed as itself.

:func:`symbol_table` builds the table of a spec; lowering
(:mod:`.elements`) renames every user symbol through it with one
``xreplace``, and the runtime finds kernel arguments by the user's names it
records.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from .spec import V, ChannelSpec

#: The prefix of every user name in generated code.
USER_PREFIX = "u_"
#: Kinds of user symbols.
PARAMETER, INPUT, INTERMEDIATE, STATE, RATE = (
    "parameter", "input", "intermediate", "state", "rate")


def mangle(name: str) -> str:
    """How generated code spells the user's name ``name`` (``V`` stays ``V``)."""
    return "V" if name == "V" else USER_PREFIX + name


@dataclass(frozen=True)
class SymbolEntry:
    """One user symbol: its name, kind, and its spelling in generated code."""

    name: str
    kind: str
    identifier: str
    user: sp.Symbol        # the symbol in the spec
    internal: sp.Symbol    # the symbol in the element functions (printed as identifier)


class SymbolTable:
    """The user symbols of one channel, by name, with their generated spelling."""

    def __init__(self, entries: tuple[SymbolEntry, ...]):
        self.entries = entries
        self._by_name = {e.name: e for e in entries}
        self._to_internal = {e.user: e.internal for e in entries}
        self._to_user = {e.internal: e.user for e in entries}

    def __getitem__(self, name: str) -> SymbolEntry:
        return self._by_name[name]

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def __iter__(self):
        return iter(self.entries)

    def of_kind(self, kind: str) -> tuple[SymbolEntry, ...]:
        """The entries of one kind, in spec order."""
        return tuple(e for e in self.entries if e.kind == kind)

    def identifier(self, name: str) -> str:
        """The generated spelling of the user's ``name``."""
        return self._by_name[name].identifier

    def internal(self, name: str) -> sp.Symbol:
        """The symbol standing for the user's ``name`` inside element functions."""
        return self._by_name[name].internal

    def rename(self, expr: sp.Expr) -> sp.Expr:
        """``expr`` with every user symbol replaced by its internal symbol."""
        return expr.xreplace(self._to_internal)

    def restore(self, expr: sp.Expr) -> sp.Expr:
        """``expr`` with internal symbols shown under the user's names again."""
        return expr.xreplace(self._to_user)

    def user_name(self, identifier: str) -> str:
        """The user's name behind a generated identifier (``identifier`` itself if none)."""
        for e in self.entries:
            if e.identifier == identifier:
                return e.name
        return identifier


@lru_cache(maxsize=None)
def symbol_table(spec: ChannelSpec) -> SymbolTable:
    """The table of every user symbol of ``spec``: parameters, inputs (after ``V``),
    intermediates, named rates and gates."""
    entries = [SymbolEntry("V", INPUT, "V", V, V)]
    groups = ((PARAMETER, spec.parameters), (INPUT, spec.inputs),
              (INTERMEDIATE, spec.intermediates), (RATE, spec.rates),
              (STATE, [g.name for g in spec.gates]))
    for kind, names in groups:
        for name in names:
            ident = mangle(name)
            entries.append(SymbolEntry(name, kind, ident, sp.Symbol(name, real=True),
                                       sp.Symbol(ident, real=True)))
    return SymbolTable(tuple(entries))
