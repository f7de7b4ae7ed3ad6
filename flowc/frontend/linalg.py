"""Linear algebra: ``np.linalg.cholesky``, ``solve`` and ``inv`` as LAPACK library nodes.

Operands are 2-D (``solve``'s right-hand side 1-D or 2-D); integer inputs are
converted to float64 as NumPy does, float32 stays float32. Each call is one
library node (``ir.library_extra``) reading whole containers (views are
fine) into a new contiguous result. Stacks of matrices (more than two
dimensions) are not supported.
"""

from __future__ import annotations

from flowc.ir.dtypes import DType, dtype_of
from flowc.ir.library_extra import Cholesky, Inv, Solve

from . import elementwise as ew
from . import types as T
from .context import Lowering
from .emit import as_ref, library
from .errors import LoweringError
from .registry import Args, function
from .values import Value, describe, is_arraylike


def _float_type(v: Value, fname: str) -> DType:
    if v.dtype.name in ("float32", "float64"):
        return v.dtype
    if v.dtype.is_integer or v.dtype.kind == "b":
        return dtype_of("float64")
    raise LoweringError(f"{fname}: arrays of dtype {v.dtype.name} are not supported", "float32 or float64")


def _matrix(lw: Lowering, v: Value, fname: str, dt: DType) -> str:
    if not is_arraylike(v) or len(v.shape) != 2:
        shape = T.fmt_shape(v.shape) if is_arraylike(v) else describe(v)
        raise LoweringError(f"{fname} needs a 2-D square matrix, got {shape}",
                            "stacks of matrices are not supported; loop over them")
    if not T.must_match(v.shape[0], v.shape[1]):
        raise LoweringError(f"{fname}: the matrix must be square, got shape {T.fmt_shape(v.shape)}")
    return lw.container(as_ref(lw, ew.cast(v, dt) if v.dtype != dt else v, "la_in"))


@function("np.linalg.cholesky")
def _cholesky(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
    a = Args("np.linalg.cholesky", args, kwargs, ["a"], {"upper": None})
    if not a.none("upper"):
        raise LoweringError("np.linalg.cholesky(upper=...) is not supported", "transpose the lower factor")
    x = a["a"]
    dt = _float_type(x, "np.linalg.cholesky")
    src = _matrix(lw, x, "np.linalg.cholesky", dt)
    out = lw.temp(tuple(x.shape), dt, "chol")
    library(lw, Cholesky("cholesky"), {"_a": src}, {"_l": out.data})
    return out


@function("np.linalg.solve")
def _solve(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
    a = Args("np.linalg.solve", args, kwargs, ["a", "b"])
    x, b = a["a"], a["b"]
    if not is_arraylike(b) or len(b.shape) not in (1, 2):
        raise LoweringError("np.linalg.solve: b must be a vector or a matrix")
    dt, _ = T.promote([(_float_type(x, "np.linalg.solve"), False), (_float_type(b, "np.linalg.solve"), False)])
    src = _matrix(lw, x, "np.linalg.solve", dt)
    if not T.must_match(b.shape[0], x.shape[0]):
        raise LoweringError(f"np.linalg.solve: b of shape {T.fmt_shape(b.shape)} does not match a of shape "
                            f"{T.fmt_shape(x.shape)}")
    rhs = lw.container(as_ref(lw, ew.cast(b, dt) if b.dtype != dt else b, "la_rhs"))
    out = lw.temp(tuple(b.shape), dt, "solve")
    library(lw, Solve("solve"), {"_a": src, "_b": rhs}, {"_x": out.data})
    return out


@function("np.linalg.inv")
def _inv(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
    a = Args("np.linalg.inv", args, kwargs, ["a"])
    x = a["a"]
    dt = _float_type(x, "np.linalg.inv")
    src = _matrix(lw, x, "np.linalg.inv", dt)
    out = lw.temp(tuple(x.shape), dt, "inv")
    library(lw, Inv("inv"), {"_a": src}, {"_inv": out.data})
    return out
