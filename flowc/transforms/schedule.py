"""CPU scheduling choices: how a map's iterations and a GEMM's rows are spread over threads.

Neither changes what is computed, only which thread computes it and whether the thread pool
is woken at all; they are the knobs the auto-search turns where the code generator's
defaults (a static split, a parallel threshold from the work per element, as many GEMM row
blocks as keep every thread busy) are not the fastest.

::

    map i in [0:N]: body        (parallel for schedule(static) if (work >= default threshold))
          ⇒ MapSchedule(parallel=False)
    map[sequential] i in [0:N]: body      (one thread, no fork/join; nested maps sequential too)
          ⇒ MapSchedule(threshold=0)
    map i in [0:N]: body        (parallel for schedule(static): always parallel)
          ⇒ MapSchedule(chunk=4)
    map i in [0:N]: body        (parallel for schedule(dynamic, 4): for uneven iterations)

    C = A @ B   (one GEMM task per (batch entry × row block), blocks = max(1, threads / batch))
          ⇒ GemmRowBlocks(row_blocks=8)
    C = A @ B   (8 row blocks per batch entry: finer load balance, smaller GEMMs)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

from flowc.ir.library import MatMul, gemm_unsupported, vector_kind
from flowc.ir.nodes import MapEntry, Schedule
from flowc.ir.program import Program
from flowc.transforms.base import Match, NotApplicable, Transformation
from flowc.transforms.scopes import scope_nodes, top_level_maps


@dataclass(frozen=True)
class MapSchedule(Transformation):
    """Set how a top-level CPU map runs: ``parallel=False`` runs it on one thread;
    ``threshold`` is the work (elements the scope touches) from which it forks the thread
    pool (0: always; None: the code generator's default); ``chunk`` hands out iterations
    dynamically, ``chunk`` at a time (None: a static, even split)."""

    parallel: bool = True
    threshold: Optional[int] = None
    chunk: Optional[int] = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.threshold is not None and self.threshold < 0:
            raise ValueError(f"parameter 'threshold' must be non-negative, got {self.threshold}")
        if self.chunk is not None and self.chunk < 1:
            raise ValueError(f"parameter 'chunk' must be positive, got {self.chunk}")
        if not self.parallel and (self.threshold is not None or self.chunk is not None):
            raise ValueError("a sequential map has no threshold or chunk (they are about its parallel loop)")

    def candidates(self, program: Program) -> Iterator[Match]:
        for state, n in top_level_maps(program):
            yield self.match(state, n, info=n.map.label)

    def _wanted(self) -> tuple[Schedule, Optional[int], Optional[int]]:
        return (Schedule.DEFAULT if self.parallel else Schedule.SEQUENTIAL), self.threshold, self.chunk

    def plan(self, program: Program, match: Match) -> None:
        state, (entry,) = self.resolve(program, match)
        if not isinstance(entry, MapEntry) or state.scope_dict().get(entry) is not None:
            raise NotApplicable(f"{entry!r} is not a top-level map (nested maps run inside their parent's thread)")
        m = entry.map
        if m.schedule not in (Schedule.DEFAULT, Schedule.CPU_MULTICORE, Schedule.SEQUENTIAL):
            raise NotApplicable(f"{m.label} has the GPU schedule {m.schedule.value}")
        have = (Schedule.SEQUENTIAL if m.schedule == Schedule.SEQUENTIAL else Schedule.DEFAULT,
                m.parallel_threshold, m.chunk)
        if have == self._wanted():
            raise NotApplicable(f"{m.label} is scheduled so already")

    def rewrite(self, program: Program, match: Match, plan: None) -> None:
        state, (entry,) = self.resolve(program, match)
        entry.map.schedule, entry.map.parallel_threshold, entry.map.chunk = self._wanted()
        if not self.parallel:                   # the whole nest on one thread: no nested map forks
            for n in scope_nodes(state, entry):
                if isinstance(n, MapEntry):
                    n.map.schedule = Schedule.SEQUENTIAL


@dataclass(frozen=True)
class GemmRowBlocks(Transformation):
    """Split each batch entry of a BLAS GEMM into ``row_blocks`` tasks (row blocks) of the
    OpenMP task loop that runs them, instead of as many as keep every thread busy."""

    row_blocks: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.row_blocks <= 1 << 16:
            raise ValueError(f"parameter 'row_blocks' must be in [1, 65536], got {self.row_blocks}")

    def candidates(self, program: Program) -> Iterator[Match]:
        for state in program.states():
            for n in state.nodes():
                if isinstance(n, MatMul):
                    yield self.match(state, n, info=n.label)

    def plan(self, program: Program, match: Match) -> None:
        state, (node,) = self.resolve(program, match)
        if not isinstance(node, MatMul):
            raise NotApplicable(f"{node!r} is not a MatMul")
        if node.implementation != "blas":
            raise NotApplicable(f"{node.label} is not a BLAS call (implementation {node.implementation!r})")
        if vector_kind(program, state, node) is not None:
            raise NotApplicable(f"{node.label} is a matrix-vector product (one GEMV, no row blocks)")
        why = gemm_unsupported(program, state, node)
        if why:
            raise NotApplicable(f"{node.label} is not one BLAS GEMM: {why}")
        if node.row_blocks == self.row_blocks:
            raise NotApplicable(f"{node.label} has {self.row_blocks} row blocks already")

    def rewrite(self, program: Program, match: Match, plan: None) -> None:
        _, (node,) = self.resolve(program, match)
        node.row_blocks = self.row_blocks
