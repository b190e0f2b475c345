"""Checkpoint and recovery: pure replay equals the live guardian, corrupt files fall back or truncate safely."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from harness.history.log import History
from harness.system.engine import run
from harness.system.guardian.checkpoint import (
    Checkpoint,
    CheckpointError,
    read_log,
    read_wal,
    replay_state,
    segments,
    snapshots,
)
from harness.system.guardian.recovery import recover
from harness.system.guardian.risk import Guardian, RiskLimits
from harness.system.locks.local import LockTable
from harness.system.settings import RunConfig

CONFIG = RunConfig(trades=30, seed=11)


@pytest.fixture(scope="module")
def events():
    """A real threaded run's events (one module-wide run keeps the tests fast)."""
    history = History("run-ckpt")
    history.append("test.start", worker="t")  # a non-empty History: the engine uses it
    return run(CONFIG, LockTable(), run_id="run-ckpt", history=history).events()


def guardian_of(state) -> Guardian:
    guardian = Guardian(CONFIG.symbols, CONFIG.limits)
    guardian.load_state(state)
    return guardian


def write_in_batches(layer: Checkpoint, events, size: int = 37) -> None:
    for start in range(0, len(events), size):
        layer.write(events[start:start + size])


def test_replay_of_a_run_equals_the_live_guardian(events) -> None:
    live = History("run-live")
    live.append("test.start", worker="t")
    result = run(CONFIG, LockTable(), run_id="run-live", history=live)
    state, last = replay_state(CONFIG.symbols, CONFIG.limits, result.events())
    assert last == result.events()[-1].seq
    assert guardian_of(state).snapshot() == result.guardian


def test_replay_tracks_breakers_and_out_of_order_delivery(events) -> None:
    tight = RiskLimits(symbol_breaker=RiskLimits().symbol_breaker.__class__(max_consecutive_losses=2))
    shuffled = list(events)
    random.Random(3).shuffle(shuffled)
    in_order, _ = replay_state(CONFIG.symbols, tight, events)
    assert replay_state(CONFIG.symbols, tight, shuffled)[0] == in_order
    assert replay_state(CONFIG.symbols, tight, events + events[:50])[0] == in_order  # duplicates ignored


def test_checkpoint_recovers_the_exact_state_from_snapshot_plus_log(tmp_path: Path, events) -> None:
    layer = Checkpoint(tmp_path, CONFIG.symbols, CONFIG.limits, every=100, keep=3)
    write_in_batches(layer, events)
    layer.write(events[:200])  # a retried batch: logged once
    expected, last = replay_state(CONFIG.symbols, CONFIG.limits, events)
    recovered = recover(tmp_path, CONFIG.symbols, CONFIG.limits)
    assert list(recovered.state) == expected and recovered.last_seq == last
    guardian = Guardian(CONFIG.symbols, CONFIG.limits)
    recovered.restore(guardian)
    assert guardian.state_vector() == expected
    assert recovered.snapshot_seq > 0 and recovered.fallbacks == () and recovered.elapsed_s > 0
    assert len(snapshots(tmp_path)) == 3
    assert sorted(layer.read_seqs()) == [e.seq for e in events]  # none lost, none doubled


def test_corrupt_newest_snapshot_falls_back_to_the_previous_with_a_longer_replay_and_p0(
        tmp_path: Path, events) -> None:
    write_in_batches(Checkpoint(tmp_path, CONFIG.symbols, CONFIG.limits, every=100, keep=3), events)
    newest, previous = snapshots(tmp_path)[:2]
    body = json.loads(newest.read_text())
    body["state"][0] += 1  # a flipped value: the checksum no longer matches
    newest.write_text(json.dumps(body))
    history = History("run-recovery")
    recovered = recover(tmp_path, CONFIG.symbols, CONFIG.limits, history=history)
    assert list(recovered.state) == replay_state(CONFIG.symbols, CONFIG.limits, events)[0]
    assert recovered.snapshot_seq == int(previous.name[9:21])
    assert "checksum mismatch" in recovered.fallbacks[0]
    alert = [e.payload for e in history.events() if e.kind == "alert"]
    assert alert == [{"level": "P0", "layer": "checkpoint", "reason": recovered.fallbacks[0]}]


def test_truncated_snapshots_all_bad_replays_the_whole_log(tmp_path: Path, events) -> None:
    write_in_batches(Checkpoint(tmp_path, CONFIG.symbols, CONFIG.limits, every=len(events) // 3, keep=5), events)
    written = snapshots(tmp_path)
    for path in written:
        path.write_bytes(path.read_bytes()[:40])
    recovered = recover(tmp_path, CONFIG.symbols, CONFIG.limits)
    assert len(written) >= 2 and recovered.snapshot_seq == 0 and len(recovered.fallbacks) == len(written)
    assert list(recovered.state) == replay_state(CONFIG.symbols, CONFIG.limits, events)[0]


def test_all_snapshots_bad_after_the_log_was_pruned_is_a_clear_error(tmp_path: Path, events) -> None:
    write_in_batches(Checkpoint(tmp_path, CONFIG.symbols, CONFIG.limits, every=100, keep=2), events)
    for path in snapshots(tmp_path):
        path.write_text("{}")
    with pytest.raises(CheckpointError, match=r"wal-00000001\.jsonl is missing: the state after seq 0 cannot be"):
        recover(tmp_path, CONFIG.symbols, CONFIG.limits)


def test_torn_wal_tail_is_truncated_at_the_last_good_line(tmp_path: Path, events) -> None:
    layer = Checkpoint(tmp_path, CONFIG.symbols, CONFIG.limits, every=10_000)
    layer.write(events[:100])
    wal = segments(tmp_path)[-1]
    with open(wal, "ab") as out:
        out.write(events[100].to_json().encode()[:30])
    recovered = recover(tmp_path, CONFIG.symbols, CONFIG.limits)
    assert recovered.last_seq == events[99].seq and recovered.truncated_bytes == 30
    assert list(recovered.state) == replay_state(CONFIG.symbols, CONFIG.limits, events[:100])[0]
    assert wal.read_bytes().endswith(b"\n") and len(read_log(wal).events) == 100


def test_corrupt_line_in_the_middle_of_the_wal_is_a_clear_error(tmp_path: Path, events) -> None:
    layer = Checkpoint(tmp_path, CONFIG.symbols, CONFIG.limits, every=10_000)
    layer.write(events[:10])
    wal = segments(tmp_path)[-1]
    lines = wal.read_text().splitlines(keepends=True)
    lines[4] = "not json\n"
    wal.write_text("".join(lines))
    with pytest.raises(CheckpointError, match=r"wal-00000001\.jsonl:5: corrupt log line"):
        read_wal(tmp_path)


def test_missing_checkpoint_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint directory"):
        recover(tmp_path / "absent", CONFIG.symbols, CONFIG.limits)
