"""Lowered programs in the disk cache, so that a warm start skips the frontend and the transformations.

An entry ``<name>_<key>.program.json`` (with its manifest, see :mod:`flowc.runtime.cache`) holds,
under a key computed by the caller (:func:`flowc.fingerprint.program_key`):

- ``ir``: the program as compiled (lowered, optimized, library nodes expanded), as IR JSON
  (:mod:`flowc.ir.serialize`; data only, no pickle, so reading an entry never runs code);
- ``library``: the stem of its compiled library and ``entry``, the exported C function, so the
  library is found without generating its source again;
- ``closure`` (closure array name -> position among the arrays the key met): where the live
  closure arrays are found again, since the IR is stored without their values (the rest of the
  calling convention, ``Program.closure_args``' names and ``symbol_params``, is in the IR);
- ``warnings``: what lowering and compiling warned (category as ``module.qualname``, message,
  file, line), replayed by a warm start so it says what a cold start says.

A damaged entry (manifest mismatch, unreadable JSON) is removed with a warning and counts as a miss.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from flowc.ir.program import Program
from flowc.ir.serialize import program_from_json, program_to_json
from flowc.runtime import cache

__all__ = ["StoredProgram", "exclusive", "load", "store"]

_FORMAT = 2
_NAME_SAFE = re.compile(r"[^A-Za-z0-9_]")


@dataclass
class StoredProgram:
    """A lowered program read back from the cache, with what is needed to call it."""

    program: Program
    library: str
    entry: str
    closure: dict[str, int]
    warnings: list[tuple[str, str, str, int]]


def _stem(name: str, key: str) -> str:
    return f"{_NAME_SAFE.sub('_', name)[:64] or 'flowc'}_{key[:32]}"


def _names(stem: str) -> tuple[str, ...]:
    return (f"{stem}.program.json",)


def exclusive(name: str, key: str) -> contextlib.AbstractContextManager[Path]:
    """Hold the entry of ``key`` against other threads and processes (lower and compile once:
    the others wait, then find it stored)."""
    return cache.exclusive(_stem(name, key))


def load(name: str, key: str) -> Optional[StoredProgram]:
    """The program stored under ``key`` (``name``: the function's name), or None."""
    if not cache.cache_enabled():
        return None
    stem = _stem(name, key)

    def read(directory: Path) -> Optional[StoredProgram]:
        status, contents = cache.verify(directory, stem, _names(stem))
        if status == "missing":
            return None
        if contents is not None:
            try:
                return _decode(contents[_names(stem)[0]], key)
            except Exception as exc:      # noqa: BLE001 - any failure to read it back: a damaged entry
                status = f"damaged: unreadable ({type(exc).__name__}: {exc})"
        with cache.locked(directory, stem):      # a writer may be between its files and its manifest
            again, contents = cache.verify(directory, stem, _names(stem))
            if again == "missing":
                return None
            if contents is not None and not status.startswith("damaged: unreadable"):
                try:
                    return _decode(contents[_names(stem)[0]], key)
                except Exception as exc:  # noqa: BLE001
                    status = f"damaged: unreadable ({type(exc).__name__}: {exc})"
            cache.remove(directory, stem, _names(stem), status[len("damaged: "):])
        return None

    found = cache.with_fallback(read)
    if found is not None:
        cache.stats["program_hits"] += 1
    return found


def _decode(data: bytes, key: str) -> StoredProgram:
    doc = json.loads(data)
    if doc.get("format") != _FORMAT or doc.get("key") != key:
        raise ValueError("written for another key or format")
    closure = {str(k): int(v) for k, v in doc["closure"].items()}
    library, entry = str(doc["library"]), str(doc["entry"])
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", library) or not entry.isidentifier():
        raise ValueError("bad library or entry name")
    notes = [(str(c), str(m), str(f), int(n)) for c, m, f, n in doc["warnings"]]
    program = program_from_json(doc["ir"])
    return StoredProgram(program, library, entry, closure, notes)


def store(name: str, key: str, program: Program, library: Path, entry: str, closure: dict[str, int],
          notes: Sequence[tuple[str, str, str, int]] = ()) -> None:
    """Store ``program`` (as compiled into ``library``, exporting ``entry``) under ``key``."""
    if not cache.cache_enabled():
        return
    stem = _stem(name, key)
    doc = {"format": _FORMAT, "key": key, "library": library.stem, "entry": entry, "closure": closure,
           "warnings": [list(n) for n in notes], "ir": program_to_json(program, closure_values=False)}
    data = json.dumps(doc).encode()

    def write(directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        with cache.locked(directory, stem):
            cache.write_entry(directory, stem, {_names(stem)[0]: data})

    cache.with_fallback(write)
    cache.stats["program_stores"] += 1
