"""Circuit breakers recomputed: when each breaker *must* trip, given the limits in ``run.start``.

The guardian's ``risk.trip`` events are its word; this module derives the trips on its own
by replaying the fills through the checkers' model and booking every closed trade on the
symbol's breaker and the global one, then compares:

- symbol scope: one worker trades a symbol, one order at a time, so the symbol's closed
  trades are in booking order and the required trip (first condition that holds) is exact;
  the recorded trip must come after the fill that caused it, with the same reason;
- global scope: the order in which the guardian booked trades of *different* symbols is not
  in the history (events are recorded after its lock is released; process-mode events travel
  through pipes). So a global trip is *required* when the condition holds in every order --
  at the end, realised = the total -- and *has a cause* when it can hold in some order of
  the trades closed before it: the worst realised is the sum of each symbol's lowest
  realised, the deepest drawdown the sum of each symbol's deepest drawdown, the longest
  losing streak the sum of each symbol's longest;
- halted: an order submitted after a trip (recorded, or required on the symbol) that the
  guardian accepted must reduce the position, counting pending orders on the same side.
  Submission times are compared on the monotonic clock for the global scope, since
  another worker's events may be recorded out of order.

A justified trip is the guardian working: a reported fact, not a defect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from harness.history.events import (
    ORDER_FILL,
    ORDER_SUBMIT,
    RISK_CANCEL,
    RISK_RESERVE,
    RISK_SETTLE,
    RISK_TRIP,
    RUN_RESUME,
    RUN_START,
)
from harness.history.log import Event
from harness.judge.checks.oracle import SIDES, ZERO, BreakerState, worst_path
from harness.judge.checks.replay import Breakers, Replay, fill_of, run_info


@dataclass(frozen=True)
class BreakerFacts:
    """What the replay found; ``not_judged`` says why there was no replay (None when there was)."""

    not_judged: str | None
    required: tuple[Mapping[str, Any], ...] = ()
    missing: tuple[Mapping[str, Any], ...] = ()
    unjustified: tuple[Mapping[str, Any], ...] = ()
    halted_accepts: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class _Accepted:
    """An order the guardian admitted, with what the replay knew when it did."""

    order: str
    symbol: str
    seq: int
    submit_index: int
    submit_ns: int
    reducing: bool


@dataclass
class _Pass:
    """State of the one pass over the history."""

    replay: Replay
    limits: Breakers
    states: dict[str, BreakerState] = field(default_factory=dict)
    required: dict[str, dict[str, Any]] = field(default_factory=dict)
    trades: list[tuple[int, int, str, Decimal]] = field(default_factory=list)  # (index, mono_ns, symbol, pnl)
    trips: list[tuple[int, Event]] = field(default_factory=list)
    submitted: dict[str, tuple[int, int]] = field(default_factory=dict)
    pending: dict[str, tuple[str, int, Decimal]] = field(default_factory=dict)  # order -> (symbol, sign, qty)
    accepted: list[_Accepted] = field(default_factory=list)


class BreakerReplay:
    """The breaker replay fed one event at a time, from the first run.start's limits.

    Holds the replay's books, each closed trade and each accepted order (what the verdicts
    compare trips against), not the events.
    """

    def __init__(self) -> None:
        self.index = -1  # of the event in the history (counterexamples name it)
        self.started = self.resumed = False
        self.state: _Pass | None = None

    def feed(self, event: Event) -> None:
        """Take the next event."""
        self.index += 1
        if event.kind == RUN_START and not self.started:
            self.started = True
            info = run_info((event,))
            if info.breakers is not None:
                self.state = _Pass(Replay(info), info.breakers)
        elif event.kind == RUN_RESUME:
            self.resumed = True
        if self.state is not None:
            _step(self.state, self.index, event)

    def result(self) -> BreakerFacts:
        """Required, missing and unjustified trips, and orders accepted while halted."""
        state = self.state
        if state is None:
            return BreakerFacts("no risk limits in run.start")
        if self.resumed:
            return BreakerFacts("resumed run: the breaker state before the crash is not in this history")
        required = tuple(state.required.values())
        missing, unjustified = _symbol_verdicts(state)
        global_missing, global_unjustified = _global_verdicts(state)
        halted = _halted_accepts(state)
        return BreakerFacts(None, required, missing + global_missing, unjustified + global_unjustified, halted)


def _step(state: _Pass, index: int, event: Event) -> None:
    kind, symbol = event.kind, str(event.symbol)
    if kind == ORDER_FILL:
        pnl = state.replay.apply(fill_of(event))
        if pnl is not None:
            state.trades.append((index, event.mono_ns, symbol, pnl))
            reason = state.states.setdefault(symbol, BreakerState()).book(pnl, state.limits.symbol,
                                                                          state.limits.equity)
            if reason is not None:
                state.required[symbol] = {"scope": "symbol", "symbol": symbol, "reason": reason, "seq": event.seq,
                                          "index": index}
    elif kind == RISK_TRIP:
        state.trips.append((index, event))
    elif kind == ORDER_SUBMIT:
        state.submitted[str(event.payload["order"])] = (index, event.mono_ns)
    elif kind == RISK_RESERVE:
        _reserve(state, index, event)
    elif kind in (RISK_SETTLE, RISK_CANCEL):
        state.pending.pop(str(event.payload.get("order")), None)


def _reserve(state: _Pass, index: int, event: Event) -> None:
    order, symbol = str(event.payload["order"]), str(event.symbol)
    sign, qty = SIDES[str(event.payload["side"]).upper()], Decimal(str(event.payload["qty"]))
    book = state.replay.books.get(symbol)
    position = book.qty if book is not None else ZERO
    same_side = sum((q for s, sg, q in state.pending.values() if s == symbol and sg == sign), ZERO)
    if sign < 0:
        reducing = position > 0 and position - same_side - qty >= 0
    else:
        reducing = position < 0 and position + same_side + qty <= 0
    submit_index, submit_ns = state.submitted.get(order, (index, event.mono_ns))
    state.pending[order] = (symbol, sign, qty)
    state.accepted.append(_Accepted(order, symbol, event.seq, submit_index, submit_ns, reducing))


def _trip_item(event: Event, why: str) -> dict[str, Any]:
    return {"seq": event.seq, "scope": event.payload.get("scope"), "symbol": event.symbol,
            "reason": event.payload.get("reason"), "why": why}


def _symbol_verdicts(state: _Pass) -> tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]]:
    recorded: dict[str, list[tuple[int, Event]]] = {}
    for index, event in state.trips:
        if event.payload.get("scope") == "symbol":
            recorded.setdefault(str(event.symbol), []).append((index, event))
    missing = tuple({**req, "why": "the replayed trades trip this breaker; no risk.trip recorded"}
                    for sym, req in state.required.items() if sym not in recorded)
    unjustified = []
    for sym, trips in recorded.items():
        req = state.required.get(sym)
        for n, (index, event) in enumerate(trips):
            why = _symbol_cause(req, n, index, event)
            if why is not None:
                unjustified.append(_trip_item(event, why))
    return missing, tuple(unjustified)


def _symbol_cause(req: Mapping[str, Any] | None, n: int, index: int, event: Event) -> str | None:
    """Why a recorded symbol trip is not justified by the replay (None when it is)."""
    if req is None:
        return "no replayed trade meets any breaker condition of this symbol"
    if n > 0:
        return "a breaker trips once; this symbol had already tripped"
    if index < req["index"]:
        return f"recorded before the trade that trips it (fill at seq {req['seq']})"
    if event.payload.get("reason") != req["reason"]:
        return f"the replayed trades trip it for {req['reason']}"
    return None


def _global_verdicts(state: _Pass) -> tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]]:
    trips = [(i, e) for i, e in state.trips if e.payload.get("scope") == "global"]
    limits = state.limits
    total = sum((pnl for *_, pnl in state.trades), ZERO)
    breaker = limits.global_
    required = breaker.reason(limits.equity, total, max(total, ZERO), 0)
    missing: tuple[dict[str, Any], ...] = ()
    if required is not None and not trips:
        missing = ({"scope": "global", "symbol": None, "reason": required, "realised": str(total),
                    "why": "the total realised PnL trips the global breaker in any order; no risk.trip recorded"},)
    unjustified = []
    for n, (index, event) in enumerate(trips):
        why = _global_cause(state, index, event) if n == 0 else "a breaker trips once; it had already tripped"
        if why is not None:
            unjustified.append(_trip_item(event, why))
    return missing, tuple(unjustified)


def _global_cause(state: _Pass, index: int, event: Event) -> str | None:
    """None when some booking order of the trades closed before ``event`` meets its condition."""
    per: dict[str, list[Decimal]] = {}
    for i, ns, symbol, pnl in state.trades:
        if i < index or ns <= event.mono_ns:
            per.setdefault(symbol, []).append(pnl)
    paths = [worst_path(pnls) for pnls in per.values()]
    low = sum((p[0] for p in paths), ZERO)
    drawdown = sum((p[1] for p in paths), ZERO)
    streak = sum(p[2] for p in paths)
    breaker, equity = state.limits.global_, state.limits.equity
    possible = {
        "max_drawdown": breaker.max_drawdown is not None and drawdown / equity >= breaker.max_drawdown,
        "loss_limit": breaker.loss_limit is not None and -low >= breaker.loss_limit,
        "consecutive_losses": breaker.max_consecutive_losses is not None and streak >= breaker.max_consecutive_losses,
    }
    reason = str(event.payload.get("reason"))
    if possible.get(reason):
        return None
    return (f"no order of the {sum(len(v) for v in per.values())} trades closed before it meets {reason} "
            f"(worst realised {low}, deepest drawdown {drawdown}, longest losing streak {streak})")


def _halted_accepts(state: _Pass) -> tuple[dict[str, Any], ...]:
    symbol_halt = {sym: req["index"] for sym, req in state.required.items()}
    global_halt: int | None = None
    for index, event in state.trips:
        if event.payload.get("scope") == "symbol":
            sym = str(event.symbol)
            symbol_halt[sym] = min(symbol_halt.get(sym, index), index)
        elif global_halt is None:
            global_halt = event.mono_ns
    found = []
    for acc in state.accepted:
        if acc.reducing:
            continue
        by_symbol = acc.symbol in symbol_halt and acc.submit_index > symbol_halt[acc.symbol]
        by_global = global_halt is not None and acc.submit_ns > global_halt
        if by_symbol or by_global:
            found.append({"seq": acc.seq, "order": acc.order, "symbol": acc.symbol,
                          "halted_by": "symbol" if by_symbol else "global",
                          "why": "accepted while halted, and it does not reduce the position"})
    return tuple(found)
