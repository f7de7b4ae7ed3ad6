"""The auto-search's store on disk: one small JSON file per tuned (program, sizes, target, machine).

An entry is a data file, never code: it holds the chosen program's history (the recorded
transformation steps, ``flowc.ir.history``), which ``replay`` applies to a fresh lowering.
Loading checks the entry's shape, its key and every history entry; anything else is a
``DamagedEntry`` (the caller warns and searches again). Writes go to a temporary file in the
same directory and are renamed into place (``os.replace``), so a reader never sees a torn
file and two processes tuning the same program at once leave one complete entry.

Location: ``$FLOWC_TUNE_DIR`` if set, else ``search/`` in flowc's cache directory
(``flowc.runtime.cache_dir()``, which ``FLOWC_CACHE_DIR`` sets).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any, Optional

from flowc.ir import history as ir_history
from flowc.ir.errors import IRError

FORMAT = "flowc-search/1"


class DamagedEntry(Exception):
    """A store entry that cannot be used (unreadable, malformed, or for another key)."""


def store_dir() -> Path:
    """Where entries live (not created here)."""
    explicit = os.environ.get("FLOWC_TUNE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    from flowc.runtime import cache_dir

    return cache_dir() / "search"


@functools.cache
def machine() -> dict[str, Any]:
    """What the timings depend on: CPU model, a hash of its feature flags, core count."""
    model, flags = platform.processor() or platform.machine(), ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                k, _, v = line.partition(":")
                k = k.strip()
                if k == "model name" and model in ("", platform.machine(), platform.processor()):
                    model = v.strip()
                elif k in ("flags", "Features") and not flags:
                    flags = v.strip()
    except OSError:
        pass
    return {"cpu": model, "flags": hashlib.sha256(flags.encode()).hexdigest()[:16], "cores": os.cpu_count() or 1}


def entry_key(program_json: str, sizes: dict[str, int], target: str, machine_id: dict[str, Any]) -> str:
    """The key of a store entry: a hash of the program's IR (JSON), the sizes, the target and
    the machine."""
    blob = json.dumps({"ir": hashlib.sha256(program_json.encode()).hexdigest(), "sizes": sorted(sizes.items()),
                       "target": target, "machine": machine_id}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def path_of(key: str) -> Path:
    return store_dir() / f"{key}.json"


def load(key: str) -> Optional[dict[str, Any]]:
    """The entry stored under ``key``, checked; None if there is none; ``DamagedEntry`` if
    the file is there but not a valid entry for this key."""
    path = path_of(key)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise DamagedEntry(f"{path}: unreadable ({exc})") from exc
    try:
        entry = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DamagedEntry(f"{path}: not JSON ({exc})") from exc
    if not isinstance(entry, dict) or entry.get("format") != FORMAT:
        raise DamagedEntry(f"{path}: not a {FORMAT} entry")
    if entry.get("key") != key:
        raise DamagedEntry(f"{path}: stored for key {entry.get('key')!r}, not {key!r}")
    try:
        entry["history"] = ir_history.validate_history(entry.get("history"))
    except IRError as exc:
        raise DamagedEntry(f"{path}: {exc}") from exc
    return entry


def save(key: str, entry: dict[str, Any]) -> Path:
    """Store ``entry`` under ``key`` atomically; returns the file's path."""
    path = path_of(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps({"format": FORMAT, "key": key, **entry}, indent=1, sort_keys=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
