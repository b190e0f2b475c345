"""Mutual exclusion seen from the broker and from the guarded resources.

The client windows of ``harness.judge.checks.locks`` are one side; a lock service can double-grant
in a way the clients' timing hides, and a client can treat a refused acquire as held. These
two views take no client's word for it:

``BrokerView`` replays the broker's own events. Two grants of one lock to different clients
with neither released nor expired (nor its lease run out) are an overlap, whatever the
clients recorded. A release or renew the broker honoured for a client that did not hold the
lock with that token (a non-owner, a double release, an expired grant) is a broken
state-machine rule. A client ``lock.ok`` for an acquire the broker refused is named as such.

``ResourceView`` judges every fenced write (``fence.accept`` with holder = the event's
worker, lock, token): the writer must hold the lock by its own client events and, when the
broker is recorded, by the broker's; its lease must not have run out; and two holds' writes
to one resource under one lock must not interleave (A, B, A). A write flagged
``deferred`` was applied later than it was made (a queue between writer and resource) and
is judged by its token only, not against windows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.history.events import BROKER_GRANT
from harness.history.log import Event

MS = 1_000_000
class HoldLike(Protocol):
    """What this module needs of a client hold (``harness.judge.checks.locks._Hold``)."""

    displaced: set[tuple[Any, Any]]
    event: Event  # the lock.ok that started it

    def possible_until(self) -> float:
        """Latest moment the lease can still run."""


Report = Callable[[str, str, Event, "Event | None"], None]


@dataclass
class BrokerHold:
    """One lock granted by the broker to one client, as the broker's events say."""

    event: Event
    token: Any
    granted_ns: int
    lease_ns: int

    def lapsed(self, at_ns: int) -> bool:
        """Whether the lease certainly ran out (tolerates brokers that record no expiry)."""
        return bool(self.lease_ns) and self.granted_ns + self.lease_ns < at_ns


def _field(event: Event, key: str) -> Any:
    """One payload field, None when absent (histories may come from anywhere)."""
    return event.payload.get(key)


def _int(token: Any) -> bool:
    return isinstance(token, int) and not isinstance(token, bool)


class BrokerView:
    """The broker's grants, releases, renewals and expiries, replayed in its order."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.held: dict[str, dict[str, BrokerHold]] = {}
        self.answers: dict[tuple[Any, Any], Event] = {}
        self.requests: set[Any] = set()
        self.answers_without_req = False  # a broker that does not name requests cannot be matched
        self.overlaps = 0

    def holds(self, name: str, client: str) -> BrokerHold | None:
        """The broker's hold of ``name`` by ``client``, if any.

        Not cut at its lease: the broker may honour a release or see a write a moment after
        the lease's nominal end and before it expired the hold; writes after the lease are
        judged against the client's own window (``ResourceView``).
        """
        return self.held.get(name, {}).get(client)

    def request(self, event: Event) -> None:
        """Remember which clients the broker serves, to match their completions."""
        self.requests.add(_field(event, "client"))

    def grant(self, event: Event) -> None:
        """A grant to a client while another still holds the lock is an overlap."""
        client, tokens = _field(event, "client"), _field(event, "tokens") or {}
        lease_ns = int(_field(event, "lease_ms") or 0) * MS
        self._answer(client, event)
        for name in (_field(event, "names") or ()):
            held = self.held.setdefault(name, {})
            for other, hold in list(held.items()):
                if hold.lapsed(event.mono_ns):
                    del held[other]
                elif other == client:
                    self.report("state_errors", f"{name}: broker granted it to its holder {client} again",
                                event, hold.event)
                else:
                    self.overlaps += 1
                    self.report("overlaps", f"{name}: broker granted it to {client} while {other} holds it "
                                            f"(broker view)", event, hold.event)
            held[client] = BrokerHold(event, tokens.get(name), event.mono_ns, lease_ns)

    def refuse(self, event: Event) -> None:
        """Remember the refusal, to catch a client that treats it as a grant."""
        self._answer(_field(event, "client"), event)

    def _answer(self, client: Any, event: Event) -> None:
        req = _field(event, "req")
        self.answers_without_req |= req is None
        self.answers[(client, req)] = event

    def release(self, event: Event) -> None:
        """The broker honoured a release: the client must have held each lock with that token."""
        for name, hold in self._owned(event, "release"):
            if hold is not None:
                del self.held[name][_field(event, "client")]

    def renew(self, event: Event) -> None:
        """The broker honoured a renewal: same ownership rule; the lease restarts."""
        lease_ns = int(_field(event, "lease_ms") or 0) * MS
        for _, hold in self._owned(event, "renew"):
            if hold is not None:
                hold.granted_ns, hold.lease_ns = event.mono_ns, lease_ns

    def _owned(self, event: Event, op: str) -> list[tuple[str, BrokerHold | None]]:
        client, tokens = _field(event, "client"), _field(event, "tokens") or {}
        found = []
        for name in (_field(event, "names") or ()):
            hold = self.holds(name, client)
            token = tokens.get(name)
            if hold is None:
                self.report("state_errors", f"{name}: broker honoured a {op} by {client}, which does not hold it "
                                            f"(non-owner, released or expired)", event, None)
            elif _int(token) and _int(hold.token) and token != hold.token:
                self.report("state_errors", f"{name}: broker honoured a {op} with token {token} of a grant "
                                            f"with token {hold.token}", event, hold.event)
                hold = None
            found.append((name, hold))
        return found

    def expire(self, event: Event) -> None:
        """A lease ran out: the broker's hold ends."""
        self.held.get(_field(event, "name"), {}).pop(_field(event, "client"), None)

    def acquired(self, event: Event) -> None:
        """A client's lock.ok of an acquire: the broker must have granted that very request."""
        client = event.worker
        if client not in self.requests or self.answers_without_req:
            return  # this client's lock service is not the recorded broker, or its answers name no request
        answer = self.answers.pop((client, _field(event, "req")), None)
        if answer is not None and answer.kind == BROKER_GRANT:
            return
        why = f"refused it ({answer.payload.get('reason')})" if answer is not None else "never granted it"
        self.report("refused_held", f"{','.join(_field(event, 'names') or ())}: {client} treats an acquire as held "
                                    f"although the broker {why}", event, answer)

    def completed(self, event: Event) -> None:
        """Any other completion: its broker answer is no longer needed."""
        self.answers.pop((event.worker, _field(event, "req")), None)


@dataclass
class _Writer:
    """The hold whose writes a resource saw last under one lock."""

    hold: HoldLike
    worker: str


@dataclass
class ResourceView:
    """Fenced writes judged against the holds of the clients and of the broker."""

    report: Report
    grace_ns: int
    last: dict[tuple[Any, Any], _Writer] = field(default_factory=dict)
    overlaps: int = 0

    def write(self, event: Event, client_hold: HoldLike | None, broker: BrokerView | None,
              others: Mapping[str, Any]) -> None:
        """Judge one accepted write by ``event.worker`` under ``event.payload['lock']``."""
        if _field(event, "deferred"):
            return
        reason = self._outside(event, client_hold, broker)
        other, since = None, ""
        if reason is None and client_hold is not None:
            reason = self._interleaved(event, client_hold, others)
        elif reason is not None:
            # Name the other writer: the holder whose writes the resource took last under this lock.
            last = self.last.get((_field(event, "resource"), _field(event, "lock")))
            if last is not None and last.worker != event.worker:
                other, since = last.hold.event, f"; {last.worker} wrote under it before"
        if reason is not None:
            self.overlaps += 1
            self.report("overlaps", f"{_field(event, 'resource')}/{_field(event, 'lock')}: write by {event.worker} "
                                    f"{reason} (resource view){since}", event, other)

    def _outside(self, event: Event, client_hold: HoldLike | None, broker: BrokerView | None) -> str | None:
        """Why the writer was not holding the lock when the resource took its write, or None."""
        name, token = _field(event, "lock"), _field(event, "token")
        if client_hold is None:
            return "which does not hold the lock (released, expired or never granted)"
        if client_hold.possible_until() + self.grace_ns < event.mono_ns:
            return "after its lease ran out"
        if broker is not None and event.worker in broker.requests:
            hold = broker.holds(name, event.worker)
            if hold is None:
                return "which the broker does not list as holder"
            if _int(token) and _int(hold.token) and token != hold.token:
                return f"with token {token} while the broker's grant has token {hold.token}"
        return None

    def _interleaved(self, event: Event, client_hold: HoldLike, others: Mapping[str, Any]) -> str | None:
        """Two holds' writes to one resource under one lock must not interleave (A, B, A)."""
        key = (_field(event, "resource"), _field(event, "lock"))
        last = self.last.get(key)
        self.last[key] = _Writer(client_hold, event.worker)
        if last is None or last.hold is client_hold:
            return None
        if others.get(last.worker) is last.hold:
            last.hold.displaced.add(key)
            return f"while {last.worker}, which wrote before, still holds the lock"
        if key in client_hold.displaced:
            return "after another holder wrote inside its hold"
        return None
