"""Mutual exclusion from the broker's and the resources' side: each defect fails, clean passes."""

from __future__ import annotations

import pytest

from harness.history.log import History
from harness.judge.gates import gate_locks
from harness.judge.thresholds import Thresholds
from harness.system.locks.fence import Fence, StaleToken
from tests.judge.checks.test_locks import Builder, assert_clean, broker_history, reasons


def granted(h: Builder, client: str, name: str, token: int | None, lease_ms: int = 10_000) -> None:
    """A broker-mediated acquire: request, grant, the client's ok."""
    req = h.invoke(client, "acquire", [name], ts=token or 0, attempt=1)
    h.add("broker", "broker.request", op="acquire", client=client, req=req, names=[name], ts=0)
    tokens = {} if token is None else {name: token}
    h.add("broker", "broker.grant", client=client, req=req, names=[name], tokens=tokens, lease_ms=lease_ms, ts=0)
    h.complete(client, "lock.ok", "acquire", [name], tokens=tokens, lease_ms=lease_ms)


def released(h: Builder, client: str, name: str, token: int | None) -> None:
    """A broker-mediated release."""
    req = h.invoke(client, "release", [name])
    tokens = {} if token is None else {name: token}
    h.add("broker", "broker.request", op="release", client=client, req=req, names=[name], ts=None)
    h.add("broker", "broker.release", client=client, req=req, names=[name], tokens=tokens)
    h.complete(client, "lock.ok", "release", [name], tokens=tokens, lease_ms=0)


def write(h: Builder, client: str, name: str, token: int | None, resource: str = "ledger", **extra) -> None:
    h.add(client, "fence.accept", resource=resource, lock=name, token=token, **extra)


def failing_lines(evidence) -> list[str]:
    return [line.text for line in gate_locks(evidence, Thresholds()).lines if not line.ok]


def test_broker_double_grant_is_an_overlap_although_client_windows_do_not_meet():
    """a starts its release before b's ok: the client windows miss it, the broker's grants do not."""
    h = Builder()
    granted(h, "a", "x", 1)
    req_b = h.invoke("b", "acquire", ["x"], ts=2, attempt=1)
    h.add("broker", "broker.request", op="acquire", client="b", req=req_b, names=["x"], ts=2)
    h.add("broker", "broker.grant", client="b", req=req_b, names=["x"], tokens={"x": 2}, lease_ms=10_000, ts=2)
    h.invoke("a", "release", ["x"])  # a's client window ends here, before b's ok
    h.complete("b", "lock.ok", "acquire", ["x"], tokens={"x": 2}, lease_ms=10_000)
    evidence = h.check(lin_budget=None)
    assert (evidence.figures.overlaps_client, evidence.figures.overlaps_broker) == (0, 1)
    assert "broker granted it to b while a holds it" in reasons(evidence, "overlaps")[0]
    assert any(text.startswith("Mutual exclusion: 1 overlapping") for text in failing_lines(evidence))


def test_refused_acquire_treated_as_held_is_named_and_its_writes_overlap():
    h = Builder()
    granted(h, "a", "x", 1)
    req = h.invoke("b", "acquire", ["x"], ts=5, attempt=1)
    h.add("broker", "broker.request", op="acquire", client="b", req=req, names=["x"], ts=5)
    refusal = h.add("broker", "broker.refuse", client="b", req=req, names=["x"], reason="died", ts=5, holder_ts=1)
    h.complete("b", "lock.ok", "acquire", ["x"], tokens={"x": 1}, lease_ms=10_000)
    write(h, "b", "x", 1)
    evidence = h.check(lin_budget=None)
    assert evidence.figures.refused_held == 1
    (item,) = evidence.counterexample("refused_held")
    assert "b treats an acquire as held although the broker refused it (died)" in item["reason"]
    assert item["other"]["seq"] == refusal.seq
    assert evidence.figures.overlaps_resource == 1
    assert "Refused acquires treated as held: 1" in failing_lines(evidence)


def test_write_after_release_is_an_overlap_seen_from_the_resource():
    h = Builder()
    granted(h, "a", "x", 1)
    released(h, "a", "x", 1)
    write(h, "a", "x", 1)
    evidence = h.check(lin_budget=None)
    assert evidence.figures.overlaps_resource == 1
    assert "does not hold the lock" in reasons(evidence, "overlaps")[0]


def test_write_after_the_lease_ran_out_is_an_overlap_even_without_tokens():
    h = Builder()
    h.acquire("a", "x", token=None, lease_ms=1)
    for _ in range(3):
        h.add("a", "noise")
    write(h, "a", "x", None)
    evidence = h.check(lin_budget=None)
    assert evidence.figures.overlaps_resource == 1
    assert "after its lease ran out" in reasons(evidence, "overlaps")[0]
    assert evidence.figures.fencing == "not provided"


def test_interleaved_writes_of_two_holders_without_tokens():
    """No tokens and no broker: the resource alone sees a, b, a inside one lock."""
    h = Builder()
    h.acquire("a", "x", token=None)
    write(h, "a", "x", None)
    h.release("a", "x")
    h.acquire("b", "x", token=None)
    write(h, "b", "x", None)
    h.release("b", "x")
    assert_clean_but_fencing(h)
    h2 = Builder()
    h2.acquire("a", "x", token=None)
    write(h2, "a", "x", None)
    h2.acquire("b", "x", token=None)
    write(h2, "b", "x", None)
    write(h2, "a", "x", None)
    evidence = h2.check(lin_budget=None)
    assert evidence.figures.overlaps_resource == 2
    assert [r.split(" (")[0] for r in reasons(evidence, "overlaps")[1:]] == [
        "ledger/x: write by b while a, which wrote before, still holds the lock",
        "ledger/x: write by a while b, which wrote before, still holds the lock",
    ]


def assert_clean_but_fencing(h: Builder) -> None:
    evidence = h.check()
    assert_clean(evidence)
    assert evidence.figures.fencing == "not provided"
    lines = [line.text for line in gate_locks(evidence, Thresholds()).lines]
    assert "Fencing: not provided (0 token errors)" in lines
    assert gate_locks(evidence, Thresholds()).status == "PASS"


def test_deferred_writes_are_judged_by_token_only():
    h = Builder()
    granted(h, "a", "x", 1)
    released(h, "a", "x", 1)
    granted(h, "b", "x", 2)
    write(h, "a", "x", 1, resource="aggregator", deferred=True)  # a's write arrives late
    write(h, "b", "x", 2, resource="aggregator", deferred=True)
    released(h, "b", "x", 2)
    assert_clean(h.check())
    write(h, "a", "x", 1, resource="aggregator", deferred=True)
    assert h.check().figures.stale_accepted == 1


def test_token_order_judged_in_broker_order_and_in_client_order():
    """The broker's grants are in order; the clients saw them the other way round."""
    h = Builder()
    h.add("broker", "broker.grant", client="a", req=1, names=["x"], tokens={"x": 1}, lease_ms=1, ts=1)
    h.add("broker", "broker.grant", client="b", req=1, names=["x"], tokens={"x": 2}, lease_ms=1, ts=2)
    h.acquire("b", "x", token=2, lease_ms=1)
    h.acquire("a", "x", token=1, lease_ms=1)
    evidence = h.check(lin_budget=None)
    assert reasons(evidence, "token_order_errors") == ["x: token 1 after 2 (client order)"]


def test_some_grants_without_a_token_is_a_fencing_error():
    h = Builder()
    h.acquire("a", "x", token=1)
    h.release("a", "x")
    h.acquire("b", "x", token=None)
    h.release("b", "x")
    assert reasons(h.check(lin_budget=None), "token_order_errors") == [
        "client grants: 1 grants without a token among 1 with one"]


def test_non_integer_token_is_a_fencing_error():
    h = Builder()
    h.acquire("a", "x", token="7")  # type: ignore[arg-type]
    h.release("a", "x")
    assert "not an integer" in reasons(h.check(lin_budget=None), "token_order_errors")[0]


def broker_honoured(op: str, client: str, token: int, *, expire: bool = False, release_first: bool = False) -> Builder:
    """a holds x; then the broker honours ``op`` from ``client`` it should have refused."""
    h = Builder()
    granted(h, "a", "x", 1, lease_ms=100)
    if release_first:
        released(h, "a", "x", 1)
    if expire:
        h.add("broker", "broker.expire", name="x", client="a", token=1)
    kind = "broker.release" if op == "release" else "broker.renew"
    h.add("broker", kind, client=client, req=9, names=["x"], tokens={"x": token}, lease_ms=100)
    return h


def test_broker_that_honours_a_bad_release_or_renew_is_flagged():
    cases = {
        "non-owner release": broker_honoured("release", "b", 1),
        "double release": broker_honoured("release", "a", 1, release_first=True),
        "release of an expired grant": broker_honoured("release", "a", 1, expire=True),
        "renew after expiry": broker_honoured("renew", "a", 1, expire=True),
        "release with a wrong token": broker_honoured("release", "a", 7),
    }
    for label, h in cases.items():
        found = reasons(h.check(lin_budget=None), "state_errors")
        assert len(found) == 1 and found[0].startswith("x: broker honoured a"), (label, found)


def test_reference_broker_history_is_still_clean():
    assert_clean(broker_history().check())


def test_fence_admits_a_write_without_token_and_records_its_holder():
    history = History("run")
    fence = Fence("ledger", history, deferred=True)
    fence.admit("x", 3, "a")
    fence.admit("x", None, "b")  # no token: nothing to order, the holder is recorded
    with pytest.raises(StaleToken):
        fence.admit("x", 2, "c")
    recorded = [(e.kind, e.worker, e.payload["token"], e.payload["deferred"]) for e in history.events()]
    assert recorded == [("fence.accept", "a", 3, True), ("fence.accept", "b", None, True),
                        ("fence.reject", "c", 2, True)]


def test_a_broker_whose_answers_name_no_request_is_not_matched_to_clients():
    """A foreign broker recording grants without req: no refused-held verdict from guesswork."""
    h = Builder()
    h.add("broker", "broker.request", op="acquire", client="a", names=["x"])
    h.invoke("a", "acquire", ["x"], ts=1, attempt=1)
    h.add("broker", "broker.grant", client="a", names=["x"], tokens={"x": 1}, lease_ms=100, ts=1)
    h.complete("a", "lock.ok", "acquire", ["x"], tokens={"x": 1}, lease_ms=100)
    h.release("a", "x")
    assert h.check(lin_budget=None).figures.refused_held == 0


def test_writes_under_a_lock_no_client_acquired_are_not_judged_against_windows():
    """A resource fenced by a lock whose clients are not in the history: no window to judge by."""
    h = Builder()
    h.acquire("a", "x", token=1)
    write(h, "a", "other-lock", 4)
    h.release("a", "x")
    assert_clean(h.check())
