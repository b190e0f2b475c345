"""MetricsAggregator accuracy: the aggregator's final state against a recomputation from fills.

Exact: every figure is a Decimal and the difference must be zero, not "< 0.001". The
recomputation replays the ``order.fill`` events through fresh ledgers; the aggregator's
state is the run's final ``agg.state`` event. The engine's own ``trade.closed`` events are
compared too, so a ledger that drifts from its fills is caught separately from an
aggregator that loses or doubles an update.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from harness.aggregator import SymbolMetrics
from harness.checks.evidence import Evidence
from harness.checks.replay import replay_ledgers
from harness.history import Event

AREA = "MetricsAggregator Accuracy"


def _aggregator_state(events: Sequence[Event]) -> dict[str, SymbolMetrics] | None:
    final = next((e for e in reversed(events) if e.kind == "agg.state"), None)
    if final is None:
        return None
    return {name: SymbolMetrics.from_payload(raw) for name, raw in final.payload["symbols"].items()}


def _recorded_trades(events: Sequence[Event]) -> dict[str, SymbolMetrics]:
    per: dict[str, SymbolMetrics] = {}
    for event in events:
        if event.kind == "trade.closed":
            pnl = Decimal(str(event.payload["pnl"]))
            one = SymbolMetrics(0, 1, int(pnl > 0), int(pnl < 0), int(pnl == 0), pnl,
                                max(pnl, Decimal(0)), max(-pnl, Decimal(0)))
            per[str(event.symbol)] = per.get(str(event.symbol), SymbolMetrics()).plus(one)
    return per


def _total(metrics: Mapping[str, SymbolMetrics]) -> SymbolMetrics:
    total = SymbolMetrics()
    for m in metrics.values():
        total = total.plus(m)
    return total


def check_pnl(events: Sequence[Event]) -> Evidence:
    """Aggregator figures (the final ``agg.state``) vs fills replayed through fresh ledgers."""
    return reconcile(events, _aggregator_state(events))


def reconcile(events: Sequence[Event], aggregated: Mapping[str, SymbolMetrics] | None, area: str = AREA) -> Evidence:
    """An aggregator's final state vs the fills of ``events`` replayed, per symbol and total."""
    simulated = {name: SymbolMetrics.of_trades(ledger.trades) for name, ledger in replay_ledgers(events).items()}
    recorded = _recorded_trades(events)
    symbols = sorted(set(simulated) | set(recorded) | set(aggregated or {}))
    mismatches = []
    per_symbol = {}
    for name in symbols:
        sim = simulated.get(name, SymbolMetrics())
        agg = (aggregated or {}).get(name, SymbolMetrics())
        rec = recorded.get(name, SymbolMetrics())
        diff = agg.pnl - sim.pnl
        per_symbol[name] = {"simulated_pnl": sim.pnl, "aggregator_pnl": agg.pnl, "difference": diff,
                            "simulated_trades": sim.trades, "aggregator_trades": agg.trades}
        for what, a, b in (("aggregator", agg, sim), ("ledger", rec, sim)):
            if (a.trades, a.wins, a.losses, a.breakeven, a.pnl) != (b.trades, b.wins, b.losses, b.breakeven, b.pnl):
                mismatches.append({"symbol": name, "source": what, "got": _brief(a), "recomputed": _brief(b)})
    sim_total, agg_total = _total(simulated), _total(aggregated or {})
    figures = {
        "aggregator_state_recorded": aggregated is not None,
        "simulated_total_pnl": sim_total.pnl,
        "aggregator_total_pnl": agg_total.pnl,
        "pnl_difference": agg_total.pnl - sim_total.pnl,
        "simulated_trades": sim_total.trades,
        "aggregator_trades": agg_total.trades,
        "simulated_win_rate": sim_total.win_rate,
        "aggregator_win_rate": agg_total.win_rate,
        "mismatched_symbols": len({m["symbol"] for m in mismatches}),
        "per_symbol": per_symbol,
    }
    return Evidence(area, figures, {"mismatches": tuple(mismatches)})


def _brief(m: SymbolMetrics) -> dict[str, object]:
    return {"trades": m.trades, "wins": m.wins, "losses": m.losses, "breakeven": m.breakeven, "pnl": str(m.pnl)}
