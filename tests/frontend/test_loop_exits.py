"""``break`` and ``continue`` in for and while loops (issue 9: early exits), checked against the
undecorated function run by NumPy on fresh inputs at several sizes; refused in flowc.map."""

import numpy as np
import pytest

import flowc
from flowc import FrontendError

from fe_helpers import rand, run_both, with_symbols

N = flowc.symbol("N")


@flowc.program
def sum_until_negative(a: flowc.float64[N]):
    s = 0.0
    for i in range(N):
        if a[i] < 0:
            break
        s += a[i]
    return s


@flowc.program
def count_while(a: flowc.float64[N]):
    i = 0
    s = 0.0
    while i < N:
        if a[i] > 0.8:
            break
        s += a[i] * a[i]
        i += 1
    return s, i


@flowc.program
def skip_negatives(a: flowc.float64[N], out: flowc.float64[N]):
    for i in range(N):
        if a[i] < 0:
            continue
        out[i] = np.sqrt(a[i])


@flowc.program
def inner_break_only(a: flowc.float64[N, N], out: flowc.float64[N]):
    for i in range(N):
        acc = 0.0
        for j in range(N):
            if a[i, j] < -0.5:
                break
            acc += a[i, j]
        out[i] = acc


@flowc.program
def first_large(a: flowc.float64[N]):
    found = -1
    for i in range(N):
        if a[i] > 0.9:
            found = i
            break
    else:
        found = N
    return found


@flowc.program
def both_exits(a: flowc.float64[N]):
    i = 0
    s = 0.0
    while i < N:
        i += 1
        if a[i - 1] < -0.3:
            continue
        if a[i - 1] > 0.95:
            break
        s += a[i - 1]
    return s


@flowc.program
def newton_sqrt(a: flowc.float64[N]):
    x = a + 1.0
    for _ in range(60):
        x = 0.5 * (x + a / x)
        if np.max(np.abs(x * x - a)) < 1e-12:
            break
    return x


CASES = {
    "sum_until_negative": (sum_until_negative, lambda rng, n: (rand(rng, n, low=-0.3),)),
    "count_while": (count_while, lambda rng, n: (rand(rng, n),)),
    "skip_negatives": (skip_negatives, lambda rng, n: (rand(rng, n), rand(rng, n))),
    "inner_break_only": (inner_break_only, lambda rng, n: (rand(rng, (n, n)), rand(rng, n))),
    "first_large": (first_large, lambda rng, n: (rand(rng, n),)),
    "both_exits": (both_exits, lambda rng, n: (rand(rng, n),)),
    "newton_sqrt": (newton_sqrt, lambda rng, n: (rand(rng, n, low=0.1, high=4.0),)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_loop_exits_match_python(rng, name):
    prog, make = CASES[name]
    for n in (1, 2, 7, 40):
        for _ in range(3):                     # different data: exits at different iterations
            run_both(prog, *make(rng, n), ref=with_symbols(prog.func, N=n), check_dtype=False)


def test_break_in_a_map_body_is_refused_with_the_reason():
    @flowc.program
    def in_map(a: flowc.float64[N], out: flowc.float64[N]):
        for i in flowc.map[0:N]:
            if a[i] < 0:
                break
            out[i] = a[i]
    with pytest.raises(FrontendError, match="flowc.map") as info:
        in_map.to_ir()
    assert "break" in str(info.value)
