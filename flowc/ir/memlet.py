"""Memlets: the edges of a state, each one an explicit movement of data.

A memlet names the container it moves (``data``), which part of it
(``subset``, one symbolic range per dimension), and, for writes that many map
iterations aim at the same element, how the writes combine (``wcr``: sum,
prod, max or min). A copy between two access nodes also names where the data
lands in the destination (``other_subset``). An *empty* memlet (``data`` is
None) moves nothing; it only orders two nodes.

Text form: ``A[i, 0:N]`` — the JSON and the printed form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import sympy

from flowc.ir.errors import IRError
from flowc.ir.symbolic import Subset

WCR_OPS = ("sum", "prod", "max", "min")
_MEMLET = re.compile(r"^\s*([A-Za-z_][A-Za-z_0-9]*)\s*(?:\[(.*)\])?\s*$", re.S)


@dataclass(frozen=True)
class Memlet:
    data: Optional[str]
    subset: Optional[Subset] = None       # None: the whole container
    wcr: Optional[str] = None
    other_subset: Optional[Subset] = None

    def __post_init__(self) -> None:
        if self.wcr is not None and self.wcr not in WCR_OPS:
            raise IRError(f"memlet on {self.data}: write-conflict resolution {self.wcr!r} "
                          f"is not one of {', '.join(WCR_OPS)}")

    @staticmethod
    def parse(text: str, wcr: Optional[str] = None, other_subset: Optional[str] = None) -> "Memlet":
        """``Memlet.parse("A[i, 0:N]")``; a bare name means the whole container."""
        m = _MEMLET.match(text)
        if not m:
            raise IRError(f"cannot parse memlet {text!r}; expected NAME or NAME[subset]")
        subset = Subset.parse(m.group(2)) if m.group(2) is not None else None
        other = Subset.parse(other_subset) if other_subset is not None else None
        return Memlet(m.group(1), subset, wcr, other)

    @staticmethod
    def empty() -> "Memlet":
        return Memlet(None)

    @property
    def is_empty(self) -> bool:
        return self.data is None

    def volume(self) -> sympy.Expr:
        """Elements moved (the subset's size; the whole container's is resolved by the state)."""
        if self.subset is None:
            raise IRError(f"memlet {self} has no explicit subset; resolve it against its data first")
        return self.subset.volume()

    def with_subset(self, subset: Subset) -> "Memlet":
        return Memlet(self.data, subset, self.wcr, self.other_subset)

    def __str__(self) -> str:
        if self.data is None:
            return "(empty)"
        text = self.data if not self.subset else f"{self.data}[{self.subset}]"
        if self.other_subset is not None:
            text += f" -> [{self.other_subset}]"
        if self.wcr:
            text += f" (wcr {self.wcr})"
        return text
