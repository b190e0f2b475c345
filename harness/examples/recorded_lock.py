"""A ``LockClient`` over any lock library: records the harness's lock events around two primitives.

The harness judges a lock service from the events its clients record (see
``harness.system.locks.protocol``): ``lock.invoke`` then ``lock.ok`` / ``lock.fail`` per operation.
Subclasses implement ``_take`` (all names, in a fixed order, or raise) and ``_give``; this
class does the recording. Grants carry no fencing token (``tokens: {}``) unless ``_take``
returns one per name: the harness then judges mutual exclusion from the clients' windows and
the resources' writes, and reports fencing as "not provided".
"""

from __future__ import annotations

import abc
import itertools
import time
from collections.abc import Callable, Sequence
from typing import Any

from harness.history.events import LOCK_FAIL, LOCK_INVOKE, LOCK_OK
from harness.history.log import History
from harness.system.locks.protocol import Grant, LockError, LockTimeout


class RecordingLockClient(abc.ABC):
    """Records every operation; ``_take`` and ``_give`` do the locking."""

    lease_ms = 0  # 0: the lock is held until released (no lease)

    def __init__(self, client_id: str, history: History) -> None:
        self.client_id = client_id
        self._history = history
        self._reqs = itertools.count(1)

    @abc.abstractmethod
    def _take(self, names: Sequence[str], timeout: float) -> dict[str, int] | None:
        """Take every name or none (LockTimeout when not granted in time); fencing tokens, if any."""

    @abc.abstractmethod
    def _give(self, names: Sequence[str]) -> None:
        """Give every name back; LockError when one was no longer held."""

    def _op(self, op: str, names: Sequence[str], action: Callable[[], dict[str, int] | None],
            **extra: Any) -> dict[str, int]:
        req, names = next(self._reqs), list(names)
        self._history.append(LOCK_INVOKE, worker=self.client_id, op=op, names=names, req=req, **extra)
        try:
            tokens = action() or {}
        except LockError as exc:
            reason = "timeout" if isinstance(exc, LockTimeout) else "not_owner"
            self._history.append(LOCK_FAIL, worker=self.client_id, op=op, names=names, req=req, reason=reason)
            raise
        self._history.append(LOCK_OK, worker=self.client_id, op=op, names=names, req=req, tokens=tokens,
                             lease_ms=self.lease_ms)
        return tokens

    def acquire(self, names: Sequence[str], timeout: float) -> Grant:
        """Take every name (sorted, so clients never deadlock)."""
        ordered = sorted(names)
        tokens = self._op("acquire", names, lambda: self._take(ordered, timeout), ts=time.time_ns(), attempt=1)
        return Grant(self.client_id, tuple(names), tokens, self.lease_ms)

    def release(self, grant: Grant) -> None:
        """Give every name of the grant back."""
        self._op("release", grant.names, lambda: self._give(sorted(grant.names)))

    def renew(self, grant: Grant) -> Grant:
        """Leases are not renewed by these examples."""
        return grant

    def close(self) -> None:  # noqa: B027 -- a default subclasses may keep: nothing held outside a grant
        """Nothing held outside a grant."""
