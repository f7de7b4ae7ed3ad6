"""Early returns in if/else arms (DaCe programs use them, in nested programs too): rewritten into one
return at the end (flowc/frontend/returns.py), checked against NumPy on every path."""

import numpy as np
import pytest

import flowc

N = flowc.symbol("N")


def clipped(a: flowc.float64[N]):
    if np.sum(a) > 0:
        return a * 2
    return a - 1


def three_ways(a: flowc.float64[N], b: flowc.float64[N]):
    c = a + b
    if np.max(c) > 1.5:
        if np.min(c) < 0.2:
            return c, a
        c = c * 2
    elif np.sum(c) < 0:
        return c - 1, b
    return c + 1, a * b


@flowc.program
def inner_scale(x: flowc.float64[N]):
    if np.max(x) > 0.5:
        return x * 3
    else:
        return x + 0.5


def calls_inner(a: flowc.float64[N]):
    return inner_scale(a) + inner_scale(a * 0.5)


def in_place_or_not(a: flowc.float64[N]):
    if np.min(a) < 0:
        return
    a[:] = a * 2


def _inputs(rng, n):
    return [(s * rng.uniform(0.0, 1.0, n), rng.uniform(0.0, 1.0, n)) for s in (1.0, -1.0, 3.0)]


@pytest.mark.parametrize("func", [clipped, three_ways, calls_inner, in_place_or_not])
def test_every_path_matches_numpy(func, rng):
    for auto in (False, True):
        prog = flowc.program(func, auto_optimize=auto)
        for n in (1, 4, 9):
            for a, b in _inputs(rng, n):
                args = (a, b)[:func.__code__.co_argcount]
                mine, ref = [x.copy() for x in args], [x.copy() for x in args]
                got, want = prog(*mine), func(*ref)
                if want is None:
                    assert got is None
                else:
                    for g, w in zip(got if isinstance(want, tuple) else (got,), want if isinstance(want, tuple)
                                    else (want,)):
                        np.testing.assert_allclose(g, w, rtol=1e-12)
                for m, r in zip(mine, ref):
                    np.testing.assert_allclose(m, r, rtol=1e-12)


def in_loop(a: flowc.float64[N]):
    for i in range(3):
        if np.sum(a) > i:
            return a
    return a * 2


def different_arity(a: flowc.float64[N]):
    if np.sum(a) > 0:
        return a, a
    return a


def falls_through(a: flowc.float64[N]):
    if np.sum(a) > 0:
        return a * 2
    a[:] = 0.0


@pytest.mark.parametrize("func, message", [
    (in_loop, "'return' inside a loop is not supported"),
    (different_arity, "different numbers of values"),
    (falls_through, "ends without a return"),
])
def test_unsupported_early_returns_are_refused_at_the_return(func, message):
    with pytest.raises(flowc.FrontendError, match=message) as info:
        flowc.program(func).to_ir()
    assert "test_early_return.py" in str(info.value)
