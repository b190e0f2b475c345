"""Fencing: a guarded resource refuses a write carrying an older token than it has seen.

A lease can expire while its holder still believes it holds the lock (a GC pause, a stalled
process). Tokens grow with every grant, so the resource -- not the lock service -- is what
finally stops the stale holder: it remembers the newest token per lock and rejects older
ones, recording each decision as ``fence.accept`` / ``fence.reject``.
"""

from __future__ import annotations

import threading

from harness.history import History
from harness.locks.protocol import FENCE_ACCEPT, FENCE_REJECT


class StaleToken(RuntimeError):
    """A write carried a fencing token older than the newest one seen."""


class Fence:
    """Newest-token memory of one guarded resource."""

    def __init__(self, resource: str, history: History | None = None, record_accepts: bool = True) -> None:
        self.resource = resource
        self._history = history
        self._record_accepts = record_accepts
        self._newest: dict[str, int] = {}
        self._lock = threading.Lock()

    def admit(self, lock: str, token: int, worker: str, symbol: str | None = None) -> None:
        """Accept a write fenced by ``token`` on ``lock`` or raise StaleToken."""
        with self._lock:
            newest = self._newest.get(lock, 0)
            if token < newest:
                if self._history is not None:
                    self._history.append(
                        FENCE_REJECT, worker=worker, symbol=symbol,
                        resource=self.resource, lock=lock, token=token, newest=newest,
                    )
                raise StaleToken(f"{self.resource}: token {token} on {lock} is older than {newest}")
            self._newest[lock] = token
        if self._history is not None and self._record_accepts:
            self._history.append(
                FENCE_ACCEPT, worker=worker, symbol=symbol, resource=self.resource, lock=lock, token=token
            )

    def newest(self, lock: str) -> int:
        """Newest token seen on ``lock`` (0 when none)."""
        with self._lock:
            return self._newest.get(lock, 0)
