"""Delta debugging of a failing program: the smallest variant that still fails the same way.

Greedy passes over the function's ``ast``, each candidate checked by compiling and running it (in one
mode, at the failing sizes) and kept when it still gives the same class:

- remove a statement; replace a loop or a branch by its body;
- replace an expression by one of its operands (``np.exp(a + b)`` -> ``a + b`` -> ``a``);
- drop a keyword argument (``keepdims=True``);
- drop an unused parameter; replace a size symbol of a parameter's shape by 1, drop a leading axis;
- shrink the sizes (each symbol to 1, then 2).
"""

from __future__ import annotations

import ast
import copy
from typing import Callable, Iterator, Optional


def _bodies(tree: ast.AST) -> Iterator[list]:
    for node in ast.walk(tree):
        for fld in ("body", "orelse"):
            b = getattr(node, fld, None)
            if isinstance(b, list) and b and isinstance(b[0], ast.stmt):
                yield b


def _statement_edits(fn: ast.FunctionDef) -> Iterator[ast.FunctionDef]:
    n_bodies = len(list(_bodies(fn)))
    for bi in range(n_bodies):
        body = list(_bodies(fn))[bi]
        for si in range(len(body)):
            if isinstance(body[si], ast.Return):
                continue
            for kind in ("drop", "inline"):
                new = copy.deepcopy(fn)
                nb = list(_bodies(new))[bi]
                st = nb[si]
                if kind == "drop":
                    del nb[si]
                    if not nb:
                        nb.append(ast.Pass())
                elif isinstance(st, (ast.For, ast.While, ast.If)):
                    nb[si:si + 1] = st.body
                else:
                    continue
                yield new


def _children(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.Call):
        out = list(node.args) + [k.value for k in node.keywords]
        if isinstance(node.func, ast.Attribute) and not isinstance(node.func.value, ast.Name):
            out.append(node.func.value)          # x.sum() -> x
        elif isinstance(node.func, ast.Attribute) and node.func.value.id not in ("np", "math", "flowc"):
            out.append(node.func.value)
        return out
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp):
        return [node.operand]
    if isinstance(node, ast.Compare):
        return [node.left, *node.comparators]
    if isinstance(node, ast.Subscript):
        return [node.value]
    if isinstance(node, ast.Attribute) and not isinstance(node.value, ast.Name):
        return [node.value]
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.attr == "T":
        return [node.value]
    if isinstance(node, ast.Tuple):
        return list(node.elts)
    return []


class _Replace(ast.NodeTransformer):
    def __init__(self, index: int, pick: Callable[[ast.AST], Optional[ast.AST]]):
        self.index, self.pick, self.seen = index, pick, -1

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, ast.expr):
            self.seen += 1
            if self.seen == self.index:
                rep = self.pick(node)
                if rep is not None:
                    return rep
        return super().generic_visit(node)


def _expression_edits(fn: ast.FunctionDef) -> Iterator[ast.FunctionDef]:
    body = ast.Module(body=fn.body, type_ignores=[])
    exprs = [n for n in ast.walk(body) if isinstance(n, ast.expr)]
    for i in range(len(exprs) + 50):
        for j in range(4):
            new = copy.deepcopy(fn)
            t = _Replace(i, lambda node, j=j: (copy.deepcopy(_children(node)[j]) if j < len(_children(node))
                                              else None))
            new.body = [t.visit(s) for s in new.body]
            if t.seen < i:
                return
            yield new
        new = copy.deepcopy(fn)
        t = _Replace(i, lambda node: _drop_keyword(node))
        new.body = [t.visit(s) for s in new.body]
        yield new


def _drop_keyword(node: ast.AST) -> Optional[ast.AST]:
    if isinstance(node, ast.Call) and node.keywords:
        new = copy.deepcopy(node)
        new.keywords = new.keywords[1:]
        return new
    return None


def _param_edits(fn: ast.FunctionDef) -> Iterator[ast.FunctionDef]:
    used = {n.id for n in ast.walk(ast.Module(body=fn.body, type_ignores=[])) if isinstance(n, ast.Name)}
    for i, a in enumerate(fn.args.args):
        if a.arg not in used:
            new = copy.deepcopy(fn)
            del new.args.args[i]
            yield new
    for i, a in enumerate(fn.args.args):
        ann = a.annotation
        if isinstance(ann, ast.Subscript):
            dims = ann.slice.elts if isinstance(ann.slice, ast.Tuple) else [ann.slice]
            for d in range(len(dims)):
                if isinstance(dims[d], ast.Name):
                    new = copy.deepcopy(fn)
                    nann = new.args.args[i].annotation
                    nd = nann.slice.elts if isinstance(nann.slice, ast.Tuple) else None
                    if nd is None:
                        nann.slice = ast.Constant(1)
                    else:
                        nd[d] = ast.Constant(1)
                    yield new
            if isinstance(ann.slice, ast.Tuple) and len(dims) > 1:
                new = copy.deepcopy(fn)
                del new.args.args[i].annotation.slice.elts[0]
                yield new


def minimize(source: str, sizes: dict, still_fails: Callable[[str, dict], bool], budget: int = 40) -> tuple[str, dict]:
    """The smallest (source, sizes) found within ``budget`` checks for which ``still_fails`` holds."""
    fn = ast.parse(source).body[0]
    assert isinstance(fn, ast.FunctionDef)
    best = ast.unparse(fn)
    seen = {best}
    checks = 0
    improved = True
    while improved and checks < budget:
        improved = False
        for edits in (_statement_edits, _param_edits, _expression_edits):
            for cand in edits(fn):
                text = ast.unparse(ast.fix_missing_locations(cand))
                if text in seen or len(text) >= len(best) + 5:
                    continue
                seen.add(text)
                if checks >= budget:
                    break
                checks += 1
                if still_fails(text + "\n", sizes):
                    fn, best, improved = cand, text, True
                    break
            if improved:
                break
    for sym in ("K", "N", "M"):
        for v in (1, 2):
            if checks < budget + 6 and sizes.get(sym, 0) > v:
                trial = dict(sizes, **{sym: v})
                checks += 1
                if still_fails(best + "\n", trial):
                    sizes = trial
                    break
    return best + "\n", sizes
