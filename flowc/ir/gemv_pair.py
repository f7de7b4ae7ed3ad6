"""GemvPair: two matrix–vector products over one matrix, computed in one sweep over it.

::

    y[M, 1] = A[M, K] @ x[K, 1]        (the rows of A, one dot product each)
    s[1, K] = r[1, M] @ A[M, K]        (the columns of A: a sum of r-weighted rows)

Each product alone reads all of A (``M·K`` elements) for ``M + K`` elements of vectors: a
matrix–vector product is bound by the matrix's bytes. Together they need A only once: the
CPU implementation (``flowc.codegen.blas_pair``) walks A a few rows at a time, each element
feeding both products, so a BiCG-style pair (``A @ p, r @ A``)
moves half the bytes two separate GEMVs (or NumPy) move. ``GemvPairFusion`` makes this node
from two ``MatMul`` nodes; ``expand`` gives them back (for targets without an
implementation), with their names and operands.

Connectors carry the two MatMuls' own operands: ``_a`` the matrix (row-major: unit stride
along its rows), ``_x`` ``[K, 1]``, ``_r`` ``[1, M]`` (views of vectors, any positive
stride), results ``_y`` ``[M, 1]`` and ``_s`` ``[1, K]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from flowc.ir.errors import IRError
from flowc.ir.library import MatMul, _edge_for
from flowc.ir.nodes import LibraryNode
from flowc.ir.symbolic import equal

if TYPE_CHECKING:
    from flowc.ir.program import Program
    from flowc.ir.state import State


class GemvPair(LibraryNode):
    inputs = ("_a", "_x", "_r")
    outputs = ("_y", "_s")
    implementations = ("blas",)

    def __init__(self, name: str = "matmul", implementation: Optional[str] = None, cols: Optional[str] = None):
        super().__init__(name, implementation)
        #: the name of the ``r @ A`` product (``name`` is the ``A @ x`` one's): ``expand`` restores both
        self.cols = cols if cols is not None else name

    def properties(self) -> dict[str, Any]:
        return {"cols": self.cols}

    def operands(self, state: "State") -> dict[str, str]:
        """Connector → container name."""
        out = {c: _edge_for(state, self, c, True).data for c in self.inputs}
        out.update({c: _edge_for(state, self, c, False).data for c in self.outputs})
        return out

    def check_shapes(self, program: "Program", state: "State") -> None:
        ops = self.operands(state)
        a, x, r, y, s = (program.data[ops[c]] for c in ("_a", "_x", "_r", "_y", "_s"))
        if any(d.ndim != 2 for d in (a, x, r, y, s)):
            raise IRError(f"{self!r}: every operand is 2-d (the MatMuls' views)")
        m, k = a.shape
        want = {"_x": (k, 1), "_r": (1, m), "_y": (m, 1), "_s": (1, k)}
        for conn, shape in want.items():
            got = program.data[ops[conn]].shape
            if not all(equal(g, w) for g, w in zip(got, shape)):
                raise IRError(f"{self!r}: {conn} ({ops[conn]}) has shape {got}, expected {shape} for A {a.shape}")
        if len({d.dtype.name for d in (a, x, r, y, s)}) != 1 or a.dtype.name not in ("float32", "float64"):
            raise IRError(f"{self!r}: operands must all be float32 or all float64")

    def expand(self, program: "Program", state: "State") -> None:
        """Back to the two MatMuls (same operands, same edges)."""
        edges = {e.dst_conn: e for e in state.in_edges(self)}
        edges.update({e.src_conn: e for e in state.out_edges(self)})
        rows, cols = state.add_library(MatMul(self.name)), state.add_library(MatMul(self.cols))
        for node, conn, edge in ((rows, "_a", edges["_a"]), (rows, "_b", edges["_x"]),
                                 (cols, "_a", edges["_r"]), (cols, "_b", edges["_a"])):
            state.add_edge(edge.src, edge.src_conn, node, conn, edge.memlet)
        for node, edge in ((rows, edges["_y"]), (cols, edges["_s"])):
            state.add_edge(node, "_c", edge.dst, edge.dst_conn, edge.memlet)
        state.remove_node(self)
