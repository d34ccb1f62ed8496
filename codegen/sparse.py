"""Coupled linear blocks of states: backward Euler and steady states, solved by Gaussian
elimination unrolled at compile time (what NEURON's ``sparse`` computes).

A block's right sides ``dx/dt = J x + b`` (``J`` and ``b`` free of the block's
states) give one backward-Euler step ``(I - dt J) x' = x + dt b`` and a steady
state ``-J x = b``; each conservation law ``sum c_i x_i = total`` replaces the
equation of one of its states (the last it names, as NEURON's ``CONSERVE``).  The
system is solved symbolically, entry by entry: every updated matrix entry and
right side is a named local, entries that are structurally zero are never
formed, and no pivot is chosen at run time.  The matrices of reaction schemes
(``I - dt J`` with ``J`` a rate matrix) are column diagonally dominant, for which
elimination in order needs no pivoting; the replaced rows are eliminated last.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .spec import SpecError, symbol

Definitions = tuple[tuple[sp.Symbol, sp.Expr], ...]


@dataclass(frozen=True)
class Conservation:
    """``sum(coefficients[x] * x) == total`` over states of a block."""

    coefficients: tuple[tuple[sp.Symbol, sp.Expr], ...]
    total: sp.Expr

    @property
    def states(self) -> tuple[sp.Symbol, ...]:
        """The states the law names, in its order."""
        return tuple(s for s, _ in self.coefficients)


def is_linear(rhs: dict[sp.Symbol, sp.Expr]) -> bool:
    """Whether every right side of the block is linear in the block's states."""
    states = set(rhs)
    return not any(sp.diff(f, y).free_symbols & states for f in rhs.values() for y in states)


def linear_system(rhs: dict[sp.Symbol, sp.Expr]) -> tuple[list[list[sp.Expr]], list[sp.Expr]]:
    """``(J, b)`` with ``rhs[x_i] == sum_j J[i][j] x_j + b[i]`` over the block's states
    (in ``rhs``'s order); a :class:`SpecError` names the first equation that is not
    linear in them."""
    states = list(rhs)
    J, b = [], []
    for x, f in rhs.items():
        row = [sp.diff(f, y) for y in states]
        for y, d in zip(states, row):
            if d.free_symbols & set(states):
                raise SpecError(f"d{x}/dt = {f} is not linear in the states {states} "
                                f"(in {y}): a nonlinear block needs Newton iterations")
        J.append(row)
        b.append(f.xreplace({y: 0 for y in states}))
    return J, b


def conservation_order(states: list[sp.Symbol],
                       laws: tuple[Conservation, ...]) -> tuple[list, dict]:
    """The unknowns in elimination order (the states whose equation a law replaces
    last) and ``{replaced state: law}``."""
    replaced: dict[sp.Symbol, Conservation] = {}
    for law in laws:
        free = [s for s in reversed(law.states) if s not in replaced]
        if not free:
            raise SpecError(f"conservation law over {list(law.states)}: every state it "
                            f"names already has its equation replaced by another law")
        replaced[free[0]] = law
    order = [s for s in states if s not in replaced] + list(replaced)
    return order, replaced


def eliminate(matrix: dict, right: dict, order: list, prefix: str) -> tuple[Definitions, dict]:
    """Solve ``matrix x = right`` (sparse: ``{(i, j): entry}``, ``{i: value}``, indexed by
    the unknowns) in ``order``: forward elimination and back substitution, each new entry
    a local named ``<prefix>...``; returns the definitions and ``{unknown: value}``."""
    defs: list[tuple[sp.Symbol, sp.Expr]] = []
    index = {x: k for k, x in enumerate(order)}

    def local(name: str, value: sp.Expr) -> sp.Expr:
        value = sp.sympify(value)
        if value.is_Atom:
            return value
        sym = symbol(f"{prefix}{name}")
        defs.append((sym, value))
        return sym

    m = {(index[i], index[j]): sp.sympify(v) for (i, j), v in matrix.items() if v != 0}
    r = {index[i]: v for i, v in right.items() if v != 0}
    n = len(order)
    m = {key: local(f"m{key[0]}_{key[1]}", v) for key, v in m.items()}
    r = {i: local(f"r{i}", v) for i, v in r.items()}
    for k in range(n):
        pivot = m.get((k, k))
        if pivot is None or pivot == 0:
            raise SpecError(f"the block's matrix is singular: no equation determines "
                            f"{order[k]} (a closed scheme needs a conservation law)")
        for i in range(k + 1, n):
            if (i, k) not in m:
                continue
            factor = local(f"l{i}_{k}", m.pop((i, k)) / pivot)
            for j in range(k + 1, n):
                if (k, j) in m:
                    m[(i, j)] = local(f"m{i}_{j}_{k}", m.get((i, j), 0) - factor * m[(k, j)])
                    if m[(i, j)] == 0:           # cancelled exactly: a structural zero
                        del m[(i, j)]
            if k in r:
                r[i] = local(f"r{i}_{k}", r.get(i, 0) - factor * r[k])
    x: dict[int, sp.Expr] = {}
    for k in reversed(range(n)):
        total = r.get(k, sp.Integer(0)) - sum((m[(k, j)] * x[j] for j in range(k + 1, n)
                                               if (k, j) in m), sp.Integer(0))
        x[k] = local(f"x{k}", total / m[(k, k)])
    return tuple(defs), {order[k]: x[k] for k in range(n)}


def with_laws(rows: dict, right: dict, replaced: dict) -> None:
    """Replace each ``replaced`` state's equation by its conservation law, in place."""
    for x, law in replaced.items():
        for key in [key for key in rows if key[0] == x]:
            del rows[key]
        for y, c in law.coefficients:
            rows[(x, y)] = rows.get((x, y), 0) + c
        right[x] = law.total


def backward_euler_block(rhs: dict[sp.Symbol, sp.Expr], dt: sp.Symbol,
                         laws: tuple[Conservation, ...] = (),
                         prefix: str = "ionc_s") -> tuple[Definitions, dict]:
    """One backward-Euler step of the linear block ``rhs``: ``(definitions, {state: new
    value})`` from ``(I - dt J) x' = x + dt b``, each law replacing an equation."""
    states = list(rhs)
    J, b = linear_system(rhs)
    rows = {(x, y): (1 if x == y else 0) - dt * J[i][j]
            for i, x in enumerate(states) for j, y in enumerate(states)}
    right = {x: x + dt * b[i] for i, x in enumerate(states)}
    order, replaced = conservation_order(states, laws)
    with_laws(rows, right, replaced)
    return eliminate(rows, right, order, prefix)


def _matching(rows: list[set], unknowns: list) -> list:
    """An unknown for each equation (``rows[i]``: the unknowns equation ``i`` reads), each
    unknown once, by augmenting paths; a :class:`SpecError` when there is none."""
    owner: dict = {}

    def place(i: int, seen: set) -> bool:
        for x in unknowns:
            if x in rows[i] and x not in seen:
                seen.add(x)
                if x not in owner or place(owner[x], seen):
                    owner[x] = i
                    return True
        return False

    for i in range(len(rows)):
        if not place(i, set()):
            raise SpecError(f"the linear equations do not determine {unknowns}: equation "
                            f"{i + 1} has no unknown of its own")
    return [next(x for x, i in owner.items() if i == k) for k in range(len(rows))]


def linear_equations_block(equations: list[sp.Expr], states: list[sp.Symbol],
                           prefix: str = "ionc_l") -> tuple[Definitions, dict]:
    """The solution of ``equations`` (each ``== 0``, linear in ``states``; NMODL's LINEAR
    block): ``(definitions, {state: value})``.  Each equation is paired with an unknown it
    reads (a perfect matching), and the equations that read every unknown (conservation
    laws) are eliminated last."""
    if len(equations) != len(states):
        raise SpecError(f"{len(equations)} linear equation(s) for {len(states)} unknown(s) "
                        f"{[str(x) for x in states]}")
    reads = [{x for x in states if sp.diff(e, x) != 0} for e in equations]
    for e in equations:
        for x in states:
            if sp.diff(e, x).free_symbols & set(states):
                raise SpecError(f"the equation {e} = 0 is not linear in {x}")
    pairs = _matching(reads, states)
    rows, right = {}, {}
    for e, x in zip(equations, pairs):
        for y in states:
            rows[(x, y)] = sp.diff(e, y)
        right[x] = -e.xreplace({y: 0 for y in states})
    order = sorted(states, key=lambda x: len(reads[pairs.index(x)]) == len(states))
    return eliminate(rows, right, order, prefix)
