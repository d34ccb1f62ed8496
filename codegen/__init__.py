"""ionc's code generator: channel specs -> symbol table -> element functions ->
typed kernels -> back end -> source text.

Nothing here compiles or loads code; :func:`render_kernels` returns text and
the typed signatures of its kernels.
"""
from .backends import BACKENDS, Backend, get_backend
from .channels import LIBRARY, get_channel
from .elements import ChannelModel, ElementFunction
from .lowering import lower_channel
from .functions import capped_rate, exprelr
from .integrators import INTEGRATORS, euler_step, exp_euler_step
from .kernels import KernelParameter, KernelSet, KernelSignature, channel_kernels
from .neuron import NeuronSpec, neuron_kernels
from .parsing import parse, spec_from_strings
from .render import GeneratedSource, math_header, render_kernels, render_neuron
from .singularities import (Singularity, SingularityReport, find_removable_singularities,
                            remove_singularities)
from .spec import ChannelSpec, Gate, Ion, KineticScheme, Reaction, SpecError, V, dt, symbol
from .symbols import SymbolTable, mangle, symbol_table

__all__ = [
    "BACKENDS", "Backend", "get_backend", "LIBRARY", "get_channel", "ChannelModel",
    "ElementFunction", "lower_channel", "capped_rate", "exprelr", "INTEGRATORS", "euler_step",
    "exp_euler_step", "KernelParameter", "KernelSet", "KernelSignature", "channel_kernels",
    "NeuronSpec", "neuron_kernels", "parse", "spec_from_strings", "GeneratedSource",
    "math_header", "render_kernels", "render_neuron", "Singularity", "SingularityReport",
    "find_removable_singularities", "remove_singularities", "ChannelSpec", "Gate",
    "Ion", "KineticScheme", "Reaction", "SpecError",
    "V", "dt", "symbol", "SymbolTable", "mangle", "symbol_table",
]
