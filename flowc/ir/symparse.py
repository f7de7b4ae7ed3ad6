"""flowc's parser for the text of symbolic integer expressions.

The IR's JSON form writes every size, index and bound as ``str(expr)`` of a
sympy expression (``"N - 2*ceiling(N/2) + 1"``). Reading that text back must
never evaluate Python: ``sympy.sympify`` does (it ``eval``s the text), so an
IR file could run code when loaded. This module is the one reader. It knows

- decimal integer literals (at most ``MAX_DIGITS`` digits) and symbol names
  (ASCII identifiers; each becomes ``sympy.Symbol(name, integer=True)``),
- unary ``+``/``-``, binary ``+ - * / // %`` and ``**`` with Python's
  precedence and associativity (``/`` is sympy division: ``N/2`` is
  ``Rational(1, 2)*N``, as sympy prints it inside ``floor(N/2)``),
- parentheses, and the functions in ``FUNCTIONS`` with their arities.

Every node is built with sympy's own operators and classes, so the result is
exactly the object sympy would build: ``parse(str(e)) == e`` for every
expression the IR holds. Limits keep hostile text cheap: ``MAX_LENGTH``
characters, ``MAX_DEPTH`` nesting, integer exponents of magnitude at most
``MAX_EXPONENT``, and no numeric power with more than ``MAX_POWER_BITS`` bits
(``10**10**10`` is refused at once). Division by zero and other results that
are not finite numbers are refused too.
"""

from __future__ import annotations

import functools
import re
from typing import Callable

import sympy

from flowc.ir.errors import IRError

MAX_LENGTH = 4096
MAX_DEPTH = 64
MAX_DIGITS = 40
MAX_EXPONENT = 64
MAX_POWER_BITS = 1024

#: name -> (sympy class, number of arguments; None: one or more)
FUNCTIONS: dict[str, tuple[Callable[..., sympy.Expr], int | None]] = {
    "Min": (sympy.Min, None), "Max": (sympy.Max, None), "floor": (sympy.floor, 1),
    "ceiling": (sympy.ceiling, 1), "Mod": (sympy.Mod, 2), "Abs": (sympy.Abs, 1),
}

_TOKEN = re.compile(r"\s*(?:(?P<int>[0-9]+)|(?P<name>[A-Za-z_][A-Za-z_0-9]*)|(?P<op>\*\*|//|[-+*/%(),]))")
_NOT_FINITE = (sympy.zoo, sympy.nan, sympy.oo, -sympy.oo)


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []     # (kind, text, position)
        pos, n = 0, len(text)
        while pos < n:
            m = _TOKEN.match(text, pos)
            if m is None:
                if text[pos:].strip() == "":
                    break
                bad = text[pos:].lstrip()[0]
                raise self.error(f"unexpected character {bad!r}", pos + len(text[pos:]) - len(text[pos:].lstrip()))
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind), m.start(kind)))
            pos = m.end()
        self.i = 0
        self.depth = 0

    def error(self, msg: str, pos: int | None = None) -> IRError:
        if pos is None:
            pos = self.tokens[self.i][2] if self.i < len(self.tokens) else len(self.text)
        return IRError(f"cannot parse symbolic expression {self.text!r}: {msg} at column {pos}")

    def peek(self) -> str:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> tuple[str, str, int]:
        if self.i >= len(self.tokens):
            raise self.error("unexpected end" + (f", expected {expected!r}" if expected else ""))
        tok = self.tokens[self.i]
        if expected is not None and (tok[0] != "op" or tok[1] != expected):
            raise self.error(f"expected {expected!r}, found {tok[1]!r}")
        self.i += 1
        return tok

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nested deeper than {MAX_DEPTH} levels")

    # expr := term (('+' | '-') term)*          (terms are added at once: n additions cost n, not n**2)
    def expr(self) -> sympy.Expr:
        self.enter()
        terms = [self.term()]
        while self.peek() in ("+", "-") and self.tokens[self.i][0] == "op":
            op = self.take()[1]
            rhs = self.term()
            terms.append(rhs if op == "+" else -rhs)
        self.depth -= 1
        return terms[0] if len(terms) == 1 else sympy.Add(*terms)

    # term := unary (('*' | '/' | '//' | '%') unary)*
    def term(self) -> sympy.Expr:
        factors = [self.unary()]
        wrapped = 0
        while self.peek() in ("*", "/", "//", "%") and self.tokens[self.i][0] == "op":
            _, op, pos = self.take()
            rhs = self.unary()
            if op in ("/", "//", "%") and rhs == 0:
                raise self.error("division by zero", pos)
            if op == "*":
                factors.append(rhs)
            elif op == "/":
                factors.append(sympy.Pow(rhs, -1))
            else:                  # floor/Mod nest: a chain of them counts as nesting
                self.enter()
                wrapped += 1
                left = factors[0] if len(factors) == 1 else sympy.Mul(*factors)
                factors = [sympy.floor(left / rhs) if op == "//" else sympy.Mod(left, rhs)]
        self.depth -= wrapped
        return factors[0] if len(factors) == 1 else sympy.Mul(*factors)

    # unary := ('-' | '+') unary | power
    def unary(self) -> sympy.Expr:
        if self.peek() in ("-", "+") and self.tokens[self.i][0] == "op":
            op = self.take()[1]
            self.enter()
            operand = self.unary()
            self.depth -= 1
            return -operand if op == "-" else operand
        return self.power()

    # power := atom ('**' unary)?      (right-associative, binds tighter than a unary minus on its left)
    def power(self) -> sympy.Expr:
        base = self.atom()
        if self.peek() != "**" or self.tokens[self.i][0] != "op":
            return base
        pos = self.take()[2]
        self.enter()
        exp = self.unary()
        self.depth -= 1
        if not exp.is_Integer or abs(int(exp)) > MAX_EXPONENT:
            raise self.error(f"an exponent must be an integer of magnitude at most {MAX_EXPONENT}, not {exp}", pos)
        e = int(exp)
        if base.is_Number:
            if base == 0 and e < 0:
                raise self.error("division by zero", pos)
            p, q = sympy.fraction(base)
            bits = max(abs(int(p)).bit_length(), abs(int(q)).bit_length()) * abs(e)
            if bits > MAX_POWER_BITS:
                raise self.error(f"the power {base}**{e} has more than {MAX_POWER_BITS} bits", pos)
        return base ** exp

    # atom := INT | NAME | NAME '(' expr (',' expr)* ')' | '(' expr ')'
    def atom(self) -> sympy.Expr:
        kind, text, pos = self.take()
        if kind == "int":
            if len(text) > MAX_DIGITS:
                raise self.error(f"an integer literal has more than {MAX_DIGITS} digits", pos)
            return sympy.Integer(int(text))
        if kind == "name":
            if self.peek() == "(" and self.tokens[self.i][0] == "op":
                return self.call(text, pos)
            if text in FUNCTIONS:
                raise self.error(f"{text!r} is a function, not a symbol", pos)
            return sympy.Symbol(text, integer=True)
        if text == "(":
            self.enter()
            inner = self.expr()
            self.depth -= 1
            self.take(")")
            return inner
        raise self.error(f"unexpected {text!r}", pos)

    def call(self, name: str, pos: int) -> sympy.Expr:
        if name not in FUNCTIONS:
            raise self.error(f"unknown function {name!r} (known: {', '.join(FUNCTIONS)})", pos)
        fn, arity = FUNCTIONS[name]
        self.take("(")
        self.enter()
        args = [self.expr()]
        while self.peek() == ",":
            self.take(",")
            args.append(self.expr())
        self.take(")")
        self.depth -= 1
        if (arity is None and not args) or (arity is not None and len(args) != arity):
            raise self.error(f"{name} takes {arity or 'one or more'} argument(s), got {len(args)}", pos)
        if name == "Mod" and args[1] == 0:
            raise self.error("Mod by zero", pos)
        return fn(*args)

    def parse(self) -> sympy.Expr:
        if not self.tokens:
            raise self.error("empty expression")
        out = self.expr()
        if self.i != len(self.tokens):
            raise self.error(f"unexpected {self.peek()!r}")
        if out.has(*_NOT_FINITE):
            raise self.error(f"the value {out} is not a finite number")
        return out


@functools.lru_cache(maxsize=16384)
def _parse_cached(text: str) -> sympy.Expr:
    try:
        return _Parser(text).parse()
    except (ArithmeticError, RecursionError, TypeError, ValueError) as exc:   # sympy refusing a combination
        raise IRError(f"cannot parse symbolic expression {text!r}: {type(exc).__name__}: {exc}") from None


def parse(text: str) -> sympy.Expr:
    """The sympy expression of ``text`` (see the module docstring); ``IRError`` if it is not one."""
    if not isinstance(text, str):
        raise IRError(f"a symbolic expression must be a string, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise IRError(f"symbolic expression of {len(text)} characters (at most {MAX_LENGTH}): {text[:60]!r}...")
    return _parse_cached(text)
