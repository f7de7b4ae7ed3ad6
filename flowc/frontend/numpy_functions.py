"""Calls: the supported-function table's element-wise part, Python builtins, casts, attributes.

Dispatch: a call of a Python object looks the object up in ``registry``
(``np.exp`` → ``"np.exp"`` → its lowering); a method call looks up
``ndarray.<name>`` or ``ufunc.<name>``; calling a dtype casts. The other
groups of the table live in their own modules (``reductions``,
``contractions``, ``shapes``, ``creation``, ``linalg``) and are imported here
so that importing this module fills the whole table.

Ufuncs accept ``out=`` (the result is computed into that array, which the call
returns) and ``where=`` (elements where the mask is false keep ``out``'s
values).
"""

from __future__ import annotations

from dataclasses import replace

import builtins
import math
from typing import Any

import numpy as np
import sympy

from flowc.ir.dtypes import DType, dtype_of

from flowc.ir import expr as tl

from . import elementwise as ew
from . import types as T
from .context import Lowering
from .emit import store
from .errors import LoweringError
from .registry import FUNCTIONS, METHODS, Args, function, name_of, spelled
from .values import (
    Const,
    DTypeValue,
    FuncValue,
    Lazy,
    MethodValue,
    Ref,
    Sym,
    TupleValue,
    Value,
    describe,
    is_arraylike,
)


def call_function(lw: Lowering, obj: Any, args: list[Value], kwargs: dict[str, Value]) -> Value:
    name = name_of(obj)
    if name is None:
        if obj is builtins.range:
            raise LoweringError("range() is only supported as the iterable of a for loop",
                                "for i in range(...)")
        if callable(obj) and hasattr(obj, "__code__"):
            raise LoweringError(f"calling the Python function {getattr(obj, '__name__', obj)!r} is not supported",
                                "decorate it with @flowc.program to call it from a program")
        raise LoweringError(f"{spelled(obj)} is not supported in flowc programs",
                            "see docs/numpy_subset.md for the supported functions")
    return FUNCTIONS[name](lw, args, kwargs)


def call_method(lw: Lowering, owner: Value, name: str, args: list[Value], kwargs: dict[str, Value]) -> Value:
    if isinstance(owner, FuncValue):
        key = f"ufunc.{name}"
        if key not in METHODS:
            raise LoweringError(f"ufunc method {name!r} is not supported", "ufunc.reduce, ufunc.outer")
        return METHODS[key](lw, owner.obj, args, kwargs)
    key = f"ndarray.{name}"
    if key not in METHODS:
        raise LoweringError(f"the array method {name!r} is not supported",
                            "see docs/numpy_subset.md for the supported methods")
    return METHODS[key](lw, owner, args, kwargs)


def cast_call(lw: Lowering, dtype: DType, args: list[Value], kwargs: dict[str, Value]) -> Value:
    """``flowc.float32(x)`` / ``np.int64(x)``: a cast."""
    if len(args) != 1 or kwargs:
        raise LoweringError(f"the cast {dtype.name}() takes exactly one argument")
    v = args[0]
    if isinstance(v, Sym) and dtype.is_integer:
        return v if dtype.name == "int64" else ew.cast(v, dtype)
    if not is_arraylike(v):
        raise LoweringError(f"cannot cast {describe(v)} to {dtype.name}")
    if isinstance(v, Ref) and len(v.shape) > 0 and v.dtype == dtype:
        return v              # NumPy returns the array itself (np.float64(x) is x): writes go to x
    return ew.cast(v, dtype)


def array_attribute(lw: Lowering, v: Value, attr: str) -> Value:
    """``x.T``, ``x.shape``, ``x.ndim``, ``x.size``, ``x.dtype``, or a bound method."""
    shape = tuple(v.shape)
    if attr == "shape":
        return TupleValue(tuple(Sym(sympy.sympify(s)) for s in shape))
    if attr == "ndim":
        return Const(len(shape), ew.INT64, True)
    if attr == "size":
        return Sym(sympy.Mul(*shape) if shape else sympy.Integer(1))
    if attr == "dtype":
        return DTypeValue(v.dtype)
    if attr in ("real", "imag"):
        # read as values (NumPy's are views: writing through x.real is not supported)
        return ew.ufunc(attr, [v])
    if attr == "T":
        from .shapes import transpose

        return transpose(lw, v, None)
    if f"ndarray.{attr}" in METHODS:
        return MethodValue(v, attr)
    raise LoweringError(f"the array attribute {attr!r} is not supported",
                        "shape, ndim, size, dtype, T and the methods in docs/numpy_subset.md")


# ---------------------------------------------------------------- ufuncs

def finish(lw: Lowering, result: Value, a: Args) -> Value:
    """Apply a ufunc's ``dtype=``, ``out=`` and ``where=`` keywords to its result."""
    if "dtype" in a.values and not a.none("dtype"):
        result = ew.cast(result, a.dtype())
    out = None if a.none("out") else a["out"]
    if isinstance(out, TupleValue):
        if len(out.items) != 1:
            raise LoweringError("out= takes one array here")
        out = out.items[0]
    where = None if a.none("where") else a["where"]
    if isinstance(where, Const) and bool(where.value):
        where = None
    if out is None and where is None:
        return result
    if out is None:
        out = lw.temp(tuple(result.shape), result.dtype, "out")
    if not isinstance(out, Ref):
        raise LoweringError(f"out= must be an array, not {describe(out)}")
    if where is not None:
        result = ew.where(where, result, out)
    store(lw, result, out, name="ufunc_out")
    return out


def _ufunc_function(name: str) -> Any:
    arity = ew.UFUNCS[name][1]
    params = ["x"] if arity == 1 else ["x1", "x2"]

    def handler(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
        a = Args(f"np.{name}", args, kwargs, params, {"out": None, "where": None, "dtype": None},
                 ignore=("casting", "order", "subok"), max_positional=arity + 1)
        return finish(lw, ew.ufunc(name, [a[p] for p in params], numpy_call=True), a)

    return handler


_ALIASES = {"abs": "absolute", "pow": "power", "asin": "arcsin", "acos": "arccos", "atan": "arctan",
            "atan2": "arctan2", "bitwise_not": "invert", "bitwise_invert": "invert", "conj": "conjugate"}
for _n in ew.UFUNCS:
    if _n != "erf" and hasattr(np, _n):
        function(f"np.{_n}")(_ufunc_function(_n))
for _alias, _target in _ALIASES.items():
    if hasattr(np, _alias):
        function(f"np.{_alias}")(_ufunc_function(_target))


def _math_function(name: str) -> Any:
    def handler(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
        a = Args(f"math.{name}", args, kwargs, ["x"])
        x = a["x"]
        if is_arraylike(x) and len(x.shape) == 0:
            return _math_scalar(name, x)
        return ew.ufunc(_MATH[name], [x])

    return handler


def _math_scalar(name: str, x: Value) -> Value:
    """``math.<name>`` of a 0-d value (a number or a NumPy scalar in Python), as Python computes it:
    in double precision, giving a Python float, weak in NumPy's promotion (``float32_array -
    math.erf(s)`` stays float32); ``math.floor``/``math.ceil`` give a Python int (weak int64)."""
    if x.dtype.kind == "c":
        raise LoweringError(f"math.{name} does not accept complex numbers", f"np.{_MATH[name]}")
    to_int = name in ("floor", "ceil")
    if isinstance(x, Const):
        try:
            out = getattr(math, name)(x.value)
        except (ValueError, OverflowError) as exc:
            raise LoweringError(f"math.{name}({x.value!r}) fails in Python: {exc}") from None
        return Const(out, ew.INT64 if to_int else ew.FLOAT64, True)
    if to_int and x.dtype.kind in "biu":
        out = ew.cast(x, ew.INT64)
    else:
        out = ew.ufunc(_MATH[name], [ew.cast(x, ew.FLOAT64)])
        if to_int:
            out = ew.cast(out, ew.INT64)
    lz = ew.as_lazy(out)
    return Lazy(lz.shape, lz.dtype, lz.node, lz.leaves, True)


_MATH = {"exp": "exp", "expm1": "expm1", "log": "log", "log2": "log2", "log10": "log10", "log1p": "log1p",
         "sqrt": "sqrt", "sin": "sin", "cos": "cos", "tan": "tan", "asin": "arcsin", "acos": "arccos",
         "atan": "arctan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "erf": "erf", "fabs": "fabs",
         "floor": "floor", "ceil": "ceil"}
for _n in _MATH:
    function(f"math.{_n}")(_math_function(_n))


@function("scipy.special.erf")
def _erf(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
    a = Args("scipy.special.erf", args, kwargs, ["x"], {"out": None, "where": None, "dtype": None})
    return finish(lw, ew.ufunc("erf", [a["x"]]), a)


@function("np.where")
def _where(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
    if len(args) == 1 and not kwargs:
        raise LoweringError("np.where with one argument (np.nonzero) gives a data-dependent shape",
                            "np.where(condition, x, y)")
    a = Args("np.where", args, kwargs, ["condition", "x", "y"])
    out = ew.where(a["condition"], a["x"], a["y"], numpy_call=True)
    if isinstance(out, (Lazy, Ref)) and len(out.shape) == 0:
        out = replace(out, array0d=True)        # np.where returns an array, even a 0-d one
    return out


@function("np.clip")
def _clip(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
    a = Args("np.clip", args, kwargs, ["a", "a_min", "a_max"],
             {"a_min": None, "a_max": None, "out": None, "min": None, "max": None})
    lo = None if a.none("a_min") else a["a_min"]
    hi = None if a.none("a_max") else a["a_max"]
    lo = lo if lo is not None or a.none("min") else a["min"]
    hi = hi if hi is not None or a.none("max") else a["max"]
    return finish(lw, ew.clip(a["a"], lo, hi), a)


# ---------------------------------------------------------------- Python builtins

@function("abs")
def _abs(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
    a = Args("abs", args, kwargs, ["x"])
    if isinstance(a["x"], Sym):
        return Sym(sympy.Abs(a["x"].expr))
    x = a["x"]
    if isinstance(x, Const) and x.weak and x.dtype.kind == "b":
        return Const(abs(bool(x.value)), ew.INT64, True)      # abs(True) is the Python int 1
    return ew.ufunc("absolute", [x])


def _minmax(name: str, ufunc: str) -> Any:
    def handler(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
        if kwargs or len(args) < 2:
            raise LoweringError(f"{name}() is supported on two or more scalars",
                                f"np.{name}(array) to reduce an array")
        out = args[0]
        for v in args[1:]:
            for x in (out, v):
                if isinstance(x, (Ref, Lazy)) and len(x.shape) != 0:
                    raise LoweringError(f"{name}() of arrays is not supported", f"np.{ufunc}(a, b)")
            out = _python_pick(name, ufunc, out, v)
        return out

    return handler


def _python_pick(name: str, ufunc: str, current: Value, item: Value) -> Value:
    """One step of Python's ``max``/``min``: ``item`` replaces ``current`` only if it compares
    greater (less), so ``max(nan, 1)`` is nan, ``max(1, nan)`` is 1 and a tie keeps the first
    (np.maximum would propagate either NaN). The dtype is the operands' promotion (Python returns
    the chosen object itself, whose type may depend on the values)."""
    if all(isinstance(x, Sym) or (isinstance(x, Const) and x.dtype.is_integer) for x in (current, item)):
        return ew.ufunc(ufunc, [current, item])          # sizes stay symbolic: max(N, 3) is Max(N, 3)
    cond = ew.ufunc("greater" if name == "max" else "less", [item, current])
    if isinstance(cond, Const):
        return item if bool(cond.value) else current
    shape, (lc, la, lb) = ew.combine([cond, current, item])
    dt, weak = T.promote([(la.dtype, la.weak), (lb.dtype, lb.weak)])
    node = tl.Call("where", (lc.node, T.cast_to(lb.node, lb.dtype, dt), T.cast_to(la.node, la.dtype, dt)))
    return ew.make(shape, dt, node, [lc, la, lb], weak)


function("min")(_minmax("min", "minimum"))
function("max")(_minmax("max", "maximum"))


@function("len")
def _len(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
    a = Args("len", args, kwargs, ["obj"])
    v = a["obj"]
    if isinstance(v, TupleValue):
        return Const(len(v.items), ew.INT64, True)
    if isinstance(v, (Ref, Lazy)) and len(v.shape) >= 1:
        return Sym(sympy.sympify(v.shape[0]))
    raise LoweringError(f"len() of {describe(v)} is not supported")


def _py_cast(name: str, dtype: str) -> Any:
    def handler(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
        a = Args(name, args, kwargs, ["x"])
        v = a["x"]
        if isinstance(v, (Ref, Lazy)) and len(v.shape) != 0:
            raise LoweringError(f"{name}() of an array is not supported", ".astype(...) for arrays")
        if isinstance(v, Sym) and name == "int":
            return v
        if isinstance(v, Const):
            return Const(getattr(builtins, name)(v.value), dtype_of(dtype), True)
        if not is_arraylike(v):
            raise LoweringError(f"{name}() of {describe(v)} is not supported")
        return ew.cast(v, dtype_of(dtype))

    return handler


function("float")(_py_cast("float", "float64"))
function("int")(_py_cast("int", "int64"))
function("bool")(_py_cast("bool", "bool"))


# the other groups of the table register themselves on import
from . import contractions, creation, linalg, reductions, scans, shapes  # noqa: E402,F401

__all__ = ["call_function", "call_method", "cast_call", "array_attribute", "finish"]
