: ionc test file: a three-state kinetic scheme (closed <-> open <-> inactivated) with
: CONSERVE and STEADYSTATE sparse, rates that read v through a PROCEDURE, a
: q10 on celsius, and a 0/0 in one rate (kco at v = -35 mV).
NEURON {
    SUFFIX tkin
    USEION na READ ena WRITE ina
    RANGE gbar
}
PARAMETER { gbar = 0.02 (S/cm2) }
ASSIGNED { v (mV) ena (mV) ina (mA/cm2) kco koc koi kio q10 }
STATE { C O I }
BREAKPOINT {
    SOLVE kin METHOD sparse
    ina = gbar*O*(v - ena)
}
INITIAL {
    C = 1
    SOLVE kin STEADYSTATE sparse
}
KINETIC kin {
    rates(v)
    ~ C <-> O (kco, koc)
    ~ O <-> I (koi, kio)
    CONSERVE C + O + I = 1
}
PROCEDURE rates(v (mV)) {
    q10 = 3^((celsius - 22)/10)
    kco = q10*0.2*(v + 35)/(1 - exp(-(v + 35)/9))
    koc = q10*0.4*exp(-(v + 60)/20)
    koi = q10*0.6/(1 + exp(-(v + 40)/7))
    kio = q10*0.005*exp(-(v + 80)/15)
}
