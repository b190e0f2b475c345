"""Locks from the ``filelock`` package, plugged into a scenario through ``--locks``.

    harness run multi_symbol_stress --locks harness.examples.filelock_provider:factory
    harness run multi_symbol_stress --mode process --locks harness.examples.filelock_provider:factory

One lock file per lock name in a fresh directory; an OS file lock excludes other threads'
and processes' handles alike. ``filelock`` issues no fencing tokens and has no lease, so the
report's fencing line says "not provided" and mutual exclusion is judged from the clients'
hold windows and the resources' writes.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import filelock

from harness.examples.recorded_lock import RecordingLockClient
from harness.history.log import History
from harness.system.locks.protocol import LockError, LockTimeout
from harness.system.settings import RunConfig


@dataclass(frozen=True)
class FileLockProvider:
    """Makes clients over lock files in ``directory`` (picklable: process-mode workers share it)."""

    directory: str
    shared_across_processes: bool = True
    owned: bool = False  # the directory was made for this run: close() removes it

    def client(self, client_id: str, history: History) -> FileLockClient:
        """A client with its own file handles."""
        return FileLockClient(Path(self.directory), client_id, history)

    def close(self) -> None:
        """The harness calls this at the end of the run: remove a directory made for it."""
        if self.owned:
            shutil.rmtree(self.directory, ignore_errors=True)


class FileLockClient(RecordingLockClient):
    """Takes one ``FileLock`` per name, in sorted order."""

    def __init__(self, directory: Path, client_id: str, history: History) -> None:
        super().__init__(client_id, history)
        self._directory = directory
        self._locks: dict[str, filelock.FileLock] = {}

    def _lock(self, name: str) -> filelock.FileLock:
        if name not in self._locks:
            path = self._directory / (name.replace(":", "_").replace("/", "_") + ".lock")
            self._locks[name] = filelock.FileLock(path, thread_local=False, poll_interval=0.001)
        return self._locks[name]

    def _take(self, names: Sequence[str], timeout: float) -> None:
        taken: list[str] = []
        try:
            for name in names:
                self._lock(name).acquire(timeout=timeout)
                taken.append(name)
        except filelock.Timeout:
            self._give(taken)
            raise LockTimeout(f"{self.client_id}: {', '.join(names)} not granted in {timeout}s") from None

    def _give(self, names: Sequence[str]) -> None:
        for name in names:
            lock = self._lock(name)
            if not lock.is_locked:
                raise LockError(f"{self.client_id}: {name} is not held")
            lock.release()


def factory(run: RunConfig, history: History) -> FileLockProvider:
    """--locks factory: lock files in a new temporary directory."""
    return FileLockProvider(tempfile.mkdtemp(prefix="harness-filelock-"), owned=True)
