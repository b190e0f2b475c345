"""Service resolution: explicit/env URL, loopback, container, else one clear ServiceUnavailable."""

from __future__ import annotations

import socket

import pytest

from harness.errors import ConfigError, ServiceUnavailable
from harness.system.guardian.services import ServiceInfo, resolve, skip_or_fail

NO_ENV: dict[str, str] = {}


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Skipped(Exception):
    pass


class Failed(Exception):
    pass


def raise_(kind: type[Exception]):
    def call(reason: str):
        raise kind(reason)
    return call


def test_unreachable_explicit_redis_is_one_clear_error_not_a_fallback() -> None:
    port = free_port()
    with pytest.raises(ServiceUnavailable, match=rf"^redis at redis://127.0.0.1:{port}/0: ConnectionError") as info:
        resolve("redis", f"redis://127.0.0.1:{port}/0", env=NO_ENV, containers=False)
    assert info.value.__cause__ is None and "\n" not in str(info.value)


def test_unreachable_postgres_from_env_names_the_server_and_hides_the_password() -> None:
    port = free_port()
    env = {"TIMESCALEDB_URI": f"postgresql://user:secret@127.0.0.1:{port}/db"}
    with pytest.raises(ServiceUnavailable, match=rf"^postgres at postgresql://user@127.0.0.1:{port}/db: ") as info:
        resolve("postgres", env=env, containers=False, timeout_s=1)
    assert "secret" not in str(info.value)


def test_seed_env_names_select_redis() -> None:
    port = free_port()
    with pytest.raises(ServiceUnavailable, match=f"127.0.0.1:{port}"):
        resolve("redis", env={"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(port)}, containers=False)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown service kind"):
        resolve("mongo")


def test_skip_or_fail_skips_with_the_reason_or_fails_when_services_are_required() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(Skipped, match="service unavailable: redis at"):
        skip_or_fail("redis", url, env=NO_ENV, skip=raise_(Skipped), fail=raise_(Failed))
    with pytest.raises(Failed, match="HARNESS_REQUIRE_SERVICES=1 but redis at"):
        skip_or_fail("redis", url, env={"HARNESS_REQUIRE_SERVICES": "1"}, skip=raise_(Skipped),
                     fail=raise_(Failed))


@pytest.mark.services
def test_running_loopback_services_are_found_without_configuration() -> None:
    for kind in ("redis", "postgres"):
        info = skip_or_fail(kind, env=NO_ENV)
        assert info == ServiceInfo(kind, info.url, "loopback") and "127.0.0.1" in info.url


@pytest.mark.services
def test_wrong_postgres_credentials_are_one_clear_error() -> None:
    info = skip_or_fail("postgres")
    bad = info.url.replace("postgres@", "no_such_role_x@", 1) if "postgres@" in info.url else None
    if bad is None:
        pytest.skip(f"cannot derive a wrong-role URL from {info.url}")
    with pytest.raises(ServiceUnavailable, match=r'no_such_role_x'):
        resolve("postgres", bad, containers=False)


@pytest.mark.parametrize("url", ["garbage", "redis://:secret@[::1", "http://127.0.0.1:6379"])
def test_a_redis_url_that_is_no_redis_url_is_bad_input_not_an_outage(url) -> None:
    with pytest.raises(ConfigError, match="not a redis URL") as refused:
        resolve("redis", env={"REDIS_URL": url}, containers=False)
    assert "secret" not in str(refused.value)
