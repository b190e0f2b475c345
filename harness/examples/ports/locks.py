"""LockProvider as a context manager: the plug-in starts its own broker, the harness stops it.

    harness run multi_symbol_stress --locks harness.examples.ports.locks:own_broker

The harness enters what a ``--locks`` factory returns when it is a context manager and
exits it at the end of the run (anything else with ``close()`` is closed).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from harness.history.log import History
from harness.system.locks.client import ZmqLockProvider
from harness.system.locks.protocol import LockClient
from harness.system.locks.server import LockBroker


class OwnBroker:
    """A ZeroMQ broker on a free loopback port, for one run."""

    shared_across_processes = True

    def __init__(self, history: History) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="harness-locks-")
        self._broker = LockBroker("tcp://127.0.0.1:0", state_file=Path(self._dir.name) / "state", history=history)
        self._provider: ZmqLockProvider | None = None
        self.closed = False

    def __enter__(self) -> OwnBroker:
        self._broker.__enter__()
        self._provider = ZmqLockProvider(self._broker.endpoint)
        return self

    def __exit__(self, *exc: object) -> None:
        self._broker.__exit__(*exc)
        self._dir.cleanup()
        self.closed = True

    def client(self, client_id: str, history: History) -> LockClient:
        """A client of this broker."""
        assert self._provider is not None, "used outside its with-block"
        return self._provider.client(client_id, history)

    def __getstate__(self) -> dict:
        # Process-mode workers only need the endpoint: they get the provider, not the broker.
        return {"_provider": self._provider, "closed": self.closed}


def own_broker(config, history: History) -> OwnBroker:
    """``--locks harness.examples.ports.locks:own_broker``."""
    return OwnBroker(history)
