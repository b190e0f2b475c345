"""Performance gate: throughput and order latency limits, and a run with no trade."""

from __future__ import annotations

import dataclasses

from harness.judge.thresholds import Thresholds
from tests import _history_builders as hb

S = 1_000_000_000
LIMITS = Thresholds(min_throughput_trades_per_s=1.0, max_order_p99_ms=2_000.0)


def test_clean_run_passes_within_limits(clean):
    result = hb.gate(clean, "performance", LIMITS)
    assert result.status == "PASS", hb.failing(result)
    figures = hb.evidence(clean, "performance").figures
    assert figures.total_trades == len(hb.where(clean, "trade.closed"))
    assert figures.order_latency.count == len(hb.where(clean, "order.submit"))
    for name in hb.symbols(clean):
        line = next(line for line in result.lines if line.text.startswith(f"{name}: "))
        assert line.text.startswith(f"{name}: {len(hb.where(clean, 'trade.closed', name))} trades, ")


def test_slow_run_fails_throughput(clean):
    end = hb.last(clean, "run.end")
    events = hb.alter(clean, end, elapsed_ns=1_000 * S)
    trades = len(hb.where(clean, "trade.closed"))
    result = hb.gate(events, "performance", LIMITS)
    assert hb.failing(result) == [f"Total Throughput: {trades} trades in 1000.00 seconds = {trades / 1000:.1f} "
                                  f"trades/sec (limit >= {LIMITS.min_throughput_trades_per_s:g})"]


def test_throughput_threshold_is_read(clean):
    hb.assert_fails_on(hb.gate(clean, "performance", Thresholds(min_throughput_trades_per_s=1e12)),
                       r"^Total Throughput: ")


def test_slow_orders_fail_p99(clean):
    events = list(clean)
    for submit in hb.where(clean, "order.submit")[5:8]:  # 3 of ~60 orders: above the 99th percentile
        events = hb.replace(events, submit, dataclasses.replace(submit, mono_ns=submit.mono_ns - 10 * S))
    figures = hb.evidence(events, "performance").figures
    assert figures.order_latency.p99_ms >= 10_000
    hb.assert_fails_on(hb.gate(events, "performance", LIMITS), r"^Order latency: p50 .* p99 \d{5,}\.\d{3} ms")


def test_run_without_trades_fails(clean):
    events = hb.renumber(e for e in clean if e.kind != "trade.closed")
    result = hb.gate(events, "performance")
    hb.assert_fails_on(result, r"^Total Throughput: 0 trades in ")
