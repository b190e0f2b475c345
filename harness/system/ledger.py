"""Ledger: netting positions, volume-weighted entry, realised PnL net of fees.

Exactness without floats or rounding drift: the ledger keeps each position's *cost* (sum of
qty x price) and its unallocated entry fees, not an average price. Closing part of a
position allocates a share of both, quantized (cost to lot x tick, fees to the cent), and
keeps the remainder in the position; closing the rest allocates exactly what is left. So
every closed trade's PnL is a quantized Decimal, and once a position is flat the realised
total equals the cash that actually moved (sells - buys - fees), to the last digit.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from decimal import Decimal

from harness.system.model import CENT, ClosedTrade, Fill, Side, SymbolSpec, quantize

ZERO = Decimal(0)


@dataclass
class Position:
    """Net position of one symbol: signed quantity, cost of it, entry fees not yet realised."""

    qty: Decimal = ZERO
    cost: Decimal = ZERO
    open_fees: Decimal = ZERO

    @property
    def entry(self) -> Decimal:
        """Volume-weighted entry price (unrounded); zero when flat."""
        return self.cost / self.qty if self.qty else ZERO


@dataclass(frozen=True)
class LedgerState:
    """A frozen view of one symbol's ledger."""

    symbol: str
    qty: Decimal
    cost: Decimal
    open_fees: Decimal
    realised: Decimal
    fills: int
    closed: int


@dataclass
class Ledger:
    """Positions and realised PnL of one symbol; applying a fill twice is a no-op."""

    spec: SymbolSpec
    position: Position = field(default_factory=Position)
    realised: Decimal = ZERO
    trades: list[ClosedTrade] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def apply(self, fill: Fill) -> tuple[ClosedTrade, ...]:
        """Book a fill; return the trades it closed (empty for a duplicate fill)."""
        if fill.symbol != self.spec.name:
            raise ValueError(f"ledger of {self.spec.name} got a fill of {fill.symbol}")
        with self._lock:
            if fill.fill_id in self._seen:
                return ()
            self._seen.add(fill.fill_id)
            closed = self._book(fill)
            for trade in closed:
                self.realised += trade.pnl
            self.trades.extend(closed)
            return closed

    def _book(self, fill: Fill) -> tuple[ClosedTrade, ...]:
        pos = self.position
        signed = fill.signed_qty
        if pos.qty == 0 or (pos.qty > 0) == (signed > 0):
            self._open(fill.qty * fill.side.sign, fill.price, fill.fee)
            return ()
        closing = min(fill.qty, abs(pos.qty))
        close_fee = fill.fee if closing == fill.qty else quantize(fill.fee * closing / fill.qty, CENT)
        trade = self._close(fill, closing, close_fee)
        rest = fill.qty - closing
        if rest:
            self._open(rest * fill.side.sign, fill.price, fill.fee - close_fee)
        return (trade,)

    def _open(self, signed_qty: Decimal, price: Decimal, fee: Decimal) -> None:
        pos = self.position
        pos.qty += signed_qty
        pos.cost += signed_qty * price
        pos.open_fees += fee

    def _close(self, fill: Fill, qty: Decimal, exit_fee: Decimal) -> ClosedTrade:
        pos = self.position
        whole = qty == abs(pos.qty)
        share = qty / abs(pos.qty)
        cost = pos.cost if whole else quantize(pos.cost * share, self.spec.lot * self.spec.tick)
        entry_fee = pos.open_fees if whole else quantize(pos.open_fees * share, CENT)
        entry_price = self.spec.price_q(cost / (qty if pos.qty > 0 else -qty))
        side = Side.BUY if pos.qty > 0 else Side.SELL
        # Long: gain = proceeds - cost; short: cost is negative, gain = cost - buyback.
        gross = qty * fill.price - cost if side is Side.BUY else -cost - qty * fill.price
        fees = entry_fee + exit_fee
        pos.qty -= qty * side.sign
        pos.cost -= cost
        pos.open_fees -= entry_fee
        return ClosedTrade(
            self.spec.name, fill.fill_id, side, qty, entry_price, fill.price, fees, gross - fees
        )

    def state(self) -> LedgerState:
        """A frozen copy of the ledger's figures."""
        with self._lock:
            pos = self.position
            return LedgerState(
                self.spec.name, pos.qty, pos.cost, pos.open_fees, self.realised, len(self._seen), len(self.trades)
            )
