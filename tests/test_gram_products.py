"""A matrix times its own transpose (``d.T @ d``, ``x @ x.T``) is a BLAS SYRK on the upper
triangle plus a mirror (``flowc.codegen.blas_gram``), as NumPy's matmul does: checked against
NumPy on fresh inputs at several sizes, with and without an epilogue, and refused where the
operands only look alike (another matrix, shifted views, a batch)."""

import numpy as np
import pytest

import flowc
from flowc.codegen.cpp import generate_cpp
from flowc.transforms import auto_optimize

M, K = flowc.symbol("M"), flowc.symbol("K")


def covariance(data: flowc.float64[M, K]):
    d = data - np.mean(data, axis=0)
    return (d.T @ d) / (data.shape[0] - 1.0)         # auto_optimize fuses the division: an epilogue


def outer_grams(x: flowc.float32[M, K]):
    return x @ x.T, 2.0 * (x[::2].T @ x[::2]) + 1.0


def look_alikes(x: flowc.float64[M, K], y: flowc.float64[M, K]):
    return x.T @ y, x[1:].T @ x[:-1], x[:, ::-1].T @ x[:, ::-1]


SIZES = [(1, 1), (2, 3), (40, 33), (300, 129)]


@pytest.mark.parametrize("optimize", [False, True])
@pytest.mark.parametrize("func,dtype,tol", [(covariance, np.float64, 1e-10), (outer_grams, np.float32, 2e-4),
                                            (look_alikes, np.float64, 1e-10)])
def test_gram_products_match_numpy(rng, func, dtype, tol, optimize):
    prog = flowc.program(func, auto_optimize=optimize)
    for m, k in SIZES:
        args = [rng.standard_normal((m, k)).astype(dtype) for _ in range(func.__code__.co_argcount)]
        with np.errstate(all="ignore"):
            want = func(*args)
        got = prog(*args)
        for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
            assert g.dtype == w.dtype
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol, err_msg=f"{func.__name__} at {m}x{k}")


@pytest.mark.parametrize("func,calls", [(covariance, 1), (outer_grams, 2), (look_alikes, 0)])
def test_only_a_matrix_and_its_own_transpose_becomes_syrk(func, calls):
    program = flowc.program(func).to_ir()
    auto_optimize(program)
    source = generate_cpp(program).source
    assert source.count("syrk(101, ") == calls                 # calls (row-major), not the prototype
