"""Load the NumPy target's generated source as a module (no disk involved)."""
from __future__ import annotations

import types

from .cache import content_hash

_MODULES: dict[str, types.ModuleType] = {}


def load_python_module(source: str, name: str = "ionc_numpy_kernels") -> types.ModuleType:
    """Execute ``source`` as a fresh module (memoised on the source's hash)."""
    key = content_hash(source)
    module = _MODULES.get(key)
    if module is None:
        module = types.ModuleType(f"{name}_{key}")
        module.__file__ = f"<ionc generated {key}>"
        exec(compile(source, module.__file__, "exec"), module.__dict__)
        _MODULES[key] = module
    return module
