"""C++ for a ``GemvPair`` (``flowc.ir.gemv_pair``): ``y = A x`` and ``s = r A`` in one sweep over A.

Each thread takes a contiguous band of A's rows and walks it ``PAIR_ROWS`` rows at a time, in
one vectorized loop over the columns: each element of A is loaded once and used twice, for
its row's dot product with ``x`` (an element of ``y``) and for the thread's own copy of ``s``
(``s += r_i · A[i, :]``). The threads' copies are then summed, each thread a slice of ``s``.
A is read from memory once, where two GEMVs (or NumPy) read it twice. (Two BLAS GEMVs per
block of rows, the second reading the block from cache, reached only 1.1-1.2x: a GEMV on a
few rows does not stream at full speed.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowc.codegen.blas_vector import PARALLEL_VECTOR_ELEMENTS, _inc
from flowc.codegen.cxx_expr import cxx_comment, sym_cxx
from flowc.codegen.libraries import EmitContext, register
from flowc.ir.errors import IRError
from flowc.ir.library import matrix_layout
from flowc.ir.nodes import LibraryNode

if TYPE_CHECKING:
    from flowc.ir.state import State

#: rows of A the kernel walks together (each read once, both products updated)
PAIR_ROWS = 8


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
    emit(f"const int64_t fc_T = fc_M * fc_K >= {PARALLEL_VECTOR_ELEMENTS} ? "
         f"std::min<int64_t>(omp_get_max_threads(), std::max<int64_t>(1, fc_M / {4 * PAIR_ROWS})) : 1;")
    emit(f"std::vector<{ct}> fc_part((size_t)(fc_T * fc_K), ({ct})0);   // each thread's share of the row vector")
    emit("#pragma omp parallel num_threads(fc_T) if (fc_T > 1)")
    emit("{")
    gen.depth += 1
    emit("const int64_t fc_t = omp_get_thread_num(), fc_nt = omp_get_num_threads();")
    emit("const int64_t fc_r0 = fc_M * fc_t / fc_nt, fc_r1 = fc_M * (fc_t + 1) / fc_nt;")
    emit(f"{ct}* fc_acc = fc_part.data() + fc_t * fc_K;")
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
    gen.depth -= 1
    emit("}")
