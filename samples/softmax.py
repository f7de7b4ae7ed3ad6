"""The main sample: a row softmax written in NumPy, compiled by flowc, checked against NumPy.

    python samples/softmax.py
"""

import time

import numpy as np

import flowc

N, M = flowc.symbol("N"), flowc.symbol("M")


@flowc.program
def softmax(x: flowc.float32[N, M]):
    m = np.max(x, axis=-1, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=-1, keepdims=True)


def numpy_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


if __name__ == "__main__":
    rng = np.random.default_rng()
    start = time.perf_counter()
    x = rng.standard_normal((64, 128), dtype=np.float32)
    y = softmax(x)                                     # parse, compile (cached), run
    print(f"first call (lower + compile or cache hit): {time.perf_counter() - start:.3f} s")
    for shape in [(64, 128), (1024, 768), (8 * 12 * 128, 128)]:
        x = rng.standard_normal(shape, dtype=np.float32)
        y = softmax(x)                                 # the same binary serves every shape
        err = np.abs(y - numpy_softmax(x)).max()
        reps = 20
        t = time.perf_counter()
        for _ in range(reps):
            softmax(x)
        flowc_ms = (time.perf_counter() - t) / reps * 1e3
        t = time.perf_counter()
        for _ in range(reps):
            numpy_softmax(x)
        numpy_ms = (time.perf_counter() - t) / reps * 1e3
        print(f"softmax {shape}: max |error| vs NumPy {err:.2e}; flowc {flowc_ms:.3f} ms, NumPy {numpy_ms:.3f} ms")
    print(softmax.to_ir())
