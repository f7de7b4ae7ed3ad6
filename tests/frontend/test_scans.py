"""np.cumsum / np.cumprod (and the ndarray methods) against NumPy: axis=None flattens, axis=k scans
along one axis; NumPy 2's result dtypes (bool and narrow integers widen to int64, dtype=); float16
accumulates in float16 as NumPy does; plain and with auto_optimize; the Scan node round-trips
through JSON."""

import numpy as np
import pytest

import flowc
from flowc import ir
from flowc.ir.library_extra import Scan

from fe_helpers import assert_same, rand

N, M, K = flowc.symbol("N"), flowc.symbol("M"), flowc.symbol("K")

DTYPES = ["float16", "float32", "float64", "int32", "int64", "uint8", "bool"]


def _ftype(dt):
    return getattr(flowc, "bool_" if dt == "bool" else dt)


def _programs(dt, auto):
    X = _ftype(dt)

    @flowc.program(auto_optimize=auto)
    def scans3(x: X[N, M, K]):
        return (np.cumsum(x), np.cumsum(x, axis=0), np.cumsum(x, axis=1), x.cumsum(axis=-1),
                np.cumprod(x, axis=2), x.cumprod(), np.cumsum(x, axis=1, dtype=np.float64),
                np.cumsum(x[:, ::-1, 0], axis=0))

    @flowc.program(auto_optimize=auto)
    def scans1(v: X[N]):
        return np.cumsum(v), np.cumprod(v), np.cumsum(v * 2, dtype=np.float32), np.cumsum(v)[::2]

    return scans3, scans1


def _inputs(rng, shape, dt):
    if dt == "bool":
        return rng.random(shape) < 0.5
    if np.dtype(dt).kind in "iu":
        return rng.integers(1, 4, size=shape).astype(dt)       # products stay in range
    return (0.5 + rng.random(shape)).astype(dt)                 # products of values near 1


def _check(out, exp):
    for o, e in zip(out, exp):
        assert o.dtype == e.dtype
        if e.dtype == np.float16:
            np.testing.assert_allclose(o.astype(np.float64), e.astype(np.float64), rtol=1e-2, atol=1e-2)
        else:
            assert_same(o, e)


@pytest.mark.parametrize("auto", [False, True])
@pytest.mark.parametrize("dt", DTYPES)
def test_cumsum_cumprod(rng, dt, auto):
    scans3, scans1 = _programs(dt, auto)
    for shape in ((1, 1, 1), (2, 3, 4), (5, 1, 7)):
        x = _inputs(rng, shape, dt)
        _check(scans3(x.copy()), scans3.func(x.copy()))
    for n in (1, 6, 33):
        v = _inputs(rng, n, dt)
        _check(scans1(v.copy()), scans1.func(v.copy()))


def test_float16_accumulates_like_numpy():
    @flowc.program
    def half(v: flowc.float16[N]):
        return np.cumsum(v)

    v = np.full(3000, 0.1, dtype=np.float16)      # a float16 running sum stalls at 256
    np.testing.assert_array_equal(half(v), np.cumsum(v))


def test_scan_in_loop_and_large(rng):
    @flowc.program
    def running(x: flowc.float64[N, M], T: int):
        acc = np.zeros((N, M))
        for _t in range(T):
            acc = acc + np.cumsum(x, axis=1) - np.cumsum(acc, axis=0) * 0.1
        return acc

    for n, m, t in ((1, 3, 2), (200, 300, 3)):        # the large case takes the parallel path
        x = rand(rng, (n, m))
        exp = np.zeros((n, m))
        for _ in range(t):
            exp = exp + np.cumsum(x, axis=1) - np.cumsum(exp, axis=0) * 0.1
        np.testing.assert_allclose(running(x, t), exp, rtol=1e-9, atol=1e-9)


def test_scan_ir_round_trip():
    scans3, _ = _programs("float32", False)
    p = scans3.to_ir()
    p.validate()
    scans = [n for _, n in p.all_nodes() if isinstance(n, Scan)]
    assert {(s.op, s.axis) for s in scans} >= {("sum", 0), ("sum", 1), ("sum", 2), ("prod", 2)}
    q = ir.from_json(p.to_json())
    assert q.to_json() == p.to_json()


def test_bad_arguments():
    with pytest.raises(flowc.FrontendError, match="out of bounds"):
        @flowc.program
        def bad_axis(x: flowc.float64[N]):
            return np.cumsum(x, axis=1)

        bad_axis(np.ones(3))
    with pytest.raises(flowc.FrontendError, match="out="):
        @flowc.program
        def bad_out(x: flowc.float64[N], y: flowc.float64[N]):
            return np.cumsum(x, out=y)

        bad_out(np.ones(3), np.ones(3))
