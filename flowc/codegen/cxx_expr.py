"""Printing IR expressions as C++: symbolic integer expressions (sizes,
indices, bounds) and tasklet-language expressions (element computations).

Both printers parenthesize fully: the C++ compiler does not care, and it
rules out precedence mistakes between the two languages.
"""

from __future__ import annotations

import math
from typing import Callable

import sympy

from flowc.ir import expr as tl
from flowc.ir.dtypes import BY_NAME
from flowc.ir.errors import IRError

CXX_KEYWORDS = frozenset("""
alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t char32_t class
compl concept const consteval constexpr constinit const_cast continue co_await co_return co_yield decltype
default delete do double dynamic_cast else enum explicit export extern false float for friend goto if inline
int long mutable namespace new noexcept not not_eq nullptr operator or or_eq private protected public register
reinterpret_cast requires return short signed sizeof static static_assert static_cast struct switch template
this thread_local throw true try typedef typeid typename union unsigned using virtual void volatile wchar_t
while xor xor_eq std main errno INFINITY NAN
""".split())


#: lower-case object-like macros of the C and C++ headers generated code includes (glibc, libstdc++)
CXX_MACROS = frozenset("stdin stdout stderr errno math_errhandling sched_priority".split())


def _may_be_macro(name: str) -> bool:
    """Whether ``name`` may be an object-like macro of a system header: ``NULL``, ``EOF``,
    ``INT64_MAX``, ``E2BIG``, ``M_PI``, ``L_tmpnam``... (upper case with two characters or more,
    or an upper-case letter and ``_``, or one of ``CXX_MACROS``). Single letters (``N``) are not."""
    if name in CXX_MACROS:
        return True
    if len(name) >= 2 and name[0].isupper() and name[1] == "_":
        return True
    return len(name) >= 2 and not any(c.islower() for c in name)


def cname(name: str) -> str:
    """A C++ identifier for an IR name. Keywords, possible macros of the system headers and the
    prefixes generated code reserves for its own locals (``fc_``, ``flowc``, ``__``) get a
    trailing ``_`` (the C++ names are internal: the entry point is called by position)."""
    if name in CXX_KEYWORDS or name.startswith(("fc_", "flowc", "__")) or _may_be_macro(name):
        return f"{name}_"
    return name


def cxx_comment(text: str) -> str:
    """``text`` safe inside a ``//`` comment of generated code: printable ASCII only (a newline
    would end the comment and a trailing backslash would splice the next line into it), and no
    ``/*`` or ``*/``. Labels come from IR files too, which are data, never code."""
    out = "".join(c if " " <= c <= "~" and c != "\\" else "?" for c in str(text))
    return out.replace("*/", "*?").replace("/*", "?*")


def cxx_string(text: str) -> str:
    """The body of a C++ string literal that prints ``text`` (non-printable characters escaped)."""
    out = []
    for c in str(text):
        if c in "\\\"":
            out.append("\\" + c)
        elif " " <= c <= "~" and c != "?":          # '?' escaped: no trigraphs, whatever the -std
            out.append(c)
        else:
            out.append("".join(f"\\{b:03o}" for b in c.encode("utf-8")))
    return "".join(out)


def sym_cxx(expr: sympy.Basic) -> str:
    """A symbolic integer expression as int64 C++."""
    expr = sympy.sympify(expr)
    if expr.is_Integer:
        v = int(expr)
        return f"{v}LL" if not -(2**31) <= v < 2**31 else str(v)
    if expr.is_Symbol:
        return cname(expr.name)
    if expr.is_Add:
        terms = [sym_cxx(a) for a in expr.as_ordered_terms()]
        return "(" + " + ".join(terms) + ")"
    if expr.is_Mul:
        num, den = sympy.fraction(expr)
        if den != 1:
            raise IRError(f"symbolic expression {expr} divides integers; use floor() or Mod")
        return "(" + " * ".join(sym_cxx(a) for a in expr.as_ordered_factors()) + ")"
    if expr.is_Pow:
        base, exp = expr.args
        if exp.is_Integer and int(exp) >= 0:
            return "(" + " * ".join([sym_cxx(base)] * int(exp)) + ")" if int(exp) else "1"
        raise IRError(f"symbolic expression {expr} has a non-integer power")
    if isinstance(expr, sympy.floor):
        num, den = sympy.fraction(sympy.together(expr.args[0]))
        return f"flowc::floordiv({sym_cxx(num)}, {sym_cxx(den)})"
    if isinstance(expr, sympy.ceiling):
        num, den = sympy.fraction(sympy.together(expr.args[0]))
        return f"(-flowc::floordiv(-({sym_cxx(num)}), {sym_cxx(den)}))"
    if isinstance(expr, sympy.Mod):
        return f"flowc::mod({sym_cxx(expr.args[0])}, {sym_cxx(expr.args[1])})"
    if isinstance(expr, (sympy.Min, sympy.Max)):
        # by value (flowc::size_max, not std::max's references): see math.h.j2
        fn = "flowc::size_min" if isinstance(expr, sympy.Min) else "flowc::size_max"
        args = [sym_cxx(a) for a in expr.args]
        out = args[0]
        for a in args[1:]:
            out = f"{fn}({out}, {a})"
        return out
    if isinstance(expr, sympy.Abs):
        return f"std::abs((int64_t){sym_cxx(expr.args[0])})"
    raise IRError(f"cannot generate C++ for symbolic expression {expr} ({type(expr).__name__})")


_FUNCS = {
    "exp": "flowc::exp", "expm1": "std::expm1", "log": "std::log", "log1p": "std::log1p", "log2": "std::log2",
    "log10": "std::log10", "sqrt": "std::sqrt", "tanh": "flowc::tanh", "sinh": "std::sinh", "cosh": "std::cosh",
    "sin": "std::sin", "cos": "std::cos", "tan": "std::tan", "arcsin": "std::asin", "arccos": "std::acos",
    "arctan": "std::atan", "erf": "std::erf", "abs": "flowc::abs", "floor": "std::floor", "ceil": "std::ceil",
    "sign": "flowc::sign", "isnan": "flowc::isnan", "isinf": "flowc::isinf", "rsqrt": "flowc::rsqrt",
    "min": "flowc::min", "max": "flowc::max", "fmin": "flowc::fmin", "fmax": "flowc::fmax",
    "pow": "flowc::pow", "arctan2": "std::atan2", "fmod": "flowc::fmod",
    "conj": "flowc::conj", "real": "flowc::real", "imag": "flowc::imag", "angle": "flowc::angle",
}
_BINOPS = {"and": "&&", "or": "||"}


def _const_cxx(c: tl.Const) -> str:
    if c.dtype == "bool":
        return "true" if c.value else "false"
    if c.dtype == "int64":
        v = int(c.value)
        return f"{v}LL" if not -(2**31) <= v < 2**31 else str(v)
    v = float(c.value)
    ctype = "float" if c.dtype == "float32" else "double"
    if math.isinf(v):
        return f"({'-' if v < 0 else ''}std::numeric_limits<{ctype}>::infinity())"
    if math.isnan(v):
        return f"std::numeric_limits<{ctype}>::quiet_NaN()"
    text = repr(v)
    if "e" not in text and "." not in text:
        text += ".0"
    return f"{text}f" if ctype == "float" else text


def tasklet_cxx(node: tl.Node, name_of: Callable[[str], str],
                subscript_of: Callable[[str, list[str], tuple[tl.Node, ...]], str] | None = None,
                type_names: dict[str, str] | None = None) -> str:
    """A tasklet-language expression as C++. ``name_of`` maps names to C++
    expressions; ``subscript_of(name, indices, index_nodes)`` addresses array connectors
    (given the printed indices and the indices' expression trees, for bounds checks);
    ``type_names`` overrides the C++ spelling of dtypes in casts (a target's own half type)."""
    types = type_names or {}
    def go(n: tl.Node) -> str:
        if isinstance(n, tl.Const):
            return _const_cxx(n)
        if isinstance(n, tl.Name):
            return name_of(n.id)
        if isinstance(n, tl.UnaryOp):
            op = "!" if n.op == "not" else n.op
            return f"({op}{go(n.operand)})"
        if isinstance(n, tl.BinOp):
            left, right = go(n.left), go(n.right)
            if n.op == "//":
                return f"flowc::floordiv({left}, {right})"
            if n.op == "%":
                return f"flowc::mod({left}, {right})"
            if n.op == "**":
                return f"flowc::pow({left}, {right})"
            if n.op == "/":
                return f"flowc::divide({left}, {right})"
            if n.op in ("<<", ">>"):
                return f"flowc::{'lshift' if n.op == '<<' else 'rshift'}({left}, {right})"
            return f"({left} {_BINOPS.get(n.op, n.op)} {right})"
        if isinstance(n, tl.Call):
            args = [go(a) for a in n.args]
            if n.func == "where":
                return f"(({args[0]}) ? ({args[1]}) : ({args[2]}))"
            if n.func in _FUNCS:
                return f"{_FUNCS[n.func]}({', '.join(args)})"
            if n.func in BY_NAME and len(args) == 2:        # complex from its parts
                return f"{BY_NAME[n.func].ctype}({args[0]}, {args[1]})"
            if n.func in BY_NAME:
                return f"flowc::cast<{types.get(n.func, BY_NAME[n.func].ctype)}>({args[0]})"
            raise IRError(f"no C++ for tasklet function {n.func!r}")
        if isinstance(n, tl.Subscript):
            if subscript_of is None:
                raise IRError(f"array connector {n.value!r} indexed where no array is in scope")
            return subscript_of(n.value, [go(i) for i in n.indices], n.indices)
        raise IRError(f"not a tasklet expression node: {n!r}")

    return go(node)
