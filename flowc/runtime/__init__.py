"""flowc's runtime: from generated C++ text to a Python callable.

- :func:`compile_source` runs the C++ compiler with a content-hash disk cache
  (``flowc.runtime.compiler``; entries, verification, locks and the fallback directory in
  ``flowc.runtime.cache``; lowered programs for warm starts in ``flowc.runtime.program_cache``);
- :func:`bind` loads the library with ctypes and wraps its entry point in a
  :class:`CompiledProgram` that checks and marshals arguments
  (``flowc.runtime.binding``);
- :func:`blas_info` says which BLAS generated code links against and how its
  symbols are prefixed (``flowc.runtime.blas``).
"""

from flowc.runtime.binding import CompiledProgram, KernelTime, bind
from flowc.runtime.blas import BlasInfo, BlasNotFoundError, blas_info
from flowc.runtime import cache, program_cache
from flowc.runtime.cache import CacheWarning, cache_enabled
from flowc.runtime.compiler import build_key, cache_dir, cached_library, compile_source

__all__ = ["BlasInfo", "BlasNotFoundError", "CacheWarning", "CompiledProgram", "KernelTime", "bind", "blas_info",
           "build_key", "cache", "cache_dir", "cache_enabled", "cached_library", "compile_source", "program_cache"]
