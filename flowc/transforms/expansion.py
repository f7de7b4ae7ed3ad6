"""Library expansion: choose a library node's implementation for a target.

A MatMul whose operands are strided GEMM operands stays a BLAS call; every
other library node (and a MatMul BLAS cannot express: integer types, a
broadcast matrix dimension) is expanded into maps::

    A ─▶ [MatMul] ─▶ C        ⇒   A ─▶ map b,i,j { acc=0; map k { acc += A·B }; C = acc } ─▶ C
                                     (BLAS-expressible operands: left as a GEMM call)

``LibraryExpansion`` is a transformation like any other (DaCe's
``ExpandTransformation``): each node it expands is a match, recorded in the
program's history, so a history that expands a reduction before fusing its maps
can be replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from flowc.ir.errors import IRError, TargetError
from flowc.ir.library import MatMul, gemm_unsupported
from flowc.ir.nodes import LibraryNode
from flowc.ir.program import Program
from flowc.transforms.base import Match, NotApplicable, Transformation

#: implementations code generation can call directly, per target
NATIVE = {"cpu": {("MatMul", "blas"), ("Cholesky", "lapack"), ("Solve", "lapack"), ("Inv", "lapack"),
                  ("Scan", "native"), ("GemvPair", "blas")},
          "cuda": {("MatMul", "blas"), ("Scan", "native")}}


@dataclass(frozen=True)
class LibraryExpansion(Transformation):
    """Expand a library node that ``target`` cannot call natively into maps."""

    target: str = "cpu"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.target not in NATIVE:
            raise ValueError(f"parameter 'target' must be one of {', '.join(sorted(NATIVE))}, got {self.target!r}")

    def candidates(self, program: Program) -> Iterator[Match]:
        for state in program.states():
            for node in state.nodes():
                if isinstance(node, LibraryNode):
                    yield self.match(state, node, info=node.label)

    def plan(self, program: Program, match: Match) -> None:
        state, (node,) = self.resolve(program, match)
        if not isinstance(node, LibraryNode):
            raise NotApplicable(f"{node!r} is not a library node")
        native = NATIVE[self.target]
        if isinstance(node, MatMul) and node.implementation == "blas":
            if ("MatMul", "blas") in native and gemm_unsupported(program, state, node, self.target) is None:
                raise NotApplicable(f"{node.label} stays a BLAS call on {self.target}")
        elif (type(node).__name__, node.implementation) in native:
            raise NotApplicable(f"{node.label} stays a {node.implementation} call on {self.target}")

    def rewrite(self, program: Program, match: Match, plan: None) -> None:
        state, (node,) = self.resolve(program, match)
        try:
            node.expand(program, state)
        except IRError as exc:
            if self.target == "cpu" or isinstance(exc, TargetError):
                raise
            raise TargetError(f"{node.label} has no implementation on the {self.target} target ({exc}); "
                              "compute it with target='cpu'") from None


def expand_library_nodes(program: Program, target: str = "cpu") -> list[Match]:
    """Expand every library node the target cannot call natively (recorded in the history);
    returns the matches expanded."""
    return LibraryExpansion(target=target).apply_everywhere(program)
