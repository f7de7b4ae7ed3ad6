"""C++ and CUDA emitters for the Scan library node (``flowc.ir.library_extra.Scan``): cumulative sums and
products, as NumPy's ``add.accumulate`` / ``multiply.accumulate``.

The loop nest runs over every dimension but the scan axis (in parallel, collapsed, when there is
enough work) and, innermost, sequentially along the axis with a running value::

    for (o...) for (i...)                          // all other dimensions, parallel
      { T acc = (T)X[o, 0, i]; Y[o, 0, i] = acc;
        for (a = 1; a < n; ++a) { acc = (T)(acc + (T)X[o, a, i]); Y[o, a, i] = acc; } }

Each step is computed in the output dtype T and rounded to it (float16 through float, as NumPy
does), so the running value is exactly NumPy's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy

from flowc.codegen.cpp import PARALLEL_MIN_ELEMENTS
from flowc.codegen.cxx_expr import cname, sym_cxx
from flowc.codegen.libraries import EmitContext, register
from flowc.ir.nodes import LibraryNode
from flowc.ir.symbolic import canonical_symbol

if TYPE_CHECKING:
    from flowc.ir.state import State


def _scan_axis(ctx: EmitContext, node: LibraryNode, src: str, dst: str, idx: list, names: list[str]) -> None:
    """The sequential scan along the axis at one point of the other dimensions (their loop
    variables are in scope)."""
    dd = ctx.program.data[dst]
    t = ctx.gen.ctype_of(dd.dtype)
    wide = "float" if dd.dtype.name == "float16" else t
    op = "+" if node.op == "sum" else "*"
    axis = node.axis
    n = sym_cxx(ctx.program.data[src].shape[axis])
    a = names[axis]
    ctx.emit(f"if ({n} > 0) {{")
    ctx.gen.depth += 1
    at = list(idx)
    at[axis] = sympy.Integer(0)
    ctx.emit(f"{t} fc_acc = ({t})({ctx.gen.element(src, at)});")
    ctx.emit(f"{ctx.gen.element(dst, at)} = fc_acc;")
    ctx.emit(f"for (int64_t {a} = 1; {a} < {n}; ++{a}) {{")
    x = f"({wide})({t})({ctx.gen.element(src, idx)})"
    ctx.emit(f"  fc_acc = ({t})(({wide})fc_acc {op} {x});")
    ctx.emit(f"  {ctx.gen.element(dst, idx)} = fc_acc;")
    ctx.emit("}")
    ctx.gen.depth -= 1
    ctx.emit("}")


def _index(node: LibraryNode, ndim: int) -> tuple[list, list[str], list[int]]:
    idx = [canonical_symbol(f"fc_s{d}") for d in range(ndim)]
    return idx, [cname(s.name) for s in idx], [d for d in range(ndim) if d != node.axis]


@register("Scan", "native")
def emit_scan(ctx: EmitContext, state: "State", node: LibraryNode) -> None:
    node.check_shapes(ctx.program, state)
    src, dst = node.operands(state)
    ds = ctx.program.data[src]
    idx, names, others = _index(node, ds.ndim)
    work = " * ".join(["(int64_t)1"] + [sym_cxx(ds.shape[d]) for d in range(ds.ndim)])
    ctx.emit(f"{{ // {node.label}: {src} -> {dst}")
    ctx.gen.depth += 1
    if others:
        collapse = f" collapse({len(others)})" if len(others) > 1 else ""
        ctx.emit(f"#pragma omp parallel for schedule(static){collapse} if ({work} >= {PARALLEL_MIN_ELEMENTS})")
    for d in others:
        ctx.emit(f"for (int64_t {names[d]} = 0; {names[d]} < {sym_cxx(ds.shape[d])}; ++{names[d]})")
    ctx.emit("{")
    ctx.gen.depth += 1
    _scan_axis(ctx, node, src, dst, idx, names)
    ctx.gen.depth -= 1
    ctx.emit("}")
    ctx.gen.depth -= 1
    ctx.emit("}")


@register("Scan", "native", target="cuda")
def emit_scan_cuda(ctx: EmitContext, state: "State", node: LibraryNode) -> None:
    """One GPU thread per point of the other dimensions, each scanning its line sequentially (a
    block-wide parallel scan would serve long axes better; this one is correct for every shape)."""
    node.check_shapes(ctx.program, state)
    src, dst = node.operands(state)
    ds = ctx.program.data[src]
    idx, names, others = _index(node, ds.ndim)
    gen = ctx.gen
    label = f"{state.name}/{node.label}"
    ctx.emit(f"{{ // kernel {node.label}: {src} -> {dst}, one thread per line")
    gen.depth += 1
    for d in others:
        ctx.emit(f"const int64_t fc_n{d} = flowc::size_max(0, {sym_cxx(ds.shape[d])});")

    def body() -> None:
        ctx.emit("int64_t fc_rest = fc_flat; (void)fc_rest;")
        for k, d in enumerate(reversed(others)):
            last = k == len(others) - 1
            ctx.emit(f"const int64_t {names[d]} = fc_rest;" if last else
                     f"const int64_t {names[d]} = fc_rest % fc_n{d}; fc_rest /= fc_n{d};")
        _scan_axis(ctx, node, src, dst, idx, names)

    gen._launch(label, " * ".join(f"fc_n{d}" for d in others) or "1", body)
    gen.depth -= 1
    ctx.emit("}")


__all__ = ["emit_scan", "emit_scan_cuda"]
