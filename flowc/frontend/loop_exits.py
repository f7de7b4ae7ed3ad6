"""``break`` and ``continue``: rewritten before lowering into flags that guard the rest of the
loop, so the lowering sees only structured control flow::

    for i in range(N):                   _flowc_brk0 = False
        if a[i] < 0:                     for i in range(N):
            break              ⇒             if not _flowc_brk0:
        s += a[i]                                if a[i] < 0:
                                                     _flowc_brk0 = True
                                                 if not _flowc_brk0:
                                                     s += a[i]

``continue`` sets a flag cleared at the top of every iteration. A ``while`` loop's condition
becomes ``not _flowc_brkK and (condition)``, so it stops at the break; a ``for`` loop over a
``range`` keeps its trip count (its remaining iterations do nothing). ``for``/``while ... else``
runs the ``else`` arm when no break happened (``if not _flowc_brkK:`` after the loop). Exits
inside a nested loop belong to that loop. A ``flowc.map`` body is left alone: a ``break`` or
``continue`` directly in it is refused by the lowering (map iterations are independent and
unordered), and a loop inside it becomes tasklet code, whose ``break`` is a real one
(``frontend.map_loops``).
"""

from __future__ import annotations

import ast
import copy
import dataclasses
from typing import Optional

from .errors import Source

BREAK, CONTINUE = "_flowc_brk", "_flowc_cont"


def _exits(stmts: list[ast.stmt]) -> set[type]:
    """Which of Break / Continue occur in ``stmts``, not counting nested loops' own."""
    found: set[type] = set()
    todo: list[ast.AST] = list(stmts)
    while todo:
        n = todo.pop()
        if isinstance(n, (ast.Break, ast.Continue)):
            found.add(type(n))
        elif not isinstance(n, (ast.For, ast.While, ast.AsyncFor, ast.FunctionDef, ast.AsyncFunctionDef,
                                ast.ClassDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(n))
    return found


def _flag(name: str, value: bool, at: ast.AST) -> ast.stmt:
    new = ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=ast.Constant(value))
    return ast.fix_missing_locations(ast.copy_location(new, at))


def _none_set(names: list[str], at: ast.AST) -> ast.expr:
    """``not (f1 or f2 ...)`` of the flags."""
    flags = [ast.Name(id=n, ctx=ast.Load()) for n in names]
    test = flags[0] if len(flags) == 1 else ast.BoolOp(op=ast.Or(), values=flags)
    return ast.fix_missing_locations(ast.copy_location(ast.UnaryOp(op=ast.Not(), operand=test), at))


class _Guard:
    """Rewrites one loop body: exits become flag assignments, what follows them runs under
    ``if not (flags)``."""

    def __init__(self, brk: Optional[str], cont: Optional[str]):
        self.brk, self.cont = brk, cont
        self.flags = [f for f in (brk, cont) if f]

    def stmts(self, stmts: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for k, s in enumerate(stmts):
            if isinstance(s, ast.Break):
                out.append(_flag(self.brk, True, s))
                return out                                  # the rest of this block is dead
            if isinstance(s, ast.Continue):
                out.append(_flag(self.cont, True, s))
                return out
            if isinstance(s, ast.If) and _exits([s]):
                new = ast.If(test=s.test, body=self.stmts(s.body) or [ast.Pass()], orelse=self.stmts(s.orelse))
                out.append(ast.copy_location(new, s))
                rest = stmts[k + 1:]
                if rest:
                    guard = ast.If(test=_none_set(self.flags, rest[0]), body=self.stmts(rest), orelse=[])
                    out.append(ast.fix_missing_locations(ast.copy_location(guard, rest[0])))
                return out
            out.append(s)
        return out


def _is_map_loop(node: ast.AST) -> bool:
    """``for i in flowc.map[...]`` (or any subscripted iterable: the frontend's map syntax)."""
    return isinstance(node, ast.For) and isinstance(node.iter, ast.Subscript)


class _Rewriter(ast.NodeTransformer):
    def __init__(self) -> None:
        self.count = 0

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return node                                         # a nested def: refused by the lowering

    def _loop(self, node: ast.For | ast.While) -> ast.AST | list[ast.stmt]:
        if _is_map_loop(node):
            return node
        self.generic_visit(node)                            # inner loops first: their exits are theirs
        kinds = _exits(node.body)
        if not kinds:
            return node
        k = self.count
        self.count += 1
        brk = f"{BREAK}{k}" if ast.Break in kinds else None
        cont = f"{CONTINUE}{k}" if ast.Continue in kinds else None
        body = _Guard(brk, cont).stmts(node.body)
        if cont:
            body = [_flag(cont, False, node.body[0])] + body
        before: list[ast.stmt] = []
        after: list[ast.stmt] = []
        loop = copy.copy(node)
        if brk:
            before.append(_flag(brk, False, node))
            if isinstance(node, ast.While):
                loop.test = ast.fix_missing_locations(ast.copy_location(
                    ast.BoolOp(op=ast.And(), values=[_none_set([brk], node.test), node.test]), node.test))
            else:
                body = [ast.fix_missing_locations(ast.copy_location(
                    ast.If(test=_none_set([brk], node), body=body or [ast.Pass()], orelse=[]), node.body[0]))]
            if node.orelse:
                after.append(ast.fix_missing_locations(ast.copy_location(
                    ast.If(test=_none_set([brk], node), body=node.orelse, orelse=[]), node.orelse[0])))
        elif node.orelse:
            after.extend(node.orelse)                       # no break: the else arm always runs
        loop.orelse = []
        loop.body = body or [ast.Pass()]
        return before + [loop] + after

    visit_For = _loop
    visit_While = _loop


def structured_exits(source: Source) -> Source:
    """``source`` with ``break``/``continue`` rewritten into flags (see the module docstring);
    ``source`` itself when its function has none."""
    if not any(isinstance(n, (ast.Break, ast.Continue)) for n in ast.walk(source.tree)):
        return source
    tree = copy.deepcopy(source.tree)
    rewriter = _Rewriter()
    body: list[ast.stmt] = []
    for s in tree.body:
        new = rewriter.visit(s)
        body.extend(new if isinstance(new, list) else [new])
    tree.body = body
    return dataclasses.replace(source, tree=tree)
