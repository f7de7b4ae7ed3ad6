"""Regressions for the differential fuzzer's findings: each program is compiled plain and with
``auto_optimize=True`` and checked against NumPy (values and dtypes) on fresh random inputs of
several sizes.

- ``np.fmax``/``np.fmin`` ignore NaN (NaN only where both operands are NaN), unlike
  ``np.maximum``/``np.minimum``, which propagate it.
- Result dtypes of ufuncs and operators on bool and small-int inputs are NumPy's
  (``bool_array ** 2`` is ``np.square``: int8; ``np.exp(bool)`` is float16), for a table of
  ufuncs × dtypes, weak Python scalars included.
- ``math.*`` of a 0-d value is a Python float (weak float64), as in Python.
- Integer ``//``, ``%``, ``np.fmod`` by zero give 0 as in NumPy (C++ traps or gives INT_MIN);
  integer ``np.fmod`` is exact on int64.
- A Python int outside an integer array's range: comparisons are exact, arithmetic raises.
"""

import math
import warnings

import numpy as np
import pytest

import flowc

from fe_helpers import assert_same, rand, with_symbols

N = flowc.symbol("N")
M = flowc.symbol("M")
SIZES = (1, 7, 33)


def _ftype(dt: str):
    return getattr(flowc, "bool_" if dt == "bool" else dt)


def _both(func):
    """The function compiled plain and auto-optimized."""
    return [flowc.program(func), flowc.program(auto_optimize=True)(func)]


def _check(func, *args, float32_inputs: bool = False):
    """Every compilation of ``func`` against NumPy on ``args`` (NumPy's warnings silenced);
    ``float32_inputs``: float64 results computed from float32 values get float32's tolerance."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        expected = func(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
    for prog in _both(func):
        out = prog(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
        assert_same(out, expected, float32_inputs=float32_inputs)


def _with_nans(rng, n: int, dt: str) -> np.ndarray:
    x = rand(rng, n, dt, -2.0, 2.0)
    x[rng.random(n) < 0.4] = np.nan
    return x


# ---------------------------------------------------------------- np.fmax / np.fmin

def _fminmax_program(dt: str):
    X = _ftype(dt)

    def fminmax(a: X[N], b: X[N], m: flowc.bool_[N], s: X):
        return (np.fmax(a, b), np.fmin(a, b), np.fmax(m, a), np.fmin(a, m), np.fmax(a, 0.5),
                np.fmin(-0.5, b), np.fmax(a, s), np.maximum(a, b), np.minimum(a, b))

    return fminmax


@pytest.mark.parametrize("dt", ["float16", "float32", "float64"])
def test_fmax_fmin_ignore_nan(rng, dt):
    func = _fminmax_program(dt)
    for n in SIZES:
        a, b = _with_nans(rng, n, dt), _with_nans(rng, n, dt)
        a[0] = b[0] = np.nan                       # NaN in both: NaN
        m = rng.random(n) < 0.5
        _check(func, a, b, m, np.dtype(dt).type(rng.random()))
        _check(func, a, b, m, np.dtype(dt).type(np.nan))


def fmax_loop(a: flowc.float32[N]):
    t = np.float32(-5.0)
    u = np.float32(5.0)
    for i in range(a.shape[0]):
        t = np.fmax(t, a[i])
        u = np.fmin(a[i], u)
    return t, u, np.fmax.reduce(a), np.fmax(a, np.float32(1.0))


def test_fmax_fmin_in_a_loop(rng):
    for n in SIZES:
        a = _with_nans(rng, n, "float32")
        a[-1] = np.nan
        _check(fmax_loop, a)


def test_fmax_fmin_on_integers(rng):
    def f(a: flowc.int32[N], b: flowc.int8[N]):
        return np.fmax(a, b), np.fmin(b, a), np.fmax(b, 3), np.fmin(a, 2.5)

    for n in SIZES:
        _check(f, rand(rng, n, np.int32) - 5, rand(rng, n, np.int8) - 5)


# ---------------------------------------------------------------- ufunc result dtypes

def _bool_program():
    def on_bool(x: flowc.bool_[N], f: flowc.float32[N]):
        b = np.isinf(f)
        return (x ** 2, np.isinf(f) ** 2, np.square(x), np.reciprocal(x), x ** 3, x ** True,
                np.exp(x), np.sqrt(x), np.sin(x), np.log1p(x), np.tanh(x), np.fabs(x), np.absolute(x),
                np.invert(x), np.logical_not(x), x + x, x * 2, x + 2.5, x / x, x // 1, x % 2, x & b,
                np.maximum(x, b), np.fmax(x, 3), np.arctan2(x, 1.0), np.fmod(x, 2), x < 2, 2 ** x,
                np.power(x, 2), np.floor(x), np.sign(f))

    return on_bool


def test_ufunc_dtypes_on_bool(rng):
    func = _bool_program()
    for n in SIZES:
        f = rand(rng, n, np.float32)
        f[rng.random(n) < 0.5] = np.inf
        _check(func, rng.random(n) < 0.5, f)


def _int_program(dt: str):
    X = _ftype(dt)

    def on_int(x: X[N], y: X[N]):
        return (x ** 2, x ** 3, np.square(x), np.reciprocal(x), np.negative(x), np.absolute(x),
                np.sign(x), np.floor(x), np.ceil(x), np.invert(x), np.exp(x), np.sqrt(x), np.log(x),
                np.tanh(x), np.arcsin(x), x + 3, 3 - x, x * 2.5, x / 2, x // 2, x % 3, x ** 0.5,
                np.maximum(x, 3), np.fmax(x, 2.5), np.fmod(x, 3), x < 200, x > -1, x == 256, 200 != x,
                x <= -200, np.add(x, y), np.power(x, y), np.arctan2(x, y), np.fmod(x, y), x // y,
                np.left_shift(x, 1), x & y, x ^ 5)

    return on_int


@pytest.mark.parametrize("dt", ["int8", "int16", "int32", "int64", "uint8", "uint32"])
def test_ufunc_dtypes_on_ints(rng, dt):
    func = _int_program(dt)
    for n in SIZES:
        _check(func, rand(rng, n, dt), (rand(rng, n, dt) % 3).astype(dt))


def _float_program(dt: str):
    X = _ftype(dt)

    def on_float(x: X[N], y: X[N]):
        return (x ** 2, x ** -1, x ** 0.5, x ** 3, np.square(x), np.reciprocal(x), np.exp(x),
                np.sqrt(x), np.log(x), np.sin(x), np.tanh(x), np.floor(x), np.sign(x), x + 3, x * 2.5,
                x / 2, x // 0.3, x % 0.7, np.maximum(x, 0.5), np.fmin(x, 1), np.fmod(x, y), x < 1e5,
                np.add(x, y), np.power(x, y), np.arctan2(x, y), x // y, np.isnan(x), np.isfinite(x))

    return on_float


@pytest.mark.parametrize("dt", ["float16", "float32", "float64"])
def test_ufunc_dtypes_on_floats(rng, dt):
    func = _float_program(dt)
    for n in SIZES:
        _check(func, rand(rng, n, dt, 0.1, 2.0), rand(rng, n, dt, 0.1, 2.0))


def _mixed_program(dx: str, dy: str):
    X, Y = _ftype(dx), _ftype(dy)

    def mixed(x: X[N], y: Y[N]):
        return (np.add(x, y), np.multiply(y, x), np.true_divide(x, y), np.floor_divide(x, y),
                np.remainder(x, y), np.power(x, y), np.maximum(x, y), np.fmin(y, x), np.arctan2(x, y),
                np.fmod(x, y), x < y, np.equal(x, y))

    return mixed


@pytest.mark.parametrize("dx,dy", [("bool", "float16"), ("bool", "int8"), ("int8", "float16"),
                                   ("uint8", "int8"), ("int32", "float32"), ("int64", "float32"),
                                   ("int16", "float16"), ("uint32", "int32")])
def test_ufunc_dtypes_mixed(rng, dx, dy):
    func = _mixed_program(dx, dy)
    for n in SIZES:
        _check(func, rand(rng, n, dx), rand(rng, n, dy, 0.5, 3.0))


def test_power_fast_path_is_for_arrays_only(rng):
    """``a ** 2`` of an array is ``np.square(a)``; of a 0-d value (a NumPy scalar in Python) it
    is ``np.power``: ``np.bool_(True) ** 2`` is int64."""
    def f(a: flowc.float32[N]):
        return (a > 0) ** 2, np.any(a > 0) ** 2, (a[0] > 0) ** 2

    for n in SIZES:
        _check(f, rand(rng, n, np.float32))


# ---------------------------------------------------------------- Python ints outside the range

def test_out_of_range_python_int_comparisons(rng):
    def f(u: flowc.uint8[N], i: flowc.int8[N], w: flowc.uint64[N]):
        return (u < 300, u == 256, u > -1, -1 != u, i >= -129, np.equal(i, 200), i < 128,
                np.less_equal(u, -5), w > -1, w == -3)

    for n in SIZES:
        _check(f, (rand(rng, n, np.int64) * 28).astype(np.uint8), (rand(rng, n, np.int64) * 14 - 70).astype(np.int8),
               rand(rng, n, np.uint64))


def add_300(u: flowc.uint8[N]):
    return u + 300


def maximum_minus_one(u: flowc.uint8[N]):
    return np.maximum(u, -1)


def int_power_minus_one(i: flowc.int32[N]):
    return i ** -1


@pytest.mark.parametrize("func,dt,error", [(add_300, np.uint8, "OverflowError"),
                                           (maximum_minus_one, np.uint8, "OverflowError"),
                                           (int_power_minus_one, np.int32, "negative integer powers")])
def test_numpy_refusals_are_frontend_errors(func, dt, error):
    with pytest.raises((OverflowError, ValueError)):
        func(np.ones(3, dt))
    with pytest.raises(flowc.FrontendError, match=error):
        flowc.program(func).to_ir()


# ---------------------------------------------------------------- math.* of 0-d values

def math_scalars(a: flowc.float32[N], c: flowc.float32[M]):
    t2 = math.erf(np.negative(a.argmin()))
    t3 = np.float32(0)
    for i in range(a.shape[0] - 1, -1, -1):
        t3 = np.maximum(t3, a[i] - t2)
    return (t3, math.erf(np.mean(c)), a - math.sqrt(np.max(a) ** 2), math.exp(np.float32(0.5)),
            math.tanh(a[0]), math.floor(np.max(c)), math.ceil(c.argmax()), math.fabs(np.min(a)),
            c * math.log1p(np.abs(a[0])), math.erf(np.float32(0.5) * a[-1]) - a)


def test_math_of_0d_values_is_a_python_float(rng):
    for n in SIZES:
        a, c = rand(rng, n, np.float32), rand(rng, n + 2, np.float32, 0.5, 3.0)
        _check(math_scalars, a, c, float32_inputs=True)   # np.mean's float32 sum: not bit-exact
        out = flowc.program(math_scalars)(a, c)
        assert isinstance(out[1], np.float64) and isinstance(out[5], np.int64) and out[-1].dtype == np.float32


def test_math_of_complex_scalar_is_refused():
    def f(z: flowc.complex128):
        return math.sqrt(z)

    with pytest.raises(flowc.FrontendError, match="complex"):
        flowc.program(f).to_ir()


# ---------------------------------------------------------------- integer division by zero

def _int_div_program(dt: str):
    X = _ftype(dt)

    def int_div(a: X[N], b: X[N]):
        return a // b, a % b, np.fmod(a, b), np.fmod(a, 7), np.remainder(a, b), np.floor_divide(b, a)

    return int_div


@pytest.mark.parametrize("dt", ["int8", "int32", "int64", "uint8"])
def test_integer_division_by_zero(rng, dt):
    func = _int_div_program(dt)
    info = np.iinfo(dt)
    for n in SIZES:
        a = rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
        b = rng.integers(-3 if info.min < 0 else 0, 4, n).astype(dt)
        b[0] = 0
        if info.min < 0 and n > 1:
            a[1], b[1] = info.min, -1               # MIN // -1 wraps; MIN % -1 and fmod are 0
        _check(func, a, b)


def test_fmod_int64_is_exact(rng):
    def f(a: flowc.int64[N], b: flowc.int64[N]):
        return np.fmod(a, b)

    for n in SIZES:
        a = rng.integers(2**60, 2**62, n) * rng.choice([-1, 1], n)
        _check(f, a, rng.integers(3, 1000, n))


# ---------------------------------------------------------------- assignment drops leading 1s

def assign_leading_ones(c: flowc.float16[1, M], y: flowc.float64[1, N, M], x: flowc.float64[N, M]):
    c[-1] = c - c * 2
    x[...] = y
    x[0] = y[:, :1, :] * 3.0
    x[:, 1:] = y[:, :, 1:]
    return c, x


def test_assignment_drops_leading_size_one_axes(rng):
    for n, m in ((1, 1), (1, 4), (3, 5), (6, 2)):
        _check(assign_leading_ones, rand(rng, (1, m), np.float16), rand(rng, (1, n, m)), rand(rng, (n, m)))


def test_in_place_operator_keeps_broadcast_rule():
    """``x[0] += v`` with ``v`` of shape (1, M) is a ufunc with ``out=x[0]``: NumPy refuses it."""
    def f(c: flowc.float64[2, M]):
        c[0] += c[:1]
        return c

    with pytest.raises(ValueError):
        f(np.ones((2, 3)))
    with pytest.raises(flowc.FrontendError, match="cannot be broadcast"):
        flowc.program(f).to_ir()


# ---------------------------------------------------------------- matmul of bool arrays

def bool_matmul(d: flowc.bool_[N], e: flowc.bool_[N, M], f: flowc.float32[M]):
    return np.matmul(d, d), d @ e, e.T @ e, e @ f, np.matmul(e, e[0] > 0), np.dot(d, e)


def test_bool_matmul_is_or_of_ands(rng):
    for n, m in ((1, 1), (4, 3), (7, 9), (40, 5)):
        _check(bool_matmul, rng.random(n) < 0.3, rng.random((n, m)) < 0.3, rand(rng, m, np.float32))


# ---------------------------------------------------------------- integer reciprocal

def _reciprocal_program(dt: str):
    X = _ftype(dt)

    def int_reciprocal(a: X[N]):
        return np.reciprocal(a), np.reciprocal(a > 1), np.reciprocal(a[::-1]) + a

    return int_reciprocal


@pytest.mark.parametrize("dt", ["int8", "int16", "int32", "int64", "uint8", "uint32", "uint64"])
def test_integer_reciprocal_of_zero_and_units(rng, dt):
    """NumPy's ``(T)(1.0 / x)``: +-1 stay, 0 gives x86-64's conversion of inf, others 0."""
    func = _reciprocal_program(dt)
    lo = -3 if np.iinfo(dt).min < 0 else 0
    for n in SIZES:
        a = rng.integers(lo, 4, n).astype(dt)
        a[0] = 0
        _check(func, a)


# ---------------------------------------------------------------- Python's max() / min() of scalars

def builtin_minmax(a: flowc.float32[N], b: flowc.float64[N], i: flowc.int32[N]):
    x, y = a[0], b[-1]
    return (max(x, 0.5), min(0.5, x), max(y, x), min(x, y), max(x, y, 0.25), min(i[0], i[-1], 2),
            max(x, -0.0), np.zeros(max(a.shape[0], 2)), max(np.sum(i), 2.5))


def test_builtin_max_min_follow_python_on_nan_and_ties(rng):
    """``max(a, b)`` is ``b if b > a else a``: ``max(nan, 1)`` is nan, ``max(1, nan)`` is 1 and
    ``max(-0.0, 0.0)`` is -0.0 (np.maximum propagates NaN). Python returns the chosen object, whose
    type depends on the values, so values (and signs of zeros) are compared, not dtypes."""
    for n in SIZES:
        for av, bv in ((np.nan, 0.3), (0.7, np.nan), (np.nan, np.nan), (0.0, -0.0), (-0.0, 0.0),
                       (rng.random(), rng.random())):
            a, b = np.full(n, av, np.float32), np.full(n, bv)
            i = rng.integers(-5, 5, n).astype(np.int32)
            exp = builtin_minmax(a, b, i)
            for prog in _both(builtin_minmax):
                for o, e in zip(prog(a, b, i), exp):
                    o, e = np.asarray(o, np.float64), np.asarray(e, np.float64)
                    np.testing.assert_array_equal(o, e)
                    np.testing.assert_array_equal(np.signbit(o), np.signbit(e))


# ---------------------------------------------------------------- Python ints stored or clipped

def clip_out_of_range(u: flowc.uint8[N], i: flowc.int8[N]):
    return (np.clip(u, 0, 300), np.clip(u, -5, 100), np.clip(u, -5, 300), np.clip(i, -5, 300),
            np.clip(i, -300, 7), np.clip(u, 100, 1000), np.clip(u, 1.5, 300))


def test_clip_with_python_ints_beyond_the_dtype(rng):
    for n in SIZES:
        _check(clip_out_of_range, rng.integers(0, 256, n).astype(np.uint8),
               rng.integers(-128, 128, n).astype(np.int8))


def clip_harmful(u: flowc.uint8[N]):
    return np.clip(u, 300, 400)


def setitem_300(u: flowc.uint8[N]):
    u[0] = 300
    return u


def full_minus_one(u: flowc.uint8[N]):
    return np.full(u.shape[0], -1, dtype=np.uint8)


def fill_256(u: flowc.uint8[N]):
    v = u.copy()
    v.fill(256)
    return v


@pytest.mark.parametrize("func", [clip_harmful, setitem_300, full_minus_one, fill_256])
def test_storing_an_out_of_range_python_int_is_refused(func):
    with pytest.raises(OverflowError):
        func(np.ones(3, np.uint8))
    with pytest.raises(flowc.FrontendError, match="out of bounds"):
        flowc.program(func).to_ir()


# ---------------------------------------------------------------- mask assignment keeps the dtype

def mask_assign(c: flowc.int64[N], d: flowc.float32[N], u: flowc.uint8[N]):
    c[c > 0] = -1.5
    d[d > 0] = 2**40 + 1
    d[d < 0] += 1
    u[u > 100] = 2.75
    return c, d, u


def test_mask_assignment_selects_in_the_target_dtype(rng):
    """``c[mask] = -1.5`` on int64: the elements the mask keeps stay exact (beyond 2**53)."""
    for n in SIZES:
        c = rng.integers(-2**63, 2**63 - 1, n, dtype=np.int64, endpoint=True)
        c[0] = 2**62 + 1
        _check(mask_assign, c, rand(rng, n, np.float32), rng.integers(0, 256, n).astype(np.uint8))


# ---------------------------------------------------------------- variables first bound in a branch

def branch_then_augassign(a: flowc.float64[N], b: flowc.float32[M, N]):
    if np.sum(a) > 0:
        t = a + 1
    else:
        t = a * 2
    t += 1
    if np.sum(a) > 1:
        u = a + 1
    else:
        u = a * 2
    u *= 3                      # never read afterwards: was refused ("has no value here")
    t1 = b / a
    if np.max(t1) > 1:
        t2 = t1 + 1
    else:
        t2 = t1.copy()
    t2 %= 2
    if np.min(t1) > 0.5:
        t3 = t1 + 1
    else:
        t3 = t1
    return t, t1, t2, t3 % 2


def test_variable_bound_in_a_branch_then_updated_in_place(rng):
    """``t += 1`` after an ``if`` that binds ``t`` in both arms reads ``t`` (was: "no value here")."""
    for n, m in ((1, 1), (5, 3), (9, 4)):
        for lo, hi in ((-1.0, 1.0), (0.6, 2.0), (-3.0, -1.0)):
            _check(branch_then_augassign, rand(rng, n, np.float64, lo, hi), rand(rng, (m, n), np.float32, lo, hi))


def branch_alias_written(a: flowc.float64[N], b: flowc.float32[M, N]):
    t1 = b / a
    if np.max(t1) > 1:
        t2 = t1 + 1
    else:
        t2 = t1
    t2 %= 2
    return t1


def test_alias_on_one_path_written_in_place_is_refused_clearly():
    with pytest.raises(flowc.FrontendError, match=r"(?s)'t2' is the array 't1' itself.*t2 = t1.copy\(\)"):
        flowc.program(branch_alias_written).to_ir()


@flowc.program
def rounding_of_integers(i: flowc.int32[N], j: flowc.int64[N], b: flowc.bool_[N]):
    return np.sign(i) * np.ceil(i), np.floor(j) * 3, np.ceil(b), np.floor(i) >> 2


def test_floor_and_ceil_keep_integers_as_they_are():
    # NumPy 2 keeps integer and bool inputs of floor/ceil (same dtype, same values); std::ceil of an
    # integer is a double, so sign * ceil at INT32_MIN gave 2**31 where NumPy wraps to -2**31, and
    # ceil(i) >> 2 did not compile
    rng = np.random.default_rng()
    for n in SIZES:
        i = rng.integers(-2**31, 2**31 - 1, n, dtype=np.int32)
        i[0] = -2**31
        j = rng.integers(-2**62, 2**62, n, dtype=np.int64)
        b = rng.random(n) > 0.5
        for auto in (False, True):
            f = flowc.program(rounding_of_integers.func, auto_optimize=auto)
            with np.errstate(over="ignore"):
                assert_same(f(i, j, b), rounding_of_integers.func(i, j, b))


@flowc.program
def spread_over_few(x: flowc.float64[N, M]):
    return np.var(x, axis=0, ddof=1), np.std(x, axis=1, ddof=3), np.var(x[:0], axis=0), np.mean(x[:0], axis=0)


def test_var_and_std_of_extents_no_larger_than_ddof_are_nan_or_inf():
    # NumPy divides by max(n - ddof, 0); flowc divided by n - ddof: the var of an empty slice was
    # 0 / -1 = -0.0 (NaN in NumPy), and n < ddof gave a negative variance (inf in NumPy)
    rng = np.random.default_rng()
    for n, m in ((1, 1), (1, 3), (2, 2), (5, 4)):
        x = rand(rng, (n, m))
        for auto in (False, True):
            f = flowc.program(spread_over_few.func, auto_optimize=auto)
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                assert_same(f(x), spread_over_few.func(x))


@flowc.program
def reductions_with_initial(c: flowc.int64[N, M], b: flowc.bool_[N], x: flowc.float32[N]):
    return (c.sum(axis=0, keepdims=True, initial=1.0), np.max(c, axis=1, initial=2.7), np.sum(b, initial=0.5),
            np.sum(x, initial=1e-30))


def test_initial_is_cast_to_the_result_dtype():
    # NumPy casts initial= to the result's dtype first; flowc combined an int64 sum with initial=1.0
    # in float64 and rounded it (-2**63 + 3 came back as -2**63)
    rng = np.random.default_rng()
    for n, m in ((1, 1), (3, 2), (17, 9)):
        c = rng.integers(-2**62, 2**62, (n, m), dtype=np.int64)
        c[0, 0] = -2**63 + 2
        for auto in (False, True):
            f = flowc.program(reductions_with_initial.func, auto_optimize=auto)
            args = (c, rng.random(n) > 0.5, rand(rng, n, np.float32))
            with np.errstate(over="ignore"):
                assert_same(f(*args), reductions_with_initial.func(*args))


@flowc.program
def reshape_inferred(b: flowc.float64[N, M]):
    return b[N // 2:].reshape(M, -1), b[:N // 2 + 1].reshape(-1), b[1::2].reshape(-1, M)


def test_reshape_infers_sizes_with_floor_exactly():
    # the -1 size was computed with floor(N/2) relaxed to N/2: (N - floor(N/2)) * M / M gave
    # floor(N/2), one element short for odd N
    rng = np.random.default_rng()
    for n, m in ((1, 1), (3, 1), (4, 2), (7, 5)):
        b = rand(rng, (n, m))
        for auto in (False, True):
            f = flowc.program(reshape_inferred.func, auto_optimize=auto)
            assert_same(f(b), with_symbols(reshape_inferred.func, N=n, M=m)(b))


@flowc.program
def python_bool_operators(x: flowc.float64[N]):
    return np.fmax(x, np.clip(~True, -1, 2)), x + (-True), x * (+False) + ~False


def test_unary_operators_on_python_bools_are_python_ints():
    # ~True is -2 in Python (a Python bool is an int); flowc folded it as NumPy's ~np.True_ (False)
    rng = np.random.default_rng()
    for n in SIZES:
        x = rand(rng, n)
        for auto in (False, True):
            f = flowc.program(python_bool_operators.func, auto_optimize=auto)
            assert_same(f(x), python_bool_operators.func(x))


@flowc.program
def int_round_trip(b: flowc.float64[N, M], c: flowc.int64[M]):
    return np.arctan2(c, b.astype(np.int32)), b.astype(np.int32) * 1.5, 1 / b.astype(np.int64).astype(np.float32)


def test_float_to_int_to_float_has_no_negative_zero():
    # with -fno-trapping-math GCC 12 folds (double)(int32_t)x into trunc(x): astype(int32) of -0.3
    # came back as -0.0 inside a fused scope (arctan2(0, -0.0) is pi, NumPy 0)
    rng = np.random.default_rng()
    for n, m in ((1, 1), (4, 4), (9, 33)):
        b = rng.uniform(-0.99, 0.99, (n, m))
        b[0, 0] = -0.3
        c = np.zeros(m, np.int64)
        for auto in (False, True):
            f = flowc.program(int_round_trip.func, auto_optimize=auto)
            with np.errstate(divide="ignore"):
                assert_same(f(b, c), int_round_trip.func(b, c))


def same_dtype_cast_is_the_array(b: flowc.float64[M]):
    t = np.float64(b[::-1])[1:]
    t %= 0.75
    return t * 2


def test_a_cast_to_the_arrays_own_dtype_is_the_array_itself():
    """np.float64(x) of a float64 array returns x itself, so writing the result writes x (flowc made
    a copy: the argument kept -inf where NumPy's became NaN; found by the fuzzer)."""
    rng = np.random.default_rng()
    for m in (1, 2, 7):
        b = rng.uniform(-3, 3, m)
        b[0] = -np.inf
        _check(same_dtype_cast_is_the_array, b)
        for prog in _both(same_dtype_cast_is_the_array):
            got, want = b.copy(), b.copy()
            prog(got)
            with np.errstate(all="ignore"):
                same_dtype_cast_is_the_array(want)
            np.testing.assert_array_equal(got, want)


def half_rows_times_half_columns(x: flowc.float64[N, M], y: flowc.float64[M]):
    return x[:, x.shape[1] // 2:] @ y[::-2][:, None]


def test_matmul_of_floor_and_ceiling_lengths_compiles():
    """``M - M // 2`` and ``len(y[::-2])`` (``ceiling(M/2)``) are equal for every integer M; the MatMul
    node's shape check could not prove it (IRError at compile; found by the fuzzer)."""
    rng = np.random.default_rng()
    for n, m in ((1, 1), (3, 4), (2, 7)):
        _check(half_rows_times_half_columns, rng.standard_normal((n, m)), rng.standard_normal(m))


def negated_python_float_times_half(a: flowc.float32[N]):
    t1 = -0.25
    return t1 * np.float16(2.0), np.arctan(-0.25 * np.float16(2.0)), -(3 - 6) * np.int8(2), a * -0.5


def test_a_folded_python_number_stays_weak():
    """-0.25 is np.negative(0.25) when folded, a NumPy float64 left in a weak constant: NumPy took it as
    strong, so -0.25 * np.float16(2.0) came out float64 where NumPy gives float16 (found by the fuzzer)."""
    rng = np.random.default_rng()
    for n in (1, 4):
        _check(negated_python_float_times_half, rng.standard_normal(n).astype(np.float32))
        out = flowc.program(negated_python_float_times_half)(np.ones(n, np.float32))
        assert [np.asarray(o).dtype for o in out] == [np.float16, np.float16, np.int8, np.float32]


def where_of_scalars_squared(a: flowc.int64[N]):
    t1 = np.prod(a)
    t2 = np.where(t1 > 0, t1 > 1, t1 < -1)
    return t2 ** 2, np.where(t1 > 0, 2.5, t1) ** 2, (t1 > 0) ** 2


def test_where_of_0d_operands_is_an_array():
    """np.where of 0-d operands returns a 0-d array, whose ** 2 is np.square (bool gives int8), not a
    NumPy scalar, whose ** 2 is np.power (bool gives int64); found by the fuzzer."""
    rng = np.random.default_rng()
    for n in (1, 3):
        a = rng.integers(-3, 4, n)
        _check(where_of_scalars_squared, a)
        out = flowc.program(where_of_scalars_squared)(a)
        assert [np.asarray(o).dtype for o in out] == [np.asarray(w).dtype for w in where_of_scalars_squared(a)]


def builtin_abs_of_bools(a: flowc.float32[N]):
    return abs(True), abs(False) + a, abs(-True)


def test_builtin_abs_of_a_python_bool_is_an_int():
    """abs(True) is the Python int 1 (flowc gave a bool; found by the fuzzer)."""
    a = np.random.default_rng().standard_normal(3).astype(np.float32)
    _check(builtin_abs_of_bools, a)
    out = flowc.program(builtin_abs_of_bools)(a)
    assert [np.asarray(o).dtype for o in out] == [np.int64, np.float32, np.int64]


def ellipsis_element_is_a_view(b: flowc.float32[N]):
    view = b[..., 0]            # a 0-d array: a view of the element
    value = b[0]                # a NumPy scalar: a copy
    b **= 2
    b //= view - b
    return view * 1.0, value * 1.0


def test_an_element_read_with_an_ellipsis_is_a_view():
    """``x[..., 0]`` is a 0-d array that sees later in-place writes to ``x``; ``x[0]`` is a scalar
    copy (flowc copied both; found by the fuzzer on the final commit)."""
    rng = np.random.default_rng()
    for n in (1, 4):
        b = rng.standard_normal(n).astype(np.float32) + 2.0
        with np.errstate(all="ignore"):
            want_b = b.copy()
            want = ellipsis_element_is_a_view(want_b)
        got_b = b.copy()
        got = flowc.program(ellipsis_element_is_a_view)(got_b)
        for g, w in zip((*got, got_b), (*want, want_b)):
            np.testing.assert_array_equal(np.asarray(g), np.asarray(w))
