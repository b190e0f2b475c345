"""Failure policy and the three layers end to end: alerts, health, fail-open, zero loss after healing."""

from __future__ import annotations

from pathlib import Path

import fakeredis
import pytest

from harness.judge.checks.persistence import check_persistence
from harness.system.guardian.cache import RedisCache
from harness.system.guardian.checkpoint import replay_state
from harness.system.guardian.persistence import Persistence, PersistenceConfig, run_persisted
from harness.system.guardian.recovery import recover
from harness.system.guardian.risk import Guardian, Health
from harness.system.guardian.services import ServiceInfo
from harness.system.guardian.writer import Backoff
from harness.system.locks.local import LockTable
from harness.system.settings import RunConfig
from tests.system.guardian.conftest import FakeClock, FlakyStore, unique

CONFIG = RunConfig(trades=20, seed=3)


def notices(events):
    """(kind, level/state, layer) of every alert and health event, in order."""
    return [(e.kind, e.payload.get("level") or e.payload["state"], e.payload.get("layer")) for e in events
            if e.kind in ("alert", "health")]


def assert_exactly_once(events, persisted) -> None:
    evidence = check_persistence(events, persisted)
    for layer in persisted:
        assert evidence.figures.layers[layer].lost == 0, evidence.counterexample(f"lost_{layer}")
        assert evidence.figures.layers[layer].duplicated == 0, evidence.counterexample(f"duplicated_{layer}")


def test_redis_lost_degrades_with_p1_both_down_is_p0_fail_open_and_healing_restores_health(
        tmp_path: Path, clock: FakeClock) -> None:
    server = fakeredis.FakeServer()
    cache = RedisCache(fakeredis.FakeRedis(server=server), unique("t"), CONFIG.symbols, CONFIG.limits)
    store = FlakyStore()
    config = PersistenceConfig(tmp_path, max_delay_s=0.01, backoff=Backoff(initial_s=1.0, max_s=1.0))
    persistence = Persistence(config, "run-policy", CONFIG.symbols, CONFIG.limits, cache=cache, store=store,
                              clock=clock)
    history, _ = persistence.start()
    guardian = Guardian(CONFIG.symbols, CONFIG.limits, history=history)
    persistence.attach(history, guardian)

    def trade(count: int) -> None:
        for i in range(count):  # trading goes on whatever the layers do
            history.append("tick", worker="t", symbol=CONFIG.symbols[0].name, i=i)
        assert persistence.writer.wait_idle(10)

    trade(10)
    server.connected = False
    trade(10)
    assert guardian.health() is Health.DEGRADED
    store.down = True
    trade(10)
    assert notices(history.events()) == [
        ("alert", "P1", "cache"), ("health", "DEGRADED", None), ("alert", "P0", "history")]
    assert "fail-open" in [e for e in history.events() if e.kind == "alert"][-1].payload["reason"]
    server.connected, store.down = True, False
    clock.advance(1.0)
    assert persistence.writer.flush(10)
    assert guardian.health() is Health.HEALTHY
    assert notices(history.events())[3:] == [
        ("alert", "P2", "cache"), ("alert", "P2", "history"), ("health", "HEALTHY", None)]
    stats = persistence.close()
    events = history.events()
    assert stats.spilled > 0 and stats.drained == stats.spilled and stats.dropped == 0
    assert_exactly_once(events, persistence.persisted())
    assert cache.load().last_seq == events[-1].seq
    evidence = check_persistence(events, persistence.persisted())
    assert evidence.figures.alerts_P0 == 1 and evidence.figures.alerts_P1 == 1
    assert evidence.figures.health_transitions == 2 and evidence.figures.spilled > 0


def test_engine_run_with_embedded_layers_persists_every_event_once(tmp_path: Path) -> None:
    result, persistence = run_persisted(CONFIG, LockTable(), PersistenceConfig(tmp_path, snapshot_every=300))
    events = result.events()
    assert_exactly_once(events, persistence.persisted())
    state, last = replay_state(CONFIG.symbols, CONFIG.limits, events)
    assert list(recover(tmp_path / "checkpoint", CONFIG.symbols, CONFIG.limits).state) == state
    assert list(persistence.cache.load().state) == state and persistence.cache.load().last_seq == last
    persistence.release()


@pytest.mark.services
def test_engine_run_into_real_postgres_and_redis(tmp_path: Path, postgres: ServiceInfo,
                                                 redis_service: ServiceInfo, schema: str) -> None:
    config = PersistenceConfig(tmp_path, redis_url=redis_service.url, database_url=postgres.url, schema=schema,
                               key_prefix=unique("harness_test"))
    result, persistence = run_persisted(CONFIG, LockTable(), config)
    try:
        events = result.events()
        persisted = persistence.persisted()
        assert set(persisted) == {"postgres", "checkpoint"}
        assert_exactly_once(events, persisted)
        assert persistence.store.read_events(result.run_id) == events
        assert list(persistence.cache.load().state) == replay_state(CONFIG.symbols, CONFIG.limits, events)[0]
    finally:
        persistence.cache.clear()
        persistence.release()


@pytest.mark.services
def test_blackholed_services_through_the_fault_proxy_lose_nothing_after_healing(
        tmp_path: Path, postgres: ServiceInfo, redis_service: ServiceInfo, schema: str) -> None:
    from urllib.parse import urlsplit

    from harness.faults.proxy import FaultProxy

    pg, rd = urlsplit(postgres.url), urlsplit(redis_service.url)
    with FaultProxy(pg.hostname, pg.port or 5432) as pg_proxy, FaultProxy(rd.hostname, rd.port or 6379) as rd_proxy:
        (pg_host, pg_port), (rd_host, rd_port) = pg_proxy.address, rd_proxy.address
        config = PersistenceConfig(
            tmp_path, schema=schema, key_prefix=unique("harness_test"), timeout_s=1.0, max_delay_s=0.01,
            redis_url=f"redis://{rd_host}:{rd_port}{rd.path or '/0'}",
            database_url=postgres.url.replace(pg.netloc, f"{pg.username or 'postgres'}@{pg_host}:{pg_port}"),
            backoff=Backoff(initial_s=0.05, max_s=0.2))
        persistence = Persistence(config, "run-blackhole", CONFIG.symbols, CONFIG.limits)
        history, _ = persistence.start()
        for i in range(50):
            history.append("tick", worker="t", symbol=CONFIG.symbols[0].name, i=i)
        assert persistence.writer.flush(10)
        pg_proxy.set_fault("blackhole")
        rd_proxy.set_fault("blackhole")
        for i in range(200):
            history.append("tick", worker="t", symbol=CONFIG.symbols[0].name, i=i)
        assert persistence.writer.wait_idle(30)
        assert persistence.writer.pending()["postgres"] > 0
        pg_proxy.heal()
        rd_proxy.heal()
        assert persistence.writer.flush(30)
        persistence.close()
        events = history.events()
        try:
            assert_exactly_once(events, persistence.persisted())
            assert [n[:2] for n in notices(events) if n[0] == "alert"].count(("alert", "P0")) == 1
            assert persistence.cache.load().last_seq == events[-1].seq
        finally:
            persistence.cache.clear()
            persistence.release()


def test_unreachable_configured_services_at_start_up_are_one_clear_error(tmp_path: Path) -> None:
    import socket

    from harness.errors import ServiceUnavailable

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for option in ({"redis_url": f"redis://127.0.0.1:{port}/0"},
                   {"database_url": f"postgresql://postgres@127.0.0.1:{port}/test"}):
        with pytest.raises(ServiceUnavailable, match=f"127.0.0.1:{port}"):
            Persistence(PersistenceConfig(tmp_path, timeout_s=1.0, **option), "run-x", CONFIG.symbols, CONFIG.limits)


def test_process_mode_run_persists_every_event_once_and_the_guardian_sees_the_layers(tmp_path: Path) -> None:
    """Workers in other processes: their events reach the parent's writer, numbered by one shared sequence."""
    import dataclasses

    from harness.history.log import History
    from harness.run.scenario import broker_service
    from harness.system.settings import ConcurrencyMode

    config = dataclasses.replace(CONFIG, mode=ConcurrencyMode.PROCESS)
    with broker_service(History("broker-only"), tmp_path / "broker.state", config.seed) as locks:
        result, persistence = run_persisted(config, locks, PersistenceConfig(tmp_path / "p"))
    try:
        events = result.events()
        assert {e.worker for e in events if e.kind == "order.fill"} == {f"{s}#0" for s in config.symbol_names}
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert_exactly_once(events, persistence.persisted())
        assert persistence.policy.guardian is not None
    finally:
        persistence.release()
