"""Element types of flowc data: one table maps each to NumPy, C++ and ctypes.

A ``DType`` is also the annotation users write: ``flowc.float32[N, M]`` is an
array type, a bare ``flowc.float32`` a scalar type.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class DType:
    """One element type. ``name`` is NumPy's name and the IR's spelling."""

    name: str
    ctype: str          # C++ spelling in generated code
    kind: str           # "b" bool, "i" signed, "u" unsigned, "f" float, "c" complex
    itemsize: int

    @property
    def numpy(self) -> np.dtype:
        return np.dtype(self.name)

    @property
    def ctypes_type(self) -> Any:
        return _CTYPES[self.name]

    @property
    def is_float(self) -> bool:
        return self.kind == "f"

    @property
    def is_integer(self) -> bool:
        return self.kind in "iu"

    @property
    def is_complex(self) -> bool:
        return self.kind == "c"

    def __getitem__(self, shape: Any) -> Any:
        """``float32[N, M]``: an array type annotation (see ``data.ArrayType``)."""
        from flowc.ir.data import ArrayType

        if not isinstance(shape, tuple):
            shape = (shape,)
        return ArrayType(self, shape)

    def __call__(self, value: Any) -> Any:
        """``flowc.int64(x)`` outside a program casts like NumPy does."""
        return self.numpy.type(value)

    def __repr__(self) -> str:
        return f"flowc.{self.name if self.name != 'bool' else 'bool_'}"


bool_ = DType("bool", "bool", "b", 1)
int8 = DType("int8", "int8_t", "i", 1)
int16 = DType("int16", "int16_t", "i", 2)
int32 = DType("int32", "int32_t", "i", 4)
int64 = DType("int64", "int64_t", "i", 8)
uint8 = DType("uint8", "uint8_t", "u", 1)
uint16 = DType("uint16", "uint16_t", "u", 2)
uint32 = DType("uint32", "uint32_t", "u", 4)
uint64 = DType("uint64", "uint64_t", "u", 8)
float16 = DType("float16", "_Float16", "f", 2)
float32 = DType("float32", "float", "f", 4)
float64 = DType("float64", "double", "f", 8)
complex64 = DType("complex64", "std::complex<float>", "c", 8)
complex128 = DType("complex128", "std::complex<double>", "c", 16)

ALL: tuple[DType, ...] = (
    bool_, int8, int16, int32, int64, uint8, uint16, uint32, uint64,
    float16, float32, float64, complex64, complex128,
)
BY_NAME: dict[str, DType] = {d.name: d for d in ALL}
BY_NAME["bool_"] = bool_

_CTYPES = {
    "bool": ctypes.c_bool, "int8": ctypes.c_int8, "int16": ctypes.c_int16,
    "int32": ctypes.c_int32, "int64": ctypes.c_int64, "uint8": ctypes.c_uint8,
    "uint16": ctypes.c_uint16, "uint32": ctypes.c_uint32, "uint64": ctypes.c_uint64,
    "float16": ctypes.c_uint16, "float32": ctypes.c_float, "float64": ctypes.c_double,
    "complex64": ctypes.c_float * 2, "complex128": ctypes.c_double * 2,
}


def dtype_of(value: Any) -> DType:
    """The flowc type of a NumPy dtype, a NumPy scalar type, a name, or a DType."""
    if isinstance(value, DType):
        return value
    if isinstance(value, str):
        if value in BY_NAME:
            return BY_NAME[value]
        raise TypeError(f"unknown dtype {value!r}; known: {', '.join(sorted(BY_NAME))}")
    try:
        name = np.dtype(value).name
    except TypeError as exc:
        raise TypeError(f"cannot interpret {value!r} as a dtype") from exc
    if name not in BY_NAME:
        raise TypeError(f"dtype {name} is not supported; supported: {', '.join(d.name for d in ALL)}")
    return BY_NAME[name]


def result_type(*types: DType) -> DType:
    """NumPy's type promotion for arrays of the given types."""
    return dtype_of(np.result_type(*(t.numpy for t in types)))
