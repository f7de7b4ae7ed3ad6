"""Explicit parallel maps: ``for i, j in flowc.map[0:N, 0:M]:``."""

from __future__ import annotations
