"""Code generation: IR → source text, one module per target (``cpp``: C++ with OpenMP;
``cuda``: CUDA kernels, a subclass of the C++ generator)."""

from flowc.codegen import lapack  # noqa: F401  (registers the LAPACK emitters of ir.library_extra)
from flowc.codegen import scan  # noqa: F401  (registers the Scan emitter)
from flowc.codegen import blas_pair  # noqa: F401  (registers the GemvPair emitter)
from flowc.codegen.cpp import GeneratedCode, generate_cpp
from flowc.codegen.cuda import generate_cuda

__all__ = ["GeneratedCode", "generate_cpp", "generate_cuda"]
