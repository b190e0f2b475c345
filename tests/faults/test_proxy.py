"""Tests of the fault-injection proxy: a local echo server, then real Redis and PostgreSQL."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from harness.faults.proxy import FaultError, FaultProxy

REDIS = ("127.0.0.1", 6379)
POSTGRES = ("127.0.0.1", 5432)
DELAY_MS = 150


def _port_open(address: tuple[str, int]) -> bool:
    try:
        socket.create_connection(address, timeout=1.0).close()
    except OSError:
        return False
    return True


def _need(address: tuple[str, int], name: str) -> None:
    """Skip when the service is absent, or fail when HARNESS_REQUIRE_SERVICES=1."""
    if _port_open(address):
        return
    message = f"{name} is not listening on {address[0]}:{address[1]}"
    if os.environ.get("HARNESS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} and HARNESS_REQUIRE_SERVICES=1")
    pytest.skip(f"{message}; start it (docker compose up) or see docker-compose.yml")


def _proxy_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("fault-proxy")]


class EchoServer:
    """A one-thread echo server on loopback: the upstream for service-free tests."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = self.sock.getsockname()[:2]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    while data := conn.recv(4096):
                        conn.sendall(data)
                except ConnectionError:
                    continue  # the proxy reset this connection (a drop fault): serve the next

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


def _roundtrip(address: tuple[str, int], payload: bytes = b"ping") -> bytes:
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(payload)
        return sock.recv(4096)


# -- without services ----------------------------------------------------------------------


def test_forwards_both_ways_and_counts(echo: EchoServer) -> None:
    with FaultProxy(*echo.address) as proxy:
        assert _roundtrip(proxy.address, b"hello") == b"hello"
    # Read after stop(): the pump thread counts a chunk after sending it, and stop() joins it.
    stats = proxy.statistics()
    assert (stats.connections, stats.bytes_up, stats.bytes_down, stats.faults_applied) == (1, 5, 5, 0)


def test_stop_leaves_no_threads_or_open_links(echo: EchoServer) -> None:
    proxy = FaultProxy(*echo.address)
    address = proxy.start()
    held = socket.create_connection(address, timeout=5)
    held.sendall(b"x")
    assert held.recv(1) == b"x"
    proxy.set_fault("blackhole")
    proxy.stop()
    assert _proxy_threads() == []
    assert proxy.statistics().active == 0
    assert held.recv(1) == b""  # the proxy closed its end
    held.close()
    with pytest.raises(OSError):
        socket.create_connection(address, timeout=1)


def test_rejects_unknown_fault_and_bad_delay(echo: EchoServer) -> None:
    with FaultProxy(*echo.address) as proxy:
        with pytest.raises(FaultError, match="unknown fault"):
            proxy.set_fault("partition")
        with pytest.raises(FaultError, match="delay_ms"):
            proxy.set_fault("delay", delay_ms=-1)


def test_drop_resets_open_and_new_connections(echo: EchoServer) -> None:
    with FaultProxy(*echo.address) as proxy:
        held = socket.create_connection(proxy.address, timeout=5)
        held.sendall(b"a")
        assert held.recv(1) == b"a"
        proxy.set_fault("drop")
        with pytest.raises(ConnectionResetError):
            held.recv(1)
        held.close()
        with pytest.raises((ConnectionResetError, BrokenPipeError)):
            _roundtrip(proxy.address)
        proxy.heal()
        assert _roundtrip(proxy.address) == b"ping"
        assert proxy.statistics().faults_applied == 1


def test_blackhole_holds_bytes_until_heal(echo: EchoServer) -> None:
    with FaultProxy(*echo.address) as proxy:
        proxy.set_fault("blackhole")
        with socket.create_connection(proxy.address, timeout=0.3) as sock:
            sock.sendall(b"held")
            with pytest.raises(TimeoutError):
                sock.recv(4)
            proxy.heal()
            sock.settimeout(5)
            assert sock.recv(4) == b"held"


def test_delay_adds_at_least_the_delay_each_way(echo: EchoServer) -> None:
    with FaultProxy(*echo.address) as proxy:
        proxy.set_fault("delay", delay_ms=DELAY_MS)
        started = time.monotonic()
        assert _roundtrip(proxy.address) == b"ping"
        assert time.monotonic() - started >= 2 * DELAY_MS / 1000


# -- through real Redis and PostgreSQL -----------------------------------------------------


@pytest.fixture
def redis_proxy() -> Iterator[FaultProxy]:
    _need(REDIS, "Redis")
    with FaultProxy(*REDIS) as proxy:
        yield proxy


@pytest.fixture
def pg_proxy() -> Iterator[FaultProxy]:
    _need(POSTGRES, "PostgreSQL")
    with FaultProxy(*POSTGRES) as proxy:
        yield proxy


def _redis(proxy: FaultProxy, timeout: float = 5.0):
    import redis

    host, port = proxy.address
    return redis.Redis(host=host, port=port, socket_timeout=timeout, socket_connect_timeout=timeout, retry=None)


@pytest.mark.services
def test_redis_commands_pass_through(redis_proxy: FaultProxy) -> None:
    client = _redis(redis_proxy)
    key = f"harness:test_faults:{os.getpid()}"
    try:
        assert client.ping() is True
        assert client.set(key, "v1", ex=60) is True
        assert client.get(key) == b"v1"
    finally:
        client.delete(key)
        client.close()
    stats = redis_proxy.statistics()
    assert stats.connections >= 1 and stats.bytes_up > 0 and stats.bytes_down > 0


@pytest.mark.services
def test_postgres_query_passes_through(pg_proxy: FaultProxy) -> None:
    import psycopg

    host, port = pg_proxy.address
    with psycopg.connect(host=host, port=port, dbname="test", user="postgres", connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.services
def test_redis_drop_fails_fast_then_heals(redis_proxy: FaultProxy) -> None:
    import redis

    client = _redis(redis_proxy)
    assert client.ping() is True
    redis_proxy.set_fault("drop")
    started = time.monotonic()
    with pytest.raises(redis.exceptions.ConnectionError):
        client.ping()
    # A reset, not a timeout: the error comes well before the 5 s socket timeout.
    assert time.monotonic() - started < 2.5
    client.close()
    redis_proxy.heal()
    fresh = _redis(redis_proxy)
    assert fresh.ping() is True
    fresh.close()


@pytest.mark.services
def test_postgres_drop_refuses_new_connections(pg_proxy: FaultProxy) -> None:
    import psycopg

    host, port = pg_proxy.address
    pg_proxy.set_fault("drop")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host=host, port=port, dbname="test", user="postgres", connect_timeout=5)
    pg_proxy.heal()
    with psycopg.connect(host=host, port=port, dbname="test", user="postgres", connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.services
def test_redis_blackhole_times_out_then_heals(redis_proxy: FaultProxy) -> None:
    import redis

    client = _redis(redis_proxy, timeout=0.5)
    assert client.ping() is True
    redis_proxy.set_fault("blackhole")
    with pytest.raises(redis.exceptions.TimeoutError):
        client.ping()
    client.close()
    redis_proxy.heal()
    fresh = _redis(redis_proxy, timeout=0.5)
    assert fresh.ping() is True
    fresh.close()


@pytest.mark.services
def test_redis_delay_is_a_lower_bound(redis_proxy: FaultProxy) -> None:
    client = _redis(redis_proxy)
    assert client.ping() is True
    redis_proxy.set_fault("delay", delay_ms=DELAY_MS)
    started = time.monotonic()
    assert client.ping() is True
    assert time.monotonic() - started >= 2 * DELAY_MS / 1000
    client.close()
