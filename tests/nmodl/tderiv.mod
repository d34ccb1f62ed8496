TITLE ionc test: derivimplicit (backward Euler) on a calcium-gated potassium channel
NEURON {
    SUFFIX tderiv
    USEION k READ ek WRITE ik
    USEION ca READ cai
    RANGE gbar
}
UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (mM) = (milli/liter)
}
PARAMETER {
    gbar = 0.01 (S/cm2)
    kd = 0.001 (mM)
}
STATE { n }
ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    cai (mM)
    ninf
    ntau (ms)
}
BREAKPOINT {
    SOLVE states METHOD derivimplicit
    ik = gbar*n*(v - ek)
}
INITIAL {
    rates(v, cai)
    n = ninf
}
DERIVATIVE states {
    rates(v, cai)
    n' = (ninf - n)/ntau
}
PROCEDURE rates(v (mV), c (mM)) {
    ninf = c/(c + kd)/(1 + exp(-(v + 20)/10))
    ntau = 5 + 20/(1 + exp((v + 40)/15))
}
