"""FIFO and atomic-grant properties: the reference broker keeps them, broken brokers are caught."""

from __future__ import annotations

from dataclasses import replace

from harness.judge.checks.lock_order import OrderFigures, check_lock_order
from harness.judge.checks.locks import check_locks
from harness.judge.gates import gate_locks
from harness.judge.thresholds import Thresholds
from harness.system.locks.server import LockBroker
from harness.system.locks.wire import Request
from tests.system.locks import RawClient, watched_history

LEASE = 60_000


class OvertakingBroker(LockBroker):
    """Lets a request that holds nothing past queued waiters when its names are unheld."""

    def _fifo_blocker(self, names: tuple[str, ...]) -> str | None:
        return next((self._holders[n].client for n in names if n in self._holders), None)


class PartialBroker(LockBroker):
    """Grants only the first name of a multi-lock request."""

    def _grant(self, ident: bytes, request: Request, fifo: bool) -> None:
        super()._grant(ident, replace(request, names=request.names[:1]), fifo)


def _scenario(broker_class: type[LockBroker]) -> list:
    """h holds A; w1 queues for A+B; late asks for B alone, then everyone lets go."""
    history, watcher = watched_history()
    with broker_class(history=history) as b:
        h, w1, late = (RawClient(b.endpoint, c) for c in ("h", "w1", "late"))
        held = h.call("acquire", names=["A"], ts=1, lease_ms=LEASE, wait_ms=0)
        w1.send("acquire", names=["A", "B"], ts=2, lease_ms=LEASE, wait_ms=60_000)
        watcher.wait_for("broker.queue", client="w1")
        late_req = late.send("acquire", names=["B"], ts=3, lease_ms=LEASE, wait_ms=60_000)
        watcher.wait_for("broker.request", client="late")
        h.call("release", names=["A"], tokens=held["tokens"])
        pending = {w1: None, late: late_req}
        # Whoever is granted first lets go, so the other can be served; a broken broker may
        # leave one waiting for good, so the wait is bounded.
        for _ in range(300):
            for raw in [r for r in pending if r.socket.poll(10)]:
                reply = raw.reply(pending.pop(raw))
                if reply.get("ok"):
                    raw.call("release", names=list(reply["tokens"]), tokens=reply["tokens"])
            if not pending:
                break
        for raw in (h, w1, late):
            raw.close()
    return list(history.events())


def test_reference_broker_serves_fifo_and_atomically():
    events = _scenario(LockBroker)
    figures, violations = check_lock_order(events)
    assert figures == OrderFigures(partial_grants=0, fifo_overtakes=0) and violations == {}
    grants = [(e.payload["client"], list(e.payload["names"])) for e in events if e.kind == "broker.grant"]
    assert grants == [("h", ["A"]), ("w1", ["A", "B"]), ("late", ["B"])]
    assert gate_locks(check_locks(events, lin_budget=None), Thresholds()).lines[-2].ok


def test_overtaking_broker_is_caught():
    figures, violations = check_lock_order(_scenario(OvertakingBroker))
    assert figures.fifo_overtakes == 1
    assert "late granted B ahead of w1" in violations["fifo_overtakes"][0]["reason"]
    evidence = check_locks(_scenario(OvertakingBroker), lin_budget=None)
    assert not gate_locks(evidence, Thresholds()).passed


def test_partial_grant_is_caught():
    figures, violations = check_lock_order(_scenario(PartialBroker))
    assert figures.partial_grants >= 1
    assert "asked for ['A', 'B'], granted ['A']" in violations["partial_grants"][0]["reason"]


def test_hold_and_wait_request_may_go_ahead_of_fifo_waiters():
    history, watcher = watched_history()
    with LockBroker(history=history) as b:
        h, w1 = RawClient(b.endpoint, "h"), RawClient(b.endpoint, "w1")
        held = h.call("acquire", names=["A"], ts=1, lease_ms=LEASE, wait_ms=0)
        w1.send("acquire", names=["A", "B"], ts=0, lease_ms=LEASE, wait_ms=60_000)
        watcher.wait_for("broker.queue", client="w1")
        # h holds A and asks for B: wait-or-die, ahead of w1 (which holds nothing, so no deadlock).
        more = h.call("acquire", names=["B"], ts=1, lease_ms=LEASE, wait_ms=0)
        assert more["ok"]
        h.call("release", names=["A", "B"], tokens={**held["tokens"], **more["tokens"]})
        assert w1.reply()["ok"]
        h.close()
        w1.close()
    events = list(history.events())
    grant = next(e for e in events if e.kind == "broker.grant" and list(e.payload["names"]) == ["B"])
    assert grant.payload["mode"] == "wait_die"
    assert check_lock_order(events)[0] == OrderFigures(partial_grants=0, fifo_overtakes=0)
