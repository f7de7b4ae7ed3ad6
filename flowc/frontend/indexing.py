"""Indexing: integers, slices, new axes, ``...``, boolean masks and integer-array gathers.

Basic indexing (integers, slices with any step and negative bounds,
``None``/``np.newaxis``, ``...``) makes a view, as in NumPy: a new ``Ref`` on
the same container whose axes are rescaled and shifted, and whose
integer-indexed dimensions are fixed. Nothing is copied; assignment through
such a Ref writes the original container.

Advanced indexing reads with data-dependent indices. A gather ``x[idx]``
becomes a lazy expression whose leaf is the *whole* container of ``x``
(``Leaf.block``), indexed inside the tasklet with the tasklet language's
subscript (``x[idx_element, j]``): the memlet still says which container can
be touched, the index is computed per element. A boolean mask is supported
as an assignment target (``a[a > 0] = 0`` is ``a = where(a > 0, 0, a)``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional

import sympy

from flowc.ir import expr as tl

from . import elementwise as ew
from . import types as T
from .context import Lowering
from .errors import LoweringError
from .values import (
    ScalarParameterAsSymbol,
    scalar_parameter,
    Axis,
    Const,
    Lazy,
    Leaf,
    PyValue,
    Ref,
    Sym,
    TupleValue,
    Value,
    describe,
    is_arraylike,
    placeholder,
    placeholder_name,
    sym_value,
)


@dataclass(frozen=True)
class IndexItem:
    kind: str                    # "int", "slice", "newaxis", "ellipsis", "dynamic", "array"
    value: Any = None            # int: Const/Sym; dynamic/array: a value
    start: Any = None
    stop: Any = None
    step: Any = None


def evaluate_index(lw: Lowering, node: ast.AST) -> list[IndexItem]:
    from .expressions import evaluate, located

    elts = node.elts if isinstance(node, ast.Tuple) else [node]
    items: list[IndexItem] = []
    for e in elts:
        if isinstance(e, ast.Slice):
            parts = [None if p is None else evaluate(lw, p) for p in (e.lower, e.upper, e.step)]
            parts = [None if isinstance(p, PyValue) and p.obj is None else p for p in parts]
            items.append(IndexItem("slice", None, *parts))
            continue
        v = evaluate(lw, e)
        with located(lw, e):
            items.extend(classify(v))
    return items


def assignment_target(lw: Lowering, target: ast.expr, hint: str) -> tuple[Ref, list[IndexItem]]:
    """The array and the index items of an element assignment ``a[...] = v`` in element code
    (a map body); anything but a subscript of an array is refused with ``hint``."""
    from .expressions import evaluate

    if not isinstance(target, ast.Subscript):
        raise LoweringError("inside flowc.map, assign to names or array elements", hint)
    base = evaluate(lw, target.value)
    if not isinstance(base, Ref):
        raise LoweringError(f"cannot assign into {describe(base)}", hint)
    return base, evaluate_index(lw, target.slice)


def classify(v: Value) -> list[IndexItem]:
    if isinstance(v, TupleValue):
        out: list[IndexItem] = []
        for it in v.items:
            out.extend(classify(it))
        return out
    if isinstance(v, PyValue):
        if v.obj is None:
            return [IndexItem("newaxis")]
        if v.obj is Ellipsis:
            return [IndexItem("ellipsis")]
        if isinstance(v.obj, slice):
            return [IndexItem("slice", None, *(None if p is None else Const(p, ew.INT64, True)
                                                for p in (v.obj.start, v.obj.stop, v.obj.step)))]
    if isinstance(v, Const) and v.dtype.kind == "b":
        raise LoweringError("indexing with a boolean scalar is not supported")
    if isinstance(v, (Const, Sym)):
        if isinstance(v, Const) and not v.dtype.is_integer:
            raise LoweringError(f"an index must be an integer, not {describe(v)}")
        return [IndexItem("int", v)]
    param = scalar_parameter(v)
    if param is not None:
        raise ScalarParameterAsSymbol(param)
    if isinstance(v, (Ref, Lazy)):
        if not (v.dtype.is_integer or v.dtype.kind == "b"):
            raise LoweringError(f"arrays used as indices must be integer or boolean, not {v.dtype.name}")
        if len(v.shape) == 0:
            if v.dtype.kind == "b":
                raise LoweringError("indexing with a boolean scalar is not supported")
            return [IndexItem("dynamic", v)]
        return [IndexItem("array", v)]
    raise LoweringError(f"{describe(v)} cannot be used as an index",
                        "integers, slices, None/np.newaxis, ..., integer arrays and boolean masks")


def _expand_ellipsis(items: list[IndexItem], ndim: int) -> list[IndexItem]:
    consumed = sum(1 for it in items if it.kind in ("int", "slice", "dynamic", "array"))
    n_ell = sum(1 for it in items if it.kind == "ellipsis")
    if n_ell > 1:
        raise LoweringError("an index can only have a single ellipsis ('...')")
    if consumed > ndim:
        raise LoweringError(f"too many indices for an array of dimension {ndim}: {consumed} given")
    fill = [IndexItem("slice")] * (ndim - consumed)
    if n_ell:
        i = next(k for k, it in enumerate(items) if it.kind == "ellipsis")
        return items[:i] + fill + items[i + 1:]
    return items + fill


#: records a condition ``expr >= 0`` that the runtime checks on every call (``Lowering.require``)
Require = Callable[[Any, str], None]


def _norm_index(i: Any, n: Any, require: Optional[Require] = None) -> Any:
    """A possibly negative compile-time index made non-negative. On a symbolic axis the index
    must lie inside it: that becomes a requirement the runtime checks."""
    e = sym_value(i, "an index")
    given = e
    if e.is_number and e < 0:
        e = n + e
        if sympy.sympify(n).is_number and e < 0:
            raise LoweringError(f"index {i.expr if isinstance(i, Sym) else i.value} is out of bounds for size {n}")
    elif e.is_number and sympy.sympify(n).is_number and e >= n:
        raise LoweringError(f"index {e} is out of bounds for axis of size {n}")
    if require is not None:
        why = f"index {given} on an axis of size {n}"
        require(e, why)
        require(n - 1 - e, why)
    return e


def slice_axis(n: Any, start: Any, stop: Any, step: Any,
               require: Optional[Require] = None) -> tuple[Any, Any, Any]:
    """(first, step, length) of ``[start:stop:step]`` on an axis of size ``n``. Python clamps
    bounds to the axis; on a symbolic axis flowc cannot, so the bounds must lie inside it and
    the slice must not run backwards: requirements the runtime checks on every call."""
    st = 1 if step is None else int(sym_value(step, "a slice step")) if sym_value(step, "a slice step").is_number \
        else None
    if st is None:
        raise LoweringError("slice steps must be compile-time integers")
    if st == 0:
        raise LoweringError("slice step cannot be zero")
    n = sympy.sympify(n)
    b = [None if v is None else sym_value(v, "a slice bound") for v in (start, stop)]
    if n.is_number and all(v is None or v.is_number for v in b):
        first, last, stp = slice(*(None if v is None else int(v) for v in b), st).indices(int(n))
        length = len(range(first, last, stp))
        return sympy.Integer(first), sympy.Integer(stp), sympy.Integer(length)

    def wrap(v: Any) -> Any:
        return n + v if v.is_number and v < 0 else v

    text = ":".join("" if v is None else str(v) for v in b) + ("" if st == 1 else f":{st}")
    why = f"the slice [{text}] of an axis of size {n}"
    check = require or (lambda expr, why: None)
    if st > 0:
        first = sympy.Integer(0) if b[0] is None else wrap(b[0])
        last = n if b[1] is None else wrap(b[1])
        if (last - n).is_number and last - n > 0:
            last = n
        check(first, why)
        check(n - last, why)
        check(last - first, why)
        length = last - first if st == 1 else sympy.ceiling((last - first) / st)
    else:
        first = n - 1 if b[0] is None else wrap(b[0])
        last = sympy.Integer(-1) if b[1] is None else wrap(b[1])
        check(n - 1 - first, why)
        check(last + 1, why)
        check(first - last, why)
        length = sympy.ceiling((last - first) / st)
    length = sympy.simplify(length)
    if length.is_number and length < 0:
        length = sympy.Integer(0)
    return sympy.sympify(first), sympy.Integer(st), length


def basic(ref: Ref, items: list[IndexItem], require: Optional[Require] = None) -> Ref:
    """Apply basic indexing (no dynamic or array items) to a Ref: a view. ``require``
    receives the conditions a symbolic axis must meet (see ``slice_axis``)."""
    items = _expand_ellipsis(items, ref.ndim)
    fixed = list(ref.fixed)
    axes: list[Axis] = []
    k = 0
    for it in items:
        if it.kind == "newaxis":
            axes.append(Axis(None, sympy.Integer(0), sympy.Integer(1), sympy.Integer(1)))
            continue
        a = ref.axes[k]
        k += 1
        if it.kind == "int":
            i = _norm_index(it.value, a.size, require)
            if a.src is not None:
                fixed[a.src] = sympy.expand(a.start + a.step * i)
        elif it.kind == "slice":
            first, step, length = slice_axis(a.size, it.start, it.stop, it.step, require)
            if a.src is None:
                axes.append(Axis(None, sympy.Integer(0), sympy.Integer(1), length))
            else:
                axes.append(Axis(a.src, sympy.expand(a.start + a.step * first), sympy.expand(a.step * step),
                                 length))
        else:
            raise LoweringError(f"internal: {it.kind} index in basic indexing")
    return Ref(ref.data, ref.dtype, tuple(axes), tuple(fixed))


def getitem(lw: Lowering, value: Value, items: list[IndexItem]) -> Value:
    """``value[items]`` for reading."""
    from .emit import materialize

    if isinstance(value, (Const, Sym)):
        raise LoweringError(f"{describe(value)} cannot be indexed")
    if isinstance(value, Lazy):
        value = materialize(lw, value, "tmp")
    assert isinstance(value, Ref)
    if any(it.kind == "array" and it.value.dtype.kind == "b" for it in items):
        raise LoweringError("reading with a boolean mask gives a data-dependent shape, which flowc does not support",
                            "np.where(mask, x, other), or mask assignment x[mask] = value")
    if any(it.kind in ("dynamic", "array") for it in items):
        return gather(lw, value, items)
    view = basic(value, items, lw.require)
    if view.ndim == 0 and any(it.kind == "ellipsis" for it in items):
        # x[..., 0] is a 0-d array (a view of the element), not a scalar as x[0] is: in-place
        # writes to x show through it
        view = replace(view, array0d=True)
    return view


def gather(lw: Lowering, ref: Ref, items: list[IndexItem]) -> Lazy:
    """Advanced (integer-array / data-dependent) indexing as a lazy tasklet subscript."""
    items = _expand_ellipsis(items, ref.ndim)
    adv = [k for k, it in enumerate(items) if it.kind in ("dynamic", "array")]
    if any(items[k].kind == "newaxis" for k in range(adv[0], adv[-1] + 1)) or \
            adv != list(range(adv[0], adv[-1] + 1)):
        raise LoweringError("advanced indices separated by slices or new axes are not supported",
                            "one integer-array index, or several adjacent ones")
    idx_shape = T.broadcast_shapes(*(tuple(items[k].value.shape) for k in adv))
    n_before = sum(1 for it in items[:adv[0]] if it.kind in ("slice", "newaxis"))
    after_items = items[adv[-1] + 1:]
    n_after = sum(1 for it in after_items if it.kind in ("slice", "newaxis"))
    out_rank = n_before + len(idx_shape) + n_after
    # index lazies live in the output's dimensions n_before .. n_before+len(idx_shape)
    idx_lazies = []
    for k in adv:
        lz = ew.broadcast_to(ew.as_lazy(items[k].value), idx_shape)
        lz = _shift(lz, n_before, out_rank)
        idx_lazies.append(lz)
    out_shape: list[Any] = []
    container_idx: list[Optional[tl.Node]] = [None] * len(ref.fixed)
    for d, f in enumerate(ref.fixed):
        if f is not None:
            container_idx[d] = T.sym_to_tl(f)
    pos = 0
    ai = 0
    adv_i = 0
    for k, it in enumerate(items):
        if k == adv[0]:
            out_shape.extend(idx_shape)
            pos += len(idx_shape)
        if it.kind == "newaxis":
            if k < adv[0] or k > adv[-1]:
                out_shape.append(sympy.Integer(1))
                pos += 1
            continue
        a = ref.axes[ai]
        ai += 1
        if it.kind in ("dynamic", "array"):
            lz = idx_lazies[adv_i]
            adv_i += 1
            node = T.cast_to(lz.node, lz.dtype, ew.INT64)
            node = tl.Call("where", (tl.BinOp("<", node, tl.Const(0, "int64")),
                                     tl.BinOp("+", node, T.sym_to_tl(a.size)), node))
            if a.src is not None:
                container_idx[a.src] = _affine(a.start, a.step, node)
        elif it.kind == "int":
            i = _norm_index(it.value, a.size, lw.require)
            if a.src is not None:
                container_idx[a.src] = T.sym_to_tl(sympy.expand(a.start + a.step * i))
        else:
            first, step, length = slice_axis(a.size, it.start, it.stop, it.step, lw.require)
            out_shape.append(length)
            if a.src is not None:
                container_idx[a.src] = _affine(sympy.expand(a.start + a.step * first), sympy.expand(a.step * step),
                                               tl.Name(placeholder_name(pos)))
            pos += 1
    conn = ew.new_conn()
    desc = lw.desc(ref.data)
    indices = tuple(n if n is not None else tl.Const(0, "int64") for n in container_idx)
    node = tl.Subscript(conn, indices)
    base = Lazy(tuple(out_shape), ref.dtype, node, {conn: Leaf(ref.data, tuple(sympy.Integer(0)
                                                                            for _ in desc.shape), True)})
    return ew.make(tuple(out_shape), ref.dtype, node, [base, *idx_lazies])


def _affine(start: Any, step: Any, node: tl.Node) -> tl.Node:
    start, step = sympy.sympify(start), sympy.sympify(step)
    out = node if step == 1 else tl.BinOp("*", T.sym_to_tl(step), node)
    return out if start == 0 else tl.BinOp("+", T.sym_to_tl(start), out)


def _shift(lz: Lazy, offset: int, rank: int) -> Lazy:
    """Renumber a lazy expression's output dimensions by ``offset`` (inside a result of ``rank``)."""
    if offset == 0:
        return lz
    sym_map = {placeholder(k): placeholder(k + offset) for k in range(lz.ndim)}
    name_map = {placeholder_name(k): tl.Name(placeholder_name(k + offset)) for k in range(lz.ndim)}
    leaves = {c: Leaf(lf.data, tuple(sympy.sympify(e).xreplace(sym_map) for e in lf.index), lf.block)
              for c, lf in lz.leaves.items()}
    return Lazy(lz.shape, lz.dtype, tl.substitute(lz.node, name_map), leaves, lz.weak)


def setitem(lw: Lowering, target: Value, items: list[IndexItem], value: Value,
            aug: Optional[str] = None) -> None:
    """``target[items] = value`` (or ``target[items] op= value`` with ``aug`` the ufunc name)."""
    from .emit import store

    if not isinstance(target, Ref):
        raise LoweringError(f"cannot assign into {describe(target)}",
                            "assign into arrays (arguments, or arrays created in the program)")
    if not is_arraylike(value):
        raise LoweringError(f"cannot assign {describe(value)} into an array")
    masks = [it for it in items if it.kind == "array" and it.value.dtype.kind == "b"]
    if masks:
        if len(items) != 1:
            raise LoweringError("a boolean mask must be the only index in an assignment", "x[mask] = value")
        mask = masks[0].value
        if len(mask.shape) != target.ndim or not all(T.must_match(a, b) for a, b in zip(mask.shape, target.shape)):
            raise LoweringError(f"the mask's shape {T.fmt_shape(mask.shape)} differs from the array's "
                                f"{T.fmt_shape(target.shape)}")
        if isinstance(value, (Ref, Lazy)) and len(value.shape) != 0:
            raise LoweringError("assigning an array through a boolean mask is not supported",
                                "x[mask] = scalar, or x[:] = np.where(mask, values, x)")
        new = ew.ufunc(aug, [target, value]) if aug else value
        ew.check_stored_int(new, target.dtype, "assignment")
        # select in the target's dtype (the value cast first, as NumPy's setitem casts it): a select
        # in the promoted dtype would round the elements the mask keeps (int64 through float64)
        new = ew.cast(_same_kind(new, target.dtype), target.dtype)
        store(lw, ew.where(mask, new, target), target, name="mask_assign")
        return
    if any(it.kind in ("dynamic", "array") for it in items):
        if any(it.kind == "array" for it in items):
            raise LoweringError("assignment through an integer-array index (scatter) is not supported",
                                "a loop over the indices writing one element at a time (out[idx[i]] = v[i]), "
                                "integer and slice indices, or a boolean mask")
        if len(_expand_ellipsis(items, target.ndim)) != target.ndim or \
                not all(it.kind in ("int", "dynamic") for it in items) or (is_arraylike(value) and value.shape):
            raise LoweringError("assignment at a data-dependent index writes one element here: one integer "
                                "index per dimension and a scalar value", "out[k] = v, out[i, k] += v")
        scatter_element(lw, target, items, value, aug)
        return
    sub = basic(target, items, lw.require)
    new = ew.ufunc(aug, [sub, value]) if aug else value
    if aug and _is_element(target, items):
        # ``w[i] += v`` is ``w[i] = w[i] + v``: one integer per axis gives a NumPy scalar, and the
        # sum is written back with an ordinary (unsafe) cast, float to int truncating toward zero
        store(lw, _real_into(new, sub.dtype), sub, name="assign")
        return
    if aug:
        store(lw, _same_kind(new, sub.dtype), sub, name="assign")
    else:
        ew.check_stored_int(new, sub.dtype, "assignment")
        store(lw, ew.drop_leading_ones(new, sub.ndim), sub, name="assign")


def scatter_element(lw: Lowering, target: Ref, items: list[IndexItem], value: Value, aug: Optional[str]) -> None:
    """``x[k] = v`` and ``x[k] op= v`` with ``k`` computed from data (a histogram's
    ``counts[bin] += 1``): one element, written by a tasklet that stores through an array
    connector. The index follows NumPy (negative counts from the end; out of bounds is an
    IndexError); the value is cast as NumPy casts a scalar assigned to one element."""
    from .emit import store_element

    current = gather(lw, target, items)          # the element as read: the same index nodes
    new = ew.ufunc(aug, [current, value]) if aug else value
    if not aug:
        ew.check_stored_int(new, target.dtype, "assignment")
    both, indices = element_store(current, new, target.dtype)
    store_element(lw, both, indices, target.data)


def element_store(element: Lazy, value: Value, dtype: Any) -> tuple[Lazy, tuple[tl.Node, ...]]:
    """What a store into one element read by ``element`` (a gather's ``x[k]``) needs: ``value``
    cast to the array's ``dtype`` as one lazy expression that also carries the index
    connectors, and the index nodes. Complex into a real array is refused (``_real_into``)."""
    assert isinstance(element.node, tl.Subscript)
    lz = ew.as_lazy(_real_into(value, dtype))
    return ew.make((), dtype, T.cast_to(lz.node, lz.dtype, dtype), [lz, element]), element.node.indices


def _is_element(target: Ref, items: list[IndexItem]) -> bool:
    """Whether ``target[items]`` is one element read as a NumPy scalar (an integer for every
    axis, no slice, ``...`` or ``None``); anything else is a view, updated in place by a ufunc."""
    return len(items) == target.ndim and all(it.kind == "int" for it in items)


def _real_into(value: Value, dtype: Any) -> Value:
    """The cast of a scalar written into one element; complex into a real element is refused
    (NumPy drops the imaginary part with a ComplexWarning)."""
    if is_arraylike(value) and value.dtype.kind == "c" and dtype.kind != "c":
        raise LoweringError(f"writing the complex result of an in-place operation into a {dtype.name} "
                            "element would drop its imaginary part", "a complex array, or a real right-hand side")
    return value


def _same_kind(value: Value, dtype: Any) -> Value:
    """NumPy's ``same_kind`` casting rule of in-place operations on arrays and views (slices,
    masks, whole arrays); one element assigned with ``x[i] op= v`` is cast as by ``x[i] = ...``."""
    if is_arraylike(value) and not getattr(value, "weak", False) and not T.can_cast(value.dtype, dtype):
        raise LoweringError(f"cannot cast the {value.dtype.name} result of an in-place operation to "
                            f"{dtype.name} (NumPy's same_kind rule)", "an explicit .astype() on the right")
    return value
