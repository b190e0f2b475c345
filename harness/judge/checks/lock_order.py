"""FIFO and atomic-grant evidence, recomputed from the broker's own events.

A request that holds nothing queues (``broker.queue``) instead of dying. Replaying the
broker's request, queue, grant, refusal and expiry events, this check keeps a FIFO queue
per lock name of those waiters and finds:

    partial_grants     a broker.grant whose names differ from its request's names
    fifo_overtakes     a queued waiter granted while another waiter queued before it on one
                       of its names is still waiting, or a request granted at once (no
                       queue) while a waiter is queued on one of its names

Waiters leave the queues when granted, refused (timeout) or when the broker stops (its
leases end with ``broker.expire`` for every holder; queued requests die with it). Only
``broker.queue`` waiters are ordered: hold-and-wait requests follow wait-or-die instead,
judged by the lock checker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.history.events import BROKER_GRANT, BROKER_QUEUE, BROKER_REFUSE, BROKER_REQUEST, BROKER_STOP
from harness.history.log import Event

KEEP = 10
Key = tuple[Any, Any]


@dataclass(frozen=True)
class OrderFigures:
    """FIFO and atomic-grant counts of a history (part of the lock figures)."""

    partial_grants: int
    fifo_overtakes: int


class LockOrder:
    """Replays broker events, keeping per-name FIFO queues of (client, req) keys."""

    def __init__(self) -> None:
        self.requested: dict[Key, tuple[str, ...]] = {}
        self.queues: dict[str, list[Key]] = {}
        self.queued: set[Key] = set()
        self.counts = {"partial_grants": 0, "fifo_overtakes": 0}
        self.kept: dict[str, list[dict[str, Any]]] = {name: [] for name in self.counts}

    def add(self, check: str, reason: str, event: Event) -> None:
        self.counts[check] += 1
        if len(self.kept[check]) < KEEP:
            self.kept[check].append({"reason": reason, "seq": event.seq, "kind": event.kind})

    def request(self, key: Key, payload: Mapping[str, Any]) -> None:
        if payload.get("op") == "acquire":
            self.requested[key] = tuple(payload.get("names") or ())

    def queue(self, key: Key, names: Sequence[str]) -> None:
        self.queued.add(key)
        for name in names:
            self.queues.setdefault(name, []).append(key)

    def grant(self, key: Key, names: Sequence[str], event: Event) -> None:
        wanted = self.requested.pop(key, None)
        if wanted is not None and set(wanted) != set(names):
            self.add("partial_grants", f"{key[0]} asked for {sorted(wanted)}, granted {sorted(names)}", event)
        # A wait-or-die grant (the requester holds locks) may go ahead of FIFO waiters.
        for name in () if event.payload.get("mode") == "wait_die" else names:
            queue = self.queues.get(name, [])
            ahead = queue[: queue.index(key)] if key in queue else queue
            if ahead:
                self.add("fifo_overtakes", f"{key[0]} granted {name} ahead of {ahead[0][0]}", event)
        self.leave(key)

    def feed(self, event: Event) -> None:
        """Take the next event of the history (only broker events matter)."""
        if not event.kind.startswith("broker."):
            return
        payload = event.payload
        key = (payload.get("client"), payload.get("req"))
        if event.kind == BROKER_REQUEST:
            self.request(key, payload)
        elif event.kind == BROKER_QUEUE:
            self.queue(key, payload.get("names") or ())
        elif event.kind == BROKER_GRANT:
            self.grant(key, payload.get("names") or (), event)
        elif event.kind == BROKER_REFUSE:
            self.requested.pop(key, None)
            self.leave(key)
        elif event.kind == BROKER_STOP:
            self.queues.clear()
            self.queued.clear()

    def result(self) -> tuple[OrderFigures, dict[str, tuple[dict[str, Any], ...]]]:
        """The figures and counterexamples so far."""
        figures = OrderFigures(self.counts["partial_grants"], self.counts["fifo_overtakes"])
        return figures, {k: tuple(v) for k, v in self.kept.items() if v}

    def leave(self, key: Key) -> None:
        if key not in self.queued:
            return
        self.queued.discard(key)
        for name in [n for n, q in self.queues.items() if key in q]:
            self.queues[name].remove(key)
            if not self.queues[name]:
                del self.queues[name]


def check_lock_order(events: Sequence[Event]) -> tuple[OrderFigures, dict[str, tuple[dict[str, Any], ...]]]:
    """Figures and counterexamples of the FIFO and atomic-grant properties of a history."""
    order = LockOrder()
    for event in events:
        order.feed(event)
    return order.result()
