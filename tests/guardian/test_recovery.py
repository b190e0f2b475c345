"""Crash recovery: kill -9 a child running the engine with persistence, recover in this process, compare."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.config import RunConfig
from harness.guardian.checkpoint import read_wal, replay_state
from harness.guardian.recovery import recover
from harness.guardian.store import open_store
from harness.services import ServiceInfo

CONFIG = RunConfig(trades=1_000_000, seed=7)
RUN_ID = "run-crash"
BATCH = 256
CHILD = """
import sys
from pathlib import Path
from harness.config import RunConfig
from harness.guardian.persistence import PersistenceConfig, run_persisted
from harness.locks.local import LockTable

directory, url, schema = Path(sys.argv[1]), sys.argv[2] or None, sys.argv[3]
config = PersistenceConfig(directory, database_url=url, schema=schema, snapshot_every=700, batch_size=%d,
                           max_delay_s=0.01)
run_persisted(RunConfig(trades=1_000_000, seed=7), LockTable(), config, run_id=%r)
""" % (BATCH, RUN_ID)


def wal_lines(directory: Path) -> int:
    """Events logged so far (a cheap count: newline bytes across the log segments)."""
    return sum(p.read_bytes().count(b"\n") for p in directory.glob("wal-*.jsonl"))


def crash_after(directory: Path, url: str, schema: str, events: int) -> None:
    """Start the child, wait (bounded) until ``events`` are logged and a snapshot exists, then SIGKILL it."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(directory), url, schema],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    checkpoint = directory / "checkpoint"
    deadline = time.monotonic() + 120
    try:
        while not (checkpoint.is_dir() and wal_lines(checkpoint) >= events and any(checkpoint.glob("snapshot-*"))):
            assert child.poll() is None, f"child ended early: {child.communicate()[1].decode()[-2000:]}"
            assert time.monotonic() < deadline, "child did not log enough events in time"
            time.sleep(0.01)  # polling interval of a bounded wait, not synchronisation by sleeping
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    assert child.returncode == -signal.SIGKILL


def contiguous_prefix(seqs: list[int]) -> int:
    """The largest n with 1..n all present."""
    present, n = set(seqs), 0
    while n + 1 in present:
        n += 1
    return n


def check_recovery(directory: Path, stored: list) -> None:
    recovered = recover(directory / "checkpoint", CONFIG.symbols, CONFIG.limits)
    logged = list(read_wal(directory / "checkpoint").events)
    logged_seqs = [e.seq for e in logged]
    # (a) the recovered state is the state the logged history implies up to the crash point.
    assert recovered.snapshot_seq > 0 and recovered.last_seq >= recovered.snapshot_seq + recovered.replayed
    assert list(recovered.state) == replay_state(CONFIG.symbols, CONFIG.limits, logged)[0]
    # ... and the database holds the same history: both replays agree where both reach.
    stored_seqs = [e.seq for e in stored]
    common = min(recovered.last_seq, contiguous_prefix(stored_seqs))
    assert common > 0
    assert (replay_state(CONFIG.symbols, CONFIG.limits, [e for e in stored if e.seq <= common])
            == replay_state(CONFIG.symbols, CONFIG.limits, [e for e in logged if e.seq <= common]))
    # (b) nothing persisted is doubled; every layer is contiguous up to its crash point
    # (a gap can only be the last batch in flight, never older).
    for seqs in (logged_seqs, stored_seqs):
        assert len(seqs) == len(set(seqs))
        assert len(seqs) - contiguous_prefix(seqs) <= BATCH
    assert recovered.last_seq == contiguous_prefix(logged_seqs)
    # (c) recovery time is measured.
    assert 0 < recovered.elapsed_s < 30
    print(f"recovered {recovered.last_seq} events ({recovered.replayed} replayed after snapshot "
          f"{recovered.snapshot_seq}) in {recovered.elapsed_s * 1000:.1f} ms")


@pytest.mark.slow
def test_kill_9_mid_run_then_recover_with_embedded_layers(tmp_path: Path) -> None:
    crash_after(tmp_path, "", "unused", events=3000)
    store = open_store(None, sqlite_path=tmp_path / "events.db", schema="unused")
    check_recovery(tmp_path, store.read_events(RUN_ID))
    store.close()


@pytest.mark.slow
@pytest.mark.services
def test_kill_9_mid_run_then_recover_with_postgres(tmp_path: Path, postgres: ServiceInfo, schema: str) -> None:
    crash_after(tmp_path, postgres.url, schema, events=3000)
    store = open_store(postgres.url, sqlite_path=tmp_path / "unused.db", schema=schema)
    check_recovery(tmp_path, store.read_events(RUN_ID))
    store.close()
