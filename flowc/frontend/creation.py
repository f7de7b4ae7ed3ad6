"""Array creation: zeros, ones, empty, full, the ``*_like`` forms, arange, eye, copy, astype.

Created arrays are new transient containers owned by the program (filled
by one map); ``arange`` and ``eye`` are lazy expressions of the element
index, so ``np.arange(N) * 2.0`` is one map. ``copy`` and ``astype`` always
copy, as NumPy does by default.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import sympy

from flowc.ir.dtypes import DType, dtype_of

from . import elementwise as ew
from .context import Lowering
from .emit import materialize, store
from .errors import LoweringError
from .registry import Args, function, method
from .values import Const, Ref, Sym, TupleValue, Value, describe, is_arraylike, sym_value


def shape_arg(v: Value) -> tuple[Any, ...]:
    items = v.items if isinstance(v, TupleValue) else (v,)
    dims = tuple(sympy.sympify(sym_value(it, "an array dimension")) for it in items)
    for d in dims:
        if d.is_number and d < 0:
            raise LoweringError(f"negative dimensions are not allowed (got {d})")
    return dims


def filled(lw: Lowering, shape: tuple[Any, ...], dtype: DType, fill: Optional[Value], prefix: str) -> Ref:
    out = lw.temp(shape, dtype, prefix)
    if fill is not None:
        ew.check_stored_int(fill, dtype, f"np.{prefix}")
        store(lw, fill, out, name=prefix, check_alias=False)
    return out


_F64 = dtype_of("float64")


def _creator(name: str, fill: Optional[float]) -> Any:
    def handler(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
        a = Args(f"np.{name}", args, kwargs, ["shape"], {"dtype": None}, ignore=("order",))
        dt = a.dtype(_F64)
        value = None if fill is None else Const(fill, dt, False)
        return filled(lw, shape_arg(a["shape"]), dt, value, name)

    return handler


function("np.zeros")(_creator("zeros", 0))
function("np.ones")(_creator("ones", 1))
function("np.empty")(_creator("empty", None))


@function("np.ndarray")
def _ndarray(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
    """``np.ndarray(shape, dtype=...)``: the constructor as an allocator, uninitialized like np.empty."""
    a = Args("np.ndarray", args, kwargs, ["shape", "dtype"],
             {"dtype": None, "buffer": None, "offset": None, "strides": None}, ignore=("order",))
    for p in ("buffer", "offset", "strides"):
        if not a.none(p):
            raise LoweringError(f"np.ndarray() with {p}= (a view of existing memory) is not supported",
                                "np.ndarray(shape, dtype=...) or np.empty(shape, dtype=...) for a new array")
    return filled(lw, shape_arg(a["shape"]), a.dtype(_F64), None, "ndarray")


_F32 = dtype_of("float32")


@function("flowc.define_local")
def _define_local(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
    """DaCe's ``define_local(dimensions, dtype=float32)``: a new uninitialized transient array."""
    a = Args("flowc.define_local", args, kwargs, ["dimensions", "dtype"], {"dtype": None})
    return filled(lw, shape_arg(a["dimensions"]), a.dtype(_F32), None, "local")


@function("flowc.define_local_scalar")
def _define_local_scalar(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
    """DaCe's ``define_local_scalar(dtype=float32)``: a one-element transient (DaCe's own
    definition outside a program is ``ndarray([1], dtype)``, so ``s[0]`` indexes it)."""
    a = Args("flowc.define_local_scalar", args, kwargs, ["dtype"], {"dtype": None})
    return filled(lw, (sympy.Integer(1),), a.dtype(_F32), None, "local")


def _fill_dtype(v: Value) -> DType:
    if not is_arraylike(v):
        raise LoweringError(f"fill_value must be a number or array, not {describe(v)}")
    dt = v.dtype
    return dt


@function("np.full")
def _full(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
    a = Args("np.full", args, kwargs, ["shape", "fill_value"], {"dtype": None}, ignore=("order",))
    fill = a["fill_value"]
    dt = a.dtype(_fill_dtype(fill))
    return filled(lw, shape_arg(a["shape"]), dt, fill, "full")


def _like(name: str, fill: Optional[float]) -> Any:
    def handler(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
        params = ["a", "fill_value"] if name == "full_like" else ["a"]
        a = Args(f"np.{name}", args, kwargs, params, {"dtype": None, "shape": None}, ignore=("order", "subok"))
        proto = a["a"]
        if not is_arraylike(proto):
            raise LoweringError(f"np.{name}() needs an array, not {describe(proto)}")
        dt = a.dtype(proto.dtype)
        shape = tuple(proto.shape) if a.none("shape") else shape_arg(a["shape"])
        value: Optional[Value] = a["fill_value"] if name == "full_like" else \
            (None if fill is None else Const(fill, dt, False))
        return filled(lw, shape, dt, value, name.replace("_like", ""))

    return handler


for _n, _f in (("zeros_like", 0), ("ones_like", 1), ("empty_like", None), ("full_like", None)):
    function(f"np.{_n}")(_like(_n, _f))


@function("np.arange")
def _arange(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
    a = Args("np.arange", args, kwargs, ["start"], {"stop": None, "step": None, "dtype": None})
    start, stop, step = a["start"], a["stop"], a["step"]
    if a.none("stop"):
        start, stop = Const(0, ew.INT64, True), start
    if a.none("step"):
        step = Const(1, ew.INT64, True)
    for v in (start, stop, step):
        if not isinstance(v, (Const, Sym)):
            raise LoweringError(f"np.arange bounds must be compile-time numbers or symbols, not {describe(v)}")
    is_int = all(isinstance(v, Sym) or v.dtype.is_integer for v in (start, stop, step))
    if is_int:
        s0, s1, st = (sym_value(v) for v in (start, stop, step))
        if st == 0:
            raise LoweringError("np.arange step must not be zero")
        n = (s1 - s0) if st == 1 else sympy.ceiling((s1 - s0) / st)
        n = sympy.simplify(n)
        if n.is_number and n < 0:
            n = sympy.Integer(0)
        natural = ew.INT64
    else:
        vals = [float(v.value) if isinstance(v, Const) else None for v in (start, stop, step)]
        if any(x is None for x in vals):
            raise LoweringError("np.arange with float bounds needs compile-time numbers")
        n = sympy.Integer(len(np.arange(*vals)))
        natural = _F64
    dt = a.dtype(natural)
    idx = ew.index_lazy((n,), 0)
    scaled = ew.ufunc("add", [start, ew.ufunc("multiply", [idx, step])])
    return ew.cast(scaled, dt)


@function("np.eye")
def _eye(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
    a = Args("np.eye", args, kwargs, ["N"], {"M": None, "k": Const(0, ew.INT64, True), "dtype": None},
             ignore=("order",))
    n = sym_value(a["N"], "N")
    m = n if a.none("M") else sym_value(a["M"], "M")
    k = sym_value(a["k"], "k")
    dt = a.dtype(_F64)
    rows, cols = ew.index_lazy((n, m), 0), ew.index_lazy((n, m), 1)
    diag = ew.ufunc("equal", [ew.ufunc("add", [rows, Sym(k)]), cols])
    return ew.where(diag, Const(1, dt, False), Const(0, dt, False))


@function("np.identity")
def _identity(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
    a = Args("np.identity", args, kwargs, ["n"], {"dtype": None})
    return _eye(lw, [a["n"]], {} if a.none("dtype") else {"dtype": a["dtype"]})


def copy(lw: Lowering, v: Value) -> Value:
    if not is_arraylike(v):
        raise LoweringError(f"cannot copy {describe(v)}")
    if isinstance(v, (Const, Sym)):
        return v
    return materialize(lw, v, "copy")


@function("np.copy")
def _np_copy(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
    a = Args("np.copy", args, kwargs, ["a"], ignore=("order", "subok"))
    return copy(lw, a["a"])


@function("np.array")
def _np_array(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
    a = Args("np.array", args, kwargs, ["object"], {"dtype": None, "copy": Const(True, ew.BOOL, True)},
             ignore=("order",))
    v = a["object"]
    if not is_arraylike(v):
        raise LoweringError("np.array() is supported on arrays and numbers",
                            "np.zeros/np.empty and assignments to build arrays")
    dt = a.dtype(v.dtype)
    return copy(lw, ew.cast(v, dt) if dt != v.dtype else v)


@method("ndarray.copy")
def _m_copy(lw: Lowering, self: Value, args: list[Value], kwargs: dict[str, Value]) -> Value:
    Args("ndarray.copy", args, kwargs, [], ignore=("order",))
    return copy(lw, self)


@method("ndarray.astype")
def _m_astype(lw: Lowering, self: Value, args: list[Value], kwargs: dict[str, Value]) -> Value:
    a = Args("ndarray.astype", args, kwargs, ["dtype"], {"copy": Const(True, ew.BOOL, True)},
             ignore=("order", "casting", "subok"))
    dt = a.dtype(None)
    if dt is None:
        raise LoweringError("astype() needs a dtype")
    return copy(lw, ew.cast(self, dt))


@method("ndarray.fill")
def _m_fill(lw: Lowering, self: Value, args: list[Value], kwargs: dict[str, Value]) -> Value:
    a = Args("ndarray.fill", args, kwargs, ["value"])
    if not isinstance(self, Ref):
        raise LoweringError("fill() needs an array variable")
    ew.check_stored_int(a["value"], self.dtype, "fill()")
    store(lw, a["value"], self, name="fill", check_alias=False)
    from .values import PyValue

    return PyValue(None)


__all__ = ["shape_arg", "filled", "copy"]
