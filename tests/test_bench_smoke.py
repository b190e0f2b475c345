"""Each benchmark runs once on tiny inputs (benchmarks themselves never run in ``make test``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import bench_check, bench_checkers, bench_decode, bench_e2e, bench_locks, bench_scaling
from bench.__main__ import main
from bench.runner import Plan, Target, growth, loglog_exponent, repeat, row
from harness.system.guardian.services import skip_or_fail


def _valid(rows: list[dict]) -> None:
    """Every row has a median figure and, where a baseline is named, a ratio computed from it."""
    assert rows
    for entry in rows:
        assert entry["runs"] >= 1 and entry["min"] <= entry["median"] <= entry["max"]
        if entry["baseline"] is not None and entry["baseline_value"]:
            assert entry["ratio"] == pytest.approx(entry["value"] / entry["baseline_value"], rel=1e-2)


def test_runner_helpers_measure_and_fit() -> None:
    calls = iter(range(10))
    samples = repeat(lambda: {"x": next(calls)}, Plan(3, 1))
    assert samples == {"x": [1.0, 2.0, 3.0]}  # the warm-up (0) is discarded
    base = row("base", [2.0], "s")
    entry = row("m", samples["x"], "s", baseline=base, target=Target("ratio", "<=", 1.0))
    assert entry["ratio"] == 1.0 and entry["met"] is True
    assert loglog_exponent([1, 10, 100], [3, 30, 300]) == pytest.approx(1.0)
    assert growth(loglog_exponent([1, 10, 100], [5, 5, 5])) == "sub-linear"


def test_bench_locks_measure_once() -> None:
    pairs = [(bench_locks.echo_server, bench_locks.echo_client), (bench_locks.bare_lock_server,
             bench_locks.bare_lock_client), (bench_locks.broker_server, bench_locks.broker_client)]
    for server, client in pairs:
        result = bench_locks.measure(server, client, 1, 20)
        assert result["rate"] > 0 and result["p99_us"] >= result["p50_us"] > 0


def test_e2e_tiny() -> None:
    rows = bench_e2e.run(quick=True, tiny=True)
    _valid(rows)
    trades = next(r for r in rows if r["name"].startswith("e2e locked trades/s"))
    assert trades["value"] > 0 and trades["baseline"].startswith("bare FIFO")


def test_checkers_tiny() -> None:
    rows = bench_checkers.run(quick=True, tiny=True)
    _valid(rows)
    assert any(r.get("met") is True for r in rows)  # a tiny history is checked far within 10 s


def test_tiled_history_is_clean_and_gapless() -> None:
    events = bench_checkers.tiled_history(3 * len(bench_checkers.base_events()))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert bench_checkers.lock_check(events)["seconds"] > 0  # raises on any lock violation


def test_scaling_tiny() -> None:
    rows = bench_scaling.run(quick=True, tiny=True)
    _valid(rows)
    assert {r["growth"] for r in rows if "growth" in r} <= {"linear", "sub-linear", "super-linear"}


@pytest.mark.services
def test_persistence_tiny() -> None:
    skip_or_fail("redis")
    skip_or_fail("postgres")
    from bench import bench_persistence

    rows = bench_persistence.run(quick=True, tiny=True)
    _valid(rows)
    assert {r["name"] for r in rows if "target" in r} >= {"redis state write p99", "order latency p99, database blackholed"}


def test_main_writes_bench_json_and_renders_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    assert main(["--only", "checkers", "--quick", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["failures"] == [] and report["measures"][0]["group"] == "checkers"
    capsys.readouterr()
    assert main(["--markdown", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| checkers | lock checker, no lin." in text and "| yes |" in text


def test_decode_tiny() -> None:
    rows = bench_decode.run(quick=True, tiny=True)
    _valid(rows)
    assert [r["baseline"] for r in rows[1:]] == [rows[0]["name"]] * 2


@pytest.mark.slow
def test_sweep_tiny() -> None:
    from bench import bench_sweep

    rows = bench_sweep.run(quick=True, tiny=True)
    _valid(rows)
    assert {r["name"].split(",")[0] for r in rows} == {"sweep runs/s", "sweep schedules/s"}


def test_check_tiny() -> None:
    rows = bench_check.run(quick=True, tiny=True)
    _valid(rows)
    assert rows[-1]["name"].startswith("growth:") and rows[1]["baseline"] == rows[0]["name"]
