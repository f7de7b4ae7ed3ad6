"""The oracle: inputs from a program's annotations, NumPy's result, and the comparison.

A flowc program is valid NumPy, so the oracle is the same function run uncompiled, with the size
symbols bound to integers. Inputs are fresh random arrays; in about 30% of them some elements are
special values (inf, -inf, nan, +-0 for floats; INT_MIN, INT_MAX and their neighbours for ints), and
sometimes a whole array is +-inf (what max/min/argmax identities get wrong).

The comparison is strict where IEEE and two's complement are deterministic: the dtype and the
shape must equal NumPy's, integers and booleans must be equal, NaN and +-inf must be at the same
positions. Finite floats may differ by reassociation (sums, dot products, pairwise vs. sequential
order) and by a few ulp in transcendental functions: ``|got - want| <= rtol * (|want| + scale)``,
where ``scale`` is max(1, the largest finite magnitude of the expected array) and rtol is 2e-2 for
float16, 1e-3 for float32 and 1e-8 for float64, or that of the least precise float dtype the program
mentions (``rtol_floor``). The sign of zero is not compared.
"""

from __future__ import annotations

import types
import warnings
import zlib
from typing import Any, Callable, Optional

import numpy as np

RTOL = {"float16": 2e-2, "float32": 1e-3, "float64": 1e-8, "complex64": 1e-3, "complex128": 1e-8}
SPECIAL_FRACTION = 0.3


def sizes_for(seed: int) -> list[dict[str, int]]:
    """Three size sets: all ones, small (1..4 each) and medium."""
    r = np.random.default_rng([seed, 7])
    small = {s: int(r.integers(1, 5)) for s in ("K", "N", "M")}
    medium = {"K": int(r.integers(2, 5)), "N": int(r.integers(4, 17)), "M": int(r.integers(4, 33))}
    return [{"K": 1, "N": 1, "M": 1}, small, medium]


def _param_seed(name: str, seeds: dict[str, int], default: int) -> tuple[str, int]:
    """Batched programs name their parameters ``a__3`` (parameter ``a`` of member 3)."""
    local, _, member = name.partition("__")
    return local, seeds.get(member, default)


def make_inputs(func: Callable[..., Any], seed: int, size_index: int, sizes: dict[str, int],
                member_seeds: Optional[dict[str, int]] = None) -> list[Any]:
    """Arguments for ``func`` from its annotations. The values of a parameter depend only on its name,
    the seed and the size index, so removing another parameter (minimizing) does not change them."""
    import flowc
    from flowc.ir.data import ArrayType

    out = []
    for name, ann in func.__annotations__.items():
        if name == "return":
            continue
        local, pseed = _param_seed(name, member_seeds or {}, seed)
        r = np.random.default_rng([pseed, size_index, zlib.crc32(local.encode())])
        special = r.random() < SPECIAL_FRACTION
        if isinstance(ann, ArrayType):
            dt = np.dtype(ann.dtype.name)
            shape = tuple(int(sizes[str(s)]) if not isinstance(s, int) else s for s in ann.shape)
            out.append(_array(r, dt, shape, special))
        elif ann is float:
            out.append(float(_array(r, np.dtype("float64"), (), special)))
        elif ann is int:
            out.append(int(r.integers(-5, 6)))
        elif ann is bool:
            out.append(bool(r.random() < 0.5))
        elif isinstance(ann, type(flowc.float64)):
            out.append(np.dtype(ann.name).type(_array(r, np.dtype(ann.name), (), special)))
        else:
            raise TypeError(f"cannot make an input for annotation {ann!r}")
    return out


def _array(r: np.random.Generator, dt: np.dtype, shape: tuple, special: bool) -> np.ndarray:
    if dt.kind == "b":
        return np.asarray(r.random(shape) < 0.5)
    if dt.kind in "iu":
        v = r.integers(-9, 10, shape).astype(dt)
        if special:
            info = np.iinfo(dt)
            pool = np.array([info.min, info.max, info.min + 1, info.max - 1, 0, -1], dtype=dt)
            mask = r.random(shape) < 0.3
            v = np.where(mask, r.choice(pool, size=shape), v).astype(dt)
        return np.asarray(v)
    kind = r.integers(0, 3)
    v = (r.normal(size=shape) if kind == 0 else r.uniform(-2, 2, shape) if kind == 1
         else r.uniform(0.1, 3, shape))
    if special:
        if r.random() < 0.15:
            v = np.full(shape, r.choice([np.inf, -np.inf]))
        else:
            pool = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0])
            mask = r.random(shape) < 0.3
            v = np.where(mask, r.choice(pool, size=shape), v)
    return np.asarray(v).astype(dt)


def reference(func: Callable[..., Any], sizes: dict[str, int]) -> Callable[..., Any]:
    """``func`` as plain NumPy: the size symbols bound to ``sizes``, ``@flowc.program`` callees
    replaced by their plain functions (each rebound the same way)."""
    g = dict(func.__globals__)
    g.update(sizes)
    for k, v in list(g.items()):
        if getattr(v, "__flowc_program__", False):
            g[k] = types.FunctionType(v.func.__code__, g, v.func.__name__)
    return types.FunctionType(func.__code__, g, func.__name__)


def run_numpy(func: Callable[..., Any], args: list[Any], sizes: dict[str, int]) -> Any:
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return reference(func, sizes)(*args)


def copy_args(args: list[Any]) -> list[Any]:
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


def perturbed(args: list[Any]) -> list[Any]:
    """The arguments with every finite float moved by a few units in the last place: a program whose
    NumPy result moves beyond the tolerance under this is ill-conditioned (a remainder of a sum, an
    fmod of a cosh of a reciprocal), and the last-bit differences any two correct implementations have
    (pairwise against sequential sums, one libm against another) decide its result."""
    out = []
    for a in args:
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            b = a.copy()
            finite = np.isfinite(b)
            b[finite] = b[finite] * (1 + 4 * np.finfo(b.dtype).eps)
            out.append(b)
        else:
            out.append(a.copy() if isinstance(a, np.ndarray) else a)
    return out


def rtol_floor(source: str) -> float:
    """The tolerance of the least precise float dtype a program computes in: a float16 sum that is
    cast to float64 carries float16's rounding (NumPy rounds each float16 step, flowc may not)."""
    for name in ("float16", "float32"):
        if name in source:
            return RTOL[name]
    return 0.0


def compare(want: Any, got: Any, what: str = "result", floor: Any = 0.0) -> Optional[str]:
    """None when ``got`` matches NumPy's ``want``; else a description of the first difference.
    ``floor``: the least relative tolerance (a list of them for the elements of a tuple)."""
    if isinstance(want, tuple):
        if not isinstance(got, tuple) or len(got) != len(want):
            return f"{what}: expected a tuple of {len(want)}, got {type(got).__name__}"
        for k, (w, g) in enumerate(zip(want, got)):
            d = compare(w, g, f"{what}[{k}]", floor[k] if isinstance(floor, list) else floor)
            if d:
                return d
        return None
    if want is None:
        return None if got is None else f"{what}: expected None, got {type(got).__name__}"
    w = np.asarray(want)
    if not isinstance(got, (np.ndarray, np.generic, bool, int, float)):
        return f"{what}: expected an array, got {type(got).__name__}"
    g = np.asarray(got)
    if g.dtype != w.dtype:
        return f"{what}: dtype {g.dtype} != NumPy's {w.dtype}"
    if g.shape != w.shape:
        return f"{what}: shape {g.shape} != NumPy's {w.shape}"
    if w.dtype.kind not in "fc":
        bad = g != w
        if bad.any():
            return f"{what}: {int(bad.sum())} of {w.size} values differ" + _first(w, g, bad)
        return None
    wn, gn = np.isnan(w), np.isnan(g)
    if (wn != gn).any():
        return f"{what}: NaN at different positions" + _first(w, g, wn != gn)
    winf, ginf = np.isinf(w), np.isinf(g)
    bad = (winf != ginf) | (winf & (w != g))
    if bad.any():
        return f"{what}: inf at different positions" + _first(w, g, bad)
    fin = np.isfinite(w)
    if not fin.any():
        return None
    with np.errstate(all="ignore"):
        wf = w.astype(np.complex128 if w.dtype.kind == "c" else np.float64)
        gf = g.astype(wf.dtype)
        scale = max(1.0, float(np.max(np.abs(wf[fin]))))
        rtol = max(RTOL[w.dtype.name], floor)
        err = np.abs(gf - wf)
        bad = fin & ~(err <= rtol * (np.abs(wf) + scale))
    if bad.any():
        return f"{what}: {int(bad.sum())} of {w.size} values differ beyond rtol {rtol}" + _first(w, g, bad)
    return None


def _first(w: np.ndarray, g: np.ndarray, bad: np.ndarray) -> str:
    idx = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()
    return f" (first at {list(idx)}: got {g[idx]!r}, NumPy {w[idx]!r})"
