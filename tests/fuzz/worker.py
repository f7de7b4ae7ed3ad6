"""The worker process: compiles and runs programs for the runner, one JSON job per line on stdin.

It answers on its original stdout with JSON lines: ``{"stage": ...}`` before each step that may crash
(so the runner knows where a dead worker died) and one ``{"result": ...}`` per job. Everything else the
process prints (compiler output, warnings) goes to stderr. A segfault or a hang kills only this
process; the runner restarts it.

Classes: ok, mismatch, crash (an exception other than FrontendError/TypeError/ValueError; a dead
process is classified by the runner), refused (FrontendError), rejected (TypeError/ValueError from
flowc where NumPy returned a value), compile_error (CompileError), invalid (NumPy itself raised at
every size: not a test).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import traceback
import uuid
from typing import Any, Callable

from . import oracle

_proto = sys.stdout


def stage(text: str) -> None:
    _proto.write(json.dumps({"stage": text}) + "\n")
    _proto.flush()


def load(path: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"fuzz_{uuid.uuid4().hex}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


#: the target programs are compiled for (``python -m tests.fuzz --target cuda`` runs the cuda target's
#: CPU emulation, FLOWC_CUDA_EMULATION=1, where no GPU is present)
TARGET = os.environ.get("FLOWC_FUZZ_TARGET", "cpu")


def classify_exception(e: BaseException) -> tuple[str, str]:
    import flowc
    from flowc.ir.errors import CompileError

    if isinstance(e, (flowc.FrontendError, flowc.TargetError)):
        return "refused", str(e)
    if isinstance(e, CompileError):
        return "compile_error", str(e)[:4000]
    if isinstance(e, (TypeError, ValueError)):
        return "rejected", f"{type(e).__name__}: {e}"
    tb = traceback.format_exception(type(e), e, e.__traceback__)
    return "crash", f"{type(e).__name__}: {e}\n{''.join(tb[-6:])}"


def lower(job: dict) -> dict:
    import flowc

    mod = load(job["module"])
    out = {}
    for name in job["names"]:
        stage(f"lower {name}")
        try:
            flowc.program(getattr(mod, name)).to_ir()
            out[name] = ["ok", ""]
        except Exception as e:  # classified, not hidden
            out[name] = list(classify_exception(e))
    return {"classes": out}


def run(job: dict) -> dict:
    import flowc

    mod = load(job["module"])
    func: Callable[..., Any] = getattr(mod, job["entry"])
    floors = tolerance_floors(mod, job["entry"])
    compared = 0
    rejected = ""
    unstable = ""
    for mode in job["modes"]:
        stage(f"compile auto_optimize={mode}")
        try:
            call = flowc.program(func, target=TARGET, auto_optimize=mode).compile()
        except Exception as e:
            cls, msg = classify_exception(e)
            return {"cls": cls, "mode": mode, "size": None, "detail": msg}
        for k, sizes in enumerate(job["sizes"]):
            idx = job.get("size_indices", list(range(len(job["sizes"]))))[k]
            args = oracle.make_inputs(func, job["seed"], idx, sizes, job.get("member_seeds"))
            np_args = oracle.copy_args(args)
            try:
                want = oracle.run_numpy(func, np_args, sizes)
            except Exception:
                continue       # NumPy raises at these sizes (an empty max, ...): nothing to compare
            fl_args = oracle.copy_args(args)
            stage(f"run auto_optimize={mode} size={idx}")
            try:
                got = call(*fl_args)
            except Exception as e:
                cls, msg = classify_exception(e)
                if cls == "rejected":
                    rejected = msg
                    continue
                return {"cls": cls, "mode": mode, "size": idx, "detail": msg}
            diff = oracle.compare(want, got, floor=floors["result"])
            if diff is None:
                for name, a, b in zip(func.__annotations__, np_args, fl_args):
                    floor = floors.get(name.partition("__")[2], floors["result"])
                    if hasattr(a, "shape"):
                        diff = oracle.compare(a, b, f"argument {name} after the call", floor)
                    if diff:
                        break
            if diff and _ill_conditioned(func, args, sizes, want, np_args, floors):
                unstable = diff
                continue
            if diff:
                return {"cls": "mismatch", "mode": mode, "size": idx, "detail": diff}
            compared += 1
    if compared:
        return {"cls": "ok", "detail": ""}
    if unstable:
        return {"cls": "ill_conditioned", "detail": unstable}
    if rejected:
        return {"cls": "rejected", "detail": rejected}
    return {"cls": "invalid", "detail": "NumPy raised at every size"}


def _ill_conditioned(func: Callable[..., Any], args: list, sizes: dict, want: Any, np_args: list,
                     floors: dict) -> bool:
    """Whether NumPy's own result (or an argument it writes) moves beyond the tolerance when the inputs
    move by a few ulps (``oracle.perturbed``): then no implementation can be held to it, and the
    program is not judged at this size."""
    moved = oracle.perturbed(args)
    try:
        again = oracle.run_numpy(func, moved, sizes)
    except Exception:
        return False
    if oracle.compare(want, again, floor=floors["result"]) is not None:
        return True
    for name, a, b in zip(func.__annotations__, np_args, moved):
        if hasattr(a, "shape") and oracle.compare(a, b, floor=floors.get(name.partition("__")[2],
                                                                           floors["result"])) is not None:
            return True
    return False


def tolerance_floors(mod: Any, entry: str) -> dict:
    """The least tolerance of each result: per member of a batch (its element of the result tuple and
    its arguments ``a__<k>``), else of the whole program."""
    import inspect

    if entry != "batch":
        return {"result": oracle.rtol_floor(inspect.getsource(getattr(mod, entry)))}
    members = re.findall(r"\bg(\d+)\(", inspect.getsource(mod.batch))
    floors = {k: oracle.rtol_floor(inspect.getsource(getattr(mod, f"f{k}"))) for k in members}
    return {"result": [floors[k] for k in members], **floors}


def main() -> None:
    global _proto
    # the protocol keeps the real stdout; anything else printed goes to stderr
    _proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    for line in sys.stdin:
        job = json.loads(line)
        try:
            result = lower(job) if job["kind"] == "lower" else run(job)
        except Exception as e:  # a failure of the harness itself (a module that does not import)
            result = {"cls": "crash", "detail": "harness: " + "".join(traceback.format_exception(e))[-3000:]}
        _proto.write(json.dumps({"result": result}) + "\n")
        _proto.flush()


if __name__ == "__main__":
    main()
