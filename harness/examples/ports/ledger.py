"""LedgerPort: a ledger that also keeps a fill journal, and a defective one for the gates to catch.

    harness run multi_symbol_stress --ledger harness.examples.ports.ledger:factory
    harness run multi_symbol_stress --ledger harness.examples.ports.ledger:fee_blind   # FAILs the PnL gate
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from harness.system.ledger import Ledger
from harness.system.model import ClosedTrade, Fill, SymbolSpec


class JournalLedger:
    """The reference netting arithmetic, plus every fill kept in order (a user's own addition)."""

    def __init__(self, spec: SymbolSpec) -> None:
        self._ledger = Ledger(spec)
        self.journal: list[Fill] = []

    @property
    def position(self):
        """The net position (``qty`` is what the worker reads)."""
        return self._ledger.position

    @property
    def trades(self) -> list[ClosedTrade]:
        """Closed trades so far."""
        return self._ledger.trades

    def apply(self, fill: Fill) -> tuple[ClosedTrade, ...]:
        """Journal and book a fill."""
        self.journal.append(fill)
        return self._ledger.apply(fill)


class FeeBlindLedger(JournalLedger):
    """The bug: reports each closed trade's PnL before fees."""

    def apply(self, fill: Fill) -> tuple[ClosedTrade, ...]:
        """Book a fill, then forget the fees in what it reports."""
        closed = super().apply(fill)
        return tuple(dataclasses.replace(t, pnl=t.pnl + t.fees, fees=Decimal(0)) for t in closed)


def factory(spec: SymbolSpec) -> JournalLedger:
    """``--ledger harness.examples.ports.ledger:factory``."""
    return JournalLedger(spec)


def fee_blind(spec: SymbolSpec) -> FeeBlindLedger:
    """``--ledger harness.examples.ports.ledger:fee_blind`` (defective)."""
    return FeeBlindLedger(spec)
