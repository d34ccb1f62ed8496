: ionc test file: PROCEDUREs that assign v without a v argument (NEURON gives each
: block's run its own copy of v: the rest of that run reads the shifted value, the
: membrane potential is not changed), as Hay et al.'s K_Pst.mod and TC_HH.mod do.
NEURON {
    SUFFIX tvcopy
    NONSPECIFIC_CURRENT i
    RANGE gbar
}
PARAMETER { gbar = 0.001 (S/cm2) }
ASSIGNED { v (mV) i (mA/cm2) minf mtau (ms) }
STATE { m }
BREAKPOINT {
    SOLVE states METHOD cnexp
    shift()
    i = gbar*m*(v - 20)
}
INITIAL {
    rates()
    m = minf
}
DERIVATIVE states {
    rates()
    m' = (minf - m)/mtau
}
PROCEDURE rates() {
    v = v + 5
    minf = 1/(1 + exp(-(v + 40)/8))
    mtau = 1 + 5*exp(-(v + 50)*(v + 50)/400)
}
PROCEDURE shift() { v = v - 3 }
