TITLE ionc test: a calcium-shifted voltage inside a 0/0
: Written for ionc's tests.  The rates read vs = v + 40 log10(1000 cai), as several
: public Ca-activated K channels do, so the 0/0 of alpha sits at a V that moves with
: cai; minf = alpha/(alpha + beta) carries the sum of rates below it.
NEURON {
    SUFFIX tcalog
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
}
STATE { c }
ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    cai (mM)
    cinf
    ctau (ms)
}
BREAKPOINT {
    SOLVE states METHOD cnexp
    ik = gbar*c*(v - ek)
}
INITIAL {
    rates(v, cai)
    c = cinf
}
DERIVATIVE states {
    rates(v, cai)
    c' = (cinf - c)/ctau
}
PROCEDURE rates(v (mV), ca (mM)) {
    LOCAL vs, a, b
    vs = v + 40*log10(1000*ca)
    a = (-0.0064*vs - 0.1152)/(-1 + exp(-(vs + 18)/12))
    b = 1.7*exp(-(vs + 152)/30)
    cinf = a/(a + b)
    ctau = 1/(a + b)
    if (ctau < 1.1) { ctau = 1.1 }
}
