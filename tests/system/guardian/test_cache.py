"""Cache layer: the folded guardian state and its seq in Redis (embedded and real), under a per-run prefix."""

from __future__ import annotations

import fakeredis
import pytest

from harness.history.log import History
from harness.system.guardian.cache import RedisCache, connect, redis_url_from_env
from harness.system.guardian.checkpoint import replay_state
from harness.system.guardian.services import ServiceInfo
from harness.system.settings import RunConfig
from tests.system.guardian.conftest import unique

CONFIG = RunConfig(trades=10, seed=5)


def settled_events():
    """A reserve, fill, closed trade and settle of one symbol, by hand."""
    history = History("run-cache")
    spec = CONFIG.symbols[0]
    history.append("risk.reserve", worker="w", symbol=spec.name, order="o1", side="BUY", qty=spec.lot * 2,
                   worst_price=spec.price)
    history.append("order.fill", worker="w", symbol=spec.name, order="o1", fill="f1", side="BUY", qty=spec.lot * 2,
                   price=spec.price, fee=0)
    history.append("trade.closed", worker="w", symbol=spec.name, trade="t1", pnl="-12.5")
    history.append("risk.settle", worker="w", symbol=spec.name, order="o1", position=spec.lot * 2)
    return history.events()


def exercise(cache: RedisCache) -> None:
    events = settled_events()
    cache.write(events[:2])
    cache.write(events)  # overlapping retry: folded once
    loaded = cache.load()
    assert loaded is not None and loaded.last_seq == 4 and loaded.health == "HEALTHY"
    assert list(loaded.state) == replay_state(CONFIG.symbols, CONFIG.limits, events)[0]
    assert loaded.state[0] == 2 and loaded.state[5] == -1_250_000_000  # position lots, realised 1e-8 units


def test_embedded_cache_holds_state_and_seq() -> None:
    cache = RedisCache(connect(None), unique("t"), CONFIG.symbols, CONFIG.limits)
    assert cache.load() is None
    exercise(cache)


def test_env_names_of_the_seed_select_a_server() -> None:
    assert redis_url_from_env({}) is None
    assert redis_url_from_env({"REDIS_HOST": "10.0.0.5", "REDIS_PORT": "6380"}) == "redis://10.0.0.5:6380/0"
    assert redis_url_from_env({"REDIS_URL": "redis://h:1/2", "REDIS_HOST": "x"}) == "redis://h:1/2"


def test_lost_server_fails_the_write_instead_of_hanging() -> None:
    server = fakeredis.FakeServer()
    cache = RedisCache(fakeredis.FakeRedis(server=server), "t", CONFIG.symbols, CONFIG.limits)
    server.connected = False
    with pytest.raises(Exception, match="(?i)connect"):
        cache.write(settled_events())


@pytest.mark.services
def test_real_redis_cache_under_a_unique_prefix(redis_service: ServiceInfo) -> None:
    cache = RedisCache(connect(redis_service.url), unique("harness_test"), CONFIG.symbols, CONFIG.limits)
    try:
        exercise(cache)
    finally:
        cache.clear()
        assert cache.load() is None
        cache.close()
