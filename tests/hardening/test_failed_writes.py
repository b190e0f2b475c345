"""A failed write is retried from exactly what was not written; counters never claim more."""

from __future__ import annotations

import errno
import math
import os
from pathlib import Path

import pytest

from harness.clock import backoff_delay
from harness.system.guardian import checkpoint as checkpoint_module
from harness.system.guardian.checkpoint import Checkpoint, append_log, read_log, read_wal
from harness.system.guardian.recovery import recover
from harness.system.guardian.writer import Backoff, Writer
from harness.system.settings import RunConfig
from tests.system.guardian.conftest import FakeClock, make_events

CONFIG = RunConfig(trades=5, seed=3)


def failing_on(calls: set[int], real=append_log):
    """An append_log that raises on the given call numbers (1-based) and works otherwise."""
    count = {"n": 0}

    def append(path, events, **kwargs):
        count["n"] += 1
        if count["n"] in calls:
            raise OSError(28, "No space left on device")
        return real(path, events, **kwargs)

    return append


@pytest.mark.parametrize("failing_calls", [{2}, {1}, {2, 3}, {3}])
def test_checkpoint_append_that_fails_then_works_loses_nothing(tmp_path: Path, monkeypatch, failing_calls) -> None:
    # The row: one checkpoint write fails, then works again -> 100 of 300 events were missing.
    monkeypatch.setattr(checkpoint_module, "append_log", failing_on(failing_calls))
    layer = Checkpoint(tmp_path / "ckpt", CONFIG.symbols, CONFIG.limits, every=10_000)
    clock = FakeClock()
    writer = Writer([layer], tmp_path / "spill", batch_size=100, max_delay_s=0.01, clock=clock,
                    backoff=Backoff(initial_s=1.0, factor=1.0, max_s=1.0))
    events = make_events(300)
    for start in range(0, 300, 100):
        for event in events[start:start + 100]:
            writer.offer(event)
        assert writer.wait_idle(10)
    for _ in range(len(failing_calls) + 1):
        clock.advance(1.0)
        writer.flush(2)
    assert writer.close(10)
    stats = writer.statistics().layers["checkpoint"]
    logged = [e.seq for e in read_log(layer._segment).events]
    assert logged == list(range(1, 301))  # every event once, in order
    assert stats.written == len(logged) and stats.retries == len(failing_calls) and stats.up


def test_a_direct_retry_after_a_failed_append_writes_the_same_events(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(checkpoint_module, "append_log", failing_on({1}))
    layer = Checkpoint(tmp_path, CONFIG.symbols, CONFIG.limits)
    events = make_events(50)
    with pytest.raises(OSError):
        layer.write(events)
    layer.write(events)
    layer.write(events)  # a duplicate delivery after success: still once
    assert [e.seq for e in read_log(layer._segment).events] == list(range(1, 51))
    assert recover(tmp_path, CONFIG.symbols, CONFIG.limits).last_seq == 50


def test_an_append_cut_short_is_rolled_back_so_no_half_line_stays(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "log.jsonl"
    events = make_events(20)
    chain = append_log(path, events[:10])
    size = path.stat().st_size
    real_write = os.write

    def short_then_fail(fd, data):
        if len(data) > 100:
            return real_write(fd, bytes(data[:100]))  # a partial write ...
        raise OSError(5, "Input/output error")  # ... then the device fails

    monkeypatch.setattr(os, "write", short_then_fail)
    with pytest.raises(OSError):
        append_log(path, events[10:], chain=chain)
    monkeypatch.undo()
    assert path.stat().st_size == size
    append_log(path, events[10:], chain=chain)
    assert [e.seq for e in read_log(path, repair=False).events] == list(range(1, 21))


def test_a_spill_that_cannot_be_written_keeps_its_events_queued_until_it_can(tmp_path: Path, monkeypatch) -> None:
    from harness.system.guardian import writer as writer_module
    from tests.system.guardian.conftest import FlakyStore

    monkeypatch.setattr(writer_module, "append_log", failing_on({1, 2}))  # the disk is full twice
    store, clock = FlakyStore(), FakeClock()
    transitions: list[tuple[str, bool, str]] = []
    writer = Writer([store], tmp_path, batch_size=10, max_delay_s=0.01, clock=clock,
                    backoff=Backoff(initial_s=0.01, factor=1.0, max_s=0.01),
                    listener=lambda name, up, reason: transitions.append((name, up, reason)))
    store.down = True
    events = make_events(40)
    for event in events:
        writer.offer(event)
    assert writer.wait_idle(10)  # spilled at the third try: nothing dropped on the way
    assert writer.pending() == {"postgres": 40} and transitions[0][1] is False
    store.down = False
    clock.advance(60)
    assert writer.close(10)
    assert store.rows == [e.seq for e in events]


@pytest.mark.parametrize("failures", [1, 2, 1025, 1026, 10**6, 10**18])
def test_the_backoff_caps_the_delay_never_the_attempts(failures) -> None:
    # The row: 2.0 ** failures overflowed after ~1,025 retries and the writer thread died.
    assert Backoff().delay(failures) == min(2.0, 0.05 * 2.0 ** min(failures - 1, 10))
    assert Backoff(initial_s=1e-4, factor=1e10, max_s=1e-3).delay(failures) == (1e-4 if failures == 1 else 1e-3)
    assert backoff_delay(failures, 0.0005, 2.0, 0.05) <= 0.05  # the lock client's


@pytest.mark.parametrize("bad", [{"initial_s": 0.0}, {"factor": 0.5}, {"max_s": math.inf}, {"initial_s": math.nan},
                                 {"initial_s": 3.0, "max_s": 2.0}])
def test_a_backoff_that_could_not_work_is_refused(bad) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(**bad)


def test_a_long_disk_full_loses_no_event_once_space_returns(tmp_path: Path, monkeypatch) -> None:
    # A full disk for hundreds of attempts (both the log and its spill refuse), past where the
    # old backoff overflowed (factor 1e10: at the 32nd failure), then space returns.
    real_write, refused = os.write, {"left": 400}

    def disk_full_for_a_while(fd, data):
        if refused["left"] > 0:
            refused["left"] -= 1
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    layer = Checkpoint(tmp_path / "ckpt", CONFIG.symbols, CONFIG.limits, every=10_000)
    transitions: list[tuple[str, bool, str]] = []
    writer = Writer([layer], tmp_path / "spill", batch_size=50, max_delay_s=0.001,
                    backoff=Backoff(initial_s=1e-4, factor=1e10, max_s=1e-3),
                    listener=lambda name, up, reason: transitions.append((name, up, reason)))
    monkeypatch.setattr(os, "write", disk_full_for_a_while)
    events = make_events(2000)
    for event in events:
        writer.offer(event)
    assert writer.close(60)
    monkeypatch.undo()
    assert refused["left"] == 0
    assert [e.seq for e in read_wal(tmp_path / "ckpt").events] == list(range(1, 2001))  # once each, in order
    stats = writer.statistics().layers["checkpoint"]
    assert stats.up and stats.retries >= 32
    down, *_, up = transitions
    assert down[1] is False and "No space left on device" in down[2] and str(tmp_path / "ckpt" / "wal-") in down[2]
    assert up == ("checkpoint", True, "recovered")
