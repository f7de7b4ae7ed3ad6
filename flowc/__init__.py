"""flowc: a data-centric dataflow compiler for NumPy-style Python.

    import flowc, numpy as np
    N = flowc.symbol("N")

    @flowc.program
    def axpy(a: flowc.float32, x: flowc.float32[N], y: flowc.float32[N]):
        return a * x + y

See README.md for a tour and docs/ for the design.
"""

from flowc import ir, transforms
from flowc.api import ProgramObject, compile_program, map, program
from flowc.ir.dtypes import (DType, bool_, complex64, complex128, float16, float32, float64, int8, int16, int32,
                             int64, uint8, uint16, uint32, uint64)
from flowc.ir.errors import CompileError, FlowcError, FrontendError, IRError, TargetError, ValidationError
from flowc.ir.symbolic import symbol
from flowc.transients import define_local, define_local_scalar

__version__ = "0.1.0"

__all__ = [
    "CompileError", "DType", "FlowcError", "FrontendError", "IRError", "ProgramObject", "TargetError",
    "ValidationError",
    "__version__", "bool_", "compile_program", "complex64", "complex128", "define_local", "define_local_scalar",
    "float16", "float32", "float64",
    "int8", "int16", "int32", "int64", "ir", "map", "program", "symbol", "transforms", "uint8", "uint16",
    "uint32", "uint64",
]
