"""flowc's runtime: from generated C++ text to a Python callable.

- :func:`compile_source` runs the C++ compiler with a content-hash disk cache
  (``flowc.runtime.compiler``);
- :func:`bind` loads the library with ctypes and wraps its entry point in a
  :class:`CompiledProgram` that checks and marshals arguments
  (``flowc.runtime.binding``);
- :func:`blas_info` says which BLAS generated code links against and how its
  symbols are prefixed (``flowc.runtime.blas``).
"""

from flowc.runtime.binding import CompiledProgram, bind
from flowc.runtime.blas import BlasInfo, BlasNotFoundError, blas_info
from flowc.runtime.compiler import cache_dir, compile_source

__all__ = ["BlasInfo", "BlasNotFoundError", "CompiledProgram", "bind", "blas_info", "cache_dir", "compile_source"]
