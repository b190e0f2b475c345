"""MetricsAggregator accuracy: every aggregator state the history shows against the fills replayed.

Exact: every figure is a Decimal and the difference must be zero, not "< 0.001". The
recomputation replays the ``order.fill`` events through the checkers' own model
(``harness.judge.checks.oracle``). Judged over time, not only at the end: every state the
aggregator shows -- a REPLACE it took (``agg.replace``), a delta it applied (``agg.apply``,
judged on the state it leads to), an ``agg.state`` -- must equal the symbol's first N
replayed trades, N being the trades it covers, in every figure it publishes (counts, PnL,
gross profit and loss, rates, drawdown: ``harness.judge.checks.published``; a figure the model
cannot recompute is listed as not judged); it may lag the ledger, but it may never go
back (a stale snapshot taken) nor cover trades not yet closed. A stale state repaired by a
later snapshot is still a failure, with the offending events. The final state must equal
the whole replay; the engine's own ``trade.closed`` events are compared too, so a ledger
that drifts from its fills is caught separately from an aggregator that loses or doubles
an update.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from harness.history.events import AGG_APPLY, AGG_REPLACE, AGG_STATE, ORDER_FILL, TRADE_CLOSED, f
from harness.history.log import Event
from harness.judge.checks.oracle import Tally, tally, tally_of
from harness.judge.checks.published import ADDITIVE, Prefix, judge_state, not_summed, summed
from harness.judge.checks.replay import Replay, fill_of, replay_books, run_info
from harness.judge.evidence import Evidence, evidence_record

AREA = "MetricsAggregator Accuracy"
KEEP = 10
STATE_KINDS = (AGG_REPLACE, AGG_APPLY, AGG_STATE)


@evidence_record
class SymbolReconciliation:
    """One symbol's aggregated PnL and trades against the fills replayed."""

    simulated_pnl: Decimal = f("PnL of the fills replayed", "quote currency")
    aggregator_pnl: Decimal = f("PnL the aggregator holds", "quote currency")
    difference: Decimal = f("aggregator - replayed (exactly 0 when right)", "quote currency")
    simulated_trades: int = f("trades the replay closed", "count")
    aggregator_trades: int = f("trades the aggregator counts", "count")


@evidence_record
class AggregatorFigures:
    """The aggregator's states and final totals against the fills replayed through the checkers' model."""

    aggregator_state_recorded: bool = f("the history shows an aggregator state at all")
    simulated_total_pnl: Decimal = f("total PnL of the replay", "quote currency")
    aggregator_total_pnl: Decimal = f("total PnL of the aggregator's final state", "quote currency")
    pnl_difference: Decimal = f("aggregator - replayed total (exactly 0 when right)", "quote currency")
    simulated_trades: int = f("trades the replay closed", "count")
    aggregator_trades: int = f("trades the final state counts", "count")
    simulated_win_rate: Decimal = f("wins / trades of the replay", "ratio")
    aggregator_win_rate: Decimal = f("wins / trades of the final state", "ratio")
    mismatched_symbols: int = f("symbols whose aggregator or ledger tally differs from the replay", "count")
    states_judged: int | None = f("aggregator states judged over time (null: only the final one)", "count")
    bad_states: int = f("states that went back or differ from the replay's prefix", "count")
    not_judged: tuple[str, ...] = f("figures the aggregator published that the model cannot recompute (by name)")
    per_symbol: Mapping[str, SymbolReconciliation] = f("each symbol, by name")


def as_tally(metrics: Any) -> Tally:
    """A Tally of an aggregator's per-symbol metrics (a recorded mapping or an object with the fields)."""
    if isinstance(metrics, Mapping):
        return tally_of(metrics)
    return Tally(metrics.trades, metrics.wins, metrics.losses, metrics.breakeven, metrics.pnl)


def _recorded_trades(events: Sequence[Event]) -> dict[str, Tally]:
    per: dict[str, Tally] = {}
    for event in events:
        if event.kind == TRADE_CLOSED:
            one = tally([Decimal(str(event.payload["pnl"]))])
            per[str(event.symbol)] = per.get(str(event.symbol), Tally()).plus(one)
    return per


class _Timeline:
    """The aggregator's state per symbol as its events show it, judged against the replay's prefixes."""

    def __init__(self) -> None:
        self.prefixes: dict[str, list[Prefix]] = {}
        self.shown: dict[str, Tally] = {}
        self.summed: dict[str, dict[str, Any]] = {}  # the INCREMENTAL state: deltas applied, summed
        self.states = 0
        self.bad: list[dict[str, Any]] = []
        self.not_judged: set[str] = set()

    def closed(self, symbol: str, pnl: Decimal) -> None:
        """One more trade closed on ``symbol`` (in the replay)."""
        prefix = self.prefixes.setdefault(symbol, [Prefix()])
        prefix.append(prefix[-1].then(pnl))

    def applied(self, event: Event, symbol: str) -> None:
        """Judge the state a delta leads to (its figures that do not add up are not judged)."""
        self.summed[symbol] = summed(self.summed.get(symbol), event.payload)
        self.not_judged.update(not_summed(event.payload))
        self.show(event, symbol, self.summed[symbol])

    def show(self, event: Event, symbol: str, raw: Mapping[str, Any]) -> Prefix | None:
        """Judge one state the aggregator shows for ``symbol`` at ``event``; the model's figures of it."""
        self.states += 1
        state = tally_of(raw)
        before = self.shown.get(symbol, Tally())
        self.shown[symbol] = state
        prefix = self.prefixes.get(symbol, [Prefix()])
        if state.trades < before.trades:
            why = f"went back from {before.trades} to {state.trades} trades (a stale state taken)"
        elif state.trades >= len(prefix):
            why = f"covers {state.trades} trades, only {len(prefix) - 1} closed so far"
        else:
            self._wrong(event, symbol, raw, prefix[state.trades])
            return prefix[state.trades]
        self._bad(event, symbol, why, raw, prefix[min(state.trades, len(prefix) - 1)])
        return None

    def total(self, event: Event, raw: Mapping[str, Any], models: list[Prefix | None]) -> None:
        """Judge a published total against the sum of the symbols' models (when each was judged)."""
        judged = [m for m in models if m is not None]
        if len(judged) < len(models):
            return  # a symbol's own state is already wrong: its failure names it
        self.states += 1
        model = functools.reduce(Prefix.beside, judged, Prefix())
        self._wrong(event, "total", raw, model)

    def _wrong(self, event: Event, symbol: str, raw: Mapping[str, Any], model: Prefix) -> None:
        judged = judge_state(raw, model)
        self.not_judged.update(judged.not_judged if symbol != "total" else (f"total.{n}" for n in judged.not_judged))
        if judged.wrong:
            self._bad(event, symbol, f"{', '.join(judged.wrong)} differ from the model of the first "
                                     f"{model.trades} replayed trades", raw, model)

    def _bad(self, event: Event, symbol: str, why: str, raw: Mapping[str, Any], model: Prefix) -> None:
        self.bad.append({"seq": event.seq, "kind": event.kind, "symbol": symbol, "why": why,
                         "shown": {k: str(v) for k, v in raw.items()},
                         "replayed": {k: str(model.figure(k)) for k in ADDITIVE}})


def states_over_time(events: Sequence[Event]) -> _Timeline:
    """Every aggregator state of the history judged at the point it appears."""
    timeline = _Timeline()
    replay = Replay(run_info(events))
    for event in events:
        if event.kind == ORDER_FILL:
            pnl = replay.apply(fill_of(event))
            if pnl is not None:
                timeline.closed(str(event.symbol), pnl)
        elif event.kind == AGG_REPLACE:
            timeline.show(event, str(event.symbol), event.payload)
        elif event.kind == AGG_APPLY:
            timeline.applied(event, str(event.symbol))
        elif event.kind == AGG_STATE:
            models = [timeline.show(event, name, raw) for name, raw in event.payload["symbols"].items()]
            if event.payload.get("total") is not None:
                timeline.total(event, event.payload["total"], models)
    return timeline


def check_pnl(events: Sequence[Event]) -> Evidence[AggregatorFigures]:
    """Every aggregator state over time, and the final one, vs the fills replayed."""
    timeline = states_over_time(events)
    final = next((e for e in reversed(events) if e.kind == AGG_STATE), None)
    if final is not None:
        aggregated: Mapping[str, Tally] | None = {n: tally_of(r) for n, r in final.payload["symbols"].items()}
    else:
        aggregated = dict(timeline.shown) if timeline.states else None
    return reconcile(events, aggregated, AREA, timeline)


def reconcile(events: Sequence[Event], aggregated: Mapping[str, Any] | None, area: str = AREA,
              timeline: _Timeline | None = None) -> Evidence[AggregatorFigures]:
    """An aggregator's final state (and states over time, when given) vs the fills of ``events`` replayed."""
    simulated = {name: tally(book.pnls) for name, book in replay_books(events).items()}
    final = {name: as_tally(m) for name, m in (aggregated or {}).items()}
    recorded = _recorded_trades(events)
    mismatches = []
    per_symbol: dict[str, SymbolReconciliation] = {}
    for name in sorted(set(simulated) | set(recorded) | set(final)):
        sim, agg, rec = simulated.get(name, Tally()), final.get(name, Tally()), recorded.get(name, Tally())
        per_symbol[name] = SymbolReconciliation(sim.pnl, agg.pnl, agg.pnl - sim.pnl, sim.trades, agg.trades)
        for what, got in (("aggregator", agg), ("ledger", rec)):
            if got != sim:
                mismatches.append({"symbol": name, "source": what, "got": got.brief(), "recomputed": sim.brief()})
    sim_total, agg_total = _sum(simulated.values()), _sum(final.values())
    bad = timeline.bad if timeline is not None else []
    figures = AggregatorFigures(
        aggregator_state_recorded=aggregated is not None,
        simulated_total_pnl=sim_total.pnl,
        aggregator_total_pnl=agg_total.pnl,
        pnl_difference=agg_total.pnl - sim_total.pnl,
        simulated_trades=sim_total.trades,
        aggregator_trades=agg_total.trades,
        simulated_win_rate=sim_total.win_rate,
        aggregator_win_rate=agg_total.win_rate,
        mismatched_symbols=len({m["symbol"] for m in mismatches}),
        states_judged=timeline.states if timeline is not None else None,
        bad_states=len(bad),
        not_judged=tuple(sorted(timeline.not_judged)) if timeline is not None else (),
        per_symbol=per_symbol,
    )
    return Evidence(area, figures, {"mismatches": tuple(mismatches), "bad_states": tuple(bad[:KEEP])})


def _sum(tallies: Iterable[Tally]) -> Tally:
    total = Tally()
    for t in tallies:
        total = total.plus(t)
    return total
