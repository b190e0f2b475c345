"""Streams a run's history to its ``events.jsonl`` while the run goes: a signal or a SIGKILL leaves it on disk.

The trading threads only append each event to a deque (``History.subscribe``); a background
thread wakes every ``interval_s``, puts what arrived in seq order and appends it to the file
in batches of at most ``batch`` events, each handed to the OS at once (what the OS holds
survives the process being killed; ``close`` also fsyncs).

The file is in seq order at every moment, so ``harness check`` judges it whenever the run
stops: an event that arrives before the one numbered just below it (process mode's pipes,
two threads racing between numbering and appending) waits for it -- at most
``max_waiting`` events wait, then the oldest goes out anyway. A write that fails (a full
disk) keeps its bytes and is tried again at the next wake: nothing is lost, nothing doubled.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from harness.history.follower import Follower
from harness.history.log import Event

__all__ = ["Journal"]


class Journal(Follower):
    """Appends the events of one History to a JSONL file, in seq order, as the run makes them."""

    def __init__(self, path: Path, *, interval_s: float = 0.2, batch: int = 4096, max_waiting: int = 50_000) -> None:
        super().__init__("harness-journal", interval_s, max_waiting)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self._batch = batch
        self._pending = b""  # encoded, not yet written (a write failed part-way)
        self.written = 0
        self.first_seq: int | None = None
        self.last_seq = 0
        self.in_order = True
        self.error: OSError | None = None  # the last write failure, kept until a write succeeds
        self._start()

    def flush(self, final: bool = False) -> None:
        """Append what is ready (``final``: everything received) to the file, in batches."""
        self.step(final)

    def _take(self, events: list[Event]) -> None:
        for start in range(0, max(len(events), 1), self._batch):
            chunk = events[start:start + self._batch]
            self._pending += b"".join(event.to_json().encode("utf-8") + b"\n" for event in chunk)
            self._count(chunk)
            if not self._write():
                for event in events[start + self._batch:]:
                    self._order.push(event)  # to the next try, behind the bytes kept
                break

    def _count(self, events: list[Event]) -> None:
        for event in events:
            if self.first_seq is None:
                self.first_seq = event.seq
            elif event.seq <= self.last_seq:
                self.in_order = False  # a straggler past the wait bound: kept, but out of order
            self.last_seq = max(self.last_seq, event.seq)
        self.written += len(events)

    def _write(self) -> bool:
        """Write the pending bytes; False (bytes kept for the next try) when the OS refuses."""
        view = memoryview(self._pending)
        done = 0
        try:
            while done < len(view):
                done += os.write(self._fd, view[done:])
        except OSError as exc:
            self.error = exc
            return False
        finally:
            self._pending = bytes(view[done:])
        self.error = None
        return True

    def holds(self, events: Sequence[Event]) -> bool:
        """Whether the file holds exactly ``events`` (a history's, in seq order), all of them written."""
        if not events:
            return self.written == 0 and not self._pending
        return (self.in_order and not self._pending and self.written == len(events)
                and self.first_seq == events[0].seq and self.last_seq == events[-1].seq)

    def close(self) -> None:
        """Write everything received, fsync and close the file (once)."""
        if self._closed.is_set():
            return
        super().close()
        with self._lock:
            if not self._pending:
                os.fsync(self._fd)
            os.close(self._fd)
