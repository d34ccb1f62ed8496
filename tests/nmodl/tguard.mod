TITLE ionc test: a guard, an equality nudge, q10, nested FUNCTIONs and an if/else rate
: Written for ionc's tests; every construct is checked against NEURON itself.
NEURON {
    SUFFIX tguard
    USEION na READ ena WRITE ina
    RANGE gbar
    THREADSAFE
}
UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}
PARAMETER {
    gbar = 0.05 (S/cm2) <0, 1e9>
    vhalf = -30 (mV)
}
CONSTANT {
    q10base = 2.3 (1)
}
STATE { m h }
ASSIGNED {
    v (mV)
    celsius (degC)
    ena (mV)
    ina (mA/cm2)
    minf hinf
    mtau (ms)
    htau (ms)
}
BREAKPOINT {
    SOLVE states METHOD cnexp
    ina = gbar*m*m*m*h*(v - ena)
}
INITIAL {
    rates(v)
    m = minf
    h = hinf
}
DERIVATIVE states {
    rates(v)
    m' = (minf - m)/mtau
    h' = (hinf - h)/htau
}
PROCEDURE rates(v (mV)) {
    LOCAL a, b, q10
    TABLE minf, mtau, hinf, htau DEPEND celsius FROM -100 TO 100 WITH 200
    q10 = q10base^((celsius - 23)/10)
    if (v == -25) {
        v = v + 0.0001   : the nudge changes this local copy of v only
    }
    a = 0.182*(v + 25)/(1 - exp(-(v + 25)/9))
    b = 0.124*trap(v + 25, 9)
    mtau = 1/(q10*(a + b))
    minf = a/(a + b)
    hinf = boltz(v, vhalf - 20, 6.2)
    if (v < -60) {
        htau = 15/q10
    } else {
        htau = (1 + 10*exp(-(v + 60)^2/400))/q10
    }
}
FUNCTION trap(x, y) {
    if (fabs(x/y) < 1e-6) {
        trap = y*(1 - x/y/2)
    } else {
        trap = x/(exp(x/y) - 1)
    }
}
FUNCTION boltz(x, vh, k) {
    boltz = 1/(1 + expo((x - vh)/k))
}
FUNCTION expo(z) {
    expo = exp(z)
}
