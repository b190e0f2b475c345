"""History store layer: every event in a SQL table, written idempotently, kept for a retention.

Design rationale:

- Idempotency: the key is (run_id, seq, ts) and inserts say ON CONFLICT DO NOTHING, so a
  batch retried after a timeout (whose first attempt may have committed) doubles no row.
  ``ts`` (the event's wall time) is in the key because a partitioned table's unique
  constraint must contain the partition column; an event's ts never changes, so the key is
  still one row per event.
- One class serves SQLite and PostgreSQL; only the dialect differs (placeholders, DDL,
  retention). PostgreSQL loads a batch with COPY into a temp table, then one INSERT ...
  SELECT ... ON CONFLICT DO NOTHING.
- Partitioning: with the ``timescaledb`` extension available, a hypertable plus a retention
  policy; otherwise native range partitions, one per UTC day, created ahead as batches need
  them, a DEFAULT partition as a catch-all, and retention by dropping whole days older than
  the retention. All DDL says IF NOT EXISTS, so setup may run any number of times.
- Each run (or test) gets its own schema, because the PostgreSQL server is shared.
- A blackholed connection never answers, and libpq has no client-side query timeout, so a
  PostgreSQL write runs on a helper thread with a deadline; past it the connection is
  abandoned (its late commit, if any, is harmless thanks to idempotency) and the write fails.
"""

from __future__ import annotations

import abc
import datetime as dt
import json
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.history.log import Event
from harness.system.guardian.writer import Unstorable

DAY = dt.timedelta(days=1)
IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
PARTITION = re.compile(r"^events_p(\d{8})$")
HARNESS_TABLE = re.compile(r"^events(_default|_p\d{8})?$")  # what setup creates in a run's schema
COLUMNS = ("run_id", "seq", "ts", "mono_ns", "worker", "symbol", "kind", "payload")


class StoreError(HarnessError, RuntimeError):
    """The store cannot be set up or written; the message says why."""


class NotOwned(StoreError):
    """The store holds what is not the caller's run's: left untouched."""


def database_url_from_env(env: Mapping[str, str] = os.environ) -> str | None:
    """``TIMESCALEDB_URI`` (the seed's name) or ``DATABASE_URL``; None means embedded SQLite."""
    return env.get("TIMESCALEDB_URI") or env.get("DATABASE_URL") or None


def _ts(event: Event) -> dt.datetime:
    return dt.datetime.fromisoformat(event.wall)


def _row(event: Event) -> tuple[Any, ...]:
    payload = json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False)
    return (event.run_id, event.seq, _ts(event), event.mono_ns, event.worker, event.symbol, event.kind, payload)


class EventStore:
    """Persistence layer: events into a SQL table, idempotent by (run_id, seq, ts)."""

    def __init__(self, dialect: _Dialect) -> None:
        self.dialect = dialect
        self.name = dialect.name

    def setup(self) -> None:
        """Create schema, table and partitioning (idempotent)."""
        self.dialect.run(self.dialect.setup)

    def write(self, events: Sequence[Event]) -> None:
        """Insert a batch; rows already stored are skipped; ``Unstorable`` when the server refuses the data."""
        if events:
            try:
                rows = [_row(e) for e in events]
            except (ValueError, OverflowError) as exc:  # a wall time that is no time: this event, not an outage
                raise Unstorable(f"{self.name}: not a storable event: {type(exc).__name__}: {exc}") from exc
            refused: tuple[type[Exception], ...] = (UnicodeEncodeError, OverflowError, *self.dialect.data_errors())
            try:
                self.dialect.run(lambda conn: self.dialect.insert(conn, rows))
            except refused as exc:
                raise Unstorable(f"{self.name} refused the data: {type(exc).__name__}: {exc}") from exc

    def read_events(self, run_id: str) -> list[Event]:
        """The stored events of one run, in seq order (duplicates, if any, kept)."""
        def query(conn: Any) -> list[Event]:
            rows = conn.execute(
                f"SELECT seq, mono_ns, ts, worker, symbol, kind, payload FROM {self.dialect.table}"
                f" WHERE run_id = {self.dialect.mark} ORDER BY seq", (run_id,)).fetchall()
            return [Event(seq, mono, _iso(ts), run_id, worker, symbol, kind, _json(payload))
                    for seq, mono, ts, worker, symbol, kind, payload in rows]
        return self.dialect.run(query)

    def read_seqs(self, run_id: str) -> list[int]:
        """Seqs stored for one run, in order; read from the table, not from counters."""
        return self.dialect.run(lambda conn: [r[0] for r in conn.execute(
            f"SELECT seq FROM {self.dialect.table} WHERE run_id = {self.dialect.mark} ORDER BY seq",
            (run_id,)).fetchall()])

    def drop_expired(self, now: dt.datetime) -> list[str]:
        """Apply the retention at ``now``; returns what was dropped (partitions or a row count)."""
        return self.dialect.run(lambda conn: self.dialect.expire(conn, now))

    def partitions(self) -> list[str]:
        """Names of the table's partitions (empty where there are none)."""
        return self.dialect.run(self.dialect.partitions)

    def drop(self) -> None:
        """Remove everything this store created (a run's schema on a shared server)."""
        self.dialect.run(self.dialect.drop)

    def foreign(self, run_id: str) -> str | None:
        """What in this store is not ``run_id``'s (another run's events, tables the harness never makes), or None."""
        return self.dialect.run(lambda conn: self.dialect.foreign(conn, run_id))

    def drop_owned(self, run_id: str) -> None:
        """``drop``, only when the store holds nothing but ``run_id``'s events (StoreError naming what else)."""
        def checked(conn: Any) -> None:
            found = self.dialect.foreign(conn, run_id)
            if found is not None:
                raise NotOwned(f"{found}: not run {run_id}'s, left untouched")
            self.dialect.drop(conn)
        self.dialect.run(checked)

    def close(self) -> None:
        """Close the connection."""
        self.dialect.close()


def _iso(ts: Any) -> str:
    return ts if isinstance(ts, str) else ts.isoformat(timespec="microseconds")


def _json(payload: Any) -> dict:
    return payload if isinstance(payload, dict) else json.loads(payload)


# -- dialects ---------------------------------------------------------------------------------


class _Dialect(abc.ABC):
    """What differs between the SQL backends."""

    name = "sql"
    mark = "?"
    table = "events"

    @abc.abstractmethod
    def run(self, fn: Callable[[Any], Any]) -> Any:
        """Call ``fn(connection)`` in a transaction and return its result."""

    @abc.abstractmethod
    def data_errors(self) -> tuple[type[Exception], ...]:
        """What the backend raises for data it cannot hold (a NUL in PostgreSQL text), not for an outage."""

    @abc.abstractmethod
    def setup(self, conn: Any) -> None:
        """Create the table (and partitioning) idempotently."""

    @abc.abstractmethod
    def insert(self, conn: Any, rows: list[tuple[Any, ...]]) -> None:
        """Insert rows, skipping those already stored."""

    @abc.abstractmethod
    def expire(self, conn: Any, now: dt.datetime) -> list[str]:
        """Apply the retention at ``now``."""

    @abc.abstractmethod
    def drop(self, conn: Any) -> None:
        """Remove what ``setup`` created."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection."""

    def partitions(self, conn: Any) -> list[str]:
        """Partition names (none by default)."""
        return []

    def foreign(self, conn: Any, run_id: str) -> str | None:
        """What the store holds that is not ``run_id``'s (None: nothing, or nothing it can tell)."""
        return None

    def create_sql(self, key_type: str, time_type: str, json_type: str) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS {self.table} (run_id TEXT NOT NULL, seq {key_type} NOT NULL,"
            f" ts {time_type} NOT NULL, mono_ns {key_type} NOT NULL, worker TEXT NOT NULL, symbol TEXT,"
            f" kind TEXT NOT NULL, payload {json_type} NOT NULL, PRIMARY KEY (run_id, seq, ts))"
        )

    def insert_sql(self, source: str) -> str:
        return f"INSERT INTO {self.table} ({', '.join(COLUMNS)}) {source} ON CONFLICT DO NOTHING"


class SQLiteDialect(_Dialect):
    """Embedded SQLite file; retention deletes old rows."""

    name = "sqlite"

    def __init__(self, path: Path, retention: dt.timedelta) -> None:
        self.path, self.retention = Path(path), retention
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.Lock()

    def data_errors(self) -> tuple[type[Exception], ...]:
        """sqlite3's data errors."""
        return (sqlite3.DataError,)

    def run(self, fn: Callable[[Any], Any]) -> Any:
        with self._lock:
            try:
                self._conn.execute("BEGIN")
                result = fn(self._conn)
                self._conn.execute("COMMIT")
                return result
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def setup(self, conn: Any) -> None:
        conn.execute(self.create_sql("INTEGER", "TEXT", "TEXT"))

    def insert(self, conn: Any, rows: list[tuple[Any, ...]]) -> None:
        values = [(*r[:2], _iso(r[2]), *r[3:]) for r in rows]
        conn.executemany(self.insert_sql(f"VALUES ({', '.join('?' * len(COLUMNS))})"), values)

    def expire(self, conn: Any, now: dt.datetime) -> list[str]:
        cursor = conn.execute("DELETE FROM events WHERE ts < ?", (_iso(now - self.retention),))
        return [f"{cursor.rowcount} rows"] if cursor.rowcount else []

    def drop(self, conn: Any) -> None:
        conn.execute("DROP TABLE IF EXISTS events")

    def close(self) -> None:
        self._conn.close()


class PostgresDialect(_Dialect):
    """PostgreSQL in its own schema: a TimescaleDB hypertable, or native daily partitions."""

    name = "postgres"
    mark = "%s"

    def __init__(self, dsn: str, schema: str, retention: dt.timedelta, *, ahead_days: int = 2,
                 timeout_s: float = 5.0, timescale: bool | None = None) -> None:
        if not IDENT.match(schema):
            raise StoreError(f"bad schema name {schema!r} (lower-case letters, digits, _)")
        self.dsn, self.schema, self.retention = dsn, schema, retention
        self.table = f"{schema}.events"
        self.ahead_days, self.timeout_s = ahead_days, timeout_s
        self._timescale = timescale
        self._conn: Any = None
        self._days: set[dt.date] = set()

    @property
    def timescale(self) -> bool | None:
        """Whether the hypertable path is in use (None until the server was asked)."""
        return self._timescale

    def uses_timescale(self, conn: Any) -> bool:
        """Whether the hypertable path is used: the extension is available on the server."""
        if self._timescale is None:
            self._timescale = bool(conn.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone())
        return self._timescale

    def _connect(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.dsn, connect_timeout=max(1, int(self.timeout_s)))
        return self._conn

    def data_errors(self) -> tuple[type[Exception], ...]:
        """psycopg's data errors (a NUL in text, an untranslatable character, a value out of range)."""
        import psycopg

        return (psycopg.DataError,)

    def run(self, fn: Callable[[Any], Any]) -> Any:
        box: dict[str, Any] = {}

        def body() -> None:
            try:
                conn = self._connect()
                with conn.transaction():
                    box["result"] = fn(conn)
            except BaseException as exc:  # noqa: BLE001 -- handed to the caller's thread
                box["error"] = exc

        worker = threading.Thread(target=body, name="pg-call", daemon=True)
        worker.start()
        worker.join(self.timeout_s)
        if worker.is_alive():
            self._conn = None  # abandoned: a fresh connection next time
            raise StoreError(f"postgres: no answer within {self.timeout_s}s")
        if "error" in box:
            if getattr(self._conn, "broken", False):
                self._conn = None
            raise box["error"]
        return box.get("result")

    def setup(self, conn: Any) -> None:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
        if self.uses_timescale(conn):
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            conn.execute(self.create_sql("BIGINT", "TIMESTAMPTZ", "JSONB"))
            conn.execute("SELECT create_hypertable(%s, 'ts', if_not_exists => TRUE)", (self.table,))
            conn.execute("SELECT add_retention_policy(%s, %s::interval, if_not_exists => TRUE)",
                         (self.table, self.retention))
            return
        conn.execute(self.create_sql("BIGINT", "TIMESTAMPTZ", "JSONB") + " PARTITION BY RANGE (ts)")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {self.schema}.events_default PARTITION OF {self.table} DEFAULT")
        today = dt.datetime.now(dt.UTC).date()
        self._ensure(conn, [today + DAY * i for i in range(self.ahead_days + 1)])

    def _ensure(self, conn: Any, days: Sequence[dt.date]) -> None:
        for day in sorted(set(days) - self._days):
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.schema}.events_p{day:%Y%m%d} PARTITION OF {self.table}"
                f" FOR VALUES FROM ('{day.isoformat()}') TO ('{(day + DAY).isoformat()}')")
            self._days.add(day)

    def insert(self, conn: Any, rows: list[tuple[Any, ...]]) -> None:
        if not self.uses_timescale(conn):
            self._ensure(conn, [r[2].astimezone(dt.UTC).date() for r in rows])
        conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS stage (LIKE {self.table} INCLUDING DEFAULTS)"
                     " ON COMMIT DELETE ROWS")
        with conn.cursor().copy(f"COPY stage ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.execute(self.insert_sql(f"SELECT {', '.join(COLUMNS)} FROM stage"))

    def foreign(self, conn: Any, run_id: str) -> str | None:
        """Tables the harness never makes, or events of another run, in this schema."""
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (self.schema,)).fetchall()]
        strange = sorted(t for t in tables if not HARNESS_TABLE.match(t))
        if strange:
            return f"schema {self.schema} holds tables the harness never makes ({', '.join(strange[:3])})"
        if "events" not in tables:
            return None
        import psycopg

        try:
            with conn.transaction():  # a savepoint: the table may go meanwhile (an abandoned connection's late drop)
                runs = [r[0] for r in conn.execute(f"SELECT DISTINCT run_id FROM {self.table} LIMIT 2").fetchall()]
        except psycopg.errors.UndefinedTable:
            return None
        other = next((r for r in runs if r != run_id), None)
        return None if other is None else f"schema {self.schema} holds events of run {other!r}"

    def partitions(self, conn: Any) -> list[str]:
        return [r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace"
            " WHERE n.nspname = %s AND p.relname = 'events' ORDER BY c.relname", (self.schema,)).fetchall()]

    def expire(self, conn: Any, now: dt.datetime) -> list[str]:
        cutoff = now - self.retention
        if self.uses_timescale(conn):
            rows = conn.execute("SELECT drop_chunks(%s, older_than => %s)", (self.table, cutoff)).fetchall()
            return [str(r[0]) for r in rows]
        dropped = []
        for name in self.partitions(conn):
            match = PARTITION.match(name)
            if match is None:
                continue
            day = dt.datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=dt.UTC)
            if day + DAY <= cutoff:
                conn.execute(f"DROP TABLE {self.schema}.{name}")
                self._days.discard(day.date())
                dropped.append(name)
        return dropped

    def drop(self, conn: Any) -> None:
        conn.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def open_store(url: str | None, *, sqlite_path: Path, schema: str,
               retention: dt.timedelta = DAY, timeout_s: float = 5.0) -> EventStore:
    """An EventStore for a ``postgresql://`` URL, else an embedded SQLite file; set up."""
    if url and url.startswith(("postgres://", "postgresql://")):
        dialect: _Dialect = PostgresDialect(url, schema, retention, timeout_s=timeout_s)
    elif url and not url.startswith("sqlite:///"):
        raise StoreError(f"unsupported database URL {url.split('@')[-1]!r} (postgresql:// or sqlite:///)")
    else:
        dialect = SQLiteDialect(Path(url[len("sqlite:///"):]) if url else sqlite_path, retention)
    store = EventStore(dialect)
    store.setup()
    return store
