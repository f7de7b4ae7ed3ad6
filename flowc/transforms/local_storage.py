"""Local storage: shrink a transient that lives inside one map scope to the
part one iteration touches.

::

    map i: { ... ─▶ T[i, 0:M] ─▶ ... }        T: float[N, M]
                            ⇒
    map i: { ... ─▶ T[0:M] ─▶ ... }           T: float[M], one per iteration (per thread)

    map i,j: { ... ─▶ T[i, j] ─▶ ... }        T: float[N, M]
                            ⇒
    map i,j: { ... ─▶ T ─▶ ... }              T: a scalar in a register

Applies when every access node of the transient sits in one map scope and
every memlet touching it fixes the same dimensions with the same expression
of that scope's parameters. After map fusion this is what removes the
intermediate's round trip through memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

import sympy

from flowc.ir.data import Array, Scalar
from flowc.ir.memlet import Memlet
from flowc.ir.nodes import MapEntry
from flowc.ir.program import Program
from flowc.ir.symbolic import Subset
from flowc.transforms.base import Match, NotApplicable, Transformation
from flowc.transforms.scopes import scope_nodes, why_not_private


@dataclass(frozen=True)
class LocalStorage(Transformation):
    """Shrink a transient used inside one map scope to what one iteration touches.

    ``registers_only``: shrink only to a scalar, fixing dimensions by the parameters of the scope
    and of the scopes around it (a GPU thread has registers, not room for a row buffer)."""

    registers_only: bool = False

    def candidates(self, program: Program) -> Iterator[Match]:
        for state in program.states():
            scopes = state.scope_dict()
            seen = set()
            for n in state.data_nodes():
                chain = state.enclosing_maps(n, scopes)
                if not chain or n.data in seen:
                    continue
                seen.add(n.data)
                for scope in chain:            # outermost first: the largest saving
                    yield self.match(state, scope, n, info=f"{n.data} in {scope.map.label}", data=n.data)

    def plan(self, program: Program, match: Match) -> dict[int, sympy.Expr]:
        """Dimension → the index expression every access fixes it to (what the transient
        shrinks by), or ``NotApplicable``."""
        state, (entry, node) = self.resolve(program, match)
        name = node.data
        why = why_not_private(program, name)
        if why:
            raise NotApplicable(why)
        desc = program.data[name]
        for st in program.states():
            if st is not state and any(n.data == name for n in st.data_nodes()):
                raise NotApplicable(f"{name} is also accessed in state {st.name}")
        scopes = state.scope_dict()
        if any(entry not in state.enclosing_maps(n, scopes) for n in state.data_nodes()
               if n.data == name and state.graph.degree(n) > 0):
            raise NotApplicable(f"{name} is accessed outside {entry.map.label}")
        params = {sympy.Symbol(p, integer=True) for p in entry.map.params}
        if self.registers_only:
            params |= {sympy.Symbol(p, integer=True) for outer in state.enclosing_maps(entry, scopes)
                       for p in outer.map.params}
        nested = {sympy.Symbol(p, integer=True) for n in scope_nodes(state, entry, scopes)
                  if isinstance(n, MapEntry) for p in n.map.params}
        fixed: Optional[dict[int, sympy.Expr]] = None
        for e in state.edges():
            if e.data != name:
                continue
            if e.memlet.other_subset is not None or e.memlet.subset is None:
                raise NotApplicable(f"{name} is copied to or from another container")
            here = {}
            for d, r in enumerate(e.memlet.subset):
                free = r.start.free_symbols
                if r.is_index and free & params and not free & nested:
                    here[d] = r.start
                elif r.is_index and desc.shape[d] == 1 and r.start == 0:
                    here[d] = r.start          # a size-1 dimension carries nothing
            if here and all(desc.shape[d] == 1 for d in here):
                raise NotApplicable(f"{entry.map.label} fixes only size-1 dimensions of {name}")
            fixed = here if fixed is None else {d: x for d, x in fixed.items() if here.get(d) == x}
            if not fixed:
                break
        if not fixed:
            raise NotApplicable(f"the accesses of {name} fix no dimension to one index per iteration of "
                                f"{entry.map.label}")
        if self.registers_only and any(desc.shape[d] != 1 for d in range(desc.ndim) if d not in fixed):
            raise NotApplicable(f"{name} would be a buffer per iteration of {entry.map.label}, not a register")
        # every edge must fix exactly these dims with these expressions
        for e in state.edges():
            if e.data == name and any(e.memlet.subset.ranges[d].start != x or not e.memlet.subset.ranges[d].is_index
                                      for d, x in fixed.items()):
                raise NotApplicable(f"the accesses of {name} do not all fix the same dimensions alike")
        return fixed

    def apply_everywhere(self, program: Program) -> list[Match]:
        """Shrinking one container never changes whether another can shrink, so
        each scan shrinks every container once (outermost scope first); a
        further scan shrinks again inside nested scopes (row buffer → register)."""
        applied: list[Match] = []
        while True:
            chosen: dict[Optional[str], Match] = {}
            for m in self.candidates(program):
                if m.data not in chosen and self.can_apply(program, m):
                    chosen[m.data] = m
            if not chosen:
                return applied
            applied += [self.apply(program, m) for m in chosen.values()]

    def rewrite(self, program: Program, match: Match, fixed: dict[int, sympy.Expr]) -> None:
        state, (entry, node) = self.resolve(program, match)
        name = node.data
        desc = program.data[name]
        keep = [d for d in range(desc.ndim) if d not in fixed]
        if all(desc.shape[d] == 1 for d in keep):
            keep = []                                  # what is left is one element: a register
        if keep:
            program.data[name] = Array(desc.dtype, tuple(desc.shape[d] for d in keep), storage=desc.storage,
                                       transient=True)
        else:
            program.data[name] = Scalar(desc.dtype, transient=True)
        for e in state.edges():
            if e.data == name:
                sub = Subset(tuple(e.memlet.subset.ranges[d] for d in keep))
                state.set_memlet(e, Memlet(name, sub, e.memlet.wcr, None))

