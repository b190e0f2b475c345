"""Breakers recomputed: a justified trip is reported, a missing, causeless or leaky one fails."""

from __future__ import annotations

import dataclasses
import functools
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest

from harness.history.log import History, new_sequence
from harness.judge.areas import judge
from harness.judge.thresholds import Thresholds
from harness.run.scenario import broker_service
from harness.system.engine import run
from harness.system.guardian.risk import BreakerLimits, Guardian, RiskLimits
from harness.system.locks.local import LockTable
from harness.system.settings import ConcurrencyMode, RunConfig
from tests import _history_builders as hb

OFF = BreakerLimits(None, None, None)
STREAK = RiskLimits(symbol_breaker=BreakerLimits(None, None, 2), global_breaker=OFF)
LOSS = RiskLimits(symbol_breaker=OFF, global_breaker=BreakerLimits(None, Decimal("1"), None))


def never_trips(specs, limits, **kwargs) -> Guardian:
    """A guardian whose breakers never trip (the limits it was given are ignored)."""
    return Guardian(specs, dataclasses.replace(limits, symbol_breaker=OFF, global_breaker=OFF), **kwargs)


class LeakyHalt(Guardian):
    """A guardian that, once halted, admits every order as if it reduced the position."""

    def _reducing(self, symbol, res) -> bool:
        return True


@functools.cache
def tripped(limits: RiskLimits = STREAK, factory=Guardian, seed: int = 127, mode: str = "thread") -> tuple:
    """A run whose breaker limits are tight enough to trip (process mode through the ZeroMQ broker)."""
    config = RunConfig(trades=12, seed=seed, limits=limits, mode=ConcurrencyMode(mode))
    if config.mode is ConcurrencyMode.THREAD:
        return tuple(run(config, LockTable(), guardian_factory=factory).events())
    history = History("breakers", new_sequence(True))
    with broker_service(history, Path(tempfile.mkdtemp()) / "broker.state", seed) as locks:
        return tuple(run(config, locks, history=history, guardian_factory=factory).events())


def test_justified_symbol_trips_are_a_reported_fact():
    events = tripped()
    figures = hb.evidence(events, "risk").figures
    assert figures.breaker_trips >= 1
    assert figures.required_trips == figures.breaker_trips
    result = hb.gate(events, "risk")
    assert result.status == "PASS", hb.failing(result)
    assert any(line.text.startswith(f"Circuit breaker: {figures.breaker_trips} trips (symbol:consecutive_losses")
               for line in result.lines)


def test_fail_on_breaker_trip_restores_the_old_verdict():
    result = hb.gate(tripped(), "risk", Thresholds(fail_on_breaker_trip=True))
    hb.assert_fails_on(result, r"^Circuit breaker: \d+ trips")


def test_justified_global_trip_halting_the_guardian_passes():
    events = tripped(LOSS)
    assert hb.evidence(events, "risk").figures.guardian_status == "HALTED"
    result = hb.gate(events, "risk")
    assert result.status == "PASS", hb.failing(result)


def test_global_trip_never_recorded_fails():
    events = [e for e in tripped(LOSS) if not (e.kind == "risk.trip" and e.payload["scope"] == "global")]
    result = hb.gate(events, "risk")
    hb.assert_fails_on(result, r"^Circuit breaker replay: .* 1 missing")
    assert result.counterexamples["missing_trips"][0]["scope"] == "global"


@pytest.mark.parametrize(("seed", "mode"), [(1, "thread"), (2, "thread"), (3, "thread"), (1, "process")])
def test_reference_guardian_trips_are_all_justified(seed, mode):
    events = tripped(STREAK, Guardian, seed, mode)
    figures = hb.evidence(events, "risk").figures
    assert figures.breaker_trips >= 1 and figures.required_trips == figures.breaker_trips
    assert hb.gate(events, "risk").status == "PASS", hb.failing(hb.gate(events, "risk"))


@pytest.mark.parametrize("mode", ["thread", "process"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_guardian_whose_breakers_never_trip_fails(seed, mode):
    events = tripped(STREAK, never_trips, seed, mode)
    assert not hb.where(events, "risk.trip")
    result = hb.gate(events, "risk")
    hb.assert_fails_on(result, r"^Circuit breaker replay: [1-9]\d* symbol trips required by the limits, "
                               r"[1-9]\d* missing")
    missing = result.counterexamples["missing_trips"][0]
    assert missing["reason"] == "consecutive_losses" and missing["scope"] == "symbol"


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_guardian_that_admits_orders_while_halted_fails(mode):
    events = tripped(STREAK, LeakyHalt, 127, mode)
    result = hb.gate(events, "risk")
    hb.assert_fails_on(result, r"[1-9]\d* non-reducing orders accepted while halted$")
    assert result.counterexamples["halted_orders_accepted"][0]["halted_by"] == "symbol"


@pytest.mark.parametrize("scope", ["symbol", "global"])
def test_trip_without_cause_fails(clean, sym, scope):
    events = hb.append(clean, "risk.trip", worker=f"{sym}#0", symbol=sym, scope=scope,
                       reason="max_drawdown", value="0.2", threshold="0.1")
    result = hb.gate(events, "risk")
    hb.assert_fails_on(result, r"^Circuit breaker replay: .* 1 without cause")
    assert result.counterexamples["unjustified_trips"][0]["scope"] == scope
    if scope == "global":
        hb.assert_fails_on(result, r"^Guardian status: HALTED$")


def test_trip_recorded_before_its_cause_fails():
    events = tripped()
    trip = hb.first(events, "risk.trip")
    moved = [e for e in events if e != trip]
    moved.insert(next(i for i, e in enumerate(moved) if e.kind == "order.fill" and e.symbol == trip.symbol), trip)
    result = hb.gate(moved, "risk")
    hb.assert_fails_on(result, r"without cause")
    assert "before the trade that trips it" in result.counterexamples["unjustified_trips"][0]["why"]


def test_trip_for_the_wrong_reason_fails():
    events = tripped()
    trip = hb.first(events, "risk.trip")
    result = hb.gate(hb.alter(events, trip, reason="loss_limit"), "risk")
    hb.assert_fails_on(result, r"1 without cause")


def test_history_without_limits_is_not_judged(clean):
    start = hb.first(clean, "run.start")
    events = hb.alter(clean, start, risk_limits=None)
    line = next(t.text for t in hb.gate(events, "risk").lines if t.text.startswith("Circuit breaker replay"))
    assert line == "Circuit breaker replay: n/a (no risk limits in run.start)"


def test_guardian_that_records_nothing_is_still_judged_from_run_start():
    from harness.judge.areas import evaluate

    events = [e for e in tripped(STREAK, never_trips) if not e.kind.startswith("risk.")]
    (result,) = judge(evaluate(events, ("risk",)), Thresholds())
    assert result.applicable
    hb.assert_fails_on(result, r"[1-9]\d* missing")


def test_fail_on_breaker_trip_is_a_gates_setting():
    from harness.run.config import harness_config

    assert harness_config({"gates": {"fail_on_breaker_trip": True}}).gates.fail_on_breaker_trip is True
    assert harness_config({}).gates.fail_on_breaker_trip is False
