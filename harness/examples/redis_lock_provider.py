"""Locks from redis-py's ``Lock`` on a real Redis, plugged into a scenario through ``--locks``.

    REDIS_URL=redis://127.0.0.1:6379/0 harness run multi_symbol_stress \
        --locks harness.examples.redis_lock_provider:factory

Every key lives under a prefix unique to the run (``harness-locks:<random>:``), so runs
never share locks and nothing else in the database is touched. A ``Lock`` has a lease (its
``timeout``): a holder that keeps the lock longer than the lease loses it silently, and
another client may take it -- the harness catches that from the resources' writes, since
redis-py issues no fencing token (the fencing line says "not provided").
"""

from __future__ import annotations

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

    def client(self, client_id: str, history: History) -> RedisLockClient:
        """A client with its own connection."""
        return RedisLockClient(self, client_id, history)


class RedisLockClient(RecordingLockClient):
    """Takes one redis-py ``Lock`` per name, in sorted order, each with the provider's lease."""

    def __init__(self, provider: RedisLockProvider, client_id: str, history: History) -> None:
        super().__init__(client_id, history)
        self.lease_ms = provider.lease_ms
        self._provider = provider
        self._redis = redis.Redis.from_url(provider.url)
        self._held: dict[str, redis.lock.Lock] = {}

    def _take(self, names: Sequence[str], timeout: float) -> None:
        taken: list[str] = []
        for name in names:
            lock = self._redis.lock(self._provider.prefix + name, timeout=self.lease_ms / 1000,
                                    sleep=0.001, blocking_timeout=timeout)
            if not lock.acquire():
                self._give(taken)
                raise LockTimeout(f"{self.client_id}: {name} not granted in {timeout}s")
            self._held[name] = lock
            taken.append(name)

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
    """--locks factory: the Redis at $REDIS_URL (default loopback), a fresh key prefix."""
    return RedisLockProvider(os.environ.get("REDIS_URL", DEFAULT_URL), f"harness-locks:{uuid.uuid4().hex}:")
