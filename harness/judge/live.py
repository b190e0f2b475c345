"""Judging a run while it goes: a violation is reported when it happens, not after the last trade.

The trading threads only append each event to a deque (``History.subscribe``); a background
thread wakes every ``interval_s``, puts what arrived in seq order (``SeqOrder``) and feeds
the incremental checkers whose violations show as they happen -- the lock checker (without
the linearizability search, which needs the whole history) and the race checker. The first
violation of each check is one line naming the area, the check, the event and how far into
the run it came; ``on_violation`` is called once, at the first (``--stop-on-fail`` ends the
run there).
The verdict is still the full judgement of the finished history: this only sees sooner.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import Protocol

from harness.history.log import Event, History
from harness.history.ordering import SeqOrder
from harness.judge.checks.locks import AREA as LOCK_AREA
from harness.judge.checks.locks import LockChecker
from harness.judge.checks.races import AREA as RACE_AREA
from harness.judge.checks.races import RaceChecker


class Watched(Protocol):
    """An incremental checker whose violations can be counted as it is fed."""

    def feed(self, event: Event) -> None:
        """Take the next event."""

    def tally(self) -> dict[str, int]:
        """Violations found so far, per check."""


class LiveJudge:
    """Follows one History from another thread and reports each new violation as one line."""

    def __init__(self, report: Callable[[str], None], on_violation: Callable[[], None] | None = None, *,
                 interval_s: float = 0.2) -> None:
        self._report, self._on_violation, self._interval = report, on_violation, interval_s
        self.watched: dict[str, Watched] = {LOCK_AREA: LockChecker(lin_budget=None), RACE_AREA: RaceChecker()}
        self._seen = {area: dict.fromkeys(checker.tally(), 0) for area, checker in self.watched.items()}
        self._inbox: collections.deque[Event] = collections.deque()
        self._order = SeqOrder()
        self._history: History | None = None
        self._first_ns: int | None = None
        self.violations: list[str] = []  # every line reported
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="harness-live-judge", daemon=True)
        self._thread.start()

    def follow(self, history: History) -> None:
        """Judge ``history``: its events so far, then each new one (only the first history given)."""
        with self._lock:
            if self._history is None and not self._closed.is_set():
                self._history = history
                self._inbox.extend(history.subscribe(self._inbox.append))

    def _loop(self) -> None:
        while not self._closed.wait(self._interval):  # a periodic pass, not a synchronisation
            self.step()

    def step(self, final: bool = False) -> None:
        """Judge what arrived (``final``: everything, gaps or not)."""
        with self._lock:
            while self._inbox:
                self._order.push(self._inbox.popleft())
            for event in self._order.ready(final):
                self._judge(event)

    def _judge(self, event: Event) -> None:
        if self._first_ns is None:
            self._first_ns = event.mono_ns
        for area, checker in self.watched.items():
            checker.feed(event)
            seen = self._seen[area]
            for check, count in checker.tally().items():
                if count and not seen.get(check):  # the first of each check: the verdict counts the rest
                    self._found(f"{area}: {check} at seq {event.seq}, {event.kind} by {event.worker}, "
                                f"{(event.mono_ns - self._first_ns) / 1e9:.1f} s into the run")
                seen[check] = count

    def _found(self, line: str) -> None:
        self.violations.append(line)
        self._report(f"[LIVE] {line}")
        if len(self.violations) == 1 and self._on_violation is not None:
            self._on_violation()

    def close(self) -> None:
        """Judge everything received and stop the thread (once)."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._thread.join()
        self.step(final=True)

    def __enter__(self) -> LiveJudge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
