"""The area registry: each evidence area named once -- key, display name, checker, gate, inputs.

The runner (``harness.run.scenario``), ``harness check`` (``harness.judge.rejudge``) and the report all
judge through this table, so an area means the same everywhere. It imports checkers and
gates only -- never the engine -- so re-judging a saved history needs nothing of the system
that recorded it.

An area is judged on what the history holds: one whose input events are absent is "not
applicable (no X events)" -- neither a pass nor a fail -- unless the user requires it
(``harness check --areas`` or ``[tool.harness.gates] require_areas``), when it fails.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import InputError
from harness.history.events import ORDER_FILL, RUN_START, TRADE_CLOSED, f
from harness.history.log import Event
from harness.judge.checks.coverage import AREA as COVERAGE_AREA
from harness.judge.checks.coverage import gate_coverage
from harness.judge.checks.locks import LockChecker, check_locks
from harness.judge.checks.perf import PerfChecker, check_perf
from harness.judge.checks.persistence import AREA as PERSISTENCE_AREA
from harness.judge.checks.pnl import AggregatorChecker, check_pnl
from harness.judge.checks.races import RaceChecker, check_races
from harness.judge.checks.risk import RiskChecker, check_risk
from harness.judge.evidence import Evidence, evidence_record
from harness.judge.gates import (
    GateResult,
    Line,
    gate_aggregator,
    gate_locks,
    gate_performance,
    gate_persistence,
    gate_races,
    gate_risk,
)
from harness.judge.stream import Batch, Incremental
from harness.judge.thresholds import Thresholds

Gate = Callable[[Evidence[Any], Thresholds], GateResult]


@evidence_record
class NotApplicable:
    """The record of an area whose input events the history lacks (its figures are not computed)."""

    not_applicable: str = f("what the history lacks, e.g. \"no lock.* / fence.* events\"")
    required: bool = f("the user required the area, so its gate fails")


@dataclass(frozen=True)
class Area:
    """One evidence area: how it is named, checked, gated, and which events it needs."""

    key: str
    name: str
    checker: Callable[..., Evidence[Any]]  # called with the events, and the options below as keywords
    gate: Gate
    needs: tuple[str, ...]  # event kinds, or kind families ending in "." ("lock."); any one suffices
    # The kinds without which the area, though applicable, judges nothing (None: its ``needs``).
    substance: tuple[str, ...] | None = None
    options: Callable[[Thresholds], Mapping[str, Any]] | None = None  # the checker's settings from [gates]
    incremental: Callable[..., Incremental[Evidence[Any]]] | None = None  # None: the checker runs on all events

    def start(self, limits: Thresholds | None = None) -> Incremental[Evidence[Any]]:
        """A fresh checker of this area (with its settings from ``limits``), fed the history one event at a time."""
        options = self.options(limits) if limits is not None and self.options is not None else {}
        if self.incremental is not None:
            return self.incremental(**options)
        return Batch(lambda events: self.checker(events, **options))

    def applicable(self, kinds: set[str]) -> bool:
        """True when the history holds an event this area needs (an empty ``needs``: always)."""
        return not self.needs or _holds(kinds, self.needs)

    def judges_something(self, kinds: set[str]) -> bool:
        """True when the history holds an event of the area's substance (not only what makes it apply)."""
        return _holds(kinds, self.needs if self.substance is None else self.substance)

    @property
    def missing(self) -> str:
        """What the history lacks when the area is not applicable, for the report line."""
        return "no " + " / ".join(f"{n}*" if n.endswith(".") else n for n in self.needs) + " events"


def _holds(kinds: set[str], wanted: Sequence[str]) -> bool:
    """True when a kind in ``kinds`` is one of ``wanted`` (or of a family ending in ".")."""
    return any(k.startswith(n) if n.endswith(".") else k == n for n in wanted for k in kinds)


# What a race leaves its mark on: log-level counts alone (of broker events, say) judge no trading.
_RACE_SUBSTANCE = ("order.", "trade.", "agg.", "risk.", "lock.", "fence.", "worker.")
AREAS: Mapping[str, Area] = {a.key: a for a in (
    Area("locks", "Lock Atomicity", check_locks, gate_locks, ("lock.", "fence."),
         options=lambda t: {"lin_budget": t.linearizability_budget()}, incremental=LockChecker),
    Area("races", "Race Condition Detection", check_races, gate_races, (), _RACE_SUBSTANCE, incremental=RaceChecker),
    Area("performance", "Performance Metrics", check_perf, gate_performance, (TRADE_CLOSED,), incremental=PerfChecker),
    Area("aggregator", "MetricsAggregator Accuracy", check_pnl, gate_aggregator, ("agg.",), incremental=AggregatorChecker),
    # run.start gives the limits and equity; without a risk event or a fill there is nothing to judge.
    Area("risk", "Risk Management", check_risk, gate_risk, ("risk.", RUN_START), ("risk.", ORDER_FILL),
         incremental=RiskChecker),
)}
STANDARD_AREAS = tuple(AREAS)
# Areas whose evidence is computed beside the registry's (what the layers hold; coverage): gated here too.
OUTSIDE: Mapping[str, Gate] = {PERSISTENCE_AREA: gate_persistence, COVERAGE_AREA: gate_coverage}
GATES = {**{a.name: a.gate for a in AREAS.values()}, **OUTSIDE}


class UnknownArea(InputError):
    """An area key the registry does not know."""


def known(keys: Sequence[str]) -> tuple[str, ...]:
    """``keys`` checked against the registry (UnknownArea names the first stranger and the known ones)."""
    for key in keys:
        if key not in AREAS:
            raise UnknownArea(f"unknown area {key!r} (known: {', '.join(STANDARD_AREAS)})")
    return tuple(keys)


TICK = 4096  # events between two progress calls: a call costs about what judging one event does


class Judging:
    """Every chosen area judged in one pass: each event goes to each area's checker as it comes.

    ``limits`` carries the checkers' settings (the lock checker's search budget; defaults when
    None); ``progress`` is called with the count of events judged every ``TICK`` events.
    """

    def __init__(self, keys: Sequence[str], required: Sequence[str] = (), limits: Thresholds | None = None,
                 progress: Callable[[int], None] | None = None) -> None:
        self.areas = [AREAS[key] for key in keys]
        self.required = required
        self.progress = progress
        self.checkers = [area.start(limits) for area in self.areas]
        self.kinds: set[str] = set()
        self.events = 0

    def feed(self, event: Event) -> None:
        """Take the next event of the history."""
        self.events += 1
        self.kinds.add(event.kind)
        for checker in self.checkers:
            checker.feed(event)
        if self.progress is not None and not self.events % TICK:
            self.progress(self.events)

    def result(self, extra: Sequence[Evidence[object]] = ()) -> tuple[Evidence[object], ...]:
        """Each area's evidence -- or its not-applicable record -- plus evidence computed elsewhere."""
        out: list[Evidence[object]] = []
        for area, checker in zip(self.areas, self.checkers, strict=True):
            if area.applicable(self.kinds):
                evidence = checker.result()
                out.append(evidence if area.judges_something(self.kinds) else dataclasses.replace(evidence, vacuous=True))
            else:
                out.append(Evidence(area.name, NotApplicable(area.missing, area.key in self.required)))
        return tuple(out) + tuple(extra)


def evaluate(events: Iterable[Event], keys: Sequence[str], extra: Sequence[Evidence[object]] = (),
             required: Sequence[str] = (), limits: Thresholds | None = None,
             progress: Callable[[int], None] | None = None) -> tuple[Evidence[object], ...]:
    """Each area's evidence -- or its not-applicable record -- plus evidence computed elsewhere (one pass)."""
    judging = Judging(keys, required, limits, progress)
    for event in events:
        judging.feed(event)
    return judging.result(extra)


def not_applicable_gate(ev: Evidence[NotApplicable]) -> GateResult:
    """The verdict of an area without inputs: n/a, or a failure when the user required it."""
    reason = ev.figures.not_applicable
    if ev.figures.required:
        return GateResult("required", ev.area, (Line(False, f"Required, but not applicable ({reason})"),))
    return GateResult("n/a", ev.area, (Line(True, f"Not applicable ({reason})"),), applicable=False)


def gate_for(ev: Evidence[object], extra: Mapping[str, Gate] | None = None) -> Gate:
    """The gate that judges ``ev``: its area's, a scenario's extra one, or the not-applicable verdict."""
    if isinstance(ev.figures, NotApplicable):
        return lambda e, _t: not_applicable_gate(e)
    return {**GATES, **(extra or {})}[ev.area]


def judge(evidence: Sequence[Evidence[object]], thresholds: Thresholds,
          extra: Mapping[str, Gate] | None = None) -> tuple[GateResult, ...]:
    """Judge each evidence area with its gate (the registry's, a scenario's extra one, or not applicable)."""
    gates = ((gate_for(ev, extra)(ev, thresholds), ev.vacuous) for ev in evidence)
    return tuple(dataclasses.replace(gate, vacuous=True) if vacuous else gate for gate, vacuous in gates)
