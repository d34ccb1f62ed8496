"""Checks and conversions of user input (voltages, steps, parameters), host and GPU."""
from __future__ import annotations

import math
from typing import Any

import numpy as np


#: The most elements a channel's states may have (2**40: 8 TiB of float64 per state).
MAX_ELEMENTS = 1 << 40


def varshape_of(size, keep_size: bool) -> tuple[int, ...]:
    """BrainPy's ``varshape``: ``size`` as a tuple, flattened unless ``keep_size``."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer, tuple, list)):
        raise TypeError(f"size must be an int or a tuple of ints, got {type(size).__name__} "
                        f"{size!r}")
    shape = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
    if any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) for s in shape):
        raise TypeError(f"size must be an int or a tuple of ints, got {size!r}")
    if not shape or any(s <= 0 for s in shape):
        raise ValueError(f"size must be a positive int or a tuple of them, got {size!r}")
    shape = tuple(int(s) for s in shape)
    total = math.prod(shape)            # exact: numpy's product wraps around past 2**63
    if total > MAX_ELEMENTS:
        raise ValueError(f"size {size!r} has {total} elements, more than the {MAX_ELEMENTS} "
                         f"a channel may hold")
    return shape if keep_size else (total,)


def check_count(value: Any, name: str) -> int:
    """A non-negative int argument (a number of steps), or a TypeError/ValueError
    naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def check_dt(dt: Any) -> float:
    """``dt`` as a float; a ValueError unless it is finite and positive."""
    try:
        value = float(dt)
    except (TypeError, ValueError):
        raise TypeError(f"dt must be a real number, got {dt!r}") from None
    if not (value > 0.0) or math.isinf(value):
        raise ValueError(f"dt must be finite and > 0, got {dt!r}")
    return value


def as_voltage(V: Any, shape: tuple[int, ...], dtype: np.dtype, name: str = "V") -> np.ndarray:
    """``V`` as a C-contiguous array of ``shape`` and ``dtype`` (a copy only if needed).

    Broadcastable input (a scalar clamp level, a ``(1, N)`` row) is expanded;
    other shapes, non-real dtypes and GPU arrays are refused with a message
    naming what was expected.
    """
    if hasattr(V, "__cuda_array_interface__"):
        raise TypeError(f"{name} is a GPU array; this channel runs on the host "
                        f"(target 'cpu' or 'numpy'): pass a NumPy array (e.g. V.get())")
    return _conform(np, np.asarray(V), shape, dtype, name)


def _conform(xp, arr, shape: tuple[int, ...], dtype: np.dtype, name: str):
    """``arr`` (a NumPy or CuPy array, per ``xp``) checked to hold real numbers,
    broadcast to ``shape`` and made C-contiguous in ``dtype`` (copied only if needed)."""
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.shape != shape:
        try:
            arr = xp.broadcast_to(arr, shape)
        except ValueError:
            raise ValueError(f"{name} has shape {arr.shape}, expected {shape} "
                             f"(or a shape broadcastable to it)") from None
    return xp.ascontiguousarray(arr, dtype=dtype)


#: DLPack device types whose memory a CUDA kernel can read: CUDA, CUDA host, CUDA managed.
_DLPACK_CUDA = (2, 3, 13)


def as_device_array(cp, V: Any, shape: tuple[int, ...], dtype: np.dtype, device_id: int,
                    name: str = "V"):
    """``V`` as a C-contiguous CuPy array of ``shape`` and ``dtype`` on GPU ``device_id``.

    CuPy arrays and GPU arrays seen through ``__cuda_array_interface__`` or
    DLPack are used in place (copied only to change dtype, layout or to
    broadcast); anything else is checked as on the host and copied to the GPU.
    """
    if isinstance(V, cp.ndarray):
        arr = V
    elif hasattr(V, "__cuda_array_interface__"):
        arr = cp.asarray(V)
    elif hasattr(V, "__dlpack_device__") and V.__dlpack_device__()[0] in _DLPACK_CUDA:
        arr = cp.from_dlpack(V)
    else:
        with cp.cuda.Device(device_id):
            return cp.asarray(as_voltage(V, shape, dtype, name))
    if arr.device.id != device_id:
        raise ValueError(f"{name} lives on GPU {arr.device.id}, this channel's states on GPU "
                         f"{device_id}; move it first (with cupy.cuda.Device({device_id}): "
                         f"cupy.asarray({name}))")
    if arr.shape == shape and arr.dtype == dtype and arr.flags.c_contiguous:
        return arr
    with cp.cuda.Device(device_id):
        return _conform(cp, arr, shape, dtype, name)


def resolve_parameter(name: str, value: Any, shape: tuple[int, ...], dtype: np.dtype
                      ) -> float | np.ndarray:
    """A parameter as a Python float (homogeneous) or an array of ``shape``.

    ``value`` may be a number, an array broadcastable to ``shape`` or a
    callable ``f(shape)`` (a BrainPy initializer).  An array whose entries are
    all equal is still kept per neuron: the user asked for one.
    """
    if callable(value):
        value = value(shape)
    if hasattr(value, "__cuda_array_interface__"):
        value = value.get()
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"parameter {name} must be real, got {value!r}")
    if arr.ndim == 0:
        x = float(arr)
        if not math.isfinite(x):
            raise ValueError(f"parameter {name} must be finite, got {x}")
        if abs(x) > float(np.finfo(dtype).max):
            raise ValueError(f"parameter {name} = {x!r} is not finite in {np.dtype(dtype)} "
                             f"(at most {np.finfo(dtype).max:.4g})")
        return x
    try:
        arr = np.ascontiguousarray(np.broadcast_to(arr, shape), dtype=dtype)
    except ValueError:
        raise ValueError(f"parameter {name} has shape {arr.shape}, which does not "
                         f"broadcast to the channel's shape {shape}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"parameter {name} has non-finite entries (NaN, +-inf, or beyond "
                         f"{np.dtype(dtype)}'s range)")
    return arr

