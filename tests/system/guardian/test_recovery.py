"""Crash recovery: kill -9 a child running the engine with persistence, recover in this process, compare."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.run.crash import CrashPlan, check_recovery, contiguous_prefix, crash
from harness.system.guardian.checkpoint import read_wal, snapshots
from harness.system.guardian.recovery import recover
from harness.system.guardian.services import ServiceInfo
from harness.system.guardian.store import open_store

RUN_ID = "run-crash"


def plan_for(directory: Path, url: str | None, schema: str) -> CrashPlan:
    return CrashPlan(str(directory), RUN_ID, 7, ("BTCUSD.s", "ETHUSD.s", "XAUUSD.s"), url, schema, 3000)


def crash_and_check(plan: CrashPlan, sqlite_path: Path) -> None:
    code = crash(plan)
    config = plan.run_config()
    recovered = recover(plan.checkpoint, config.symbols, config.limits)
    store = open_store(plan.database_url, sqlite_path=sqlite_path, schema=plan.schema)
    stored = store.read_events(RUN_ID)
    store.close()
    figures = check_recovery(plan, recovered, read_wal(plan.checkpoint).events, stored, code).figures
    assert figures.killed_by_sigkill
    assert recovered.snapshot_seq > 0 and recovered.last_seq >= plan.kill_after_events
    assert figures.state_equals_history and figures.log_reaches_recovery
    assert figures.duplicated_log == figures.duplicated_database == 0
    assert figures.ragged_tail_log <= plan.batch_size and figures.ragged_tail_database <= plan.batch_size
    assert 0 < recovered.elapsed_s < 30


@pytest.mark.slow
def test_kill_9_mid_run_then_recover_with_embedded_layers(tmp_path: Path) -> None:
    crash_and_check(plan_for(tmp_path / "run", None, "unused"), tmp_path / "run" / "events.db")


@pytest.mark.slow
@pytest.mark.services
def test_kill_9_mid_run_then_recover_with_postgres(tmp_path: Path, postgres: ServiceInfo, schema: str) -> None:
    crash_and_check(plan_for(tmp_path / "run", postgres.url, schema), tmp_path / "unused.db")


def test_check_recovery_fails_when_recovered_state_differs_or_a_layer_doubles(tmp_path: Path) -> None:
    """The checker can fail: a recovered state off by one unit, and a doubled database row."""
    plan = plan_for(tmp_path / "run", None, "unused")
    code = crash(plan)
    config = plan.run_config()
    recovered = recover(plan.checkpoint, config.symbols, config.limits)
    logged = read_wal(plan.checkpoint).events
    store = open_store(None, sqlite_path=tmp_path / "run" / "events.db", schema="unused")
    stored = store.read_events(RUN_ID)
    store.close()
    wrong = dataclasses.replace(recovered, state=(recovered.state[0] + 1, *recovered.state[1:]))
    assert not check_recovery(plan, wrong, logged, stored, code).figures.state_equals_history
    doubled = check_recovery(plan, recovered, logged, [*stored, stored[5]], code).figures
    assert doubled.duplicated_database == 1
    holed = check_recovery(plan, recovered, logged, [e for e in stored if e.seq != 10], code).figures
    assert holed.contiguous_database == "1..9" and holed.ragged_tail_database > 0
    assert contiguous_prefix([1, 2, 4]) == 2 and snapshots(plan.checkpoint)


def test_a_crash_run_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "left-over").write_text("x")
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="not empty"):
        crash(plan_for(tmp_path / "run", None, "unused"))
