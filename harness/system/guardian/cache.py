"""Cache layer: the live guardian state in Redis, per symbol and global, with its event seq.

Design rationale: what the cache holds is the same pure fold of events the checkpoint uses
(``StateReplay``), written after every batch in one MULTI/EXEC transaction together with the
last seq it covers -- so a reader never sees symbols from one seq and the global row from
another, and recovery knows exactly where the cache stands. Keys live under a per-run prefix
because the Redis server is shared. By default the client is an embedded ``fakeredis``;
``REDIS_URL`` or the seed's ``REDIS_HOST``/``REDIS_PORT`` (or an explicit ``redis://`` URL)
select a real server. Client sockets have timeouts, so a dead server fails a write instead
of hanging the writer thread.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis
from redis.typing import EncodableT, FieldT

from harness.errors import RunError
from harness.history.log import Event
from harness.system.guardian.checkpoint import StateReplay
from harness.system.guardian.risk import G_DEGRADED, G_TRIPPED, GLOBAL_SLOTS, SYMBOL_SLOTS, Health, RiskLimits
from harness.system.model import SymbolSpec

SYMBOL_FIELDS = ("pos", "mark", "pend_buy", "pend_sell", "pend_px", "realised", "peak", "streak", "tripped")
GLOBAL_FIELDS = ("realised", "peak", "streak", "tripped", "degraded", "trips", "fence")
SOCKET_TIMEOUT_S = 1.0


def redis_url_from_env(env: Mapping[str, str] = os.environ) -> str | None:
    """``REDIS_URL``, else ``redis://REDIS_HOST:REDIS_PORT/0``, else None (embedded)."""
    if env.get("REDIS_URL"):
        return env["REDIS_URL"]
    if env.get("REDIS_HOST"):
        return f"redis://{env['REDIS_HOST']}:{env.get('REDIS_PORT', '6379')}/0"
    return None


def connect(url: str | None, timeout_s: float = SOCKET_TIMEOUT_S) -> redis.Redis:
    """A Redis client for ``url``; an embedded fakeredis when it is None."""
    if url is None:
        import fakeredis

        return fakeredis.FakeRedis()
    return redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)


GLOB = re.compile(r"[*?\[\]\\]")  # what a Redis MATCH pattern reads as a wildcard, escaped in a prefix


class CacheError(RunError):
    """The cache's keys are not the ones a caller may touch."""


@dataclass(frozen=True)
class CachedState:
    """What the cache holds: the state vector, its health and the seq it covers."""

    state: tuple[int, ...]
    health: str
    last_seq: int


class RedisCache:
    """Persistence layer: fold events into the state and publish it to Redis atomically."""

    name = "redis"

    def __init__(self, client: redis.Redis, prefix: str, specs: Sequence[SymbolSpec], limits: RiskLimits,
                 owner: str = "") -> None:
        self.client = client
        self.prefix = prefix
        self.owner = owner  # the run whose keys these are, kept with them so a cleanup can check
        self.specs = tuple(specs)
        self._fold = StateReplay(specs, limits)

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def write(self, events: Sequence[Event]) -> None:
        """Fold the batch in and publish the resulting state with its seq."""
        for event in events:
            self._fold.add(event)
        state, g = self._fold.state, len(self.specs) * SYMBOL_SLOTS
        pipe = self.client.pipeline(transaction=True)
        for i, spec in enumerate(self.specs):
            base = i * SYMBOL_SLOTS
            pipe.hset(self._key("symbol", spec.name), mapping=dict(zip(SYMBOL_FIELDS, state[base:base + SYMBOL_SLOTS], strict=False)))
        health = Health.HALTED if state[g + G_TRIPPED] else Health.DEGRADED if state[g + G_DEGRADED] else Health.HEALTHY
        row: dict[FieldT, EncodableT] = dict(zip(GLOBAL_FIELDS, state[g:g + GLOBAL_SLOTS], strict=False))
        pipe.hset(self._key("global"), mapping={**row, "health": health.value, "last_seq": self._fold.seq,
                                                "run_id": self.owner})
        pipe.execute()

    def load(self) -> CachedState | None:
        """The published state, or None if nothing was published under this prefix."""
        top = self.client.hgetall(self._key("global"))
        if not top:
            return None
        state: list[int] = []
        for spec in self.specs:
            row = self.client.hgetall(self._key("symbol", spec.name))
            state.extend(int(row[f.encode()]) for f in SYMBOL_FIELDS)
        state.extend(int(top[f.encode()]) for f in GLOBAL_FIELDS)
        # The client does not decode responses (see ``connect``): field values are bytes.
        return CachedState(tuple(state), cast(bytes, top[b"health"]).decode(), int(top[b"last_seq"]))

    def read_back(self) -> dict[str, Any] | None:
        """The published state in the history's units (position, mark, pending per symbol; the seq it covers)."""
        cached = self.load()
        if cached is None:
            return None
        symbols = {}
        for i, spec in enumerate(self.specs):
            row = dict(zip(SYMBOL_FIELDS, cached.state[i * SYMBOL_SLOTS:(i + 1) * SYMBOL_SLOTS], strict=False))
            symbols[spec.name] = {"position": row["pos"] * spec.lot, "mark": row["mark"] * spec.tick,
                                  "pending_buy": row["pend_buy"] * spec.lot, "pending_sell": row["pend_sell"] * spec.lot}
        return {"last_seq": cached.last_seq, "symbols": symbols}

    def clear(self, owner: str | None = None) -> None:
        """Delete this prefix's keys (the prefix taken literally); with ``owner``, only when they are that run's."""
        if owner is not None and self.client.exists(self._key("global")):
            raw = self.client.hget(self._key("global"), "run_id")
            recorded = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
            if recorded != owner:
                whose = "an unnamed run" if recorded is None else f"run {recorded!r}"
                raise CacheError(f"redis keys {self.prefix}:* belong to {whose}, not {owner!r}: left untouched")
        literal = GLOB.sub(r"\\\g<0>", self.prefix)
        keys = list(self.client.scan_iter(match=f"{literal}:*"))
        if keys:
            self.client.delete(*keys)

    def close(self) -> None:
        """Release the client's connections."""
        self.client.close()
