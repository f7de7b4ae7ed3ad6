"""Sequential loops inside a map body: ``for k in range(...)`` → one tasklet that holds the loop.

A map's iterations are independent, but the code of one iteration may itself iterate
(a dot product over a row, a Mandelbrot escape loop, a CSR row's nonzeros). Such a loop
becomes a single tasklet whose code is the loop, in the tasklet language's
``for``/``if``/``break``::

    for i in flowc.map[0:N]:                 map[i=0:N] {
        s = 0.0                                  s = 0.0                          (map-local scalar)
        for k in range(M):              →       tasklet(s, A[i, :], x[:]) -> s_1:
            s += A[i, k] * x[k]                      v = s; for k in range(0, M, 1) { v = v + A[i, k] * x[k] }
        y[i] = s                                     s_1 = v
                                                 y[i] = s_1
                                             }

What the loop touches, and how:

- *Names* it assigns are locals of the tasklet, carried from one iteration to the next
  with one dtype: NumPy's, found by translating the body until the dtypes settle (as the
  sequential lowering's dry run does). Their values after the loop leave through output
  connectors into map-local scalars. A name first assigned in the loop holds 0 before its
  first assignment (Python would raise ``NameError`` when it is read there).
- *Elements it reads* at an index that uses a loop variable are subscripts of array
  connectors, read inside the loop; other elements are read once, before it.
- *An element written at a fixed index* (``out[i] += ...``: no loop variable in the index)
  lives in a local for the whole loop (a register) and is written back once, after it. If
  the element is not the map iteration's own (not indexed by every map parameter) every
  update must be an accumulation (``+=``/``-=``, or ``*=``): the register starts at the
  identity and is combined into the element with write-conflict resolution.
- *Elements written at loop-dependent indices* (``out[i, k] = ...``, ``hist[x[k]] += 1``)
  are stores into an array output connector. The map iteration must own them (the same
  map-parameter index in some dimensions, one per parameter), or every store must be an
  accumulation, which becomes an atomic update. Reads of such an array in the loop must be
  of the iteration's own elements: anything else would race with other iterations.

Refused, with the reason: ``while`` loops, nested ``flowc.map``, ``for ... else``,
slices and array operations (the body is element code), and writes that would race.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field
from typing import Any, Optional

import sympy

from flowc.ir import expr as tl
from flowc.ir.dtypes import DType
from flowc.ir.memlet import Memlet
from flowc.ir.symbolic import Range, Subset, distinct_elements

from . import elementwise as ew
from . import types as T
from .context import Lowering
from .control import assigned_names
from .emit import _rename
from .errors import LoweringError
from .expressions import BINOPS, evaluate, located
from .indexing import _real_into, assignment_target, basic, element_store, gather
from .map_bounds import inside
from .map_writes import IDENTITY, contribution, shared_wcr
from .values import Const, FuncValue, Lazy, Leaf, MapMarker, Ref, Sym, Value, describe, is_arraylike

_HINT = ("inside a loop in flowc.map, write element code: name = expression, array[indices] = expression "
         "(and +=, -=, *=), if/else, nested for loops over range(), break and continue")


def is_range_loop(lw: Lowering, node: ast.For) -> bool:
    """Whether ``node`` iterates over ``range(...)``."""
    it = node.iter
    if not isinstance(it, ast.Call):
        return False
    func = evaluate(lw, it.func)
    return isinstance(func, FuncValue) and func.obj is builtins.range


@dataclass
class _Register:
    """An element written at a fixed index inside the loop, kept in a tasklet local."""

    name: str
    elem: Ref
    dtype: DType
    ops: set[str] = field(default_factory=set)      # "assign" or the in-place operators used
    read: bool = False                              # read other than by its own in-place update
    #: set once classified: None for an element the map iteration owns (read before the loop,
    #: written back after it), else how the iterations' contributions combine
    wcr: Optional[str] = None


@dataclass
class _Stored:
    """An array stored into at loop-dependent indices: its output connector and how."""

    conn: str
    indices: list[Optional[tuple[Any, ...]]] = field(default_factory=list)   # None: a data-dependent index
    ops: set[str] = field(default_factory=set)
    #: set once classified: the elements each iteration owns (per dimension a map-parameter index
    #: or None: any), the block its memlet names (owned indices provably inside the array, the
    #: whole dimension elsewhere; stores index relative to its start) and the write-conflict
    #: resolution (accumulations into elements the iterations share)
    owner: Optional[tuple[Any, ...]] = None
    block: Optional[tuple[Any, ...]] = None
    wcr: Optional[str] = None


@dataclass
class _Plan:
    """What earlier passes learned: the variables' dtypes, the registers and the stores."""

    specs: dict[str, tuple[DType, bool]]
    registers: dict[tuple, _Register] = field(default_factory=dict)
    stored: dict[str, _Stored] = field(default_factory=dict)

    def signature(self) -> tuple:
        return (tuple(sorted((n, d.name, w) for n, (d, w) in self.specs.items())),
                tuple(sorted((k[0], str(k[1]), tuple(sorted(r.ops)), r.read) for k, r in self.registers.items())),
                tuple(sorted((d, tuple(sorted(s.ops)), len(s.indices)) for d, s in self.stored.items())))


class _Pass:
    """One translation of the loop into tasklet statements under a plan; it records what it
    finds (the dtypes assigned, the registers and stores used) for the next plan."""

    def __init__(self, lw: Lowering, mb: Any, plan: _Plan, local_names: dict[str, str],
                 loop_vars: dict[ast.For, str]):
        self.lw, self.mb, self.plan = lw, mb, plan
        self.local_names = local_names                   # Python name -> tasklet local
        self.loop_vars = loop_vars                       # each loop's variable, the same in every pass
        self.assigned: dict[str, list[tuple[DType, bool]]] = {}
        self.leaves: dict[str, Leaf] = {}
        self.loop_syms: set[sympy.Symbol] = set()
        self.registers: dict[tuple, _Register] = {}
        self.stored: dict[str, _Stored] = {}
        self.depth = 0

    # ---------------------------------------------------------- values
    def value(self, v: Value, registers: bool = True) -> Lazy:
        """``v`` as a 0-d tasklet expression; its leaves are kept for the connectors, and (with
        ``registers``) a read of a register's element is the register."""
        if not is_arraylike(v) or len(v.shape) != 0:
            raise LoweringError(f"inside a loop in flowc.map, values must be scalars, not {describe(v)}", _HINT)
        lz = ew.as_lazy(v)
        sub: dict[str, tl.Node] = {}
        for conn, lf in lz.leaves.items():
            if lf.block:
                continue
            key = (lf.data, tuple(sympy.expand(sympy.sympify(e)) for e in lf.index))
            reg = self.plan.registers.get(key) if registers else None
            if reg is not None:
                sub[conn] = tl.Name(reg.name)
                self._register(key, reg).read = True
        if sub:
            lz = Lazy((), lz.dtype, tl.substitute(lz.node, sub),
                      {c: lf for c, lf in lz.leaves.items() if c not in sub}, lz.weak)
        self.leaves.update(lz.leaves)
        return lz

    def _register(self, key: tuple, reg: _Register) -> _Register:
        return self.registers.setdefault(key, _Register(reg.name, reg.elem, reg.dtype))

    def variable(self, name: str) -> Lazy:
        dtype, weak = self.plan.specs[name]
        return Lazy((), dtype, tl.Name(self.local_names[name]), {}, weak)

    # ---------------------------------------------------------- statements
    def block(self, stmts: list[ast.stmt]) -> tuple[tl.Stmt, ...]:
        out: list[tl.Stmt] = []
        for s in stmts:
            with located(self.lw, s):
                out.extend(self.statement(s))
        return tuple(out)

    def statement(self, s: ast.stmt) -> list[tl.Stmt]:
        lw = self.lw
        if isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)):
            return []
        if isinstance(s, (ast.Assign, ast.AnnAssign)) and s.value is not None:
            targets = s.targets if isinstance(s, ast.Assign) else [s.target]
            value = evaluate(lw, s.value)
            out = []
            for t in targets:
                with located(lw, t):
                    out.extend(self.assign(t, value, None))
            return out
        if isinstance(s, ast.AugAssign):
            if type(s.op) not in BINOPS:
                raise LoweringError("this augmented assignment is not supported inside flowc.map", _HINT)
            value = evaluate(lw, s.value)
            with located(lw, s.target):
                return self.assign(s.target, value, BINOPS[type(s.op)])
        if isinstance(s, ast.If):
            return self.branch(s)
        if isinstance(s, ast.For):
            if isinstance(s.iter, ast.Subscript) and isinstance(evaluate(lw, s.iter), MapMarker):
                raise LoweringError("a flowc.map inside a sequential loop is not supported",
                                    "nest the map outside the loop, or make the inner loop a range() loop")
            if not is_range_loop(lw, s):
                raise LoweringError("inside flowc.map, loops iterate over range()", _HINT)
            return [self.loop(s)]
        if isinstance(s, (ast.Break, ast.Continue)):
            if self.depth == 0:
                raise LoweringError(f"'{'break' if isinstance(s, ast.Break) else 'continue'}' outside a loop")
            return [tl.Break() if isinstance(s, ast.Break) else tl.Continue()]
        if isinstance(s, ast.While):
            raise LoweringError("a while loop inside flowc.map is not supported",
                                "a for loop over range() with a bound on the iterations, and break")
        what = {ast.Return: "return", ast.Expr: "an expression statement"}
        raise LoweringError(f"{what.get(type(s), type(s).__name__)} is not supported inside a loop in flowc.map",
                            _HINT)

    def branch(self, s: ast.If) -> list[tl.Stmt]:
        cond = evaluate(self.lw, s.test)
        with located(self.lw, s.test):
            if not is_arraylike(cond) or len(cond.shape) != 0:
                raise LoweringError(f"an if condition inside flowc.map must be a scalar, not {describe(cond)}")
            if isinstance(cond, Const):                  # known at lowering time: one arm
                return list(self.block(s.body if bool(cond.value) else s.orelse))
            test = self.value(ew.cast(cond, ew.BOOL))
        return [tl.If(test.node, self.block(s.body), self.block(s.orelse))]

    def loop(self, s: ast.For) -> tl.Loop:
        """``for v in range(...)``: bounds evaluated here, before the loop; the variable is a
        symbol of the body (so ``a[i, k]`` stays an affine index the code generator can prove)."""
        lw = self.lw
        if s.orelse:
            raise LoweringError("'for ... else' inside flowc.map is not supported",
                                "a flag set before break, tested after the loop")
        if not isinstance(s.target, ast.Name):
            with located(lw, s.target):
                raise LoweringError("a loop variable must be a plain name")
        it = s.iter
        if it.keywords or not 1 <= len(it.args) <= 3:
            raise LoweringError("range() takes 1 to 3 positional arguments")
        bounds = []
        for a in it.args:
            v = evaluate(lw, a)
            with located(lw, a):
                if not is_arraylike(v) or len(v.shape) != 0 or not v.dtype.is_integer:
                    raise LoweringError(f"range() bounds must be integers, not {describe(v)}")
                bounds.append(v)
        if len(bounds) == 1:
            bounds.insert(0, Const(0, ew.INT64, True))
        step = 1
        if len(bounds) == 3:
            st = bounds.pop()
            value = st.value if isinstance(st, Const) else st.expr if isinstance(st, Sym) else None
            if value is None or not sympy.sympify(value).is_number or int(value) == 0:
                raise LoweringError("a range() step inside flowc.map must be a non-zero constant")
            step = int(value)
        start, stop = (T.cast_to(lz.node, lz.dtype, ew.INT64) for lz in map(self.value, bounds))
        var = self.loop_vars.get(s)
        if var is None:
            var = self.loop_vars[s] = lw.fresh(s.target.id)
            lw.reserved.add(var)
            lw.bound.add(var)
        sym = sympy.Symbol(var, integer=True)
        self.loop_syms.add(sym)
        env = lw.frame.env
        env[s.target.id] = Sym(sym)
        self.depth += 1
        try:
            body = self.block(s.body)
        finally:
            self.depth -= 1
            # after the loop the variable has no value here (Python leaves the last one, which
            # with break is known only at run time): a later read is refused, never silently old
            env.pop(s.target.id, None)
        return tl.Loop(var, start, stop, step, body)

    def assign(self, target: ast.expr, value: Value, aug: Optional[str]) -> list[tl.Stmt]:
        lw = self.lw
        if isinstance(target, ast.Name):
            if target.id not in self.local_names:
                raise LoweringError(f"the loop variable {target.id!r} is assigned inside its loop",
                                    "a new name for the value")
            if aug is not None:
                from .scope import lookup

                value = ew.ufunc(aug, [lookup(lw, target.id), value])
            lz = self.value(value)
            self.assigned.setdefault(target.id, []).append((lz.dtype, lz.weak))
            if target.id not in self.plan.specs:            # a first pass: no dtype known yet
                lw.frame.env[target.id] = Lazy((), lz.dtype, tl.Name(self.local_names[target.id]), {}, lz.weak)
                return []
            dtype, weak = self.plan.specs[target.id]
            lw.frame.env[target.id] = self.variable(target.id)
            return [tl.Assign(self.local_names[target.id], T.cast_to(lz.node, lz.dtype, dtype))]
        base, items = assignment_target(lw, target, _HINT)
        if len(items) != base.ndim or any(it.kind not in ("int", "dynamic") for it in items):
            raise LoweringError("inside flowc.map, assignments write one element (one integer index per "
                                "dimension)", _HINT)
        op = aug or "assign"
        if all(it.kind == "int" for it in items):
            elem = basic(base, items, lw.require)
            index = tuple(sympy.expand(e) for e in elem.index(()))
            if not any(sym in self.loop_syms for e in index for sym in e.free_symbols) and \
                    inside(index, tuple(lw.desc(elem.data).shape), self.mb.ranges):
                # read before the loop and written back after it, whether or not the loop runs
                return self._register_update(elem, index, value, aug)
            current: Any = elem
            dynamic = None
        else:
            current = gather(lw, base, items)
            index, dynamic = None, current
        data = elem.data if dynamic is None else base.data
        stored = self.stored.setdefault(data, _Stored(f"_s{len(self.stored)}"))
        stored.indices.append(index)
        stored.ops.add(op)
        planned = self.plan.stored.get(data)
        if planned is None:
            self.value(value)                                 # a first pass: record the reads
            return []
        if planned.wcr is not None:
            new = contribution(aug, value)
        else:
            new = ew.ufunc(aug, [current, value]) if aug is not None else value
        dtype = lw.desc(data).dtype
        if dynamic is not None:
            both, indices = element_store(dynamic, new, dtype)
            lz = self.value(both)
            return [tl.Assign(planned.conn, lz.node, indices)]
        lz = self.value(_real_into(new, dtype))
        rel = tuple(T.sym_to_tl(sympy.expand(e - (b if b is not None else 0)))
                    for e, b in zip(index, planned.block))
        return [tl.Assign(planned.conn, T.cast_to(lz.node, lz.dtype, dtype), rel)]

    def _register_update(self, elem: Ref, index: tuple, value: Value, aug: Optional[str]) -> list[tl.Stmt]:
        key = (elem.data, index)
        reg = self.plan.registers.get(key)
        if reg is None:                                   # a first pass: found
            reg = self.registers.setdefault(key, _Register(f"_r{len(self.registers)}", elem, elem.dtype))
            reg.ops.add(aug or "assign")
            self.value(value)
            return []
        mine = self._register(key, reg)
        mine.ops.add(aug or "assign")
        current = Lazy((), reg.dtype, tl.Name(reg.name), {}, False)
        if aug is not None:
            new = ew.ufunc(aug, [current, value])
        else:
            new = value
        lz = self.value(_real_into(new, reg.dtype))
        return [tl.Assign(reg.name, T.cast_to(lz.node, lz.dtype, reg.dtype))]


def lower_map_loop(lw: Lowering, mb: Any, node: ast.For) -> None:
    """A ``for ... in range()`` statement of a map body (see the module's docstring)."""
    names, _ = assigned_names([node])
    frame = lw.frame
    target = node.target.id if isinstance(node.target, ast.Name) else None
    names = [n for n in names if n != target]
    local_names = {n: f"_v{k}_{n}" for k, n in enumerate(names)}
    initial: dict[str, Value] = {}
    specs: dict[str, tuple[DType, bool]] = {}
    for n in names:
        v = frame.env.get(n)
        if v is None:
            continue
        if not is_arraylike(v) or len(v.shape) != 0:
            raise LoweringError(f"{n!r} holds {describe(v)}; a loop inside flowc.map assigns it scalars",
                                "a new name for the scalar")
        initial[n] = v
        lz = ew.as_lazy(v)
        specs[n] = (lz.dtype, lz.weak)
    env_before = dict(frame.env)
    plan = _Plan(dict(specs))
    loop_vars: dict[ast.For, str] = {}
    for _attempt in range(6):
        for n in plan.specs:
            frame.env[n] = Lazy((), plan.specs[n][0], tl.Name(local_names[n]), {}, plan.specs[n][1])
        p = _Pass(lw, mb, plan, local_names, loop_vars)
        try:
            loop = p.loop(node)
        finally:
            frame.env.clear()
            frame.env.update(env_before)
        new_specs = dict(specs)
        for n, kinds in p.assigned.items():
            # what the loop assigns (and, after a first pass, what the previous pass settled on);
            # the value from before the loop is converted into it, as the sequential lowering does
            dtype, weak = T.promote(kinds + ([plan.specs[n]] if _attempt and n in plan.specs else []))
            new_specs[n] = (dtype, weak and not (n in specs and not specs[n][1]))
        new_plan = _Plan(new_specs, _classify_registers(mb, p), _classify_stores(lw, mb, p))
        if new_plan.signature() == plan.signature() and plan.specs.keys() >= set(p.assigned):
            break
        plan = new_plan
    else:
        raise LoweringError("the dtypes of the variables this loop assigns do not settle",
                            "give the variables their dtype before the loop (s = np.float64(0))")
    _emit(lw, mb, p, plan, loop, initial, local_names)
    if target is not None:
        frame.env.pop(target, None)          # no value after the loop (see _Pass.loop)


def _classify_registers(mb: Any, p: _Pass) -> dict[tuple, _Register]:
    out = {}
    for key, reg in p.registers.items():
        data, index = key
        mine = distinct_elements(index, mb.params)
        wcr = None if mine else shared_wcr(reg.ops)
        if not mine and (wcr is None or reg.read):
            raise LoweringError(f"{data}[{', '.join(map(str, index))}] is updated inside a loop by several map "
                                "iterations",
                                "write an element that one iteration owns (indexed by every map parameter), "
                                "or only accumulate into it with += / -= (or *=)")
        out[key] = _Register(reg.name, reg.elem, reg.dtype, set(reg.ops), reg.read, wcr)
    return out


def _classify_stores(lw: Lowering, mb: Any, p: _Pass) -> dict[str, _Stored]:
    out = {}
    for data, st in p.stored.items():
        if data in mb.written_arrays:
            raise LoweringError(f"{data!r} is written in this map body before the loop and again inside it",
                                "write it in the loop only, or keep the earlier value in a scalar")
        if any(k[0] == data for k in p.registers):
            raise LoweringError(f"{data!r} is written inside this loop both at a fixed element and at elements "
                                "that depend on the loop variable", "use a scalar for the fixed element")
        shape = tuple(lw.desc(data).shape)
        ndim = len(shape)
        owner: Optional[tuple] = None
        if all(ix is not None for ix in st.indices):
            dims = []
            for d in range(ndim):
                first = st.indices[0][d]
                same = all(sympy.expand(ix[d] - first) == 0 for ix in st.indices)
                free = {s.name for s in first.free_symbols}
                loopy = any(s in p.loop_syms for s in first.free_symbols)
                dims.append(first if same and not loopy and free & set(mb.params) else None)
            if distinct_elements(tuple(dims), mb.params):
                owner = tuple(dims)
        wcr = None
        block = None
        if owner is not None:
            block = tuple(e if e is not None and inside((e,), (size,), mb.ranges) else None
                          for e, size in zip(owner, shape))
        else:
            wcr = shared_wcr(st.ops)
            if wcr is None:
                raise LoweringError(f"{data!r} is written inside a loop at elements several map iterations may "
                                    "write", "write elements the iteration owns (the same map-parameter index in "
                                    "one dimension per parameter), or only accumulate with += / -= (or *=)")
        out[data] = _Stored(st.conn, list(st.indices), set(st.ops), owner, block, wcr)
    return out


def _check_reads(p: _Pass, plan: _Plan, used: set[str]) -> None:
    """Reads (``used`` leaves) of what the loop writes must be the iteration's own elements
    (others race)."""
    register_data = {k[0] for k in plan.registers}
    for conn, lf in p.leaves.items():
        if conn not in used:
            continue
        index = tuple(sympy.expand(sympy.sympify(e)) for e in lf.index)
        if lf.data in register_data and (lf.block or (lf.data, index) not in plan.registers):
            raise LoweringError(f"{lf.data!r} is read inside the loop at another element than the one it writes",
                                "read and write the same element, or use a second map")
        st = plan.stored.get(lf.data)
        if st is None:
            continue
        if st.wcr is not None or lf.block or any(b is not None and sympy.expand(e - b) != 0
                                                 for e, b in zip(index, st.owner)):
            raise LoweringError(f"{lf.data!r} is read inside the loop at elements other map iterations may write",
                                "read only the elements this iteration writes, or use a second map")


def _emit(lw: Lowering, mb: Any, p: _Pass, plan: _Plan, loop: tl.Loop,
          initial: dict[str, Value], local_names: dict[str, str]) -> None:
    """The tasklet: initial values, the loop (under the map body's guard), the results out."""
    pre: list[tl.Stmt] = []
    names = [n for n in local_names if n in plan.specs]
    for n in names:
        dtype, _ = plan.specs[n]
        if n in initial:
            lz = p.value(initial[n])
            pre.append(tl.Assign(local_names[n], T.cast_to(lz.node, lz.dtype, dtype)))
        else:
            pre.append(tl.Assign(local_names[n], T.literal(0, dtype)))
    for reg in plan.registers.values():
        if reg.wcr is None:                       # the element's value before the loop
            lz = p.value(reg.elem, registers=False)
            pre.append(tl.Assign(reg.name, T.cast_to(lz.node, lz.dtype, reg.dtype)))
        else:
            pre.append(tl.Assign(reg.name, T.literal(IDENTITY[next(iter(reg.ops))], reg.dtype)))
    body: tl.Stmt = loop
    if mb.guard is not None:
        guard = p.value(mb.guard)
        body = tl.If(guard.node, (loop,))
    post = [tl.Assign(f"_o{k}", tl.Name(local_names[n])) for k, n in enumerate(names)]
    post += [tl.Assign(f"_or{k}", tl.Name(reg.name)) for k, reg in enumerate(plan.registers.values())]
    stmts = (*pre, body, *post)
    used = {n for s in stmts for x in s.nodes() for n in tl.names(x)}
    _check_reads(p, plan, used)
    stored_data = set(plan.stored)
    syms = p.loop_syms

    def by_subscript(lf: Leaf) -> bool:
        """Read inside the code (where the loop reads it) unless it is one element the loop does
        not write, provably inside its array: that one is read once, before the loop."""
        index = tuple(sympy.sympify(e) for e in lf.index)
        return lf.data in stored_data or any(s in syms for e in index for s in e.free_symbols) or \
            not inside(index, tuple(lw.desc(lf.data).shape), mb.ranges)

    inputs, rename = mb.connect(p.leaves, used, by_subscript)
    code = tl.Code(tuple(_rename_stmt(s, rename) for s in stmts))
    outputs = [f"_o{k}" for k in range(len(names))] + [f"_or{k}" for k in range(len(plan.registers))] + \
        [st.conn for st in plan.stored.values()]
    t = mb.add_tasklet("map_loop", code, inputs, outputs)
    for k, n in enumerate(names):
        lw.frame.env[n] = mb.local_output(t, f"_o{k}", plan.specs[n][0], n)
    for k, reg in enumerate(plan.registers.values()):
        value = mb.local_output(t, f"_or{k}", reg.dtype, "elem")
        mb.assign_element(reg.elem, value, reg.wcr, reg.wcr is None)
    for data, st in plan.stored.items():
        shape = lw.desc(data).shape
        sub = Subset(tuple(Range(sympy.Integer(0), s) if b is None else Range.index(b) for b, s in zip(st.block, shape))
                     if st.block is not None else Subset.full(shape))
        mb.state.add_memlet_path(t, *reversed(mb.exits), mb.write_node(data),
                                 memlet=Memlet(data, sub, wcr=st.wcr), src_conn=st.conn)
        mb.written_arrays.add(data)


def _rename_stmt(s: tl.Stmt, mapping: dict[str, tl.Node]) -> tl.Stmt:
    """A statement with its leaves' names replaced by connectors (or subscripts)."""
    if isinstance(s, tl.Assign):
        return tl.Assign(s.target, _rename(s.value, mapping), tuple(_rename(i, mapping) for i in s.indices))
    if isinstance(s, tl.Loop):
        return tl.Loop(s.var, _rename(s.start, mapping), _rename(s.stop, mapping), s.step,
                       tuple(_rename_stmt(b, mapping) for b in s.body))
    if isinstance(s, tl.If):
        return tl.If(_rename(s.test, mapping), tuple(_rename_stmt(b, mapping) for b in s.body),
                     tuple(_rename_stmt(b, mapping) for b in s.orelse))
    return s


__all__ = ["is_range_loop", "lower_map_loop"]
