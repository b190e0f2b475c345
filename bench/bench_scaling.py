"""Scaling: the engine as symbols grow (1 -> 3 -> 10 -> 30) and the lock checker as history grows.

Each series ends with a growth row: the exponent of a least-squares log-log fit (1 is
linear) and whether the series grows linearly. BENCHMARKS.md explains those that do not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bench.bench_checkers import lock_check, tiled_history
from bench.bench_e2e import locked_run
from bench.runner import (
    Plan,
    Row,
    Samples,
    Target,
    growth,
    level,
    line_fit,
    loglog_exponent,
    repeat,
    round_figure,
    row,
)

GROUP = "scaling"
SYMBOLS = {"tiny": (1, 2), "quick": (1, 3, 10), "full": (1, 3, 10, 30)}
TRADES = {"tiny": 3, "quick": 15, "full": 30}  # per symbol
EVENTS = {"tiny": (1_000, 2_000), "quick": (10_000, 100_000), "full": (10_000, 100_000, 1_000_000)}
# Figures below one page of memory are noise; a fit needs a positive floor.
MIN_MB = 4 / 1024


def fit_row(name: str, xs: Sequence[float], ys: Sequence[float]) -> Row:
    """The growth row of one series: log-log exponent, its reading, and the straight-line fit."""
    exponent = loglog_exponent(xs, ys)
    fixed, per_unit = line_fit(xs, ys)
    return row(f"growth: {name}", [exponent], "exp", group=GROUP, exponent=round(exponent, 3),
               growth=growth(exponent), fixed=round_figure(fixed), per_unit=round_figure(per_unit),
               points=[[x, y] for x, y in zip(xs, ys, strict=False)])


def sweep(points: Sequence[int], measure: Callable[[int], Samples], series: dict[str, tuple[str, str]],
          axis: str) -> list[Row]:
    """Measure every point, one row per figure and point, then a growth row per figure."""
    rows: list[Row] = []
    medians: dict[str, list[float]] = {key: [] for key in series}
    for point in points:
        samples = measure(point)
        for key, (label, unit) in series.items():
            entry = row(f"{label} [{point:,} {axis}]", samples[key], unit, group=GROUP)
            medians[key].append(max(entry["value"], MIN_MB))
            rows.append(entry)
    for key, (label, _) in series.items():
        rows.append(fit_row(f"{label} vs {axis}", list(points), medians[key]))
    return rows


def run(quick: bool, tiny: bool = False) -> list[Row]:
    """Symbols sweep in process mode with the broker, then the checker over history lengths."""
    size = level(quick, tiny)
    plan = Plan.of(size, runs=2)
    engine = sweep(
        SYMBOLS[size], lambda n: repeat(lambda: locked_run(n, TRADES[size]), plan),
        {"trades_per_s": ("trades/s", "1/s"), "lock_p99_us": ("lock acquire p99", "us"),
         "peak_rss_mb": ("peak RSS, all processes", "MiB")},
        "symbols")

    rates = {r["name"]: r for r in engine}
    one, ten = rates.get("trades/s [1 symbols]"), rates.get("trades/s [10 symbols]")
    if one is not None and ten is not None:  # issue 15: more symbols must not mean fewer trades/s
        engine.append(row("trades/s, 10 symbols vs 1", [ten["value"]], "1/s", baseline=one,
                          target=Target("ratio", ">=", 1), group=GROUP))

    def checker(n: int) -> Samples:
        events = tiled_history(n)
        return repeat(lambda: lock_check(events), plan)

    checks = sweep(EVENTS[size], checker,
                   {"seconds": ("lock checker time", "s"), "memory_mb": ("lock checker peak memory growth", "MiB")},
                   "events")
    return engine + checks
