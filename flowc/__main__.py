"""flowc's command line.

    python -m flowc tune FILE:FUNCTION --sizes B=8,L=128 [--target cpu] [--budget 120]

``tune`` runs ``flowc.transforms.auto_search`` on a ``@flowc.program`` (or plain annotated)
function of a Python file, for the given sizes (searching again even if a result is stored),
prints the report and stores the result where later searches of the same program at the same
sizes on this machine find it (``@flowc.program(auto_optimize="search")`` replays it).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any, Optional, Sequence


def parse_sizes(text: str) -> dict[str, int]:
    """``B=8,L=128`` → ``{"B": 8, "L": 128}`` (a ValueError naming what is wrong)."""
    sizes: dict[str, int] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or not name.isidentifier():
            raise ValueError(f"--sizes: expected NAME=INT items separated by commas, got {item!r}")
        try:
            n = int(value)
        except ValueError:
            raise ValueError(f"--sizes: {name} must be an integer, got {value.strip()!r}") from None
        if n < 1:
            raise ValueError(f"--sizes: {name} must be positive, got {n}")
        sizes[name] = n
    if not sizes:
        raise ValueError("--sizes: no sizes given (e.g. --sizes N=1024,M=768)")
    return sizes


def load_function(spec: str) -> Any:
    """``path/to/file.py:function`` → the function (or ``@flowc.program`` object) it names."""
    file, sep, func = spec.rpartition(":")
    if not sep or not file or not func.isidentifier():
        raise ValueError(f"expected FILE:FUNCTION, got {spec!r}")
    path = Path(file)
    if not path.is_file():
        raise ValueError(f"{file}: no such file")
    module_spec = importlib.util.spec_from_file_location(f"_flowc_tune_{path.stem}", path)
    if module_spec is None or module_spec.loader is None:
        raise ValueError(f"{file}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.path.insert(0, str(path.resolve().parent))
    try:
        module_spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.resolve().parent))
    if not hasattr(module, func):
        raise ValueError(f"{file} has no function {func!r}")
    return getattr(module, func)


def tune(argv: Sequence[str]) -> int:
    from flowc import frontend
    from flowc.api import ProgramObject
    from flowc.transforms import auto_search

    parser = argparse.ArgumentParser(prog="python -m flowc tune", description="search the fastest configuration "
                                     "of a flowc program at the given sizes and store it")
    parser.add_argument("function", metavar="FILE:FUNCTION")
    parser.add_argument("--sizes", required=True, help="symbol values, e.g. B=8,L=128")
    parser.add_argument("--target", default="cpu", choices=("cpu",))
    parser.add_argument("--budget", type=float, default=120.0, help="seconds of searching (default 120)")
    args = parser.parse_args(argv)
    try:
        sizes = parse_sizes(args.sizes)
        fn = load_function(args.function)
    except ValueError as exc:
        parser.error(str(exc))
    func = fn.func if isinstance(fn, ProgramObject) else fn
    program = frontend.lower(func)
    result = auto_search(program, target=args.target, sizes=sizes, budget_s=args.budget, cache="refresh")
    print(result.report.table())
    if result.report.cache_path:
        print(f"stored: {result.report.cache_path}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "tune":
        return tune(rest)
    print(f"python -m flowc: unknown command {command!r} (commands: tune)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
