"""Value types of the trading domain: symbols, ticks, orders, fills, closed trades.

Money never touches a float: prices, quantities, fees and PnL are ``Decimal``, quantized
to the symbol's tick and lot size (fees to the account's cent), so totals reconcile
exactly and the same seed gives the same digits on every machine.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

CENT = Decimal("0.01")


def quantize(value: Decimal, step: Decimal) -> Decimal:
    """Round ``value`` to a multiple of ``step`` (banker's rounding)."""
    return (value / step).quantize(Decimal(1), rounding=ROUND_HALF_EVEN) * step


def derive_seed(seed: int, *parts: str) -> int:
    """A stable 64-bit seed for one stream (symbol, purpose) of a run's seed."""
    digest = hashlib.blake2b(f"{seed}|{'|'.join(parts)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class Side(str, enum.Enum):
    """Direction of an order or fill."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell."""
        return 1 if self is Side.BUY else -1


@dataclass(frozen=True)
class SymbolSpec:
    """How one instrument trades: price level, tick, lot, volatility per tick."""

    name: str
    price: Decimal
    tick: Decimal
    lot: Decimal
    volatility: Decimal
    max_lots: int = 5
    fee: Decimal | None = None  # commission rate of this symbol (None: the venue's)

    def price_q(self, value: Decimal) -> Decimal:
        """Quantize a price to the tick."""
        return quantize(value, self.tick)

    def qty_q(self, value: Decimal) -> Decimal:
        """Quantize a quantity to the lot."""
        return quantize(value, self.lot)


DEFAULT_SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec("BTCUSD.s", Decimal("43250.00"), Decimal("0.01"), Decimal("0.1"), Decimal("0.0008")),
    SymbolSpec("ETHUSD.s", Decimal("2530.00"), Decimal("0.01"), Decimal("1"), Decimal("0.0010")),
    SymbolSpec("XAUUSD.s", Decimal("2045.00"), Decimal("0.01"), Decimal("1"), Decimal("0.0006")),
)


def symbol_specs(names: Iterable[str] | None = None) -> tuple[SymbolSpec, ...]:
    """Specs for the named symbols: the defaults by name, others synthesised."""
    known = {spec.name: spec for spec in DEFAULT_SYMBOLS}
    if names is None:
        return DEFAULT_SYMBOLS
    specs = []
    for name in names:
        if not name or any(ch.isspace() or ch == "," for ch in name):
            raise ValueError(f"bad symbol name {name!r}")
        if name in known:
            specs.append(known[name])
        else:
            # Unknown symbols get a stable, seed-independent price level so runs stay comparable.
            level = Decimal(100 + derive_seed(0, name) % 900)
            specs.append(SymbolSpec(name, level, Decimal("0.01"), Decimal("1"), Decimal("0.0010")))
    if len({s.name for s in specs}) != len(specs):
        raise ValueError("symbols must be distinct")
    return tuple(specs)


@dataclass(frozen=True)
class Tick:
    """One price observation of a symbol."""

    symbol: str
    index: int
    price: Decimal


@dataclass(frozen=True)
class Order:
    """A market order the strategy wants filled."""

    order_id: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal

    @property
    def signed_qty(self) -> Decimal:
        """Quantity with the side's sign."""
        return self.qty * self.side.sign


@dataclass(frozen=True)
class Fill:
    """An execution of an order at a price, with its commission."""

    fill_id: str
    order_id: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal

    @property
    def signed_qty(self) -> Decimal:
        """Quantity with the side's sign."""
        return self.qty * self.side.sign


@dataclass(frozen=True)
class ClosedTrade:
    """A position (or part of one) opened and closed: realised PnL net of fees."""

    symbol: str
    trade_id: str
    side: Side
    qty: Decimal
    entry: Decimal
    exit: Decimal
    fees: Decimal
    pnl: Decimal

    @property
    def outcome(self) -> str:
        """"win", "loss" or "breakeven" -- a breakeven trade is not a win."""
        return "win" if self.pnl > 0 else "loss" if self.pnl < 0 else "breakeven"
