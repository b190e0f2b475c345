"""Known-broken components the controlled scheduler must catch (plugged in like a user's)."""

from __future__ import annotations

import threading
import time
from typing import Any

from harness import schedule
from harness.system.aggregator import SymbolMetrics
from harness.system.guardian.risk import Discipline, Guardian


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
