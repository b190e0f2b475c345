"""What the engine needs from a lock service, and the events every lock service records.

The engine talks to locks only through ``LockClient``; the in-process table
(``harness.system.locks.local``) and the ZeroMQ broker client implement it, and so can a user's own
lock service (``--locks mypkg.mod:factory``).

Client-side events follow Jepsen's operation history: each operation is a ``lock.invoke``
followed by exactly one completion by the same client -- ``lock.ok`` (it happened),
``lock.fail`` (it definitely did not happen) or ``lock.info`` (unknown: the reply never
came). Payload fields:

    lock.invoke  op ("acquire" | "release" | "renew"), names [..], req (client-unique id),
                 ts (wait-or-die timestamp of the first attempt, ns), attempt (1, 2, ..)
    lock.ok      op, names, req, tokens {name: fencing token}, lease_ms
    lock.fail    op, names, req, reason ("timeout" | "died" | "not_owner" | "expired" | ...)
    lock.info    op, names, req, reason

The event's ``worker`` field is the client id (the process in Jepsen's terms).

Guarded resources record what they did with a fenced write:

    fence.accept resource, lock, token
    fence.reject resource, lock, token, newest
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

# The kinds this protocol records come from the one typed definition of every event (re-exported).
from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.history.log import History


GLOBAL_LOCK = "global:exposure"


def symbol_lock(symbol: str) -> str:
    """Name of the lock that guards one symbol's ledger and metrics."""
    return f"symbol:{symbol}"


class LockError(HarnessError, RuntimeError):
    """A lock operation did not succeed."""


class LockTimeout(LockError):
    """The lock was not granted in time (the request is withdrawn)."""


class LockUnavailable(LockError):
    """The lock service could not be reached or did not answer."""


@dataclass(frozen=True)
class Grant:
    """Locks held together, each with the fencing token it was granted with."""

    client: str
    names: tuple[str, ...]
    tokens: Mapping[str, int] = field(default_factory=dict)
    lease_ms: int = 0

    def token(self, name: str) -> int:
        """Fencing token of one lock in this grant."""
        return self.tokens[name]


@runtime_checkable
class LockClient(Protocol):
    """A handle one worker uses to take and give back named locks."""

    client_id: str

    def acquire(self, names: Sequence[str], timeout: float) -> Grant:
        """Take every named lock at once, or raise LockTimeout/LockUnavailable."""

    def release(self, grant: Grant) -> None:
        """Give back every lock of the grant."""

    def renew(self, grant: Grant) -> Grant:
        """Extend the lease of a grant still held."""

    def close(self) -> None:
        """Drop the connection; locks still held expire with their lease."""


class LockProvider(Protocol):
    """Makes lock clients; picklable when it serves process-mode workers."""

    @property
    def shared_across_processes(self) -> bool:
        """Whether process-mode workers may share it (read-only: a class attribute or frozen field does)."""

    def client(self, client_id: str, history: History) -> LockClient:
        """A new client that records its operations in ``history``."""
