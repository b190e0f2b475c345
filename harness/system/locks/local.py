"""In-process lock table: FIFO, all-or-nothing multi-lock, fencing tokens.

The reference ``LockProvider`` for thread mode. A request for several names is granted
only when every name is free *and* the request is first in each name's queue, so waiters
are served in arrival order and taking several locks at once cannot deadlock. It records
the same client events as any other lock client (see ``harness.system.locks.protocol``).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from harness import schedule
from harness.history.events import LOCK_FAIL, LOCK_INVOKE, LOCK_OK
from harness.history.log import History
from harness.system.locks.protocol import Grant, LockError, LockTimeout


@dataclass(frozen=True)
class LockTableStatistics:
    """Counters of a lock table, for tests and reports."""

    grants: int
    releases: int
    timeouts: int
    max_queue: int
    held: int


class LockTable:
    """Named mutexes shared by the threads of one process."""

    def __init__(self, clock=time.monotonic_ns) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._owner: dict[str, str] = {}
        self._queues: dict[str, deque[int]] = {}
        self._tokens: dict[str, int] = {}
        self._tickets = itertools.count(1)
        self._grants = self._releases = self._timeouts = self._max_queue = 0

    shared_across_processes = False

    def client(self, client_id: str, history: History) -> LocalLockClient:
        """A client of this table recording into ``history``."""
        return LocalLockClient(self, client_id, history)

    def _grantable(self, ticket: int, names: Sequence[str]) -> bool:
        return all(name not in self._owner and self._queues[name][0] == ticket for name in names)

    def take(self, client: str, names: Sequence[str], timeout: float) -> dict[str, int]:
        """Block until every name is granted to ``client``; return the tokens."""
        deadline = time.monotonic() + timeout
        with self._cond:
            ticket = next(self._tickets)
            for name in names:
                queue = self._queues.setdefault(name, deque())
                queue.append(ticket)
                self._max_queue = max(self._max_queue, len(queue))
            while not self._grantable(ticket, names):
                remaining = deadline - time.monotonic()
                if not schedule.wait(self._cond, remaining):  # controlled runs: no timeout, the scheduler wakes it
                    if self._grantable(ticket, names):
                        break
                    for name in names:
                        self._queues[name].remove(ticket)
                    self._timeouts += 1
                    self._cond.notify_all()
                    raise LockTimeout(f"{client}: {', '.join(names)} not granted in {timeout}s")
            tokens = {}
            for name in names:
                self._queues[name].popleft()
                self._owner[name] = client
                tokens[name] = self._tokens[name] = self._tokens.get(name, 0) + 1
            self._grants += 1
            return tokens

    def give(self, client: str, names: Sequence[str]) -> None:
        """Release names held by ``client``; releasing what it does not hold is an error."""
        with self._cond:
            wrong = [n for n in names if self._owner.get(n) != client]
            if wrong:
                raise LockError(f"{client} does not hold {', '.join(wrong)}")
            for name in names:
                del self._owner[name]
            self._releases += 1
            self._cond.notify_all()
            schedule.wake(self._cond)

    def statistics(self) -> LockTableStatistics:
        """A frozen copy of the table's counters."""
        with self._cond:
            return LockTableStatistics(
                self._grants, self._releases, self._timeouts, self._max_queue, len(self._owner)
            )


class LocalLockClient:
    """``LockClient`` over a ``LockTable``; records invoke/ok/fail events."""

    def __init__(self, table: LockTable, client_id: str, history: History) -> None:
        self.client_id = client_id
        self._table = table
        self._history = history
        self._reqs = itertools.count(1)

    def _op(self, op: str, names: Sequence[str], action, **extra):
        schedule.point(f"lock.{op}")
        req = next(self._reqs)
        names = list(names)
        self._history.append(LOCK_INVOKE, worker=self.client_id, op=op, names=names, req=req, **extra)
        try:
            result = action()
        except LockError as exc:
            reason = "timeout" if isinstance(exc, LockTimeout) else "not_owner"
            self._history.append(LOCK_FAIL, worker=self.client_id, op=op, names=names, req=req, reason=reason)
            raise
        return req, names, result

    def acquire(self, names: Sequence[str], timeout: float) -> Grant:
        """Take all names at once, FIFO."""
        ts = self._table._clock()
        req, names, tokens = self._op(
            "acquire", names, lambda: self._table.take(self.client_id, names, timeout), ts=ts, attempt=1
        )
        self._history.append(
            LOCK_OK, worker=self.client_id, op="acquire", names=names, req=req, tokens=tokens, lease_ms=0
        )
        return Grant(self.client_id, tuple(names), tokens, 0)

    def release(self, grant: Grant) -> None:
        """Give back every lock of the grant."""
        req, names, _ = self._op("release", grant.names, lambda: self._table.give(self.client_id, grant.names))
        self._history.append(LOCK_OK, worker=self.client_id, op="release", names=names, req=req, tokens=dict(grant.tokens), lease_ms=0)

    def renew(self, grant: Grant) -> Grant:
        """Local locks have no lease; renewing returns the grant unchanged."""
        return grant

    def close(self) -> None:
        """Nothing to close for an in-process table."""
