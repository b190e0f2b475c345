"""Defective lock services that only a fault on the lock path exposes, plugged in through ``--locks``.

Both are correct while every holder keeps running; a holder paused past its lease is where
they go wrong. ``same_token``: a broker that ignores fencing -- every grant carries token 1,
so no resource can tell the woken holder's write from the new holder's. ``unfenced``: a
client that keeps writing after its lease ended -- it hands the engine its grants without
their tokens, so nothing rejects it. Each factory starts its own broker; ``stop_all`` stops them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.history.log import History
from harness.system.locks.client import ZmqLockClient, ZmqLockProvider, client_context
from harness.system.locks.protocol import Grant
from harness.system.locks.server import LockBroker
from harness.system.settings import RunConfig

_started: list[LockBroker] = []


class SameTokenBroker(LockBroker):
    """Grants every lock with token 1: fencing ignored."""

    def _next_token(self) -> int:
        return 1


class UnfencedClient(ZmqLockClient):
    """Gives the engine its grants without tokens (keeps the real ones to release them)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._real: dict[tuple[str, ...], Grant] = {}

    def acquire(self, names: Sequence[str], timeout: float) -> Grant:
        """Take the locks; hand back a grant whose writes no resource can fence."""
        grant = super().acquire(names, timeout)
        self._real[grant.names] = grant
        return dataclasses.replace(grant, tokens={})

    def release(self, grant: Grant) -> None:
        """Release with the broker's tokens."""
        super().release(self._real.pop(grant.names, grant))


@dataclass(frozen=True)
class UnfencedProvider(ZmqLockProvider):
    """Makes UnfencedClients."""

    def client(self, client_id: str, history: History) -> UnfencedClient:
        """A client that drops its tokens."""
        return UnfencedClient(self.endpoint, client_id, history, seed=self.seed, lease_ms=self.lease_ms,
                              context=client_context())


def _broker(cls: type[LockBroker], history: History) -> str:
    broker = cls("tcp://127.0.0.1:0", history=history).start()
    _started.append(broker)
    return broker.endpoint


def same_token(run: RunConfig, history: History) -> ZmqLockProvider:
    """--locks factory: the reference client against a broker whose tokens never grow."""
    return ZmqLockProvider(_broker(SameTokenBroker, history), seed=run.seed, lease_ms=run.lock_lease_ms)


def unfenced(run: RunConfig, history: History) -> UnfencedProvider:
    """--locks factory: the reference broker, clients that write without their tokens."""
    return UnfencedProvider(_broker(LockBroker, history), seed=run.seed, lease_ms=run.lock_lease_ms)


def stop_all() -> None:
    """Stop every broker the factories started."""
    while _started:
        _started.pop().stop()
