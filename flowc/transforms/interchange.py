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
choice, not an ``auto_optimize`` default. (Where a map's loops run on one thread, below its
parallel threshold, the C++ generator nests them in the unit-stride order by itself: nothing
runs in parallel there to weigh it against.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

from flowc.ir.loop_order import order_conflict, unit_stride_order
from flowc.ir.nodes import MapEntry
from flowc.ir.program import Program
from flowc.transforms.base import Match, NotApplicable, Transformation


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
        why = order_conflict(entry, order)
        if why:
            raise NotApplicable(why)
        return order

    def rewrite(self, program: Program, match: Match, order: tuple[int, ...]) -> None:
        _, (entry,) = self.resolve(program, match)
        m = entry.map
        m.params = [m.params[k] for k in order]
        m.ranges = [m.ranges[k] for k in order]


__all__ = ["MapInterchange", "unit_stride_order"]
