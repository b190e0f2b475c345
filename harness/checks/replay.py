"""Replays a history's fills: the independent recomputation the checkers compare against.

The engine records what its ledger, aggregator and guardian decided; a checker must not
trust those figures. It rebuilds positions and closed trades from the ``order.fill`` events
alone (with the symbol specs of ``run.start``) and compares. A history recorded by another
system without ``run.start`` falls back to the tick and lot implied by its own numbers. A
run resumed after a crash starts its guardian from recovered positions; its ``run.resume``
event says which, and the exposure replay starts there.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from harness.guardian.risk import BreakerLimits, RiskLimits
from harness.history import Event
from harness.ledger import Ledger
from harness.model import Fill, Side, SymbolSpec

ONE = Decimal(1)


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
    limits: RiskLimits | None

    def spec(self, symbol: str) -> SymbolSpec:
        """A spec for replaying ``symbol`` (tick and lot; price level irrelevant here)."""
        tick, lot = self.specs.get(symbol, (Decimal("1e-8"), Decimal("1e-8")))
        return SymbolSpec(symbol, ONE, tick, lot, Decimal(0))


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def run_info(events: Sequence[Event]) -> RunInfo:
    """The run's parameters from its first ``run.start`` event."""
    start = next((e.payload for e in events if e.kind == "run.start"), {})
    specs = {
        name: (Decimal(str(spec["tick"])), Decimal(str(spec["lot"])))
        for name, spec in (start.get("specs") or {}).items()
    }
    symbols = tuple(start.get("symbols") or sorted({e.symbol for e in events if e.symbol}))
    return RunInfo(
        start.get("seed"), start.get("mode"), symbols, specs, _dec(start.get("equity")),
        _dec(start.get("max_gross_exposure")), _dec(start.get("max_symbol_exposure")),
        start.get("trades"), start.get("duration"), _limits(start.get("risk_limits")),
    )


def _limits(raw: Mapping[str, Any] | None) -> RiskLimits | None:
    """The RiskLimits a run.start recorded (None for histories that do not say)."""
    if not raw:
        return None

    def breaker(b: Mapping[str, Any]) -> BreakerLimits:
        return BreakerLimits(_dec(b["max_drawdown"]), _dec(b["loss_limit"]), b["max_consecutive_losses"])

    return RiskLimits(Decimal(str(raw["equity"])), Decimal(str(raw["max_gross_exposure"])),
                      Decimal(str(raw["max_symbol_exposure"])), breaker(raw["symbol_breaker"]),
                      breaker(raw["global_breaker"]))


def initial_positions(events: Sequence[Event]) -> dict[str, tuple[Decimal, Decimal]]:
    """(position, mark) per symbol a resumed run started from (its ``run.resume`` event), else none."""
    resume = next((e.payload for e in events if e.kind == "run.resume"), {})
    return {name: (Decimal(str(p["position"])), Decimal(str(p["mark"])))
            for name, p in (resume.get("positions") or {}).items()}


def fill_of(event: Event) -> Fill:
    """The Fill an ``order.fill`` event records."""
    p = event.payload
    return Fill(
        str(p["fill"]), str(p["order"]), str(event.symbol), Side(p["side"]),
        Decimal(str(p["qty"])), Decimal(str(p["price"])), Decimal(str(p["fee"])),
    )


def fills(events: Sequence[Event]) -> Iterator[tuple[Event, Fill]]:
    """Every fill of the history with the event that recorded it."""
    for event in events:
        if event.kind == "order.fill":
            yield event, fill_of(event)


def replay_ledgers(events: Sequence[Event]) -> dict[str, Ledger]:
    """Fresh ledgers fed with every fill of the history, per symbol."""
    info = run_info(events)
    ledgers: dict[str, Ledger] = {}
    for _, fill in fills(events):
        ledger = ledgers.get(fill.symbol)
        if ledger is None:
            ledger = ledgers[fill.symbol] = Ledger(info.spec(fill.symbol))
        ledger.apply(fill)
    return ledgers
