"""NVRTC through ctypes: compile CUDA source to PTX the way CuPy's RawModule does,
without a GPU (NVRTC is a compiler library; the nvidia-cuda-nvrtc wheel has it)."""
from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=None)
def library() -> ctypes.CDLL | None:
    """libnvrtc from the nvidia-cuda-nvrtc wheel or the system, or None."""
    candidates = []
    try:
        import nvidia.cuda_nvrtc
        for base in nvidia.cuda_nvrtc.__path__:
            candidates += sorted(Path(base, "lib").glob("libnvrtc.so.*"))
    except ImportError:
        pass
    found = ctypes.util.find_library("nvrtc")
    candidates += [found] if found else []
    for path in candidates:
        try:
            return ctypes.CDLL(str(path))
        except OSError:
            continue
    return None


def version() -> tuple[int, int]:
    """NVRTC's (major, minor)."""
    major, minor = ctypes.c_int(), ctypes.c_int()
    library().nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
    return major.value, minor.value


def supported_architectures() -> list[int]:
    """The compute capabilities this NVRTC compiles for (e.g. 50 ... 120)."""
    lib = library()
    count = ctypes.c_int()
    lib.nvrtcGetNumSupportedArchs(ctypes.byref(count))
    archs = (ctypes.c_int * count.value)()
    lib.nvrtcGetSupportedArchs(archs)
    return list(archs)


def compile_ptx(source: str, options: tuple[str, ...]) -> tuple[int, str, str]:
    """``(status, log, ptx)``; status 0 is success."""
    lib = library()
    prog = ctypes.c_void_p()
    status = lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), b"ionc.cu", 0,
                                    None, None)
    assert status == 0, f"nvrtcCreateProgram: {status}"
    opts = (ctypes.c_char_p * len(options))(*(o.encode() for o in options))
    status = lib.nvrtcCompileProgram(prog, len(options), opts)
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, log)
    ptx = ""
    if status == 0:
        lib.nvrtcGetPTXSize(prog, ctypes.byref(size))
        buf = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetPTX(prog, buf)
        ptx = buf.value.decode()
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    return status, log.value.decode(errors="replace"), ptx
