"""Small IR programs built with the builder API, shared by the tests of the IR services.

Each builder returns a fresh, valid ``Program``.
"""

from __future__ import annotations

from flowc import ir


def axpy() -> ir.Program:
    """out[i] = 2 * x[i] + y[i] over N float32 (an element-wise map)."""
    p = ir.Program("axpy")
    p.add_symbol("N")
    p.add_array("x", ["N"], ir.float32)
    p.add_array("y", ["N"], ir.float32)
    p.add_array("out", ["N"], ir.float32)
    s = p.add_state("main")
    s.add_mapped_tasklet("axpy", {"i": "0:N"}, inputs={"a": "x[i]", "b": "y[i]"},
                         code="o = 2.0f * a + b", outputs={"o": "out[i]"})
    return p


def reduce_rows(expand: bool = False) -> ir.Program:
    """B[i] = sum_j A[i, j] over float64 A[N, M] (a Reduce library node, optionally expanded)."""
    p = ir.Program("rowsum")
    p.add_symbol("N")
    p.add_symbol("M")
    p.add_array("A", ["N", "M"], ir.float64)
    p.add_array("B", ["N"], ir.float64)
    s = p.add_state("main")
    r = s.add_library(ir.Reduce("rsum", "sum", [1]))
    s.add_edge(s.add_access("A"), None, r, "_in", "A")
    s.add_edge(r, "_out", s.add_access("B"), None, "B")
    if expand:
        r.expand(p, s)
    return p


def matmul(expand: bool = False) -> ir.Program:
    """C[M, N] = A[M, K] @ B[K, N] in float32 (a MatMul library node)."""
    p = ir.Program("mm")
    for s in ("M", "N", "K"):
        p.add_symbol(s)
    p.add_array("A", ["M", "K"], ir.float32)
    p.add_array("B", ["K", "N"], ir.float32)
    p.add_array("C", ["M", "N"], ir.float32)
    s = p.add_state("main")
    mm = s.add_library(ir.MatMul("mm", alpha=0.5))
    s.add_edge(s.add_access("A"), None, mm, "_a", "A")
    s.add_edge(s.add_access("B"), None, mm, "_b", "B")
    s.add_edge(mm, "_c", s.add_access("C"), None, "C")
    if expand:
        mm.expand(p, s)
    return p


def batched_matmul(expand: bool = False) -> ir.Program:
    """C[Bt, M, N] = A[Bt, M, K] @ W[K, N] (the weight broadcast over the batch), returned."""
    p = ir.Program("bmm")
    for s in ("Bt", "M", "N", "K"):
        p.add_symbol(s)
    p.add_array("A", ["Bt", "M", "K"], ir.float32)
    p.add_array("W", ["K", "N"], ir.float32)
    p.add_array("C", ["Bt", "M", "N"], ir.float32)
    p.add_return("C")
    s = p.add_state("main")
    mm = s.add_library(ir.MatMul("bmm", implementation="pure"))
    s.add_edge(s.add_access("A"), None, mm, "_a", "A")
    s.add_edge(s.add_access("W"), None, mm, "_b", "W")
    s.add_edge(mm, "_c", s.add_access("C"), None, "C")
    if expand:
        mm.expand(p, s)
    return p


def time_loop() -> ir.Program:
    """for t in range(T): x[0:N] += y[0:N] (a state inside a counted loop)."""
    p = ir.Program("tloop")
    p.add_symbol("N")
    p.add_symbol("T")
    p.add_array("x", ["N"], ir.float32)
    p.add_array("y", ["N"], ir.float32)
    loop = p.add_loop("t", 0, "T")
    s = loop.body.add_state("step")
    x_in = s.add_access("x")
    s.add_mapped_tasklet("acc", {"i": "0:N"}, inputs={"a": "x[i]", "b": "y[i]"}, code="o = a + b",
                         outputs={"o": "x[i]"}, input_nodes={"x": x_in})
    return p


def triangular_loop() -> ir.Program:
    """for t in range(N): out[t] = sum(A[t, 0:t+1]) -- the memlets depend on the loop variable."""
    p = ir.Program("tri")
    p.add_symbol("N")
    p.add_array("A", ["N", "N"], ir.float64)
    p.add_array("out", ["N"], ir.float64)
    loop = p.add_loop("t", 0, "N")
    s = loop.body.add_state("row")
    s.add_mapped_tasklet("rowsum", {"j": "0:t+1"}, inputs={"a": "A[t, j]"}, code="o = a",
                         outputs={"o": ir.Memlet.parse("out[t]", wcr="sum")})
    return p


def branch() -> ir.Program:
    """if flag > 0: y = x * 2 (map)  else: y[0:N] = x[0:N] (a copy); flag is a Scalar argument."""
    p = ir.Program("br")
    p.add_symbol("N")
    p.add_array("x", ["N"], ir.float32)
    p.add_array("y", ["N"], ir.float32)
    p.add_scalar("flag", ir.int32)
    br = p.add_branch("flag > 0")
    s1 = br.then_body.add_state("double")
    s1.add_mapped_tasklet("dbl", {"i": "0:N"}, inputs={"a": "x[i]"}, code="o = a * 2.0f", outputs={"o": "y[i]"})
    s2 = br.else_body.add_state("copy")
    s2.add_nedge(s2.add_access("x"), s2.add_access("y"), "x[0:N]")
    return p


def while_loop() -> ir.Program:
    """while n > 0: x = x * 0.5  (n is a Scalar argument; the body counts once per iteration)."""
    p = ir.Program("wh")
    p.add_symbol("N")
    p.add_array("x", ["N"], ir.float64)
    p.add_scalar("n", ir.int64)
    w = p.add_while("n > 0")
    s = w.body.add_state("halve")
    x_in = s.add_access("x")
    s.add_mapped_tasklet("half", {"i": "0:N"}, inputs={"a": "x[i]"}, code="o = a * 0.5",
                         outputs={"o": "x[i]"}, input_nodes={"x": x_in})
    return p


def view_transpose() -> ir.Program:
    """out[j, i] = xt[j, i] + 1 where xt is a transposed view of x[N, M]."""
    p = ir.Program("viewt")
    p.add_symbol("N")
    p.add_symbol("M")
    p.add_array("x", ["N", "M"], ir.float32)
    p.add_array("out", ["M", "N"], ir.float32)
    p.add_view("xt", "x", ["M", "N"], strides=[1, "M"])
    s = p.add_state("main")
    s.add_mapped_tasklet("inc", {"j": "0:M", "i": "0:N"}, inputs={"a": "xt[j, i]"}, code="o = a + 1.0f",
                         outputs={"o": "out[j, i]"})
    return p


def transient_scalar() -> ir.Program:
    """s = x[0] * 2 in a transient scalar, then y[0] = s + 1 (the scalar's edges count 0 bytes)."""
    p = ir.Program("tscalar")
    p.add_array("x", [4], ir.float32)
    p.add_array("y", [4], ir.float32)
    p.add_scalar("s", ir.float32, transient=True)
    st = p.add_state("main")
    t1 = st.add_tasklet("dbl", ["a"], ["o"], "o = a * 2.0f")
    t2 = st.add_tasklet("inc", ["a"], ["o"], "o = a + 1.0f")
    s_node = st.add_access("s")
    st.add_edge(st.add_access("x"), None, t1, "a", "x[0]")
    st.add_edge(t1, "o", s_node, None, "s")
    st.add_edge(s_node, None, t2, "a", "s")
    st.add_edge(t2, "o", st.add_access("y"), None, "y[0]")
    return p


ALL = {
    "axpy": axpy,
    "reduce": reduce_rows,
    "reduce_expanded": lambda: reduce_rows(expand=True),
    "matmul": matmul,
    "matmul_expanded": lambda: matmul(expand=True),
    "batched_matmul": batched_matmul,
    "batched_matmul_expanded": lambda: batched_matmul(expand=True),
    "loop": time_loop,
    "triangular_loop": triangular_loop,
    "branch": branch,
    "while": while_loop,
    "view": view_transpose,
    "transient_scalar": transient_scalar,
}
