"""What each step of auto_optimize buys on the BERT layer: the program after every prefix of the
pipeline, compiled, checked against NumPy, and timed interleaved in one process (all flowc,
one OpenMP pool), medians; with ``ir.data_movement()`` per step.

    python samples/bench/bert_steps.py [--size base] [--repeats 21]

Writes samples/bench/results/bert_steps.json.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from bert_encoder import SIZES, encoder_layer, make_inputs, numpy_layer  # noqa: E402
from common import interleaved, write_json  # noqa: E402

import flowc  # noqa: E402
from flowc import transforms as T  # noqa: E402
from flowc.api import _adapt_call  # noqa: E402


def steps(program: flowc.ir.Program) -> dict[str, flowc.ir.Program]:
    """The program after each step of ``auto_optimize``'s pipeline (same order)."""
    out = {"lowered": copy.deepcopy(program)}
    T.LayoutSelection().apply_everywhere(program)
    T.expand_library_nodes(program)
    out["LayoutSelection + expand"] = copy.deepcopy(program)
    for t in (T.MapExpansion(), T.MapFusion(), T.LocalStorage(), T.EpilogueFusion()):
        t.apply_everywhere(program)
        out[type(t).__name__] = copy.deepcopy(program)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", choices=sorted(SIZES), default="base")
    ap.add_argument("--repeats", type=int, default=21)
    args = ap.parse_args()
    dims = SIZES[args.size]
    hp = dict(H=dims["H"], P=dims["P"])
    sym = dict(dims, U=4 * dims["H"] * dims["P"])
    programs = steps(flowc.program(encoder_layer).to_ir())
    inputs = make_inputs(np.random.default_rng(), **dims)
    ref = numpy_layer(*inputs, **hp)
    calls, results = {}, {}
    for name, program in programs.items():
        call = _adapt_call(flowc.compile_program(program), program)
        err = float(np.abs(call(*inputs, **hp) - ref).max())
        assert err < 1e-3, f"{name}: error {err}"
        calls[name] = (lambda c=call: c(*inputs, **hp))
        results[name] = {"data_movement_bytes": program.data_movement(**sym)["total"], "max_abs_error": err}
    timings = interleaved(calls, repeats=args.repeats)
    print(f"BERT {args.size} {dims}: auto_optimize step by step (interleaved medians of {args.repeats})")
    print(f"  {'after':28s} {'moved MB':>9s} {'median ms':>10s}")
    for name, t in timings.items():
        results[name].update(t)
        print(f"  {name:28s} {results[name]['data_movement_bytes'] / 1e6:9.1f} {t['median_s'] * 1e3:10.2f}")
    path = write_json("bert_steps", {"size": args.size, "dims": dims, "steps": results})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
