"""Epilogues: the element-wise function a contraction applies to each result
element on its way to memory.

A MatMul with an epilogue computes, for every result index ``e``::

    acc    = alpha · (A @ B)[e]  (+ beta · C[e])
    C[e]   = f(acc, x₁[i₁(e)], x₂[i₂(e)], ...)

``f`` is tasklet-language code that reads ``acc`` and the epilogue's input
connectors and assigns ``out``; each input is read at an element index
written in the result's index variables ``_e0, _e1, ...`` (``b[_e2]`` for a
bias over the last axis, ``x[_e0, _e1, _e2]`` for a residual). Code
generation applies it to each block of rows right after the GEMM produced
them, while they are still in cache; ``MatMul.expand`` folds it into the
accumulator's finishing tasklet.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import sympy

from flowc.ir import expr as tl
from flowc.ir.errors import IRError
from flowc.ir.symbolic import as_expr, canonical_symbol, expr_str

#: the name the code reads for the contraction's value, and the one it assigns for the stored value
ACC, OUT = "acc", "out"


def index_symbol(dim: int) -> sympy.Symbol:
    """The index variable of result dimension ``dim`` in an epilogue's read indices."""
    return canonical_symbol(f"_e{dim}")


@dataclass(frozen=True)
class Epilogue:
    code: tl.Code
    #: (connector, element index in the result's index variables), one per input
    reads: tuple[tuple[str, tuple[sympy.Expr, ...]], ...] = ()

    def __post_init__(self) -> None:
        conns = [c for c, _ in self.reads]
        if len(set(conns)) != len(conns) or {ACC, OUT} & set(conns):
            raise IRError(f"epilogue inputs {conns} must be distinct and not named {ACC!r} or {OUT!r}")
        if not self.code.is_straight_line():
            raise IRError(f"an epilogue's code is assignments only, without loops or branches (got {self.code})")
        if not self.code.stmts or self.code.stmts[-1].target != OUT:
            raise IRError(f"an epilogue's code must end by assigning {OUT!r} (got {self.code})")
        if any(s.indices or next(tl.subscripted(s.value), None) for s in self.code.stmts):
            raise IRError(f"epilogue code indexes arrays ({self.code}); inputs and the result are elements")

    @property
    def connectors(self) -> list[str]:
        return [c for c, _ in self.reads]

    def free_names(self) -> set[str]:
        """Names the code reads that are neither ``acc``, an input nor a local: size symbols."""
        return self.code.read_names() - {ACC, *self.connectors}

    def check(self, rank: int, ranks: dict[str, int], symbols: Iterable[str]) -> None:
        """Raise IRError unless every input is read with an index of its rank, in
        the result's ``rank`` index variables, and the code reads nothing unknown."""
        allowed = {index_symbol(d) for d in range(rank)}
        for conn, index in self.reads:
            if conn not in ranks:
                raise IRError(f"epilogue input {conn!r} has no incoming edge")
            if len(index) != ranks[conn]:
                raise IRError(f"epilogue input {conn!r} is read with {len(index)} indices, "
                              f"but its data has rank {ranks[conn]}")
            stray = {s for i in index for s in i.free_symbols if s.name.startswith("_e")} - allowed
            if stray:
                raise IRError(f"epilogue input {conn!r} is indexed by {sorted(map(str, stray))}, "
                              f"which are not result index variables (_e0.._e{rank - 1})")
        unknown = self.free_names() - set(symbols)
        if unknown:
            raise IRError(f"epilogue code {self.code} reads unknown names {sorted(unknown)}")

    def then(self, after: "Epilogue") -> "Epilogue":
        """The epilogue that applies ``self`` and then ``after`` to its result
        (``after`` reads ``self``'s ``out`` as its ``acc``; inputs stay distinct)."""
        if set(self.connectors) & set(after.connectors):
            raise IRError("composed epilogues need distinct input connectors")
        taken = {n for s in after.code.stmts for n in (s.target, *tl.names(s.value))} | set(self.connectors) | \
            {n for s in self.code.stmts for n in (s.target, *tl.names(s.value))}
        fresh = (f"_v{i}" for i in itertools.count())
        rename = {}
        for target in dict.fromkeys(self.code.assigned()):
            rename[target] = next(n for n in fresh if n not in taken)
        first = rename_locals(self.code, rename)
        # ``after`` may assign ``acc`` too: from then on its reads mean that local, not ``self``'s result
        second = rename_locals(after.code, {ACC: next(n for n in fresh if n not in taken)})
        second = tl.Code(tuple(s.substitute({ACC: tl.Name(rename[OUT])})
                               for s in second.stmts))
        return Epilogue(tl.Code(first.stmts + second.stmts), self.reads + after.reads)

    # ------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        return {"code": str(self.code), "reads": [[c, [expr_str(i) for i in idx]] for c, idx in self.reads]}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Epilogue":
        return Epilogue(tl.Code.parse(d["code"]),
                        tuple((c, tuple(as_expr(i) for i in idx)) for c, idx in d["reads"]))

    @staticmethod
    def make(code: Any, reads: Sequence[tuple[str, Sequence[Any]]] = ()) -> "Epilogue":
        """From code text and (connector, index) pairs with index expressions as text or sympy."""
        return Epilogue(code if isinstance(code, tl.Code) else tl.Code.parse(code),
                        tuple((c, tuple(as_expr(i) for i in idx)) for c, idx in reads))

    def __str__(self) -> str:
        ins = ", ".join(f"{c}=[{', '.join(map(expr_str, idx))}]" for c, idx in self.reads)
        return f"{self.code}" + (f"  ({ins})" if ins else "")


def rename_locals(code: tl.Code, rename: dict[str, str]) -> tl.Code:
    """``code`` with assigned names (and their later reads) renamed; reads before the
    first assignment of a name keep the outer meaning."""
    out, local = [], set()
    for s in code.stmts:
        sub = {n: tl.Name(rename[n]) for n in local if n in rename}
        moved = s.substitute(sub)
        out.append(tl.Assign(rename.get(s.target, s.target), moved.value, moved.indices))
        local.add(s.target)
    return tl.Code(tuple(out))


__all__ = ["ACC", "OUT", "Epilogue", "index_symbol", "rename_locals"]
