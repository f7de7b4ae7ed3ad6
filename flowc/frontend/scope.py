"""Names: local variables, the enclosing scope, and what Python objects mean in a program.

A name used in a program is looked up in the function's local variables
(values the lowering bound), then in its closure cells, its module globals
and Python's builtins. Objects from the enclosing scope are interpreted once
here: numbers are inlined as constants, NumPy arrays become extra trailing
arguments named ``__closure_<name>`` (``program.closure_args`` maps them to
the arrays the public API passes at call time), size symbols become symbolic
integers (substituted by the caller's sizes inside an inlined callee),
modules, functions, dtypes and nested programs stay compile-time objects.
"""

from __future__ import annotations

import ast
import builtins
import types
from typing import Any

import numpy as np
import sympy

from flowc.ir.data import ArrayType
from flowc.ir.dtypes import DType, dtype_of
from flowc.ir.symbolic import as_expr

from .context import Lowering
from .errors import LoweringError
from .values import (
    Const,
    DTypeValue,
    FuncValue,
    MapMarker,
    ModuleValue,
    ProgramValue,
    PyValue,
    Ref,
    Sym,
    TupleValue,
    Value,
)


def is_flowc_map(obj: Any) -> bool:
    """``flowc.map`` (or DaCe's ``dace.map``) as an object."""
    if getattr(obj, "__flowc_map__", False):
        return True
    t = type(obj)
    return (t.__module__ or "").split(".")[0] in ("flowc", "dace") and "map" in t.__name__.lower()


def is_program(obj: Any) -> bool:
    return hasattr(obj, "__flowc_program__") and callable(getattr(obj, "func", None))


def lookup(lw: Lowering, name: str) -> Value:
    """The value of ``name`` in the function being lowered."""
    frame = lw.frame
    if name in frame.env:
        return frame.env[name]
    if name in local_names(frame):
        raise LoweringError(f"the variable {name!r} has no value here",
                            "assign it before this use; a loop's variable, and a variable first assigned "
                            "inside a loop or branch and not used after it, exist only inside that construct")
    if name in frame.closure:
        return from_python(lw, frame.closure[name], name)
    if name in frame.globals:
        return from_python(lw, frame.globals[name], name)
    if hasattr(builtins, name):
        return from_python(lw, getattr(builtins, name), name)
    raise LoweringError(f"undefined name {name!r}",
                        "a parameter, a variable assigned earlier in the program, or a name of the enclosing "
                        "module (a constant, a NumPy array, a symbol, a module or a flowc program)")


def local_names(frame: Any) -> set[str]:
    """Names the function assigns anywhere (Python makes them local to the whole function)."""
    if frame.assigned is None:
        frame.assigned = {n.id for n in ast.walk(frame.source.tree)
                          if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        frame.assigned |= {a.arg for a in ast.walk(frame.source.tree) if isinstance(a, ast.arg)}
    return frame.assigned


def symbol_value(lw: Lowering, expr: Any) -> Sym:
    """A sympy expression from the enclosing scope, with inlining substitutions applied."""
    e = as_expr(expr)
    subs = lw.frame.sym_subs
    free = {s for s in e.free_symbols}
    mapping = {s: subs[s.name] for s in free if s.name in subs}
    for s in free:
        if s.name not in subs:
            lw.program.add_symbol(s.name)
            lw.reserved.add(s.name)
    return Sym(e.xreplace(mapping) if mapping else e)


def as_dtype(obj: Any) -> DType | None:
    """The flowc dtype an object names, or None (``flowc.float32``, ``np.float32``, ``float``)."""
    if isinstance(obj, DType):
        return obj
    if obj is float:
        return dtype_of("float64")
    if obj is int:
        return dtype_of("int64")
    if obj is bool:
        return dtype_of("bool")
    if obj is complex:
        return dtype_of("complex128")
    if isinstance(obj, np.dtype) or (isinstance(obj, type) and issubclass(obj, np.generic)):
        try:
            return dtype_of(obj)
        except TypeError:
            return None
    return None


def closure_array(lw: Lowering, arr: np.ndarray, name: str) -> Ref:
    """A NumPy array of the enclosing scope as an extra argument ``__closure_<name>``."""
    p = lw.program
    if not hasattr(p, "closure_args"):
        p.closure_args = {}
    known = lw.closure_ids.get(id(arr))
    if known is not None and known in p.data:
        return Ref.whole(known, p.data[known])
    try:
        dt = dtype_of(arr.dtype)
    except TypeError as exc:
        raise LoweringError(f"the array {name!r} from the enclosing scope has an unsupported dtype: {exc}") \
            from None
    base = f"__closure_{name}"
    cname, i = base, 1
    while cname in p.data:
        cname, i = f"{base}_{i}", i + 1
    p.add_array(cname, list(arr.shape), dt)
    p.closure_args[cname] = arr
    lw.closure_ids[id(arr)] = cname
    return Ref.whole(cname, p.data[cname])


def from_python(lw: Lowering, obj: Any, name: str) -> Value:
    """What a Python object from the enclosing scope means inside a program."""
    if isinstance(obj, bool):
        return Const(obj, dtype_of("bool"), True)
    if isinstance(obj, int):
        return Const(obj, dtype_of("int64"), True)
    if isinstance(obj, float):
        return Const(obj, dtype_of("float64"), True)
    if isinstance(obj, np.ndarray):
        if obj.ndim == 0:
            return Const(obj.item(), dtype_of(obj.dtype), False)
        return closure_array(lw, obj, name)
    if isinstance(obj, np.generic):
        try:
            return Const(obj.item(), dtype_of(obj.dtype), False)
        except TypeError as exc:
            raise LoweringError(f"{name!r}: {exc}") from None
    if isinstance(obj, sympy.Basic):
        return symbol_value(lw, obj)
    if is_program(obj):
        return ProgramValue(obj)
    if is_flowc_map(obj):
        return MapMarker()
    dt = as_dtype(obj)
    if dt is not None and obj not in (float, int, bool, complex):
        return DTypeValue(dt)
    if isinstance(obj, types.ModuleType):
        return ModuleValue(obj)
    if isinstance(obj, (list, dict, set, bytearray)):
        kind = type(obj).__name__
        raise LoweringError(
            f"{name!r} is a {kind} from the enclosing scope: a program captures such values when it is "
            f"first compiled, so a later change ({name}[0] = ..., {name}.append(...)) would be ignored; "
            f"a mutable {kind} is not supported",
            "a tuple for constants (G = (1, 2, 3)), or a NumPy array (a global array is passed at each "
            "call and read as it is then), or pass the values as an argument")
    if isinstance(obj, tuple):
        return TupleValue(tuple(from_python(lw, o, f"{name}[{i}]") for i, o in enumerate(obj)))
    if obj is None or obj is Ellipsis or isinstance(obj, (str, slice)):
        return PyValue(obj)
    if isinstance(obj, ArrayType):
        return PyValue(obj)
    if callable(obj):
        return FuncValue(obj)
    raise LoweringError(f"{name!r} is a {type(obj).__name__} object, which programs cannot use",
                        "numbers, NumPy arrays, symbols, modules, functions and flowc programs from the "
                        "enclosing scope")
