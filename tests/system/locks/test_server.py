"""The ZeroMQ lock broker: grants, FIFO, leases, fencing, wait-or-die, bad frames."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys

import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.system.locks.server import (
    EPOCH_SHIFT,
    BrokerStateError,
    LockBroker,
    add_broker_arguments,
    high_mark,
    next_epoch,
    run_broker,
)
from tests.system.locks import FakeClock, RawClient, broker, watched_history

LEASE = 1_000


def test_grant_release_and_status(tmp_path):
    history, _ = watched_history()
    with broker(state_file=tmp_path / "state", history=history) as b:
        raw = RawClient(b.endpoint, "c1")
        grant = raw.call("acquire", names=["A", "B"], ts=1, lease_ms=LEASE, wait_ms=0)
        assert grant["ok"] and set(grant["tokens"]) == {"A", "B"}
        status = raw.call("status", names=["A", "B"])
        assert {n: h["client"] for n, h in status["holders"].items()} == {"A": "c1", "B": "c1"}
        assert raw.call("release", names=["A", "B"], tokens=grant["tokens"])["ok"]
        assert raw.call("status")["holders"] == {}
        stats = b.statistics()
        raw.close()
    assert (stats.grants, stats.releases, stats.held) == (1, 1, 0)
    kinds = [e.kind for e in history.events()]
    assert kinds.count("broker.grant") == 1 and kinds.count("broker.release") == 1


def test_waiters_are_served_fifo():
    history, watcher = watched_history()
    with broker(history=history) as b:
        holder = RawClient(b.endpoint, "h")
        held = holder.call("acquire", names=["A"], ts=400, lease_ms=LEASE * 60, wait_ms=0)
        # Holding nothing, each waiter queues whatever its age: FIFO, no wait-or-die refusal.
        waiters = [RawClient(b.endpoint, f"w{i}") for i in range(3)]
        for i, waiter in enumerate(waiters):
            waiter.send("acquire", names=["A"], ts=500 + i, lease_ms=LEASE * 60, wait_ms=60_000)
            watcher.wait_for("broker.queue", client=waiter.client)
        assert holder.call("status", names=["A"])["queues"] == {"A": ["w0", "w1", "w2"]}
        previous = held
        holder.call("release", names=["A"], tokens=previous["tokens"])
        for waiter in waiters:
            granted = waiter.reply()
            assert granted["ok"] and granted["tokens"]["A"] > previous["tokens"]["A"]
            waiter.call("release", names=["A"], tokens=granted["tokens"])
            previous = granted
        for raw in (holder, *waiters):
            raw.close()
        assert b.statistics().max_queue == 3
    grants = [e.payload["client"] for e in history.events() if e.kind == "broker.grant"]
    assert grants == ["h", "w0", "w1", "w2"]


def test_lease_expiry_frees_the_lock_and_serves_the_waiter():
    clock = FakeClock()
    history, watcher = watched_history()
    with broker(history=history, clock=clock) as b:
        stalled, waiter = RawClient(b.endpoint, "stalled"), RawClient(b.endpoint, "waiter")
        first = stalled.call("acquire", names=["A"], ts=2, lease_ms=LEASE, wait_ms=0)
        waiter.send("acquire", names=["A"], ts=1, lease_ms=LEASE, wait_ms=60_000)
        watcher.wait_for("broker.queue", client="waiter")
        clock.advance_ms(LEASE + 1)
        second = waiter.reply()  # the broker's next poll timeout notices the expiry
        assert second["ok"] and second["tokens"]["A"] > first["tokens"]["A"]
        expired = watcher.wait_for("broker.expire", name="A")
        assert expired.payload == {"name": "A", "client": "stalled", "token": first["tokens"]["A"]}
        late = stalled.call("release", names=["A"], tokens=first["tokens"])
        assert late == {"req": late["req"], "ok": False, "reason": "expired", "holder_ts": None}
        assert b.statistics().expiries == 1
        stalled.close()
        waiter.close()


def test_renew_extends_the_lease():
    clock = FakeClock()
    with broker(clock=clock) as b:
        raw = RawClient(b.endpoint)
        grant = raw.call("acquire", names=["A"], ts=1, lease_ms=LEASE, wait_ms=0)
        clock.advance_ms(LEASE - 10)
        assert raw.call("renew", names=["A"], tokens=grant["tokens"], lease_ms=LEASE)["ok"]
        clock.advance_ms(LEASE - 10)
        assert raw.call("status", names=["A"])["holders"]["A"]["token"] == grant["tokens"]["A"]
        clock.advance_ms(20)
        assert raw.call("status", names=["A"])["holders"] == {}
        raw.close()


def test_tokens_increase_per_name_across_restart(tmp_path):
    state = tmp_path / "broker.json"
    seen: list[int] = []
    for _ in range(3):
        with broker(state_file=state) as b:
            raw = RawClient(b.endpoint)
            for _ in range(3):
                grant = raw.call("acquire", names=["A"], ts=1, lease_ms=LEASE, wait_ms=0)
                raw.call("release", names=["A"], tokens=grant["tokens"])
                seen.append(grant["tokens"]["A"])
            raw.close()
    assert seen == sorted(set(seen))
    assert json.loads(state.read_text())["epoch"] == 3
    assert seen[-1] >> EPOCH_SHIFT == 3


def test_younger_request_dies_older_waits():
    history, watcher = watched_history()
    with broker(history=history) as b:
        young, old, younger = (RawClient(b.endpoint, c) for c in ("young", "old", "younger"))
        held = young.call("acquire", names=["A", "B"], ts=200, lease_ms=LEASE, wait_ms=0)
        # Wait-or-die applies to a client that holds locks and asks for more.
        for raw in (old, younger):
            assert raw.call("acquire", names=[f"own-{raw.client}"], ts=1, lease_ms=LEASE, wait_ms=0)["ok"]
        refused = younger.call("acquire", names=["B"], ts=300, lease_ms=LEASE, wait_ms=60_000)
        assert refused == {"req": refused["req"], "ok": False, "reason": "died", "holder_ts": 200}
        old.send("acquire", names=["B"], ts=100, lease_ms=LEASE, wait_ms=60_000)
        wait = watcher.wait_for("broker.wait", client="old")
        assert (wait.payload["blocked_by"], wait.payload["holder_ts"]) == ("young", 200)
        young.call("release", names=["A", "B"], tokens=held["tokens"])
        assert old.reply()["ok"]
        for raw in (young, old, younger):
            raw.close()
    refuse = next(e for e in history.events() if e.kind == "broker.refuse")
    assert refuse.payload["reason"] == "died" and refuse.payload["client"] == "younger"


def test_waiter_that_runs_out_of_time_is_refused():
    clock = FakeClock()
    history, watcher = watched_history()
    with broker(clock=clock, history=history) as b:
        holder, waiter = RawClient(b.endpoint, "h"), RawClient(b.endpoint, "w")
        holder.call("acquire", names=["A"], ts=2, lease_ms=LEASE * 60, wait_ms=0)
        req = waiter.send("acquire", names=["A"], ts=1, lease_ms=LEASE, wait_ms=50)
        watcher.wait_for("broker.queue", client="w")
        clock.advance_ms(51)
        assert waiter.reply(req)["reason"] == "timeout"
        assert holder.call("status", names=["A"])["queues"] == {}
        holder.close()
        waiter.close()


BAD_BODIES = [
    b"not json",
    b"[1, 2]",
    b'{"op": "fly", "req": 1, "client": "x"}',
    b'{"op": "acquire", "req": "1", "client": "x", "names": ["A"], "ts": 1, "lease_ms": 5, "wait_ms": 0}',
    b'{"op": "acquire", "req": 2, "client": "x", "names": [], "ts": 1, "lease_ms": 5, "wait_ms": 0}',
    b'{"op": "release", "req": 3, "client": "x", "names": ["A"], "tokens": {"B": 1}}',
    b'{"op": "renew", "req": 4, "client": "x", "names": ["A"], "tokens": {"A": true}, "lease_ms": 5}',
    b"\xff\xfe",
    b"[" * 50_000,
    b'{"op": "status", "req": 5, "client": "\\ud800"}',
    b'{"op": "acquire", "req": 6, "client": "x", "names": ["\\udfff"], "ts": 1, "lease_ms": 5, "wait_ms": 0}',
    b'{"op": "status", "req": 7, "client": "' + b"c" * 300 + b'"}',
]


def test_malformed_frames_are_answered_counted_and_survived():
    history, _ = watched_history()
    with broker(history=history) as b:
        raw = RawClient(b.endpoint)
        for body in BAD_BODIES:
            raw.socket.send(body)
            reply = raw.reply()
            assert reply["ok"] is False and reply["reason"].startswith("malformed"), body[:40]
        raw.socket.send_multipart([b"{}", b"{}"])
        assert raw.reply()["reason"].startswith("malformed: expected one body frame")
        assert raw.call("acquire", names=["A"], ts=1, lease_ms=LEASE, wait_ms=0)["ok"]
        assert b.statistics().malformed == len(BAD_BODIES) + 1
        raw.close()
    errors = [e for e in history.events() if e.kind == "broker.error"]
    assert len(errors) == len(BAD_BODIES) + 1
    assert errors[2].payload == {"reason": "unknown op 'fly'", "req": 1}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
request_like = st.fixed_dictionaries(
    {"op": st.sampled_from(["acquire", "release", "renew", "status", "nope"])},
    optional={
        "req": json_values,
        "client": json_values,
        "names": json_values,
        "ts": json_values,
        "lease_ms": json_values,
        "wait_ms": json_values,
        "tokens": json_values,
    },
).map(lambda d: json.dumps(d).encode())
frames = st.lists(st.binary(max_size=64) | request_like, min_size=1, max_size=3)


def test_fuzzed_frames_never_stop_the_broker():
    with broker() as b:
        raw = RawClient(b.endpoint, "fuzz")
        sent = [0]

        @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.lists(frames, min_size=1, max_size=5))
        def fuzz(messages: list[list[bytes]]) -> None:
            for parts in messages:
                raw.socket.send_multipart(parts)
            sent[0] += len(messages)
            # Same connection, so the broker has handled everything before this status.
            assert raw.call("status", names=["probe"])["ok"]
            sent[0] += 1

        fuzz()
        stats = b.statistics()
        assert stats.requests + stats.malformed == sent[0]
        assert stats.malformed > 0
        ok = RawClient(b.endpoint, "after-fuzz")
        assert ok.call("acquire", names=["after-fuzz"], ts=1, lease_ms=LEASE, wait_ms=0)["ok"]
        ok.close()
        raw.close()


def test_inproc_and_ipc_endpoints(tmp_path):
    context = zmq.Context()
    try:
        for endpoint in ("inproc://locks-test", f"ipc://{tmp_path}/locks.sock"):
            with LockBroker(endpoint, context=context) as b:
                raw = RawClient(b.endpoint, context=context)
                assert raw.call("acquire", names=["A"], ts=1, lease_ms=LEASE, wait_ms=0)["ok"]
                raw.close()
    finally:
        context.term()


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_broker_arguments(parser)
    return parser.parse_args(argv)


def test_run_broker_rejects_bad_arguments(tmp_path, capsys):
    assert run_broker(_args("--endpoint", "inproc://x", "--state-file", str(tmp_path / "s"))) == 2
    assert run_broker(_args("--state-file", str(tmp_path / "missing" / "s"))) == 2
    (tmp_path / "bad").write_text("{not json")
    assert run_broker(_args("--endpoint", "tcp://127.0.0.1:0", "--state-file", str(tmp_path / "bad"))) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and all(line.startswith("harness broker: error: ") for line in lines)


def test_broker_runs_as_its_own_process_and_stops_on_sigterm(tmp_path):
    state, events = tmp_path / "state.json", tmp_path / "events.jsonl"
    script = (
        "import argparse, sys\n"
        "from harness.system.locks.server import add_broker_arguments, run_broker\n"
        "parser = argparse.ArgumentParser(); add_broker_arguments(parser)\n"
        "sys.exit(run_broker(parser.parse_args(sys.argv[1:])))\n"
    )
    argv = ["--endpoint", "tcp://127.0.0.1:0", "--state-file", str(state), "--events", str(events), "--new-state"]
    process = subprocess.Popen([sys.executable, "-c", script, *argv], stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("broker listening on tcp://127.0.0.1:"), line
        raw = RawClient(line.split()[-1])
        assert raw.call("acquire", names=["A"], ts=1, lease_ms=LEASE, wait_ms=0)["ok"]
        raw.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.stdout.close()
    assert json.loads(state.read_text()) == {"epoch": 1}
    kinds = [json.loads(line)["kind"] for line in events.read_text().splitlines()]
    assert kinds == ["broker.request", "broker.grant", "broker.expire", "broker.stop"]


def test_a_rolled_back_state_file_is_refused(tmp_path):
    state = tmp_path / "broker.json"
    with broker(state_file=state):
        pass
    older = state.read_bytes()  # epoch 1
    with broker(state_file=state) as b:
        raw = RawClient(b.endpoint)
        issued = raw.call("acquire", names=["A"], ts=1, lease_ms=LEASE, wait_ms=0)["tokens"]["A"]
        raw.close()
    state.write_bytes(older)  # an operator restores yesterday's copy
    with pytest.raises(BrokerStateError, match=r"epoch 1 is older than epoch 2 already issued .*rolled-back"):
        next_epoch(state)
    assert issued >> EPOCH_SHIFT == 2 and json.loads(state.read_text())["epoch"] == 1  # nothing was changed


def test_a_state_file_ahead_of_its_high_mark_is_a_crash_between_the_two_writes(tmp_path):
    state = tmp_path / "broker.json"
    state.write_text('{"epoch": 5}')
    high_mark(state).write_text('{"epoch": 4}')
    assert next_epoch(state) == 6
    assert json.loads(high_mark(state).read_text())["epoch"] == 6


def test_a_state_file_that_is_not_utf8_is_one_clear_error(tmp_path):
    state = tmp_path / "broker.json"
    state.write_bytes(b'{"epoch": \xff}')
    with pytest.raises(BrokerStateError, match="not a broker state file"):
        next_epoch(state)
