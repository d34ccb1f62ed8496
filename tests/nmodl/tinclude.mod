: ionc test file: INCLUDE resolved beside the including file, whatever the working
: directory (tinclude.inc holds the rates).
NEURON {
    SUFFIX tinclude
    USEION k READ ek WRITE ik
    RANGE gbar
}
PARAMETER { gbar = 0.01 (S/cm2) }
ASSIGNED { v (mV) ek (mV) ik (mA/cm2) ninf ntau (ms) }
STATE { n }
BREAKPOINT {
    SOLVE states METHOD cnexp
    ik = gbar*n*n*(v - ek)
}
INITIAL {
    rates(v)
    n = ninf
}
DERIVATIVE states {
    rates(v)
    n' = (ninf - n)/ntau
}
INCLUDE "tinclude.inc"
