TITLE ionc test: a reversed guard, a tau floor, a clamped exp, an INITIAL off the steady state
: Written for ionc's tests; every construct is checked against NEURON itself.
: trap0 is the guard of many public sodium channels: the exact formula where
: |v - th| > 1e-6, its limit a*q inside; minf = a/(a + b) then has the 0/0 in its
: numerator and the guarded rates in its denominator.  MyExp clamps exp to 0 below
: -50 and to exp(50) above 50, inside vtrap's 0/0 too.
NEURON {
    SUFFIX tmig
    USEION na READ ena WRITE ina
    USEION k READ ek WRITE ik
    RANGE gnabar, gkbar
    THREADSAFE
}
UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}
PARAMETER {
    gnabar = 0.01 (S/cm2)
    gkbar = 0.01 (S/cm2)
    tha = -30 (mV)
    qa = 7.2 (mV)
    Ra = 0.4 (/ms)
    Rb = 0.124 (/ms)
    mmin = 0.02 (ms)
    vhn = 13 (mV)
}
STATE { m h n w }
ASSIGNED {
    v (mV)
    ena (mV)
    ek (mV)
    ina (mA/cm2)
    ik (mA/cm2)
    minf
    mtau (ms)
    ninf
    ntau (ms)
}
BREAKPOINT {
    SOLVE states METHOD cnexp
    ina = gnabar*m*m*m*h*(v - ena)
    ik = gkbar*n*n*n*n*w*(v - ek)
}
INITIAL {
    trates(v)
    m = minf
    h = ha(v)/(ha(v) + hb(v))
    : n from alpha/(alpha + beta), while DERIVATIVE relaxes it to a shifted Boltzmann
    n = alpn(v)/(alpn(v) + betn(v))
    w = 0.25
}
DERIVATIVE states {
    trates(v)
    m' = (minf - m)/mtau
    h' = ha(v)*(1 - h) - hb(v)*h
    n' = (ninf - n)/ntau
    w' = (1 - w)*w*0.01 - w*w*0.002   : not linear in w: forward Euler, as NEURON does
}
PROCEDURE trates(vm (mV)) {
    LOCAL a, b
    a = trap0(vm, tha, Ra, qa)
    b = trap0(-vm, -tha, Rb, qa)
    mtau = 1/(a + b)
    if (mtau < mmin) { mtau = mmin }
    minf = a/(a + b)
    ninf = 1/(1 + exp(-(vm - vhn)/11))
    ntau = 4
}
FUNCTION alpn(vm (mV)) {
    alpn = 0.01*trap0(vm, -55, 1, 10)
}
FUNCTION betn(vm (mV)) {
    betn = 0.125*exp(-(vm + 65)/80)
}
FUNCTION trap0(v, th, a, q) {
    if (fabs(v - th) > 1e-6) {
        trap0 = a*(v - th)/(1 - exp(-(v - th)/q))
    } else {
        trap0 = a*q
    }
}
FUNCTION ha(vm (mV)) {
    ha = 0.12*vtrap(-(vm - 43), 11)
}
FUNCTION hb(vm (mV)) {
    hb = 0.3/(1 + MyExp(-(vm + 20)/0.5))
}
FUNCTION vtrap(x, y) {
    if (fabs(x/y) < 1e-6) {
        vtrap = y*(1 - x/y/2)
    } else {
        vtrap = x/(MyExp(x/y) - 1)
    }
}
FUNCTION MyExp(x) {
    if (x < -50) {
        MyExp = 0
    } else if (x > 50) {
        MyExp = exp(50)
    } else {
        MyExp = exp(x)
    }
}
