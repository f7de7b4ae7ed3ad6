"""Per-call bounds of views and memlet subsets: what the binder checks before a call.

``validate()`` refuses what is *provably* out of bounds. What depends on the symbol values of a
call (``A[i]`` for ``i in 0:M`` over ``A[N]``; a view ``offset + strides * extent`` over a base of
``N`` elements) becomes a condition ``expr >= 0`` that the binder evaluates per call, as it does
for ``Program.requirements``; a call that breaks one raises ``ValueError`` before anything runs.

``access_requirements(program)`` derives them:

- **Views.** Every element of a non-empty view lies inside its root container's span
  (``[min, max]`` of ``offset + sum(i_d * stride_d)`` over the root's shape), and a non-empty
  view has a non-empty root.
- **Transients.** A transient is allocated with ``total_size()`` elements from its element 0;
  its strides must keep every element inside (a negative stride would not).
- **Memlet subsets.** Every memlet's subset lies inside its container whenever the loops and
  maps around it run at all: each index is bounded over the map parameters and loop variables
  around the memlet by interval arithmetic (``_Intervals``: sums, numeric multiples, ``Min``,
  ``Max``, ``floor``/``ceiling`` of a quotient by an integer, ``Mod`` by a positive modulus; a
  tiled map's inner range is bounded through the outer parameter). Inner memlets are checked,
  not only the propagated ones, so an IR file cannot hide an access behind a smaller outer
  subset. An index outside that language (``A[i * i]``, ``A[i * K]``) cannot be bounded:
  ``unbounded_subsets(program)`` lists them and ``validate()`` refuses them.

Conditions that sympy proves for all non-negative symbol values are left out, so a program
from the frontend usually gets none (the BERT layer: none).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Optional

import sympy

from flowc.ir.control import Block, Branch, Loop, While
from flowc.ir.data import Array
from flowc.ir.nodes import AccessNode, LibraryNode, MapEntry, Tasklet
from flowc.ir.state import Edge, State
from flowc.ir.symbolic import Expr, Range, Subset, canonical_symbol

if TYPE_CHECKING:
    from flowc.ir.program import Program

__all__ = ["access_requirements", "provably_nonnegative", "unbounded_subsets"]


def provably_nonnegative(e: Expr) -> bool:
    """Provably >= 0 for every non-negative integer value of its symbols.

    ``floor(a/b)`` and ``ceiling(a/b)`` (slices with steps) are replaced by their bounds in the
    direction that makes the expression smaller: ``a/b - (b-1)/b <= floor(a/b) <= a/b`` and
    ``a/b <= ceiling(a/b) <= a/b + (b-1)/b`` for an integer ``a`` and a constant ``b > 0``.
    """
    e = sympy.expand(e)
    if e.is_number:
        return bool(e >= 0)
    if _positive_symbols(e).is_nonnegative:
        return True
    # c * Min(a, b) with c < 0 is at least c * a (and c * b); c * Max(a, b) with c > 0 likewise
    for term in sympy.Add.make_args(e):
        coeff, rest = term.as_coeff_Mul()
        if coeff.is_number and ((isinstance(rest, sympy.Min) and coeff < 0)
                                or (isinstance(rest, sympy.Max) and coeff > 0)):
            return any(provably_nonnegative(e - term + coeff * arg) for arg in rest.args)
    lower = sympy.Integer(0)
    for term in sympy.Add.make_args(e):
        coeff, rest = term.as_coeff_Mul()
        if isinstance(rest, (sympy.floor, sympy.ceiling)) and coeff.is_number:
            num, den = sympy.fraction(sympy.together(rest.args[0]))
            if not (den.is_Integer and den > 0):
                return False
            slack = sympy.Rational(int(den) - 1, int(den))
            q = num / den
            smaller_floor = coeff > 0
            if isinstance(rest, sympy.floor):
                term = coeff * (q - slack if smaller_floor else q)
            else:
                term = coeff * (q if smaller_floor else q + slack)
        lower += term
    lower = sympy.expand(lower)
    return lower != e and bool(_positive_symbols(lower).is_nonnegative)


def _positive_symbols(e: Expr) -> Expr:
    return e.xreplace({s: sympy.Symbol(s.name, integer=True, nonnegative=True) for s in e.free_symbols})


def _span(offset: Expr, shape: tuple, strides: tuple) -> tuple[Expr, Expr]:
    """(lowest, highest) flat index of a non-empty array with these strides."""
    lo, hi = sympy.sympify(offset), sympy.sympify(offset)
    for n, st in zip(shape, strides):
        reach = (n - 1) * st
        if provably_nonnegative(st):
            hi += reach
        elif provably_nonnegative(-st):
            lo += reach
        else:
            lo += sympy.Min(0, reach)
            hi += sympy.Max(0, reach)
    return sympy.expand(lo), sympy.expand(hi)


def _guarded(expr: Expr, *sizes: Expr) -> Optional[Expr]:
    """``expr >= 0`` unless one of ``sizes`` is ``<= 0`` (an empty range touches nothing), as
    ``Max(expr, -size, ...)``; None if provable."""
    if provably_nonnegative(expr):
        return None
    unique = list(dict.fromkeys(sympy.expand(z) for z in sizes))
    for z in unique:
        if provably_nonnegative(-z) or provably_nonnegative(expr - z + 1):
            return None     # the last: z >= 1 in the case that matters, so expr >= z - 1 >= 0
    if not unique:
        return expr
    return sympy.Max(expr, *(-z for z in unique), evaluate=False)


def _view_requirements(program: "Program") -> Iterator[tuple[Expr, str]]:
    for name, desc in program.data.items():
        if not isinstance(desc, Array):
            continue
        if desc.view_of is None:
            if desc.transient:      # allocated with total_size() elements from its first one
                lo, hi = _span(sympy.Integer(0), desc.shape, desc.strides)
                for expr in (lo, desc.total_size() - 1 - hi):
                    req = _guarded(expr, sympy.Mul(*desc.shape))
                    if req is not None:
                        yield req, f"transient {name!r} (strides {desc.strides}) inside its allocation"
            continue
        root = program.root_of(name)
        rdesc = program.data[root]
        offset = program.root_offset(name)
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


def _last(r: Range) -> Expr:
    """The last value of ``r`` (numeric step; meaningful when ``r`` is not empty)."""
    if r.step == 1:
        return r.stop - 1
    if r.step == -1:
        return r.stop + 1
    return r.start + (r.size() - 1) * r.step


def _runs(r: Range) -> Expr:
    """Positive exactly when a loop over ``r`` runs at least once (as generated code tests it)."""
    if r.step.is_number and r.step != 0:
        return r.size()
    # step > 0: start < stop; step <= 0: start > stop (a zero step loops forever there)
    return (sympy.Max(r.stop - r.start, 0) * sympy.Max(r.step, 0)
            + sympy.Max(r.start - r.stop, 0) * sympy.Max(1 - r.step, 0))


class _Unbounded(Exception):
    """An index expression interval arithmetic cannot bound."""


class _Intervals:
    """Lower and upper bounds of index expressions over map parameters and loop variables.

    A parameter ``p in start:stop:step`` (numeric step) lies between its first and last values,
    which are bounded recursively (a tiled map's inner range uses the outer parameter). Sums,
    products with numbers, ``Min``/``Max``, ``floor``/``ceiling`` of a quotient by a positive
    integer (monotone) and ``Mod(a, m)`` (``0 .. m - 1`` for a positive ``m``, Python's sign rule)
    are supported; anything else raises ``_Unbounded``.
    """

    def __init__(self, ranges: dict[sympy.Symbol, Range]):
        self.ranges = ranges
        self.memo: dict[sympy.Symbol, tuple[Expr, Expr]] = {}
        #: further conditions the bounds assume (``Mod``'s modulus positive)
        self.extra: list[Expr] = []

    def param(self, p: sympy.Symbol) -> tuple[Expr, Expr]:
        if p not in self.memo:
            r = self.ranges[p]
            first_lo, first_hi = self.of(r.start)
            if not r.step.is_number or r.step == 0:
                # either direction: start <= p < stop or stop < p <= start
                up_lo, up_hi = self.of(r.stop - 1)
                down_lo, down_hi = self.of(r.stop + 1)
                self.memo[p] = (sympy.Min(first_lo, down_lo), sympy.Max(first_hi, up_hi))
                return self.memo[p]
            last_lo, last_hi = self.of(_last(r))
            self.memo[p] = (first_lo, last_hi) if r.step > 0 else (last_lo, first_hi)
        return self.memo[p]

    def of(self, e: Expr) -> tuple[Expr, Expr]:
        """(lower, upper) bound of ``e``. A parameter whose range depends on another (``i2`` in
        ``0:N - i``) is first replaced by the end of its range that bounds ``e`` (``i + i2`` is at
        most ``i + (N - i - 1) = N - 1``); plain interval arithmetic would bound the two apart
        (``2N - 2``) and ask for what never happens."""
        e = sympy.sympify(e)
        if not (e.free_symbols & set(self.ranges)):
            return e, e
        lo_e, hi_e = self._eliminate(e, upper=False), self._eliminate(e, upper=True)
        if lo_e != e or hi_e != e:
            return self._of(lo_e)[0], self._of(hi_e)[1]
        return self._of(e)

    def _eliminate(self, e: Expr, upper: bool) -> Expr:
        """``e`` with each parameter that depends on others, and appears linearly with a numeric
        coefficient, replaced by the end of its range (numeric positive step) that makes ``e``
        largest (``upper``) or smallest."""
        params = set(self.ranges)
        for _ in range(len(params) + 1):
            e = sympy.expand(e)
            dependent = sorted((p for p in e.free_symbols & params if self.ranges[p].free_symbols() & {
                str(q) for q in params}), key=str)
            for p in dependent:
                c = e.coeff(p)
                r = self.ranges[p]
                if not (c.is_number and c != 0 and p not in sympy.expand(e - c * p).free_symbols
                        and r.step.is_number and r.step > 0):
                    continue
                e = e.xreplace({p: _last(r) if (c > 0) == upper else r.start})
                break
            else:
                return e
        return e

    def _of(self, e: Expr) -> tuple[Expr, Expr]:
        e = sympy.sympify(e)
        if not (e.free_symbols & set(self.ranges)):
            return e, e
        if e.is_Symbol:
            return self.param(e)
        if e.is_Add:
            parts = [self.of(a) for a in e.args]
            return sympy.Add(*(lo for lo, _ in parts)), sympy.Add(*(hi for _, hi in parts))
        if e.is_Mul:
            coeff, rest = e.as_coeff_Mul()
            if coeff != 1 and coeff.is_number:
                lo, hi = self.of(rest)
                return (coeff * lo, coeff * hi) if coeff > 0 else (coeff * hi, coeff * lo)
            raise _Unbounded(f"the product {e}")
        if isinstance(e, (sympy.Min, sympy.Max)):
            parts = [self.of(a) for a in e.args]
            f = type(e)
            return f(*(lo for lo, _ in parts)), f(*(hi for _, hi in parts))
        if isinstance(e, (sympy.floor, sympy.ceiling)):
            num, den = sympy.fraction(sympy.together(e.args[0]))
            if not (den.is_Integer and den > 0):
                raise _Unbounded(f"{e}")
            lo, hi = self.of(num)
            f = type(e)
            return f(lo / den), f(hi / den)
        if isinstance(e, sympy.Mod):
            m = e.args[1]
            if m.free_symbols & set(self.ranges) or provably_nonnegative(-m):
                raise _Unbounded(f"{e}")
            if not provably_nonnegative(m - 1):
                self.extra.append(m - 1)         # a positive modulus (0 would divide by zero)
            return sympy.Integer(0), m - 1
        raise _Unbounded(f"{e}")


def upper_bound(expr: Expr, ranges: dict[str, Range]) -> Optional[Expr]:
    """The largest value ``expr`` takes while each loop variable of ``ranges`` runs over its
    range (ranges may use outer variables), as an expression in the other symbols; None where
    interval arithmetic cannot bound it. (The frontend sizes a buffer for an intermediate whose
    shape depends on a loop variable with it: ``a[:i] * 2`` for ``i in range(1, N)`` fits ``N - 1``.)"""
    intervals = _Intervals({canonical_symbol(k): r for k, r in ranges.items()})
    e = sympy.sympify(expr)
    try:
        hi = intervals.of(e.xreplace({s: canonical_symbol(s.name) for s in e.free_symbols}))[1]
    except _Unbounded:
        return None
    if {s.name for s in hi.free_symbols} & set(ranges):
        return None
    return hi


def _memlets(program: "Program") -> Iterator[tuple[State, Edge, str, Subset, dict]]:
    """Every (state, edge, container, subset, ranges of the parameters around it) of the program
    whose subset addresses memory: at a tasklet, a library node or a copy between access nodes.
    Memlets at map entries and exits only summarize those (propagation may over-approximate
    them, e.g. ``0:Max(1, K)``), and code generation does not address memory through them."""
    for state, loops in _states(program.body, []):
        scopes = state.scope_dict()
        for e in state.edges():
            m = e.memlet
            if m.is_empty or m.subset is None:
                continue
            ends = (e.src, e.dst)
            if not (any(isinstance(n, (Tasklet, LibraryNode)) for n in ends)
                    or all(isinstance(n, AccessNode) for n in ends)):
                continue
            ranges = {canonical_symbol(v): r for v, r in loops}
            for en in _edge_scopes(state, e, scopes):
                ranges.update({canonical_symbol(p): r for p, r in zip(en.map.params, en.map.ranges)})
            yield state, e, m.data, m.subset, ranges
            if m.other_subset is not None:
                other = e.dst.data if m.data == e.src.data else e.src.data
                yield state, e, other, m.other_subset, ranges


def _subset_requirements(program: "Program", state: State, e: Edge, data: str, subset: Subset,
                         ranges: dict, prove: bool = True) -> list[tuple[Expr, str]]:
    """Conditions keeping ``subset`` of ``data`` inside it; raises ``_Unbounded``. With
    ``prove=False`` only the bounds are derived (to find what cannot be bounded)."""
    desc = program.data[data]
    if not isinstance(desc, Array):
        return []
    iv = _Intervals(ranges)
    # an empty loop or map range around the memlet means it touches nothing
    names = {str(p) for p in ranges}
    sizes = [_runs(r) for r in ranges.values() if not (r.free_symbols() & names)]
    out = []
    for d, (r, dim) in enumerate(zip(subset.ranges, desc.shape)):
        if not r.step.is_number or r.step == 0:
            raise _Unbounded(f"the step {r.step}")
        first_lo, first_hi = iv.of(r.start)
        last_lo, last_hi = iv.of(_last(r))
        lo, hi = (first_lo, last_hi) if r.step > 0 else (last_lo, first_hi)
        if not prove:
            continue
        size = r.size()
        guards = sizes + ([size] if not (size.free_symbols & set(ranges)) else [])
        for expr in (lo, dim - 1 - hi, *iv.extra):
            req = _guarded(expr, *guards)
            if req is not None:
                out.append((req, f"state {state.name!r}: {data}[{subset}] (dimension {d}, extent {dim})"))
    return out


def unbounded_subsets(program: "Program") -> list[str]:
    """Memlets whose indices interval arithmetic cannot bound (see ``_Intervals``)."""
    out = []
    for state, e, data, subset, ranges in _memlets(program):
        try:
            _subset_requirements(program, state, e, data, subset, ranges, prove=False)
        except _Unbounded as exc:
            out.append(f"state {state.name!r}: the memlet {e.src!r} -> {e.dst!r} indexes {data!r} with "
                       f"{subset}, whose bounds cannot be derived ({exc})")
    return out


def access_requirements(program: "Program") -> list[tuple[Expr, str]]:
    """Conditions ``expr >= 0`` on the program's symbols that keep every view and memlet subset
    inside its container (see the module docstring). Each comes with a description."""
    reqs: list[tuple[Expr, str]] = list(_view_requirements(program))
    seen = {r for r, _ in reqs}
    done: set = set()
    for state, e, data, subset, ranges in _memlets(program):
        key = (data, subset, tuple(ranges.items()))
        if key in done:
            continue            # the same subset under the same ranges (many edges of a map nest)
        done.add(key)
        try:
            found = _subset_requirements(program, state, e, data, subset, ranges)
        except _Unbounded:
            continue            # refused by validate() (unbounded_subsets)
        for req, why in found:
            if req not in seen:
                seen.add(req)
                reqs.append((req, why))
    return reqs
