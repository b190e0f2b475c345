"""Judging a run while it goes: a planted violation is reported as it happens; a clean run reports nothing."""

from __future__ import annotations

import threading
import time

from harness.history.log import History
from harness.judge.checks.locks import AREA as LOCK_AREA
from harness.judge.live import LiveJudge

DEADLINE_S = 5.0  # the bound between a violation and its report


def _acquire(history: History, client: str, req: int, token: int) -> None:
    history.append("lock.invoke", worker=client, op="acquire", names=["x"], req=req)
    history.append("lock.ok", worker=client, op="acquire", names=["x"], req=req, tokens={"x": token})


def _release(history: History, client: str, req: int) -> None:
    history.append("lock.invoke", worker=client, op="release", names=["x"], req=req)
    history.append("lock.ok", worker=client, op="release", names=["x"], req=req)


def test_a_double_grant_is_reported_while_the_run_goes_and_stops_it_once():
    history = History("live")
    reported, stopped = threading.Event(), []
    lines: list[str] = []

    def report(line: str) -> None:
        lines.append(line)
        reported.set()

    with LiveJudge(report, lambda: stopped.append(True), interval_s=0.05) as judge:
        judge.follow(history)
        for req in range(1, 50):  # a clean stretch first
            _acquire(history, "a", 2 * req, req)
            _release(history, "a", 2 * req + 1)
        planted_at = time.monotonic()
        _acquire(history, "a", 200, 100)
        _acquire(history, "b", 1, 101)  # granted while a holds x
        assert reported.wait(DEADLINE_S), "no live report within the deadline"
        latency = time.monotonic() - planted_at
        _acquire(history, "c", 1, 102)  # a second violation: reported, but the run is stopped only once
    assert latency < DEADLINE_S
    assert lines[0].startswith(f"[LIVE] {LOCK_AREA}: ") and "lock.ok by b" in lines[0]
    assert f"at seq {2 * 49 * 2 + 4}" in lines[0]
    assert stopped == [True] and len(judge.violations) >= 2


def test_a_clean_history_reports_nothing():
    history = History("live")
    lines: list[str] = []
    with LiveJudge(lines.append, interval_s=0.05) as judge:
        judge.follow(history)
        for req in range(1, 20):
            _acquire(history, "a", 2 * req, req)
            _release(history, "a", 2 * req + 1)
    assert lines == [] and judge.violations == []


def test_events_out_of_seq_order_are_judged_in_order():
    """Process mode delivers events out of order: the judge waits for the gap to fill (final: judges all)."""
    source = History("source")
    for req in range(1, 4):
        _acquire(source, "a", 2 * req, req)
        _release(source, "a", 2 * req + 1)
    events = source.events()
    target = History("live")
    lines: list[str] = []
    judge = LiveJudge(lines.append, interval_s=3600)  # steps only when told
    judge.follow(target)
    target.extend(reversed(events[:4]))
    judge.step()
    target.extend(events[4:])
    judge.close()
    assert lines == []  # out of order, judged in order: no false state error
