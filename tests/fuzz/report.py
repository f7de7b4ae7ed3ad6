"""Failing programs: minimize each distinct failure and write it as a replayable case file."""

from __future__ import annotations

import re
from pathlib import Path

from .minimize import minimize
from .replay import case_text
from .runner import FAILURES, Outcome, Runner, group_key, programs_for, summary


def failure_kind(cls: str, detail: str) -> str:
    """The class and the kind of difference (dtype, shape, NaN, inf, values; the exception type)."""
    if cls == "mismatch":
        m = re.search(r": (dtype|shape|NaN|inf|expected|\d+ of \d+ values)", detail)
        return "mismatch " + (re.sub(r"\d+", "", m.group(1)) if m else "")
    if cls == "crash":
        return "crash " + detail.split(":")[0].split("(")[0]
    return cls


def shrink(runner: Runner, o: Outcome, budget: int) -> tuple[str, dict, bool, int]:
    """(source, sizes, mode, size index) of the minimized failure of ``o``."""
    mode = bool(o.mode) if o.mode is not None else False
    idx = o.size if o.size is not None else 0
    sizes = o.sizes[idx]
    if budget <= 0 or o.cls == "hang":
        return o.program.source, sizes, mode, idx

    kind = failure_kind(o.cls, o.detail)

    def still_fails(src: str, sz: dict) -> bool:
        res = runner.run_single(src, o.program.seed, [sz], modes=[mode], size_indices=[idx])
        # the same kind of failure: a dtype mismatch must not shrink into a NaN mismatch (another bug)
        if res["cls"] == o.cls and failure_kind(res["cls"], res.get("detail", "")) == kind:
            o.detail = res.get("detail", o.detail)     # the minimized program's own difference
            return True
        return False

    src, sizes = minimize(o.program.source, sizes, still_fails, budget)
    return src, sizes, mode, idx


def write_failures(runner: Runner, results: list[Outcome], out: Path, budget: int) -> list[Path]:
    """One file per failing program; the first of each kind of failure is minimized."""
    files, seen = [], set()
    for o in (r for r in results if r.cls in FAILURES or r.cls.startswith("batch_")):
        name = f"{o.cls}_{o.program.seed}.py"
        path = out / name
        if o.cls.startswith("batch_"):
            path.write_text(f'"""flowc fuzz batch failure ({o.cls}, auto_optimize={o.mode}, sizes '
                            f'{o.sizes}); the members pass alone.\n\n{o.detail}\n"""\n' + o.program.source)
            files.append(path)
            continue
        key = (o.cls, group_key(o.detail))
        src, sizes, mode, idx = shrink(runner, o, budget if key not in seen else 0)
        o.minimized = src
        seen.add(key)
        path.write_text(case_text(name, o.cls, o.detail, src, o.program.seed, idx, sizes, mode))
        files.append(path)
    return files


def check_seed(seed: int, count: int, out: Path, jobs: int, budget: int) -> tuple[str, list[Outcome], str, int]:
    """Run ``count`` programs of ``seed`` (what the test suite does): the summary, the failing outcomes,
    the text of their minimized case files, and how many programs were compared."""
    runner = Runner(jobs=jobs, work_dir=str(out / "work"), batch=8)
    try:
        results = runner.run(programs_for(seed, count))
        report = summary(results)
        failing = [o for o in results if o.cls in FAILURES or o.cls.startswith("batch_")]
        files = write_failures(runner, failing, out, budget=budget) if failing else []
    finally:
        runner.close()
    text = "\n\n".join(f"--- {f}\n{f.read_text()}" for f in files)
    return report, failing, text, sum(o.cls == "ok" for o in results)
