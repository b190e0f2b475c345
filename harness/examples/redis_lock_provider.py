"""Locks from redis-py's ``Lock`` on a real Redis, plugged into a scenario through ``--locks``.

    REDIS_URL=redis://127.0.0.1:6379/0 harness run multi_symbol_stress \
        --locks harness.examples.redis_lock_provider:factory

Every key lives under a prefix unique to the run (``harness-locks:<random>:``), so runs
never share locks and nothing else in the database is touched. A ``Lock`` has a lease (its
``timeout``): a holder that keeps the lock longer than the lease loses it silently, and
another client may take it -- the harness catches that from the resources' writes, since
redis-py issues no fencing token (the fencing line says "not provided").

``fenced_factory`` is the same lock with a fencing token: a Redis ``INCR`` per lock name on
each acquire, which the guarded resources check. Under ``harness run lock_faults`` (a holder
paused past its lease) the plain lock lets the woken holder's write through -- Lock
Atomicity FAILs naming both writers -- and the fenced one has it rejected, and PASSes.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import redis
from redis.exceptions import LockError as RedisLockError

from harness.examples.recorded_lock import RecordingLockClient
from harness.history.log import History
from harness.system.locks.protocol import LockError, LockTimeout
from harness.system.settings import RunConfig

DEFAULT_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class RedisLockProvider:
    """Makes clients of one Redis under one key prefix (picklable: process-mode workers share it)."""

    url: str
    prefix: str
    lease_ms: int = 10_000
    shared_across_processes: bool = True
    fenced: bool = False  # True: each grant carries a token from INCR <prefix>fence:<name>

    def client(self, client_id: str, history: History) -> RedisLockClient:
        """A client with its own connection."""
        return RedisLockClient(self, client_id, history)

    def close(self) -> None:
        """Delete this provider's keys (its fencing counters; lock keys also expire with their lease)."""
        with redis.Redis.from_url(self.url) as conn:
            keys = list(conn.scan_iter(match=self.prefix + "*"))
            if keys:
                conn.delete(*keys)


class RedisLockClient(RecordingLockClient):
    """Takes one redis-py ``Lock`` per name, in sorted order, each with the provider's lease."""

    def __init__(self, provider: RedisLockProvider, client_id: str, history: History) -> None:
        super().__init__(client_id, history)
        self.lease_ms = provider.lease_ms
        self._provider = provider
        self._redis = redis.Redis.from_url(provider.url)
        self._held: dict[str, redis.lock.Lock] = {}

    def _take(self, names: Sequence[str], timeout: float) -> dict[str, int] | None:
        taken: list[str] = []
        for name in names:
            lock = self._redis.lock(self._provider.prefix + name, timeout=self.lease_ms / 1000,
                                    sleep=0.001, blocking_timeout=timeout)
            if not lock.acquire():
                self._give(taken)
                raise LockTimeout(f"{self.client_id}: {name} not granted in {timeout}s")
            self._held[name] = lock
            taken.append(name)
        if self._provider.fenced:
            return {name: int(self._redis.incr(f"{self._provider.prefix}fence:{name}")) for name in names}
        return None

    def _give(self, names: Sequence[str]) -> None:
        lost = []
        for name in names:
            try:
                self._held.pop(name).release()
            except (KeyError, RedisLockError):
                lost.append(name)  # its lease ran out: another client may hold it now
        if lost:
            raise LockError(f"{self.client_id}: {', '.join(lost)} no longer held (lease ran out)")

    def close(self) -> None:
        """Drop the connection; keys still held expire with their lease."""
        self._redis.close()


def factory(run: RunConfig, history: History) -> RedisLockProvider:
    """--locks factory: the Redis at $REDIS_URL (default loopback), a fresh key prefix, the run's lease."""
    return RedisLockProvider(os.environ.get("REDIS_URL", DEFAULT_URL), f"harness-locks:{uuid.uuid4().hex}:",
                             lease_ms=run.lock_lease_ms)


def fenced_factory(run: RunConfig, history: History) -> RedisLockProvider:
    """--locks factory: the same lock, each grant fenced by a Redis INCR per lock name."""
    return dataclasses.replace(factory(run, history), fenced=True)
