"""``python -m tests.fuzz --count N --seed S --out DIR [--jobs J]``: run N random programs, print the
counts per class and the refusal messages, write each failing program (minimized) to DIR."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .runner import FAILURES, Runner, programs_for, summary
from .replay import case_text
from .report import write_failures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("fuzz-out"))
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8, help="programs compiled together (1: one by one)")
    ap.add_argument("--minimize-budget", type=int, default=40, help="checks per failure (0: do not minimize)")
    ap.add_argument("--start", type=int, default=0, help="index of the first program (to resume a run)")
    ap.add_argument("--target", choices=("cpu", "cuda"), default="cpu",
                    help="compile for this target (cuda without a GPU: its CPU emulation)")
    args = ap.parse_args(argv)
    os.environ["FLOWC_FUZZ_TARGET"] = args.target            # the workers inherit it
    if args.target == "cuda":
        from flowc.runtime import cuda

        if cuda.device_count() == 0:
            os.environ["FLOWC_CUDA_EMULATION"] = "1"
    args.out.mkdir(parents=True, exist_ok=True)
    runner = Runner(jobs=args.jobs, work_dir=str(args.out / "work"), batch=args.batch, log=args.out / "worker.log")
    t0 = time.time()
    programs = programs_for(args.seed, args.start + args.count)[args.start:]

    raw = args.out / "unminimized"
    raw.mkdir(exist_ok=True)

    def progress(results: list) -> None:
        # failures are written as found, so an interrupted run still leaves them
        bad = 0
        for o in results:
            if o.cls in FAILURES or o.cls.startswith("batch_"):
                bad += 1
                path = raw / f"{o.cls}_{o.program.seed}.py"
                if not path.exists():
                    idx = o.size or 0
                    path.write_text(case_text(path.name, o.cls, o.detail, o.program.source, o.program.seed, idx,
                                              o.sizes[idx] if o.sizes else {}, o.mode))
        print(f"[{time.time() - t0:7.0f} s] {len(results)}/{len(programs)} programs, {bad} failing", flush=True)

    try:
        results = runner.run(programs, progress)
        print(summary(results))
        files = write_failures(runner, results, args.out, args.minimize_budget)
    finally:
        runner.close()
    for f in files:
        print("wrote", f)
    print(f"{time.time() - t0:.0f} s")
    return 1 if files else 0


if __name__ == "__main__":
    sys.exit(main())
