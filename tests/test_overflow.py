"""Sizes that overflow the native code's int64 arithmetic: every call checks, before anything runs,
that symbols fit int64, that the arrays flowc allocates (returns and intermediates) have byte
counts that fit, and that loop counters stay inside int64; each failure is a ValueError naming
the symbol or array and the limit. Allocation failure of intermediates stays a clear error.

Before these checks: a symbol of 2**61 or 2**62 crashed the process (8 * K bytes of a float64
intermediate wrapped to 0 in int64, and the code wrote 2**61 elements into a 64-byte buffer);
2**63 and above wrapped silently in ctypes (a loop count of 2**64 + 2 ran 2 iterations)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import flowc

N, K, S = flowc.symbol("N"), flowc.symbol("K"), flowc.symbol("S")
LIMIT = re.escape("int64 limit 9223372036854775807 (2**63 - 1)")


@flowc.program
def ones_sum(x: flowc.float64[N], K: int):
    t = np.ones(K) * x[0]
    return x + np.sum(t)


@flowc.program
def steps(x: flowc.float64[N]):
    for _ in range(S):
        x[:] = x * 0.5 + 1.0
    return x + 0.0


@flowc.program
def count_steps(x: flowc.float64[N], T: int):
    for _ in range(T):
        x[:] = x * 0.5 + 1.0
    return x + 0.0


@flowc.program
def double_steps(x: flowc.float64[N]):
    for _ in range(2 * S):
        x[:] = x * 0.5 + 1.0
    return x + 0.0


@flowc.program
def square(x: flowc.float64[N]):
    return np.zeros((K, K)) + x[0]


@flowc.program
def two_halves(x: flowc.float64[N]):
    a = np.ones(K) * x[0]
    b = np.ones(K) * x[1]
    return x + np.sum(a) + np.sum(b)


def reference_steps(x: np.ndarray, s: int) -> np.ndarray:
    x = x.copy()
    for _ in range(s):
        x = x * 0.5 + 1.0
    return x


def test_sizes_in_range_still_match_numpy(rng):
    for n, k in ((1, 1), (3, 7), (8, 100)):
        x = rng.uniform(0.5, 1.5, n)
        np.testing.assert_allclose(ones_sum(x.copy(), k), x + k * x[0], rtol=1e-12)
        np.testing.assert_allclose(steps(x.copy(), S=k), reference_steps(x, k), rtol=1e-12)
        np.testing.assert_allclose(double_steps(x.copy(), S=k), reference_steps(x, 2 * k), rtol=1e-12)
        np.testing.assert_allclose(square(x.copy(), K=k), np.zeros((k, k)) + x[0])
        if n >= 2:
            np.testing.assert_allclose(two_halves(x.copy(), K=k), x + k * x[0] + k * x[1], rtol=1e-12)


@pytest.mark.parametrize("value", [2**63, 2**63 + 5, 2**64 + 2, 2**100])
def test_symbols_past_int64_are_refused(rng, value):
    x = rng.uniform(0.5, 1.5, 4)
    before = x.copy()
    with pytest.raises(ValueError, match=f"symbol 'S' = {value} is larger than the {LIMIT}"):
        steps(x, S=value)
    with pytest.raises(ValueError, match=f"symbol 'K' = {value} is larger than the {LIMIT}"):
        ones_sum(x, value)
    with pytest.raises(ValueError, match=f"symbol 'K' = {value} is larger than the {LIMIT}"):
        square(x, K=np.uint64(value) if value < 2**64 else value)
    np.testing.assert_array_equal(x, before)        # nothing ran


def test_negative_symbols_are_refused(rng):
    with pytest.raises(ValueError, match="symbol 'S' must be non-negative, got -3"):
        steps(rng.uniform(0.5, 1.5, 4), S=-3)


@pytest.mark.parametrize("value", [2**61, 2**62, 2**63 - 1])
def test_intermediate_byte_counts_past_int64_are_refused(rng, value):
    with pytest.raises(ValueError, match=f"intermediate '[a-z_0-9]+' \\(float64\\[K\\]\\) needs 8\\*K = {8 * value} "
                                         f"bytes, more than the {LIMIT}, with K = {value}"):
        ones_sum(rng.uniform(0.5, 1.5, 3), value)


def test_returned_array_byte_counts_past_int64_are_refused(rng):
    k = 2**30 + 1                                   # 8 * k * k > 2**63
    with pytest.raises(ValueError, match=f"(returned array|intermediate) '[a-z_0-9]+' \\(float64\\[K, K\\]\\) needs "
                                         f"8\\*K\\*\\*2 = "
                                         f"{8 * k * k} bytes, more than the {LIMIT}"):
        square(rng.uniform(0.5, 1.5, 3), K=k)


def test_intermediates_that_fit_alone_but_not_together_are_refused(rng):
    k = 2**59 + 2**58                               # 6 * 2**59 bytes each, 12 * 2**59 > 2**63 together
    with pytest.raises(ValueError, match=f"need [0-9]+ bytes together, more than the {LIMIT}, with K = {k}"):
        two_halves(rng.uniform(0.5, 1.5, 3), K=k)


def test_a_loop_count_of_2_to_the_64_plus_2_is_refused_not_wrapped_to_2(rng):
    x = rng.uniform(0.5, 1.5, 4)
    before = x.copy()
    with pytest.raises(ValueError, match=f"symbol 'T' = {2**64 + 2} is larger than the {LIMIT}"):
        count_steps(x, 2**64 + 2)
    np.testing.assert_array_equal(x, before)
    for t in (1, 2, 5):
        np.testing.assert_allclose(count_steps(x.copy(), t), reference_steps(x, t), rtol=1e-12)


def test_loop_counters_past_int64_are_refused(rng):
    x = rng.uniform(0.5, 1.5, 4)
    with pytest.raises(ValueError, match="the counter of loop .*: 2\\*S = 9223372036854775808 does not fit int64"):
        double_steps(x, S=2**62)
    np.testing.assert_allclose(double_steps(x.copy(), S=3), reference_steps(x, 6), rtol=1e-12)


def test_allocation_failure_of_intermediates_is_a_clear_error(rng):
    """2**50 bytes fit int64 but no machine's memory (nor a 47-bit address space)."""
    with pytest.raises(RuntimeError, match="out of memory for intermediates"):
        ones_sum(rng.uniform(0.5, 1.5, 3), 2**47)


def test_sizes_that_crashed_the_process_now_raise(tmp_path):
    """In a child process, since the failure before the fix was a segfault."""
    script = textwrap.dedent("""
        import numpy as np, flowc
        N = flowc.symbol("N")

        @flowc.program
        def f(x: flowc.float64[N], K: int):
            t = np.ones(K)
            return x + np.sum(t)

        x = np.random.default_rng().uniform(0.5, 1.5, 3)
        for k in (2**61, 2**62, 2**64 + 2):
            try:
                f(x, k)
                print("no error", k)
            except ValueError as e:
                print("ValueError", k, e)

        # the native code on its own (no binder checks) refuses the wrapped size too
        from flowc.api import compile_program
        cp = compile_program(f.to_ir())
        out = np.empty(3)
        for k in (2**61, 2**62):
            args = [x.ctypes.data if p.name == "x" else out.ctypes.data if p.kind == "array" else
                    {"N": 3, "K": k}[p.name] for p in cp.params]
            print("native", cp.function(*args), cp._error_message().decode())
    """)
    env = dict(os.environ, PYTHONPATH=str(Path(flowc.__file__).resolve().parents[1]))
    (tmp_path / "crash.py").write_text(script)
    done = subprocess.run([sys.executable, str(tmp_path / "crash.py")], capture_output=True, text=True, timeout=300,
                          env=env)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    lines = done.stdout.splitlines()
    assert len(lines) == 5 and all(line.startswith("ValueError") for line in lines[:3]), done.stdout
    assert lines[3:] == ["native 1 the intermediates need more than 2**63 - 1 bytes"] * 2, done.stdout
