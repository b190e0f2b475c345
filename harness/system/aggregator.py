"""Metrics aggregator: per-symbol trading metrics fed by REPLACE snapshots or INCREMENTAL deltas.

The seed's aggregator averaged win rates when merging increments; an average of rates is
not a rate (3/4 and 1/1 average to 87.5 %, the true rate is 4/5 = 80 %). Here a rate is
always computed from counts at read time, and both feeding modes converge to the same
state whatever the order of symbols or the number of threads:

- REPLACE sets a symbol's metrics to a snapshot. A snapshot carries its version (``seq``,
  the number of trades it covers); an older or equal version is ignored, so replays and
  late arrivals are harmless.
- INCREMENTAL applies deltas with a per-symbol sequence number: a duplicate is ignored, an
  early delta is held until the gap before it fills, and a gap still open is reported.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import SupportsInt, cast

from harness.history.events import AGG_APPLY, AGG_DUPLICATE, AGG_GAP, AGG_REPLACE
from harness.history.log import History
from harness.system.locks.fence import Fence
from harness.system.model import ClosedTrade

ZERO = Decimal(0)
RATE = Decimal("1e-12")  # rates are published to 12 places: a history holds at most 28 decimals


class Mode(str, enum.Enum):
    """How workers feed the aggregator."""

    REPLACE = "replace"
    INCREMENTAL = "incremental"


@dataclass(frozen=True)
class SymbolMetrics:
    """Counts and sums of closed trades; ``seq`` is how many trades they cover."""

    seq: int = 0
    trades: int = 0
    wins: int = 0
    losses: int = 0
    breakeven: int = 0
    pnl: Decimal = ZERO
    gross_profit: Decimal = ZERO
    gross_loss: Decimal = ZERO

    @property
    def win_rate(self) -> Decimal:
        """Winning trades / closed trades (0 when none); breakeven is not a win."""
        return Decimal(self.wins) / Decimal(self.trades) if self.trades else ZERO

    @property
    def profit_factor(self) -> Decimal | None:
        """Gross profit / gross loss (None without a loss)."""
        return self.gross_profit / self.gross_loss if self.gross_loss else None

    def plus(self, other: SymbolMetrics) -> SymbolMetrics:
        """Sum of two metric records (counts and money add; seq takes the newer)."""
        return SymbolMetrics(
            max(self.seq, other.seq),
            self.trades + other.trades,
            self.wins + other.wins,
            self.losses + other.losses,
            self.breakeven + other.breakeven,
            self.pnl + other.pnl,
            self.gross_profit + other.gross_profit,
            self.gross_loss + other.gross_loss,
        )

    @classmethod
    def of_trade(cls, trade: ClosedTrade, seq: int) -> SymbolMetrics:
        """The metrics contribution of one closed trade."""
        outcome = trade.outcome
        return cls(
            seq,
            1,
            int(outcome == "win"),
            int(outcome == "loss"),
            int(outcome == "breakeven"),
            trade.pnl,
            trade.pnl if trade.pnl > 0 else ZERO,
            -trade.pnl if trade.pnl < 0 else ZERO,
        )

    @classmethod
    def of_trades(cls, trades: Iterable[ClosedTrade]) -> SymbolMetrics:
        """Metrics recomputed from a list of closed trades."""
        total = cls()
        for n, trade in enumerate(trades, start=1):
            total = total.plus(cls.of_trade(trade, n))
        return total

    def as_payload(self) -> dict[str, object]:
        """JSON-ready fields for events and reports."""
        return {
            "seq": self.seq, "trades": self.trades, "wins": self.wins, "losses": self.losses,
            "breakeven": self.breakeven, "pnl": self.pnl, "gross_profit": self.gross_profit,
            "gross_loss": self.gross_loss,
        }

    def published(self) -> dict[str, object]:
        """The payload of a published state: the figures and the rates derived from them."""
        factor = self.profit_factor
        return {**self.as_payload(), "win_rate": self.win_rate.quantize(RATE),
                "profit_factor": None if factor is None else factor.quantize(RATE)}

    @classmethod
    def from_payload(cls, raw: Mapping[str, object]) -> SymbolMetrics:
        """Inverse of ``as_payload``."""
        # Payload values are whatever ``as_payload`` wrote (ints, Decimals) or their JSON form.
        ints = {k: int(cast("str | SupportsInt", raw[k])) for k in ("seq", "trades", "wins", "losses", "breakeven")}
        money = {k: Decimal(str(raw[k])) for k in ("pnl", "gross_profit", "gross_loss")}
        return cls(seq=ints["seq"], trades=ints["trades"], wins=ints["wins"], losses=ints["losses"],
                   breakeven=ints["breakeven"], pnl=money["pnl"], gross_profit=money["gross_profit"],
                   gross_loss=money["gross_loss"])


@dataclass(frozen=True)
class AggregatorStatistics:
    """Counters of the aggregator, for tests and evidence."""

    applied: int
    duplicates: int
    replaced: int
    stale_snapshots: int
    held: int
    gaps_reported: int
    open_gaps: int


@dataclass
class _Slot:
    metrics: SymbolMetrics = field(default_factory=SymbolMetrics)
    early: dict[int, SymbolMetrics] = field(default_factory=dict)


class MetricsAggregator:
    """Thread-safe per-symbol metrics; optionally fenced and recorded in a history."""

    def __init__(self, history: History | None = None, fence: Fence | None = None) -> None:
        self._history = history
        self._fence = fence
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()
        self._applied = self._duplicates = self._replaced = self._stale = 0
        self._held = self._gaps = 0

    def _record(self, kind: str, worker: str, symbol: str, **payload: object) -> None:
        if self._history is not None:
            self._history.append(kind, worker=worker, symbol=symbol, **payload)

    def _admit(self, fence_token: tuple[str, int | None] | None, worker: str, symbol: str) -> None:
        if self._fence is not None and fence_token is not None:
            self._fence.admit(fence_token[0], fence_token[1], worker, symbol)

    def replace(
        self, symbol: str, snapshot: SymbolMetrics, *, worker: str = "-",
        fence_token: tuple[str, int | None] | None = None,
    ) -> bool:
        """Set a symbol's metrics to ``snapshot`` unless a newer one is in; True if taken."""
        with self._lock:
            self._admit(fence_token, worker, symbol)
            current = self._slots.get(symbol)
            # Older, equal (a replay) and empty (seq 0) snapshots carry nothing new.
            if snapshot.seq <= (current.metrics.seq if current else 0):
                self._stale += 1
                return False
            slot = self._slots.setdefault(symbol, _Slot())
            slot.metrics = snapshot
            self._replaced += 1
            self._record(AGG_REPLACE, worker, symbol, **snapshot.as_payload())
            return True

    def apply(
        self, symbol: str, delta: SymbolMetrics, *, worker: str = "-", fence_token: tuple[str, int | None] | None = None
    ) -> str:
        """Apply a delta; return "applied", "duplicate" or "held" (waiting for a gap)."""
        with self._lock:
            self._admit(fence_token, worker, symbol)
            slot = self._slots.setdefault(symbol, _Slot())
            expected = slot.metrics.seq + 1
            if delta.seq < expected or delta.seq in slot.early:
                self._duplicates += 1
                self._record(AGG_DUPLICATE, worker, symbol, seq=delta.seq, expected=expected)
                return "duplicate"
            if delta.seq > expected:
                slot.early[delta.seq] = delta
                self._held += 1
                self._gaps += 1
                self._record(AGG_GAP, worker, symbol, seq=delta.seq, expected=expected)
                return "held"
            self._advance(slot, delta, worker, symbol)
            while slot.metrics.seq + 1 in slot.early:
                self._advance(slot, slot.early.pop(slot.metrics.seq + 1), worker, symbol)
            return "applied"

    def _advance(self, slot: _Slot, delta: SymbolMetrics, worker: str, symbol: str) -> None:
        slot.metrics = replace(slot.metrics.plus(delta), seq=delta.seq)
        self._applied += 1
        self._record(AGG_APPLY, worker, symbol, **delta.as_payload())

    def symbols(self) -> dict[str, SymbolMetrics]:
        """Current metrics of every symbol seen."""
        with self._lock:
            return {name: slot.metrics for name, slot in sorted(self._slots.items())}

    def total(self) -> SymbolMetrics:
        """Metrics over all symbols; the win rate comes from the summed counts."""
        total = SymbolMetrics()
        for metrics in self.symbols().values():
            total = total.plus(metrics)
        return total

    def open_gaps(self) -> dict[str, list[int]]:
        """Per symbol, the sequence numbers still missing before held deltas."""
        with self._lock:
            gaps = {}
            for name, slot in self._slots.items():
                if slot.early:
                    gaps[name] = [s for s in range(slot.metrics.seq + 1, max(slot.early)) if s not in slot.early]
            return gaps

    def statistics(self) -> AggregatorStatistics:
        """A frozen copy of the counters."""
        with self._lock:
            open_gaps = sum(1 for slot in self._slots.values() if slot.early)
            return AggregatorStatistics(
                self._applied, self._duplicates, self._replaced, self._stale, self._held, self._gaps, open_gaps
            )
