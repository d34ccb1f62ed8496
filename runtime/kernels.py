"""Bind generated kernels to arrays: one calling convention for every target.

Every kernel's parameters are typed (:class:`~ionc.codegen.KernelParameter`):
its kind says how a value is passed - the element count and int scalars as
64-bit integers, real scalars in the kernel's dtype, arrays as a cffi
pointer (C), the array itself (NumPy) or a CuPy array (CUDA), checked
against the element type the kernel expects.  Each binding also says which
arrays it holds (``array_type``, ``empty``, ``zeros``) and how user input
becomes one (``as_array``), so that the channel and neuron classes above it
are written once for all targets.
"""
from __future__ import annotations

import threading

import numpy as np

from .build import (build_c_extension, build_cuda_module, import_cupy, launch_config,
                    load_python_module)
from .codegen import GeneratedSource, KernelParameter, KernelSignature
from .inputs import as_device_array, as_voltage

#: NumPy dtype of each non-real element type.
ELEMENT_DTYPES = {"int64": np.dtype(np.int64), "uint8": np.dtype(np.uint8),
                  "int32": np.dtype(np.int32)}
#: cffi buffer type of each element type.
CFFI_TYPES = {"float32": "float[]", "float64": "double[]", "uint8": "unsigned char[]",
              "int32": "int32_t[]", "int64": "int64_t[]"}


class Kernels:
    """What every binding shares: signatures, argument casts from the kind, and
    argument lists prepared once with slots filled per call."""

    generated: GeneratedSource
    dtype: np.dtype
    functions: dict

    def load(self):
        """Build the kernels now (those on a GPU are built when bound; on the host, on
        first use or here)."""

    def element_dtype(self, param: KernelParameter) -> np.dtype:
        """The dtype an array parameter's elements have."""
        return self.dtype if param.element_type == "real" else ELEMENT_DTYPES[param.element_type]

    def argument(self, param: KernelParameter, value):
        """``value`` as kernel parameter ``param`` takes it (cast from its kind)."""
        if not param.is_array:
            if param.element_type == "int64":
                return self.integer(value)
            return self.scalar(value)
        if value is None:
            if not param.optional:
                raise ValueError(f"{self.generated.channel}: kernel argument {param.name} "
                                 f"({param.role} {param.key!r}) needs an array")
            return self.pointer(None, param)
        want = self.element_dtype(param)
        if value.dtype != want or not value.flags.c_contiguous:
            raise TypeError(f"{self.generated.channel}: kernel argument {param.name} needs a "
                            f"C-contiguous {want} array, got {value.dtype}")
        return self.pointer(value, param)

    def prepare(self, task: str, values: dict, free=()) -> tuple[list, dict]:
        """Arguments of ``task`` (after ``n``) from ``values`` keyed ``(role, key)``;
        the ``free`` keys are left as slots, returned as ``{(role, key): index}``."""
        sig: KernelSignature = self.generated.kernels[task]
        args, slots = [], {}
        for p in sig.parameters[1:]:
            k = (p.role, p.key)
            if k in free:
                slots[k] = len(args)
                args.append(None)
            elif k in values:
                args.append(self.argument(p, values[k]))
            elif p.optional:
                args.append(self.argument(p, None))
            else:
                raise KeyError(f"{sig.name}: no value for {p.role} {p.key!r}")
        return args, slots

    def call(self, task: str, n: int, values: dict) -> None:
        """Run ``task`` over ``n`` elements with every argument from ``values``."""
        args, _ = self.prepare(task, values)
        self.functions[task](n, *args)


class HostKernels(Kernels):
    """The compiled kernels of one :class:`GeneratedSource` on the host (C or NumPy)."""

    def __init__(self, generated: GeneratedSource):
        if generated.target not in ("c", "numpy"):
            raise ValueError(f"target {generated.target!r} does not run on the host")
        self.generated = generated
        self.dtype = np.dtype(generated.dtype)
        self._compiled = generated.target == "c"
        self._loaded: tuple | None = None
        self._load_lock = threading.Lock()

    def load(self) -> tuple:
        """``(extension, functions, count_nonfinite)``, built (or read from the cache) on
        first use: arrays are bound without them, so a channel whose kernels never run
        never compiles."""
        if self._loaded is None:
            with self._load_lock:
                if self._loaded is None:
                    generated = self.generated
                    if self._compiled:
                        extension = build_c_extension(generated.source, generated.declarations)
                        namespace = extension.lib
                    else:
                        extension, namespace = None, load_python_module(generated.source)
                    functions = {task: getattr(namespace, sig.name)
                                 for task, sig in generated.kernels.items()}
                    self._loaded = (extension, functions,
                                    getattr(namespace, generated.count_nonfinite))
        return self._loaded

    @property
    def extension(self):
        """The compiled C extension (None on the NumPy target)."""
        return self.load()[0]

    @property
    def functions(self) -> dict:
        """The kernels by task."""
        return self.load()[1]

    @property
    def count_nonfinite(self):
        """The kernel counting NaN and infinite values of an array."""
        return self.load()[2]

    @property
    def _ffi(self):
        return self.extension.ffi

    def pointer(self, array: np.ndarray | None, param: KernelParameter | None = None):
        """What a kernel takes for ``array`` (no copy); None is a NULL pointer."""
        if not self._compiled:
            return array
        if array is None:
            return self._ffi.NULL
        return self._ffi.from_buffer(CFFI_TYPES[array.dtype.name], array)

    def same_buffer(self, array: np.ndarray, pointer) -> bool:
        """True when ``pointer`` (from :meth:`pointer`) still points at ``array``'s data
        (a resize moves it); the NumPy target passes arrays themselves."""
        return not self._compiled or self._ffi.from_buffer(array) == pointer

    def scalar(self, value):
        """A real scalar argument."""
        return float(value) if self._compiled else self.dtype.type(value)

    @staticmethod
    def integer(value) -> int:
        """An int64 scalar argument."""
        return int(value)

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


class DeviceKernels(Kernels):
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
        names = tuple(sig.name for sig in generated.kernels.values()) + (generated.count_nonfinite,)
        self.module = build_cuda_module(generated.source, names)
        self.device = self.module.device
        self.functions = {task: self._launcher(sig.name)
                          for task, sig in generated.kernels.items()}
        self._count_kernel = self._launcher(generated.count_nonfinite)
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

    def count_nonfinite(self, n: int, array) -> int:
        """How many NaN or infinite values ``array`` holds (one launch and an 8-byte copy
        back)."""
        self._count.fill(0)
        self._count_kernel(n, array, self._count)
        return int(self._count.get()[0])

    @staticmethod
    def pointer(array, param: KernelParameter | None = None):
        """What a kernel takes for ``array``: the CuPy array itself (None is NULL)."""
        return array

    def scalar(self, value):
        """A real scalar argument: a NumPy scalar of the kernel's dtype (CuPy does not
        convert Python floats to ``float``)."""
        return self.dtype.type(value)

    @staticmethod
    def integer(value):
        """An int64 scalar argument."""
        return np.int64(value)

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


def bind(generated: GeneratedSource) -> Kernels:
    """The binding for ``generated``'s target: on the host or on the GPU."""
    return (DeviceKernels if generated.target == "cuda" else HostKernels)(generated)
