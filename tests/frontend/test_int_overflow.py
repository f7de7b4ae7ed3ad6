"""Integer arithmetic wraps as NumPy's does (two's complement; the generated C++ is built with
-fwrapv, so signed overflow is defined), and the operations that trap in C++ give NumPy's values
instead of crashing the process: ``x // 0`` and ``x % 0`` are 0, ``MIN // -1`` is MIN,
``MIN % -1`` is 0; shifts by the width or more give NumPy's 0 / -1. Table-driven over the
extremes of int8/int16/int32/int64, plain and with auto_optimize."""

import itertools

import numpy as np
import pytest

import flowc

N = flowc.symbol("N")

INTS = ["int8", "int16", "int32", "int64"]


def _table(dt: str) -> tuple[np.ndarray, np.ndarray]:
    info = np.iinfo(dt)
    values = [0, 1, -1, 2, -2, 3, -7, 63, 64, info.max, info.min, info.max - 1, info.min + 1, info.max // 2]
    pairs = list(itertools.product(values, repeat=2))
    return (np.array([p[0] for p in pairs], dtype=dt), np.array([p[1] for p in pairs], dtype=dt))


def _arith(dt: str, auto: bool):
    X = getattr(flowc, dt)

    @flowc.program(auto_optimize=auto)
    def arith(a: X[N], b: X[N]):
        return (a + b, a - b, a * b, a // b, a % b, -a, np.abs(a), a * a * a + b, np.abs(a) + 1,
                2 % (np.abs(a) + 1), a ** 2)

    return arith


def _ref(a, b):
    return (a + b, a - b, a * b, a // b, a % b, -a, np.abs(a), a * a * a + b, np.abs(a) + 1,
            2 % (np.abs(a) + 1), a ** 2)


@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("dt", INTS)
def test_wrapping_and_trapping_operations(dt, auto):
    a, b = _table(dt)
    perm = np.random.default_rng().permutation(a.size)
    a, b = a[perm], b[perm]
    out = _arith(dt, auto)(a.copy(), b.copy())
    with np.errstate(all="ignore"):
        exp = _ref(a, b)
    for k, (o, e) in enumerate(zip(out, exp)):
        assert o.dtype == e.dtype, k
        np.testing.assert_array_equal(o, e, err_msg=f"result {k}")


def test_issue_example():
    @flowc.program
    def f(x: flowc.int64[N]):
        return 2 % (np.abs(x) + 1)

    x = np.array([2**63 - 1, -2**63], dtype=np.int64)
    with np.errstate(all="ignore"):
        exp = 2 % (np.abs(x) + 1)
    np.testing.assert_array_equal(f(x), exp)


def test_mixed_width_promotion(rng):
    @flowc.program
    def mixed(a: flowc.int8[N], b: flowc.int32[N], c: flowc.int16[N]):
        return a + b, a * c, a // c, b % a, a + 100, c * 1000

    for n in (1, 5, 40):
        a = rng.integers(-128, 128, n).astype(np.int8)
        b = rng.integers(-2**31, 2**31, n).astype(np.int32)
        c = rng.integers(-2**15, 2**15, n).astype(np.int16)
        a[0], c[0] = -128, -1
        with np.errstate(all="ignore"):
            exp = mixed.func(a.copy(), b.copy(), c.copy())
        out = mixed(a, b, c)
        for o, e in zip(out, exp):
            assert o.dtype == e.dtype
            np.testing.assert_array_equal(o, e)


@pytest.mark.parametrize("dt", ["int32", "int64"])
def test_shifts(dt):
    X = getattr(flowc, dt)

    @flowc.program
    def shifts(a: X[N], b: X[N]):
        return a << b, a >> b

    bits = np.iinfo(dt).bits
    values = [0, 1, -1, 5, -5, np.iinfo(dt).max, np.iinfo(dt).min]
    counts = [0, 1, 3, bits - 1, bits, bits + 1, 2 * bits]
    pairs = list(itertools.product(values, counts))
    a = np.array([p[0] for p in pairs], dtype=dt)
    b = np.array([p[1] for p in pairs], dtype=dt)
    out = shifts(a, b)
    exp = (a << b, a >> b)
    for o, e in zip(out, exp):
        np.testing.assert_array_equal(o, e)


@pytest.mark.parametrize("auto", [False, True])
def test_fused_expressions_at_the_extremes(rng, auto):
    """Fused into one tasklet, the optimizer must not assume abs(x) >= 0 or that + never wraps
    (np.where(4 <= x0, x1, 2) * (x0 % (np.abs(x1) + 1)) gave INT64_MIN for NumPy's 0)."""
    @flowc.program(auto_optimize=auto)
    def fused(x0: flowc.int64[N], x1: flowc.int64[N]):
        return (np.where(4 <= x0, x1, 2) * (x0 % (np.abs(x1) + 1)), (np.abs(x1) + 1) > 0,
                (x1 + 1) > x1, np.abs(x1) // 3, -x1 < 0, (x0 - x1) // np.where(x1 < 0, -1, 1))

    ext = [2**63 - 1, -2**63, -2**63 + 1, 0, -1, 1, 5, 3, 4]
    for n in (1, 9, 30):
        x0 = rng.choice(ext, n).astype(np.int64)
        x1 = rng.choice(ext, n).astype(np.int64)
        with np.errstate(all="ignore"):
            exp = fused.func(x0, x1)
        for o, e in zip(fused(x0, x1), exp):
            assert o.dtype == e.dtype
            np.testing.assert_array_equal(o, e)


@pytest.mark.parametrize("dt", ["float16", "float32", "float64"])
def test_float_abs_of_negative_zero(dt):
    X = getattr(flowc, dt)

    @flowc.program
    def fabs(x: X[N]):
        return np.abs(x), np.abs(x * -1.0)

    x = np.array([-0.0, 0.0, -1.5, np.nan, -np.inf], dtype=dt)
    for o, e in zip(fabs(x), (np.abs(x), np.abs(x * -1.0))):
        np.testing.assert_array_equal(o, e)
        np.testing.assert_array_equal(np.signbit(o), np.signbit(e))
