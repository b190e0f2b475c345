"""History store: idempotent by seq on SQLite and real PostgreSQL, native partitions and retention."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import psycopg
import pytest

from harness.history.log import Event, History
from harness.system.guardian.services import ServiceInfo
from harness.system.guardian.store import PostgresDialect, StoreError, open_store
from tests.system.guardian.conftest import make_events

RUN = "run-test"


def old_event(seq: int, days_ago: int) -> Event:
    """An event stamped ``days_ago`` days back, so it lands in an old partition."""
    wall = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)).isoformat(timespec="microseconds")
    return dataclasses.replace(History(RUN).append("old", worker="t"), seq=seq, wall=wall)


def exercise_idempotency(store) -> None:
    events = make_events(300, RUN)
    store.write(events[:200])
    store.write(events[100:])  # a retried, overlapping batch
    store.write(events[:10])
    assert store.read_seqs(RUN) == list(range(1, 301))
    assert store.read_events(RUN) == events
    assert store.read_seqs("another-run") == []


def test_sqlite_store_is_idempotent_and_round_trips_events(tmp_path: Path) -> None:
    store = open_store(None, sqlite_path=tmp_path / "events.db", schema="unused")
    store.setup()  # a second setup is harmless
    exercise_idempotency(store)
    store.write([old_event(1000, days_ago=3)])
    assert store.drop_expired(dt.datetime.now(dt.UTC)) == ["1 rows"]
    assert 1000 not in store.read_seqs(RUN)
    store.close()


def test_unsupported_url_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unsupported database URL 'host/db'"):
        open_store("mysql://user:secret@host/db", sqlite_path=tmp_path / "x.db", schema="s")


def test_bad_schema_name_is_refused() -> None:
    with pytest.raises(StoreError, match="bad schema name"):
        PostgresDialect("postgresql://x", "drop table;", dt.timedelta(days=1))


@pytest.mark.services
def test_postgres_native_partitions_idempotent_setup_and_retention(postgres: ServiceInfo, schema: str,
                                                                   tmp_path: Path) -> None:
    store = open_store(postgres.url, sqlite_path=tmp_path / "unused.db", schema=schema,
                       retention=dt.timedelta(hours=24))
    assert isinstance(store.dialect, PostgresDialect)
    if store.dialect.timescale:
        pytest.skip("timescaledb is available: the hypertable path is used instead")
    store.setup()
    store.setup()  # idempotent
    today = dt.datetime.now(dt.UTC).date()
    expected = {"events_default", *(f"events_p{today + dt.timedelta(days=i):%Y%m%d}" for i in range(3))}
    assert expected <= set(store.partitions())
    exercise_idempotency(store)
    store.write([old_event(1001, days_ago=3), old_event(1002, days_ago=0)])
    old_day = f"events_p{today - dt.timedelta(days=3):%Y%m%d}"
    assert old_day in store.partitions()
    dropped = store.drop_expired(dt.datetime.now(dt.UTC))
    assert dropped == [old_day] and old_day not in store.partitions()
    assert 1001 not in store.read_seqs(RUN) and 1002 in store.read_seqs(RUN)
    with psycopg.connect(postgres.url) as conn:
        default_rows = conn.execute(f"SELECT count(*) FROM {schema}.events_default").fetchone()[0]
    assert default_rows == 0  # partitions were created ahead of the rows
    store.close()


@pytest.mark.services
def test_postgres_timescale_hypertable_when_the_extension_exists(postgres: ServiceInfo, schema: str,
                                                                 tmp_path: Path) -> None:
    with psycopg.connect(postgres.url) as conn:
        available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    if not available:
        pytest.skip("timescaledb extension not installed on this PostgreSQL: native partitioning is tested instead")
    store = open_store(postgres.url, sqlite_path=tmp_path / "unused.db", schema=schema)
    store.setup()
    exercise_idempotency(store)
    store.close()


class _RecordingConnection:
    """Stands in for a psycopg connection: records SQL, answers the extension probe."""

    def __init__(self, timescale_available: bool) -> None:
        self.available = timescale_available
        self.sql: list[str] = []

    def execute(self, sql: str, params: object = None) -> _RecordingConnection:
        self.sql.append(sql)
        self._last = sql
        return self

    def fetchone(self) -> tuple[int] | None:
        return (1,) if "pg_available_extensions" in self._last and self.available else None


@pytest.mark.parametrize("available", [True, False], ids=["extension present", "extension absent"])
def test_setup_chooses_hypertable_with_retention_policy_only_when_timescaledb_is_available(available: bool) -> None:
    """The detection decides the path: hypertable + retention policy, else native range partitions."""
    from harness.system.guardian.store import PostgresDialect

    conn = _RecordingConnection(available)
    dialect = PostgresDialect("postgresql://unused", "h_detect", dt.timedelta(hours=24))
    dialect.setup(conn)
    issued = "\n".join(conn.sql)
    assert dialect.timescale is available
    assert ("create_hypertable" in issued and "add_retention_policy" in issued) is available
    assert ("PARTITION BY RANGE (ts)" in issued and "events_default" in issued) is not available
