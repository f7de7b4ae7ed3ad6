"""The programs the cuda target is tested on (in emulation in CI, on a GPU with ``pytest -m gpu``):
element-wise and broadcasting, reductions, softmax, layernorm, GEMMs (plain, batched, transposed),
the attention block, loops and branches on device data, gathers, scatters, integer arithmetic, the BERT
layer. Each case makes fresh random inputs at a given size and computes NumPy's answer."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

import flowc

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "samples"))
from bert_encoder import encoder_layer, make_inputs, numpy_layer, with_dtype  # noqa: E402

N, M, K, B = (flowc.symbol(s) for s in ("N", "M", "K", "B"))
f32, f64 = flowc.float32, flowc.float64


def elementwise(a: f32[N, M], b: f32[M], c: f32[N, 1]):
    return np.exp(a) * 2 + b - np.sqrt(np.abs(c)) * np.tanh(a)


def where_compare(a: f64[N, M], b: f64[N, M]):
    return np.where(a > b, a - b, np.maximum(a, 0.25) * b)


def reductions(a: f64[N, M]):
    return np.sum(a, axis=1), np.max(a), np.argmax(a, axis=0), np.mean(a, axis=0), np.min(a, axis=1)


def softmax(x: f32[N, M]):
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def layernorm(x: f32[N, M], g: f32[M], b: f32[M]):
    mu = np.mean(x, axis=-1, keepdims=True)
    d = x - mu
    var = np.mean(d * d, axis=-1, keepdims=True)
    return d / np.sqrt(var + 1e-5) * g + b


def matmul_bias_gelu(a: f32[N, K], w: f32[K, M], bias: f32[M]):
    f = a @ w + bias
    return 0.5 * f * (1.0 + np.tanh(0.7978845608028654 * (f + 0.044715 * f * f * f)))


def batched_transposed(a: f64[B, N, K], b: f64[B, M, K], c: f64[K, M]):
    return a @ b.transpose(0, 2, 1), a @ c, a[0].T @ a[0]


def attention(q: f32[B, N, K], k: f32[B, N, K], v: f32[B, N, K]):
    s = (q @ k.transpose(0, 2, 1)) * np.float32(0.25)
    s = np.exp(s - np.max(s, axis=-1, keepdims=True))
    return (s / np.sum(s, axis=-1, keepdims=True)) @ v


def time_loop(a: f64[N, M], T: int):
    for _t in range(T):
        a[1:, :] = a[1:, :] * 0.5 + a[:-1, :] * 0.25
    return a


def converge(a: f64[N]):
    b = a.copy()
    err = 1.0
    while err > 1e-6:
        c = b * 0.5
        err = np.max(np.abs(c - b))
        b = c
    if np.sum(b) > 0:
        b = b + 1.0
    return b


def gather(x: f32[N, M], idx: flowc.int64[K]):
    return x[idx] * 2


def scatter(x: flowc.int64[N], w: f64[N], k: f64[K]):
    counts = np.zeros_like(k)
    for i in range(N):                       # sequential: plain stores
        counts[x[i]] += w[i]
    atomic = np.zeros_like(k)
    for i in flowc.map[0:N]:                 # parallel: atomic updates
        atomic[x[i]] += w[i]
    return counts, atomic


def map_loops(a: f64[N, M], c: f64[N, M]):
    rowsum = np.zeros((N,))
    steps = np.zeros((N, M), dtype=np.int64)
    for i in flowc.map[0:N]:                 # a sequential loop in a map body: one loop tasklet
        s = 0.0
        for k in range(M):
            s += a[i, k] * a[i, M - 1 - k]
        rowsum[i] = s
    for i, j in flowc.map[0:N, 0:M]:         # an escape-time iteration with break
        z = 0.0
        n = 0
        for _t in range(30):
            z = z * z + c[i, j]
            if np.abs(z) > 2.0:
                break
            n += 1
        steps[i, j] = n
    return rowsum, steps


def _map_loops_ref(a, c):
    steps = np.zeros(c.shape, dtype=np.int64)
    z = np.zeros_like(c)
    alive = np.ones(c.shape, dtype=bool)
    for _ in range(30):
        z = np.where(alive, z * z + c, z)
        alive &= np.abs(z) <= 2.0
        steps += alive
    return np.sum(a * a[:, ::-1], axis=1), steps


def _scatter_ref(x, w, k):
    counts = np.zeros_like(k)
    np.add.at(counts, x, w)
    return counts, counts


def integers(a: flowc.int32[N], b: flowc.int32[N]):
    return a // b + a % b, np.abs(a) + 1, a * b


def flags(a: f64[N, M]):
    return np.any(a > 0.9, axis=1), np.all(a > 0.01)


def scans(a: f64[N, M], b: f32[N, M]):
    return np.cumsum(a, axis=1), np.cumprod(b, axis=0), np.cumsum(a)


def softmax_half(x: flowc.float16[N, M]):
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def layernorm_half(x: flowc.float16[N, M], g: flowc.float16[M], b: flowc.float16[M]):
    xf = x.astype(np.float32)
    mu = np.mean(xf, axis=-1, keepdims=True)
    d = xf - mu
    var = np.mean(d * d, axis=-1, keepdims=True)
    return (d / np.sqrt(var + 1e-5)).astype(np.float16) * g + b


def attention_half(q: flowc.float16[B, N, K], k: flowc.float16[B, N, K], v: flowc.float16[B, N, K]):
    s = (q @ k.transpose(0, 2, 1)) * np.float16(0.25)
    s = np.exp(s - np.max(s, axis=-1, keepdims=True))
    return (s / np.sum(s, axis=-1, keepdims=True)) @ v


@dataclass
class Case:
    name: str
    func: Callable[..., Any]
    #: (rng, n) → (args, keyword symbols); n is the size knob (1 included)
    make: Callable[[np.random.Generator, int], tuple[tuple, dict]]
    reference: Callable[..., Any]
    sizes: tuple[int, ...] = (1, 7, 33)
    rtol: float = 1e-5


def _r(rng: np.random.Generator, *shape: int, dtype: Any = np.float32) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, shape).astype(dtype)


def _gelu_ref(a, w, bias):
    f = a @ w + bias
    return 0.5 * f * (1.0 + np.tanh(0.7978845608028654 * (f + 0.044715 * f ** 3)))


def _attention_ref(q, k, v):
    s = (q @ k.transpose(0, 2, 1)) * np.float32(0.25)
    s = np.exp(s - s.max(axis=-1, keepdims=True))
    return (s / s.sum(axis=-1, keepdims=True)) @ v


def _time_loop_ref(a, T):
    a = a.copy()
    for _ in range(T):
        a[1:, :] = a[1:, :] * 0.5 + a[:-1, :] * 0.25
    return a


def _converge_ref(a):
    b, err = a.copy(), 1.0
    while err > 1e-6:
        c = b * 0.5
        err = np.max(np.abs(c - b))
        b = c
    return b + 1.0 if np.sum(b) > 0 else b


def _ints(rng, n):
    a = rng.integers(-1000, 1000, n, dtype=np.int32)
    b = rng.integers(-9, 9, n, dtype=np.int32)
    b[b == 0] = 3
    return a, b


CASES = [
    Case("elementwise", elementwise, lambda r, n: ((_r(r, n, n + 2), _r(r, n + 2), _r(r, n, 1)), {}),
         lambda a, b, c: np.exp(a) * 2 + b - np.sqrt(np.abs(c)) * np.tanh(a)),
    Case("where_compare", where_compare,
         lambda r, n: ((_r(r, n, 2 * n, dtype=np.float64), _r(r, n, 2 * n, dtype=np.float64)), {}),
         lambda a, b: np.where(a > b, a - b, np.maximum(a, 0.25) * b)),
    Case("reductions", reductions, lambda r, n: ((_r(r, n, n + 3, dtype=np.float64),), {}),
         lambda a: (a.sum(1), a.max(), a.argmax(0), a.mean(0), a.min(1)), rtol=1e-12),
    Case("softmax", softmax, lambda r, n: ((_r(r, n, 3 * n + 1) * 4,), {}),
         lambda x: np.exp(x - x.max(-1, keepdims=True)) / np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)),
    Case("layernorm", layernorm, lambda r, n: ((_r(r, n, 2 * n + 5), _r(r, 2 * n + 5), _r(r, 2 * n + 5)), {}),
         lambda x, g, b: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * g + b,
         rtol=1e-4),
    Case("matmul_bias_gelu", matmul_bias_gelu, lambda r, n: ((_r(r, n, n + 4), _r(r, n + 4, 2 * n), _r(r, 2 * n)), {}),
         _gelu_ref, rtol=1e-4),
    Case("batched_transposed", batched_transposed,
         lambda r, n: ((_r(r, 3, n, n + 1, dtype=np.float64), _r(r, 3, n + 2, n + 1, dtype=np.float64),
                        _r(r, n + 1, n + 2, dtype=np.float64)), {}),
         lambda a, b, c: (a @ b.transpose(0, 2, 1), a @ c, a[0].T @ a[0]), rtol=1e-12),
    Case("attention", attention, lambda r, n: ((_r(r, 2, n, 8), _r(r, 2, n, 8), _r(r, 2, n, 8)), {}),
         _attention_ref, rtol=1e-4),
    Case("time_loop", time_loop, lambda r, n: ((_r(r, n + 1, n, dtype=np.float64), 3), {}), _time_loop_ref,
         rtol=1e-12),
    Case("converge", converge, lambda r, n: ((_r(r, n, dtype=np.float64),), {}), _converge_ref, rtol=1e-12),
    Case("gather", gather, lambda r, n: ((_r(r, n, 5), r.integers(-n, n, 2 * n + 1)), {}),
         lambda x, idx: x[idx] * 2),
    Case("scatter", scatter, lambda r, n: ((r.integers(-n - 2, n + 2, 3 * n), _r(r, 3 * n, dtype=np.float64),
                                            _r(r, n + 2, dtype=np.float64)), {}), _scatter_ref, rtol=1e-12),
    Case("map_loops", map_loops, lambda r, n: ((_r(r, n, n + 3, dtype=np.float64),
                                                _r(r, n, n + 3, dtype=np.float64) * 2.5 - 2.25), {}),
         _map_loops_ref, rtol=1e-12),
    Case("integers", integers, lambda r, n: (_ints(r, n), {}),
         lambda a, b: (a // b + a % b, np.abs(a) + 1, a * b), rtol=0),
    Case("flags", flags, lambda r, n: ((np.abs(_r(r, n, n + 1, dtype=np.float64)),), {}),
         lambda a: (np.any(a > 0.9, axis=1), np.all(a > 0.01)), rtol=0),
    Case("scans", scans, lambda r, n: ((_r(r, n, n + 3, dtype=np.float64), 1 + 0.1 * _r(r, n, n + 3)), {}),
         lambda a, b: (np.cumsum(a, axis=1), np.cumprod(b, axis=0), np.cumsum(a)), rtol=1e-5),
    Case("softmax_half", softmax_half, lambda r, n: ((_r(r, n, 3 * n + 1, dtype=np.float16) * 4,), {}),
         lambda x: softmax_half(x), rtol=4e-3),
    Case("layernorm_half", layernorm_half,
         lambda r, n: ((_r(r, n, 2 * n + 5, dtype=np.float16), _r(r, 2 * n + 5, dtype=np.float16),
                        _r(r, 2 * n + 5, dtype=np.float16)), {}), lambda x, g, b: layernorm_half(x, g, b), rtol=4e-3),
    Case("attention_half", attention_half,
         lambda r, n: ((_r(r, 2, n, 8, dtype=np.float16), _r(r, 2, n, 8, dtype=np.float16),
                        _r(r, 2, n, 8, dtype=np.float16)), {}), lambda q, k, v: attention_half(q, k, v), rtol=8e-3),
    Case("bert_layer_half", with_dtype(encoder_layer, flowc.float16),
         lambda r, n: (tuple(a.astype(np.float16) if isinstance(a, np.ndarray) else np.float16(a)
                             for a in make_inputs(r, 2, 4 * n + 4, 2, 8)), {"H": 2, "P": 8}),
         lambda *a: numpy_layer(*(np.float32(x) if np.ndim(x) == 0 else x.astype(np.float32) for x in a), H=2,
                                P=8).astype(np.float16), sizes=(1, 3), rtol=3e-2),
    Case("bert_layer", encoder_layer,
         lambda r, n: (make_inputs(r, 2, 4 * n + 4, 2, 8), {"H": 2, "P": 8}),
         lambda *a: numpy_layer(*a, H=2, P=8), sizes=(1, 3), rtol=2e-4),
]


def check(case: Case, result: Any, args: tuple) -> None:
    """Assert ``result`` is NumPy's answer for ``args`` (each output: dtype, shape, values)."""
    want = case.reference(*args)
    got = result if isinstance(want, tuple) else (result,)
    want = want if isinstance(want, tuple) else (want,)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype, (case.name, g.dtype, w.dtype)
        assert g.shape == w.shape, (case.name, g.shape, w.shape)
        if case.rtol == 0:
            np.testing.assert_array_equal(g, w, err_msg=case.name)
        else:
            np.testing.assert_allclose(g, w, rtol=case.rtol, atol=case.rtol, err_msg=case.name)
