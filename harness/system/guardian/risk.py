"""Risk guardian: exposure limits checked and reserved atomically, circuit breakers, health.

Exposure of a symbol is |position| x mark, where the mark is the symbol's last fill price;
global exposure is the sum over symbols divided by the configured equity. (Equity is the
capital allocated to the engine, not equity marked to market: a loss in one symbol must
not push another symbol over its limit without that symbol trading.)

The pre-trade check counts *pending* orders: a reservation books the order's worst-case
effect -- its quantity at its worst fill price (the price plus the broker's maximum
slippage) -- before the order leaves, and the fill settles it. Check and reserve happen
in one critical section, so two workers cannot both see room for one order. Since a fill
never executes beyond its worst price, exposure replayed at every fill stays within the
limit.

State lives in a flat array of integers (lots, ticks, 1e-8 money units) so that one
implementation serves threads (a list and a ``threading.Lock``) and processes (a
``multiprocessing.Array`` and a ``multiprocessing.Lock``) with exact arithmetic.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from harness import schedule
from harness.history.events import (
    FENCE_ACCEPT,
    FENCE_REJECT,
    RISK_CANCEL,
    RISK_REFUSE,
    RISK_RESERVE,
    RISK_SETTLE,
    RISK_TRIP,
)
from harness.history.log import History
from harness.system.locks.fence import StaleToken
from harness.system.locks.protocol import GLOBAL_LOCK
from harness.system.model import ClosedTrade, Fill, Order, SymbolSpec

MONEY = Decimal("1e-8")
ZERO = Decimal(0)


class Health(str, enum.Enum):
    """HEALTHY; DEGRADED: a persistence layer is down, trading goes on; HALTED: breaker tripped."""

    HEALTHY = "HEALTHY"
    DEGRADED = "DEGRADED"
    HALTED = "HALTED"


class Discipline(str, enum.Enum):
    """How reserve is done; CHECK_THEN_ACT exists only as a known-broken control."""

    ATOMIC = "atomic"
    CHECK_THEN_ACT = "check_then_act"


def _positive(value: Decimal | int) -> bool:
    """Finite and above zero (NaN and infinities are not)."""
    return Decimal(value).is_finite() and value > 0


@dataclass(frozen=True)
class BreakerLimits:
    """When a breaker trips: drawdown (fraction of equity), loss (currency), loss streak."""

    max_drawdown: Decimal | None = Decimal("0.10")
    loss_limit: Decimal | None = Decimal("20000")
    max_consecutive_losses: int | None = 10

    def __post_init__(self) -> None:
        for name in ("max_drawdown", "loss_limit", "max_consecutive_losses"):
            value = getattr(self, name)
            if value is not None and not _positive(value):
                raise ValueError(f"{name}: must be positive or unset, got {value}")


@dataclass(frozen=True)
class RiskLimits:
    """Exposure limits (fractions of equity) and breaker limits per symbol and global."""

    equity: Decimal = Decimal("200000")
    max_gross_exposure: Decimal = Decimal("0.60")
    max_symbol_exposure: Decimal = Decimal("0.30")
    symbol_breaker: BreakerLimits = BreakerLimits()
    global_breaker: BreakerLimits = BreakerLimits(max_consecutive_losses=None)

    def __post_init__(self) -> None:
        for name in ("equity", "max_gross_exposure", "max_symbol_exposure"):
            if not _positive(getattr(self, name)):
                raise ValueError(f"{name}: must be a positive number, got {getattr(self, name)}")



# Per-symbol slots, then global slots, in the flat state array.
POS, MARK, PEND_BUY, PEND_SELL, PEND_PX, REALISED, PEAK, STREAK, TRIPPED = range(9)
SYMBOL_SLOTS = 9
G_REALISED, G_PEAK, G_STREAK, G_TRIPPED, G_DEGRADED, G_TRIPS, G_FENCE = range(7)
GLOBAL_SLOTS = 7
TRIP_REASONS = ("", "max_drawdown", "loss_limit", "consecutive_losses")


def state_size(symbols: int) -> int:
    """Number of integers the state array needs for ``symbols`` symbols."""
    return symbols * SYMBOL_SLOTS + GLOBAL_SLOTS


@dataclass(frozen=True)
class Reservation:
    """An admitted order's booked worst-case effect, to settle or cancel."""

    order_id: str
    symbol: str
    buy_lots: int
    sell_lots: int
    price_ticks: int


@dataclass(frozen=True)
class Refusal:
    """Why the guardian refused an order."""

    order_id: str
    reason: str


@dataclass(frozen=True)
class SymbolRisk:
    """A frozen view of one symbol's risk state."""

    position: Decimal
    mark: Decimal
    exposure: Decimal
    realised: Decimal
    streak: int
    tripped: str


@dataclass(frozen=True)
class GuardianSnapshot:
    """A frozen view of the whole guardian."""

    health: Health
    gross_exposure: Decimal
    exposure_ratio: Decimal
    realised: Decimal
    tripped: str
    trips: int
    symbols: Mapping[str, SymbolRisk]


class Guardian:
    """Exposure book, breakers and health over a shared integer state array."""

    def __init__(
        self,
        specs: Sequence[SymbolSpec],
        limits: RiskLimits,
        *,
        state: Any | None = None,
        mutex: Any | None = None,
        history: History | None = None,
        discipline: Discipline = Discipline.ATOMIC,
        between_check_and_act: Callable[[], None] | None = None,
    ) -> None:
        self.specs = tuple(specs)
        self.limits = limits
        self._index = {spec.name: i for i, spec in enumerate(self.specs)}
        self._state = state if state is not None else [0] * state_size(len(self.specs))
        self._mutex = mutex if mutex is not None else schedule.Lock("guardian")
        self._history = history
        self._discipline = discipline
        self._between = between_check_and_act
        self._g = len(self.specs) * SYMBOL_SLOTS

    # -- state access -----------------------------------------------------------------
    def _slot(self, symbol: str, field: int) -> int:
        return self._index[symbol] * SYMBOL_SLOTS + field

    def _get(self, symbol: str, field: int) -> int:
        return self._state[self._slot(symbol, field)]

    def _set(self, symbol: str, field: int, value: int) -> None:
        self._state[self._slot(symbol, field)] = value

    def _symbol_exposure(self, i: int, extra_buy: int = 0, extra_sell: int = 0, extra_px: int = 0) -> Decimal:
        spec = self.specs[i]
        base = i * SYMBOL_SLOTS
        pos, mark = self._state[base + POS], self._state[base + MARK]
        buys, sells = self._state[base + PEND_BUY] + extra_buy, self._state[base + PEND_SELL] + extra_sell
        lots = abs(pos) * mark
        if buys or sells:
            px = max(mark, self._state[base + PEND_PX], extra_px)
            lots = max(lots, abs(pos + buys) * px, abs(pos - sells) * px)
        return lots * spec.lot * spec.tick

    def _gross(self) -> Decimal:
        return sum((self._symbol_exposure(i) for i in range(len(self.specs))), ZERO)

    # -- pre-trade --------------------------------------------------------------------
    def reserve(self, order: Order, worst_price: Decimal, worker: str = "-") -> Reservation | Refusal:
        """Admit an order and book its worst-case exposure, or refuse it; one atomic step."""
        spec = self.specs[self._index[order.symbol]]
        lots = int(order.qty / spec.lot)
        res = Reservation(
            order.order_id, order.symbol,
            lots if order.signed_qty > 0 else 0, lots if order.signed_qty < 0 else 0,
            int(worst_price / spec.tick),
        )
        with self._mutex:
            verdict = self._check(order, res)
            if self._discipline is Discipline.ATOMIC and verdict is None:
                self._book(res, +1)
        if self._discipline is Discipline.CHECK_THEN_ACT and verdict is None:
            # The known race: another worker may book between this check and this act.
            if self._between is not None:
                self._between()
            with self._mutex:
                self._book(res, +1)
        if verdict is not None:
            self._record(RISK_REFUSE, worker, order.symbol, order=order.order_id, reason=verdict)
            return Refusal(order.order_id, verdict)
        self._record(
            RISK_RESERVE, worker, order.symbol, order=order.order_id, side=order.side, qty=order.qty,
            worst_price=worst_price,
        )
        return res

    def _check(self, order: Order, res: Reservation) -> str | None:
        i = self._index[order.symbol]
        halted = self._state[self._g + G_TRIPPED] or self._get(order.symbol, TRIPPED)
        if halted and not self._reducing(order.symbol, res):
            return "halted"
        # Risk-reducing orders are checked too: closing part of a position at a higher
        # price re-marks the rest, which can push the symbol over its limit.
        equity = self.limits.equity
        symbol_after = self._symbol_exposure(i, res.buy_lots, res.sell_lots, res.price_ticks)
        if symbol_after > self.limits.max_symbol_exposure * equity:
            return "symbol_exposure"
        gross_after = self._gross() - self._symbol_exposure(i) + symbol_after
        if gross_after > self.limits.max_gross_exposure * equity:
            return "gross_exposure"
        return None

    def _reducing(self, symbol: str, res: Reservation) -> bool:
        """True when the order, after every pending order on the same side, only shrinks |position|."""
        pos = self._get(symbol, POS)
        if res.sell_lots:
            return pos > 0 and pos - self._get(symbol, PEND_SELL) - res.sell_lots >= 0
        return pos < 0 and pos + self._get(symbol, PEND_BUY) + res.buy_lots <= 0

    def _book(self, res: Reservation, direction: int) -> None:
        book_pending(self._state, self._slot(res.symbol, 0), res.buy_lots, res.sell_lots, res.price_ticks, direction)

    def cancel(self, res: Reservation, worker: str = "-") -> None:
        """Drop a reservation whose order did not fill."""
        with self._mutex:
            self._book(res, -1)
        self._record(RISK_CANCEL, worker, res.symbol, order=res.order_id)

    # -- post-trade -------------------------------------------------------------------
    def settle(
        self, res: Reservation, fill: Fill, closed: Sequence[ClosedTrade], worker: str = "-", token: int | None = None
    ) -> None:
        """Turn a reservation into position, mark and realised PnL; update breakers.

        ``token`` is the fencing token of the global exposure lock: the book keeps the
        newest one in its shared state and rejects an older one (raising StaleToken). A
        lock service without tokens (None) is admitted and recorded with ``token: null``, so
        the checker still judges the write against its holder's lease.
        """
        spec = self.specs[self._index[fill.symbol]]
        trips: list[tuple[str, str, Decimal, Decimal]] = []
        with self._mutex:
            self._fence(token, worker, fill.symbol)
            self._book(res, -1)
            self._set(fill.symbol, POS, self._get(fill.symbol, POS) + int(fill.signed_qty / spec.lot))
            self._set(fill.symbol, MARK, int(fill.price / spec.tick))
            for trade in closed:
                trips.extend(self._after_trade(fill.symbol, trade))
            gross = self._gross()
            position = self._get(fill.symbol, POS) * spec.lot
        self._record(
            RISK_SETTLE, worker, fill.symbol, order=res.order_id, fill=fill.fill_id, position=position,
            mark=fill.price, gross_exposure=gross, exposure_ratio=gross / self.limits.equity,
        )
        for scope, reason, value, threshold in trips:
            self._record(RISK_TRIP, worker, fill.symbol, scope=scope, reason=reason, value=value, threshold=threshold)

    def _fence(self, token: int | None, worker: str, symbol: str) -> None:
        newest = self._state[self._g + G_FENCE]
        if token is None:
            self._record(FENCE_ACCEPT, worker, symbol, resource="exposure", lock=GLOBAL_LOCK, token=None)
            return
        if token < newest:
            self._record(
                FENCE_REJECT, worker, symbol, resource="exposure", lock=GLOBAL_LOCK, token=token, newest=newest
            )
            raise StaleToken(f"exposure: token {token} on {GLOBAL_LOCK} is older than {newest}")
        self._state[self._g + G_FENCE] = token
        self._record(FENCE_ACCEPT, worker, symbol, resource="exposure", lock=GLOBAL_LOCK, token=token)

    def _after_trade(self, symbol: str, trade: ClosedTrade) -> list[tuple[str, str, Decimal, Decimal]]:
        return book_trade(self._state, self._slot(symbol, 0), self._g, int(trade.pnl / MONEY), self.limits)

    # -- health and views -------------------------------------------------------------
    def set_degraded(self, degraded: bool) -> None:
        """Mark a persistence layer down (True) or all back (False)."""
        with self._mutex:
            self._state[self._g + G_DEGRADED] = int(degraded)

    def health(self) -> Health:
        """HALTED if the global breaker tripped, DEGRADED if persistence is down, else HEALTHY."""
        if self._state[self._g + G_TRIPPED]:
            return Health.HALTED
        return Health.DEGRADED if self._state[self._g + G_DEGRADED] else Health.HEALTHY

    def snapshot(self) -> GuardianSnapshot:
        """A consistent frozen view of exposure, PnL, breakers and health."""
        with self._mutex:
            symbols = {}
            for i, spec in enumerate(self.specs):
                base = i * SYMBOL_SLOTS
                st = self._state
                symbols[spec.name] = SymbolRisk(
                    st[base + POS] * spec.lot, st[base + MARK] * spec.tick, self._symbol_exposure(i),
                    st[base + REALISED] * MONEY, st[base + STREAK], TRIP_REASONS[st[base + TRIPPED]],
                )
            gross = self._gross()
            g = self._g
            return GuardianSnapshot(
                self.health(), gross, gross / self.limits.equity, self._state[g + G_REALISED] * MONEY,
                TRIP_REASONS[self._state[g + G_TRIPPED]], self._state[g + G_TRIPS], symbols,
            )

    def state_vector(self) -> list[int]:
        """The raw state integers, for checkpoints and caches."""
        with self._mutex:
            return list(self._state)

    def load_state(self, values: Sequence[int]) -> None:
        """Restore raw state integers (from a checkpoint or cache)."""
        if len(values) != len(self._state):
            raise ValueError(f"state has {len(values)} values, guardian needs {len(self._state)}")
        with self._mutex:
            for i, value in enumerate(values):
                self._state[i] = int(value)

    def _record(self, kind: str, worker: str, symbol: str, **payload: Any) -> None:
        if self._history is not None:
            self._history.append(kind, worker=worker, symbol=symbol, **payload)


# -- operations on the state array, shared with the checkpoint's replay of events ----------


def book_pending(state: Any, base: int, buy_lots: int, sell_lots: int, price_ticks: int, direction: int) -> None:
    """Add (direction +1) or remove (-1) an order's pending lots on the symbol at ``base``."""
    state[base + PEND_BUY] += direction * buy_lots
    state[base + PEND_SELL] += direction * sell_lots
    if direction > 0:
        state[base + PEND_PX] = max(state[base + PEND_PX], price_ticks)
    elif state[base + PEND_BUY] == 0 and state[base + PEND_SELL] == 0:
        state[base + PEND_PX] = 0


def book_trade(state: Any, base: int, g: int, units: int, limits: RiskLimits) -> list[tuple[str, str, Decimal, Decimal]]:
    """Book a closed trade's PnL (in 1e-8 units) on the symbol at ``base`` and globally; return new trips."""
    trips = []
    for scope, r, peak, streak, tripped, breaker in (
        ("symbol", base + REALISED, base + PEAK, base + STREAK, base + TRIPPED, limits.symbol_breaker),
        ("global", g + G_REALISED, g + G_PEAK, g + G_STREAK, g + G_TRIPPED, limits.global_breaker),
    ):
        state[r] += units
        state[peak] = max(state[peak], state[r])
        state[streak] = state[streak] + 1 if units < 0 else 0
        if state[tripped]:
            continue
        found = breaker_trip(breaker, limits.equity, state[r] * MONEY, state[peak] * MONEY, state[streak])
        if found is not None:
            state[tripped] = TRIP_REASONS.index(found[0])
            state[g + G_TRIPS] += 1
            trips.append((scope, *found))
    return trips


def breaker_trip(
    limits: BreakerLimits, equity: Decimal, realised: Decimal, peak: Decimal, streak: int
) -> tuple[str, Decimal, Decimal] | None:
    """The first breaker condition that holds, as (reason, value, threshold), or None."""
    drawdown = (peak - realised) / equity
    if limits.max_drawdown is not None and drawdown >= limits.max_drawdown:
        return "max_drawdown", drawdown, limits.max_drawdown
    if limits.loss_limit is not None and -realised >= limits.loss_limit:
        return "loss_limit", -realised, limits.loss_limit
    if limits.max_consecutive_losses is not None and streak >= limits.max_consecutive_losses:
        return "consecutive_losses", Decimal(streak), Decimal(limits.max_consecutive_losses)
    return None
