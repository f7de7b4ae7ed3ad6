"""Map expansion: split a multi-dimensional map into an outer and an inner map.

::

    map i, j in [0:N, 0:M]: body          ⇒     map i in [0:N]: map j in [0:M]: body

The generated loops are the same, but the row (outer) level is now its own
scope, so maps that agree only on their rows — an element-wise map and a
reduction along rows — can fuse there (normalization fusion).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from flowc.ir.memlet import Memlet
from flowc.ir.nodes import Map, MapEntry, MapExit, Schedule, partner_connector
from flowc.ir.program import Program
from flowc.ir.propagation import propagate_subset, union
from flowc.transforms.base import Match, NotApplicable, Transformation


@dataclass(frozen=True)
class MapExpansion(Transformation):
    """Split off the last ``inner`` parameters of an innermost map with more parameters than that
    (only maps at the top level of a state when ``top_level_only``)."""

    inner: int = 1
    top_level_only: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.inner < 1:
            raise ValueError(f"parameter 'inner' must be at least 1, got {self.inner}")

    def candidates(self, program: Program) -> Iterator[Match]:
        for state in program.states():
            scopes = state.scope_dict()
            for n in state.nodes():
                if isinstance(n, MapEntry) and len(n.map.params) > self.inner and not n.map.hints.get("expanded"):
                    if self.top_level_only and scopes.get(n) is not None:
                        continue
                    if any(isinstance(c, MapEntry) and s is n for c, s in scopes.items()):
                        continue            # already two-level (e.g. an expanded reduction): rows are its params
                    yield self.match(state, n, info=n.map.label)

    def plan(self, program: Program, match: Match) -> None:
        state, (entry,) = self.resolve(program, match)
        if not isinstance(entry, MapEntry):
            raise NotApplicable(f"{entry!r} is not a map entry")
        if len(entry.map.params) <= self.inner:
            raise NotApplicable(f"{entry.map.label} has {len(entry.map.params)} parameters; "
                                f"splitting off {self.inner} leaves none")

    def rewrite(self, program: Program, match: Match, plan: None) -> None:
        state, (entry,) = self.resolve(program, match)
        exit_ = state.exit_of(entry)
        m = entry.map
        k = len(m.params) - self.inner
        inner_map = Map(f"{m.label}_inner", m.params[k:], m.ranges[k:], Schedule.SEQUENTIAL)
        m.params, m.ranges = m.params[:k], m.ranges[:k]
        m.hints["expanded"] = True           # split once: the outer level keeps its parallelism
        i_entry, i_exit = MapEntry(inner_map), MapExit(inner_map)
        state.add_node(i_entry)
        state.add_node(i_exit)
        data_shapes = {name: d.shape for name, d in program.data.items()}
        # entry side: OUT_x edges now go through the inner entry
        outer_by_conn: dict[str | None, Memlet] = {}
        for e in state.out_edges(entry):
            state.remove_edge(e)
            state.add_edge(i_entry, e.src_conn, e.dst, e.dst_conn, e.memlet)
            if e.memlet.is_empty:
                outer_by_conn.setdefault(None, e.memlet)
                continue
            sub = propagate_subset(e.memlet.subset, inner_map.params, inner_map.ranges, data_shapes[e.data])
            prev = outer_by_conn.get(e.src_conn)
            outer_by_conn[e.src_conn] = e.memlet.with_subset(sub if prev is None else union(prev.subset, sub))
        for conn, memlet in outer_by_conn.items():
            in_conn = None if conn is None else partner_connector(conn)
            state.add_edge(entry, conn, i_entry, in_conn, memlet)
        # exit side
        outer_out: dict[str, Memlet] = {}
        for e in state.in_edges(exit_):
            state.remove_edge(e)
            state.add_edge(e.src, e.src_conn, i_exit, e.dst_conn, e.memlet)
            if e.memlet.is_empty:
                continue
            sub = propagate_subset(e.memlet.subset, inner_map.params, inner_map.ranges, data_shapes[e.data])
            prev = outer_out.get(e.dst_conn)
            outer_out[e.dst_conn] = e.memlet.with_subset(sub if prev is None else union(prev.subset, sub))
        for conn, memlet in outer_out.items():
            state.add_edge(i_exit, partner_connector(conn), exit_, conn, memlet)
        if not outer_out:
            state.add_edge(i_exit, None, exit_, None, Memlet.empty())
