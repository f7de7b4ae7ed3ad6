"""The runner: batches of generated programs through worker processes, classification, reports.

Compiling dominates (a g++ run of 1-3 s per program and mode), so programs are compiled in batches:
each program is first lowered on its own (cheap: no g++), which finds the refusals; the programs that
lower are then inlined as callees of one ``batch`` program that returns all their results, compiled
once plain and once with ``auto_optimize=True`` and compared with NumPy at three sizes (all ones,
small, medium). Only when a batch does not pass are its members compiled and run one by one, so
each failure is attributed to one program, which is then minimized and written to a file.
"""

from __future__ import annotations

import collections
import json
import os
import re
import queue
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from . import oracle
from .gen import HEADER, Program, generate

REPO = Path(__file__).resolve().parents[2]
FAILURES = ("mismatch", "crash", "hang", "compile_error")
COMPILE_TIMEOUT = 300
RUN_TIMEOUT = 60


class Worker:
    """One ``python -m tests.fuzz.worker`` process; restarted after a crash or a hang."""

    def __init__(self, cache_dir: str, log: Optional[Path] = None):
        self.cache_dir, self.log = cache_dir, log
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> None:
        env = dict(os.environ, FLOWC_CACHE_DIR=self.cache_dir,
                   PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
        err = open(self.log, "a") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.fuzz.worker"], cwd=str(REPO), env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
                                     bufsize=1)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True).start()

    @staticmethod
    def _read(stream: Any, lines: queue.Queue) -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def ask(self, job: dict, timeout: float) -> dict:
        """The job's result; a dead worker gives class crash, a timeout class hang (with the stage)."""
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        assert self.proc and self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        last = "start"
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(0.0, left))
            except queue.Empty:
                self.stop()
                return {"cls": "hang", "detail": f"no answer after {timeout:.0f} s (during: {last})", "stage": last}
            if line is None:
                code = self.proc.wait()
                self.proc = None
                return {"cls": "crash", "detail": f"worker died with exit code {code} (during: {last})",
                        "stage": last}
            msg = json.loads(line)
            if "stage" in msg:
                # each step has its own limit: a compile may take minutes on a loaded machine, a run
                # of these sizes takes milliseconds
                last = msg["stage"]
                deadline = time.monotonic() + (RUN_TIMEOUT if last.startswith("run") else timeout)
                continue
            return msg["result"]


@dataclass
class Outcome:
    program: Program
    cls: str
    detail: str = ""
    mode: Optional[bool] = None
    size: Optional[int] = None
    sizes: list = field(default_factory=list)
    minimized: Optional[str] = None


def mode_from_stage(res: dict) -> tuple[Optional[bool], Optional[int]]:
    m = re.search(r"auto_optimize=(True|False)(?: size=(\d+))?", res.get("stage", ""))
    if not m:
        return res.get("mode"), res.get("size")
    return m.group(1) == "True", int(m.group(2)) if m.group(2) else None


def member_source(p: Program, k: int) -> str:
    return p.source.replace("def f(", f"def f{k}(", 1)


def batch_module(members: list[tuple[int, Program]]) -> str:
    """One module: the members as f<k>, ``g<k> = flowc.program(f<k>)`` and ``batch`` calling them all."""
    import ast

    parts, params, calls = [HEADER], [], []
    for k, p in members:
        parts.append(member_source(p, k))
        parts.append(f"g{k} = flowc.program(f{k})\n")
        fn = ast.parse(p.source).body[0]
        names = []
        for a in fn.args.args:
            params.append(f"{a.arg}__{k}: {ast.unparse(a.annotation)}")
            names.append(f"{a.arg}__{k}")
        calls.append(f"g{k}({', '.join(names)})")
    parts.append(f"def batch({', '.join(params)}):\n    return {', '.join(calls)},\n")
    return "\n\n".join(parts)


class Runner:
    """Runs programs; ``jobs`` workers in parallel, one compile cache for the run."""

    def __init__(self, jobs: int = 1, cache_dir: Optional[str] = None, work_dir: Optional[str] = None,
                 batch: int = 8, log: Optional[Path] = None):
        self.work = Path(work_dir or tempfile.mkdtemp(prefix="flowc-fuzz-"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.cache_dir = cache_dir or str(self.work / "cache")
        self.batch, self.jobs, self.log = batch, jobs, log
        self._local = threading.local()
        self._workers: list[Worker] = []
        self._lock = threading.Lock()
        self._n = 0

    def worker(self) -> Worker:
        w = getattr(self._local, "w", None)
        if w is None:
            w = self._local.w = Worker(self.cache_dir, self.log)
            with self._lock:
                self._workers.append(w)
        return w

    def close(self) -> None:
        for w in self._workers:
            w.stop()

    def write(self, text: str) -> str:
        with self._lock:
            self._n += 1
            path = self.work / f"m{self._n}_{os.getpid()}.py"
        path.write_text(text)
        return str(path)

    def run_single(self, source: str, seed: int, sizes: list[dict], modes=(False, True),
                   size_indices: Optional[list[int]] = None) -> dict:
        path = self.write(HEADER + "\n\n" + source)
        job = {"kind": "run", "module": path, "entry": "f", "modes": list(modes), "seed": seed, "sizes": sizes}
        if size_indices is not None:
            job["size_indices"] = size_indices
        res = self.worker().ask(job, COMPILE_TIMEOUT)
        if "stage" in res:
            res["mode"], res["size"] = mode_from_stage(res)
        return res

    def single(self, p: Program, sizes: list[dict]) -> Outcome:
        res = self.run_single(p.source, p.seed, sizes)
        return Outcome(p, res["cls"], res.get("detail", ""), res.get("mode"), res.get("size"), sizes)

    def run_batch(self, index: int, programs: list[Program]) -> list[Outcome]:
        sizes = oracle.sizes_for(programs[0].seed)
        mod = self.write(HEADER + "\n\n" + "\n\n".join(member_source(p, k) for k, p in enumerate(programs)))
        res = self.worker().ask({"kind": "lower", "module": mod, "names": [f"f{k}" for k in range(len(programs))]},
                                COMPILE_TIMEOUT)
        outcomes: dict[int, Outcome] = {}
        if "classes" not in res:        # the frontend itself died: take them one by one
            return [self.single(p, sizes) for p in programs]
        for k, p in enumerate(programs):
            cls, msg = res["classes"][f"f{k}"]
            if cls != "ok":
                outcomes[k] = Outcome(p, cls, msg, sizes=sizes)
        members = [(k, p) for k, p in enumerate(programs) if k not in outcomes]
        outcomes.update(self.run_group(members, sizes))
        return [outcomes[k] for k in sorted(outcomes)]

    def run_group(self, members: list[tuple[int, Program]], sizes: list[dict]) -> dict[int, Outcome]:
        """Run lowered programs as one batch; a batch that does not pass is split in halves (bisection)
        until each failure is attributed to one program."""
        if not members:
            return {}
        if len(members) == 1:
            k, p = members[0]
            return {k: self.single(p, sizes)}
        path = self.write(batch_module(members))
        job = {"kind": "run", "module": path, "entry": "batch", "modes": [False, True],
               "seed": members[0][1].seed, "sizes": sizes, "member_seeds": {str(k): p.seed for k, p in members}}
        res = self.worker().ask(job, COMPILE_TIMEOUT)
        if res["cls"] == "ok":
            return {k: Outcome(p, "ok", sizes=sizes) for k, p in members}
        half = len(members) // 2
        out = self.run_group(members[:half], sizes)
        out.update(self.run_group(members[half:], sizes))
        if res["cls"] in FAILURES and not any(o.cls in FAILURES for o in out.values()):
            # only the batch fails: report it as its own program
            bp = Program(members[0][1].seed, Path(path).read_text(), name="batch")
            m, s = mode_from_stage(res) if "stage" in res else (res.get("mode"), res.get("size"))
            out[-1000 - members[0][0]] = Outcome(bp, "batch_" + res["cls"], res.get("detail", ""), m, s, sizes)
        return out

    def run(self, programs: list[Program], progress: Any = None) -> list[Outcome]:
        chunks = [programs[i:i + self.batch] for i in range(0, len(programs), self.batch)]
        results: list[Outcome] = []
        ex = ThreadPoolExecutor(self.jobs)
        try:
            for outs in ex.map(lambda ic: self.run_batch(*ic), enumerate(chunks)):
                results.extend(outs)
                if progress:
                    progress(results)
        finally:
            # interrupted (Ctrl-C, a test timeout): drop the batches not started, stop the workers
            ex.shutdown(wait=False, cancel_futures=True)
            self.close()
        return results


def programs_for(seed: int, count: int) -> list[Program]:
    return [generate(seed * 1_000_003 + i) for i in range(count)]


_LOC = re.compile(r"^.*?:\d+:\d+: ")


def group_key(detail: str) -> str:
    """A refusal message without its location, variable names and numbers, to group like ones."""
    line = detail.strip().splitlines()[0] if detail.strip() else ""
    line = _LOC.sub("", line)
    line = re.sub(r"\bt\d+\b|\b[a-g](__\d+)?\b", "<v>", line)
    line = re.sub(r"\d+", "<n>", line)
    return line[:160]


def summary(results: list[Outcome]) -> str:
    counts = collections.Counter(o.cls for o in results)
    total = len(results)
    lines = [f"{total} programs: " + ", ".join(f"{c} {n}" for c, n in counts.most_common())]
    refused = counts.get("refused", 0)
    lines.append(f"refusal rate: {refused / max(1, total):.1%}")
    for cls in ("refused", "rejected"):
        groups = collections.Counter(group_key(o.detail) for o in results if o.cls == cls)
        if groups:
            lines.append(f"most common {cls} messages:")
            lines += [f"  {n:5d}  {msg}" for msg, n in groups.most_common(12)]
    return "\n".join(lines)
