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

from harness.history.events import (
    AGG_APPLY,
    AGG_GAP,
    AGG_STATE,
    ORDER_FILL,
    RISK_SETTLE,
    RUN_RESUME,
    RUN_START,
    TRADE_CLOSED,
    f,
)
from harness.history.log import Event
from harness.history.stresslog import level_of
from harness.judge.checks.replay import fill_of, resumed_positions
from harness.judge.evidence import Evidence, evidence_record
from harness.judge.stream import fed

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


class _Kept:
    """A count of findings and the first few of them (what the evidence shows)."""

    def __init__(self) -> None:
        self.count = 0
        self.items: list[dict] = []

    def add(self, item: dict) -> None:
        """One more finding."""
        self.count += 1
        if len(self.items) < KEEP:
            self.items.append(item)


def _joined(*parts: _Kept) -> tuple[int, tuple[dict, ...]]:
    """The findings of ``parts`` in order, as one check: their count and the first few."""
    return sum(p.count for p in parts), tuple(item for p in parts for item in p.items)[:KEEP]


class _Book:
    """The guardian's recorded position per symbol against its settled fills; holds only unsettled fills.

    The book moves at settle, not at fill, so fills and settles may interleave; one lost write
    leaves the book off by the same amount at every later settle, so only a *new* difference
    counts as a lost update. A resumed run starts from its ``run.resume`` positions.
    """

    def __init__(self) -> None:
        self.position: dict[str, Decimal] = {}
        self.unsettled: dict[str, dict[str, Decimal]] = {}
        self.offset: dict[str, Decimal] = {}
        self.resumed = False
        self.lost = _Kept()

    def resume(self, event: Event) -> None:
        """The first run.resume: where the book stood."""
        if not self.resumed:
            self.resumed = True
            self.position.update({name: qty for name, (qty, _) in resumed_positions(event.payload).items()})

    def fill(self, event: Event) -> None:
        """A fill the book has still to settle."""
        fill = fill_of(event)
        self.unsettled.setdefault(fill.symbol, {})[fill.fill_id] = fill.signed_qty

    def settle(self, event: Event) -> None:
        """A settle with the book's position: compare it with the fills settled so far."""
        symbol = str(event.symbol)
        pending = self.unsettled.get(symbol, {})
        # The settle names its fill; a recorder that does not is taken to settle in fill order.
        fill_id = event.payload.get("fill")
        key = str(fill_id) if fill_id is not None and str(fill_id) in pending else next(iter(pending), None)
        expected = self.position.get(symbol, Decimal(0)) + (pending.pop(key) if key is not None else Decimal(0))
        self.position[symbol] = expected
        recorded = Decimal(str(event.payload["position"]))
        difference = recorded - expected
        if difference != self.offset.get(symbol, Decimal(0)) and difference != 0:
            self.lost.add({"seq": event.seq, "symbol": event.symbol, "recorded": str(recorded),
                           "from_fills": str(expected)})
        self.offset[symbol] = difference


class _Numbering:
    """Gaps between consecutive seqs, judged only when the first run.start declares dense numbering."""

    def __init__(self) -> None:
        self.last: int | None = None
        self.dense: bool | None = None  # unknown until the first run.start
        self.gaps = _Kept()

    def feed(self, event: Event) -> None:
        """Take the next event's seq (and a run.start's word on numbering)."""
        if self.dense is None and event.kind == RUN_START:
            self.dense = event.payload.get("dense_seq") is True
        before, self.last = self.last, event.seq
        if before is not None and event.seq != before + 1 and self.dense is not False:
            self.gaps.add({"after_seq": before, "next_seq": event.seq, "missing": event.seq - before - 1})

    def found(self) -> _Kept:
        """The gaps, when the history is dense."""
        return self.gaps if self.dense else _Kept()


class RaceChecker:
    """Log-level counts and invariant violations, fed one event at a time.

    Holds unsettled fills, the last aggregator state, and per trade one fill id and one applied
    delta (duplicates and never-closed gaps are judged against every one of them).
    """

    def __init__(self) -> None:
        self.levels: Counter[str] = Counter()
        self.tracebacks = 0
        self.closed: Counter[str] = Counter()
        self.final: Event | None = None
        self.book, self.numbering = _Book(), _Numbering()
        self.fills: Counter[str] = Counter()
        self.duplicates = 0  # fill ids seen more than once
        self.applied: set[tuple[str, int]] = set()
        self.gaps: list[Event] = []  # agg.gap events; closed when their delta is applied, before or after

    def feed(self, event: Event) -> None:
        """Take the next event."""
        self.levels[level_of(event)] += 1
        payload, kind = event.payload, event.kind
        if "Traceback" in str(payload.get("traceback", "")):
            self.tracebacks += 1
        self.numbering.feed(event)
        if kind == ORDER_FILL:
            fill = str(payload.get("fill"))
            self.fills[fill] += 1
            self.duplicates += self.fills[fill] == 2
            self.book.fill(event)
        elif kind == RISK_SETTLE and payload.get("position") is not None:
            self.book.settle(event)
        elif kind == TRADE_CLOSED:
            self.closed[str(event.symbol)] += 1
        elif kind == AGG_STATE:
            self.final = event
        elif kind == AGG_APPLY:
            self.applied.add((str(event.symbol), int(payload["seq"])))
        elif kind == AGG_GAP:
            self.gaps.append(event)
        elif kind == RUN_RESUME:
            self.book.resume(event)

    def tally(self) -> dict[str, int]:
        """The violations that show as they happen: lost book updates, fills seen twice, gaps in dense numbering."""
        return {"lost_updates": self.book.lost.count, "duplicate_fills": self.duplicates,
                "sequence_gaps": self.numbering.found().count}

    def result(self) -> Evidence[RaceFigures]:
        """Log-level counts and invariant violations of every event fed."""
        found = {
            "lost_updates": _joined(self._lost_aggregator_updates(), self.book.lost),
            "duplicate_fills": _joined(self._duplicate_fills()),
            "sequence_gaps": _joined(self.numbering.found(), self._open_aggregator_gaps()),
        }
        levels = self.levels
        figures = RaceFigures(
            errors=levels["ERROR"], criticals=levels["CRITICAL"], warnings=levels["WARNING"],
            race_conditions=levels["RACE_CONDITION"] + sum(count for count, _ in found.values()),
            tracebacks=self.tracebacks, lost_updates=found["lost_updates"][0],
            duplicate_fills=found["duplicate_fills"][0], sequence_gaps=found["sequence_gaps"][0],
        )
        return Evidence(AREA, figures, {name: items for name, (_, items) in found.items()})

    def _lost_aggregator_updates(self) -> _Kept:
        kept = _Kept()
        if self.final is None:
            return kept
        aggregated = {name: int(raw["trades"]) for name, raw in self.final.payload["symbols"].items()}
        for name in sorted(set(self.closed) | set(aggregated)):
            if self.closed.get(name, 0) != aggregated.get(name, 0):
                kept.add({"symbol": name, "ledger_trades": self.closed.get(name, 0),
                          "aggregator_trades": aggregated.get(name, 0)})
        return kept

    def _duplicate_fills(self) -> _Kept:
        kept = _Kept()
        for fill, n in sorted(self.fills.items()):
            if n > 1:
                kept.add({"fill": fill, "times": n})
        return kept

    def _open_aggregator_gaps(self) -> _Kept:
        kept = _Kept()
        for e in self.gaps:
            if (str(e.symbol), int(e.payload["seq"])) not in self.applied:
                kept.add({"symbol": e.symbol, "seq": e.payload["seq"], "expected": e.payload["expected"]})
        return kept


def check_races(events: Sequence[Event]) -> Evidence[RaceFigures]:
    """Log-level counts and invariant violations that concurrency bugs leave behind."""
    return fed(RaceChecker(), events)
