"""ionc's code generator: channel specs -> singularity analysis -> source text.

Nothing here compiles or loads code; :func:`render_kernels` returns text and
a plain-data description of its kernels.
"""
from .channels import LIBRARY, get_channel
from .elements import ChannelModel, ElementFunction, lower_channel
from .functions import capped_rate, exprelr
from .integrators import INTEGRATORS, euler_step, exp_euler_step
from .kernels import channel_kernels
from .render import GeneratedSource, KernelSignature, render_kernels
from .singularities import (Singularity, SingularityReport, find_removable_singularities,
                            remove_singularities)
from .spec import ChannelSpec, Gate, SpecError, V, dt, parse, spec_from_strings, symbol

__all__ = [
    "LIBRARY", "get_channel", "ChannelModel", "ElementFunction", "lower_channel",
    "capped_rate", "exprelr", "INTEGRATORS", "euler_step", "exp_euler_step",
    "channel_kernels", "GeneratedSource", "KernelSignature", "render_kernels", "Singularity",
    "SingularityReport", "find_removable_singularities", "remove_singularities",
    "ChannelSpec", "Gate", "SpecError", "V", "dt", "parse", "spec_from_strings", "symbol",
]
