"""Fixtures for the persistence tests: real services (skip or fail) under unique names, and fakes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence

import pytest

from harness.clock import FakeClock
from harness.history.log import Event, History
from harness.system.guardian.services import ServiceInfo, skip_or_fail


def unique(prefix: str) -> str:
    """A name no other run or xdist worker uses: prefix, worker id, random suffix."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"{prefix}_{worker}_{uuid.uuid4().hex[:8]}".lower()


SERVICE_ENV = ("REDIS_URL", "REDIS_HOST", "REDIS_PORT", "TIMESCALEDB_URI", "DATABASE_URL")
# What the user pointed the harness at, read once: the real-service fixtures honour it ...
USER_ENV = dict(os.environ)


@pytest.fixture(autouse=True)
def _no_service_urls_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """... while the code under test sees none, so "embedded" means embedded and a real service
    is used only where a test passes its URL."""
    for name in SERVICE_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def postgres() -> ServiceInfo:
    """The real PostgreSQL (skips, or fails under HARNESS_REQUIRE_SERVICES=1, when absent)."""
    return skip_or_fail("postgres", env=USER_ENV)


@pytest.fixture
def redis_service() -> ServiceInfo:
    """The real Redis (skips, or fails under HARNESS_REQUIRE_SERVICES=1, when absent)."""
    return skip_or_fail("redis", env=USER_ENV)


@pytest.fixture
def schema(postgres: ServiceInfo) -> Iterator[str]:
    """A unique schema name on the shared server, dropped afterwards."""
    import psycopg

    name = unique("t_persist")
    yield name
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")



class FlakyStore:
    """A layer that keeps what it is given (idempotently, by seq) and fails while ``down``."""

    def __init__(self, name: str = "postgres") -> None:
        self.name = name
        self.down = False
        self.rows: list[int] = []
        self.kept: dict[int, Event] = {}
        self.attempts = 0

    def write(self, events: Sequence[Event]) -> None:
        self.attempts += 1
        if self.down:
            raise ConnectionError("database unreachable")
        seen = set(self.rows)
        self.rows.extend(e.seq for e in events if e.seq not in seen)
        for event in events:
            self.kept.setdefault(event.seq, event)

    def read_seqs(self, run_id: str) -> list[int]:
        return sorted(self.rows)

    def read_events(self, run_id: str) -> list[Event]:
        return [self.kept[seq] for seq in sorted(self.rows)]

    def close(self) -> None:
        pass


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_events(count: int, run_id: str = "run-test") -> list[Event]:
    """``count`` plain events with seqs 1..count."""
    history = History(run_id)
    return [history.append("tick", worker="t", symbol="S", i=i) for i in range(count)]
