"""Programs built directly with the IR builder API, each with a NumPy reference.

Shared by the end-to-end codegen tests and the IR service tests: each
factory returns ``(program, reference, make_inputs)`` where ``make_inputs(rng,
sizes)`` returns the positional arguments and symbol keywords for one call.
"""

from __future__ import annotations

import numpy as np

import flowc.ir as ir


def elementwise():
    """out[i, j] = exp(x[i, j]) * y[j] + 1 (broadcast of y across rows)."""
    p = ir.Program("elementwise")
    p.add_array("x", ["N", "M"], ir.float32)
    p.add_array("y", ["M"], ir.float32)
    p.add_array("out", ["N", "M"], ir.float32)
    p.add_return("out")
    st = p.add_state("main")
    st.add_mapped_tasklet("ew", {"i": "0:N", "j": "0:M"}, {"a": "x[i, j]", "b": "y[j]"},
                          "o = exp(a) * b + 1.0f", {"o": "out[i, j]"})

    def inputs(rng, n, m):
        return (rng.standard_normal((n, m), dtype=np.float32), rng.standard_normal(m, dtype=np.float32)), {}
    return p, lambda x, y: np.exp(x) * y + 1, inputs


def reduction(op="sum", axes=(1,)):
    """s = op over axes of A[N, M, K] (a Reduce library node)."""
    p = ir.Program(f"reduce_{op}")
    p.add_array("A", ["N", "M", "K"], ir.float64)
    shape = [s for d, s in enumerate(["N", "M", "K"]) if d not in axes]
    p.add_array("s", shape, ir.float64)
    p.add_return("s")
    st = p.add_state("main")
    r = st.add_library(ir.Reduce("r", op, axes))
    st.add_edge(st.add_access("A"), None, r, "_in", "A")
    st.add_edge(r, "_out", st.add_access("s"), None, "s")
    fn = {"sum": np.sum, "max": np.max, "min": np.min, "prod": np.prod}[op]

    def inputs(rng, n, m):
        return (rng.uniform(0.5, 1.5, (n, m, 3)),), {}
    return p, lambda a: fn(a, axis=tuple(axes)), inputs


def matmul(dtype=ir.float32, implementation="blas"):
    """C = A @ B (2-D)."""
    p = ir.Program("matmul")
    p.add_array("A", ["M", "K"], dtype)
    p.add_array("B", ["K", "N"], dtype)
    p.add_array("C", ["M", "N"], dtype)
    p.add_return("C")
    st = p.add_state("main")
    mm = st.add_library(ir.MatMul("mm", implementation=implementation))
    st.add_edge(st.add_access("A"), None, mm, "_a", "A")
    st.add_edge(st.add_access("B"), None, mm, "_b", "B")
    st.add_edge(mm, "_c", st.add_access("C"), None, "C")

    def inputs(rng, n, m):
        return (rng.standard_normal((n, m + 1)).astype(dtype.numpy),
                rng.standard_normal((m + 1, m)).astype(dtype.numpy)), {}
    return p, lambda a, b: a @ b, inputs


def batched_matmul(implementation="blas"):
    """C[b] = A[b] @ B[b]ᵀ where Bᵀ is a transposed *view* (no copy)."""
    p = ir.Program("batched_matmul")
    p.add_array("A", ["Bt", "M", "K"], ir.float32)
    p.add_array("B", ["Bt", "N", "K"], ir.float32)
    p.add_array("C", ["Bt", "M", "N"], ir.float32)
    p.add_return("C")
    p.add_view("BT", "B", ["Bt", "K", "N"], strides=["N*K", 1, "K"])
    st = p.add_state("main")
    mm = st.add_library(ir.MatMul("bmm", implementation=implementation))
    st.add_edge(st.add_access("A"), None, mm, "_a", "A")
    st.add_edge(st.add_access("BT"), None, mm, "_b", "BT")
    st.add_edge(mm, "_c", st.add_access("C"), None, "C")

    def inputs(rng, n, m):
        return (rng.standard_normal((3, n, m), dtype=np.float32),
                rng.standard_normal((3, n + 2, m), dtype=np.float32)), {}
    return p, lambda a, b: a @ np.swapaxes(b, 1, 2), inputs


def loop():
    """T steps of a 1-D three-point stencil, ping-ponging between x and a transient."""
    p = ir.Program("stencil_loop")
    p.add_array("x", ["N"], ir.float64)
    p.add_transient("tmp", ["N"], ir.float64)
    p.add_symbol("T")
    lp = p.add_loop("t", 0, "T")
    s1 = lp.body.add_state("smooth")
    s1.add_mapped_tasklet("smooth", {"i": "1:N-1"}, {"l": "x[i-1]", "c": "x[i]", "r": "x[i+1]"},
                          "o = 0.25 * l + 0.5 * c + 0.25 * r", {"o": "tmp[i]"})
    s2 = lp.body.add_state("copy_back")
    s2.add_nedge(s2.add_access("tmp"), s2.add_access("x"), ir.Memlet.parse("tmp[1:N-1]", other_subset="1:N-1"))

    def reference(x, T):
        x = x.copy()
        for _ in range(T):
            x[1:-1] = 0.25 * x[:-2] + 0.5 * x[1:-1] + 0.25 * x[2:]
        return x

    def inputs(rng, n, m):
        return (rng.standard_normal(n + 3),), {"T": m % 7 + 2}
    return p, reference, inputs


def branch():
    """y = x * 2 if the scalar alpha > 0 else y = x - 1; loops over a symbolic count too."""
    p = ir.Program("branch")
    p.add_scalar("alpha", ir.float32)
    p.add_array("x", ["N"], ir.float32)
    p.add_array("y", ["N"], ir.float32)
    br = p.add_branch("alpha > 0.0f")
    st = br.then_body.add_state("pos")
    st.add_mapped_tasklet("pos", {"i": "0:N"}, {"a": "x[i]", "s": "alpha"}, "o = a * s", {"o": "y[i]"})
    st = br.else_body.add_state("neg")
    st.add_mapped_tasklet("neg", {"i": "0:N"}, {"a": "x[i]"}, "o = a - 1.0f", {"o": "y[i]"})

    def reference(alpha, x, y):
        return x * alpha if alpha > 0 else x - 1
    return p, reference, None


def while_loop():
    """Halve the scalar a until it is <= 1; return the count and x scaled by the result."""
    p = ir.Program("halvings")
    p.add_scalar("a", ir.float64)
    p.add_array("x", ["N"], ir.float64)
    p.add_scalar("v", ir.float64, transient=True)
    p.add_scalar("c", ir.int64, transient=True)
    p.add_array("count", [1], ir.int64)
    p.add_array("scaled", ["N"], ir.float64)
    p.add_return("count")
    p.add_return("scaled")
    init = p.add_state("init")
    t = init.add_tasklet("init", ["ain"], ["vo", "co"], "vo = ain; co = 0")
    init.add_edge(init.add_access("a"), None, t, "ain", "a")
    init.add_edge(t, "vo", init.add_access("v"), None, "v")
    init.add_edge(t, "co", init.add_access("c"), None, "c")
    w = p.add_while("v > 1.0")
    body = w.body.add_state("halve")
    t = body.add_tasklet("halve", ["vi", "ci"], ["vo", "co"], "vo = vi * 0.5; co = ci + 1")
    body.add_edge(body.add_access("v"), None, t, "vi", "v")
    body.add_edge(body.add_access("c"), None, t, "ci", "c")
    body.add_edge(t, "vo", body.add_access("v"), None, "v")
    body.add_edge(t, "co", body.add_access("c"), None, "c")
    fin = p.add_state("finish")
    t = fin.add_tasklet("store", ["ci"], ["o"], "o = ci")
    fin.add_edge(fin.add_access("c"), None, t, "ci", "c")
    fin.add_edge(t, "o", fin.add_access("count"), None, "count[0]")
    fin.add_mapped_tasklet("scale", {"i": "0:N"}, {"e": "x[i]", "s": "v"}, "o = e * s", {"o": "scaled[i]"})

    def reference(a, x):
        v, c = a, 0
        while v > 1.0:
            v, c = v * 0.5, c + 1
        return np.array([c]), x * v
    return p, reference, None


ALL = {
    "elementwise": elementwise, "reduction": reduction, "matmul": matmul, "batched_matmul": batched_matmul,
    "loop": loop, "branch": branch, "while_loop": while_loop,
}


def _reduce_into(state, src, dst, op, axes):
    r = state.add_library(ir.Reduce(f"{op}_{dst}", op, axes))
    state.add_edge(state.add_access(src), None, r, "_in", src)
    state.add_edge(r, "_out", state.add_access(dst), None, dst)


def softmax():
    """Row softmax as a user's NumPy lowers: max, subtract+exp, sum, divide (4 ops, 3 transients)."""
    p = ir.Program("softmax")
    p.add_array("x", ["N", "M"], ir.float32)
    p.add_transient("m", ["N", 1], ir.float32)
    p.add_transient("e", ["N", "M"], ir.float32)
    p.add_transient("s", ["N", 1], ir.float32)
    p.add_array("out", ["N", "M"], ir.float32)
    p.add_return("out")
    st = p.add_state("softmax")
    _reduce_into(st, "x", "m", "max", [1])
    m_node = next(n for n in st.data_nodes() if n.data == "m")
    x_node = next(n for n in st.data_nodes() if n.data == "x")
    _, _, e_exit = st.add_mapped_tasklet("sub_exp", {"i": "0:N", "j": "0:M"}, {"a": "x[i, j]", "b": "m[i, 0]"},
                                         "o = exp(a - b)", {"o": "e[i, j]"},
                                         input_nodes={"m": m_node, "x": x_node})
    e_node = next(e.dst for e in st.out_edges(e_exit))
    r = st.add_library(ir.Reduce("sum_s", "sum", [1]))
    st.add_edge(e_node, None, r, "_in", "e")
    s_node = st.add_access("s")
    st.add_edge(r, "_out", s_node, None, "s")
    st.add_mapped_tasklet("div", {"i": "0:N", "j": "0:M"}, {"a": "e[i, j]", "b": "s[i, 0]"}, "o = a / b",
                          {"o": "out[i, j]"}, input_nodes={"e": e_node, "s": s_node})

    def reference(x):
        ex = np.exp(x - x.max(axis=1, keepdims=True))
        return ex / ex.sum(axis=1, keepdims=True)

    def inputs(rng, n, m):
        return (rng.standard_normal((n, m), dtype=np.float32),), {}
    return p, reference, inputs


def layernorm():
    """h = c + b + r (bias, residual); y = (h - mean) / sqrt(var + eps) * g + beta, over the last axis."""
    p = ir.Program("layernorm")
    p.add_array("c", ["N", "E"], ir.float32)
    p.add_array("b", ["E"], ir.float32)
    p.add_array("r", ["N", "E"], ir.float32)
    p.add_array("g", ["E"], ir.float32)
    p.add_array("beta", ["E"], ir.float32)
    for name, shape in (("h", ["N", "E"]), ("mu_sum", ["N", 1]), ("d", ["N", "E"]), ("d2", ["N", "E"]),
                        ("var_sum", ["N", 1])):
        p.add_transient(name, shape, ir.float32)
    p.add_array("y", ["N", "E"], ir.float32)
    p.add_return("y")
    st = p.add_state("layernorm")
    nodes = {}

    def node(name):
        if name not in nodes:
            nodes[name] = st.add_access(name)
        return nodes[name]

    def ew(label, ins, code, out):
        st.add_mapped_tasklet(label, {"i": "0:N", "j": "0:E"}, ins, code, {"o": f"{out}[i, j]"},
                              input_nodes={ir.Memlet.parse(m).data: node(ir.Memlet.parse(m).data)
                                           for m in ins.values()},
                              output_nodes={out: node(out)})

    def red(src, dst):
        r = st.add_library(ir.Reduce(f"sum_{dst}", "sum", [1]))
        st.add_edge(node(src), None, r, "_in", src)
        st.add_edge(r, "_out", node(dst), None, dst)

    ew("bias_residual", {"a": "c[i, j]", "bb": "b[j]", "rr": "r[i, j]"}, "o = a + bb + rr", "h")
    red("h", "mu_sum")
    ew("center", {"a": "h[i, j]", "s": "mu_sum[i, 0]"}, "o = a - s / float32(E)", "d")
    ew("square", {"a": "d[i, j]"}, "o = a * a", "d2")
    red("d2", "var_sum")
    ew("normalize", {"a": "d[i, j]", "v": "var_sum[i, 0]", "gg": "g[j]", "bt": "beta[j]"},
       "o = a / sqrt(v / float32(E) + 1e-12f) * gg + bt", "y")

    def reference(c, b, r, g, beta):
        h = c + b + r
        mu = h.mean(axis=-1, keepdims=True)
        var = ((h - mu) ** 2).mean(axis=-1, keepdims=True)
        return (h - mu) / np.sqrt(var + 1e-12) * g + beta

    def inputs(rng, n, m):
        f = np.float32
        return (rng.standard_normal((n, m), dtype=f), rng.standard_normal(m, dtype=f),
                rng.standard_normal((n, m), dtype=f), rng.standard_normal(m, dtype=f),
                rng.standard_normal(m, dtype=f)), {}
    return p, reference, inputs


def chain(consumer_index="i, j", producer_code="o = a * 2.0f + 1.0f", extra_reader=False, transient=True):
    """Two element-wise maps through an intermediate T; the consumer may read T elsewhere."""
    p = ir.Program("chain")
    p.add_array("x", ["N", "N"], ir.float32)
    if transient:
        p.add_transient("T", ["N", "N"], ir.float32)
    else:
        p.add_array("T", ["N", "N"], ir.float32)
    p.add_array("y", ["N", "N"], ir.float32)
    p.add_return("y")
    if extra_reader:
        p.add_array("z", ["N", "N"], ir.float32)
        p.add_return("z")
    st = p.add_state("chain")
    _, _, x1 = st.add_mapped_tasklet("producer", {"i": "0:N", "j": "0:N"}, {"a": "x[i, j]"}, producer_code,
                                     {"o": "T[i, j]"})
    t = next(e.dst for e in st.out_edges(x1))
    st.add_mapped_tasklet("consumer", {"i": "0:N", "j": "0:N"}, {"a": f"T[{consumer_index}]", "b": "x[i, j]"},
                          "o = exp(a) - b", {"o": "y[i, j]"}, input_nodes={"T": t})
    if extra_reader:
        st.add_mapped_tasklet("other", {"i": "0:N", "j": "0:N"}, {"a": "T[i, j]"}, "o = a * a", {"o": "z[i, j]"},
                              input_nodes={"T": t})
    return p


def head_merge(code="o = a", out_returned=False, extra_reader=False, order=(0, 2, 1, 3)):
    """C = A @ V per (b, h); D = C with its dimensions in ``order`` (default: the attention's
    head merge D[b, l, h, p] = C[b, h, l, p]); out = D + 1."""
    dims = ["B", "H", "L", "P"]
    d_shape = [dims[o] for o in order]
    params = {f"i{k}": f"0:{d}" for k, d in enumerate(d_shape)}
    read = ", ".join(f"i{order.index(c)}" for c in range(4))
    p = ir.Program("head_merge")
    p.add_array("A", ["B", "H", "L", "L"], ir.float32)
    p.add_array("V", ["B", "H", "L", "P"], ir.float32)
    p.add_transient("C", dims, ir.float32)
    if out_returned:
        p.add_array("D", d_shape, ir.float32)
        p.add_return("D")
    else:
        p.add_transient("D", d_shape, ir.float32)
        p.add_array("out", d_shape, ir.float32)
        p.add_return("out")
    if extra_reader:
        p.add_array("C2", dims, ir.float32)
        p.add_return("C2")
    st = p.add_state("attention")
    mm = st.add_library(ir.MatMul("av"))
    st.add_edge(st.add_access("A"), None, mm, "_a", "A")
    st.add_edge(st.add_access("V"), None, mm, "_b", "V")
    c = st.add_access("C")
    st.add_edge(mm, "_c", c, None, "C")
    _, _, x = st.add_mapped_tasklet("merge", params, {"a": f"C[{read}]"}, code, {"o": "D[i0, i1, i2, i3]"},
                                    input_nodes={"C": c})
    if extra_reader:
        st.add_mapped_tasklet("copy", {"i0": "0:B", "i1": "0:H", "i2": "0:L", "i3": "0:P"},
                              {"a": "C[i0, i1, i2, i3]"}, "o = a", {"o": "C2[i0, i1, i2, i3]"}, input_nodes={"C": c})
    if not out_returned:
        d = next(e.dst for e in st.out_edges(x))
        st.add_mapped_tasklet("plus1", params, {"a": "D[i0, i1, i2, i3]"}, "o = a + 1.0f",
                              {"o": "out[i0, i1, i2, i3]"}, input_nodes={"D": d})

    def reference(a, v):
        merged = (a @ v).transpose(*order)
        return merged if out_returned else merged + 1

    def inputs(rng, n, m):
        return (rng.standard_normal((2, 3, n, n), dtype=np.float32),
                rng.standard_normal((2, 3, n, m), dtype=np.float32)), {}
    return p, reference, inputs
