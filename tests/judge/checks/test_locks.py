"""Lock atomicity checker: every check fails on a history with its defect and passes on clean ones."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from harness.history.log import Event, History
from harness.judge.checks.locks import AREA, check_locks, hold_windows
from harness.judge.linearizability.operations import Budget
from harness.system.locks.client import ZmqLockClient, ZmqLockProvider
from harness.system.locks.fence import Fence, StaleToken
from harness.system.locks.local import LockTable
from harness.system.locks.protocol import LockError
from harness.system.locks.server import LockBroker
from tests.system.locks import FakeClock

MS = 1_000_000
ERROR_FIGURES = (
    "wellformed_errors", "state_errors", "overlaps", "token_order_errors",
    "stale_accepted", "wait_die_violations", "orphaned_locks",
)


class Builder:
    """Hand-built histories: one event per call, 1 ms apart."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.reqs: dict[str, int] = {}

    def add(self, worker: str, kind: str, **payload: Any) -> Event:
        seq = len(self.events) + 1
        event = Event(seq, seq * MS, "", "test", worker, None, kind, payload)
        self.events.append(event)
        return event

    def invoke(self, client: str, op: str, names: list[str], **extra: Any) -> int:
        req = self.reqs[client] = self.reqs.get(client, 0) + 1
        self.add(client, "lock.invoke", op=op, names=names, req=req, **extra)
        return req

    def complete(self, client: str, kind: str, op: str, names: list[str], **extra: Any) -> Event:
        return self.add(client, kind, op=op, names=names, req=self.reqs[client], **extra)

    def acquire(self, client: str, name: str, token: int, lease_ms: int = 0, ts: int = 0) -> Event:
        self.invoke(client, "acquire", [name], ts=ts, attempt=1)
        return self.complete(client, "lock.ok", "acquire", [name], tokens={name: token}, lease_ms=lease_ms)

    def release(self, client: str, name: str) -> Event:
        self.invoke(client, "release", [name])
        return self.complete(client, "lock.ok", "release", [name], tokens={}, lease_ms=0)

    def check(self, **kwargs: Any):
        return check_locks(self.events, **kwargs)


def assert_clean(evidence) -> None:
    assert {name: getattr(evidence.figures, name) for name in ERROR_FIGURES} == dict.fromkeys(ERROR_FIGURES, 0)
    assert evidence.figures.linearizable == "true"
    assert evidence.violations == {}


def reasons(evidence, name: str) -> list[str]:
    return [item["reason"] for item in evidence.counterexample(name)]


# -- clean histories -----------------------------------------------------------------------------


def test_real_lock_table_history_from_threads_is_clean():
    history, table = History("run"), LockTable()
    fence = Fence("ledger", history)

    def work(i: int) -> None:
        client = table.client(f"w{i}", history)
        for k in range(40):
            names = ["symbol:A"] if k % 2 else ["symbol:A", "global:exposure"]
            grant = client.acquire(names, 5)
            for name in names:
                fence.admit(name, grant.token(name), client.client_id)
            client.release(grant)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    evidence = check_locks(history.events())
    assert evidence.area == AREA
    assert_clean(evidence)
    assert evidence.figures.acquires == evidence.figures.releases == 160
    assert evidence.figures.pairs_total == evidence.figures.pairs_balanced == 240
    assert evidence.figures.fence_accepts == 240


def broker_history() -> Builder:
    """A broker-mediated run: wait-or-die, a died retry, a lease expiry, fenced writes."""
    h = Builder()
    h.invoke("a", "acquire", ["x"], ts=10, attempt=1)
    h.add("broker", "broker.grant", client="a", names=["x"], tokens={"x": 1}, lease_ms=100, ts=10)
    h.complete("a", "lock.ok", "acquire", ["x"], tokens={"x": 1}, lease_ms=100)
    h.add("a", "fence.accept", resource="ledger", lock="x", token=1)
    h.invoke("b", "acquire", ["x"], ts=20, attempt=1)
    h.add("broker", "broker.refuse", client="b", names=["x"], reason="died", ts=20, holder_ts=10)
    h.complete("b", "lock.fail", "acquire", ["x"], reason="died")
    h.invoke("c", "acquire", ["x"], ts=5, attempt=1)
    h.add("broker", "broker.wait", client="c", names=["x"], blocked_by="a", ts=5, holder_ts=10)
    h.invoke("a", "release", ["x"])
    h.add("broker", "broker.release", client="a", names=["x"], tokens={"x": 1})
    h.complete("a", "lock.ok", "release", ["x"], tokens={"x": 1}, lease_ms=0)
    h.add("broker", "broker.grant", client="c", names=["x"], tokens={"x": 2}, lease_ms=100, ts=5)
    h.complete("c", "lock.ok", "acquire", ["x"], tokens={"x": 2}, lease_ms=100)
    h.add("broker", "broker.expire", name="x", client="c", token=2)
    h.invoke("b", "acquire", ["x"], ts=20, attempt=2)
    h.add("broker", "broker.grant", client="b", names=["x"], tokens={"x": 3}, lease_ms=100, ts=20)
    h.complete("b", "lock.ok", "acquire", ["x"], tokens={"x": 3}, lease_ms=100)
    h.add("b", "fence.accept", resource="ledger", lock="x", token=3)
    h.add("c", "fence.reject", resource="ledger", lock="x", token=2, newest=3)
    h.release("b", "x")
    return h


def test_clean_broker_history_with_wait_die_retry_and_expiry():
    evidence = broker_history().check()
    assert_clean(evidence)
    assert evidence.figures.expiries == 1
    assert evidence.figures.fence_rejects == 1
    assert evidence.figures.pairs_total == 3 and evidence.figures.pairs_balanced == 2


def test_lost_reply_may_or_may_not_have_taken_effect():
    h = Builder()
    h.invoke("a", "acquire", ["x"], ts=1, attempt=1)
    h.complete("a", "lock.info", "acquire", ["x"], reason="no_reply")
    h.acquire("b", "x", token=1)
    h.release("b", "x")
    assert_clean(h.check())


# -- each defect ---------------------------------------------------------------------------------


def test_overlapping_holds_with_balanced_counts():
    h = Builder()
    first = h.acquire("a", "x", token=1)
    second = h.acquire("b", "x", token=2)
    h.release("a", "x")
    h.release("b", "x")
    evidence = h.check()
    assert evidence.figures.acquires == evidence.figures.releases == 2
    assert evidence.figures.pairs_balanced == evidence.figures.pairs_total == 2
    assert evidence.figures.overlaps == 1
    (overlap,) = evidence.counterexample("overlaps")
    assert (overlap["event"]["seq"], overlap["other"]["seq"]) == (second.seq, first.seq)
    assert evidence.figures.linearizable == "false"
    assert evidence.counterexample("linearizable")[0]["event"]["worker"] == "b"


def test_hold_windows_are_the_holds_the_checker_judged_with_overlaps_flagged():
    """The timeline a report draws comes from the checker: same windows, same overlap count."""
    h = Builder()
    first = h.acquire("a", "x", token=1)
    second = h.acquire("b", "x", token=2)
    h.release("a", "x")
    h.release("b", "x")
    h.acquire("a", "x", token=3)
    h.release("a", "x")
    timeline = hold_windows(h.events)
    assert timeline.overlapping_pairs == h.check(lin_budget=None).figures.overlaps == 1
    assert [(w.client, w.token, w.overlap) for w in timeline.windows] == [("a", 1, True), ("b", 2, True),
                                                                         ("a", 3, False)]
    a_first = timeline.windows[0]
    assert (a_first.seq, a_first.start_ns) == (first.seq, first.mono_ns)
    assert a_first.end_ns == 5 * MS  # a's release invocation
    assert timeline.windows[1].start_ns == second.mono_ns


def test_hold_whose_lease_certainly_ran_out_does_not_overlap():
    h = Builder()
    h.acquire("a", "x", token=1, lease_ms=1)
    h.add("a", "noise")
    h.add("a", "noise")
    h.acquire("b", "x", token=2, lease_ms=1)
    assert h.check(lin_budget=None).figures.overlaps == 0


def test_stale_token_accepted_after_newer_grant():
    h = Builder()
    h.acquire("a", "x", token=1)
    h.release("a", "x")
    h.acquire("b", "x", token=2)
    h.add("b", "fence.accept", resource="ledger", lock="x", token=2)
    h.add("a", "fence.accept", resource="ledger", lock="x", token=1)
    h.add("a", "fence.accept", resource="book", lock="x", token=1)
    evidence = h.check()
    assert evidence.figures.stale_accepted == 2
    assert "token 2 was accepted before" in reasons(evidence, "stale_accepted")[0]
    assert "newer grant" in reasons(evidence, "stale_accepted")[1]


def test_token_accepted_after_its_lease_expired():
    h = Builder()
    h.acquire("a", "x", token=1, lease_ms=100)
    h.add("broker", "broker.expire", name="x", client="a", token=1)
    h.add("a", "fence.accept", resource="ledger", lock="x", token=1)
    evidence = h.check()
    assert evidence.figures.stale_accepted == 1
    assert "lease expired" in reasons(evidence, "stale_accepted")[0]


def test_fence_reject_is_counted_not_an_error():
    h = Builder()
    h.add("a", "fence.reject", resource="ledger", lock="x", token=1, newest=2)
    evidence = h.check()
    assert evidence.figures.fence_rejects == 1
    assert_clean(evidence)


def test_release_by_non_owner():
    h = Builder()
    h.acquire("a", "x", token=1)
    h.release("b", "x")
    evidence = h.check()
    assert evidence.figures.state_errors == 1
    assert "does not hold it" in reasons(evidence, "state_errors")[0]
    assert evidence.figures.linearizable == "false"


def test_double_release():
    h = Builder()
    h.acquire("a", "x", token=1)
    h.release("a", "x")
    h.release("a", "x")
    evidence = h.check(lin_budget=None)
    assert evidence.figures.state_errors == 1
    assert "released twice" in reasons(evidence, "state_errors")[0]


def test_tokens_not_increasing_in_grant_order():
    h = Builder()
    h.acquire("a", "x", token=2)
    h.release("a", "x")
    h.acquire("b", "x", token=2)
    h.release("b", "x")
    evidence = h.check()
    assert evidence.figures.token_order_errors == 1
    assert reasons(evidence, "token_order_errors") == ["x: token 2 after 2 (client order)"]


def test_broker_grant_order_is_judged_when_broker_events_exist():
    h = Builder()
    h.add("broker", "broker.grant", client="a", names=["x"], tokens={"x": 5}, lease_ms=10, ts=1)
    h.add("broker", "broker.grant", client="b", names=["x"], tokens={"x": 4}, lease_ms=10, ts=2)
    assert h.check().figures.token_order_errors == 1


def test_young_waits_for_old():
    h = Builder()
    h.add("broker", "broker.wait", client="b", names=["x"], blocked_by="a", ts=20, holder_ts=10)
    evidence = h.check()
    assert evidence.figures.wait_die_violations == 1
    assert reasons(evidence, "wait_die_violations")[0].startswith("younger b")


def test_old_refused_for_young():
    h = Builder()
    h.add("broker", "broker.refuse", client="a", names=["x"], reason="died", ts=10, holder_ts=20)
    assert h.check().figures.wait_die_violations == 1


def test_retry_with_a_changed_ts():
    h = Builder()
    h.invoke("b", "acquire", ["x"], ts=20, attempt=1)
    h.complete("b", "lock.fail", "acquire", ["x"], reason="died")
    h.invoke("b", "acquire", ["x"], ts=21, attempt=2)
    h.complete("b", "lock.fail", "acquire", ["x"], reason="died")
    evidence = h.check()
    assert evidence.figures.wait_die_violations == 1
    assert "changed ts 20 -> 21" in reasons(evidence, "wait_die_violations")[0]


def test_wait_for_cycle():
    h = Builder()
    h.add("broker", "broker.wait", client="a", names=["x", "y"], blocked_by="b", ts=10, holder_ts=20)
    h.add("broker", "broker.wait", client="b", names=["y", "z"], blocked_by="c", ts=20, holder_ts=30)
    h.add("broker", "broker.wait", client="c", names=["z", "x"], blocked_by="a", ts=30, holder_ts=10)
    evidence = h.check()
    assert any("cycle" in reason for reason in reasons(evidence, "wait_die_violations"))


def test_waits_that_ended_do_not_make_a_cycle():
    h = Builder()
    h.add("broker", "broker.wait", client="a", names=["x"], blocked_by="b", ts=10, holder_ts=20)
    h.add("broker", "broker.grant", client="a", names=["x"], tokens={"x": 1}, lease_ms=10, ts=10)
    h.add("broker", "broker.wait", client="b", names=["x"], blocked_by="a", ts=20, holder_ts=10)
    assert reasons(h.check(), "wait_die_violations") == ["younger b (ts 20) waits for older a (ts 10)"]


def test_lock_never_released_without_lease_is_orphaned():
    h = Builder()
    h.acquire("a", "x", token=1)
    evidence = h.check()
    assert (evidence.figures.held_at_end, evidence.figures.orphaned_locks) == (1, 1)


@pytest.mark.parametrize(("quiesce_ms", "orphaned"), [(0, 1), (10, 0)])
def test_leased_lock_not_expired_by_the_broker_is_orphaned(quiesce_ms, orphaned):
    h = Builder()
    h.add("broker", "broker.grant", client="a", names=["x"], tokens={"x": 1}, lease_ms=2, ts=1)
    h.acquire("a", "x", token=1, lease_ms=2)
    for _ in range(5):
        h.add("a", "noise")
    assert h.check(quiesce_ns=quiesce_ms * MS).figures.orphaned_locks == orphaned


def test_two_outstanding_operations_are_malformed():
    h = Builder()
    h.invoke("a", "acquire", ["x"], ts=1, attempt=1)
    h.invoke("a", "acquire", ["y"], ts=2, attempt=1)
    h.complete("a", "lock.ok", "acquire", ["y"], tokens={"y": 1}, lease_ms=0)
    h.add("b", "lock.ok", op="release", names=["x"], req=7, tokens={}, lease_ms=0)
    evidence = h.check()
    assert evidence.figures.wellformed_errors == 2
    assert reasons(evidence, "wellformed") == [
        "invocation while another operation is outstanding",
        "completion without an invocation",
    ]
    assert evidence.figures.linearizable == "unknown"


def test_linearizability_only_within_budget():
    h = broker_history()
    assert h.check(lin_budget=None).figures.linearizable_detail == "not checked"
    assert h.check(lin_budget=Budget(steps=1, seconds=None, steps_per_op=None)).figures.linearizable == "true"  # the fast path's
    h.invoke("d", "acquire", ["x"], ts=30, attempt=1)  # never completes: a choice left to the search
    evidence = h.check(lin_budget=Budget(steps=1, seconds=None, steps_per_op=None))
    assert evidence.figures.linearizable == "unknown"
    assert "steps budget exhausted" in evidence.figures.linearizable_detail


def test_stale_write_refused_by_a_real_fence_is_not_a_violation():
    history, table = History("run"), LockTable()
    fence = Fence("ledger", history)
    a, b = table.client("a", history), table.client("b", history)
    old = a.acquire(["x"], 1)
    a.release(old)
    new = b.acquire(["x"], 1)
    fence.admit("x", new.token("x"), "b")
    with pytest.raises(StaleToken):
        fence.admit("x", old.token("x"), "a")
    b.release(new)
    evidence = check_locks(history.events())
    assert_clean(evidence)
    assert evidence.figures.fence_rejects == 1


# -- real ZeroMQ broker histories --------------------------------------------------------------


def test_real_broker_history_with_conflicting_multi_lock_requests_is_clean():
    history = History("run")
    fence = Fence("ledger", history)
    with LockBroker(history=history) as broker:
        provider = ZmqLockProvider(broker.endpoint)

        def work(i: int) -> None:
            client, rnd = provider.client(f"w{i}", history), random.Random(i)
            for _ in range(20):
                names = rnd.sample(["A", "B", "C"], rnd.randint(1, 3))
                grant = client.acquire(names, 10)
                for name in names:
                    fence.admit(name, grant.token(name), client.client_id)
                client.release(grant)
            client.close()

        threads = [threading.Thread(target=work, args=(i,)) for i in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    evidence = check_locks(history.events())
    assert_clean(evidence)
    assert evidence.figures.acquires == evidence.figures.releases == 100


def test_real_broker_lease_expiry_and_fenced_stale_write_are_clean():
    history, clock = History("run"), FakeClock()
    fence = Fence("ledger", history)
    with LockBroker(history=history, clock=clock) as broker:
        stale = ZmqLockClient(broker.endpoint, "stale", history, lease_ms=100, clock=lambda: 1)
        fresh = ZmqLockClient(broker.endpoint, "fresh", history, lease_ms=100, clock=lambda: 2)
        old = stale.acquire(["A"], 1)
        clock.advance_ms(200)
        new = fresh.acquire(["A"], 5)
        fence.admit("A", new.token("A"), "fresh")
        with pytest.raises(StaleToken):
            fence.admit("A", old.token("A"), "stale")
        with pytest.raises(LockError):
            stale.release(old)
        fresh.release(new)
        stale.close()
        fresh.close()
    evidence = check_locks(history.events())
    assert_clean(evidence)
    assert (evidence.figures.expiries, evidence.figures.fence_rejects) == (1, 1)
