"""C++ emitters for library nodes that call a tuned library, keyed by
``(node class name, implementation)``. Other modules may register more
(e.g. LAPACK). A library node with no emitter must be expanded to maps
before code generation.

MatMul → BLAS GEMM. Any operand layout with one unit stride in its matrix
dimensions is a (possibly transposed) GEMM operand, so transposed views cost
no copy. Batches:
  - a batch that a 2-D right operand is broadcast over, with the left operand
    and the result contiguous across it, folds into one tall GEMM
    (``[B, L, E] @ [E, F]`` is one ``(B·L) × E × F`` call);
  - otherwise a loop over the batch, parallel over batch entries with
    single-threaded BLAS when the entries are small, sequential with
    multithreaded BLAS when they are large.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import sympy

from flowc.codegen.cxx_expr import sym_cxx
from flowc.ir.errors import IRError
from flowc.ir.library import gemm_unsupported, matrix_layout
from flowc.ir.nodes import LibraryNode
from flowc.ir.symbolic import is_zero

if TYPE_CHECKING:
    from flowc.ir.data import Array
    from flowc.ir.program import Program
    from flowc.ir.state import State

CBLAS_ROW_MAJOR = 101
CBLAS_TRANSPOSE = {False: 111, True: 112}
#: below this many flops per GEMM, a batch runs one single-threaded GEMM per thread
SMALL_GEMM_FLOPS = 8.0e6


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

    def use_blas(self, letter: str) -> str:
        self.uses_blas = True
        self._blas_types.add(letter)
        return f"{self.blas_prefix}cblas_{letter}gemm"

    def blas_prototypes(self) -> str:
        if not self.uses_blas:
            return ""
        p = self.blas_prefix
        out = [f'extern "C" int {p}openblas_get_num_threads(void);',
               f'extern "C" void {p}openblas_set_num_threads(int);']
        for letter in sorted(self._blas_types):
            t = "float" if letter == "s" else "double"
            out.append(f'extern "C" void {p}cblas_{letter}gemm(int, int, int, int, int, int, {t}, const {t}*, '
                       f'int, const {t}*, int, {t}, {t}*, int);')
        return "\n".join(out)


Emitter = Callable[[EmitContext, "State", LibraryNode], None]
EMITTERS: dict[tuple[str, str], Emitter] = {}


def register(node_class: str, implementation: str) -> Callable[[Emitter], Emitter]:
    def deco(fn: Emitter) -> Emitter:
        EMITTERS[(node_class, implementation)] = fn
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
    program = ctx.program
    names = node.operands(state)
    node.check_shapes(program, state)
    why = gemm_unsupported(program, state, node)
    if why:
        raise IRError(f"{node!r} cannot be a BLAS call: {why}")
    a, b, c = (program.data[n] for n in names)
    gemm = ctx.use_blas("s" if c.dtype.name == "float32" else "d")
    trans_a, lda = matrix_layout(a)
    trans_b, ldb = matrix_layout(b)
    ta, tb = CBLAS_TRANSPOSE[trans_a], CBLAS_TRANSPOSE[trans_b]
    ldc = c.strides[-2]
    m, k = a.shape[-2:]
    n = b.shape[-1]
    batch = list(c.shape[:-2])
    pa, pb, pc = (ctx.gen.pointer(x) for x in names)
    ct = c.dtype.ctype
    alpha, beta = repr(node.alpha), repr(node.beta)
    ctx.emit(f"{{ // {node.label}: {names[0]} @ {names[1]} -> {names[2]}")
    ctx.gen.depth += 1
    ctx.emit(f"const int64_t fc_M = {sym_cxx(m)}, fc_N = {sym_cxx(n)}, fc_K = {sym_cxx(k)};")

    def ld(expr: sympy.Expr, rows: str, cols: str) -> str:
        return f"({rows} > 1 ? (int){sym_cxx(expr)} : (int)std::max<int64_t>(1, {cols}))"

    a_rows, a_cols = ("fc_K", "fc_M") if trans_a else ("fc_K", "fc_M")
    b_rows, b_cols = ("fc_N", "fc_K") if trans_b else ("fc_K", "fc_N")

    def call(off_a: str, off_b: str, off_c: str, rows: str = "fc_M") -> str:
        return (f"{gemm}({CBLAS_ROW_MAJOR}, {ta}, {tb}, (int){rows}, (int)fc_N, (int)fc_K, ({ct}){alpha}, "
                f"{pa} + {off_a}, {ld(lda, a_rows, a_cols)}, {pb} + {off_b}, {ld(ldb, b_rows, b_cols)}, "
                f"({ct}){beta}, {pc} + {off_c}, {ld(ldc, rows, 'fc_N')});")

    sa, sb, sc = (_batch_strides(x, batch) for x in (a, b, c))
    if not batch:
        ctx.emit(f"if (fc_M > 0 && fc_N > 0) {call('0', '0', '0')}")
    elif all(_zero(s) for s in sb) and not trans_a and _foldable(a, len(batch)) and \
            _foldable(c, len(batch)) and len(a.shape) == len(c.shape):
        count = sympy.Mul(*batch)
        ctx.emit(f"const int64_t fc_MB = {sym_cxx(count)} * fc_M;  // batch folded into rows")
        ctx.emit(f"if (fc_MB > 0 && fc_N > 0) {call('0', '0', '0', rows='fc_MB')}")
    else:
        count = sympy.Mul(*batch)
        ctx.emit(f"const int64_t fc_NB = {sym_cxx(count)};")
        ctx.emit("auto fc_gemm_at = [&](int64_t fc_bi) {")
        ctx.gen.depth += 1
        ctx.emit("int64_t fc_r = fc_bi, fc_oa = 0, fc_ob = 0, fc_oc = 0;")
        for d in range(len(batch) - 1, -1, -1):
            ctx.emit(f"{{ const int64_t fc_i = fc_r % {sym_cxx(batch[d])}; fc_r /= {sym_cxx(batch[d])}; "
                     f"fc_oa += fc_i * {sym_cxx(sa[d])}; fc_ob += fc_i * {sym_cxx(sb[d])}; "
                     f"fc_oc += fc_i * {sym_cxx(sc[d])}; }}")
        ctx.emit(call("fc_oa", "fc_ob", "fc_oc"))
        ctx.gen.depth -= 1
        ctx.emit("};")
        ctx.emit("if (fc_M > 0 && fc_N > 0) {")
        ctx.gen.depth += 1
        p = ctx.blas_prefix
        ctx.emit(f"if (fc_NB >= omp_get_max_threads() && 2.0 * fc_M * fc_N * fc_K < {SMALL_GEMM_FLOPS:.1e}) {{")
        ctx.emit(f"  const int fc_blas_threads = {p}openblas_get_num_threads();")
        ctx.emit(f"  {p}openblas_set_num_threads(1);")
        ctx.emit("  #pragma omp parallel for schedule(static)")
        ctx.emit("  for (int64_t fc_bi = 0; fc_bi < fc_NB; ++fc_bi) fc_gemm_at(fc_bi);")
        ctx.emit(f"  {p}openblas_set_num_threads(fc_blas_threads);")
        ctx.emit("} else {")
        ctx.emit("  for (int64_t fc_bi = 0; fc_bi < fc_NB; ++fc_bi) fc_gemm_at(fc_bi);")
        ctx.emit("}")
        ctx.gen.depth -= 1
        ctx.emit("}")
    ctx.gen.depth -= 1
    ctx.emit("}")


def _zero(e: sympy.Expr) -> bool:
    return is_zero(e)


def _foldable(desc: "Array", n_batch: int) -> bool:
    """Batch dims and the row dim form one contiguous run of rows."""
    dims = list(range(desc.ndim - 2 - n_batch, desc.ndim - 1))
    if dims[0] < 0:
        return False
    for d in dims[:-1]:
        if not _zero(desc.strides[d] - desc.shape[d + 1] * desc.strides[d + 1]):
            return False
    return True
