"""The ZeroMQ lock client: events it records, wait-or-die retries, timeouts, processes."""

from __future__ import annotations

import multiprocessing
import pickle
import socket
import threading

import pytest

from harness.history.log import History
from harness.system.locks.client import ZmqLockClient, ZmqLockProvider
from harness.system.locks.protocol import LockClient, LockError, LockTimeout, LockUnavailable
from tests.system.locks import FakeClock, assert_lock_history_clean, broker, in_thread, watched_history


def _client(endpoint: str, client_id: str, history: History, **kwargs) -> ZmqLockClient:
    return ZmqLockClient(endpoint, client_id, history, request_timeout=2.0, **kwargs)


def _own(history: History, client_id: str) -> list[tuple[str, dict]]:
    return [(e.kind, dict(e.payload)) for e in history.events() if e.worker == client_id]


def test_acquire_release_records_invoke_and_ok():
    history, _ = watched_history()
    with broker(history=history) as b:
        client = _client(b.endpoint, "c1", history, clock=lambda: 42)
        assert isinstance(client, LockClient)
        grant = client.acquire(["A", "B"], timeout=1.0)
        renewed = client.renew(grant)
        client.release(renewed)
        client.close()
    assert renewed.tokens == grant.tokens and grant.lease_ms == 10_000
    events = _own(history, "c1")
    assert [k for k, _ in events] == ["lock.invoke", "lock.ok"] * 3
    assert events[0][1] == {"op": "acquire", "names": ["A", "B"], "req": 1, "ts": 42, "attempt": 1}
    assert events[1][1] == {
        "op": "acquire", "names": ["A", "B"], "req": 1, "tokens": dict(grant.tokens), "lease_ms": 10_000
    }
    assert [p["op"] for _, p in events[2:]] == ["renew", "renew", "release", "release"]


def test_died_request_retries_with_its_first_ts():
    history, _ = watched_history()
    with broker(history=history) as b:
        old = _client(b.endpoint, "old", history, clock=lambda: 100)
        held = old.acquire(["A"], timeout=1.0)
        # The young client's back-off is where the old holder lets go: no sleeping, no race.
        young = _client(b.endpoint, "young", history, clock=lambda: 200, sleep=lambda _: old.release(held))
        young.acquire(["Z"], timeout=1.0)  # holding a lock, it asks for more: wait-or-die
        grant = young.acquire(["A"], timeout=5.0)
        assert grant.tokens["A"] > held.tokens["A"]
        old.close()
        young.close()
    events = _own(history, "young")[2:]
    assert [k for k, _ in events] == ["lock.invoke", "lock.fail", "lock.invoke", "lock.ok"]
    assert events[1][1]["reason"] == "died"
    assert [(p["ts"], p["attempt"]) for k, p in events if k == "lock.invoke"] == [(200, 1), (200, 2)]
    assert_lock_history_clean(history)


def test_retries_are_bounded():
    history, _ = watched_history()
    with broker(history=history) as b:
        old = _client(b.endpoint, "old", history, clock=lambda: 100)
        old.acquire(["A"], timeout=1.0)
        young = _client(b.endpoint, "young", history, clock=lambda: 200, max_retries=3, sleep=lambda _: None)
        young.acquire(["Z"], timeout=1.0)  # holding a lock, it asks for more: wait-or-die
        with pytest.raises(LockTimeout):
            young.acquire(["A"], timeout=5.0)
        old.close()
        young.close()
    fails = [p["reason"] for k, p in _own(history, "young") if k == "lock.fail"]
    assert fails == ["died"] * 4


def test_try_lock_times_out_when_older_holder_does_not_let_go():
    history, _ = watched_history()
    with broker(history=history) as b:
        young = _client(b.endpoint, "young", history, clock=lambda: 200)
        young.acquire(["A"], timeout=1.0)
        old = _client(b.endpoint, "old", history, clock=lambda: 100)
        with pytest.raises(LockTimeout):
            old.acquire(["A"], timeout=0.0)
        old.close()
        young.close()
    assert _own(history, "old")[-1][1]["reason"] == "timeout"


def test_release_after_expiry_fails_with_expired():
    clock = FakeClock()
    history, _ = watched_history()
    with broker(history=history, clock=clock) as b:
        client = _client(b.endpoint, "c", history, lease_ms=100)
        grant = client.acquire(["A"], timeout=1.0)
        clock.advance_ms(101)
        with pytest.raises(LockError):
            client.release(grant)
        client.close()
    assert _own(history, "c")[-1] == ("lock.fail", {"op": "release", "names": ["A"], "req": 2, "reason": "expired"})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_broker_records_info():
    history = History("test")
    client = ZmqLockClient(f"tcp://127.0.0.1:{_free_port()}", "lonely", history, request_timeout=0.05)
    with pytest.raises(LockUnavailable):
        client.acquire(["A"], timeout=0.05)
    client.close()
    events = _own(history, "lonely")
    assert [k for k, _ in events] == ["lock.invoke", "lock.info"]
    assert events[1][1]["reason"] == "no_reply"


def test_opposite_lock_orders_never_deadlock():
    rounds = 150
    history, _ = watched_history()
    with broker(history=history) as b:
        start = threading.Barrier(2)

        def worker(client_id: str, names: list[str], seed: int) -> int:
            client = _client(b.endpoint, client_id, history, seed=seed)
            start.wait()
            for _ in range(rounds):
                client.release(client.acquire(names, timeout=10.0))
            client.close()
            return rounds

        orders = (("ab", ["A", "B"], 1), ("ba", ["B", "A"], 2))
        runs = [in_thread(lambda c=c, n=n, s=s: worker(c, n, s)) for c, n, s in orders]
        for thread, out in runs:
            thread.join(30)
            assert out == [rounds]
        assert b.statistics().grants == 2 * rounds
    assert_lock_history_clean(history)


def test_provider_pickles_and_makes_clients():
    provider = ZmqLockProvider("tcp://127.0.0.1:1", request_timeout=0.5, seed=7)
    assert pickle.loads(pickle.dumps(provider)) == provider
    assert provider.shared_across_processes


def _child(provider: ZmqLockProvider, client_id: str, queue) -> None:
    history = History(client_id)
    client = provider.client(client_id, history)
    grant = client.acquire(["P"], timeout=5.0)
    client.release(grant)
    client.close()
    queue.put((grant.tokens["P"], len(history)))


def test_spawned_workers_share_the_broker():
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    with broker() as b:
        provider = ZmqLockProvider(b.endpoint)
        children = [ctx.Process(target=_child, args=(provider, f"p{i}", queue)) for i in range(2)]
        for child in children:
            child.start()
        results = [queue.get(timeout=30) for _ in children]
        for child in children:
            child.join(30)
    assert len({token for token, _ in results}) == 2
    assert all(count == 4 for _, count in results)
