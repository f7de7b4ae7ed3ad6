"""Run-time bounds checks of tasklet subscripts (gathers).

A tasklet may index an *array connector* with data: ``o = table[k]``, where ``k``
is read from another array (``x[idx]`` in Python). Nothing at compile time bounds
``k``, so every such subscript whose index is not provably inside the connector's
block gets a check in the generated C++:

- The check is inline and branch-predicted (``__builtin_expect``); a failure
  calls a cold, out-of-line function that records the first error of the call
  (site, axis, index, size) in a per-call record with an atomic compare-and-swap,
  so it is safe inside OpenMP loops, where the code cannot return.
- A failing access is never performed: the load becomes ``ok ? table[...] : T()``.
  Tasklets only *read* through subscripts (writes go through memlets, whose
  subsets are symbolic and bounded by ``validate()`` and the per-call
  requirements), so no write can land at a data-dependent index.
- After every state that contains a checked subscript the entry point tests the
  record and returns ``flowc.ir.errors.INDEX_ERROR`` with NumPy's message in
  ``flowc_error_message()``; the runtime raises ``IndexError``.

NumPy's semantics: the frontend lowers ``x[i]`` to the subscript
``x[where(i < 0, i + S, i)]`` (``S`` the axis length). That pattern is recognized
and checked as NumPy does, ``-S <= i < S``, reporting ``i`` and ``S`` ("index 7 is
out of bounds for axis 0 with size 5"). When the wrapped index *is* the block
index over a block of extent ``S`` (the common case), that check also bounds the
access; otherwise (a view with a start or a step, or an IR file that spells
something else) the final block index is checked as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import sympy

from flowc.codegen.cxx_expr import cxx_string, sym_cxx
from flowc.ir import expr as tl
from flowc.ir.bounds import provably_nonnegative as _nonnegative
from flowc.ir.symbolic import Range, canonical_symbol


@dataclass
class Site:
    """One checked subscript: the container read and the tasklet that reads it."""

    data: str
    tasklet: str


def wrap_pattern(node: tl.Node) -> Optional[tuple[tl.Node, tl.Node]]:
    """``(i, S)`` when ``node`` is the frontend's negative-index wrap ``where(i < 0, i + S, i)``."""
    if not (isinstance(node, tl.Call) and node.func == "where" and len(node.args) == 3):
        return None
    cond, then, other = node.args
    if not (isinstance(cond, tl.BinOp) and cond.op == "<" and cond.right == tl.Const(0, "int64")):
        return None
    i = cond.left
    if other != i or not (isinstance(then, tl.BinOp) and then.op == "+" and then.left == i):
        return None
    return i, then.right


def find_wrap(node: tl.Node) -> Optional[tuple[tl.Node, tl.Node]]:
    """The first wrap pattern inside ``node`` (depth first), if any."""
    found = wrap_pattern(node)
    if found is not None:
        return found
    for c in tl.children(node):
        found = find_wrap(c)
        if found is not None:
            return found
    return None


def to_sympy(node: tl.Node, local: set[str]) -> Optional[sympy.Expr]:
    """An integer tasklet expression over symbols (no connector or local names) as sympy."""
    if isinstance(node, tl.Const):
        if isinstance(node.value, bool) or not isinstance(node.value, int):
            return None
        return sympy.Integer(node.value)
    if isinstance(node, tl.Name):
        return None if node.id in local else canonical_symbol(node.id)
    if isinstance(node, tl.UnaryOp) and node.op == "-":
        inner = to_sympy(node.operand, local)
        return None if inner is None else -inner
    if isinstance(node, tl.BinOp) and node.op in ("+", "-", "*"):
        a, b = to_sympy(node.left, local), to_sympy(node.right, local)
        if a is None or b is None:
            return None
        return a + b if node.op == "+" else a - b if node.op == "-" else a * b
    return None


def provably_inside(index: Optional[sympy.Expr], extent: sympy.Expr,
                    params: dict[sympy.Symbol, Range], sizes: set[sympy.Symbol]) -> bool:
    """Whether ``0 <= index < extent`` for every value of the map parameters (and tasklet loop
    variables) in ``params``, outermost first, whose ranges may use the enclosing ones (an
    affine index; each parameter with a constant positive step and a non-empty range, since a
    body runs only for values inside its range). The smallest and largest values are found by
    replacing the innermost parameter first; afterwards only size symbols (``sizes``,
    non-negative by the binder's check) may remain."""
    if index is None:
        return False
    lo = hi = sympy.expand(index)
    for p, r in reversed(list(params.items())):
        if p not in lo.free_symbols and p not in hi.free_symbols:
            continue
        if not (r.step.is_number and r.step > 0):
            return False
        first, last = r.start, r.stop - 1
        bounds = []
        for e, smallest in ((lo, True), (hi, False)):
            e = sympy.expand(e)
            coeff = e.coeff(p)
            if not coeff.is_number or e.has(p ** 2) or sympy.expand(e - coeff * p).has(p):
                return False
            bounds.append(sympy.expand(e.subs(p, first if (coeff >= 0) == smallest else last)))
        lo, hi = bounds
    if not (lo.free_symbols | hi.free_symbols | extent.free_symbols) <= sizes:
        return False
    return _nonnegative(lo) and _nonnegative(extent - 1 - hi)


class SubscriptChecker:
    """Prints checked array-connector subscripts for one generated function."""

    def __init__(self, sizes: set[sympy.Symbol]) -> None:
        self.sites: list[Site] = []
        #: the program's size symbols (non-negative)
        self.sizes = sizes

    def element(self, base: str, dims: list[tuple[tl.Node, str, sympy.Expr, str]],
                flat: Callable[[list[str]], str], ctype: str, site: Site,
                printer: Callable[[tl.Node], str], local: set[str],
                params: dict[sympy.Symbol, Range], record: str) -> str:
        """C++ for ``base[flat(indices)]`` with a check of every index not provably in bounds.

        ``dims``: per dimension the index node, its printed C++, the block extent (sympy) and
        the name of a C++ temporary for it.
        """
        checks, names = self._checks(dims, printer, local, params, record)
        if not checks:
            return f"{base}[{flat([f'({t})' for _, t, _, _ in dims])}]"
        self.sites.append(site)
        decls = " ".join(f"const auto {v} = ({t});" for (_, t, _, _), v in zip(dims, names))
        return (f"({{ {decls} ({' && '.join(checks)}) ? {base}[{flat(names)}] : {ctype}(); }})")

    def store(self, base: str, dims: list[tuple[tl.Node, str, sympy.Expr, str]],
              flat: Callable[[list[str]], str], write: Callable[[str], str], site: Site,
              printer: Callable[[tl.Node], str], local: set[str],
              params: dict[sympy.Symbol, Range], record: str) -> str:
        """C++ statements writing the element ``base[flat(indices)]`` (``write(lvalue)``: an
        assignment, or an atomic update); an index not provably in bounds is checked, and an
        out-of-bounds store is skipped and reported (as a read is)."""
        checks, names = self._checks(dims, printer, local, params, record)
        if not checks:
            return write(f"{base}[{flat([f'({t})' for _, t, _, _ in dims])}]")
        self.sites.append(site)
        decls = "".join(f"  const auto {v} = ({t});\n" for (_, t, _, _), v in zip(dims, names))
        body = "".join(f"    {line}\n" for line in write(f"{base}[{flat(names)}]").split("\n"))
        return f"{{\n{decls}  if ({' && '.join(checks)}) {{\n{body}  }}\n}}"

    def _checks(self, dims: list[tuple[tl.Node, str, sympy.Expr, str]], printer: Callable[[tl.Node], str],
                local: set[str], params: dict[sympy.Symbol, Range], record: str) -> tuple[list[str], list[str]]:
        """The index checks of one subscript (those not provably true) and the temporaries' names;
        the checks name the site this subscript will be if it has any (``len(self.sites)``)."""
        checks: list[str] = []
        names: list[str] = []
        k = len(self.sites)
        for axis, (node, _text, extent, var) in enumerate(dims):
            names.append(var)
            checks_here: list[str] = []
            wrap = find_wrap(node)
            if wrap is not None:
                i_node, s_node = wrap
                s_text = printer(s_node)
                i_text = printer(i_node)
                checks_here.append(f"flowc::index_ok({record}, {k}, {axis}, ({i_text}), -({s_text}), ({s_text}), "
                                   f"({s_text}))")
                s_sym = to_sympy(s_node, local)
                if wrap_pattern(node) is not None and s_sym is not None \
                        and sympy.expand(s_sym - extent) == 0:
                    checks.extend(checks_here)
                    continue
            if not provably_inside(to_sympy(node, local), extent, params, self.sizes):
                checks_here.append(f"flowc::index_ok({record}, {k}, {axis}, {var}, 0, ({sym_cxx(extent)}), "
                                   f"({sym_cxx(extent)}))")
            checks.extend(checks_here)
        return checks, names

    def declarations(self, record: str) -> list[str]:
        """Lines that start the entry point: the per-call error record and the site table."""
        if not self.sites:
            return []
        table = ", ".join(f"{{\"{cxx_string(s.data)}\", \"{cxx_string(s.tasklet)}\"}}" for s in self.sites)
        return [f"flowc::IndexError {record};",
                f"static const flowc::IndexSite fc_index_sites[] = {{{table}}};"]

    @staticmethod
    def check_after(record: str, code: int) -> str:
        """The test after a state: return ``code`` with NumPy's message if an index failed."""
        return (f"if (__builtin_expect({record}.flag != 0, 0)) "
                f"return flowc::index_error_return({record}, fc_index_sites, {code});")
