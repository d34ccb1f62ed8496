"""Where the tests run a channel: the host targets, the CUDA target on a simulated
GPU (``cuda-sim``: CuPy replaced by tests/cuda/fake_cupy.py, so CI runs the CUDA
source and the device runtime) and on a real GPU (``cuda``, marked ``gpu``,
skipped without CuPy and a device)."""
from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

CUDA_HELPERS = Path(__file__).parent / "cuda"


#: Set (``make test-gpu``) to make a missing or broken GPU stack fail instead of skip.
REQUIRE_GPU = os.environ.get("IONC_REQUIRE_GPU", "") not in ("", "0")


@functools.lru_cache(maxsize=None)
def gpu_available() -> bool:
    """True when CuPy imports and sees a CUDA device; with ``IONC_REQUIRE_GPU=1`` the
    reason there is none is raised instead."""
    try:
        import cupy
        if not cupy.is_available():
            raise RuntimeError("CuPy sees no CUDA device")
        return True
    except Exception as exc:
        if REQUIRE_GPU:
            raise RuntimeError(f"IONC_REQUIRE_GPU is set but the GPU stack is unusable: "
                               f"{type(exc).__name__}: {exc}") from exc
        return False


#: The real-GPU target, for parametrize lists.
GPU = pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
    not gpu_available(), reason="needs CuPy and a CUDA GPU")])
#: Every target a channel can run on in this test session.
TARGETS = ["cpu", "numpy", "cuda-sim", GPU]


@functools.lru_cache(maxsize=None)
def cuda_helper(name: str):
    """Module ``tests/cuda/<name>.py``, loaded once by path (a top-level ``cuda``
    package, such as NVIDIA's cuda-python, cannot shadow it)."""
    spec = importlib.util.spec_from_file_location(f"ionc_{name}", CUDA_HELPERS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_cupy():
    """The host stand-in for CuPy (tests/cuda/fake_cupy.py)."""
    return cuda_helper("fake_cupy")


def host(a) -> np.ndarray:
    """``a`` as a NumPy array (device arrays are copied back)."""
    if isinstance(a, np.ndarray):
        return a
    if hasattr(a, "__cuda_array_interface__"):
        return a.get()
    return np.asarray(a)
