"""The journal streams a run's history to disk as it is made, in seq order, losing nothing to a failed write."""

from __future__ import annotations

import errno
import json

import pytest

from harness.history import journal as journal_module
from harness.history.journal import Journal
from harness.history.log import Event, History

NEVER = 3600.0  # no periodic flush in these tests: each one flushes when it means to


def _event(seq: int) -> Event:
    return Event(seq, seq, "2026-01-01T00:00:00.000000+00:00", "run", "w", None, "x.test", {"n": seq})


def _seqs(path) -> list[int]:
    return [json.loads(line)["seq"] for line in path.read_text(encoding="utf-8").splitlines()]


def test_events_reach_the_file_before_the_run_ends(tmp_path):
    history = History("run")
    history.append("x.before", worker="w")
    with Journal(tmp_path / "events.jsonl", interval_s=NEVER) as journal:
        journal.follow(history)
        history.append("x.after", worker="w")
        journal.flush()
        assert _seqs(tmp_path / "events.jsonl") == [1, 2]  # on disk while the journal is still open
    assert journal.holds(history.events())


def test_the_file_is_in_seq_order_whatever_the_arrival_order(tmp_path):
    history = History("run")
    path = tmp_path / "events.jsonl"
    with Journal(path, interval_s=NEVER) as journal:
        journal.follow(history)
        history.extend([_event(1), _event(3)])
        journal.flush()
        assert _seqs(path) == [1]  # 3 waits for 2
        history.extend([_event(2), _event(5), _event(4)])
        journal.flush()
        assert _seqs(path) == [1, 2, 3, 4, 5]
    assert journal.holds(history.events())
    assert not journal.holds(history.events()[:4])


def test_a_gap_that_never_fills_holds_back_at_most_max_waiting_events(tmp_path):
    history = History("run")
    path = tmp_path / "events.jsonl"
    with Journal(path, interval_s=NEVER, max_waiting=3) as journal:
        journal.follow(history)
        history.extend([_event(seq) for seq in (2, 3, 4)])
        journal.flush()
        assert _seqs(path) == []
        history.extend([_event(5)])
        journal.flush()
        assert _seqs(path) == [2, 3, 4, 5]
        history.extend([_event(1)])  # a straggler past the bound: kept, out of order
    assert _seqs(path) == [2, 3, 4, 5, 1]
    assert not journal.holds(history.events())


def test_a_full_disk_for_a_while_loses_and_doubles_nothing(tmp_path, monkeypatch):
    real_write = journal_module.os.write
    disk_full = True
    calls = 0

    def write(fd, data):
        nonlocal calls
        calls += 1
        if disk_full:
            if calls % 2:  # part of a batch lands before the disk fills up, as on a real disk
                return real_write(fd, bytes(data[: len(data) // 3]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    history = History("run")
    path = tmp_path / "events.jsonl"
    monkeypatch.setattr(journal_module.os, "write", write)
    with Journal(path, interval_s=NEVER, batch=7) as journal:
        journal.follow(history)
        for round_ in range(50):
            for _ in range(13):
                history.append("x.tick", worker="w", round=round_)
            journal.flush()
            assert journal.error is None or journal.error.errno == errno.ENOSPC
        disk_full = False
    assert _seqs(path) == list(range(1, 651))
    assert journal.holds(history.events())


def test_only_the_first_history_is_followed(tmp_path):
    first, second = History("a"), History("b")
    with Journal(tmp_path / "events.jsonl", interval_s=NEVER) as journal:
        journal.follow(first)
        journal.follow(second)
        first.append("x.one", worker="w")
        second.append("x.two", worker="w")
    assert [json.loads(line)["run_id"] for line in (tmp_path / "events.jsonl").read_text().splitlines()] == ["a"]


@pytest.mark.parametrize("size", [0, 1])
def test_holds_an_empty_history_only_when_nothing_was_written(tmp_path, size):
    history = History("run")
    for _ in range(size):
        history.append("x.one", worker="w")
    with Journal(tmp_path / "events.jsonl", interval_s=NEVER) as journal:
        journal.follow(history)
    assert journal.holds([]) is (size == 0)
