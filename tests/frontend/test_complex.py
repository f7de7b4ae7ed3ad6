"""Complex arrays: arithmetic, the complex-capable ufuncs, reductions and matmul (as maps: BLAS is
called for float32/float64 only); everything else raises FrontendError naming what is supported."""

import numpy as np
import pytest

import flowc

from fe_helpers import run_both

N, M = flowc.symbol("N"), flowc.symbol("M")


def crand(rng, shape, dtype=np.complex128):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


@flowc.program
def complex_ops(a: flowc.complex128[N], b: flowc.complex64[N], m: flowc.complex128[N, M], s: flowc.complex128):
    return (a * b + 1.0, a / (b + 2.0), np.exp(a), np.abs(a), np.sqrt(a), np.tanh(b), a ** 2, a == b,
            np.sum(a), np.prod(b), np.sum(m, axis=0), a @ m, m.T @ a * s, np.log(a) - np.sin(a))


def test_complex_arithmetic_reductions_and_matmul(rng):
    for n, m in ((3, 4), (9, 2)):
        run_both(complex_ops, crand(rng, n), crand(rng, n, np.complex64), crand(rng, (n, m)),
                 complex(*rng.standard_normal(2)))


@flowc.program
def complex_max(a: flowc.complex128[N]):
    return np.maximum(a, a)


@flowc.program
def complex_order(a: flowc.complex128[N]):
    return a < a


@flowc.program
def complex_reduce_max(a: flowc.complex128[N]):
    return np.max(a)


@flowc.program
def complex_argmin(a: flowc.complex128[N]):
    return np.argmin(a)


@pytest.mark.parametrize("prog", [complex_max, complex_order, complex_reduce_max, complex_argmin])
def test_unsupported_complex_ufuncs_raise_frontend_error(prog):
    with pytest.raises(flowc.FrontendError, match="not supported on complex") as info:
        prog.to_ir()
    assert "test_complex.py" in str(info.value) and "supported instead" in str(info.value)


@flowc.program
def complex_constants_and_parts(a: flowc.complex128[N], x: flowc.float64[N], y: flowc.float32[N]):
    return (np.exp(1j * x) * a, 2.5 + 1j * x, 1j * y, np.conj(a).real, a.imag, np.angle(a), np.real(x),
            np.imag(y), np.conjugate(x), np.angle(x), a * (1 - 2j), np.abs(3 + 4j) * x)


def test_complex_constants_parts_and_angle(rng):
    """1j and complex literals (weak: with float32 they give complex64), conj/real/imag/angle of
    complex and real arrays (issue 9)."""
    for n in (1, 4, 9):
        x = rng.standard_normal(n)
        x[0] = -abs(x[0])                      # np.angle of a negative real number is pi
        run_both(complex_constants_and_parts, crand(rng, n), x, rng.standard_normal(n).astype(np.float32))


@flowc.program
def mandelbrot(c: flowc.complex128[N, M], iters: int):
    z = np.zeros_like(c)
    count = np.zeros(c.shape, np.int64)
    for _i in range(iters):
        z = z * z + c
        count = count + (np.abs(z) < 2.0)
    return count


@flowc.program
def butterfly(x: flowc.complex128[N]):
    half = x.shape[0] // 2
    w = np.exp(-2j * np.pi * np.arange(half) / x.shape[0])
    even, odd = x[:half], x[half:2 * half]
    return np.concatenate((even + w * odd, even - w * odd))


def test_complex_iterations_and_butterflies(rng):
    for n, m in ((1, 1), (8, 13)):
        c = rng.uniform(-2, 1, (n, m)) + 1j * rng.uniform(-1.2, 1.2, (n, m))
        run_both(mandelbrot, c, 30)
    for n in (2, 8, 9):
        run_both(butterfly, crand(rng, n))


@flowc.program
def complex_product(a: flowc.complex128[N], b: flowc.complex64[N]):
    return a * b, b * b


def test_products_with_inf_and_nan_are_numpys():
    """NumPy multiplies complex numbers by the plain formula (ac - bd, ad + bc); C++'s default
    retries a NaN product (C99 Annex G) and gives inf where NumPy gives nan (a diverging
    Mandelbrot iteration: (inf + nan j) * (1e308 + 1e308 j))."""
    special = [complex(np.inf, 0), complex(np.inf, np.nan), complex(np.nan, np.inf), complex(1e308, 1e308),
               complex(-np.inf, 1), complex(0.5, -2)]
    with np.errstate(all="ignore"):             # 1e308 is inf in complex64
        a = np.array([x for x in special for _ in special])
        b = np.array([y for _ in special for y in special], dtype=np.complex64)
        want = (a * b, b * b)
    got = complex_product(a, b)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        same = (g == w) | (np.isnan(g) & np.isnan(w))
        assert same.all(), list(zip(a[~same], b[~same], g[~same], w[~same]))


@flowc.program
def magnitudes(z: flowc.complex128[N], w: flowc.complex64[N]):
    return np.abs(z), np.abs(w)


def test_abs_is_numpys_to_the_bit(rng):
    # NumPy's vectorized complex abs (larger part * sqrt(1 + ratio^2), with FMA on this CPU), not
    # glibc's hypot: values over the whole exponent range, infinities, NaNs, zeros, exact cases
    specials = np.array([np.inf + 1j * np.nan, np.nan + 1j * np.inf, np.nan, 0, 3 + 4j, -np.inf, 1e-320 + 2e-320j,
                         1e308 + 1e308j])
    for n in (1, 9, 1000, 50001):
        z = rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, n) + \
            1j * rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, n)
        w = (rng.standard_normal(n) + 1j * rng.standard_normal(n)) * np.float32(10.0) ** rng.integers(-30, 30, n)
        k = min(n, len(specials))
        z[:k] = specials[:k]
        w = w.astype(np.complex64)
        with np.errstate(all="ignore"):
            w[:k] = specials[:k].astype(np.complex64)
        got = magnitudes(z, w)
        assert got[0].dtype == np.float64 and got[1].dtype == np.float32
        np.testing.assert_array_equal(got[0], np.abs(z))
        np.testing.assert_array_equal(got[1], np.abs(w))
