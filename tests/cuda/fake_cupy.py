"""A host stand-in for the part of CuPy that ionc's CUDA runtime uses.

Installed as ``sys.modules['cupy']`` by the ``simulated_gpu`` fixture, it lets
the CUDA target's runtime run in CI without a GPU:

* ``RawModule`` compiles the emitted CUDA source with g++ through
  ``host_shim.h`` and runs each launch over its simulated grid, one call per
  (block, thread), so the grid-stride loops and launch configuration are real;
* every launch checks its arguments as the GPU would read them: a ``float``
  parameter must get a ``numpy.float32``, a pointer a device array of the
  pointee's dtype (or None), so a scalar of the wrong width fails here instead
  of corrupting memory on a real device;
* ``ndarray`` keeps its data in host memory but, like CuPy's, refuses implicit
  conversion to NumPy (``.get()`` is the way back), so host-only code paths in
  the runtime are caught.
"""
from __future__ import annotations

import ctypes
import hashlib
import re
import subprocess
import tempfile
import types
from pathlib import Path

import cffi
import numpy as np

SHIM = Path(__file__).parent / "host_shim.h"
_BUILD_DIR = Path(tempfile.mkdtemp(prefix="ionc-fake-cupy-"))

#: What the simulated device reports; tests may change it.
PROPERTIES = {"name": b"ionc host-simulated GPU", "major": 9, "minor": 0,
              "multiProcessorCount": 2, "maxThreadsPerMultiProcessor": 512}
DEVICE_COUNT = 1
#: Every launch as (kernel name, grid, block, args); tests read it.
LAUNCHES: list[tuple[str, tuple, tuple, tuple]] = []

float32, float64, uint64, int64 = np.float32, np.float64, np.uint64, np.int64


class CUDARuntimeError(RuntimeError):
    """Raised where CuPy's runtime would raise (no device)."""


class CompileException(RuntimeError):
    """The kernel source did not compile."""


# ---- devices -------------------------------------------------------------
class Device:
    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)
        if not 0 <= self.id < max(DEVICE_COUNT, 1):
            raise CUDARuntimeError(f"cudaErrorInvalidDevice: device {self.id}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def synchronize(self):
        pass


def _get_device_count():
    if DEVICE_COUNT == 0:
        raise CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
    return DEVICE_COUNT


def _get_device_properties(device_id):
    return dict(PROPERTIES)


runtime = types.SimpleNamespace(getDeviceCount=_get_device_count,
                                getDeviceProperties=_get_device_properties,
                                CUDARuntimeError=CUDARuntimeError)
cuda = types.SimpleNamespace(Device=Device, runtime=runtime,
                             compiler=types.SimpleNamespace(CompileException=CompileException))


def is_available() -> bool:
    return DEVICE_COUNT > 0


# ---- arrays --------------------------------------------------------------
class _Flags:
    def __init__(self, a):
        self.c_contiguous = a.flags.c_contiguous


def _unwrap(x):
    if isinstance(x, ndarray):
        return x._host
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v) for v in x)
    return x


def _rewrap(x):
    return ndarray(x) if isinstance(x, np.ndarray) else x


class ndarray(np.lib.mixins.NDArrayOperatorsMixin):
    """Device memory simulated by a host array; CuPy's attributes and array functions
    (NumPy's ufuncs and functions dispatch to it, returning device arrays), none of
    NumPy's implicit conversions."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        kwargs = {k: _unwrap(v) for k, v in kwargs.items()}
        return _rewrap(getattr(ufunc, method)(*_unwrap(inputs), **kwargs))

    def __array_function__(self, func, types, args, kwargs):
        return _rewrap(func(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))

    def __init__(self, host: np.ndarray, device_id: int = 0):
        self._host = host
        self.device = Device(device_id)

    shape = property(lambda self: self._host.shape)
    dtype = property(lambda self: self._host.dtype)
    size = property(lambda self: self._host.size)
    ndim = property(lambda self: self._host.ndim)
    nbytes = property(lambda self: self._host.nbytes)
    flags = property(lambda self: _Flags(self._host))

    @property
    def __cuda_array_interface__(self):
        return {"shape": self.shape, "typestr": self.dtype.str, "version": 3,
                "data": (self._host.ctypes.data, False),
                "strides": None if self._host.flags.c_contiguous else self._host.strides}

    def __dlpack__(self, **kwargs):
        return self._host.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return (2, self.device.id)

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def __len__(self):
        return len(self._host)

    def __getitem__(self, key):
        return ndarray(self._host[key], self.device.id)

    def __setitem__(self, key, value):
        if isinstance(value, np.ndarray):
            raise TypeError("Unsupported type <class 'numpy.ndarray'>")
        self._host[key] = value._host if isinstance(value, ndarray) else value

    def get(self) -> np.ndarray:
        return self._host.copy()

    def copy(self) -> "ndarray":
        return ndarray(self._host.copy(), self.device.id)

    def fill(self, value) -> None:
        self._host.fill(value)

    def view(self, dtype) -> "ndarray":
        return ndarray(self._host.view(dtype), self.device.id)

    def reshape(self, *shape) -> "ndarray":
        return ndarray(self._host.reshape(*shape), self.device.id)


def _wrap(host, copy):
    return ndarray(np.array(host, copy=True) if copy else host)


def asarray(a, dtype=None):
    if isinstance(a, ndarray):
        return a if dtype is None or np.dtype(dtype) == a.dtype else _wrap(
            a._host.astype(dtype), False)
    if hasattr(a, "__cuda_array_interface__"):
        cai = a.__cuda_array_interface__
        dt = np.dtype(cai["typestr"])
        nbytes = int(np.prod(cai["shape"])) * dt.itemsize
        raw = ctypes.cast(cai["data"][0], ctypes.POINTER(ctypes.c_ubyte))
        host = np.ctypeslib.as_array(raw, (nbytes,)).view(dt).reshape(cai["shape"])
        return asarray(ndarray(host), dtype)
    return ndarray(np.array(a, dtype=dtype, copy=True, order="C"))


class _HostView:
    def __init__(self, obj):
        self.obj = obj

    def __dlpack__(self, **kwargs):
        return self.obj.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return (1, 0)


def from_dlpack(obj):
    if obj.__dlpack_device__()[0] != 2:
        raise TypeError("from_dlpack: the array is not on a CUDA device")
    return ndarray(np.from_dlpack(_HostView(obj)))


def ascontiguousarray(a, dtype=None):
    return ndarray(np.ascontiguousarray(a._host, dtype=dtype), a.device.id)


def broadcast_to(a, shape):
    return ndarray(np.broadcast_to(a._host, shape), a.device.id)


def empty(shape, dtype=float):
    return ndarray(np.full(shape, np.nan, dtype) if np.dtype(dtype).kind == "f"
                   else np.empty(shape, dtype))


def zeros(shape, dtype=float):
    return ndarray(np.zeros(shape, dtype))


def full(shape, value, dtype=None):
    return ndarray(np.full(shape, value, dtype))


def copyto(dst, src):
    np.copyto(dst._host, src._host)


class _MemoryPool:
    def free_all_blocks(self):
        pass


def get_default_memory_pool():
    return _MemoryPool()


def asnumpy(a):
    return a.get() if isinstance(a, ndarray) else np.asarray(a)


# ---- kernels -------------------------------------------------------------
_KERNEL = re.compile(r'extern "C" __global__ (void (\w+)\(([^)]*)\))')
_C_TYPES = {"float": np.float32, "double": np.float64, "int64_t": np.int64,
            "unsigned long long": np.uint64, "unsigned char": np.uint8, "int32_t": np.int32}


def compile_for_host(source: str):
    """``(ffi, lib, {kernel: [C parameter types]})`` for CUDA ``source`` built with g++
    through the host shim (cached per source)."""
    real = re.search(r"typedef (float|double) real;", source).group(1)
    kernels = {}
    for _, name, params in _KERNEL.findall(source):
        params = params.replace("IONC_RESTRICT", "").replace("real", real)
        kernels[name] = [" ".join(p.replace("*", " * ").split()).rsplit(" ", 1)[0]
                         for p in params.split(",")]
        kernels[name] = [t.replace("const ", "") for t in kernels[name]]
    decls = [f"void {n}({', '.join(t + ' a' + str(i) for i, t in enumerate(ts))});"
             for n, ts in kernels.items()]
    digest = hashlib.sha256((source + SHIM.read_text()).encode()).hexdigest()[:16]
    so = _BUILD_DIR / f"kernels_{digest}.so"
    if not so.exists():
        cu = _BUILD_DIR / f"kernels_{digest}.cu"
        cu.write_text(source)
        r = subprocess.run(["g++", "-std=c++17", "-O1", "-ffp-contract=off", "-fPIC", "-shared",
                            "-include", str(SHIM), "-x", "c++", str(cu), "-o", str(so)],
                           capture_output=True, text=True)
        if r.returncode:
            raise CompileException(r.stderr[-3000:])
    ffi = cffi.FFI()
    ffi.cdef("\n".join(decls) + "\nvoid ionc_shim_set(unsigned int, unsigned int, "
             "unsigned int, unsigned int);")
    return ffi, ffi.dlopen(str(so)), kernels


class RawKernel:
    max_threads_per_block = 1024

    def __init__(self, module: "RawModule", name: str):
        self.module, self.name = module, name
        self.params = module.params[name]
        self._fn = getattr(module.lib, name)

    def _argument(self, ctype: str, value, index: int):
        if ctype.endswith("*"):
            pointee = _C_TYPES[ctype[:-1].strip()]
            if value is None:
                return self.module.ffi.NULL
            if not isinstance(value, ndarray) or value.dtype != pointee \
                    or not value.flags.c_contiguous:
                raise TypeError(f"{self.name} argument {index} ({ctype}) got {value!r}")
            return self.module.ffi.cast(ctype, value._host.ctypes.data)
        want = _C_TYPES[ctype]
        ok = type(value) is want or (want is np.float64 and type(value) is float) or (
            want is np.int64 and type(value) is int)
        if not ok:
            raise TypeError(f"{self.name} argument {index} ({ctype}) got {type(value).__name__}"
                            f" {value!r}: on a GPU its bytes would be misread")
        return value

    def __call__(self, grid, block, args, shared_mem=0, stream=None):
        if not (isinstance(grid, tuple) and isinstance(block, tuple) and isinstance(args, tuple)):
            raise TypeError("grid, block and args must be tuples")
        if len(args) != len(self.params):
            raise TypeError(f"{self.name} takes {len(self.params)} arguments, got {len(args)}")
        if not 1 <= block[0] <= self.max_threads_per_block or grid[0] < 1:
            raise ValueError(f"bad launch configuration {grid} x {block}")
        c_args = [self._argument(t, a, i) for i, (t, a) in enumerate(zip(self.params, args))]
        LAUNCHES.append((self.name, grid, block, args))
        set_thread = self.module.lib.ionc_shim_set
        for b in range(grid[0]):
            for t in range(block[0]):
                set_thread(b, t, block[0], grid[0])
                self._fn(*c_args)


class RawModule:
    def __init__(self, code: str, options=(), **kwargs):
        self.code, self.options = code, tuple(options)
        self.ffi, self.lib, self.params = compile_for_host(code)

    def get_function(self, name: str) -> RawKernel:
        if name not in self.params:
            raise KeyError(f"no kernel named {name!r} in the module")
        return RawKernel(self, name)
