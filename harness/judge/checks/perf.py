"""Performance evidence: per-symbol trading figures, throughput and latency percentiles.

Latencies come from the history's monotonic timestamps, so they are measured, never
typed: order latency runs from ``order.submit`` to the guardian's ``risk.settle`` of that
order (the whole locked path); lock latency from an acquire's ``lock.invoke`` to its
``lock.ok``. Percentiles come from an HdrHistogram in microseconds (3 significant digits).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from decimal import Decimal

from hdrh.histogram import HdrHistogram

from harness.history.events import LOCK_INVOKE, LOCK_OK, ORDER_SUBMIT, RISK_SETTLE, RUN_END, TRADE_CLOSED, f
from harness.history.log import Event
from harness.judge.evidence import Evidence, evidence_record
from harness.judge.stream import fed

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


class Latencies:
    """An HdrHistogram of latency samples in microseconds (3 significant digits)."""

    def __init__(self) -> None:
        self._hist = HdrHistogram(1, 3_600_000_000, 3)

    def record(self, ns: int) -> None:
        """Add one sample, in ns."""
        self._hist.record_value(max(1, ns // 1000))

    def summary(self) -> LatencySummary:
        """Count and p50/p99/p99.9/max in milliseconds."""
        count = self._hist.get_total_count()
        if not count:
            return LatencySummary(0, 0.0, 0.0, 0.0, 0.0)
        p50, p99, p99_9 = (self._hist.get_value_at_percentile(p) / 1000 for p in (50.0, 99.0, 99.9))
        return LatencySummary(count, p50, p99, p99_9, self._hist.get_max_value() / 1000)


def latency_summary(samples_ns: Iterable[int]) -> LatencySummary:
    """Count and p50/p99/p99.9/max in milliseconds of latency samples in ns."""
    latencies = Latencies()
    for ns in samples_ns:
        latencies.record(ns)
    return latencies.summary()


class _Pairs:
    """Start-to-end latencies of operations by key; holds only the operations still open."""

    def __init__(self, starts: str, ends: str, key: Callable[[Event], Hashable | None]) -> None:
        self.starts, self.ends, self.key = starts, ends, key
        self.open: dict[Hashable, int] = {}

    def feed(self, event: Event) -> int | None:
        """The latency this event ends, if it ends one."""
        if event.kind != self.starts and event.kind != self.ends:
            return None
        key = self.key(event)
        if key is None:
            return None
        if event.kind == self.starts:
            self.open[key] = event.mono_ns
        elif key in self.open:
            return event.mono_ns - self.open.pop(key)
        return None

    def over(self, events: Iterable[Event]) -> list[int]:
        """Every latency ``events`` end."""
        return [ns for event in events if (ns := self.feed(event)) is not None]


def _order_key(event: Event) -> str | None:
    order = event.payload.get("order") if event.kind == RISK_SETTLE else event.payload["order"]
    return str(order)


def _acquire_key(event: Event) -> tuple[str, object] | None:
    return (event.worker, event.payload.get("req")) if event.payload.get("op") == "acquire" else None


def order_pairs() -> _Pairs:
    """Order latency: an ``order.submit`` to the ``risk.settle`` of that order."""
    return _Pairs(ORDER_SUBMIT, RISK_SETTLE, _order_key)


def lock_pairs() -> _Pairs:
    """Lock latency: an acquire's ``lock.invoke`` to its ``lock.ok``."""
    return _Pairs(LOCK_INVOKE, LOCK_OK, _acquire_key)


def order_latencies(events: Sequence[Event]) -> list[int]:
    """Nanoseconds from each order's submit to its settle (filled orders)."""
    return order_pairs().over(events)


def lock_latencies(events: Sequence[Event]) -> list[int]:
    """Nanoseconds from each acquire's invocation to its ok."""
    return lock_pairs().over(events)


class _SymbolTally:
    """One symbol's closed trades as running sums (the drawdown needs only the peak so far)."""

    def __init__(self) -> None:
        self.trades = self.wins = 0
        self.pnl = self.profit = self.losses = self.equity = self.peak = self.drawdown = Decimal(0)

    def add(self, pnl: Decimal) -> None:
        """One more closed trade."""
        self.trades += 1
        self.pnl += pnl
        if pnl > 0:
            self.wins += 1
            self.profit += pnl
        elif pnl < 0:
            self.losses += pnl
        self.equity += pnl
        self.peak = max(self.peak, self.equity)
        self.drawdown = max(self.drawdown, self.peak - self.equity)

    def figures(self) -> SymbolPerformance:
        """The symbol's performance record."""
        loss = -self.losses
        return SymbolPerformance(
            trades=self.trades, wins=self.wins, pnl=self.pnl,
            win_rate=Decimal(self.wins) / self.trades if self.trades else Decimal(0),
            profit_factor=self.profit / loss if loss else None, max_drawdown=self.drawdown,
        )


class PerfChecker:
    """The performance figures, fed one event at a time: running sums, histograms, open orders and acquires."""

    def __init__(self) -> None:
        self.symbols: dict[str, _SymbolTally] = {}
        self.orders, self.locks = order_pairs(), lock_pairs()
        self.order_latency, self.lock_latency = Latencies(), Latencies()
        self.first_ns: int | None = None
        self.last_ns = 0
        self.recorded_ns: int | None = None  # the last run.end's own elapsed time

    def feed(self, event: Event) -> None:
        """Take the next event."""
        if self.first_ns is None:
            self.first_ns = event.mono_ns
        self.last_ns = event.mono_ns
        kind = event.kind
        if kind == TRADE_CLOSED:
            tally = self.symbols.get(str(event.symbol)) or self.symbols.setdefault(str(event.symbol), _SymbolTally())
            tally.add(Decimal(str(event.payload["pnl"])))
        elif kind == RUN_END:
            elapsed = event.payload.get("elapsed_ns")
            self.recorded_ns = None if elapsed is None else int(elapsed)
        elif (ns := self.orders.feed(event)) is not None:
            self.order_latency.record(ns)
        elif (ns := self.locks.feed(event)) is not None:
            self.lock_latency.record(ns)

    def result(self) -> Evidence[PerfFigures]:
        """Per-symbol trades/PnL/win rate/profit factor/drawdown, throughput, latencies."""
        trades = sum(t.trades for t in self.symbols.values())
        elapsed = self.recorded_ns if self.recorded_ns is not None else self.last_ns - (self.first_ns or 0)
        return Evidence(AREA, PerfFigures(
            per_symbol={name: tally.figures() for name, tally in sorted(self.symbols.items())},
            total_trades=trades,
            elapsed_s=elapsed / 1e9,
            throughput_trades_per_s=trades / (elapsed / 1e9) if elapsed > 0 else 0.0,
            order_latency=self.order_latency.summary(),
            lock_latency=self.lock_latency.summary(),
        ))


def check_perf(events: Sequence[Event]) -> Evidence[PerfFigures]:
    """Per-symbol trades/PnL/win rate/profit factor/drawdown, throughput, latencies."""
    return fed(PerfChecker(), events)
