"""Floor division and remainder of floats follow NumPy's npy_divmod exactly on the special
values (±0, ±inf, NaN, division by zero, tiny and huge operands, the sign of zero results):
``inf // 2`` is NaN, ``2.0 % -1.0`` is -0.0; table-driven over every pair, for float16, float32
and float64, plain and with auto_optimize."""

import itertools

import numpy as np
import pytest

import flowc

N = flowc.symbol("N")

SPECIAL = [0.0, -0.0, 1.0, -1.0, 2.5, -2.5, np.inf, -np.inf, np.nan]


def _table(dt: str) -> tuple[np.ndarray, np.ndarray]:
    info = np.finfo(dt)
    values = SPECIAL + [float(info.tiny), -float(info.tiny), float(info.max), -float(info.max),
                        float(info.smallest_subnormal), 3.0, -7.0, 1e-3, 0.1]
    pairs = list(itertools.product(values, repeat=2))
    a = np.array([p[0] for p in pairs], dtype=dt)
    b = np.array([p[1] for p in pairs], dtype=dt)
    return a, b


def _programs(dt: str, auto: bool):
    X = getattr(flowc, dt)

    @flowc.program(auto_optimize=auto)
    def fdiv(a: X[N], b: X[N]):
        return a // b, a % b, np.floor_divide(a, b) + np.remainder(a, b)

    return fdiv


def _same_bits(out: np.ndarray, exp: np.ndarray) -> None:
    """Equal values, NaN where NumPy has NaN, and the same sign of zero."""
    assert out.dtype == exp.dtype
    np.testing.assert_array_equal(np.isnan(out), np.isnan(exp))
    ok = ~np.isnan(exp)
    np.testing.assert_array_equal(out[ok], exp[ok])
    np.testing.assert_array_equal(np.signbit(out[ok]), np.signbit(exp[ok]))


@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("dt", ["float16", "float32", "float64"])
def test_floordiv_and_remainder_special_values(dt, auto):
    a, b = _table(dt)
    prog = _programs(dt, auto)
    rng = np.random.default_rng()
    perm = rng.permutation(a.size)
    a, b = a[perm], b[perm]
    out = prog(a.copy(), b.copy())
    with np.errstate(all="ignore"):
        exp = (a // b, a % b, np.floor_divide(a, b) + np.remainder(a, b))
    for o, e in zip(out, exp):
        _same_bits(o, e)


@pytest.mark.parametrize("dt", ["float16", "float32", "float64"])
def test_floordiv_random(dt, rng):
    prog = _programs(dt, False)
    for n in (1, 7, 100):
        a = (rng.standard_normal(n) * 50).astype(dt)
        b = (rng.standard_normal(n) * 5).astype(dt)
        b[b == 0] = 1
        out = prog(a.copy(), b.copy())
        with np.errstate(all="ignore"):
            exp = (a // b, a % b, np.floor_divide(a, b) + np.remainder(a, b))
        for o, e in zip(out, exp):
            _same_bits(o, e)
