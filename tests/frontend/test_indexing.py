"""Indexing: integers, slices (steps, negative bounds), new axes, ellipsis, slice and mask assignment,
integer-array gathers."""

import re

import numpy as np
import pytest

import flowc
from flowc import ir

from fe_helpers import rand, run_both

N, M, K = flowc.symbol("N"), flowc.symbol("M"), flowc.symbol("K")
SIZES = [(6, 5), (11, 9)]


@flowc.program
def reads(x: flowc.float64[N, M]):
    return (x[1], x[-1, 2], x[1:, ::2], x[::-1, -1], x[:, None, 0], x[None], x[..., 1], x[2:-1, -3:],
            x[::-2, 1::3], x[-1:0:-1, :], x[:, 1:2], x[np.newaxis, 1:, None, :2], x[1][2:4])


def test_basic_indexing_reads(rng):
    for shape in SIZES:
        run_both(reads, rand(rng, shape))


@flowc.program
def writes(x: flowc.float64[N, M], v: flowc.float64[M]):
    x[0] = v
    x[1, 1:] = 7.0
    x[-1, ::2] = v[::2] * 2
    x[2:4, -1] = -1.0
    x[::-3, 0] += 10
    x[:, :] = x * 0.5
    x[...] += 1


def test_slice_assignment(rng):
    for shape in SIZES:
        run_both(writes, rand(rng, shape), rand(rng, shape[1]))


@flowc.program
def views_alias(x: flowc.float64[N, M]):
    row = x[1]
    row[:] = 3.0
    col = x.T[2]
    col *= 2
    return x[1:3].sum()


def test_views_write_through(rng):
    for shape in SIZES:
        run_both(views_alias, rand(rng, shape))


@flowc.program
def masks(a: flowc.float64[N, M], b: flowc.float64[N, M]):
    a[a > 0.5] = 0
    b[b < 0] += 1.5
    a[b > 0.9] = -2.0


def test_boolean_mask_assignment(rng):
    for shape in SIZES:
        run_both(masks, rand(rng, shape), rand(rng, shape))


@flowc.program
def int_masks(c: flowc.int64[N], d: flowc.int32[N], f: flowc.float16[N]):
    c[c > 0] = -1.5
    d[d < 0] = 7.9
    f[f > 0] = 1e-3


def test_mask_assignment_casts_the_value_not_the_array(rng):
    # the select ran in the promoted dtype: int64 elements the mask leaves alone went through
    # float64 (-2**63 + 1 came back as -2**63)
    for n in (1, 4, 33):
        c = rng.integers(-2**63, 2**63 - 1, n, dtype=np.int64)
        c[0] = -2**63 + 1
        d = rng.integers(-2**31, 2**31 - 1, n, dtype=np.int32)
        f = rng.standard_normal(n).astype(np.float16)
        run_both(int_masks, c, d, f)


@flowc.program
def gathers(x: flowc.float64[N, M], idx: flowc.int64[K], jdx: flowc.int32[K]):
    return x[idx], x[idx, 1], x[:, idx], x[idx, jdx], x[1:][idx // 2], x[idx][:, ::-1], x[-1, jdx] * 2


def test_integer_array_gathers(rng):
    for n, m in SIZES:
        k = n + 3
        run_both(gathers, rand(rng, (n, m)), rng.integers(0, min(n, m), k), rng.integers(-m, m, k).astype(np.int32))


@flowc.program
def gather_in_loop(table: flowc.float64[N], idx: flowc.int64[K], out: flowc.float64[K]):
    for i in range(K):
        out[i] = table[idx[i]] * 2


def test_data_dependent_scalar_index(rng):
    for n in (5, 13):
        table, idx = rand(rng, n), rng.integers(0, n, 8)

        def ref(table, idx, out):
            out[:] = table[idx] * 2

        run_both(gather_in_loop, table, idx, rand(rng, 8), ref=ref)


def test_gather_uses_a_subscripted_array_connector():
    p = gathers.to_ir()
    p.validate()
    codes = [str(n.code) for _, n in p.all_nodes() if isinstance(n, ir.Tasklet)]
    assert any("[" in c for c in codes)


@flowc.program
def symbolic_slices(x: flowc.float64[N], y: flowc.float64[N]):
    y[1:N - 1] = (x[0:N - 2] + x[2:N]) / 2
    return x[N // 2:], x[:N - 1:2]


def test_symbolic_slice_bounds(rng):
    for n in (5, 12):
        def ref(x, y, n=n):
            y[1:n - 1] = (x[0:n - 2] + x[2:n]) / 2
            return x[n // 2:], x[:n - 1:2]

        run_both(symbolic_slices, rand(rng, n), rand(rng, n), ref=ref)


# ---------------------------------------------------------------- bounds on symbolic axes

@flowc.program
def fixed_bounds(x: flowc.float32[N, M], y: flowc.float32[N, K]):
    x[:, :2] = 1.5                       # a write: out of bounds it would corrupt memory
    return x[:, :4] * 2.0, x[:, 3], x[:, -3:], y[:, :M], x[1:, ::-2]


def _fixed_bounds_ref(x, y):
    x[:, :2] = 1.5
    return x[:, :4] * 2.0, x[:, 3], x[:, -3:], y[:, :x.shape[1]], x[1:, ::-2]


def test_constant_bounds_inside_symbolic_axes_are_checked_per_call(rng):
    """NumPy clamps slice bounds to the axis; on a symbolic axis flowc cannot, so it checks the
    bounds on every call instead of reading or writing outside the array."""
    for n, m, k in ((3, 4, 6), (5, 7, 9), (2, 4, 4)):
        run_both(fixed_bounds, rand(rng, (n, m), np.float32), rand(rng, (n, k), np.float32),
                 ref=_fixed_bounds_ref)
    for m, k, what in ((3, 6, "[:4] of an axis of size M needs M - 4 >= 0, but M = 3"), (4, 3, "[:M]")):
        x, y = rand(rng, (3, m), np.float32), rand(rng, (3, k), np.float32)
        before = x.copy()
        with pytest.raises(ValueError, match=re.escape(what)):
            fixed_bounds(x, y)
        np.testing.assert_array_equal(x, before)          # rejected before anything ran


@flowc.program
def loop_slices(x: flowc.float64[N, M]):
    out = np.zeros_like(x)
    for i in range(1, x.shape[0]):
        out[i, :] = x[i - 1, :] + x[i, :]
    return out


def test_requirements_only_on_size_symbols(rng):
    p = fixed_bounds.to_ir()
    assert any("M - 4" in str(e) for e, _ in p.requirements)
    assert any(why == "index 3 on an axis of size M" for _, why in p.requirements)
    assert ir.from_json(p.to_json()).requirements == p.requirements
    assert loop_slices.to_ir().requirements == []           # loop-variable indices are in range by construction
    for shape in SIZES:
        run_both(loop_slices, rand(rng, shape))
