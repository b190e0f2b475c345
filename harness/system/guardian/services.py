"""Finding the real Redis and PostgreSQL a run or a test may use.

Resolution order for each service: an explicit URL or the environment (``REDIS_URL`` or
``REDIS_HOST``/``REDIS_PORT``; ``TIMESCALEDB_URI`` or ``DATABASE_URL``) -> a server already
running on the default loopback port -> a throw-away container via ``testcontainers`` when
that optional package is installed and a Docker daemon answers -> ``ServiceUnavailable``.

An explicit or environment URL is never silently replaced by another server: if it does not
answer (wrong port, wrong credentials) that is the error, with one line saying why. Every
probe has a short timeout and turns driver exceptions into ``ServiceUnavailable``, so a
caller prints one message instead of a traceback. ``HARNESS_REQUIRE_SERVICES=1`` turns the
test-side skip into a failure (``skip_or_fail``).
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.errors import ConfigError, ServiceUnavailable
from harness.system.guardian.cache import redis_url_from_env
from harness.system.guardian.store import database_url_from_env

REQUIRE_ENV = "HARNESS_REQUIRE_SERVICES"
DEFAULT_URLS = {"redis": "redis://127.0.0.1:6379/0", "postgres": "postgresql://postgres@127.0.0.1:5432/test"}
PROBE_TIMEOUT_S = 2.0



@dataclass(frozen=True)
class ServiceInfo:
    """A usable service: its kind, URL and where it was found (env, explicit, loopback, container)."""

    kind: str
    url: str
    source: str


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    head, sep, tail = url.rpartition("@")
    if not sep:
        return url
    scheme, _, userinfo = head.partition("://")
    return f"{scheme}://{userinfo.split(':')[0]}@{tail}"


def probe_redis(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """PING the server; ServiceUnavailable with the reason if it does not answer PONG."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    except ValueError as exc:  # not a Redis URL at all: bad input, not an outage
        raise ConfigError(f"not a redis URL: {_redact(url)!r}: {exc}") from None
    try:
        client.ping()
    except (redis.RedisError, OSError, ValueError) as exc:
        raise ServiceUnavailable(f"redis at {_redact(url)}: {type(exc).__name__}: {exc}") from None
    finally:
        client.close()


def probe_postgres(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Connect and SELECT 1; ServiceUnavailable with the reason on any failure."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=max(1, int(timeout_s))) as conn:
            conn.execute("SELECT 1")
    except (psycopg.Error, OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ServiceUnavailable(f"postgres at {_redact(url)}: {reason}") from None


PROBES: dict[str, Callable[[str, float], None]] = {"redis": probe_redis, "postgres": probe_postgres}
ENV_URLS: dict[str, Callable[[Mapping[str, str]], str | None]] = {
    "redis": redis_url_from_env, "postgres": database_url_from_env,
}


def resolve(kind: str, url: str | None = None, *, env: Mapping[str, str] = os.environ,
            containers: bool = True, timeout_s: float = PROBE_TIMEOUT_S) -> ServiceInfo:
    """Find a usable ``kind`` ("redis" or "postgres") service, or raise ServiceUnavailable."""
    if kind not in PROBES:
        raise ValueError(f"unknown service kind {kind!r} (redis or postgres)")
    probe = PROBES[kind]
    chosen = (url, "explicit") if url else (ENV_URLS[kind](env), "env")
    if chosen[0]:
        probe(chosen[0], timeout_s)
        return ServiceInfo(kind, chosen[0], chosen[1])
    reasons = []
    try:
        probe(DEFAULT_URLS[kind], timeout_s)
        return ServiceInfo(kind, DEFAULT_URLS[kind], "loopback")
    except ServiceUnavailable as exc:
        reasons.append(str(exc))
    if containers:
        try:
            return _container(kind)
        except ServiceUnavailable as exc:
            reasons.append(str(exc))
    raise ServiceUnavailable("; ".join(reasons))


def _container(kind: str) -> ServiceInfo:
    """Start a throw-away container (stopped at exit) if testcontainers and Docker are there."""
    try:
        if kind == "redis":
            from testcontainers.redis import RedisContainer as Container
        else:
            from testcontainers.postgres import PostgresContainer as Container
    except ImportError:
        raise ServiceUnavailable(f"{kind}: no testcontainers package for a container fallback") from None
    try:
        container: Any = Container("redis:7-alpine") if kind == "redis" else Container(
            "timescale/timescaledb:latest-pg16", driver=None)
        container.start()
    except Exception as exc:  # noqa: BLE001 -- docker-py raises many types; all mean "no container"
        raise ServiceUnavailable(f"{kind}: no container (Docker not answering?): {type(exc).__name__}") from None
    atexit.register(container.stop)
    if kind == "redis":
        url = f"redis://{container.get_container_host_ip()}:{container.get_exposed_port(6379)}/0"
    else:
        url = container.get_connection_url()
    probe = PROBES[kind]
    probe(url, PROBE_TIMEOUT_S)
    return ServiceInfo(kind, url, "container")


def services_required(env: Mapping[str, str] = os.environ) -> bool:
    """Whether a missing service must fail rather than skip (``HARNESS_REQUIRE_SERVICES=1``)."""
    return env.get(REQUIRE_ENV, "") == "1"


def skip_or_fail(kind: str, url: str | None = None, *, env: Mapping[str, str] = os.environ,
                 skip: Callable[[str], Any] | None = None, fail: Callable[[str], Any] | None = None) -> ServiceInfo:
    """``resolve`` for tests: on ServiceUnavailable, skip with the reason (fail if required)."""
    try:
        return resolve(kind, url, env=env)
    except ServiceUnavailable as exc:
        import pytest

        if services_required(env):
            (fail or pytest.fail)(f"{REQUIRE_ENV}=1 but {exc}")
        (skip or pytest.skip)(f"service unavailable: {exc}")
        raise
