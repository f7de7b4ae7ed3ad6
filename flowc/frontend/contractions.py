"""Contractions: ``@``/matmul, dot, tensordot and einsum, all lowered to ``ir.MatMul``.

MatMul works on whole containers with any number of (broadcast) batch
dimensions, so each contraction is brought into the form
``C[batch..., M, N] = A[batch..., M, K] @ B[batch..., K, N]``: operands are
transposed (a view) so that free dimensions come before contracted ones,
then reshaped (a view when the layout allows, else a copy) to merge several
free or contracted dimensions into one. 1-D operands get a size-1 axis (a
view), which is dropped from the result. The GEMM is a BLAS call when the
dtypes and layouts allow (``implementation="blas"``), else MatMul is expanded
into maps (``"pure"``).
"""

from __future__ import annotations

import string
from typing import Any

import sympy

from flowc.ir.library import MatMul, gemm_unsupported

from . import elementwise as ew
from . import types as T
from .context import Lowering
from .emit import as_ref, library
from .errors import LoweringError
from .indexing import IndexItem, basic
from .registry import Args, function, method
from .shapes import reshape, transpose
from .values import Const, PyValue, Ref, Sym, TupleValue, Value, describe, is_arraylike, static_int


def _operand(lw: Lowering, v: Value, dt: Any, what: str) -> Ref:
    if not is_arraylike(v) or len(v.shape) == 0:
        raise LoweringError(f"{what}: operands must be arrays with at least one dimension, not {describe(v)}",
                            "use * to multiply by a scalar")
    if v.dtype != dt:
        v = ew.cast(v, dt)
    return as_ref(lw, v, "mm_in")


def matmul(lw: Lowering, a: Value, b: Value) -> Value:
    """``a @ b`` with NumPy's matmul semantics."""
    if not is_arraylike(a) or not is_arraylike(b) or len(a.shape) == 0 or len(b.shape) == 0:
        bad = a if not is_arraylike(a) or len(a.shape) == 0 else b
        raise LoweringError(f"matmul: operands must be arrays with at least one dimension, not {describe(bad)}",
                            "use * to multiply by a scalar")
    dt, _ = T.promote([(a.dtype, False), (b.dtype, False)])
    if dt.kind == "b":
        # NumPy's bool matmul is an OR of ANDs: a count of true products (in int64, which cannot
        # overflow) compared with 0
        count = matmul(lw, ew.cast(a, ew.INT64), ew.cast(b, ew.INT64))
        return ew.ufunc("not_equal", [count, Const(0, ew.INT64, True)])
    if lw.uses_bound(*a.shape, *b.shape):
        return _matmul_by_map(lw, a, b, dt)
    A = _operand(lw, a, dt, "matmul")
    B = _operand(lw, b, dt, "matmul")
    a1, b1 = A.ndim == 1, B.ndim == 1
    if a1:
        A = basic(A, [IndexItem("newaxis"), IndexItem("slice")])
    if b1:
        B = basic(B, [IndexItem("slice"), IndexItem("newaxis")])
    if not T.must_match(A.shape[-1], B.shape[-2]):
        raise LoweringError(f"matmul: the contracted dimensions differ ({A.shape[-1]} vs {B.shape[-2]}) for "
                            f"shapes {T.fmt_shape(a.shape)} and {T.fmt_shape(b.shape)}")
    batch = T.broadcast_shapes(A.shape[:-2], B.shape[:-2])
    C = lw.temp(tuple(batch) + (A.shape[-2], B.shape[-1]), dt, "matmul")
    a_name = lw.container(A, blas=True)
    b_name = lw.container(B, blas=True)
    node = MatMul("matmul")
    library(lw, node, {"_a": a_name, "_b": b_name}, {"_c": C.data})
    # "pure" when no target's GEMM library can take it; otherwise LibraryExpansion decides per target
    # (a float16 GEMM is a cuBLAS call on the GPU and maps on the CPU)
    if all(gemm_unsupported(lw.program, lw.sc.state, node, t) is not None for t in ("cpu", "cuda")):
        node.implementation = "pure"
    if not (a1 or b1):
        return C
    axes = list(C.axes)
    fixed = list(C.fixed)
    nd = C.ndim
    drop = ([nd - 2] if a1 else []) + ([nd - 1] if b1 else [])
    for d in drop:
        fixed[d] = sympy.Integer(0)
    return Ref(C.data, C.dtype, tuple(x for k, x in enumerate(axes) if k not in drop), tuple(fixed))


def _matmul_by_map(lw: Lowering, a: Value, b: Value, dt: Any) -> Value:
    """``a @ b`` for operands whose sizes depend on a loop variable (``A[i, :i] @ x[:i]``): the
    products ``A[..., m, k] * B[..., k, n]`` summed over ``k`` by a map with write-conflict
    resolution, since no container can hold such an operand."""
    from .reductions import reduce
    from .shapes import expand_dims, squeeze, swapaxes

    A = ew.cast(a, dt) if a.dtype != dt else a
    B = ew.cast(b, dt) if b.dtype != dt else b
    a1, b1 = len(A.shape) == 1, len(B.shape) == 1
    if a1:
        A = expand_dims(lw, A, Const(0, ew.INT64, True))
    if b1:
        B = expand_dims(lw, B, Const(1, ew.INT64, True))
    if not T.must_match(A.shape[-1], B.shape[-2]):
        raise LoweringError(f"matmul: the contracted dimensions differ ({A.shape[-1]} vs {B.shape[-2]})")
    left = expand_dims(lw, A, Const(-2, ew.INT64, True))                       # [..., M, 1, K]
    right = expand_dims(lw, swapaxes(lw, B, Const(-1, ew.INT64, True), Const(-2, ew.INT64, True)),
                        Const(-3, ew.INT64, True))                             # [..., 1, N, K]
    out = reduce(lw, "sum", ew.ufunc("multiply", [left, right]), Const(-1, ew.INT64, True), False, dtype=dt)
    drop = ([-2] if a1 else []) + ([-1] if b1 else [])
    if drop:
        nd = len(out.shape)
        out = squeeze(lw, out, TupleValue(tuple(Const(nd + d, ew.INT64, True) for d in drop)))
    return out


@function("np.matmul")
def _np_matmul(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
    a = Args("np.matmul", args, kwargs, ["x1", "x2"], {"out": None})
    from .numpy_functions import finish

    return finish(lw, matmul(lw, a["x1"], a["x2"]), a)


def dot(lw: Lowering, a: Value, b: Value) -> Value:
    if not is_arraylike(a) or not is_arraylike(b):
        raise LoweringError("np.dot needs arrays or numbers")
    na, nb = len(a.shape), len(b.shape)
    if na == 0 or nb == 0:
        # np.dot converts its operands to arrays: a Python number is a float64/int64 array, not weak
        a, b = (Const(v.value, v.dtype, False) if isinstance(v, Const) and v.weak else v for v in (a, b))
        return ew.ufunc("multiply", [a, b])
    if nb == 1 or (na <= 2 and nb == 2):
        return matmul(lw, a, b)
    return tensordot(lw, a, b, [na - 1], [nb - 2])


@function("np.dot")
def _np_dot(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
    a = Args("np.dot", args, kwargs, ["a", "b"], {"out": None})
    from .numpy_functions import finish

    return finish(lw, dot(lw, a["a"], a["b"]), a)


@method("ndarray.dot")
def _m_dot(lw: Lowering, self: Value, args: list[Value], kwargs: dict[str, Value]) -> Value:
    a = Args("ndarray.dot", args, kwargs, ["b"])
    return dot(lw, self, a["b"])


def _prod(shape: list[Any]) -> Any:
    return sympy.Mul(*shape) if shape else sympy.Integer(1)


def tensordot(lw: Lowering, a: Value, b: Value, a_axes: list[int], b_axes: list[int]) -> Value:
    na, nb = len(a.shape), len(b.shape)
    a_axes = [x % na if -na <= x < na else _bad_axis(x, na) for x in a_axes]
    b_axes = [x % nb if -nb <= x < nb else _bad_axis(x, nb) for x in b_axes]
    if len(a_axes) != len(b_axes):
        raise LoweringError("tensordot: the two axis lists must have the same length")
    for x, y in zip(a_axes, b_axes):
        if not T.must_match(a.shape[x], b.shape[y]):
            raise LoweringError(f"tensordot: shape mismatch for sum ({a.shape[x]} vs {b.shape[y]})")
    a_free = [d for d in range(na) if d not in a_axes]
    b_free = [d for d in range(nb) if d not in b_axes]
    dt, _ = T.promote([(a.dtype, False), (b.dtype, False)])
    A = transpose(lw, _operand(lw, a, dt, "tensordot"), a_free + a_axes)
    B = transpose(lw, _operand(lw, b, dt, "tensordot"), b_axes + b_free)
    m = _prod([a.shape[d] for d in a_free])
    k = _prod([a.shape[d] for d in a_axes])
    n = _prod([b.shape[d] for d in b_free])
    A2 = reshape(lw, A, TupleValue((Sym(m), Sym(k))))
    B2 = reshape(lw, B, TupleValue((Sym(k), Sym(n))))
    C = matmul(lw, A2, B2)
    out_shape = [a.shape[d] for d in a_free] + [b.shape[d] for d in b_free]
    return reshape(lw, C, TupleValue(tuple(Sym(sympy.sympify(s)) for s in out_shape)))


def _bad_axis(x: int, n: int) -> int:
    raise LoweringError(f"axis {x} is out of bounds for an array of dimension {n}")


def _axis_list(v: Value) -> list[int]:
    if isinstance(v, TupleValue):
        return [static_int(x, "an axis") for x in v.items]
    return [static_int(v, "an axis")]


@function("np.tensordot")
def _np_tensordot(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
    a = Args("np.tensordot", args, kwargs, ["a", "b"], {"axes": Const(2, ew.INT64, True)})
    x, y, axes = a["a"], a["b"], a["axes"]
    if not is_arraylike(x) or not is_arraylike(y):
        raise LoweringError("np.tensordot needs two arrays")
    if isinstance(axes, TupleValue):
        if len(axes.items) != 2:
            raise LoweringError("tensordot axes must be an int or a pair of axis lists")
        return tensordot(lw, x, y, _axis_list(axes.items[0]), _axis_list(axes.items[1]))
    n = static_int(axes, "tensordot axes")
    na = len(x.shape)
    return tensordot(lw, x, y, list(range(na - n, na)), list(range(n)))


# ---------------------------------------------------------------- einsum

def _parse_einsum(spec: str, ranks: list[int]) -> tuple[list[str], str]:
    spec = spec.replace(" ", "")
    if "->" in spec:
        lhs, out = spec.split("->")
        explicit = True
    else:
        lhs, out, explicit = spec, "", False
    ins = lhs.split(",")
    if len(ins) != len(ranks):
        raise LoweringError(f"einsum: {len(ins)} operand(s) in the subscripts, {len(ranks)} given")
    used = set(c for c in spec if c.isalpha())
    pool = [c for c in string.ascii_uppercase + string.ascii_lowercase if c not in used]
    ell_rank = 0
    for s, r in zip(ins, ranks):
        if "..." in s:
            ell_rank = max(ell_rank, r - (len(s) - 3))
    ell = "".join(pool[:ell_rank])
    fixed_ins = []
    for s, r in zip(ins, ranks):
        if "..." in s:
            n = r - (len(s) - 3)
            s = s.replace("...", ell[ell_rank - n:] if n > 0 else "")
        if not all(c.isalpha() for c in s):
            raise LoweringError(f"einsum: invalid subscripts {s!r}", "letters, ',' and '->' (and '...')")
        if len(s) != r:
            raise LoweringError(f"einsum: the subscripts {s!r} do not match an operand of rank {r}")
        if len(set(s)) != len(s):
            raise LoweringError(f"einsum: repeated index in {s!r} (a diagonal or trace) is not supported",
                                "contractions where each index appears once per operand")
        fixed_ins.append(s)
    if explicit:
        out = out.replace("...", ell)
    else:
        letters = "".join(fixed_ins)
        out = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ell))
    if len(set(out)) != len(out) or any(c not in "".join(fixed_ins) for c in out):
        raise LoweringError(f"einsum: invalid output subscripts {out!r}")
    return fixed_ins, out


def _sum_out(lw: Lowering, v: Value, letters: str, keep: set[str]) -> tuple[Value, str]:
    drop = [k for k, c in enumerate(letters) if c not in keep]
    if not drop:
        return v, letters
    from .reductions import reduce

    r = reduce(lw, "sum", v, TupleValue(tuple(Const(k, ew.INT64, True) for k in drop)), False,
               dtype=v.dtype)
    return r, "".join(c for c in letters if c in keep)


def _pair(lw: Lowering, a: Value, la: str, b: Value, lb: str, keep: set[str]) -> tuple[Value, str]:
    a, la = _sum_out(lw, a, la, keep | set(lb))
    b, lb = _sum_out(lw, b, lb, keep | set(la))
    batch = [c for c in la if c in lb and c in keep]
    contracted = [c for c in la if c in lb and c not in keep]
    a_free = [c for c in la if c not in lb]
    b_free = [c for c in lb if c not in la]
    size = {c: a.shape[k] for k, c in enumerate(la)}
    size.update({c: b.shape[k] for k, c in enumerate(lb)})
    for c in set(la) & set(lb):
        if not T.must_match(a.shape[la.index(c)], b.shape[lb.index(c)]):
            raise LoweringError(f"einsum: index {c!r} has sizes {a.shape[la.index(c)]} and "
                                f"{b.shape[lb.index(c)]}")
    result = batch + a_free + b_free
    if not contracted:
        from .shapes import expand_dims

        A = transpose(lw, a, [la.index(c) for c in batch + a_free]) if la else a
        B = transpose(lw, b, [lb.index(c) for c in batch + b_free]) if lb else b
        if b_free:
            A = expand_dims(lw, A, TupleValue(tuple(Const(len(batch) + len(a_free) + i, ew.INT64, True)
                                                    for i in range(len(b_free)))))
        if a_free:
            B = expand_dims(lw, B, TupleValue(tuple(Const(len(batch) + i, ew.INT64, True)
                                                    for i in range(len(a_free)))))
        return ew.ufunc("multiply", [A, B]), "".join(result)
    dt, _ = T.promote([(a.dtype, False), (b.dtype, False)])
    A = transpose(lw, _operand(lw, a, dt, "einsum"), [la.index(c) for c in batch + a_free + contracted])
    B = transpose(lw, _operand(lw, b, dt, "einsum"), [lb.index(c) for c in batch + contracted + b_free])
    bshape = [size[c] for c in batch]
    m, k, n = (_prod([size[c] for c in g]) for g in (a_free, contracted, b_free))
    A2 = reshape(lw, A, TupleValue(tuple(Sym(sympy.sympify(s)) for s in bshape + [m, k])))
    B2 = reshape(lw, B, TupleValue(tuple(Sym(sympy.sympify(s)) for s in bshape + [k, n])))
    C = matmul(lw, A2, B2)
    out_shape = bshape + [size[c] for c in a_free] + [size[c] for c in b_free]
    return reshape(lw, C, TupleValue(tuple(Sym(sympy.sympify(s)) for s in out_shape))), "".join(result)


def einsum(lw: Lowering, spec: str, operands: list[Value]) -> Value:
    for v in operands:
        if not is_arraylike(v):
            raise LoweringError(f"einsum operands must be arrays, not {describe(v)}")
    ins, out = _parse_einsum(spec, [len(v.shape) for v in operands])
    cur, lc = operands[0], ins[0]
    if len(operands) == 1:
        cur, lc = _sum_out(lw, cur, lc, set(out))
    for i in range(1, len(operands)):
        later = set(out).union(*(set(s) for s in ins[i + 1:]))
        cur, lc = _pair(lw, cur, lc, operands[i], ins[i], later)
    if lc == out:
        return cur
    return transpose(lw, cur, [lc.index(c) for c in out])


@function("np.einsum")
def _np_einsum(lw: Lowering, args: list[Value], kwargs: dict[str, Value]) -> Value:
    if not args or not isinstance(args[0], PyValue) or not isinstance(args[0].obj, str):
        raise LoweringError("np.einsum needs the subscripts string first", "np.einsum('ij,jk->ik', a, b)")
    for k in kwargs:
        if k not in ("optimize",):
            raise LoweringError(f"np.einsum(..., {k}=) is not supported")
    return einsum(lw, args[0].obj, list(args[1:]))


__all__ = ["matmul", "dot", "tensordot", "einsum"]
