: ionc test file: under cnexp, an equation that does not name its state is stepped by
: forward Euler by NEURON's translator (it reads the equation's text), as Na_CML.mod's
: m_q' = rate_m_q is, although rate_m_q is computed from m_q.
NEURON {
    SUFFIX tfwd
    NONSPECIFIC_CURRENT i
    RANGE gbar
}
PARAMETER { gbar = 0.001 (S/cm2) }
ASSIGNED { v (mV) i (mA/cm2) qinf qtau (ms) rate_q (/ms) }
STATE { q p }
BREAKPOINT {
    SOLVE states METHOD cnexp
    i = gbar*q*p*(v + 80)
}
INITIAL {
    q = 0.2
    p = 0.7
}
DERIVATIVE states {
    qinf = 1/(1 + exp(-(v + 30)/6))
    qtau = 0.3 + 2*exp(-(v + 40)*(v + 40)/300)
    rate_q = (qinf - q)/qtau
    q' = rate_q
    p' = (qinf - p)/qtau
}
