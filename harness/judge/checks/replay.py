"""Replays a history's fills: the independent recomputation the checkers compare against.

The engine records what its ledger, aggregator and guardian decided; a checker must not
trust those figures. It rebuilds positions and closed trades from the ``order.fill`` events
alone, through the checkers' own model (``harness.judge.checks.oracle``), with the symbol specs
and limits of ``run.start``. A history recorded by another system without ``run.start``
falls back to the tick and lot implied by its own numbers. A run resumed after a crash
starts its guardian from recovered positions; its ``run.resume`` event says which, and the
exposure replay starts there.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from harness.history.events import ORDER_FILL, RUN_RESUME, RUN_START
from harness.history.log import Event
from harness.judge.checks.oracle import Book, Breaker, OracleFill, breaker_from, dec, fill_from

FINE = Decimal("1e-8")


@dataclass(frozen=True)
class Breakers:
    """The breaker limits ``run.start`` recorded: equity, per symbol and global."""

    equity: Decimal
    symbol: Breaker
    global_: Breaker


@dataclass(frozen=True)
class RunInfo:
    """What ``run.start`` says about a run (defaults when a history has none)."""

    seed: int | None
    mode: str | None
    symbols: tuple[str, ...]
    specs: Mapping[str, tuple[Decimal, Decimal]]
    equity: Decimal | None
    max_gross_exposure: Decimal | None
    max_symbol_exposure: Decimal | None
    trades: int | None
    duration: float | None
    risk_limits: Mapping[str, Any] | None

    def tick_lot(self, symbol: str) -> tuple[Decimal, Decimal]:
        """(tick, lot) of ``symbol``; the finest step when the history does not say."""
        return self.specs.get(symbol, (FINE, FINE))

    @property
    def breakers(self) -> Breakers | None:
        """The breaker limits, or None for a history that does not record them."""
        raw = self.risk_limits
        if not raw:
            return None
        return Breakers(Decimal(str(raw["equity"])), breaker_from(raw["symbol_breaker"]),
                        breaker_from(raw["global_breaker"]))


def run_info(events: Sequence[Event]) -> RunInfo:
    """The run's parameters from its first ``run.start`` event."""
    start = next((e.payload for e in events if e.kind == RUN_START), {})
    specs = {
        name: (Decimal(str(spec["tick"])), Decimal(str(spec["lot"])))
        for name, spec in (start.get("specs") or {}).items()
    }
    symbols = tuple(start.get("symbols") or sorted({e.symbol for e in events if e.symbol}))
    return RunInfo(
        start.get("seed"), start.get("mode"), symbols, specs, dec(start.get("equity")),
        dec(start.get("max_gross_exposure")), dec(start.get("max_symbol_exposure")),
        start.get("trades"), start.get("duration"), start.get("risk_limits"),
    )


def initial_positions(events: Sequence[Event]) -> dict[str, tuple[Decimal, Decimal]]:
    """(position, mark) per symbol a resumed run started from (its ``run.resume`` event), else none."""
    return resumed_positions(next((e.payload for e in events if e.kind == RUN_RESUME), {}))


def resumed_positions(resume: Mapping[str, Any]) -> dict[str, tuple[Decimal, Decimal]]:
    """(position, mark) per symbol of a ``run.resume`` payload."""
    return {name: (Decimal(str(p["position"])), Decimal(str(p["mark"])))
            for name, p in (resume.get("positions") or {}).items()}


def fill_of(event: Event) -> OracleFill:
    """The fill an ``order.fill`` event records."""
    return fill_from(str(event.symbol), event.payload)


def fills(events: Sequence[Event]) -> Iterator[tuple[Event, OracleFill]]:
    """Every fill of the history with the event that recorded it."""
    for event in events:
        if event.kind == ORDER_FILL:
            yield event, fill_of(event)


class Replay:
    """Books per symbol, fed fill by fill in history order."""

    def __init__(self, info: RunInfo) -> None:
        self._info = info
        self.books: dict[str, Book] = {}

    def apply(self, fill: OracleFill) -> Decimal | None:
        """Book one fill; the PnL of the trade it closed, if any."""
        book = self.books.get(fill.symbol)
        if book is None:
            tick, lot = self._info.tick_lot(fill.symbol)
            book = self.books[fill.symbol] = Book(tick * lot)
        return book.apply(fill)
