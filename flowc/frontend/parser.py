"""The frontend's entry point: a Python function → a ``flowc.ir.Program``.

``lower(func)`` reads the function's source, makes one program argument per
parameter (typed by its annotation, or by ``arg_types`` for unannotated
parameters), lowers the body statement by statement, and turns the final
``return`` into the program's returned arrays. Arrays referenced from the
enclosing scope become trailing arguments (``program.closure_args``).
"""

from __future__ import annotations

import ast
import inspect
import re
from dataclasses import replace
from typing import Any, Callable, Optional

import numpy as np
import sympy

from flowc.ir.data import ArrayType, Scalar
from flowc.ir.errors import FrontendError
from flowc.ir.program import Program
from flowc.ir.symbolic import as_expr

from .context import Frame, Lowering
from .emit import store
from .errors import LoweringError, Source
from .loop_exits import structured_exits
from .returns import single_return
from .expressions import evaluate, located
from .scope import as_dtype
from .types import EQUATE, UNIFIABLE, Unify
from .statements import lower_body
from .values import SCALAR_PARAMS, Ref, ScalarParameterAsSymbol, Sym, TupleValue, Value, describe, is_arraylike


def closure_vars(func: Callable[..., Any]) -> dict[str, Any]:
    """The function's closure cells by name (empty cells are skipped)."""
    code = getattr(func, "__code__", None)
    cells = getattr(func, "__closure__", None) or ()
    out: dict[str, Any] = {}
    if code is None:
        return out
    for name, cell in zip(code.co_freevars, cells):
        try:
            out[name] = cell.cell_contents
        except ValueError:
            continue
    return out


def annotations_of(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        return dict(inspect.get_annotations(func, eval_str=True))
    except Exception:
        return dict(getattr(func, "__annotations__", {}) or {})


def _program_name(func: Callable[..., Any], name: Optional[str]) -> str:
    text = name or getattr(func, "__name__", "program")
    text = re.sub(r"[^A-Za-z0-9_]", "_", text)
    return text if re.match(r"[A-Za-z_]", text) else f"p_{text}"


def param_nodes(source: Source) -> list[ast.arg]:
    a = source.tree.args
    if a.vararg is not None:
        raise source.error(a.vararg, "*args parameters are not supported", "named parameters")
    if a.kwarg is not None:
        raise source.error(a.kwarg, "**kwargs parameters are not supported", "named parameters")
    return [*a.posonlyargs, *a.args, *a.kwonlyargs]


def declare_argument(lw: Lowering, name: str, typ: Any) -> None:
    """Add the program argument ``name`` of annotation/type ``typ``."""
    p = lw.program
    if isinstance(typ, ArrayType):
        shape = []
        for d in typ.shape:
            e = as_expr(d)
            for s in e.free_symbols:
                p.add_symbol(s.name)
                lw.reserved.add(s.name)
            shape.append(e)
        if not shape:
            p.add_array(name, [], typ.dtype)
        else:
            p.add_array(name, shape, typ.dtype)
        return
    dt = as_dtype(typ)
    if dt is None and isinstance(typ, np.ndarray):
        raise LoweringError(f"parameter {name!r}: pass types, not arrays, in arg_types")
    if dt is None:
        raise LoweringError(f"parameter {name!r} has the annotation {typ!r}, which is not a flowc type",
                            "flowc.float32[N, M] for arrays, flowc.float64 (a bare dtype) for scalars")
    p.add_scalar(name, dt)


def lower(func: Callable[..., Any], *, arg_types: Optional[dict[str, Any]] = None,
          name: Optional[str] = None) -> Program:
    """Lower the Python function ``func`` to a flowc program.

    Parameters are typed by their annotations (``flowc.float32[N, M]`` for an
    array, a bare dtype for a scalar) or, when unannotated, by ``arg_types``.
    Raises ``flowc.FrontendError`` (with file, line and the offending source)
    for anything outside the supported subset.
    """
    arg_types = dict(arg_types or {})
    anns = annotations_of(func)
    inferred = {s.name for p, t in arg_types.items() if p not in anns and isinstance(t, ArrayType)
                for d in t.shape for s in as_expr(d).free_symbols}
    symbolic: set[str] = set()
    for _ in range(64):
        token = UNIFIABLE.set(frozenset(inferred))
        try:
            return _lower_once(func, arg_types, name, symbolic)
        except Unify as u:
            inferred.discard(u.drop)
            arg_types = {p: _substitute(t, u.drop, u.replacement) for p, t in arg_types.items()}
        except ScalarParameterAsSymbol as s:
            symbolic.add(s.name)
        finally:
            UNIFIABLE.reset(token)
    raise FrontendError(f"cannot reconcile the shapes of the arguments of {getattr(func, '__name__', func)!r}")


def _substitute(t: Any, drop: str, replacement: Any) -> Any:
    if not isinstance(t, ArrayType):
        return t
    sym = sympy.Symbol(drop, integer=True)
    return ArrayType(t.dtype, tuple(as_expr(d).xreplace({sym: replacement}) for d in t.shape))


def _lower_once(func: Callable[..., Any], arg_types: dict[str, Any], name: Optional[str],
                symbolic: set[str]) -> Program:
    """One lowering attempt; ``symbolic``: integer scalar parameters to declare as symbols."""
    source = single_return(structured_exits(Source.of(func)))
    program = Program(_program_name(func, name))
    program.closure_args = {}
    program.symbol_params = {}
    lw = Lowering(program)
    frame = Frame(source, func, getattr(func, "__globals__", {}), closure_vars(func))
    lw.frames.append(frame)
    anns = annotations_of(func)
    scalar_params = set()
    for position, node in enumerate(param_nodes(source)):
        pname = node.arg
        typ = anns.get(pname, None)
        if typ is None or typ is inspect.Parameter.empty:
            typ = arg_types.get(pname)
        if typ is None:
            raise source.error(node, f"parameter {pname!r} has no type annotation",
                               "annotate it (x: flowc.float32[N]) or call the program with arguments")
        if pname in symbolic:
            # an integer parameter used as a loop bound, slice bound or size: a symbol, passed by value
            program.add_symbol(pname)
            lw.reserved.add(pname)
            program.symbol_params[pname] = position
            frame.env[pname] = Sym(sympy.Symbol(pname, integer=True))
            continue
        with located(lw, node):
            declare_argument(lw, pname, typ)
        if isinstance(program.data[pname], Scalar) and program.data[pname].dtype.is_integer:
            scalar_params.add(pname)
        ref = Ref.whole(pname, program.data[pname])
        if typ in (float, int, bool):
            ref = replace(ref, weak=True)       # a Python number: weak in NumPy 2's promotion
        frame.env[pname] = ref
    token = SCALAR_PARAMS.set(frozenset(scalar_params))
    equate = EQUATE.set(lw.require_equal)
    try:
        body, ret = split_return(source, source.tree.body)
        lower_body(lw, body)
        if ret is not None and ret.value is not None:
            value = evaluate(lw, ret.value)
            with located(lw, ret.value):
                add_returns(lw, value)
    finally:
        EQUATE.reset(equate)
        SCALAR_PARAMS.reset(token)
    return program


def split_return(source: Source, body: list[ast.stmt]) -> tuple[list[ast.stmt], Optional[ast.Return]]:
    """The statements before a final ``return``, and that return (or None)."""
    if body and isinstance(body[-1], ast.Return):
        return body[:-1], body[-1]
    return body, None


def add_returns(lw: Lowering, value: Value) -> None:
    items = value.items if isinstance(value, TupleValue) else (value,)
    for i, v in enumerate(items):
        if not is_arraylike(v):
            raise LoweringError(f"cannot return {describe(v)}", "return arrays or numbers")
        name = "__return" if len(items) == 1 else f"__return_{i}"
        _return_one(lw, v, name)


def _return_one(lw: Lowering, v: Value, name: str) -> None:
    p = lw.program
    if isinstance(v, Ref) and v.is_whole(lw.desc(v.data)) and v.data in lw.owned and v.ndim > 0 and \
            lw.desc(v.data).view_of is None and v.data not in p.returns:
        p.add_return(v.data)
        return
    shape = list(v.shape)
    rname = name if name not in p.data else lw.fresh("result")
    p.add_transient(rname, shape, v.dtype)
    target = Ref.whole(rname, p.data[rname])
    store(lw, v, target, name="return", check_alias=False)
    p.add_return(rname)
