"""Performance evidence: per-symbol trading figures, throughput and latency percentiles.

Latencies come from the history's monotonic timestamps, so they are measured, never
typed: order latency runs from ``order.submit`` to the guardian's ``risk.settle`` of that
order (the whole locked path); lock latency from an acquire's ``lock.invoke`` to its
``lock.ok``. Percentiles come from an HdrHistogram in microseconds (3 significant digits).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from hdrh.histogram import HdrHistogram

from harness.history.events import LOCK_INVOKE, LOCK_OK, ORDER_SUBMIT, RISK_SETTLE, RUN_END, TRADE_CLOSED, f
from harness.history.log import Event
from harness.judge.evidence import Evidence, evidence_record

AREA = "Performance Metrics"


@evidence_record
class LatencySummary:
    """Count and percentiles of latency samples (0.0 ms without samples)."""

    count: int = f("samples", "count")
    p50_ms: float = f("median", "ms")
    p99_ms: float = f("99th percentile", "ms")
    p99_9_ms: float = f("99.9th percentile", "ms")
    max_ms: float = f("largest sample", "ms")


@evidence_record
class SymbolPerformance:
    """One symbol's closed trades."""

    trades: int = f("closed trades", "count")
    wins: int = f("trades with pnl > 0", "count")
    pnl: Decimal = f("realised PnL after fees", "quote currency")
    win_rate: Decimal = f("wins / trades (0 without trades)", "ratio")
    profit_factor: Decimal | None = f("gross profit / gross loss; null without a loss", "ratio")
    max_drawdown: Decimal = f("deepest fall of cumulative PnL from its peak", "quote currency")


@evidence_record
class PerfFigures:
    """Per-symbol trading figures, throughput and latency percentiles."""

    per_symbol: Mapping[str, SymbolPerformance] = f("each symbol's trades, by name")
    total_trades: int = f("closed trades of every symbol", "count")
    elapsed_s: float = f("run.end's elapsed time, else first to last event", "s")
    throughput_trades_per_s: float = f("total trades / elapsed", "trades/s")
    order_latency: LatencySummary = f("order.submit to the guardian's risk.settle of that order")
    lock_latency: LatencySummary = f("an acquire's lock.invoke to its lock.ok")


def latency_summary(samples_ns: Iterable[int]) -> LatencySummary:
    """Count and p50/p99/p99.9/max in milliseconds of latency samples in ns."""
    hist = HdrHistogram(1, 3_600_000_000, 3)
    for ns in samples_ns:
        hist.record_value(max(1, ns // 1000))
    count = hist.get_total_count()
    if not count:
        return LatencySummary(0, 0.0, 0.0, 0.0, 0.0)
    p50, p99, p99_9 = (hist.get_value_at_percentile(p) / 1000 for p in (50.0, 99.0, 99.9))
    return LatencySummary(count, p50, p99, p99_9, hist.get_max_value() / 1000)


def order_latencies(events: Sequence[Event]) -> list[int]:
    """Nanoseconds from each order's submit to its settle (filled orders)."""
    submitted: dict[str, int] = {}
    samples = []
    for event in events:
        if event.kind == ORDER_SUBMIT:
            submitted[str(event.payload["order"])] = event.mono_ns
        elif event.kind == RISK_SETTLE and str(event.payload.get("order")) in submitted:
            samples.append(event.mono_ns - submitted.pop(str(event.payload["order"])))
    return samples


def lock_latencies(events: Sequence[Event]) -> list[int]:
    """Nanoseconds from each acquire's invocation to its ok."""
    invoked: dict[tuple[str, object], int] = {}
    samples = []
    for event in events:
        if event.payload.get("op") != "acquire":
            continue
        key = (event.worker, event.payload.get("req"))
        if event.kind == LOCK_INVOKE:
            invoked[key] = event.mono_ns
        elif event.kind == LOCK_OK and key in invoked:
            samples.append(event.mono_ns - invoked.pop(key))
    return samples


def _symbol_figures(pnls: list[Decimal]) -> SymbolPerformance:
    wins = sum(1 for p in pnls if p > 0)
    profit = sum((p for p in pnls if p > 0), Decimal(0))
    loss = -sum((p for p in pnls if p < 0), Decimal(0))
    equity = peak = drawdown = Decimal(0)
    for p in pnls:
        equity += p
        peak = max(peak, equity)
        drawdown = max(drawdown, peak - equity)
    return SymbolPerformance(
        trades=len(pnls), wins=wins, pnl=sum(pnls, Decimal(0)),
        win_rate=Decimal(wins) / len(pnls) if pnls else Decimal(0),
        profit_factor=profit / loss if loss else None, max_drawdown=drawdown,
    )


def _elapsed_ns(events: Sequence[Event]) -> int:
    end = next((e for e in reversed(events) if e.kind == RUN_END), None)
    if end is not None and "elapsed_ns" in end.payload:
        return int(end.payload["elapsed_ns"])
    return events[-1].mono_ns - events[0].mono_ns if events else 0


def check_perf(events: Sequence[Event]) -> Evidence[PerfFigures]:
    """Per-symbol trades/PnL/win rate/profit factor/drawdown, throughput, latencies."""
    pnls: dict[str, list[Decimal]] = {}
    for event in events:
        if event.kind == TRADE_CLOSED:
            pnls.setdefault(str(event.symbol), []).append(Decimal(str(event.payload["pnl"])))
    trades = sum(len(v) for v in pnls.values())
    elapsed = _elapsed_ns(events)
    figures = PerfFigures(
        per_symbol={name: _symbol_figures(values) for name, values in sorted(pnls.items())},
        total_trades=trades,
        elapsed_s=elapsed / 1e9,
        throughput_trades_per_s=trades / (elapsed / 1e9) if elapsed > 0 else 0.0,
        order_latency=latency_summary(order_latencies(events)),
        lock_latency=latency_summary(lock_latencies(events)),
    )
    return Evidence(AREA, figures)
