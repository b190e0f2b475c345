"""A plausible but broken aggregator, to show the harness catching it through ``--aggregator``.

It treats every INCREMENTAL delta as the symbol's new state ("last write wins") -- the kind of
slip that passes a unit test with one trade per symbol. Run:

    harness run multi_symbol_stress --aggregator harness.examples.lossy_aggregator:factory

and the MetricsAggregator Accuracy gate fails, naming the symbols whose PnL was lost.
"""

from __future__ import annotations

import threading

from harness.history.log import History
from harness.system.aggregator import SymbolMetrics


class LastWriteWins:
    """Keeps only the newest delta per symbol (the bug)."""

    def __init__(self) -> None:
        self._state: dict[str, SymbolMetrics] = {}
        self._lock = threading.Lock()

    def apply(self, symbol: str, delta: SymbolMetrics, *, worker: str, fence_token=None) -> str:
        """Overwrite instead of add."""
        with self._lock:
            self._state[symbol] = delta
        return "applied"

    def replace(self, symbol: str, snapshot: SymbolMetrics, *, worker: str, fence_token=None) -> bool:
        """Snapshots are taken as they come."""
        with self._lock:
            self._state[symbol] = snapshot
        return True

    def symbols(self) -> dict[str, SymbolMetrics]:
        """The (wrong) state."""
        with self._lock:
            return dict(sorted(self._state.items()))


def factory(history: History) -> LastWriteWins:
    """Plug-in entry point: ``--aggregator harness.examples.lossy_aggregator:factory``."""
    return LastWriteWins()
