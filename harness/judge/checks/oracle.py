"""The checkers' own reference model: positions, closed trades, metrics and breakers.

It imports nothing from ``harness.system.ledger``, ``harness.system.guardian`` or ``harness.system.aggregator``
on purpose: a judge that reuses the engine's code shares its bugs, and a bug shared by both
sides is invisible. It follows the documented rules instead (DESIGN.md, "Money and
statistics" and "Risk guardian"): a netting position keeps its cost and unallocated entry
fees; closing part of it allocates a quantized share of both (cost to lot x tick, fees to
the cent, half-even); a breaker trips on drawdown from the realised peak, on the realised
loss, or on a streak of losing trades -- the first that holds, once per scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

ZERO = Decimal(0)
CENT = Decimal("0.01")
SIDES = {"BUY": 1, "SELL": -1}


def _round(value: Decimal, step: Decimal) -> Decimal:
    """``value`` to a multiple of ``step``, half-even."""
    return (value / step).quantize(Decimal(1), rounding=ROUND_HALF_EVEN) * step


def dec(value: Any) -> Decimal | None:
    """A Decimal from a recorded number (strings stay exact); None stays None."""
    return None if value is None else Decimal(str(value))


@dataclass(frozen=True)
class OracleFill:
    """One execution as the history records it."""

    fill_id: str
    symbol: str
    sign: int
    qty: Decimal
    price: Decimal
    fee: Decimal

    @property
    def signed_qty(self) -> Decimal:
        """Quantity with the side's sign (+ buy, - sell)."""
        return self.qty * self.sign


def fill_from(symbol: str, payload: Mapping[str, Any]) -> OracleFill:
    """The fill an ``order.fill`` payload records."""
    return OracleFill(str(payload["fill"]), symbol, SIDES[str(payload["side"]).upper()], Decimal(str(payload["qty"])),
                      Decimal(str(payload["price"])), Decimal(str(payload["fee"])))


@dataclass
class Book:
    """One symbol's replayed position and the PnL of every trade it closed, in order."""

    step: Decimal  # lot x tick: the unit a position's cost is allocated in
    qty: Decimal = ZERO
    cost: Decimal = ZERO
    fees: Decimal = ZERO
    pnls: list[Decimal] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def apply(self, fill: OracleFill) -> Decimal | None:
        """Book a fill; the PnL of the trade it closed, if any (a repeated fill id books nothing)."""
        if fill.fill_id in self.seen:
            return None
        self.seen.add(fill.fill_id)
        if self.qty == 0 or (self.qty > 0) == (fill.sign > 0):
            self._open(fill.signed_qty, fill.price, fill.fee)
            return None
        closing = min(fill.qty, abs(self.qty))
        exit_fee = fill.fee if closing == fill.qty else _round(fill.fee * closing / fill.qty, CENT)
        pnl = self._close(closing, fill.price, exit_fee)
        if fill.qty > closing:
            self._open((fill.qty - closing) * fill.sign, fill.price, fill.fee - exit_fee)
        self.pnls.append(pnl)
        return pnl

    def _open(self, signed: Decimal, price: Decimal, fee: Decimal) -> None:
        self.qty += signed
        self.cost += signed * price
        self.fees += fee

    def _close(self, qty: Decimal, price: Decimal, exit_fee: Decimal) -> Decimal:
        whole = qty == abs(self.qty)
        share = qty / abs(self.qty)
        cost = self.cost if whole else _round(self.cost * share, self.step)
        entry_fee = self.fees if whole else _round(self.fees * share, CENT)
        long = self.qty > 0
        gross = qty * price - cost if long else -cost - qty * price
        self.qty -= qty if long else -qty
        self.cost -= cost
        self.fees -= entry_fee
        return gross - entry_fee - exit_fee


@dataclass(frozen=True)
class Tally:
    """Counts and PnL of closed trades; a rate is computed from counts, never averaged."""

    trades: int = 0
    wins: int = 0
    losses: int = 0
    breakeven: int = 0
    pnl: Decimal = ZERO

    @property
    def win_rate(self) -> Decimal:
        """Winning trades / closed trades (0 when none)."""
        return Decimal(self.wins) / Decimal(self.trades) if self.trades else ZERO

    def plus(self, other: Tally) -> Tally:
        """Both tallies together."""
        return Tally(self.trades + other.trades, self.wins + other.wins, self.losses + other.losses,
                     self.breakeven + other.breakeven, self.pnl + other.pnl)

    def brief(self) -> dict[str, object]:
        """JSON-ready fields for counterexamples."""
        return {"trades": self.trades, "wins": self.wins, "losses": self.losses, "breakeven": self.breakeven,
                "pnl": str(self.pnl)}


def tally(pnls: Iterable[Decimal]) -> Tally:
    """The tally of closed trades with these PnLs."""
    total = Tally()
    for p in pnls:
        total = total.plus(Tally(1, int(p > 0), int(p < 0), int(p == 0), p))
    return total


def tally_of(raw: Mapping[str, Any]) -> Tally:
    """The tally an aggregator state records for a symbol (``trades``/``wins``/... fields)."""
    return Tally(int(raw["trades"]), int(raw["wins"]), int(raw["losses"]), int(raw.get("breakeven", 0)),
                 Decimal(str(raw["pnl"])))


@dataclass(frozen=True)
class Breaker:
    """When a breaker must trip: drawdown (fraction of equity), loss (currency), loss streak."""

    max_drawdown: Decimal | None
    loss_limit: Decimal | None
    max_consecutive_losses: int | None

    def reason(self, equity: Decimal, realised: Decimal, peak: Decimal, streak: int) -> str | None:
        """The first condition that holds for this state, or None."""
        if self.max_drawdown is not None and (peak - realised) / equity >= self.max_drawdown:
            return "max_drawdown"
        if self.loss_limit is not None and -realised >= self.loss_limit:
            return "loss_limit"
        if self.max_consecutive_losses is not None and streak >= self.max_consecutive_losses:
            return "consecutive_losses"
        return None


def breaker_from(raw: Mapping[str, Any]) -> Breaker:
    """A breaker as ``run.start``'s ``risk_limits`` records it."""
    streak = raw.get("max_consecutive_losses")
    return Breaker(dec(raw.get("max_drawdown")), dec(raw.get("loss_limit")), None if streak is None else int(streak))


@dataclass
class BreakerState:
    """Realised PnL, its peak and the losing streak of one scope, and whether it has tripped."""

    realised: Decimal = ZERO
    peak: Decimal = ZERO
    streak: int = 0
    tripped: str | None = None

    def book(self, pnl: Decimal, breaker: Breaker, equity: Decimal) -> str | None:
        """Book one closed trade; the reason if the breaker trips on it (it trips once)."""
        self.realised += pnl
        self.peak = max(self.peak, self.realised)
        self.streak = self.streak + 1 if pnl < 0 else 0
        if self.tripped is not None:
            return None
        self.tripped = breaker.reason(equity, self.realised, self.peak, self.streak)
        return self.tripped


def worst_path(pnls: Iterable[Decimal]) -> tuple[Decimal, Decimal, int]:
    """(lowest realised, deepest drawdown from a peak starting at 0, longest losing streak) of one sequence."""
    realised = peak = low = drawdown = ZERO
    streak = longest = 0
    for p in pnls:
        realised += p
        peak = max(peak, realised)
        low = min(low, realised)
        drawdown = max(drawdown, peak - realised)
        streak = streak + 1 if p < 0 else 0
        longest = max(longest, streak)
    return low, drawdown, longest
