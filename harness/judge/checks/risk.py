"""Risk management evidence: exposure replayed at every fill, breakers recomputed, isolation, health.

Exposure is recomputed from the fills alone -- position per symbol from signed fill
quantities, mark = that symbol's last fill price -- after *every* fill, so a limit exceeded
for one instant is seen even if the run ends flat. Limits and equity come from
``run.start``; a history that declares no equity has no exposure ratio ("n/a"), never a
ratio against a made-up equity of 1.

Breakers: the trips the limits require are derived from the fills (``harness.judge.checks.breakers``)
and compared with the guardian's ``risk.trip`` events. A justified trip is a fact reported;
a missing one, one without cause, or an order accepted while halted is a violation.

Isolation: a symbol whose worker failed (``worker.error``) is reported; every other symbol
must have ended on its own terms -- done, halted by its breaker, or stalled because the
guardian refused it ``max_refusals`` times in a row (reported) -- a failure that stopped or
broke another symbol's worker is an isolation violation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from harness.history.events import (
    ORDER_FILL,
    RISK_REFUSE,
    RISK_TRIP,
    WORKER_DONE,
    WORKER_ERROR,
    WORKER_HALTED,
    WORKER_STALLED,
    WORKER_START,
)
from harness.history.log import Event
from harness.judge.checks.breakers import check_breakers
from harness.judge.checks.replay import fills, initial_positions, run_info
from harness.judge.evidence import Evidence

AREA = "Risk Management"
KEEP = 10


def check_risk(events: Sequence[Event]) -> Evidence:
    """Exposure at every fill vs the limits, breaker trips, isolation and guardian status."""
    info = run_info(events)
    start = initial_positions(events)
    positions = {name: qty for name, (qty, _) in start.items()}
    notional = {name: abs(qty) * mark for name, (qty, mark) in start.items()}
    gross = max_gross = sum(notional.values(), Decimal(0))
    max_symbol: dict[str, Decimal] = {}
    breaches = []
    for event, fill in fills(events):
        positions[fill.symbol] = positions.get(fill.symbol, Decimal(0)) + fill.signed_qty
        gross -= notional.get(fill.symbol, Decimal(0))
        notional[fill.symbol] = abs(positions[fill.symbol]) * fill.price
        gross += notional[fill.symbol]
        max_gross = max(max_gross, gross)
        max_symbol[fill.symbol] = max(max_symbol.get(fill.symbol, Decimal(0)), notional[fill.symbol])
        if info.equity and _over(gross, info.max_gross_exposure, info.equity, notional[fill.symbol],
                                 info.max_symbol_exposure):
            breaches.append({"seq": event.seq, "symbol": fill.symbol, "fill": fill.fill_id,
                             "gross_exposure": str(gross), "symbol_exposure": str(notional[fill.symbol])})
    equity = info.equity
    trips = [e for e in events if e.kind == RISK_TRIP]
    breakers = check_breakers(events, info)
    failed = sorted({str(e.symbol) for e in events if e.kind == WORKER_ERROR})
    done = {str(e.symbol) for e in events if e.kind in (WORKER_DONE, WORKER_HALTED, WORKER_STALLED)}
    stalled = sorted({str(e.symbol) for e in events if e.kind == WORKER_STALLED})
    started = {str(e.symbol) for e in events if e.kind == WORKER_START}
    broken = sorted(started - done - set(failed))
    figures = {
        "fills": sum(1 for e in events if e.kind == ORDER_FILL),
        "equity": equity,
        "max_gross_exposure_limit": info.max_gross_exposure,
        "max_symbol_exposure_limit": info.max_symbol_exposure,
        "max_exposure_ratio": max_gross / equity if equity else None,
        "final_exposure_ratio": gross / equity if equity else None,
        "max_symbol_exposure_ratio": {s: v / equity for s, v in sorted(max_symbol.items())} if equity else {},
        "limit_breaches": len(breaches),
        "refusals": sum(1 for e in events if e.kind == RISK_REFUSE),
        "breaker_trips": len(trips),
        "breaker_trip_reasons": sorted({f"{e.payload['scope']}:{e.payload['reason']}" for e in trips}),
        "breaker_replay": breakers.not_judged or "judged",
        "required_trips": len(breakers.required),
        "missing_trips": len(breakers.missing),
        "unjustified_trips": len(breakers.unjustified),
        "halted_orders_accepted": len(breakers.halted_accepts),
        "failed_symbols": failed,
        "completed_symbols": sorted(done),
        "stalled_symbols": stalled,
        "halted_symbols": halted_reasons(events, trips),
        "failure_reasons": {str(e.symbol): str(e.payload.get("error", ""))[:80]
                            for e in events if e.kind == WORKER_ERROR},
        "isolation_violations": len(broken),
        "guardian_status": _status(events, trips),
    }
    violations: dict[str, tuple[Mapping[str, Any], ...]] = {
        "limit_breaches": tuple(breaches[:KEEP]),
        "isolation_violations": tuple({"symbol": s, "reason": "neither finished nor failed"} for s in broken),
        "missing_trips": breakers.missing[:KEEP],
        "unjustified_trips": breakers.unjustified[:KEEP],
        "halted_orders_accepted": breakers.halted_accepts[:KEEP],
    }
    return Evidence(AREA, figures, violations)


def halted_reasons(events: Sequence[Event], trips: Sequence[Event]) -> dict[str, str]:
    """Each halted symbol and the breaker that halted it (its own, else a global one)."""
    reasons = {}
    for event in (e for e in events if e.kind == WORKER_HALTED):
        trip = next((t for t in trips if t.symbol == event.symbol), None) or next(
            (t for t in trips if t.payload.get("scope") == "global"), None)
        reasons[str(event.symbol)] = "no recorded trip" if trip is None else (
            f"{trip.payload.get('scope')} breaker {trip.payload.get('reason')}")
    return reasons


def _over(gross, gross_limit, equity, symbol_notional, symbol_limit) -> bool:
    if gross_limit is not None and gross > gross_limit * equity:
        return True
    return symbol_limit is not None and symbol_notional > symbol_limit * equity


def _status(events: Sequence[Event], trips: Sequence[Event]) -> str:
    """HALTED after a global trip, else the last recorded health state, else HEALTHY."""
    if any(e.payload.get("scope") == "global" for e in trips):
        return "HALTED"
    last = next((e for e in reversed(events) if e.kind == "health"), None)
    return str(last.payload["state"]) if last is not None else "HEALTHY"
