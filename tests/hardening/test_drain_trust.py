"""harness drain trusts nothing in the run directory: it touches only what the run owned, and sets bad lines aside."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from harness.history.log import Event, History
from harness.system.guardian.checkpoint import append_log, encode_lines
from harness.system.guardian.manifest import CLEANUP_FILE, Manifest, write_manifest
from harness.system.guardian.services import ServiceInfo
from harness.system.guardian.store import open_store
from tests.hardening.test_outage_at_end import cli
from tests.system.guardian.conftest import unique

RUN = "run-drained"


def run_dir(tmp_path: Path, **names: str | None) -> Path:
    """A run directory as a run leaves it: its history beside, layers.json and a spill inside persistence/."""
    directory = tmp_path / RUN / "persistence"
    manifest = Manifest(RUN, None, str(directory / "events.db"), f"h_{RUN.replace('-', '_')}", None, f"harness:{RUN}")
    write_manifest(directory, replace(manifest, **names))
    history = History(RUN)
    events = [history.append("tick", worker="t", i=i) for i in range(40)]
    (tmp_path / RUN / "events.jsonl").write_text("".join(e.to_json() + "\n" for e in events), encoding="utf-8")
    (directory / "spill").mkdir()
    return directory


def one_error_line(code: int, err: str) -> str:
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.services
def test_a_tampered_layers_json_naming_a_schema_the_run_never_owned_is_refused(
        tmp_path: Path, postgres: ServiceInfo, schema: str) -> None:
    import psycopg

    with psycopg.connect(postgres.url, autocommit=True) as conn:  # someone else's data on the shared server
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.accounts (id int)")
        conn.execute(f"INSERT INTO {schema}.accounts VALUES (1), (2)")
    directory = run_dir(tmp_path, schema=schema, database_url=postgres.url)
    (directory / CLEANUP_FILE).write_text(f"postgres schema {schema}: down\n")
    err = one_error_line(*cli("drain", str(directory))[::2])
    assert f"schema {schema} holds tables the harness never makes (accounts)" in err
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        assert conn.execute(f"SELECT count(*) FROM {schema}.accounts").fetchone() == (2,)
    assert (directory / CLEANUP_FILE).exists()


@pytest.mark.services
def test_another_runs_schema_is_neither_dropped_nor_written(tmp_path: Path, postgres: ServiceInfo, schema: str) -> None:
    other = open_store(postgres.url, sqlite_path=tmp_path / "x.db", schema=schema)
    other.write([History("run-other").append("tick", worker="t")])
    directory = run_dir(tmp_path, schema=schema, database_url=postgres.url)
    append_log(directory / "spill" / "spill-postgres.jsonl", [History(RUN).append("tick", worker="t")])
    err = one_error_line(*cli("drain", str(directory))[::2])
    assert f"schema {schema} holds events of run 'run-other'" in err and "refusing to write" in err
    (directory / CLEANUP_FILE).write_text("pending\n")
    err = one_error_line(*cli("drain", str(directory))[::2])
    assert "holds events of run 'run-other'" in err and "left untouched" in err
    assert other.read_seqs("run-other") == [1] and other.read_seqs(RUN) == []
    other.close()


@pytest.mark.services
@pytest.mark.parametrize("prefix", ["*", "harness:*", "h?rness:[a-z]*"])
def test_a_key_prefix_that_is_a_pattern_is_refused_before_any_key_is_touched(
        tmp_path: Path, redis_service: ServiceInfo, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_service.url)
    keys = [f"{unique('harness_test')}:{i}" for i in range(5)]
    client.mset({key: b"kept" for key in keys})
    try:
        directory = run_dir(tmp_path, key_prefix=prefix, redis_url=redis_service.url)
        (directory / CLEANUP_FILE).write_text("pending\n")
        err = one_error_line(*cli("drain", str(directory))[::2])
        assert f"key_prefix {prefix!r} is a pattern" in err
        assert client.mget(keys) == [b"kept"] * len(keys)
    finally:
        client.delete(*keys)


@pytest.mark.services
def test_another_runs_cache_keys_are_left_untouched(tmp_path: Path, redis_service: ServiceInfo) -> None:
    import redis

    from harness.system.guardian.cache import RedisCache, connect
    from harness.system.settings import RunConfig

    config, prefix = RunConfig(), unique("harness_test")
    RedisCache(connect(redis_service.url, 2.0), prefix, config.symbols, config.limits, owner="run-other").write(
        [History("run-other").append("tick", worker="t")])
    client = redis.Redis.from_url(redis_service.url)
    try:
        directory = run_dir(tmp_path, key_prefix=prefix, redis_url=redis_service.url)
        (directory / CLEANUP_FILE).write_text("pending\n")
        err = one_error_line(*cli("drain", str(directory))[::2])
        assert f"belong to run 'run-other', not '{RUN}'" in err
        assert client.exists(f"{prefix}:global")
    finally:
        client.delete(*client.keys(f"{prefix}:*"))


def test_a_run_id_the_runs_own_history_contradicts_is_refused(tmp_path: Path) -> None:
    directory = run_dir(tmp_path, run_id="run-victim")
    err = one_error_line(*cli("drain", str(directory))[::2])
    assert "run_id 'run-victim' is not the run of" in err


def test_bad_spill_lines_are_set_aside_and_the_rest_drained(tmp_path: Path) -> None:
    directory = run_dir(tmp_path)
    history = History(RUN)
    events = [history.append("tick", worker="t", i=i) for i in range(30)]
    late = events[20]
    events[20] = Event(late.seq, late.mono_ns, "not a time", *(late.run_id, late.worker, late.symbol, late.kind),
                       late.payload)  # checksummed, but no store can take it
    events[25] = Event(2**63, *(events[25].mono_ns, events[25].wall, RUN, "t", None, "tick", {}))
    spill = directory / "spill" / "spill-sqlite.jsonl"
    append_log(spill, events)
    lines = spill.read_bytes().split(b"\n")
    lines[7] = lines[7].replace(b'"i":7', b'"i":8')  # altered after it was written
    foreign = History("run-other").append("tick", worker="t")
    lines[12] = encode_lines([foreign], chain=int(lines[11].rpartition(b"\t")[2], 16))[0].rstrip(b"\n")
    spill.write_bytes(b"\n".join(lines) + b'{"seq": 99, "torn')
    code, out, err = cli("drain", str(directory))
    assert code == 1, err
    assert "26 spilled events written" in out and "5 spilled lines could not be stored" in err
    store = open_store(None, sqlite_path=directory / "events.db", schema="unused")
    assert store.read_seqs(RUN) == [e.seq for i, e in enumerate(events) if i not in (7, 12, 20, 25)]
    store.close()
    set_aside = [json.loads(line) for line in (directory / "spill" / "quarantine-sqlite.jsonl").read_text().splitlines()]
    reasons = {record.get("line", record.get("seq")): record["reason"] for record in set_aside}
    assert "checksum mismatch" in reasons[8] and "run 'run-other'" in reasons[13] and "torn" in reasons[31]
    assert "not a storable event" in reasons[late.seq] and "refused the data" in reasons[2**63]
    assert cli("drain", str(directory))[0] == 0  # again: nothing left, nothing doubled
