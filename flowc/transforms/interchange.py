"""Loop order: which of a map's parameters is the innermost loop.

A map's iterations are unordered, so its parameters may be listed in any order, but the
code generator nests the loops in that order (the outer ones run in parallel, the innermost
one is what the C++ compiler vectorizes). Putting innermost the parameter that walks memory
with unit stride turns strided loads into contiguous (vector) ones::

    map[i0, i1, i2] { sum[i0, i1] += A[i, i2] * B[i2, i1] }      (B read with stride K, in i2)
          ⇒ MapInterchange()            (unit stride innermost: i1 walks B and sum contiguously)
    map[i0, i2, i1] { sum[i0, i1] += A[i, i2] * B[i2, i1] }

``MapInterchange(order=(2, 0, 1))`` lists the parameters explicitly (new position k gets old
parameter ``order[k]``); without ``order`` the parameter with the most unit-stride memlets in
the scope moves innermost, the others keep their order. Refused where a range would use a
parameter that comes later in the new order (a triangle ``j in [i, N)`` keeps ``i`` outside
``j``). Whether it is faster also depends on which loops stay parallel, so it is a search
choice, not an ``auto_optimize`` default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

import sympy

from flowc.ir.nodes import MapEntry
from flowc.ir.program import Program
from flowc.ir.symbolic import canonical_symbol
from flowc.transforms.base import Match, NotApplicable, Transformation
from flowc.transforms.scopes import scope_edges


@dataclass(frozen=True)
class MapInterchange(Transformation):
    """Reorder a map's parameters (its loop nest): ``order`` lists the old positions in their
    new order; None moves the parameter with the most unit-stride accesses innermost."""

    order: Optional[tuple[int, ...]] = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.order is not None:
            if not isinstance(self.order, tuple) or not all(isinstance(k, int) for k in self.order):
                raise TypeError(f"parameter 'order' must be a tuple of ints, got {self.order!r}")
            if sorted(self.order) != list(range(len(self.order))):
                raise ValueError(f"parameter 'order' must be a permutation of 0..{len(self.order) - 1}, "
                                 f"got {self.order}")

    def candidates(self, program: Program) -> Iterator[Match]:
        for state in program.states():
            for n in state.nodes():
                if isinstance(n, MapEntry) and len(n.map.params) > 1:
                    yield self.match(state, n, info=n.map.label)

    def plan(self, program: Program, match: Match) -> tuple[int, ...]:
        state, (entry,) = self.resolve(program, match)
        if not isinstance(entry, MapEntry):
            raise NotApplicable(f"{entry!r} is not a map")
        params = entry.map.params
        order = self.order if self.order is not None else unit_stride_order(program, state, entry)
        if len(order) != len(params):
            raise NotApplicable(f"{entry.map.label} has {len(params)} parameters, the order lists {len(order)}")
        if order == tuple(range(len(params))):
            raise NotApplicable(f"{entry.map.label} has this loop order already")
        for k, old in enumerate(order):
            later = {canonical_symbol(params[j]) for j in order[k + 1:]}
            if entry.map.ranges[old].free_symbols() & {s.name for s in later}:
                raise NotApplicable(f"the range of {params[old]} in {entry.map.label} uses a parameter that "
                                    "would become an inner loop")
        return order

    def rewrite(self, program: Program, match: Match, order: tuple[int, ...]) -> None:
        _, (entry,) = self.resolve(program, match)
        m = entry.map
        m.params = [m.params[k] for k in order]
        m.ranges = [m.ranges[k] for k in order]


def unit_stride_order(program: Program, state, entry: MapEntry) -> tuple[int, ...]:
    """The order that moves innermost the parameter with the most memlets in ``entry``'s scope
    whose element address steps by one per iteration of it (ties keep the current innermost)."""
    params = entry.map.params
    counts = [0] * len(params)
    symbols = [canonical_symbol(p) for p in params]
    for e in scope_edges(state, entry):
        if e.memlet.is_empty or e.data is None or e.memlet.subset is None:
            continue
        desc = program.data[e.data]
        strides = getattr(desc, "strides", ())
        if len(strides) != len(e.memlet.subset):
            continue
        address = sympy.expand(sum((r.start * s for r, s in zip(e.memlet.subset, strides)), sympy.Integer(0)))
        for k, sym in enumerate(symbols):
            if abs(address.coeff(sym)) == 1:
                counts[k] += 1
    last = len(params) - 1
    best = max(range(len(params)), key=lambda k: (counts[k], k == last))
    return tuple(k for k in range(len(params)) if k != best) + (best,)


__all__ = ["MapInterchange", "unit_stride_order"]
