"""bench_schedule runs once on a tiny workload and reports ratios against its own baseline."""

from __future__ import annotations

import pytest

from bench import bench_schedule


def test_bench_schedule_tiny() -> None:
    rows = {r["name"].split(" [")[0]: r for r in bench_schedule.run(quick=True, tiny=True)}
    base, pct = rows["uncontrolled step"], rows["controlled step, pct"]
    assert base["value"] > 0 and pct["baseline"] == base["name"]
    assert pct["ratio"] == pytest.approx(pct["value"] / base["value"], rel=1e-2)
    assert 0 < rows["distinct interleavings, pct"]["value"] <= 1
