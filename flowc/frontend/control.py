"""Control flow: ``for ... in range`` → Loop, ``while`` → While, ``if`` → Branch.

Carried variables. The frontend walks a loop body once, but Python rebinds
variables on every iteration: ``s = s + x[i]`` must read the previous
iteration's ``s``. So every variable a loop or branch assigns that was bound
before it (or that is used after it) is *carried*: before the construct it
gets one container, initialized with its current value, and every
assignment inside writes that container (``statements.write_carried``).

The container's dtype is what NumPy would give the variable: the body is
lowered in a *dry run* (into a scratch block that is then forgotten) to see
which dtype and shape each assignment produces, repeated until the dtype is
stable (``s = 0; s = s + x[i]`` with float32 ``x`` makes ``s`` float32).

Conditions are tasklet-language expressions over symbols and scalar
containers; a condition that reads array elements is computed into a bool
scalar first (and, for ``while``, again at the end of every iteration).
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import replace
from typing import Any, Optional

import sympy

from flowc.ir import expr as tl
from flowc.ir.data import Scalar
from flowc.ir.symbolic import Range

from . import elementwise as ew
from . import types as T
from .context import Lowering
from .emit import materialize, store
from .errors import LoweringError
from .expressions import evaluate, located, scalar_only
from .statements import lower_body, shared
from .values import Const, FuncValue, MapMarker, PyValue, Ref, Sym, Value, describe, is_arraylike, sym_value

# ---------------------------------------------------------------- analysis

def assigned_names(stmts: list[ast.stmt]) -> tuple[list[str], set[str]]:
    """(names assigned in ``stmts`` in order, names that are targets of inner for loops)."""
    names: list[str] = []
    loop_vars: set[str] = set()

    def targets(t: ast.AST) -> None:
        if isinstance(t, ast.Name):
            if t.id not in names:
                names.append(t.id)
        elif isinstance(t, (ast.Tuple, ast.List)):
            for e in t.elts:
                targets(e)

    for s in stmts:
        for n in ast.walk(s):
            if isinstance(n, ast.Assign):
                for t in n.targets:
                    targets(t)
            elif isinstance(n, (ast.AugAssign, ast.AnnAssign)):
                targets(n.target)
            elif isinstance(n, ast.For):
                for t in ast.walk(n.target):
                    if isinstance(t, ast.Name):
                        loop_vars.add(t.id)
    return [n for n in names if n not in loop_vars], loop_vars


def used_outside(lw: Lowering, node: ast.AST) -> set[str]:
    """Names read outside ``node``; ``x op= v`` reads ``x`` too."""
    inside = {id(n) for n in ast.walk(node)}
    return {n.id for n in ast.walk(lw.frame.source.tree)
            if isinstance(n, ast.Name) and id(n) not in inside and isinstance(n.ctx, ast.Load)} | \
        {n.target.id for n in ast.walk(lw.frame.source.tree)
         if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name) and id(n) not in inside}


def modified_in_place_outside(lw: Lowering, node: ast.AST) -> set[str]:
    """Names whose array is written in place outside ``node`` (``x op= v``, ``x[...] = v``)."""
    inside = {id(n) for n in ast.walk(node)}
    out: set[str] = set()
    for n in ast.walk(lw.frame.source.tree):
        if id(n) in inside:
            continue
        targets = [n.target] if isinstance(n, ast.AugAssign) else n.targets if isinstance(n, ast.Assign) else []
        for t in targets:
            if isinstance(n, ast.Assign) and not isinstance(t, (ast.Subscript, ast.Attribute)):
                continue                                   # x = v rebinds x, it writes no array
            while isinstance(t, (ast.Subscript, ast.Attribute)):
                t = t.value
            if isinstance(t, ast.Name):
                out.add(t.id)
    return out


def _check_branch_aliases(lw: Lowering, node: ast.AST, names: list[str], initial: dict[str, Value],
                          finals: list[dict[str, Value]], existing: set[str]) -> None:
    """A variable that one arm of an ``if`` binds to an array that exists before it (``t2 = t1``)
    aliases that array in Python only on that path; flowc gives the variable its own container.
    That is only the same when neither is written in place afterwards: otherwise it is refused."""
    written = modified_in_place_outside(lw, node)
    for n in names:
        for f in finals:
            v = f.get(n)
            if not isinstance(v, Ref) or v is initial.get(n) or v.data not in existing:
                continue
            others = {m for m, w in lw.frame.env.items() if isinstance(w, Ref) and w.data == v.data}
            if n in written or others & written:
                other = sorted(others)[0] if others else v.data
                raise LoweringError(f"the variable {n!r} is the array {other!r} itself on one path of this branch "
                                    f"and another array on the other, and one of them is written in place "
                                    f"afterwards: flowc cannot follow an alias that depends on the path",
                                    f"a copy in that branch: {n} = {other}.copy()")


# ---------------------------------------------------------------- carried variables

def plan(lw: Lowering, node: ast.AST, arms: list[list[ast.stmt]], loop_var: Optional[tuple[str, Value]],
         local_syms: set[str], is_loop: bool = False) -> None:
    """Give every variable the construct reassigns (and later code reads) one container.

    ``arms``: the loop body, or a branch's two arms. ``loop_var``: the for loop's variable and
    its symbol. ``is_loop``: iterate the dry run until the variables' dtypes are stable."""
    frame = lw.frame
    assigned: list[str] = []
    for arm in arms:
        for n in assigned_names(arm)[0]:
            if n not in assigned:
                assigned.append(n)
    if loop_var is not None and loop_var[0] in assigned:
        raise LoweringError(f"the loop variable {loop_var[0]!r} is assigned inside the loop",
                            "use another variable")
    pre = [n for n in assigned if n in frame.env and n not in frame.carried]
    after = used_outside(lw, node)
    new = [n for n in assigned if n not in frame.env and n in after]
    if not pre and not new:
        return
    initial = {n: frame.env[n] for n in pre}

    def dry(bindings: dict[str, Value]) -> list[dict[str, Value]]:
        finals = []
        for arm in arms:
            with lw.dry_run():
                frame.env.update(bindings)
                if loop_var is not None:
                    frame.env[loop_var[0]] = loop_var[1]
                lower_body(lw, arm)
                finals.append({n: frame.env[n] for n in pre + new if n in frame.env})
        return finals

    existing = set(lw.program.data)
    first = dry(dict(initial))
    if not is_loop:
        _check_branch_aliases(lw, node, pre + new, initial, first, existing)
    aliases = _aliases(lw, new, first, local_syms) if is_loop else {}
    specs = _specs(lw, node, pre, new, initial, first, local_syms, loop=is_loop)
    if is_loop:
        for _ in range(3):
            changed = False
            with lw.dry_run():
                temps = {n: replace(lw.temp(shape, dtype, n), weak=weak) for n, (shape, dtype, weak) in specs.items()}
                finals = dry(temps)
            new_specs = _specs(lw, node, pre, new, initial, finals, local_syms, loop=True, prev=specs)
            for n, spec in new_specs.items():
                if spec[1:] != specs[n][1:]:
                    changed = True
            specs = new_specs
            if not changed:
                break
    # a view of a container that a variable rebinds in the loop is a snapshot in Python (the
    # rebinding makes a new array), which a copy per iteration is; only in-place writes show through
    rebound = {initial[m].data for m in specs if isinstance(initial.get(m), Ref)}
    for n, (shape, dtype, weak) in specs.items():
        view = aliases.get(n)
        if view is not None and view.dtype == dtype and view.data not in rebound:
            frame.carried[n] = frame.aliases[n] = view
            frame.env[n] = view
            continue
        v0 = initial.get(n)
        if isinstance(v0, Ref) and v0.is_whole(lw.desc(v0.data)) and v0.dtype == dtype and \
                isinstance(lw.desc(v0.data), Scalar) == (len(shape) == 0) and not shared(lw, v0.data, exclude=n) \
                and all(T.same(a, b) for a, b in zip(v0.shape, shape)):
            target = v0
        else:
            target = lw.temp(shape, dtype, n)
            if v0 is not None and is_arraylike(v0):
                store(lw, v0, target, name=f"init_{n}")
        if weak != target.weak:
            target = replace(target, weak=weak)
        frame.carried[n] = target
        frame.env[n] = target


def _aliases(lw: Lowering, new: list[str], finals: list[dict[str, Value]], local_syms: set[str]) -> dict[str, Ref]:
    """Variables a loop creates as views of a container that exists before it (``v = t[::-1]``,
    ``v = t``). In Python they alias that container, so later writes to it show through them;
    a copy per iteration would not. They stay views when the view does not move with the loop."""
    out: dict[str, Ref] = {}
    for n in new:
        values = [f[n] for f in finals if n in f]
        if len(values) != 1 or not isinstance(values[0], Ref) or values[0].data not in lw.program.data:
            continue
        r = values[0]
        exprs = [e for a in r.axes for e in (a.start, a.step, a.size)] + [f for f in r.fixed if f is not None]
        if any(s.name in local_syms for e in exprs for s in sympy.sympify(e).free_symbols):
            continue
        out[n] = r
    return out


def _specs(lw: Lowering, node: ast.AST, pre: list[str], new: list[str], initial: dict[str, Value],
           finals: list[dict[str, Value]], local_syms: set[str], loop: bool,
           prev: Optional[dict[str, tuple]] = None) -> dict[str, tuple]:
    specs: dict[str, tuple] = {}
    for n in pre + new:
        values = [f[n] for f in finals if n in f and (n not in initial or f[n] is not initial[n])]
        if not values:
            continue
        if not all(is_arraylike(v) for v in values):
            bad = next(v for v in values if not is_arraylike(v))
            raise LoweringError(f"the variable {n!r} is bound to {describe(bad)} inside a loop or branch",
                                "variables that change inside loops and branches hold arrays or numbers")
        shapes = [tuple(v.shape) for v in values]
        v0 = initial.get(n)
        if v0 is not None and is_arraylike(v0):
            # the variable keeps its shape; an assignment of another shape fails at its own line
            shapes = [tuple(v0.shape)]
        shape = shapes[0]
        for s in shapes[1:]:
            if len(s) != len(shape) or not all(T.must_match(a, b) for a, b in zip(s, shape)):
                raise LoweringError(f"the variable {n!r} changes shape inside a loop or branch "
                                    f"({T.fmt_shape(shape)} and {T.fmt_shape(s)})",
                                    "a variable keeps one shape across loop iterations and branch arms")
        free = set().union(*(sympy.sympify(d).free_symbols for d in shape)) if shape else set()
        if {s.name for s in free} & local_syms:
            if n in initial:
                raise LoweringError(f"the shape of {n!r} depends on the loop variable")
            continue
        # a variable that only ever holds Python numbers stays weak (NumPy 2 promotion), so
        # ``c = 0; if ...: c = 1`` then ``x + c`` keeps x's dtype; the container holds the
        # number in the widest dtype of its kind (int64, float64)
        kinds = [(v.dtype, bool(getattr(v, "weak", False))) for v in values]
        initial_live = loop or len(values) < 2       # the initial value may survive the construct
        if prev is not None and n in prev:
            kinds.append((prev[n][1], prev[n][2]))
        elif not loop and v0 is not None and is_arraylike(v0) and len(values) < 2:
            kinds.append((v0.dtype, bool(getattr(v0, "weak", False))))
        dtype, weak = T.promote(kinds)
        if initial_live and v0 is not None and is_arraylike(v0) and not getattr(v0, "weak", False):
            weak = False
        if weak and len({d.kind for d, _ in kinds}) > 1:
            # True in one arm and -1 in the other: NumPy's later dtypes follow the arm that ran
            # (np.ceil(True) is a float16, np.ceil(-1) an int64), which no single type can model
            raise LoweringError(f"the variable {n!r} holds Python numbers of different kinds "
                                f"({', '.join(sorted({_KIND_NAMES[d.kind] for d, _ in kinds}))}) in different "
                                "branches or loop iterations, so NumPy's dtypes after it depend on the data",
                                f"give it one kind in every arm (e.g. {n} = 1 and {n} = -1, or {n} = 1.0 "
                                f"and {n} = -1.0)")
        specs[n] = (shape, dtype, weak)
    return specs


_KIND_NAMES = {"b": "bool", "i": "int", "u": "int", "f": "float", "c": "complex"}


# ---------------------------------------------------------------- conditions

def condition(lw: Lowering, v: Value, existing: Optional[set[str]] = None) -> tuple[tl.Node, Optional[Ref]]:
    """A tasklet-language condition for a runtime scalar value, and the bool scalar it was
    computed into when it reads more than symbols and scalar variables (else None). With
    ``existing``, scalars created while evaluating the condition (not in it) force the
    computed form too (a while loop must recompute them every iteration)."""
    lz = ew.as_lazy(v)
    if len(lz.shape) != 0:
        raise LoweringError("the truth value of an array is ambiguous", "a scalar condition, or np.any/np.all")
    direct = all(not lf.block and isinstance(lw.desc(lf.data), Scalar) and
                 (existing is None or lf.data in existing) for lf in lz.leaves.values())
    if direct:
        mapping = {c: tl.Name(lf.data) for c, lf in lz.leaves.items()}
        return T.cast_to(tl.substitute(lz.node, mapping), lz.dtype, ew.BOOL), None
    ref = materialize(lw, ew.cast(lz, ew.BOOL), "cond")
    return tl.Name(ref.data), ref


def static_truth(v: Value) -> Optional[bool]:
    if isinstance(v, Const):
        return bool(v.value)
    if isinstance(v, PyValue):
        return bool(v.obj)
    if isinstance(v, Sym) and v.expr.is_number:
        return bool(v.expr)
    return None


# ---------------------------------------------------------------- statements

def _range_bounds(lw: Lowering, node: ast.For) -> Optional[tuple[Any, Any, Any]]:
    it = node.iter
    if not isinstance(it, ast.Call):
        return None
    func = evaluate(lw, it.func)
    if not (isinstance(func, FuncValue) and func.obj is builtins.range):
        return None
    if it.keywords or not 1 <= len(it.args) <= 3:
        raise LoweringError("range() takes 1 to 3 positional arguments")
    vals = []
    for a in it.args:
        v = evaluate(lw, a)
        with located(lw, a):
            vals.append(sym_value(v, "a range() bound"))
    if len(vals) == 1:
        return sympy.Integer(0), vals[0], sympy.Integer(1)
    if len(vals) == 2:
        return vals[0], vals[1], sympy.Integer(1)
    if vals[2] == 0:
        raise LoweringError("range() step must not be zero")
    if not vals[2].is_number:
        raise LoweringError("range() steps must be compile-time integers")
    return vals[0], vals[1], vals[2]


def lower_for(lw: Lowering, node: ast.For) -> None:
    if node.orelse:
        raise LoweringError("'for ... else' is not supported")
    bounds = _range_bounds(lw, node)
    if bounds is None:
        it = evaluate(lw, node.iter)
        if isinstance(it, MapMarker) and it.ranges is not None:
            from .maps import lower_map

            lower_map(lw, node, it)
            return
        with located(lw, node.iter):
            raise LoweringError(f"iterating over {describe(it)} is not supported",
                                "for i in range(...), or for i, j in flowc.map[0:N, 0:M]")
    if not isinstance(node.target, ast.Name):
        with located(lw, node.target):
            raise LoweringError("a range loop needs a single loop variable")
    start, stop, step = bounds
    trips = sympy.ceiling((stop - start) / step)
    if trips.is_number and trips <= 0:
        # a loop that provably never runs is dead code, as in Python: its body types nothing (a
        # variable it would reassign keeps its dtype: t = ones_like(b); for i in range(1, 1):
        # t = t * 0.5 + b[i] leaves t bool) and its loop variable stays unbound
        return
    pyname = node.target.id
    frame = lw.frame
    var = pyname if pyname not in lw.program.data and pyname not in lw.program.symbols and \
        pyname not in lw.reserved else lw.fresh(pyname)
    lw.reserved.add(var)
    lw.bound.add(var)
    lw.loop_ranges[var] = Range(*bounds)
    sym = Sym(sympy.Symbol(var, integer=True))
    saved_carried = dict(frame.carried)
    plan(lw, node, [node.body], (pyname, sym), {var}, is_loop=True)
    env_before = dict(frame.env)
    lw.end_state()
    loop = lw.block.add_loop(var, *bounds)
    with lw.in_block(loop.body):
        frame.env[pyname] = sym
        lower_body(lw, node.body)
    _restore(lw, env_before, saved_carried)
    # after the loop the variable has no value here: Python leaves the last one (which a break
    # or an empty range makes known only at run time), so a later read is refused rather than
    # silently given the value from before the loop
    frame.env.pop(pyname, None)


def _restore(lw: Lowering, env_before: dict[str, Value], saved_carried: dict[str, Ref]) -> None:
    """After a construct: variables it created are dropped, carried ones keep their container."""
    frame = lw.frame
    for n in list(frame.env):
        if n not in env_before and n not in frame.carried:
            del frame.env[n]
    for n, r in frame.carried.items():
        frame.env[n] = r
    frame.carried = saved_carried
    frame.aliases = {n: r for n, r in frame.aliases.items() if saved_carried.get(n) is r}


def lower_while(lw: Lowering, node: ast.While) -> None:
    if node.orelse:
        raise LoweringError("'while ... else' is not supported")
    frame = lw.frame
    # The condition is folded with the values before the loop. False: the body never runs.
    # True: the loop never ends, unless the body reassigns a variable the condition reads
    # (``c = 0; while c < 3: c += 1``, ``err = 1.0; while err > tol: ...; err = ...``), which
    # makes that variable a carried container and the condition a run-time test.
    with lw.dry_run():
        first = evaluate(lw, node.test)
    with located(lw, node.test):
        scalar_only(first, "while")
        truth = static_truth(first)
        if truth is False:
            return
        read = {n.id for n in ast.walk(node.test) if isinstance(n, ast.Name)}
        if truth is True and not read & set(assigned_names(node.body)[0]):
            raise LoweringError("'while True' loops never end without 'break', which is not supported",
                                "a condition that becomes false")
    saved_carried = dict(frame.carried)
    plan(lw, node, [node.body], None, set(), is_loop=True)
    env_before = dict(frame.env)
    existing = set(lw.program.data)
    cond_value = evaluate(lw, node.test)
    with located(lw, node.test):
        cond, computed = condition(lw, cond_value, existing)
    lw.end_state()
    loop = lw.block.add_while(cond)
    with lw.in_block(loop.body):
        lower_body(lw, node.body)
        if computed is not None:
            v = evaluate(lw, node.test)
            with located(lw, node.test):
                store(lw, ew.cast(ew.as_lazy(v), ew.BOOL), computed, name="cond")
    _restore(lw, env_before, saved_carried)


def lower_if(lw: Lowering, node: ast.If) -> None:
    frame = lw.frame
    cond_value = evaluate(lw, node.test)
    with located(lw, node.test):
        scalar_only(cond_value, "if")
        truth = static_truth(cond_value)
    if truth is not None:
        lower_body(lw, node.body if truth else node.orelse)
        return
    if not is_arraylike(cond_value):
        with located(lw, node.test):
            raise LoweringError(f"{describe(cond_value)} cannot be a condition")
    saved_carried = dict(frame.carried)
    plan(lw, node, [node.body, node.orelse], None, set())
    env_before = dict(frame.env)
    with located(lw, node.test):
        cond, _ = condition(lw, cond_value)
    lw.end_state()
    branch = lw.block.add_branch(cond)
    with lw.in_block(branch.then_body):
        lower_body(lw, node.body)
    _restore_arm(lw, env_before)
    with lw.in_block(branch.else_body):
        lower_body(lw, node.orelse)
    _restore(lw, env_before, saved_carried)


def _restore_arm(lw: Lowering, env_before: dict[str, Value]) -> None:
    frame = lw.frame
    frame.env.clear()
    frame.env.update(env_before)
    for n, r in frame.carried.items():
        frame.env[n] = r
