"""C++ emitters for the linear-algebra library nodes (``flowc.ir.library_extra``): LAPACKE calls.

The LAPACKE functions come from the same pip-installed OpenBLAS as GEMM, with
its symbol prefix (``scipy_LAPACKE_spotrf``). Each call site declares the
function at block scope with an assembler label (``int fc_potrf(...)
__asm__("scipy_LAPACKE_spotrf")``), so no file-level prototype is needed.
Operands are copied into contiguous row-major buffers (LAPACK overwrites
them). The ``_work`` variants are called: they run the same LAPACK routine as
NumPy (which calls LAPACK directly), without LAPACKE's NaN scan of the input,
which rejects NaN/inf with an "invalid argument" where NumPy computes (NaN
results). ``inv`` solves ``A X = I`` with ``gesv``, as NumPy's ``inv`` does.
A failed factorization (a singular matrix, a matrix that is not positive
definite) sets ``flowc_error_message`` to NumPy's message and makes the entry
point return ``LINALG_ERROR``, which the runtime raises as
``numpy.linalg.LinAlgError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy

from flowc.codegen.cxx_expr import cname, cxx_comment, sym_cxx
from flowc.codegen.libraries import EmitContext, register
from flowc.ir.errors import LINALG_ERROR, IRError
from flowc.ir.nodes import LibraryNode
from flowc.ir.symbolic import c_strides, canonical_symbol

if TYPE_CHECKING:
    from flowc.ir.state import State

ROW_MAJOR = 101
_I, _J = canonical_symbol("fc_i"), canonical_symbol("fc_j")


def _letter(ctx: EmitContext, data: str) -> str:
    name = ctx.program.data[data].dtype.name
    if name not in ("float32", "float64"):
        raise IRError(f"LAPACK needs float32 or float64 data; {data!r} is {name}")
    return "s" if name == "float32" else "d"


def _declare(ctx: EmitContext, local: str, routine: str, letter: str, params: str) -> None:
    symbol = f"{ctx.blas_prefix}LAPACKE_{letter}{routine}"
    ctx.uses_blas = True                 # LAPACKE ships in the same library: link it
    ctx.emit(f'int {local}({params}) __asm__("{symbol}");')


def _contiguous(ctx: EmitContext, data: str) -> None:
    desc = ctx.program.data[data]
    want = c_strides(desc.shape)
    if any(s != 1 and sympy.simplify(a - b) != 0 for s, a, b in zip(desc.shape, desc.strides, want)):
        raise IRError(f"LAPACK output {data!r} must be C-contiguous")


def _copy_matrix(ctx: EmitContext, src: str, dst_ptr: str, rows: str, cols: str, lower_only: bool = False) -> None:
    """dst[i * cols + j] = src[i, j] (or only the lower triangle, zeros above)."""
    desc = ctx.program.data[src]
    index = [_I, _J] if desc.ndim == 2 else [_I]
    value = ctx.gen.element(src, index)
    i, j = cname(_I.name), cname(_J.name)      # the names element() prints for the two indices
    if lower_only:
        value = f"({j} <= {i} ? {value} : 0)"
    ctx.emit(f"for (int64_t {i} = 0; {i} < {rows}; ++{i})")
    ctx.emit(f"  for (int64_t {j} = 0; {j} < {cols}; ++{j}) {dst_ptr}[{i} * {cols} + {j}] = {value};")


def _begin(ctx: EmitContext, state: "State", node: LibraryNode) -> tuple[str, str, str, str, str, str]:
    """Check the node and open its block: (input, output, LAPACK type letter, C type,
    C++ expression of the order n, output pointer)."""
    node.check_shapes(ctx.program, state)
    a, out = node.operands(state)
    _contiguous(ctx, out)
    t = _letter(ctx, a)
    ct = ctx.program.data[a].dtype.ctype
    n = sym_cxx(ctx.program.data[a].shape[0])
    ptr = ctx.gen.pointer(out)
    ctx.emit(f"{{ // {cxx_comment(node.label)}: {a} -> {out}")
    ctx.gen.depth += 1
    return a, out, t, ct, n, ptr


def _fail(ctx: EmitContext, condition: str, message: str, code: int = 1) -> None:
    ctx.emit(f"if ({condition}) {{ std::snprintf(flowc::error_message, sizeof(flowc::error_message), "
             f"\"{message}\"); return {code}; }}")


@register("Cholesky", "lapack")
def emit_cholesky(ctx: EmitContext, state: "State", node: LibraryNode) -> None:
    a, out, t, ct, n, ptr = _begin(ctx, state, node)
    _declare(ctx, "fc_potrf", "potrf_work", t, f"int, char, int, {ct}*, int")
    ctx.emit(f"const int64_t fc_n = {n};")
    _copy_matrix(ctx, a, ptr, "fc_n", "fc_n", lower_only=True)
    ctx.emit(f"const int fc_info = fc_n > 0 ? fc_potrf({ROW_MAJOR}, 'L', (int)fc_n, {ptr}, "
             "(int)flowc::size_max(1, fc_n)) : 0;")
    _fail(ctx, "fc_info > 0", "Matrix is not positive definite", LINALG_ERROR)
    _fail(ctx, "fc_info < 0", "LAPACK potrf: invalid argument")
    ctx.gen.depth -= 1
    ctx.emit("}")


@register("Solve", "lapack")
def emit_solve(ctx: EmitContext, state: "State", node: LibraryNode) -> None:
    node.check_shapes(ctx.program, state)
    a, b, x = node.operands(state)
    _contiguous(ctx, x)
    t = _letter(ctx, a)
    ct = ctx.program.data[a].dtype.ctype
    db = ctx.program.data[b]
    n = sym_cxx(ctx.program.data[a].shape[0])
    k = sym_cxx(db.shape[1]) if db.ndim == 2 else "1"
    px = ctx.gen.pointer(x)
    ctx.emit(f"{{ // {cxx_comment(node.label)}: solve({a}, {b}) -> {x}")
    ctx.gen.depth += 1
    _declare(ctx, "fc_gesv", "gesv_work", t, f"int, int, int, {ct}*, int, int*, {ct}*, int")
    ctx.emit(f"const int64_t fc_n = {n}, fc_k = {k};")
    ctx.emit(f"{ct}* fc_lu = flowc::alloc<{ct}>(fc_n * fc_n);")
    ctx.emit("int* fc_ipiv = flowc::alloc<int>(fc_n);")
    _copy_matrix(ctx, a, "fc_lu", "fc_n", "fc_n")
    _copy_matrix(ctx, b, px, "fc_n", "fc_k")
    ctx.emit(f"const int fc_info = fc_n > 0 ? fc_gesv({ROW_MAJOR}, (int)fc_n, (int)fc_k, fc_lu, "
             f"(int)flowc::size_max(1, fc_n), fc_ipiv, {px}, (int)flowc::size_max(1, fc_k)) : 0;")
    ctx.emit("std::free(fc_lu); std::free(fc_ipiv);")
    _fail(ctx, "fc_info > 0", "Singular matrix", LINALG_ERROR)
    _fail(ctx, "fc_info < 0", "LAPACK gesv: invalid argument")
    ctx.gen.depth -= 1
    ctx.emit("}")


@register("Inv", "lapack")
def emit_inv(ctx: EmitContext, state: "State", node: LibraryNode) -> None:
    a, out, t, ct, n, ptr = _begin(ctx, state, node)
    _declare(ctx, "fc_gesv", "gesv_work", t, f"int, int, int, {ct}*, int, int*, {ct}*, int")
    ctx.emit(f"const int64_t fc_n = {n};")
    ctx.emit(f"{ct}* fc_lu = flowc::alloc<{ct}>(fc_n * fc_n);")
    ctx.emit("int* fc_ipiv = flowc::alloc<int>(fc_n);")
    _copy_matrix(ctx, a, "fc_lu", "fc_n", "fc_n")
    ctx.emit("for (int64_t fc_i = 0; fc_i < fc_n; ++fc_i)")
    ctx.emit(f"  for (int64_t fc_j = 0; fc_j < fc_n; ++fc_j) {ptr}[fc_i * fc_n + fc_j] = fc_i == fc_j ? 1 : 0;")
    ctx.emit("const int fc_ld = (int)flowc::size_max(1, fc_n);")
    ctx.emit(f"const int fc_info = fc_n > 0 ? fc_gesv({ROW_MAJOR}, (int)fc_n, (int)fc_n, fc_lu, fc_ld, fc_ipiv, "
             f"{ptr}, fc_ld) : 0;")
    ctx.emit("std::free(fc_lu); std::free(fc_ipiv);")
    _fail(ctx, "fc_info > 0", "Singular matrix", LINALG_ERROR)
    _fail(ctx, "fc_info < 0", "LAPACK gesv: invalid argument")
    ctx.gen.depth -= 1
    ctx.emit("}")


__all__ = ["emit_cholesky", "emit_inv", "emit_solve"]
