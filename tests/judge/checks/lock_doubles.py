"""Defective lock services, plugged in through ``--locks`` to prove the Lock gate catches them.

Each factory has the ``--locks`` signature ``(run_config, history) -> LockProvider`` and
starts its own broker on loopback; ``stop_all`` stops them (the tests' fixture calls it).
The broker double-grants on the first and every ``EVERY``-th request after that which finds
a lock taken. The client takes every refusal for a grant (and never waits in the queue).
So that conflicts surely happen (never left to timing), both factories first have an older
client ("squatter", ts 0) take the global lock for 10 s: every worker's first acquire finds
it taken, so the reference broker refuses it and the double-granting one grants it again.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import zmq

from harness.examples.redis_lock_provider import DEFAULT_URL, RedisLockClient, RedisLockProvider
from harness.history.log import History
from harness.system.locks.client import ZmqLockClient, ZmqLockProvider
from harness.system.locks.local import LockTable
from harness.system.locks.protocol import GLOBAL_LOCK, Grant
from harness.system.locks.server import LockBroker
from harness.system.settings import RunConfig

EVERY = 3
_started: list[LockBroker] = []
_squatters: list[ZmqLockClient] = []


class DoubleGrantingBroker(LockBroker):
    """Forgets the holder of a taken lock on every EVERY-th acquire that finds it taken, so grants it again."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conflicts = 0

    def _op_acquire(self, ident: bytes, request: Any) -> None:
        taken = [n for n in request.names if n in self._holders and self._holders[n].client != request.client]
        if taken:
            self.conflicts += 1
            if self.conflicts % EVERY == 1:
                for name in taken:
                    del self._holders[name]  # no release, no expiry: the old holder still holds it
        super()._op_acquire(ident, request)


class LenientBroker(LockBroker):
    """Honours every release and renew it should refuse (a broker without state-machine rules)."""

    def _refuse(self, ident: bytes, request: Any, reason: str, holder_ts: int | None = None) -> None:
        if request.op not in ("release", "renew"):
            super()._refuse(ident, request, reason, holder_ts)
            return
        lease_ms = request.lease_ms if request.op == "renew" else 0
        self._record(f"broker.{request.op}", client=request.client, req=request.req, names=request.names,
                     tokens=request.tokens, lease_ms=lease_ms)
        self._reply(ident, {"req": request.req, "ok": True, "tokens": request.tokens, "lease_ms": lease_ms})


class MisreadingClient(ZmqLockClient):
    """Takes a refused acquire for a grant, reusing the last tokens it was given."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_tokens: dict[str, int] = {}

    def _exchange(self, message: dict[str, Any], wait: float) -> dict[str, Any] | None:
        if message["op"] != "acquire":
            return super()._exchange(message, wait)
        # Never waits in the broker's queue: a lock that is taken is refused at once.
        reply = super()._exchange({**message, "wait_ms": 0}, wait)
        if reply is None:
            return reply
        if reply.get("ok") is True:
            self.last_tokens.update(reply["tokens"])
            return reply
        tokens = {name: self.last_tokens.get(name, 1) for name in message["names"]}
        return {"req": message["req"], "ok": True, "tokens": tokens, "lease_ms": message["lease_ms"]}


@dataclass(frozen=True)
class MisreadingProvider(ZmqLockProvider):
    """Makes MisreadingClients (picklable, for process-mode workers)."""

    def client(self, client_id: str, history: History) -> MisreadingClient:
        """A client that misreads refusals."""
        return MisreadingClient(self.endpoint, client_id, history, seed=self.seed, context=zmq.Context.instance())


def _broker(cls: type[LockBroker], history: History) -> LockBroker:
    broker = cls("tcp://127.0.0.1:0", history=history).start()
    _started.append(broker)
    return broker


def _squatted(cls: type[LockBroker], history: History) -> str:
    """A broker whose global lock an old client holds; its endpoint."""
    endpoint = _broker(cls, history).endpoint
    squatter = ZmqLockClient(endpoint, "squatter", history, clock=lambda: 0, lease_ms=10_000)
    squatter.acquire([GLOBAL_LOCK], 1.0)
    _squatters.append(squatter)
    return endpoint


def double_granting(run: RunConfig, history: History) -> ZmqLockProvider:
    """--locks factory: the reference client against a broker that double-grants."""
    return ZmqLockProvider(_squatted(DoubleGrantingBroker, history), seed=run.seed)


def misreading(run: RunConfig, history: History) -> MisreadingProvider:
    """--locks factory: the reference broker, clients that treat refusals as grants."""
    return MisreadingProvider(_squatted(LockBroker, history), seed=run.seed)


def lenient(run: RunConfig, history: History) -> ZmqLockProvider:
    """--locks factory: the reference client against a broker that honours forbidden operations."""
    return ZmqLockProvider(_broker(LenientBroker, history).endpoint, seed=run.seed)


class LongHoldRedisClient(RedisLockClient):
    """Keeps every grant past its lease: returns from acquire only once Redis has expired the keys."""

    def acquire(self, names: Sequence[str], timeout: float) -> Grant:
        """Acquire, then hold on until the lease is certainly over (the defect)."""
        grant = super().acquire(names, timeout)
        over = time.monotonic_ns() + self.lease_ms * 1_000_000
        keys = [self._provider.prefix + name for name in names]
        while time.monotonic_ns() <= over or any(self._redis.pttl(key) != -2 for key in keys):
            time.sleep(0.001)  # the hold itself, outliving its lease: what this double is for
        return grant


@dataclass(frozen=True)
class ShortLeaseRedisProvider(RedisLockProvider):
    """A redis-py Lock provider whose clients hold longer than the lease."""

    def client(self, client_id: str, history: History) -> LongHoldRedisClient:
        """A client that outlives its leases."""
        return LongHoldRedisClient(self, client_id, history)


def redis_short_lease(run: RunConfig, history: History) -> ShortLeaseRedisProvider:
    """--locks factory: redis-py locks with a 20 ms lease held longer than that."""
    return ShortLeaseRedisProvider(os.environ.get("REDIS_URL", DEFAULT_URL), f"harness-locks:{uuid.uuid4().hex}:",
                                   lease_ms=20)


class TextTokenTable(LockTable):
    """A lock table whose grants carry text tokens (a plug-in breaking the token contract)."""

    def take(self, client: str, names: Sequence[str], timeout: float) -> dict[str, Any]:
        """Grant as usual, tokens as text."""
        return {name: str(token) for name, token in super().take(client, names, timeout).items()}


def text_tokens(run: RunConfig, history: History) -> TextTokenTable:
    """--locks factory: in-process locks whose tokens are not integers."""
    return TextTokenTable()


def reference(run: RunConfig, history: History) -> ZmqLockProvider:
    """--locks factory: the reference broker and client, as a plug-in (the no-false-alarm side)."""
    return ZmqLockProvider(_broker(LockBroker, history).endpoint, seed=run.seed)


def stop_all() -> None:
    """Stop every broker these factories started."""
    while _squatters:
        _squatters.pop().close()
    while _started:
        _started.pop().stop()
