"""Element-wise NumPy: operators, ufuncs, broadcasting, dtype promotion, out=/where=, casts."""

import math

import numpy as np

import flowc
from flowc import ir

from fe_helpers import rand, run_both

N, M = flowc.symbol("N"), flowc.symbol("M")
SIZES = [(3, 5), (17, 8)]


@flowc.program
def arithmetic(a: flowc.float64[N, M], b: flowc.float64[M]):
    return a + b, a - b, a * b, a / b, a // b, a % b, a ** 2, -a, +a, abs(a), b ** 0.5, 2.0 ** a


def test_arithmetic_operators_broadcast(rng):
    for n, m in SIZES:
        run_both(arithmetic, rand(rng, (n, m)), rand(rng, m, low=0.5, high=2.0))


@flowc.program
def comparisons(a: flowc.float32[N, M], b: flowc.float32[N, 1]):
    return a < b, a <= b, a > 0.5, a >= b, a == a, a != b, (a > 0) & (b < 0.5), (a > 0) | ~(b > 0), \
        (a > b) ^ (a > 0.3)


def test_comparisons_and_boolean_operators(rng):
    for n, m in SIZES:
        run_both(comparisons, rand(rng, (n, m), np.float32), rand(rng, (n, 1), np.float32))


@flowc.program
def bool_arithmetic(a: flowc.float32[N, M]):
    both = (a > 0) + (a > 0.5)
    return both, ((a > 0) + (a > 0.5)).astype(np.float32), (a > 0) * (a < 0.5), (a > 0) + 1, (a > 0) * 2.5


def test_bool_arithmetic_is_logical(rng):
    """NumPy: bool + bool is logical or (never 2), bool * bool logical and."""
    for n, m in SIZES:
        run_both(bool_arithmetic, rand(rng, (n, m), np.float32))


@flowc.program
def math_funcs(a: flowc.float32[N], p: flowc.float32[N]):
    return (np.exp(a), np.log(p), np.log1p(p), np.sqrt(p), np.tanh(a), np.sin(a), np.cos(a), np.abs(a),
            np.negative(a), np.maximum(a, 0.0), np.minimum(a, p), np.sign(a), np.floor(a * 3), np.ceil(a * 3),
            np.expm1(a), np.log2(p), np.log10(p), np.arctan(a), np.square(a), np.reciprocal(p), np.power(p, a),
            np.fmax(a, p), np.arctan2(a, p), np.sinh(a), np.cosh(a), np.tan(a))


def test_math_functions(rng):
    for n in (4, 33):
        run_both(math_funcs, rand(rng, n, np.float32), rand(rng, n, np.float32, 0.1, 2.0))


@flowc.program
def erf_and_math(a: flowc.float64[N], s: flowc.float64):
    return np.tanh(a) + math.erf(s), math.sqrt(s) * math.exp(s), math.erf(s)


def test_math_module_on_scalars(rng):
    for n in (3, 9):
        a, s = rand(rng, n), float(rng.random() + 0.1)
        out = erf_and_math(a, s)
        np.testing.assert_allclose(out[0], np.tanh(a) + math.erf(s))
        np.testing.assert_allclose(out[1], math.sqrt(s) * math.exp(s))
        np.testing.assert_allclose(out[2], math.erf(s))


@flowc.program
def erf_array(a: flowc.float32[N]):
    return math.erf(a) * 0.5


def test_erf_elementwise_keeps_float32(rng):
    a = rand(rng, 20, np.float32, -2, 2)
    out = erf_array(a)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np.vectorize(math.erf)(a) * 0.5, rtol=1e-5, atol=1e-6)


@flowc.program
def where_clip(a: flowc.float64[N, M], lo: flowc.float64):
    return np.where(a > 0, a, 0.1 * a), np.clip(a, lo, 0.5), np.clip(a, None, 0.2), np.where(a > 0.5, 1, 0)


def test_where_and_clip(rng):
    for n, m in SIZES:
        run_both(where_clip, rand(rng, (n, m)), -0.3)


@flowc.program
def promotion(f32: flowc.float32[N], f64: flowc.float64[N], i32: flowc.int32[N], i8: flowc.int8[N],
              u8: flowc.uint8[N], b: flowc.bool_[N]):
    return (f32 * 2.0, f32 + f64, i32 / i32, i32 * 2, i32 + 1.5, i8 + i8, u8 * 3, b + b, f32 * i32,
            i8 * f32, i32 // 3, i32 % 4, -i32, i32 ** 2, np.exp(i8), np.sqrt(i32), b * 1.5, i32 > 2.5, u8 + i8)


def test_numpy2_promotion_rules(rng):
    for n in (5, 12):
        run_both(promotion, rand(rng, n, np.float32), rand(rng, n), rand(rng, n, np.int32),
                 rand(rng, n, np.int8), rand(rng, n, np.uint8), rand(rng, n, np.bool_))


@flowc.program
def int_semantics(a: flowc.int64[N], b: flowc.int64[N]):
    return a // b, a % b, (-a) // b, (-a) % b, a // -b, a << 2, a >> 1, a & b, a | b, a ^ b, ~a


def test_integer_floor_division_and_bits(rng):
    for n in (6, 20):
        run_both(int_semantics, rng.integers(1, 50, n), rng.integers(1, 7, n))


@flowc.program
def ufunc_out_where(a: flowc.float64[N], b: flowc.float64[N], out: flowc.float64[N], out2: flowc.float64[N]):
    np.add(a, b, out=out)
    np.multiply(a, 2.0, out=out2, where=a > 0)
    r = np.exp(a, out=np.empty_like(a))
    return r


def test_ufunc_out_and_where(rng):
    for n in (5, 16):
        run_both(ufunc_out_where, rand(rng, n), rand(rng, n), rand(rng, n), rand(rng, n))


@flowc.program
def casts(a: flowc.float64[N], s: flowc.float64):
    i = flowc.int32(a * 10)
    f = np.float32(a)
    return i, f, a.astype(np.int64), flowc.float32(s) * f, float(s) * 2, int(s * 10)


def test_casts(rng):
    for n in (4, 11):
        a = rand(rng, n)
        i, f, i64, g, fs, is_ = casts(a, 2.75)
        np.testing.assert_array_equal(i, (a * 10).astype(np.int32))
        assert i.dtype == np.int32 and f.dtype == np.float32 and i64.dtype == np.int64
        np.testing.assert_allclose(g, np.float32(2.75) * a.astype(np.float32), rtol=1e-6)
        assert fs == 5.5 and is_ == 27


@flowc.program
def scalar_args(x: flowc.float32[N], alpha: flowc.float32, k: flowc.int64, flag: flowc.bool_):
    y = alpha * x + k
    return y, alpha * 2, np.where(flag, x, -x)


def test_scalar_arguments(rng):
    for n in (3, 10):
        run_both(scalar_args, rand(rng, n, np.float32), np.float32(1.5), np.int64(3), True)
        run_both(scalar_args, rand(rng, n, np.float32), np.float32(-0.5), np.int64(7), False)


@flowc.program
def one_tasklet(a: flowc.float32[N, M], b: flowc.float32[M]):
    return np.exp(a - b) / (1.0 + np.abs(a)) * 0.5


def test_whole_expression_is_one_map_with_one_tasklet():
    p = one_tasklet.to_ir()
    p.validate()
    tasklets = [n for _, n in p.all_nodes() if isinstance(n, ir.Tasklet)]
    maps = [n for _, n in p.all_nodes() if isinstance(n, ir.MapEntry)]
    assert len(tasklets) == 1 and len(maps) == 1
    code = str(tasklets[0].code)
    assert "exp(" in code and "0.5f" in code and "1.0f" in code    # float32 constants, as NumPy 2 keeps float32


def test_whole_expression_runs(rng):
    for n, m in SIZES:
        run_both(one_tasklet, rand(rng, (n, m), np.float32), rand(rng, m, np.float32))


@flowc.program
def augmented(a: flowc.float64[N, M], b: flowc.float64[M], c: flowc.int32[N]):
    a += b
    a *= 2
    a[0, :] -= 1
    a[:, 1:] /= 3
    c += 2
    c //= 2
    s = 1.0
    s += 2
    s **= 2
    return s


def test_augmented_assignment_in_place(rng):
    for n, m in SIZES:
        run_both(augmented, rand(rng, (n, m)), rand(rng, m), rand(rng, n, np.int32))


@flowc.program
def rhs_first(a: flowc.float64[N]):
    a[1:] = a[:-1] + 1
    b = a * 1
    b[::-1] = b
    return b


def test_assignment_evaluates_right_hand_side_first(rng):
    for n in (5, 14):
        run_both(rhs_first, rand(rng, n))


@flowc.program
def tuple_unpacking(a: flowc.float64[N], b: flowc.float64[N]):
    x, y = a * 2, b + 1
    p, q = x, y
    (u, v), w = (p + q, p - q), 3.0
    return u * w, v


def test_tuple_unpacking(rng):
    for n in (4, 9):
        run_both(tuple_unpacking, rand(rng, n), rand(rng, n))


@flowc.program
def float16_ops(a: flowc.float16[N], b: flowc.float16[N]):
    return a * b + 1.0, np.exp(a)


def test_float16(rng):
    for n in (5, 8):
        run_both(float16_ops, rand(rng, n, np.float16), rand(rng, n, np.float16))


@flowc.program
def float16_scalar(a: flowc.float16[N], s: flowc.float16, t: flowc.float32):
    return a * s, s * t, a + s


def test_float16_scalar_argument(rng):
    """A float16 scalar crosses the C ABI as its bit pattern (by value it would travel in a vector
    register, where ctypes puts a uint16 in an integer one and every later argument shifts)."""
    for n in (3, 11):
        run_both(float16_scalar, rand(rng, n, np.float16), np.float16(rng.uniform(-2, 2)),
                 np.float32(rng.uniform(-2, 2)))


@flowc.program
def multiply_add(a: flowc.float64[N], b: flowc.float64[N], c: flowc.float64[N]):
    return a * b + c, (a * b + c).astype(np.int64), c - a * b


def test_multiply_add_rounds_twice_as_numpy(rng):
    # GCC fuses a * b + c into one FMA by default; NumPy rounds the product first. Truncated to an
    # integer the difference shows: -24 + (-40 * -0.7) is 4 in NumPy and 3 with an FMA.
    a = np.array([-40.0, 0.1, 3.0, -7.3])
    b = np.array([-0.7, 0.3, 1.1, 0.9])
    c = np.array([-24.0, -0.03, -3.3, 6.57])
    run_both(multiply_add, a, b, c)
    for n in (1, 9, 130):
        x = rng.standard_normal(n) * 50
        y = rng.standard_normal(n)
        run_both(multiply_add, x, y, -(x * y) + rng.standard_normal(n) * 1e-9)
