"""The BERT encoder layer on a GPU: flowc (target="cuda", auto_optimize) against PyTorch eager,
eager with scaled_dot_product_attention, and torch.compile, in one process, interleaved, CUDA-event
timing, medians; the floor (GEMM flops / the measured cuBLAS rate, bytes / the measured device copy
bandwidth) and time / floor. TF32 is off on both sides (results must match NumPy's float32).

    python samples/bench/bert_gpu.py [--size large|base] [--dtype float32] [--repeats 20] [--out results.json]

Needs a GPU, PyTorch with CUDA, nvcc and flowc[cuda]. The float16 layer is the float32 source with
float16 annotations (``bert_encoder.with_dtype``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import flowc  # noqa: E402
from bert_encoder import SIZES, encoder_layer, make_inputs, with_dtype  # noqa: E402


def torch_layer(torch, sdpa: bool):
    F = torch.nn.functional

    def layer(x, wq, bq, wk, bk, wv, bv, wo, bo, g1, be1, w1, b1, w2, b2, g2, be2, scale, H, P):
        b_, l_, e_ = x.shape

        def heads(t):
            return t.reshape(b_, l_, H, P).transpose(1, 2)

        q, k, v = heads(x @ wq + bq), heads(x @ wk + bk), heads(x @ wv + bv)
        if sdpa:
            c = F.scaled_dot_product_attention(q, k, v, scale=float(scale))
        else:
            c = torch.softmax((q @ k.transpose(-1, -2)) * scale, dim=-1) @ v
        c = c.transpose(1, 2).reshape(b_, l_, e_)
        h = F.layer_norm(c @ wo + bo + x, (e_,), g1, be1, eps=1e-12)
        f = F.gelu(h @ w1 + b1, approximate="tanh")
        return F.layer_norm(f @ w2 + b2 + h, (e_,), g2, be2, eps=1e-12)
    return layer


def time_cuda(torch, fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=("base", "large"), default="large")
    ap.add_argument("--dtype", choices=("float32", "float16"), default="float32")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--no-torch-compile", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    s = SIZES[args.size]
    B, L, H, P = s["B"], s["L"], s["H"], s["P"]
    E, U = H * P, 4 * H * P
    tdt = getattr(torch, args.dtype)
    host = make_inputs(np.random.default_rng(0), B, L, H, P)
    tensors = [torch.from_numpy(np.asarray(a)).to(dev, tdt) if isinstance(a, np.ndarray) else a for a in host[:-1]]
    scale = float(host[-1])

    # ceilings: a large GEMM through cuBLAS, a large device-to-device copy
    n = 4096
    a, b = torch.randn(n, n, device=dev, dtype=tdt), torch.randn(n, n, device=dev, dtype=tdt)
    gemm_ms = statistics.median(time_cuda(torch, lambda: a @ b, 10))
    gemm_rate = 2 * n ** 3 / (gemm_ms * 1e-3)
    big = torch.randn(1 << 28, device=dev, dtype=torch.float32)
    dst = torch.empty_like(big)
    copy_ms = statistics.median(time_cuda(torch, lambda: dst.copy_(big), 10))
    bandwidth = 2 * big.numel() * 4 / (copy_ms * 1e-3)
    flops = 2 * B * L * (4 * E * E + 2 * E * U) + 4 * B * H * L * L * P
    itemsize = 2 if args.dtype == "float16" else 4
    bytes_min = itemsize * (2 * B * L * E + 4 * E * E + 2 * E * U)
    floor_ms = max(flops / gemm_rate, bytes_min / bandwidth) * 1e3
    print(f"GEMM {gemm_rate / 1e12:.1f} TFLOP/s ({args.dtype}), copy {bandwidth / 1e12:.2f} TB/s, "
          f"floor {floor_ms:.3f} ms", flush=True)

    contenders = {}
    eager, eager_sdpa = torch_layer(torch, False), torch_layer(torch, True)
    contenders["torch eager"] = lambda: eager(*tensors, scale, H, P)
    contenders["torch eager+SDPA"] = lambda: eager_sdpa(*tensors, scale, H, P)
    if not args.no_torch_compile:
        compiled = torch.compile(eager_sdpa)
        contenders["torch.compile"] = lambda: compiled(*tensors, scale, H, P)
    notes = {}
    fdt = getattr(flowc, args.dtype)
    t0 = time.perf_counter()
    layer = flowc.program(with_dtype(encoder_layer, fdt), target="cuda", auto_optimize=True)
    fscale = np.dtype(args.dtype).type(scale)
    out = layer(*tensors, fscale, H=H, P=P)
    torch.cuda.synchronize()
    notes["flowc first call s"] = time.perf_counter() - t0
    ref = eager(*tensors, scale, H, P)
    notes["flowc relative error vs torch eager"] = float((out.float() - ref.float()).norm() / ref.float().norm())
    contenders["flowc"] = lambda: layer(*tensors, fscale, H=H, P=P)
    for fn in contenders.values():      # warm up (torch.compile compiles here)
        for _ in range(3):
            fn()
    torch.cuda.synchronize()
    samples = {k: [] for k in contenders}
    for _ in range(args.repeats):        # interleaved: one sample of each per round
        for k, fn in contenders.items():
            samples[k] += time_cuda(torch, fn, 1)
    rows = {k: statistics.median(v) for k, v in samples.items()}
    best_torch = min(v for k, v in rows.items() if k.startswith("torch"))
    print(f"BERT-{args.size} {args.dtype} (B={B}, L={L}, E={E}, H={H}) median ms, time / floor:")
    for k, v in rows.items():
        print(f"  {k:20s} {v:8.3f} ms  {v / floor_ms:5.2f}x floor  {best_torch / v:5.2f}x best torch")
    for k, v in notes.items():
        print(f"  {k}: {v}")
    if args.out:
        args.out.write_text(json.dumps({"size": args.size, "dtype": args.dtype, "floor_ms": floor_ms,
                                        "gemm_tflops": gemm_rate / 1e12, "copy_tbps": bandwidth / 1e12,
                                        "median_ms": rows, "notes": notes}, indent=2))


if __name__ == "__main__":
    main()
