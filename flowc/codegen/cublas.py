"""MatMul → cuBLAS on the cuda target: one strided batched GEMM per call.

cuBLAS is column-major; flowc's arrays are row-major with arbitrary strides. A
row-major ``C[m, n] = A[m, k] @ B[k, n]`` is the column-major
``Cᵀ[n, m] = Bᵀ[n, k] @ Aᵀ[k, m]``, so the call passes B first, with each operand's
transposition read off its strides (a transposed view is an op flag, never a copy)::

    row-major  A (lda, trans_a) @ B (ldb, trans_b) → C (ldc)
    cuBLAS     gemm(op(trans_b), op(trans_a), n, m, k, B, ldb, A, lda, C, ldc)

Batch dimensions: the innermost is cuBLAS's batch (with its strides; 0 for an
operand broadcast over it), outer ones are host loops of such calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy

from flowc.codegen.cxx_expr import cxx_comment, cxx_string, sym_cxx
from flowc.codegen.libraries import EmitContext, _batch_strides, register
from flowc.ir.errors import IRError
from flowc.ir.library import gemm_unsupported, matrix_layout
from flowc.ir.nodes import LibraryNode
from flowc.ir.symbolic import equal

if TYPE_CHECKING:
    from flowc.ir.state import State

_OP = {False: "CUBLAS_OP_N", True: "CUBLAS_OP_T"}


def operand_layout(desc, rows, cols) -> tuple[bool, sympy.Expr]:
    """(transposed?, leading dimension) of a row-major GEMM operand with ``rows × cols`` in its
    last two dimensions; a single row or column reads with any positive stride."""
    layout = matrix_layout(desc)
    if layout is not None:
        return layout
    if equal(cols, 1):
        return False, desc.strides[-2]
    if equal(rows, 1):
        return True, desc.strides[-1]
    raise IRError(f"a GEMM operand of shape {desc.shape} and strides {desc.strides} has no cuBLAS layout")


@register("MatMul", "blas", target="cuda")
def emit_matmul_cublas(ctx: EmitContext, state: "State", node: LibraryNode) -> None:
    program = ctx.program
    names = node.operands(state)
    node.check_shapes(program, state)
    why = gemm_unsupported(program, state, node, "cuda")
    if why:
        raise IRError(f"{node!r} cannot be a cuBLAS call: {why}")
    ctx.uses_blas = True           # under emulation, cuBLAS calls go to the CPU BLAS
    a, b, c = (program.data[n] for n in names)
    m, k = a.shape[-2:]
    n = b.shape[-1]
    batch = list(c.shape[:-2])
    sa, sb, sc = (_batch_strides(x, batch) for x in (a, b, c))
    trans_a, lda = operand_layout(a, m, k)
    trans_b, ldb = operand_layout(b, k, n)
    ct = "float" if c.dtype.name == "float16" else c.dtype.ctype    # alpha, beta: float for half GEMMs
    pa, pb, pc = (ctx.gen.pointer(x) for x in names)
    label = f"{state.name}/{node.label}"
    emit = ctx.emit
    gen = ctx.gen
    emit(f"{{ // {cxx_comment(node.label)}: {names[0]} @ {names[1]} -> {names[2]} (cuBLAS)")
    gen.depth += 1
    emit(f"const int64_t fc_M = {sym_cxx(m)}, fc_N = {sym_cxx(n)}, fc_K = {sym_cxx(k)};")
    emit("if (fc_M > 0 && fc_N > 0) {")
    gen.depth += 1
    emit("cublasHandle_t fc_h = flowc::blas();")
    emit('if (!fc_h) { std::snprintf(flowc::error_message, sizeof flowc::error_message, "cannot create a cuBLAS '
         'handle"); return 1; }')
    # leading dimensions: the stride, or any legal value where the dimension is 1 (cuBLAS checks them)
    ld_a = f"(int)flowc::size_max({sym_cxx(lda)}, flowc::size_max(1, {'fc_M' if trans_a else 'fc_K'}))"
    ld_b = f"(int)flowc::size_max({sym_cxx(ldb)}, flowc::size_max(1, {'fc_K' if trans_b else 'fc_N'}))"
    ld_c = f"(int)flowc::size_max({sym_cxx(c.strides[-2])}, flowc::size_max(1, fc_N))"
    inner = len(batch) - 1
    offsets = ["0", "0", "0"]
    for d in range(inner):          # outer batch dimensions: host loops
        v = f"fc_b{d}"
        emit(f"for (int64_t {v} = 0; {v} < {sym_cxx(batch[d])}; ++{v})")
        gen.depth += 1
        offsets = [f"{o} + {v} * ({sym_cxx(s[d])})" for o, s in zip(offsets, (sa, sb, sc))]
    count = sym_cxx(batch[inner]) if batch else "1"
    st = [sym_cxx(s[inner]) if batch else "0" for s in (sa, sb, sc)]
    emit(f"if (int fc_e = flowc::check_blas(flowc::gemm_strided_batched(fc_h, {_OP[trans_b]}, {_OP[trans_a]}, "
         f"(int)fc_N, (int)fc_M, (int)fc_K, ({ct}){node.alpha!r}, {pb} + ({offsets[1]}), {ld_b}, (long long)({st[1]}), "
         f"{pa} + ({offsets[0]}), {ld_a}, (long long)({st[0]}), ({ct}){node.beta!r}, {pc} + ({offsets[2]}), {ld_c}, "
         f"(long long)({st[2]}), (int)({count})), \"{cxx_string(label)}\")) return fc_e;")
    gen.depth -= inner if inner > 0 else 0
    gen.depth -= 1
    emit("}")
    gen.depth -= 1
    emit("}")
