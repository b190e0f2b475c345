"""Persistence benchmarks against raw client baselines, on the loopback Redis and PostgreSQL.

Raw baselines: redis-py single SET (latency) and pipelined SET (rate), a PostgreSQL COPY of
the same event rows into a plain table, a file write+fsync+rename, and a raw read+parse of
the write-ahead log. Measures: events/s persisted by ``EventStore``; ``RedisCache`` state
write latency; recovery time for 100,000 events since the last snapshot; and the trading
loop's order latency p99 with the database blackholed through ``FaultProxy`` vs healthy.
Every server object is created under a unique schema / key prefix and removed afterwards.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.bench_checkers import base_events, tiled_history
from bench.runner import Plan, Row, Target, level, per_call_us, percentile, repeat, row, timed
from harness.faults.proxy import FaultProxy
from harness.history.log import Event
from harness.judge.checks.perf import order_latencies
from harness.run.config import run_config
from harness.system.guardian.cache import RedisCache, connect
from harness.system.guardian.checkpoint import Checkpoint
from harness.system.guardian.persistence import PersistenceConfig, run_persisted
from harness.system.guardian.recovery import recover
from harness.system.guardian.services import resolve
from harness.system.guardian.store import COLUMNS, _row, open_store
from harness.system.locks.local import LockTable

GROUP = "persistence"
SIZES = {  # (redis ops, pg rows, recovery events, trades per symbol under fault)
    "tiny": (50, 500, 2_000, 3),
    "quick": (2_000, 10_000, 100_000, 60),
    "full": (5_000, 20_000, 100_000, 150),
}
BATCH = 512  # the writer's default batch size
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def unique(prefix: str) -> str:
    """A name no other run on the shared servers uses."""
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


# -- Redis --------------------------------------------------------------------------------


def redis_raw(client: Any, prefix: str, ops: int) -> dict[str, float]:
    """Single SET latency p50/p99 (us) and pipelined SET rate (1/s)."""
    single = per_call_us(lambda: client.set(f"{prefix}:k", b"x" * 64), ops)
    pipe = client.pipeline(transaction=False)
    for i in range(ops):
        pipe.set(f"{prefix}:p{i % 100}", b"x" * 64)
    seconds, _ = timed(pipe.execute)
    return {"set_p50": percentile(single, 50), "set_p99": percentile(single, 99), "pipelined": ops / seconds}


def redis_state(cache: RedisCache, events: Sequence[Event], ops: int) -> dict[str, float]:
    """``RedisCache.write`` of one event at a time (fold + one MULTI/EXEC): p50/p99 (us)."""
    feed = iter(events)
    samples = per_call_us(lambda: cache.write([next(feed)]), min(ops, len(events)))
    return {"p50": percentile(samples, 50), "p99": percentile(samples, 99)}


# -- PostgreSQL ---------------------------------------------------------------------------


def pg_raw_copy(conn: Any, schema: str, rows: list[tuple[Any, ...]]) -> dict[str, float]:
    """Rows/s of one COPY of the event rows into a plain table, committed."""
    conn.execute(f"TRUNCATE {schema}.raw")
    started = time.perf_counter()
    with conn.cursor().copy(f"COPY {schema}.raw ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        for values in rows:
            copy.write_row(values)
    conn.commit()
    return {"rows_per_s": len(rows) / (time.perf_counter() - started)}


def pg_store(url: str, events: Sequence[Event]) -> dict[str, float]:
    """Events/s written by ``EventStore`` in writer-sized batches, into a fresh schema."""
    store = open_store(url, sqlite_path=Path("/nonexistent"), schema=unique("bench_store"))
    try:
        started = time.perf_counter()
        for i in range(0, len(events), BATCH):
            store.write(events[i:i + BATCH])
        return {"events_per_s": len(events) / (time.perf_counter() - started)}
    finally:
        store.drop()
        store.close()


@contextmanager
def pg_raw_table(url: str) -> Iterator[tuple[Any, str]]:
    """A connection and a throw-away schema with a plain events-shaped table."""
    import psycopg

    schema = unique("bench_raw")
    conn = psycopg.connect(url, connect_timeout=2)
    try:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.raw (run_id TEXT, seq BIGINT, ts TIMESTAMPTZ, mono_ns BIGINT,"
                     " worker TEXT, symbol TEXT, kind TEXT, payload JSONB)")
        conn.commit()
        yield conn, schema
    finally:
        conn.rollback()
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.commit()
        conn.close()


# -- files: snapshot and recovery -----------------------------------------------------------


def file_raw(directory: Path, size: int, ops: int) -> dict[str, float]:
    """Write + fsync + rename of ``size`` bytes: p50/p99 (us)."""
    data, target = os.urandom(size), directory / "raw.bin"

    def once() -> None:
        tmp = directory / "raw.tmp"
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)

    samples = per_call_us(once, ops)
    return {"p50": percentile(samples, 50), "p99": percentile(samples, 99)}


def checkpoint_with_log(directory: Path, events: Sequence[Event]) -> None:
    """A checkpoint directory whose snapshot is followed by ``events`` in the log (setup, untimed)."""
    point = Checkpoint(directory, base_specs(), run_config({}).limits, every=10**9)
    point.snapshot()
    point.write(events)  # one batch: logged after the snapshot, never snapshotted


def base_specs() -> tuple[Any, ...]:
    """The symbol specs of the base history."""
    return run_config({"symbols": SYMBOLS}).symbols


def recovery(directory: Path, events: int) -> dict[str, float]:
    """Seconds to recover the state, and (baseline) to read and parse the same log raw."""
    raw_s, _ = timed(lambda: [json.loads(line.rpartition("\t")[0]) for path in sorted(directory.glob("wal-*.jsonl"))
                               for line in path.read_text().splitlines()])
    result = recover(directory, base_specs(), run_config({}).limits)
    if result.replayed != events or result.fallbacks:
        raise RuntimeError(f"recovery replayed {result.replayed} of {events} ({result.fallbacks})")
    return {"recover_s": result.elapsed_s, "raw_s": raw_s}


# -- trading under a blackholed database ----------------------------------------------------


def order_p99(urls: tuple[str, str], trades: int, proxy: FaultProxy, blackhole: bool, directory: Path) -> float:
    """Order latency p99 (us) of a persisted thread-mode run; ``urls``: Redis, database via ``proxy``."""
    redis_url, proxied = urls
    config = run_config({"symbols": SYMBOLS, "trades": trades, "mode": "thread", "seed": 5})
    key_prefix, schema = unique("bench"), unique("bench_fault")
    pconfig = PersistenceConfig(directory / key_prefix, redis_url=redis_url, schema=schema, key_prefix=key_prefix,
                                database_url=proxied, timeout_s=1.0)
    proxy.heal()
    closed: list[str] = []
    total = trades * len(SYMBOLS)

    def lose_database(symbol: str, stopped: str | None = None) -> None:
        # Called per closed trade: the database goes dark after the first one (persistence is set
        # up by then) and comes back with the last, so close() drains instead of timing out.
        if stopped is not None:
            return  # a worker's stop notice, not a trade
        closed.append(symbol)
        if blackhole and len(closed) == 1:
            proxy.set_fault("blackhole")
        elif len(closed) >= total:
            proxy.heal()

    try:
        result, persistence = run_persisted(config, LockTable(), pconfig, progress=lose_database)
    finally:
        proxy.heal()
    persistence.cache.clear()
    persistence.store.drop()
    persistence.release()
    return percentile(order_latencies(result.events()), 99) / 1e3


def run(quick: bool, tiny: bool = False) -> list[Row]:
    """Every raw baseline and persistence measure; needs Redis and PostgreSQL on loopback."""
    size = level(quick, tiny)
    redis_ops, pg_rows, recovered, trades = SIZES[size]
    plan = Plan.of(size)
    # The same discovery as the test suite (explicit env URL, else the loopback default).
    redis_url, database_url = resolve("redis", containers=False).url, resolve("postgres", containers=False).url
    return (_redis_rows(redis_url, plan, redis_ops) + _pg_rows(database_url, plan, pg_rows)
            + _file_rows(plan, recovered) + _fault_rows(redis_url, database_url, plan, trades))


def _redis_rows(url: str, plan: Plan, ops: int) -> list[Row]:
    client = connect(url, 2.0)
    prefix = unique("bench")
    cache = RedisCache(client, prefix + ":cache", base_specs(), run_config({}).limits)
    events = base_events()
    try:
        raw = repeat(lambda: redis_raw(client, prefix, ops), plan)
        state = repeat(lambda: redis_state(cache, events, ops), Plan(plan.runs, 0))
    finally:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
        client.close()
    set_p99 = row("redis SET p99 (raw)", raw["set_p99"], "us", group=GROUP)
    return [
        row("redis SET p50 (raw)", raw["set_p50"], "us", group=GROUP), set_p99,
        row("redis pipelined SET/s (raw)", raw["pipelined"], "1/s", group=GROUP),
        row("redis state write p50", state["p50"], "us", group=GROUP),
        row("redis state write p99", state["p99"], "us", baseline=set_p99, target=Target("value", "<", 1000.0),
            group=GROUP),
    ]


def _pg_rows(url: str, plan: Plan, count: int) -> list[Row]:
    events = tiled_history(count)[:count]
    table_rows = [_row(e) for e in events]  # the store's own encoding: both sides move the same rows
    with pg_raw_table(url) as (conn, schema):
        raw = repeat(lambda: pg_raw_copy(conn, schema, table_rows), plan)
    stored = repeat(lambda: pg_store(url, events), plan)
    base = row(f"postgres COPY rows/s (raw) [{count:,}]", raw["rows_per_s"], "1/s", group=GROUP)
    return [base, row(f"persisted events/s, EventStore [{count:,}]", stored["events_per_s"], "1/s",
                      baseline=base, target=Target("ratio", ">=", 0.2), group=GROUP)]


def _file_rows(plan: Plan, count: int) -> list[Row]:
    events = tiled_history(count)[:count]
    with tempfile.TemporaryDirectory(prefix="bench-files-") as tmp:
        directory = Path(tmp)
        raw = repeat(lambda: file_raw(directory, 4096, 50), plan)
        checkpoint_with_log(directory / "cp", events)
        recovered = repeat(lambda: recovery(directory / "cp", len(events)), plan)
    parse = row(f"raw WAL read+parse [{count:,} events]", recovered["raw_s"], "s", group=GROUP)
    return [
        row("file write+fsync+rename p50 (raw, 4 KiB)", raw["p50"], "us", group=GROUP),
        row("file write+fsync+rename p99 (raw, 4 KiB)", raw["p99"], "us", group=GROUP),
        parse,
        row(f"recovery time [{count:,} events since snapshot]", recovered["recover_s"], "s", baseline=parse,
            target=Target("value", "<", 1.0), group=GROUP),
    ]


def _fault_rows(redis_url: str, database_url: str, plan: Plan, trades: int) -> list[Row]:
    parts = urlsplit(database_url)
    proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    host, port = proxy.start()
    user = f"{parts.username}@" if parts.username else ""
    urls = (redis_url, urlunsplit(parts._replace(netloc=f"{user}{host}:{port}")))
    try:
        with tempfile.TemporaryDirectory(prefix="bench-fault-") as tmp:
            healthy = repeat(lambda: {"p99": order_p99(urls, trades, proxy, False, Path(tmp))}, plan)
            dark = repeat(lambda: {"p99": order_p99(urls, trades, proxy, True, Path(tmp))}, plan)
    finally:
        proxy.stop()
    base = row("order latency p99, database healthy", healthy["p99"], "us", group=GROUP)
    return [base, row("order latency p99, database blackholed", dark["p99"], "us", baseline=base,
                      target=Target("ratio", "<=", 1.1), group=GROUP)]
