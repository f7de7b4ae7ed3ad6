"""Helpers for frontend tests: run a program and its NumPy reference on copies of fresh inputs."""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np


def _copy(a: Any) -> Any:
    return a.copy() if isinstance(a, np.ndarray) else a


def _tol(arrays: list[np.ndarray]) -> tuple[float, float]:
    kinds = {np.asarray(a).dtype for a in arrays}
    if np.dtype(np.float16) in kinds:
        return 2e-2, 2e-2
    if np.dtype(np.float32) in kinds or np.dtype(np.complex64) in kinds:
        return 2e-4, 2e-5
    return 1e-9, 1e-11


def assert_same(out: Any, exp: Any, check_dtype: bool = True, float32_inputs: bool = False) -> None:
    """Values, shapes and (optionally) dtypes equal up to a dtype-dependent tolerance
    (float32 tolerance also for float64 results computed from float32 inputs)."""
    if isinstance(exp, tuple):
        assert isinstance(out, tuple) and len(out) == len(exp), f"expected {len(exp)} results, got {out!r}"
        for o, e in zip(out, exp):
            assert_same(o, e, check_dtype, float32_inputs)
        return
    o, e = np.asarray(out), np.asarray(exp)
    assert o.shape == e.shape, f"shape {o.shape} != expected {e.shape}"
    if check_dtype:
        assert o.dtype == e.dtype, f"dtype {o.dtype} != expected {e.dtype}"
    rtol, atol = _tol([o, e] + ([np.float32(0)] if float32_inputs else []))
    if e.dtype.kind in "biu":
        np.testing.assert_array_equal(o, e)
    else:
        np.testing.assert_allclose(o, e, rtol=rtol, atol=atol)


def run_both(prog: Any, *args: Any, ref: Optional[Callable[..., Any]] = None, check_dtype: bool = True,
             symbols: Optional[dict[str, int]] = None) -> Any:
    """Call ``prog`` and its reference (default: the undecorated function run by NumPy) on copies
    of ``args``; compare results and every array argument afterwards (in-place writes)."""
    mine = [_copy(a) for a in args]
    theirs = [_copy(a) for a in args]
    out = prog(*mine, **(symbols or {}))
    exp = (ref or prog.func)(*theirs)
    if exp is not None:
        assert_same(out, exp, check_dtype)
    for m, t in zip(mine, theirs):
        if isinstance(m, np.ndarray):
            assert_same(m, t, check_dtype)
    return out


def rand(rng: np.random.Generator, shape: Any, dtype: Any = np.float64, low: float = -1.0,
         high: float = 1.0) -> np.ndarray:
    """Random values (never zeros): floats in [low, high), ints in [1, 10)."""
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        return rng.integers(1, 10, size=shape).astype(dt)
    if dt.kind == "b":
        return rng.random(shape) < 0.5
    return (low + (high - low) * rng.random(shape)).astype(dt)


def with_symbols(func: Callable[..., Any], **values: int) -> Callable[..., Any]:
    """The undecorated program body as a NumPy function, with its size symbols bound to ``values``."""
    import types

    return types.FunctionType(func.__code__, {**func.__globals__, **values}, func.__name__, func.__defaults__,
                              func.__closure__)
