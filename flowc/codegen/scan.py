"""C++ emitter for the Scan library node (``flowc.ir.library_extra.Scan``): cumulative sums and
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


@register("Scan", "native")
def emit_scan(ctx: EmitContext, state: "State", node: LibraryNode) -> None:
    node.check_shapes(ctx.program, state)
    src, dst = node.operands(state)
    ds, dd = ctx.program.data[src], ctx.program.data[dst]
    t = dd.dtype.ctype
    wide = "float" if dd.dtype.name == "float16" else t
    op = "+" if node.op == "sum" else "*"
    axis = node.axis
    idx = [canonical_symbol(f"fc_s{d}") for d in range(ds.ndim)]
    names = [cname(s.name) for s in idx]
    others = [d for d in range(ds.ndim) if d != axis]
    n = sym_cxx(ds.shape[axis])
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
    ctx.gen.depth -= 1
    ctx.emit("}")
    ctx.gen.depth -= 1
    ctx.emit("}")


__all__ = ["emit_scan"]
