"""Host-side cost of one call of a small cuda-target program with device arrays (what the caller pays
per call before the GPU does anything): argument checks, pointers from ``__cuda_array_interface__``,
the result's allocation, the ctypes call and the kernel launch.

    python samples/bench/cuda_call_overhead.py [--calls 20000]

On a GPU it uses CuPy arrays (or PyTorch tensors) and times the host side only (no synchronization
inside the loop). Without one it runs in the CPU emulation (FLOWC_CUDA_EMULATION=1) with stand-in
device arrays over host memory: the Python and ctypes part is the same code, the "kernel" runs
inline on the CPU (16 elements), so the figure is an upper bound of the host overhead.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import flowc

N = flowc.symbol("N")


def axpy(x: flowc.float32[N], y: flowc.float32[N]):
    return 2.0 * x + y


class HostDeviceArray:
    """A stand-in device array over a NumPy buffer (emulation: device memory is host memory)."""

    def __init__(self, a: np.ndarray):
        self.a = a
        self.__cuda_array_interface__ = {"data": (a.ctypes.data, False), "shape": a.shape, "typestr": a.dtype.str,
                                         "strides": None, "version": 3}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=20000)
    args = ap.parse_args()
    from flowc.runtime import cuda

    on_gpu = cuda.device_count() > 0
    if not on_gpu:
        os.environ["FLOWC_CUDA_EMULATION"] = "1"
    prog = flowc.program(axpy, target="cuda")
    host = [np.random.default_rng(0).standard_normal(16).astype(np.float32) for _ in range(2)]
    if on_gpu:
        try:
            import cupy
            x, y = (cupy.asarray(h) for h in host)
        except ImportError:
            import torch
            x, y = (torch.from_numpy(h).cuda() for h in host)
    else:
        x, y = (HostDeviceArray(h) for h in host)
    prog(x, y)                                   # compile, first call
    rounds = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(args.calls):
            prog(x, y)
        rounds.append((time.perf_counter() - t0) / args.calls * 1e6)
    where = "GPU" if on_gpu else "CPU emulation (stand-in device arrays)"
    print(f"cuda target, {where}: {statistics.median(rounds):.2f} us per call (median of 5 x {args.calls} calls; "
          f"rounds {', '.join(f'{r:.2f}' for r in rounds)})")


if __name__ == "__main__":
    main()
