"""StorePort and CachePort in memory, and a store that loses events for the persistence gate to catch.

    harness run guardian_persistence --store harness.examples.ports.store:memory --cache harness.examples.ports.store:cache
    harness run guardian_persistence --store harness.examples.ports.store:lossy   # FAILs: events lost
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from harness.history.log import Event


class MemoryStore:
    """Events by run, idempotent by seq."""

    name = "memory"

    def __init__(self) -> None:
        self._events: dict[str, dict[int, Event]] = {}
        self._lock = threading.Lock()

    def write(self, events: Sequence[Event]) -> None:
        """Keep each event under its run and seq (a seq kept already is not written again)."""
        with self._lock:
            for event in events:
                self._events.setdefault(event.run_id, {}).setdefault(event.seq, event)

    def read_seqs(self, run_id: str) -> list[int]:
        """Seqs kept for ``run_id``."""
        return [e.seq for e in self.read_events(run_id)]

    def read_events(self, run_id: str) -> list[Event]:
        """Events kept for ``run_id``, in seq order."""
        with self._lock:
            kept = self._events.get(run_id, {})
            return [kept[seq] for seq in sorted(kept)]

    def drop(self) -> None:
        """Forget everything."""
        with self._lock:
            self._events.clear()

    def close(self) -> None:
        """Nothing to release."""


class LossyStore(MemoryStore):
    """The bug: a batch is acknowledged whole, but any event whose seq is a multiple of 50 is not kept."""

    def write(self, events: Sequence[Event]) -> None:
        """Keep all but every 50th event, silently."""
        super().write([e for e in events if e.seq % 50])


class NullCache:
    """A cache that keeps only the newest seq (enough for the port)."""

    name = "cache"

    def __init__(self) -> None:
        self.newest = 0

    def write(self, events: Sequence[Event]) -> None:
        """Remember the newest seq."""
        self.newest = max([self.newest, *(e.seq for e in events)])

    def clear(self) -> None:
        """Forget it."""
        self.newest = 0

    def close(self) -> None:
        """Nothing to release."""


def memory(run_id: str, directory: Path) -> MemoryStore:
    """``--store harness.examples.ports.store:memory``."""
    return MemoryStore()


def lossy(run_id: str, directory: Path) -> LossyStore:
    """``--store harness.examples.ports.store:lossy`` (defective)."""
    return LossyStore()


def cache(run_id: str, directory: Path) -> NullCache:
    """``--cache harness.examples.ports.store:cache``."""
    return NullCache()
