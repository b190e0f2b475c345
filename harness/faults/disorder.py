"""A disorderly delivery channel between workers and aggregators, for PnL consistency runs.

Real metric pipelines duplicate, delay and reorder messages. ``DisorderlyChannel`` takes
every INCREMENTAL delta a worker publishes and delivers it -- possibly twice, possibly
later, in shuffled order -- to an INCREMENTAL aggregator, and delivers the matching
cumulative snapshot the same way to a REPLACE aggregator. Both must still end equal to the
ledger. The disorder is drawn from a seeded RNG, so a failing run replays exactly.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

from harness.system.aggregator import SymbolMetrics
from harness.system.model import derive_seed
from harness.system.ports import AggregatorPort


@dataclass(frozen=True)
class DisorderStatistics:
    """How much disorder was injected."""

    published: int
    duplicated: int
    delayed: int
    delivered: int


class DisorderlyChannel:
    """Aggregator port that fans deltas out to an INCREMENTAL and a REPLACE aggregator, badly."""

    def __init__(self, incremental: AggregatorPort, replace: AggregatorPort, seed: int,
                 duplicate: float = 0.2, delay: float = 0.3) -> None:
        self.incremental, self.replacing = incremental, replace
        # One random stream and one held-back queue per symbol: a symbol's disorder is then the
        # same whatever order the worker threads happen to call in (one shared stream made it vary).
        self._seed = seed
        self._rngs: dict[str, random.Random] = {}
        self._duplicate, self._delay = duplicate, delay
        self._totals: dict[str, SymbolMetrics] = {}
        self._held: dict[str, list[tuple[str, str, SymbolMetrics, str, Any]]] = {}
        self._lock = threading.Lock()
        self._published = self._duplicated = self._delayed = self._delivered = 0

    def apply(self, symbol: str, delta: SymbolMetrics, *, worker: str, fence_token: Any) -> None:
        """Publish one delta (and the snapshot it makes); deliver whatever is due, shuffled."""
        with self._lock:
            total = self._totals.get(symbol, SymbolMetrics()).plus(delta)
            self._totals[symbol] = total
            self._published += 1
            messages = [("apply", symbol, delta, worker, fence_token), ("replace", symbol, total, worker, fence_token)]
            rng = self._rng(symbol)
            held = self._held.setdefault(symbol, [])
            for message in list(messages):
                if rng.random() < self._duplicate:
                    messages.append(message)
                    self._duplicated += 1
            due = []
            for message in messages:
                if rng.random() < self._delay:
                    held.append(message)
                    self._delayed += 1
                else:
                    due.append(message)
            if held and rng.random() < 0.5:
                due += held
                held.clear()
            rng.shuffle(due)
            self._deliver(due)

    def _rng(self, symbol: str) -> random.Random:
        if symbol not in self._rngs:
            self._rngs[symbol] = random.Random(derive_seed(self._seed, "disorder", symbol))
        return self._rngs[symbol]

    def replace(self, symbol: str, snapshot: SymbolMetrics, *, worker: str, fence_token: Any) -> None:
        """Snapshots are derived from deltas here; a worker's own snapshot goes straight through."""
        self.replacing.replace(symbol, snapshot, worker=worker, fence_token=fence_token)

    def flush(self) -> None:
        """Deliver everything still held back (end of run), shuffled per symbol."""
        with self._lock:
            for symbol in sorted(self._held):
                held, self._held[symbol] = self._held[symbol], []
                self._rng(symbol).shuffle(held)
                self._deliver(held)

    def _deliver(self, messages: list[tuple[str, str, SymbolMetrics, str, Any]]) -> None:
        for kind, symbol, metrics, worker, _token in messages:
            # Fencing is not what this channel tests: reordered messages carry older tokens.
            target = self.incremental if kind == "apply" else self.replacing
            getattr(target, kind)(symbol, metrics, worker=worker, fence_token=None)
            self._delivered += 1

    def symbols(self) -> dict[str, SymbolMetrics]:
        """The INCREMENTAL aggregator's state (what the run records as ``agg.state``)."""
        self.flush()
        return dict(self.incremental.symbols())

    def statistics(self) -> DisorderStatistics:
        """A frozen copy of the disorder counters."""
        with self._lock:
            return DisorderStatistics(self._published, self._duplicated, self._delayed, self._delivered)
