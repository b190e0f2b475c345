"""Known-broken components for control runs: a race detector must fire on a known race.

These exist only to prove the checkers can see what they claim to catch. ``Rendezvous``
makes two workers meet at the point where the race lives, so the race happens on every
pairing instead of once in a blue moon -- a forced ordering, not a sleep.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence

from harness.history import History
from harness.locks.protocol import LOCK_INVOKE, LOCK_OK, Grant


class Rendezvous:
    """Lets ``parties`` threads through together; a lone thread gives up after ``timeout``."""

    def __init__(self, parties: int = 2, timeout: float = 0.05) -> None:
        self._barrier = threading.Barrier(parties, timeout=timeout)

    def __call__(self) -> None:
        try:
            self._barrier.wait()
        except threading.BrokenBarrierError:
            self._barrier.reset()


class UnlockedProvider:
    """A lock service that grants everything at once: no mutual exclusion at all."""

    shared_across_processes = False

    def __init__(self, rendezvous: Rendezvous) -> None:
        self.rendezvous = rendezvous
        self._tokens = itertools.count(1)
        self._lock = threading.Lock()

    def client(self, client_id: str, history: History) -> UnlockedClient:
        """A client that records the usual lock events but excludes nobody."""
        return UnlockedClient(self, client_id, history)

    def next_token(self) -> int:
        """Tokens still increase, so fencing sees the overlap the lock let through."""
        with self._lock:
            return next(self._tokens)


class UnlockedClient:
    """Records invoke/ok like a real client; grants after meeting another worker."""

    def __init__(self, provider: UnlockedProvider, client_id: str, history: History) -> None:
        self.client_id = client_id
        self._provider = provider
        self._history = history
        self._reqs = itertools.count(1)

    def _op(self, op: str, names: Sequence[str], tokens: dict[str, int]) -> None:
        req = next(self._reqs)
        self._history.append(LOCK_INVOKE, worker=self.client_id, op=op, names=list(names), req=req, ts=0, attempt=1)
        if op == "acquire":
            self._provider.rendezvous()
        self._history.append(LOCK_OK, worker=self.client_id, op=op, names=list(names), req=req, tokens=tokens,
                             lease_ms=0)
        if op == "acquire":
            # Meet again after the grant, so both holds are open at once (the GIL would
            # otherwise often run one whole critical section before the other starts).
            self._provider.rendezvous()

    def acquire(self, names: Sequence[str], timeout: float) -> Grant:
        """Grant immediately (after the rendezvous)."""
        tokens = {name: self._provider.next_token() for name in names}
        self._op("acquire", names, tokens)
        return Grant(self.client_id, tuple(names), tokens, 0)

    def release(self, grant: Grant) -> None:
        """Record the release; there is nothing to give back."""
        self._op("release", grant.names, dict(grant.tokens))

    def renew(self, grant: Grant) -> Grant:
        """Nothing expires."""
        return grant

    def close(self) -> None:
        """Nothing to close."""
