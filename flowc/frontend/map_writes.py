"""How an element several iterations of a ``flowc.map`` share is written.

An element indexed by every map parameter (each driving its own dimension with coefficient ±1,
as ``out[i, j + 1]`` over ``i, j``: ``ir.symbolic.distinct_elements``) is owned by one
iteration and written plainly. An element iterations share (``total[0]``, ``hist[x[i]]``) may
only be accumulated into: ``+=`` and ``-=`` become a ``sum`` write-conflict resolution (``-=``
adds the negation), ``*=`` a ``prod``; where an iteration contributes nothing it contributes
the operator's identity.
"""

from __future__ import annotations

from typing import Iterable, Optional

from . import elementwise as ew
from .values import Value

#: an in-place operator into a shared element → the write-conflict resolution it becomes
WCR = {"add": "sum", "subtract": "sum", "multiply": "prod"}
#: the in-place operators into an element several map iterations share
ACCUMULATIONS = tuple(WCR)
#: what an accumulation adds where an iteration contributes nothing
IDENTITY = {"add": 0, "subtract": 0, "multiply": 1}


def shared_wcr(ops: Iterable[str]) -> Optional[str]:
    """The one write-conflict resolution the in-place operators ``ops`` (``"assign"`` for a
    plain ``=``) combine into on a shared element, or None where they do not (an assignment,
    an operator that is not an accumulation, or sums mixed with products)."""
    kinds = {WCR.get(op) for op in ops}
    return next(iter(kinds)) if len(kinds) == 1 and None not in kinds else None


def contribution(aug: str, value: Value) -> Value:
    """What one iteration's ``element aug= value`` adds to a shared element under its
    write-conflict resolution (``WCR[aug]``): ``-=`` adds the negation."""
    return ew.ufunc("negative", [value]) if aug == "subtract" else value


__all__ = ["ACCUMULATIONS", "IDENTITY", "WCR", "contribution", "shared_wcr"]
