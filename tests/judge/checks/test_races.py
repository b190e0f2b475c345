"""Race gate: fails on each defect a race leaves in a history, passes on a real clean run."""

from __future__ import annotations

from decimal import Decimal

import pytest

from harness.judge.thresholds import Thresholds
from tests import _history_builders as hb


def test_clean_run_passes_with_no_violation(clean):
    result = hb.gate(clean, "races")
    assert result.status == "PASS", hb.failing(result)
    figures = hb.evidence(clean, "races").figures
    assert {k: getattr(figures, k) for k in ("errors", "criticals", "tracebacks", "race_conditions")} == dict.fromkeys(
        ("errors", "criticals", "tracebacks", "race_conditions"), 0)
    assert result.counterexamples == {}


@pytest.mark.parametrize(
    ("fatal", "traceback", "counts", "failing_line"),
    [
        (False, None, (1, 0, 0), r"^ERROR count: 1$"),
        (False, hb.TRACEBACK, (1, 0, 1), r"^Traceback count: 1$"),
        (True, None, (0, 1, 0), r"^CRITICAL count: 1$"),
    ],
    ids=["error", "error-with-traceback", "fatal"],
)
def test_worker_error_fails(clean, sym, fatal, traceback, counts, failing_line):
    events = hb.worker_error(clean, sym, fatal=fatal, traceback=traceback)
    figures = hb.evidence(events, "races").figures
    assert (figures.errors, figures.criticals, figures.tracebacks) == counts
    hb.assert_fails_on(hb.gate(events, "races"), failing_line)


def test_error_thresholds_are_read(clean, sym):
    events = hb.worker_error(clean, sym, traceback=hb.TRACEBACK)
    assert hb.gate(events, "races", Thresholds(max_errors=1, max_tracebacks=1)).status == "PASS"


def test_lost_aggregator_update_fails(clean, sym):
    closed = len(hb.where(clean, "trade.closed", sym))
    events = hb.alter_agg_state(clean, sym, trades=closed - 1)
    result = hb.gate(events, "races")
    hb.assert_fails_on(result, r"RACE_CONDITION count: 1 \(lost updates 1,")
    assert result.counterexamples["lost_updates"] == (
        {"symbol": sym, "ledger_trades": closed, "aggregator_trades": closed - 1},)


def test_lost_exposure_book_write_fails(clean, sym):
    settles = hb.where(clean, "risk.settle", sym)
    lost = settles[3]
    # The write of this settle was lost: the book still shows the previous position.
    events = hb.alter(clean, lost, position=settles[2].payload["position"])
    result = hb.gate(events, "races")
    hb.assert_fails_on(result, r"lost updates 1,")
    (found,) = result.counterexamples["lost_updates"]
    assert found == {"seq": lost.seq, "symbol": sym, "recorded": str(Decimal(settles[2].payload["position"])),
                     "from_fills": str(Decimal(lost.payload["position"]))}


def test_duplicate_fill_fails(clean, sym):
    fill = hb.where(clean, "order.fill", sym)[4]
    events = hb.repeat_at_end(clean, fill)
    result = hb.gate(events, "races")
    hb.assert_fails_on(result, r"duplicate fills 1,")
    assert result.counterexamples == {"duplicate_fills": ({"fill": fill.payload["fill"], "times": 2},)}


def test_sequence_gap_fails(clean, sym):
    victim = hb.where(clean, "risk.reserve", sym)[5]
    events = hb.drop(clean, victim, keep_seq=True)
    result = hb.gate(events, "races")
    hb.assert_fails_on(result, r"sequence gaps 1\)")
    assert result.counterexamples == {
        "sequence_gaps": ({"after_seq": victim.seq - 1, "next_seq": victim.seq + 1, "missing": 1},)}


def test_dropped_event_renumbered_is_not_a_gap(clean, sym):
    """The builder's own control: renumbering leaves no gap, so the gap test plants exactly one."""
    events = hb.drop(clean, hb.where(clean, "risk.reserve", sym)[5])
    assert hb.gate(events, "races").status == "PASS"


def test_aggregator_gap_never_closed_fails(clean, sym):
    applied = len(hb.where(clean, "agg.apply", sym))
    events = hb.append(clean, "agg.gap", worker=f"{sym}#0", symbol=sym, seq=applied + 2, expected=applied + 1)
    result = hb.gate(events, "races")
    hb.assert_fails_on(result, r"sequence gaps 1\)")
    assert result.counterexamples["sequence_gaps"] == ({"symbol": sym, "seq": applied + 2, "expected": applied + 1},)


def test_aggregator_gap_that_closed_passes(clean, sym):
    """A gap later filled (the held delta was applied) is not a violation."""
    events = hb.append(clean, "agg.gap", worker=f"{sym}#0", symbol=sym, seq=3, expected=2)
    assert hb.gate(events, "races").status == "PASS"


def test_log_line_marked_race_condition_counts(clean, sym):
    event = hb.first(clean, "order.submit", sym)
    events = hb.alter(clean, event, _level="RACE_CONDITION")
    hb.assert_fails_on(hb.gate(events, "races"), r"^RACE_CONDITION count: 1 \(lost updates 0")
