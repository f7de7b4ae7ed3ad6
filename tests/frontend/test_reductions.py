"""Reductions: sum/prod/max/min/mean/var/std/argmax/argmin with every kind of axis, ufunc.reduce/outer."""

import numpy as np

import flowc
from flowc import ir

from fe_helpers import rand, run_both, with_symbols

N, M, K = flowc.symbol("N"), flowc.symbol("M"), flowc.symbol("K")
SIZES = [(2, 3, 4), (5, 7, 6)]


@flowc.program
def sums(x: flowc.float64[N, M, K]):
    return (np.sum(x), np.sum(x, axis=0), np.sum(x, axis=-1), np.sum(x, axis=(0, 2)), x.sum(axis=1, keepdims=True),
            np.sum(x, axis=(0, 1, 2), keepdims=True), np.prod(x, axis=1), x.prod())


def test_sum_prod_axes(rng):
    for shape in SIZES:
        run_both(sums, rand(rng, shape, low=0.5, high=1.5))


@flowc.program
def extremes(x: flowc.float32[N, M, K]):
    return (np.max(x), np.min(x, axis=1), x.max(axis=(1, 2)), x.min(axis=-2, keepdims=True), np.amax(x, axis=0),
            np.max(x, axis=2, initial=0.25))


def test_max_min(rng):
    for shape in SIZES:
        run_both(extremes, rand(rng, shape, np.float32))


@flowc.program
def stats(x: flowc.float32[N, M, K]):
    return (np.mean(x), np.mean(x, axis=1), x.mean(axis=(0, 2), keepdims=True), np.var(x, axis=0),
            np.std(x, axis=-1), x.var(), np.var(x, axis=1, ddof=1), np.std(x, axis=(0, 1), keepdims=True))


def test_mean_var_std(rng):
    for shape in SIZES:
        run_both(stats, rand(rng, shape, np.float32))


@flowc.program
def int_reductions(x: flowc.int32[N, M], b: flowc.bool_[N, M]):
    return np.sum(x), np.sum(x, axis=0), np.max(x, axis=1), np.mean(x, axis=0), np.sum(b, axis=1), \
        np.prod(x[:, :2], axis=1), np.any(b, axis=0), np.all(b)


def test_integer_and_bool_reductions_use_numpy_dtypes(rng):
    for n, m, _ in SIZES:
        run_both(int_reductions, rand(rng, (n, m), np.int32), rand(rng, (n, m), np.bool_))


@flowc.program
def args(x: flowc.float64[N, M, K]):
    return np.argmax(x), np.argmin(x, axis=0), x.argmax(axis=-1), np.argmin(x, axis=1, keepdims=True)


def test_argmax_argmin(rng):
    for shape in SIZES:
        run_both(args, rand(rng, shape))


@flowc.program
def argmax_ties(x: flowc.int64[N, M]):
    return np.argmax(x, axis=1), np.argmin(x, axis=0)


def test_argmax_returns_first_of_ties(rng):
    for n, m in ((4, 6), (9, 3)):
        run_both(argmax_ties, rng.integers(0, 3, (n, m)))


@flowc.program
def ufunc_methods(a: flowc.float64[N], b: flowc.float64[M], x: flowc.float64[N, M]):
    return (np.add.reduce(x), np.add.reduce(x, axis=1, keepdims=True), np.maximum.reduce(x, axis=0, initial=0.9),
            np.multiply.reduce(a), np.minimum.reduce(x, axis=None), np.multiply.outer(a, b), np.add.outer(b, a),
            np.subtract.outer(a, b) ** 2)


def test_ufunc_reduce_and_outer(rng):
    for n, m, _ in SIZES:
        run_both(ufunc_methods, rand(rng, n), rand(rng, m), rand(rng, (n, m)))


@flowc.program
def reduce_views(x: flowc.float64[N, M]):
    return np.sum(x.T, axis=0), np.max(x[::2, 1:], axis=1), np.sum(x[:, None, :] * 2, axis=-1)


def test_reductions_of_views_and_expressions(rng):
    for n, m, _ in SIZES:
        run_both(reduce_views, rand(rng, (n, m)))


def test_reduction_is_a_library_node_over_a_view():
    p = reduce_views.to_ir()
    p.validate()
    reduces = [n for _, n in p.all_nodes() if isinstance(n, ir.Reduce)]
    assert len(reduces) == 3
    assert any(d.view_of == "x" for d in p.data.values() if isinstance(d, ir.Array))


@flowc.program
def softmax(x: flowc.float32[N, M]):
    m = np.max(x, axis=-1, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=-1, keepdims=True)


def test_softmax(rng):
    for n, m, _ in SIZES:
        run_both(softmax, rand(rng, (n, m), np.float32, -5, 5))


@flowc.program
def layernorm(x: flowc.float32[N, M], g: flowc.float32[M], b: flowc.float32[M]):
    mu = np.mean(x, axis=-1, keepdims=True)
    var = np.mean((x - mu) ** 2, axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-12) * g + b


def test_layernorm(rng):
    for n, m, _ in SIZES:
        run_both(layernorm, rand(rng, (n, m), np.float32), rand(rng, m, np.float32), rand(rng, m, np.float32))


@flowc.program
def logical_reduce(b: flowc.bool_[N, M], x: flowc.float64[N, M]):
    return np.logical_and.reduce(b, axis=0), np.logical_or.reduce(x > 0.5, axis=1), np.any(x > 0.99), x.all()


def test_logical_reductions(rng):
    for n, m, _ in SIZES:
        run_both(logical_reduce, rand(rng, (n, m), np.bool_), rand(rng, (n, m)))


@flowc.program
def nan_reductions(x: flowc.float64[N, M]):
    return (np.argmax(x, axis=1), np.argmin(x, axis=0), np.argmax(x), x.argmin(axis=-1, keepdims=True),
            np.fmax.reduce(x, axis=1), np.fmin.reduce(x, axis=0), np.fmax.reduce(x, axis=None, initial=0.5))


def test_argmax_and_fmax_reduce_with_nans(rng):
    # argmax/argmin: the first NaN wins (flowc returned the axis length, an index out of bounds);
    # fmax/fmin.reduce skip NaNs unless the whole slice is NaN (flowc propagated them)
    for n, m in [(4, 5), (3, 2)]:
        x = rand(rng, (n, m))
        x[1, 1] = x[n - 1, 0] = np.nan
        x[2, :] = np.nan
        run_both(nan_reductions, x)


@flowc.program
def builtin_dtypes(x: flowc.int32[N]):
    return np.sum(x, dtype=float), np.zeros_like(x, dtype=bool), np.ones(N, dtype=int), np.add(x, 1, dtype=float)


def test_builtin_types_as_dtype(rng):
    for n in (1, 5):
        run_both(builtin_dtypes, rand(rng, (n,), np.int32), ref=with_symbols(builtin_dtypes.func, N=n))


@flowc.program
def half_sums(x: flowc.float16[N], p: flowc.float16[N]):
    return np.sum(x), np.prod(p), np.mean(x), np.sum(x.reshape(8, -1), axis=1)


def test_float16_sums_accumulate_in_float32(rng):
    """A float16 accumulator drifts by whole units over 1e5 terms; NumPy's pairwise float16 sum
    does not, and neither does accumulating in float32 and rounding once."""
    for n in (800, 100_000):
        x = rng.standard_normal(n).astype(np.float16)
        p = (1 + 0.001 * rng.standard_normal(n)).astype(np.float16)
        got = half_sums(x, p)
        exact = (np.sum(x, dtype=np.float64), np.prod(p, dtype=np.float64), np.mean(x, dtype=np.float64),
                 np.sum(x.reshape(8, -1), axis=1, dtype=np.float64))
        for g, e in zip(got, exact):
            assert np.asarray(g).dtype == np.float16
            np.testing.assert_allclose(np.float64(g), e, rtol=2e-3, atol=0.05)
