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

Anything that is not element code (slices, reductions, loops, calls of other
programs) is rejected with a hint: it belongs outside the map.
"""

from __future__ import annotations

import ast
from typing import Any, Optional

import sympy

from flowc.ir import expr as tl
from flowc.ir.memlet import Memlet
from flowc.ir.nodes import AccessNode, MapEntry, MapExit, Node
from flowc.ir.state import State
from flowc.ir.symbolic import Range, Subset

from . import elementwise as ew
from . import types as T
from .context import Lowering
from .errors import LoweringError
from .expressions import BINOPS, evaluate, located
from .indexing import basic, evaluate_index
from .values import MapMarker, Ref, Sym, Value, describe, is_arraylike, sym_value

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
        self.local: dict[str, AccessNode] = {}         # map-local scalar -> its access node
        self.depth: dict[str, int] = {}                # map-local scalar -> the scope it lives in
        self.outer_in: dict[str, AccessNode] = {}
        self.outer_out: dict[str, AccessNode] = {}
        self.written: dict[tuple, str] = {}            # (array, index) -> local scalar holding it
        self.written_arrays: set[str] = set()
        self.count = 0

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

    def tasklet(self, value: Value, out_dtype: Any) -> tuple[Node, str]:
        """A tasklet computing ``value`` (0-d), with its inputs connected; returns (tasklet, out connector)."""
        lz = ew.as_lazy(value)
        if len(lz.shape) != 0:
            raise LoweringError(f"inside flowc.map, values must be scalars, not {describe(value)}", _HINT)
        node = T.cast_to(lz.node, lz.dtype, out_dtype)
        inputs: dict[str, tuple[Memlet, Optional[str]]] = {}     # connector -> (memlet, map-local scalar)
        rename: dict[str, tl.Node] = {}
        seen: dict[tuple, str] = {}
        for conn, lf in lz.leaves.items():
            index = tuple(sympy.expand(sympy.sympify(e)) for e in lf.index)
            key = (lf.data, index, lf.block)
            fwd = self.written.get((lf.data, index)) if not lf.block else None
            if fwd is not None:
                key = (fwd, (), False)
            if key in seen:
                rename[conn] = tl.Name(seen[key])
                continue
            c = f"_in{len(seen)}"
            seen[key] = c
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
                else:
                    sub = Subset(tuple(Range.index(e) for e in index))
                inputs[c] = (Memlet(lf.data, sub), None)
        from .emit import _rename

        code = tl.Code((tl.Assign("_out", _rename(node, rename)),))
        self.count += 1
        t = self.state.add_tasklet(f"map_stmt_{self.count}", list(inputs), ["_out"], code)
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
        return t, "_out"

    def assign_local(self, value: Value, prefix: str) -> Ref:
        lz = ew.as_lazy(value)
        name = self.local_scalar(lz.dtype, prefix)
        t, conn = self.tasklet(lz, lz.dtype)
        node = self.state.add_access(name)
        self.state.add_edge(t, conn, node, None, Memlet(name, Subset(())))
        self.local[name] = node
        self.depth[name] = len(self.entries) - 1
        return Ref.whole(name, self.lw.desc(name))

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

    def push(self, entry: MapEntry, exit_: MapExit, params: list[str]) -> None:
        """Open a nested map scope inside the current one."""
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


def _injective(index: tuple[Any, ...], params: list[str]) -> bool:
    used: set[int] = set()
    for p in params:
        sym = sympy.Symbol(p, integer=True)
        hit = False
        for d, e in enumerate(index):
            if d in used:
                continue
            others = {s.name for s in e.free_symbols} & (set(params) - {p})
            if sym in e.free_symbols and not others and abs(sympy.expand(e).coeff(sym)) == 1:
                used.add(d)
                hit = True
                break
        if not hit:
            return False
    return True


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
    for t, p in zip(targets, params):
        frame.env[t.id] = Sym(sympy.Symbol(p, integer=True))
    reread = _reread_targets(node.body)
    for s in node.body:
        with located(lw, s):
            _map_stmt(lw, mb, s, reread)
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
    env_before = dict(frame.env)
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
    if isinstance(s, ast.For):
        marker = evaluate(lw, s.iter)
        if isinstance(marker, MapMarker) and marker.ranges is not None:
            _nested_map(lw, mb, s, marker)
            return
    what = {ast.For: "a loop", ast.While: "a while loop", ast.If: "an if statement", ast.Return: "return"}
    raise LoweringError(f"{what.get(type(s), type(s).__name__)} is not supported inside flowc.map", _HINT)


_WCR = {"add": "sum", "multiply": "prod"}


def _map_assign(lw: Lowering, mb: MapBody, target: ast.expr, value: Value, aug: Optional[str],
                reread: set[str]) -> None:
    if not is_arraylike(value) or len(value.shape) != 0:
        raise LoweringError(f"inside flowc.map, values must be scalars, not {describe(value)}", _HINT)
    frame = lw.frame
    if isinstance(target, ast.Name):
        if aug is not None:
            from .scope import lookup

            value = ew.ufunc(aug, [lookup(lw, target.id), value])
        frame.env[target.id] = mb.assign_local(value, target.id)
        return
    if not isinstance(target, ast.Subscript):
        raise LoweringError("inside flowc.map, assign to names or array elements", _HINT)
    base = evaluate(lw, target.value)
    if not isinstance(base, Ref):
        raise LoweringError(f"cannot assign into {describe(base)}", _HINT)
    items = evaluate_index(lw, target.slice)
    if any(it.kind not in ("int",) for it in items) or len(items) != base.ndim:
        raise LoweringError("inside flowc.map, assignments write one element (one integer index per dimension)",
                            _HINT)
    elem = basic(base, items, lw.require)
    index = tuple(sympy.expand(e) for e in elem.index(()))
    wcr = None
    if aug is not None:
        if _injective(index, mb.params):
            value = ew.ufunc(aug, [elem, value])
        elif aug == "add" or aug == "multiply":
            wcr = _WCR[aug]
        elif aug == "subtract":
            wcr, value = "sum", ew.ufunc("negative", [value])
        else:
            raise LoweringError(f"'{aug}' into an element that several map iterations share is not supported",
                                "+=, -= or *= (they become reductions)")
    mb.assign_element(elem, value, wcr, ast.unparse(target) in reread)


__all__ = ["map_ranges", "lower_map"]
