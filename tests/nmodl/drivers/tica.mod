: ionc test driver: a calcium current set from Python before each step (ica = amp), so
: that a calcium pool sees a given ica trace in NEURON.
NEURON {
    SUFFIX tica
    USEION ca WRITE ica
    RANGE amp
}
PARAMETER { amp = 0 (mA/cm2) }
ASSIGNED { ica (mA/cm2) }
BREAKPOINT { ica = amp }
