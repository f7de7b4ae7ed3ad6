"""Code generation: IR → C++ (OpenMP) source text. One module per target."""

from flowc.codegen.cpp import GeneratedCode, generate_cpp

__all__ = ["GeneratedCode", "generate_cpp"]
