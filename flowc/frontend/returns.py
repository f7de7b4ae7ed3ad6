"""Early returns: a ``return`` inside ``if``/``else`` arms, rewritten before lowering so that the
program ends in one return::

    if cond:                         if cond:
        return a * 2                     _flowc_ret0 = a * 2
    b = a - 1               ⇒        else:
    return b                             b = a - 1
                                         _flowc_ret0 = b
                                     return _flowc_ret0

The statements after an ``if`` whose arm can fall through are copied into that arm, so every path
ends in a return; each return becomes an assignment of the returned value (or of each item of a
returned tuple) to the same variables, and the program returns them once at the end. As with any
variable assigned in both arms, the returned values must agree in shape (and their dtypes are
promoted together). A ``return`` inside a loop, a path that ends without returning a value while
another returns one, and returns of different arity are refused with the location.
"""

from __future__ import annotations

import ast
import copy
import dataclasses

from .errors import Source

RESULT = "_flowc_ret"


def _returns_in(stmt: ast.stmt) -> list[ast.Return]:
    return [n for n in ast.walk(stmt) if isinstance(n, ast.Return)]


def _always_returns(stmts: list[ast.stmt]) -> bool:
    if not stmts:
        return False
    last = stmts[-1]
    if isinstance(last, ast.Return):
        return True
    return isinstance(last, ast.If) and _always_returns(last.body) and _always_returns(last.orelse)


def _restructure(stmts: list[ast.stmt]) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    for i, s in enumerate(stmts):
        if isinstance(s, ast.If) and _returns_in(s):
            rest = stmts[i + 1:]
            body = s.body if _always_returns(s.body) else s.body + copy.deepcopy(rest)
            orelse = s.orelse if _always_returns(s.orelse) else s.orelse + copy.deepcopy(rest)
            new = ast.If(test=s.test, body=_restructure(body) or [ast.Pass()], orelse=_restructure(orelse))
            out.append(ast.copy_location(new, s))
            return out
        out.append(s)
    return out


class _ToAssignments(ast.NodeTransformer):
    """``return v`` → ``_flowc_ret0 = v`` (``return a, b`` → one variable per item)."""

    def __init__(self, arity: int):
        self.arity = arity

    def visit_Return(self, node: ast.Return) -> ast.stmt:
        if self.arity == 0:
            return ast.copy_location(ast.Pass(), node)
        values = node.value.elts if self.arity > 1 else [node.value]
        targets = [ast.Name(id=f"{RESULT}{k}", ctx=ast.Store()) for k in range(self.arity)]
        if self.arity == 1:
            new = ast.Assign(targets=targets, value=values[0])
        else:
            new = ast.Assign(targets=[ast.Tuple(elts=targets, ctx=ast.Store())], value=ast.Tuple(elts=values,
                                                                                                  ctx=ast.Load()))
        return ast.fix_missing_locations(ast.copy_location(new, node))

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        return node                         # a nested def's returns are its own


def _arity(node: ast.Return) -> int:
    if node.value is None:
        return 0
    return len(node.value.elts) if isinstance(node.value, ast.Tuple) else 1


def single_return(source: Source) -> Source:
    """``source`` with its function's early returns rewritten (see the module docstring): a new
    Source whose tree the lowering reads (its analyses walk the tree); ``source`` itself when the
    only return is the last statement. Refusals are FrontendErrors at the offending return."""
    body = source.tree.body
    early = [r for s in body[:-1] for r in _returns_in(s)] + \
        [r for r in (_returns_in(body[-1]) if body else []) if r is not body[-1]]
    if not early:
        return source
    for s in body:
        for loop in (n for n in ast.walk(s) if isinstance(n, (ast.For, ast.While))):
            for r in _returns_in(loop):
                raise source.error(r, "'return' inside a loop is not supported",
                                   "assign the result to a variable, leave the loop (a flag in the condition) "
                                   "and return it after")
    returns = [r for s in body for r in _returns_in(s)]
    if len({_arity(r) for r in returns}) > 1:
        raise source.error(returns[-1], "the returns of this program return different numbers of values",
                           "return the same number of values on every path")
    arity = _arity(returns[0])
    restructured = _restructure(copy.deepcopy(list(body)))
    if arity and not _always_returns(restructured):
        raise source.error(returns[0], "a path through this program ends without a return, another returns "
                           "a value", "return a value on every path (or end every path with the same return)")
    rewritten = [_ToAssignments(arity).visit(s) for s in restructured]
    if arity:
        names = [ast.Name(id=f"{RESULT}{k}", ctx=ast.Load()) for k in range(arity)]
        value = names[0] if arity == 1 else ast.Tuple(elts=names, ctx=ast.Load())
        rewritten.append(ast.fix_missing_locations(ast.copy_location(ast.Return(value=value), returns[-1])))
    tree = copy.copy(source.tree)
    tree.body = rewritten
    return dataclasses.replace(source, tree=tree)
