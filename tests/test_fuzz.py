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

from tests.fuzz.report import check_seed

SEED = 20261207
COUNT = int(os.environ.get("FLOWC_FUZZ_COUNT", "200"))
MINIMIZE = int(os.environ.get("FLOWC_FUZZ_MINIMIZE", "25"))   # checks (compiles) per failure


@pytest.mark.timeout(1800)      # about 2 minutes on 2 idle cores; far more on a loaded machine
def test_random_programs_match_numpy(tmp_path):
    report, failing, text, ok = check_seed(SEED, COUNT, tmp_path, min(4, os.cpu_count() or 1), MINIMIZE)
    print(report)
    assert not failing, f"{len(failing)} of {COUNT} programs differ from NumPy\n{report}\n\n{text}"
    # the fuzzer itself must stay useful: most programs compile and are compared
    assert ok >= 0.6 * COUNT, f"only {ok} of {COUNT} programs were compared\n{report}"


def test_oracle_is_strict_where_ieee_is_deterministic():
    import numpy as np

    from tests.fuzz.oracle import compare

    x = np.array([1.0, np.nan, np.inf, -2.5], np.float32)
    assert compare(x, x.copy()) is None
    assert compare(x, x.astype(np.float64)).startswith("result: dtype")
    assert "shape" in compare(x, x[None])
    assert "NaN" in compare(x, np.array([1.0, 0.0, np.inf, -2.5], np.float32))
    assert "inf" in compare(x, np.array([1.0, np.nan, -np.inf, -2.5], np.float32))
    assert "values differ" in compare(x, np.array([1.0, np.nan, np.inf, -2.4], np.float32))
    # reassociation: a float32 sum of 1000 terms in another order differs in the last bits only
    r = np.random.default_rng().normal(size=1000).astype(np.float32)
    assert compare(np.sum(r), np.float32(sum(float(v) for v in r[::-1]))) is None
    assert "values differ" in compare(np.array([3, 4]), np.array([3, 5]))
    assert compare(np.array([-0.0]), np.array([0.0])) is None


def test_generated_programs_are_numpy_and_deterministic():
    import numpy as np

    from tests.fuzz.gen import generate
    from tests.fuzz.runner import programs_for
    from tests.fuzz.worker import load
    from tests.fuzz import oracle

    assert generate(5).source == generate(5).source
    progs = programs_for(3, 30)
    assert len({p.source for p in progs}) == 30
    import tempfile

    d = Path(tempfile.mkdtemp())
    ran = 0
    for p in progs:
        path = d / f"m{p.seed}.py"
        path.write_text(p.module())
        f = load(str(path)).f
        for k, sizes in enumerate(oracle.sizes_for(p.seed)):
            args = oracle.make_inputs(f, p.seed, k, sizes)
            try:
                oracle.run_numpy(f, args, sizes)
                ran += 1
            except Exception:     # data-dependent (an empty max, inf into an int): the runner skips these
                pass
    assert ran >= 0.8 * 3 * len(progs)
    # some inputs carry special values
    specials = sum(bool(np.any(~np.isfinite(a))) for p in progs for a in
                   oracle.make_inputs(load(str(d / f"m{p.seed}.py")).f, p.seed, 2, oracle.sizes_for(p.seed)[2])
                   if isinstance(a, np.ndarray) and a.dtype.kind == "f")
    assert specials > 0


def test_minimizer_removes_what_the_failure_does_not_need():
    from tests.fuzz.minimize import minimize

    src = ("def f(a: flowc.float32[N, M], b: flowc.float64[M]):\n    t1 = np.exp(a) + b\n"
           "    t2 = np.sum(np.fmax(t1, 2.0), axis=0)\n    t3 = t2 * 2\n    return t3\n")
    # the "bug": any program that calls np.fmax
    small, sizes = minimize(src, {"K": 3, "N": 5, "M": 7}, lambda s, sz: "np.fmax" in s, budget=200)
    assert "np.fmax" in small and "np.exp" not in small and "np.sum" not in small, small
    assert sizes == {"K": 1, "N": 1, "M": 1}


def _unstable(c):
    import numpy as np

    return np.fmod(np.cosh(1.0 / c), np.float32(0.37))


def _stable(c):
    return c * 2


def test_ill_conditioned_programs_are_told_apart():
    """A remainder of a large value moves when the inputs move by a few ulps: NumPy's own result
    does, so the fuzzer does not hold flowc to its last bits there (class ill_conditioned); c * 2
    does not move."""
    import numpy as np

    from tests.fuzz import oracle
    from tests.fuzz.worker import _ill_conditioned

    c = np.random.default_rng(5).uniform(0.05, 0.06, 64).astype(np.float32)     # cosh(1/c) ~ 1e7, finite
    floors = {"result": oracle.RTOL["float32"]}
    assert _ill_conditioned(_unstable, [c], {}, _unstable(c.copy()), [c.copy()], floors)
    assert not _ill_conditioned(_stable, [c], {}, _stable(c.copy()), [c.copy()], floors)
