"""flowc's IR: the parametric dataflow multigraph every stage reads and writes.

This package is the hub: the frontend, transformations, code generation and
the runtime all import it, and it imports none of them.
"""

from flowc.ir import dtypes
from flowc.ir.control import Block, Branch, Loop, While
from flowc.ir.data import Array, ArrayType, Scalar, Storage
from flowc.ir.dtypes import (
    DType,
    bool_,
    complex64,
    complex128,
    dtype_of,
    float16,
    float32,
    float64,
    int8,
    int16,
    int32,
    int64,
    uint8,
    uint16,
    uint32,
    uint64,
)
from flowc.ir.epilogue import Epilogue
from flowc.ir.errors import CompileError, FlowcError, FrontendError, IRError, ValidationError
from flowc.ir.expr import Code
from flowc.ir.gemv_pair import GemvPair
from flowc.ir.library import MatMul, Reduce
from flowc.ir.memlet import Memlet
from flowc.ir.nodes import (AccessNode, LibraryNode, Map, MapEntry, MapExit, Node, Schedule, ScopeConnector, Tasklet,
                            connector_name, in_connector, out_connector, partner_connector)
from flowc.ir.program import Param, Program
from flowc.ir.state import Edge, State
from flowc.ir.symbolic import Range, Subset, symbol


def from_json(text: str) -> Program:
    """Rebuild a program from ``Program.to_json()`` text (exact round trip)."""
    from flowc.ir.serialize import program_from_json

    return program_from_json(text)


__all__ = [
    "AccessNode", "Array", "ArrayType", "Block", "Branch", "Code", "CompileError", "DType", "Edge", "Epilogue",
    "FlowcError", "FrontendError", "GemvPair", "IRError", "LibraryNode", "Loop", "Map", "MapEntry", "MapExit",
    "MatMul", "Memlet", "Node", "Param", "Program", "Range", "Reduce", "Scalar", "Schedule", "ScopeConnector", "State",
    "Storage", "Subset", "Tasklet", "ValidationError", "While", "bool_", "complex64", "complex128",
    "connector_name", "dtype_of", "dtypes", "float16", "float32", "float64", "from_json", "int8", "int16", "int32",
    "in_connector", "int64", "out_connector", "partner_connector", "symbol", "uint8", "uint16", "uint32", "uint64",
]
