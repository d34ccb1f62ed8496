: k3st.mod from NEURON (neuronsimulator/nrn, docs/nmodl/mod/k3st.mod, commit
: dddfc0c8f8a66aae019fa195f253671743294483), under the licence below.  Changed for ionc's
: tests: its two FUNCTION_TABLEs, which read tables built in hoc, are FUNCTIONs with
: closed forms (tau1, tau2 below); everything else is as NEURON ships it.
:
: Copyright (c) 2018, Michael Hines
: All rights reserved.
:
: Redistribution and use in source and binary forms, with or without
: modification are permitted provided that the following conditions are met:
:
: 1.  Redistributions of source code must retain the above copyright
: notice, this list of conditions, and the following disclaimer.
:
: 2.  Redistributions in binary form must reproduce the above copyright
: notice, this list of conditions, and the following disclaimer in the
: documentation and/or other materials provided with the distribution.
:
: 3.  Neither the name of the copyright holder nor the names of its
: contributors may be used to endorse or promote products derived from
: this software without specific prior written permission.
:
: THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS
: IS" AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED
: TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A
: PARTICULAR PURPOSE ARE DISCLAIMED.  IN NO EVENT SHALL THE COPYRIGHT
: HOLDER OR CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL,
: SPECIAL, EXEMPLARY OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED
: TO, PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR
: PROFITS; OR BUSINESS INTERRUPTION HOWEVER CAUSED AND ON ANY THEORY OF
: LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING
: NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE OF THIS
: SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.

: Three state kinetic scheme for HH-like potassium channel
: Steady-state v-dependent state transitions have been fit
: Needs v-dependent time constants from tables created under hoc
NEURON {
    SUFFIX k3st
    USEION k READ ek WRITE ik
    RANGE g, gbar
    RANGE tau1_rec, tau2_rec
}
UNITS { (mV) = (millivolt) }
PARAMETER {
    gbar = 33 (millimho/cm2)
    d1 = -38 (mV)
    k1 = 0.151 (/mV)
    d2 = -25 (mV)
    k2 = 0.044 (/mV)
}

ASSIGNED {
    v     (mV)
    ek    (mV)
    g     (millimho/cm2)
    ik    (milliamp/cm2)
    kf1 (/ms)
    kb1 (/ms)
    kf2 (/ms)
    kb2 (/ms)
    tau1_rec
    tau2_rec
}

STATE { c1 c2 o }

BREAKPOINT {
    SOLVE kin METHOD sparse
    g = gbar*o
    ik = g*(v - ek)*(1e-3)
}

INITIAL { SOLVE kin STEADYSTATE sparse }

KINETIC kin {
    rates(v)
    ~ c1 <-> c2 (kf1, kb1)
    ~ c2 <-> o (kf2, kb2)
    CONSERVE c1 + c2 + o = 1
}

FUNCTION tau1(v(mV)) (ms) { tau1 = 0.5 + 4*exp(-(v + 40)*(v + 40)/800) }
FUNCTION tau2(v(mV)) (ms) { tau2 = 0.2 + 2/(exp((v + 30)/15) + exp(-(v + 30)/25)) }

PROCEDURE rates(v(millivolt)) {
    LOCAL K1, K2
    K1 = exp(k2*(d2 - v) - k1*(d1 - v))
    kf1 = K1/(tau1(v)*(1+K1))
    kb1 = 1/(tau1(v)*(1+K1))
    K2 = exp(-k2*(d2 - v))
    kf2 = K2/(tau2(v)*(1+K2))
    kb2 = 1/(tau2(v)*(1+K2))
    tau1_rec = tau1(v)
    tau2_rec = tau2(v)
}
