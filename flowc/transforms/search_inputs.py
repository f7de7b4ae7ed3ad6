"""The auto-search's inputs and its correctness gate: random arguments at the requested sizes,
sizes read from example arguments, and the comparison of a candidate's outputs with
``auto_optimize``'s on the same inputs."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from flowc.ir.data import Array, Scalar
from flowc.ir.program import Program
from flowc.ir.symbolic import as_expr


def size_of(expr: Any, sizes: dict[str, int], what: str) -> int:
    """``expr`` (a size expression of the IR) at ``sizes``; a ValueError naming what is missing."""
    e = as_expr(expr)
    missing = sorted(s.name for s in e.free_symbols if s.name not in sizes)
    if missing:
        raise ValueError(f"sizes: no value for {', '.join(missing)} (needed by {what})")
    return int(e.subs({s: sizes[s.name] for s in e.free_symbols}))


def _random_value(rng: np.random.Generator, dtype: np.dtype, shape: tuple[int, ...]) -> Any:
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        return rng.integers(0, 4, size=shape).astype(dtype)
    raise ValueError(f"cannot make random inputs of dtype {dtype}")


def random_inputs(program: Program, sizes: dict[str, int],
                  rng: Optional[np.random.Generator] = None) -> tuple[list[Any], dict[str, int]]:
    """Fresh random arguments for ``program``'s entry point at ``sizes`` (closure arrays keep
    their values) and the size symbols as keywords."""
    rng = rng or np.random.default_rng()
    closure = getattr(program, "closure_args", {})
    args: list[Any] = []
    for name in program.arg_names:
        if name in closure:
            args.append(closure[name])
            continue
        desc = program.data[name]
        if isinstance(desc, Scalar):
            v = _random_value(rng, desc.dtype.numpy, ())
            args.append(desc.dtype.numpy.type(v + 1 if desc.dtype.numpy.kind in "iuf" else v))
        else:
            assert isinstance(desc, Array)
            shape = tuple(size_of(s, sizes, f"the shape of {name}") for s in desc.shape)
            args.append(_random_value(rng, desc.dtype.numpy, shape))
    kwargs = {s: int(sizes[s]) for s in program.free_symbols() if s in sizes}
    missing = [s for s in program.free_symbols() if s not in sizes]
    if missing:
        raise ValueError(f"sizes: no value for {', '.join(missing)}")
    return args, kwargs


def sizes_from_args(program: Program, example_args: Sequence[Any]) -> dict[str, int]:
    """The size symbols' values that ``example_args`` (the function's arguments) imply."""
    args = list(example_args)
    sizes: dict[str, int] = {}
    for name, pos in sorted(getattr(program, "symbol_params", {}).items(), key=lambda kv: -kv[1]):
        if pos < len(args):
            sizes[name] = int(args.pop(pos))
    closure = getattr(program, "closure_args", {})
    names = [n for n in program.arg_names if n not in closure]
    if len(args) != len(names):
        raise ValueError(f"example_args: {program.name} takes {len(names)} arguments, got {len(args)}")
    for name, value in zip(names, args):
        desc = program.data[name]
        if isinstance(desc, Array):
            shape = np.shape(value)
            if len(shape) != desc.ndim:
                raise ValueError(f"example_args: {name} has {len(shape)} dimensions, the program expects {desc.ndim}")
            for s, n in zip(desc.shape, shape):
                s = as_expr(s)
                if s.is_Symbol:
                    sizes.setdefault(s.name, int(n))
    return sizes


def outputs(result: Any, args: list[Any]) -> list[np.ndarray]:
    """What a run produced: its results and its array arguments (a program may write them)."""
    res = list(result) if isinstance(result, tuple) else ([] if result is None else [result])
    return [np.asarray(r) for r in res] + [a for a in args if isinstance(a, np.ndarray)]


def why_differs(got: list[np.ndarray], want: list[np.ndarray]) -> Optional[str]:
    if len(got) != len(want):
        return f"{len(got)} outputs, expected {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        if g.shape != w.shape:
            return f"output {i} has shape {g.shape}, expected {w.shape}"
        if w.dtype.kind in "fc":
            tol = 1e-3 if w.dtype.itemsize <= 4 * (2 if w.dtype.kind == "c" else 1) else 1e-9
            scale = float(np.max(np.abs(w), initial=0.0))
            if not np.allclose(g, w, rtol=tol, atol=tol * max(1.0, scale), equal_nan=True):
                err = float(np.nanmax(np.abs(g - w))) if g.size else 0.0
                return f"output {i} differs from auto_optimize's by up to {err:.3g}"
        elif not np.array_equal(g, w):
            return f"output {i} differs from auto_optimize's"
    return None


def check_sizes(sizes: Any) -> dict[str, int]:
    if not isinstance(sizes, dict):
        raise TypeError(f"sizes must be a dict of symbol name → int, got {type(sizes).__name__}")
    out = {}
    for k, v in sizes.items():
        if not isinstance(k, str):
            raise TypeError(f"sizes: keys must be symbol names (str), got {k!r}")
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"sizes[{k!r}] must be an int, got {v!r}")
        if v < 1:
            raise ValueError(f"sizes[{k!r}] must be positive, got {v}")
        out[k] = int(v)
    return out
