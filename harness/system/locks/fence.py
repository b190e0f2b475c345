"""Fencing: a guarded resource refuses a write carrying an older token than it has seen.

A lease can expire while its holder still believes it holds the lock (a GC pause, a stalled
process). Tokens grow with every grant, so the resource -- not the lock service -- is what
finally stops the stale holder: it remembers the newest token per lock and rejects older
ones, recording each decision as ``fence.accept`` / ``fence.reject``.

A lock service without fencing tokens (redis-py's ``Lock``, ``filelock``) grants with token
``None``: there is nothing to order, so the write is admitted and recorded with its holder
(the event's worker) and ``token: null``; the checker judges it against the holder's windows.
A ``deferred`` fence guards a resource that applies writes after they were made (through a
queue); its events say so, and the checker judges them by token only.
"""

from __future__ import annotations

import threading

from harness.errors import HarnessError
from harness.history.events import FENCE_ACCEPT, FENCE_REJECT
from harness.history.log import History


class StaleToken(HarnessError, RuntimeError):
    """A write carried a fencing token older than the newest one seen."""


class Fence:
    """Newest-token memory of one guarded resource."""

    def __init__(self, resource: str, history: History | None = None, record_accepts: bool = True,
                 deferred: bool = False) -> None:
        self.resource = resource
        self._extra = {"deferred": True} if deferred else {}
        self._history = history
        self._record_accepts = record_accepts
        self._newest: dict[str, int] = {}
        self._lock = threading.Lock()

    def admit(self, lock: str, token: int | None, worker: str, symbol: str | None = None) -> None:
        """Accept a write fenced by ``token`` on ``lock`` (None: no token) or raise StaleToken."""
        with self._lock:
            newest = self._newest.get(lock, 0)
            if token is not None and token < newest:
                if self._history is not None:
                    self._history.append(
                        FENCE_REJECT, worker=worker, symbol=symbol,
                        resource=self.resource, lock=lock, token=token, newest=newest, **self._extra,
                    )
                raise StaleToken(f"{self.resource}: token {token} on {lock} is older than {newest}")
            if token is not None:
                self._newest[lock] = token
        if self._history is not None and self._record_accepts:
            self._history.append(
                FENCE_ACCEPT, worker=worker, symbol=symbol, resource=self.resource, lock=lock, token=token,
                **self._extra,
            )

    def newest(self, lock: str) -> int:
        """Newest token seen on ``lock`` (0 when none)."""
        with self._lock:
            return self._newest.get(lock, 0)
