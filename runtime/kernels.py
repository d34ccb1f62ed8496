"""Bind generated kernels to arrays: one calling convention for every target.

Every kernel takes ``(n, scalars..., arrays...)`` in the order recorded in
its :class:`~ionc.codegen.KernelSignature`.  For the C target an array is
passed as a cffi pointer, for the NumPy target as the array itself, for the
CUDA target as a CuPy array.  Each binding also says which arrays it holds
(``array_type``, ``empty``, ``zeros``) and how user input becomes one
(``as_array``), so that the channel above it is written once.
"""
from __future__ import annotations

import numpy as np

from .build import (build_c_extension, build_cuda_module, import_cupy, launch_config,
                    load_python_module)
from .codegen import GeneratedSource
from .inputs import as_device_array, as_voltage


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

    array_type = np.ndarray
    empty = staticmethod(np.empty)
    zeros = staticmethod(np.zeros)
    as_array = staticmethod(as_voltage)

    @staticmethod
    def to_host(array: np.ndarray) -> np.ndarray:
        """The array itself: it already lives on the host."""
        return array

    def describe(self) -> str:
        """Where the compiled code lives and how it was built, in one line."""
        ext = self.extension
        if ext is None:
            return "NumPy target (no compilation)"
        return f"{ext.path} ({'built' if ext.built else 'cached'}; {ext.settings.describe()})"


class DeviceKernels:
    """The kernels of one CUDA :class:`GeneratedSource` on the current GPU.

    States and outputs are CuPy arrays on that device; a launch covers ``n``
    elements with the configuration :func:`~ionc.build.launch_config` picks
    from the device and the kernel's register use.
    """

    def __init__(self, generated: GeneratedSource):
        if generated.target != "cuda":
            raise ValueError(f"target {generated.target!r} does not run on a GPU")
        self.generated = generated
        self.dtype = np.dtype(generated.dtype)
        self.cupy = cp = import_cupy()
        names = tuple(sig.name for sig in generated.kernels.values()) + (generated.count_nan,)
        self.module = build_cuda_module(generated.source, names)
        self.device = self.module.device
        self.functions = {task: self._launcher(sig.name)
                          for task, sig in generated.kernels.items()}
        self._count_kernel = self._launcher(generated.count_nan)
        self._count = cp.zeros(1, dtype=np.uint64)
        self.array_type = cp.ndarray

    def _launcher(self, name: str):
        kernel = self.module.kernels[name]
        max_block = int(kernel.max_threads_per_block)
        device, cuda_device = self.device, self.cupy.cuda.Device(self.device.id)

        def launch(n: int, *args) -> None:
            grid, block = launch_config(n, device, max_block)
            with cuda_device:
                kernel((grid,), (block,), (np.int64(n), *args))
        launch.__name__ = name
        return launch

    def count_nan(self, n: int, array) -> int:
        """How many NaN ``array`` holds (one launch and an 8-byte copy back)."""
        self._count.fill(0)
        self._count_kernel(n, array, self._count)
        return int(self._count.get()[0])

    @staticmethod
    def pointer(array):
        """What a kernel takes for ``array``: the CuPy array itself (None is NULL)."""
        return array

    def scalar(self, value):
        """A NumPy scalar of the kernel's parameter type: int64 for ints, else the dtype."""
        if isinstance(value, (int, np.integer)):
            return np.int64(value)
        return self.dtype.type(value)

    def empty(self, shape, dtype):
        """An uninitialised array on the device."""
        with self.cupy.cuda.Device(self.device.id):
            return self.cupy.empty(shape, dtype=dtype)

    def zeros(self, shape, dtype):
        """A zero-filled array on the device."""
        with self.cupy.cuda.Device(self.device.id):
            return self.cupy.zeros(shape, dtype=dtype)

    def as_array(self, V, shape, dtype, name: str = "V"):
        """``V`` as a C-contiguous device array (see :func:`~ionc.inputs.as_device_array`)."""
        return as_device_array(self.cupy, V, shape, dtype, self.device.id, name)

    @staticmethod
    def to_host(array) -> np.ndarray:
        """A NumPy copy of a device array."""
        return array.get()

    def describe(self) -> str:
        """Where the module runs and how it was compiled, in one line."""
        return self.module.describe()
