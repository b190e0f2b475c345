"""Crash recovery, end to end: run the engine with persistence in a child process, ``kill -9``
it mid-run, recover in a fresh process, and check what recovery restored.

The child is a plain ``python -m harness.run.crash PLAN.json`` process, so nothing of the
parent's memory survives into the recovery: only files (the checkpoint's snapshots and
log) and the database. The parent waits for the child's progress by watching the log grow
-- a bounded poll of a file another process writes, the only signal a process that is
about to be killed can give -- then sends SIGKILL. What it waits for is what recovery will
find: a snapshot and ``kill_after_events`` *contiguous* seqs on disk (threads deliver events
slightly out of order, so a line count can run ahead of what is recoverable).

``check_recovery`` is a pure function of what the layers hold and what recovery returned:
the recovered state must equal the state replayed from the logged history, the database
must agree with the log where both reach, and no layer may hold an event twice or miss one
below its crash point (only the last batch in flight may be missing).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, RunError
from harness.history.events import f
from harness.history.log import Event
from harness.judge.evidence import Evidence, evidence_record
from harness.run.config import run_config
from harness.system.guardian.checkpoint import read_log, replay_state, segments
from harness.system.guardian.recovery import Recovery
from harness.system.settings import RunConfig

AREA = "Crash Recovery"
POLL_S = 0.01


@evidence_record
class RecoveryFigures:
    """What recovery restored after the kill, against what the layers hold."""

    killed_by_sigkill: bool = f("the child's exit says SIGKILL")
    logged_events: int = f("events the checkpoint log holds", "count")
    stored_events: int = f("events the database holds", "count")
    history_reaches_seq: int = f("the contiguous run of seqs the layers hold together", "seq")
    recovered_seq: int = f("the last seq recovery applied", "seq")
    snapshot_seq: int = f("the seq of the snapshot recovery started from", "seq")
    replayed: int = f("log events replayed over the snapshot", "count")
    recovery_ms: float = f("time recovery took", "ms")
    fallbacks: int = f("unreadable snapshots recovery fell back from", "count")
    torn_bytes_cut: int = f("bytes of a torn last log record cut off", "bytes")
    state_equals_history: bool = f("the recovered state equals the history up to the crash replayed")
    batch_size: int = f("the writer's batch: how far a layer may lag at the kill", "events")
    duplicated_log: int = f("seqs the log holds more than once", "count")
    contiguous_log: str = f("FIRST..LAST of the log's contiguous run of seqs")
    ragged_tail_log: int = f("seqs missing after the log's contiguous run, up to its last one", "count")
    duplicated_database: int = f("seqs the database holds more than once", "count")
    contiguous_database: str = f("FIRST..LAST of the database's contiguous run of seqs")
    ragged_tail_database: int = f("seqs missing after the database's contiguous run, up to its last one", "count")
    log_reaches_recovery: bool = f("the log's contiguous run ends where recovery stopped")


@dataclass(frozen=True)
class CrashPlan:
    """Everything the child needs, as JSON: where to persist, what to run, when it is killed."""

    directory: str
    run_id: str
    seed: int
    symbols: tuple[str, ...]
    database_url: str | None
    schema: str
    kill_after_events: int
    snapshot_every: int = 700
    batch_size: int = 256
    plugins: tuple[tuple[str, str], ...] = ()  # (port, module:factory) the child loads again
    # Every snapshot and segment is kept: the database's writer lags the checkpoint's by an
    # unbounded amount under load, so only a complete log lets the check rebuild the history.
    keep_snapshots: int = 1000

    def run_config(self) -> RunConfig:
        """The child's run: effectively endless, it is killed long before it ends."""
        return run_config({"seed": self.seed, "symbols": list(self.symbols), "trades": 1_000_000})

    @property
    def checkpoint(self) -> Path:
        """The checkpoint directory."""
        return Path(self.directory) / "checkpoint"


def child_main(plan: CrashPlan) -> None:
    """What the child process runs until it is killed."""
    from harness.system.guardian.persistence import PersistenceConfig, run_persisted
    from harness.system.locks.local import LockTable

    # No URL means the embedded SQLite file -- said explicitly, so an environment URL cannot
    # send the child's events somewhere the parent will not look.
    database_url = plan.database_url or f"sqlite:///{Path(plan.directory) / 'events.db'}"
    layers = PersistenceConfig(Path(plan.directory), database_url=database_url, schema=plan.schema,
                               snapshot_every=plan.snapshot_every, keep_snapshots=plan.keep_snapshots,
                               batch_size=plan.batch_size, max_delay_s=0.01)
    run_persisted(plan.run_config(), LockTable(), layers, run_id=plan.run_id, **child_plugins(plan.plugins))


CHILD_PORTS = {"guardian": "guardian_factory", "ledger": "ledger_factory", "feed": "feed"}


def child_plugins(plugins: Sequence[Sequence[str]]) -> dict[str, Any]:
    """The engine options the crash child's plug-ins become (loaded again there, from their paths)."""
    from harness.run.plugins import load

    return {CHILD_PORTS[port]: load(port, path) for port, path in plugins}


def logged_prefix(checkpoint: Path) -> int:
    """The contiguous run of seqs the log holds so far, read without repairing the writer's files."""
    seqs = [e.seq for path in segments(checkpoint)
            for e in read_log(path, repair=False, kinds=frozenset()).events]
    return contiguous_prefix(seqs, min(seqs, default=1))


def crash(plan: CrashPlan, timeout_s: float = 120.0) -> int:
    """Start the child, SIGKILL it once ``kill_after_events`` are logged after a snapshot; return its code."""
    directory = Path(plan.directory)
    if directory.exists() and any(directory.iterdir()):
        raise ConfigError(f"{directory}: not empty; a crash run needs a fresh directory")
    plan_file = directory / "crash-plan.json"
    directory.mkdir(parents=True, exist_ok=True)
    plan_file.write_text(json.dumps(dataclasses.asdict(plan)))
    child = subprocess.Popen([sys.executable, "-m", "harness.run.crash", str(plan_file)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout_s
    try:
        while not _ready(plan):
            if child.poll() is not None:
                last = (child.communicate()[1].decode().strip().splitlines() or ["no output"])[-1]
                raise RunError(f"the crash child ended before it was killed: {last}")
            if time.monotonic() > deadline:
                raise RunError(f"the crash child logged fewer than {plan.kill_after_events} events in {timeout_s}s")
            time.sleep(POLL_S)  # the polling interval of a bounded wait on another process's file
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    return child.returncode


def _ready(plan: CrashPlan) -> bool:
    checkpoint = plan.checkpoint
    return (checkpoint.is_dir() and any(checkpoint.glob("snapshot-*"))
            and logged_prefix(checkpoint) >= plan.kill_after_events)


def contiguous_prefix(seqs: Sequence[int], first: int = 1) -> int:
    """The largest n with first..n all present (first - 1 when ``first`` is missing)."""
    present, n = set(seqs), first - 1
    while n + 1 in present:
        n += 1
    return n


def check_recovery(plan: CrashPlan, recovered: Recovery, logged: Sequence[Event], stored: Sequence[Event],
                   exit_code: int) -> Evidence[RecoveryFigures]:
    """Recovered state vs the history up to the crash; no layer doubles or loses an event below its crash point.

    The history up to the crash is what the layers hold together: the database keeps every
    event, the log only those since its oldest kept snapshot, and either may be a batch
    short of the other at the kill. The recovered state must equal that history replayed.
    """
    config = plan.run_config()
    by_seq = {e.seq: e for e in [*stored, *logged]}
    reachable = contiguous_prefix(list(by_seq))
    history = [by_seq[s] for s in range(1, min(reachable, recovered.last_seq) + 1)]
    replayed_state, _ = replay_state(config.symbols, config.limits, history)
    log, database = _layer_seqs([e.seq for e in logged]), _layer_seqs([e.seq for e in stored])
    return Evidence(AREA, RecoveryFigures(
        killed_by_sigkill=exit_code == -signal.SIGKILL,
        logged_events=len(logged),
        stored_events=len(stored),
        history_reaches_seq=reachable,
        recovered_seq=recovered.last_seq,
        snapshot_seq=recovered.snapshot_seq,
        replayed=recovered.replayed,
        recovery_ms=recovered.elapsed_s * 1000,
        fallbacks=len(recovered.fallbacks),
        torn_bytes_cut=recovered.truncated_bytes,
        state_equals_history=reachable >= recovered.last_seq and list(recovered.state) == replayed_state,
        batch_size=plan.batch_size,
        duplicated_log=log.duplicated, contiguous_log=log.contiguous, ragged_tail_log=log.ragged_tail,
        duplicated_database=database.duplicated, contiguous_database=database.contiguous,
        ragged_tail_database=database.ragged_tail,
        log_reaches_recovery=recovered.last_seq == log.prefix,
    ))


@dataclass(frozen=True)
class _LayerSeqs:
    """How one layer's seqs run: doubled ones, the contiguous run from its first, the ragged tail after it."""

    duplicated: int
    prefix: int
    contiguous: str
    ragged_tail: int


def _layer_seqs(seqs: Sequence[int]) -> _LayerSeqs:
    first = min(seqs, default=1)
    prefix = contiguous_prefix(seqs, first)
    # Threads hand events to the writer slightly out of seq order, so the kill may leave
    # holes after the contiguous run: seqs stamped but not yet delivered, at most one per
    # thread and the batch in flight -- however long the run after them (load stretches that).
    ragged = max(seqs, default=0) - prefix - sum(1 for s in set(seqs) if s > prefix)
    return _LayerSeqs(len(seqs) - len(set(seqs)), prefix, f"{first}..{prefix}", ragged)


if __name__ == "__main__":
    raw = json.loads(Path(sys.argv[1]).read_text())
    raw["symbols"] = tuple(raw["symbols"])
    raw["plugins"] = tuple(tuple(pair) for pair in raw.get("plugins", ()))
    child_main(CrashPlan(**raw))
