"""ionc's build stage: source text -> something callable.

``build_c_extension`` compiles C through cffi into a content-addressed cache
that is safe under concurrent builds; ``build_cuda_module`` compiles CUDA
through CuPy (NVRTC); ``build_xla_library`` compiles XLA FFI handlers with the C
kernels they call; ``load_python_module`` turns the NumPy target's source
into a module.  Nothing here knows about SymPy.
"""
from .cache import (CacheError, artifact_is_intact, atomic_write, cache_dir, cached_artifacts,
                    content_hash, remove_artifacts, remove_stale)
from .c_extension import BuildError, CompiledExtension, build_c_extension
from .cuda_module import (CudaDevice, CudaModule, CudaUnavailableError, build_cuda_module,
                          cuda_device, import_cupy, launch_config)
from .compiler import CompilerNotFoundError, CompilerSettings, compiler_settings
from .python_module import load_python_module
from .xla_library import XlaLibrary, build_xla_cuda_library, build_xla_library

__all__ = [
    "CacheError", "artifact_is_intact", "atomic_write", "cache_dir", "cached_artifacts",
    "content_hash", "remove_artifacts", "remove_stale", "BuildError",
    "CompiledExtension", "build_c_extension", "CompilerNotFoundError", "CompilerSettings",
    "compiler_settings", "load_python_module", "CudaDevice", "CudaModule",
    "CudaUnavailableError", "build_cuda_module", "cuda_device", "import_cupy", "launch_config",
    "XlaLibrary", "build_xla_library", "build_xla_cuda_library",
]
