"""Bind generated kernels to host arrays: one calling convention for every target.

Every kernel takes ``(n, scalars..., arrays...)`` in the order recorded in
its :class:`~ionc.codegen.KernelSignature`.  For the C target an array is
passed as a cffi pointer, for the NumPy target as the array itself.
"""
from __future__ import annotations

import numpy as np

from .build import build_c_extension, load_python_module
from .codegen import GeneratedSource


class HostKernels:
    """The compiled kernels of one :class:`GeneratedSource` on the host."""

    def __init__(self, generated: GeneratedSource):
        self.generated = generated
        self.dtype = np.dtype(generated.dtype)
        if generated.target == "c":
            self.extension = build_c_extension(generated.source, generated.declarations)
            self._ffi = self.extension.ffi
            self._ctype = "float[]" if self.dtype == np.float32 else "double[]"
            namespace = self.extension.lib
        elif generated.target == "numpy":
            self.extension = None
            namespace = load_python_module(generated.source)
        else:
            raise ValueError(f"target {generated.target!r} does not run on the host")
        self.functions = {task: getattr(namespace, sig.name)
                          for task, sig in generated.kernels.items()}
        self.count_nan = getattr(namespace, generated.count_nan) if generated.count_nan else None

    def pointer(self, array: np.ndarray | None):
        """What a kernel takes for ``array`` (no copy); None is a NULL pointer."""
        if self.extension is None:
            return array
        return self._ffi.NULL if array is None else self._ffi.from_buffer(self._ctype, array)

    def scalar(self, value):
        """What a kernel takes for a scalar argument (ints stay ints)."""
        if self.extension is None and not isinstance(value, int):
            return self.dtype.type(value)
        return value
