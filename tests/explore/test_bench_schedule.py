"""bench_schedule runs once on a tiny workload and reports ratios against its own baseline."""

from __future__ import annotations

import pytest

from bench import bench_races, bench_schedule


def test_bench_schedule_tiny() -> None:
    rows = {r["name"].split(" [")[0]: r for r in bench_schedule.run(quick=True, tiny=True)}
    base, pct = rows["uncontrolled step"], rows["controlled step, pct"]
    assert base["value"] > 0 and pct["baseline"] == base["name"]
    assert pct["ratio"] == pytest.approx(pct["value"] / base["value"], rel=1e-2)
    assert 0 < rows["distinct interleavings, pct"]["value"] <= 1


def test_bench_schedule_reports_the_default_portfolio_against_the_same_baseline() -> None:
    rows = {r["name"].split(" [")[0]: r for r in bench_schedule.run(quick=True, tiny=True)}
    assert rows["controlled step, portfolio"]["baseline"] == rows["uncontrolled step"]["name"]


def test_bench_races_tiny_finds_every_planted_race_and_no_reference_failure() -> None:
    rows = bench_races.run(quick=True, tiny=True)
    races = [r for r in rows if r["name"].startswith("schedules to first failure")]
    assert len(races) == sum(len(scenarios) for _, scenarios in bench_races.RACES.values())
    assert all(r["met"] and r["found"] == "1/1" for r in races)
    assert all(r["met"] and r["value"] == 0 for r in rows if "failures [" in r["name"])
