"""Library expansion: choose each library node's implementation for a target.

A MatMul whose operands are strided GEMM operands stays a BLAS call; every
other library node (and a MatMul BLAS cannot express: integer types, a
broadcast matrix dimension) is expanded into maps::

    A ─▶ [MatMul] ─▶ C        ⇒   A ─▶ map b,i,j { acc=0; map k { acc += A·B }; C = acc } ─▶ C
                                     (BLAS-expressible operands: left as a GEMM call)
"""

from __future__ import annotations

from flowc.ir.library import MatMul, gemm_unsupported
from flowc.ir.nodes import LibraryNode
from flowc.ir.program import Program

#: implementations code generation can call directly, per target
NATIVE = {"cpu": {("MatMul", "blas"), ("Cholesky", "lapack"), ("Solve", "lapack"), ("Inv", "lapack"),
                  ("Scan", "native")},
          "cuda": {("MatMul", "blas")}}


def expand_library_nodes(program: Program, target: str = "cpu") -> list[str]:
    """Expand every library node the target cannot call natively; return what was expanded."""
    expanded: list[str] = []
    native = NATIVE.get(target, set())
    for state in list(program.states()):
        for node in list(state.nodes()):
            if not isinstance(node, LibraryNode):
                continue
            if isinstance(node, MatMul) and node.implementation == "blas":
                if gemm_unsupported(program, state, node) is None and ("MatMul", "blas") in native:
                    continue
            elif (type(node).__name__, node.implementation) in native:
                continue
            node.expand(program, state)
            expanded.append(f"{state.name}/{node.label}")
    return expanded
