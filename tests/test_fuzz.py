"""Differential fuzzing in CI: a fixed seed of random programs over the documented NumPy subset, each
compiled plain and with ``auto_optimize=True`` and compared with NumPy at three sizes (all ones, small,
medium) on fresh random inputs, some with inf/nan/+-0 and integer extremes (``tests/fuzz/``).

Any mismatch, crash, hang or compile error fails the test and prints the minimized program; the case
files (``python FILE`` replays one) are left in the test's temporary directory. More programs:
``python -m tests.fuzz --count 2000 --seed 1 --out fuzz-out`` or ``FLOWC_FUZZ_COUNT=500 pytest``.
"""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the repository root: tests.fuzz is a package

from tests.fuzz.report import write_failures
from tests.fuzz.runner import FAILURES, Runner, programs_for, summary

SEED = 20261207
COUNT = int(os.environ.get("FLOWC_FUZZ_COUNT", "200"))
MINIMIZE = int(os.environ.get("FLOWC_FUZZ_MINIMIZE", "25"))   # checks (compiles) per failure


@pytest.mark.timeout(1800)      # about 2 minutes on 2 idle cores; far more on a loaded machine
def test_random_programs_match_numpy(tmp_path):
    runner = Runner(jobs=min(4, os.cpu_count() or 1), work_dir=str(tmp_path / "work"), batch=8)
    try:
        results = runner.run(programs_for(SEED, COUNT))
        report = summary(results)
        print(report)
        failing = [o for o in results if o.cls in FAILURES or o.cls.startswith("batch_")]
        files = write_failures(runner, failing, tmp_path, budget=MINIMIZE) if failing else []
    finally:
        runner.close()
    text = "\n\n".join(f"--- {f}\n{f.read_text()}" for f in files)
    assert not failing, f"{len(failing)} of {COUNT} programs differ from NumPy\n{report}\n\n{text}"
    # the fuzzer itself must stay useful: most programs compile and are compared
    ok = sum(o.cls == "ok" for o in results)
    assert ok >= 0.6 * COUNT, f"only {ok} of {COUNT} programs were compared\n{report}"
