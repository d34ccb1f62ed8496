"""The coupled-block solvers (codegen/sparse.py) and kinetic schemes in the spec, against
NumPy's dense solves at seeded random rates."""
import numpy as np
import pytest
import sympy as sp

from ionc.codegen import SpecError
from ionc.codegen.sparse import Conservation, backward_euler_block, linear_equations_block
from ionc.codegen.spec import KineticScheme, Reaction, symbol

A, B, C, D = (symbol(n) for n in "ABCD")
k = sp.symbols("k0:8", real=True)
dt = sp.Symbol("dt", positive=True)


def _evaluate(defs, out, values):
    env = dict(values)
    for s, e in defs:
        env[s] = float(e.xreplace(env))
    return {x: float(v.xreplace(env)) for x, v in out.items()}


def _chain():
    """A <-> B <-> C <-> D with rates k0..k5, and its rate matrix as a function."""
    rhs = {A: -k[0] * A + k[1] * B, B: k[0] * A - (k[1] + k[2]) * B + k[3] * C,
           C: k[2] * B - (k[3] + k[4]) * C + k[5] * D, D: k[4] * C - k[5] * D}

    def matrix(r):
        return np.array([[-r[0], r[1], 0, 0], [r[0], -r[1] - r[2], r[3], 0],
                         [0, r[2], -r[3] - r[4], r[5]], [0, 0, r[4], -r[5]]])
    return rhs, matrix


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_backward_euler_block_is_the_dense_solve(seed):
    rng = np.random.default_rng(seed)
    rhs, matrix = _chain()
    r = 10.0 ** rng.uniform(-3, 3, 6)
    x0 = rng.dirichlet(np.ones(4))
    values = {**dict(zip(k, r)), dt: 0.1, **dict(zip((A, B, C, D), x0))}
    want = np.linalg.solve(np.eye(4) - 0.1 * matrix(r), x0)
    got = _evaluate(*backward_euler_block(rhs, dt), values)
    assert np.allclose([got[x] for x in (A, B, C, D)], want, rtol=1e-12, atol=0)
    law = Conservation(((A, 1), (B, 1), (C, 1), (D, 1)), sp.Integer(1))
    defs, out = backward_euler_block(rhs, dt, (law,))
    got = _evaluate(defs, out, values)
    assert abs(sum(got.values()) - 1) <= 1e-15
    assert np.allclose([got[x] for x in (A, B, C, D)], want, rtol=1e-12, atol=1e-15)
    # structural zeros are never formed: a 4-chain needs far fewer than n^3 locals
    assert len(defs) < 40


def test_linear_equations_block_pairs_equations_with_unknowns():
    rng = np.random.default_rng(5)
    rhs, matrix = _chain()
    r = 10.0 ** rng.uniform(-2, 2, 6)
    # the steady state: three balance equations (listed out of order) and the total
    eqs = [rhs[C], A + B + C + D - 1, rhs[A], rhs[B]]
    got = _evaluate(*linear_equations_block(eqs, [A, B, C, D]), dict(zip(k, r)))
    M = matrix(r)
    M[3] = 1
    want = np.linalg.solve(M, [0, 0, 0, 1])
    assert np.allclose([got[x] for x in (A, B, C, D)], want, rtol=1e-12)


def test_what_the_solvers_refuse():
    with pytest.raises(SpecError, match="not linear"):
        backward_euler_block({A: -A * B, B: A * B}, dt)
    with pytest.raises(SpecError, match="do not determine"):    # C is in no equation
        linear_equations_block([A + B - 1, A - B, A], [A, B, C])
    with pytest.raises(SpecError, match="singular: no equation determines B"):
        linear_equations_block([A + B - 1, 2 * A + 2 * B - 2, C], [A, B, C])
    with pytest.raises(SpecError, match="2 linear equation"):
        linear_equations_block([A, B], [A, B, C])


def test_a_scheme_gives_its_odes_from_the_reactions():
    scheme = KineticScheme("s", ("A", "B", "C"),
                           (Reaction("A", "B", k[0], k[1]), Reaction("B", "C", k[2], 0),
                            Reaction((), "A", k[3])),
                           volumes={"C": 2})
    odes = scheme.odes()
    assert sp.simplify(odes["A"] - (-k[0] * A + k[1] * B + k[3])) == 0
    assert sp.simplify(odes["B"] - (k[0] * A - k[1] * B - k[2] * B)) == 0
    assert sp.simplify(odes["C"] - k[2] * B / 2) == 0
    assert not scheme.closed                      # the flux into A is a source
    assert KineticScheme("t", ("A", "B"), (Reaction("A", "B", 1, 2),)).closed
    with pytest.raises(SpecError, match="not states of the scheme"):
        KineticScheme("u", ("A",), (Reaction("A", "Z", 1, 2),))
    with pytest.raises(SpecError, match="count of A must be a positive int"):
        Reaction((("A", 0),), "B", 1)
