"""Small builders shared by the foundation tests (specs, fills, trades, event lookups)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from decimal import Decimal

from harness.history.log import Event, History
from harness.system.model import ClosedTrade, Fill, Side, SymbolSpec

_ids = itertools.count(1)


def spec(name: str = "TST", price: str = "100", tick: str = "0.01", lot: str = "1") -> SymbolSpec:
    """A synthetic instrument with the given price level, tick and lot."""
    return SymbolSpec(name, Decimal(price), Decimal(tick), Decimal(lot), Decimal("0.001"))


def fill(symbol: str, side: Side, qty: str | Decimal, price: str | Decimal, fee: str | Decimal = "0") -> Fill:
    """A fill with a fresh unique id."""
    n = next(_ids)
    return Fill(f"F{n}", f"O{n}", symbol, side, Decimal(qty), Decimal(price), Decimal(fee))


def trade(pnl: str | Decimal | int, symbol: str = "TST", n: int | None = None) -> ClosedTrade:
    """A closed trade whose only meaningful figure is its PnL."""
    n = next(_ids) if n is None else n
    one = Decimal(1)
    return ClosedTrade(symbol, f"T{n}", Side.BUY, one, one, one, Decimal(0), Decimal(pnl))


def kinds(events: Iterable[Event], kind: str) -> list[Event]:
    """The events of one kind, in the given order."""
    return [e for e in events if e.kind == kind]


def of_kind(history: History, kind: str) -> list[Event]:
    """The events of one kind in a history, in sequence order."""
    return kinds(history.events(), kind)
