"""Normalization fusion: a row-local reduction chain becomes one pass per row.

Softmax as a user writes it is four full-array operations and three
intermediates::

    m = max(x, -1)  →  e = exp(x - m)  →  s = sum(e, -1)  →  y = e / s
                                ⇒
    map row:  m = max over the row            (register)
              e[j] = exp(x[j] - m); s += e[j]  (one per-thread row buffer)
              y[j] = e[j] / s

Layernorm with its bias and residual (``h = x@W + b + r``; mean; variance;
normalize; scale; shift) fuses the same way. The pattern is the dataflow —
reductions over trailing axes whose producers and consumers are element-wise
over the same rows — not a spelling of the source: it is the composition of
library expansion (Reduce → row map + inner map), ``MapExpansion`` (split the
element-wise maps into row and column levels), ``MapFusion`` at the row level
and then the column level, and ``LocalStorage`` (intermediates shrink to
registers and row buffers). Each step checks its own legality, so a chain
that is not row-local (a reduction across rows, a transposed read) is left
alone.
"""

from __future__ import annotations

from typing import Iterator

from flowc.ir.library import Reduce
from flowc.ir.nodes import MapEntry
from flowc.ir.program import Program
from flowc.transforms.base import Match, NotApplicable, Transformation
from flowc.transforms.expansion import expand_library_nodes
from flowc.transforms.local_storage import LocalStorage
from flowc.transforms.map_expansion import MapExpansion
from flowc.transforms.map_fusion import MapFusion


def _is_reduction_map(state, entry: MapEntry) -> bool:
    """A top-level map whose scope accumulates into a register (an expanded Reduce)."""
    scopes = state.scope_dict()
    return any(e.memlet.wcr is not None for e in state.edges()
               if e.src in scopes and entry in state.enclosing_maps(e.src, scopes))


class NormalizationFusion(Transformation):
    """Fuse every row-local reduction chain (softmax, layernorm, ...) into one kernel per row."""

    def candidates(self, program: Program) -> Iterator[Match]:
        for state in program.states():
            for n in state.nodes():
                if isinstance(n, Reduce):
                    yield self.match(state, n, info=n.label)

    def plan(self, program: Program, match: Match) -> None:
        state, (node,) = self.resolve(program, match)
        if not isinstance(node, Reduce):
            raise NotApplicable(f"{node!r} is not a reduction")
        src = program.data[node.operands(state)[0]]
        # a row-local reduction reduces trailing axes and keeps leading ones
        if not (node.axes and list(node.axes) == list(range(src.ndim - len(node.axes), src.ndim))
                and len(node.axes) < src.ndim):
            raise NotApplicable(f"{node.label} reduces axes {list(node.axes)} of {src.ndim}, not trailing axes "
                                "within rows")

    def rewrite(self, program: Program, match: Match, plan: None) -> None:
        fuse_rows(program)

    def apply_everywhere(self, program: Program) -> list[Match]:
        found = self.matches(program)
        if found:
            entries = [self.history_entry(program, m) for m in found]
            fuse_rows(program)
            program.history += entries
        return found


def fuse_rows(program: Program) -> None:
    """Expand reductions, split maps into rows × columns, fuse rows, fuse columns, shrink."""
    expand_library_nodes(program)
    MapExpansion().apply_everywhere(program)
    MapFusion().apply_everywhere(program)
    LocalStorage().apply_everywhere(program)
