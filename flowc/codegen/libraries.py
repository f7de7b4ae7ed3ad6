"""C++ emitters for library nodes that call a tuned library, keyed by
``(target, node class name, implementation)``. Other modules may register more
(e.g. LAPACK). A library node with no emitter must be expanded to maps
before code generation.

MatMul → BLAS GEMM (GEMV or DOT for a vector operand: ``flowc.codegen.blas_vector``).
Any operand layout with one unit stride in its matrix
dimensions is a (possibly transposed) GEMM operand, so transposed views cost
no copy. Batches:
  - a batch that a 2-D right operand is broadcast over, with the left operand
    and the result contiguous across it, folds into one tall GEMM
    (``[B, L, E] @ [E, F]`` is one ``(B·L) × E × F`` call);
  - otherwise one task per batch entry (and per row block when there are
    fewer entries than threads), each a single-threaded GEMM on the OpenMP pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import sympy

from flowc.codegen.cxx_expr import cname, cxx_comment, sym_cxx, tasklet_cxx
from flowc.ir.epilogue import ACC, OUT, index_symbol
from flowc.ir.errors import IRError
from flowc.ir.library import gemm_unsupported, matrix_layout, vector_kind
from flowc.ir.nodes import LibraryNode
from flowc.ir.symbolic import is_zero

if TYPE_CHECKING:
    from flowc.ir.data import Array
    from flowc.ir.program import Program
    from flowc.ir.state import State

CBLAS_ROW_MAJOR = 101
CBLAS_TRANSPOSE = {False: 111, True: 112}
#: below this many flops in total, a GEMM (or batch) runs on the calling thread alone
PARALLEL_GEMM_FLOPS = 2.0e5
#: CBLAS routines generated code may call: return type and parameter list (``{t}``: the element type;
#: enums and ``blasint`` are ``int``, as in the 32-bit-integer OpenBLAS flowc links)
BLAS_PROTOTYPES = {
    "gemm": ("void", "int, int, int, int, int, int, {t}, const {t}*, int, const {t}*, int, {t}, {t}*, int"),
    "gemv": ("void", "int, int, int, int, {t}, const {t}*, int, const {t}*, int, {t}, {t}*, int"),
    "dot": ("{t}", "int, const {t}*, int, const {t}*, int"),
    "syrk": ("void", "int, int, int, int, int, {t}, const {t}*, int, {t}, {t}*, int"),
}


class EmitContext:
    """What an emitter may use: the generator's output and data access, and
    registration of the external functions it calls."""

    def __init__(self, generator: Any, blas_prefix: str):
        self.gen = generator
        self.blas_prefix = blas_prefix
        self.uses_blas = False
        self._blas_types: set[str] = set()

    @property
    def program(self) -> "Program":
        return self.gen.program

    def emit(self, text: str) -> None:
        self.gen.emit(text)

    def use_blas(self, letter: str, routine: str = "gemm") -> str:
        """The (prefixed) name of ``cblas_<letter><routine>``, declared in the prologue."""
        if routine not in BLAS_PROTOTYPES:
            raise IRError(f"no prototype for BLAS routine {routine!r}; known: {', '.join(BLAS_PROTOTYPES)}")
        self.uses_blas = True
        self._blas_types.add((letter, routine))
        return f"{self.blas_prefix}cblas_{letter}{routine}"

    def blas_prototypes(self) -> str:
        if not self.uses_blas:
            return ""
        p = self.blas_prefix
        out = [f'extern "C" void {p}openblas_set_num_threads(int);',
               "// flowc parallelizes GEMMs itself: BLAS threads would spin against the OpenMP pool.",
               "static void fc_blas_single_threaded() {",
               "  static bool done = false;",
               f"  if (!done) {{ {p}openblas_set_num_threads(1); done = true; }}",
               "}"]
        for letter, routine in sorted(self._blas_types):
            t = "float" if letter == "s" else "double"
            ret, params = BLAS_PROTOTYPES[routine]
            out.append(f'extern "C" {ret.format(t=t)} {p}cblas_{letter}{routine}({params.format(t=t)});')
        return "\n".join(out)


Emitter = Callable[[EmitContext, "State", LibraryNode], None]
#: (target, node class name, implementation) → emitter
EMITTERS: dict[tuple[str, str, str], Emitter] = {}


def register(node_class: str, implementation: str, target: str = "cpu") -> Callable[[Emitter], Emitter]:
    """Register an emitter of ``node_class`` nodes with ``implementation`` for ``target``."""
    def deco(fn: Emitter) -> Emitter:
        EMITTERS[(target, node_class, implementation)] = fn
        return fn
    return deco


def _batch_strides(desc: "Array", batch: list[sympy.Expr]) -> list[sympy.Expr]:
    own = list(desc.shape[:-2])
    strides = list(desc.strides[:-2])
    lead = len(batch) - len(own)
    out = [sympy.Integer(0)] * lead
    for s, st in zip(own, strides):
        out.append(sympy.Integer(0) if s == 1 else st)
    return out


@register("MatMul", "blas")
def emit_matmul_blas(ctx: EmitContext, state: "State", node: LibraryNode) -> None:
    """One OpenMP task loop over (batch entry × row block), one single-threaded GEMM per task.

    flowc owns the threads: BLAS runs single-threaded (set once per process),
    so its worker threads never spin against the OpenMP pool between kernels.
    A folded batch (``[B, L, E] @ [E, F]``) is one tall matrix; row blocks give
    every thread work when there are fewer batch entries than threads."""
    program = ctx.program
    names = node.operands(state)
    node.check_shapes(program, state)
    why = gemm_unsupported(program, state, node)
    if why:
        raise IRError(f"{node!r} cannot be a BLAS call: {why}")
    a, b, c = (program.data[n] for n in names)
    m, k = a.shape[-2:]
    n = b.shape[-1]
    batch = list(c.shape[:-2])
    sa, sb, sc = (_batch_strides(x, batch) for x in (a, b, c))
    rows = m
    kind = vector_kind(program, state, node)      # a vector operand has no matrix layout
    if batch and kind in (None, "mv") and all(is_zero(s) for s in sb) and not matrix_layout(a)[0] and \
            _foldable(a, len(batch)) and _foldable(c, len(batch)) and len(a.shape) == len(c.shape):
        rows, batch, sa, sb, sc = sympy.Mul(*batch) * m, [], [], [], []     # fold the batch into rows
    if kind is not None:
        from flowc.codegen.blas_vector import emit_vector_product   # it builds on this module

        emit_vector_product(ctx, state, node, kind, rows, batch, (sa, sb, sc))
        return
    from flowc.codegen.blas_gram import emit_gram, gram_form   # it builds on this module

    form = gram_form(ctx, state, node)                             # no batch: 2-d operands only
    if form is not None:
        emit_gram(ctx, state, node, form)
        return
    gemm = ctx.use_blas("s" if c.dtype.name == "float32" else "d")
    trans_a, lda = matrix_layout(a)
    trans_b, ldb = matrix_layout(b)
    ta, tb = CBLAS_TRANSPOSE[trans_a], CBLAS_TRANSPOSE[trans_b]
    pa, pb, pc = (ctx.gen.pointer(x) for x in names)
    ct = c.dtype.ctype
    # leading dimensions: the stride, or any legal value when the matrix has one row
    ld_a = f"(int)flowc::size_max({sym_cxx(lda)}, flowc::size_max(1, {'fc_M' if trans_a else 'fc_K'}))"
    ld_b = f"(int)flowc::size_max({sym_cxx(ldb)}, flowc::size_max(1, {'fc_K' if trans_b else 'fc_N'}))"
    ld_c = f"(int)flowc::size_max({sym_cxx(c.strides[-2])}, flowc::size_max(1, fc_N))"
    emit = ctx.emit
    emit(f"{{ // {cxx_comment(node.label)}: {names[0]} @ {names[1]} -> {names[2]}")
    ctx.gen.depth += 1
    emit(f"const int64_t fc_M = {sym_cxx(rows)}, fc_N = {sym_cxx(n)}, fc_K = {sym_cxx(k)};")
    emit(f"const int64_t fc_NB = {sym_cxx(sympy.Mul(*batch)) if batch else 1};")
    emit("if (fc_M > 0 && fc_N > 0 && fc_NB > 0) {")
    ctx.gen.depth += 1
    emit("fc_blas_single_threaded();")
    emit(f"const bool fc_par = 2.0 * fc_M * fc_N * fc_K * fc_NB > {PARALLEL_GEMM_FLOPS:.1e};")
    if node.row_blocks is not None:               # chosen (GemmRowBlocks): at most one row a block
        emit(f"const int64_t fc_RB = flowc::size_min({int(node.row_blocks)}, fc_M);")
    else:
        # one call when the product stays on one thread: row blocks run one after another would
        # pack B once per block (and a GEMV's column blocks read A in strips)
        emit("const int64_t fc_T = omp_get_max_threads();")
        emit("const int64_t fc_RB = !fc_par || fc_NB >= fc_T ? 1 : flowc::size_min((fc_T + fc_NB - 1) / fc_NB, "
             "flowc::size_max(1, fc_M / 16));")
    emit("const int64_t fc_tasks = fc_NB * fc_RB;")
    emit("#pragma omp parallel for schedule(static) if (fc_par && fc_tasks > 1)")
    emit("for (int64_t fc_t = 0; fc_t < fc_tasks; ++fc_t) {")
    ctx.gen.depth += 1
    emit("const int64_t fc_rb = fc_t % fc_RB, fc_r0 = fc_M * fc_rb / fc_RB, fc_r1 = fc_M * (fc_rb + 1) / fc_RB;")
    emit("const int64_t fc_be = fc_t / fc_RB;")
    emit(f"int64_t fc_r = fc_be, fc_oa = fc_r0 * {sym_cxx(a.strides[-2])}, fc_ob = 0, "
         f"fc_oc = fc_r0 * {sym_cxx(c.strides[-2])};")
    for d in range(len(batch) - 1, -1, -1):
        emit(f"{{ const int64_t fc_i = fc_r % {sym_cxx(batch[d])}; fc_r /= {sym_cxx(batch[d])}; "
             f"fc_oa += fc_i * {sym_cxx(sa[d])}; fc_ob += fc_i * {sym_cxx(sb[d])}; "
             f"fc_oc += fc_i * {sym_cxx(sc[d])}; }}")
    emit(f"{gemm}({CBLAS_ROW_MAJOR}, {ta}, {tb}, (int)(fc_r1 - fc_r0), (int)fc_N, (int)fc_K, "
         f"({ct}){node.alpha!r}, {pa} + fc_oa, {ld_a}, {pb} + fc_ob, {ld_b}, ({ct}){node.beta!r}, "
         f"{pc} + fc_oc, {ld_c});")
    if node.epilogue is not None:
        _emit_epilogue(ctx, state, node, names[2])
    ctx.gen.depth -= 1
    emit("}")
    ctx.gen.depth -= 1
    emit("}")
    ctx.gen.depth -= 1
    emit("}")


def _emit_epilogue(ctx: EmitContext, state: "State", node: LibraryNode, c_name: str,
                   rows: tuple[str, str] = ("fc_r0", "fc_r1"), cols: tuple[str, str] = ("0", "fc_N")) -> None:
    """Apply the node's epilogue to the block this task just computed (still in cache):
    rows ``rows`` (row ``fc_be · fc_M + r`` of the result, split into its index variables),
    each a vectorizable loop over the columns ``cols``."""
    gen, emit, epi = ctx.gen, ctx.emit, node.epilogue
    c = ctx.program.data[c_name]
    rank = c.ndim
    var = [sympy.Symbol(f"fc_e{d}", integer=True) for d in range(rank)]
    to_var = dict(zip((index_symbol(d) for d in range(rank)), var))
    emit(f"for (int64_t fc_row = {rows[0]}; fc_row < {rows[1]}; ++fc_row) {{ // epilogue: {cxx_comment(epi.code)}")
    gen.depth += 1
    emit("int64_t fc_g = fc_be * fc_M + fc_row;")
    for d in range(rank - 2, -1, -1):
        v = sym_cxx(var[d])
        emit(f"const int64_t {v} = fc_g;" if d == 0 else
             f"const int64_t {v} = fc_g % {sym_cxx(c.shape[d])}; fc_g /= {sym_cxx(c.shape[d])};")
    emit("(void)fc_g;")
    emit("#pragma omp simd")
    last = sym_cxx(var[-1])
    emit(f"for (int64_t {last} = {cols[0]}; {last} < {cols[1]}; ++{last}) {{")
    gen.depth += 1
    target = gen.element(c_name, var)
    names = {ACC: "fc_acc"}
    emit(f"const {c.dtype.ctype} fc_acc = {target};")
    by_conn = {e.dst_conn: e.data for e in state.in_edges(node)}
    for conn, index in epi.reads:
        names[conn] = f"fc_in{len(names)}"
        emit(f"const {gen.ctype(by_conn[conn])} {names[conn]} = "
             f"{gen.element(by_conn[conn], [i.xreplace(to_var) for i in index])};")
    local: set[str] = set()      # assigned names: ``acc`` and the inputs stay read-only, an assignment shadows them
    for s in epi.code.stmts:
        rhs = tasklet_cxx(s.value, lambda n: names.get(n, cname(n)))
        if s.target in local:
            emit(f"{names[s.target]} = {rhs};")
        else:
            names[s.target] = f"fc_v{len(local)}"
            local.add(s.target)
            emit(f"auto {names[s.target]} = {rhs};")
    emit(f"{target} = ({c.dtype.ctype}){names[OUT]};")
    gen.depth -= 1
    emit("}")
    gen.depth -= 1
    emit("}")


def _foldable(desc: "Array", n_batch: int) -> bool:
    """Batch dims and the row dim form one contiguous run of rows."""
    dims = list(range(desc.ndim - 2 - n_batch, desc.ndim - 1))
    if dims[0] < 0:
        return False
    for d in dims[:-1]:
        if not is_zero(desc.strides[d] - desc.shape[d + 1] * desc.strides[d + 1]):
            return False
    return True
