"""A state: one acyclic dataflow multigraph (networkx ``MultiDiGraph``).

Edges carry ``(src_conn, dst_conn, memlet)``. Map scopes are delimited by
entry/exit node pairs; ``scope_dict`` says which scope each node lives in.
The builder methods follow DaCe's spelling (``add_access``, ``add_tasklet``,
``add_map``, ``add_mapped_tasklet``, ``add_memlet_path``, ``add_edge``) and
fill in every outer memlet by propagation, so no edge lacks its subset.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, Union

import networkx as nx

from flowc.ir.errors import IRError
from flowc.ir.memlet import Memlet
from flowc.ir.nodes import (AccessNode, LibraryNode, Map, MapEntry, MapExit, Node, Schedule, ScopeConnector, Tasklet,
                            in_connector, out_connector)
from flowc.ir.propagation import propagate_subset, union
from flowc.ir.symbolic import Range, Subset

if TYPE_CHECKING:
    from flowc.ir.program import Program

MemletLike = Union[Memlet, str]


@dataclass(frozen=True)
class Edge:
    src: Node
    src_conn: Optional[str]
    dst: Node
    dst_conn: Optional[str]
    memlet: Memlet
    key: int

    @property
    def data(self) -> Optional[str]:
        return self.memlet.data


def _as_memlet(m: MemletLike) -> Memlet:
    return Memlet.parse(m) if isinstance(m, str) else m


def _parse_ranges(map_ranges: Any) -> tuple[list[str], list[Range]]:
    """``{"i": "0:N", "j": "0:M"}`` or ``[("i", "0:N")]`` or ``"i=0:N, j=0:M"``."""
    if isinstance(map_ranges, str):
        items = []
        for part in map_ranges.split(","):
            name, _, rng = part.partition("=")
            items.append((name.strip(), rng.strip()))
    elif isinstance(map_ranges, Mapping):
        items = list(map_ranges.items())
    else:
        items = list(map_ranges)
    params, ranges = [], []
    for name, rng in items:
        params.append(name)
        ranges.append(rng if isinstance(rng, Range) else Range.parse(str(rng)) if isinstance(rng, str)
                      else Range.make(*rng))
    return params, ranges


class State:
    def __init__(self, name: str, program: Optional["Program"] = None):
        self.name = name
        self.program = program
        self.graph = nx.MultiDiGraph()
        self._next_id = 0
        self._version = 0
        self._cache: dict[str, tuple[tuple, Any]] = {}

    def clone(self, program: Optional["Program"]) -> "State":
        """A copy of this state for ``program`` (see ``Program.clone``): new nodes and a new
        graph with the same node ids, edge keys and edge order — also each node's order of
        in-edges, so transformations walk the copy exactly as they walk the original.
        Memlets are immutable and shared."""
        new = copy.copy(self)
        new.program = program
        new._version, new._cache = 0, {}
        for k, v in vars(self).items():
            if k not in ("name", "program", "graph", "_next_id", "_version", "_cache"):
                setattr(new, k, copy.deepcopy(v))
        maps: dict[int, Any] = {}
        old = self.graph
        nm = {n: n.clone(maps) for n in old._node}
        g = nx.MultiDiGraph()
        g.graph.update(old.graph)
        g._node.update((nm[n], dict(a)) for n, a in old._node.items())
        # networkx keeps ONE key dict per (u, v), shared by _succ[u][v] and _pred[v][u]: a
        # parallel edge added later must appear in both (separate copies made in_degree miss the
        # second t1 -> MatMul edge EpilogueFusion adds, and the topological sort raised)
        shared: dict[tuple[int, int], dict] = {}
        for u, nbrs in old._succ.items():
            out: dict = {}
            for v, keys in nbrs.items():
                out[nm[v]] = shared[id(u), id(v)] = {k: dict(d) for k, d in keys.items()}
            g._succ[nm[u]] = out
        for v, nbrs in old._pred.items():       # the successors' key dicts, in the in-edge order
            g._pred[nm[v]] = {nm[u]: shared[id(u), id(v)] for u in nbrs}
        new.graph = g
        return new

    def touch(self) -> None:
        """Invalidate cached analyses (topological order, scopes) after a structural change."""
        self._version += 1

    def _cached(self, what: str, compute: Any) -> Any:
        key = (self._version, self.graph.number_of_nodes(), self.graph.number_of_edges())
        hit = self._cache.get(what)
        if hit is not None and hit[0] == key:
            return hit[1]
        value = compute()
        self._cache[what] = (key, value)
        return value

    # ------------------------------------------------------------ nodes
    def add_node(self, node: Node) -> Node:
        if node.id < 0 or node.id in {n.id for n in self.graph.nodes}:
            node.id = self._next_id
        self._next_id = max(self._next_id, node.id + 1)
        self.graph.add_node(node)
        self.touch()
        return node

    def add_access(self, data: str) -> AccessNode:
        node = AccessNode(data)
        self.add_node(node)
        return node

    def add_read(self, data: str) -> AccessNode:
        return self.add_access(data)

    def add_write(self, data: str) -> AccessNode:
        return self.add_access(data)

    def add_tasklet(self, name: str, inputs: Iterable[str], outputs: Iterable[str], code: Any) -> Tasklet:
        node = Tasklet(name, list(inputs), list(outputs), code)
        self.add_node(node)
        return node

    def add_map(self, label: str, map_ranges: Any,
                schedule: Schedule = Schedule.DEFAULT) -> tuple[MapEntry, MapExit]:
        params, ranges = _parse_ranges(map_ranges)
        m = Map(label, params, ranges, Schedule(schedule))
        entry, exit_ = MapEntry(m), MapExit(m)
        self.add_node(entry)
        self.add_node(exit_)
        return entry, exit_

    def add_library(self, node: LibraryNode) -> LibraryNode:
        self.add_node(node)
        return node

    def remove_node(self, node: Node) -> None:
        self.graph.remove_node(node)
        self.touch()

    def nodes(self) -> list[Node]:
        return list(self.graph.nodes)

    def node_by_id(self, node_id: int) -> Node:
        for n in self.graph.nodes:
            if n.id == node_id:
                return n
        raise IRError(f"state {self.name!r} has no node {node_id}")

    def data_nodes(self) -> list[AccessNode]:
        return [n for n in self.graph.nodes if isinstance(n, AccessNode)]

    # ------------------------------------------------------------ edges
    def add_edge(self, src: Node, src_conn: Optional[str], dst: Node, dst_conn: Optional[str],
                 memlet: MemletLike) -> Edge:
        m = self._resolve(_as_memlet(memlet))
        key = self.graph.add_edge(src, dst, src_conn=src_conn, dst_conn=dst_conn, memlet=m)
        self.touch()
        return Edge(src, src_conn, dst, dst_conn, m, key)

    def add_nedge(self, src: Node, dst: Node, memlet: Optional[MemletLike] = None) -> Edge:
        """An edge without connectors (access → access copy, or an ordering edge)."""
        return self.add_edge(src, None, dst, None, memlet if memlet is not None else Memlet.empty())

    def remove_edge(self, e: Edge) -> None:
        self.graph.remove_edge(e.src, e.dst, e.key)
        self.touch()

    def set_memlet(self, e: Edge, memlet: Memlet) -> Edge:
        self.graph.edges[e.src, e.dst, e.key]["memlet"] = memlet
        return Edge(e.src, e.src_conn, e.dst, e.dst_conn, memlet, e.key)

    def _resolve(self, m: Memlet) -> Memlet:
        """Give a whole-container memlet its explicit subset."""
        if m.is_empty or m.subset is not None or self.program is None:
            return m
        desc = self.program.data.get(m.data)
        if desc is None:
            raise IRError(f"memlet names unknown data {m.data!r}")
        return m.with_subset(Subset.full(desc.shape))

    def _edge(self, u: Node, v: Node, k: int, d: dict) -> Edge:
        return Edge(u, d["src_conn"], v, d["dst_conn"], d["memlet"], k)

    def edges(self) -> list[Edge]:
        return [self._edge(u, v, k, d) for u, v, k, d in self.graph.edges(keys=True, data=True)]

    def in_edges(self, node: Node) -> list[Edge]:
        return [self._edge(u, v, k, d) for u, v, k, d in self.graph.in_edges(node, keys=True, data=True)]

    def out_edges(self, node: Node) -> list[Edge]:
        return [self._edge(u, v, k, d) for u, v, k, d in self.graph.out_edges(node, keys=True, data=True)]

    def in_degree(self, node: Node) -> int:
        return self.graph.in_degree(node)

    def out_degree(self, node: Node) -> int:
        return self.graph.out_degree(node)

    def predecessors(self, node: Node) -> list[Node]:
        return list(self.graph.predecessors(node))

    def successors(self, node: Node) -> list[Node]:
        return list(self.graph.successors(node))

    def topological_nodes(self) -> list[Node]:
        """Nodes in a deterministic topological order (cached until the graph changes; do not mutate)."""
        return self._cached("topo", lambda: list(nx.lexicographical_topological_sort(self.graph,
                                                                                     key=lambda n: n.id)))

    # ------------------------------------------------------------ scopes
    def exit_of(self, entry: MapEntry) -> MapExit:
        for n in self.graph.nodes:
            if isinstance(n, MapExit) and n.map is entry.map:
                return n
        raise IRError(f"{entry!r} has no matching map exit in state {self.name!r}")

    def entry_of(self, exit_: MapExit) -> MapEntry:
        for n in self.graph.nodes:
            if isinstance(n, MapEntry) and n.map is exit_.map:
                return n
        raise IRError(f"{exit_!r} has no matching map entry in state {self.name!r}")

    def scope_dict(self) -> dict[Node, Optional[MapEntry]]:
        """Each node's innermost enclosing map entry (None at the top level).
        A map's entry and exit belong to the scope the map sits in.
        Cached until the graph changes: do not mutate the result."""
        return self._cached("scopes", self._compute_scope_dict)

    def _compute_scope_dict(self) -> dict[Node, Optional[MapEntry]]:
        scope: dict[Node, Optional[MapEntry]] = {}
        entries = {n.map: n for n in self.graph.nodes if isinstance(n, MapEntry)}
        for node in self.topological_nodes():
            if isinstance(node, MapExit):
                entry = entries.get(node.map)
                scope[node] = scope.get(entry) if entry is not None else None
                continue
            preds = self.predecessors(node)
            if not preds:
                scope[node] = None
                continue
            p = preds[0]
            if isinstance(p, MapEntry):
                scope[node] = p
            elif isinstance(p, MapExit):
                scope[node] = scope[p]
            else:
                scope[node] = scope[p]
        return scope

    def scope_children(self, entry: Optional[MapEntry],
                       scopes: Optional[dict[Node, Optional[MapEntry]]] = None) -> list[Node]:
        scopes = scopes if scopes is not None else self.scope_dict()
        return [n for n, s in scopes.items() if s is entry]

    def enclosing_maps(self, node: Node,
                       scopes: Optional[dict[Node, Optional[MapEntry]]] = None) -> list[MapEntry]:
        """Map entries around ``node``, outermost first."""
        scopes = scopes if scopes is not None else self.scope_dict()
        chain: list[MapEntry] = []
        s = scopes.get(node)
        while s is not None:
            chain.append(s)
            s = scopes.get(s)
        return list(reversed(chain))

    # ------------------------------------------------------------ memlet paths
    def add_memlet_path(self, *path: Node, memlet: MemletLike, src_conn: Optional[str] = None,
                        dst_conn: Optional[str] = None) -> list[Edge]:
        """Connect ``path[0] → ... → path[-1]`` through map entries/exits.

        ``memlet`` is the innermost one (at the tasklet end); the memlets on
        the way out of each scope are propagated over its map's ranges.
        Connectors ``IN_x``/``OUT_x`` on the maps are created or reused.
        """
        m = self._resolve(_as_memlet(memlet))
        if len(path) < 2:
            raise IRError("a memlet path needs at least two nodes")
        if m.is_empty:
            return [self.add_edge(path[0], src_conn, path[1], dst_conn, m)]
        has_entry = any(isinstance(n, MapEntry) for n in path)
        has_exit = any(isinstance(n, MapExit) for n in path)
        if has_entry and has_exit:
            raise IRError("a memlet path enters map scopes or leaves them, not both")
        reading = has_entry
        hops = list(zip(path[:-1], path[1:]))
        # memlet on each hop, from the innermost outward
        memlets: list[Memlet] = [m] * len(hops)
        order = range(len(hops) - 1, -1, -1) if reading else range(len(hops))
        current = m
        shape = self.program.data[m.data].shape if self.program is not None else None
        for idx in order:
            memlets[idx] = current
            scope_node = hops[idx][0] if reading else hops[idx][1]
            if isinstance(scope_node, (MapEntry, MapExit)) and shape is not None:
                mp = scope_node.map
                current = current.with_subset(propagate_subset(current.subset, mp.params, mp.ranges, shape))
        edges = []
        conn = m.data
        for i, (u, v) in enumerate(hops):
            scope_u, scope_v = isinstance(u, (MapEntry, MapExit)), isinstance(v, (MapEntry, MapExit))
            sc = src_conn if i == 0 else (out_connector(conn) if scope_u else None)
            dc = dst_conn if i == len(hops) - 1 else (in_connector(conn) if scope_v else None)
            existing = self._existing_through_edge(u, sc, v, dc, memlets[i])
            if existing is not None:
                edges.append(existing)
                continue
            edges.append(self.add_edge(u, sc, v, dc, memlets[i]))
        return edges

    def _existing_through_edge(self, u: Node, sc: Optional[str], v: Node, dc: Optional[str],
                               m: Memlet) -> Optional[Edge]:
        """Reuse (and widen) the edge that already enters a map by ``IN_x``, or leaves by ``OUT_x``."""
        dconn, sconn = ScopeConnector.parse(dc), ScopeConnector.parse(sc)
        if isinstance(v, MapEntry) and dconn is not None and dconn.incoming:
            for e in self.in_edges(v):
                if e.dst_conn == dc and e.src is u:
                    return self.set_memlet(e, e.memlet.with_subset(union(e.memlet.subset, m.subset)))
        if isinstance(u, MapExit) and sconn is not None and not sconn.incoming:
            for e in self.out_edges(u):
                if e.src_conn == sc and e.dst is v:
                    return self.set_memlet(e, e.memlet.with_subset(union(e.memlet.subset, m.subset)))
        return None

    def add_mapped_tasklet(self, name: str, map_ranges: Any, inputs: Mapping[str, MemletLike],
                           code: Any, outputs: Mapping[str, MemletLike],
                           schedule: Schedule = Schedule.DEFAULT, external_edges: bool = True,
                           input_nodes: Optional[Mapping[str, AccessNode]] = None,
                           output_nodes: Optional[Mapping[str, AccessNode]] = None,
                           ) -> tuple[Tasklet, MapEntry, MapExit]:
        """A map around one tasklet, with access nodes for what it reads and writes::

            state.add_mapped_tasklet("axpy", {"i": "0:N"},
                                     inputs={"a": "x[i]", "b": "y[i]"},
                                     code="o = 2.0f * a + b",
                                     outputs={"o": "out[i]"})
        """
        entry, exit_ = self.add_map(name, map_ranges, schedule)
        tasklet = self.add_tasklet(name, list(inputs), list(outputs), code)
        inodes = dict(input_nodes or {})
        onodes = dict(output_nodes or {})
        if not inputs:
            self.add_edge(entry, None, tasklet, None, Memlet.empty())
        for conn, ml in inputs.items():
            mem = _as_memlet(ml)
            if external_edges:
                src = inodes.get(mem.data) or inodes.setdefault(mem.data, self.add_access(mem.data))
                self.add_memlet_path(src, entry, tasklet, memlet=mem, dst_conn=conn)
            else:
                self.add_edge(entry, out_connector(mem.data), tasklet, conn, mem)
        for conn, ml in outputs.items():
            mem = _as_memlet(ml)
            if external_edges:
                dst = onodes.get(mem.data) or onodes.setdefault(mem.data, self.add_access(mem.data))
                self.add_memlet_path(tasklet, exit_, dst, memlet=mem, src_conn=conn)
            else:
                self.add_edge(tasklet, conn, exit_, in_connector(mem.data), mem)
        return tasklet, entry, exit_

    def __repr__(self) -> str:
        return f"State({self.name!r}, {self.graph.number_of_nodes()} nodes, {self.graph.number_of_edges()} edges)"
