"""C++ for a MatMul with a vector operand: BLAS GEMV and DOT instead of a GEMM with
one dimension 1 (which OpenBLAS runs several times slower, and which for ``x @ A``
gave one task to one thread).

The frontend writes ``A @ x`` as ``A[M, K] @ x[K, 1]`` and ``x @ A`` as
``x[1, K] @ A[K, N]`` (views), so the node's shapes say which routine it is
(:func:`flowc.ir.library.vector_kind`):

``mv``  ``y = op(A) x``: the output rows split into one block per task, each a
        single-threaded GEMV on its rows of ``A`` (NoTrans), or on its columns of
        the stored matrix when ``A`` is a transposed view (Trans).
``vm``  ``y = Aᵀ x``: the output columns split into blocks, each a GEMV with
        ``CblasTrans`` on a column block of ``A`` (NoTrans for a transposed view).
``dot`` ``s = x · y``: one DOT per batch entry, or without a batch, per-thread
        partial DOTs over chunks of ``K`` summed by an OpenMP reduction.

Vectors may have any positive stride (``incx``/``incy``: ``A @ x[::2]`` is no copy);
a reversed view never gets here (``gemm_unsupported`` refuses it and the node
expands to maps). Batches are tasks as for GEMM (see ``flowc.codegen.libraries``);
an epilogue runs on each task's block right after its call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sympy

from flowc.codegen.cxx_expr import cxx_comment, sym_cxx
from flowc.codegen.libraries import CBLAS_ROW_MAJOR, CBLAS_TRANSPOSE, EmitContext, _emit_epilogue
from flowc.ir.library import matrix_layout
from flowc.ir.nodes import LibraryNode
from flowc.ir.symbolic import is_positive

if TYPE_CHECKING:
    from flowc.ir.state import State

#: GEMV and DOT are memory-bound: like element-wise sweeps (``PARALLEL_MIN_ELEMENTS_MEMORY_BOUND`` in
#: ``flowc.codegen.cpp``) they go parallel only from this many matrix (or vector pair) elements; below
#: it a second thread saves less than a wake-up and barrier can cost on a busy machine
PARALLEL_VECTOR_ELEMENTS = 1 << 18

#: rows of the sum per thread from which a GEMV whose stored rows run along the sum splits the sum
#: (and adds partial results) instead of cutting every row into strips
SPLIT_SUM_MIN_ROWS = 16


def _inc(stride: Any) -> str:
    """``incx`` of a vector with this stride (a single element's stride may be anything)."""
    return sym_cxx(stride) if is_positive(stride) else "1"


def emit_vector_product(ctx: EmitContext, state: "State", node: LibraryNode, kind: str, rows: Any,
                        batch: list[sympy.Expr], batch_strides: tuple[list, list, list]) -> None:
    """Emit ``node`` (already checked by ``gemm_unsupported``) as GEMV or DOT calls.

    ``rows`` is the result's row count (the batch folded in for a foldable ``mv``),
    ``batch`` the batch dims left and ``batch_strides`` their strides in A, B and C."""
    names = node.operands(state)
    a, b, c = (ctx.program.data[n] for n in names)
    letter = "s" if c.dtype.name == "float32" else "d"
    k = a.shape[-1]
    emit, gen = ctx.emit, ctx.gen
    routine = "DOT" if kind == "dot" else "GEMV"
    emit(f"{{ // {cxx_comment(node.label)}: {names[0]} @ {names[1]} -> {names[2]} ({routine})")
    gen.depth += 1
    out_len = rows if kind == "mv" else b.shape[-1] if kind == "vm" else sympy.Integer(1)
    emit(f"const int64_t fc_M = {sym_cxx(rows)}, fc_N = {sym_cxx(b.shape[-1])}, fc_K = {sym_cxx(k)}, "
         f"fc_L = {sym_cxx(out_len)};")
    emit(f"const int64_t fc_NB = {sym_cxx(sympy.Mul(*batch)) if batch else 1};")
    emit("if (fc_L > 0 && fc_NB > 0) {")
    gen.depth += 1
    emit("fc_blas_single_threaded();")
    if kind == "dot":
        _dot_body(ctx, state, node, letter, batch, batch_strides)
    else:
        emit(f"const bool fc_par = fc_L * fc_K * fc_NB >= {PARALLEL_VECTOR_ELEMENTS};")
        emit("const int64_t fc_T = omp_get_max_threads();")
        if not batch and _rows_are_the_sum(kind, a, b):
            emit(f"if (fc_par && fc_T > 1 && fc_K >= {SPLIT_SUM_MIN_ROWS} * fc_T) {{")
            gen.depth += 1
            _split_sum(ctx, state, node, kind, letter)
            gen.depth -= 1
            emit("} else {")
            gen.depth += 1
            _split_output(ctx, state, node, kind, rows, batch, batch_strides)
            gen.depth -= 1
            emit("}")
        else:
            _split_output(ctx, state, node, kind, rows, batch, batch_strides)
    gen.depth -= 1
    emit("}")
    gen.depth -= 1
    emit("}")


def _rows_are_the_sum(kind: str, a: Any, b: Any) -> bool:
    """Whether the stored matrix's rows run along the sum: ``x @ A`` with ``A`` row-major, or
    ``A.T @ x`` (a transposed view). Blocks of the output would then be strips of every row."""
    return matrix_layout(a if kind == "mv" else b)[0] == (kind == "mv")


def _split_output(ctx: EmitContext, state: "State", node: LibraryNode, kind: str, rows: Any,
                  batch: list[sympy.Expr], batch_strides: tuple[list, list, list]) -> None:
    """Tasks over blocks of the output (and batch entries), each one single-threaded GEMV."""
    names = node.operands(state)
    a, b, c = (ctx.program.data[n] for n in names)
    letter = "s" if c.dtype.name == "float32" else "d"
    pa, pb, pc = (ctx.gen.pointer(x) for x in names)
    ct = c.dtype.ctype
    sa, sb, sc = batch_strides
    emit, gen = ctx.emit, ctx.gen
    # one call when it stays on one thread: blocks of a GEMV run one after another read the
    # matrix in strips (a vm's column blocks), which streamed 1.5x slower than one call
    emit("const int64_t fc_RB = !fc_par || fc_NB >= fc_T ? 1 : flowc::size_min((fc_T + fc_NB - 1) / fc_NB, "
         "flowc::size_max(1, fc_L / 8));")
    emit("const int64_t fc_tasks = fc_NB * fc_RB;")
    emit("#pragma omp parallel for schedule(static) if (fc_par && fc_tasks > 1)")
    emit("for (int64_t fc_t = 0; fc_t < fc_tasks; ++fc_t) {")
    gen.depth += 1
    emit("const int64_t fc_rb = fc_t % fc_RB, fc_r0 = fc_L * fc_rb / fc_RB, fc_r1 = fc_L * (fc_rb + 1) / fc_RB;")
    emit("const int64_t fc_be = fc_t / fc_RB;")
    if kind == "mv":      # block of output rows: rows of A, C
        matrix, vec, out_stride, block_stride = a, b.strides[-2], c.strides[-2], a.strides[-2]
    else:                 # block of output columns: columns of B, C
        matrix, vec, out_stride, block_stride = b, a.strides[-1], c.strides[-1], b.strides[-1]
    emit(f"int64_t fc_r = fc_be, fc_oa = {'fc_r0 * ' + sym_cxx(block_stride) if kind == 'mv' else '0'}, "
         f"fc_ob = {'0' if kind == 'mv' else 'fc_r0 * ' + sym_cxx(block_stride)}, "
         f"fc_oc = fc_r0 * {_inc(out_stride)};")
    _batch_offsets(ctx, batch, sa, sb, sc)
    trans, ld = matrix_layout(matrix)
    # the stored row-major matrix: [block, K] (mv) or [K, block] (vm); transposed views swap it
    stored_rows_are_block = (kind == "mv") != trans
    m_arg, n_arg = ("(fc_r1 - fc_r0)", "fc_K") if stored_rows_are_block else ("fc_K", "(fc_r1 - fc_r0)")
    blas_trans = CBLAS_TRANSPOSE[not stored_rows_are_block]
    pm, px = (pa, pb) if kind == "mv" else (pb, pa)
    om, ox = ("fc_oa", "fc_ob") if kind == "mv" else ("fc_ob", "fc_oa")
    emit(f"const int fc_m = (int){m_arg}, fc_n = (int){n_arg};")
    emit("if (fc_K == 0) {   // GEMV returns without touching y when its matrix is empty")
    beta = f"({ct}){node.beta!r} * {pc}[fc_oc + fc_i * {_inc(out_stride)}]" if node.beta != 0.0 else f"({ct})0"
    emit(f"  for (int64_t fc_i = 0; fc_i < fc_r1 - fc_r0; ++fc_i) "
         f"{pc}[fc_oc + fc_i * {_inc(out_stride)}] = {beta};")
    emit("} else {")
    emit(f"  {ctx.use_blas(letter, 'gemv')}({CBLAS_ROW_MAJOR}, {blas_trans}, fc_m, fc_n, ({ct}){node.alpha!r}, "
         f"{pm} + {om}, (int)flowc::size_max({sym_cxx(ld)}, flowc::size_max(1, fc_n)), {px} + {ox}, "
         f"{_inc(vec)}, ({ct}){node.beta!r}, {pc} + fc_oc, {_inc(out_stride)});")
    emit("}")
    _block_epilogue(ctx, state, node, kind)
    gen.depth -= 1
    emit("}")


def _block_epilogue(ctx: EmitContext, state: "State", node: LibraryNode, kind: str) -> None:
    """The node's epilogue (if any) on the block ``[fc_r0, fc_r1)`` of the output this task owns:
    rows of an ``mv``'s column vector, columns of a ``vm``'s row vector."""
    if node.epilogue is None:
        return
    out = node.operands(state)[2]
    if kind == "mv":
        _emit_epilogue(ctx, state, node, out)
    else:
        _emit_epilogue(ctx, state, node, out, rows=("0", "1"), cols=("fc_r0", "fc_r1"))


def _split_sum(ctx: EmitContext, state: "State", node: LibraryNode, kind: str, letter: str) -> None:
    """Threads over blocks of the sum: each runs one GEMV over its band of whole rows of the stored
    matrix (a contiguous stream) into its own partial result; after a barrier each adds the partials
    over its block of the output and applies the epilogue there.

    ``x @ A`` (or ``A.T @ x``) on 2 threads, A 2001 x 2001: 0.54-0.63 ms against 0.75 ms for two
    column strips; a tie at 3000 x 3000."""
    names = node.operands(state)
    a, b, c = (ctx.program.data[n] for n in names)
    pa, pb, pc = (ctx.gen.pointer(x) for x in names)
    ct = c.dtype.ctype
    emit, gen = ctx.emit, ctx.gen
    matrix, pm, px, vec = (a, pa, pb, b.strides[-2]) if kind == "mv" else (b, pb, pa, a.strides[-1])
    ld = matrix_layout(matrix)[1]
    inc_y = _inc(c.strides[-2] if kind == "mv" else c.strides[-1])
    emit("// the stored rows run along the sum: a band of whole rows per thread, partial results added")
    emit(f"{ct}* fc_part = static_cast<{ct}*>(std::malloc(sizeof({ct}) * (size_t)((fc_T - 1) * fc_L + 1)));")
    emit("if (!fc_part) { std::snprintf(flowc::error_message, sizeof flowc::error_message, "
         '"out of memory for intermediates"); return 1; }')
    emit("#pragma omp parallel num_threads(fc_T)")
    emit("{")
    gen.depth += 1
    emit("const int64_t fc_t = omp_get_thread_num(), fc_nt = omp_get_num_threads();")
    emit("const int64_t fc_k0 = fc_K * fc_t / fc_nt, fc_k1 = fc_K * (fc_t + 1) / fc_nt;")
    beta = f"({ct}){node.beta!r}"
    emit(f"{ctx.use_blas(letter, 'gemv')}({CBLAS_ROW_MAJOR}, {CBLAS_TRANSPOSE[True]}, (int)(fc_k1 - fc_k0), (int)fc_L, "
         f"({ct}){node.alpha!r}, {pm} + fc_k0 * {sym_cxx(ld)}, (int)flowc::size_max({sym_cxx(ld)}, fc_L), "
         f"{px} + fc_k0 * {_inc(vec)}, {_inc(vec)}, fc_t == 0 ? {beta} : ({ct})0, "
         f"fc_t == 0 ? {pc} : fc_part + (fc_t - 1) * fc_L, fc_t == 0 ? {inc_y} : 1);")
    emit("#pragma omp barrier")
    emit("const int64_t fc_r0 = fc_L * fc_t / fc_nt, fc_r1 = fc_L * (fc_t + 1) / fc_nt;")
    emit("for (int64_t fc_p = 1; fc_p < fc_nt; ++fc_p) {")
    emit(f"  const {ct}* fc_q = fc_part + (fc_p - 1) * fc_L;")
    emit("  #pragma omp simd")
    emit(f"  for (int64_t fc_i = fc_r0; fc_i < fc_r1; ++fc_i) {pc}[fc_i * {inc_y}] += fc_q[fc_i];")
    emit("}")
    if node.epilogue is not None:
        emit("const int64_t fc_be = 0;")
    _block_epilogue(ctx, state, node, kind)
    gen.depth -= 1
    emit("}")
    emit("std::free(fc_part);")


def _batch_offsets(ctx: EmitContext, batch: list, sa: list, sb: list, sc: list) -> None:
    """Add batch entry ``fc_r``'s offsets to ``fc_oa``, ``fc_ob``, ``fc_oc``."""
    for d in range(len(batch) - 1, -1, -1):
        ctx.emit(f"{{ const int64_t fc_i = fc_r % {sym_cxx(batch[d])}; fc_r /= {sym_cxx(batch[d])}; "
                 f"fc_oa += fc_i * {sym_cxx(sa[d])}; fc_ob += fc_i * {sym_cxx(sb[d])}; "
                 f"fc_oc += fc_i * {sym_cxx(sc[d])}; }}")
    ctx.emit("(void)fc_r;")


def _dot_body(ctx: EmitContext, state: "State", node: LibraryNode, letter: str, batch: list,
              batch_strides: tuple[list, list, list]) -> None:
    names = node.operands(state)
    a, b, c = (ctx.program.data[n] for n in names)
    pa, pb, pc = (ctx.gen.pointer(x) for x in names)
    ct = c.dtype.ctype
    dot = ctx.use_blas(letter, "dot")
    ix, iy = _inc(a.strides[-1]), _inc(b.strides[-2])
    emit, gen = ctx.emit, ctx.gen
    emit(f"auto fc_store = [&](int64_t fc_oc, {ct} fc_s) {{ {pc}[fc_oc] = ({ct}){node.alpha!r} * fc_s"
         + (f" + ({ct}){node.beta!r} * {pc}[fc_oc]; }};" if node.beta != 0.0 else "; };"))
    if batch:
        emit("#pragma omp parallel for schedule(static) if (fc_NB > 1 && 2 * fc_K * fc_NB >= "
             f"{PARALLEL_VECTOR_ELEMENTS})")
        emit("for (int64_t fc_t = 0; fc_t < fc_NB; ++fc_t) {")
        gen.depth += 1
        emit("int64_t fc_r = fc_t, fc_oa = 0, fc_ob = 0, fc_oc = 0;")
        _batch_offsets(ctx, batch, *batch_strides)
        emit(f"fc_store(fc_oc, {dot}((int)fc_K, {pa} + fc_oa, {ix}, {pb} + fc_ob, {iy}));")
    else:
        emit(f"{ct} fc_s = 0;")
        emit(f"const int64_t fc_T = 2 * fc_K >= {PARALLEL_VECTOR_ELEMENTS} ? omp_get_max_threads() : 1;")
        emit("#pragma omp parallel for schedule(static) reduction(+ : fc_s) if (fc_T > 1)")
        emit("for (int64_t fc_t = 0; fc_t < fc_T; ++fc_t) {")
        emit("  const int64_t fc_k0 = fc_K * fc_t / fc_T, fc_k1 = fc_K * (fc_t + 1) / fc_T;")
        emit(f"  fc_s += {dot}((int)(fc_k1 - fc_k0), {pa} + fc_k0 * {ix}, {ix}, {pb} + fc_k0 * {iy}, {iy});")
        emit("}")
        emit("{")
        gen.depth += 1
        emit("const int64_t fc_oc = 0;")
        emit("fc_store(fc_oc, fc_s);")
    if node.epilogue is not None:
        emit("const int64_t fc_be = fc_t; (void)fc_oc;" if batch else "const int64_t fc_be = 0;")
        _emit_epilogue(ctx, state, node, names[2], rows=("0", "1"), cols=("0", "1"))
    gen.depth -= 1
    emit("}")
