"""Sequential ``for`` loops inside ``flowc.map`` bodies (issue 9): each becomes one tasklet
whose code is the loop. Every program runs against its undecorated body (the map as a Python
loop, NumPy doing the element arithmetic) on fresh random inputs at several sizes; writes that
would race between map iterations are refused with the reason."""

import numpy as np
import pytest

import flowc
import flowc.ir as ir
from flowc import FrontendError

from fe_helpers import rand, run_both, with_symbols

N, M, L = flowc.symbol("N"), flowc.symbol("M"), flowc.symbol("L")


@flowc.program
def row_dot(A: flowc.float64[N, M], x: flowc.float64[M], y: flowc.float64[N]):
    for i in flowc.map[0:N]:
        s = 0.0
        for k in range(M):
            s += A[i, k] * x[k]
        y[i] = s


@flowc.program
def row_dot_float32(A: flowc.float32[N, M], x: flowc.float32[M], y: flowc.float32[N]):
    for i in flowc.map[0:N]:
        s = 0                                   # an int that the loop makes float32
        for k in range(M):
            s = s + A[i, k] * x[k]
        y[i] = s


@flowc.program
def accumulate_in_place(A: flowc.float64[N, M], x: flowc.float64[M], y: flowc.float64[N]):
    for i in flowc.map[0:N]:
        for k in range(M):
            y[i] += A[i, k] * x[k]              # a register: read once, written back once
        y[i] = y[i] * 0.5


@flowc.program
def upper_prefix(A: flowc.float64[N, N], out: flowc.float64[N, N]):
    for i in flowc.map[0:N]:
        acc = 0.0
        for j in range(i + 1, N):               # bounds from the map parameter
            acc += A[i, j]
            out[i, j] = acc * out[i, j]         # the iteration's own row, read and written


@flowc.program
def escape_time(c: flowc.complex128[N, M], out: flowc.int64[N, M]):
    for i, j in flowc.map[0:N, 0:M]:
        z = 0j
        n = 0
        for _t in range(40):
            z = z * z + c[i, j]
            if np.abs(z) > 2.0:
                break
            n += 1
        out[i, j] = n


@flowc.program
def csr_matvec(indptr: flowc.int64[L], indices: flowc.int64[M], data: flowc.float64[M], x: flowc.float64[N],
               y: flowc.float64[N]):
    for i in flowc.map[0:N]:
        s = 0.0
        for k in range(indptr[i], indptr[i + 1]):       # bounds read from data
            s += data[k] * x[indices[k]]                 # a gather
        y[i] = s


@flowc.program
def nested_with_continue(A: flowc.float64[N, M], B: flowc.float64[M, L], y: flowc.float64[N]):
    for i in flowc.map[0:N]:
        s = 0.0
        for k in range(M):
            if A[i, k] < -0.5:
                continue
            for j in range(L):
                s += A[i, k] * B[k, j]
        y[i] = s


@flowc.program
def backwards_last(A: flowc.float64[N, M], first: flowc.float64[N], count: flowc.int64[N]):
    for i in flowc.map[0:N]:
        c = 0
        for k in range(M - 1, -1, -1):
            v = A[i, k]                         # first assigned in the loop, used after it
            c += v > 0
        first[i] = v
        count[i] = c


@flowc.program
def guarded_loop(A: flowc.float64[N, M], y: flowc.float64[N]):
    for i in flowc.map[0:N]:
        if A[i, 0] > 0:
            m = A[i, 0]
            for k in range(1, M):
                m = max(m, A[i, k])
            y[i] = m


@flowc.program
def shared_accumulations(A: flowc.int64[N, M], total: flowc.int64[2], hist: flowc.int64[L]):
    for i in flowc.map[0:N]:
        for k in range(M):
            total[1] += A[i, k]                 # shared by every iteration: one sum
            hist[A[i, k] % L] += 1              # at a data-dependent element: atomic updates


@flowc.program
def strided_rows(A: flowc.float64[N, M], out: flowc.float64[N, M]):
    for i in flowc.map[0:N]:
        for k in range(0, M, 2):
            out[i, k] = A[i, k] * 2.0
            if k + 1 < M:
                out[i, k + 1] = A[i, k + 1] - out[i, k]


# found in review: elements read or written at fixed indices that lie outside the array for some
# iteration (read only where the code reaches them), C++ names that could collide, carried dtypes
@flowc.program
def edge_elements(a: flowc.float64[N], y: flowc.float64[N], z: flowc.float64[N]):
    for i in flowc.map[0:N]:
        s = 0.0
        for _k in range(3):
            if i < N - 1:
                s += a[i + 1]                   # outside for i = N - 1, where it is never read
        for k in range(i + 1, N):
            s += a[k] * a[i + 1]
        y[i] = s
        for _k in range(N - 1 - i):             # empty for i = N - 1, where z[i + 1] is outside
            z[i + 1] += 1.0


@flowc.program
def generated_names(x: flowc.float64[M], y: flowc.float64[N]):
    for i in flowc.map[0:N]:
        s = 0.0
        for ix0 in range(M - 1, -1, -1):        # the emitter's own temporaries are fc_ix*, fc_lo*
            for k_start in range(2):
                for k in range(5, 7):
                    s += x[ix0] * k_start + k
        y[i] = s


@flowc.program
def replaced_values(a: flowc.float32[N], y: flowc.float64[N], z: flowc.int64[N]):
    for i in flowc.map[0:N]:
        v = a[i]                                # float32, replaced by a Python float
        n = np.int8(0)                          # int8, replaced by a Python int (past 127)
        for k in range(200):
            v = 0.1 * k
            n = k
        y[i] = v
        z[i] = n


def _csr(rng, n):
    dense = rng.random((n, n)) * (rng.random((n, n)) < 0.3)
    indptr = np.zeros(n + 1, dtype=np.int64)
    indptr[1:] = np.cumsum((dense != 0).sum(axis=1))
    rows, cols = np.nonzero(dense)
    return indptr, cols.astype(np.int64), dense[rows, cols], rand(rng, n), rand(rng, n)


CASES = {
    "row_dot": (row_dot, lambda rng, n, m: (rand(rng, (n, m)), rand(rng, m), rand(rng, n))),
    "row_dot_float32": (row_dot_float32, lambda rng, n, m: (rand(rng, (n, m), np.float32), rand(rng, m, np.float32),
                                                            rand(rng, n, np.float32))),
    "accumulate_in_place": (accumulate_in_place, lambda rng, n, m: (rand(rng, (n, m)), rand(rng, m), rand(rng, n))),
    "upper_prefix": (upper_prefix, lambda rng, n, m: (rand(rng, (n, n)), rand(rng, (n, n)))),
    "escape_time": (escape_time, lambda rng, n, m: (rand(rng, (n, m), low=-2, high=1) +
                                                    1j * rand(rng, (n, m), low=-1.2, high=1.2),
                                                    rand(rng, (n, m), np.int64))),
    "csr_matvec": (csr_matvec, lambda rng, n, m: _csr(rng, n)),
    "nested_with_continue": (nested_with_continue, lambda rng, n, m: (rand(rng, (n, m)), rand(rng, (m, 3)),
                                                                      rand(rng, n))),
    "backwards_last": (backwards_last, lambda rng, n, m: (rand(rng, (n, m)), rand(rng, n),
                                                          rand(rng, n, np.int64))),
    "guarded_loop": (guarded_loop, lambda rng, n, m: (rand(rng, (n, m)), rand(rng, n))),
    "shared_accumulations": (shared_accumulations, lambda rng, n, m: (rng.integers(-50, 50, (n, m)),
                                                                      rand(rng, 2, np.int64), rand(rng, 5, np.int64))),
    "strided_rows": (strided_rows, lambda rng, n, m: (rand(rng, (n, m)), rand(rng, (n, m)))),
    "edge_elements": (edge_elements, lambda rng, n, m: (rand(rng, n), rand(rng, n), rand(rng, n))),
    "generated_names": (generated_names, lambda rng, n, m: (rand(rng, m), rand(rng, n))),
    "replaced_values": (replaced_values, lambda rng, n, m: (rand(rng, n, np.float32), rand(rng, n),
                                                            rand(rng, n, np.int64))),
}


def _symbols(name, args):
    """The size symbols' values the undecorated body needs, from the arguments."""
    shapes = {"csr_matvec": lambda a: dict(N=len(a[3]), M=len(a[1]), L=len(a[0])),
              "nested_with_continue": lambda a: dict(N=a[0].shape[0], M=a[0].shape[1], L=a[1].shape[1]),
              "shared_accumulations": lambda a: dict(N=a[0].shape[0], M=a[0].shape[1], L=len(a[2]))}
    if name in shapes:
        return shapes[name](args)
    if name == "generated_names":
        return dict(M=len(args[0]), N=len(args[1]))
    a = args[0]
    return dict(N=a.shape[0], M=a.shape[1] if a.ndim > 1 else 1)


@pytest.mark.parametrize("name", sorted(CASES))
def test_loops_in_map_bodies_match_numpy(rng, name):
    prog, make = CASES[name]
    # 3000 rows: the maps run on the thread pool (atomic and shared updates from several threads)
    for n, m in ((1, 1), (4, 7), (33, 16), (3000, 5)):
        args = make(rng, n, m)
        run_both(prog, *args, ref=with_symbols(prog.func, **_symbols(name, args)))


def test_the_loop_is_one_tasklet_with_its_reads_proved_in_bounds():
    program = row_dot.to_ir()
    loops = [n for _, n in program.all_nodes() if isinstance(n, ir.Tasklet) and not n.code.is_straight_line()]
    assert len(loops) == 1
    assert "for k in range(0, M, 1) {" in str(loops[0].code)
    from flowc.codegen.cpp import generate_cpp

    source = generate_cpp(program).source
    assert "for (int64_t fc_v_k = fc_lo0; fc_v_k < fc_hi0; ++fc_v_k)" in source
    assert "flowc::index_ok(" not in source         # A[i, k], x[k]: k in [0, M), i in [0, N)
    again = ir.from_json(program.to_json())
    assert again.to_json() == program.to_json()


def test_an_out_of_bounds_read_in_the_loop_is_an_index_error(rng):
    indptr, indices, data, x, y = _csr(rng, 6)
    indices[2] = 99
    with pytest.raises(IndexError, match="out of bounds"):
        csr_matvec(indptr, indices, data, x, y)


def _refused(func, match):
    with pytest.raises(FrontendError, match=match) as info:
        flowc.program(func).to_ir()
    return str(info.value)


def test_races_and_unsupported_loops_are_refused():
    def racing_store(A: flowc.float64[N, M], out: flowc.float64[M]):
        for i in flowc.map[0:N]:
            for k in range(M):
                out[k] = A[i, k]

    def other_rows(A: flowc.float64[N, M], out: flowc.float64[N, M]):
        for i in flowc.map[1:N]:
            for k in range(M):
                out[i, k] = out[i - 1, k] + A[i, k]

    def shared_assign(A: flowc.float64[N, M], out: flowc.float64[1]):
        for i in flowc.map[0:N]:
            for k in range(M):
                out[0] = A[i, k]

    def while_loop(A: flowc.float64[N, M], out: flowc.float64[N]):
        for i in flowc.map[0:N]:
            k = 0
            while k < M:
                k += 1
            out[i] = k

    def map_in_loop(A: flowc.float64[N, M]):
        for i in flowc.map[0:N]:
            for _k in range(M):
                for j in flowc.map[0:M]:
                    A[i, j] = 0.0

    def loop_else(A: flowc.float64[N, M], out: flowc.float64[N]):
        for i in flowc.map[0:N]:
            for _k in range(M):
                pass
            else:
                out[i] = 1.0

    def slice_in_loop(A: flowc.float64[N, M], out: flowc.float64[N]):
        for i in flowc.map[0:N]:
            for _k in range(M):
                out[i] = np.sum(A[i, :])

    def assigns_loop_variable(A: flowc.float64[N, M], out: flowc.float64[N]):
        for i in flowc.map[0:N]:
            for k in range(M):
                k = k + 1
            out[i] = 1.0

    def loop_variable_after(A: flowc.float64[N, M], out: flowc.int64[N]):
        for i in flowc.map[0:N]:
            k = 7
            for k in range(M):  # noqa: B007      (Python leaves k = M - 1, or 7 if M == 0)
                out[i] += 1
            out[i] = k

    _refused(assigns_loop_variable, "the loop variable 'k' is assigned inside its loop")
    _refused(loop_variable_after, "the variable 'k' has no value here")
    assert "out[k] = A[i, k]" not in _refused(racing_store, "several map iterations may write")
    _refused(other_rows, "other map iterations may write")
    _refused(shared_assign, "updated inside a loop by several map iterations")
    _refused(while_loop, "while loop inside flowc.map")
    _refused(map_in_loop, "flowc.map inside a sequential loop")
    _refused(loop_else, "for ... else")
    _refused(slice_in_loop, "not supported inside flowc.map|must be scalars")
