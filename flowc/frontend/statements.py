"""Statements: assignment, augmented assignment, expression statements; dispatch of the rest.

Variables. A Python variable is bound to a frontend value. ``y = <expression>``
computes an element-wise result into a new container named after the
variable; a slice or a transpose binds a view (as NumPy does); reading one
element (``x[i, j]``) copies it into a scalar, as NumPy does. Inside a loop or
a branch, a variable the construct reassigns is *carried*: it lives in one
container that every iteration or arm writes (see ``control``).

In-place updates (``out[:] = ...``, ``out[i, :] += ...``, ``a += b`` on an
array) write the existing container, with NumPy's casting rules; if the
right-hand side reads the target at other positions it is computed into a
temporary first, because NumPy evaluates the right-hand side before writing.
"""

from __future__ import annotations

import ast
from typing import Any

from . import elementwise as ew
from .context import Lowering
from .emit import materialize, store
from .errors import LoweringError
from .expressions import BINOPS, evaluate, located
from .indexing import evaluate_index, setitem
from .values import Const, Lazy, Ref, Sym, TupleValue, Value, describe, is_arraylike

_UNSUPPORTED = {
    ast.FunctionDef: ("defining functions inside a program is not supported",
                      "a separate @flowc.program function called from this one"),
    ast.ClassDef: ("defining classes inside a program is not supported", ""),
    ast.Import: ("import inside a program is not supported", "import at module level"),
    ast.ImportFrom: ("import inside a program is not supported", "import at module level"),
    ast.Global: ("'global' is not supported", "pass arrays as arguments"),
    ast.Nonlocal: ("'nonlocal' is not supported", ""),
    ast.With: ("'with' is not supported", ""),
    ast.Try: ("'try' is not supported", ""),
    ast.Raise: ("'raise' is not supported", ""),
    ast.Assert: ("'assert' is not supported", ""),
    ast.Delete: ("'del' is not supported", ""),
}


def lower_body(lw: Lowering, stmts: list[ast.stmt]) -> None:
    for s in stmts:
        lower_stmt(lw, s)


def lower_stmt(lw: Lowering, s: ast.stmt) -> None:
    from . import control

    with located(lw, s):
        if isinstance(s, ast.Expr):
            if isinstance(s.value, ast.Constant) and isinstance(s.value.value, str):
                return                                 # docstring / comment string
            evaluate(lw, s.value)
        elif isinstance(s, ast.Pass):
            return
        elif isinstance(s, ast.Assign):
            value = evaluate(lw, s.value)
            for target in s.targets:
                assign(lw, target, value)
        elif isinstance(s, ast.AnnAssign):
            if s.value is None:
                return
            assign(lw, s.target, evaluate(lw, s.value))
        elif isinstance(s, ast.AugAssign):
            aug_assign(lw, s)
        elif isinstance(s, ast.For):
            control.lower_for(lw, s)
        elif isinstance(s, ast.While):
            control.lower_while(lw, s)
        elif isinstance(s, ast.If):
            control.lower_if(lw, s)
        elif isinstance(s, ast.Return):
            raise LoweringError("'return' is supported only as the last statement of a program",
                                "assign the value to a variable and return it at the end")
        elif type(s) in _UNSUPPORTED:
            msg, hint = _UNSUPPORTED[type(s)]
            raise LoweringError(msg, hint)
        else:
            raise LoweringError(f"the statement {type(s).__name__} is not supported",
                                "assignments, for/while loops, if statements and return")


# ---------------------------------------------------------------- assignment

def assign(lw: Lowering, target: ast.expr, value: Value) -> None:
    with located(lw, target):
        if isinstance(target, ast.Name):
            bind_name(lw, target.id, value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            items = unpack(lw, value, len(target.elts))
            items = _protect(lw, target, items)
            for t, v in zip(target.elts, items):
                assign(lw, t, v)
        elif isinstance(target, ast.Subscript):
            base = evaluate(lw, target.value)
            index = evaluate_index(lw, target.slice)
            setitem(lw, base, index, value)
        elif isinstance(target, ast.Starred):
            raise LoweringError("starred assignment targets are not supported", "a fixed number of targets")
        else:
            raise LoweringError(f"assignment to {type(target).__name__} is not supported",
                                "assign to names, tuples of names, or subscripts (x[...] = ...)")


def unpack(lw: Lowering, value: Value, n: int) -> list[Value]:
    if isinstance(value, TupleValue):
        if len(value.items) != n:
            raise LoweringError(f"cannot unpack {len(value.items)} values into {n} targets")
        return list(value.items)
    if isinstance(value, (Ref, Lazy)) and len(value.shape) >= 1:
        from .indexing import IndexItem, getitem

        first = value.shape[0]
        if not (first.is_number and int(first) == n):
            raise LoweringError(f"cannot unpack an array of first dimension {first} into {n} targets")
        return [getitem(lw, value, [IndexItem("int", Const(i, ew.INT64, True))]) for i in range(n)]
    raise LoweringError(f"cannot unpack {describe(value)}")


def _protect(lw: Lowering, target: ast.expr, items: list[Value]) -> list[Value]:
    """``a, b = b, a`` with carried containers: copy values that a later write would clobber."""
    carried = lw.frame.carried
    roots = {lw.program.root_of(carried[e.id].data) for e in target.elts
             if isinstance(e, ast.Name) and e.id in carried}
    if not roots:
        return items
    out = []
    for v in items:
        lz_roots = _roots(lw, v)
        out.append(materialize(lw, v, "swap") if lz_roots & roots else v)
    return out


def _roots(lw: Lowering, v: Value) -> set[str]:
    if isinstance(v, Ref):
        return {lw.program.root_of(v.data)}
    if isinstance(v, Lazy):
        return {lw.program.root_of(lf.data) for lf in v.leaves.values()}
    return set()


def shared(lw: Lowering, data: str, exclude: str | None = None) -> bool:
    """Whether a container is bound to some variable (other than ``exclude``) or is not the frontend's own."""
    root = lw.program.root_of(data)
    if root not in lw.owned or lw.is_argument(root):
        return True
    for f in lw.frames:
        for name, v in f.env.items():
            if name == exclude and f is lw.frame:
                continue
            if isinstance(v, Ref) and lw.program.root_of(v.data) == root:
                return True
        for name, r in f.carried.items():
            if lw.program.root_of(r.data) == root and not (name == exclude and f is lw.frame):
                return True
    return False


def bind_name(lw: Lowering, name: str, value: Value) -> None:
    """``name = value``."""
    frame = lw.frame
    if name in frame.carried:
        write_carried(lw, name, value)
        return
    if isinstance(value, Lazy):
        value = materialize(lw, value, name)
    elif isinstance(value, Ref) and value.ndim == 0 and not value.array0d:
        # reading one element copies it (NumPy scalars are values, not views; a 0-d array,
        # ``x[..., 0]``, is a view)
        whole = value.is_whole(lw.desc(value.data))
        if not whole or (not lw.is_argument(value.data) and shared(lw, value.data)):
            value = materialize(lw, value, name)
    elif isinstance(value, Ref):
        carried_roots = {lw.program.root_of(r.data) for n, r in frame.carried.items() if n != name}
        if lw.program.root_of(value.data) in carried_roots:
            value = materialize(lw, value, name)
    frame.env[name] = value


def write_carried(lw: Lowering, name: str, value: Value) -> None:
    target = lw.frame.carried[name]
    if lw.frame.aliases.get(name) is target:
        # a view, as in Python: rebinding it to the same view is all an iteration does
        if value != target:
            raise LoweringError(f"the variable {name!r} is a view of another array in this loop and is "
                                f"rebound to a different value here",
                                f"one view per loop, or a copy: {name} = ....copy()")
        lw.frame.env[name] = target
        return
    if not is_arraylike(value):
        raise LoweringError(f"the variable {name!r} holds an array in this loop or branch and cannot be "
                            f"rebound to {describe(value)}")
    shape = tuple(value.shape)
    from .types import fmt_shape, must_match

    if len(shape) != target.ndim or not all(must_match(a, b) for a, b in zip(shape, target.shape)):
        raise LoweringError(f"the variable {name!r} changes shape inside a loop or branch: "
                            f"{fmt_shape(target.shape)} before, {fmt_shape(shape)} here",
                            "a variable keeps one shape across loop iterations and branch arms")
    store(lw, value, target, name=name)
    lw.frame.env[name] = target


def aug_assign(lw: Lowering, s: ast.AugAssign) -> None:
    if isinstance(s.op, ast.MatMult):
        op = "matmul"
    else:
        op = BINOPS[type(s.op)]
    value = evaluate(lw, s.value)
    target = s.target
    with located(lw, target):
        if isinstance(target, ast.Subscript):
            base = evaluate(lw, target.value)
            index = evaluate_index(lw, target.slice)
            if op == "matmul":
                raise LoweringError("'@=' on a subscript is not supported", "x[...] = x[...] @ y")
            setitem(lw, base, index, value, aug=op)
            return
        if not isinstance(target, ast.Name):
            raise LoweringError("augmented assignment needs a name or a subscript target")
        from .expressions import binary
        from .scope import lookup

        current = lookup(lw, target.id)
        if isinstance(current, Ref) and current.ndim >= 1:
            # in place on the array, as NumPy does
            if op == "matmul":
                result = binary(lw, "matmul", current, value)
                store(lw, result, current, name="imatmul")
                return
            setitem(lw, current, [], value, aug=op)
            return
        if not is_arraylike(current):
            raise LoweringError(f"augmented assignment to {describe(current)} is not supported")
        bind_name(lw, target.id, binary(lw, op, current, value))


def is_scalar_value(v: Any) -> bool:
    return isinstance(v, (Const, Sym)) or (isinstance(v, (Ref, Lazy)) and len(v.shape) == 0)
