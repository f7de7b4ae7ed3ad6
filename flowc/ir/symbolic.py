"""Symbolic sizes and index sets.

Every size, index and loop bound in the IR is a sympy expression over integer
symbols. Symbols are identified by *name*: the IR always holds
``sympy.Symbol(name, integer=True)``, whatever assumptions the user attached,
so two spellings of ``N`` can never be two different symbols.

A ``Range`` is Python's half-open ``start:stop:step``; a ``Subset`` is one
``Range`` per array dimension. Their text forms (``"i, 0:N, 1:M:2"``) are the
JSON form and parse back to equal objects.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

import sympy

from flowc.ir.errors import IRError

Expr = sympy.Expr

_IDENT = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


def symbol(name: str, dtype: Any = None, **assumptions: Any) -> sympy.Symbol:
    """An integer size symbol. DaCe's spelling ``symbol(name, dtype=int32, **assumptions)`` is
    accepted: ``dtype`` (positional or keyword) must be an integer type (``flowc.int64``,
    ``np.int32``, ``int``); flowc computes every symbol as a 64-bit signed integer. Extra sympy
    assumptions (``positive=True``) are accepted; the IR canonicalizes symbols by name."""
    if not isinstance(name, str) or not _IDENT.fullmatch(name):
        raise IRError(f"symbol name {name!r} is not an identifier")
    if dtype is not None:
        _check_symbol_dtype(name, dtype)
    assumptions.setdefault("integer", True)
    return sympy.Symbol(name, **assumptions)


def _check_symbol_dtype(name: str, dtype: Any) -> None:
    from flowc.ir.dtypes import dtype_of

    if dtype is int:
        return
    try:
        dt = dtype_of(dtype)
    except TypeError:
        dt = None
    if dt is None or not dt.is_integer:
        raise TypeError(f"symbol({name!r}): parameter 'dtype' must be an integer type (flowc.int64, np.int32, "
                        f"int), got {dtype!r}; size symbols are integers")


def canonical_symbol(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, integer=True)


def distinct_elements(index: Sequence[Optional[Expr]], params: Iterable[str]) -> bool:
    """Whether distinct values of the parameters ``params`` address distinct elements through
    ``index`` (one expression per dimension; None: a dimension any value may address): every
    parameter drives a dimension of its own with coefficient ±1, which no other parameter of
    ``params`` enters. This is when a map's iterations own what they write."""
    params = list(params)
    used: set[int] = set()
    for p in params:
        sym = canonical_symbol(p)
        others = set(params) - {p}
        for d, e in enumerate(index):
            if d in used or e is None:
                continue
            if sym in e.free_symbols and not ({s.name for s in e.free_symbols} & others) and \
                    abs(sympy.expand(e).coeff(sym)) == 1:
                used.add(d)
                break
        else:
            return False
    return True


def as_expr(value: Any) -> Expr:
    """Anything size-like (int, str, sympy expression) as a canonical sympy expression."""
    if isinstance(value, bool):
        raise IRError(f"{value!r} is not a size or index")
    if isinstance(value, int):
        return sympy.Integer(value)
    if isinstance(value, str):
        return parse_expr(value)
    if hasattr(value, "item") and not isinstance(value, sympy.Basic):   # NumPy integer
        return sympy.Integer(int(value))
    if isinstance(value, sympy.Basic):
        expr = value
        subs = {s: canonical_symbol(s.name) for s in expr.free_symbols
                if s != canonical_symbol(s.name)}
        return expr.xreplace(subs) if subs else expr
    raise IRError(f"{value!r} ({type(value).__name__}) is not a size or index expression")


def _sym(value: Any) -> Any:
    """``value`` as a sympy object without ever parsing text as Python (``sympify`` would
    ``eval`` a string; text goes through flowc's parser instead)."""
    return value if isinstance(value, sympy.Basic) else as_expr(value)


def parse_expr(text: str) -> Expr:
    """Parse the text form of a symbolic integer expression (``str(expr)``).

    flowc's own parser (``symparse``): no Python is evaluated, only integers, symbol
    names, arithmetic and a fixed list of functions are accepted; see ``symparse``."""
    from flowc.ir.symparse import parse

    return parse(text)


def equal(a: Any, b: Any) -> bool:
    """Whether two symbolic expressions are equal for all symbol values (exact for
    polynomials, which sizes and affine indices are; cheaper than ``simplify``); with floor,
    ceiling or Mod, decided per residue class (``M - floor(M/2)`` is ``ceiling(M/2)``)."""
    if a == b:
        return True
    d = _sym(a) - _sym(b)
    if is_zero(d):
        return True
    return d.has(sympy.floor, sympy.ceiling, sympy.Mod) and provably_equal(a, b)


def expr_str(expr: Expr) -> str:
    return str(expr)


def free_symbol_names(expr: Expr) -> set[str]:
    return {s.name for s in expr.free_symbols}


def evaluate(expr: Expr, values: dict[str, int]) -> int:
    """Evaluate an expression given integer values for its symbols."""
    subs = {canonical_symbol(n): v for n, v in values.items()}
    result = expr.xreplace(subs) if subs else expr
    if not result.is_number:
        missing = ", ".join(sorted(free_symbol_names(result)))
        raise IRError(f"no value for symbol(s) {missing} in {expr}")
    return int(result)


def is_zero(expr: Any) -> bool:
    """Whether ``expr`` is identically zero: ``sympy.simplify(expr) == 0``, fast.

    This runs on every print of a subset, and simplify is slow, so cheap
    exact tests come first: a polynomial is zero iff its expansion is, and an
    expression that is non-zero at some integer point is not identically zero.
    """
    d = _sym(expr)
    if d == 0 or d.is_number:
        return d == 0
    if d.is_polynomial():
        return sympy.expand(d) == 0
    syms = sorted(d.free_symbols, key=lambda s: s.name)
    for base in (3, 8):
        value = d.xreplace({s: sympy.Integer(base + 5 * k) for k, s in enumerate(syms)})
        if value.is_number and value.is_finite and value != 0:
            return False
    return sympy.simplify(d) == 0


def is_positive(expr: Any) -> bool:
    """Whether ``expr`` is positive for all positive sizes (``N`` and ``H*P`` are; a reversed
    view's stride ``-N`` and ``N - 1`` are not)."""
    d = _sym(expr)
    sizes = {s: sympy.Symbol(s.name, integer=True, positive=True) for s in d.free_symbols}
    return bool(d.xreplace(sizes).is_positive)


@dataclass(frozen=True)
class Range:
    """Half-open ``start:stop:step`` (step may be negative, as in Python)."""

    start: Expr
    stop: Expr
    step: Expr = sympy.Integer(1)

    @staticmethod
    def make(start: Any, stop: Any, step: Any = 1) -> "Range":
        return Range(as_expr(start), as_expr(stop), as_expr(step))

    @staticmethod
    def index(i: Any) -> "Range":
        """The single element ``i`` (``i:i+1``)."""
        e = as_expr(i)
        return Range(e, e + 1, sympy.Integer(1))

    @property
    def is_index(self) -> bool:
        if self.step != 1:
            return False
        return is_zero(self.stop - self.start - 1)

    def size(self) -> Expr:
        """Number of elements: ceil((stop - start) / step), as Python's range."""
        if self.step == 1:
            return self.stop - self.start
        if self.step == -1:
            return self.start - self.stop
        return sympy.ceiling((self.stop - self.start) / self.step)

    def free_symbols(self) -> set[str]:
        return free_symbol_names(self.start) | free_symbol_names(self.stop) | free_symbol_names(self.step)

    def subs(self, mapping: dict) -> "Range":
        return Range(*(_sym(e).xreplace(mapping) for e in (self.start, self.stop, self.step)))

    def __str__(self) -> str:
        if self.is_index:
            return expr_str(self.start)
        text = f"{expr_str(self.start)}:{expr_str(self.stop)}"
        return text if self.step == 1 else f"{text}:{expr_str(self.step)}"

    @staticmethod
    def parse(text: str) -> "Range":
        parts = split_top_level(text, ":")
        if len(parts) == 1:
            return Range.index(parse_expr(parts[0]))
        if len(parts) in (2, 3):
            step = parse_expr(parts[2]) if len(parts) == 3 else 1
            return Range.make(parse_expr(parts[0]), parse_expr(parts[1]), step)
        raise IRError(f"cannot parse range {text!r}; expected start:stop[:step] or an index")


@dataclass(frozen=True)
class Subset:
    """One ``Range`` per dimension of an array."""

    ranges: tuple[Range, ...]

    @staticmethod
    def make(ranges: Iterable[Any]) -> "Subset":
        out = []
        for r in ranges:
            if isinstance(r, Range):
                out.append(r)
            elif isinstance(r, str):
                out.append(Range.parse(r))
            elif isinstance(r, tuple):
                out.append(Range.make(*r))
            else:
                out.append(Range.index(r))
        return Subset(tuple(out))

    @staticmethod
    def full(shape: Sequence[Expr]) -> "Subset":
        return Subset(tuple(Range(sympy.Integer(0), as_expr(s)) for s in shape))

    @staticmethod
    def parse(text: str) -> "Subset":
        text = text.strip()
        if not text:
            return Subset(())
        return Subset(tuple(Range.parse(p) for p in split_top_level(text, ",")))

    def __len__(self) -> int:
        return len(self.ranges)

    def __iter__(self):
        return iter(self.ranges)

    def sizes(self) -> tuple[Expr, ...]:
        return tuple(r.size() for r in self.ranges)

    def volume(self) -> Expr:
        return sympy.Mul(*self.sizes()) if self.ranges else sympy.Integer(1)

    def free_symbols(self) -> set[str]:
        out: set[str] = set()
        for r in self.ranges:
            out |= r.free_symbols()
        return out

    def subs(self, mapping: dict) -> "Subset":
        return Subset(tuple(r.subs(mapping) for r in self.ranges))

    def __str__(self) -> str:
        return ", ".join(str(r) for r in self.ranges)


def split_top_level(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside parentheses and brackets."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return parts


def c_strides(shape: Sequence[Expr]) -> tuple[Expr, ...]:
    """Row-major (C order) strides, in elements."""
    strides: list[Expr] = []
    acc: Expr = sympy.Integer(1)
    for s in reversed(shape):
        strides.append(acc)
        acc = acc * s
    return tuple(reversed(strides))


def permuted_strides(shape: Sequence[Expr], order: Sequence[int]) -> tuple[Expr, ...]:
    """Strides of an array stored with dimensions ``order`` (outermost first)."""
    if sorted(order) != list(range(len(shape))):
        raise IRError(f"layout {list(order)} is not a permutation of {len(shape)} dimensions")
    strides: list[Expr] = [sympy.Integer(0)] * len(shape)
    acc: Expr = sympy.Integer(1)
    for d in reversed(order):
        strides[d] = acc
        acc = acc * shape[d]
    return tuple(strides)


# ---------------------------------------------------------------- equality of sizes with floor/ceiling
_MAX_RESIDUE_CLASSES = 64


def provably_equal(a: Any, b: Any) -> bool:
    """Whether two symbolic sizes are provably equal for every integer value of their symbols."""
    if a == b:
        return True
    try:
        d = sympy.simplify(sympy.sympify(a) - sympy.sympify(b))
    except Exception:          # pragma: no cover - sympy edge cases
        return False
    if d == 0:
        return True
    classes = _by_residues(d)
    return classes is not None and all(c == 0 for c in classes)


def provably_different(a: Any, b: Any) -> bool:
    """Whether two sizes differ for every integer value of their symbols (``3`` and ``4``,
    ``N`` and ``N + 1``, ``2 * (N // 2)`` and ``2 * (N // 2) + 1``)."""
    try:
        d = sympy.simplify(sympy.sympify(a) - sympy.sympify(b))
    except Exception:          # pragma: no cover - sympy edge cases
        return False
    if d.is_number:
        return d != 0
    classes = _by_residues(d)
    return classes is not None and all(c.is_number and c != 0 for c in classes)


@functools.lru_cache(maxsize=4096)
def _by_residues(d: Any) -> Optional[tuple[Any, ...]]:
    """``d`` simplified in each residue class of its symbols, or None where there is nothing to
    split (no floor, ceiling or Mod) or too many classes.

    ``floor(M/2)`` and ``ceiling((M - 1)/2)`` differ as expressions, not as numbers. With the
    symbol written as ``P*k + r`` (P the lcm of the denominators in ``d``, r = 0..P-1, k an
    integer), every ``floor``/``ceiling``/``Mod`` of a constant-denominator argument takes its
    integer part out, leaving an expression sympy compares exactly; the results over all
    classes together decide the question for every integer value of the symbols."""
    if not d.has(sympy.floor, sympy.ceiling, sympy.Mod):
        return None
    syms = sorted(d.free_symbols, key=lambda x: x.name)
    periods = [_period(d, s) for s in syms]
    if any(p is None for p in periods) or math.prod(periods) > _MAX_RESIDUE_CLASSES:
        return None
    ks = [sympy.Symbol(f"_k{i}", integer=True) for i in range(len(syms))]
    out = []
    for rs in itertools.product(*(range(p) for p in periods)):
        sub = {s: p * k + r for s, p, k, r in zip(syms, periods, ks, rs)}
        out.append(sympy.simplify(d.xreplace(sub)))
    return tuple(out)


def _period(d: Any, sym: Any) -> Optional[int]:
    """A period in ``sym`` of the floor, ceiling and Mod terms of ``d``: the lcm of the
    denominators of ``sym``'s coefficients in their arguments (and of the moduli)."""
    dens = [1]
    for f in d.atoms(sympy.floor, sympy.ceiling, sympy.Mod):
        arg = sympy.expand(f.args[0])
        if sym not in arg.free_symbols:
            continue
        c = arg.coeff(sym)
        if not c.is_Rational:
            return None
        dens.append(int(c.q))
        if isinstance(f, sympy.Mod):
            if not f.args[1].is_Integer:
                return None
            dens.append(int(c.q) * abs(int(f.args[1])))
    return math.lcm(*dens)
