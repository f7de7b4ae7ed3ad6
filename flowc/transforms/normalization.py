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

from typing import Iterator, Optional

from flowc.ir.library import Reduce
from flowc.ir.nodes import AccessNode, MapEntry, MapExit, Node
from flowc.ir.program import Program
from flowc.ir.state import State
from flowc.transforms.base import Match, NotApplicable, Transformation
from flowc.transforms.expansion import LibraryExpansion
from flowc.transforms.local_storage import LocalStorage
from flowc.transforms.map_expansion import MapExpansion
from flowc.transforms.map_fusion import MapFusion
from flowc.transforms.scopes import scope_nodes, why_not_private


def _row_local(program: Program, state: State, node: Node) -> Optional[str]:
    """Why ``node`` is not a reduction over trailing axes that keeps its rows, or None."""
    if not isinstance(node, Reduce):
        return f"{node!r} is not a reduction"
    src = program.data[node.operands(state)[0]]
    if not (node.axes and list(node.axes) == list(range(src.ndim - len(node.axes), src.ndim))
            and len(node.axes) < src.ndim):
        return f"{node.label} reduces axes {list(node.axes)} of {src.ndim}, not trailing axes within rows"
    return None


class NormalizationFusion(Transformation):
    """Fuse the row-local reduction chain (softmax, layernorm, ...) around one reduction into
    one kernel per row.

    The chain is the reduction and every top-level map or row-local reduction connected to it
    through private intermediates (transients nothing outside the program sees). Only the
    chain is rewritten: its reductions expand, its maps split into rows × columns, fuse by
    rows and then by columns, and its intermediates shrink; each step checks its own legality,
    so a member that cannot fuse (a transposed read) stays a kernel of its own."""

    def candidates(self, program: Program) -> Iterator[Match]:
        for state in program.states():
            scopes = state.scope_dict()
            for n in state.nodes():
                if isinstance(n, Reduce) and scopes.get(n) is None:
                    yield self.match(state, n, info=n.label)

    def plan(self, program: Program, match: Match) -> None:
        state, (node,) = self.resolve(program, match)
        why = _row_local(program, state, node)
        if why:
            raise NotApplicable(why)

    def rewrite(self, program: Program, match: Match, plan: None) -> None:
        state, (reduce,) = self.resolve(program, match)
        members = _chain(program, state, reduce)
        # 1. expand the chain's reductions; every node inside a member's scope marks it
        markers: set[Node] = set()
        expand = LibraryExpansion()
        for node in sorted((n for n in members if isinstance(n, Reduce)), key=lambda n: n.id):
            before = set(state.nodes())
            expand.rewrite_at(program, expand.match(state, node))
            markers |= {n for n in set(state.nodes()) - before if not isinstance(n, (AccessNode, MapEntry, MapExit))}
        for entry in members:
            if isinstance(entry, MapEntry):
                markers |= {n for n in scope_nodes(state, entry) if not isinstance(n, (MapEntry, MapExit))}

        def here(m: Match) -> bool:
            """Whether ``m`` (a match of a sub-step, which looks at every state) is in ``state``."""
            return m.state == state.name

        def in_chain(node: Node) -> bool:
            """Whether ``node`` is inside (or is the entry or exit of) a top-level map of the chain."""
            scopes = state.scope_dict()
            outer = state.enclosing_maps(node, scopes)
            top = outer[0] if outer else state.entry_of(node) if isinstance(node, MapExit) else node
            return isinstance(top, MapEntry) and any(top in state.enclosing_maps(m, scopes) for m in markers)

        # 2. split the chain's maps into rows × columns, 3. fuse rows, then columns, 4. shrink
        _fixed_point(program, MapExpansion(), lambda m: here(m) and in_chain(self.resolve(program, m)[1][0]))
        _fixed_point(program, MapFusion(),
                     lambda m: here(m) and all(in_chain(n) for n in self.resolve(program, m)[1][::2]))
        local = LocalStorage()
        while True:
            chosen: dict[Optional[str], Match] = {}
            for m in local.candidates(program):
                if (m.data not in chosen and here(m) and in_chain(self.resolve(program, m)[1][0])
                        and local.can_apply(program, m)):
                    chosen[m.data] = m
            if not chosen:
                return
            for m in chosen.values():
                local.rewrite_at(program, m)


def _fixed_point(program: Program, t: Transformation, wanted) -> None:
    """Apply ``t`` (unrecorded) at the first wanted match until none is left."""
    for _ in range(t.max_rewrites):
        found = next((m for m in t.candidates(program) if wanted(m) and t.can_apply(program, m)), None)
        if found is None:
            return
        t.rewrite_at(program, found)


def _chain(program: Program, state: State, reduce: Reduce) -> set[Node]:
    """``reduce`` and the top-level map entries and row-local reductions connected to it
    through private intermediates (access nodes at the top level of ``state``)."""
    scopes = state.scope_dict()

    def unit(node: Node) -> Optional[Node]:
        """The chain member ``node`` stands for: a top-level map (by its entry) or a reduction."""
        if isinstance(node, MapExit) and scopes.get(node) is None:
            return state.entry_of(node)
        if isinstance(node, MapEntry) and scopes.get(node) is None:
            return node
        if isinstance(node, Reduce) and scopes.get(node) is None and _row_local(program, state, node) is None:
            return node
        return None

    def touched(member: Node) -> list[AccessNode]:
        ends = [member, state.exit_of(member)] if isinstance(member, MapEntry) else [member]
        found = [e.src for e in state.in_edges(ends[0])] + [e.dst for end in ends[-1:] for e in state.out_edges(end)]
        return [a for a in found if isinstance(a, AccessNode)]

    chain, todo = {reduce}, [reduce]
    while todo:
        member = todo.pop()
        for access in touched(member):
            if why_not_private(program, access.data):
                continue
            for other in [e.src for e in state.in_edges(access)] + [e.dst for e in state.out_edges(access)]:
                u = unit(other)
                if u is not None and u not in chain:
                    chain.add(u)
                    todo.append(u)
    return chain
