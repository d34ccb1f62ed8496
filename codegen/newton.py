"""Backward Euler on a nonlinear block of states by NEURON's Newton iterations, each an
:class:`~.elements.Iteration` inside the update: :func:`newton_block` (``derivimplicit``)
and :func:`sparse_block` (a KINETIC scheme with a product of states, ``sparse``).

One step solves ``F(x) = f(x) - (x - x_old)/dt = 0`` from ``x = x_old``, as NEURON 9's
``nrn_newton_thread`` does (scopmath's newton_thread and errcodes):

- while the last relative change ``max |delta_i / x_i|`` (over ``|x_i| > 1e-8``; 1 at the
  start) exceeds 0.05, the Jacobian is rebuilt by central differences, column by column
  with ``inc = max(|0.02 x_j|, 1e-6)``, leaving ``x_j`` at ``((x_j + inc) - 2 inc) + inc``
  and ``F`` evaluated there; otherwise the last Jacobian is kept (a chord step);
- ``J delta = -F``, ``x += delta``, and ``F`` at the new ``x``;
- converged when the change is at most 1e-6 and ``max |F_i|`` at most 1e-8; at most 50
  passes (NEURON then stops the run; ionc keeps the last iterate).

The linear solve is unrolled elimination (:func:`.sparse.eliminate`): one division for a
single state, as NEURON's Crout solve; without NEURON's pivoting for several (the matrix
``df/dx - I/dt`` is diagonally dominant at the steps cells take).
"""
from __future__ import annotations

import sympy as sp

from .elements import Iteration
from .sparse import Conservation, conservation_order, eliminate, with_laws
from .spec import symbol

#: NEURON's constants (scopmath errcodes): Jacobian rebuilt above this relative change,
CHANGE_REBUILD = sp.Rational(5, 100)
#: the increment of the difference quotient (relative, and its floor),
INCREMENT, INCREMENT_FLOOR = sp.Rational(2, 100), sp.Rational(1, 10**6)
#: a state this close to 0 does not count in the relative change,
ZERO = sp.Rational(1, 10**8)
#: converged: relative change and residual at most these,
CONVERGE_CHANGE, CONVERGE_RESIDUAL = sp.Rational(1, 10**6), sp.Rational(1, 10**8)
#: and at most this many passes.
MAX_PASSES = 50


def _body(prefix: str):
    """A pass's locals (a list, in order) and the function that adds one, ``local(name,
    value) -> symbol``, each named ``<prefix><name>``."""
    body: list[tuple[sp.Symbol, sp.Expr]] = []

    def local(name: str, value: sp.Expr) -> sp.Symbol:
        sym = symbol(f"{prefix}{name}")
        body.append((sym, sp.sympify(value)))
        return sym
    return body, local


def newton_block(rhs: dict[sp.Symbol, sp.Expr], dt: sp.Symbol,
                 prefix: str = "ionc_n") -> tuple[Iteration, dict[sp.Symbol, sp.Symbol]]:
    """One backward-Euler step of ``dx/dt = rhs[x]`` over the block's states by Newton's
    iteration: ``(iteration, {state: the carried local holding its new value})``."""
    states = list(rhs)
    n = len(states)
    body, local = _body(prefix)

    def largest(values: list[sp.Expr], name: str) -> sp.Symbol:
        """The largest of ``values`` (the first of equals), by a chain of selects."""
        out = local(f"{name}0", values[0])
        for k, v in enumerate(values[1:], 1):
            v = local(f"{name}{k}_of", v)
            out = local(f"{name}{k}", sp.Piecewise((v, v > out), (out, True)))
        return out

    def residual(xs: list[sp.Expr], tag: str) -> list[sp.Symbol]:
        swap = dict(zip(states, xs))
        return [local(f"F{tag}_{i}", rhs[s].xreplace(swap) - (xs[i] - s) / dt)
                for i, s in enumerate(states)]

    X = [symbol(f"{prefix}x{i}") for i in range(n)]
    J = [[symbol(f"{prefix}J{i}_{j}") for j in range(n)] for i in range(n)]
    value = [symbol(f"{prefix}v{i}") for i in range(n)]
    change = symbol(f"{prefix}change")
    carried = ([(x, s) for x, s in zip(X, states)]
               + [(J[i][j], sp.Integer(0)) for i in range(n) for j in range(n)]
               + [(v, sp.Integer(0)) for v in value] + [(change, sp.Integer(1))])

    rebuild = sp.StrictGreaterThan(change, CHANGE_REBUILD)
    x = list(X)
    built = [[None] * n for _ in range(n)]
    for j in range(n):
        a = sp.Abs(INCREMENT * x[j])
        inc = local(f"inc{j}", sp.Piecewise((a, a > INCREMENT_FLOOR), (INCREMENT_FLOOR, True)))
        up = local(f"up{j}", x[j] + inc)
        high = residual([*x[:j], up, *x[j + 1:]], f"hi{j}")
        down = local(f"down{j}", up - 2 * inc)
        low = residual([*x[:j], down, *x[j + 1:]], f"lo{j}")
        x[j] = local(f"back{j}", down + inc)
        for i in range(n):
            built[i][j] = local(f"D{i}_{j}", (high[i] - low[i]) / (2 * inc))
    at_built = residual(x, "at")

    def chosen(new, old, name):
        return local(name, sp.Piecewise((new, rebuild), (old, True)))

    xb = [chosen(x[i], X[i], f"xb{i}") for i in range(n)]
    jb = [[chosen(built[i][j], J[i][j], f"Jb{i}_{j}") for j in range(n)] for i in range(n)]
    vb = [chosen(-at_built[i], value[i], f"vb{i}") for i in range(n)]
    index = list(range(n))
    defs, solution = eliminate({(i, j): jb[i][j] for i in index for j in index},
                               {i: vb[i] for i in index}, index, f"{prefix}e")
    body += defs
    delta = [solution[i] for i in index]
    ratio = [sp.Piecewise((sp.Abs(delta[i] / xb[i]), sp.Abs(xb[i]) > ZERO), (0, True))
             for i in index]
    new_change = largest(ratio, "change_new")
    new_x = [local(f"xn{i}", xb[i] + delta[i]) for i in index]
    at_new = residual(new_x, "new")
    new_value = [local(f"vn{i}", -f) for i, f in enumerate(at_new)]
    deviation = largest([sp.Abs(f) for f in at_new], "deviation")
    until = sp.And(new_change <= CONVERGE_CHANGE, deviation <= CONVERGE_RESIDUAL)
    nxt = (*new_x, *(jb[i][j] for i in index for j in index), *new_value, new_change)
    iteration = Iteration(tuple(carried), tuple(body), nxt, until, MAX_PASSES)
    return iteration, dict(zip(states, X))


#: NEURON's sparse (scopmath sparse_thread): converged when sum |delta| is at most this,
SPARSE_CONVERGE = sp.Rational(1, 10**6)
#: after at most this many passes (its MAXSTEPS 20 is checked after a pass's update).
SPARSE_PASSES = 22


def sparse_block(rhs: dict[sp.Symbol, sp.Expr], flux: dict[sp.Symbol, sp.Expr], dt: sp.Symbol,
                 laws: tuple[Conservation, ...] = (),
                 prefix: str = "ionc_p") -> tuple[Iteration, dict[sp.Symbol, sp.Symbol]]:
    """One backward-Euler step of a nonlinear kinetic scheme as NEURON's ``sparse`` takes
    it: ``(iteration, {state: the carried local holding its new value})``.

    Each pass solves ``(I/dt - df/dx) delta = f(x) - (x - x_old)/dt`` from ``x = x_old``,
    each conservation law replacing the row of the state it names last (``c . delta =
    total - c . x``); ``x += delta`` with any state below 0 set to 0; done when
    ``sum |delta| <= 1e-6``, after at most 22 passes.  ``rhs`` evaluates the right sides
    at the iterate; ``flux`` is what the Jacobian differentiates (the rates held as
    symbols: NEURON differentiates the mass-action terms only)."""
    states = list(rhs)
    body, local = _body(prefix)

    X = [symbol(f"{prefix}x{i}") for i in range(len(states))]
    swap = dict(zip(states, X))
    rows = {(x, y): (sp.Integer(1) / dt if x == y else 0) - sp.diff(flux[x], y).xreplace(swap)
            for x in states for y in states}
    right = {x: local(f"R{i}", rhs[x].xreplace(swap) - (swap[x] - x) / dt)
             for i, x in enumerate(states)}
    order, replaced = conservation_order(states, laws)
    with_laws(rows, right, replaced)
    for x, law in replaced.items():
        right[x] = law.total - sum((c * swap[s] for s, c in law.coefficients), sp.Integer(0))
    defs, delta = eliminate(rows, right, order, f"{prefix}e")
    body += defs
    new = [local(f"xn{i}", X[i] + delta[x]) for i, x in enumerate(states)]
    clamped = [local(f"xc{i}", sp.Piecewise((0, v < 0), (v, True))) for i, v in enumerate(new)]
    error = local("err", sum((sp.Abs(delta[x]) for x in states), sp.Integer(0)))
    iteration = Iteration(tuple(zip(X, states)), tuple(body), tuple(clamped),
                          error <= SPARSE_CONVERGE, SPARSE_PASSES)
    return iteration, dict(zip(states, X))
