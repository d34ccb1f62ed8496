"""Newton's iterations (codegen/newton.py) against the exact backward-Euler step, found
independently: a closed form for one state, 50-digit mpmath for a kinetic scheme."""
import mpmath
import numpy as np
import pytest

import ionc
from targets import host

SQUARE = """
NEURON { SUFFIX square }
STATE { w }
PARAMETER { w0 = 1  k = 2 }
INITIAL { w = w0 }
BREAKPOINT { SOLVE s METHOD derivimplicit }
DERIVATIVE s { w' = -k*w*w }
"""

BINDING = """
NEURON { SUFFIX binding }
STATE { a b c }
PARAMETER { kf = 5  kb = 0.5  a0 = 1  b0 = 0.6 }
INITIAL {
    a = a0
    b = b0
    c = 0
}
BREAKPOINT { SOLVE s METHOD sparse }
KINETIC s { ~ a + b <-> c (kf, kb) }
"""


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_derivimplicit_stops_at_neurons_tolerance_next_to_the_root(target, dtype):
    """Each step from the state it starts at: the residual F(w) = -k w^2 - (w - w_old)/dt
    within NEURON's 1e-8, and w within |F|/|F'| of the exact root (both at 50 digits)."""
    w0 = np.array([1.0, 0.2, 5.0, 1e-3])
    ch = ionc.from_nmodl(SQUARE)(4, dtype=dtype, target=target, w0=w0, k=2.0)
    ch.reset_state(np.full(4, -65.0))
    dt, k = mpmath.mpf(float(np.asarray(0.1, dtype))), 2
    slack = 1e-15 if dtype == "float64" else 1e-6       # the state's own rounding
    for _ in range(30):
        old = host(ch.states["w"]).astype(float)
        ch.update(np.full(4, -65.0), dt=0.1)
        with mpmath.workdps(50):
            for w, x in zip(host(ch.states["w"]).astype(float), old):
                w, x = mpmath.mpf(w), mpmath.mpf(x)
                root = (-1 + mpmath.sqrt(1 + 4 * dt * k * x)) / (2 * dt * k)
                F, dF = -k * w * w - (w - x) / dt, -2 * k * w - 1 / dt
                if dtype == "float64":
                    assert abs(F) <= 1e-8, (w, x, F)
                assert abs(w - root) <= 1.01 * abs(F / dF) + slack * root, (w, root, F)


def _binding_step(x, dt, kf=5, kb=0.5):
    """The backward-Euler step of a + b <-> c, solved with 50 digits."""
    a0, b0, c0 = x

    def F(a, b, c):
        flux = kf * a * b - kb * c
        return [a - a0 + dt * flux, b - b0 + dt * flux, c - c0 - dt * flux]
    with mpmath.workdps(50):
        return mpmath.findroot(F, (a0, b0, c0))


def test_sparse_on_a_binding_reaction_takes_the_root_and_conserves(target):
    Ch = ionc.from_nmodl(BINDING)
    ch = Ch(2, target=target, a0=np.array([1.0, 0.05]), b0=np.array([0.6, 2.0]))
    ch.reset_state(np.full(2, -65.0))
    exact = [[mpmath.mpf(v) for v in x] for x in ((1.0, 0.6, 0.0), (0.05, 2.0, 0.0))]
    worst, drift = 0.0, 0.0
    for _ in range(25):
        ch.update(np.full(2, -65.0), dt=0.1)
        exact = [list(_binding_step(x, mpmath.mpf(1) / 10)) for x in exact]
        got = [host(ch.states[s]) for s in "abc"]
        for j, x in enumerate(exact):
            worst = max(worst, *(abs(got[i][j] - float(x[i])) for i in range(3)))
        drift = max(drift, np.abs(got[0] + got[2] - np.array([1.0, 0.05])).max())
    assert worst <= 1e-12, worst
    assert drift <= 1e-15, drift
