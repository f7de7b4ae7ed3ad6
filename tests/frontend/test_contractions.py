"""Contractions: @, matmul, dot, tensordot, einsum — lowered to MatMul with views."""

import numpy as np

import flowc
from flowc import ir

from fe_helpers import rand, run_both

N, M, K, B = (flowc.symbol(s) for s in "NMKB")
SIZES = [(2, 3, 4, 5), (3, 8, 6, 7)]


@flowc.program
def matmuls(a: flowc.float32[N, K], b: flowc.float32[K, M], v: flowc.float32[K], w: flowc.float32[N]):
    return a @ b, np.matmul(a, b) + 1, a @ v, w @ a, v @ v, a.T @ a, (a * 2) @ b[:, ::-1]


def test_matmul_2d_1d(rng):
    for _, n, k, m in SIZES:
        run_both(matmuls, rand(rng, (n, k), np.float32), rand(rng, (k, m), np.float32), rand(rng, k, np.float32),
                 rand(rng, n, np.float32))


@flowc.program
def batched(a: flowc.float64[B, N, K], b: flowc.float64[B, K, M], c: flowc.float64[K, M],
            d: flowc.float64[2, 1, N, K]):
    return a @ b, a @ c, np.matmul(d, c), d @ b, np.matmul(a, b.transpose(0, 2, 1).transpose(0, 2, 1))


def test_batched_matmul_broadcasting(rng):
    for bb, n, k, m in SIZES:
        run_both(batched, rand(rng, (bb, n, k)), rand(rng, (bb, k, m)), rand(rng, (k, m)), rand(rng, (2, 1, n, k)))


@flowc.program
def int_matmul(a: flowc.int32[N, K], b: flowc.int32[K, M]):
    return a @ b


def test_integer_matmul_is_pure(rng):
    for _, n, k, m in SIZES:
        run_both(int_matmul, rand(rng, (n, k), np.int32), rand(rng, (k, m), np.int32))
    p = int_matmul.to_ir()
    (mm,) = [n for _, n in p.all_nodes() if isinstance(n, ir.MatMul)]
    assert mm.implementation == "pure"


def test_float_matmul_of_transposed_view_is_blas_without_copy():
    p = matmuls.to_ir()
    p.validate()
    mms = [n for _, n in p.all_nodes() if isinstance(n, ir.MatMul)]
    assert len(mms) == 7
    assert all(m.implementation == "blas" for m in mms[:6])
    assert any(d.view_of == "a" and d.strides[0] == 1 for d in p.data.values() if isinstance(d, ir.Array))


@flowc.program
def reversed_operands(a: flowc.float32[N, K], b: flowc.float32[K, M], c: flowc.float64[B, N, K],
                      d: flowc.float64[K, M]):
    return a[::-1] @ b, a @ b[::-1], a[::-1].T @ a[::-1], c[:, ::-1] @ d, c[::-1] @ d


def test_matmul_of_reversed_views(rng):
    """A reversed view has a negative leading dimension, which BLAS cannot take: no GEMM call for it."""
    for bb, n, k, m in SIZES:
        run_both(reversed_operands, rand(rng, (n, k), np.float32), rand(rng, (k, m), np.float32),
                 rand(rng, (bb, n, k)), rand(rng, (k, m)))


@flowc.program
def dots(a: flowc.float64[N, K], b: flowc.float64[K, M], v: flowc.float64[K], t: flowc.float64[B, N, K],
         u: flowc.float64[M, K, B]):
    return np.dot(a, b), np.dot(v, v), np.dot(a, v), np.dot(3.0, v), a.dot(b), np.dot(t, v), np.dot(t, u)


def test_dot(rng):
    for bb, n, k, m in SIZES:
        run_both(dots, rand(rng, (n, k)), rand(rng, (k, m)), rand(rng, k), rand(rng, (bb, n, k)),
                 rand(rng, (m, k, bb)))


@flowc.program
def dot_by_scalar(x: flowc.float32[N], y: flowc.float64[N, M], h: flowc.float16[N]):
    return np.dot(x, 2.0), np.dot(3, x), np.dot(y, -1.5), np.dot(h, np.float16(2)), np.dot(h, 2)


def test_dot_by_a_python_number_is_not_weak(rng):
    # np.dot converts its operands to arrays: np.dot(float32 array, 2.0) is float64 (flowc gave
    # float32, as for float32_array * 2.0), np.dot(float16 array, 2) is int64 * float16 = float64
    for n, m in ((1, 1), (5, 3), (40, 7)):
        run_both(dot_by_scalar, rand(rng, n, np.float32), rand(rng, (n, m)), rand(rng, n).astype(np.float16))


@flowc.program
def tensordots(a: flowc.float64[B, N, K], b: flowc.float64[K, N, M], c: flowc.float64[N, K]):
    return (np.tensordot(a, b, axes=([1, 2], [1, 0])), np.tensordot(a, c, axes=2), np.tensordot(c, b, axes=1),
            np.tensordot(a, b, axes=([2], [0])))


def test_tensordot(rng):
    for bb, n, k, m in SIZES:
        run_both(tensordots, rand(rng, (bb, n, k)), rand(rng, (k, n, m)), rand(rng, (n, k)))


@flowc.program
def einsums(a: flowc.float32[B, N, K], b: flowc.float32[B, K, M], c: flowc.float32[K, M], q: flowc.float32[B, N, K]):
    return (np.einsum("bik,bkj->bij", a, b), np.einsum("bik,kj->bij", a, c), np.einsum("ij->ji", c),
            np.einsum("bik,bjk->bij", a, q), np.einsum("ik,kj", a[0], c), np.einsum("bik->bk", a),
            np.einsum("...ik,...kj->...ij", a, b), np.einsum("bik,kj,bjl->bil", a, c, np.swapaxes(b, 1, 2)),
            np.einsum("i,j->ij", c[:, 0], c[0]))


def test_einsum_contractions(rng):
    for bb, n, k, m in SIZES:
        run_both(einsums, rand(rng, (bb, n, k), np.float32), rand(rng, (bb, k, m), np.float32),
                 rand(rng, (k, m), np.float32), rand(rng, (bb, n, k), np.float32))


@flowc.program
def attention(q: flowc.float32[B, N, K], k: flowc.float32[B, N, K], v: flowc.float32[B, N, K]):
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(np.float32(K))
    e = np.exp(s - np.max(s, axis=-1, keepdims=True))
    a = e / np.sum(e, axis=-1, keepdims=True)
    return a @ v


def test_attention_block(rng):
    for bb, n, k, _ in SIZES:
        q, kk, v = (rand(rng, (bb, n, k), np.float32) for _ in range(3))

        def ref(q, kk, v, k=k):
            s = q @ np.swapaxes(kk, -1, -2) / np.sqrt(np.float32(k))
            e = np.exp(s - s.max(-1, keepdims=True))
            return (e / e.sum(-1, keepdims=True)) @ v

        run_both(attention, q, kk, v, ref=ref)


@flowc.program
def heads(x: flowc.float32[B, N, 12], w: flowc.float32[12, 12]):
    q = (x @ w).reshape(B, N, 3, 4).transpose(0, 2, 1, 3)
    s = q @ q.transpose(0, 1, 3, 2)
    c = s @ q
    return c.transpose(0, 2, 1, 3).reshape(B, N, 12)


def test_multi_head_split_and_merge(rng):
    for bb, n, _, _ in SIZES:
        def ref(x, w, bb=bb, n=n):
            q = (x @ w).reshape(bb, n, 3, 4).transpose(0, 2, 1, 3)
            return ((q @ q.transpose(0, 1, 3, 2)) @ q).transpose(0, 2, 1, 3).reshape(bb, n, 12)

        run_both(heads, rand(rng, (bb, n, 12), np.float32), rand(rng, (12, 12), np.float32), ref=ref)
