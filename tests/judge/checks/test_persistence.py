"""The persistence checker fails on a lost and on a doubled event, and passes on a clean run."""

from __future__ import annotations

from harness.history.log import History
from harness.judge.checks.persistence import AREA, LayerFigures, PersistenceFigures, WriteLatency, check_persistence


def history_with_stats() -> list:
    history = History("run-check")
    for i in range(20):
        history.append("tick", worker="t", i=i)
    history.append("alert", worker="persistence", level="P1", layer="cache", reason="redis lost")
    history.append("health", worker="persistence", state="DEGRADED")
    history.append("alert", worker="persistence", level="P2", layer="cache", reason="recovered")
    history.append("health", worker="persistence", state="HEALTHY")
    history.append("persistence.stats", worker="persistence", offered=25, overflowed=0, dropped=0,
                   queue_high_water=7, batches=3, spilled=4, drained=4, retries=2,
                   layers={"postgres": {"write_p50_ms": 1.5, "write_p99_ms": 9.0},
                           "redis": {"write_p50_ms": 0.2, "write_p99_ms": 0.8}})
    return history.events()


def test_clean_run_passes_and_reports_the_writer_figures() -> None:
    events = history_with_stats()
    seqs = [e.seq for e in events]
    evidence = check_persistence(events, {"postgres": seqs, "checkpoint": seqs})
    assert evidence.area == AREA and evidence.violations == {}
    assert evidence.figures == PersistenceFigures(
        produced=25, layers={"checkpoint": LayerFigures(25, 0, 0), "postgres": LayerFigures(25, 0, 0)},
        unreachable={}, queue_high_water=7, spilled=4, drained=4, retries=2, dropped=0,
        alerts_P0=0, alerts_P1=1, health_transitions=2,
        write_latency={"postgres": WriteLatency(1.5, 9.0), "redis": WriteLatency(0.2, 0.8)},
    )


def test_missing_and_doubled_events_fail_with_their_seqs() -> None:
    events = history_with_stats()
    seqs = [e.seq for e in events]
    broken = [s for s in seqs if s != 5] + [9, 9, 12]
    evidence = check_persistence(events, {"postgres": broken, "checkpoint": seqs})
    assert evidence.figures.layers["postgres"].lost == 1 and evidence.figures.layers["postgres"].duplicated == 2
    assert evidence.counterexample("lost_postgres") == ({"seq": 5},)
    assert evidence.counterexample("duplicated_postgres") == ({"seq": 9, "copies": 3}, {"seq": 12, "copies": 2})
    assert evidence.figures.layers["checkpoint"].lost == 0 and evidence.counterexample("lost_checkpoint") == ()


def test_an_empty_layer_loses_everything_and_shows_the_first_ten() -> None:
    events = history_with_stats()
    evidence = check_persistence(events, {"sqlite": []})
    assert evidence.figures.layers["sqlite"].lost == 25
    assert [v["seq"] for v in evidence.counterexample("lost_sqlite")] == list(range(1, 11))
