"""The table of supported functions and methods, and argument binding.

``FUNCTIONS`` maps each supported callable, spelled as users write it
(``np.sum``, ``np.linalg.solve``, ``math.erf``, ``abs``), to its lowering;
``METHODS`` maps array methods (``ndarray.sum``) and ufunc methods
(``ufunc.reduce``). The user guide ``docs/numpy_subset.md`` is checked
against these two tables by a test, so the documentation cannot drift.
"""

from __future__ import annotations

import builtins
import importlib
import math
from typing import Any, Callable

import numpy as np

from .errors import LoweringError
from .values import Value, describe

Handler = Callable[..., Value]
FUNCTIONS: dict[str, Handler] = {}
METHODS: dict[str, Handler] = {}


def function(*names: str) -> Callable[[Handler], Handler]:
    """Register a lowering for NumPy/Python functions ``names``: ``handler(lw, args, kwargs)``."""
    def deco(fn: Handler) -> Handler:
        for n in names:
            FUNCTIONS[n] = fn
        return fn
    return deco


def method(*names: str) -> Callable[[Handler], Handler]:
    """Register a lowering for methods ``names``: ``handler(lw, owner, args, kwargs)``."""
    def deco(fn: Handler) -> Handler:
        for n in names:
            METHODS[n] = fn
        return fn
    return deco


_MODULES = {"np": "numpy", "np.linalg": "numpy.linalg", "math": "math", "scipy.special": "scipy.special"}
_BY_OBJECT: dict[int, str] = {}
_KEEP: list[Any] = []


def _resolve(name: str) -> Any:
    mod, _, attr = name.rpartition(".")
    if not mod:
        return getattr(builtins, attr, None)
    if mod == "np":
        return getattr(np, attr, None)
    if mod == "math":
        return getattr(math, attr, None)
    try:
        return getattr(importlib.import_module(_MODULES.get(mod, mod)), attr, None)
    except ImportError:
        return None


def name_of(obj: Any) -> str | None:
    """The table name of a Python callable, or None when it is not supported."""
    if not _BY_OBJECT:
        for name in FUNCTIONS:
            o = _resolve(name)
            if o is not None and id(o) not in _BY_OBJECT:
                _BY_OBJECT[id(o)] = name
                _KEEP.append(o)
    name = _BY_OBJECT.get(id(obj))
    if name is None and isinstance(obj, np.ufunc) and obj.__name__ == "erf":
        return "scipy.special.erf"
    return name


def spelled(obj: Any) -> str:
    mod = getattr(obj, "__module__", None) or ""
    n = getattr(obj, "__name__", repr(obj))
    if mod.startswith("numpy"):
        return f"np.{n}" if mod in ("numpy", "numpy._core.numeric", "numpy._core.fromnumeric") else f"{mod}.{n}"
    return f"{mod}.{n}" if mod and mod != "builtins" else n


class Args:
    """Arguments bound to a NumPy-like signature."""

    def __init__(self, fname: str, args: list[Value], kwargs: dict[str, Value], params: list[str],
                 defaults: dict[str, Any] | None = None, *, ignore: tuple[str, ...] = (),
                 max_positional: int | None = None):
        defaults = defaults or {}
        names = params + [k for k in defaults if k not in params]
        self.values: dict[str, Any] = {}
        self.given: set[str] = set()
        limit = len(names) if max_positional is None else max_positional
        if len(args) > limit:
            raise LoweringError(f"{fname}() takes at most {limit} positional argument(s), "
                                f"{len(args)} given", f"{fname}({', '.join(names)})")
        for n, v in zip(names, args):
            self.values[n] = v
            self.given.add(n)
        for k, v in kwargs.items():
            if k in ignore:
                continue
            if k not in names:
                raise LoweringError(f"{fname}() got the keyword argument {k!r}, which flowc does not support",
                                    f"{fname}({', '.join(names)})")
            if k in self.values:
                raise LoweringError(f"{fname}() got multiple values for argument {k!r}")
            self.values[k] = v
            self.given.add(k)
        for n in params:
            if n not in self.values and n not in defaults:
                raise LoweringError(f"{fname}() is missing the required argument {n!r}",
                                    f"{fname}({', '.join(names)})")
        for k, d in defaults.items():
            self.values.setdefault(k, d)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def none(self, key: str) -> bool:
        from .values import PyValue

        v = self.values.get(key)
        return v is None or (isinstance(v, PyValue) and v.obj is None)

    def dtype(self, default: Any = None) -> Any:
        """The ``dtype=`` argument as a DType (``default`` when absent or None)."""
        from .values import dtype_value

        if self.none("dtype"):
            return default
        dt = dtype_value(self.values["dtype"])
        if dt is None:
            raise LoweringError(f"dtype= must be a dtype (flowc.float32, np.float64, float, ...), "
                                f"not {describe(self.values['dtype'])}")
        return dt


def not_supported(what: Any, hint: str = "") -> LoweringError:
    return LoweringError(f"{describe(what) if not isinstance(what, str) else what} is not supported in flowc "
                         "programs", hint or "see docs/numpy_subset.md for the supported NumPy subset")
