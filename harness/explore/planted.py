"""Planted races: known-broken components a controlled exploration must catch, plugged in like a user's.

Each is a plug-in factory (``--guardian``/``--aggregator``/``--locks harness.explore.planted:...``):
a check-then-act guardian (its reserve checks and books in two critical sections), an
unlocked read-modify-write aggregator with a manual schedule point in its gap and one
without (only tracing shows that gap), and an in-process lock provider that frees each lock
as it grants it. ``table_locks`` is the reference lock table plugged in the same way. The
tests and ``bench/bench_races.py`` measure how soon each strategy finds each of them.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from harness import schedule
from harness.system.aggregator import SymbolMetrics
from harness.system.guardian.risk import Discipline, Guardian
from harness.system.locks.local import LockTable


def check_then_act(gap_s: float, plain_lock: bool = False) -> Any:
    """A guardian factory whose reserve checks and books in two steps ``gap_s`` apart (0: back to back).

    ``plain_lock``: its mutex is a plain ``threading.Lock`` made by the factory, as a user's would be.
    """
    def between() -> None:
        if gap_s:
            time.sleep(gap_s)

    def make(specs: Any, limits: Any, **kwargs: Any) -> Guardian:
        kwargs.update(discipline=Discipline.CHECK_THEN_ACT, between_check_and_act=between)
        if plain_lock:
            kwargs["mutex"] = threading.Lock()
        return Guardian(specs, limits, **kwargs)

    return make


class RacyAggregator:
    """Copy-on-write of the whole table without a lock: a concurrent update of another symbol is lost."""

    def __init__(self, history: Any = None) -> None:
        self._slots: dict[str, SymbolMetrics] = {}

    def apply(self, symbol: str, delta: SymbolMetrics, *, worker: str = "-", fence_token: Any = None) -> str:
        """Read, modify, write -- the user marked the gap as a scheduling point."""
        slots = dict(self._slots)
        schedule.point("racy.read")
        slots[symbol] = slots.get(symbol, SymbolMetrics()).plus(delta)
        self._slots = slots
        return "applied"

    def replace(self, symbol: str, snapshot: SymbolMetrics, *, worker: str = "-", fence_token: Any = None) -> bool:
        """Set a snapshot (same unlocked pattern)."""
        slots = dict(self._slots)
        schedule.point("racy.read")
        slots[symbol] = snapshot
        self._slots = slots
        return True

    def symbols(self) -> dict[str, SymbolMetrics]:
        """Current metrics."""
        return dict(self._slots)


def racy_aggregator(history: Any = None) -> RacyAggregator:
    """Factory for ``--aggregator``."""
    return RacyAggregator(history)


zero_gap_guardian = check_then_act(0)
short_gap_guardian = check_then_act(0.0003)


class UnmarkedAggregator(RacyAggregator):
    """The same unlocked read-modify-write with no schedule point: only tracing its attributes shows the gap."""

    def apply(self, symbol: str, delta: SymbolMetrics, *, worker: str = "-", fence_token: Any = None) -> str:
        """Read the table, modify a copy, write it back."""
        slots = dict(self._slots)
        slots[symbol] = slots.get(symbol, SymbolMetrics()).plus(delta)
        self._slots = slots
        return "applied"


def unmarked_aggregator(history: Any = None) -> UnmarkedAggregator:
    """Factory for ``--aggregator``."""
    return UnmarkedAggregator(history)


class EarlyRelease(LockTable):
    """An in-process lock provider that frees each lock as soon as it grants it, before the holder's write.

    The caller believes it holds the locks through its critical section (its client records
    the grant and, later, the release); in the table nobody holds them.
    """

    def take(self, client: str, names: Any, timeout: float) -> dict[str, int]:
        """Grant, then free at once: the bug."""
        tokens = super().take(client, names, timeout)
        super().give(client, names)
        return tokens

    def give(self, client: str, names: Any) -> None:
        """Already given back."""


def early_release(config: Any = None, history: Any = None) -> EarlyRelease:
    """Factory for ``--locks``."""
    return EarlyRelease()


def table_locks(config: Any = None, history: Any = None) -> LockTable:
    """The reference in-process lock table, plugged in with ``--locks`` like a user's provider."""
    return LockTable()
