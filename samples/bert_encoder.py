"""One BERT encoder layer (post-LN, inference forward) in flowc's NumPy subset,
checked against a NumPy reference at BERT-base size.

    python samples/bert_encoder.py [--size base|large|tiny] [--auto-optimize/--no-auto-optimize]

x[B, L, E]; H heads of size P (E = H·P); FFN size U = 4E.
q, k, v = x·Wq + bq, x·Wk + bk, x·Wv + bv, split into H heads;
s = q·kᵀ / √P; a = softmax(s) over keys; c = a·v merged back to [B, L, E];
h = layernorm(c·Wo + bo + x); f = gelu_tanh(h·W1 + b1)·W2 + b2; out = layernorm(f + h).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import flowc

B, L, H, P, U = (flowc.symbol(s) for s in ("B", "L", "H", "P", "U"))
E = H * P
SIZES = {
    "tiny": dict(B=2, L=16, H=2, P=8),
    "base": dict(B=8, L=128, H=12, P=64),
    "large": dict(B=8, L=512, H=16, P=64),
}


def encoder_layer(x: flowc.float32[B, L, E],
                  wq: flowc.float32[E, E], bq: flowc.float32[E],
                  wk: flowc.float32[E, E], bk: flowc.float32[E],
                  wv: flowc.float32[E, E], bv: flowc.float32[E],
                  wo: flowc.float32[E, E], bo: flowc.float32[E],
                  g1: flowc.float32[E], be1: flowc.float32[E],
                  w1: flowc.float32[E, U], b1: flowc.float32[U],
                  w2: flowc.float32[U, E], b2: flowc.float32[E],
                  g2: flowc.float32[E], be2: flowc.float32[E],
                  scale: flowc.float32):
    q = (x @ wq + bq).reshape(B, L, H, P).transpose(0, 2, 1, 3)      # [B, H, L, P]
    k = (x @ wk + bk).reshape(B, L, H, P).transpose(0, 2, 3, 1)      # [B, H, P, L]
    v = (x @ wv + bv).reshape(B, L, H, P).transpose(0, 2, 1, 3)      # [B, H, L, P]
    s = (q @ k) * scale                                              # [B, H, L, L]
    s = np.exp(s - np.max(s, axis=-1, keepdims=True))
    a = s / np.sum(s, axis=-1, keepdims=True)
    c = (a @ v).transpose(0, 2, 1, 3).reshape(B, L, E)               # heads merged back
    h = c @ wo + bo + x
    mu = np.mean(h, axis=-1, keepdims=True)
    d = h - mu
    var = np.mean(d * d, axis=-1, keepdims=True)
    h = d / np.sqrt(var + 1e-12) * g1 + be1
    f = h @ w1 + b1
    f = 0.5 * f * (1.0 + np.tanh(0.7978845608028654 * (f + 0.044715 * f * f * f)))
    f = f @ w2 + b2 + h
    mu2 = np.mean(f, axis=-1, keepdims=True)
    d2 = f - mu2
    var2 = np.mean(d2 * d2, axis=-1, keepdims=True)
    return d2 / np.sqrt(var2 + 1e-12) * g2 + be2


def with_dtype(func, dtype):
    """``func`` with its float32 annotations turned to ``dtype``: the same source (one layer for
    every precision), another program (annotations are part of what flowc compiles and caches)."""
    import inspect
    import types

    from flowc.ir.data import ArrayType

    def convert(ann):
        if isinstance(ann, ArrayType) and ann.dtype == flowc.float32:
            return ArrayType(dtype, ann.shape)
        return dtype if ann is flowc.float32 else ann

    f = types.FunctionType(func.__code__, func.__globals__, func.__name__, func.__defaults__, func.__closure__)
    f.__annotations__ = {k: convert(v) for k, v in inspect.get_annotations(func, eval_str=True).items()}
    return f


def numpy_layer(x, wq, bq, wk, bk, wv, bv, wo, bo, g1, be1, w1, b1, w2, b2, g2, be2, scale, *, H, P):
    """The same layer in plain NumPy: the reference and the NumPy baseline."""
    b_, l_, e_ = x.shape

    def heads(t):
        return t.reshape(b_, l_, H, P).transpose(0, 2, 1, 3)

    def layernorm(t, g, be):
        mu = t.mean(axis=-1, keepdims=True)
        var = ((t - mu) ** 2).mean(axis=-1, keepdims=True)
        return (t - mu) / np.sqrt(var + 1e-12) * g + be

    q, k, v = heads(x @ wq + bq), heads(x @ wk + bk), heads(x @ wv + bv)
    s = (q @ k.transpose(0, 1, 3, 2)) * scale
    s = np.exp(s - s.max(axis=-1, keepdims=True))
    a = s / s.sum(axis=-1, keepdims=True)
    c = (a @ v).transpose(0, 2, 1, 3).reshape(b_, l_, e_)
    h = layernorm(c @ wo + bo + x, g1, be1)
    f = h @ w1 + b1
    f = 0.5 * f * (1.0 + np.tanh(0.7978845608028654 * (f + 0.044715 * f ** 3)))
    return layernorm(f @ w2 + b2 + h, g2, be2)


def make_inputs(rng: np.random.Generator, B: int, L: int, H: int, P: int) -> tuple:
    """Random weights scaled like a trained layer's (so activations stay O(1))."""
    e, u = H * P, 4 * H * P
    f32 = np.float32

    def w(*shape):
        return (rng.standard_normal(shape, dtype=f32) / np.sqrt(shape[0])).astype(f32)

    def b(n):
        return (0.1 * rng.standard_normal(n, dtype=f32)).astype(f32)

    x = rng.standard_normal((B, L, e), dtype=f32)
    return (x, w(e, e), b(e), w(e, e), b(e), w(e, e), b(e), w(e, e), b(e),
            (1 + 0.1 * rng.standard_normal(e, dtype=f32)).astype(f32), b(e), w(e, u), b(u), w(u, e), b(e),
            (1 + 0.1 * rng.standard_normal(e, dtype=f32)).astype(f32), b(e), f32(1 / np.sqrt(P)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", choices=sorted(SIZES), default="base")
    ap.add_argument("--auto-optimize", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    dims = SIZES[args.size]
    program = flowc.program(encoder_layer, auto_optimize=args.auto_optimize)
    rng = np.random.default_rng()
    inputs = make_inputs(rng, **dims)
    t = time.perf_counter()
    out = program(*inputs, H=dims["H"], P=dims["P"])
    first = time.perf_counter() - t
    ref = numpy_layer(*inputs, H=dims["H"], P=dims["P"])
    err = float(np.abs(out - ref).max())
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        program(*inputs, H=dims["H"], P=dims["P"])
        times.append(time.perf_counter() - t)
    print(f"BERT {args.size} {dims}, auto_optimize={args.auto_optimize}: first call {first:.2f} s "
          f"(lower + compile, or cache), median {np.median(times) * 1e3:.1f} ms, max |error| vs NumPy {err:.2e}")
    if err > 1e-3:
        raise SystemExit(f"error {err} exceeds 1e-3")


if __name__ == "__main__":
    main()
