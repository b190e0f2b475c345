"""State-machine coverage: which transitions of the lock service, the orders and the guardian a run exercised.

A PASS says nothing of a path the run never walked. This checker counts, from the history
alone, each transition of three machines -- the lock client/broker (grant, queue, FIFO
hand-off to a queued request, renew, expiry, refusal, non-owner release refused, restart),
the order lifecycle (submit, refuse, abort, fill, close) and the guardian (reserve, settle,
release, refuse, trip, halt, a reduce-only order admitted after a trip) -- so every report
says what was tried. A scenario declares the transitions it is meant to cover
(``Scenario.covers``, recorded in ``run.start``'s ``covers``, or ``[gates] require_coverage``);
the Coverage gate fails a run that
covered fewer, so a workload change that stops exercising a path is caught.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from harness.history.events import (
    BROKER_EXPIRE,
    BROKER_GRANT,
    BROKER_QUEUE,
    BROKER_REFUSE,
    BROKER_RENEW,
    BROKER_REQUEST,
    BROKER_STOP,
    BROKER_WAIT,
    HEALTH,
    LOCK_FAIL,
    LOCK_OK,
    ORDER_ABORT,
    ORDER_FILL,
    ORDER_SUBMIT,
    RISK_CANCEL,
    RISK_REFUSE,
    RISK_RESERVE,
    RISK_SETTLE,
    RISK_TRIP,
    RUN_START,
    TRADE_CLOSED,
    WORKER_HALTED,
    f,
)
from harness.history.log import Event
from harness.judge.evidence import Evidence, evidence_record
from harness.judge.gates import GateResult, Line

AREA = "State Machine Coverage"
MACHINES: Mapping[str, tuple[str, ...]] = {
    "lock": ("grant", "queue", "fifo_handoff", "renew", "expiry", "refusal", "non_owner_release", "restart"),
    "order": ("submit", "refuse", "abort", "fill", "close"),
    "guardian": ("reserve", "settle", "release", "refuse", "trip", "halt", "reduce_only"),
}
TRANSITIONS = tuple(f"{machine}.{name}" for machine, names in MACHINES.items() for name in names)
MACHINE_KINDS = ("lock.", "broker.", "order.", "risk.", "trade.", "worker.halted", "health")
BROKER_ONLY = frozenset({"lock.queue", "lock.fifo_handoff", "lock.expiry", "lock.restart"})
# One event, one transition: the kinds whose every occurrence counts.
DIRECT = {BROKER_EXPIRE: "lock.expiry", ORDER_SUBMIT: "order.submit",
          ORDER_ABORT: "order.abort", ORDER_FILL: "order.fill", TRADE_CLOSED: "order.close",
          RISK_SETTLE: "guardian.settle", RISK_CANCEL: "guardian.release", RISK_TRIP: "guardian.trip",
          WORKER_HALTED: "guardian.halt"}


@evidence_record
class CoverageFigures:
    """How often the run took each transition, and the declared ones it never took."""

    counts: Mapping[str, int] = f("each transition (machine.transition) and how often the history shows it", "count")
    declared: tuple[str, ...] = f("transitions the run must take: run.start's covers (the scenario's) and "
                                  "[gates] require_coverage")
    missing: tuple[str, ...] = f("declared transitions the run never took")
    unobservable: tuple[str, ...] = f("declared transitions only a lock broker records, in a history without "
                                      "broker.* events (neither taken nor missed)")


class _Counter:
    """Transitions counted event by event (a request queued before its grant is a FIFO hand-off).

    A lock transition is counted on the broker's side and on the clients' side apart, and
    the larger count kept: a history may hold either side or both, and both see one grant.
    """

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.clients: Counter[str] = Counter()
        self.queued: set[tuple[str, str]] = set()
        self.tripped: set[str] = set()  # symbols whose breaker tripped ("*" for a global trip)
        self.stopped = False  # the broker stopped; its next request is a restart (the last stop is its end)

    def add(self, event: Event) -> None:
        """Count the transition ``event`` shows, if any."""
        kind, p = event.kind, event.payload
        if kind in DIRECT:
            self.counts[DIRECT[kind]] += 1
        if kind == BROKER_STOP:
            self.stopped = True
        elif kind == BROKER_REQUEST and self.stopped:
            self.counts["lock.restart"] += 1
            self.stopped = False
        if kind in (BROKER_QUEUE, BROKER_WAIT):
            self.counts["lock.queue"] += 1
            self.queued.add((str(p.get("client")), str(p.get("req"))))
        elif kind == BROKER_GRANT:
            self.counts["lock.grant"] += 1
            self.counts["lock.fifo_handoff"] += (str(p.get("client")), str(p.get("req"))) in self.queued
        elif kind == BROKER_RENEW:
            self.counts["lock.renew"] += 1
        elif kind == BROKER_REFUSE:
            self.counts["lock.non_owner_release" if p.get("reason") == "not_owner" else "lock.refusal"] += 1
        elif kind in (LOCK_OK, LOCK_FAIL):
            self._client(kind, p.get("op"), p.get("reason"))
        else:
            self._guardian(event)

    def _client(self, kind: str, op: object, reason: object) -> None:
        if kind == LOCK_OK and op in ("acquire", "renew"):
            self.clients["lock.grant" if op == "acquire" else "lock.renew"] += 1
        elif kind == LOCK_FAIL and op == "release" and reason == "not_owner":
            self.clients["lock.non_owner_release"] += 1
        elif kind == LOCK_FAIL and op == "acquire":
            self.clients["lock.refusal"] += 1

    def _guardian(self, event: Event) -> None:
        if event.kind == RISK_RESERVE:
            self.counts["guardian.reserve"] += 1
            self.counts["guardian.reduce_only"] += bool({str(event.symbol), "*"} & self.tripped)
        elif event.kind == RISK_REFUSE:
            self.counts["guardian.refuse"] += 1
            self.counts["order.refuse"] += 1
        elif event.kind == RISK_TRIP:
            self.tripped.add("*" if event.payload.get("scope") == "global" else str(event.symbol))
        elif event.kind == HEALTH and event.payload.get("state") == "HALTED":
            self.counts["guardian.halt"] += 1

    def count(self, name: str) -> int:
        """How often the run took transition ``name`` (a lock's: the side that saw it more)."""
        return max(self.counts[name], self.clients[name])


class CoverageChecker:
    """Transitions counted as the history is read; the evidence once it is all read."""

    def __init__(self) -> None:
        self.counter = _Counter()
        self.covers: tuple[str, ...] | None = None  # what the first run.start declares
        self.broker = False  # any broker.* event: the broker-only transitions are observable
        self.machines = False  # any event of a state machine coverage counts

    def feed(self, event: Event) -> None:
        """Take the next event."""
        self.counter.add(event)
        kind = event.kind
        if kind == RUN_START and self.covers is None:
            self.covers = tuple(event.payload.get("covers") or ())
        self.broker = self.broker or kind.startswith("broker.")
        self.machines = self.machines or kind.startswith(MACHINE_KINDS)

    def result(self, required: Sequence[str] = (), counts: bool = False) -> tuple[Evidence[CoverageFigures], ...]:
        """The run's coverage when it declares transitions, or (``counts``) shows any machine; else nothing."""
        declared = tuple(sorted(set(self.covers or ()) | set(required)))
        if not (declared or (counts and self.machines)):
            return ()
        return (self.evidence(declared),)

    def evidence(self, declared: Sequence[str]) -> Evidence[CoverageFigures]:
        """Each transition's count; the ``declared`` ones the run never took are the gate's failures."""
        declared = tuple(declared)
        taken = {name: self.counter.count(name) for name in TRANSITIONS}
        # A lock service without a broker's events (a user's own, plugged in) cannot show these: not its fault.
        unobservable = tuple(name for name in declared if name in BROKER_ONLY and not self.broker)
        missing = tuple(name for name in declared if not taken.get(name) and name not in unobservable)
        figures = CoverageFigures(taken, declared, missing, unobservable)
        return Evidence(AREA, figures, {"missing": tuple({"transition": name} for name in missing)})


def coverage_evidence(events: Sequence[Event], required: Sequence[str] = (),
                      counts: bool = False) -> tuple[Evidence[CoverageFigures], ...]:
    """The run's coverage when it declares transitions, or (``counts``) shows any machine; else nothing.

    A scenario run always reports its counts; re-judging a saved history does when the run did.
    """
    return _fed(events).result(required, counts)


def check_coverage(events: Sequence[Event], declared: Sequence[str] = ()) -> Evidence[CoverageFigures]:
    """Each transition's count; the declared ones the run never took are the gate's failures."""
    return _fed(events).evidence(declared)


def _fed(events: Sequence[Event]) -> CoverageChecker:
    checker = CoverageChecker()
    for event in events:
        checker.feed(event)
    return checker


def gate_coverage(ev: Evidence[CoverageFigures], thresholds: object = None) -> GateResult:
    """Coverage: each machine's transition counts; a declared transition never taken (or unknown) fails."""
    fig = ev.figures
    lines = [Line(True, f"{machine.capitalize()} transitions: "
                        + ", ".join(f"{name.replace('_', ' ')} {fig.counts[f'{machine}.{name}']}" for name in names))
             for machine, names in MACHINES.items()]
    unknown = [name for name in fig.declared if name not in fig.counts]
    if unknown:
        lines.append(Line(False, f"Unknown transitions declared: {', '.join(unknown)} (known: {', '.join(TRANSITIONS)})"))
    never = [name for name in fig.missing if name not in unknown]
    lines.append(Line(not never, f"Declared transitions never taken: {', '.join(never)}" if never else
                      f"Declared transitions: {len(fig.declared) - len(fig.unobservable)}, all taken" if fig.declared else
                      "Declared transitions: none"))
    if fig.unobservable:
        lines.append(Line(True, f"Declared but not observable (no broker.* events): {', '.join(fig.unobservable)}"))
    # Counts alone say what was tried, not whether it went right: they judge the run only against declarations.
    return GateResult("coverage", ev.area, tuple(lines), {"missing": ev.counterexample("missing")},
                      vacuous=not fig.declared)
