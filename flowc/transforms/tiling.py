"""Map tiling: iterate a map's space in tiles, so each tile's data stays in cache.

::

    map i, j in [0:N, 0:M]: body
                ⇒
    map ti, tj in [0:N:T, 0:M:T]:                                 (parallel over tiles)
        map i, j in [ti:Min(ti + T, N), tj:Min(tj + T, M)]: body  (sequential inside a tile)

The body is unchanged; only the iteration order moves, which is legal because
a map's iterations are independent. Refuses maps whose ranges have steps or
depend on other parameters, and maps with write-conflict resolution into
memory (the order of accumulation would change the rounding).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

import sympy

from flowc.ir.nodes import MapEntry, MapExit
from flowc.ir.program import Program
from flowc.ir.symbolic import Range, canonical_symbol
from flowc.transforms.base import Match, NotApplicable, Transformation
from flowc.transforms.map_expansion import MapExpansion
from flowc.transforms.scopes import scope_nodes, top_level_maps


@dataclass(frozen=True)
class MapTiling(Transformation):
    """Tile the given dimensions (default: all; negative counts from the last) of a top-level
    map by ``tile`` elements."""

    tile: int = 64
    dims: Optional[tuple[int, ...]] = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.tile < 1:
            raise ValueError(f"tile size must be positive, got {self.tile}")

    def candidates(self, program: Program) -> Iterator[Match]:
        for state, n in top_level_maps(program):
            if "tiled" not in n.map.hints:
                yield self.match(state, n, info=n.map.label)

    def _dims(self, entry: MapEntry) -> list[int]:
        n = len(entry.map.params)
        return list(range(n)) if self.dims is None else list(dict.fromkeys(d % n for d in self.dims if -n <= d < n))

    def plan(self, program: Program, match: Match) -> list[int]:
        """The dimensions to tile."""
        state, (entry,) = self.resolve(program, match)
        dims = self._dims(entry)
        if not dims:
            raise NotApplicable(f"{entry.map.label} has none of the dimensions {list(self.dims or ())}")
        params = {canonical_symbol(p) for p in entry.map.params}
        for d in dims:
            r = entry.map.ranges[d]
            if r.step != 1 or (r.start.free_symbols | r.stop.free_symbols) & params:
                raise NotApplicable(f"dimension {d} of {entry.map.label} has a step or depends on another "
                                    "parameter")
        inside = scope_nodes(state, entry) + [entry, state.exit_of(entry)]
        if any(e.memlet.wcr is not None and e.data is not None and not _is_register(program, e.data)
               for e in state.edges() if e.src in inside and e.dst in inside):
            raise NotApplicable(f"{entry.map.label} accumulates into memory; tiling would reorder the sums")
        return dims

    def rewrite(self, program: Program, match: Match, dims: list[int]) -> None:
        state, (entry,) = self.resolve(program, match)
        m = entry.map
        # 1. split the map into an outer map over the tiled dims and an inner map over the rest
        others = [d for d in range(len(m.params)) if d not in dims]
        order = dims + others
        m.params = [m.params[d] for d in order]
        m.ranges = [m.ranges[d] for d in order]
        if others:
            MapExpansion(inner=len(m.params) - len(dims), top_level_only=False).rewrite_at(program, match)
        # 2. the tiled dims: outer over tile starts, a new inner map over each tile's points
        tile_params = [f"{m.params[k]}_tile" for k in range(len(dims))]
        point_ranges = []
        for k in range(len(dims)):
            r = m.ranges[k]
            t = canonical_symbol(tile_params[k])
            point_ranges.append(Range(t, sympy.Min(t + self.tile, r.stop), sympy.Integer(1)))
        point_params = m.params[:len(dims)]
        tile_ranges = [Range(m.ranges[k].start, m.ranges[k].stop, sympy.Integer(self.tile))
                       for k in range(len(dims))]
        m.params = tile_params + m.params[len(dims):]
        m.ranges = tile_ranges + m.ranges[len(dims):]
        m.hints["tiled"] = self.tile
        _insert_inner(program, state, entry, point_params, point_ranges)


def _is_register(program: Program, name: str) -> bool:
    from flowc.ir.data import Scalar

    desc = program.data.get(name)
    return isinstance(desc, Scalar) and desc.transient


def _insert_inner(program: Program, state, entry: MapEntry, params: list[str], ranges: list[Range]) -> None:
    """Put a sequential map over (params, ranges) directly inside ``entry``'s scope."""
    # reuse MapExpansion's rewiring: temporarily give the outer map the point params at the end
    outer_params, outer_ranges = list(entry.map.params), list(entry.map.ranges)
    entry.map.params = outer_params + params
    entry.map.ranges = outer_ranges + ranges
    k = len(params)
    MapExpansion(inner=k, top_level_only=False).rewrite_at(program, Match("MapExpansion", state.name, (entry.id,)))
    # MapExpansion created the inner map with the last k params; make it the points map
    created = [n for n in state.nodes() if isinstance(n, (MapEntry, MapExit)) and n.map.params == params
               and n.map is not entry.map]
    for n in created:
        n.map.label = f"{entry.map.label}_points"
    entry.map.params, entry.map.ranges = outer_params, outer_ranges
