"""Reservation invariants: each fill covered by its order's reservation, each reservation released once.

The guardian books an order's worst case before the order goes out (``risk.reserve``: side,
quantity, and the highest price a fill may have, at which its notional is booked) and
releases it when the fill settles (``risk.settle``) or the order is dropped (``risk.cancel``).
Judged whether or not a limit breached, since a reservation that does not cover its fill
lets exposure past the limit the next time the book is near it:

- a fill must follow an open reservation of its order, on the same side, within its
  quantity (all fills of the order together) and at or below its worst price;
- a reservation released twice, released before its fill, or never released (in a history
  that ends with ``run.end``, on a symbol whose worker did not fail) is a failed fact.

A history without any ``risk.reserve`` holds no reservations to judge ("not judged").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from harness.history.events import ORDER_FILL, RISK_CANCEL, RISK_RESERVE, RISK_SETTLE, RUN_END, WORKER_ERROR
from harness.history.log import Event

KEEP = 10
FACTS = ("uncovered_fills", "released_twice", "released_before_fill", "never_released")


@dataclass
class _Reservation:
    seq: int
    side: str
    qty: Decimal
    worst_price: Decimal
    filled: Decimal = Decimal(0)
    released_at: int | None = None


@dataclass
class ReservationFacts:
    """Reservations judged and the facts that failed, with offending events (first ``KEEP`` of each)."""

    reserved: int = 0
    uncovered_fills: list[dict[str, Any]] = field(default_factory=list)
    released_twice: list[dict[str, Any]] = field(default_factory=list)
    released_before_fill: list[dict[str, Any]] = field(default_factory=list)
    never_released: list[dict[str, Any]] = field(default_factory=list)

    @property
    def judged(self) -> bool:
        """True when the history holds reservations at all."""
        return self.reserved > 0

    def violations(self) -> Mapping[str, tuple[Mapping[str, Any], ...]]:
        """The offending items per fact, for the evidence."""
        return {name: tuple(getattr(self, name)[:KEEP]) for name in FACTS}


def check_reservations(events: Sequence[Event]) -> ReservationFacts:
    """Every reservation of the history followed from reserve through its fills to its one release."""
    facts = ReservationFacts()
    if not any(e.kind == RISK_RESERVE for e in events):
        return facts
    open_: dict[tuple[str, str], _Reservation] = {}
    for event in events:
        key = (str(event.symbol), str(event.payload.get("order")))
        if event.kind == RISK_RESERVE:
            facts.reserved += 1
            p = event.payload
            open_[key] = _Reservation(event.seq, str(p["side"]), Decimal(str(p["qty"])), Decimal(str(p["worst_price"])))
        elif event.kind == ORDER_FILL:
            _fill(facts, open_.get(key), event)
        elif event.kind in (RISK_SETTLE, RISK_CANCEL) and key in open_:
            _release(facts, open_[key], event)
    if any(e.kind == RUN_END for e in events):
        failed = {str(e.symbol) for e in events if e.kind == WORKER_ERROR}
        facts.never_released = [{"seq": r.seq, "symbol": s, "order": o, "why": "reserved, never released"}
                                for (s, o), r in open_.items() if r.released_at is None and s not in failed]
    return facts


def _fill(facts: ReservationFacts, res: _Reservation | None, event: Event) -> None:
    p = event.payload
    item = {"seq": event.seq, "symbol": event.symbol, "order": p.get("order"), "fill": p.get("fill")}
    if res is None:
        facts.uncovered_fills.append({**item, "why": "no reservation of its order before it"})
        return
    if res.released_at is not None:
        facts.released_before_fill.append({**item, "why": f"reservation released at seq {res.released_at}"})
        return
    res.filled += Decimal(str(p["qty"]))
    price = Decimal(str(p["price"]))
    why = ("side differs from the reservation's" if str(p["side"]) != res.side
           else f"{res.filled} filled of {res.qty} reserved" if res.filled > res.qty
           else f"price {price} above the reserved worst price {res.worst_price}" if price > res.worst_price
           else None)
    if why is not None:
        facts.uncovered_fills.append({**item, "reserved_at": res.seq, "why": why})


def _release(facts: ReservationFacts, res: _Reservation, event: Event) -> None:
    if res.released_at is not None:
        facts.released_twice.append({"seq": event.seq, "kind": event.kind, "symbol": event.symbol,
                                     "order": event.payload.get("order"),
                                     "why": f"already released at seq {res.released_at}"})
    else:
        res.released_at = event.seq
