"""C++ for a ``GemvPair`` (``flowc.ir.gemv_pair``): ``y = A x`` and ``s = r A`` in one sweep over A.

Each thread takes a contiguous band of A's rows and walks it ``PAIR_ROWS`` rows at a time, in
one vectorized loop over the columns: each element of A is loaded once and used twice, for
its row's dot product with ``x`` (an element of ``y``) and for the thread's own copy of ``s``
(``s += r_i · A[i, :]``). The threads' copies are then summed, each thread a slice of ``s``.
A matrix too short for every thread to get ``PAIR_MIN_ROWS_PER_THREAD`` rows runs as two
GEMVs split over their outputs instead, as the two MatMuls did.
A is read from memory once, where two GEMVs (or NumPy) read it twice. (Two BLAS GEMVs per
block of rows, the second reading the block from cache, reached only 1.1-1.2x: a GEMV on a
few rows does not stream at full speed.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowc.codegen.blas_vector import PARALLEL_VECTOR_ELEMENTS, _inc
from flowc.codegen.cxx_expr import cxx_comment, sym_cxx
from flowc.codegen.libraries import CBLAS_ROW_MAJOR, CBLAS_TRANSPOSE, EmitContext, register
from flowc.ir.errors import IRError
from flowc.ir.library import matrix_layout
from flowc.ir.nodes import LibraryNode

if TYPE_CHECKING:
    from flowc.ir.state import State

#: rows of A the kernel walks together (each read once, both products updated)
PAIR_ROWS = 8


#: the rows each thread needs for the fused sweep to pay; a matrix with fewer rows per thread
#: runs as two GEMVs, each split over its own output (as ``MatMul`` nodes run), so short wide
#: matrices keep all threads
PAIR_MIN_ROWS_PER_THREAD = 32


@register("GemvPair", "blas")
def emit_gemv_pair(ctx: EmitContext, state: "State", node: LibraryNode) -> None:
    program, gen, emit = ctx.program, ctx.gen, ctx.emit
    node.check_shapes(program, state)
    ops = node.operands(state)
    a, x, r, y, s = (program.data[ops[c]] for c in ("_a", "_x", "_r", "_y", "_s"))
    layout = matrix_layout(a)
    if layout is None or layout[0]:
        raise IRError(f"{node!r}: matrix {ops['_a']} is not row-major")
    pa, px, pr, py, ps = (gen.pointer(ops[c]) for c in ("_a", "_x", "_r", "_y", "_s"))
    inc_x, inc_r, inc_y, inc_s = _inc(x.strides[0]), _inc(r.strides[1]), _inc(y.strides[0]), _inc(s.strides[1])
    ct, lda = a.dtype.ctype, sym_cxx(layout[1])
    emit(f"{{ // {cxx_comment(node.label)}: {ops['_a']} @ {ops['_x']} -> {ops['_y']}, "
         f"{ops['_r']} @ {ops['_a']} -> {ops['_s']} (one sweep over {ops['_a']})")
    gen.depth += 1
    emit(f"const int64_t fc_M = {sym_cxx(a.shape[0])}, fc_K = {sym_cxx(a.shape[1])};")
    emit(f"const int64_t fc_P = fc_M * fc_K >= {PARALLEL_VECTOR_ELEMENTS} ? omp_get_max_threads() : 1;")
    emit(f"if (fc_P > 1 && fc_M < {PAIR_MIN_ROWS_PER_THREAD} * fc_P) {{   // short and wide: two split GEMVs")
    gen.depth += 1
    _two_gemvs(ctx, layout[1], a.dtype.name, (pa, px, pr, py, ps), (inc_x, inc_r, inc_y, inc_s))
    gen.depth -= 1
    emit("} else {")
    gen.depth += 1
    emit("const int64_t fc_T = fc_P;")
    emit(f"{ct}* fc_part = static_cast<{ct}*>(std::calloc((size_t)(fc_T * fc_K + 1), sizeof({ct})));   "
         "// each thread's share of the row vector")
    emit("if (!fc_part) { std::snprintf(flowc::error_message, sizeof flowc::error_message, "
         '"out of memory for intermediates"); return 1; }')
    emit("#pragma omp parallel num_threads(fc_T) if (fc_T > 1)")
    emit("{")
    gen.depth += 1
    emit("const int64_t fc_t = omp_get_thread_num(), fc_nt = omp_get_num_threads();")
    emit("const int64_t fc_r0 = fc_M * fc_t / fc_nt, fc_r1 = fc_M * (fc_t + 1) / fc_nt;")
    emit(f"{ct}* fc_acc = fc_part + fc_t * fc_K;")
    emit("int64_t fc_i = fc_r0;")
    for group in (PAIR_ROWS, 1):      # blocks of rows, then the rest one by one
        rs = range(group)
        emit(f"for (; fc_i + {group} <= fc_r1; fc_i += {group}) {{")
        gen.depth += 1
        emit(f"const {ct}* fc_a0 = {pa} + fc_i * {lda};")
        for j in rs[1:]:
            emit(f"const {ct}* fc_a{j} = fc_a{j - 1} + {lda};")
        emit(f"const {ct} " + ", ".join(f"fc_w{j} = {pr}[(fc_i + {j}) * {inc_r}]" for j in rs) + ";")
        emit(f"{ct} " + ", ".join(f"fc_d{j} = 0" for j in rs) + ";")
        emit(f"#pragma omp simd reduction(+ : {', '.join(f'fc_d{j}' for j in rs)})")
        emit("for (int64_t fc_k = 0; fc_k < fc_K; ++fc_k) {")
        emit(f"  const {ct} fc_xk = {px}[fc_k * {inc_x}];")
        emit("  " + " ".join(f"fc_d{j} += fc_a{j}[fc_k] * fc_xk;" for j in rs))
        emit("  fc_acc[fc_k] += " + " + ".join(f"fc_w{j} * fc_a{j}[fc_k]" for j in rs) + ";")
        emit("}")
        emit(" ".join(f"{py}[(fc_i + {j}) * {inc_y}] = fc_d{j};" for j in rs))
        gen.depth -= 1
        emit("}")
    emit("#pragma omp barrier")
    emit("#pragma omp for schedule(static)")
    emit("for (int64_t fc_k = 0; fc_k < fc_K; ++fc_k) {")
    emit(f"  {ct} fc_v = 0;")
    emit("  for (int64_t fc_u = 0; fc_u < fc_nt; ++fc_u) fc_v += fc_part[fc_u * fc_K + fc_k];")
    emit(f"  {ps}[fc_k * {inc_s}] = fc_v;")
    emit("}")
    gen.depth -= 1
    emit("}")
    emit("std::free(fc_part);")
    gen.depth -= 1
    emit("}")
    gen.depth -= 1
    emit("}")


def _two_gemvs(ctx: EmitContext, lda_expr, dtype: str, pointers: tuple, incs: tuple) -> None:
    """``y = A x`` split over blocks of y's rows, then ``s = r A`` over blocks of s's columns: one
    single-threaded GEMV per task, every thread busy however few rows A has."""
    pa, px, pr, py, ps = pointers
    inc_x, inc_r, inc_y, inc_s = incs
    gemv = ctx.use_blas("s" if dtype == "float32" else "d", "gemv")
    ct = "float" if dtype == "float32" else "double"
    lda = f"(int)flowc::size_max({sym_cxx(lda_expr)}, flowc::size_max(1, fc_K))"
    emit = ctx.emit
    emit("fc_blas_single_threaded();")
    emit("const int64_t fc_ry = flowc::size_min(fc_P, fc_M), fc_rs = flowc::size_min(fc_P, fc_K);")
    emit("#pragma omp parallel for schedule(static) num_threads(fc_P)")
    emit("for (int64_t fc_t = 0; fc_t < fc_ry + fc_rs; ++fc_t) {")
    emit("  if (fc_t < fc_ry) {          // rows [r0, r1) of y")
    emit("    const int64_t fc_r0 = fc_M * fc_t / fc_ry, fc_r1 = fc_M * (fc_t + 1) / fc_ry;")
    emit(f"    {gemv}({CBLAS_ROW_MAJOR}, {CBLAS_TRANSPOSE[False]}, (int)(fc_r1 - fc_r0), (int)fc_K, ({ct})1, "
         f"{pa} + fc_r0 * {sym_cxx(lda_expr)}, {lda}, {px}, {inc_x}, ({ct})0, {py} + fc_r0 * {inc_y}, {inc_y});")
    emit("  } else {                     // columns [k0, k1) of s")
    emit("    const int64_t fc_u = fc_t - fc_ry, fc_k0 = fc_K * fc_u / fc_rs, fc_k1 = fc_K * (fc_u + 1) / fc_rs;")
    emit(f"    {gemv}({CBLAS_ROW_MAJOR}, {CBLAS_TRANSPOSE[True]}, (int)fc_M, (int)(fc_k1 - fc_k0), ({ct})1, "
         f"{pa} + fc_k0, {lda}, {pr}, {inc_r}, ({ct})0, {ps} + fc_k0 * {inc_s}, {inc_s});")
    emit("  }")
    emit("}")
