"""The on-disk cache: where it lives, what an entry is, how an entry is checked, and who may write it.

Directory
---------
``$FLOWC_CACHE_DIR``, else ``$XDG_CACHE_HOME/flowc``, else ``~/.cache/flowc``. When that
directory cannot be used (it cannot be created, it lies under a regular file, it is read-only,
the disk is full: any ``OSError`` from a cache operation), the process falls back to a private
temporary directory, removed at exit, and says so once with a :class:`CacheWarning` that names
the directory, the error and ``FLOWC_CACHE_DIR``. If no temporary directory can be made either,
:class:`flowc.CompileError` says what to set. Callers never see a raw ``OSError``.

Entries
-------
An entry is a few files that share a stem (``<name>_<hash>``) and a manifest
``<stem>.manifest.json`` that lists each file's size and sha256. Files are written first, each
into a temporary name and ``os.replace``-d into place (atomic within a file system); the
manifest is written the same way, last. So an entry without a manifest is either being written
or damaged, and an entry whose files do not match its manifest is damaged (a truncated copy, a
full disk during an earlier write, a stray edit). :func:`verify` says which, cheaply: a ``stat``
per file and one sha256 over its bytes (about 1 ms per MB), done once per entry and process.

Locks
-----
:func:`locked` serializes work on one entry: a ``threading.Lock`` per stem inside the process and
an exclusive ``fcntl.flock`` on ``<stem>.lock`` across processes. Why ``flock`` rather than the
``filelock`` package: it is the standard library on every platform flowc builds for (Linux and
other POSIX systems, with g++), and the kernel drops the lock when its holder dies, so a crashed
compile never leaves a stale lock behind. Lock files stay in place (removing one while another
process waits on it would let a third process lock a different file).

Readers do not lock: a verified entry is complete because the manifest is written last. Only a
miss or a damaged entry takes the lock, re-checks (another process may have just written it),
and then rebuilds; so N processes that start together compile once and the others wait, then load.
The public API holds the lock of a lowered-program entry (:func:`exclusive`) while it lowers and
compiles, so the others skip lowering too. Locks are always taken in the order program entry,
then library entry, and a library's holder never waits for a program entry: no deadlock.

``stats`` counts what happened in this process (compiles, hits, rebuilds of damaged entries,
program-cache hits); tests and ``FLOWC_DEBUG`` read it.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Callable, Iterator, Optional, TypeVar, Union

from flowc.ir.errors import CompileError

__all__ = ["CacheWarning", "cache_dir", "cache_enabled", "exclusive", "locked", "remove", "stats", "usable_dir",
           "verify", "with_fallback", "write_entry", "write_file"]

T = TypeVar("T")

#: events in this process: ``compiles`` (compiler runs), ``hits`` (verified library entries
#: reused), ``damaged`` (entries removed because they failed verification or loading),
#: ``program_hits`` / ``program_stores`` (lowered programs reused / stored).
stats: dict[str, int] = {"compiles": 0, "hits": 0, "damaged": 0, "program_hits": 0, "program_stores": 0}

MANIFEST_FORMAT = 1


class CacheWarning(UserWarning):
    """The cache directory could not be used, or an entry in it was damaged and is rebuilt."""


def cache_dir() -> Path:
    """The configured cache directory (see the module docstring); not created here."""
    explicit = os.environ.get("FLOWC_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "flowc"
    return Path.home() / ".cache" / "flowc"


def cache_enabled() -> bool:
    """``FLOWC_CACHE`` is not ``0``/``false``/``no``/``off``."""
    return os.environ.get("FLOWC_CACHE", "1").strip().lower() not in ("0", "false", "no", "off")


# --------------------------------------------------------------------------- directory and fallback
_fallbacks: dict[Path, Path] = {}
_fallback_lock = threading.Lock()


def usable_dir() -> Path:
    """The directory to use now: the configured one, or its private replacement after a failure."""
    configured = cache_dir()
    return _fallbacks.get(configured, configured)


def _fall_back(failed: Path, exc: OSError) -> Path:
    """Replace ``failed`` by a private temporary directory for the rest of the process; warn once."""
    configured = cache_dir()
    with _fallback_lock:
        existing = _fallbacks.get(configured)
        if existing is not None and existing != failed:
            return existing
        try:
            private = Path(tempfile.mkdtemp(prefix="flowc-cache-"))
        except OSError as exc2:
            raise CompileError(
                f"flowc cannot use its cache directory {failed} ({_why(exc)}) and cannot create a temporary "
                f"one ({_why(exc2)}); set FLOWC_CACHE_DIR to a writable directory") from exc
        atexit.register(shutil.rmtree, private, True)
        _fallbacks[configured] = private
    warnings.warn(f"flowc cannot use the cache directory {failed}: {_why(exc)}; compiled programs go to the "
                  f"private directory {private} for this process (not kept). Set FLOWC_CACHE_DIR to a writable "
                  f"directory to keep them.", CacheWarning, stacklevel=4)
    return private


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"not writable ({exc.strerror})"
    if exc.errno == errno.ENOTDIR:
        return f"a part of the path is a regular file, not a directory ({exc.filename})"
    return f"{type(exc).__name__}: {exc.strerror or exc}"


def with_fallback(operation: Callable[[Path], T]) -> T:
    """Run ``operation(directory)`` in the usable cache directory; on an ``OSError`` from it, fall
    back to a private directory (one warning) and run it once more there."""
    directory = usable_dir()
    try:
        return operation(directory)
    except OSError as exc:
        private = _fall_back(directory, exc)
    try:
        return operation(private)
    except OSError as exc:
        raise CompileError(f"flowc cannot write compiled programs to {private}: {_why(exc)}; "
                           f"set FLOWC_CACHE_DIR to a writable directory with free space") from exc


# --------------------------------------------------------------------------- entries
def _manifest_path(directory: Path, stem: str) -> Path:
    return directory / f"{stem}.manifest.json"


def write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file in the same directory, then rename)."""
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_entry(directory: Path, stem: str, files: dict[str, Union[bytes, Path]]) -> None:
    """Write the files of an entry (names relative to ``directory``), then its manifest, atomically.

    A value is the file's bytes, or the path of a finished file in the same file system, which is
    renamed into place."""
    listing = {}
    for name, data in files.items():
        if isinstance(data, Path):
            content = data.read_bytes()
            os.replace(data, directory / name)
        else:
            content = data
            write_file(directory / name, data)
        listing[name] = {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
    manifest = {"format": MANIFEST_FORMAT, "files": listing}
    write_file(_manifest_path(directory, stem), json.dumps(manifest, indent=1, sort_keys=True).encode())


def verify(directory: Path, stem: str, names: tuple[str, ...]) -> tuple[str, Optional[dict[str, bytes]]]:
    """Check an entry: ``("ok", contents)``, ``("missing", None)`` (no trace of it) or
    ``("damaged: <why>", None)``. ``contents`` maps each name to its verified bytes."""
    manifest_path = _manifest_path(directory, stem)
    try:
        manifest_bytes = manifest_path.read_bytes()
    except FileNotFoundError:
        if any((directory / n).exists() for n in names):
            return "damaged: its manifest is missing", None
        return "missing", None
    except OSError as exc:
        return f"damaged: cannot read its manifest ({exc.strerror})", None
    try:
        manifest = json.loads(manifest_bytes)
        listing = manifest["files"]
        if manifest.get("format") != MANIFEST_FORMAT or not isinstance(listing, dict):
            raise ValueError("unknown manifest format")
    except (ValueError, KeyError, TypeError) as exc:
        return f"damaged: unreadable manifest ({exc})", None
    contents: dict[str, bytes] = {}
    for name in names:
        want = listing.get(name)
        if not isinstance(want, dict):
            return f"damaged: {name} is not in its manifest", None
        try:
            data = (directory / name).read_bytes()
        except FileNotFoundError:
            return f"damaged: {name} is missing", None
        except OSError as exc:
            return f"damaged: cannot read {name} ({exc.strerror})", None
        if len(data) != want.get("size"):
            return f"damaged: {name} has {len(data)} bytes, its manifest says {want.get('size')}", None
        if hashlib.sha256(data).hexdigest() != want.get("sha256"):
            return f"damaged: the checksum of {name} does not match its manifest", None
        contents[name] = data
    return "ok", contents


def remove(directory: Path, stem: str, names: tuple[str, ...], why: str) -> None:
    """Remove a damaged entry (manifest first, so no reader trusts a half-removed entry) with one warning."""
    stats["damaged"] += 1
    warnings.warn(f"flowc: the cache entry {directory / names[0]} is {why}; it is removed and rebuilt",
                  CacheWarning, stacklevel=3)
    for path in (_manifest_path(directory, stem), *(directory / n for n in names)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


# --------------------------------------------------------------------------- locks
_thread_locks: dict[tuple[Path, str], threading.Lock] = {}
_thread_locks_guard = threading.Lock()


_held = threading.local()        # the (directory, stem) pairs this thread holds: locking one again is a no-op


@contextlib.contextmanager
def locked(directory: Path, stem: str) -> Iterator[None]:
    """Hold the entry ``stem``: a per-stem thread lock in this process, then an exclusive
    ``flock`` on ``<stem>.lock`` against other processes (see the module docstring). Reentrant
    in one thread (a second ``flock`` on a new descriptor would wait for the first forever)."""
    held = _held.__dict__.setdefault("pairs", set())
    if (directory, stem) in held:
        yield
        return
    with _thread_locks_guard:
        lock = _thread_locks.setdefault((directory, stem), threading.Lock())
    with lock:
        fd = os.open(directory / f"{stem}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held.add((directory, stem))
            try:
                yield
            finally:
                held.discard((directory, stem))
        finally:
            os.close(fd)        # closing the descriptor releases the flock


@contextlib.contextmanager
def exclusive(stem: str) -> Iterator[Path]:
    """:func:`locked` on ``stem`` in the usable directory (created if needed, with the fallback of
    :func:`with_fallback` if it cannot be); yields the directory."""
    directory = usable_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        guard = locked(directory, stem)
        guard.__enter__()
    except OSError as exc:
        directory = _fall_back(directory, exc)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            guard = locked(directory, stem)
            guard.__enter__()
        except OSError as exc2:
            raise CompileError(f"flowc cannot lock an entry in {directory}: {_why(exc2)}; "
                               f"set FLOWC_CACHE_DIR to a writable directory") from exc2
    try:
        yield directory
    finally:
        guard.__exit__(None, None, None)
