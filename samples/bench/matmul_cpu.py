"""MatMul library node (BLAS) vs NumPy's matmul, same run, interleaved medians.

    python samples/bench/matmul_cpu.py [--size 1024] [--repeats 30]

Floor: 2·M·N·K flops at the best rate either side achieves in this run.
"""

from __future__ import annotations

import argparse

import numpy as np
from common import interleaved, write_json

import flowc  # noqa: F401  (registers the compiler)
import flowc.ir as ir


def matmul_program(dtype: ir.DType) -> ir.Program:
    p = ir.Program(f"bench_matmul_{dtype.name}")
    p.add_array("A", ["M", "K"], dtype)
    p.add_array("B", ["K", "N"], dtype)
    p.add_array("C", ["M", "N"], dtype)
    p.add_return("C")
    st = p.add_state()
    mm = st.add_library(ir.MatMul("mm"))
    st.add_edge(st.add_access("A"), None, mm, "_a", "A")
    st.add_edge(st.add_access("B"), None, mm, "_b", "B")
    st.add_edge(mm, "_c", st.add_access("C"), None, "C")
    return p


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    n = args.size
    rng = np.random.default_rng()
    results = {}
    for dtype in (ir.float32, ir.float64):
        compiled = matmul_program(dtype).compile()
        a = rng.standard_normal((n, n)).astype(dtype.numpy)
        b = rng.standard_normal((n, n)).astype(dtype.numpy)
        err = float(np.abs(compiled(a, b) - a @ b).max())
        t = interleaved({"flowc": lambda c=compiled, a=a, b=b: c(a, b), "numpy": lambda a=a, b=b: a @ b},
                        repeats=args.repeats)
        flops = 2.0 * n ** 3
        best = min(v["median_s"] for v in t.values())
        row = {name: {**v, "gflops": flops / v["median_s"] / 1e9, "time_over_floor": v["median_s"] / best}
               for name, v in t.items()}
        row["flowc_speed_vs_numpy"] = t["numpy"]["median_s"] / t["flowc"]["median_s"]
        row["max_abs_error"] = err
        results[dtype.name] = row
        print(f"{dtype.name} {n}^3: flowc {t['flowc']['median_s'] * 1e3:8.2f} ms "
              f"({row['flowc']['gflops']:.1f} GFLOP/s)  numpy {t['numpy']['median_s'] * 1e3:8.2f} ms "
              f"({row['numpy']['gflops']:.1f} GFLOP/s)  flowc/numpy speed {row['flowc_speed_vs_numpy']:.3f}  "
              f"max err {err:.2e}")
    path = write_json("matmul_cpu", {"size": n, "results": results})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
