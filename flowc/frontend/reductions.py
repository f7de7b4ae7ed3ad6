"""Reductions: sum, prod, max, min, mean, var, std, argmax, argmin, ``ufunc.reduce``.

Each reduction of a container is one ``ir.Reduce`` library node over a set
of axes into a new container (keepdims keeps the reduced axes with size 1;
a full reduction gives a scalar). A lazy operand is computed into a
temporary first; a strided Ref is reduced through an IR view, without a
copy. Result dtypes are NumPy's (``np.sum`` of int32 is int64, ``np.mean``
of ints is float64). ``mean`` divides the sum by the count, ``var`` is the
two-pass ``mean(|x - mean(x)|**2)``, ``std`` its square root. ``argmax``
takes the maximum, then the smallest index where it is reached (a second
``min`` reduction over ``where(x == max, index, size)``), so ties resolve to
the first occurrence as in NumPy (for floats, NaN counts as reached: the
first NaN wins). ``np.fmax.reduce``/``np.fmin.reduce`` of floats skip NaNs
(NaN only where a whole slice is NaN).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import sympy

from flowc.ir.dtypes import DType, dtype_of
from flowc.ir.library import Reduce

from . import elementwise as ew
from . import types as T
from .context import Lowering
from .emit import as_ref, library, materialize
from .errors import LoweringError
from .registry import Args, function, method
from .values import Const, Lazy, PyValue, Ref, Sym, TupleValue, Value, describe, is_arraylike

_TYPING = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min}
_UFUNC_OP = {"add": "sum", "multiply": "prod", "maximum": "max", "minimum": "min", "fmax": "max", "fmin": "min",
             "logical_and": "min", "logical_or": "max"}
_COMBINE = {"sum": "add", "prod": "multiply", "max": "maximum", "min": "minimum"}


def norm_axes(axis: Any, nd: int) -> tuple[int, ...]:
    if axis is None or (isinstance(axis, PyValue) and axis.obj is None):
        return tuple(range(nd))
    from .values import static_axes

    return tuple(sorted(static_axes(axis, nd, "axis")))


def _result_dtype(op: str, dtype: DType) -> DType:
    with np.errstate(all="ignore"):
        return dtype_of(np.asarray(_TYPING[op](np.ones(1, dtype=dtype.numpy))).dtype)


#: NumPy's words for a max/min reduction of nothing
_EMPTY = {"max": "zero-size array to reduction operation maximum which has no identity",
          "min": "zero-size array to reduction operation minimum which has no identity",
          "argmax": "attempt to get argmax of an empty sequence",
          "argmin": "attempt to get argmin of an empty sequence"}


def require_nonempty(lw: Lowering, what: str, message: str, shape: tuple[Any, ...], axes: tuple[int, ...]) -> None:
    """A max/min (or argmax/argmin) over ``axes`` has no identity: NumPy raises when the reduced
    extent is empty. A constant empty extent is refused now; a symbolic one becomes a program
    requirement (``extent - 1 >= 0``) that the runtime checks before every call, with a message
    naming ``what`` (the user's spelling, e.g. ``np.max``) and its source line. Only the reduced
    axes matter: a max over axis 1 of an [0, M] array is an empty result, not an error."""
    extent = sympy.Mul(*(sympy.sympify(shape[a]) for a in axes))
    if any(T.same(shape[a], 0) for a in axes):
        raise LoweringError(f"{what}: {message}")
    lw.require(extent - 1, f"{what} at {lw.location()} ({message})")


def reduce(lw: Lowering, op: str, value: Value, axis: Any = None, keepdims: bool = False,
           initial: Optional[Value] = None, dtype: Optional[DType] = None, what: Optional[str] = None) -> Value:
    """``op`` (sum, prod, max, min) over ``axis`` with NumPy's result dtype. ``what`` (the user's
    name of the operation) makes a max/min without ``initial`` refuse empty reductions as NumPy
    does; internal reductions whose empty result is meaningful (any/all) leave it out."""
    if not is_arraylike(value):
        raise LoweringError(f"cannot reduce {describe(value)}")
    shape = tuple(value.shape)
    nd = len(shape)
    axes = norm_axes(axis, nd)
    out_dtype = dtype or _result_dtype(op, value.dtype)
    if op in ("max", "min") and value.dtype.kind == "c":
        raise LoweringError(f"{op} is not supported on complex values", "sum, prod or mean of complex arrays")
    if op in ("max", "min") and initial is None and what is not None and axes:
        require_nonempty(lw, what, _EMPTY[op], shape, axes)
    if nd == 0 or not axes:
        result: Value = ew.cast(value, out_dtype) if value.dtype != out_dtype else value
    else:
        if isinstance(value, (Const, Sym)):
            value = ew.as_lazy(value)
        out_shape = tuple(sympy.Integer(1) if k in axes else s for k, s in enumerate(shape)) if keepdims \
            else tuple(s for k, s in enumerate(shape) if k not in axes)
        # float16 sums and products accumulate in float32 (NumPy's pairwise float16 sum stays
        # close to that; a sequential float16 accumulator drifts by whole units over 1e5 terms)
        acc_dtype = ew.FLOAT32 if out_dtype.name == "float16" and op in ("sum", "prod") else out_dtype
        out = lw.temp(out_shape, acc_dtype, op)
        if isinstance(value, Lazy) and lw.uses_bound(*shape):
            # the operand's shape depends on a loop variable: no container can hold it
            reduce_map(lw, op, value, axes, keepdims, out)
        else:
            src = value if isinstance(value, Ref) else materialize(lw, value, "red_in")
            view = lw.view_of(src)
            if not src.is_whole(lw.desc(src.data)) and view is not None and \
                    lw.uses_bound(*view[1], *view[2], view[3]):
                reduce_map(lw, op, src, axes, keepdims, out)
            else:
                library(lw, Reduce(f"{op}", op, axes), {"_in": lw.container(src)}, {"_out": out.data})
        result = out if acc_dtype == out_dtype else ew.cast(out, out_dtype)
    if initial is not None:
        # NumPy casts initial= to the result's dtype before combining (an int64 sum with
        # initial=1.0 stays exact; combined in float64 it rounded 2**63 - 3 to -2**63)
        result = ew.ufunc(_COMBINE[op], [result, ew.cast(initial, out_dtype)])
        result = ew.cast(result, out_dtype) if result.dtype != out_dtype else result
    return result


def identity(op: str, dtype: DType) -> Const:
    if op == "sum":
        return Const(0, dtype, False)
    if op == "prod":
        return Const(1, dtype, False)
    if dtype.kind == "b":
        return Const(op == "min", dtype, False)
    if dtype.is_integer:
        info = np.iinfo(dtype.numpy)
        return Const(int(info.min if op == "max" else info.max), dtype, False)
    return Const(float("-inf") if op == "max" else float("inf"), dtype, False)


def reduce_map(lw: Lowering, op: str, src: Value, axes: tuple[int, ...], keepdims: bool, out: Ref) -> None:
    """A reduction as a map with write-conflict resolution into ``out`` (for operands whose shape or
    view depends on loop variables, which no whole-container library node can take). The map's
    parameters run over the kept dimensions first, so its parallel dimensions write disjoint
    elements."""
    from .emit import store
    from .values import Axis

    store(lw, identity(op, out.dtype), out, name=f"{op}_init", check_alias=False)
    axes_out = []
    fixed = list(out.fixed)
    k = 0
    for d, size in enumerate(src.shape):
        if d in axes:
            axes_out.append(Axis(None, sympy.Integer(0), sympy.Integer(1), size))
            if keepdims:
                fixed[out.axes[k].src] = sympy.Integer(0)
                k += 1
        else:
            a = out.axes[k]
            axes_out.append(Axis(a.src, a.start, a.step, size))
            k += 1
    target = Ref(out.data, out.dtype, tuple(axes_out), tuple(fixed))
    store(lw, src, target, name=op, wcr=op, check_alias=False)


def _reduction_args(fname: str, args: list[Value], kwargs: dict[str, Value], self: Optional[Value] = None,
                    extra: Optional[dict[str, Any]] = None) -> Args:
    params = ["a"] if self is None else []
    defaults = {"axis": None, "dtype": None, "out": None, "keepdims": Const(False, ew.BOOL, True),
                "initial": None, "where": None}
    defaults.update(extra or {})
    a = Args(fname, args, kwargs, params, defaults)
    if self is not None:
        a.values["a"] = self
    if not a.none("out"):
        raise LoweringError(f"{fname}(out=...) is not supported", "assign the result: out[...] = ...")
    if not a.none("where"):
        raise LoweringError(f"{fname}(where=...) is not supported", "np.where(mask, x, identity) first")
    return a


def _keepdims(a: Args) -> bool:
    v = a["keepdims"]
    if not isinstance(v, Const):
        raise LoweringError("keepdims= must be a compile-time bool")
    return bool(v.value)


def _simple(op: str) -> Any:
    def fn(lw: Lowering, args: list[Value], kwargs: dict[str, Value], self: Optional[Value] = None) -> Value:
        name = f"np.{op}" if self is None else f"ndarray.{op}"
        a = _reduction_args(name, args, kwargs, self)
        initial = None if a.none("initial") else a["initial"]
        return reduce(lw, op, a["a"], a["axis"], _keepdims(a), initial, a.dtype(), what=name)

    return fn


def _register(op: str, names: tuple[str, ...], impl: Any) -> None:
    for n in names:
        function(f"np.{n}")(lambda lw, args, kwargs, _f=impl: _f(lw, args, kwargs))
    method(f"ndarray.{op}")(lambda lw, self, args, kwargs, _f=impl: _f(lw, args, kwargs, self))


_register("sum", ("sum",), _simple("sum"))
_register("prod", ("prod",), _simple("prod"))
_register("max", ("max", "amax"), _simple("max"))
_register("min", ("min", "amin"), _simple("min"))


def count(shape: tuple[Any, ...], axes: tuple[int, ...]) -> Any:
    return sympy.Mul(*(shape[a] for a in axes)) if axes else sympy.Integer(1)


def mean(lw: Lowering, x: Value, axis: Any, keepdims: bool, dtype: Optional[DType] = None) -> Value:
    shape = tuple(x.shape)
    axes = norm_axes(axis, len(shape))
    with np.errstate(all="ignore"):
        res = dtype or dtype_of(np.mean(np.ones(1, dtype=x.dtype.numpy)).dtype)
    acc = res if res.kind == "f" and res.itemsize >= 4 else dtype_of("float32") if res.name == "float16" else res
    total = reduce(lw, "sum", x, axis, keepdims, dtype=acc)
    n = count(shape, axes)
    result = ew.ufunc("divide", [total, Sym(n) if not sympy.sympify(n).is_number else
                                 Const(int(n), ew.INT64, True)])
    return ew.cast(result, res) if result.dtype != res else result


def var(lw: Lowering, x: Value, axis: Any, keepdims: bool, ddof: Any = 0, dtype: Optional[DType] = None) -> Value:
    shape = tuple(x.shape)
    axes = norm_axes(axis, len(shape))
    with np.errstate(all="ignore"):
        res = dtype or dtype_of(np.var(np.ones(2, dtype=x.dtype.numpy)).dtype)
    x_ref = as_ref(lw, x, "var_in")
    m = mean(lw, ew.cast(x_ref, res) if x_ref.dtype != res else x_ref, axis, True)
    d = ew.ufunc("subtract", [ew.cast(x_ref, res) if x_ref.dtype != res else x_ref, m])
    sq = ew.ufunc("multiply", [d, d])
    total = reduce(lw, "sum", sq, axis, keepdims, dtype=res)
    n = count(shape, axes)
    # NumPy divides by max(n - ddof, 0): an extent no larger than ddof gives inf or NaN, never a
    # negative count (0 / (0 - 1) gave -0.0 for the var of an empty slice)
    denom = sympy.Max(sympy.sympify(n) - ddof, 0)
    dv: Value = Sym(denom) if not denom.is_number else Const(int(denom), ew.INT64, True)
    result = ew.ufunc("divide", [total, dv])
    return ew.cast(result, res) if result.dtype != res else result


def _stat(kind: str) -> Any:
    def fn(lw: Lowering, args: list[Value], kwargs: dict[str, Value], self: Optional[Value] = None) -> Value:
        name = f"np.{kind}" if self is None else f"ndarray.{kind}"
        extra = {"ddof": Const(0, ew.INT64, True)} if kind != "mean" else {}
        a = _reduction_args(name, args, kwargs, self, extra)
        if not a.none("initial"):
            raise LoweringError(f"{name}() has no initial= argument")
        x = a["a"]
        if not is_arraylike(x):
            raise LoweringError(f"{name}() needs an array, not {describe(x)}")
        if kind == "mean":
            return mean(lw, x, a["axis"], _keepdims(a), a.dtype())
        from .values import static_int

        ddof = static_int(a["ddof"], "ddof")
        v = var(lw, x, a["axis"], _keepdims(a), ddof, a.dtype())
        return v if kind == "var" else ew.ufunc("sqrt", [v])

    return fn


for _k in ("mean", "var", "std"):
    _register(_k, (_k,), _stat(_k))


def argreduce(lw: Lowering, op: str, x: Value, axis: Any, keepdims: bool, what: Optional[str] = None) -> Value:
    """argmax (op "max") / argmin ("min"): the first index of the extreme value along ``axis``.
    ``what``: the user's name of the operation, for the empty-sequence check."""
    what = what or f"np.arg{op}"
    if not is_arraylike(x) or len(x.shape) == 0:
        raise LoweringError(f"arg{op}() needs an array with at least one dimension")
    if x.dtype.kind == "c":
        raise LoweringError(f"arg{op} is not supported on complex values", "argmax/argmin of np.abs(x)")
    if axis is None or (isinstance(axis, PyValue) and axis.obj is None):
        from .shapes import reshape

        require_nonempty(lw, what, _EMPTY[f"arg{op}"], tuple(x.shape), tuple(range(len(x.shape))))
        flat = reshape(lw, as_ref(lw, x, "arg_in"), Const(-1, ew.INT64, True))
        out = argreduce(lw, op, flat, Const(0, ew.INT64, True), False, what)
        if keepdims:
            from .shapes import reshape as rs

            return rs(lw, as_ref(lw, out, "arg"), TupleValue((Const(1, ew.INT64, True),) * len(x.shape)))
        return out
    nd = len(x.shape)
    ax = norm_axes(axis, nd)
    if len(ax) != 1:
        raise LoweringError(f"arg{op}() takes a single axis")
    k = ax[0]
    require_nonempty(lw, what, _EMPTY[f"arg{op}"], tuple(x.shape), (k,))
    xr = as_ref(lw, x, "arg_in")
    extreme = reduce(lw, op, xr, Const(k, ew.INT64, True), True)
    size = sympy.sympify(x.shape[k])
    idx = ew.index_lazy(x.shape, k)
    size_v: Value = Sym(size) if not size.is_number else Const(int(size), ew.INT64, True)
    hit = ew.ufunc("equal", [xr, extreme])
    if x.dtype.kind == "f":
        # a NaN is the extreme (NumPy's max/min propagate it) but equals nothing: the first NaN wins
        hit = ew.ufunc("logical_or", [hit, ew.ufunc("isnan", [xr])])
    cand = ew.where(hit, idx, size_v)
    return reduce(lw, "min", cand, Const(k, ew.INT64, True), keepdims, dtype=ew.INT64)


def _arg(op: str) -> Any:
    def fn(lw: Lowering, args: list[Value], kwargs: dict[str, Value], self: Optional[Value] = None) -> Value:
        name = f"np.arg{op}" if self is None else f"ndarray.arg{op}"
        a = Args(name, args, kwargs, ["a"] if self is None else [],
                 {"axis": None, "out": None, "keepdims": Const(False, ew.BOOL, True)})
        if self is not None:
            a.values["a"] = self
        if not a.none("out"):
            raise LoweringError(f"{name}(out=...) is not supported")
        return argreduce(lw, op, a["a"], a["axis"], _keepdims(a), name)

    return fn


_register("argmax", ("argmax",), _arg("max"))
_register("argmin", ("argmin",), _arg("min"))


def _bool_reduce(lw: Lowering, op: str, x: Value, axis: Any, keepdims: bool) -> Value:
    """any (max) / all (min) of truth values, reduced as uint8 0/1 (code generation has no bool
    max/min reductions), then read as bool."""
    u8 = dtype_of("uint8")
    r = reduce(lw, op, ew.cast(ew.cast(x, ew.BOOL), u8), axis, keepdims, dtype=u8)
    return ew.cast(r, ew.BOOL)


def _any_all(kind: str) -> Any:
    def fn(lw: Lowering, args: list[Value], kwargs: dict[str, Value], self: Optional[Value] = None) -> Value:
        name = f"np.{kind}" if self is None else f"ndarray.{kind}"
        a = Args(name, args, kwargs, ["a"] if self is None else [],
                 {"axis": None, "keepdims": Const(False, ew.BOOL, True)})
        if self is not None:
            a.values["a"] = self
        return _bool_reduce(lw, "max" if kind == "any" else "min", a["a"], a["axis"], _keepdims(a))

    return fn


_register("any", ("any",), _any_all("any"))
_register("all", ("all",), _any_all("all"))


@method("ufunc.reduce")
def _ufunc_reduce(lw: Lowering, ufunc: Any, args: list[Value], kwargs: dict[str, Value]) -> Value:
    name = ufunc.__name__
    if name not in _UFUNC_OP:
        raise LoweringError(f"np.{name}.reduce is not supported",
                            "reduce with np.add, np.multiply, np.maximum, np.minimum, np.logical_and/or")
    a = Args(f"np.{name}.reduce", args, kwargs, ["array"],
             {"axis": Const(0, ew.INT64, True), "dtype": None, "out": None,
              "keepdims": Const(False, ew.BOOL, True), "initial": None, "where": None})
    if not a.none("out") or not a.none("where"):
        raise LoweringError(f"np.{name}.reduce: out= and where= are not supported")
    x = a["array"]
    op = _UFUNC_OP[name]
    if name.startswith("logical"):
        if not a.none("initial"):
            raise LoweringError(f"np.{name}.reduce(initial=...) is not supported")
        return _bool_reduce(lw, op, x, a["axis"], _keepdims(a))
    initial = None if a.none("initial") else a["initial"]
    dt = a.dtype()
    if dt is None and name in ("add", "multiply"):
        dt = dtype_of(np.asarray(ufunc.reduce(np.ones(1, dtype=x.dtype.numpy))).dtype)
    if name in ("fmax", "fmin") and is_arraylike(x) and x.dtype.kind == "f":
        return _nan_skipping(lw, name, op, x, a["axis"], _keepdims(a), initial, dt)
    return reduce(lw, op, x, a["axis"], _keepdims(a), initial, dt, what=f"np.{name}.reduce")


def _nan_skipping(lw: Lowering, name: str, op: str, x: Value, axis: Any, keepdims: bool,
                  initial: Optional[Value], dt: Optional[DType]) -> Value:
    """``np.fmax.reduce``/``np.fmin.reduce`` of floats: NaNs are skipped (read as -inf/+inf); a slice
    that is all NaN gives NaN, as in NumPy. ``initial`` joins with ``fmax``/``fmin`` too."""
    xr = as_ref(lw, x, "f_in")
    nan = ew.ufunc("isnan", [xr])
    skip = ew.where(nan, Const(float("-inf") if op == "max" else float("inf"), x.dtype, False), xr)
    r = reduce(lw, op, skip, axis, keepdims, what=None if initial is not None else f"np.{name}.reduce")
    all_nan = _bool_reduce(lw, "min", nan, axis, keepdims)
    result: Value = ew.where(all_nan, Const(float("nan"), x.dtype, False), r)
    if initial is not None:
        result = ew.ufunc(name, [result, initial])
    out_dtype = dt or x.dtype
    return ew.cast(result, out_dtype) if result.dtype != out_dtype else result


@method("ufunc.outer")
def _ufunc_outer(lw: Lowering, ufunc: Any, args: list[Value], kwargs: dict[str, Value]) -> Value:
    name = ufunc.__name__
    if name not in ew.UFUNCS or ew.UFUNCS[name][1] != 2:
        raise LoweringError(f"np.{name}.outer is not supported", "outer of a binary ufunc such as np.multiply")
    a = Args(f"np.{name}.outer", args, kwargs, ["A", "B"], {"out": None})
    x, y = a["A"], a["B"]
    if not (is_arraylike(x) and is_arraylike(y)):
        raise LoweringError(f"np.{name}.outer needs two arrays")
    from .shapes import reindex_lazy

    lx = ew.as_lazy(x)
    ny = len(y.shape)
    lx = reindex_lazy(lx, tuple(lx.shape) + (sympy.Integer(1),) * ny, list(range(len(lx.shape))))
    from .numpy_functions import finish

    return finish(lw, ew.ufunc(name, [lx, y]), a)


__all__ = ["reduce", "mean", "var", "argreduce"]
