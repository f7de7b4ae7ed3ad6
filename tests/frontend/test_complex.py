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
