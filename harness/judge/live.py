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

from collections.abc import Callable
from typing import Protocol

from harness.history.follower import Follower
from harness.history.log import Event
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


class LiveJudge(Follower):
    """Follows one History from another thread and reports each new violation as one line."""

    def __init__(self, report: Callable[[str], None], on_violation: Callable[[], None] | None = None, *,
                 interval_s: float = 0.2) -> None:
        super().__init__("harness-live-judge", interval_s)
        self._report, self._on_violation = report, on_violation
        self.watched: dict[str, Watched] = {LOCK_AREA: LockChecker(lin_budget=None), RACE_AREA: RaceChecker()}
        self._seen = {area: dict.fromkeys(checker.tally(), 0) for area, checker in self.watched.items()}
        self._first_ns: int | None = None
        self.violations: list[str] = []  # every line reported
        self._start()

    def _take(self, events: list[Event]) -> None:
        for event in events:
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
