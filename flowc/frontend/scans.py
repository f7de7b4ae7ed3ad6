"""Cumulative sums and products: ``np.cumsum``, ``np.cumprod`` and the ``ndarray`` methods.

Each call is one Scan library node (``ir.library_extra.Scan``) from a whole container (a view
or a copy of the operand) into a new container of the same shape. ``axis=None`` (the default)
scans the flattened array, as NumPy does. The result dtype is NumPy's: ``dtype=`` when given,
else the operand's dtype, with bool and integers narrower than 64 bits widened to int64 (uint64
for unsigned), as ``np.cumsum`` does on NumPy 2. Every step rounds to the result dtype, so
float16 scans accumulate in float16 exactly as NumPy's do.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from flowc.ir.dtypes import DType, dtype_of
from flowc.ir.library_extra import Scan

from . import elementwise as ew
from .context import Lowering
from .emit import as_ref, library
from .errors import LoweringError
from .registry import Args, function, method
from .shapes import reshape
from .values import Const, Value, describe, is_arraylike, static_axes

_NUMPY = {"sum": np.cumsum, "prod": np.cumprod}


def result_dtype(op: str, src: DType, dtype: Optional[DType]) -> DType:
    """NumPy's result dtype of ``np.cum<op>`` of ``src`` with ``dtype=`` (None when absent)."""
    out = _NUMPY[op](np.ones(1, dtype=src.numpy), dtype=None if dtype is None else dtype.numpy)
    return dtype_of(out.dtype)


def scan(lw: Lowering, op: str, x: Value, axis: Value, dtype: Optional[DType], fname: str) -> Value:
    if not is_arraylike(x):
        raise LoweringError(f"{fname} needs an array, not {describe(x)}")
    out_dt = result_dtype(op, x.dtype, dtype)
    if out_dt.kind == "c" and op == "prod":
        raise LoweringError(f"{fname} of complex values is not supported", "np.cumsum, or real arrays")
    if axis is None or len(x.shape) == 0:
        if axis is not None:
            static_axes(axis, 1, "axis")            # NumPy accepts axis 0 / -1 for a 0-d array
        x = reshape(lw, x, Const(-1, ew.INT64, True))
        ax = 0
    else:
        ax = static_axes(axis, len(x.shape), "axis")
        if len(ax) != 1:
            raise LoweringError(f"{fname}: axis must be one integer, not a tuple")
        ax = ax[0]
    src = lw.container(as_ref(lw, x, "scan_in"))
    out = lw.temp(tuple(x.shape), out_dt, f"cum{op}")
    library(lw, Scan(f"cum{op}", op=op, axis=ax), {"_in": src}, {"_out": out.data})
    return out


def _make(op: str) -> Any:
    def fn(lw: Lowering, args: list[Value], kwargs: dict[str, Value], self: Optional[Value] = None) -> Value:
        fname = f"np.cum{op}" if self is None else f"ndarray.cum{op}"
        if self is not None:
            args = [self, *args]
        a = Args(fname, args, kwargs, ["a", "axis", "dtype", "out"], {"axis": None, "dtype": None, "out": None})
        if not a.none("out"):
            raise LoweringError(f"{fname}(out=...) is not supported", f"y = {fname}(...)")
        return scan(lw, op, a["a"], None if a.none("axis") else a["axis"], a.dtype(), fname)

    return fn


for _op in ("sum", "prod"):
    _impl = _make(_op)
    function(f"np.cum{_op}")(lambda lw, args, kwargs, _f=_impl: _f(lw, args, kwargs))
    method(f"ndarray.cum{_op}")(lambda lw, self, args, kwargs, _f=_impl: _f(lw, args, kwargs, self))
