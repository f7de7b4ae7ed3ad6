"""Data movement: the bytes a program reads and writes, derived from its memlets alone.

The count is a property of the IR, not of a machine: it is what the memlets
say moves between *containers* (access nodes), with no model of caches.

Rules:

- every edge leaving an access node reads ``volume × itemsize`` bytes of that
  node's container; every edge entering one writes as many. An access →
  access copy therefore counts one read of the source and one write of the
  destination (each side with its own subset, see ``copy_subsets``);
- edges of transient ``Scalar`` containers count 0: they live in registers;
  so do transient arrays whose every access node sits inside a map scope
  (after ``LocalStorage``: one small buffer per thread that stays in cache);
- a view counts toward the container that owns its memory (``program.root_of``);
- an access node inside map scopes counts once per iteration of the enclosing
  maps: its edges' volumes are summed over the map parameters (a product of
  the range sizes when the volumes do not depend on them);
- a state inside a ``Loop`` counts once per iteration: summed over the loop
  variable (``sympy.summation``) when a volume depends on it, else multiplied
  by the trip count;
- a ``While`` body counts **once**: the figures are per iteration of the
  while loop, whose trip count is unknown;
- a ``Branch`` counts the **larger** of its two bodies (by total bytes): an
  upper bound. When the comparison depends on symbols the symbolic form is a
  ``Piecewise``; with values it is decided exactly.

Symbolic sums over loop variables assume the loop runs a non-negative number
of times (``stop >= start`` for a positive step); ``data_movement`` with
concrete values substitutes them first and is exact for empty loops too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import sympy

from flowc.ir.control import Block, Branch, Loop, While
from flowc.ir.data import Scalar
from flowc.ir.errors import IRError
from flowc.ir.nodes import AccessNode, MapEntry
from flowc.ir.state import Edge, State
from flowc.ir.symbolic import Range, Subset, canonical_symbol

if TYPE_CHECKING:
    from flowc.ir.program import Program

_ZERO = sympy.Integer(0)
#: loops up to this many iterations are summed by enumeration when sympy finds no closed form
_ENUMERATE_LIMIT = 100_000

Counts = dict[str, list[sympy.Expr]]     # container -> [read, written]


def copy_subsets(program: "Program", edge: Edge) -> tuple[Subset, Subset]:
    """The source and destination subsets of an access → access copy.

    The memlet's ``subset`` belongs to the container it names (either end);
    ``other_subset`` to the other end, which is the whole other container when
    ``other_subset`` is None.
    """
    m = edge.memlet
    src, dst = edge.src.data, edge.dst.data

    def full(name: str) -> Subset:
        return Subset.full(program.data[name].shape)

    own = m.subset if m.subset is not None else full(m.data)
    if m.data == src:
        return own, (m.other_subset if m.other_subset is not None else full(dst))
    return (m.other_subset if m.other_subset is not None else full(src)), own


def scope_work(state: State, entry: MapEntry) -> sympy.Expr:
    """The elements a map scope touches: the largest memlet crossing its boundary (it covers
    the nested loops too, which the map's own range does not), or its iterations."""
    volumes = [e.memlet.subset.volume() for e in state.in_edges(entry) + state.out_edges(state.exit_of(entry))
               if not e.memlet.is_empty and e.memlet.subset is not None]
    volumes.append(sympy.Mul(*(r.size() for r in entry.map.ranges)))
    candidates = [v for v in volumes if v.free_symbols or v != 1]
    if not candidates:
        return sympy.Integer(1)
    return candidates[0] if len(candidates) == 1 else sympy.Max(*candidates)


def data_movement(program: "Program", symbol_values: dict[str, int]) -> dict[str, Any]:
    """Bytes read and written, evaluated for the given symbol values.

    Returns ``{"read", "written", "total", "by_container": {name: {"read",
    "written"}}}`` (all ints, bytes). ``by_container`` lists every container
    (views folded into their base) that an access node refers to. A program
    with GPU memory (after ``GPUOffload``) also has ``by_storage`` (the same
    per storage class) and ``transfers`` (``host_to_device``,
    ``device_to_host``: the explicit copies of its arguments). Raises
    ``IRError`` naming the symbols whose values are missing.
    """
    values = {str(k): v for k, v in symbol_values.items()}
    counter = _Counter(program, values)
    counts = counter.block(program.body)
    missing: set[str] = set()
    for r, w in counts.values():
        missing |= {s.name for s in (r.free_symbols | w.free_symbols)}
    if missing:
        raise IRError(f"data_movement of program {program.name!r}: no value for symbol(s) "
                      f"{', '.join(sorted(missing))}; pass them, e.g. "
                      f"data_movement({', '.join(f'{s}=...' for s in sorted(missing))})")
    by = {name: {"read": _to_int(r), "written": _to_int(w)} for name, (r, w) in counts.items()}
    read = sum(c["read"] for c in by.values())
    written = sum(c["written"] for c in by.values())
    out = {"read": read, "written": written, "total": read + written, "by_container": by}
    storages = {name: program.data[name].storage.value for name in by}
    if "gpu_global" in storages.values():
        # after GPU offload the host containers are the arguments, touched only by the copies to and
        # from their device twins: their reads are host → device traffic, their writes the way back
        out["by_storage"] = {s: {"read": sum(c["read"] for n, c in by.items() if storages[n] == s),
                                 "written": sum(c["written"] for n, c in by.items() if storages[n] == s)}
                             for s in sorted(set(storages.values()))}
        host = out["by_storage"].get("host", {"read": 0, "written": 0})
        out["transfers"] = {"host_to_device": host["read"], "device_to_host": host["written"]}
    return out


def data_movement_symbolic(program: "Program") -> dict[str, Any]:
    """``data_movement`` as sympy expressions over the program's free symbols."""
    counts = _Counter(program, {}).block(program.body)
    by = {name: {"read": sympy.simplify(r), "written": sympy.simplify(w)} for name, (r, w) in counts.items()}
    read = sympy.simplify(sum((c["read"] for c in by.values()), _ZERO))
    written = sympy.simplify(sum((c["written"] for c in by.values()), _ZERO))
    return {"read": read, "written": written, "total": sympy.simplify(read + written), "by_container": by}


def data_movement_expr(program: "Program") -> sympy.Expr:
    """Total bytes moved (read + written) as a sympy expression."""
    return data_movement_symbolic(program)["total"]


def _to_int(e: sympy.Expr) -> int:
    e = sympy.sympify(e)
    if e.has(sympy.Sum):
        e = e.doit()
    if not e.is_number:
        raise IRError(f"data_movement: cannot evaluate {e} to a number")
    if e.is_Integer:
        return int(e)
    return int(sympy.floor(e + sympy.Rational(1, 2)))


class _Counter:
    def __init__(self, program: "Program", values: dict[str, int]):
        self.p = program
        local = program.local_symbols()
        # values for bound names (map parameters, loop variables) would break the sums: ignore them
        self.subs = {canonical_symbol(k): sympy.Integer(int(v)) for k, v in values.items() if k not in local}
        self.numeric = bool(values)
        self.local = _scope_local_transients(program)

    def x(self, e: Any) -> sympy.Expr:
        e = sympy.sympify(e)
        return e.xreplace(self.subs) if self.subs else e

    # ------------------------------------------------------------ control flow
    def block(self, block: Block) -> Counts:
        total: Counts = {}
        for item in block.items:
            _add(total, self.item(item))
        return total

    def item(self, item: Any) -> Counts:
        if isinstance(item, State):
            return self.state(item)
        if isinstance(item, Loop):
            body = self.block(item.body)
            return {k: [self.over_loop(item, r), self.over_loop(item, w)] for k, (r, w) in body.items()}
        if isinstance(item, While):
            return self.block(item.body)          # per iteration
        if isinstance(item, Branch):
            return self.branch(self.block(item.then_body), self.block(item.else_body))
        raise IRError(f"data_movement: unknown control-flow item {item!r}")

    def branch(self, a: Counts, b: Counts) -> Counts:
        ta = sum((r + w for r, w in a.values()), _ZERO)
        tb = sum((r + w for r, w in b.values()), _ZERO)
        diff = sympy.simplify(ta - tb)
        if diff.is_number:
            return a if diff >= 0 else b
        cond = ta >= tb
        out: Counts = {}
        for k in {**a, **b}:
            ra, wa = a.get(k, [_ZERO, _ZERO])
            rb, wb = b.get(k, [_ZERO, _ZERO])
            out[k] = [sympy.Piecewise((ra, cond), (rb, True)), sympy.Piecewise((wa, cond), (wb, True))]
        return out

    def over_loop(self, loop: Loop, e: sympy.Expr) -> sympy.Expr:
        return self.sum_over(canonical_symbol(loop.var), Range(loop.start, loop.stop, loop.step), e)

    def sum_over(self, var: sympy.Symbol, rng: Range, e: sympy.Expr,
                 count: Optional[sympy.Expr] = None) -> sympy.Expr:
        """Sum ``e`` over ``var`` taking the values of ``rng``."""
        if e == 0:
            return _ZERO
        start, stop, step = self.x(rng.start), self.x(rng.stop), self.x(rng.step)
        if count is None:
            size = self.x(rng.size())
            count = sympy.Max(size, 0) if self.numeric or size.is_number else size
        if var not in e.free_symbols:
            return e * count
        n = sympy.sympify(count)
        if n.is_number and n <= 0:
            return _ZERO
        k = sympy.Dummy("k", integer=True, nonnegative=True)
        term = e.xreplace({var: start + step * k}) if step != 1 else e.xreplace({var: start + k})
        upper = (stop - start - 1) if step == 1 else (sympy.ceiling((stop - start) / step) - 1)
        if n.is_number and e.has(sympy.Piecewise) and int(n) <= _ENUMERATE_LIMIT:
            return sum((term.xreplace({k: sympy.Integer(i)}) for i in range(int(n))), _ZERO)
        result = sympy.summation(term, (k, 0, upper))
        if result.has(sympy.Sum) and n.is_number and int(n) <= _ENUMERATE_LIMIT:
            return sum((term.xreplace({k: sympy.Integer(i)}) for i in range(int(n))), _ZERO)
        return result

    # ------------------------------------------------------------ states
    def state(self, st: State) -> Counts:
        out: Counts = {}
        scope = st.scope_dict()
        for e in st.edges():
            m = e.memlet
            if m.is_empty:
                continue
            for node, kind in ((e.src, 0), (e.dst, 1)):
                if not isinstance(node, AccessNode):
                    continue
                desc = self.p.data[node.data]
                root = self.p.root_of(node.data)
                slot = out.setdefault(root, [_ZERO, _ZERO])
                if desc.transient and (isinstance(desc, Scalar) or node.data in self.local):
                    continue
                if isinstance(e.src, AccessNode) and isinstance(e.dst, AccessNode):
                    subset = copy_subsets(self.p, e)[kind]
                elif m.subset is not None:
                    subset = m.subset
                else:
                    subset = Subset.full(desc.shape)
                nbytes = self.x(subset.volume()) * desc.dtype.itemsize
                slot[kind] = slot[kind] + self.over_maps(nbytes, st.enclosing_maps(node, scope))
        return out

    def over_maps(self, e: sympy.Expr, maps: list[MapEntry]) -> sympy.Expr:
        """Sum over the parameters of the enclosing maps (given outermost first)."""
        for en in reversed(maps):
            for p, r in reversed(list(zip(en.map.params, en.map.ranges))):
                e = self.sum_over(canonical_symbol(p), r, e)
        return e


def _scope_local_transients(program: "Program") -> set[str]:
    """Transient arrays (not views) that are only ever accessed inside map scopes."""
    inside: dict[str, bool] = {}
    for st in program.states():
        scope = st.scope_dict()
        for n in st.data_nodes():
            inside[n.data] = inside.get(n.data, True) and scope.get(n) is not None
    return {name for name, local in inside.items()
            if local and program.data[name].transient and program.data[name].view_of is None
            and not any(d.view_of == name for d in program.data.values())}


def _add(total: Counts, part: Counts) -> None:
    for k, (r, w) in part.items():
        slot = total.setdefault(k, [_ZERO, _ZERO])
        slot[0] = slot[0] + r
        slot[1] = slot[1] + w
