"""Events put back in seq order as they arrive from many threads or processes.

An event that arrives before the one numbered just below it (process mode's pipes, two
threads racing between numbering and appending) waits for it -- at most ``max_waiting``
events wait, then the oldest goes out anyway. The history file (``journal``) and the live
judge (``harness.judge.live``) both read a run through it.
"""

from __future__ import annotations

import heapq

from harness.history.log import Event

__all__ = ["SeqOrder"]


class SeqOrder:
    """A heap of arrived events that hands out the next seqs without a gap."""

    def __init__(self, max_waiting: int = 50_000) -> None:
        self._max_waiting = max_waiting
        self._waiting: list[tuple[int, int, Event]] = []  # (seq, arrival, event)
        self._arrivals = 0
        self._next = 1  # the seq needed next

    def push(self, event: Event) -> None:
        """One more arrived event (or one handed out before and given back)."""
        self._arrivals += 1
        heapq.heappush(self._waiting, (event.seq, self._arrivals, event))

    def ready(self, final: bool = False) -> list[Event]:
        """The events that can go now, in seq order: the next seqs without a gap (all of them when final)."""
        out = []
        waiting = self._waiting
        while waiting and (final or waiting[0][0] <= self._next or len(waiting) > self._max_waiting):
            seq, _, event = heapq.heappop(waiting)
            out.append(event)
            self._next = max(self._next, seq + 1)
        return out
