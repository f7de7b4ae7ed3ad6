"""Memlet propagation: the part of an array a whole map scope touches.

Inside a map over ``i in 0:N`` a tasklet reads ``A[i, 0]``; outside the scope
the same edge moves ``A[0:N, 0]``. Each dimension's index expression is
bounded over the parameter ranges: exactly for affine indices (with the
stride kept when one parameter drives the dimension), and by the whole
dimension otherwise. That outer subset is what ``data_movement`` counts.
"""

from __future__ import annotations

from typing import Optional, Sequence

import sympy

from flowc.ir.symbolic import Expr, Range, Subset, canonical_symbol


def _last(r: Range) -> Expr:
    """The last value a parameter takes over ``r``."""
    return r.start + (r.size() - 1) * r.step


def _bounds(expr: Expr, params: dict[sympy.Symbol, Range]) -> Optional[tuple[Expr, Expr]]:
    """(min, max) of an affine expression over the parameter ranges, or None."""
    lo, hi = expr, expr
    for p, r in params.items():
        if p not in expr.free_symbols:
            continue
        poly = sympy.Poly(sympy.expand(expr), p) if expr.is_polynomial(p) else None
        if poly is None or poly.degree() != 1:
            return None
        coeff = poly.coeff_monomial(p)
        if not coeff.is_number:
            return None
        step_sign = r.step.is_positive
        first, last = r.start, _last(r)
        low_val, high_val = (first, last) if step_sign else (last, first)
        if coeff > 0:
            lo, hi = lo.subs(p, low_val), hi.subs(p, high_val)
        else:
            lo, hi = lo.subs(p, high_val), hi.subs(p, low_val)
    return sympy.expand(lo), sympy.expand(hi)


def propagate_subset(subset: Subset, params: Sequence[str], ranges: Sequence[Range],
                     shape: Sequence[Expr]) -> Subset:
    """The subset an inner memlet covers over the whole map."""
    pmap = {canonical_symbol(p): r for p, r in zip(params, ranges)}
    out = []
    for dim, r in enumerate(subset.ranges):
        used = [p for p in pmap if p in (r.start.free_symbols | r.stop.free_symbols | r.step.free_symbols)]
        if not used:
            out.append(r)
            continue
        if r.step.free_symbols & set(pmap):
            out.append(Range(sympy.Integer(0), shape[dim]))
            continue
        lo_b = _bounds(r.start, pmap)
        hi_b = _bounds(r.stop - 1, pmap) if r.step == 1 else _bounds(_last(r), pmap)
        if lo_b is None or hi_b is None:
            out.append(Range(sympy.Integer(0), shape[dim]))
            continue
        lo, hi = lo_b[0], hi_b[1]
        step = sympy.Integer(1)
        if r.is_index and len(used) == 1:
            coeff = sympy.expand(r.start).coeff(used[0])
            pstep = pmap[used[0]].step
            if coeff.is_number and coeff != 0:
                step = sympy.Abs(coeff * pstep)
        out.append(Range(lo, hi + 1, step))
    return Subset(tuple(out))


def union(a: Subset, b: Subset) -> Subset:
    """Bounding box of two subsets of the same container."""
    ranges = []
    for ra, rb in zip(a.ranges, b.ranges):
        if ra == rb:
            ranges.append(ra)
            continue
        start = _min(ra.start, rb.start)
        stop = _max(ra.stop, rb.stop)
        ranges.append(Range(start, stop))
    return Subset(tuple(ranges))


def _min(x: Expr, y: Expr) -> Expr:
    d = sympy.expand(x - y)
    if d.is_number:
        return x if d <= 0 else y
    return sympy.Min(x, y)


def _max(x: Expr, y: Expr) -> Expr:
    d = sympy.expand(x - y)
    if d.is_number:
        return x if d >= 0 else y
    return sympy.Max(x, y)
