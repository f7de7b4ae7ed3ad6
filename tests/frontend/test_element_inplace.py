"""``x[i] op= v`` on one element casts like ``x[i] = x[i] op v`` (issue 8); views keep same_kind."""

import numpy as np
import pytest

import flowc

from fe_helpers import rand, run_both, with_symbols

N, M = flowc.symbol("N"), flowc.symbol("M")


@flowc.program
def recurrence(w: flowc.int64[N]):
    # -0.75 and 0.5 are exact in binary: with -0.7, w[i] + w[i - 1] * -0.7 is contracted to one
    # fma by the C++ compiler (-ffp-contract=fast), which rounds once where NumPy rounds twice, and
    # the truncation to int64 shows the last-bit difference (-24 + 28.000000000000004 -> 4 in
    # NumPy, fma(-40, -0.7, -24) = 3.9999999999999982 -> 3)
    for i in range(1, N):
        w[i] += w[i - 1] * -0.75
        w[i] += w[i - 1] * 0.5


@flowc.program
def float_into_int32(w: flowc.int32[N, M], y: flowc.float64[N, M]):
    for i in range(N):
        for j in range(M):
            w[i, j] += y[i, j] * 3.0
            w[i, j] *= 1.5


@flowc.program
def into_bool(b: flowc.bool_[N], k: flowc.int64[N]):
    for i in range(N):
        b[i] += k[i] - 5
        b[i] *= 2


@flowc.program
def into_float32(x: flowc.float32[N], y: flowc.float64[N]):
    for i in range(N):
        x[i] += y[i]
        x[i] /= 3


def test_int64_recurrence_truncates_toward_zero(rng):
    for n in (1, 2, 9):
        w = rng.integers(-50, 50, size=n).astype(np.int64)
        run_both(recurrence, w, ref=with_symbols(recurrence.func, N=n))


def test_float_into_int32_element(rng):
    for n, m in [(1, 1), (3, 4), (7, 2)]:
        run_both(float_into_int32, rng.integers(-9, 9, size=(n, m)).astype(np.int32),
                 rand(rng, (n, m), low=-5, high=5), ref=with_symbols(float_into_int32.func, N=n, M=m))


def test_int_into_bool_element(rng):
    for n in (1, 8):
        run_both(into_bool, rand(rng, n, np.bool_), rand(rng, n, np.int64), ref=with_symbols(into_bool.func, N=n))


def test_float64_into_float32_element(rng):
    for n in (1, 6):
        run_both(into_float32, rand(rng, n, np.float32), rand(rng, n), ref=with_symbols(into_float32.func, N=n))


@flowc.program
def row_update(w: flowc.int64[N, M]):
    w[0] += 0.5


@flowc.program
def slice_update(w: flowc.int64[N]):
    w[1:] += w[:-1] * 0.5


@flowc.program
def ellipsis_update(w: flowc.int64[N]):
    w[0, ...] += 0.5


@pytest.mark.parametrize("prog, shape", [(row_update, (2, 3)), (slice_update, (4,)), (ellipsis_update, (3,))])
def test_views_keep_same_kind(prog, shape):
    """A row, a slice or ``x[i, ...]`` is a view: NumPy refuses float64 into int64 in place."""
    with pytest.raises(TypeError, match="same_kind"):   # numpy._core._exceptions.UFuncTypeError
        prog.func(np.arange(int(np.prod(shape))).reshape(shape))
    with pytest.raises(flowc.FrontendError, match="same_kind"):
        prog.to_ir()


@flowc.program
def complex_into_float(x: flowc.float64[N], z: flowc.complex128[N]):
    x[0] += z[0]


def test_complex_into_real_element_is_refused():
    with pytest.raises(flowc.FrontendError, match="imaginary part"):
        complex_into_float.to_ir()
