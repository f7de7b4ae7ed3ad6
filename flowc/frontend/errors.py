"""Source locations and the one internal exception of the frontend.

Lowering helpers deep inside the frontend (broadcasting, promotion, the
NumPy function table) know nothing about the AST; they raise
``LoweringError(message, hint)``. The AST visitors catch it at the innermost
node being lowered and turn it into a ``flowc.FrontendError`` that carries
file, line, column, the source line and the hint. Any other exception raised
while lowering a node (a bug, a sympy failure) is wrapped the same way, so no
raw Python exception ever escapes ``lower``.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass
from typing import Any, Callable

from flowc.ir.errors import FrontendError


_CACHE: dict[Any, "Source"] = {}


class LoweringError(Exception):
    """A construct outside the supported subset; located later by the visitor."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass
class Source:
    """The source of one Python function and how AST positions map into its file."""

    filename: str
    lines: list[str]          # the function's lines as they appear in the file
    first_line: int           # file line number of lines[0]
    indent: int               # columns removed by dedenting
    tree: ast.FunctionDef

    @staticmethod
    def of(func: Callable[..., Any]) -> "Source":
        """Read and parse ``func``'s source (works for functions in files and notebooks);
        cached per code object, since inlined callees are read at every call site."""
        code = getattr(func, "__code__", None)
        if code is not None and code in _CACHE:
            return _CACHE[code]
        src = Source._read(func)
        if code is not None:
            _CACHE[code] = src
        return src

    @staticmethod
    def _read(func: Callable[..., Any]) -> "Source":
        filename = getattr(getattr(func, "__code__", None), "co_filename", "<unknown>")
        try:
            lines, first = inspect.getsourcelines(func)
        except (OSError, TypeError) as exc:
            raise FrontendError(f"cannot read the source of {getattr(func, '__name__', func)!r}: {exc}",
                                filename, 0, 0, "",
                                "define the program with 'def' in a file or a notebook cell") from None
        text = "".join(lines)
        dedented = textwrap.dedent(text)
        first_code = next((ln for ln in lines if ln.strip()), "")
        indent = len(first_code) - len(first_code.lstrip())
        try:
            module = ast.parse(dedented)
        except SyntaxError as exc:
            raise FrontendError(f"cannot parse the source of {func.__name__!r}: {exc.msg}", filename,
                                first + (exc.lineno or 1) - 1, (exc.offset or 1) - 1 + indent) from None
        tree = next((n for n in module.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
        if tree is None or isinstance(tree, ast.AsyncFunctionDef):
            raise FrontendError(f"{getattr(func, '__name__', func)!r} is not a plain function definition",
                                filename, first, indent, lines[0] if lines else "",
                                "decorate a function defined with 'def'")
        return Source(filename, [ln.rstrip("\n") for ln in lines], first, indent, tree)

    def error(self, node: Any, message: str, hint: str = "") -> FrontendError:
        """A located ``FrontendError`` for an AST node (or None: the function header)."""
        lineno = getattr(node, "lineno", None) or self.tree.lineno
        col = getattr(node, "col_offset", 0) or 0
        idx = lineno - 1
        line = self.lines[idx] if 0 <= idx < len(self.lines) else ""
        return FrontendError(message, self.filename, self.first_line + idx, col + self.indent, line, hint)


def describe(exc: BaseException) -> str:
    """A one-line description of an unexpected exception, for wrapping."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
