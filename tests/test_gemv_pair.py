"""GEMV pair fusion: ``A @ x`` and ``r @ A`` over one matrix become one ``GemvPair`` sweep.

Every program is compared with NumPy on fresh random inputs at several sizes (1, odd, zero
rows or columns, and large enough for the threads to split the rows), plain and with
auto_optimize, in float32 and float64; the transformation is refused where the products
read different memory, chain, or one is not a plain product; JSON, replay and the cuda
target (which expands the pair back into two products) keep the results."""

from __future__ import annotations

import numpy as np
import pytest

import flowc
import flowc.ir as ir
from flowc import frontend
from flowc.codegen.blas_vector import PARALLEL_VECTOR_ELEMENTS
from flowc.transforms import GemvPairFusion, auto_optimize, replay
from flowc.transforms.search_space import build

M, K = flowc.symbol("M"), flowc.symbol("K")


def bicg(A: flowc.float64[M, K], p: flowc.float64[K], r: flowc.float64[M]):
    return r @ A, A @ p


def bicg32(A: flowc.float32[M, K], p: flowc.float32[K], r: flowc.float32[M]):
    return A @ p, r @ A


def bicg_strided(A: flowc.float64[M, K], p: flowc.float64[K], r: flowc.float64[M]):
    B = A[1:, :]                                   # a view with an offset, vectors with strides
    return B @ p[::-1][::-1], r[1:] @ B, r[::2] @ A[::2, :]


def bicg_columns(A: flowc.float32[M, K], p: flowc.float32[K], r: flowc.float32[M]):
    C = A[:, 1:]                                   # rows longer than the view's: lda > columns
    return C @ p[1:], r @ C


def bicg_used_after(A: flowc.float64[M, K], p: flowc.float64[K], r: flowc.float64[M]):
    s = r @ A
    q = A @ p
    return np.sum(s) + np.sum(q * q), s * 2.0


def two_matrices(A: flowc.float64[M, K], B: flowc.float64[M, K], p: flowc.float64[K], r: flowc.float64[M]):
    return r @ A, B @ p


def chained(A: flowc.float64[M, M], p: flowc.float64[M]):
    return A @ (p @ A)                             # the row vector feeds the other product


def column_view(A: flowc.float64[M, K], p: flowc.float64[K], r: flowc.float64[M]):
    return A.T @ r, p @ A.T                        # a transposed matrix: the pair walks stored rows


def _numpy(fn):
    return {"bicg": lambda A, p, r: (r @ A, A @ p),
            "bicg32": lambda A, p, r: (A @ p, r @ A),
            "bicg_strided": lambda A, p, r: (A[1:] @ p, r[1:] @ A[1:], r[::2] @ A[::2]),
            "bicg_used_after": lambda A, p, r: (np.sum(r @ A) + np.sum((A @ p) ** 2), (r @ A) * 2.0),
            "bicg_columns": lambda A, p, r: (A[:, 1:] @ p[1:], r @ A[:, 1:])}[fn.__name__]


#: (rows, columns): tiny, odd, empty, rows enough for the fused sweep on every thread, and short
#: and wide (too few rows per thread: two GEMVs split over their outputs)
SIZES = [(1, 1), (3, 7), (40, 9), (0, 5), (5, 0), (700, 500), (5, 100_000)]
PROGRAMS = [bicg, bicg32, bicg_strided, bicg_used_after, bicg_columns]


@pytest.mark.parametrize("optimize", [False, True], ids=["plain", "auto_optimize"])
@pytest.mark.parametrize("fn", PROGRAMS, ids=lambda f: f.__name__)
def test_pairs_match_numpy(fn, optimize):
    assert 700 * 500 >= PARALLEL_VECTOR_ELEMENTS, "the largest size runs on several threads"
    prog = flowc.program(fn, auto_optimize=optimize)
    want_fn = _numpy(fn)
    rng = np.random.default_rng()
    dt = np.float32 if fn in (bicg32, bicg_columns) else np.float64
    for m, k in SIZES:
        if fn is bicg_strided and m == 0 or fn is bicg_columns and k == 0:
            continue                               # A[1:] of no rows: a negative extent
        A, p, r = rng.standard_normal((m, k)).astype(dt), rng.standard_normal(k).astype(dt), \
            rng.standard_normal(m).astype(dt)
        got, want = prog(A, p, r), want_fn(A, p, r)
        tol = 2e-4 if dt == np.float32 else 1e-10
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol * max(1, k, m))


@pytest.mark.parametrize("fn", PROGRAMS, ids=lambda f: f.__name__)
def test_auto_optimize_fuses_each_pair_and_reads_the_matrix_once(fn):
    plain = frontend.lower(fn)
    done = plain.clone()
    auto_optimize(done)
    pairs = [n for _, n in done.all_nodes() if isinstance(n, ir.GemvPair)]
    assert len(pairs) == 1                         # bicg_strided: r[::2] @ A[::2] has no partner
    assert sum(h["transformation"] == "GemvPairFusion" for h in done.history) == len(pairs)
    sizes = {"M": 300, "K": 200}
    assert build(plain, frozenset(), sizes=sizes).program.to_json() == done.to_json()   # the search's default
    expanded = done.clone()                        # each pair back into its two products, names kept
    for state in expanded.states():
        for n in list(state.nodes()):
            if isinstance(n, ir.GemvPair):
                n.expand(expanded, state)
    expanded.validate()
    labels = sorted(n.label for _, n in expanded.all_nodes() if isinstance(n, ir.MatMul))
    assert labels == sorted(n.label for _, n in plain.all_nodes() if isinstance(n, ir.MatMul))
    itemsize = 4 if fn in (bicg32, bicg_columns) else 8
    saved = expanded.data_movement(**sizes)["total"] - done.data_movement(**sizes)["total"]
    rows, cols = {bicg_strided: (299, 200), bicg_columns: (300, 199)}.get(fn, (300, 200))
    assert saved == rows * cols * itemsize


def test_json_replay_and_the_cuda_target_keep_the_result(monkeypatch):
    done = frontend.lower(bicg)
    auto_optimize(done)
    again = ir.from_json(done.to_json())
    assert again.to_json() == done.to_json()
    fresh = frontend.lower(bicg)
    replay(fresh, again.history)
    assert fresh.to_json() == done.to_json()
    rng = np.random.default_rng()
    A, p, r = rng.standard_normal((33, 17)), rng.standard_normal(17), rng.standard_normal(33)
    for got in (again.compile()(A, p, r),):
        np.testing.assert_allclose(got[0], r @ A, rtol=1e-12)
        np.testing.assert_allclose(got[1], A @ p, rtol=1e-12)
    monkeypatch.setenv("FLOWC_CUDA_EMULATION", "1")
    on_gpu = flowc.compile_program(again.clone(), target="cuda")      # the pair expands back into two GEMMs
    s, y = on_gpu(A, p, r)
    np.testing.assert_allclose(s, r @ A, rtol=1e-12)
    np.testing.assert_allclose(y, A @ p, rtol=1e-12)


@pytest.mark.parametrize("fn,why", [
    (two_matrices, "different matrices"),
    (column_view, "not a row-major matrix"),
])
def test_refusals_say_why(fn, why):
    p = frontend.lower(fn)
    t = GemvPairFusion()
    found = list(t.candidates(p))
    assert found, "the pattern is there"
    assert all(why in (t.why_not(p, m) or "") for m in found)
    q = p.clone()
    auto_optimize(q)
    assert not any(isinstance(n, ir.GemvPair) for _, n in q.all_nodes())


def test_a_chain_is_not_a_pair():
    """``A @ (p @ A)``: the row vector feeds the other product. The frontend puts the two
    products in two states (the second reads what the first wrote), so there is no candidate;
    the result holds."""
    p = frontend.lower(chained)
    assert not list(GemvPairFusion().candidates(p))
    prog = flowc.program(chained, auto_optimize=True)
    rng = np.random.default_rng()
    for n in (1, 6, 600):
        A, v = rng.standard_normal((n, n)), rng.standard_normal(n)
        np.testing.assert_allclose(prog(A, v), A @ (v @ A), rtol=1e-9, atol=1e-9)
