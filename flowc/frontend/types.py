"""NumPy's typing rules, computed by NumPy itself, and NumPy's broadcasting, on symbolic shapes.

Result dtypes are never tabulated here: each operation asks NumPy what it
would produce for operands of the same kinds (a one-element array of the
dtype for an array, the Python number itself for a weak Python scalar), so
the frontend follows NumPy 2 / NEP 50 exactly — ``float32_array * 2.0`` is
float32, ``int32 / int32`` is float64, ``np.exp(int16)`` is float32.

The tasklet language follows C++ arithmetic, which differs (``int8 + int8``
is ``int`` in C++); ``cast_to`` inserts explicit casts so each operation
computes in NumPy's dtype.
"""

from __future__ import annotations

import contextvars
import math
import warnings
from typing import Any, Callable, Optional, Sequence

import numpy as np
import sympy

from flowc.ir import expr as tl
from flowc.ir.dtypes import DType, dtype_of
from flowc.ir.symbolic import Expr, provably_different, provably_equal

from .errors import LoweringError

_WEAK_SAMPLE = {"b": True, "i": 1, "u": 1, "f": 1.0, "c": 1j}


def sample(dtype: DType, weak: bool) -> Any:
    """What NumPy should see in place of an operand when computing a result type."""
    if weak:
        return _WEAK_SAMPLE[dtype.kind]
    return np.ones(1, dtype=dtype.numpy)


def ufunc_result(ufunc: Any, operands: Sequence[tuple[DType, bool]],
                 values: Optional[Sequence[Any]] = None) -> tuple[DType, bool]:
    """(dtype, weak) of ``ufunc(*operands)`` by asking NumPy; weak when every operand is.

    ``values``: per operand, the Python number of a weak constant (None otherwise). NumPy sees the
    number itself, so it refuses what it refuses at run time: ``uint8_array + 300`` (OverflowError:
    the Python int does not fit the array's dtype), ``int_array ** -1`` (ValueError)."""
    samples = [v if w and v is not None else sample(d, w)
               for (d, w), v in zip(operands, values or [None] * len(operands))]
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            out = ufunc(*samples)
    except TypeError as exc:
        names = ", ".join(d.name for d, _ in operands)
        raise LoweringError(f"NumPy does not support {getattr(ufunc, '__name__', ufunc)} on ({names}): {exc}") \
            from None
    except (OverflowError, ValueError) as exc:
        args = ", ".join(repr(v) if w and v is not None else f"{d.name} array"
                         for (d, w), v in zip(operands, values or [None] * len(operands)))
        raise LoweringError(f"NumPy raises {type(exc).__name__} for {getattr(ufunc, '__name__', ufunc)}({args}): "
                            f"{exc}") from None
    weak = all(w for _, w in operands)
    return _to_dtype(np.asarray(out).dtype), weak


def promote(operands: Sequence[tuple[DType, bool]]) -> tuple[DType, bool]:
    """``np.result_type`` with weak Python scalars."""
    try:
        dt = np.result_type(*(sample(d, w) if w else d.numpy for d, w in operands))
    except TypeError as exc:
        raise LoweringError(f"no common dtype for {', '.join(d.name for d, _ in operands)}: {exc}") from None
    return _to_dtype(dt), all(w for _, w in operands)


def _to_dtype(dt: Any) -> DType:
    try:
        return dtype_of(dt)
    except TypeError as exc:
        raise LoweringError(str(exc)) from None


def can_cast(src: DType, dst: DType, casting: str = "same_kind") -> bool:
    return bool(np.can_cast(src.numpy, dst.numpy, casting=casting))


# ---------------------------------------------------------------- shapes

#: size symbols the frontend may identify with each other: those it invented for
#: unannotated parameters (the public API types them from the first call)
UNIFIABLE: contextvars.ContextVar[frozenset] = contextvars.ContextVar("flowc_unifiable", default=frozenset())


class Unify(Exception):
    """Two inferred sizes must be equal for the program to make sense (``x + y`` with
    unannotated ``x`` and ``y``): lowering restarts with the symbol ``drop`` replaced by
    ``replacement`` in the parameter types, so the runtime checks the equality at every
    call, as NumPy would."""

    def __init__(self, drop: str, replacement: Expr):
        super().__init__(f"unify {drop} with {replacement}")
        self.drop, self.replacement = drop, replacement


#: records that two sizes must be equal on every call (``Lowering.require_equal``); returns
#: False where the condition cannot be checked per call (it involves a loop variable)
EQUATE: contextvars.ContextVar[Optional[Callable[[Expr, Expr, str], bool]]] = \
    contextvars.ContextVar("flowc_equate", default=None)

#: the most residue classes ``_by_residues`` checks (the product of the symbols' periods)
def same(a: Expr, b: Expr) -> bool:
    """Whether two symbolic sizes are provably equal for every integer value of their symbols."""
    return provably_equal(a, b)


def never_equal(a: Expr, b: Expr) -> bool:
    """Whether two sizes differ for every integer value of their symbols (``3`` and ``4``,
    ``N`` and ``N + 1``, ``2 * (N // 2)`` and ``2 * (N // 2) + 1``)."""
    return provably_different(a, b)


def is_one(a: Expr) -> bool:
    return sympy.sympify(a) == 1


def fmt_shape(shape: Sequence[Expr]) -> str:
    inner = ", ".join(str(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def must_match(a: Expr, b: Expr) -> bool:
    """``same(a, b)``, except that an inferred symbol is unified with the other size."""
    if same(a, b):
        return True
    a, b = sympy.sympify(a), sympy.sympify(b)
    names = UNIFIABLE.get()
    if a.is_Symbol and b.is_Symbol and a.name in names and b.name in names:
        keep, drop = sorted((a.name, b.name))
        raise Unify(drop, sympy.Symbol(keep, integer=True))
    if a.is_Symbol and a.name in names and a not in b.free_symbols:
        raise Unify(a.name, b)
    if b.is_Symbol and b.name in names and b not in a.free_symbols:
        raise Unify(b.name, a)
    return False


def broadcast_shapes(*shapes: Sequence[Expr]) -> tuple[Expr, ...]:
    """NumPy broadcasting on symbolic shapes; a mismatch is a LoweringError."""
    ndim = max((len(s) for s in shapes), default=0)
    out: list[Expr] = []
    for k in range(ndim):
        dim: Expr = sympy.Integer(1)
        for s in shapes:
            j = k - (ndim - len(s))
            if j < 0:
                continue
            d = sympy.sympify(s[j])
            if is_one(d):
                continue
            if is_one(dim):
                dim = d
            elif must_match(dim, d):
                continue
            elif match_or_require(dim, d, f"broadcasting shapes {', '.join(fmt_shape(x) for x in shapes)} "
                                          f"requires {dim} == {d} in dimension {k}"):
                dim = min(dim, d, key=_canonical)
            else:
                raise LoweringError(
                    f"shapes {', '.join(fmt_shape(x) for x in shapes)} cannot be broadcast together "
                    f"(dimension {k}: {dim} vs {d})",
                    "operands whose sizes are equal or 1 in each dimension (aligned from the right)")
        out.append(dim)
    return tuple(out)


def _canonical(e: Expr) -> tuple:
    """The order in which a size required equal to another represents both: a constant first,
    then the simpler expression (a total order, so every broadcast of the same operands agrees)."""
    return (not e.is_number, sympy.count_ops(e), sympy.srepr(e))


def match_or_require(a: Expr, b: Expr, why: str) -> bool:
    """Whether sizes ``a`` and ``b`` are equal, or may be and are now required equal: proven
    equal (``must_match``) is True; never equal is False; otherwise ``a == b`` becomes a
    condition the runtime checks on every call, where a lowering is listening and the sizes
    depend only on the program's symbols (not on a loop variable). ``why`` starts the error
    message the runtime gives. flowc does not broadcast a symbolic size that is 1 at run
    time: it requires the sizes equal."""
    if must_match(a, b):
        return True
    hook = EQUATE.get()
    if hook is None or never_equal(a, b):
        return False
    return hook(a, b, f"{why} (flowc does not broadcast a symbolic size that is 1 at run time), so it")


# ---------------------------------------------------------------- tasklet literals and casts

def literal(value: Any, dtype: DType) -> tl.Node:
    """A tasklet-language constant of ``dtype``."""
    if dtype.kind == "b":
        return tl.Const(bool(value), "bool")
    if dtype.is_integer:
        node = tl.Const(int(value), "int64")
        return node if dtype.name == "int64" else tl.Call(dtype.name, (node,))
    if dtype.kind == "f":
        v = float(value)
        if dtype.name == "float32":
            return tl.Const(v, "float32")
        node = tl.Const(v, "float64")
        return node if dtype.name == "float64" else tl.Call(dtype.name, (node,))
    if dtype.kind == "c":
        v = complex(value)
        part = "float32" if dtype.name == "complex64" else "float64"
        return tl.Call(dtype.name, (tl.Const(v.real, part), tl.Const(v.imag, part)))
    raise LoweringError(f"constants of dtype {dtype.name} are not supported in element-wise code",
                        "float, integer, complex and bool constants")


def cast_to(node: tl.Node, src: DType, dst: DType) -> tl.Node:
    """``node`` (computed in ``src``) converted to ``dst``; constants are retyped in place."""
    if src == dst:
        return node
    if isinstance(node, tl.Const) and dst.kind in "biuf" and not (
            isinstance(node.value, float) and (math.isnan(node.value) or math.isinf(node.value))
            and dst.kind != "f"):
        value = node.value
        if dst.kind == "b":
            return literal(bool(value), dst)
        if dst.is_integer:
            return literal(int(np.array(value).astype(dst.numpy)), dst)
        return literal(float(value), dst)
    if dst.kind == "b":
        if src.kind == "b":
            return node
        return tl.BinOp("!=", node, literal(0, src))
    return tl.Call(dst.name, (node,))


def sym_to_tl(expr: Expr) -> tl.Node:
    """A symbolic integer expression as a tasklet expression (int64 arithmetic)."""
    expr = sympy.sympify(expr)
    if expr.is_Integer:
        return tl.Const(int(expr), "int64")
    if expr.is_Symbol:
        return tl.Name(expr.name)
    if expr.is_Add:
        terms = list(expr.as_ordered_terms())
        node = sym_to_tl(terms[0])
        for t in terms[1:]:
            coeff, rest = t.as_coeff_Mul()
            if coeff.is_negative:
                node = tl.BinOp("-", node, sym_to_tl(-t))
            else:
                node = tl.BinOp("+", node, sym_to_tl(t))
        return node
    if expr.is_Mul:
        num, den = sympy.fraction(expr)
        if den != 1:
            return tl.BinOp("//", sym_to_tl(num), sym_to_tl(den))
        coeff, rest = expr.as_coeff_Mul()
        if coeff == -1:
            return tl.UnaryOp("-", sym_to_tl(rest))
        factors = list(expr.as_ordered_factors())
        node = sym_to_tl(factors[0])
        for f in factors[1:]:
            node = tl.BinOp("*", node, sym_to_tl(f))
        return node
    if expr.is_Pow and expr.args[1].is_Integer and int(expr.args[1]) >= 0:
        base = sym_to_tl(expr.args[0])
        node: tl.Node = tl.Const(1, "int64")
        for _ in range(int(expr.args[1])):
            node = base if node == tl.Const(1, "int64") else tl.BinOp("*", node, base)
        return node
    if isinstance(expr, sympy.floor):
        num, den = sympy.fraction(sympy.together(expr.args[0]))
        return tl.BinOp("//", sym_to_tl(num), sym_to_tl(den))
    if isinstance(expr, sympy.ceiling):
        num, den = sympy.fraction(sympy.together(expr.args[0]))
        return tl.UnaryOp("-", tl.BinOp("//", tl.UnaryOp("-", sym_to_tl(num)), sym_to_tl(den)))
    if isinstance(expr, sympy.Mod):
        return tl.BinOp("%", sym_to_tl(expr.args[0]), sym_to_tl(expr.args[1]))
    if isinstance(expr, (sympy.Min, sympy.Max)):
        fn = "min" if isinstance(expr, sympy.Min) else "max"
        args = [sym_to_tl(a) for a in expr.args]
        node = args[0]
        for a in args[1:]:
            node = tl.Call(fn, (node, a))
        return node
    if isinstance(expr, sympy.Abs):
        return tl.Call("abs", (sym_to_tl(expr.args[0]),))
    raise LoweringError(f"the symbolic expression {expr} cannot be used in element-wise code")
