"""Failing cases as replayable files: ``python FILE`` compiles the program, runs it next to NumPy on
the recorded inputs and prints both results and the difference (exit status 1 when they differ)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import oracle
from .gen import HEADER

TEMPLATE = '''"""flowc fuzz case: {cls} (auto_optimize={mode}), seed {seed}, sizes {sizes}

{detail}

Replay: python {name}   (prints the inputs, NumPy's and flowc's results and the difference)
"""
{header}

{source}

SEED, SIZE_INDEX, SIZES, AUTO_OPTIMIZE, TARGET = {seed}, {size_index}, {sizes}, {mode}, {target!r}

if __name__ == "__main__":
    import sys
    sys.path.insert(0, {repo!r})
    from tests.fuzz.replay import replay
    sys.exit(replay(f, SEED, SIZE_INDEX, SIZES, AUTO_OPTIMIZE, TARGET))
'''


def case_text(name: str, cls: str, detail: str, source: str, seed: int, size_index: int, sizes: dict,
              mode: Any) -> str:
    detail = "\n".join(line.replace('"""', "'''") for line in detail.strip().splitlines()[:25])
    return TEMPLATE.format(cls=cls, mode=bool(mode), seed=seed, sizes=sizes, detail=detail, name=name,
                           header=HEADER.rstrip(), source=source.rstrip(), size_index=size_index,
                           repo=str(Path(__file__).resolve().parents[2]),
                           target=os.environ.get("FLOWC_FUZZ_TARGET", "cpu"))


def replay(func: Callable[..., Any], seed: int, size_index: int, sizes: dict, auto_optimize: bool,
           target: str = "cpu") -> int:
    import flowc

    if target == "cuda":
        from flowc.runtime import cuda

        if cuda.device_count() == 0:
            os.environ["FLOWC_CUDA_EMULATION"] = "1"           # the kernels on the CPU, as the fuzzer ran them

    np.set_printoptions(precision=17, threshold=200)
    args = oracle.make_inputs(func, seed, size_index, sizes)
    for name, a in zip(func.__annotations__, args):
        print(f"{name} = {a!r}")
    np_args, fl_args = oracle.copy_args(args), oracle.copy_args(args)
    want = oracle.run_numpy(func, np_args, sizes)
    print(f"NumPy:  {want!r}")
    got = flowc.program(func, target=target, auto_optimize=auto_optimize)(*fl_args)
    print(f"flowc:  {got!r}")
    import inspect

    floor = oracle.rtol_floor(inspect.getsource(func))
    diff = oracle.compare(want, got, floor=floor)
    for name, a, b in zip(func.__annotations__, np_args, fl_args):
        if diff is None and hasattr(a, "shape"):
            diff = oracle.compare(a, b, f"argument {name} after the call", floor)
    print("difference:", diff or "none")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit("run a case file instead: python CASE.py")
