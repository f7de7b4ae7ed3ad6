"""The auto-search's space: ``auto_optimize``'s pipeline with a decision at every match.

The pipeline is a list of *phases*, one transformation each, in ``auto_optimize``'s order.
A phase visits its matches as ``apply_everywhere`` does (the first match that applies, again
and again); at each match it meets a *decision point*, named by what the match is about
(the matched nodes' labels, the container, and how many matches with that name came
before), not by node ids, so one decision means the same place in every configuration:

- ``LayoutSelection``, ``GemvPairFusion``, ``MapExpansion``, ``MapFusion``, ``EpilogueFusion``: on by default
  (that is ``auto_optimize``); the alternative is to leave the match alone;
- ``NormalizationFusion`` (before library expansion), ``MapInterchange`` (before
  ``MapExpansion``: the unit-stride parameter of a nest innermost) and ``MapTiling`` (with a
  tile size from ``TILE_SIZES`` smaller than the map's extent): off by default; the
  alternatives apply them at this match;
- ``MapSchedule`` and ``GemmRowBlocks`` (last: they change no data, only threads): off by
  default; a small top-level map may run on one thread or always in parallel, one whose
  nested ranges are uneven (a triangle) with dynamic chunks; a GEMM with few batch entries
  may be split into ``T``, ``2T`` or ``4T`` row blocks per entry (``T``: the threads this
  process may use);
- ``LibraryExpansion`` and ``LocalStorage`` are fixed steps (expansion is the target's
  lowering, and shrinking a transient never adds work).

A ``Config`` is a set of ``Choice``s that differ from the default; the empty config builds
exactly ``auto_optimize``'s program (same history, byte-identical IR). Nothing here names an
operator: the points are whatever matches the transformations report on the program.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

from flowc.ir.movement import scope_work
from flowc.ir.nodes import MapEntry
from flowc.ir.program import Program
from flowc.ir.symbolic import as_expr
from flowc.transforms.base import Match, Transformation
from flowc.transforms.epilogue import EpilogueFusion
from flowc.transforms.expansion import expand_library_nodes
from flowc.transforms.gemv_pair import GemvPairFusion
from flowc.transforms.interchange import MapInterchange
from flowc.transforms.layout import LayoutSelection
from flowc.transforms.local_storage import LocalStorage
from flowc.transforms.map_expansion import MapExpansion
from flowc.transforms.map_fusion import MapFusion
from flowc.transforms.normalization import NormalizationFusion
from flowc.transforms.schedule import GemmRowBlocks, MapSchedule
from flowc.transforms.tiling import MapTiling

#: tile sizes MapTiling is tried with (only those smaller than the tiled map's extent)
TILE_SIZES = (16, 32, 64, 128)

#: the MapSchedule alternatives by name
MAP_SCHEDULES = {"sequential": MapSchedule(parallel=False), "always": MapSchedule(threshold=0),
                 "dynamic": MapSchedule(threshold=0, chunk=1)}

#: a decision point's name: (phase, matched labels, container, occurrence of that name)
Key = tuple[str, tuple[str, ...], Optional[str], int]

#: a choice's value: leave out / apply (bool), a size (int: tile, row blocks), a named variant (str)
Value = Union[bool, int, str]


@dataclass(frozen=True)
class Choice:
    """At decision point ``key``, do ``value`` instead of the default: ``False`` leaves a
    default-on match alone; ``True`` applies an opt-in transformation; an int is its size
    parameter (a tile, row blocks); a string names a variant (``MAP_SCHEDULES``)."""

    key: Key
    value: Value

    @property
    def phase(self) -> str:
        return self.key[0]

    def describe(self) -> str:
        phase, labels, data, occ = self.key
        where = ", ".join(labels) + (f" ({data})" if data else "") + (f" #{occ}" if occ else "")
        if self.value is False:
            return f"no {phase} at {where}"
        if self.value is True:
            return f"{phase} at {where}"
        if phase == "MapSchedule":
            return f"{phase}({self.value}) at {where}"
        name = "row_blocks" if phase == "GemmRowBlocks" else "tile"
        return f"{phase}({name}={self.value}) at {where}"

    def sort_key(self) -> tuple:
        return (self.key, str(self.value))


Config = frozenset  # of Choice


def describe(config: "frozenset[Choice]") -> str:
    """A readable one-line form of a configuration (``auto_optimize`` for the empty one)."""
    if not config:
        return "auto_optimize"
    return "auto_optimize + " + "; ".join(c.describe() for c in sorted(config, key=Choice.sort_key))


@dataclass
class DecisionPoint:
    """A place where the pipeline could do otherwise: its default and its alternatives."""

    key: Key
    default: Value
    alternatives: list[Value]


@dataclass
class Built:
    """A configuration's program and the decision points its pipeline met; ``snapshots``
    (kept for the default configuration) holds the program before each phase, so building a
    configuration that differs from the default only from phase k on starts there.
    ``kernels``: for the local decision points this build met (``LOCAL_PHASES``), the kernel
    their node ended up in, named as an instrumented library's profile names it
    (``state/label`` of the top-level scope); a point whose node is gone (fused into another)
    has none. ``kernel_order``: every kernel's name, in the order the code generator emits them."""

    program: Program
    points: list[DecisionPoint] = field(default_factory=list)
    snapshots: list[Program] = field(default_factory=list)
    kernels: dict[Key, str] = field(default_factory=dict)
    kernel_order: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Phase:
    name: str
    make: Callable[[Any], Transformation]   # value → the transformation to apply
    default_on: bool
    probe: Any = TILE_SIZES[0]              # the value whose transformation finds the matches
    once: bool = False                      # a match is decided once (its nodes stay the same)


PHASES_BEFORE_EXPANSION = (
    _Phase("LayoutSelection", lambda v: LayoutSelection(), True),
    _Phase("NormalizationFusion", lambda v: NormalizationFusion(), False),
)
PHASES_AFTER_EXPANSION = (
    _Phase("GemvPairFusion", lambda v: GemvPairFusion(), True),
    # before MapExpansion splits a nest into levels: the loop order of the whole nest
    _Phase("MapInterchange", lambda v: MapInterchange(), False, probe=True, once=True),
    _Phase("MapExpansion", lambda v: MapExpansion(), True),
    _Phase("MapFusion", lambda v: MapFusion(), True),
    _Phase("LocalStorage", lambda v: LocalStorage(), True),        # fixed: no decision point
    _Phase("EpilogueFusion", lambda v: EpilogueFusion(), True),
    _Phase("MapTiling", lambda v: MapTiling(tile=int(v)), False),
    _Phase("MapSchedule", lambda v: MAP_SCHEDULES[v], False, probe="sequential", once=True),
    _Phase("GemmRowBlocks", lambda v: GemmRowBlocks(row_blocks=int(v)), False, probe=1, once=True),
)
FIXED = ("LocalStorage",)

#: phases whose choices change one kernel and no data: the loop order, tiles and threads of one
#: map or GEMM. Their choices can be timed in their kernel, several at once in one program
#: (``flowc.transforms.search``); the others (layouts, fusions) change what neighbours read.
LOCAL_PHASES = ("MapInterchange", "MapTiling", "MapSchedule", "GemmRowBlocks")


def _extent(entry: MapEntry, sizes: dict[str, int]) -> Optional[int]:
    """The largest dimension of a map at ``sizes`` (None if it does not evaluate)."""
    extents = [_at(r.size(), sizes) for r in entry.map.ranges]
    return None if None in extents else max(extents)


def threads() -> int:
    """The threads this process may run on (the OpenMP pool's default size)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:                      # not Linux
        return max(1, os.cpu_count() or 1)


def _uneven(program: Program, match: Match) -> bool:
    """Whether a map's nested ranges depend on its parameters (a triangle: uneven iterations)."""
    state, (entry,) = Transformation.resolve(program, match)
    params = set(entry.map.params)
    scopes = state.scope_dict()
    return any(isinstance(n, MapEntry) and n is not entry and entry in state.enclosing_maps(n, scopes)
               and any(r.free_symbols() & params for r in n.map.ranges)
               for n in scopes)


def _alternatives(phase: _Phase, program: Program, match: Match, sizes: dict[str, int]) -> list[Value]:
    if phase.name in FIXED:
        return []
    if phase.name == "MapTiling":
        _, (entry,) = Transformation.resolve(program, match)
        extent = _extent(entry, sizes)
        return [t for t in TILE_SIZES if extent is None or t < extent]
    if phase.name == "MapSchedule":
        return _schedules(program, match, sizes)
    if phase.name == "GemmRowBlocks":
        return _row_blocks(program, match, sizes)
    return [not phase.default_on]


#: MapSchedule's alternatives are tried on maps of fewer iterations than these (at the sizes
#: searched): a larger map on one thread, or forking for it, is what the defaults already get right
SEQUENTIAL_BELOW = 1 << 17
ALWAYS_PARALLEL_BELOW = 1 << 18


def _at(expr: Any, sizes: dict[str, int]) -> Optional[int]:
    e = as_expr(expr)
    e = e.subs({s: sizes[s.name] for s in e.free_symbols if s.name in sizes})
    return int(e) if e.is_Integer else None


def _schedules(program: Program, match: Match, sizes: dict[str, int]) -> list[Value]:
    """A top-level map's scheduling alternatives worth timing at ``sizes``: one thread or an
    unconditional fork for a small map; dynamic chunks for a triangle."""
    state, (entry,) = Transformation.resolve(program, match)
    work = _at(scope_work(state, entry), sizes)     # the codegen's parallel threshold measures this
    out: list[Value] = []
    if work is None or work < SEQUENTIAL_BELOW:
        out.append("sequential")
    if work is None or work < ALWAYS_PARALLEL_BELOW:
        out.append("always")
    if _uneven(program, match):
        out.append("dynamic")
    return out


def _row_blocks(program: Program, match: Match, sizes: dict[str, int]) -> list[Value]:
    """Row blocks to try for a GEMM with fewer batch entries than 4 per thread (with more, one
    task per entry balances already): ``T``, ``2T`` and ``4T`` per entry."""
    state, (node,) = Transformation.resolve(program, match)
    out_name = node.operands(state)[2]
    batch = 1
    for d in program.data[out_name].shape[:-2]:
        n = _at(d, sizes)
        batch = batch * n if n is not None and batch is not None else None
    t = threads()
    if batch is not None and batch >= 4 * t:
        return []
    return [t, 2 * t, 4 * t]


def _run_phase(program: Program, phase: _Phase, chosen: dict[Key, Any], sizes: dict[str, int],
               points: list[DecisionPoint], anchors: dict[Key, tuple[str, Any]]) -> None:
    probe = phase.make(phase.probe)
    if phase.name in FIXED:
        probe.apply_everywhere(program)        # its own fixed point (LocalStorage scans in rounds)
        return
    seen: Counter = Counter()
    keys: dict[tuple, Key] = {}                # (state, node ids) → its decision point
    left_alone: set[tuple] = set()
    for _ in range(Transformation.max_rewrites):
        found = None
        for m in probe.candidates(program):
            ident = (m.state, m.nodes)
            if ident in left_alone or not probe.can_apply(program, m):
                continue
            if ident not in keys:
                _, nodes = probe.resolve(program, m)
                name = (tuple(n.label for n in nodes), m.data)
                keys[ident] = (phase.name, name[0], name[1], seen[name])
                seen[name] += 1
                if phase.name in LOCAL_PHASES:
                    anchors[keys[ident]] = (m.state, nodes[0])
                alts = _alternatives(phase, program, m, sizes)
                if alts:
                    points.append(DecisionPoint(keys[ident], phase.default_on, alts))
            value = chosen.get(keys[ident], phase.default_on)
            if value is False:
                left_alone.add(ident)
                continue
            found = (m, value)
            break
        if found is None:
            return
        m, value = found
        phase.make(value).apply(program, m)
        if phase.once:
            left_alone.add((m.state, m.nodes))


#: the pipeline in order; None is the target's library expansion (a fixed step)
PIPELINE: tuple[Optional[_Phase], ...] = (*PHASES_BEFORE_EXPANSION, None, *PHASES_AFTER_EXPANSION)


def build(program: Program, config: "frozenset[Choice]", target: str = "cpu",
          sizes: Optional[dict[str, int]] = None, baseline: Optional[Built] = None) -> Built:
    """Apply ``config``'s pipeline to a clone of ``program`` (a fresh lowering); the empty
    config gives ``auto_optimize``'s program. With ``baseline`` (the default configuration's
    ``Built``), the phases before the first one ``config`` changes are not run again: the
    build starts from a clone of the baseline's snapshot there (same steps, same history)."""
    chosen = {c.key: c.value for c in config}
    phases = [ph.name if ph else None for ph in PIPELINE]
    start = 0
    if baseline is not None and baseline.snapshots:
        start = min((phases.index(c.phase) for c in config), default=len(PIPELINE) - 1)
        work = baseline.snapshots[start].clone()
    else:
        work = program.clone()
    keep = not config and baseline is None
    points: list[DecisionPoint] = []
    snapshots: list[Program] = []
    anchors: dict[Key, tuple[str, Any]] = {}
    for phase in PIPELINE[start:]:
        if keep:
            snapshots.append(work.clone())
        if phase is None:
            expand_library_nodes(work, target)
        else:
            _run_phase(work, phase, chosen, sizes or {}, points, anchors)
    return Built(work, points, snapshots, *_kernels(work, anchors))


def _kernels(program: Program, anchors: dict[Key, tuple[str, Any]]) -> tuple[dict[Key, str], list[str]]:
    """The kernel each anchored node is in now (its outermost scope, by the name the
    instrumented library gives it: ``Program.kernels``), and every kernel's name in order."""
    kernels = program.kernels()
    name_of = {id(node): name for _, node, name in kernels}
    kernel_of: dict[int, tuple[str, str]] = {}     # id(node) → (kernel name, state name)
    for state in program.states():
        scopes = state.scope_dict()
        for node in state.nodes():
            top = node
            while scopes.get(top) is not None:
                top = scopes[top]
            if id(top) in name_of:
                kernel_of[id(node)] = (name_of[id(top)], state.name)
    out: dict[Key, str] = {}
    for key, (state_name, node) in anchors.items():
        found = kernel_of.get(id(node))
        if found is not None and found[1] == state_name:
            out[key] = found[0]
    return out, [name for _, _, name in kernels]


def neighbours(points: list[DecisionPoint]) -> list["frozenset[Choice]"]:
    """The configurations one decision away from the one whose points these are."""
    return [frozenset({Choice(p.key, alt)}) for p in points for alt in p.alternatives]
