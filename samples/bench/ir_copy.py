"""What copying the BERT layer's IR costs: ``copy.deepcopy`` against ``Program.clone``.

    python samples/bench/ir_copy.py

A search copies the program once per candidate, so the copy must stay small against the
compile and run time of a candidate (hundreds of milliseconds). Minimum of 7 rounds of 20
copies each, for the lowered layer and for the layer after ``auto_optimize``.
"""

from __future__ import annotations

import copy
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bert_encoder import encoder_layer  # noqa: E402

from flowc import frontend  # noqa: E402
from flowc.transforms import auto_optimize  # noqa: E402


def per_copy_ms(fn) -> float:
    return min(timeit.repeat(fn, number=20, repeat=7)) / 20 * 1e3


def main() -> None:
    lowered = frontend.lower(encoder_layer)
    optimized = lowered.clone()
    auto_optimize(optimized)
    for name, program in (("lowered", lowered), ("auto_optimize", optimized)):
        assert program.clone().to_json() == program.to_json()
        deep, clone = per_copy_ms(lambda p=program: copy.deepcopy(p)), per_copy_ms(program.clone)
        print(f"{name:<14} {sum(1 for _ in program.all_nodes()):4d} nodes  {len(program.history):3d} history entries  "
              f"copy.deepcopy {deep:6.2f} ms  Program.clone {clone:5.2f} ms  ({deep / clone:.0f}x)")


if __name__ == "__main__":
    main()
