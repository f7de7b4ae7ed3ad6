"""Bounds of indices inside ``flowc.map`` scopes, over the maps' (possibly nested) ranges.

An element written under an ``if`` in a map body is written back unchanged where the condition
is false, so it must lie inside its array for every iteration, not only where the condition
holds. ``inside`` proves that for indices affine in the map parameters: each parameter, from
the innermost out, is replaced by the end of its range that minimizes (or maximizes) the index,
leaving an expression of the size symbols whose sign sympy decides.
"""

from __future__ import annotations

from typing import Any, Optional

import sympy

Ranges = list[tuple[str, tuple[Any, Any, Any]]]     # (parameter, (start, stop, step)), outermost first


def _extreme(e: Any, ranges: Ranges, lowest: bool) -> Optional[Any]:
    """The least (or greatest) value of ``e`` over the map ranges, as an expression of the size
    symbols; None where ``e`` is not affine with constant coefficients in the parameters."""
    e = sympy.expand(sympy.sympify(e))
    for p, (start, stop, step) in reversed(ranges):
        sym = sympy.Symbol(p, integer=True)
        if sym not in e.free_symbols:
            continue
        c = e.coeff(sym)
        rest = sympy.expand(e - c * sym)
        if not c.is_number or sym in rest.free_symbols:
            return None
        lo, hi = (start, stop - 1) if int(step) > 0 else (stop + 1, start)
        e = sympy.expand(rest + c * (lo if bool(c > 0) == lowest else hi))
    return e


def _size_minima(ranges: Ranges) -> dict[Any, int]:
    """Least values of size symbols implied by the maps running at all: ``map[1:N - 1]`` has
    an iteration only where N >= 3 (from ranges whose stop is a symbol plus a constant)."""
    least: dict[Any, int] = {}
    for k, (_, (start, stop, step)) in enumerate(ranges):
        if int(step) <= 0:
            continue
        first = _extreme(start, ranges[:k], True)
        stop = sympy.expand(sympy.sympify(stop))
        syms = stop.free_symbols
        if first is None or not first.is_number or len(syms) != 1:
            continue
        sym = next(iter(syms))
        if stop.coeff(sym) != 1 or (stop - sym).free_symbols:
            continue
        least[sym] = max(least.get(sym, 0), int(first + 1 - (stop - sym)))
    return least


def inside(index: tuple[Any, ...], shape: tuple[Any, ...], ranges: Ranges) -> bool:
    """Whether ``index`` lies inside ``shape`` for every iteration of the maps (sizes >= 0, and
    large enough for the maps to run)."""
    least = _size_minima(ranges)
    for e, n in zip(index, shape):
        lo, hi = _extreme(e, ranges, True), _extreme(e, ranges, False)
        if lo is None or hi is None:
            return False
        for cond in (lo, sympy.sympify(n) - 1 - hi):
            sizes = {x: sympy.Symbol(x.name, integer=True, nonnegative=True) + least.get(x, 0)
                     for x in cond.free_symbols}
            if not sympy.expand(cond.xreplace(sizes)).is_nonnegative:
                return False
    return True


__all__ = ["inside"]
