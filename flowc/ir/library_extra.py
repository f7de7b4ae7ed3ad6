"""Library nodes beyond MatMul and Reduce: Cholesky, Solve, Inv (LAPACK on the CPU) and Scan
(cumulative sums and products).

Each works on whole 2-D containers (use a view for part of an array), like
MatMul and Reduce::

    Cholesky:  L[n, n] = lower-triangular factor of A[n, n]   (A symmetric positive definite)
    Solve:     X = A^-1 B     A[n, n], B[n] or B[n, k]  →  X of B's shape
    Inv:       Ainv[n, n] = A^-1

The only implementation is ``"lapack"`` (``?potrf``, ``?gesv``; Inv solves
``A X = I`` with ``?gesv``, from the pip-installed OpenBLAS, emitted by
``flowc.codegen.lapack``); a failed factorization (not positive definite, a
singular matrix) makes the call fail with NumPy's message. There is no
map expansion: factorizations are sequential algorithms that a tuned
library does far better.

    Scan:      Y = cumulative op (sum or prod) of X along one axis   (X and Y of one shape)

A scan is ``Y[..., 0, ...] = X[..., 0, ...]``, ``Y[..., i, ...] = Y[..., i-1, ...] op X[..., i, ...]``
in Y's dtype (X's elements are converted first), as NumPy's ``add.accumulate``. Its
implementation ``"native"`` is a loop the CPU generator writes (``flowc.codegen.scan``):
sequential along the axis, parallel over the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy

from flowc.ir.errors import IRError
from flowc.ir.nodes import LibraryNode

if TYPE_CHECKING:
    from flowc.ir.program import Program
    from flowc.ir.state import State


def _edge(state: "State", node: LibraryNode, conn: str, incoming: bool):
    edges = state.in_edges(node) if incoming else state.out_edges(node)
    for e in edges:
        if (e.dst_conn if incoming else e.src_conn) == conn:
            return e
    raise IRError(f"{node!r} has no edge on connector {conn!r}")


def _same(a, b) -> bool:
    return sympy.simplify(sympy.sympify(a) - sympy.sympify(b)) == 0


class _LinalgNode(LibraryNode):
    implementations = ("lapack",)

    def operands(self, state: "State") -> tuple[str, ...]:
        return (*(_edge(state, self, c, True).data for c in self.inputs),
                *(_edge(state, self, c, False).data for c in self.outputs))

    def _square(self, program: "Program", name: str) -> None:
        d = program.data[name]
        if d.ndim != 2 or not _same(d.shape[0], d.shape[1]):
            raise IRError(f"{self!r}: {name} must be a square matrix, got shape {d.shape}")
        if d.dtype.name not in ("float32", "float64"):
            raise IRError(f"{self!r}: LAPACK needs float32 or float64 operands, {name} is {d.dtype.name}")

    def expand(self, program: "Program", state: "State") -> None:
        raise IRError(f"{self!r} has no map expansion; it is a LAPACK call (implementation 'lapack')")


class Cholesky(_LinalgNode):
    inputs = ("_a",)
    outputs = ("_l",)

    def __init__(self, name: str = "cholesky", implementation: str | None = None):
        super().__init__(name, implementation)

    def check_shapes(self, program: "Program", state: "State") -> None:
        a, out = self.operands(state)
        self._square(program, a)
        da, dl = program.data[a], program.data[out]
        if dl.shape != da.shape and not all(_same(x, y) for x, y in zip(dl.shape, da.shape)):
            raise IRError(f"{self!r}: the factor's shape {dl.shape} differs from A's {da.shape}")
        if da.dtype != dl.dtype:
            raise IRError(f"{self!r}: A and L differ in dtype")


class Solve(_LinalgNode):
    inputs = ("_a", "_b")
    outputs = ("_x",)

    def __init__(self, name: str = "solve", implementation: str | None = None):
        super().__init__(name, implementation)

    def check_shapes(self, program: "Program", state: "State") -> None:
        a, b, x = self.operands(state)
        self._square(program, a)
        da, db, dx = (program.data[n] for n in (a, b, x))
        if db.ndim not in (1, 2) or not _same(db.shape[0], da.shape[0]):
            raise IRError(f"{self!r}: B of shape {db.shape} does not match A of shape {da.shape}")
        if dx.ndim != db.ndim or not all(_same(p, q) for p, q in zip(dx.shape, db.shape)):
            raise IRError(f"{self!r}: X must have B's shape {db.shape}, got {dx.shape}")
        if not (da.dtype == db.dtype == dx.dtype):
            raise IRError(f"{self!r}: A, B and X must share one dtype")


class Inv(_LinalgNode):
    inputs = ("_a",)
    outputs = ("_inv",)

    def __init__(self, name: str = "inv", implementation: str | None = None):
        super().__init__(name, implementation)

    def check_shapes(self, program: "Program", state: "State") -> None:
        a, out = self.operands(state)
        self._square(program, a)
        if program.data[a].dtype != program.data[out].dtype:
            raise IRError(f"{self!r}: A and its inverse differ in dtype")


class Scan(LibraryNode):
    inputs = ("_in",)
    outputs = ("_out",)
    implementations = ("native",)
    OPS = ("sum", "prod")

    def __init__(self, name: str = "scan", implementation: str | None = None, op: str = "sum", axis: int = 0):
        super().__init__(name, implementation)
        if op not in self.OPS:
            raise IRError(f"Scan op must be one of {', '.join(self.OPS)}, not {op!r}")
        if not isinstance(axis, int) or isinstance(axis, bool) or axis < 0:
            raise IRError(f"Scan axis must be a non-negative int, not {axis!r}")
        self.op, self.axis = op, axis

    def properties(self) -> dict:
        return {"op": self.op, "axis": self.axis}

    @property
    def label(self) -> str:
        return f"Scan {self.op} axis {self.axis}"

    def operands(self, state: "State") -> tuple[str, str]:
        return _edge(state, self, "_in", True).data, _edge(state, self, "_out", False).data

    def check_shapes(self, program: "Program", state: "State") -> None:
        src, dst = self.operands(state)
        ds, dd = program.data[src], program.data[dst]
        if ds.ndim == 0 or self.axis >= ds.ndim:
            raise IRError(f"{self!r}: axis {self.axis} is out of range for {src} of shape {ds.shape}")
        if dd.ndim != ds.ndim or not all(_same(a, b) for a, b in zip(ds.shape, dd.shape)):
            raise IRError(f"{self!r}: the output's shape {dd.shape} differs from the input's {ds.shape}")
        if dd.dtype.kind == "c" and self.op == "prod":
            raise IRError(f"{self!r}: complex products are not supported")

    def expand(self, program: "Program", state: "State") -> None:
        raise IRError(f"{self!r} has no map expansion (a scan is sequential along its axis); "
                      "only the CPU target implements it")


__all__ = ["Cholesky", "Inv", "Scan", "Solve"]
