"""Loop order of a map: which parameter walks memory with unit stride, and which orders its
ranges allow.

A map's iterations are unordered, so its loop nest may list its parameters in any order its
ranges allow (a range that uses a parameter needs that parameter outside it). What changes
is speed: the innermost loop is what the C++ compiler vectorizes, and a strided innermost
loop (``B[i2, i1]`` with ``i2`` innermost) loads one element per cache line. Both
``MapInterchange`` (a recorded transformation) and the C++ generator (for loops that run on
one thread, see ``flowc.codegen.cpp``) use this.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import sympy

from flowc.ir.nodes import MapEntry, Node
from flowc.ir.symbolic import canonical_symbol

if TYPE_CHECKING:
    from flowc.ir.program import Program
    from flowc.ir.state import State


def unit_stride_counts(program: "Program", state: "State", entry: MapEntry,
                       scopes: Optional[dict[Node, Optional[MapEntry]]] = None) -> list[int]:
    """For each parameter of ``entry``, how many memlets in its scope (the entry's out-edges,
    the exit's in-edges and every edge inside) address elements one apart per step of it."""
    scopes = scopes if scopes is not None else state.scope_dict()
    inside = {n for n in scopes if entry in state.enclosing_maps(n, scopes)} | {entry, state.exit_of(entry)}
    symbols = [canonical_symbol(p) for p in entry.map.params]
    counts = [0] * len(symbols)
    for e in state.edges():
        if e.src not in inside or e.dst not in inside:
            continue
        if e.memlet.is_empty or e.data is None or e.memlet.subset is None:
            continue
        strides = getattr(program.data[e.data], "strides", ())
        if len(strides) != len(e.memlet.subset):
            continue
        address = sympy.expand(sum((r.start * s for r, s in zip(e.memlet.subset, strides)), sympy.Integer(0)))
        for k, sym in enumerate(symbols):
            if abs(address.coeff(sym)) == 1:
                counts[k] += 1
    return counts


def unit_stride_order(program: "Program", state: "State", entry: MapEntry,
                      scopes: Optional[dict[Node, Optional[MapEntry]]] = None) -> tuple[int, ...]:
    """The order that moves innermost the parameter with the most unit-stride memlets (ties
    keep the current innermost); the others keep their order."""
    counts = unit_stride_counts(program, state, entry, scopes)
    last = len(counts) - 1
    best = max(range(len(counts)), key=lambda k: (counts[k], k == last))
    return tuple(k for k in range(len(counts)) if k != best) + (best,)


def order_conflict(entry: MapEntry, order: tuple[int, ...]) -> Optional[str]:
    """Why ``entry``'s loops cannot nest in ``order`` (a range would use an inner parameter), or None."""
    params = entry.map.params
    for k, old in enumerate(order):
        later = {canonical_symbol(params[j]).name for j in order[k + 1:]}
        if entry.map.ranges[old].free_symbols() & later:
            return f"the range of {params[old]} in {entry.map.label} uses a parameter that would become an inner loop"
    return None
