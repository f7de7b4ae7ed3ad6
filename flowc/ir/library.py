"""Library nodes: MatMul and Reduce.

A library node stands for a whole operation on *whole containers* (use a view
for part of an array). Code generation calls a tuned library for it
(``implementation="blas"``), or ``expand`` rewrites it into plain maps
(``"pure"``), which every target can compile and transformations can fuse.

MatMul::   C[..., M, N] = alpha * A[..., M, K] @ B[..., K, N]  (+ beta * C)
           batch dimensions broadcast as in NumPy (missing or literal 1).
Reduce::   out = op over ``axes`` of in    (op: sum, prod, max, min)
           the output keeps reduced axes as size 1 when its rank equals the input's.

A MatMul may carry an ``Epilogue`` (``flowc.ir.epilogue``): an element-wise
function of each result element and other inputs, applied before the store
(bias, activation, residual: ``C = gelu(A @ B + b)``).

Pure expansion of both is the same shape — a parallel map over the output,
an accumulator scalar per output element, a sequential inner map over the
reduced index::

    MatMul(A, B → C)   ⇒   map b,i,j:  acc = 0
                                       map k: acc += A[b,i,k] * B[b,k,j]   (wcr sum)
                                       C[b,i,j] = alpha * acc   (then the epilogue)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

import numpy as np

from flowc.ir import expr as tl
from flowc.ir.epilogue import ACC, OUT, Epilogue, index_symbol, rename_locals
from flowc.ir.dtypes import dtype_of
from flowc.ir.errors import IRError
from flowc.ir.memlet import Memlet
from flowc.ir.nodes import AccessNode, LibraryNode, Schedule
from flowc.ir.symbolic import Range, Subset, canonical_symbol, equal, is_positive, is_zero

if TYPE_CHECKING:
    from flowc.ir.program import Program
    from flowc.ir.state import State

REDUCE_OPS = ("sum", "prod", "max", "min")


def identity_text(op: str, dtype: Any) -> str:
    """The tasklet-language literal of ``op``'s identity in ``dtype``."""
    if op == "sum":
        return "0" if dtype.is_integer or dtype.kind == "b" else "0.0"
    if op == "prod":
        return "1" if dtype.is_integer or dtype.kind == "b" else "1.0"
    if dtype.kind == "b":
        return "False" if op == "max" else "True"
    if dtype.is_integer:
        info = np.iinfo(dtype.numpy)
        return str(info.min if op == "max" else info.max)
    return "-inf" if op == "max" else "inf"


def _edge_for(state: "State", node: LibraryNode, conn: str, incoming: bool):
    edges = state.in_edges(node) if incoming else state.out_edges(node)
    for e in edges:
        if (e.dst_conn if incoming else e.src_conn) == conn:
            return e
    raise IRError(f"{node!r} has no edge on connector {conn!r}")


def matrix_layout(desc: Any) -> Optional[tuple[bool, Any]]:
    """How the last two dims of ``desc`` read as a row-major GEMM operand:
    (transposed?, leading dimension), or None without a unit stride and a positive
    leading dimension (BLAS cannot walk a reversed view such as ``a[::-1]``)."""
    s_row, s_col = desc.strides[-2], desc.strides[-1]
    if is_zero(s_col - 1) and is_positive(s_row):
        return False, s_row
    if is_zero(s_row - 1) and is_positive(s_col):
        return True, s_col
    return None


def vector_kind(program: "Program", state: "State", node: "MatMul") -> Optional[str]:
    """Which BLAS routine a MatMul with a literal size-1 dimension is: ``"mv"`` (``A @ x``,
    ``N == 1``: GEMV), ``"vm"`` (``x @ A``, ``M == 1``: GEMV on ``A``ᵀ), ``"dot"`` (both), or
    None (a GEMM). A vector operand is ``x[:, None]`` or ``x[None, :]``, as the frontend
    writes ``@`` with a 1-D operand."""
    a, b, _ = (program.data[n] for n in node.operands(state))
    one_m, one_n = equal(a.shape[-2], 1), equal(b.shape[-1], 1)
    if one_m and one_n:
        return "dot"
    return "mv" if one_n else "vm" if one_m else None


def _vector_ok(stride: Any, length: Any) -> bool:
    """A vector BLAS can walk: ascending (``incx > 0``), or a single element."""
    return is_positive(stride) or equal(length, 1)


def gemm_unsupported(program: "Program", state: "State", node: "MatMul", target: str = "cpu") -> Optional[str]:
    """Why this MatMul cannot be one strided (batched) GEMM, GEMV or DOT call on ``target``'s
    library (OpenBLAS on the CPU, cuBLAS on the GPU); None if it can."""
    a, b, c = (program.data[n] for n in node.operands(state))
    floats = ("float16", "float32", "float64") if target == "cuda" else ("float32", "float64")
    if not (a.dtype == b.dtype == c.dtype) or a.dtype.name not in floats:
        return (f"GEMM needs {', '.join(floats)} operands of one type (got {a.dtype.name}, {b.dtype.name}, "
                f"{c.dtype.name})")
    kind = vector_kind(program, state, node)
    m, k = a.shape[-2:]
    n = b.shape[-1]
    if kind is None and (not is_zero(c.strides[-1] - 1) or not is_positive(c.strides[-2])):
        return "the result's rows are not contiguous and ascending"
    if kind == "mv" and not _vector_ok(c.strides[-2], m) or kind == "vm" and not _vector_ok(c.strides[-1], n):
        return "the result vector is not ascending"
    if kind in ("vm", "dot") and not _vector_ok(a.strides[-1], k):
        return "vector operand A is not ascending"
    if kind in ("mv", "dot") and not _vector_ok(b.strides[-2], k):
        return "vector operand B is not ascending"
    for name, d, vector in (("A", a, kind in ("vm", "dot")), ("B", b, kind in ("mv", "dot"))):
        if not vector and matrix_layout(d) is None:
            return f"operand {name} has no unit stride in its matrix dimensions"
    if target == "cuda":
        # cuBLAS has no GEMV/DOT special case here: every product is a GEMM, whose result needs
        # unit-stride rows (a single column excepted) and matrix operands (a vector is one)
        if not is_zero(c.strides[-1] - 1) and not equal(n, 1):
            return "the result's rows are not contiguous"
        if node.epilogue is not None:
            return "the cuda target runs epilogues as kernels of their own"
    if node.beta != 0.0:
        cin = _edge_for(state, node, "_cin", True).data
        if program.root_of(cin) != program.root_of(c_name := node.operands(state)[2]) or cin != c_name:
            return "GEMM accumulates in place: beta needs _cin to be the output container"
    return None


class MatMul(LibraryNode):
    inputs = ("_a", "_b")
    outputs = ("_c",)
    implementations = ("blas", "pure")

    def __init__(self, name: str = "matmul", alpha: float = 1.0, beta: float = 0.0,
                 implementation: Optional[str] = None, epilogue: Union[Epilogue, dict, None] = None,
                 row_blocks: Optional[int] = None):
        super().__init__(name, implementation)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.epilogue = Epilogue.from_dict(epilogue) if isinstance(epilogue, dict) else epilogue
        #: CPU BLAS: how many tasks (row blocks) each batch entry's GEMM is split into; None: as
        #: many as keep every thread busy (``GemmRowBlocks`` sets it)
        self.row_blocks = row_blocks

    @property
    def label(self) -> str:
        return f"MatMul {self.name}" + (" + epilogue" if self.epilogue else "")

    def in_connectors(self) -> set[str]:
        own = {"_a", "_b", "_cin"} if self.beta != 0.0 else {"_a", "_b"}
        return own | set(self.epilogue.connectors if self.epilogue else ())

    def properties(self) -> dict[str, Any]:
        props: dict[str, Any] = {"alpha": self.alpha, "beta": self.beta}
        if self.epilogue is not None:
            props["epilogue"] = self.epilogue.to_dict()
        if self.row_blocks is not None:
            props["row_blocks"] = self.row_blocks
        return props

    def operands(self, state: "State") -> tuple[str, str, str]:
        """Names of the A, B and C containers."""
        return (_edge_for(state, self, "_a", True).data, _edge_for(state, self, "_b", True).data,
                _edge_for(state, self, "_c", False).data)

    def check_shapes(self, program: "Program", state: "State") -> None:
        a, b, c = (program.data[n] for n in self.operands(state))
        if a.ndim < 2 or b.ndim < 2 or c.ndim < 2:
            raise IRError(f"{self!r}: operands need at least 2 dimensions "
                          f"(got {a.ndim}, {b.ndim} -> {c.ndim}); use a view to add one")
        m, k = a.shape[-2:]
        k2, n = b.shape[-2:]
        if not (equal(k, k2) and equal(c.shape[-2], m) and equal(c.shape[-1], n)):
            raise IRError(f"{self!r}: shapes {a.shape} @ {b.shape} -> {c.shape} do not match")
        batch = c.shape[:-2]
        for name, desc in (("A", a), ("B", b)):
            own = desc.shape[:-2]
            if len(own) > len(batch):
                raise IRError(f"{self!r}: operand {name} has more batch dimensions than the result")
            for s, cs in zip(reversed(own), reversed(batch)):
                if s != 1 and not equal(s, cs):
                    raise IRError(f"{self!r}: batch dimension {s} of {name} does not broadcast to {cs}")
        if self.epilogue is not None:
            ranks = {e.dst_conn: program.data[e.data].ndim for e in state.in_edges(self)
                     if e.dst_conn in self.epilogue.connectors}
            try:
                self.epilogue.check(c.ndim, ranks, program.used_symbols() | program.local_symbols())
            except IRError as exc:
                raise IRError(f"{self!r}: {exc}") from None

    def expand(self, program: "Program", state: "State") -> None:
        a_name, b_name, c_name = self.operands(state)
        self.check_shapes(program, state)
        a, b, c = (program.data[n] for n in (a_name, b_name, c_name))
        batch = list(c.shape[:-2])
        bparams = [f"_b{i}" for i in range(len(batch))]

        def idx(desc, tail):
            own = desc.shape[:-2]
            lead = [("0" if s == 1 else bparams[len(batch) - len(own) + d]) for d, s in enumerate(own)]
            return ", ".join(lead + tail)

        outer = {**{p: f"0:{s}" for p, s in zip(bparams, batch)}, "_i": f"0:{c.shape[-2]}",
                 "_j": f"0:{c.shape[-1]}"}
        inputs = {"a": Memlet.parse(f"{a_name}[{idx(a, ['_i', '_k'])}]"),
                  "b": Memlet.parse(f"{b_name}[{idx(b, ['_k', '_j'])}]")}
        finish = f"o = {self.alpha!r} * v" if self.alpha != 1.0 else "o = v"
        extra_inputs = {}
        if self.beta != 0.0:
            cin = _edge_for(state, self, "_cin", True).data
            extra_inputs["cin"] = Memlet.parse(f"{cin}[{idx(c, ['_i', '_j'])}]")
            finish += f" + {self.beta!r} * cin"
        if self.epilogue is not None:
            finish = self._finish_with_epilogue(program, state, finish, bparams, extra_inputs)
        # NumPy's float16 matmul multiplies and accumulates in float32 and rounds once at the end
        half = c.dtype.name == "float16"
        _accumulate(program, state, self, self.name, outer, {"_k": f"0:{a.shape[-1]}"}, inputs,
                    "o = float32(a) * float32(b)" if half else "o = a * b", "sum",
                    dtype_of(np.float32) if half else c.dtype, Memlet.parse(f"{c_name}[{idx(c, ['_i', '_j'])}]"),
                    finish, extra_inputs)


    def _finish_with_epilogue(self, program: "Program", state: "State", finish: str, bparams: list[str],
                              extra_inputs: dict[str, Memlet]) -> tl.Code:
        """The finishing tasklet's code with the epilogue applied: the plain result
        becomes ``acc``, and each epilogue input a tasklet input at the output index."""
        epi = self.epilogue
        assert epi is not None
        rank = program.data[self.operands(state)[2]].ndim
        to_params = {index_symbol(d): canonical_symbol(p)
                     for d, p in enumerate([*bparams, "_i", "_j"][-rank:])}
        reads: dict[str, tl.Node] = {ACC: tl.Name("_epi_acc")}
        for conn, index in epi.reads:
            data = _edge_for(state, self, conn, True).data
            extra_inputs[f"_epi{conn}"] = Memlet(data, Subset(tuple(Range.index(i.xreplace(to_params))
                                                                      for i in index)))
            reads[conn] = tl.Name(f"_epi{conn}")
        code = rename_locals(epi.code, {n: f"_epl_{n}" for n in epi.code.assigned()})
        head = tl.Code.parse(finish.replace("o =", "_epi_acc =", 1))
        body = tuple(s.substitute(reads) for s in code.stmts)
        return tl.Code(head.stmts + body + (tl.Assign("o", tl.Name(f"_epl_{OUT}")),))


class Reduce(LibraryNode):
    inputs = ("_in",)
    outputs = ("_out",)
    implementations = ("pure",)

    def __init__(self, name: str = "reduce", op: str = "sum", axes: Sequence[int] = (0,),
                 implementation: Optional[str] = None):
        super().__init__(name, implementation)
        if op not in REDUCE_OPS:
            raise IRError(f"Reduce {name!r}: op {op!r} is not one of {', '.join(REDUCE_OPS)}")
        self.op = op
        self.axes = tuple(sorted(int(a) for a in axes))

    def properties(self) -> dict[str, Any]:
        return {"op": self.op, "axes": list(self.axes)}

    @property
    def label(self) -> str:
        return f"Reduce {self.op} {list(self.axes)}"

    def operands(self, state: "State") -> tuple[str, str]:
        return _edge_for(state, self, "_in", True).data, _edge_for(state, self, "_out", False).data

    def check_shapes(self, program: "Program", state: "State") -> bool:
        """Validate shapes; return whether the output keeps reduced axes (keepdims)."""
        src, dst = (program.data[n] for n in self.operands(state))
        if any(a < 0 or a >= src.ndim for a in self.axes):
            raise IRError(f"{self!r}: axes {self.axes} out of range for rank {src.ndim}")
        kept = [s for d, s in enumerate(src.shape) if d not in self.axes]
        keepdims = dst.ndim == src.ndim and src.ndim != len(kept)
        expected = [1 if d in self.axes else s for d, s in enumerate(src.shape)] if keepdims else kept
        if len(expected) != dst.ndim or any(not equal(x, y)
                                            for x, y in zip(expected, dst.shape)):
            raise IRError(f"{self!r}: reducing {src.shape} over {list(self.axes)} gives "
                          f"{tuple(expected)}, but the output is {dst.shape}")
        return keepdims

    def expand(self, program: "Program", state: "State") -> None:
        in_name, out_name = self.operands(state)
        keepdims = self.check_shapes(program, state)
        src, dst = program.data[in_name], program.data[out_name]
        outer, inner, in_idx, out_idx = {}, {}, [], []
        for d, s in enumerate(src.shape):
            if d in self.axes:
                inner[f"_r{d}"] = f"0:{s}"
                in_idx.append(f"_r{d}")
                if keepdims:
                    out_idx.append("0")
            else:
                outer[f"_o{d}"] = f"0:{s}"
                in_idx.append(f"_o{d}")
                out_idx.append(f"_o{d}")
        out_memlet = Memlet.parse(f"{out_name}[{', '.join(out_idx)}]") if dst.ndim else Memlet(out_name)
        _accumulate(program, state, self, self.name, outer, inner,
                    {"x": Memlet.parse(f"{in_name}[{', '.join(in_idx)}]")}, "o = x", self.op,
                    dst.dtype, out_memlet, "o = v", {})


def _accumulate(program: "Program", state: "State", node: LibraryNode, name: str,
                outer: dict[str, str], inner: dict[str, str], inputs: dict[str, Memlet],
                inner_code: str, op: str, dtype: Any, out_memlet: Memlet, finish_code: Any,
                finish_inputs: dict[str, Memlet]) -> None:
    """Replace ``node`` by ``map outer: acc = id; map inner: acc op= f(inputs); out = finish(acc)``.
    Ordering edges into (out of) ``node`` enter (leave) the replacement as a whole."""
    in_nodes = {e.data: e.src for e in state.in_edges(node) if isinstance(e.src, AccessNode)}
    out_node = next(e.dst for e in state.out_edges(node) if not e.memlet.is_empty)
    before = [e.src for e in state.in_edges(node) if e.memlet.is_empty]
    after = [e.dst for e in state.out_edges(node) if e.memlet.is_empty]
    state.remove_node(node)
    acc, _ = program.add_scalar(f"{name}_acc", dtype, transient=True, find_new_name=True)
    if outer:
        o_entry, o_exit = state.add_map(f"{name}_outer", outer, Schedule.DEFAULT)
    i_entry, i_exit = state.add_map(f"{name}_inner", inner, Schedule.SEQUENTIAL)
    init = state.add_tasklet(f"{name}_init", [], ["o"], f"o = {identity_text(op, dtype)}")
    acc_init = state.add_access(acc)
    body = state.add_tasklet(f"{name}_body", list(inputs), ["o"], inner_code)
    acc_done = state.add_access(acc)
    finish = state.add_tasklet(f"{name}_finish", ["v", *finish_inputs], ["o"], finish_code)
    scope_in = [o_entry] if outer else []
    if outer:
        state.add_edge(o_entry, None, init, None, Memlet.empty())
    state.add_edge(init, "o", acc_init, None, Memlet(acc, Subset(())))
    state.add_nedge(acc_init, i_entry)
    for conn, m in inputs.items():
        src = in_nodes.get(m.data) or state.add_access(m.data)
        state.add_memlet_path(src, *scope_in, i_entry, body, memlet=m, dst_conn=conn)
    state.add_memlet_path(body, i_exit, acc_done, memlet=Memlet(acc, Subset(()), wcr=op), src_conn="o")
    state.add_edge(acc_done, None, finish, "v", Memlet(acc, Subset(())))
    for conn, m in finish_inputs.items():
        src = in_nodes.get(m.data) or state.add_access(m.data)
        state.add_memlet_path(src, *scope_in, finish, memlet=m, dst_conn=conn)
    exits = [o_exit] if outer else []
    state.add_memlet_path(finish, *exits, out_node, memlet=out_memlet, src_conn="o")
    for src in before:
        state.add_nedge(src, o_entry if outer else init)
    for dst in after:
        state.add_nedge(out_node, dst)


__all__ = ["MatMul", "Reduce", "gemm_unsupported", "identity_text", "matrix_layout", "vector_kind"]
