"""Risk management evidence: exposure replayed at every fill, breakers recomputed, isolation, health.

Exposure is recomputed from the fills alone -- position per symbol from signed fill
quantities, mark = that symbol's last fill price -- after *every* fill, so a limit exceeded
for one instant is seen even if the run ends flat. Limits and equity come from
``run.start``; a history that declares no equity has no exposure ratio ("n/a"), never a
ratio against a made-up equity of 1.

Breakers: the trips the limits require are derived from the fills (``harness.judge.checks.breakers``)
and compared with the guardian's ``risk.trip`` events. A justified trip is a fact reported;
a missing one, one without cause, or an order accepted while halted is a violation.

Reservations: each fill must be covered by its order's reservation, and each reservation
released exactly once, after its fill (``harness.judge.checks.reservations``) -- whether or
not a limit breached.

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
    f,
)
from harness.history.log import Event
from harness.judge.checks.breakers import check_breakers
from harness.judge.checks.replay import fills, initial_positions, run_info
from harness.judge.checks.reservations import check_reservations
from harness.judge.evidence import Evidence, evidence_record

AREA = "Risk Management"
KEEP = 10


@evidence_record
class RiskFigures:
    """Exposure replayed at every fill, breaker trips recomputed, isolation and the guardian's status."""

    fills: int = f("order.fill events", "count")
    equity: Decimal | None = f("equity run.start declares (null: exposure is n/a)", "quote currency")
    max_gross_exposure_limit: Decimal | None = f("gross exposure limit run.start declares", "ratio of equity")
    max_symbol_exposure_limit: Decimal | None = f("per-symbol exposure limit run.start declares", "ratio of equity")
    max_exposure_ratio: Decimal | None = f("highest gross exposure at any fill (null without equity)",
                                           "ratio of equity")
    final_exposure_ratio: Decimal | None = f("gross exposure after the last fill (null without equity)",
                                             "ratio of equity")
    max_symbol_exposure_ratio: Mapping[str, Decimal] = f("highest exposure of each symbol at any fill",
                                                         "ratio of equity")
    limit_breaches: int = f("fills after which an exposure limit was exceeded", "count")
    refusals: int = f("orders the guardian refused", "count")
    breaker_trips: int = f("risk.trip events", "count")
    breaker_trip_reasons: tuple[str, ...] = f("distinct scope:reason of the trips")
    breaker_replay: str = f("\"judged\", or why the trips required by the limits were not recomputed")
    required_trips: int = f("symbol trips the replayed trades require", "count")
    missing_trips: int = f("required trips the guardian never recorded", "count")
    unjustified_trips: int = f("recorded trips no order of the replayed trades justifies", "count")
    halted_orders_accepted: int = f("non-reducing orders accepted while halted", "count")
    failed_symbols: tuple[str, ...] = f("symbols whose worker failed (worker.error)")
    completed_symbols: tuple[str, ...] = f("symbols whose worker ended on its own terms")
    stalled_symbols: tuple[str, ...] = f("symbols stopped after repeated refusals")
    halted_symbols: Mapping[str, str] = f("each halted symbol and the breaker that halted it")
    failure_reasons: Mapping[str, str] = f("each failed symbol's error, cut to 80 characters")
    isolation_violations: int = f("symbols that neither finished nor failed", "count")
    guardian_status: str = f("HALTED after a global trip, else the last health state, else HEALTHY")
    reservations: int | None = f("risk.reserve events judged (null: the history records no reservations)", "count")
    uncovered_fills: int = f("fills not covered by their order's reservation (side, quantity, worst price)",
                             "count")
    released_twice: int = f("reservations released (settled or cancelled) more than once", "count")
    released_before_fill: int = f("fills that came after their reservation was released", "count")
    never_released: int = f("reservations still booked at run.end (symbols whose worker did not fail)", "count")


def check_risk(events: Sequence[Event]) -> Evidence[RiskFigures]:
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
    booked = check_reservations(events)
    failed = sorted({str(e.symbol) for e in events if e.kind == WORKER_ERROR})
    done = {str(e.symbol) for e in events if e.kind in (WORKER_DONE, WORKER_HALTED, WORKER_STALLED)}
    stalled = sorted({str(e.symbol) for e in events if e.kind == WORKER_STALLED})
    started = {str(e.symbol) for e in events if e.kind == WORKER_START}
    broken = sorted(started - done - set(failed))
    figures = RiskFigures(
        fills=sum(1 for e in events if e.kind == ORDER_FILL),
        equity=equity,
        max_gross_exposure_limit=info.max_gross_exposure,
        max_symbol_exposure_limit=info.max_symbol_exposure,
        max_exposure_ratio=max_gross / equity if equity else None,
        final_exposure_ratio=gross / equity if equity else None,
        max_symbol_exposure_ratio={s: v / equity for s, v in sorted(max_symbol.items())} if equity else {},
        limit_breaches=len(breaches),
        refusals=sum(1 for e in events if e.kind == RISK_REFUSE),
        breaker_trips=len(trips),
        breaker_trip_reasons=tuple(sorted({f"{e.payload['scope']}:{e.payload['reason']}" for e in trips})),
        breaker_replay=breakers.not_judged or "judged",
        required_trips=len(breakers.required),
        missing_trips=len(breakers.missing),
        unjustified_trips=len(breakers.unjustified),
        halted_orders_accepted=len(breakers.halted_accepts),
        failed_symbols=tuple(failed),
        completed_symbols=tuple(sorted(done)),
        stalled_symbols=tuple(stalled),
        halted_symbols=halted_reasons(events, trips),
        # Whole: a reason cut at a fixed width ends mid-sentence.
        failure_reasons={str(e.symbol): str(e.payload.get("error", "")) for e in events if e.kind == WORKER_ERROR},
        isolation_violations=len(broken),
        guardian_status=_status(events, trips),
        reservations=booked.reserved if booked.judged else None,
        uncovered_fills=len(booked.uncovered_fills),
        released_twice=len(booked.released_twice),
        released_before_fill=len(booked.released_before_fill),
        never_released=len(booked.never_released),
    )
    violations: dict[str, tuple[Mapping[str, Any], ...]] = {
        "limit_breaches": tuple(breaches[:KEEP]),
        "isolation_violations": tuple({"symbol": s, "reason": "neither finished nor failed"} for s in broken),
        "missing_trips": breakers.missing[:KEEP],
        "unjustified_trips": breakers.unjustified[:KEEP],
        "halted_orders_accepted": breakers.halted_accepts[:KEEP],
        **booked.violations(),
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
