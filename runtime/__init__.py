"""ionc: a compiler for neuron ion-channel models.

``from ionc import INa_Ba2002`` gives a channel with BrainPy's API whose
kernels were generated from SymPy, with every removable singularity of its
rate functions found and rewritten; ``target='cpu'`` (C), ``'cuda'`` (CuPy)
or ``'numpy'``.  ``ionc.codegen`` holds the compiler, ``ionc.build`` the
compilation (cffi, CuPy) and its cache.
"""
from .build import BuildError, CacheError, CompilerNotFoundError, CudaUnavailableError
from .channel import Channel
from .channels import (IK_HH1952, IK_TM1991, IKA1_HM1992, IKA2_HM1992, IKDR_Ba2002, IKK2A_HM1992,
                       IKK2B_HM1992, IKL, IKNI_Ya1989, IL, CalciumDetailed, CalciumFirstOrder,
                       IAHP_De1994, ICaHT_HM1992, ICaHT_Re1993, ICaL_IS2008, ICaN_IS2008,
                       ICaT_HM1992, ICaT_HP1992, Ih_De1996, Ih_HM1992, INa_Ba2002, INa_HH1952,
                       INa_TM1991)
from .neuron import HH, CondNeuGroup
from .nmodl import NmodlMechanism, from_nmodl
from .codegen import LIBRARY, get_channel, render_kernels
from .threads import get_num_threads, num_threads, set_num_threads


def emit(channel: str, target: str = "c", dtype: str = "float64", method: str = "exp_auto") -> str:
    """The source ionc emits for library channel ``channel`` (``target`` 'c', 'cuda' or 'numpy')."""
    return render_kernels(get_channel(channel), target, dtype, method).source


def __getattr__(name: str):
    """A clear AttributeError for a misspelt channel, with the nearest names."""
    import difflib
    close = difflib.get_close_matches(name, __all__, n=3)
    hint = f" (nearest: {', '.join(close)})" if close else ""
    raise AttributeError(f"module 'ionc' has no attribute {name!r}{hint}")


__all__ = [
    "BuildError", "CacheError", "Channel", "CompilerNotFoundError", "CudaUnavailableError",
    "CondNeuGroup", "HH",
    "INa_Ba2002", "IKDR_Ba2002", "INa_HH1952", "IK_HH1952", "INa_TM1991", "IK_TM1991", "IL",
    "Ih_HM1992", "IKA1_HM1992", "ICaT_HM1992", "IKA2_HM1992", "IKK2A_HM1992", "IKK2B_HM1992",
    "IKNI_Ya1989", "IKL", "ICaT_HP1992", "ICaHT_HM1992", "ICaHT_Re1993", "ICaL_IS2008",
    "ICaN_IS2008", "IAHP_De1994", "Ih_De1996", "CalciumDetailed",
    "CalciumFirstOrder", "LIBRARY", "emit",
    "get_channel", "render_kernels",
    "get_num_threads", "num_threads", "set_num_threads", "from_nmodl", "NmodlMechanism",
]
