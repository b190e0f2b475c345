"""Race condition evidence: what the log says went wrong, and the invariants a race breaks.

Counting ERROR/CRITICAL/Traceback lines is the seed's check; it only sees failures that
announced themselves. A race that silently loses an update shows up instead as a broken
invariant, so this checker also looks for:

- lost updates: the aggregator's final trade count per symbol differs from the trades the
  ledger closed; the guardian's recorded position differs from the position its settled
  fills add up to (a lost write to the shared exposure book). The book moves at settle, not
  at fill, so fills and settles may interleave; one lost write leaves the book off by the
  same amount at every later settle, so only a *new* difference counts as a lost update;
- duplicate fills: one fill id recorded twice;
- sequence gaps: missing history sequence numbers (lost events) -- judged only when the
  producer declares dense numbering (``run.start`` ``dense_seq``; other recorders need only
  number strictly upwards) -- and aggregator deltas reported as a gap that never closed.

RACE_CONDITION counts those violations plus any log line marked RACE_CONDITION.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from decimal import Decimal

from harness.history.events import AGG_APPLY, AGG_GAP, AGG_STATE, ORDER_FILL, RISK_SETTLE, RUN_START, TRADE_CLOSED, f
from harness.history.log import Event
from harness.history.stresslog import level_of
from harness.judge.checks.replay import fill_of, initial_positions
from harness.judge.evidence import Evidence, evidence_record

AREA = "Race Condition Detection"
KEEP = 10


@evidence_record
class RaceFigures:
    """Log-level counts and the invariant violations races leave behind."""

    errors: int = f("events logged at ERROR", "count")
    criticals: int = f("events logged at CRITICAL", "count")
    warnings: int = f("events logged at WARNING", "count")
    race_conditions: int = f("events logged as RACE_CONDITION plus the three violations below", "count")
    tracebacks: int = f("events carrying a Python traceback", "count")
    lost_updates: int = f("aggregator trade counts and guardian positions off from the fills they sum", "count")
    duplicate_fills: int = f("fill ids recorded more than once", "count")
    sequence_gaps: int = f("missing seqs of a dense history, aggregator gaps never closed", "count")


def check_races(events: Sequence[Event]) -> Evidence[RaceFigures]:
    """Log-level counts and invariant violations that concurrency bugs leave behind."""
    levels = Counter(level_of(e) for e in events)
    tracebacks = sum(1 for e in events if "Traceback" in str(e.payload.get("traceback", "")))
    found = {
        "lost_updates": _lost_aggregator_updates(events) + _lost_book_updates(events),
        "duplicate_fills": _duplicate_fills(events),
        "sequence_gaps": _sequence_gaps(events) + _open_aggregator_gaps(events),
    }
    violations = {name: tuple(items[:KEEP]) for name, items in found.items()}
    figures = RaceFigures(
        errors=levels["ERROR"], criticals=levels["CRITICAL"], warnings=levels["WARNING"],
        race_conditions=levels["RACE_CONDITION"] + sum(len(items) for items in found.values()),
        tracebacks=tracebacks, lost_updates=len(found["lost_updates"]), duplicate_fills=len(found["duplicate_fills"]),
        sequence_gaps=len(found["sequence_gaps"]),
    )
    return Evidence(AREA, figures, violations)


def _lost_aggregator_updates(events: Sequence[Event]) -> list[dict]:
    final = next((e for e in reversed(events) if e.kind == AGG_STATE), None)
    if final is None:
        return []
    closed = Counter(str(e.symbol) for e in events if e.kind == TRADE_CLOSED)
    aggregated = {name: int(raw["trades"]) for name, raw in final.payload["symbols"].items()}
    return [
        {"symbol": name, "ledger_trades": closed.get(name, 0), "aggregator_trades": aggregated.get(name, 0)}
        for name in sorted(set(closed) | set(aggregated))
        if closed.get(name, 0) != aggregated.get(name, 0)
    ]


def _lost_book_updates(events: Sequence[Event]) -> list[dict]:
    position = {name: qty for name, (qty, _) in initial_positions(events).items()}
    unsettled: dict[str, dict[str, Decimal]] = {}
    offset: dict[str, Decimal] = {}
    found = []
    for event in events:
        if event.kind == ORDER_FILL:
            fill = fill_of(event)
            unsettled.setdefault(fill.symbol, {})[fill.fill_id] = fill.signed_qty
        elif event.kind == RISK_SETTLE and event.payload.get("position") is not None:
            symbol = str(event.symbol)
            pending = unsettled.get(symbol, {})
            # The settle names its fill; a recorder that does not is taken to settle in fill order.
            fill_id = event.payload.get("fill")
            key = str(fill_id) if fill_id is not None and str(fill_id) in pending else next(iter(pending), None)
            expected = position.get(symbol, Decimal(0)) + (pending.pop(key) if key is not None else Decimal(0))
            position[symbol] = expected
            recorded = Decimal(str(event.payload["position"]))
            difference = recorded - expected
            if difference != offset.get(symbol, Decimal(0)) and difference != 0:
                found.append({"seq": event.seq, "symbol": event.symbol, "recorded": str(recorded),
                              "from_fills": str(expected)})
            offset[symbol] = difference
    return found


def _duplicate_fills(events: Sequence[Event]) -> list[dict]:
    seen = Counter(str(e.payload.get("fill")) for e in events if e.kind == ORDER_FILL)
    return [{"fill": fill, "times": n} for fill, n in sorted(seen.items()) if n > 1]


def _sequence_gaps(events: Sequence[Event]) -> list[dict]:
    start = next((e for e in events if e.kind == RUN_START), None)
    if start is None or start.payload.get("dense_seq") is not True:
        return []
    gaps = []
    for before, after in zip(events, events[1:], strict=False):
        if after.seq != before.seq + 1:
            gaps.append({"after_seq": before.seq, "next_seq": after.seq, "missing": after.seq - before.seq - 1})
    return gaps


def _open_aggregator_gaps(events: Sequence[Event]) -> list[dict]:
    applied = {(str(e.symbol), int(e.payload["seq"])) for e in events if e.kind == AGG_APPLY}
    return [
        {"symbol": e.symbol, "seq": e.payload["seq"], "expected": e.payload["expected"]}
        for e in events
        if e.kind == AGG_GAP and (str(e.symbol), int(e.payload["seq"])) not in applied
    ]
