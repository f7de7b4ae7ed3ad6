"""Data descriptors: what a named container holds and where it lives.

An ``Array`` has a symbolic shape, a dtype, strides in elements (its layout),
a storage location and a ``transient`` flag (an intermediate the program
allocates itself). A *view* is an Array with ``view_of`` set: it names no
memory of its own but reinterprets another container at ``offset`` with its
own shape and strides (reshape, transpose, slicing without copies).
A ``Scalar`` is a single value: an argument passed by value, or a transient
that code generation keeps in a register.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Union

import sympy

from flowc.ir.dtypes import DType, dtype_of
from flowc.ir.errors import IRError
from flowc.ir.symbolic import Expr, as_expr, c_strides, equal, free_symbol_names


class Storage(str, enum.Enum):
    HOST = "host"
    GPU_GLOBAL = "gpu_global"
    REGISTER = "register"


@dataclass
class Array:
    dtype: DType
    shape: tuple[Expr, ...]
    strides: tuple[Expr, ...] = ()
    storage: Storage = Storage.HOST
    transient: bool = False
    view_of: Optional[str] = None
    offset: Expr = field(default_factory=lambda: sympy.Integer(0))

    def __post_init__(self) -> None:
        self.dtype = dtype_of(self.dtype)
        self.shape = tuple(as_expr(s) for s in self.shape)
        self.strides = tuple(as_expr(s) for s in self.strides) if self.strides else c_strides(self.shape)
        self.offset = as_expr(self.offset)
        self.storage = Storage(self.storage)
        if len(self.strides) != len(self.shape):
            raise IRError(f"array of rank {len(self.shape)} given {len(self.strides)} strides")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def is_view(self) -> bool:
        return self.view_of is not None

    def total_size(self) -> Expr:
        """Elements spanned in memory (the allocation size of a non-view)."""
        if not self.shape:
            return sympy.Integer(1)
        return 1 + sum((s - 1) * st for s, st in zip(self.shape, self.strides))

    def is_c_contiguous(self) -> bool:
        return all(equal(a, b) for a, b in zip(self.strides, c_strides(self.shape)))

    def free_symbols(self) -> set[str]:
        out: set[str] = free_symbol_names(self.offset)
        for e in (*self.shape, *self.strides):
            out |= free_symbol_names(e)
        return out


@dataclass
class Scalar:
    dtype: DType
    transient: bool = False
    storage: Storage = Storage.REGISTER

    def __post_init__(self) -> None:
        self.dtype = dtype_of(self.dtype)
        self.storage = Storage(self.storage)

    @property
    def shape(self) -> tuple[Expr, ...]:
        return ()

    @property
    def strides(self) -> tuple[Expr, ...]:
        return ()

    @property
    def ndim(self) -> int:
        return 0

    @property
    def view_of(self) -> None:
        return None

    @property
    def is_view(self) -> bool:
        return False

    def total_size(self) -> Expr:
        return sympy.Integer(1)

    def free_symbols(self) -> set[str]:
        return set()


Data = Union[Array, Scalar]


@dataclass(frozen=True)
class ArrayType:
    """The annotation ``float32[N, M]``: a dtype and a symbolic shape."""

    dtype: DType
    shape: tuple[Any, ...]

    def descriptor(self, **kwargs: Any) -> Array:
        return Array(self.dtype, tuple(as_expr(s) for s in self.shape), **kwargs)

    def __repr__(self) -> str:
        return f"{self.dtype!r}[{', '.join(str(s) for s in self.shape)}]"


def make_array(dtype: Any, shape: Sequence[Any], **kwargs: Any) -> Array:
    return Array(dtype_of(dtype), tuple(as_expr(s) for s in shape), **kwargs)
