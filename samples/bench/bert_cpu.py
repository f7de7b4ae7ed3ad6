"""BERT encoder layer and its normalization micro-kernels on the CPU: flowc (plain,
auto_optimize and auto_search) against NumPy, PyTorch eager and torch.compile (when torch is
installed) and ONNX Runtime (when onnx and onnxruntime are installed), interleaved in one
run, medians.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python samples/bench/bert_cpu.py \
        [--size base] [--repeats 15] [--no-torch-compile] [--search-budget 120]

The searched layer is tuned first, in this process (its search time is reported; the store
is a fresh temporary ``FLOWC_TUNE_DIR``), and its worker replays the stored configuration.

Prints a table (time, ratio to flowc auto_optimize, time / floor), writes
samples/bench/results/bert_cpu.json and bert_cpu.png, and reports
``ir.data_movement()`` before and after ``auto_optimize``.

Each contender runs in its own process (flowc's and PyTorch's OpenMP pools and NumPy's
OpenBLAS threads would otherwise spin against each other on a small machine), and the
driver times them round-robin: interleaved, medians.

Floors: the layer's GEMM flops at the best sgemm rate measured in this run (NumPy's BLAS on
the layer's largest GEMM shape, in its own process); a micro-kernel's compulsory bytes (read
input once, write output once) at the best copy bandwidth measured in this run.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from bert_encoder import SIZES, encoder_layer, make_inputs, numpy_layer  # noqa: E402
from common import interleaved_isolated, write_json  # noqa: E402
from dace_kernels import blas_kernels  # noqa: E402
import onnx_bert  # noqa: E402
import functools  # noqa: E402

import flowc  # noqa: E402

N_, M_ = flowc.symbol("N"), flowc.symbol("M")


def softmax_kernel(x: flowc.float32[N_, M_]):
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def layernorm_kernel(x: flowc.float32[N_, M_], g: flowc.float32[M_], b: flowc.float32[M_]):
    mu = np.mean(x, axis=-1, keepdims=True)
    d = x - mu
    var = np.mean(d * d, axis=-1, keepdims=True)
    return d / np.sqrt(var + 1e-12) * g + b


def np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def np_layernorm(x, g, b):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-12) * g + b


def gemm_flops(B, L, H, P):
    e, u, bl = H * P, 4 * H * P, B * L
    return 2 * (4 * bl * e * e + 2 * bl * e * u) + 2 * 2 * B * H * L * L * P


def build_gemm(B: int, L: int, H: int, P: int):
    """The layer's largest GEMM shape, (B·L) × E × 4E, with NumPy's BLAS."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((B * L, H * P), dtype=np.float32)
    w = rng.standard_normal((H * P, 4 * H * P), dtype=np.float32)
    return lambda: a @ w


def build_copy():
    src = np.random.default_rng(0).standard_normal(32 * 1024 * 1024 // 4, dtype=np.float32)
    dst = np.empty_like(src)
    return lambda: np.copyto(dst, src)


def measure_floors(B, L, H, P) -> tuple[float, float]:
    """Peak sgemm rate and copy bandwidth, each in an isolated process, best of many runs."""
    t = interleaved_isolated({"gemm": functools.partial(build_gemm, B, L, H, P), "copy": build_copy},
                             repeats=15, gap_s=0.05)
    flops = 2 * B * L * (H * P) * (4 * H * P)
    return flops / t["gemm"]["min_s"], 2 * 32 * 1024 * 1024 / t["copy"]["min_s"]


def have_torch() -> bool:
    try:
        import torch  # noqa: F401
        return True
    except ImportError:
        return False


def build_layer(kind: str, size: str, seed: int):
    """A zero-argument callable running one BERT layer with ``kind`` (in a worker process)."""
    dims = SIZES[size]
    H, P = dims["H"], dims["P"]
    inputs = make_inputs(np.random.default_rng(seed), **dims)
    if kind == "NumPy":
        return lambda: numpy_layer(*inputs, H=H, P=P)
    if kind == "ONNX Runtime":
        return onnx_bert.layer_session(inputs, H, P, threads=len(os.sched_getaffinity(0)))
    if kind.startswith("flowc"):
        mode = {"flowc": False, "flowc auto_optimize": True, "flowc auto_search": "search"}[kind]
        prog = flowc.program(encoder_layer, auto_optimize=mode)
        prog(*inputs, H=H, P=P)
        return lambda: prog(*inputs, H=H, P=P)
    import torch
    torch.set_grad_enabled(False)
    t_in = [torch.from_numpy(a) if isinstance(a, np.ndarray) else float(a) for a in inputs]
    fn = torch_layer if kind == "torch eager" else torch.compile(torch_layer)
    fn(*t_in, H, P)
    return lambda: fn(*t_in, H, P)


def build_kernel(kind: str, which: str, shape: tuple, seed: int):
    """A zero-argument callable running the softmax or layernorm micro-kernel with ``kind``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape, dtype=np.float32)
    g = rng.standard_normal(shape[-1], dtype=np.float32)
    b = rng.standard_normal(shape[-1], dtype=np.float32)
    args = (x,) if which == "softmax" else (x, g, b)
    if kind == "NumPy":
        fn = np_softmax if which == "softmax" else np_layernorm
        return lambda: fn(*args)
    if kind.startswith("flowc"):
        prog = flowc.program(softmax_kernel if which == "softmax" else layernorm_kernel,
                             auto_optimize=kind == "flowc auto_optimize")
        want = (np_softmax if which == "softmax" else np_layernorm)(*args)
        np.testing.assert_allclose(prog(*args), want, rtol=1e-3, atol=1e-4)
        return lambda: prog(*args)
    import torch
    F = torch.nn.functional
    t_args = [torch.from_numpy(a) for a in args]

    def torch_kernel(*t):
        if which == "softmax":
            return torch.softmax(t[0], -1)
        return F.layer_norm(t[0], (shape[-1],), t[1], t[2], eps=1e-12)
    fn = torch_kernel if kind == "torch eager" else torch.compile(torch_kernel)
    fn(*t_args)
    return lambda: fn(*t_args)


def torch_layer(x, wq, bq, wk, bk, wv, bv, wo, bo, g1, be1, w1, b1, w2, b2, g2, be2, scale, H, P):
    import torch
    F = torch.nn.functional
    b_, l_, e_ = x.shape

    def heads(t):
        return t.view(b_, l_, H, P).transpose(1, 2)
    q, k, v = heads(x @ wq + bq), heads(x @ wk + bk), heads(x @ wv + bv)
    a = torch.softmax((q @ k.transpose(-1, -2)) * scale, dim=-1)
    c = (a @ v).transpose(1, 2).reshape(b_, l_, e_)
    h = F.layer_norm(c @ wo + bo + x, (e_,), g1, be1, eps=1e-12)
    f = F.gelu(h @ w1 + b1, approximate="tanh") @ w2 + b2
    return F.layer_norm(f + h, (e_,), g2, be2, eps=1e-12)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", choices=sorted(SIZES), default="base")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--torch-compile", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--search-budget", type=float, default=120.0, help="auto_search's budget (0: no search column)")
    args = ap.parse_args()
    print("OPENBLAS_CORETYPE =", os.environ.get("OPENBLAS_CORETYPE"), "| OPENBLAS_L2_SIZE =",
          os.environ.get("OPENBLAS_L2_SIZE"), "| BLAS kernels:", blas_kernels())
    dims = SIZES[args.size]
    H, P = dims["H"], dims["P"]
    rng = np.random.default_rng()
    results: dict = {"size": args.size, "dims": dims}

    # ---- compile latency and data movement
    t = time.perf_counter()
    auto = flowc.program(encoder_layer, auto_optimize=True)
    inputs = make_inputs(rng, **dims)
    os.environ["FLOWC_CACHE"] = "0"             # cold: lower + optimize + generate + g++
    auto(*inputs, H=H, P=P)
    cold = time.perf_counter() - t
    del os.environ["FLOWC_CACHE"]
    plain = flowc.program(encoder_layer, auto_optimize=False)
    plain(*inputs, H=H, P=P)
    ir = plain.to_ir()
    optimized = copy.deepcopy(ir)
    flowc.transforms.auto_optimize(optimized)
    sym = dict(dims, U=4 * H * P)
    mv_before, mv_after = ir.data_movement(**sym), optimized.data_movement(**sym)
    results["compile_s"] = {"flowc_cold_auto_optimize": cold}
    results["data_movement_bytes"] = {"before": mv_before["total"], "after": mv_after["total"]}
    print(f"cold compile (auto_optimize, cache off): {cold:.2f} s")
    print(f"data movement: {mv_before['total'] / 1e6:.1f} MB before auto_optimize, "
          f"{mv_after['total'] / 1e6:.1f} MB after")

    # ---- floors
    rate, bw = measure_floors(**dims)
    floor_layer = gemm_flops(**dims) / rate
    results["floors"] = {"sgemm_flops_per_s": rate, "copy_bytes_per_s": bw, "layer_s": floor_layer}
    print(f"measured: sgemm {rate / 1e9:.1f} GFLOP/s, copy {bw / 1e9:.1f} GB/s; layer floor {floor_layer * 1e3:.1f} ms")

    # ---- correctness of every contender, once, in this process
    ref = numpy_layer(*inputs, H=H, P=P)
    for name, prog in (("flowc", plain), ("flowc auto_optimize", auto)):
        err = float(np.abs(prog(*inputs, H=H, P=P) - ref).max())
        assert err < 1e-3, f"{name}: error {err}"
    kinds = ["NumPy", "flowc", "flowc auto_optimize"]
    if args.search_budget > 0:
        os.environ["FLOWC_TUNE_DIR"] = tempfile.mkdtemp(prefix="flowc-tune-")    # workers inherit it
        t = time.perf_counter()
        result = flowc.transforms.auto_search(ir, sizes=sym, budget_s=args.search_budget, progress=False)
        results["search"] = {"search_s": time.perf_counter() - t, "chosen": result.report.chosen,
                             "timed": result.report.timings, "complete": result.report.complete}
        print(result.report.table())
        t = time.perf_counter()
        again = flowc.transforms.auto_search(ir, sizes=sym, progress=False)
        results["search"]["replay_s"] = time.perf_counter() - t
        assert again.report.cache_hit
        print(f"auto_search: {results['search']['search_s']:.1f} s; the stored pick replays in "
              f"{results['search']['replay_s']:.3f} s (before compiling)")
        searched = flowc.program(encoder_layer, auto_optimize="search")
        err = float(np.abs(searched(*inputs, H=H, P=P) - ref).max())
        assert err < 1e-3, f"flowc auto_search: error {err}"
        kinds.append("flowc auto_search")
    if onnx_bert.available():
        err = float(np.abs(onnx_bert.layer_session(inputs, H, P)() - ref).max())
        assert err < 1e-3, f"ONNX Runtime: error {err}"
        kinds.append("ONNX Runtime")
    else:
        print("onnx/onnxruntime are not installed: no ONNX Runtime column (pip install onnx onnxruntime)")
    if have_torch():
        import torch
        torch.set_grad_enabled(False)
        t_in = [torch.from_numpy(a) if isinstance(a, np.ndarray) else float(a) for a in inputs]
        err = float(np.abs(torch_layer(*t_in, H, P).numpy() - ref).max())
        assert err < 1e-3, f"torch: error {err}"
        kinds += ["torch eager"] + (["torch.compile"] if args.torch_compile else [])
    else:
        print("torch is not installed: PyTorch columns skipped (pip install torch==2.13.0)")
    if "torch.compile" in kinds:
        t = time.perf_counter()
        build_layer("torch.compile", args.size, 0)
        results["compile_s"]["torch_compile_first_call"] = time.perf_counter() - t
        print(f"torch.compile first call (this process): {results['compile_s']['torch_compile_first_call']:.2f} s")

    # ---- timings: each contender in its own process, interleaved
    layer = interleaved_isolated({k: functools.partial(build_layer, k, args.size, 1) for k in kinds},
                                 repeats=args.repeats)
    results["layer"] = report("BERT layer", layer, floor_layer)
    x_sm_shape = (dims["B"] * H * dims["L"], dims["L"])
    x_ln_shape = (1024, H * P)
    kernel_kinds = [k for k in kinds if k not in ("flowc auto_search", "ONNX Runtime")]     # the layer's only
    sm = interleaved_isolated({k: functools.partial(build_kernel, k, "softmax", x_sm_shape, 2) for k in kernel_kinds},
                              repeats=args.repeats * 3, gap_s=0.05)
    ln = interleaved_isolated({k: functools.partial(build_kernel, k, "layernorm", x_ln_shape, 3)
                               for k in kernel_kinds}, repeats=args.repeats * 3, gap_s=0.05)
    results["softmax"] = report(f"softmax {list(x_sm_shape)}", sm, 2 * 4 * np.prod(x_sm_shape) / bw)
    results["layernorm"] = report(f"layernorm {list(x_ln_shape)}", ln, 2 * 4 * np.prod(x_ln_shape) / bw)
    path = write_json("bert_cpu", results)
    chart(results)
    print(f"wrote {path}")


def report(title: str, timings: dict, floor_s: float) -> dict:
    ref = timings["flowc auto_optimize"]["median_s"]
    print(f"\n{title}   (floor {floor_s * 1e3:.2f} ms)")
    print(f"  {'':22s} {'median ms':>10s} {'x flowc-auto':>13s} {'time/floor':>11s}")
    out = {}
    for name, t in timings.items():
        med = t["median_s"]
        out[name] = {**t, "ratio_to_flowc_auto": med / ref, "time_over_floor": med / floor_s}
        print(f"  {name:22s} {med * 1e3:10.2f} {med / ref:13.2f} {med / floor_s:11.2f}")
    out["floor_s"] = floor_s
    return out


def chart(results: dict) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart")
        return
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, key in zip(axes, ("layer", "softmax", "layernorm")):
        rows = {k: v["median_s"] * 1e3 for k, v in results[key].items() if isinstance(v, dict)}
        ax.barh(list(rows), list(rows.values()), color=["#999" if "flowc" not in k else "#2a7" for k in rows])
        ax.axvline(results[key]["floor_s"] * 1e3, color="k", linestyle="--", linewidth=1, label="floor")
        ax.set_title(key)
        ax.set_xlabel("ms (median)")
        ax.legend()
    fig.tight_layout()
    from common import RESULTS
    fig.savefig(RESULTS / "bert_cpu.png", dpi=100)


if __name__ == "__main__":
    main()
