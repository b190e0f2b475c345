"""Judging in one pass: each area's checker is fed every event as it is read, then asked for its evidence.

An incremental checker keeps only what is still live (open orders, holds, positions) plus
its running figures, so its memory does not grow with the length of the history; the same
object can be fed from a file being read (``harness check``) or from a run as it goes. A
checker written for a whole history plugs in through ``Batch``, which keeps the events it is
fed and runs the checker on them at the end -- the same verdict, memory as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from harness.history.log import Event
from harness.judge.evidence import Evidence

E_co = TypeVar("E_co", bound=Evidence[Any], covariant=True)


class Incremental(Protocol[E_co]):
    """A checker fed one event at a time, in seq order; ``result`` may be asked once, after the last."""

    def feed(self, event: Event) -> None:
        """Take the next event of the history."""

    def result(self) -> E_co:
        """The evidence of every event fed so far."""


class Batch:
    """A whole-history checker behind the incremental interface (it keeps every event it is fed)."""

    def __init__(self, check: Callable[[Sequence[Event]], Evidence[Any]]) -> None:
        self._check = check
        self._events: list[Event] = []

    def feed(self, event: Event) -> None:
        """Keep the event for the checker."""
        self._events.append(event)

    def result(self) -> Evidence[Any]:
        """The checker's evidence over the events fed."""
        return self._check(self._events)


def fed(checker: Incremental[E_co], events: Iterable[Event]) -> E_co:
    """Feed every event to ``checker`` and return its evidence (the whole-history form of a checker)."""
    for event in events:
        checker.feed(event)
    return checker.result()
