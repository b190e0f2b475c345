"""Honest verdict lines: the lock service is named, halted symbols say why, failing limits show the limit."""

from __future__ import annotations

import re

import pytest

from harness.judge.checks.locks import check_locks
from harness.judge.checks.perf import check_perf
from harness.judge.checks.risk import check_risk
from harness.judge.gates import gate_locks, gate_performance, gate_risk
from harness.judge.thresholds import Thresholds
from harness.run.config import run_config
from harness.system.engine import run
from harness.system.locks.local import LockTable


@pytest.fixture(scope="module")
def halting_run():
    """Seed 35, 30 trades: a normal losing streak trips ETHUSD.s's consecutive-loss breaker."""
    return run(run_config({"seed": 35, "trades": 30, "mode": "single"}), LockTable()).events()


def _texts(gate) -> list[str]:
    return [line.text for line in gate.lines]


def test_the_lock_gate_names_the_lock_service_the_history_records(halting_run):
    texts = _texts(gate_locks(check_locks(halting_run), Thresholds()))
    assert texts[0] == "Lock service: harness.system.locks.local.LockTable"
    foreign = [e for e in halting_run if e.kind != "run.start"]  # a history that does not say
    assert not any(t.startswith("Lock service") for t in _texts(gate_locks(check_locks(foreign), Thresholds())))


def test_isolation_says_which_symbols_were_halted_and_by_what(halting_run):
    halted = {e.symbol for e in halting_run if e.kind == "worker.halted"}
    assert halted, "the fixture's seed is chosen for its breaker trip"
    gate = gate_risk(check_risk(halting_run), Thresholds())
    (line,) = [line for line in gate.lines if line.text.startswith("Per-symbol isolation")]
    assert line.ok
    for symbol in halted:
        assert re.search(rf"halted: .*{re.escape(symbol)} by symbol breaker \w+", line.text), line.text


def test_a_failing_throughput_or_latency_line_shows_the_limit_it_missed(halting_run):
    evidence = check_perf(halting_run)
    gate = gate_performance(evidence, Thresholds(min_throughput_trades_per_s=1e12, max_order_p99_ms=1e-9))
    failing = [line.text for line in gate.lines if not line.ok]
    assert any(t.startswith("Total Throughput") and t.endswith("(limit >= 1e+12)") for t in failing), failing
    assert any(t.startswith("Order latency") and "(limit p99 <= 1e-09 ms)" in t for t in failing), failing
    passing = gate_performance(evidence, Thresholds())
    assert not any("limit" in line.text for line in passing.lines), "no limit set: none shown"


def test_a_failing_isolation_line_never_says_verified_and_keeps_the_whole_error(halting_run):
    from tests import _history_builders as hb

    error = "RuntimeError: the feed for this symbol went away in the middle of a sentence, and then some more words"
    events = hb.worker_error(list(halting_run), "BTCUSD.s")
    events = [hb.with_payload(e, error=error) if e.kind == "worker.error" else e for e in events]
    gate = gate_risk(check_risk(events), Thresholds(max_failed_symbols=0))
    (line,) = [line for line in gate.lines if line.text.startswith("Per-symbol isolation")]
    assert not line.ok
    assert line.text.startswith("Per-symbol isolation: NOT verified, more symbols failed than allowed (")
    assert error in line.text
