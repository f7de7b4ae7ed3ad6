"""Two checkouts of flowc side by side on the CPU: the BERT layer (auto_optimize) and its softmax and
layernorm micro-kernels, each version in its own processes, interleaved, medians. What a change
does to speed (the target refactor must leave the CPU target as fast as it was).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python samples/bench/ab_cpu.py --base /path/to/old/checkout \
        [--size base] [--repeats 15]

This file imports no flowc itself: each worker puts its checkout first on ``sys.path`` before
importing flowc, so the two versions never meet in one process.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import interleaved_isolated  # noqa: E402


def build(checkout: str, what: str, size: str) -> object:
    """In a worker: the timed callable of ``what`` under the flowc of ``checkout``."""
    sys.path.insert(0, checkout)
    sys.path.insert(1, str(HERE.parent))
    import numpy as np

    import flowc
    from bert_encoder import SIZES, encoder_layer, make_inputs

    assert Path(flowc.__file__).resolve().is_relative_to(Path(checkout).resolve()), flowc.__file__
    s = SIZES[size]
    rng = np.random.default_rng(0)
    if what == "bert":
        args = make_inputs(rng, s["B"], s["L"], s["H"], s["P"])
        layer = flowc.program(encoder_layer, auto_optimize=True)
        call = functools.partial(layer, *args, H=s["H"], P=s["P"])
    else:
        from bert_cpu import layernorm_kernel, softmax_kernel

        n, m = s["B"] * s["H"] * s["L"], s["L"]
        if what == "softmax":
            call = functools.partial(flowc.program(softmax_kernel, auto_optimize=True),
                                     rng.standard_normal((n, m), dtype=np.float32))
        else:
            e = s["H"] * s["P"]
            x = rng.standard_normal((s["B"] * s["L"], e), dtype=np.float32)
            call = functools.partial(flowc.program(layernorm_kernel, auto_optimize=True), x,
                                     np.ones(e, np.float32), np.zeros(e, np.float32))
    call()
    return call


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the other checkout (its root: the folder holding flowc/)")
    ap.add_argument("--size", default="base")
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    head = str(HERE.parents[1])
    print("OPENBLAS_CORETYPE =", os.environ.get("OPENBLAS_CORETYPE"), "| OPENBLAS_L2_SIZE =",
          os.environ.get("OPENBLAS_L2_SIZE"))
    for what in ("bert", "softmax", "layernorm"):
        factories = {f"{what} {label}": functools.partial(build, path, what, args.size)
                     for label, path in (("head", head), ("base", args.base))}
        res = interleaved_isolated(factories, repeats=args.repeats)
        h, b = (res[f"{what} {k}"]["median_s"] * 1e3 for k in ("head", "base"))
        print(f"{what:10s} head {h:9.3f} ms   base {b:9.3f} ms   head / base {h / b:5.3f}", flush=True)


if __name__ == "__main__":
    main()
