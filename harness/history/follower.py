"""Following a History from a thread of its own, so the trading threads never wait on its work.

The trading threads only append each event to a deque (``History.subscribe``); the follower's
thread wakes every ``interval_s``, puts what arrived in seq order (``SeqOrder``) and hands the
events that are ready to ``_take``. ``close`` stops the thread and hands over everything left,
gaps or not. The journal (writing the history as it is made) and the live judge share this.
"""

from __future__ import annotations

import abc
import collections
import threading
from typing import Self

from harness.history.log import Event, History
from harness.history.ordering import SeqOrder


class Follower(abc.ABC):
    """Takes the events of one History, in seq order, on a thread of its own."""

    def __init__(self, name: str, interval_s: float, max_waiting: int = 50_000) -> None:
        self._interval = interval_s
        self._inbox: collections.deque[Event] = collections.deque()
        self._order = SeqOrder(max_waiting)
        self._history: History | None = None
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def _start(self) -> None:
        """Start the thread: the subclass calls this last in its ``__init__``, once its state is set."""
        self._thread.start()

    def follow(self, history: History) -> None:
        """Take ``history``'s events so far, then each new one (only the first history given is followed)."""
        with self._lock:
            if self._history is None and not self._closed.is_set():
                self._history = history
                self._inbox.extend(history.subscribe(self._inbox.append))

    def _loop(self) -> None:
        while not self._closed.wait(self._interval):  # a periodic pass, not a synchronisation
            self.step()

    def step(self, final: bool = False) -> None:
        """Hand over what is ready (``final``: everything received, gaps or not)."""
        with self._lock:
            while self._inbox:
                self._order.push(self._inbox.popleft())
            self._take(self._order.ready(final))

    @abc.abstractmethod
    def _take(self, events: list[Event]) -> None:
        """Do this follower's work on events now in seq order (called under the lock)."""

    def close(self) -> None:
        """Hand over everything received and stop the thread (once)."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._thread.ident is not None:
            self._thread.join()
        self.step(final=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
