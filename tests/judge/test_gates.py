"""The lock gate on lock-checker evidence, judge() and UnifiedGate."""

from __future__ import annotations

import pytest

from harness.judge.areas import judge
from harness.judge.checks.locks import check_locks
from harness.judge.gates import GateResult, Line, gate_locks, unified
from harness.judge.linearizability.operations import Budget
from harness.judge.thresholds import Thresholds
from harness.run.scenario import STANDARD_AREAS, evaluate
from tests import _history_builders as hb

LOCK = "symbol:TST"


def _lock_gate(events, thresholds: Thresholds | None = None, **kwargs) -> GateResult:
    return gate_locks(check_locks(events, **kwargs), thresholds or Thresholds())


def test_sequential_holds_pass():
    h = hb.LockHistory().acquire("A", LOCK, 1).release("A", LOCK).acquire("B", LOCK, 2).release("B", LOCK)
    result = _lock_gate(h.events)
    assert result.status == "PASS", hb.failing(result)
    assert any(line.text == "All lock pairs balanced: 2/2 match" for line in result.lines)


def test_real_run_passes_lock_gate(clean):
    result = _lock_gate(clean)
    assert result.status == "PASS", hb.failing(result)


def test_overlapping_holds_with_balanced_counts_fail():
    h = (hb.LockHistory().acquire("A", LOCK, 1).acquire("B", LOCK, 2)   # B granted while A holds
         .release("A", LOCK).release("B", LOCK))
    ev = check_locks(h.events)
    assert ev.figures.pairs_balanced == ev.figures.pairs_total == 2
    result = gate_locks(ev, Thresholds())
    hb.assert_fails_on(result, r"^Mutual exclusion: [1-9]\d* overlapping holds \(client [1-9]")
    assert result.counterexamples["overlaps"]
    assert {e["worker"] for e in hb.nested_events(result.counterexamples["overlaps"])} >= {"A", "B"}
    hb.assert_fails_on(result, r"^Linearizable \(owner-aware mutex\): false")


def test_unbalanced_pair_fails():
    h = hb.LockHistory().acquire("A", LOCK, 1).release("A", LOCK).acquire("B", LOCK, 2)
    result = _lock_gate(h.events)
    hb.assert_fails_on(result, r"^Lock pairs balanced: 1/2 \(1 unbalanced, allowed 0\)$")


def test_unbalanced_pair_within_threshold_is_admitted_on_that_line():
    h = hb.LockHistory().acquire("A", LOCK, 1).release("A", LOCK).acquire("B", LOCK, 2)
    result = _lock_gate(h.events, Thresholds(max_unbalanced_pairs=1, max_orphaned_locks=1))
    assert not [t for t in hb.failing(result) if "balanced" in t]


def test_linearizability_unknown_fails():
    # B's acquire never completes: the fast path declines the choice and the search gets one step.
    h = hb.LockHistory().acquire("A", LOCK, 1).invoke("B", "acquire", LOCK, ts=0, attempt=1).release("A", LOCK)
    ev = check_locks(h.events, lin_budget=Budget(steps=1, seconds=None, steps_per_op=None))
    assert ev.figures.linearizable == "unknown"
    result = gate_locks(ev, Thresholds())
    assert hb.failing(result) == [f"Linearizable (owner-aware mutex): unknown -- {ev.figures.linearizable_detail}"]
    assert gate_locks(ev, Thresholds(require_linearizable=False)).status == "PASS"


def test_judge_gives_one_gate_per_area_in_order(clean):
    results = judge(evaluate(clean, STANDARD_AREAS), Thresholds())
    assert [r.name for r in results] == ["locks", "races", "performance", "aggregator", "risk"]
    assert unified(results)


def _result(ok: bool) -> GateResult:
    return GateResult("g", "Area", (Line(True, "fine"), Line(ok, "judged")))


@pytest.mark.parametrize(
    ("oks", "expected"),
    [((), False), ((True,), True), ((True, True, True), True), ((True, False, True), False), ((False,), False)],
)
def test_unified(oks, expected):
    assert unified([_result(ok) for ok in oks]) is expected


def test_unified_false_when_a_real_gate_fails(clean):
    sym = hb.symbols(clean)[0]
    broken = hb.worker_error(clean, sym)
    results = judge(evaluate(broken, STANDARD_AREAS), Thresholds())
    assert [r.name for r in results if not r.passed] == ["races", "risk"]
    assert not unified(results)
