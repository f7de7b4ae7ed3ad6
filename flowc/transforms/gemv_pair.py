"""GEMV pair fusion: two matrix–vector products over the same matrix read it once.

::

    A, x ─▶ [MatMul: A @ x] ─▶ y            A, x, r ─▶ [GemvPair] ─▶ y, s
    r, A ─▶ [MatMul: r @ A] ─▶ s      ⇒     (one sweep over A, a few rows at a time)

A matrix–vector product is bound by the matrix's bytes; a BiCG-style pair (``A @ p`` and
``r @ A``) moves A twice where once suffices, so the pair takes about half the time of the
two GEMVs (see ``flowc.ir.gemv_pair``). Applies to two BLAS MatMuls in one state that are
plain products (alpha 1, beta 0, no epilogue, no batch) of one row-major matrix — the same
container and memory, one as ``A @ x`` (a column vector out), the other as ``r @ A`` (a row
vector out) — neither reading what the other writes (directly or through other nodes), and
writing nothing the other reads. Refuses otherwise with the reason (``why_not``). It runs
before ``EpilogueFusion``, which fuses into MatMuls only: an element-wise scope after a paired
product stays a pass over its vector, which costs far less than the pass over A it saves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import networkx as nx

from flowc.ir.data import Array
from flowc.ir.gemv_pair import GemvPair
from flowc.ir.library import MatMul, _edge_for, gemm_unsupported, matrix_layout, vector_kind
from flowc.ir.nodes import AccessNode
from flowc.ir.program import Program
from flowc.ir.state import State
from flowc.transforms.base import Match, NotApplicable, Transformation


def _plain(program: Program, state: State, node: MatMul) -> str:
    """Why ``node`` is not a plain 2-d BLAS GEMV ('' if it is)."""
    if node.implementation != "blas" or node.alpha != 1.0 or node.beta != 0.0 or node.epilogue is not None \
            or node.row_blocks is not None:
        return f"{node.label} is not a plain BLAS product (alpha 1, beta 0, no epilogue, default row blocks)"
    if state.scope_dict().get(node) is not None:
        return f"{node.label} runs inside a map scope"
    if any(program.data[n].ndim != 2 for n in node.operands(state)):
        return f"{node.label} has batch dimensions"
    why = gemm_unsupported(program, state, node)
    return f"{node.label} is not one BLAS call: {why}" if why else ""


@dataclass(frozen=True)
class GemvPairFusion(Transformation):
    """Compute ``A @ x`` and ``r @ A`` (one matrix A) as one ``GemvPair`` sweep over A."""

    def candidates(self, program: Program) -> Iterator[Match]:
        for state in program.states():
            scopes = state.scope_dict()
            products = [n for n in state.nodes() if isinstance(n, MatMul) and scopes.get(n) is None]
            kinds = {n: vector_kind(program, state, n) for n in products}
            for rows in (n for n in products if kinds[n] == "mv"):
                for cols in (n for n in products if kinds[n] == "vm"):
                    yield self.match(state, rows, cols, info=f"{rows.label} + {cols.label}",
                                     data=rows.operands(state)[0])

    def plan(self, program: Program, match: Match) -> None:
        state, (rows, cols) = self.resolve(program, match)
        if not (isinstance(rows, MatMul) and isinstance(cols, MatMul)):
            raise NotApplicable("the match is not two MatMul nodes")
        if vector_kind(program, state, rows) != "mv" or vector_kind(program, state, cols) != "vm":
            raise NotApplicable("needs a matrix times a column vector and a row vector times the same matrix")
        for node in (rows, cols):
            why = _plain(program, state, node)
            if why:
                raise NotApplicable(why)
        a_rows, a_cols = rows.operands(state)[0], cols.operands(state)[1]
        da, dc = program.data[a_rows], program.data[a_cols]
        layout = matrix_layout(da)
        if layout is None or layout[0]:
            raise NotApplicable(f"{a_rows} is not a row-major matrix (a transposed view: the pair walks rows)")
        same = (program.root_of(a_rows) == program.root_of(a_cols) and isinstance(dc, Array)
                and program.root_offset(a_rows) == program.root_offset(a_cols)
                and da.shape == dc.shape and da.strides == dc.strides)
        if not same:
            raise NotApplicable(f"the products read different matrices ({a_rows}, {a_cols})")
        if nx.has_path(state.graph, rows, cols) or nx.has_path(state.graph, cols, rows):
            raise NotApplicable("one product depends on the other (a chain, not a pair)")
        outs = {program.root_of(rows.operands(state)[2]), program.root_of(cols.operands(state)[2])}
        ins = {program.root_of(n) for node in (rows, cols) for n in node.operands(state)[:2]}
        if outs & ins or len(outs) < 2:
            raise NotApplicable("a result shares memory with an operand or with the other result")

    def rewrite(self, program: Program, match: Match, plan: None) -> None:
        state, (rows, cols) = self.resolve(program, match)
        pair = state.add_library(GemvPair(rows.name, cols=cols.name))
        wiring = ((rows, "_a", "_a"), (rows, "_b", "_x"), (cols, "_a", "_r"))
        for node, old, new in wiring:
            e = _edge_for(state, node, old, True)
            state.add_edge(e.src, e.src_conn, pair, new, e.memlet)
        for node, new in ((rows, "_y"), (cols, "_s")):
            e = _edge_for(state, node, "_c", False)
            state.add_edge(pair, new, e.dst, e.dst_conn, e.memlet)
        matrix = _edge_for(state, cols, "_b", True).src
        for node in (rows, cols):
            state.remove_node(node)
        if isinstance(matrix, AccessNode) and not state.in_edges(matrix) and not state.out_edges(matrix):
            state.remove_node(matrix)            # the second read of A, now unused
