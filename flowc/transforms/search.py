"""Auto-search: time configurations of the transformation pipeline and keep the fastest.

    result = flowc.transforms.auto_search(program, sizes={"N": 4096, "M": 768}, budget_s=60)
    result.program          # the chosen Program (its history replays onto a fresh lowering)
    print(result.report)    # the candidates: configuration, bytes moved, time, ratio, status

The space is ``flowc.transforms.search_space``: ``auto_optimize``'s pipeline with a decision
at every match (leave a fusion / layout change / map split out, add a normalization fusion,
tile a map). The method, a first version:

1. **Incumbent.** ``auto_optimize``'s program is built, compiled, run on fresh random inputs
   at the requested sizes (its outputs are the reference) and timed.
2. **Kernels in isolation.** Choices that change one kernel and no data (``LOCAL_PHASES``:
   loop order, tiles, threads of a map or a GEMM) are timed in their kernel, many per
   program: probe j makes every kernel's j-th choice at once, and the instrumented library
   (``CompiledProgram.profile``) says what each kernel took against its time under
   ``auto_optimize``. Each kernel's winner (beyond the noise) is kept; the winners compose
   (no data changes between them, so no neighbour pays a transition) and are assembled
   into one configuration, checked and timed as a whole program. This is the paper's
   per-operator configuration graph where no edge has a cost, whose shortest path is each
   operator's fastest configuration; choices that change layouts or fusions are not
   decomposed but timed whole (step 3).
3. **Neighbours.** Every other configuration one decision away from it is built (those that add a
   transformation first; building stops when half the budget is spent). Builds that raise
   are discarded; the IR's cost model prunes the rest: a candidate that moves more than
   ``prune_ratio`` times the incumbent's bytes (``Program.data_movement``) is not timed, nor
   one whose IR equals another's. The transformations here do not change the arithmetic, so
   flops do not separate candidates; bytes do.
4. **Timing.** Survivors, fewest bytes first, are compiled (flowc's pipeline, disk cache on),
   run and compared with the reference on the same inputs (a candidate that fails to compile,
   raises, hangs past ``candidate_timeout_s`` or differs is discarded and reported), then
   timed: repeats, median; two medians closer than the noise band (the larger interquartile
   range, at least ``tolerance`` of the median) are a tie, and ties go to the incumbent.
5. **Composition.** Decisions at different matches compose: the winners (the assembled
   kernel picks among them) are added greedily, fastest first, each kept only if the
   combination is faster again (a coordinate descent over per-match choices).
6. **Confirmation.** The assembled program and ``auto_optimize``'s are timed again,
   alternately, in the same run; the assembled one wins only beyond the noise band.

Modules: ``search_space`` (the configurations), ``search_inputs`` (random inputs, the
correctness gate), ``search_report`` (what is returned), ``search_cache`` (the store), and
this one (timing, the method, the API).

The search stops starting candidates when the next would not fit in ``budget_s`` (one in
progress finishes). The result is stored (``search_cache``) as the chosen history, keyed by
the program's IR, sizes, target and machine; a later call replays it without timing.
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
import threading
import time
import warnings
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from flowc.ir.errors import IRError
from flowc.ir.program import Program
from flowc.transforms import search_cache
from flowc.transforms.base import replay
from flowc.transforms.search_inputs import (check_sizes, outputs, random_inputs, size_of, sizes_from_args,
                                            why_differs)
from flowc.transforms.search_report import Candidate, SearchReport, SearchResult
from flowc.transforms.search_space import PIPELINE, Built, Choice, build, neighbours

TARGETS = ("cpu",)

#: ``timer(run, candidate)``: call ``run()`` (one execution of the candidate on its inputs)
#: as often as it likes and return the per-execution times in seconds
Timer = Callable[[Callable[[], Any], "Candidate"], Sequence[float]]


# ---------------------------------------------------------------- timing

class RepeatTimer:
    """The default timer: one warm-up run, then ``repeats`` samples; each sample runs the
    program often enough to last ``min_sample_s`` (so microsecond kernels are not all
    clock noise) and reports the time per run."""

    def __init__(self, repeats: int = 5, min_sample_s: float = 0.005):
        if repeats < 1:
            raise ValueError(f"repeats must be positive, got {repeats}")
        self.repeats, self.min_sample_s = repeats, min_sample_s

    def _runs_per_sample(self, run: Callable[[], Any]) -> int:
        t = time.perf_counter()
        run()
        once = max(time.perf_counter() - t, 1e-7)
        return max(1, min(1000, math.ceil(self.min_sample_s / once)))

    def __call__(self, run: Callable[[], Any], candidate: Candidate) -> list[float]:
        n = self._runs_per_sample(run)
        samples = []
        for _ in range(self.repeats):
            t = time.perf_counter()
            for _ in range(n):
                run()
            samples.append((time.perf_counter() - t) / n)
        return samples

    def kernels(self, run: Callable[[], Any], profile: Callable[[], dict[str, Any]],
                candidate: Candidate) -> list[dict[str, float]]:
        """Per-kernel samples of an instrumented program: each sample maps a kernel's name to
        its seconds per run of the program (``profile()`` reads and resets the counters)."""
        n = self._runs_per_sample(run)
        profile()
        samples = []
        for _ in range(self.repeats):
            for _ in range(n):
                run()
            samples.append({name: k.seconds / n for name, k in profile().items()})
        return samples


def _band(a: Candidate, b: Candidate, tolerance: float) -> float:
    """Differences of medians smaller than this are noise."""
    return max(tolerance * min(a.median, b.median), a.spread, b.spread)


def _faster(a: Candidate, b: Candidate, tolerance: float) -> bool:
    """``a`` is faster than ``b`` beyond the noise."""
    return a.median + _band(a, b, tolerance) < b.median


def _compile(program: Program, target: str, instrument: bool = False) -> Callable[..., Any]:
    """The candidate compiled by flowc's normal pipeline (disk cache on)."""
    return program.compile(target=target, auto_optimize=False, instrument=instrument)


# ---------------------------------------------------------------- progress

class _Progress:
    """A tqdm bar when tqdm is installed and ``progress`` is not False; plain lines on stderr
    with ``FLOWC_DEBUG``; otherwise silent."""

    def __init__(self, progress: Optional[bool], name: str, deadline: float):
        self.bar, self.lines, self.deadline, self.name = None, False, deadline, name
        if progress is False:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None and (progress or sys.stderr.isatty()):
            self.bar = tqdm(desc=f"auto_search {name}", unit="cand", leave=False)
        else:
            self.lines = bool(progress) or os.environ.get("FLOWC_DEBUG", "") not in ("", "0")

    def total(self, n: int) -> None:
        if self.bar is not None:
            self.bar.total = n
            self.bar.refresh()

    def step(self, cand: Candidate, best: Optional[float]) -> None:
        left = max(0.0, self.deadline - time.monotonic())
        best_s = f"{best * 1e3:.3f} ms" if best else "-"
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(best=best_s, left=f"{left:.0f}s")
        elif self.lines:
            med = f"{cand.median * 1e3:.3f} ms" if cand.median is not None else "-"
            print(f"[flowc] auto_search {self.name}: {cand.status} {med} (best {best_s}, {left:.0f} s left) "
                  f"{cand.description}", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ---------------------------------------------------------------- the search

class _Search:
    def __init__(self, program: Program, target: str, sizes: dict[str, int], budget_s: float,
                 timer: Timer, tolerance: float, prune_ratio: float, progress: Optional[bool],
                 candidate_timeout_s: Optional[float] = None):
        self.program, self.target, self.sizes = program, target, sizes
        self.timer, self.tolerance, self.prune_ratio = timer, tolerance, prune_ratio
        self.start = time.monotonic()
        self.deadline = self.start + budget_s
        self.report = SearchReport(program.name, target, dict(sizes))
        self.progress = _Progress(progress, program.name, self.deadline)
        self.inputs = random_inputs(program, sizes)
        self.symbols = {s: sizes[s] for s in program.free_symbols()}
        self.eval_cost = 0.0                       # seconds the last evaluation took
        self.candidate_timeout_s = candidate_timeout_s
        self.timeout: Optional[float] = None       # set once auto_optimize's program has run
        self.last_run_s = 0.0

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def bytes_of(self, program: Program) -> int:
        return int(program.data_movement(**self.symbols)["total"])

    def run_once(self, compiled: Callable[..., Any]) -> list[np.ndarray]:
        args = [a.copy() if isinstance(a, np.ndarray) else a for a in self.inputs[0]]
        return outputs(compiled(*args, **self.inputs[1]), args)

    def run_guarded(self, compiled: Callable[..., Any]) -> list[np.ndarray]:
        """``run_once`` on a daemon thread, given up after ``self.timeout`` seconds (a hung
        candidate keeps its thread until the process ends, but the search goes on; ctypes
        releases the GIL during the native call)."""
        if self.timeout is None:
            return self.run_once(compiled)
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["out"] = self.run_once(compiled)
            except BaseException as exc:  # noqa: BLE001 - handed to the searching thread
                box["exc"] = exc
        thread = threading.Thread(target=target, daemon=True, name="flowc-auto-search-candidate")
        thread.start()
        thread.join(self.timeout)
        if thread.is_alive():
            raise TimeoutError(f"no result after {self.timeout:.1f} s (the candidate is abandoned)")
        if "exc" in box:
            raise box["exc"]
        return box["out"]

    def evaluate(self, cand: Candidate, program: Program, reference: Optional[list[np.ndarray]]) -> Any:
        """Compile, run, check against ``reference`` and time ``cand``; returns its outputs
        (None when it was discarded, with the status and reason set)."""
        t = time.monotonic()
        try:
            stage = "compiling"
            compiled = _compile(program, self.target)
            stage = "running"
            t_run = time.monotonic()
            out = self.run_guarded(compiled)
            self.last_run_s = time.monotonic() - t_run
            if reference is not None:
                why = why_differs(out, reference)
                if why:
                    cand.status, cand.reason = "differs", why
                    return None
            stage = "timing"
            self.time(cand, compiled)
        except Exception as exc:  # noqa: BLE001 - a candidate must never stop the search
            cand.status, cand.reason = "failed", f"{stage}: {type(exc).__name__}: {exc}"
            cand.times = []
            return None
        finally:
            self.eval_cost = time.monotonic() - t
        cand.status = "timed" if cand.status == "pending" else cand.status
        return out

    def time(self, cand: Candidate, compiled: Callable[..., Any]) -> None:
        """Add the timer's samples of ``compiled`` (on its own copy of the inputs) to ``cand``."""
        args = [a.copy() if isinstance(a, np.ndarray) else a for a in self.inputs[0]]
        kwargs = self.inputs[1]
        times = [float(x) for x in self.timer(lambda: compiled(*args, **kwargs), cand)]
        self.report.timings += 1
        if not times or not all(math.isfinite(x) and x >= 0 for x in times):
            raise ValueError(f"the timer returned {times!r}, not a list of times")
        cand.times += times

    def fits(self, reserve: int = 1) -> bool:
        """Whether ``reserve`` more evaluations fit in the budget."""
        return self.left() > reserve * self.eval_cost

    def run(self) -> Program:
        report = self.report
        baseline_built = build(self.program, frozenset(), self.target, self.sizes)
        base = Candidate(frozenset(), "baseline", self.bytes_of(baseline_built.program))
        report.candidates.append(base)
        chosen_program = baseline_built.program
        if self.left() <= 0:
            report.notes.append("budget spent before anything was timed: auto_optimize's program, untimed")
            return chosen_program
        reference = self.evaluate(base, baseline_built.program, None)
        if reference is None:
            raise IRError(f"auto_search: auto_optimize's program itself failed: {base.reason}")
        base.status = "baseline"
        self.timeout = self.candidate_timeout_s or max(5.0, 50 * self.last_run_s)
        best = base
        timed: list[Candidate] = []
        programs: dict[frozenset, Program] = {}
        picks, probed = self.isolate(baseline_built, reference)
        if picks and not self.fits(reserve=3):
            self.report.notes.append("budget: the kernels' winners were not assembled")
            probed -= picks
        elif picks:
            cand = Candidate(picks)
            program = self.build_candidate(cand, baseline_built)
            if program is not None and self.evaluate(cand, program, reference) is not None:
                cand.reason = "the kernels' fastest choices, together"
                timed.append(cand)
                programs[picks] = program
                best = cand if cand.median < best.median else best
            if len(picks) > 1 and not (cand.median is not None and _faster(cand, base, self.tolerance)):
                # the kernels' winners lost together (a choice can cost outside its kernel: a map
                # left on one thread lets the pool fall asleep before the next kernel forks), so
                # each is tried on its own as a whole program too
                probed -= picks
        pending = self.neighbours(baseline_built, probed)
        self.progress.total(len(pending))
        for cand, program in pending:
            if not self.fits(reserve=3):           # keep room for composing and confirming
                cand.status, cand.reason = "skipped", "budget"
                continue
            if self.evaluate(cand, program, reference) is not None:
                timed.append(cand)
                programs[cand.config] = program
                if cand.median < best.median:
                    best = cand
            self.progress.step(cand, best.median)
        report.complete = all(c.status != "skipped" for c in report.candidates)
        winners = sorted((c for c in timed if _faster(c, base, self.tolerance)), key=lambda c: c.median)
        best, best_program = self.compose(base, winners, programs, reference, baseline_built)
        if best is not base:
            best, best_program = self.confirm(base, best, best_program, baseline_built.program)
        self.progress.close()
        if best is not base:
            best.status = "chosen"
            chosen_program = best_program
        report.chosen = best.description
        return chosen_program

    def isolate(self, baseline: Built, reference: list[np.ndarray]) -> tuple[frozenset, set[Choice]]:
        """Time the local choices (``LOCAL_PHASES``: loop order, tiles, threads of one map or
        GEMM) in the kernels they change, many at once: probe program j makes, in every kernel,
        that kernel's j-th choice, so a program with 40 kernels and 3 choices each needs 3
        compiled probes, not 120 programs. The instrumented library (``CompiledProgram.profile``)
        times each kernel; a choice wins its kernel when it beats the kernel's time under
        ``auto_optimize`` beyond the noise. Local choices change no data, so the kernels' winners
        compose: they are assembled into one configuration, which ``run`` then checks and times
        as a whole program like any other. (The configuration graph of the paper reduces to this
        when no choice changes a layout: no edge has a transition cost, and the shortest path
        takes each operator's fastest configuration. Layout and fusion choices are timed as
        whole programs.) Returns (the assembled picks, every choice that was timed here)."""
        kernel_timer = getattr(self.timer, "kernels", None)
        per_kernel: dict[str, list[Choice]] = {}
        for point in baseline.points:
            name = baseline.kernels.get(point.key)
            if name is not None:
                per_kernel.setdefault(name, []).extend(Choice(point.key, alt) for alt in point.alternatives)
        if kernel_timer is None or not per_kernel or not self.fits(reserve=4):
            if per_kernel and kernel_timer is None:
                self.report.notes.append("the timer times whole programs only: local choices were not timed "
                                         "in their kernels")
            return frozenset(), set()
        try:
            base_times = self.kernel_samples(baseline.program, reference, kernel_timer, "auto_optimize")
        except Exception as exc:  # noqa: BLE001 - fall back to timing whole programs
            self.report.notes.append(f"kernel timing of auto_optimize's program failed ({type(exc).__name__}: "
                                     f"{exc}): local choices are timed as whole programs")
            return frozenset(), set()
        per_kernel = {name: choices for name, choices in per_kernel.items() if name in base_times}
        probed: set[Choice] = set()
        kernel_cands: dict[str, list[Candidate]] = {}
        if not per_kernel:
            return frozenset(), probed
        rounds = max(len(choices) for choices in per_kernel.values())
        for j in range(rounds):
            config = {name: choices[j] for name, choices in per_kernel.items() if j < len(choices)}
            cands = {}
            for name, choice in config.items():
                cand = cands[choice] = Candidate(frozenset({choice}), kernel=name)
                kernel_cands.setdefault(name, []).append(cand)
                self.report.candidates.append(cand)
            if not self.fits(reserve=4):
                for cand in cands.values():
                    cand.status, cand.reason = "skipped", "budget"
                continue
            try:
                probe = frozenset(config.values())
                built = build(self.program, probe, self.target, self.sizes, baseline=baseline)
                samples = self.kernel_samples(built.program, reference, kernel_timer, f"probe {j + 1}", probe)
            except Exception as exc:  # noqa: BLE001 - these choices are then timed as whole programs
                for cand in cands.values():
                    cand.status, cand.reason = "failed", f"in probe {j + 1}: {type(exc).__name__}: {exc}"
                continue
            changed = self.changed_more_than_kernels(baseline, built)
            where = [built.kernels.get(choice.key) for choice in cands]
            for (choice, cand), kernel in zip(cands.items(), where):
                if changed:              # left to the whole-program phase
                    cand.status, cand.reason = "skipped", f"probe {j + 1} {changed}"
                    continue
                if (kernel is None or kernel not in samples or where.count(kernel) > 1
                        or built.kernel_order.index(kernel) != baseline.kernel_order.index(cand.kernel)):
                    cand.status, cand.reason = "failed", "its kernel could not be told apart in the probe"
                    continue
                cand.times, cand.kernel_base_s = samples[kernel], float(np.median(base_times[cand.kernel]))
                cand.status = "kernel"
                probed.add(choice)
            self.progress.step(next(iter(cands.values())), self.report.candidates[0].median)
        picks = []
        for name, cands in kernel_cands.items():
            base = Candidate(frozenset(), times=base_times[name])
            winners = [c for c in cands if c.status == "kernel" and _faster(c, base, self.tolerance)]
            if winners:
                picks.append(min(winners, key=lambda c: c.median))
        return frozenset(next(iter(c.config)) for c in picks), probed

    @staticmethod
    def changed_more_than_kernels(baseline: Built, probe: Built) -> str:
        """Why a probe's kernels cannot be compared one by one with auto_optimize's ('' if they
        can): a local choice made early (a loop order, before fusion) can change which maps fuse,
        and so which containers exist and how many kernels run."""
        if set(probe.program.data) != set(baseline.program.data):
            return "changed the program's containers (a fusion or local buffer came or went)"
        if len(probe.kernel_order) != len(baseline.kernel_order):
            return f"has {len(probe.kernel_order)} kernels, auto_optimize {len(baseline.kernel_order)}"
        return ""

    def kernel_samples(self, program: Program, reference: list[np.ndarray], kernel_timer: Any,
                       what: str, config: frozenset = frozenset()) -> dict[str, list[float]]:
        """Compile ``program`` (``config``'s) instrumented, check its result against
        ``reference`` and time it: kernel name → seconds per run of the program, one entry per
        sample."""
        start = time.monotonic()
        try:
            compiled = _compile(program, self.target, instrument=True)
            why = why_differs(self.run_guarded(compiled), reference)
            if why:
                raise ValueError(f"{what}'s result differs: {why}")
            args = [a.copy() if isinstance(a, np.ndarray) else a for a in self.inputs[0]]
            kwargs = self.inputs[1]
            samples = kernel_timer(lambda: compiled(*args, **kwargs), compiled.profile, Candidate(config, what))
            self.report.timings += 1
        finally:                       # what the budget check (``fits``) expects the next one to cost
            self.eval_cost = max(self.eval_cost, time.monotonic() - start)
        out: dict[str, list[float]] = {}
        for sample in samples:
            for name, seconds in sample.items():
                out.setdefault(name, []).append(float(seconds))
        return out

    def neighbours(self, baseline: Built, probed: set[Choice]) -> list[tuple[Candidate, Program]]:
        """Build every configuration one decision away (but those ``isolate`` timed in their
        kernel already); prune by the cost model and duplicates."""
        seen = {hashlib.sha256(baseline.program.to_json().encode()).hexdigest(): "auto_optimize"}
        base_bytes = self.report.candidates[0].bytes_moved or 0
        out: list[tuple[Candidate, Program]] = []
        # what adds a transformation first; then what leaves one out (usually pruned), those
        # about the smallest containers first (the fewest extra bytes if the fusion's
        # intermediate comes back); building stops when half the budget is gone
        configs = sorted((c for c in neighbours(baseline.points) if not c <= probed),
                         key=lambda c: self.build_order(c, baseline))
        build_deadline = self.start + (self.deadline - self.start) / 2
        for config in configs:
            cand = Candidate(config)
            if time.monotonic() > build_deadline:
                self.report.candidates.append(cand)
                cand.status, cand.reason = "skipped", "budget (not built)"
                continue
            program = self.build_candidate(cand, baseline)
            if program is None:
                continue
            digest = hashlib.sha256(program.to_json().encode()).hexdigest()
            if digest in seen:
                cand.status, cand.reason = "duplicate", f"same IR as {seen[digest]}"
                continue
            seen[digest] = cand.description
            if cand.bytes_moved > self.prune_ratio * base_bytes:
                cand.status = "pruned"
                cand.reason = f"moves {cand.bytes_moved / max(base_bytes, 1):.2f}x auto_optimize's bytes"
                continue
            out.append((cand, program))
        out.sort(key=lambda cp: cp[0].bytes_moved)
        return out

    def build_order(self, config: frozenset, baseline: Built) -> tuple[bool, int]:
        """Sort key: (leaves a transformation out, bytes of the containers the decisions are
        about, as they were before their phase; leaving out a transformation that is about no
        container sorts last)."""
        leaves_out = any(ch.value is False for ch in config)
        phases = [ph.name if ph else None for ph in PIPELINE]
        size = 0
        for ch in config:
            program = baseline.snapshots[phases.index(ch.phase)]
            desc = program.data.get(ch.key[2]) if ch.key[2] else None
            if desc is None and ch.value is False:
                size += 1 << 62                 # no container to size: after those with one
            elif desc is not None:
                try:
                    size += size_of(desc.total_size(), self.sizes, ch.key[2]) * desc.dtype.itemsize
                except (ValueError, TypeError):
                    pass
        return leaves_out, size

    def build_candidate(self, cand: Candidate, baseline: Built) -> Optional[Program]:
        """Report ``cand`` and build its configuration (its bytes moved set); None, with the
        candidate marked failed, when building raises."""
        self.report.candidates.append(cand)
        try:
            program = build(self.program, cand.config, self.target, self.sizes, baseline=baseline).program
            cand.bytes_moved = self.bytes_of(program)
            return program
        except Exception as exc:  # noqa: BLE001 - a transformation bug must not stop the search
            cand.status, cand.reason = "failed", f"building: {type(exc).__name__}: {exc}"
            return None

    def compose(self, base: Candidate, winners: list[Candidate], programs: dict[frozenset, Program],
                reference: list[np.ndarray], baseline: Built) -> tuple[Candidate, Program]:
        """Greedy: start from the fastest winner, add each next one if the union is faster."""
        if not winners:
            return base, baseline.program
        best = winners[0]
        best_program = programs[best.config]
        for w in winners[1:]:
            if not self.fits(reserve=2):
                self.report.notes.append("budget: stopped composing winners")
                break
            keys = {c.key for c in best.config}
            if any(c.key in keys for c in w.config):
                continue
            cand = Candidate(best.config | w.config)
            program = self.build_candidate(cand, baseline)
            if program is None:
                continue
            if self.evaluate(cand, program, reference) is not None and _faster(cand, best, self.tolerance):
                best, best_program = cand, program
            self.progress.step(cand, best.median)
        return best, best_program

    def confirm(self, base: Candidate, best: Candidate, best_program: Program,
                base_program: Program) -> tuple[Candidate, Program]:
        """Time the pick and auto_optimize again, alternately; keep the pick only if it still
        wins beyond the noise."""
        again_base = Candidate(frozenset(), "baseline")
        again_best = Candidate(best.config)
        try:
            runs = [(again_base, _compile(base_program, self.target)),
                    (again_best, _compile(best_program, self.target))]
            for _ in range(2):
                for cand, compiled in runs:
                    self.time(cand, compiled)
        except Exception as exc:  # noqa: BLE001
            self.report.notes.append(f"confirmation failed ({type(exc).__name__}: {exc}): keeping auto_optimize")
            return base, base_program
        self.report.baseline_time_s, self.report.chosen_time_s = again_base.median, again_best.median
        if _faster(again_best, again_base, self.tolerance):
            self.report.notes.append("confirmed against auto_optimize, timed alternately in the same run")
            return best, best_program
        self.report.notes.append(f"not confirmed ({again_best.median * 1e3:.3f} vs {again_base.median * 1e3:.3f} ms, "
                                 "within noise): keeping auto_optimize")
        self.report.chosen_time_s = again_base.median
        return base, base_program


def auto_search(program: Any, target: str = "cpu", sizes: Optional[dict[str, int]] = None,
                example_args: Optional[Sequence[Any]] = None, budget_s: float = 60.0,
                cache: Union[bool, str] = True,
                timer: Optional[Timer] = None, repeats: int = 5, tolerance: float = 0.03,
                prune_ratio: float = 1.25, progress: Optional[bool] = None,
                candidate_timeout_s: Optional[float] = None) -> SearchResult:
    """Search configurations of the transformation pipeline for the fastest ``program`` at the
    given sizes (see the module docstring); never returns something slower than
    ``auto_optimize`` beyond the measured noise.

    ``program``: a fresh lowering (``Program``) or a ``@flowc.program`` function (lowered
    here, typed by ``example_args`` if unannotated). ``sizes`` (symbol → int) or
    ``example_args`` say the sizes to tune for; inputs are fresh random arrays of those sizes.
    ``budget_s``: seconds of searching (a budget too small to time anything returns
    ``auto_optimize``'s program). ``cache``: replay a stored result without timing, and store
    this one (``"refresh"``: search even if a result is stored, and store the new one).
    ``timer``: how candidates are timed (``RepeatTimer(repeats)`` by default);
    ``tolerance``: the smallest relative difference that is not a tie; ``prune_ratio``:
    candidates moving more than this times auto_optimize's bytes are not timed;
    ``candidate_timeout_s``: a candidate's checking run that takes longer is discarded as hung
    (default: 50 times auto_optimize's run, at least 5 s)."""
    if target not in TARGETS:
        raise ValueError(f"target {target!r} is not supported; supported: {', '.join(TARGETS)}")
    if hasattr(program, "to_ir") and not isinstance(program, Program):
        program = program.to_ir(*(example_args or ()))
    if not isinstance(program, Program):
        raise TypeError(f"program must be a flowc Program or a @flowc.program function, got {type(program).__name__}")
    if isinstance(budget_s, bool) or not isinstance(budget_s, (int, float)) or budget_s < 0:
        raise ValueError(f"budget_s must be a non-negative number of seconds, got {budget_s!r}")
    if not (isinstance(tolerance, (int, float)) and 0 <= tolerance < 1):
        raise ValueError(f"tolerance must be in [0, 1), got {tolerance!r}")
    if not (isinstance(prune_ratio, (int, float)) and prune_ratio >= 1):
        raise ValueError(f"prune_ratio must be a number >= 1, got {prune_ratio!r}")
    if candidate_timeout_s is not None and not (isinstance(candidate_timeout_s, (int, float))
                                                and candidate_timeout_s > 0):
        raise ValueError(f"candidate_timeout_s must be a positive number of seconds, got {candidate_timeout_s!r}")
    if sizes is None and example_args is None:
        raise ValueError("auto_search needs sizes={symbol: int} or example_args to know what sizes to tune for")
    found = sizes_from_args(program, example_args) if example_args is not None else {}
    given = check_sizes(sizes if sizes is not None else {})
    unknown = sorted(set(given) - set(program.free_symbols()))
    if unknown:
        raise ValueError(f"sizes: {', '.join(unknown)} is not a size symbol of {program.name} "
                         f"(its size symbols: {', '.join(program.free_symbols()) or 'none'})")
    sizes = {**found, **given}
    missing = [s for s in program.free_symbols() if s not in sizes]
    if missing:
        raise ValueError(f"sizes: no value for {', '.join(missing)} (the program's size symbols: "
                         f"{', '.join(program.free_symbols())})")
    sizes = {s: sizes[s] for s in program.free_symbols()}
    start = time.monotonic()
    key = search_cache.entry_key(program.to_json(), sizes, target, search_cache.machine())
    done = len(program.history)
    if cache not in (True, False, "refresh"):
        raise ValueError(f"cache must be True, False or 'refresh', got {cache!r}")
    if cache is True:
        hit = _from_store(program, key, sizes, target)
        if hit is not None:
            hit.report.search_time_s = time.monotonic() - start
            return hit
    search = _Search(program, target, sizes, budget_s, timer or RepeatTimer(repeats), tolerance, prune_ratio,
                     progress, candidate_timeout_s)
    chosen = search.run()
    report = search.report
    report.search_time_s = time.monotonic() - start
    report.chosen_history = chosen.history[done:]
    if report.baseline_time_s is None:
        base = report.candidates[0]
        report.baseline_time_s = report.chosen_time_s = base.median
    if cache and report.timings:
        path = search_cache.save(key, {
            "program": program.name, "sizes": sizes, "target": target, "machine": search_cache.machine(),
            "history": report.chosen_history, "chosen": report.chosen, "budget_s": float(budget_s),
            "complete": report.complete, "baseline_time_s": report.baseline_time_s,
            "chosen_time_s": report.chosen_time_s, "search_time_s": report.search_time_s})
        report.cache_path = str(path)
    return SearchResult(chosen, report)


def _from_store(program: Program, key: str, sizes: dict[str, int], target: str) -> Optional[SearchResult]:
    """The stored result replayed onto a clone of ``program``, or None (nothing stored, or a
    damaged entry — with a warning)."""
    try:
        entry = search_cache.load(key)
    except search_cache.DamagedEntry as exc:
        warnings.warn(f"flowc auto_search: ignoring a damaged tuning entry and searching again: {exc}",
                      stacklevel=3)
        return None
    if entry is None:
        return None
    try:
        chosen = replay(program.clone(), entry["history"])
    except IRError as exc:
        warnings.warn(f"flowc auto_search: the stored configuration does not replay ({exc}); searching again",
                      stacklevel=3)
        return None
    report = SearchReport(program.name, target, dict(sizes), chosen=str(entry.get("chosen", "stored")),
                          chosen_history=entry["history"], cache_hit=True,
                          cache_path=str(search_cache.path_of(key)), complete=bool(entry.get("complete")))
    for name in ("baseline_time_s", "chosen_time_s"):
        value = entry.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            setattr(report, name, float(value))
    return SearchResult(chosen, report)
