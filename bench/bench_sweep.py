"""Sweep throughput: runs/s and schedules/s of ``harness sweep`` with 1, 2 and 4 xdist workers.

Workload: race_detection cases of a few trades each (runs), and one seed's controlled
exploration cut into schedule chunks (schedules). Baseline: the same sweep on one worker,
measured in the same invocation; the ratio is the speed-up. Each case is a child process,
so the speed-up is bounded by the cores and by the interpreter start each case pays.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.runner import Plan, Row, level, repeat, row, timed

GROUP = "sweep"
SEEDS = {"tiny": 1, "quick": 4, "full": 8}
SCHEDULES = {"tiny": 2, "quick": 40, "full": 200}
WORKERS = {"tiny": (1, 2), "quick": (1, 2, 4), "full": (1, 2, 4)}


def sweep_seconds(spec: str, workers: int) -> float:
    """Seconds one ``harness sweep`` of ``spec`` takes on ``workers`` xdist workers (every case must PASS)."""
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        seconds, done = timed(lambda: subprocess.run(
            [sys.executable, "-m", "harness", "sweep", spec, "--out", tmp, "-n", str(workers)],
            capture_output=True, text=True, check=False))
        counts = json.loads((Path(tmp) / "sweep.json").read_text())["counts"] if done.returncode == 0 else {}
    if done.returncode != 0 or set(counts) != {"PASS"}:
        raise RuntimeError(f"sweep {spec!r} did not pass: {done.stdout[-400:]}{done.stderr[-400:]}")
    return seconds


def run(quick: bool, tiny: bool = False) -> list[Row]:
    """Runs/s and schedules/s per worker count; ratios against one worker."""
    size = level(quick, tiny)
    seeds, schedules = SEEDS[size], SCHEDULES[size]
    runs_spec = f"race_detection seeds=0-{seeds - 1} -- --trades 2"
    chunk = max(schedules // 4, 1)
    schedules_spec = f"race_detection seeds=1 schedules={schedules} chunk={chunk} -- --trades 1"
    plan = Plan(1, 0) if size == "tiny" else Plan(2 if quick else 3, 0)

    def once() -> dict[str, float]:
        figures: dict[str, float] = {}
        for workers in WORKERS[size]:
            figures[f"runs{workers}"] = seeds / sweep_seconds(runs_spec, workers)
            figures[f"schedules{workers}"] = schedules / sweep_seconds(schedules_spec, workers)
        return figures

    samples = repeat(once, plan)
    rows: list[Row] = []
    for unit, what, label in (("runs", "runs/s", f"{seeds} race_detection runs, 2 trades"),
                              ("schedules", "schedules/s", f"{schedules} schedules in chunks of {chunk}")):
        base = row(f"sweep {what}, 1 worker [{label}]", samples[f"{unit}1"], "1/s", group=GROUP)
        rows.append(base)
        rows += [row(f"sweep {what}, {w} workers [{label}]", samples[f"{unit}{w}"], "1/s", baseline=base,
                     group=GROUP) for w in WORKERS[size][1:]]
    return rows
