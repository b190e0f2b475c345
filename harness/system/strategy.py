"""A deterministic seeded strategy and a simulated venue with commission and slippage.

Both draw from random streams derived from (run seed, symbol, purpose), and their inputs
are the symbol's own feed and own fills only, so a symbol's orders and fills are the same
whatever the concurrency mode, the number of workers or their interleaving.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from harness.system.model import CENT, Fill, Order, Side, SymbolSpec, Tick, derive_seed, quantize

if TYPE_CHECKING:
    from harness.system.ports import PositionView


@dataclass(frozen=True)
class StrategyParams:
    """Knobs of the reference strategy."""

    open_probability: float = 0.35
    scale_in_probability: float = 0.08
    partial_close_probability: float = 0.08
    min_hold: int = 2
    max_hold: int = 10


class Strategy:
    """Fades moves away from the level, scales in, takes partial profits, closes after a hold."""

    def __init__(self, spec: SymbolSpec, seed: int, params: StrategyParams = StrategyParams()) -> None:
        self.spec = spec
        self.params = params
        self._rng = random.Random(derive_seed(seed, spec.name, "strategy"))
        self._orders = 0
        self._held = 0
        self._hold_for = 0

    def decide(self, tick: Tick, position: PositionView, flatten: bool = False, last: bool = False) -> Order | None:
        """The order to send at this tick, if any; ``flatten`` closes what is open.

        ``last``: the next closed trade is the last one asked for, so no partial close (a
        partial close would be a trade that leaves a position to flatten: one trade too many).
        """
        roll = self._rng.random()
        if position.qty == 0:
            if flatten or roll >= self.params.open_probability:
                return None
            self._held, self._hold_for = 0, self._rng.randint(self.params.min_hold, self.params.max_hold)
            # Lean against the move away from the symbol's level (the feed mean-reverts).
            side = Side.BUY if tick.price < self.spec.price else Side.SELL
            if self._rng.random() < 0.2:
                side = Side.SELL if side is Side.BUY else Side.BUY
            return self._order(tick, side, self._lots(self.spec.max_lots))
        self._held += 1
        closing = Side.SELL if position.qty > 0 else Side.BUY
        if flatten or self._held >= self._hold_for:
            return self._order(tick, closing, abs(position.qty))
        lots_held = int(abs(position.qty) / self.spec.lot)
        if roll < self.params.scale_in_probability and lots_held < self.spec.max_lots:
            opening = Side.BUY if position.qty > 0 else Side.SELL
            return self._order(tick, opening, self._lots(self.spec.max_lots - lots_held))
        if roll > 1 - self.params.partial_close_probability and lots_held > 1 and not last:
            return self._order(tick, closing, self.spec.lot * (lots_held // 2))
        return None

    def _lots(self, most: int) -> Decimal:
        return self.spec.lot * self._rng.randint(1, most)

    def _order(self, tick: Tick, side: Side, qty: Decimal) -> Order:
        self._orders += 1
        return Order(f"{self.spec.name}:O{self._orders}", self.spec.name, side, qty, tick.price)


@dataclass(frozen=True)
class VenueParams:
    """Costs of the simulated venue."""

    commission_rate: Decimal = Decimal("0.00005")
    max_slippage_ticks: int = 3


class SimulatedVenue:
    """Fills market orders with seeded adverse slippage and a proportional commission."""

    def __init__(self, spec: SymbolSpec, seed: int, params: VenueParams = VenueParams()) -> None:
        self.spec = spec
        self.params = params
        self._rng = random.Random(derive_seed(seed, spec.name, "venue"))
        self._fills = 0

    def worst_price(self, order: Order) -> Decimal:
        """Highest price a fill of ``order`` can have (what its notional can reach)."""
        return order.price + self.spec.tick * self.params.max_slippage_ticks

    def execute(self, order: Order) -> Fill:
        """Fill the whole order at its price moved against it by 0..max slippage ticks."""
        slip = self.spec.tick * self._rng.randint(0, self.params.max_slippage_ticks)
        price = order.price + slip * order.side.sign
        rate = self.params.commission_rate if self.spec.fee is None else self.spec.fee
        fee = quantize(order.qty * price * rate, CENT)
        self._fills += 1
        return Fill(f"{self.spec.name}:F{self._fills}", order.order_id, order.symbol, order.side, order.qty, price, fee)
