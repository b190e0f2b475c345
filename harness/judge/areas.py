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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import InputError
from harness.history.events import ORDER_FILL, RUN_START, TRADE_CLOSED, f
from harness.history.log import Event
from harness.judge.checks.coverage import AREA as COVERAGE_AREA
from harness.judge.checks.coverage import gate_coverage
from harness.judge.checks.locks import check_locks
from harness.judge.checks.perf import check_perf
from harness.judge.checks.persistence import AREA as PERSISTENCE_AREA
from harness.judge.checks.pnl import check_pnl
from harness.judge.checks.races import check_races
from harness.judge.checks.risk import check_risk
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
         options=lambda t: {"lin_budget": t.linearizability_budget()}),
    Area("races", "Race Condition Detection", check_races, gate_races, (), _RACE_SUBSTANCE),
    Area("performance", "Performance Metrics", check_perf, gate_performance, (TRADE_CLOSED,)),
    Area("aggregator", "MetricsAggregator Accuracy", check_pnl, gate_aggregator, ("agg.",)),
    # run.start gives the limits and equity; without a risk event or a fill there is nothing to judge.
    Area("risk", "Risk Management", check_risk, gate_risk, ("risk.", RUN_START), ("risk.", ORDER_FILL)),
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


def evaluate(events: Sequence[Event], keys: Sequence[str], extra: Sequence[Evidence[object]] = (),
             required: Sequence[str] = (), limits: Thresholds | None = None) -> tuple[Evidence[object], ...]:
    """Each area's evidence -- or its not-applicable record -- plus evidence computed elsewhere.

    ``limits`` carries the checkers' settings (the lock checker's search budget); defaults when None.
    """
    kinds = {e.kind for e in events}
    out: list[Evidence[object]] = []
    for key in keys:
        area = AREAS[key]
        if area.applicable(kinds):
            options = area.options(limits) if limits is not None and area.options is not None else {}
            evidence = area.checker(events, **options)
            out.append(evidence if area.judges_something(kinds) else dataclasses.replace(evidence, vacuous=True))
        else:
            out.append(Evidence(area.name, NotApplicable(area.missing, key in required)))
    return tuple(out) + tuple(extra)


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
