"""Explicit parallel maps: ``for i, j in flowc.map[0:N, 0:M]:`` → one map scope.

The body is straight-line element code: each statement becomes one tasklet
inside the scope. Reads of array elements and of outer scalars enter
through the map entry with their element memlets; a statement assigning a
plain name writes a transient scalar local to the scope, which later
statements read directly; a statement assigning an array element writes
through the map exit. An augmented assignment whose target does not depend
on every map parameter (``out[i] += a[i, j]`` in a map over ``i, j``) is a
reduction: its memlet carries a write-conflict resolution (``wcr``) instead of
a read-modify-write. An element written earlier in the body and read again
(same index) is forwarded through a local scalar.

A nested ``flowc.map`` opens a scope inside the current one (its ranges may use
the enclosing parameters). ``if``/``elif``/``else`` is if-converted: each arm
runs under a guard, a map-local bool, its values are selects between the new
and the old value, and its element reads happen by subscript inside the
select's taken side (or inside the condition's ``&&``/``||``), so a guarded
``a[i - 1]`` is never read at ``i == 0``.

Anything else that is not element code (slices, reductions, ``range`` loops,
calls of other programs) is rejected with a hint: it belongs outside the map.
"""

from __future__ import annotations

import ast
from typing import Any, Callable, Optional

import sympy

from flowc.ir import expr as tl
from flowc.ir.memlet import Memlet
from flowc.ir.nodes import AccessNode, MapEntry, MapExit, Node
from flowc.ir.state import State
from flowc.ir.symbolic import Range, Subset, canonical_symbol, distinct_elements

from . import elementwise as ew
from . import types as T
from .context import Lowering
from .errors import LoweringError
from .expressions import BINOPS, evaluate, located
from .indexing import assignment_target, basic, element_store, gather
from .map_bounds import inside
from .map_loops import is_range_loop, lower_map_loop
from .map_writes import ACCUMULATIONS, IDENTITY, WCR, contribution
from .values import Const, Lazy, Leaf, MapMarker, Ref, Sym, Value, describe, is_arraylike, sym_value

_HINT = ("inside flowc.map, write element code: name = expression, or array[indices] = expression "
         "(and +=, -=, *=); do array operations outside the map")


def map_ranges(lw: Lowering, node: ast.AST) -> MapMarker:
    """``flowc.map[0:N, 1:M:2]`` → its ranges."""
    elts = node.elts if isinstance(node, ast.Tuple) else [node]
    ranges = []
    for e in elts:
        with located(lw, e):
            if not isinstance(e, ast.Slice) or e.upper is None:
                raise LoweringError("flowc.map ranges are slices start:stop[:step]", "flowc.map[0:N, 0:M]")
            start = sympy.Integer(0) if e.lower is None else sym_value(evaluate(lw, e.lower), "a map bound")
            stop = sym_value(evaluate(lw, e.upper), "a map bound")
            step = sympy.Integer(1) if e.step is None else sym_value(evaluate(lw, e.step), "a map step")
            if not step.is_number or step == 0:
                raise LoweringError("map steps must be non-zero compile-time integers")
            ranges.append((start, stop, step))
    return MapMarker(tuple(ranges))


class MapBody:
    """The scope being filled: its state, entry and exit, and the nodes statements share."""

    def __init__(self, lw: Lowering, state: State, entry: MapEntry, exit_: MapExit, params: list[str]):
        self.lw = lw
        self.state = state
        #: the scopes from the outermost map in: a nested ``flowc.map`` opens one more
        self.entries: list[MapEntry] = [entry]
        self.exits: list[MapExit] = [exit_]
        self.params = list(params)                     # every enclosing map's parameters
        self.ranges: list[tuple[str, tuple[Any, Any, Any]]] = []     # (parameter, (start, stop, step))
        #: inside ``if`` statements: the map-local bool scalar under which statements take effect
        self.guard: Optional[Ref] = None
        #: read array elements inside the tasklet (by subscript), not through element memlets
        self.lazy_reads = False
        self.local: dict[str, AccessNode] = {}         # map-local scalar -> its access node
        self.depth: dict[str, int] = {}                # map-local scalar -> the scope it lives in
        self.outer_in: dict[str, AccessNode] = {}
        self.outer_out: dict[str, AccessNode] = {}
        self.written: dict[tuple, str] = {}            # (array, index) -> local scalar holding it
        self.written_arrays: set[str] = set()
        self.count = 0
        #: per open map scope, outermost first: the names bound before it and its ``for`` statement
        self.levels: list[tuple[set[str], ast.For]] = []

    def read_node(self, data: str) -> AccessNode:
        if data not in self.outer_in:
            self.outer_in[data] = self.state.add_access(data)
        return self.outer_in[data]

    def write_node(self, data: str) -> AccessNode:
        if data not in self.outer_out:
            self.outer_out[data] = self.state.add_access(data)
        return self.outer_out[data]

    def local_scalar(self, dtype: Any, prefix: str) -> str:
        name = self.lw.fresh(prefix)
        self.lw.program.add_scalar(name, dtype, transient=True)
        return name

    def tasklet(self, value: Value, out_dtype: Any, store_at: tuple[tl.Node, ...] = ()) -> tuple[Node, str]:
        """A tasklet computing ``value`` (0-d), with its inputs connected; returns (tasklet, out
        connector). With ``store_at`` (index nodes over ``value``'s connectors) the connector is
        an array connector the tasklet stores into at those indices (``_out[k] = v``)."""
        lz = ew.as_lazy(value)
        if len(lz.shape) != 0:
            raise LoweringError(f"inside flowc.map, values must be scalars, not {describe(value)}", _HINT)
        node = T.cast_to(lz.node, lz.dtype, out_dtype)
        used = {n for x in (node, *store_at) for n in tl.names(x)}
        # under an if: the element is read inside the tasklet, in the branch of the select (or
        # the && / ||) that needs it, never where the guard is false
        by_subscript = self.guard is not None or self.lazy_reads
        inputs, rename = self.connect(lz.leaves, used, lambda _leaf: by_subscript)
        from .emit import _rename

        code = tl.Code((tl.Assign("_out", _rename(node, rename), tuple(_rename(i, rename) for i in store_at)),))
        return self.add_tasklet("map_stmt", code, inputs, ["_out"]), "_out"

    def connect(self, leaves: dict[str, Leaf], used: set[str], by_subscript: Callable[[Leaf], bool]
                ) -> tuple[dict[str, tuple[Memlet, Optional[str]]], dict[str, tl.Node]]:
        """The input connectors of a tasklet reading ``leaves`` (those in ``used``): per connector
        its memlet and, for a map-local scalar, its name; and how each leaf's name is renamed
        (to its connector, or, where ``by_subscript(leaf)``, to a subscript of an array connector
        moving the whole container: an element read inside the code, not by a memlet). An
        element this body wrote earlier is forwarded from the scalar that holds it."""
        inputs: dict[str, tuple[Memlet, Optional[str]]] = {}     # connector -> (memlet, map-local scalar)
        rename: dict[str, tl.Node] = {}
        seen: dict[tuple, str] = {}                   # (data, index, block) -> the first leaf's name
        for conn, lf in leaves.items():
            if conn not in used:
                continue
            index = tuple(sympy.expand(sympy.sympify(e)) for e in lf.index)
            key = (lf.data, index, lf.block)
            fwd = self.written.get((lf.data, index)) if not lf.block else None
            if fwd is not None:
                key = (fwd, (), False)
            if key in seen:
                rename[conn] = rename[seen[key]]       # the same element: the same connector (or subscript)
                continue
            c = f"_in{len(seen)}"
            seen[key] = conn
            rename[conn] = tl.Name(c)
            if fwd is not None:
                inputs[c] = (Memlet(fwd, Subset(())), fwd)
            elif lf.data in self.local:
                inputs[c] = (Memlet(lf.data, Subset(())), lf.data)
            else:
                if lf.data in self.written_arrays:
                    raise LoweringError(f"{lf.data!r} is read at another element than the one this map body "
                                        "wrote", "read elements before writing them, or use a second map")
                desc = self.lw.desc(lf.data)
                if desc.ndim == 0:
                    sub = Subset(())
                elif lf.block:
                    sub = Subset.full(desc.shape)
                elif by_subscript(lf):
                    sub = Subset.full(desc.shape)
                    rename[conn] = tl.Subscript(c, tuple(T.sym_to_tl(e) for e in index))
                else:
                    sub = Subset(tuple(Range.index(e) for e in index))
                inputs[c] = (Memlet(lf.data, sub), None)
        return inputs, rename

    def add_tasklet(self, label: str, code: tl.Code, inputs: dict[str, tuple[Memlet, Optional[str]]],
                    outputs: list[str]) -> Node:
        """A tasklet in the innermost scope with its inputs (from ``connect``) connected."""
        self.count += 1
        t = self.state.add_tasklet(f"{label}_{self.count}", list(inputs), outputs, code)
        for c, (m, local) in inputs.items():
            if local is not None:
                # a scalar of an enclosing scope enters the nested scopes on its way to the tasklet
                inner = self.entries[self.depth[local] + 1:]
                if inner:
                    self.state.add_memlet_path(self.local[local], *inner, t, memlet=m, dst_conn=c)
                else:
                    self.state.add_edge(self.local[local], None, t, c, m)
            else:
                self.state.add_memlet_path(self.read_node(m.data), *self.entries, t, memlet=m, dst_conn=c)
        if not inputs:
            self.state.add_edge(self.entries[-1], None, t, None, Memlet.empty())
        return t

    def local_output(self, t: Node, conn: str, dtype: Any, prefix: str) -> Ref:
        """A new map-local scalar written by ``t``'s output ``conn``."""
        name = self.local_scalar(dtype, prefix)
        node = self.state.add_access(name)
        self.state.add_edge(t, conn, node, None, Memlet(name, Subset(())))
        self.local[name] = node
        self.depth[name] = len(self.entries) - 1
        return Ref.whole(name, self.lw.desc(name))

    def assign_local(self, value: Value, prefix: str) -> Ref:
        lz = ew.as_lazy(value)
        t, conn = self.tasklet(lz, lz.dtype)
        return self.local_output(t, conn, lz.dtype, prefix)

    def assign_element(self, target: Ref, value: Value, wcr: Optional[str], forward: bool) -> None:
        index = tuple(sympy.expand(e) for e in target.index(()))
        if forward and wcr is None:
            local = self.assign_local(value, "elem")
            t, conn = self.tasklet(local, target.dtype)
            self.written[(target.data, index)] = local.data
        else:
            t, conn = self.tasklet(value, target.dtype)
        desc = self.lw.desc(target.data)
        sub = Subset(()) if desc.ndim == 0 else Subset(tuple(Range.index(e) for e in index))
        self.state.add_memlet_path(t, *reversed(self.exits), self.write_node(target.data),
                                   memlet=Memlet(target.data, sub, wcr=wcr), src_conn=conn)
        self.written_arrays.add(target.data)

    def store_element(self, value: Lazy, indices: tuple[tl.Node, ...], target: str, wcr: Optional[str]) -> None:
        """``target[indices] (op)= value`` at run-time indices: a tasklet storing through an array
        connector whose memlet is the whole container, with ``wcr`` (an atomic update, since any
        iteration may hit the element)."""
        t, conn = self.tasklet(value, value.dtype, indices)
        self.state.add_memlet_path(t, *reversed(self.exits), self.write_node(target),
                                   memlet=Memlet(target, Subset.full(self.lw.desc(target).shape), wcr=wcr),
                                   src_conn=conn)
        self.written_arrays.add(target)

    def push(self, entry: MapEntry, exit_: MapExit, params: list[str]) -> None:
        """Open a nested map scope inside the current one."""
        if self.guard is not None:
            raise LoweringError("a nested flowc.map inside an if statement is not supported",
                                "put the condition inside the nested map's body")
        self.ranges.extend((p, (r.start, r.stop, r.step)) for p, r in zip(params, entry.map.ranges))
        self.entries.append(entry)
        self.exits.append(exit_)
        self.params.extend(params)

    def pop(self, params: list[str]) -> None:
        """Close the innermost nested scope: its scalars die with it, and what it wrote is not
        forwarded to later statements of the enclosing body (any iteration may have written it)."""
        self.finish()
        depth = len(self.entries) - 1
        entry, exit_ = self.entries.pop(), self.exits.pop()
        if self.state.in_degree(entry) == 0:
            self.state.add_edge(self.entries[-1], None, entry, None, Memlet.empty())
        if self.state.out_degree(exit_) == 0:
            self.state.add_edge(exit_, None, self.exits[-1], None, Memlet.empty())
        dead = {n for n, d in self.depth.items() if d == depth}
        for n in dead:
            del self.depth[n]
        self.written = {k: v for k, v in self.written.items() if v not in dead}
        del self.params[len(self.params) - len(params):]
        del self.ranges[len(self.ranges) - len(params):]

    def finish(self) -> None:
        """Connect the innermost scope's dangling local scalars to its exit so every node is
        inside the scope."""
        depth = len(self.entries) - 1
        for name, d in self.depth.items():
            node = self.local[name]
            if d == depth and self.state.out_degree(node) == 0:
                self.state.add_edge(node, None, self.exits[-1], None, Memlet.empty())
        if self.state.in_degree(self.exits[-1]) == 0:
            self.state.add_edge(self.entries[-1], None, self.exits[-1], None, Memlet.empty())


def _map_params(lw: Lowering, node: ast.For, marker: MapMarker) -> tuple[list[ast.Name], list[str]]:
    """The loop's target names and the map parameters they become (renamed where taken)."""
    if node.orelse:
        raise LoweringError("'for ... else' is not supported")
    targets = node.target.elts if isinstance(node.target, ast.Tuple) else [node.target]
    if not all(isinstance(t, ast.Name) for t in targets):
        with located(lw, node.target):
            raise LoweringError("map parameters must be plain names", "for i, j in flowc.map[0:N, 0:M]:")
    if len(targets) != len(marker.ranges):
        with located(lw, node.target):
            raise LoweringError(f"{len(targets)} map parameter(s) for {len(marker.ranges)} range(s)")
    params = []
    for t in targets:
        name = t.id if t.id not in lw.program.data and t.id not in lw.reserved and \
            t.id not in lw.program.symbols else lw.fresh(t.id)
        lw.reserved.add(name)
        lw.bound.add(name)
        params.append(name)
    return targets, params


def _nested_map(lw: Lowering, mb: MapBody, node: ast.For, marker: MapMarker) -> None:
    """``for j in flowc.map[k + 1:N]:`` inside a map body: a map scope nested in the current one,
    whose ranges may use the enclosing maps' parameters."""
    targets, params = _map_params(lw, node, marker)
    frame = lw.frame
    entry, exit_ = mb.state.add_map("map", {p: Range(*r) for p, r in zip(params, marker.ranges)})
    mb.push(entry, exit_, params)
    env_before = dict(frame.env)
    mb.levels.append((set(env_before), node))
    for t, p in zip(targets, params):
        frame.env[t.id] = Sym(sympy.Symbol(p, integer=True))
    reread = _reread_targets(node.body)
    for s in node.body:
        with located(lw, s):
            _map_stmt(lw, mb, s, reread)
    mb.levels.pop()
    mb.pop(params)
    frame.env.clear()
    frame.env.update(env_before)


def lower_map(lw: Lowering, node: ast.For, marker: MapMarker) -> None:
    targets, params = _map_params(lw, node, marker)
    frame = lw.frame
    lw.end_state()
    state = lw.block.add_state("map")
    entry, exit_ = state.add_map("map", {p: Range(*r) for p, r in zip(params, marker.ranges)})
    mb = MapBody(lw, state, entry, exit_, params)
    mb.ranges = [(p, (r.start, r.stop, r.step)) for p, r in zip(params, entry.map.ranges)]
    env_before = dict(frame.env)
    mb.levels.append((set(env_before), node))
    for t, p in zip(targets, params):
        frame.env[t.id] = Sym(sympy.Symbol(p, integer=True))
    reread = _reread_targets(node.body)
    lw.in_map = True
    try:
        for s in node.body:
            with located(lw, s):
                _map_stmt(lw, mb, s, reread)
    finally:
        lw.in_map = False
    mb.finish()
    frame.env.clear()
    frame.env.update(env_before)
    lw.end_state()


def _reread_targets(body: list[ast.stmt]) -> set[str]:
    """Subscript targets (as source text) that a later statement of the body reads again."""
    out = set()
    for k, s in enumerate(body):
        targets = s.targets if isinstance(s, ast.Assign) else [s.target] if isinstance(s, ast.AugAssign) else []
        for t in targets:
            if isinstance(t, ast.Subscript):
                text = ast.unparse(t)
                for later in body[k + 1:]:
                    for n in ast.walk(later):
                        if isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Load) and ast.unparse(n) == text:
                            out.add(text)
    return out


def _map_stmt(lw: Lowering, mb: MapBody, s: ast.stmt, reread: set[str]) -> None:
    if isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)):
        return
    if isinstance(s, ast.Assign):
        value = evaluate(lw, s.value)
        for t in s.targets:
            with located(lw, t):
                _map_assign(lw, mb, t, value, None, reread)
        return
    if isinstance(s, ast.AugAssign):
        if isinstance(s.op, ast.MatMult) or type(s.op) not in BINOPS:
            raise LoweringError("this augmented assignment is not supported inside flowc.map", _HINT)
        value = evaluate(lw, s.value)
        with located(lw, s.target):
            _map_assign(lw, mb, s.target, value, BINOPS[type(s.op)], reread)
        return
    if isinstance(s, ast.AnnAssign) and s.value is not None:
        value = evaluate(lw, s.value)
        with located(lw, s.target):
            _map_assign(lw, mb, s.target, value, None, reread)
        return
    if isinstance(s, ast.If):
        _map_if(lw, mb, s, reread)
        return
    if isinstance(s, ast.For) and isinstance(s.iter, ast.Subscript):
        marker = evaluate(lw, s.iter)
        if isinstance(marker, MapMarker) and marker.ranges is not None:
            _nested_map(lw, mb, s, marker)
            return
    if isinstance(s, ast.For) and is_range_loop(lw, s):
        lower_map_loop(lw, mb, s)
        return
    if isinstance(s, ast.While):
        raise LoweringError("a while loop inside flowc.map is not supported",
                            "a for loop over range() with a bound on the iterations, and break")
    if isinstance(s, (ast.Break, ast.Continue)):
        word = "break" if isinstance(s, ast.Break) else "continue"
        raise LoweringError(f"'{word}' is not supported inside flowc.map (its iterations are independent and "
                            "unordered)", "an if around the element code, or a sequential for loop over range()")
    what = {ast.For: "a loop", ast.While: "a while loop", ast.If: "an if statement", ast.Return: "return"}
    raise LoweringError(f"{what.get(type(s), type(s).__name__)} is not supported inside flowc.map", _HINT)


_BOOL = ew.BOOL


def _map_if(lw: Lowering, mb: MapBody, s: ast.If, reread: set[str]) -> None:
    """``if``/``elif``/``else`` in a map body, by if-conversion: each arm runs under a guard (a
    map-local bool), every value it computes is a select ``where(guard, new, old)`` whose
    element reads happen inside the select's taken side, and every element it writes is written
    back unchanged where the guard is false (so the written element must be owned by one
    iteration, or be a reduction, and lie inside the array for every iteration)."""
    cond = evaluate(lw, s.test)
    with located(lw, s.test):
        if not is_arraylike(cond) or len(cond.shape) != 0:
            raise LoweringError(f"an if condition inside flowc.map must be a scalar, not {describe(cond)}", _HINT)
        if isinstance(cond, Const):                       # known at lowering time: one arm
            for st in (s.body if bool(cond.value) else s.orelse):
                with located(lw, st):
                    _map_stmt(lw, mb, st, reread)
            return
        truth = ew.cast(cond, _BOOL)
        outer = mb.guard
        # the condition's own element reads stay inside its && / || (i > 0 and a[i - 1] > 0)
        mb.lazy_reads = True
        try:
            taken = mb.assign_local(truth if outer is None else ew.ufunc("logical_and", [outer, truth]), "cond")
        finally:
            mb.lazy_reads = False
        other = ew.ufunc("logical_not", [taken])
        other_guard = mb.assign_local(other if outer is None else ew.ufunc("logical_and", [outer, other]),
                                      "cond") if s.orelse else None
    for body, guard in ((s.body, taken), (s.orelse, other_guard)):
        if not body:
            continue
        mb.guard = guard
        try:
            for st in body:
                with located(lw, st):
                    _map_stmt(lw, mb, st, reread)
        finally:
            mb.guard = outer


def _guarded(mb: MapBody, new: Value, old: Value) -> Value:
    """``new`` where the current guard holds, ``old`` elsewhere."""
    return ew.where(mb.guard, new, old)


def _map_assign(lw: Lowering, mb: MapBody, target: ast.expr, value: Value, aug: Optional[str],
                reread: set[str]) -> None:
    if not is_arraylike(value) or len(value.shape) != 0:
        raise LoweringError(f"inside flowc.map, values must be scalars, not {describe(value)}", _HINT)
    frame = lw.frame
    if isinstance(target, ast.Name):
        from .scope import lookup

        _refuse_escaping_name(lw, mb, target.id)
        if aug is not None:
            value = ew.ufunc(aug, [lookup(lw, target.id), value])
        if mb.guard is not None:
            old = frame.env.get(target.id)
            if old is None or not is_arraylike(old) or len(old.shape) != 0:
                old = Const(0, ew.as_lazy(value).dtype, False)   # unassigned where the guard is false
            value = _guarded(mb, value, old)
        frame.env[target.id] = mb.assign_local(value, target.id)
        return
    base, items = assignment_target(lw, target, _HINT)
    if len(items) == base.ndim and all(it.kind in ("int", "dynamic") for it in items) and \
            any(it.kind == "dynamic" for it in items):
        _map_scatter(lw, mb, base, items, value, aug, target)
        return
    if any(it.kind not in ("int",) for it in items) or len(items) != base.ndim:
        raise LoweringError("inside flowc.map, assignments write one element (one integer index per dimension)",
                            _HINT)
    elem = basic(base, items, lw.require)
    index = tuple(sympy.expand(e) for e in elem.index(()))
    wcr = None
    if mb.guard is not None:
        desc = lw.desc(elem.data)
        if not inside(index, tuple(desc.shape), mb.ranges):
            raise LoweringError(f"an element written under an if inside flowc.map must lie inside the array for "
                                f"every iteration of the map (it is written back unchanged where the condition "
                                f"is false), but {ast.unparse(target)} may not",
                                "narrow the map's range so the index stays inside the array, and test the "
                                "condition inside")
        mine = distinct_elements(index, mb.params)
        if not mine and aug not in ACCUMULATIONS:
            raise LoweringError(f"{ast.unparse(target)} is written under an if by several map iterations",
                                "write an element that one iteration owns (indexed by every map parameter), "
                                "or accumulate into it with +=, -= or *=")
        if mine:
            new = ew.ufunc(aug, [elem, value]) if aug is not None else value
            value = _guarded(mb, new, elem)
            mb.assign_element(elem, value, None, True)
            return
    if aug is None:
        used = set().union(*(sympy.sympify(e).free_symbols for e in index)) if index else set()
        shared = [p for p in mb.params if canonical_symbol(p) not in used]
        if shared:
            raise LoweringError(f"{ast.unparse(target)} is assigned by several map iterations (its index does not "
                                f"use {', '.join(shared)}): they run in no order, so which value stays is undefined",
                                "write an element that one iteration owns (indexed by every map parameter), "
                                "or accumulate into it with +=, -= or *= (a reduction)")
    if aug is not None:
        if distinct_elements(index, mb.params):
            value = ew.ufunc(aug, [elem, value])
        elif aug in ACCUMULATIONS:
            wcr, value = _shared_accumulation(mb, aug, value)
        else:
            raise LoweringError(f"'{aug}' into an element that several map iterations share is not supported",
                                "+=, -= or *= (they become reductions)")
    mb.assign_element(elem, value, wcr, ast.unparse(target) in reread)


def _refuse_escaping_name(lw: Lowering, mb: MapBody, name: str) -> None:
    """A name assigned in a map body is local to one iteration: a value it had before the map is
    what the program sees after it. Python would see the last iteration's value, which a map
    (iterations in no order, in parallel) does not have. Refused where the program reads the
    name outside the map, which is where the two would differ::

        acc = 0.0
        for j in flowc.map[0:M]:
            acc += A[i, j]         # refused: acc is read below, after the map
        out[i] = acc
    """
    bound, loop = mb.levels[-1]
    if name not in bound:
        return
    source = lw.frame.source
    local = {id(n) for s in loop.body for n in ast.walk(s)} | _map_local_reads(source.tree, name, loop)
    for n in ast.walk(source.tree):
        read = (isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id == name) or \
            (isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name) and n.target.id == name)
        if read and id(n) not in local:
            line = source.first_line + n.lineno - 1
            raise LoweringError(f"{name!r} is bound before this flowc.map and assigned inside it, and the program "
                                f"reads it outside the map (line {line}): a map's iterations run in no order, "
                                "so none of their values is the one after the map",
                                "accumulate into an array element (out[i] += ...), reduce outside the map "
                                "(np.sum(A[i, :])), or give the value inside the map a name of its own")


def _map_local_reads(tree: ast.AST, name: str, skip: ast.For) -> set[int]:
    """Reads of ``name`` in other ``flowc.map`` bodies (not those around ``skip``, whose locals
    ``skip`` would update) that come after the body's first assignment to it: they read that
    map's own local, not a value from before it. By ``id`` of the node."""
    out: set[int] = set()
    for loop in ast.walk(tree):
        if not isinstance(loop, ast.For) or not _is_map(loop.iter) or any(n is skip for n in ast.walk(loop)):
            continue
        stmts = [n for s in loop.body for n in ast.walk(s) if _assigns(n, name)]
        if not stmts:
            continue
        first = min((st.end_lineno or st.lineno, st.end_col_offset or 0) for st in stmts)
        out |= {id(n) for s in loop.body for n in ast.walk(s)
                if isinstance(n, ast.Name) and n.id == name and (n.lineno, n.col_offset) > first}
    return out


def _assigns(node: ast.AST, name: str) -> bool:
    """``name = ...``, ``name += ...`` or ``name: T = ...`` (the statement)."""
    if isinstance(node, ast.Assign):
        return any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        return isinstance(node.target, ast.Name) and node.target.id == name
    return False


def _is_map(it: ast.expr) -> bool:
    """``flowc.map[...]`` (or ``map[...]`` imported from flowc) as a ``for`` statement's iterable."""
    if not isinstance(it, ast.Subscript):
        return False
    v = it.value
    return (isinstance(v, ast.Attribute) and v.attr == "map") or (isinstance(v, ast.Name) and v.id == "map")


def _map_scatter(lw: Lowering, mb: MapBody, base: Ref, items: list, value: Value, aug: Optional[str],
                 target: ast.expr) -> None:
    """``hist[x[i]] += v`` in a map body: an element chosen by data, which any iteration may
    hit, so only accumulations are allowed (``+=``, ``-=``, ``*=``): an atomic update of the
    element (a float sum then rounds in the order the threads arrive)."""
    if aug not in ACCUMULATIONS:
        raise LoweringError(f"{ast.unparse(target)} is written at an index computed from data: map iterations "
                            "may write the same element in any order",
                            "accumulate with +=, -= or *= (an atomic update), or use a sequential "
                            "for loop over range()")
    wcr, value = _shared_accumulation(mb, aug, value)
    both, indices = element_store(gather(lw, base, items), value, base.dtype)
    mb.store_element(both, indices, base.data, wcr)


def _shared_accumulation(mb: MapBody, aug: str, value: Value) -> tuple[str, Value]:
    """``elem op= value`` into an element several map iterations may hit: the write-conflict
    resolution and the value each iteration contributes (``-=`` adds the negation; under an
    ``if``, the operator's identity where the condition is false)."""
    if mb.guard is not None:
        value = _guarded(mb, value, Const(IDENTITY[aug], ew.as_lazy(value).dtype, False))
    return WCR[aug], contribution(aug, value)


__all__ = ["map_ranges", "lower_map"]
