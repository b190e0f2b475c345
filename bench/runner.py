"""Shared measuring helpers: repeated runs, result rows, targets, log-log fits, peak RSS."""

from __future__ import annotations

import math
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Samples = dict[str, list[float]]
Row = dict[str, Any]


@dataclass(frozen=True)
class Plan:
    """How many runs a benchmark makes: warm-ups discarded, then measured runs."""

    runs: int
    warmup: int = 1

    @classmethod
    def of(cls, level: str, runs: int = 3) -> Plan:
        """One warm-up then ``runs`` measured runs; two when quick; one and no warm-up when tiny."""
        return {"tiny": cls(1, 0), "quick": cls(2, 1)}.get(level, cls(runs, 1))


def level(quick: bool, tiny: bool = False) -> str:
    """Size level of a pass: "tiny" (smoke tests), "quick" (--quick) or "full"."""
    return "tiny" if tiny else "quick" if quick else "full"


def repeat(measure_once: Callable[[], Mapping[str, float]], plan: Plan) -> Samples:
    """The one timing loop: run ``measure_once`` warm-up + measured times; collect each figure."""
    for _ in range(plan.warmup):
        measure_once()
    samples: Samples = {}
    for _ in range(plan.runs):
        for key, value in measure_once().items():
            samples.setdefault(key, []).append(float(value))
    return samples


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds ``fn`` took on the performance clock, and what it returned."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def per_call_us(op: Callable[[], Any], count: int) -> list[float]:
    """Microseconds each of ``count`` calls of ``op`` took (for latency percentiles)."""
    out = []
    for _ in range(count):
        started = time.perf_counter_ns()
        op()
        out.append((time.perf_counter_ns() - started) / 1e3)
    return out


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile ``p`` (0-100) of unsorted values."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


@dataclass(frozen=True)
class Target:
    """A goal on a row's value or ratio, e.g. ratio >= 0.5 or value < 1 (ms)."""

    on: str  # "value" or "ratio"
    op: str  # ">=", "<=", "<"
    bound: float

    def met(self, row: Row) -> bool | None:
        """Whether the row meets the target (None when the figure is missing)."""
        figure = row.get(self.on)
        if figure is None:
            return None
        return {">=": figure >= self.bound, "<=": figure <= self.bound, "<": figure < self.bound}[self.op]

    def text(self) -> str:
        """Human form, e.g. 'ratio >= 0.5'."""
        return f"{self.on} {self.op} {self.bound:g}"


def round_figure(value: float) -> float:
    """Four significant digits: enough to read, small enough for a table."""
    return float(f"{value:.4g}") if value else 0.0


def row(name: str, samples: Sequence[float], unit: str, *, baseline: Row | None = None,
        target: Target | None = None, group: str = "", **extra: Any) -> Row:
    """One bench.json entry; the ratio is computed here from the baseline row's median."""
    value = statistics.median(samples)
    base = None if baseline is None else baseline["value"]
    entry: Row = {
        "name": name,
        "group": group,
        "value": round_figure(value),
        "unit": unit,
        "baseline": None if baseline is None else baseline["name"],
        "baseline_value": base,
        "ratio": None if not base else round_figure(value / base),
        "runs": len(samples),
        "min": round_figure(min(samples)),
        "median": round_figure(value),
        "max": round_figure(max(samples)),
    }
    if target is not None:
        entry["target"] = target.text()
        entry["met"] = target.met(entry)
    entry.update(extra)
    return entry


def loglog_exponent(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of log(y) on log(x): 1 means linear, <1 sub-linear, >1 super-linear."""
    lx = [math.log(x) for x in xs]
    ly = [math.log(max(y, 1e-12)) for y in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    den = sum((a - mx) ** 2 for a in lx)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=False)) / den if den else 0.0


def line_fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares y = fixed + per_unit * x: tells an affine series (fixed cost) from a curved one."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    per_unit = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=False)) / den if den else 0.0
    return my - per_unit * mx, per_unit


def growth(exponent: float, tolerance: float = 0.2) -> str:
    """Describe a log-log exponent against linear growth."""
    if abs(exponent - 1) <= tolerance:
        return "linear"
    return "sub-linear" if exponent < 1 else "super-linear"


# -- memory -------------------------------------------------------------------------------


def _rss_kb(pid: int) -> int:
    """Resident set size of one process from /proc, 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    """Child pids of one process, from each of its threads' /proc children list."""
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as listing:
                found.extend(int(p) for p in listing.read().split())
    except OSError:
        pass  # the process ended while we looked
    return found


def _descendants(root: int) -> list[int]:
    """The process tree under ``root`` (cheaper than scanning all of /proc: it runs beside the broker)."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(_children(pid))
    return found


class PeakRss:
    """Samples the summed RSS of this process and its children; ``peak_mb`` after the block."""

    def __init__(self, interval_s: float = 0.25) -> None:
        self.interval_s = interval_s
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="peak-rss", daemon=True)

    def _sample(self) -> None:
        self.peak_kb = max(self.peak_kb, sum(_rss_kb(pid) for pid in _descendants(os.getpid())))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> PeakRss:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def peak_mb(self) -> float:
        """Highest summed RSS seen, in MiB."""
        return self.peak_kb / 1024


def _status_kb(field: str) -> int:
    """One ``VmXXX:`` figure of this process's /proc status, in KiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def peak_growth_mb(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``fn`` in this process; return how far its peak RSS rose above the RSS before (MiB)."""
    # Writing 5 to clear_refs resets VmHWM (Linux >= 4.0), so the peak is this call's own.
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kb("VmRSS")
    result = fn()
    return max(0, _status_kb("VmHWM") - before) / 1024, result


@contextmanager
def deadline_note(label: str, log: Callable[[str], None]) -> Iterator[None]:
    """Log how long a benchmark section took (so the 10-minute budget stays visible)."""
    started = time.perf_counter()
    log(f"[bench] {label} ...")
    yield
    log(f"[bench] {label} done in {time.perf_counter() - started:.1f}s")
