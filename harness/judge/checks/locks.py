"""Lock atomicity evidence: one pass over the lock, fence and broker events of a history.

Figures: ``LockFigures`` below. Every overlap is a hold seen from some side -- the client
view, the broker's grants, the fenced resources (see ``harness.judge.checks.lock_sides``).

A definite hold window runs from the acquire's lock.ok to the earliest of the holder's
release invocation, a broker.expire of it, and the earliest moment its lease can have run
out (invocation + lease: the broker starts the lease after the invocation was sent).

A hold still open at the end is orphaned when nothing will free it: it has no lease, or
broker events are recorded and its lease (from lock.ok, plus ``lease_grace_ns`` and
``quiesce_ns``) ran out before the history ended without a broker.expire. Without broker
events a leased hold at the end is assumed to expire.

Violations keep the first few offending events of each check as dicts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.history.events import (
    BROKER_ERROR,
    BROKER_GRANT,
    BROKER_REFUSE,
    BROKER_RELEASE,
    BROKER_RENEW,
    BROKER_REQUEST,
    BROKER_STOP,
    BROKER_WAIT,
    FAULT_INJECT,
    FENCE_ACCEPT,
    FENCE_REJECT,
    LOCK_FAIL,
    LOCK_INFO,
    LOCK_INVOKE,
    LOCK_OK,
    RUN_START,
    f,
)
from harness.history.log import Event
from harness.judge.checks.lock_order import OrderFigures, check_lock_order
from harness.judge.checks.lock_sides import BrokerView, ResourceView
from harness.judge.evidence import Evidence, evidence_record
from harness.judge.linearizability.checker import check
from harness.judge.linearizability.formats import BROKER_EXPIRE, records_from_events
from harness.judge.linearizability.models import OWNER_MUTEX
from harness.judge.linearizability.operations import Budget, MalformedHistory, Operation, Verdict, operations

AREA = "Lock Atomicity"
KEEP = 10
MS = 1_000_000
DEFAULT_LIN_BUDGET = Budget()
CHECKS = (
    "wellformed",
    "state_errors",
    "overlaps",
    "refused_held",
    "token_order_errors",
    "stale_accepted",
    "wait_die_violations",
    "orphaned_locks",
    "linearizable",
)


@evidence_record
class LockFigures:
    """Lock atomicity figures of a history (counts unless said otherwise)."""

    events_total: int = f("lock.*, fence.* and broker.* events", "count")
    acquires: int = f("successful acquire operations (lock.ok)", "count")
    releases: int = f("successful release operations (lock.ok)", "count")
    renews: int = f("successful renew operations (lock.ok)", "count")
    pairs_total: int = f("holds started (one per lock name of a successful acquire)", "count")
    pairs_balanced: int = f("holds ended by their holder's own successful release", "count")
    pairs_faulted: int = f("holds a fault hit (held by the target of a fault.inject, or ended by a broker stop) "
                           "that did not end by their holder's own release", "count")
    held_at_end: int = f("holds still open when the history ends", "count")
    orphaned_locks: int = f("holds open at the end that nothing will ever free (no lease, or a lease the broker "
                            "never expired)", "count")
    wellformed_errors: int = f("a second invocation while one is outstanding, or a completion without a matching "
                               "invocation (same req)", "count")
    state_errors: int = f("release or renew by a non-owner, double release, acquire granted while the lock is "
                          "held (client view)", "count")
    overlaps: int = f("two holders at once, seen from any side (the sum of the three below)", "count")
    overlaps_client: int = f("pairs of definite client hold windows on one lock", "count")
    overlaps_broker: int = f("grants of a lock the broker made while another client held it", "count")
    overlaps_resource: int = f("fenced writes outside the writer's hold or interleaved with another holder's",
                               "count")
    refused_held: int = f("client lock.ok of an acquire the recorded broker refused or never granted", "count")
    token_order_errors: int = f("tokens not strictly increasing per lock (broker grant order, client completion "
                                "order), or tokens given to some grants and not to others", "count")
    fencing: Literal["provided", "not provided"] = f("whether grants carry integer fencing tokens")
    stale_accepted: int = f("fence.accept of a token older than one accepted, or from a holder whose lease "
                            "ended or after a newer grant", "count")
    fence_accepts: int = f("fenced writes a resource accepted", "count")
    fence_rejects: int = f("fenced writes a resource refused (fencing working)", "count")
    expiries: int = f("leases the broker expired", "count")
    broker_errors: int = f("malformed requests the broker rejected", "count")
    wait_die_violations: int = f("young waits for old, old refused, retry with a changed ts, a wait-for cycle",
                                 "count")
    fifo_overtakes: int = f("queued waiters granted ahead of an earlier waiter on one of their names", "count")
    partial_grants: int = f("broker.grant whose names differ from its request's", "count")
    linearizable: Verdict = f("each lock's history against the owner-aware mutex")
    linearizable_detail: str = f("why: the counterexample, or the exhausted budget")
    lock_service: str | None = f("the lock service judged (module.Class), when run.start names it")


def event_dict(event: Event) -> dict[str, Any]:
    """An event as plain JSON data, for counterexamples."""
    return json.loads(event.to_json())


class _Findings:
    """Counts violations per check and keeps the first few as counterexamples."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(CHECKS, 0)
        self.kept: dict[str, list[tuple[str, Event, Event | None]]] = {name: [] for name in CHECKS}

    def add(self, check_name: str, reason: str, event: Event, other: Event | None = None) -> None:
        """Record one violation."""
        self.counts[check_name] += 1
        if len(self.kept[check_name]) < KEEP:
            self.kept[check_name].append((reason, event, other))

    def violations(self) -> dict[str, tuple[Mapping[str, Any], ...]]:
        """Kept counterexamples as dicts; checks that found nothing are left out."""
        return {
            name: tuple(_violation(*item) for item in items) for name, items in self.kept.items() if items
        }


def _violation(reason: str, event: Event, other: Event | None) -> dict[str, Any]:
    item: dict[str, Any] = {"reason": reason, "event": event_dict(event)}
    if other is not None:
        item["other"] = event_dict(other)
    return item


@dataclass
class _Hold:
    """A definite hold of one lock by one client."""

    event: Event
    token: int | None
    invoke_ns: int
    ok_ns: int
    lease_ns: int
    end_ns: float = float("inf")
    overlap: bool = False
    displaced: set[tuple[Any, Any]] = field(default_factory=set)

    def end(self, at_ns: float) -> None:
        """The hold is over at ``at_ns`` (or earlier, when its lease surely ran out first)."""
        self.end_ns = min(self.end_ns, at_ns, self.definite_until())

    def definite_until(self) -> float:
        """Earliest moment the lease can have run out (never, without a lease)."""
        return self.invoke_ns + self.lease_ns if self.lease_ns else float("inf")

    def possible_until(self) -> float:
        """Latest moment the lease can still run (never ends, without a lease)."""
        return self.ok_ns + self.lease_ns if self.lease_ns else float("inf")


@dataclass
class _Open:
    """A client's outstanding operation."""

    event: Event
    not_owned: tuple[str, ...] = ()


class _TokenOrder:
    """Strictly increasing tokens per lock, in the order one party saw grants."""

    def __init__(self, order: str) -> None:
        self.order = order
        self.last: dict[str, int] = {}
        self.errors: list[tuple[str, Event]] = []
        self.with_token = self.without_token = 0
        self.first_without: Event | None = None

    def observe(self, name: str, token: Any, event: Event) -> None:
        """Check one granted token against the previous grant of the lock (None: no token)."""
        if token is None:
            self.without_token += 1
            self.first_without = self.first_without or event
            return
        if not isinstance(token, int) or isinstance(token, bool):
            self.errors.append((f"{name}: grant with a token that is not an integer ({token!r})", event))
            return
        self.with_token += 1
        last = self.last.get(name)
        if last is not None and token <= last:
            self.errors.append((f"{name}: token {token} after {last} ({self.order} order)", event))
        self.last[name] = token

    def mixed(self) -> tuple[str, Event] | None:
        """Some grants carry tokens and others none: fencing cannot be relied on."""
        if self.with_token and self.without_token and self.first_without is not None:
            return f"{self.without_token} grants without a token among {self.with_token} with one", self.first_without
        return None


class _LockScan:
    """State of the single pass; one handler per event kind."""

    def __init__(self, lease_grace_ns: int, record_windows: bool = False) -> None:
        self.grace = lease_grace_ns
        # Every hold, for drawing timelines; off for checking, whose memory must not grow with the history.
        self.windows: list[tuple[str, str, _Hold]] | None = [] if record_windows else None
        self.found = _Findings()
        self.counts = dict.fromkeys(
            ("events_total", "acquires", "releases", "renews", "pairs_total", "pairs_balanced", "pairs_faulted",
             "fence_accepts", "fence_rejects", "expiries", "broker_errors", "broker_events", "overlaps_client"),
            0,
        )
        self.open: dict[str, _Open] = {}
        self.holders: dict[str, dict[str, _Hold]] = {}
        self.last_released: dict[str, str] = {}
        self.first_ts: dict[str, Any] = {}
        self.newest_grant: dict[str, int] = {}
        # Keyed by raw payload values: a malformed history may leave any of them out (None).
        self.newest_accepted: dict[tuple[Any, Any], int] = {}
        self.expired: set[tuple[Any, Any]] = set()
        self.faulted: set[tuple[Any, Any]] = set()  # (name, client) of holds a fault hit, not yet ended
        self.stop_expiries: list[tuple[Any, Any]] = []  # holds broker.expire ended since the broker's last other event
        self.waits_for: dict[Any, Any] = {}
        self.client_order = _TokenOrder("client")
        self.broker_order = _TokenOrder("broker")
        self.broker = BrokerView(self.found.add)
        self.resources = ResourceView(self.found.add, lease_grace_ns)
        self.end_ns = 0
        self.handlers: dict[str, Callable[[Event], None]] = {
            LOCK_INVOKE: self.invoke,
            LOCK_OK: self.ok,
            LOCK_FAIL: self.failed,
            LOCK_INFO: self.failed,
            FENCE_ACCEPT: self.fence_accept,
            FENCE_REJECT: self.fence_reject,
            BROKER_REQUEST: self.broker.request,
            BROKER_GRANT: self.broker_grant,
            BROKER_WAIT: self.broker_wait,
            BROKER_REFUSE: self.broker_refuse,
            BROKER_RELEASE: self.broker.release,
            BROKER_RENEW: self.broker.renew,
            BROKER_EXPIRE: self.broker_expire,
            BROKER_ERROR: self.broker_error,
        }

    def scan(self, events: Sequence[Event]) -> None:
        """Feed every event, in history order, to its handler."""
        handlers, counts = self.handlers, self.counts
        for event in events:
            kind = event.kind
            handler = handlers.get(kind)
            from_broker = kind.startswith("broker.")
            if handler is None and not from_broker:
                if kind == FAULT_INJECT:
                    self.fault(event)
                continue
            counts["events_total"] += 1
            counts["broker_events"] += from_broker
            if from_broker and kind != BROKER_EXPIRE:
                self.broker_event(event)
            if handler is not None:
                handler(event)
        self.end_ns = events[-1].mono_ns if events else 0

    # -- client operations ---------------------------------------------------------------

    def invoke(self, event: Event) -> None:
        """Open a client operation; a release invocation ends the client's hold windows."""
        client, payload = event.worker, event.payload
        if client in self.open:
            self.found.add("wellformed", "invocation while another operation is outstanding", event, self.open[client].event)
        op, names = payload.get("op"), payload.get("names", ())
        not_owned: tuple[str, ...] = ()
        if op == "acquire":
            self._retry_ts(client, payload, event)
        elif op == "release":
            not_owned = tuple(name for name in names if self._end_hold(name, client, event.mono_ns) is None)
        self.open[client] = _Open(event, not_owned)

    def _retry_ts(self, client: str, payload: Mapping[str, Any], event: Event) -> None:
        """A retried acquire must keep the wait-or-die timestamp of its first attempt."""
        if payload.get("attempt", 1) == 1:
            self.first_ts[client] = payload.get("ts")
        elif payload.get("ts") != self.first_ts.get(client):
            reason = f"retry attempt {payload.get('attempt')} changed ts {self.first_ts.get(client)} -> {payload.get('ts')}"
            self.found.add("wait_die_violations", reason, event)

    def _complete(self, event: Event) -> _Open | None:
        """Close the client's outstanding operation; None when the completion matches none."""
        pending = self.open.pop(event.worker, None)
        req = event.payload.get("req")
        if pending is None:
            self.found.add("wellformed", "completion without an invocation", event)
        elif pending.event.payload.get("req") != req:
            self.found.add("wellformed", f"completion of req {req} while req {pending.event.payload.get('req')} is open", event, pending.event)
            return None
        return pending

    def ok(self, event: Event) -> None:
        """Close an operation that took effect."""
        pending = self._complete(event)
        op = event.payload.get("op")
        if op == "acquire":
            self.counts["acquires"] += 1
            self.broker.acquired(event)
            self._granted(event, pending)
            return
        self.broker.completed(event)
        if op == "release":
            self.counts["releases"] += 1
            if pending is not None:
                self._released(event, pending)
        elif op == "renew":
            self.counts["renews"] += 1
            self._renewed(event, pending)

    def failed(self, event: Event) -> None:
        """Close an operation that did not (or may not) take effect; its wait is over."""
        self._complete(event)
        self.broker.completed(event)
        self.waits_for.pop(event.worker, None)

    def _granted(self, event: Event, pending: _Open | None) -> None:
        client, payload = event.worker, event.payload
        tokens = payload.get("tokens") or {}
        lease_ns = int(payload.get("lease_ms") or 0) * MS
        invoke_ns = event.mono_ns if pending is None else pending.event.mono_ns
        self.waits_for.pop(client, None)
        for name in payload.get("names", ()):
            held = self.holders.setdefault(name, {})
            token = tokens.get(name)
            new = _Hold(event, token, invoke_ns, event.mono_ns, lease_ns)
            for other, hold in list(held.items()):
                if hold.definite_until() < event.mono_ns:
                    del held[other]  # its lease has certainly run out
                elif other == client:
                    self.found.add("state_errors", f"{name}: acquire granted to its holder again", event, hold.event)
                    if self.windows is not None:
                        hold.end(event.mono_ns)
                else:
                    self.found.add("overlaps", f"{name}: held by {other} and {client} at once (client view)",
                                   event, hold.event)
                    self.counts["overlaps_client"] += 1
                    self.found.add("state_errors", f"{name}: acquire granted while held by {other}", event, hold.event)
                    hold.overlap = new.overlap = True
            self._fault_over(name, client, balanced=False)  # its previous hold is surely over
            held[client] = new
            if self.windows is not None:
                self.windows.append((name, client, new))
            self.last_released.pop(name, None)
            self.counts["pairs_total"] += 1
            self.client_order.observe(name, token, event)
            self._newer_grant(name, token)

    def _released(self, event: Event, pending: _Open) -> None:
        client = event.worker
        for name in pending.event.payload.get("names", ()):
            if name not in pending.not_owned:
                self.counts["pairs_balanced"] += 1
                self._fault_over(name, client, balanced=True)
                self.last_released[name] = client
            elif self.last_released.get(name) == client:
                self.found.add("state_errors", f"{name}: released twice by {client}", event, pending.event)
            else:
                self.found.add("state_errors", f"{name}: released by {client}, which does not hold it", event, pending.event)

    def _renewed(self, event: Event, pending: _Open | None) -> None:
        lease_ns = int(event.payload.get("lease_ms") or 0) * MS
        for name in event.payload.get("names", ()):
            hold = self.holders.get(name, {}).get(event.worker)
            if hold is None:
                self.found.add("state_errors", f"{name}: renewed by {event.worker}, which does not hold it", event)
                continue
            hold.invoke_ns = event.mono_ns if pending is None else pending.event.mono_ns
            hold.ok_ns, hold.lease_ns = event.mono_ns, lease_ns

    def _end_hold(self, name: Any, client: Any, at_ns: int) -> _Hold | None:
        held = self.holders.get(name)
        hold = None if held is None else held.pop(client, None)
        if hold is not None and self.windows is not None:
            hold.end(at_ns)
        return hold

    def _newer_grant(self, name: str, token: Any) -> None:
        if isinstance(token, int) and token > self.newest_grant.get(name, 0):
            self.newest_grant[name] = token

    # -- fenced resources ----------------------------------------------------------------

    def fence_accept(self, event: Event) -> None:
        """A resource accepted a fenced write: it must not be stale."""
        self.counts["fence_accepts"] += 1
        payload = event.payload
        name: Any = payload.get("lock")
        token = payload.get("token")
        key = (payload.get("resource"), name)
        held = self.holders.get(name)
        if held is not None:  # a lock some client acquired: its writes are judged against the holds
            broker = self.broker if self.counts["broker_events"] else None
            self.resources.write(event, held.get(event.worker), broker, held)
        if token is None:
            return  # no fencing token: the write is judged by the windows above only
        newest = self.newest_accepted.get(key)
        reason = self._stale(name, token, newest, event)
        if reason is not None:
            self.found.add("stale_accepted", f"{key[0]}/{name}: token {token} accepted although {reason}", event)
        if isinstance(token, int) and (newest is None or token > newest):
            self.newest_accepted[key] = token

    def _stale(self, name: str, token: Any, newest: int | None, event: Event) -> str | None:
        """Why a fenced write should have been refused, or None."""
        if not isinstance(token, int) or isinstance(token, bool):
            return "it is not an integer"
        if newest is not None and token < newest:
            return f"token {newest} was accepted before"
        if event.payload.get("deferred"):
            return None  # applied after it was made: later grants and expiries say nothing of it
        if (name, token) in self.expired:
            return "its lease expired"
        hold = self.holders.get(name, {}).get(event.worker)
        if hold is not None and hold.token == token and hold.possible_until() + self.grace < event.mono_ns:
            return "its holder's lease ran out"
        if self.newest_grant.get(name, 0) > token:
            return f"a newer grant (token {self.newest_grant[name]}) was made"
        return None

    def fence_reject(self, event: Event) -> None:
        """A resource refused a stale token: counted, as fencing working."""
        self.counts["fence_rejects"] += 1

    # -- broker events -------------------------------------------------------------------

    def broker_grant(self, event: Event) -> None:
        """The broker granted locks: token order, newest grant, the waiter's wait ends."""
        payload = event.payload
        tokens = payload.get("tokens") or {}
        self.waits_for.pop(payload.get("client"), None)
        self.broker.grant(event)
        for name in payload.get("names", ()):
            self.broker_order.observe(name, tokens.get(name), event)
            self._newer_grant(name, tokens.get(name))

    def broker_wait(self, event: Event) -> None:
        """Only an older request may wait ((ts, client) smaller), and waits never form a cycle."""
        payload = event.payload
        client, holder = payload.get("client"), payload.get("blocked_by")
        ts, holder_ts = payload.get("ts"), payload.get("holder_ts")
        if _comparable(ts, holder_ts) and (ts, str(client)) > (holder_ts, str(holder)):
            self.found.add("wait_die_violations", f"younger {client} (ts {ts}) waits for older {holder} (ts {holder_ts})", event)
        self.waits_for[client] = holder
        if self._reaches(holder, client):
            self.found.add("wait_die_violations", f"wait-for cycle through {client} and {holder}", event)

    def _reaches(self, start: Any, target: Any) -> bool:
        """Whether following waits-for edges from ``start`` leads to ``target``."""
        seen = set()
        node = start
        while node is not None and node not in seen:
            if node == target:
                return True
            seen.add(node)
            node = self.waits_for.get(node)
        return False

    def broker_refuse(self, event: Event) -> None:
        """Only the younger request may be refused for wait-or-die."""
        payload = event.payload
        ts, holder_ts = payload.get("ts"), payload.get("holder_ts")
        # _comparable(ts, holder_ts), spelled out so the type checker sees two ints compared.
        if (payload.get("reason") == "died" and isinstance(ts, int) and isinstance(holder_ts, int)
                and ts < holder_ts):
            self.found.add("wait_die_violations", f"older {payload.get('client')} (ts {ts}) refused for younger (ts {holder_ts})", event)
        self.waits_for.pop(payload.get("client"), None)
        self.broker.refuse(event)

    def broker_expire(self, event: Event) -> None:
        """A lease ran out: the hold ends and its token may no longer write."""
        self.counts["expiries"] += 1
        payload = event.payload
        self.expired.add((payload.get("name"), payload.get("token")))
        self.broker.expire(event)
        self._end_hold(payload.get("name"), payload.get("client"), event.mono_ns)
        # Also a hold its client's release invocation already ended: that release dies with the broker.
        self.stop_expiries.append((payload.get("name"), payload.get("client")))

    def broker_event(self, event: Event) -> None:
        """A broker stop ends every lease it held (recorded just before as expiries): a fault, not a client's slip."""
        if event.kind == BROKER_STOP:
            self.faulted.update(self.stop_expiries)
        self.stop_expiries.clear()

    def fault(self, event: Event) -> None:
        """A fault hit a client: its holds may now end by expiry instead of its own release."""
        target = event.payload.get("target")
        self.faulted.update((name, target) for name, held in self.holders.items() if target in held)

    def _fault_over(self, name: Any, client: Any, balanced: bool) -> None:
        """A hold the fault hit is over: counted unless its holder released it itself."""
        if (name, client) in self.faulted:
            self.faulted.discard((name, client))
            self.counts["pairs_faulted"] += not balanced

    def broker_error(self, event: Event) -> None:
        """The broker rejected a malformed request."""
        self.counts["broker_errors"] += 1

    # -- end of history ------------------------------------------------------------------

    def finish(self, quiesce_ns: int | None) -> int:
        """Judge token order and orphans after the last event; the holds still open."""
        for order in (self.broker_order, self.client_order):
            for reason, event in order.errors:
                self.found.add("token_order_errors", reason, event)
            mixed = order.mixed()
            if mixed is not None:
                self.found.add("token_order_errors", f"{order.order} grants: {mixed[0]}", mixed[1])
        self.counts["pairs_faulted"] += len(self.faulted)  # hit by a fault, never released by their holder
        self.faulted.clear()
        held_at_end = 0
        for name, held in self.holders.items():
            for client, hold in held.items():
                held_at_end += 1
                if self._orphaned(hold, quiesce_ns or 0):
                    self.found.add("orphaned_locks", f"{name}: still held by {client} at the end", hold.event)
        return held_at_end

    def _orphaned(self, hold: _Hold, quiesce_ns: int) -> bool:
        if not hold.lease_ns:
            return True
        return bool(self.counts["broker_events"]) and hold.possible_until() + self.grace + quiesce_ns < self.end_ns


def _comparable(a: Any, b: Any) -> bool:
    """Both wait-or-die timestamps are present (integers)."""
    return isinstance(a, int) and isinstance(b, int)


@dataclass(frozen=True)
class HoldWindow:
    """A definite hold window of one lock by one client, as this checker defines it."""

    lock: str
    client: str
    token: Any
    seq: int
    start_ns: int
    end_ns: int
    overlap: bool


@dataclass(frozen=True)
class HoldTimeline:
    """Every hold window of a history and how many overlapping pairs the checker counted."""

    windows: tuple[HoldWindow, ...]
    overlapping_pairs: int


def hold_windows(events: Sequence[Event], *, lease_grace_ns: int = 0) -> HoldTimeline:
    """The hold windows the mutual-exclusion check judged (for drawing a lock timeline)."""
    scan = _LockScan(lease_grace_ns, record_windows=True)
    scan.scan(events)
    end = scan.end_ns
    windows = tuple(
        HoldWindow(name, client, hold.token, hold.event.seq, hold.ok_ns,
                   int(max(hold.ok_ns, min(hold.end_ns, hold.definite_until(), end))), hold.overlap)
        for name, client, hold in scan.windows or ()
    )
    return HoldTimeline(windows, scan.counts["overlaps_client"])


def check_locks(
    events: Sequence[Event],
    *,
    quiesce_ns: int | None = None,
    lease_grace_ns: int = 0,
    lin_budget: Budget | None = DEFAULT_LIN_BUDGET,
) -> Evidence[LockFigures]:
    """Lock atomicity evidence of a history (events in sequence order); lin_budget=None skips linearizability."""
    scan = _LockScan(lease_grace_ns)
    scan.scan(events)
    held_at_end = scan.finish(quiesce_ns)
    linearizable = _linearizable(events, lin_budget, scan.found)
    order, order_violations = check_lock_order(events)  # FIFO and atomic grants
    service = next((e.payload.get("lock_service") for e in events if e.kind == RUN_START), None)
    return Evidence(AREA, _figures(scan, held_at_end, linearizable, order, service),
                    {**scan.found.violations(), **order_violations})


def _figures(scan: _LockScan, held_at_end: int, linearizable: tuple[Verdict, str], order: OrderFigures,
             service: str | None) -> LockFigures:
    """The figures of a finished scan, with the checks made outside it."""
    counts, found = scan.counts, scan.found.counts
    tokens = scan.client_order.with_token + scan.broker_order.with_token
    return LockFigures(
        events_total=counts["events_total"], acquires=counts["acquires"], releases=counts["releases"],
        renews=counts["renews"], pairs_total=counts["pairs_total"], pairs_balanced=counts["pairs_balanced"],
        pairs_faulted=counts["pairs_faulted"],
        held_at_end=held_at_end, orphaned_locks=found["orphaned_locks"], wellformed_errors=found["wellformed"],
        state_errors=found["state_errors"], overlaps=found["overlaps"], overlaps_client=counts["overlaps_client"],
        overlaps_broker=scan.broker.overlaps, overlaps_resource=scan.resources.overlaps,
        refused_held=found["refused_held"], token_order_errors=found["token_order_errors"],
        fencing="provided" if tokens or not counts["acquires"] else "not provided",
        stale_accepted=found["stale_accepted"], fence_accepts=counts["fence_accepts"],
        fence_rejects=counts["fence_rejects"], expiries=counts["expiries"], broker_errors=counts["broker_errors"],
        wait_die_violations=found["wait_die_violations"], fifo_overtakes=order.fifo_overtakes,
        partial_grants=order.partial_grants, linearizable=linearizable[0], linearizable_detail=linearizable[1],
        lock_service=service,
    )


def _linearizable(events: Sequence[Event], budget: Budget | None, found: _Findings) -> tuple[Verdict, str]:
    """Each lock's history against the owner-aware mutex; lock.info may or may not have taken effect."""
    if budget is None:
        return "unknown", "not checked"
    try:
        ops = operations(records_from_events(events))
    except MalformedHistory as exc:
        return "unknown", f"malformed history: {exc}"
    result = check(ops, OWNER_MUTEX, budget)
    if result.verdict == "false":
        assert result.failed_op is not None
        wanted = _seqs(result.failed_op)
        for event in events:
            if event.seq in wanted:
                found.add("linearizable", result.summary(), event)
    return result.verdict, result.summary()


def _seqs(op: Operation) -> set[int]:
    """Sequence numbers of the events of an operation built by records_from_events."""
    ends = (op.invoke_index, op.complete_index)
    return {index // 2 for index in ends if index is not None}
