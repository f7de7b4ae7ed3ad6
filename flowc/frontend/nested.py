"""Nested programs: a call of another ``@flowc.program`` is inlined at the call site.

The callee's body is lowered in a new frame (its own variables, globals and
source file for error messages) into the caller's program. Parameters are
bound to the caller's values — arrays by reference, so in-place writes to a
parameter write the caller's array, as in Python. The callee's size symbols
are matched against the arguments' shapes (``x: float32[N]`` called with an
array of shape ``(2 * M,)`` maps ``N`` to ``2 * M``), so the same callee can
be called at several shapes in one program. The value of its final
``return`` is the value of the call.
"""

from __future__ import annotations

import ast
import inspect
from typing import Any

import sympy

from flowc.ir.data import ArrayType
from flowc.ir.symbolic import as_expr

from . import elementwise as ew
from . import types as T
from .context import Frame, Lowering
from .emit import materialize
from .errors import LoweringError, Source
from .loop_exits import structured_exits
from .returns import single_return
from .expressions import evaluate, located
from .scope import as_dtype, from_python
from .values import SCALAR_PARAMS, Const, Lazy, PyValue, Ref, Sym, Value, describe, is_arraylike


def _bind(lw: Lowering, fname: str, names: list[str], sig: inspect.Signature, args: list[Value],
          kwargs: dict[str, Value], anns: dict[str, Any]) -> tuple[dict[str, Value], dict[str, Any]]:
    if len(args) > len(names):
        raise LoweringError(f"{fname}() takes {len(names)} argument(s), {len(args)} given")
    bound: dict[str, Value] = dict(zip(names, args))
    sym_kwargs: dict[str, Any] = {}
    for k, v in kwargs.items():
        if k in names:
            if k in bound:
                raise LoweringError(f"{fname}() got multiple values for argument {k!r}")
            bound[k] = v
        else:
            sym_kwargs[k] = v
    for n in names:
        if n not in bound:
            default = sig.parameters[n].default
            if default is inspect.Parameter.empty:
                raise LoweringError(f"{fname}() is missing the argument {n!r}")
            bound[n] = from_python(lw, default, n)
    return bound, sym_kwargs


def _match_shape(fname: str, pname: str, ann: ArrayType, value: Value, subs: dict[str, Any]) -> None:
    if not is_arraylike(value):
        raise LoweringError(f"argument {pname!r} of {fname}() must be an array, not {describe(value)}")
    shape = tuple(value.shape)
    if len(shape) != len(ann.shape):
        raise LoweringError(f"argument {pname!r} of {fname}() must have {len(ann.shape)} dimension(s), "
                            f"got shape {T.fmt_shape(shape)}")
    if value.dtype != ann.dtype:
        raise LoweringError(f"argument {pname!r} of {fname}() must be {ann.dtype.name}, got {value.dtype.name}",
                            "an explicit .astype() at the call")
    for want, got in zip(ann.shape, shape):
        e = as_expr(want)
        if e.is_Symbol and e.name not in subs:
            subs[e.name] = sympy.sympify(got)
            continue
        expected = e.xreplace({sympy.Symbol(k, integer=True): v for k, v in subs.items()})
        if not T.must_match(expected, got):
            raise LoweringError(f"argument {pname!r} of {fname}() has shape {T.fmt_shape(shape)}, which does not "
                                f"match its annotation {ann!r}")


def _of_integer_parameters(v: Lazy) -> bool:
    """An integer expression of the program's integer parameters only (``npt + 1``): passed on as an
    expression, so that a callee using it as a size (``np.zeros(bins)``) makes them size symbols,
    as using it directly would (scalar parameters are never written, so it cannot change)."""
    leaves = {lf.data for lf in v.leaves.values()}
    return len(v.shape) == 0 and v.dtype.is_integer and bool(leaves) and leaves <= SCALAR_PARAMS.get()


def inline_call(lw: Lowering, prog: Any, args: list[Value], kwargs: dict[str, Value], node: ast.AST) -> Value:
    from .parser import annotations_of, closure_vars, param_nodes, split_return
    from .statements import lower_body

    func = prog.func
    fname = getattr(func, "__name__", "program")
    if any(f.func is func for f in lw.frames):
        raise LoweringError(f"{fname}() calls itself; recursive programs are not supported")
    source = single_return(structured_exits(Source.of(func)))
    names = [p.arg for p in param_nodes(source)]
    anns = annotations_of(func)
    bound, sym_kwargs = _bind(lw, fname, names, inspect.signature(func), args, kwargs, anns)
    subs: dict[str, Any] = {}
    for k, v in sym_kwargs.items():
        if not isinstance(v, (Sym, Const)):
            raise LoweringError(f"{fname}() got the keyword {k!r}, which is neither a parameter nor a size "
                                "symbol value")
        subs[k] = v.expr if isinstance(v, Sym) else sympy.Integer(int(v.value))
    env: dict[str, Value] = {}
    for n in names:
        v = bound[n]
        ann = anns.get(n)
        if isinstance(ann, ArrayType):
            _match_shape(fname, n, ann, v, subs)
        elif ann is not None and as_dtype(ann) is not None:
            dt = as_dtype(ann)
            if not is_arraylike(v) or len(v.shape) != 0:
                raise LoweringError(f"argument {n!r} of {fname}() must be a {dt.name} scalar, not {describe(v)}")
            if isinstance(v, Const):
                v = ew.cast(v, dt)
            elif v.dtype != dt and not (isinstance(v, Sym) and dt.is_integer):
                v = ew.cast(v, dt)
        if isinstance(v, Lazy) and not _of_integer_parameters(v):
            v = materialize(lw, v, n)
        if isinstance(v, PyValue) and v.obj is not None:
            raise LoweringError(f"argument {n!r} of {fname}() cannot be {describe(v)}")
        env[n] = v
    frame = Frame(source, func, getattr(func, "__globals__", {}), closure_vars(func), env, subs)
    lw.frames.append(frame)
    try:
        body, ret = split_return(source, source.tree.body)
        lower_body(lw, body)
        if ret is None or ret.value is None:
            return PyValue(None)
        result = evaluate(lw, ret.value)
        with located(lw, ret.value):
            if isinstance(result, Ref) and result.ndim == 0:
                result = materialize(lw, result, "ret")
        return result
    finally:
        lw.frames.pop()


__all__ = ["inline_call"]
