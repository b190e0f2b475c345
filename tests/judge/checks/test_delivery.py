"""Delivery: the summary says what a run was asked for and did not deliver, never only PASS."""

from __future__ import annotations

import dataclasses

from harness.judge.checks.delivery import check_delivery, delivery_lines
from harness.run.config import run_config
from harness.system.engine import run
from harness.system.locks.local import LockTable
from harness.testing import append, first, with_payload
from tests import _history_builders as hb


def _halting_run():
    """Seed 35, 30 trades: a normal losing streak trips ETHUSD.s's consecutive-loss breaker."""
    return run(run_config({"seed": 35, "trades": 30, "mode": "single"}), LockTable()).events()


def test_a_symbol_halted_before_its_trades_is_not_delivered():
    events = _halting_run()
    delivery = check_delivery(events)
    assert delivery is not None and not delivery.complete
    stop = delivery.stopped_early["ETHUSD.s"]
    assert stop.reason == "halted by its circuit breaker" and stop.trades < 30
    assert f"Not delivered: ETHUSD.s halted by its circuit breaker after {stop.trades}/30 trades" in \
        delivery_lines(delivery)


def test_a_duration_cut_short_says_how_much_was_not_traded(clean):
    start = first(clean, "run.start")
    events = hb.replace(clean, start, with_payload(start, trades=None, duration=120))
    halt_at = start.mono_ns + 11_500_000_000
    events = [*events, dataclasses.replace(events[-1], seq=events[-1].seq + 1, mono_ns=halt_at,
                                              kind="worker.halted", symbol="BTCUSD.s", payload={})]
    events = append(events, "risk.refuse", symbol="BTCUSD.s", order="o1", reason="halted")
    lines = delivery_lines(check_delivery(events))
    assert lines[0] == "Asked: 120 s of trading per symbol, 3 symbols"
    assert any(line.startswith("Not delivered: BTCUSD.s halted by its circuit breaker at 11.5 s of 120 s "
                               "(108.5 s not traded") for line in lines), lines
    assert "Refused by the guardian: 1 orders (halted 1)" in lines
    assert lines[-1].startswith("Seed reproduces per-symbol trades and PnL: NO -- the run was sized in time")


def test_a_run_that_did_what_was_asked_says_so(clean):
    delivery = check_delivery(clean)
    assert delivery is not None and delivery.complete
    assert "Delivered: everything asked" in delivery_lines(delivery)


def test_a_history_that_does_not_say_what_was_asked_has_no_delivery(clean):
    assert check_delivery([e for e in clean if e.kind != "run.start"]) is None


def test_the_console_and_verify_log_say_what_was_not_delivered(capsys, tmp_path):
    out = tmp_path / "run"
    code, stdout, _ = hb.cli(capsys, "run", "multi_symbol_stress", "--seed", "35", "--trades", "30",
                             "--mode", "single", "--out", out)
    assert code == 0
    assert "Not delivered: ETHUSD.s halted by its circuit breaker after" in stdout
    assert "halted by its circuit breaker at" in stdout, "the per-symbol table has a stopped-early column"
    log = (out / "VERIFY_LOG.txt").read_text(encoding="utf-8")
    assert "Not delivered: ETHUSD.s halted by its circuit breaker after" in log


def test_a_run_without_cross_symbol_decisions_says_its_seed_reproduces_it(clean):
    delivery = check_delivery(clean)
    assert delivery.reproducible
    assert delivery_lines(delivery)[-1].startswith("Seed reproduces per-symbol trades and PnL: yes")


def test_a_gross_exposure_refusal_or_a_global_trip_says_the_seed_may_not_reproduce_it(clean):
    refused = append(clean, "risk.refuse", symbol="BTCUSD.s", order="o1", reason="gross_exposure")
    delivery = check_delivery(refused)
    assert not delivery.reproducible
    assert delivery_lines(delivery)[-1].startswith("Seed reproduces per-symbol trades and PnL: NO -- 1 orders "
                                                   "refused by the gross exposure limit")
    tripped = append(clean, "risk.trip", symbol="BTCUSD.s", scope="global", reason="drawdown", value="0.2",
                     threshold="0.1")
    assert "1 global breaker trips" in delivery_lines(check_delivery(tripped))[-1]
    symbol_only = append(clean, "risk.refuse", symbol="BTCUSD.s", order="o1", reason="symbol_exposure")
    assert check_delivery(symbol_only).reproducible, "a symbol's own limit sees only that symbol"


def test_a_single_mode_run_reproduces_its_global_decisions_in_single_mode_only(clean):
    start = first(clean, "run.start")
    events = hb.replace(clean, start, with_payload(start, mode="single"))
    events = append(events, "risk.refuse", symbol="BTCUSD.s", order="o1", reason="gross_exposure")
    delivery = check_delivery(events)
    assert delivery.reproducible
    assert "yes in single mode only" in delivery_lines(delivery)[-1]


def test_evidence_json_records_the_delivery_and_whether_the_seed_reproduces_the_run(tmp_path):
    from harness.testing import evidence_json, run_scenario

    run_scenario(tmp_path / "run", trades=3)
    delivery = evidence_json(tmp_path / "run")["delivery"]
    assert (delivery["trades_asked"], delivery["stopped_early"], delivery["reproducible"]) == (3, {}, True)
