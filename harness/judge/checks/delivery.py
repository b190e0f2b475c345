"""Delivery: what a run was asked for and what it did not deliver, from the history alone.

A verdict judges what happened; it says nothing about what did not. A ``--duration 120`` run
whose breakers halted every symbol at 11.5 s, or whose orders the guardian refused, can pass
every gate -- correctly -- while trading a tenth of what was asked. This record says so:
the ask from ``run.start``, each symbol's trades and the event that stopped it early
(``worker.halted``, ``worker.stalled``, ``worker.error``, ``feed.end``), and the refusals
by reason (``risk.refuse``). It is reported beside the verdict, never a gate of its own:
a halted symbol is the guardian doing its job.

It also says whether the seed reproduces the run's per-symbol trades and PnL. Each symbol's
feed and strategy follow the seed, and its own limits (symbol exposure, symbol breaker) see
only that symbol; but a decision taken on the sum over symbols -- an order refused by the
gross exposure limit, the global breaker tripping -- depends on how far the other symbols'
workers had got, i.e. on the interleaving (except in single mode, where one worker takes the
symbols in a fixed order). A ``--duration`` run never does: how many trades fit in the time
depends on speed. A run says which case it is in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from harness.clock import NS_PER_S
from harness.history.events import (
    FEED_END,
    RISK_REFUSE,
    RISK_TRIP,
    RUN_START,
    TRADE_CLOSED,
    WORKER_ERROR,
    WORKER_HALTED,
    WORKER_STALLED,
    f,
)
from harness.history.log import Event
from harness.judge.evidence import evidence_record

GLOBAL_REFUSAL = "gross_exposure"  # the refusal reason decided on every symbol's exposure
# Why a symbol stopped before it was done, by the event that says so.
EARLY_STOPS = {WORKER_HALTED: "halted by its circuit breaker", WORKER_STALLED: "stalled by refusals",
               WORKER_ERROR: "failed", FEED_END: "its feed ran out"}


@evidence_record
class EarlyStop:
    """A symbol that stopped before it made what was asked."""

    reason: str = f("why, from the event that stopped it")
    at_s: float = f("when, from the run's start", "s")
    trades: int = f("trades it had closed", "count")


@evidence_record
class Delivery:
    """What the run was asked for, and what it did not deliver."""

    symbols: int = f("symbols run.start names", "count")
    trades_asked: int | None = f("closed trades asked per symbol", "count")
    duration_asked: float | None = f("trading time asked per symbol", "s")
    stopped_early: Mapping[str, EarlyStop] = f("symbols stopped before the ask, by symbol")
    refused: Mapping[str, int] = f("orders the guardian refused, by reason", "count")
    global_trips: int = f("global breaker trips (a decision on the sum over symbols)", "count")
    mode: str | None = f("thread, process or single, as run.start says")
    reproducible: bool = f("the seed reproduces per-symbol trades and PnL: sized in trades, and no decision "
                           "depended on how the symbols' workers interleaved (single mode: fixed order)")

    @property
    def complete(self) -> bool:
        """True when every symbol did what was asked and no order was refused."""
        return not self.stopped_early and not self.refused

    @property
    def cross_symbol_decisions(self) -> int:
        """Decisions taken on the sum over symbols, which depends on the interleaving."""
        return _cross_symbol(self.refused, self.global_trips)


def _cross_symbol(refused: Mapping[str, int], global_trips: int) -> int:
    return refused.get(GLOBAL_REFUSAL, 0) + global_trips



def check_delivery(events: Sequence[Event]) -> Delivery | None:
    """The ask and the shortfall of a run's history (None without a run.start saying what was asked)."""
    start = next((e for e in events if e.kind == RUN_START), None)
    if start is None:
        return None
    trades = Counter(str(e.symbol) for e in events if e.kind == TRADE_CLOSED)
    asked_trades, asked_s = start.payload.get("trades"), start.payload.get("duration")
    stopped: dict[str, EarlyStop] = {}
    for event in events:
        if event.kind in EARLY_STOPS and event.symbol is not None and event.symbol not in stopped:
            at_s = (event.mono_ns - start.mono_ns) / NS_PER_S
            short = trades[event.symbol] < asked_trades if asked_trades is not None else at_s < (asked_s or 0)
            if short:
                stopped[event.symbol] = EarlyStop(EARLY_STOPS[event.kind], round(at_s, 1), trades[event.symbol])
    refused = Counter(str(e.payload.get("reason")) for e in events if e.kind == RISK_REFUSE)
    global_trips = sum(1 for e in events if e.kind == RISK_TRIP and e.payload.get("scope") == "global")
    mode = start.payload.get("mode")
    reproducible = asked_s is None and (_cross_symbol(refused, global_trips) == 0 or mode == "single")
    return Delivery(len(start.payload.get("symbols") or ()), asked_trades, asked_s, stopped, dict(refused),
                    global_trips, mode, reproducible)


def delivery_lines(d: Delivery) -> list[str]:
    """What was asked and what was not delivered, one fact a line, for the summary and VERIFY_LOG."""
    ask = f"{d.trades_asked} trades" if d.trades_asked is not None else f"{d.duration_asked:g} s of trading"
    lines = [f"Asked: {ask} per symbol, {d.symbols} symbols"]
    for symbol, stop in d.stopped_early.items():
        if d.trades_asked is not None:
            lines.append(f"Not delivered: {symbol} {stop.reason} after {stop.trades}/{d.trades_asked} trades")
        else:
            missed = (d.duration_asked or 0) - stop.at_s
            lines.append(f"Not delivered: {symbol} {stop.reason} at {stop.at_s:g} s of {d.duration_asked:g} s "
                         f"({missed:.1f} s not traded, {stop.trades} trades)")
    if d.refused:
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(d.refused.items(), key=lambda kv: -kv[1]))
        lines.append(f"Refused by the guardian: {sum(d.refused.values())} orders ({reasons})")
    if d.complete:
        lines.append("Delivered: everything asked")
    return [*lines, _reproducibility(d)]


def _reproducibility(d: Delivery) -> str:
    """Whether the seed reproduces this run's per-symbol trades and PnL, and why not."""
    head = "Seed reproduces per-symbol trades and PnL:"
    if d.duration_asked is not None:
        return f"{head} NO -- the run was sized in time, and how many trades fit depends on speed (use --trades)"
    if d.cross_symbol_decisions == 0:
        return f"{head} yes (no decision depended on other symbols)"
    causes = [f"{d.refused[GLOBAL_REFUSAL]} orders refused by the gross exposure limit"] \
        if d.refused.get(GLOBAL_REFUSAL) else []
    causes += [f"{d.global_trips} global breaker trips"] if d.global_trips else []
    if d.mode == "single":
        return (f"{head} yes in single mode only ({' and '.join(causes)}, decided with the symbols in a fixed "
                f"order; a thread or process run of this seed may differ)")
    return f"{head} NO -- {' and '.join(causes)}, decisions on the sum over symbols that depend on how their " \
           f"workers interleaved"
