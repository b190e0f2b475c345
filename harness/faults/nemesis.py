"""The nemesis: injects persistence outages during a run, one failure-policy row at a time.

Jepsen's name for the process that breaks things on purpose. Each ``FaultRow`` blackholes
one or more layers through their ``FaultProxy``, waits until the failure policy has seen the
layers go down, heals them, and waits until the policy has seen them come back -- so every
row really happened while trading went on, without a sleep deciding when. Injections and
heals are events (worker ``nemesis``) in the run's history, which is how the checker finds
each row's window.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.faults.proxy import FaultProxy
from harness.history.events import FAULT_HEAL, FAULT_INJECT, FAULT_OVER, ORDER_FILL, f
from harness.history.log import Event, History
from harness.judge.evidence import Evidence, evidence_record

AREA = "Failure Policy under Injected Faults"
WORKER = "nemesis"


@dataclass(frozen=True)
class FaultRow:
    """One row of the failure policy: which layers go down, and the alert level expected."""

    name: str
    layers: tuple[str, ...]
    expected_level: str


POLICY_ROWS = (
    FaultRow("Redis lost", ("cache",), "P1"),
    FaultRow("Database down", ("history",), "P1"),
    FaultRow("Both down (fail-open)", ("cache", "history"), "P0"),
)


class Nemesis:
    """Runs fault rows in a thread against proxies, then sets ``done``."""

    def __init__(self, rows: Sequence[FaultRow], proxies: Mapping[str, FaultProxy],
                 wait: Callable[[str, bool, float], bool], history: History, timeout_s: float = 30.0) -> None:
        self.rows, self._proxies, self._wait, self._history = tuple(rows), proxies, wait, history
        self._timeout = timeout_s
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nemesis", daemon=True)

    def start(self, *_: Any) -> None:
        """Begin the rows (accepts and ignores the engine's on_guardian argument)."""
        self._thread.start()

    def join(self) -> None:
        """Wait until every row is done."""
        self._thread.join()

    def _run(self) -> None:
        try:
            for row in self.rows:
                self._row(row)
        finally:
            self.done.set()

    def _row(self, row: FaultRow) -> None:
        record = self._history.append
        for layer in row.layers:
            self._proxies[layer].set_fault("blackhole")
        record(FAULT_INJECT, worker=WORKER, row=row.name, layers=list(row.layers), fault="blackhole")
        seen_down = all(self._wait(layer, True, self._timeout) for layer in row.layers)
        for proxy in (self._proxies[layer] for layer in row.layers):
            proxy.heal()
        record(FAULT_HEAL, worker=WORKER, row=row.name, seen_down=seen_down)
        seen_up = all(self._wait(layer, False, self._timeout) for layer in row.layers)
        record(FAULT_OVER, worker=WORKER, row=row.name, seen_up=seen_up)


@evidence_record
class RowFigures:
    """What happened in one policy row's window (only the first three when it was never injected)."""

    row: str = f("the row's name")
    expected: str = f("the alert level the row must raise")
    injected: bool = f("the nemesis injected and ended the row (fault.inject ... fault.over)")
    alerts: tuple[str, ...] = f("LEVEL:layer of each alert raised in the window", default=())
    expected_seen: bool = f("an alert of the expected level was raised", default=False)
    degraded_then_healthy: bool = f("health went DEGRADED first and HEALTHY last", default=False)
    fills_while_down: int = f("fills during the window: trading went on", "count", default=0)


@evidence_record
class FaultRowsFigures:
    """Each row of the failure policy the nemesis went through."""

    rows: tuple[RowFigures, ...] = f("the rows, in the order they ran")


def check_fault_rows(events: Sequence[Event], rows: Sequence[FaultRow]) -> Evidence[FaultRowsFigures]:
    """Per row: alerts raised in its window, degraded then healthy, trading during the outage."""
    return Evidence(AREA, FaultRowsFigures(tuple(_row_figures(events, row) for row in rows)))


def _row_figures(events: Sequence[Event], row: FaultRow) -> RowFigures:
    window = _window(events, row.name)
    if window is None:
        return RowFigures(row.name, row.expected_level, injected=False)
    start, end = window
    inside = [e for e in events if start <= e.seq <= end]
    alerts = [(e.payload["level"], e.payload["layer"]) for e in inside if e.kind == "alert"]
    health = [e.payload["state"] for e in inside if e.kind == "health"]
    return RowFigures(
        row=row.name,
        expected=row.expected_level,
        injected=True,
        alerts=tuple(f"{level}:{layer}" for level, layer in alerts),
        expected_seen=any(level == row.expected_level for level, _ in alerts),
        degraded_then_healthy=health[:1] == ["DEGRADED"] and health[-1:] == ["HEALTHY"],
        fills_while_down=sum(1 for e in inside if e.kind == ORDER_FILL),
    )


def _window(events: Sequence[Event], row: str) -> tuple[int, int] | None:
    marks = {e.kind: e.seq for e in events if e.worker == WORKER and e.payload.get("row") == row}
    if FAULT_INJECT not in marks or FAULT_OVER not in marks:
        return None
    return marks[FAULT_INJECT], marks[FAULT_OVER]
