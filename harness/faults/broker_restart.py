"""A ZeroMQ lock broker the nemesis can take down and start again, on its endpoint and state file.

The broker forgets everything it held -- grants, queues, leases -- and its clients' requests in
flight get no answer; the new broker reads the state file and issues tokens from a new epoch,
above every token of the old one. Clients reconnect by themselves (ZeroMQ), holders find their
grants gone, waiters time out and retry: the fault a lock service must survive with its
fencing tokens still increasing.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from harness.history.log import History
from harness.system.locks.server import LockBroker


class RestartableBroker:
    """A broker thread on loopback; ``restart`` replaces it with a fresh one on the same endpoint."""

    def __init__(self, history: History, state_file: Path) -> None:
        self._history, self._state_file = history, state_file
        self._broker = LockBroker("tcp://127.0.0.1:0", state_file=state_file, history=history).start()
        self.endpoint = self._broker.endpoint
        self.restarts = 0

    def restart(self) -> None:
        """Stop the broker (its in-memory state is gone) and start a new one from the state file."""
        self._broker.stop()
        self._broker = LockBroker(self.endpoint, state_file=self._state_file, history=self._history).start()
        self.restarts += 1

    def __enter__(self) -> RestartableBroker:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._broker.stop()
