"""np.linalg at the edges, as NumPy: non-finite input gives NaN results (LAPACKE's NaN scan used
to reject it as an "invalid argument"), and a singular or not positive definite matrix raises
numpy.linalg.LinAlgError with NumPy's message."""

import numpy as np
import pytest

import flowc

N, K = flowc.symbol("N"), flowc.symbol("K")


def _programs(dt: str):
    X = getattr(flowc, dt)

    @flowc.program
    def inv(a: X[N, N]):
        return np.linalg.inv(a)

    @flowc.program
    def solve(a: X[N, N], b: X[N]):
        return np.linalg.solve(a, b)

    @flowc.program
    def solve2(a: X[N, N], b: X[N, K]):
        return np.linalg.solve(a, b)

    @flowc.program
    def chol(a: X[N, N]):
        return np.linalg.cholesky(a)

    return inv, solve, solve2, chol


def _spd(rng, n, dt):
    a = rng.random((n, n))
    return (a @ a.T + n * np.eye(n)).astype(dt)


def _compare(prog, args):
    try:
        exp = prog.func(*[a.copy() for a in args])
    except np.linalg.LinAlgError as e:
        with pytest.raises(np.linalg.LinAlgError, match=str(e)):
            prog(*[a.copy() for a in args])
        return
    out = prog(*[a.copy() for a in args])
    assert out.dtype == exp.dtype
    np.testing.assert_array_equal(np.isnan(out), np.isnan(exp))
    ok = ~np.isnan(exp)
    tol = 1e-4 if exp.dtype == np.float32 else 1e-10
    np.testing.assert_allclose(out[ok], exp[ok], rtol=tol, atol=tol)


@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_non_finite_input_gives_numpy_results(rng, dt):
    inv, solve, solve2, chol = _programs(dt)
    for n in (1, 3, 6):
        for bad in (np.nan, np.inf, -np.inf):
            for pos in ((0, n - 1), (n - 1, 0), (n // 2, n // 2)):
                a = _spd(rng, n, dt)
                a[pos] = bad
                b = rng.random(n).astype(dt) + 0.5
                c = rng.random((n, 2)).astype(dt) + 0.5
                _compare(inv, (a,))
                _compare(solve, (a, b))
                _compare(solve2, (a, c))
                _compare(chol, (a,))
            b = rng.random(n).astype(dt)
            b[0] = bad
            _compare(solve, (_spd(rng, n, dt), b))


def test_issue_example():
    inv, solve, _, chol = _programs("float64")
    a = 3 * np.eye(3)
    a[0, 1] = np.nan
    assert np.isnan(inv(a)).all() and np.isnan(np.linalg.inv(a)).all()
    assert np.isnan(solve(a, np.ones(3))).all()
    np.testing.assert_allclose(chol(a), np.linalg.cholesky(a))


@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_singular_raises_linalgerror(rng, dt):
    inv, solve, solve2, chol = _programs(dt)
    for n in (2, 5):
        a = rng.random((n, n)).astype(dt)
        a[-1] = a[0] * 2                      # rank deficient: an exactly zero pivot
        a[:, 0] = 0
        for prog, args in ((inv, (a,)), (solve, (a, np.ones(n, dt))), (solve2, (a, np.ones((n, 3), dt)))):
            with pytest.raises(np.linalg.LinAlgError, match="^Singular matrix$"):
                prog(*args)
            with pytest.raises(np.linalg.LinAlgError, match="^Singular matrix$"):
                prog.func(*args)
        with pytest.raises(np.linalg.LinAlgError, match="^Matrix is not positive definite$"):
            chol(-_spd(rng, n, dt))
        with pytest.raises(ValueError):               # LinAlgError is a ValueError, as in NumPy
            chol(-_spd(rng, n, dt))
