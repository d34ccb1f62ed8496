TITLE ionc test: a calcium pump as a nonlinear kinetic scheme
COMMENT
Written for ionc's tests (MIT, as the project). Calcium binds a pump (~ cai + pump <->
pumpca: the flux multiplies two states), which releases it outside; CONSERVE keeps the
pump's total. NEURON's sparse iterates Newton's method on each backward-Euler step and
sets a state that goes below 0 to 0.
ENDCOMMENT
NEURON {
    SUFFIX tcapump
    USEION ca READ ica WRITE cai
    RANGE depth, k1, k2, k3, ptot, cainf
}
UNITS {
    (mA) = (milliamp)
    (mM) = (milli/liter)
    (um) = (micron)
    FARADAY = (faraday) (coulombs)
}
PARAMETER {
    depth = 0.1 (um)
    k1 = 50 (/mM-ms)
    k2 = 0.05 (/ms)
    k3 = 0.5 (/ms)
    ptot = 0.02 (mM)
    cainf = 1e-4 (mM)
}
STATE { cai (mM) pump (mM) pumpca (mM) }
ASSIGNED {
    ica (mA/cm2)
    drive (mM/ms)
}
INITIAL {
    cai = cainf
    pump = ptot
    pumpca = 0
}
BREAKPOINT { SOLVE state METHOD sparse }
KINETIC state {
    drive = -(10000)*ica/(2*FARADAY*depth)
    ~ cai << (drive)
    ~ cai + pump <-> pumpca (k1, k2)
    ~ pumpca <-> pump (k3, 0)
    CONSERVE pump + pumpca = ptot
}
