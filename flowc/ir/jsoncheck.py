"""Checked reading of untrusted JSON values: each accessor names the JSON path it failed at.

``serialize.program_from_json`` reads IR files that people share (notebooks, tuning
databases, bug reports), so nothing in them is trusted: every value is checked for its type,
its range and its form before it becomes part of a ``Program``, and a value that does not fit
raises ``IRError("IR JSON $.body[0].nodes[3].name: ...")``. A hand-written checker rather
than a JSON-Schema library: the checks that matter (identifiers, symbolic expressions parsed
by flowc's own parser, labels safe to print into generated code) are code either way.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Optional, Sequence

import sympy

from flowc.ir.errors import IRError
from flowc.ir.symparse import parse as parse_symbolic

#: the IR's names: data, symbols, connectors, map parameters, loop variables (ASCII identifiers)
IDENT = re.compile(r"[A-Za-z_][A-Za-z_0-9]{0,254}")
#: labels (state, map, tasklet and library node names): printable ASCII, no backslash, no
#: comment delimiters, so that a label printed into a comment of generated code stays there
LABEL = re.compile(r"[ !-\[\]-~]{1,200}")
MAX_TEXT = 100_000          # tasklet code, conditions, subsets: characters
MAX_INT = 2**31 - 1         # node ids, edge keys, positions


class Path:
    """A JSON path (``$.body[0].maps``) built only when an error is reported."""

    __slots__ = ("parent", "step")

    def __init__(self, parent: Optional["Path"] = None, step: Any = None):
        self.parent, self.step = parent, step

    def __truediv__(self, step: Any) -> "Path":
        return Path(self, step)

    def __str__(self) -> str:
        steps: list[str] = []
        p: Optional[Path] = self
        while p is not None and p.parent is not None:
            steps.append(f"[{p.step}]" if isinstance(p.step, int) else f".{p.step}")
            p = p.parent
        text = "$" + "".join(reversed(steps))
        return text if len(text) <= 200 else f"{text[:60]}...{text[-120:]}"


ROOT = Path()


def fail(path: Path, message: str) -> IRError:
    return IRError(f"IR JSON {path}: {message}")


def _what(x: Any) -> str:
    text = repr(x)
    return f"{type(x).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def fields(x: Any, path: Path, required: Iterable[str], optional: Iterable[str] = ()) -> dict[str, Any]:
    """An object with exactly the ``required`` keys, perhaps some ``optional`` ones, no others."""
    if not isinstance(x, dict):
        raise fail(path, f"expected an object, got {_what(x)}")
    required = tuple(required)
    missing = [k for k in required if k not in x]
    if missing:
        raise fail(path, f"missing key(s) {', '.join(map(repr, missing))}")
    known = set(required) | set(optional)
    extra = sorted(str(k) for k in x if k not in known)
    if extra:
        raise fail(path, f"unknown key(s) {', '.join(map(repr, extra))}")
    return x


def seq(x: Any, path: Path) -> list[Any]:
    if not isinstance(x, list):
        raise fail(path, f"expected a list, got {_what(x)}")
    return x


def ident(x: Any, path: Path) -> str:
    if not isinstance(x, str) or not IDENT.fullmatch(x):
        raise fail(path, f"expected an identifier ([A-Za-z_][A-Za-z_0-9]*), got {_what(x)}")
    return x


def opt_ident(x: Any, path: Path) -> Optional[str]:
    return None if x is None else ident(x, path)


def idents(x: Any, path: Path, unique: bool = True) -> list[str]:
    out = [ident(v, path / i) for i, v in enumerate(seq(x, path))]
    if unique and len(set(out)) != len(out):
        dup = sorted({v for v in out if out.count(v) > 1})
        raise fail(path, f"names listed twice: {', '.join(dup)}")
    return out


def label(x: Any, path: Path) -> str:
    if not isinstance(x, str) or not LABEL.fullmatch(x) or "*/" in x or "/*" in x:
        raise fail(path, "expected a label (1 to 200 printable ASCII characters, no backslash, "
                         f"no '/*' or '*/'), got {_what(x)}")
    return x


def text(x: Any, path: Path, limit: int = MAX_TEXT) -> str:
    if not isinstance(x, str):
        raise fail(path, f"expected a string, got {_what(x)}")
    if len(x) > limit:
        raise fail(path, f"string of {len(x)} characters; at most {limit}")
    return x


def integer(x: Any, path: Path, lo: int = 0, hi: int = MAX_INT) -> int:
    if isinstance(x, bool) or not isinstance(x, int):
        raise fail(path, f"expected an integer, got {_what(x)}")
    if not lo <= x <= hi:
        raise fail(path, f"{x} is out of range [{lo}, {hi}]")
    return x


def number(x: Any, path: Path) -> float:
    """A finite JSON number."""
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise fail(path, f"expected a finite number, got {_what(x)}")
    return float(x)


def boolean(x: Any, path: Path) -> bool:
    if not isinstance(x, bool):
        raise fail(path, f"expected true or false, got {_what(x)}")
    return x


def choice(x: Any, path: Path, options: Sequence[Any]) -> Any:
    if isinstance(x, bool) or x not in options:
        raise fail(path, f"expected one of {', '.join(map(repr, options))}, got {_what(x)}")
    return x


def expr(x: Any, path: Path) -> sympy.Expr:
    """A symbolic integer expression, read by flowc's own parser (never evaluated as Python)."""
    if not isinstance(x, str):
        raise fail(path, f"expected a symbolic expression (a string), got {_what(x)}")
    try:
        return parse_symbolic(x)
    except IRError as exc:
        raise fail(path, str(exc)) from None
