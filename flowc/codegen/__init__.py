"""Code generation: IR → C++ (OpenMP) source text. One module per target."""

from flowc.codegen import lapack  # noqa: F401  (registers the LAPACK emitters of ir.library_extra)
from flowc.codegen import scan  # noqa: F401  (registers the Scan emitter)
from flowc.codegen.cpp import GeneratedCode, generate_cpp

__all__ = ["GeneratedCode", "generate_cpp"]
