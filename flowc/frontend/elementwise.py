"""Element-wise NumPy semantics on lazy expressions.

Every element-wise operation (operators, ufuncs, casts, ``where``, ``clip``)
combines its operands into one ``Lazy`` tree: operands are broadcast to the
result shape by renaming their output-dimension placeholders (a size-1
dimension that is broadcast reads index 0), each operand is cast to the dtype
NumPy computes in, and the operation's tasklet expression is built on top.
Compile-time operands fold: constants are computed by NumPy itself, integer
arithmetic on symbols stays symbolic.
"""

from __future__ import annotations

import itertools
import math
import operator
from typing import Any, Callable, Optional, Sequence

import numpy as np
import sympy

from flowc.ir import expr as tl
from flowc.ir.dtypes import DType, dtype_of

from . import types as T
from .errors import LoweringError
from .values import Const, Lazy, Leaf, Ref, Sym, TupleValue, describe, is_arraylike, placeholder, placeholder_name

_conn_ids = itertools.count()
BOOL = dtype_of("bool")
INT64 = dtype_of("int64")
FLOAT64 = dtype_of("float64")
COMPLEX128 = dtype_of("complex128")
FLOAT32 = dtype_of("float32")
#: operations C++ computes on float16 directly
_F16_NATIVE = {"add", "subtract", "multiply", "divide", "true_divide", "negative", "positive", "square",
               "greater", "greater_equal", "less", "less_equal", "equal", "not_equal"}


def new_conn() -> str:
    return f"_a{next(_conn_ids)}"


# ---------------------------------------------------------------- building lazy values

def leaf(ref: Ref) -> Lazy:
    """A Ref as a lazy expression reading one element per output index."""
    idx = ref.index(tuple(placeholder(k) for k in range(ref.ndim)))
    conn = new_conn()
    return Lazy(ref.shape, ref.dtype, tl.Name(conn), {conn: Leaf(ref.data, idx)}, ref.weak)


def as_lazy(v: Any) -> Lazy:
    if isinstance(v, Lazy):
        return v
    if isinstance(v, Ref):
        return leaf(v)
    if isinstance(v, Const):
        return Lazy((), v.dtype, T.literal(v.value, v.dtype), {}, v.weak)
    if isinstance(v, Sym):
        return Lazy((), INT64, T.sym_to_tl(v.expr), {}, True)
    if isinstance(v, TupleValue):
        raise LoweringError("a tuple is not an array here", "np.array is not supported; build arrays with "
                            "np.zeros/np.empty and assignments")
    raise LoweringError(f"{describe(v)} cannot be used as an array operand")


def broadcast_to(lz: Lazy, shape: Sequence[Any]) -> Lazy:
    """``lz`` seen as an expression of shape ``shape`` (NumPy broadcasting)."""
    shape = tuple(sympy.sympify(s) for s in shape)
    if tuple(lz.shape) == shape:
        return lz
    out = T.broadcast_shapes(lz.shape, shape)
    if len(out) != len(shape) or not all(
            T.match_or_require(a, b, f"a value of shape {T.fmt_shape(lz.shape)} stored into {T.fmt_shape(shape)} "
                                     f"requires {a} == {b}") for a, b in zip(out, shape)):
        raise LoweringError(f"a value of shape {T.fmt_shape(lz.shape)} cannot be broadcast to "
                            f"{T.fmt_shape(shape)}", "a value whose sizes are equal to the target's or 1")
    off = len(shape) - lz.ndim
    sym_map: dict = {}
    name_map: dict[str, tl.Node] = {}
    for k, s in enumerate(lz.shape):
        if T.is_one(s) and not T.is_one(shape[k + off]):
            sym_map[placeholder(k)] = sympy.Integer(0)
            name_map[placeholder_name(k)] = tl.Const(0, "int64")
        else:
            sym_map[placeholder(k)] = placeholder(k + off)
            name_map[placeholder_name(k)] = tl.Name(placeholder_name(k + off))
    leaves = {c: Leaf(lf.data, tuple(sympy.sympify(e).xreplace(sym_map) for e in lf.index), lf.block)
              for c, lf in lz.leaves.items()}
    return Lazy(shape, lz.dtype, tl.substitute(lz.node, name_map), leaves, lz.weak)


def drop_leading_ones(v: Any, ndim: int) -> Any:
    """``v`` without the leading size-1 axes it has beyond ``ndim`` axes: NumPy's assignment
    ``x[...] = v`` accepts them (a ``(1, M)`` value into an ``(M,)`` target), unlike an operator's
    broadcasting or a ufunc's ``out=``."""
    if not isinstance(v, (Ref, Lazy)) or len(v.shape) <= ndim:
        return v
    lz = as_lazy(v)
    drop = 0
    while lz.ndim - drop > ndim and T.is_one(lz.shape[drop]):
        drop += 1
    if drop == 0:
        return v
    sym_map = {placeholder(k): sympy.Integer(0) if k < drop else placeholder(k - drop) for k in range(lz.ndim)}
    name_map: dict[str, tl.Node] = {placeholder_name(k): tl.Const(0, "int64") if k < drop
                                    else tl.Name(placeholder_name(k - drop)) for k in range(lz.ndim)}
    leaves = {c: Leaf(lf.data, tuple(sympy.sympify(e).xreplace(sym_map) for e in lf.index), lf.block)
              for c, lf in lz.leaves.items()}
    return Lazy(tuple(lz.shape[drop:]), lz.dtype, tl.substitute(lz.node, name_map), leaves, lz.weak)


def combine(values: Sequence[Any]) -> tuple[tuple[Any, ...], list[Lazy]]:
    """Broadcast the operands of one element-wise operation to their common shape."""
    lazies = [as_lazy(v) for v in values]
    shape = T.broadcast_shapes(*(lz.shape for lz in lazies))
    return shape, [broadcast_to(lz, shape) for lz in lazies]


def _merge(lazies: Sequence[Lazy]) -> dict[str, Leaf]:
    leaves: dict[str, Leaf] = {}
    for lz in lazies:
        leaves.update(lz.leaves)
    return leaves


def make(shape: Sequence[Any], dtype: DType, node: tl.Node, parts: Sequence[Lazy], weak: bool = False) -> Lazy:
    return Lazy(tuple(shape), dtype, node, _merge(parts), weak)


def cast(v: Any, dtype: DType) -> Any:
    """``v.astype(dtype)`` (NumPy's unsafe casting), folded for constants."""
    if isinstance(v, Const):
        if dtype.kind in "biuf":
            with np.errstate(all="ignore"):
                return Const(np.array(v.value).astype(dtype.numpy).item(), dtype, False)
        raise LoweringError(f"casting constants to {dtype.name} is not supported")
    lz = as_lazy(v)
    return Lazy(lz.shape, dtype, T.cast_to(lz.node, lz.dtype, dtype), lz.leaves, False)


# ---------------------------------------------------------------- operations

def _bin(op: str) -> Callable[[list[tl.Node], DType], tl.Node]:
    return lambda a, dt: tl.BinOp(op, a[0], a[1])


def _call(fn: str) -> Callable[[list[tl.Node], DType], tl.Node]:
    return lambda a, dt: tl.Call(fn, tuple(a))


def _logical(op: str) -> Callable[[list[tl.Node], DType], tl.Node]:
    return lambda a, dt: tl.BinOp(op, a[0], a[1])


def _bitwise(op: str, bool_op: str) -> Callable[[list[tl.Node], DType], tl.Node]:
    return lambda a, dt: tl.BinOp(bool_op if dt.kind == "b" else op, a[0], a[1])


def _power(a: list[tl.Node], dt: DType) -> tl.Node:
    exp = a[1]
    if isinstance(exp, tl.Const) and exp.dtype != "bool" and float(exp.value) == 2.0:
        return tl.BinOp("*", a[0], a[0])
    if isinstance(exp, tl.Call) and exp.func in ("int32", "int16", "int8", "uint8", "uint16", "uint32",
                                                 "uint64", "float16") and isinstance(exp.args[0], tl.Const) \
            and float(exp.args[0].value) == 2.0:
        return tl.BinOp("*", a[0], a[0])
    if isinstance(exp, tl.Const) and exp.dtype in ("float32", "float64") and float(exp.value) == 0.5:
        return tl.Call("sqrt", (a[0],))
    return tl.BinOp("**", a[0], a[1])


def _rounding(fn: str) -> Callable[[list[tl.Node], DType], tl.Node]:
    """``np.floor``/``np.ceil``: NumPy 2 keeps integer and bool inputs as they are (same dtype, same
    values); C++'s ``std::floor`` of an integer is a double, which later integer arithmetic on the
    result would not wrap as NumPy's does (``np.sign(i) * np.ceil(i)`` at INT32_MIN)."""
    def build(a: list[tl.Node], dt: DType) -> tl.Node:
        return a[0] if dt.is_integer or dt.kind == "b" else tl.Call(fn, (a[0],))
    return build


def _reciprocal(x: tl.Node, dt: DType) -> tl.Node:
    """``1 / x``; on integers NumPy computes ``(T)(1.0 / x)``: 1 and -1 are themselves, every other
    value is 0, and 0 gives what x86-64 makes of infinity (INT_MIN for int32/int64, 0 for the
    narrower and the unsigned types). Written out, so that no integer division by zero is left."""
    if not dt.is_integer:
        return tl.BinOp("/", T.literal(1, dt), x)
    one = tl.BinOp("==", x, T.literal(1, dt))
    if dt.kind == "u":
        return tl.Call("where", (one, T.literal(1, dt), T.literal(0, dt)))
    zero = T.literal(np.iinfo(dt.numpy).min if dt.itemsize >= 4 else 0, dt)
    unit = tl.BinOp("or", one, tl.BinOp("==", x, T.literal(-1, dt)))
    return tl.Call("where", (unit, x, tl.Call("where", (tl.BinOp("==", x, T.literal(0, dt)), zero,
                                                         T.literal(0, dt)))))


def _invert(a: list[tl.Node], dt: DType) -> tl.Node:
    return tl.UnaryOp("not", a[0]) if dt.kind == "b" else tl.UnaryOp("~", a[0])


#: name -> (NumPy function for typing, arity, tasklet builder, computes in operands' common dtype)
UFUNCS: dict[str, tuple[Any, int, Callable[[list[tl.Node], DType], tl.Node], bool]] = {
    "add": (np.add, 2, _bitwise("+", "or"), False),             # bool + bool is logical or in NumPy
    "subtract": (np.subtract, 2, _bin("-"), False),
    "multiply": (np.multiply, 2, _bitwise("*", "and"), False),
    "divide": (np.true_divide, 2, _bin("/"), False),
    "true_divide": (np.true_divide, 2, _bin("/"), False),
    "floor_divide": (np.floor_divide, 2, _bin("//"), False),
    "remainder": (np.remainder, 2, _bin("%"), False),
    "mod": (np.remainder, 2, _bin("%"), False),
    "power": (np.power, 2, _power, False),
    "maximum": (np.maximum, 2, _call("max"), False),
    "minimum": (np.minimum, 2, _call("min"), False),
    "fmax": (np.fmax, 2, _call("fmax"), False),         # NaN ignored (C's fmax), not propagated
    "fmin": (np.fmin, 2, _call("fmin"), False),
    "arctan2": (np.arctan2, 2, _call("arctan2"), False),
    "fmod": (np.fmod, 2, _call("fmod"), False),
    "greater": (np.greater, 2, _bin(">"), True),
    "greater_equal": (np.greater_equal, 2, _bin(">="), True),
    "less": (np.less, 2, _bin("<"), True),
    "less_equal": (np.less_equal, 2, _bin("<="), True),
    "equal": (np.equal, 2, _bin("=="), True),
    "not_equal": (np.not_equal, 2, _bin("!="), True),
    "logical_and": (np.logical_and, 2, _logical("and"), True),
    "logical_or": (np.logical_or, 2, _logical("or"), True),
    "logical_xor": (np.logical_xor, 2, _logical("!="), True),
    "bitwise_and": (np.bitwise_and, 2, _bitwise("&", "and"), False),
    "bitwise_or": (np.bitwise_or, 2, _bitwise("|", "or"), False),
    "bitwise_xor": (np.bitwise_xor, 2, _bitwise("^", "!="), False),
    "left_shift": (np.left_shift, 2, _bin("<<"), False),
    "right_shift": (np.right_shift, 2, _bin(">>"), False),
    "negative": (np.negative, 1, lambda a, dt: tl.UnaryOp("-", a[0]), False),
    "positive": (np.positive, 1, lambda a, dt: a[0], False),
    "absolute": (np.absolute, 1, _call("abs"), True),      # |complex| is computed on the complex value
    "fabs": (np.fabs, 1, _call("abs"), False),
    "square": (np.square, 1, lambda a, dt: tl.BinOp("*", a[0], a[0]), False),
    "reciprocal": (np.reciprocal, 1, lambda a, dt: _reciprocal(a[0], dt), False),
    "sign": (np.sign, 1, _call("sign"), False),
    "floor": (np.floor, 1, _rounding("floor"), False),
    "ceil": (np.ceil, 1, _rounding("ceil"), False),
    "exp": (np.exp, 1, _call("exp"), False),
    "expm1": (np.expm1, 1, _call("expm1"), False),
    "log": (np.log, 1, _call("log"), False),
    "log2": (np.log2, 1, _call("log2"), False),
    "log10": (np.log10, 1, _call("log10"), False),
    "log1p": (np.log1p, 1, _call("log1p"), False),
    "sqrt": (np.sqrt, 1, _call("sqrt"), False),
    "sin": (np.sin, 1, _call("sin"), False),
    "cos": (np.cos, 1, _call("cos"), False),
    "tan": (np.tan, 1, _call("tan"), False),
    "arcsin": (np.arcsin, 1, _call("arcsin"), False),
    "arccos": (np.arccos, 1, _call("arccos"), False),
    "arctan": (np.arctan, 1, _call("arctan"), False),
    "sinh": (np.sinh, 1, _call("sinh"), False),
    "cosh": (np.cosh, 1, _call("cosh"), False),
    "tanh": (np.tanh, 1, _call("tanh"), False),
    "erf": (np.sin, 1, _call("erf"), False),          # typed like any float-valued ufunc
    "isnan": (np.isnan, 1, _call("isnan"), True),
    "isinf": (np.isinf, 1, _call("isinf"), True),
    "isfinite": (np.isfinite, 1,
                 lambda a, dt: tl.UnaryOp("not", tl.BinOp("or", tl.Call("isnan", (a[0],)),
                                                          tl.Call("isinf", (a[0],)))), True),
    "logical_not": (np.logical_not, 1, lambda a, dt: tl.UnaryOp("not", a[0]), True),
    "invert": (np.invert, 1, _invert, False),
    "conjugate": (np.conjugate, 1, _call("conj"), False),
    "real": (np.real, 1, _call("real"), True),          # computed on the complex value
    "imag": (np.imag, 1, _call("imag"), True),
    "angle": (np.angle, 1, _call("angle"), True),
}

#: the ufuncs generated code computes on complex values (std::complex has no order, no erf, ...)
COMPLEX_UFUNCS = frozenset({
    "add", "subtract", "multiply", "divide", "true_divide", "power", "negative", "positive", "absolute",
    "square", "reciprocal", "exp", "log", "log10", "sqrt", "sin", "cos", "tan", "sinh", "cosh", "tanh",
    "arcsin", "arccos", "arctan", "equal", "not_equal", "conjugate", "real", "imag", "angle",
})

_FOLD_SYM = {"add": lambda a, b: a + b, "subtract": lambda a, b: a - b, "multiply": lambda a, b: a * b,
             "floor_divide": lambda a, b: sympy.floor(a / b), "remainder": lambda a, b: sympy.Mod(a, b),
             "mod": lambda a, b: sympy.Mod(a, b), "maximum": lambda a, b: sympy.Max(a, b),
             "minimum": lambda a, b: sympy.Min(a, b)}


_COMPARE_OPS = {"greater": operator.gt, "greater_equal": operator.ge, "less": operator.lt,
                "less_equal": operator.le, "equal": operator.eq, "not_equal": operator.ne}


def _compare_out_of_range(name: str, values: Sequence[Any], compute: DType) -> Optional[bool]:
    """NumPy 2 compares an integer array with a Python int outside its dtype's range exactly
    (``uint8_array < 300`` is all True), where casting the int to the dtype would wrap: every
    element then compares as the dtype's minimum does. None when no operand is out of range."""
    info = np.iinfo(compute.numpy)
    if not any(isinstance(v, int) and not info.min <= v <= info.max for v in values):
        return None
    return bool(_COMPARE_OPS[name](*(info.min if v is None else v for v in values)))


def _weak_value(v: Any) -> Any:
    """The Python number a weak constant stands for (folding may leave a NumPy scalar in it,
    which NumPy would take as strong); None for anything else."""
    if not (isinstance(v, Const) and v.weak):
        return None
    return {"b": bool, "i": int, "u": int, "f": float, "c": complex}[v.dtype.kind](v.value)


def check_stored_int(v: Any, dtype: DType, what: str) -> None:
    """NumPy refuses to store a Python int that an integer dtype cannot hold (``u8[0] = 300``,
    ``np.full(n, -1, np.uint8)`` raise OverflowError) rather than wrapping it."""
    pv = _weak_value(v)
    if dtype.is_integer and type(pv) is int:
        info = np.iinfo(dtype.numpy)
        if not info.min <= pv <= info.max:
            raise LoweringError(f"{what}: Python integer {pv} is out of bounds for {dtype.name} "
                                f"(NumPy raises OverflowError)", f"a value in [{info.min}, {info.max}], or an "
                                f"explicit cast such as np.{dtype.name}(...) of an array")


def _py_value(v: Const) -> Any:
    """What NumPy sees for a constant: a Python number when weak (a NumPy scalar left in the value
    by an earlier fold, ``-0.25`` being ``np.negative(0.25)``, would be strong), else the dtype's scalar."""
    if v.weak:
        return {"b": bool, "i": int, "u": int, "f": float, "c": complex}[v.dtype.kind](v.value)
    return v.dtype.numpy.type(v.value)


def ufunc(name: str, args: Sequence[Any], numpy_call: bool = False) -> Any:
    """Apply the element-wise operation ``name`` (a key of ``UFUNCS``) with NumPy semantics.

    ``numpy_call``: spelled as a NumPy function (``np.add(2, 3)``), whose result on Python
    numbers is a NumPy scalar, which is strong in later promotion; an operator on Python
    numbers (``2 + 3``) gives a weak Python number."""
    fn, arity, build, compare = UFUNCS[name]
    if len(args) != arity:
        raise LoweringError(f"{name} takes {arity} operand(s), got {len(args)}")
    for a in args:
        if not is_arraylike(a):
            raise LoweringError(f"{describe(a)} cannot be an operand of {name}")
    if all(isinstance(a, Const) for a in args):
        if name == "erf":
            return Const(math.erf(float(args[0].value)), FLOAT64 if args[0].weak else args[0].dtype,
                         args[0].weak)
        with np.errstate(all="ignore"):
            try:
                out = fn(*(_py_value(a) for a in args))
            except (TypeError, ZeroDivisionError, ValueError) as exc:
                raise LoweringError(f"{name} of constants fails in NumPy: {exc}") from None
        weak = all(a.weak for a in args) and not numpy_call
        if weak and isinstance(out, (bool, int, float, complex)):
            py = {"b": bool, "i": int, "u": int, "f": float, "c": complex}[np.asarray(out).dtype.kind](out)
            return Const(py, dtype_of(np.asarray(out).dtype), True)
        arr = np.asarray(out)
        return Const(arr.item(), dtype_of(arr.dtype), weak)
    syms = all(isinstance(a, Sym) or (isinstance(a, Const) and a.weak and a.dtype.is_integer) for a in args)
    if syms and name in _FOLD_SYM and any(isinstance(a, Sym) for a in args):
        exprs = [a.expr if isinstance(a, Sym) else sympy.Integer(int(a.value)) for a in args]
        return Sym(sympy.sympify(_FOLD_SYM[name](*exprs)))
    if syms and name == "negative":
        return Sym(-args[0].expr)
    if syms and name == "power" and isinstance(args[1], Const) and int(args[1].value) >= 0:
        return Sym(args[0].expr ** int(args[1].value))
    shape, lazies = combine(args)
    if name not in COMPLEX_UFUNCS and any(lz.dtype.kind == "c" for lz in lazies):
        raise LoweringError(f"{name} is not supported on complex values",
                            f"on complex arrays: {', '.join(sorted(COMPLEX_UFUNCS))}")
    values = [_weak_value(a) for a in args]
    result, weak = T.ufunc_result(fn, [(lz.dtype, lz.weak) for lz in lazies], values)
    weak = weak and not numpy_call
    if name.startswith("logical"):
        compute = BOOL
    elif compare:
        compute, _ = T.promote([(lz.dtype, lz.weak) for lz in lazies])
        if name in _COMPARE_OPS and compute.is_integer:
            decided = _compare_out_of_range(name, values, compute)
            if decided is not None:
                return Lazy(shape, BOOL, T.literal(decided, BOOL), {}, weak)
    else:
        compute = result
    if compute.name == "float16" and name not in _F16_NATIVE:
        # NumPy computes float16 math in float32 and rounds the result (C++ has no float16 libm)
        nodes = [T.cast_to(lz.node, lz.dtype, FLOAT32) for lz in lazies]
        node = T.cast_to(build(nodes, FLOAT32), FLOAT32, compute) if not compare else build(nodes, FLOAT32)
        return make(shape, result, node, lazies, weak)
    nodes = [T.cast_to(lz.node, lz.dtype, compute) for lz in lazies]
    node = build(nodes, compute)
    if not compare and compute.is_integer and compute.itemsize < 4 and isinstance(node, (tl.BinOp, tl.UnaryOp)):
        # C++ computes int8/int16 arithmetic in int: wrap to the NumPy dtype after each operation
        # (int8 127 + 1 is -128 before the next operation reads it)
        node = tl.Call(compute.name, (node,))
    return make(shape, result, node, lazies, weak)


def where(cond: Any, a: Any, b: Any, numpy_call: bool = False) -> Any:
    """``np.where(cond, a, b)`` (or ``a if cond else b`` on scalars, with ``numpy_call`` False).

    A condition known at lowering time selects an operand, but ``np.where`` still broadcasts
    both operands and the condition to one shape and promotes both operands' dtypes: only
    Python's ``a if c else b`` returns the chosen operand as it is."""
    if isinstance(cond, Const) and not numpy_call:
        return a if bool(cond.value) else b
    if isinstance(cond, Const) and isinstance(a, Const) and isinstance(b, Const):
        out = np.asarray(np.where(_py_value(cond), _py_value(a), _py_value(b)))
        return Const(out.item(), dtype_of(out.dtype), False)
    shape, (lc, la, lb) = combine([cond, a, b])
    dt, weak = T.promote([(la.dtype, la.weak), (lb.dtype, lb.weak)])
    if isinstance(cond, Const):
        pick = la if bool(cond.value) else lb
        return Lazy(shape, dt, T.cast_to(pick.node, pick.dtype, dt), pick.leaves, False)
    node = tl.Call("where", (T.cast_to(lc.node, lc.dtype, BOOL), T.cast_to(la.node, la.dtype, dt),
                             T.cast_to(lb.node, lb.dtype, dt)))
    return make(shape, dt, node, [lc, la, lb], weak and not lc.leaves and not numpy_call)


def clip(x: Any, lo: Optional[Any], hi: Optional[Any]) -> Any:
    """``np.clip(x, lo, hi)``; either bound may be None."""
    operands = [v for v in (x, lo, hi) if v is not None]
    shape, lazies = combine(operands)
    samples = [T.sample(lz.dtype, lz.weak) if _weak_value(v) is None else _weak_value(v)
               for v, lz in zip(operands, lazies)]
    full = [samples[0], samples[1] if lo is not None else None,
            samples[-1] if hi is not None else None]
    try:
        with np.errstate(all="ignore"):
            dt = dtype_of(np.asarray(np.clip(*full)).dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        raise LoweringError(f"np.clip: {exc}") from None
    if dt.is_integer:
        # NumPy accepts a Python int bound beyond the dtype's range on the side where it clips
        # nothing (a lower bound below the minimum, an upper bound above the maximum): no bound
        info = np.iinfo(dt.numpy)
        lo_v, hi_v = _weak_value(lo), _weak_value(hi)
        if isinstance(lo_v, int) and lo_v < info.min or isinstance(hi_v, int) and hi_v > info.max:
            return clip(x, None if isinstance(lo_v, int) and lo_v < info.min else lo,
                        None if isinstance(hi_v, int) and hi_v > info.max else hi)
    it = iter(lazies)
    node = T.cast_to(next(it).node, lazies[0].dtype, dt)
    if lo is not None:
        lz = next(it)
        node = tl.Call("max", (node, T.cast_to(lz.node, lz.dtype, dt)))
    if hi is not None:
        lz = next(it)
        node = tl.Call("min", (node, T.cast_to(lz.node, lz.dtype, dt)))
    return make(shape, dt, node, lazies, False)


def index_lazy(shape: Sequence[Any], dim: int, dtype: DType = INT64) -> Lazy:
    """The index along dimension ``dim`` of an expression of ``shape`` (for arange, eye, ...)."""
    node = T.cast_to(tl.Name(placeholder_name(dim)), INT64, dtype)
    return Lazy(tuple(sympy.sympify(s) for s in shape), dtype, node, {}, False)
