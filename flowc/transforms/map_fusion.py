"""Map fusion: merge a producer map into the consumer map that reads its output.

::

    x ─▶ [map i,j: t = f(x)] ─▶ T ─▶ [map i,j: y = g(t)] ─▶ y
                            ⇒
    x ─▶ [map i,j: t = f(x) ─▶ T(i,j) ─▶ y = g(t)] ─▶ y

The intermediate access moves inside the fused scope; where no one else
reads it, ``LocalStorage`` then shrinks it to a register (element-wise
chains) or a per-row buffer (row-local chains such as softmax), and the
round trip through memory is gone. Applies at any scope level, so fusing the
outer (row) maps of a normalization and then their inner (column) maps
gives one pass over each row.

Refuses when the maps' ranges differ, when the consumer reads parts of the
intermediate the producer did not write in the same iteration (a stencil, a
transpose, a reduction across rows), when the intermediate escapes (a
non-transient or a view), when another path connects the two maps, or when
the consumer writes what the producer reads.
"""

from __future__ import annotations

from typing import Iterator

from flowc.ir.memlet import Memlet
from flowc.ir.nodes import AccessNode, MapEntry, MapExit, connector_name, in_connector, out_connector
from flowc.ir.program import Program
from flowc.ir.propagation import union
from flowc.ir.state import Edge, State
from flowc.ir.symbolic import canonical_symbol
from flowc.transforms.base import Match, NotApplicable, Transformation
from flowc.transforms.scopes import (
    data_read_written,
    ranges_equal,
    rename_memlet,
    rename_params,
    scope_nodes,
    subset_covers,
    unique_connector,
    why_not_private,
)


def _reaches(state: State, src, dst, skip: set) -> bool:
    """Whether ``dst`` is reachable from ``src`` without using the (u, v) pairs in ``skip``."""
    succ = state.graph.succ
    seen, stack = {src}, [src]
    while stack:
        u = stack.pop()
        for v in succ[u]:
            if (u, v) in skip or v in seen:
                continue
            if v is dst:
                return True
            seen.add(v)
            stack.append(v)
    return False


class MapFusion(Transformation):
    """Merge a producer map into a consumer map of the same ranges that reads its output."""

    def candidates(self, program: Program) -> Iterator[Match]:
        for state in program.states():
            scopes = state.scope_dict()
            for t in state.data_nodes():
                producers = [e.src for e in state.in_edges(t) if isinstance(e.src, MapExit)]
                consumers = {e.dst for e in state.out_edges(t) if isinstance(e.dst, MapEntry)}
                for x1 in producers:
                    for e2 in sorted(consumers, key=lambda n: n.id):
                        if scopes.get(x1) is scopes.get(e2) is scopes.get(t):
                            yield self.match(state, x1, t, e2, info=f"{x1.map.label} -> {t.data} -> {e2.map.label}",
                                             data=t.data)

    @staticmethod
    def intermediates(state: State, x1: MapExit, e2: MapEntry) -> list:
        """Access nodes the producer's exit writes and the consumer's entry reads."""
        return [t for t in state.successors(x1) if e2 in state.successors(t)]

    def plan(self, program: Program, match: Match) -> None:
        why = self._reason(program, match)
        if why is not None:
            raise NotApplicable(why)

    def _reason(self, program: Program, match: Match) -> str | None:
        """The reason fusion would be wrong here, or None."""
        state, (x1, _, e2) = self.resolve(program, match)
        e1 = state.entry_of(x1)
        if not ranges_equal(e1.map.ranges, e2.map.ranges):
            return "the maps' ranges differ"
        rename = {canonical_symbol(b): canonical_symbol(a) for a, b in zip(e1.map.params, e2.map.params)}
        between = self.intermediates(state, x1, e2)
        for t in between:
            why = why_not_private(program, t.data)
            if why:
                return why
            if [e for e in state.in_edges(t) if e.src is not x1]:
                return f"{t.data} is also written elsewhere in this state"
            writes = [e for e in state.in_edges(x1) if e.data == t.data]
            if len(writes) != 1 or writes[0].memlet.wcr is not None:
                return f"the producer writes {t.data} more than once per iteration or with a reduction"
            written = writes[0].memlet.subset
            for e in state.out_edges(e2):
                if e.data == t.data and not subset_covers(written, rename_memlet(e.memlet, rename).subset):
                    return (f"the consumer reads {t.data}[{e.memlet.subset}] but iteration "
                            f"writes only {t.data}[{written}]")
        # no other dependency path between the two maps (also not through an intermediate)
        if _reaches(state, x1, e2, skip={(t, e2) for t in between}):
            return "another path connects producer and consumer"
        scopes = state.scope_dict()
        prod_nodes = scope_nodes(state, e1, scopes) + [e1, x1]
        cons_nodes = scope_nodes(state, e2, scopes) + [e2, state.exit_of(e2)]
        p_read, p_written = data_read_written(state, prod_nodes)
        c_read, c_written = data_read_written(state, cons_nodes)
        clash = (c_written & (p_read | p_written)) - {t.data for t in between}
        if clash:
            return f"the consumer writes {', '.join(sorted(clash))}, which the producer also touches"
        return None

    def rewrite(self, program: Program, match: Match, plan: None) -> None:
        state, (x1, _, e2) = self.resolve(program, match)
        e1, x2 = state.entry_of(x1), state.exit_of(e2)
        rename_params(state, e2, dict(zip(e2.map.params, e1.map.params)))
        between = self.intermediates(state, x1, e2)
        # 1. the intermediates move inside the fused scope
        moved = []
        for t in between:
            write = next(e for e in state.in_edges(x1) if e.data == t.data)
            if isinstance(write.src, AccessNode) and write.src.data == t.data:
                inner = write.src          # already inside (written out by an earlier fusion)
            else:
                inner = state.add_access(t.data)
                state.add_edge(write.src, write.src_conn, inner, None, write.memlet)
            state.remove_edge(write)
            for e in state.out_edges(e2):
                if e.data == t.data:
                    state.add_edge(inner, None, e.dst, e.dst_conn, e.memlet)
            moved.append((t, inner, write))
        # 2. the consumer's other inputs enter through the producer's entry
        for e in state.in_edges(e2):
            if e.src in between:
                continue
            if e.memlet.is_empty:                       # an ordering edge
                self._add_once(state, e.src, e.src_conn, e1, None, e.memlet)
                continue
            conn = connector_name(e.dst_conn)
            new_conn = self._entry_connector(state, e1, e)
            existing = next((i for i in state.in_edges(e1) if i.dst_conn == in_connector(new_conn)), None)
            if existing is None:
                state.add_edge(e.src, e.src_conn, e1, in_connector(new_conn), e.memlet)
            else:
                state.set_memlet(existing, existing.memlet.with_subset(
                    union(existing.memlet.subset, e.memlet.subset)))
            for o in state.out_edges(e2):
                if o.src_conn == out_connector(conn):
                    state.add_edge(e1, out_connector(new_conn), o.dst, o.dst_conn, o.memlet)
        for o in state.out_edges(e2):
            if o.src_conn is None:
                self._add_once(state, e1, None, o.dst, o.dst_conn, o.memlet)
        # 3. the producer's other outputs leave through the consumer's exit
        for e in state.in_edges(x1):
            if e.memlet.is_empty:                       # a node with no output closes the scope
                self._add_once(state, e.src, e.src_conn, x2, None, e.memlet)
                continue
            conn = connector_name(e.dst_conn)
            new_conn = self._exit_connector(state, x2, conn)
            state.add_edge(e.src, e.src_conn, x2, in_connector(new_conn), e.memlet)
            for o in state.out_edges(x1):
                if o.src_conn == out_connector(conn):
                    state.add_edge(x2, out_connector(new_conn), o.dst, o.dst_conn, o.memlet)
        for o in state.out_edges(x1):
            if o.src_conn is None:                      # an ordering edge
                self._add_once(state, x2, None, o.dst, o.dst_conn, o.memlet)
        for t, inner, write in moved:
            if any(e.dst is not e2 for e in state.out_edges(t)):
                # others still read the whole intermediate: write it out too
                conn = self._exit_connector(state, x2, t.data)
                state.add_edge(inner, None, x2, in_connector(conn), write.memlet)
                outer_write = next(e for e in state.in_edges(t) if e.src is x1)
                state.add_edge(x2, out_connector(conn), t, None, outer_write.memlet)
                for e in state.out_edges(t):
                    if e.dst is e2:
                        state.remove_edge(e)
            else:
                state.remove_node(t)
        state.remove_node(x1)
        state.remove_node(e2)
        x2.map = e1.map
        state.touch()

    @staticmethod
    def _add_once(state: State, src, src_conn, dst, dst_conn, memlet: Memlet) -> None:
        if not any(e.dst is dst and e.src_conn == src_conn and e.dst_conn == dst_conn and e.memlet == memlet
                   for e in state.out_edges(src)):
            state.add_edge(src, src_conn, dst, dst_conn, memlet)

    @staticmethod
    def _entry_connector(state: State, entry: MapEntry, edge: Edge) -> str:
        """The producer's entry connector for what ``edge`` carries into the consumer: shared
        where the same source connector already feeds the producer, else a fresh name. Sharing
        by name or by source node alone is not enough: after an outer fusion the consumer's
        ``IN_x`` may be fed by ``OUT_x_1`` of the same entry whose ``OUT_x`` feeds the producer."""
        for f in state.in_edges(entry):
            if f.src is edge.src and f.src_conn == edge.src_conn and f.dst_conn is not None:
                return connector_name(f.dst_conn)
        return connector_name(unique_connector(entry, state, edge.dst_conn, incoming=True))

    @staticmethod
    def _exit_connector(state: State, exit_: MapExit, data: str) -> str:
        return connector_name(unique_connector(exit_, state, in_connector(data), incoming=True))

