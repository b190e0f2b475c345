"""The mutex fast path: agrees with the general search, and decides the harness's own long histories."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.history.log import Event, write_jsonl
from harness.judge.checks.locks import DEFAULT_LIN_BUDGET, check_locks
from harness.judge.linearizability.checker import check
from harness.judge.linearizability.formats import BROKER_EXPIRE, LOCK_KINDS
from harness.judge.linearizability.models import FENCED_MUTEX, OWNER_MUTEX
from harness.judge.linearizability.mutex import fast_mutex
from harness.judge.linearizability.operations import Budget, Operation, Record, Result, operations
from harness.judge.linearizability.search import decide
from tests._history_builders import clean_events, cli

UNLIMITED = Budget(steps=None, seconds=None)


class Lease:
    """A lock service that is sometimes wrong (grants a held lock), and whose leases expire."""

    def __init__(self, buggy: bool) -> None:
        self.owner: Hashable = None
        self.token = 0
        self.buggy = buggy

    def apply(self, process: Hashable, f: str, wrong: bool) -> tuple[bool, Any]:
        if f == "acquire" and (self.owner is None or (self.buggy and wrong)):
            self.owner, self.token = process, self.token + 1
            return True, self.token
        if f in ("release", "renew") and (self.owner == process or (self.buggy and wrong)):
            self.owner = None if f == "release" else process
            return True, None
        return False, None


def lock_history(data: st.DataObject, processes: int, steps: int, buggy: bool, crashes: bool) -> list[Record]:
    """Processes invoke, take effect atomically, complete (ok, fail or crash); leases may expire."""
    records: list[Record] = []
    lease, pending = Lease(buggy), {}
    for _ in range(steps):
        p = data.draw(st.integers(0, 5 * processes)) % (5 * processes + 1)
        if p == 5 * processes:
            if lease.owner is not None:
                owner, lease.owner = lease.owner, None
                records.append(Record(("broker", len(records)), "invoke", "expire", owner, len(records)))
                records.append(Record(("broker", len(records) - 1), "ok", "expire", None, len(records)))
            continue
        p %= processes
        if p not in pending:
            f = data.draw(st.sampled_from(["acquire", "release", "renew"]))
            records.append(Record(p, "invoke", f, None, len(records)))
            pending[p] = (f, None)
            continue
        f, outcome = pending[p]
        if outcome is None:
            pending[p] = (f, lease.apply(p, f, data.draw(st.integers(0, 7)) == 0))
            continue
        crashed = crashes and data.draw(st.integers(0, 11)) == 0
        ok, out = outcome
        records.append(Record(p, "info" if crashed else "ok" if ok else "fail", f, out, len(records)))
        del pending[p]
    for p, (f, outcome) in pending.items():  # everyone still waiting hears back
        ok, out = outcome or lease.apply(p, f, False)
        records.append(Record(p, "ok" if ok else "fail", f, out, len(records)))
    return records


def both(ops: Sequence[Operation], model: Any) -> tuple[Result | None, Result]:
    """The fast path's verdict (None when it declines) and the general search's, for one lock."""
    general = decide(ops, model, None)
    assert general is not None
    return fast_mutex(ops, model, None), general


@settings(max_examples=300, deadline=None)
@given(data=st.data(), processes=st.integers(1, 4), steps=st.integers(0, 50), buggy=st.booleans(),
       crashes=st.booleans(), model=st.sampled_from([OWNER_MUTEX, FENCED_MUTEX]))
def test_fast_path_and_general_search_agree(data, processes, steps, buggy, crashes, model):
    ops = operations(lock_history(data, processes, steps, buggy, crashes))
    fast, general = both(ops, model)
    if fast is not None:
        assert fast.verdict == general.verdict, (fast.summary(), general.summary())
    if fast is not None and fast.verdict == "false":
        assert fast.failed_op == general.failed_op  # both name the first op that cannot be linearized
        assert check(ops, model, UNLIMITED).verdict == "false"


def records(*rows: tuple[Any, ...]) -> list[Record]:
    return [Record(row[0], row[1], row[2], row[3], index) for index, row in enumerate(rows)]


def test_fast_path_refutes_overlapping_holds_and_names_the_second_acquire():
    ops = operations(records(
        ("a", "invoke", "acquire", None), ("a", "ok", "acquire", 1),
        ("b", "invoke", "acquire", None), ("b", "ok", "acquire", 2),
        ("a", "invoke", "release", None), ("a", "ok", "release", None),
    ))
    fast, general = both(ops, OWNER_MUTEX)
    assert fast is not None and fast.verdict == general.verdict == "false"
    assert fast.failed_op is not None and (fast.failed_op.process, fast.failed_op.f) == ("b", "acquire")


def test_fast_path_catches_a_fencing_token_going_back_in_hold_order():
    ops = operations(records(
        ("a", "invoke", "acquire", None), ("a", "ok", "acquire", 5),
        ("a", "invoke", "release", None), ("a", "ok", "release", None),
        ("b", "invoke", "acquire", None), ("b", "ok", "acquire", 4),
    ))
    fast, _ = both(ops, FENCED_MUTEX)
    assert fast is not None and fast.verdict == "false" and fast.failed_op is not None
    assert fast.failed_op.output == 4
    assert both(ops, OWNER_MUTEX)[0] == Result("true", key=None, steps=2)


def test_fast_path_declines_crashed_ops_and_the_search_decides_them():
    ops = operations(records(
        ("a", "invoke", "acquire", None), ("a", "info", "acquire", None),
        ("b", "invoke", "acquire", None), ("b", "ok", "acquire", 1),
    ))
    fast, general = both(ops, OWNER_MUTEX)
    assert fast is None and general.verdict == "true"


# -- the harness's own histories, tiled to millions of lock events -----------------------------

NO_BUDGET = Budget(steps=1, seconds=0.0, steps_per_op=None)  # the fast path must not need any


def tiled_lock_events(total: int) -> list[Event]:
    """Lock events of a real engine run, repeated end to end (later copies shifted in seq, time and tokens)."""
    events = [e for e in clean_events(trades=200) if e.kind in LOCK_KINDS or e.kind == BROKER_EXPIRE]
    span_seq = max(e.seq for e in events) + 1
    span_ns = max(e.mono_ns for e in events) - min(e.mono_ns for e in events) + 1
    span_token = max(max(e.payload.get("tokens", {}).values(), default=0) for e in events) + 1
    out: list[Event] = []
    copy = 0
    while len(out) < total:
        out.extend(_shifted(e, copy * span_seq, copy * span_ns, copy * span_token) for e in events)
        copy += 1
    return out


def _shifted(event: Event, seq: int, ns: int, token: int) -> Event:
    payload = event.payload
    if payload.get("tokens"):
        payload = {**payload, "tokens": {name: t + token for name, t in payload["tokens"].items()}}
    return Event(event.seq + seq, event.mono_ns + ns, event.wall, event.run_id, event.worker, event.symbol,
                 event.kind, payload)


def assert_lock_checker_proves(total: int) -> None:
    evidence = check_locks(tiled_lock_events(total), lin_budget=NO_BUDGET)
    assert evidence.figures.linearizable == "true", evidence.figures.linearizable_detail


def test_lock_checker_proves_a_100k_lock_event_history_without_a_search_budget():
    assert_lock_checker_proves(100_000)


@pytest.mark.slow
def test_lock_checker_proves_a_1m_lock_event_history_without_a_search_budget():
    assert_lock_checker_proves(1_000_000)


@pytest.mark.slow
def test_harness_check_passes_a_clean_1m_lock_event_history(tmp_path, capsys):
    path = tmp_path / "events.jsonl"
    write_jsonl(tiled_lock_events(1_000_000), path)
    code, stdout, _ = cli(capsys, "check", path, "--areas", "locks")
    assert "  ✅ Linearizable (owner-aware mutex): true" in stdout.splitlines()
    assert code == 0, stdout


def test_a_planted_double_grant_in_a_tiled_history_is_refuted():
    events = tiled_lock_events(20_000)
    # Drop one release entirely: its owner keeps the lock while the next owner takes it.
    done = next(i for i in range(len(events) // 2, len(events))
                if events[i].kind == "lock.ok" and events[i].payload.get("op") == "release")
    asked = max(i for i in range(done) if events[i].kind == "lock.invoke" and events[i].worker == events[done].worker)
    del events[done], events[asked]
    evidence = check_locks(events, lin_budget=DEFAULT_LIN_BUDGET)
    assert evidence.figures.linearizable == "false"
