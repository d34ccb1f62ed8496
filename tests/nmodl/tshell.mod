TITLE ionc test: calcium in four shells, diffusing and buffered (arrays and FROM loops)
COMMENT
Written for ionc's tests (MIT, as the project). The constructs of NEURON's calcium
diffusion examples (cadifus): DEFINE, STATE arrays, FROM loops in INITIAL and KINETIC,
COMPARTMENT per element, and a buffer binding each shell's calcium (a nonlinear scheme).
ENDCOMMENT
DEFINE NSHELL 4
NEURON {
    SUFFIX tshell
    USEION ca READ ica
    RANGE D, kf, kb, Btot
}
UNITS {
    (mA) = (milliamp)
    (mM) = (milli/liter)
    FARADAY = (faraday) (coulombs)
}
PARAMETER {
    D = 0.6 (/ms)
    kf = 100 (/mM-ms)
    kb = 0.1 (/ms)
    Btot = 0.05 (mM)
    cainf = 1e-4 (mM)
}
ASSIGNED { ica (mA/cm2) }
STATE { ca[NSHELL] (mM) B[NSHELL] (mM) CaB[NSHELL] (mM) }
INITIAL {
    FROM i = 0 TO NSHELL-1 {
        ca[i] = cainf
        B[i] = Btot*kb/(kb + kf*cainf)
        CaB[i] = Btot - B[i]
    }
}
BREAKPOINT { SOLVE state METHOD sparse }
KINETIC state {
    COMPARTMENT i, (1 + i) {ca B CaB}
    ~ ca[0] << (-(10000)*ica/(2*FARADAY))
    FROM i = 0 TO NSHELL-2 {
        ~ ca[i] <-> ca[i+1] (D, D)
    }
    FROM i = 0 TO NSHELL-1 {
        ~ ca[i] + B[i] <-> CaB[i] (kf*(1 + i), kb*(1 + i))
    }
}
