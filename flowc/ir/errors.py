"""The exceptions every stage raises; they live in the hub so any stage can raise them."""


class FlowcError(Exception):
    """Base class of flowc's own errors."""


class IRError(FlowcError):
    """A malformed IR construct (bad expression, unknown data, broken invariant)."""


class TargetError(IRError):
    """A valid program uses something the chosen target cannot compile (float16 on the cuda target,
    a library call inside a GPU kernel, ...): the message names the construct and what to do."""


class ValidationError(IRError):
    """``Program.validate()`` found a broken invariant; the message names the node."""


#: the return code of a generated entry point whose data-dependent subscript (a gather ``x[idx]``)
#: was out of bounds: the runtime raises ``IndexError`` with NumPy's message from
#: ``flowc_error_message()`` (see ``flowc/codegen/bounds.py``)
INDEX_ERROR = 3


class FrontendError(FlowcError):
    """Python the frontend does not support; carries file, line and column."""

    def __init__(self, message: str, filename: str = "<unknown>", lineno: int = 0,
                 col: int = 0, source_line: str = "", hint: str = ""):
        self.message, self.filename, self.lineno, self.col = message, filename, lineno, col
        self.source_line, self.hint = source_line, hint
        text = f"{filename}:{lineno}:{col}: {message}"
        if source_line:
            text += f"\n    {source_line.rstrip()}\n    {' ' * col}^"
        if hint:
            text += f"\n  supported instead: {hint}"
        super().__init__(text)


class CompileError(FlowcError):
    """The C++/CUDA compiler rejected generated code; shows its output and the source path."""

    def __init__(self, message: str, source_path: str = "", compiler_output: str = ""):
        self.source_path, self.compiler_output = source_path, compiler_output
        text = message
        if source_path:
            text += f"\n  generated source: {source_path}"
        if compiler_output:
            text += f"\n  compiler output:\n{compiler_output}"
        super().__init__(text)


#: the return code of a generated entry point whose linear algebra failed (a singular matrix, a
#: matrix that is not positive definite): the runtime raises ``numpy.linalg.LinAlgError`` with the
#: library's error message, as NumPy does; any other nonzero code raises ``RuntimeError``
LINALG_ERROR = 2
