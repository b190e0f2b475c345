"""Risk gate: exposure at every fill, isolation, breaker trips and guardian status."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from harness.judge.thresholds import Thresholds
from tests import _history_builders as hb


def test_clean_run_passes(clean):
    result = hb.gate(clean, "risk")
    assert result.status == "PASS", hb.failing(result)
    figures = hb.evidence(clean, "risk").figures
    assert figures.limit_breaches == 0 and figures.isolation_violations == 0
    assert figures.completed_symbols == tuple(sorted(hb.symbols(clean)))
    assert figures.max_exposure_ratio <= Decimal(hb.first(clean, "run.start").payload["max_gross_exposure"])


def test_fill_pushing_exposure_over_the_limit_fails(clean, sym):
    start = hb.first(clean, "run.start").payload
    fill = hb.first(clean, "order.fill", sym)
    limit = Decimal(start["max_gross_exposure"]) * Decimal(start["equity"])
    qty = (limit / Decimal(fill.payload["price"])).to_integral_value() + 1
    events = hb.alter(clean, fill, qty=str(qty))
    result = hb.gate(events, "risk")
    hb.assert_fails_on(result, r"^Global exposure: max .*\(limit 60\.00%, [1-9]\d* breaches")
    breach = result.counterexamples["limit_breaches"][0]
    assert (breach["seq"], breach["fill"], breach["symbol"]) == (fill.seq, fill.payload["fill"], sym)
    assert Decimal(breach["gross_exposure"]) > limit


def test_isolation_violation_fails(clean, sym):
    events = hb.drop(clean, hb.first(clean, "worker.done", sym))
    result = hb.gate(events, "risk")
    hb.assert_fails_on(result, r"^Per-symbol isolation: 1 symbols neither finished nor failed$")
    assert result.counterexamples["isolation_violations"] == ({"symbol": sym, "reason": "neither finished nor failed"},)


@pytest.mark.parametrize("kind", ["worker.halted", "worker.stalled"])
def test_worker_ending_on_its_own_terms_is_not_a_violation(clean, sym, kind):
    done = hb.first(clean, "worker.done", sym)
    events = hb.replace(clean, done, dataclasses.replace(done, kind=kind, payload={}))
    assert hb.evidence(events, "risk").figures.isolation_violations == 0
    assert hb.gate(events, "risk").status == "PASS"


def test_failed_symbol_is_reported_and_judged(clean, sym):
    events = hb.worker_error(clean, sym)
    assert hb.evidence(events, "risk").figures.failed_symbols == (sym,)
    hb.assert_fails_on(hb.gate(events, "risk"), rf"failed: {sym} \(RuntimeError: boom\) \(allowed 0\)")
    assert hb.gate(events, "risk", Thresholds(max_failed_symbols=1)).status == "PASS"


def test_exposure_without_declared_equity_is_not_applicable(clean):
    """A history that declares no equity has no exposure ratio: n/a, not a ratio against equity 1."""
    start = hb.first(clean, "run.start")
    events = hb.alter(clean, start, equity=None)
    assert hb.evidence(events, "risk").figures.max_exposure_ratio is None
    result = hb.gate(events, "risk")
    assert result.lines[0].ok and result.lines[0].text == "Global exposure: n/a (no equity declared in run.start)"


def test_last_health_state_is_judged(clean):
    events = hb.append(clean, "health", state="DEGRADED")
    hb.assert_fails_on(hb.gate(events, "risk"), r"^Guardian status: DEGRADED$")
    assert hb.gate(events, "risk", Thresholds(allowed_health=("HEALTHY", "DEGRADED"))).status == "PASS"
