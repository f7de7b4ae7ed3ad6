"""C++ for a Gram product, a MatMul of a matrix with its own transpose (``d.T @ d``,
``x @ x.T``): BLAS SYRK on the upper triangle, then a mirror, at half a GEMM's flops.

NumPy's ``matmul`` does the same when both operands are one buffer, one side transposed; a
covariance (``(d.T @ d) / (n - 1)``) spends nearly all its time here. The work is split into
row blocks of equal triangle area (the top rows of an upper triangle are the longest), each
task a single-threaded SYRK on its diagonal block and a GEMM right of it::

    C = Xᵀ X   (X: K × N)           rows r0:r1 of the upper triangle
    ┌─────────────┐                 C[r0:r1, r0:r1] = X[:, r0:r1]ᵀ X[:, r0:r1]      SYRK
    │ ╲  upper    │                 C[r0:r1, r1:N]  = X[:, r0:r1]ᵀ X[:, r1:N]       GEMM
    │   ╲         │
    │ mirror ╲    │                 then, after a barrier, C[i, j] = C[j, i] for j < i,
    └─────────────┘                 and after another, the node's epilogue on every row

Only with ``beta == 0``: a mirror would otherwise copy ``beta · C`` from the wrong triangle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from flowc.codegen.cxx_expr import cxx_comment, sym_cxx
from flowc.ir.library import matrix_layout
from flowc.ir.nodes import LibraryNode
from flowc.ir.symbolic import equal

#: CBLAS_UPLO's CblasUpper
CBLAS_UPPER = 121

if TYPE_CHECKING:
    from flowc.codegen.libraries import EmitContext
    from flowc.ir.state import State


def gram_form(ctx: "EmitContext", state: "State", node: LibraryNode) -> Optional[str]:
    """``"T"`` for ``C = Xᵀ X`` (the left operand is the right one transposed), ``"N"`` for
    ``C = X Xᵀ``, or None: not one matrix and its transpose (same memory, offset and
    swapped strides), a batch, or a ``beta`` to apply."""
    names = node.operands(state)
    a, b, c = (ctx.program.data[n] for n in names)
    if node.beta != 0.0 or a.ndim != 2 or b.ndim != 2 or c.ndim != 2:
        return None
    if ctx.program.root_of(names[0]) != ctx.program.root_of(names[1]) or \
            not equal(ctx.gen.root_offset(names[0]), ctx.gen.root_offset(names[1])):
        return None
    swapped = all(equal(x, y) for x, y in zip((*a.shape, *a.strides), (b.shape[1], b.shape[0],
                                                                        b.strides[1], b.strides[0])))
    if not swapped:
        return None
    if matrix_layout(b) is not None and not matrix_layout(b)[0]:
        return "T"                                  # b is X (row-major), a = Xᵀ
    if matrix_layout(a) is not None and not matrix_layout(a)[0]:
        return "N"                                  # a is X, b = Xᵀ
    return None


def emit_gram(ctx: "EmitContext", state: "State", node: LibraryNode, form: str) -> None:
    """Emit ``node`` (a Gram product, see ``gram_form``) as row-blocked SYRK + GEMM tasks, a
    mirror of the upper triangle, and the epilogue."""
    from flowc.codegen.libraries import CBLAS_ROW_MAJOR, CBLAS_TRANSPOSE, PARALLEL_GEMM_FLOPS, _emit_epilogue

    names = node.operands(state)
    a, b, c = (ctx.program.data[n] for n in names)
    x_name = names[1] if form == "T" else names[0]
    x = ctx.program.data[x_name]
    _, ldx = matrix_layout(x)
    letter = "s" if c.dtype.name == "float32" else "d"
    syrk, gemm = ctx.use_blas(letter, "syrk"), ctx.use_blas(letter, "gemm")
    px, pc, ct = ctx.gen.pointer(x_name), ctx.gen.pointer(names[2]), c.dtype.ctype
    n, k = (x.shape[1], x.shape[0]) if form == "T" else (x.shape[0], x.shape[1])
    ldc = sym_cxx(c.strides[0])
    trans, no = CBLAS_TRANSPOSE[True], CBLAS_TRANSPOSE[False]
    # X[:, r] (form T) or X[r, :] (form N): where row/column block r starts in X
    step = "1" if form == "T" else f"(int64_t){sym_cxx(ldx)}"
    emit, gen = ctx.emit, ctx.gen
    emit(f"{{ // {cxx_comment(node.label)}: {names[0]} @ {names[1]} -> {names[2]} (SYRK: a matrix and its "
         "transpose)")
    gen.depth += 1
    emit(f"const int64_t fc_M = {sym_cxx(n)}, fc_N = {sym_cxx(n)}, fc_K = {sym_cxx(k)}, fc_be = 0;")
    emit("const int fc_ldx = (int)flowc::size_max(" + sym_cxx(ldx) + ", flowc::size_max(1, "
         + ("fc_N" if form == "T" else "fc_K") + "));")
    emit(f"const int fc_ldc = (int)flowc::size_max({ldc}, flowc::size_max(1, fc_N));")
    emit("if (fc_N > 0) {")
    gen.depth += 1
    emit("fc_blas_single_threaded();")
    emit("const int64_t fc_T = omp_get_max_threads();")
    emit(f"const bool fc_par = fc_T > 1 && fc_N >= 32 && 1.0 * fc_N * fc_N * fc_K > {PARALLEL_GEMM_FLOPS:.1e};")
    emit("const int64_t fc_RB = fc_par ? flowc::size_min(fc_T, fc_N / 16) : 1;   // one block on one thread")
    emit("// block b's first row: equal areas of the upper triangle, (N - r)^2 = N^2 (1 - b / RB)")
    emit("auto fc_row0 = [&](int64_t fc_b) -> int64_t { return fc_b >= fc_RB ? fc_N : "
         "flowc::size_min(fc_N, (int64_t)(fc_N - std::sqrt((double)fc_N * fc_N * (fc_RB - fc_b) / fc_RB))); };")
    emit("#pragma omp parallel if (fc_par)")
    emit("{")
    gen.depth += 1
    emit("#pragma omp for schedule(dynamic, 1)")
    emit("for (int64_t fc_b = 0; fc_b < fc_RB; ++fc_b) {")
    gen.depth += 1
    emit("const int64_t fc_r0 = fc_row0(fc_b), fc_r1 = fc_row0(fc_b + 1);")
    emit("if (fc_r1 <= fc_r0) continue;")
    emit("const int fc_h = (int)(fc_r1 - fc_r0);")
    emit(f"{syrk}({CBLAS_ROW_MAJOR}, {CBLAS_UPPER}, {trans if form == 'T' else no}, fc_h, (int)fc_K, "
         f"({ct}){node.alpha!r}, {px} + fc_r0 * {step}, fc_ldx, ({ct})0, {pc} + fc_r0 * fc_ldc + fc_r0, fc_ldc);")
    emit("if (fc_r1 < fc_N && fc_K > 0) "
         f"{gemm}({CBLAS_ROW_MAJOR}, {trans if form == 'T' else no}, {no if form == 'T' else trans}, fc_h, "
         f"(int)(fc_N - fc_r1), (int)fc_K, ({ct}){node.alpha!r}, {px} + fc_r0 * {step}, fc_ldx, "
         f"{px} + fc_r1 * {step}, fc_ldx, ({ct})0, {pc} + fc_r0 * fc_ldc + fc_r1, fc_ldc);")
    emit("else if (fc_r1 < fc_N) for (int64_t fc_i = fc_r0; fc_i < fc_r1; ++fc_i) "
         f"for (int64_t fc_j = fc_r1; fc_j < fc_N; ++fc_j) {pc}[fc_i * fc_ldc + fc_j] = ({ct})0;")
    gen.depth -= 1
    emit("}")
    emit("// the lower triangle from the upper one (implicit barrier above)")
    emit("#pragma omp for schedule(static)")
    emit("for (int64_t fc_b = 0; fc_b < fc_RB; ++fc_b) {")
    gen.depth += 1
    emit("const int64_t fc_r0 = fc_N * fc_b / fc_RB, fc_r1 = fc_N * (fc_b + 1) / fc_RB;")
    emit("for (int64_t fc_i = fc_r0; fc_i < fc_r1; ++fc_i) for (int64_t fc_j = 0; fc_j < fc_i; ++fc_j) "
         f"{pc}[fc_i * fc_ldc + fc_j] = {pc}[fc_j * fc_ldc + fc_i];")
    gen.depth -= 1
    emit("}")
    if node.epilogue is not None:
        emit("// every mirror has read the upper triangle (implicit barrier above): now the epilogue")
        emit("#pragma omp for schedule(static)")
        emit("for (int64_t fc_b = 0; fc_b < fc_RB; ++fc_b) {")
        gen.depth += 1
        emit("const int64_t fc_r0 = fc_N * fc_b / fc_RB, fc_r1 = fc_N * (fc_b + 1) / fc_RB;")
        _emit_epilogue(ctx, state, node, names[2])
        gen.depth -= 1
        emit("}")
    gen.depth -= 1
    emit("}")
    gen.depth -= 1
    emit("}")
    gen.depth -= 1
    emit("}")


__all__ = ["gram_form", "emit_gram"]
