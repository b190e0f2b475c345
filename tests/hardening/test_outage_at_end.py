"""Services still down when a run ends: the run finishes, its spill is kept, the report says so, drain finishes it."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.history.log import Event
from harness.judge.checks.persistence import check_persistence
from harness.judge.gates import gate_persistence
from harness.judge.thresholds import Thresholds
from harness.system.guardian.checkpoint import read_log
from harness.system.guardian.manifest import CLEANUP_FILE
from harness.system.guardian.persistence import Persistence, PersistenceConfig
from harness.system.guardian.services import ServiceInfo
from harness.system.guardian.store import open_store
from harness.system.guardian.writer import Backoff
from harness.system.settings import RunConfig
from tests.system.guardian.conftest import FlakyStore, unique

CONFIG = RunConfig(trades=5, seed=9)


class DownStore(FlakyStore):
    """A history store that stops answering (reads and cleanup included) while ``down``."""

    def read_seqs(self, run_id: str) -> list[int]:
        if self.down:
            raise ConnectionError("no answer")
        return super().read_seqs(run_id)

    def drop(self) -> None:
        if self.down:
            raise ConnectionError("no answer")

    def clear(self) -> None:
        self.drop()

    def write(self, events: Sequence[Event]) -> None:
        super().write(events)


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def outage_config(directory: Path, **urls) -> PersistenceConfig:
    return PersistenceConfig(directory, timeout_s=0.5, drain_timeout_s=0.3, read_attempts=2, max_delay_s=0.01,
                             backoff=Backoff(initial_s=0.05, max_s=0.1), **urls)


def test_a_store_down_until_the_end_keeps_its_spill_reports_the_outage_and_drains_later(tmp_path: Path) -> None:
    store, cache = DownStore("sqlite"), DownStore("redis")
    persistence = Persistence(outage_config(tmp_path), "run-outage", CONFIG.symbols, CONFIG.limits,
                              cache=cache, store=store)
    history, _ = persistence.start()
    for i in range(100):
        history.append("tick", worker="t", i=i)
    assert persistence.writer.flush(10)
    store.down = cache.down = True
    for i in range(200):
        history.append("tick", worker="t", i=i)
    persistence.close()  # returns although two layers never came back
    persisted = persistence.persisted()
    left = persistence.discard()
    persistence.release()
    events = history.events()
    produced = {e.seq for e in events}

    assert set(persisted) == {"checkpoint"}  # the store could not be read back ...
    assert set(persisted["checkpoint"]) >= produced - {e.seq for e in events if e.kind == "persistence.unreachable"}
    spill = read_log(tmp_path / "spill" / "spill-sqlite.jsonl").events
    assert set(store.rows) | {e.seq for e in spill} >= {e.seq for e in events if e.seq <= spill[-1].seq}
    assert not set(store.rows) & {e.seq for e in spill}  # ... and what it missed is kept, once
    evidence = check_persistence(events, persisted)
    gate = gate_persistence(evidence, Thresholds())
    assert not gate.passed
    [line] = [ln for ln in gate.lines if "not readable at the end of the run" in ln.text]
    assert f"{len(spill)} events kept in" in line.text and "harness drain" in line.text
    assert len(left) == 2 and (tmp_path / CLEANUP_FILE).read_text().count("\n") == 2

    (tmp_path / CLEANUP_FILE).unlink()  # as if the run had kept its data: drain writes the spill
    code, out, err = cli("drain", str(tmp_path))
    assert code == 0 and f"{len(spill)} spilled events written" in out, err
    drained = open_store(None, sqlite_path=tmp_path / "events.db", schema="x")
    assert sorted(drained.read_seqs("run-outage")) == sorted(e.seq for e in spill)
    assert cli("drain", str(tmp_path))[0] == 0  # again: nothing left, nothing doubled
    assert sorted(drained.read_seqs("run-outage")) == sorted(e.seq for e in spill)
    drained.close()


@pytest.mark.parametrize("bad", [("drain", "{missing}"), ("drain", "{dir}", "--timeout", "-1")])
def test_drain_refuses_bad_input_in_one_line(tmp_path: Path, bad) -> None:
    code, _, err = cli(*(a.format(missing=tmp_path / "nope", dir=tmp_path) for a in bad))
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_a_corrupt_manifest_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "layers.json").write_text('{"run_id": 3}')
    code, _, err = cli("drain", str(tmp_path))
    assert code == 2 and "layers.json" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.services
def test_real_services_blackholed_until_the_end_then_cleanup_by_drain(
        tmp_path: Path, postgres: ServiceInfo, redis_service: ServiceInfo, schema: str) -> None:
    from urllib.parse import urlsplit

    from harness.faults.proxy import FaultProxy

    pg, rd = urlsplit(postgres.url), urlsplit(redis_service.url)
    with FaultProxy(pg.hostname, pg.port or 5432) as pg_proxy, FaultProxy(rd.hostname, rd.port or 6379) as rd_proxy:
        (pg_host, pg_port), (rd_host, rd_port) = pg_proxy.address, rd_proxy.address
        config = outage_config(
            tmp_path, schema=schema, key_prefix=unique("harness_test"),
            redis_url=f"redis://{rd_host}:{rd_port}{rd.path or '/0'}",
            database_url=postgres.url.replace(pg.netloc, f"{pg.username or 'postgres'}@{pg_host}:{pg_port}"))
        persistence = Persistence(config, "run-end-outage", CONFIG.symbols, CONFIG.limits)
        history, _ = persistence.start()
        for i in range(50):
            history.append("tick", worker="t", i=i)
        assert persistence.writer.flush(10)
        pg_proxy.set_fault("blackhole")
        rd_proxy.set_fault("blackhole")
        for i in range(200):
            history.append("tick", worker="t", i=i)
        persistence.close()
        persisted = persistence.persisted()
        left = persistence.discard()
        persistence.release()
        assert "postgres" not in persisted and len(left) == 2
        assert any(e.kind == "persistence.unreachable" for e in history.events())
        pg_proxy.heal()
        rd_proxy.heal()
        code, out, err = cli("drain", str(tmp_path), "--database-url", config.database_url)
        assert code == 0 and "cleanup done" in out, err
        assert not (tmp_path / CLEANUP_FILE).exists()
    import psycopg

    with psycopg.connect(postgres.url, autocommit=True) as conn:
        assert conn.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s",
                            (schema,)).fetchone() is None


@pytest.mark.slow
@pytest.mark.services
def test_a_scenario_whose_services_stay_down_writes_its_report_with_the_outage(
        tmp_path: Path, postgres: ServiceInfo, redis_service: ServiceInfo, capsys) -> None:
    """The issue's row: blackholed until the end -> no traceback, events.jsonl, evidence and a report."""
    from urllib.parse import urlsplit

    from harness.faults.proxy import FaultProxy
    from harness.report import write_reports
    from harness.run.config import HarnessConfig, harness_config
    from harness.run.scenario import STANDARD_AREAS, Scenario, Trial, execute
    from harness.scenarios.fault_injection import through
    from harness.system.guardian.persistence import session

    pg, rd = urlsplit(postgres.url), urlsplit(redis_service.url)

    def run(ctx) -> Trial:
        with FaultProxy(pg.hostname, pg.port or 5432) as db, FaultProxy(rd.hostname, rd.port or 6379) as cache:
            layers = PersistenceConfig.for_run(ctx.out_dir / "persistence", ctx.run_id, timeout_s=0.5,
                                               drain_timeout_s=0.5, read_attempts=2,
                                               redis_url=through(redis_service.url, cache),
                                               database_url=through(postgres.url, db))
            with session(layers, ctx.run_id, ctx.config.run.symbols, ctx.config.run.limits) as persistence:
                result = ctx.run_engine(persistence=persistence)
                db.set_fault("blackhole")  # down from here to the end of the run
                cache.set_fault("blackhole")
                result.history.append("tick", worker="t")  # an event the database never sees
                persistence.close()
                persisted = persistence.persisted()
                events = result.events()
                return Trial(events, (check_persistence(events, persisted),))

    scenario = Scenario(name="outage_at_end", title="t", description="d", run=run, areas=STANDARD_AREAS)
    config = harness_config({"run": {"trades": 5}}, HarnessConfig())
    verdict = execute(scenario, config, tmp_path / "run")
    write_reports(verdict, tmp_path / "run")
    log = (tmp_path / "run" / "VERIFY_LOG.txt").read_text()
    assert verdict.status == "FAIL" and "postgres: not readable at the end of the run" in log
    assert "harness drain" in log and (tmp_path / "run" / "events.jsonl").stat().st_size > 0
    assert (tmp_path / "run" / "persistence" / CLEANUP_FILE).is_file()
    assert "cleanup pending" in capsys.readouterr().err
    code, out, err = cli("drain", str(tmp_path / "run"), "--database-url", postgres.url,
                         "--redis-url", redis_service.url)
    assert code == 0 and "cleanup done" in out, err
