"""What ``auto_search`` returns: the chosen program and a report of every candidate it considered."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

import numpy as np

from flowc.ir.program import Program
from flowc.transforms.search_space import describe

@dataclass
class Candidate:
    """One configuration the search considered and what became of it.

    ``status``: ``baseline`` (auto_optimize), ``timed``, ``kernel`` (timed in its kernel: see
    below), ``pruned`` (cost model), ``duplicate`` (same IR as another), ``failed`` (raised
    while building, compiling or running, or hung: its checking run timed out), ``differs``
    (wrong result), ``skipped`` (budget), ``chosen``.

    A ``kernel`` candidate is one local choice timed in the one kernel it changes (``kernel``,
    as the profile names it), inside a program where other kernels tried other choices:
    ``times`` are that kernel's, ``kernel_base_s`` its median under ``auto_optimize``."""

    config: frozenset
    status: str = "pending"
    bytes_moved: Optional[int] = None
    times: list[float] = field(default_factory=list)
    reason: str = ""
    kernel: Optional[str] = None
    kernel_base_s: Optional[float] = None

    @property
    def description(self) -> str:
        return describe(self.config)

    @property
    def median(self) -> Optional[float]:
        return float(np.median(self.times)) if self.times else None

    def ratio(self, base: Optional[float]) -> Optional[float]:
        """Median time over auto_optimize's (``base`` for a program, ``kernel_base_s`` for a
        kernel candidate)."""
        ref = self.kernel_base_s if self.kernel is not None else base
        return self.median / ref if self.median is not None and ref else None

    @property
    def spread(self) -> float:
        """Interquartile range of the times (the measured noise)."""
        if len(self.times) < 2:
            return 0.0
        q1, q3 = np.percentile(self.times, [25, 75])
        return float(q3 - q1)


@dataclass
class SearchReport:
    """What the search did: every candidate, the timings, the choice and how long it took."""

    program: str
    target: str
    sizes: dict[str, int]
    candidates: list[Candidate] = field(default_factory=list)
    baseline_time_s: Optional[float] = None      # auto_optimize, confirmed in the same run
    chosen_time_s: Optional[float] = None
    chosen: str = "auto_optimize"
    chosen_history: list[dict[str, Any]] = field(default_factory=list)
    search_time_s: float = 0.0
    timings: int = 0                              # calls of the timer
    cache_hit: bool = False
    cache_path: Optional[str] = None
    complete: bool = False                        # every candidate left after pruning was timed
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.candidates:
            out[c.status] = out.get(c.status, 0) + 1
        return out

    @property
    def speedup(self) -> Optional[float]:
        """auto_optimize's time / the chosen program's (1.0 when auto_optimize was kept)."""
        if self.baseline_time_s and self.chosen_time_s:
            return self.baseline_time_s / self.chosen_time_s
        return None

    def table(self) -> str:
        base = next((c.median for c in self.candidates if c.status == "baseline"), None) or self.baseline_time_s
        head = (f"auto_search {self.program} on {self.target} at "
                f"{', '.join(f'{k}={v}' for k, v in sorted(self.sizes.items()))}: ")
        if self.cache_hit:
            head += f"stored configuration replayed from {self.cache_path} (no timing)"
        else:
            counts = ", ".join(f"{v} {k}" for k, v in sorted(self.counts().items()))
            head += f"{len(self.candidates)} candidates ({counts}) in {self.search_time_s:.1f} s, {self.timings} timed"
        lines = [head, f"chosen: {self.chosen}"]
        if self.speedup is not None:
            lines.append(f"time: {self.chosen_time_s * 1e3:.3f} ms vs auto_optimize {self.baseline_time_s * 1e3:.3f} ms"
                         f" ({self.speedup:.2f}x)")
        lines += self.notes
        if self.candidates:
            lines.append(f"{'status':<10} {'MB moved':>9} {'time ms':>9} {'ratio':>6}  configuration")
            if any(c.kernel for c in self.candidates):
                lines.append("(kernel rows: the time of the one kernel the choice changes, ratio to that kernel's "
                             "time under auto_optimize)")
            for c in self.candidates:
                mb = f"{c.bytes_moved / 1e6:.2f}" if c.bytes_moved is not None else "-"
                med, r = c.median, c.ratio(base)
                ms = f"{med * 1e3:.3f}" if med is not None else "-"
                ratio = f"{r:.2f}" if r is not None else "-"
                why = f"  [{c.reason}]" if c.reason else ""
                if c.kernel:
                    why = f"  [kernel {c.kernel}]" + why
                lines.append(f"{c.status:<10} {mb:>9} {ms:>9} {ratio:>6}  {c.description}{why}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def plot(self, ax: Any = None, top: int = 20) -> Any:
        """A bar chart (matplotlib) of the ``top`` fastest timed candidates: time relative to
        ``auto_optimize`` (below 1 is faster; the chosen bar is green, auto_optimize's grey).
        Returns the axes."""
        import matplotlib.pyplot as plt        # optional: only the notebook view needs it

        base = next((c.median for c in self.candidates if c.status == "baseline"), None) or self.baseline_time_s
        timed = sorted((c for c in self.candidates if c.median is not None and c.kernel is None),
                       key=lambda c: c.median)[:top]
        if ax is None:
            _, ax = plt.subplots(figsize=(10, 0.3 * len(timed) + 1.2))
        if not timed or not base:
            ax.set_title(f"auto_search {self.program}: nothing was timed")
            return ax
        colors = {"chosen": "#16a34a", "baseline": "#94a3b8"}
        ax.barh([c.description.replace("auto_optimize + ", "+ ") for c in timed], [c.median / base for c in timed],
                color=[colors.get(c.status, "#2563eb") for c in timed])
        ax.axvline(1.0, color="k", linewidth=1, linestyle="--")
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=7)
        ax.set_xlabel("time / auto_optimize's (median)")
        ax.set_title(f"auto_search {self.program}: {len(timed)} fastest of {len(self.candidates)} candidates")
        return ax


@dataclass
class SearchResult:
    """The chosen program and the report (unpacks as ``program, report = auto_search(...)``)."""

    program: Program
    report: SearchReport

    def __iter__(self) -> Iterator[Any]:
        yield self.program
        yield self.report


