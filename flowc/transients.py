"""DaCe's allocators of transients, ``flowc.define_local`` and ``flowc.define_local_scalar``.

Inside a program the frontend lowers them to new transient containers (uninitialized, like
``np.empty``). Called outside a program, as when the undecorated function runs as plain
NumPy, they allocate NumPy arrays with the same meaning, as DaCe's own definitions do.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from flowc.ir.dtypes import float32


def _numpy_dtype(dtype: Any) -> np.dtype:
    from flowc.ir.dtypes import dtype_of

    try:
        return dtype_of(dtype).numpy
    except TypeError:
        raise TypeError(f"parameter 'dtype' must be a dtype (flowc.float64, np.float32, float, ...), "
                        f"got {dtype!r}") from None


def define_local(dimensions: Sequence[int] | int, dtype: Any = float32) -> np.ndarray:
    """A new uninitialized array of shape ``dimensions`` (DaCe's spelling of ``np.empty``;
    the default dtype is float32, as in DaCe)."""
    return np.empty(dimensions, dtype=_numpy_dtype(dtype))


def define_local_scalar(dtype: Any = float32) -> np.ndarray:
    """A new uninitialized one-element array (DaCe: "a transient scalar (array of size 1)");
    write it with ``s[0] = ...``, or rebind the name."""
    return np.empty(1, dtype=_numpy_dtype(dtype))
