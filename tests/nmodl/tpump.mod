TITLE ionc test: a calcium pool with a Michaelis-Menten pump, by derivimplicit
COMMENT
Written for ionc's tests (MIT, as the project). The construct of Destexhe's classic
cad.mod: the pump term kt*cai/(cai + kd) is not linear in cai, so NEURON's derivimplicit
solves each backward-Euler step by Newton's iteration. The influx is clipped at 0 as there.
ENDCOMMENT
NEURON {
    SUFFIX tpump
    USEION ca READ ica WRITE cai
    RANGE depth, taur, cainf, kt, kd
}
UNITS {
    (mA) = (milliamp)
    (mM) = (milli/liter)
    (um) = (micron)
    FARADAY = (faraday) (coulombs)
}
PARAMETER {
    depth = 0.1 (um)
    taur = 700 (ms)
    cainf = 2.4e-4 (mM)
    kt = 1e-4 (mM/ms)
    kd = 1e-4 (mM)
}
STATE { cai (mM) }
ASSIGNED {
    ica (mA/cm2)
    drive (mM/ms)
}
INITIAL { cai = cainf }
BREAKPOINT { SOLVE state METHOD derivimplicit }
DERIVATIVE state {
    drive = -(10000)*ica/(2*FARADAY*depth)
    if (drive <= 0) { drive = 0 }
    cai' = drive - kt*cai/(cai + kd) + (cainf - cai)/taur
}
