"""The broker holds against hostile and careless clients (issue 14, broker rows)."""

from __future__ import annotations

import argparse
import json

import pytest
import zmq
import zmq.auth

from harness.history.log import History
from harness.system.locks.client import ZmqLockClient, ZmqLockProvider
from harness.system.locks.protocol import LockError
from harness.system.locks.security import (
    CLIENT_CERT_ENV,
    CLIENT_KEYS_ENV,
    SERVER_CERT_ENV,
    SERVER_KEY_ENV,
    CurveClient,
    CurveServer,
    SecurityError,
    client_from_env,
    is_loopback,
    server_from_env,
)
from harness.system.locks.server import (
    COMPACT_SLACK,
    BrokerStateError,
    LockBroker,
    add_broker_arguments,
    run_broker,
)
from tests.system.locks import FakeClock, RawClient, broker, watched_history

LEASE = 1_000


@pytest.mark.parametrize("field", ["names", "client"])
def test_lone_surrogate_is_refused_and_the_broker_keeps_serving(field):
    history, _ = watched_history()
    with broker(history=history) as b:
        raw = RawClient(b.endpoint, "ok")
        body = {"op": "acquire", "req": 1, "client": "x", "names": ["A"], "ts": 1, "lease_ms": 5, "wait_ms": 0}
        body[field] = ["\ud800"] if field == "names" else "\ud800"
        # json.dumps escapes the surrogate as \\ud800, exactly what a hostile client sends.
        raw.socket.send(json.dumps(body).encode())
        assert raw.reply()["reason"].startswith("malformed: ")
        assert raw.call("acquire", names=["A"], ts=1, lease_ms=LEASE, wait_ms=0)["ok"]
        raw.close()
    assert all(e.to_json() for e in history.events())  # every recorded event still encodes


def test_release_and_renew_are_honoured_only_from_the_holding_connection():
    with broker() as b:
        holder, forger = RawClient(b.endpoint, "victim"), RawClient(b.endpoint, "victim")
        grant = holder.call("acquire", names=["A"], ts=1, lease_ms=LEASE, wait_ms=0)
        for op, extra in (("release", {}), ("renew", {"lease_ms": LEASE})):
            forged = forger.call(op, names=["A"], tokens=grant["tokens"], **extra)
            assert (forged["ok"], forged["reason"]) == (False, "not_owner"), op
        assert holder.call("release", names=["A"], tokens=grant["tokens"])["ok"]
        holder.close()
        forger.close()


def test_status_shows_tokens_only_to_their_holder():
    with broker() as b:
        holder, other = RawClient(b.endpoint, "h"), RawClient(b.endpoint, "o")
        grant = holder.call("acquire", names=["A"], ts=1, lease_ms=LEASE, wait_ms=0)
        seen = other.call("status", names=["A"])
        assert seen["holders"]["A"]["client"] == "h" and "token" not in seen["holders"]["A"]
        assert seen["tokens"] == {}
        assert holder.call("status", names=["A"])["tokens"] == grant["tokens"]
        holder.close()
        other.close()


def test_year_long_lease_is_capped():
    clock = FakeClock()
    with broker(clock=clock, max_lease_ms=LEASE) as b:
        greedy, other = RawClient(b.endpoint, "greedy"), RawClient(b.endpoint, "other")
        grant = greedy.call("acquire", names=["A"], ts=0, lease_ms=365 * 86_400_000, wait_ms=0)
        assert grant["lease_ms"] == LEASE
        clock.advance_ms(LEASE)
        assert other.call("acquire", names=["A"], ts=5, lease_ms=LEASE, wait_ms=0)["ok"]
        greedy.close()
        other.close()


def test_oversized_frame_is_dropped_at_the_socket():
    with broker(max_bytes=4096) as b:
        hostile, good = RawClient(b.endpoint, "hostile"), RawClient(b.endpoint, "good")
        hostile.socket.send(b"{" + b" " * (8 * 1024 * 1024) + b"}")
        assert good.call("acquire", names=["A"], ts=1, lease_ms=LEASE, wait_ms=0)["ok"]
        # ZeroMQ dropped the connection before the broker saw the frame: nothing counted.
        assert (b.statistics().requests, b.statistics().malformed) == (1, 0)
        hostile.close()
        good.close()


def test_idle_names_leave_no_state_behind():
    with broker() as b:
        raw = RawClient(b.endpoint)
        for i in range(3 * COMPACT_SLACK):
            grant = raw.call("acquire", names=[f"n{i}"], ts=1, lease_ms=LEASE, wait_ms=0)
            raw.call("release", names=[f"n{i}"], tokens=grant["tokens"])
        # Only stale expiry entries below the compaction slack may remain.
        assert b.state_size() <= 2 * COMPACT_SLACK + 1
        tokens = raw.call("status")
        assert tokens["holders"] == {} and tokens["queues"] == {}
        raw.close()


@pytest.mark.parametrize("endpoint", ["tcp://0.0.0.0:0", "tcp://*:0", "tcp://10.1.2.3:0", "tcp://[::]:0"])
def test_bind_beyond_loopback_without_curve_is_refused(endpoint):
    with pytest.raises(BrokerStateError, match="beyond loopback without authentication"):
        LockBroker(endpoint).start()


def test_loopback_endpoints():
    for endpoint in ("tcp://127.0.0.1:1", "tcp://localhost:1", "tcp://[::1]:1", "ipc:///tmp/x", "inproc://x"):
        assert is_loopback(endpoint), endpoint
    assert not is_loopback("tcp://192.168.0.1:1")


def _cli(tmp_path, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_broker_arguments(parser)
    return parser.parse_args(["--state-file", str(tmp_path / "state.json"), *argv])


def test_cli_refuses_exposure_and_a_missing_state_file(tmp_path, capsys):
    assert run_broker(_cli(tmp_path, "--endpoint", "tcp://0.0.0.0:0", "--new-state")) == 2
    assert "beyond loopback" in capsys.readouterr().err
    assert run_broker(_cli(tmp_path, "--endpoint", "tcp://127.0.0.1:0")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "state file missing" in err


def test_curve_admits_known_clients_only(tmp_path):
    keys, admitted, stranger = tmp_path / "keys", tmp_path / "admitted", tmp_path / "stranger"
    for directory in (keys, admitted, stranger):
        directory.mkdir()
    zmq.auth.create_certificates(keys, "server")
    _, client_secret = zmq.auth.create_certificates(admitted, "client")
    _, stranger_secret = zmq.auth.create_certificates(stranger, "stranger")
    curve = CurveServer.load(keys / "server.key_secret", admitted)
    context = zmq.Context()
    try:
        with LockBroker("tcp://0.0.0.0:0", curve=curve, context=context, idle_poll_ms=20) as b:
            port = b.endpoint.rsplit(":", 1)[1]
            history = History("curve")

            def client(secret_file, name: str, timeout: float) -> ZmqLockClient:
                keys_of = CurveClient.load(secret_file, keys / "server.key")
                return ZmqLockClient(f"tcp://127.0.0.1:{port}", name, history, request_timeout=timeout,
                                     context=context, curve=keys_of)

            # The stranger's wait is bounded: its handshake is refused, so no reply ever comes.
            good, bad = client(client_secret, "good", 10.0), client(stranger_secret, "bad", 0.5)
            good.release(good.acquire(["A"], timeout=1.0))
            with pytest.raises(LockError):  # the handshake is refused: no reply ever comes
                bad.acquire(["A"], timeout=0.0)
            good.close()
            bad.close()
    finally:
        context.term()


def test_more_clients_than_the_default_zmq_socket_ceiling():
    with broker() as b:
        provider, history = ZmqLockProvider(b.endpoint, request_timeout=10.0), History("many")
        clients = [provider.client(f"c{i}", history) for i in range(1_100)]
        grants = [c.acquire([f"n{i}"], timeout=10.0) for i, c in enumerate(clients)]
        assert len({g.tokens[g.names[0]] for g in grants}) == 1_100
        for client in clients:
            client.close()


def test_curve_keys_from_the_environment(tmp_path):
    zmq.auth.create_certificates(tmp_path, "server")
    zmq.auth.create_certificates(tmp_path, "client")
    assert server_from_env({}) is None and client_from_env({}) is None
    server = server_from_env({SERVER_CERT_ENV: str(tmp_path / "server.key_secret"), CLIENT_KEYS_ENV: str(tmp_path)})
    client = client_from_env({CLIENT_CERT_ENV: str(tmp_path / "client.key_secret"),
                              SERVER_KEY_ENV: str(tmp_path / "server.key")})
    assert server is not None and client is not None and client.server_public == server.public
    with pytest.raises(SecurityError, match="needs both"):
        server_from_env({SERVER_CERT_ENV: str(tmp_path / "server.key_secret")})
    with pytest.raises(SecurityError, match="no secret key"):
        client_from_env({CLIENT_CERT_ENV: str(tmp_path / "client.key"), SERVER_KEY_ENV: str(tmp_path / "server.key")})
    with pytest.raises(SecurityError, match="not a CURVE certificate"):
        CurveServer.load(tmp_path / "missing", tmp_path)
