"""AggregatorPort written from scratch: per-symbol counts and sums, deduplicated by ``seq``.

    harness run multi_symbol_stress --aggregator harness.examples.ports.aggregator:factory
    harness run pnl_consistency --aggregator harness.examples.ports.aggregator:factory
"""

from __future__ import annotations

import threading

from harness.history.log import History
from harness.system.aggregator import SymbolMetrics


class SeqAggregator:
    """INCREMENTAL: a delta is applied once, in seq order (early ones wait); REPLACE: newest seq wins."""

    def __init__(self) -> None:
        self._state: dict[str, SymbolMetrics] = {}
        self._early: dict[str, dict[int, SymbolMetrics]] = {}
        self._lock = threading.Lock()

    def apply(self, symbol: str, delta: SymbolMetrics, *, worker: str, fence_token=None) -> str:
        """Apply ``delta`` once, after every delta before it."""
        with self._lock:
            current = self._state.get(symbol, SymbolMetrics())
            early = self._early.setdefault(symbol, {})
            if delta.seq <= current.seq or delta.seq in early:
                return "duplicate"
            early[delta.seq] = delta
            while current.seq + 1 in early:
                current = current.plus(early.pop(current.seq + 1))
            self._state[symbol] = current
            return "applied"

    def replace(self, symbol: str, snapshot: SymbolMetrics, *, worker: str, fence_token=None) -> bool:
        """Take ``snapshot`` unless it is older than what is held."""
        with self._lock:
            if snapshot.seq <= self._state.get(symbol, SymbolMetrics()).seq:
                return False
            self._state[symbol] = snapshot
            return True

    def symbols(self) -> dict[str, SymbolMetrics]:
        """Every symbol's metrics."""
        with self._lock:
            return dict(sorted(self._state.items()))


def factory(history: History) -> SeqAggregator:
    """``--aggregator harness.examples.ports.aggregator:factory``."""
    return SeqAggregator()
