"""flowc.map bodies DaCe programs write (issue 9): nested maps whose ranges use an enclosing
map's parameter or a symbol offset, and if statements."""

import numpy as np
import pytest

import flowc

from fe_helpers import rand, run_both, with_symbols

N, M = flowc.symbol("N"), flowc.symbol("M")


def _upper(a, out, s):
    n = a.shape[0]
    for k in range(n):
        t = a[k, k] * 2.0
        for j in range(k + 1, n):
            out[k, j] = a[k, j] * t
            s[k] += a[k, j]


@flowc.program
def upper(a: flowc.float64[N, N], out: flowc.float64[N, N], s: flowc.float64[N]):
    for k in flowc.map[0:N]:
        t = a[k, k] * 2.0
        for j in flowc.map[k + 1:N]:
            out[k, j] = a[k, j] * t
            s[k] += a[k, j]


@flowc.program
def lower_tri(a: flowc.float64[N, M], out: flowc.float64[N, M]):
    for i in flowc.map[0:N]:
        for j in flowc.map[0:i + 1]:
            out[i, j] = a[i, j] + i - j


def _lower_tri(a, out):
    n, m = a.shape
    for i in range(n):
        for j in range(min(i + 1, m)):
            out[i, j] = a[i, j] + i - j


@flowc.program
def stencil(a: flowc.float64[N, M], out: flowc.float64[N, M]):
    for i in flowc.map[1:N - 1]:
        for j in flowc.map[1:M - 1]:
            out[i, j] = 0.25 * (a[i - 1, j] + a[i + 1, j] + a[i, j - 1] + a[i, j + 1])


@flowc.program
def three_levels(a: flowc.float64[N, N, N], out: flowc.float64[N]):
    for i in flowc.map[0:N]:
        for j in flowc.map[i:N]:
            for k in flowc.map[j:N]:
                out[i] += a[i, j, k]


def _three_levels(a, out):
    n = a.shape[0]
    for i in range(n):
        for j in range(i, n):
            for k in range(j, n):
                out[i] += a[i, j, k]


@pytest.mark.parametrize("optimize", [False, True])
def test_nested_map_over_a_triangle(rng, optimize):
    prog = flowc.program(upper.func, auto_optimize=optimize)
    for n in (1, 2, 7):
        run_both(prog, rand(rng, (n, n)), rand(rng, (n, n)), rand(rng, n), ref=_upper)


@pytest.mark.parametrize("optimize", [False, True])
def test_nested_map_bounded_by_the_outer_parameter(rng, optimize):
    prog = flowc.program(lower_tri.func, auto_optimize=optimize)
    for n, m in [(1, 1), (3, 5), (4, 4), (2, 7)]:      # N <= M: the inner range 0:i + 1 stays inside M
        run_both(prog, rand(rng, (n, m)), rand(rng, (n, m)), ref=_lower_tri)


@pytest.mark.parametrize("optimize", [False, True])
def test_nested_map_with_symbol_offsets(rng, optimize):
    prog = flowc.program(stencil.func, auto_optimize=optimize)
    for n, m in [(3, 3), (6, 9), (10, 4)]:
        run_both(prog, rand(rng, (n, m)), rand(rng, (n, m)), ref=with_symbols(stencil.func, N=n, M=m))


@pytest.mark.parametrize("optimize", [False, True])
def test_three_nested_maps_with_a_reduction(rng, optimize):
    prog = flowc.program(three_levels.func, auto_optimize=optimize)
    for n in (1, 4, 9):
        run_both(prog, rand(rng, (n, n, n)), rand(rng, n), ref=_three_levels)


def test_inner_scalar_is_not_visible_after_the_inner_map():
    def f(a: flowc.float64[N, N], out: flowc.float64[N]):
        for i in flowc.map[0:N]:
            for j in flowc.map[0:N]:
                t = a[i, j]
            out[i] = t

    with pytest.raises(flowc.FrontendError, match="'t' has no value here"):
        flowc.program(f).to_ir()


@flowc.program
def branches(a: flowc.float64[N, M], out: flowc.float64[N, M], cnt: flowc.int64[N]):
    for i, j in flowc.map[0:N, 0:M]:
        t = a[i, j] * 2.0
        if i == j:
            out[i, j] = 1.0
        elif a[i, j] > 0.5:
            out[i, j] = t
            cnt[i] += 1
        else:
            u = -t
            if j > 0 and a[i, j - 1] > 0.25:
                u = u + a[i, j - 1]
            out[i, j] = u


def _branches(a, out, cnt):
    n, m = a.shape
    for i in range(n):
        for j in range(m):
            t = a[i, j] * 2.0
            if i == j:
                out[i, j] = 1.0
            elif a[i, j] > 0.5:
                out[i, j] = t
                cnt[i] += 1
            else:
                u = -t
                if j > 0 and a[i, j - 1] > 0.25:
                    u = u + a[i, j - 1]
                out[i, j] = u


@pytest.mark.parametrize("optimize", [False, True])
def test_if_elif_else_in_a_map(rng, optimize):
    prog = flowc.program(branches.func, auto_optimize=optimize)
    for n, m in [(1, 1), (4, 6), (9, 3)]:
        run_both(prog, rand(rng, (n, m), low=0, high=1), rand(rng, (n, m)), rand(rng, n, np.int64),
                 ref=_branches)


@flowc.program
def guarded_neighbours(a: flowc.float64[N], out: flowc.float64[N], total: flowc.float64[1]):
    for i in flowc.map[0:N]:
        if i > 0 and i < N - 1:
            out[i] = a[i - 1] + a[i + 1]
            total[0] += a[i - 1]
        if a[i] < 0:
            out[i] *= 2
        if i == 0:
            out[i] = a[N - 1]


def _guarded_neighbours(a, out, total):
    n = a.shape[0]
    for i in range(n):
        if i > 0 and i < n - 1:
            out[i] = a[i - 1] + a[i + 1]
            total[0] += a[i - 1]
        if a[i] < 0:
            out[i] *= 2
        if i == 0:
            out[i] = a[n - 1]


@pytest.mark.parametrize("optimize", [False, True])
def test_guarded_neighbour_reads_and_reductions(rng, optimize):
    """Reads a[i - 1] guarded by i > 0 never happen at i == 0 (read inside the select)."""
    prog = flowc.program(guarded_neighbours.func, auto_optimize=optimize)
    for n in (1, 2, 8):
        run_both(prog, rand(rng, n), rand(rng, n), rand(rng, 1), ref=_guarded_neighbours)


@flowc.program
def if_in_nested(a: flowc.float64[N, N], out: flowc.float64[N, N]):
    for k in flowc.map[0:N]:
        for j in flowc.map[k:N]:
            if (j - k) % 2 == 0:
                out[k, j] = a[k, j]
            else:
                out[k, j] = -a[j, k]


def _if_in_nested(a, out):
    n = a.shape[0]
    for k in range(n):
        for j in range(k, n):
            out[k, j] = a[k, j] if (j - k) % 2 == 0 else -a[j, k]


def test_if_inside_a_nested_map(rng):
    for n in (1, 3, 6):
        run_both(if_in_nested, rand(rng, (n, n)), rand(rng, (n, n)), ref=_if_in_nested)


def test_unsafe_guarded_writes_are_refused():
    def outside(a: flowc.float64[N], out: flowc.float64[N]):
        for i in flowc.map[0:N]:
            if i < N - 1:
                out[i + 1] = a[i]

    def shared(a: flowc.float64[N], out: flowc.float64[N]):
        for i in flowc.map[0:N]:
            if a[i] > 0:
                out[0] = a[i]

    with pytest.raises(flowc.FrontendError, match="must lie inside the array"):
        flowc.program(outside).to_ir()
    with pytest.raises(flowc.FrontendError, match="written under an if by several map iterations"):
        flowc.program(shared).to_ir()


@flowc.program
def shared_products(a: flowc.float64[N, M], b: flowc.float32[N, M], k: flowc.int64[N, M],
                    p: flowc.float64[M], q: flowc.float32[M], r: flowc.int64[M]):
    for i, j in flowc.map[0:N, 0:M]:
        p[j] *= a[i, j]
        q[j] *= b[i, j]
        r[j] *= k[i, j]


def test_products_into_shared_elements_compile_and_match(rng):
    """``p[j] *= ...`` over a map on i and j is a product reduction; its atomic update did not
    compile for floating-point types (``__atomic_load_n`` takes integers only)."""
    for n, m in [(1, 1), (5, 3), (40, 9)]:
        k = rng.integers(-2, 3, size=(n, m)).astype(np.int64)
        k[k == 0] = 1
        run_both(shared_products, rand(rng, (n, m), low=0.9, high=1.1), rand(rng, (n, m), np.float32, 0.9, 1.1), k,
                 rand(rng, m), rand(rng, m, np.float32), rand(rng, m, np.int64),
                 ref=lambda a, b, k, p, q, r: (np.multiply(p, a.prod(axis=0), out=p),
                                               np.multiply(q, b.prod(axis=0), out=q),
                                               np.multiply(r, k.prod(axis=0), out=r)) and None)


@flowc.program
def guarded_updates(a: flowc.float64[N, M], r: flowc.float64[N], p: flowc.float64[M], out: flowc.float64[N, M]):
    for i, j in flowc.map[0:N, 0:M]:
        s = a[i, j]
        if s > 0.3:
            s += 1.0
            r[i] -= s
        else:
            s *= -2.0
            p[j] *= 1.0 + s * 0.01
        if not (s > 0.5 or a[i, j] < 0.1):
            s = 7.0
        out[i, j] = s


def _guarded_updates(a, r, p, out):
    n, m = a.shape
    for i in range(n):
        for j in range(m):
            s = a[i, j]
            if s > 0.3:
                s += 1.0
                r[i] -= s
            else:
                s *= -2.0
                p[j] *= 1.0 + s * 0.01
            if not (s > 0.5 or a[i, j] < 0.1):
                s = 7.0
            out[i, j] = s


@pytest.mark.parametrize("optimize", [False, True])
def test_guarded_locals_and_reductions(rng, optimize):
    prog = flowc.program(guarded_updates.func, auto_optimize=optimize)
    for n, m in [(1, 1), (3, 4), (20, 7)]:
        run_both(prog, rand(rng, (n, m), low=0, high=1), rand(rng, n), rand(rng, m), rand(rng, (n, m)),
                 ref=_guarded_updates)


def test_a_name_bound_before_a_map_and_read_after_it_is_not_assigned_inside():
    """A name assigned in a map body is local to one iteration; after the map the program would
    see the value from before it, where Python sees the last iteration's (a map has none): the
    inner ``acc +=`` below silently summed into a copy and ``out`` stayed 0. Refused, located
    at the assignment, naming the later read."""
    def rowsum(a: flowc.float64[N, M], out: flowc.float64[N]):
        for i in flowc.map[0:N]:
            acc = 0.0
            for j in flowc.map[0:M]:
                acc += a[i, j]
            out[i] = acc

    def total(a: flowc.float64[N]):
        acc = 0.0
        for i in flowc.map[0:N]:
            acc = acc + a[i]
        return acc

    for f, target in ((rowsum, "acc += a[i, j]"), (total, "acc = acc + a[i]")):
        with pytest.raises(flowc.FrontendError, match="'acc' is bound before this flowc.map") as err:
            flowc.program(f).to_ir()
        assert target in str(err.value) and "reads it outside the map (line" in str(err.value)


def test_names_local_to_map_bodies_stay_allowed(rng):
    """A temporary reused by two maps, and a name whose value from before the map is never read,
    are local to the map as before."""
    def temps(a: flowc.float64[N], out: flowc.float64[N], out2: flowc.float64[N]):
        t = 1.0
        for i in flowc.map[0:N]:
            t = a[i] * 2.0
            out[i] = t + 1.0
        for i in flowc.map[0:N]:
            t = a[i] * 3.0
            out2[i] = t

    def ref(a, out, out2):
        out[:] = a * 2.0 + 1.0
        out2[:] = a * 3.0

    for n in (1, 5, 33):
        run_both(flowc.program(temps), rand(rng, n), rand(rng, n), rand(rng, n), ref=ref)


def test_a_plain_store_several_iterations_share_is_refused(rng):
    """``s[0] = ...`` or ``out[j] = out[j] + ...`` in a map over ``i, j``: every value of ``i``
    assigns the same element, in no order (a race: Python's order gave another result at 5x6, and
    two threads another again at 700x700). Refused, with the reduction to write instead; an index
    that uses every parameter (``out[i, 2 * j]``) stays allowed."""
    def last_wins(a: flowc.float64[N, M], s: flowc.float64[1]):
        for i, j in flowc.map[0:N, 0:M]:
            s[0] = s[0] * 0.5 + a[i, j]

    def column_sum(a: flowc.float64[N, M], out: flowc.float64[M]):
        for i, j in flowc.map[0:N, 0:M]:
            out[j] = out[j] + a[i, j]

    def spread(a: flowc.float64[N, M], out: flowc.float64[N, 2 * M]):
        for i, j in flowc.map[0:N, 0:M]:
            out[i, 2 * j] = a[i, j]

    for f, target, missing in ((last_wins, "s[0]", "i, j"), (column_sum, "out[j]", "i")):
        with pytest.raises(flowc.FrontendError, match="is assigned by several map iterations") as err:
            flowc.program(f).to_ir()
        assert f"{target} is assigned" in str(err.value) and f"does not use {missing})" in str(err.value)
        assert "+=" in str(err.value)

    def ref(a, out):
        out[:, ::2] = a

    for n, m in ((1, 1), (4, 3), (9, 16)):
        run_both(flowc.program(spread), rand(rng, (n, m)), rand(rng, (n, 2 * m)), ref=ref)
