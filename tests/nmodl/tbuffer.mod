TITLE ionc test: a calcium pool with a mobile buffer, two coupled nonlinear states
COMMENT
Written for ionc's tests (MIT, as the project). Calcium binds a buffer (kf*cai*B), so
the two equations are not linear and read each other: NEURON's derivimplicit solves them
together by Newton's iteration with a 2x2 Jacobian.
ENDCOMMENT
NEURON {
    SUFFIX tbuffer
    USEION ca READ ica WRITE cai
    RANGE depth, taur, cainf, kf, kb, Btot
}
UNITS {
    (mA) = (milliamp)
    (mM) = (milli/liter)
    (um) = (micron)
    FARADAY = (faraday) (coulombs)
}
PARAMETER {
    depth = 0.1 (um)
    taur = 20 (ms)
    cainf = 1e-4 (mM)
    kf = 100 (/mM-ms)
    kb = 0.1 (/ms)
    Btot = 0.05 (mM)
}
STATE { cai (mM) B (mM) }
ASSIGNED { ica (mA/cm2) }
INITIAL {
    cai = cainf
    B = Btot*kb/(kb + kf*cainf)
}
BREAKPOINT { SOLVE state METHOD derivimplicit }
DERIVATIVE state {
    cai' = -(10000)*ica/(2*FARADAY*depth) + (cainf - cai)/taur - kf*cai*B + kb*(Btot - B)
    B' = -kf*cai*B + kb*(Btot - B)
}
