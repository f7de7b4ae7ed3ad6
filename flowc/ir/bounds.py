"""Per-call bounds of views and memlet subsets: what the binder checks before a call.

``validate()`` refuses what is *provably* out of bounds. What depends on the symbol values of a
call (``A[i]`` for ``i in 0:M`` over ``A[N]``; a view ``offset + strides * extent`` over a base of
``N`` elements) becomes a condition ``expr >= 0`` that the binder evaluates per call, as it does
for ``Program.requirements``; a call that breaks one raises ``ValueError`` before anything runs.

``access_requirements(program)`` derives them:

- **Views.** Every element of a non-empty view lies inside its root container's span
  (``[min, max]`` of ``offset + sum(i_d * stride_d)`` over the root's shape), and a non-empty
  view has a non-empty root.
- **Memlet subsets.** Every memlet's subset, propagated over the map scopes around it and the
  loops around its state (``propagation.propagate_subset``: exact for affine indices), lies
  inside its container whenever it is non-empty. A memlet whose indices are not affine in the
  map parameters and loop variables (``A[i * i]``, ``A[i // 2]``) cannot be bounded this way:
  propagation would assume the whole dimension. ``unbounded_subsets(program)`` lists them;
  ``validate()`` refuses them (the frontend produces none).

Conditions that sympy proves for all non-negative symbol values are left out, so a program
from the frontend usually gets none (the BERT layer: none).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Optional

import sympy

from flowc.ir.control import Block, Branch, Loop, While
from flowc.ir.data import Array
from flowc.ir.nodes import MapEntry
from flowc.ir.propagation import propagate_subset
from flowc.ir.state import Edge, State
from flowc.ir.symbolic import Expr, Range, Subset, canonical_symbol

if TYPE_CHECKING:
    from flowc.ir.program import Program

__all__ = ["access_requirements", "unbounded_subsets"]


def _nonnegative(e: Expr) -> bool:
    """Provably >= 0 for every non-negative integer value of its symbols."""
    e = sympy.expand(e)
    if e.is_number:
        return bool(e >= 0)
    subs = {s: sympy.Symbol(s.name, integer=True, nonnegative=True) for s in e.free_symbols}
    return bool(e.xreplace(subs).is_nonnegative)


def _span(offset: Expr, shape: tuple, strides: tuple) -> tuple[Expr, Expr]:
    """(lowest, highest) flat index of a non-empty array with these strides."""
    lo, hi = sympy.sympify(offset), sympy.sympify(offset)
    for n, st in zip(shape, strides):
        reach = (n - 1) * st
        if _nonnegative(st):
            hi += reach
        elif _nonnegative(-st):
            lo += reach
        else:
            lo += sympy.Min(0, reach)
            hi += sympy.Max(0, reach)
    return sympy.expand(lo), sympy.expand(hi)


def _guarded(expr: Expr, size: Expr) -> Optional[Expr]:
    """``expr >= 0`` unless ``size <= 0`` (an empty range touches nothing): None if provable."""
    if _nonnegative(expr) or _nonnegative(-size) or _nonnegative(expr - size + 1):
        return None         # the last: size >= 1 in the case that matters, so expr >= size - 1 >= 0
    return sympy.Max(expr, -size)


def _view_requirements(program: "Program") -> Iterator[tuple[Expr, str]]:
    for name, desc in program.data.items():
        if not isinstance(desc, Array) or desc.view_of is None:
            continue
        root = program.root_of(name)
        rdesc = program.data[root]
        offset: Expr = sympy.Integer(0)
        cur = name
        while program.data[cur].view_of is not None:
            offset += program.data[cur].offset
            cur = program.data[cur].view_of
        size = sympy.Mul(*desc.shape)
        lo, hi = _span(offset, desc.shape, desc.strides)
        rlo, rhi = _span(sympy.Integer(0), rdesc.shape, rdesc.strides)
        why = f"view {name!r} (offset {sympy.expand(offset)}, strides {desc.strides}) of {root!r}"
        for expr in (sympy.Mul(*rdesc.shape) - 1, lo - rlo, rhi - hi):
            req = _guarded(expr, size)
            if req is not None:
                yield req, why


def _states(block: Block, loops: list[tuple[str, Range]]) -> Iterator[tuple[State, list[tuple[str, Range]]]]:
    for item in block:
        if isinstance(item, State):
            yield item, loops
        elif isinstance(item, Loop):
            yield from _states(item.body, loops + [(item.var, Range(item.start, item.stop, item.step))])
        elif isinstance(item, Branch):
            yield from _states(item.then_body, loops)
            yield from _states(item.else_body, loops)
        elif isinstance(item, While):
            yield from _states(item.body, loops)


def _edge_scopes(state: State, e: Edge, scopes: dict) -> list[MapEntry]:
    """The map entries whose parameters the edge's memlet may use, innermost first."""
    inner = e.src if isinstance(e.src, MapEntry) else scopes.get(e.src)
    chain: list[MapEntry] = []
    while inner is not None:
        chain.append(inner)
        inner = scopes.get(inner)
    return chain


def _affine(e: Expr, params: set) -> bool:
    e = sympy.expand(e)
    used = e.free_symbols & params
    if not used:
        return True
    if not e.is_polynomial(*used):
        return False
    poly = sympy.Poly(e, *used)
    return poly.total_degree() <= 1 and all(c.is_number for c in poly.coeffs())


def _memlets(program: "Program") -> Iterator[tuple[State, Edge, str, Subset, list, list]]:
    """Every (state, edge, container, subset, map chain, loops) of the program."""
    for state, loops in _states(program.body, []):
        scopes = state.scope_dict()
        for e in state.edges():
            m = e.memlet
            if m.is_empty or m.subset is None:
                continue
            chain = _edge_scopes(state, e, scopes)
            yield state, e, m.data, m.subset, chain, loops
            if m.other_subset is not None:
                other = e.dst.data if m.data == e.src.data else e.src.data
                yield state, e, other, m.other_subset, chain, loops


def unbounded_subsets(program: "Program") -> list[str]:
    """Memlets whose indices are not affine in the map parameters and loop variables around
    them (or use a symbolic step over them): their propagated subset is not a bound."""
    out = []
    for state, e, data, subset, chain, loops in _memlets(program):
        params = {canonical_symbol(p) for en in chain for p in en.map.params}
        params |= {canonical_symbol(v) for v, _ in loops}
        for r in subset:
            if not all(_affine(x, params) for x in (r.start, r.stop)) or (r.step.free_symbols & params):
                out.append(f"state {state.name!r}: {e!r} indexes {data!r} with {subset}, which is not affine "
                           "in the map parameters and loop variables")
                break
    return out


def access_requirements(program: "Program") -> list[tuple[Expr, str]]:
    """Conditions ``expr >= 0`` on the program's symbols that keep every view and memlet subset
    inside its container (see the module docstring). Each comes with a description."""
    reqs: list[tuple[Expr, str]] = list(_view_requirements(program))
    seen = {r for r, _ in reqs}
    for state, _e, data, subset, chain, loops in _memlets(program):
        desc = program.data[data]
        if not isinstance(desc, Array):
            continue
        sub = subset
        scopes = [(list(en.map.params), list(en.map.ranges)) for en in chain]
        scopes += [([v], [r]) for v, r in reversed(loops)]
        bounded = True
        for params, ranges in scopes:
            if not all(r.step.is_number for r in ranges):
                bounded = False
                break
            if sub.free_symbols() & set(params):
                sub = propagate_subset(sub, params, ranges, desc.shape)
        if not bounded:
            continue            # a symbolic loop or map step: see unbounded_subsets / docs
        for d, (r, dim) in enumerate(zip(sub.ranges, desc.shape)):
            if not r.step.is_number or r.step == 0:
                continue
            size = r.size()
            last = r.start + (size - 1) * r.step
            lo, hi = (r.start, last) if r.step > 0 else (last, r.start)
            why = f"state {state.name!r}: {data}[{sub}] (dimension {d}, extent {dim})"
            for expr in (lo, dim - 1 - hi):
                req = _guarded(expr, size)
                if req is not None and req not in seen:
                    seen.add(req)
                    reqs.append((req, why))
    return reqs
