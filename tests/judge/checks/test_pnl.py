"""Aggregator gate: exact reconciliation with fills replayed; fails on a 0.0001 drift."""

from __future__ import annotations

from decimal import Decimal

from harness.judge.thresholds import Thresholds
from tests import _history_builders as hb


def test_clean_run_matches_exactly(clean):
    result = hb.gate(clean, "aggregator")
    assert result.status == "PASS", hb.failing(result)
    figures = hb.evidence(clean, "aggregator").figures
    assert figures.pnl_difference == 0
    assert figures.aggregator_total_pnl == figures.simulated_total_pnl
    assert figures.simulated_trades == len(hb.where(clean, "trade.closed"))
    assert any("PERFECT MATCH" in line.text for line in result.lines)


def test_pnl_off_by_a_hundredth_of_a_cent_fails(clean, sym):
    pnl = Decimal(hb.last(clean, "agg.state").payload["symbols"][sym]["pnl"])
    events = hb.alter_agg_state(clean, sym, pnl=pnl + Decimal("0.0001"))
    ev = hb.evidence(events, "aggregator")
    assert ev.figures.pnl_difference == Decimal("0.0001")
    assert ev.figures.per_symbol[sym].difference == Decimal("0.0001")
    result = hb.gate(events, "aggregator")
    hb.assert_fails_on(result, r"^Difference: 0\.0001 \(exact, limit 0\)$")
    hb.assert_fails_on(result, r"1 symbols differ")
    (mismatch,) = result.counterexamples["mismatches"]
    assert (mismatch["symbol"], mismatch["source"]) == (sym, "aggregator")
    assert mismatch["got"]["pnl"] == str(pnl + Decimal("0.0001"))


def test_tolerance_does_not_hide_a_per_symbol_mismatch(clean, sym):
    """A threshold may admit a total difference; the per-symbol line still demands equality."""
    pnl = Decimal(hb.last(clean, "agg.state").payload["symbols"][sym]["pnl"])
    events = hb.alter_agg_state(clean, sym, pnl=pnl + Decimal("0.0001"))
    result = hb.gate(events, "aggregator", Thresholds(max_pnl_difference=Decimal("0.001")))
    failing = hb.failing(result)
    assert any("symbols differ" in t for t in failing)
    assert not any(t.startswith("Difference:") for t in failing)


def test_ledger_trade_pnl_differing_from_fills_fails(clean, sym):
    trade = hb.where(clean, "trade.closed", sym)[2]
    events = hb.alter(clean, trade, pnl=str(Decimal(trade.payload["pnl"]) + 1))
    result = hb.gate(events, "aggregator")
    hb.assert_fails_on(result, r"^Per-symbol trades/wins/PnL match: 1 symbols differ")
    assert hb.evidence(events, "aggregator").figures.pnl_difference == 0
    (mismatch,) = result.counterexamples["mismatches"]
    assert (mismatch["symbol"], mismatch["source"]) == (sym, "ledger")


def test_missing_final_state_is_judged_from_the_states_shown(clean):
    """Without agg.state, the states the aggregator's own events show are the final ones."""
    events = hb.drop(clean, hb.last(clean, "agg.state"))
    result = hb.gate(events, "aggregator")
    assert result.status == "PASS", hb.failing(result)
    assert hb.evidence(events, "aggregator").figures.aggregator_state_recorded is True


def test_no_aggregator_state_at_all_fails(clean):
    events = hb.renumber(e for e in clean if not e.kind.startswith("agg."))
    result = hb.gate(events, "aggregator")
    assert hb.evidence(events, "aggregator").figures.aggregator_state_recorded is False
    hb.assert_fails_on(result, r"^Aggregator Total PnL: ")
    hb.assert_fails_on(result, r"^Simulated Total PnL: ")


def test_an_exact_zero_difference_reads_as_zero_whatever_its_exponent(clean):
    import dataclasses

    from harness.judge.gates import gate_aggregator

    ev = hb.evidence(clean, "aggregator")
    ev = dataclasses.replace(ev, figures=dataclasses.replace(ev.figures, pnl_difference=Decimal("0E-8")))
    texts = [line.text for line in gate_aggregator(ev, Thresholds()).lines]
    assert "Difference: 0 (exact, limit 0) PERFECT MATCH" in texts, texts
