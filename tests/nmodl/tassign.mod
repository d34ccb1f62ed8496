: ionc test file: an ASSIGNED read in INITIAL before INITIAL sets it (NEURON reads 0 at
: the first finitialize), as the cortical M-current files of Open Source Brain do.
NEURON {
    SUFFIX tassign
    NONSPECIFIC_CURRENT i
    RANGE gbar
}
PARAMETER { gbar = 0.001 (S/cm2) }
ASSIGNED { v (mV) i (mA/cm2) minf mtau (ms) tadj }
STATE { m }
BREAKPOINT {
    SOLVE states METHOD cnexp
    i = gbar*m*(v + 80)
}
INITIAL {
    rates(v)
    m = minf
    tadj = 3^((celsius - 22)/10)
}
DERIVATIVE states {
    rates(v)
    m' = (minf - m)/mtau
}
PROCEDURE rates(v (mV)) {
    minf = 1/(1 + exp(-(v + 40)/8))
    mtau = (1 + 5*exp(-(v + 50)*(v + 50)/400))/tadj
}
