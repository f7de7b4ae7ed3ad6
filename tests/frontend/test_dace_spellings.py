"""DaCe's spellings (issue 9): programs written for DaCe run unchanged under flowc."""

import numpy as np
import pytest

import flowc

from fe_helpers import rand, run_both, with_symbols

# DaCe: dace.symbol(name, dtype=int32, **assumptions), the dtype often positional
NS = flowc.symbol("NS", flowc.int64)
MS = flowc.symbol("MS", np.int32, positive=True)
KS = flowc.symbol("KS", dtype=int)


@flowc.program
def typed_symbols(a: flowc.float64[NS, MS], b: flowc.float64[MS, KS]):
    return a @ b + 1.0


def test_symbol_with_positional_dtype(rng):
    for n, m, k in [(1, 1, 1), (3, 4, 5), (8, 2, 6)]:
        run_both(typed_symbols, rand(rng, (n, m)), rand(rng, (m, k)))


@pytest.mark.parametrize("dtype", [flowc.float64, float, np.float32, flowc.bool_, "N"])
def test_symbol_dtype_must_be_an_integer_type(dtype):
    with pytest.raises(TypeError, match="parameter 'dtype' must be an integer type"):
        flowc.symbol("Q", dtype)


N, M = flowc.symbol("N"), flowc.symbol("M")


@flowc.program
def ndarray_alloc(x: flowc.float64[N, M], k: flowc.int32[M]):
    t = np.ndarray((N, M), dtype=np.float64)
    u = np.ndarray(shape=[M], dtype=np.int32)
    v = np.ndarray((N, 2))
    t[:] = x * 2.0
    u[:] = k + 1
    v[:, 0] = t[:, 0]
    v[:, 1] = x[:, M - 1]
    return t + u, v


def test_ndarray_constructor_allocates(rng):
    for n, m in [(1, 1), (3, 4), (6, 2)]:
        run_both(ndarray_alloc, rand(rng, (n, m)), rand(rng, m, np.int32),
                 ref=with_symbols(ndarray_alloc.func, N=n, M=m))


def test_ndarray_constructor_on_existing_memory_is_refused():
    def view(x: flowc.float64[N]):
        return np.ndarray((N,), dtype=np.float64, buffer=x)

    with pytest.raises(flowc.FrontendError, match="buffer="):
        flowc.program(view).to_ir()


@flowc.program
def locals_(x: flowc.float64[N, M], y: flowc.float32[M]):
    t = flowc.define_local([N, M], flowc.float64)
    w = flowc.define_local((M,))
    s = flowc.define_local_scalar(flowc.float64)
    c = flowc.define_local_scalar()
    t[:] = x * 3.0
    w[:] = y * 2
    s[0] = 0.0
    for i in range(N):
        s[0] += np.sum(t[i])
    c[0] = y[0]
    return t / s[0], w, s, c


def test_define_local_and_define_local_scalar(rng):
    """DaCe's default dtype is float32; a local scalar is a one-element array, as in DaCe."""
    for n, m in [(1, 1), (4, 3), (7, 9)]:
        out = run_both(locals_, rand(rng, (n, m), low=0.5, high=1.5), rand(rng, m, np.float32),
                       ref=with_symbols(locals_.func, N=n, M=m))
        assert out[1].dtype == np.float32 and out[2].shape == (1,) and out[3].dtype == np.float32


def test_define_local_outside_a_program():
    assert flowc.define_local([2, 3], flowc.float64).shape == (2, 3)
    assert flowc.define_local_scalar(np.int32).dtype == np.int32
    with pytest.raises(TypeError, match="parameter 'dtype'"):
        flowc.define_local([2], "nonsense")


@flowc.program
def _relax(a: flowc.float64[N], b: flowc.float64[N], nit: int):
    for _t in range(nit):
        a[:] = a * 0.5 + b
    return a


def relax_twice(a: flowc.float64[N], b: flowc.float64[N], nit: int):
    return _relax(a, b, nit=nit) + _relax(a, b, nit=nit + 1)


@flowc.program
def _ramp(x: flowc.float64[N], bins: int):
    out = np.zeros(bins, np.float64)
    for i in range(bins):
        out[i] = x[i % x.shape[0]] * i
    return out


def ramp_of(x: flowc.float64[N], npt: int):
    return _ramp(x, bins=npt + 1)


def test_nested_programs_take_sizes_by_keyword_and_from_expressions(rng):
    """DaCe style: ``inner(a, b, nit=nit)`` and ``hist(x, bins=npt + 1)``, where the callee uses the
    value as a loop bound or an array size (the caller's integer parameter becomes a size symbol)."""
    for n in (1, 5):
        for nit in (0, 3):
            a, b = rng.standard_normal(n), rng.standard_normal(n)
            want_a = a.copy()
            r1 = _relax.func(want_a, b, nit)             # Python: both calls return ``a`` itself
            want = r1 + _relax.func(want_a, b, nit + 1)
            got = flowc.program(relax_twice)(a, b, nit)
            np.testing.assert_allclose(got, want, rtol=1e-12)
            np.testing.assert_allclose(a, want_a, rtol=1e-12)
        for npt in (0, 1, 6):
            x = rng.standard_normal(n)
            np.testing.assert_allclose(flowc.program(ramp_of)(x, npt), _ramp.func(x, npt + 1), rtol=1e-12)
