"""The writer: offer never blocks, a down layer spills, the spill drains in order, nothing lost or doubled."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from harness.system.guardian.checkpoint import CheckpointError, append_log, encode_lines
from harness.system.guardian.writer import Backoff, Writer
from tests.system.guardian.conftest import FakeClock, FlakyStore, make_events


class GatedStore(FlakyStore):
    """A layer whose writes hang until the gate opens (a stalled database)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()

    def write(self, events):
        self.entered.set()
        assert self.gate.wait(30), "test never opened the gate"
        super().write(events)


def test_offer_never_blocks_while_the_layer_hangs_and_overflow_is_spilled_not_dropped(tmp_path: Path) -> None:
    store = GatedStore()
    writer = Writer([store], tmp_path, capacity=10, batch_size=5, max_delay_s=0.01)
    events = make_events(200)
    writer.offer(events[0])
    assert store.entered.wait(10)
    started = time.perf_counter()
    for event in events[1:]:
        writer.offer(event)
    offering = time.perf_counter() - started
    store.gate.set()
    assert writer.flush(30)
    writer.close()
    stats = writer.statistics()
    assert offering < 1.0  # 199 offers against a hung layer: no waiting on it
    assert stats.overflowed > 0 and stats.spilled >= stats.overflowed and stats.dropped == 0
    assert stats.queue_high_water == 10
    assert sorted(store.rows) == [e.seq for e in events] and len(set(store.rows)) == 200


def test_down_layer_spills_then_drains_in_order_after_backoff(tmp_path: Path, clock: FakeClock) -> None:
    store = FlakyStore()
    transitions: list[tuple[str, bool]] = []
    writer = Writer([store], tmp_path, batch_size=8, max_delay_s=0.01, clock=clock,
                    backoff=Backoff(initial_s=1.0, factor=2.0, max_s=8.0),
                    listener=lambda name, up, reason: transitions.append((name, up)))
    store.down = True
    events = make_events(50)
    for event in events[:30]:
        writer.offer(event)
    assert writer.wait_idle(10)
    assert store.rows == [] and writer.pending() == {"postgres": 30}
    assert transitions == [("postgres", False)]
    attempts = store.attempts
    assert not writer.flush(0.05)  # retry not due on the fake clock: no new attempt
    assert store.attempts == attempts
    store.down = False
    for event in events[30:]:
        writer.offer(event)  # arrives while the backlog waits: goes behind it
    assert writer.wait_idle(10)
    clock.advance(1.0)
    assert writer.flush(10)
    writer.close()
    stats = writer.statistics().layers["postgres"]
    assert store.rows == [e.seq for e in events]  # drained in order, zero loss, zero dup
    assert stats.spilled == 50 and stats.drained == 50 and stats.retries >= 1 and stats.up
    assert transitions == [("postgres", False), ("postgres", True)]
    assert (tmp_path / "spill-postgres.jsonl").read_bytes() == b""


def test_backoff_grows_exponentially_up_to_its_cap() -> None:
    backoff = Backoff(initial_s=0.1, factor=2.0, max_s=0.5)
    assert [backoff.delay(n) for n in (1, 2, 3, 4, 10)] == [0.1, 0.2, 0.4, 0.5, 0.5]


def test_spill_left_by_a_crashed_process_drains_first_and_its_torn_tail_is_cut(tmp_path: Path) -> None:
    events = make_events(20)
    spill = tmp_path / "spill-postgres.jsonl"
    append_log(spill, events[:10])
    with open(spill, "ab") as out:
        out.write(events[10].to_json().encode()[:25])  # the crash cut this append short
    store = FlakyStore()
    writer = Writer([store], tmp_path, max_delay_s=0.01)
    for event in events[10:]:
        writer.offer(event)
    assert writer.flush(10)
    writer.close()
    assert store.rows == [e.seq for e in events]


def test_corrupt_line_inside_a_spill_is_a_clear_error_naming_the_file(tmp_path: Path) -> None:
    events = make_events(3)
    spill = tmp_path / "spill-postgres.jsonl"
    spill.write_bytes(encode_lines(events[:1])[0] + b"{garbage\n" + encode_lines(events[2:])[0])
    with pytest.raises(CheckpointError, match=r"spill-postgres\.jsonl:2: corrupt"):
        Writer([FlakyStore()], tmp_path)
