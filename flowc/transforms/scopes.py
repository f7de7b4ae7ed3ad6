"""Graph utilities the transformations share: scope membership, parameter
renaming, and which containers a scope reads and writes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Iterator, Optional

import sympy

from flowc.ir import expr as tl
from flowc.ir.data import Array
from flowc.ir.memlet import Memlet
from flowc.ir.nodes import AccessNode, MapEntry, MapExit, Node, Tasklet
from flowc.ir.state import Edge, State
from flowc.ir.symbolic import Range, Subset, canonical_symbol, equal

if TYPE_CHECKING:
    from flowc.ir.program import Program


def top_level_maps(program: "Program") -> Iterator[tuple[State, MapEntry]]:
    """Every map entry at the top level of its state (not nested in another map), state by state."""
    for state in program.states():
        scopes = state.scope_dict()
        for n in state.nodes():
            if isinstance(n, MapEntry) and scopes.get(n) is None:
                yield state, n


def scope_nodes(state: State, entry: MapEntry, scopes: Optional[dict] = None) -> list[Node]:
    """Every node strictly inside ``entry``'s scope (nested scopes included, the exit excluded)."""
    scopes = scopes if scopes is not None else state.scope_dict()
    inside = []
    for node, s in scopes.items():
        chain = s
        while chain is not None and chain is not entry:
            chain = scopes.get(chain)
        if chain is entry:
            inside.append(node)
    return inside


def scope_edges(state: State, entry: MapEntry, scopes: Optional[dict] = None) -> list[Edge]:
    """Edges whose both ends are in ``entry``'s scope, plus the entry's out- and the exit's in-edges."""
    nodes = set(scope_nodes(state, entry, scopes)) | {entry, state.exit_of(entry)}
    return [e for e in state.edges() if e.src in nodes and e.dst in nodes]


def rename_subset(subset: Optional[Subset], mapping: dict) -> Optional[Subset]:
    return None if subset is None else subset.subs(mapping)


def rename_memlet(m: Memlet, mapping: dict) -> Memlet:
    if m.is_empty or not mapping:
        return m
    return Memlet(m.data, rename_subset(m.subset, mapping), m.wcr, rename_subset(m.other_subset, mapping))


def rename_params(state: State, entry: MapEntry, renames: dict[str, str]) -> None:
    """Rename ``entry``'s parameters (and every use inside its scope) simultaneously."""
    renames = {a: b for a, b in renames.items() if a != b}
    if not renames:
        return
    mapping = {canonical_symbol(a): canonical_symbol(b) for a, b in renames.items()}
    scopes = state.scope_dict()
    for e in scope_edges(state, entry, scopes):
        state.set_memlet(e, rename_memlet(e.memlet, mapping))
    for n in scope_nodes(state, entry, scopes):
        if isinstance(n, MapEntry):
            n.map.ranges = [r.subs(mapping) for r in n.map.ranges]
        elif isinstance(n, Tasklet):
            local = set(n.inputs) | set(n.outputs) | set(n.code.assigned()) | set(n.code.loop_vars())
            n.code = n.code.substitute({a: tl.Name(b) for a, b in renames.items() if a not in local})
    entry.map.params = [renames.get(p, p) for p in entry.map.params]


def why_not_private(program: "Program", name: str) -> Optional[str]:
    """Why ``name`` is not a private intermediate — a transient array with memory of its own,
    no views of it, and invisible to the caller — or None. Only such an array can be fused
    away, shrunk, or replaced by another's memory."""
    desc = program.data.get(name)
    if not isinstance(desc, Array) or not desc.transient or desc.is_view:
        return f"{name} is not a transient array"
    if any(d.view_of == name for d in program.data.values()):
        return f"{name} has views"
    if name in program.returns or name in program.arg_names:
        return f"{name} is visible to the caller"
    return None


def data_read_written(state: State, nodes: Iterable[Node]) -> tuple[set[str], set[str]]:
    """Containers read and written by the given nodes (through their edges)."""
    nodes = set(nodes)
    read, written = set(), set()
    for e in state.edges():
        if e.memlet.is_empty:
            continue
        if e.dst in nodes and not isinstance(e.dst, (AccessNode, MapExit)) and not isinstance(e.src, MapExit):
            read.add(e.data)
        if e.src in nodes and not isinstance(e.src, (AccessNode, MapEntry)) and not isinstance(e.dst, MapEntry):
            written.add(e.data)
    return read, written


def ranges_equal(a: list[Range], b: list[Range]) -> bool:
    return len(a) == len(b) and all(
        equal(x.start, y.start) and equal(x.stop, y.stop) and equal(x.step, y.step) for x, y in zip(a, b))


def subset_covers(outer: Subset, inner: Subset) -> bool:
    """Whether ``inner`` ⊆ ``outer`` for all symbol values (unit steps; conservative)."""
    if len(outer) != len(inner):
        return False
    for o, i in zip(outer, inner):
        if o.step != 1 or i.step != 1:
            if not (equal(o.start, i.start) and equal(o.stop, i.stop) and equal(o.step, i.step)):
                return False
            continue
        lo = sympy.expand(i.start - o.start)
        hi = sympy.expand(o.stop - i.stop)
        if not (lo.is_number and lo >= 0 and hi.is_number and hi >= 0):
            return False
    return True


def unique_connector(node: Node, state: State, base: str, incoming: bool) -> str:
    """``base`` or ``base_1``, ... so that no edge on ``node`` already uses it."""
    used = {e.dst_conn for e in state.in_edges(node)} if incoming else {e.src_conn for e in state.out_edges(node)}
    name, i = base, 0
    while name in used:
        i += 1
        name = f"{base}_{i}"
    return name
