"""Nested programs: calls of other @flowc.program functions are inlined."""

from __future__ import annotations
