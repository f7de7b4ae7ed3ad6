"""Evaluating Python expressions to frontend values.

``evaluate(lw, node)`` interprets one AST expression. Operators map to the
element-wise operations of ``elementwise`` (``@`` to a contraction), calls
are dispatched on what the callee evaluates to (a NumPy function from the
table in ``numpy_functions``, an array method, a dtype used as a cast, a
nested program), subscripts go to ``indexing``. Every node is evaluated
inside ``located``, so any problem is reported at the innermost expression.
"""

from __future__ import annotations

import ast
import contextlib
import operator
from typing import Any, Iterator

import numpy as np

from flowc.ir.errors import FrontendError

from . import elementwise as ew
from .context import Lowering
from .errors import LoweringError
from .types import Unify
from .values import ScalarParameterAsSymbol
from .errors import describe as describe_exc
from .values import (
    Const,
    DTypeValue,
    FuncValue,
    Lazy,
    MapMarker,
    MethodValue,
    ModuleValue,
    ProgramValue,
    PyValue,
    Ref,
    Sym,
    TupleValue,
    Value,
    describe,
    is_arraylike,
)

BINOPS = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide",
          ast.FloorDiv: "floor_divide", ast.Mod: "remainder", ast.Pow: "power", ast.BitAnd: "bitwise_and",
          ast.BitOr: "bitwise_or", ast.BitXor: "bitwise_xor", ast.LShift: "left_shift",
          ast.RShift: "right_shift"}
CMPOPS = {ast.Gt: "greater", ast.GtE: "greater_equal", ast.Lt: "less", ast.LtE: "less_equal",
          ast.Eq: "equal", ast.NotEq: "not_equal"}
UNARY = {ast.USub: "negative", ast.UAdd: "positive", ast.Invert: "invert"}


@contextlib.contextmanager
def located(lw: Lowering, node: ast.AST) -> Iterator[None]:
    """Turn any failure while lowering ``node`` into a FrontendError pointing at it; while it is
    lowered, ``lw.location()`` names its source line (for checks made at run time)."""
    lw.nodes.append((lw.frame.source, node))
    try:
        yield
    except (FrontendError, Unify, ScalarParameterAsSymbol):
        raise
    except LoweringError as exc:
        raise lw.frame.source.error(node, exc.message, exc.hint) from None
    except RecursionError:
        raise lw.frame.source.error(node, "expression nested too deeply (or a recursive program call)",
                                    "flowc programs may call other programs, but not recursively") from None
    except Exception as exc:
        raise lw.frame.source.error(node, f"internal error while lowering this code ({describe_exc(exc)})",
                                    "please report this as a flowc bug") from exc
    finally:
        lw.nodes.pop()


def evaluate(lw: Lowering, node: ast.AST) -> Value:
    with located(lw, node):
        handler = _HANDLERS.get(type(node))
        if handler is None:
            raise LoweringError(f"{_what(node)} is not supported in flowc programs",
                                "NumPy expressions: names, numbers, operators, calls of NumPy functions, "
                                "indexing and slicing, tuples")
        return handler(lw, node)


def _what(node: ast.AST) -> str:
    names = {ast.Lambda: "a lambda", ast.ListComp: "a list comprehension", ast.DictComp: "a dict comprehension",
             ast.SetComp: "a set comprehension", ast.GeneratorExp: "a generator expression",
             ast.Dict: "a dict display", ast.Set: "a set display", ast.JoinedStr: "an f-string",
             ast.NamedExpr: "an assignment expression (:=)", ast.Await: "await", ast.Yield: "yield",
             ast.Starred: "a starred expression"}
    return names.get(type(node), f"the expression {type(node).__name__}")


def _constant(lw: Lowering, node: ast.Constant) -> Value:
    v = node.value
    if isinstance(v, bool):
        return Const(v, ew.BOOL, True)
    if isinstance(v, int):
        return Const(v, ew.INT64, True)
    if isinstance(v, float):
        return Const(v, ew.FLOAT64, True)
    if isinstance(v, complex):
        return Const(v, ew.COMPLEX128, True)     # weak, as a Python complex is in NumPy 2
    if isinstance(v, (str, type(None), type(Ellipsis))):
        return PyValue(v)
    raise LoweringError(f"the constant {v!r} ({type(v).__name__}) is not supported",
                        "int, float, complex and bool constants")


def _name(lw: Lowering, node: ast.Name) -> Value:
    from .scope import lookup

    return lookup(lw, node.id)


def _tuple(lw: Lowering, node: ast.AST) -> Value:
    return TupleValue(tuple(_unpacked(lw, node.elts)))


def _unpacked(lw: Lowering, nodes: list[ast.expr]) -> list[Value]:
    """The values of ``nodes``, with ``*t`` (t a tuple such as ``x.shape``) spread in place."""
    items: list[Value] = []
    for node in nodes:
        if isinstance(node, ast.Starred):
            v = evaluate(lw, node.value)
            if not isinstance(v, TupleValue):
                with located(lw, node):
                    raise LoweringError("only tuples (such as x.shape) can be unpacked with *")
            items.extend(v.items)
        else:
            items.append(evaluate(lw, node))
    return items


def binary(lw: Lowering, op: str, left: Value, right: Value) -> Value:
    if op == "matmul":
        from .contractions import matmul

        return matmul(lw, left, right)
    if isinstance(left, TupleValue) and isinstance(right, TupleValue) and op == "add":
        return TupleValue(left.items + right.items)
    if isinstance(left, TupleValue) and op == "multiply" and isinstance(right, Const):
        return TupleValue(left.items * int(right.value))
    if not is_arraylike(left) or not is_arraylike(right):
        bad = left if not is_arraylike(left) else right
        raise LoweringError(f"operator on {describe(bad)} is not supported",
                            "operators on arrays, numbers and symbols")
    if op == "power" and _is_square(left, right):
        # ndarray.__pow__ computes `a ** 2` (a Python int 2) as np.square(a): bool ** 2 is int8,
        # where np.power(bool, 2) is int64; a 0-d value is a NumPy scalar in Python, whose ** does not
        # (except a 0-d array: np.where's result)
        return ew.ufunc("square", [left])
    return ew.ufunc(op, [left, right])


def _is_square(left: Value, right: Value) -> bool:
    """Whether ``left ** right`` takes NumPy's array fast path to ``np.square``."""
    return (isinstance(left, (Ref, Lazy)) and (len(left.shape) > 0 or left.array0d) and isinstance(right, Const)
            and right.weak and right.dtype == ew.INT64 and type(right.value) is int and right.value == 2)


def _binop(lw: Lowering, node: ast.BinOp) -> Value:
    left = evaluate(lw, node.left)
    right = evaluate(lw, node.right)
    op = "matmul" if isinstance(node.op, ast.MatMult) else BINOPS[type(node.op)]
    return binary(lw, op, left, right)


def _unaryop(lw: Lowering, node: ast.UnaryOp) -> Value:
    v = evaluate(lw, node.operand)
    if isinstance(node.op, ast.Not):
        return logical_not(lw, v)
    if not is_arraylike(v):
        raise LoweringError(f"unary operator on {describe(v)} is not supported")
    if isinstance(v, Const) and v.weak and v.dtype.kind == "b":
        # a Python bool is a Python int here: ~True is -2 and -True is -1 (NumPy's np.True_ would
        # give False, or refuse); the result is a weak Python int (found by the fuzzer)
        py = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert}[type(node.op)]
        return Const(py(int(bool(v.value))), ew.INT64, True)
    return ew.ufunc(UNARY[type(node.op)], [v])


def scalar_only(v: Value, what: str) -> None:
    if isinstance(v, (Ref, Lazy)) and len(v.shape) != 0:
        raise LoweringError(f"the truth value of an array is ambiguous in '{what}'",
                            "np.logical_and / np.logical_or / np.logical_not or & | ~ on arrays")


def logical_not(lw: Lowering, v: Value) -> Value:
    if isinstance(v, PyValue):
        return Const(not v.obj, ew.BOOL, True)
    scalar_only(v, "not")
    return ew.ufunc("logical_not", [v])


def _boolop(lw: Lowering, node: ast.BoolOp) -> Value:
    """``and`` / ``or`` on scalars; compile-time operands short-circuit statically."""
    is_and = isinstance(node.op, ast.And)
    result: Value | None = None
    for expr in node.values:
        v = evaluate(lw, expr)
        with located(lw, expr):
            scalar_only(v, "and" if is_and else "or")
            if isinstance(v, PyValue):
                v = Const(bool(v.obj), ew.BOOL, True)
            if isinstance(v, Const):
                if bool(v.value) != is_and:
                    return Const(not is_and, ew.BOOL, True)
                continue
            result = v if result is None else ew.ufunc("logical_and" if is_and else "logical_or", [result, v])
    return result if result is not None else Const(is_and, ew.BOOL, True)


def _compare(lw: Lowering, node: ast.Compare) -> Value:
    left = evaluate(lw, node.left)
    result: Value | None = None
    for op, comp in zip(node.ops, node.comparators):
        right = evaluate(lw, comp)
        if isinstance(op, (ast.Is, ast.IsNot)):
            if not (isinstance(left, PyValue) or isinstance(right, PyValue)):
                raise LoweringError("'is' is supported only to compare with None")
            same = isinstance(left, PyValue) and isinstance(right, PyValue) and left.obj is right.obj
            r: Value = Const(same if isinstance(op, ast.Is) else not same, ew.BOOL, True)
        elif type(op) in CMPOPS:
            if isinstance(left, TupleValue) and isinstance(right, TupleValue):
                eq = _static_tuple_eq(left, right)
                r = Const(eq if isinstance(op, ast.Eq) else not eq, ew.BOOL, True)
            else:
                r = ew.ufunc(CMPOPS[type(op)], [left, right]) if is_arraylike(left) and is_arraylike(right) \
                    else _bad_compare(left, right)
        else:
            raise LoweringError(f"the comparison '{type(op).__name__}' is not supported", "< <= > >= == !=")
        result = r if result is None else ew.ufunc("logical_and", [result, r])
        left = right
    return result


def _static_tuple_eq(a: TupleValue, b: TupleValue) -> bool:
    from .types import same
    from .values import sym_value

    if len(a.items) != len(b.items):
        return False
    return all(same(sym_value(x), sym_value(y)) for x, y in zip(a.items, b.items))


def _bad_compare(left: Value, right: Value) -> Value:
    bad = left if not is_arraylike(left) else right
    raise LoweringError(f"cannot compare {describe(bad)}")


def _ifexp(lw: Lowering, node: ast.IfExp) -> Value:
    cond = evaluate(lw, node.test)
    with located(lw, node.test):
        scalar_only(cond, "if")
    if isinstance(cond, Const):
        return evaluate(lw, node.body if cond.value else node.orelse)
    if isinstance(cond, PyValue):
        return evaluate(lw, node.body if cond.obj else node.orelse)
    return ew.where(cond, evaluate(lw, node.body), evaluate(lw, node.orelse))


def _attribute(lw: Lowering, node: ast.Attribute) -> Value:
    base = evaluate(lw, node.value)
    attr = node.attr
    if isinstance(base, ModuleValue):
        from .scope import from_python

        try:
            obj = getattr(base.module, attr)
        except AttributeError:
            raise LoweringError(f"module {base.module.__name__!r} has no attribute {attr!r}") from None
        return from_python(lw, obj, attr)
    if is_arraylike(base):
        from .numpy_functions import array_attribute

        return array_attribute(lw, base, attr)
    if isinstance(base, FuncValue) and isinstance(base.obj, np.ufunc) and attr in ("reduce", "outer"):
        return MethodValue(base, attr)
    if isinstance(base, DTypeValue) and attr in ("type",):
        return base
    raise LoweringError(f"{describe(base)} has no supported attribute {attr!r}")


def _subscript(lw: Lowering, node: ast.Subscript) -> Value:
    base = evaluate(lw, node.value)
    from .indexing import evaluate_index, getitem

    if isinstance(base, MapMarker):
        from .maps import map_ranges

        return map_ranges(lw, node.slice)
    index = evaluate_index(lw, node.slice)
    if isinstance(base, TupleValue):
        return _tuple_getitem(base, index)
    if not is_arraylike(base):
        raise LoweringError(f"{describe(base)} cannot be indexed")
    return getitem(lw, base, index)


def _tuple_getitem(base: TupleValue, index: list[Any]) -> Value:
    from .indexing import IndexItem

    if len(index) != 1:
        raise LoweringError("a tuple takes one index")
    it: IndexItem = index[0]
    if it.kind == "int" and isinstance(it.value, (Const, Sym)):
        from .values import static_int

        i = static_int(it.value, "a tuple index")
        try:
            return base.items[i]
        except IndexError:
            raise LoweringError(f"tuple index {i} out of range (length {len(base.items)})") from None
    if it.kind == "slice":
        from .values import static_int

        def opt(v: Any) -> Any:
            return None if v is None else static_int(v, "a tuple slice bound")

        return TupleValue(base.items[slice(opt(it.start), opt(it.stop), opt(it.step))])
    raise LoweringError("tuples take compile-time integer indices or slices")


def _call(lw: Lowering, node: ast.Call) -> Value:
    func = evaluate(lw, node.func)
    args = _unpacked(lw, node.args)
    kwargs: dict[str, Value] = {}
    for kw in node.keywords:
        if kw.arg is None:
            with located(lw, kw.value):
                raise LoweringError("**kwargs unpacking is not supported", "explicit keyword arguments")
        kwargs[kw.arg] = evaluate(lw, kw.value)
    from . import numpy_functions as nf

    if isinstance(func, FuncValue):
        return nf.call_function(lw, func.obj, args, kwargs)
    if isinstance(func, MethodValue):
        return nf.call_method(lw, func.owner, func.name, args, kwargs)
    if isinstance(func, DTypeValue):
        return nf.cast_call(lw, func.dtype, args, kwargs)
    if isinstance(func, ProgramValue):
        from .nested import inline_call

        return inline_call(lw, func.program, args, kwargs, node)
    raise LoweringError(f"{describe(func)} is not callable")


_HANDLERS = {
    ast.Constant: _constant, ast.Name: _name, ast.Tuple: _tuple, ast.List: _tuple, ast.BinOp: _binop,
    ast.UnaryOp: _unaryop, ast.BoolOp: _boolop, ast.Compare: _compare, ast.IfExp: _ifexp,
    ast.Attribute: _attribute, ast.Subscript: _subscript, ast.Call: _call,
}
