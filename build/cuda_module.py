"""Compile CUDA source with CuPy (``RawModule``, NVRTC) into launchable kernels.

CuPy is imported when first needed, so that the rest of ionc works without
it.  Compiled code is cached twice: CuPy keeps the cubin on disk, keyed by
the source, the options, the NVRTC version and the GPU architecture
(``CUPY_CACHE_DIR``, default ``~/.cupy/kernel_cache``; it writes to a
temporary file and renames it), and ionc keeps each loaded module per
process, keyed by the source's content hash, the options and the device.

No ``--use_fast_math``: the accuracy contract rests on the device's exp and
expm1 and on IEEE division, which the fast intrinsics (``__expf`` has an
error of 2 + 1.17|x| ulp) would break near every singular point.  ionc adds
no NVRTC option of its own (NVRTC's defaults: C++17, FMA contraction); CuPy
adds ``-ftz=true`` (float32 subnormals flush to zero on the GPU; float64 is
unaffected) and ``--device-as-default-execution-space``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .cache import content_hash

#: NVRTC options ionc passes to every module (none: NVRTC's defaults).
NVRTC_OPTIONS: tuple[str, ...] = ()
#: The options CuPy (14) adds to every NVRTC compile, besides the architecture.
CUPY_NVRTC_OPTIONS = ("-ftz=true", "--device-as-default-execution-space")
#: Threads per block, unless a kernel's register use allows fewer.
BLOCK = 256


class CudaUnavailableError(RuntimeError):
    """CuPy is not installed or no CUDA GPU is usable: the message says which."""


def import_cupy():
    """The ``cupy`` module, or a :class:`CudaUnavailableError` naming the missing piece."""
    try:
        import cupy
    except ImportError as exc:
        raise CudaUnavailableError(
            "the CUDA target needs CuPy, which is not installed: pip install 'ionc[cuda]' "
            f"(cupy-cuda12x) ({exc})") from None
    return cupy


@dataclass(frozen=True)
class CudaDevice:
    """The GPU a channel runs on, with what its launch configuration depends on."""

    id: int
    name: str
    compute_capability: str
    multiprocessors: int
    max_threads_per_multiprocessor: int

    def describe(self) -> str:
        """Name, architecture and size of the device, in one line."""
        return (f"GPU {self.id}: {self.name} (sm_{self.compute_capability}, "
                f"{self.multiprocessors} SMs)")


def cuda_device() -> CudaDevice:
    """The current CUDA device, or a :class:`CudaUnavailableError` saying why there is none."""
    cp = import_cupy()
    try:
        count = cp.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError: no driver, no device
        raise CudaUnavailableError(f"CuPy is installed but no CUDA GPU is usable: {exc}") from None
    if count < 1:
        raise CudaUnavailableError("CuPy is installed but no CUDA GPU is usable: "
                                   "the driver reports 0 devices")
    device_id = cp.cuda.Device().id
    props = cp.cuda.runtime.getDeviceProperties(device_id)
    name = props["name"]
    return CudaDevice(
        id=device_id,
        name=name.decode() if isinstance(name, bytes) else str(name),
        compute_capability=f"{props['major']}{props['minor']}",
        multiprocessors=int(props["multiProcessorCount"]),
        max_threads_per_multiprocessor=int(props["maxThreadsPerMultiProcessor"]))


def launch_config(n: int, device: CudaDevice, max_block: int) -> tuple[int, int]:
    """``(blocks, threads per block)`` for ``n`` elements: enough blocks to fill every
    SM once at full occupancy, fewer when ``n`` needs fewer; the kernels' grid-stride
    loops cover the rest."""
    block = max(32, min(BLOCK, max_block) // 32 * 32)
    resident = device.multiprocessors * max(1, device.max_threads_per_multiprocessor // block)
    return max(1, min(-(-n // block), resident)), block


@dataclass
class CudaModule:
    """One compiled module on one device: its kernels by name."""

    hash: str
    device: CudaDevice
    options: tuple[str, ...]
    kernels: dict[str, Any] = field(repr=False)

    def describe(self) -> str:
        """What was compiled, where and how, in one line."""
        options = " ".join(self.options + CUPY_NVRTC_OPTIONS)
        return (f"CuPy RawModule {self.hash} on {self.device.describe()}; NVRTC {options}; "
                f"cubin cached by CuPy (CUPY_CACHE_DIR)")


_MODULES: dict[tuple, CudaModule] = {}


def build_cuda_module(source: str, names: tuple[str, ...],
                      options: tuple[str, ...] = NVRTC_OPTIONS) -> CudaModule:
    """Compile ``source`` for the current device and fetch the kernels ``names``
    (memoised per process; CuPy caches the cubin on disk)."""
    cp = import_cupy()
    device = cuda_device()
    key = (content_hash(source), options, device.id)
    module = _MODULES.get(key)
    if module is None:
        raw = cp.RawModule(code=source, options=options)
        kernels = {name: raw.get_function(name) for name in names}
        module = _MODULES[key] = CudaModule(key[0], device, options, kernels)
    return module
