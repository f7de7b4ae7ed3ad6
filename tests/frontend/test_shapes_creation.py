"""Shape operations (views where NumPy makes views) and array creation."""

import numpy as np
import pytest

import flowc
from flowc import ir

from fe_helpers import rand, run_both, with_symbols

N, M, K = flowc.symbol("N"), flowc.symbol("M"), flowc.symbol("K")
SIZES = [(2, 3, 4), (5, 4, 6)]


@flowc.program
def shape_ops(x: flowc.float64[N, M, K]):
    return (x.T, np.transpose(x, (1, 0, 2)), x.transpose(2, 0, 1), np.swapaxes(x, 0, 2), x.swapaxes(1, 2),
            x.reshape(N * M, K), np.reshape(x, (N, -1)), x.reshape(-1), x[:, 0].reshape(K, N),
            np.expand_dims(x, 1), np.expand_dims(x, (0, -1)), np.squeeze(x[:, :1, None]), x[:1].squeeze(0),
            np.ravel(x), x.T.reshape(K, -1), x.transpose(1, 0, 2).reshape(M, N * K), x[:, ::2].flatten(),
            (x * 2).T, np.expand_dims(x + 1, 0))


def test_shape_operations(rng):
    for n, m, k in SIZES:
        run_both(shape_ops, rand(rng, (n, m, k)), ref=with_symbols(shape_ops.func, N=n, M=m, K=k))


@flowc.program
def joins(a: flowc.float32[N, M], b: flowc.float32[N, K], c: flowc.float32[N, M]):
    return (np.concatenate((a, b), axis=1), np.concatenate([a, c, a]), np.concatenate((a, c), axis=-2),
            np.stack([a, c]), np.stack((a, c * 2), axis=1), np.stack([a, c], axis=-1))


def test_concatenate_and_stack(rng):
    for n, m, k in SIZES:
        run_both(joins, rand(rng, (n, m), np.float32), rand(rng, (n, k), np.float32), rand(rng, (n, m), np.float32))


def test_reshape_and_transpose_are_views():
    @flowc.program
    def views(x: flowc.float32[N, M, K]):
        return x.reshape(N * M, K) @ x[0].T

    p = views.to_ir()
    p.validate()
    copies = [n for _, n in p.all_nodes() if isinstance(n, ir.MapEntry)]
    assert not copies, "reshape of contiguous data and transposes must not copy"
    assert sum(1 for d in p.data.values() if isinstance(d, ir.Array) and d.view_of == "x") == 2


@flowc.program
def creation(x: flowc.float64[N], n: flowc.int64):
    a = np.zeros((N, 3))
    a[:, 1] = x
    b = np.ones_like(x, dtype=np.int32)
    c = np.arange(N) * 0.5
    d = np.arange(2, 11, 3)
    e = np.eye(N, 4, k=1)
    f = np.full((2, N), 7.0)
    g = np.full_like(x, n)
    h = np.empty((N,), dtype=np.float32)
    h[:] = x
    i = np.zeros_like(x) + np.ones(N, dtype=flowc.float32)
    j = np.eye(3, dtype=np.int64)
    k = np.arange(0.5, 3.0, 0.5)
    m = x.copy()
    m[0] = 100.0
    return a, b, c, d, e, f, g, h, i, j, k, m, x.astype(np.float32), np.copy(x), np.empty_like(x).shape[0]


def test_creation(rng):
    for n in (5, 9):
        def ref(x, nn, n=n):
            a = np.zeros((n, 3))
            a[:, 1] = x
            m = x.copy()
            m[0] = 100.0
            return (a, np.ones_like(x, dtype=np.int32), np.arange(n) * 0.5, np.arange(2, 11, 3), np.eye(n, 4, k=1),
                    np.full((2, n), 7.0), np.full_like(x, nn), x.astype(np.float32),
                    np.zeros_like(x) + np.ones(n, dtype=np.float32), np.eye(3, dtype=np.int64),
                    np.arange(0.5, 3.0, 0.5), m, x.astype(np.float32), x.copy(), n)

        run_both(creation, rand(rng, n), np.int64(4), ref=ref)


@flowc.program
def copy_is_a_copy(x: flowc.float64[N]):
    y = x.copy()
    y[:] = 1.0
    z = x.astype(np.float64)
    z += 1
    return y, z


def test_copy_and_astype_copy(rng):
    for n in (3, 8):
        run_both(copy_is_a_copy, rand(rng, n))


def reshape_to_constant(x: flowc.float64[N]):
    return np.reshape(x, (4, 5)) * 2


def reshape_to_other_symbols(x: flowc.float64[N, M], y: flowc.float64[K]):
    return x.reshape(K) + y


def test_reshape_counts_that_may_be_equal_are_checked_per_call(rng):
    """DaCe programs reshape into shapes written with other symbols or constants: the element counts
    must be equal, which flowc cannot prove, so it checks them on every call (issue 9)."""
    for auto in (False, True):
        f = flowc.program(reshape_to_constant, auto_optimize=auto)
        x = rng.standard_normal(20)
        np.testing.assert_allclose(f(x), x.reshape(4, 5) * 2, rtol=1e-12)
        with pytest.raises(ValueError, match="reshape of an array of N elements into shape \\(4, 5\\)"):
            f(rng.standard_normal(21))
        g = flowc.program(reshape_to_other_symbols, auto_optimize=auto)
        for n, m in ((1, 1), (3, 4)):
            x, y = rng.standard_normal((n, m)), rng.standard_normal(n * m)
            np.testing.assert_allclose(g(x, y), x.reshape(n * m) + y, rtol=1e-12)
        with pytest.raises(ValueError, match="needs as many elements"):
            g(rng.standard_normal((3, 4)), rng.standard_normal(11))
