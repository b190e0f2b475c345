"""SIGINT, SIGTERM and SIGHUP end a run early and cleanly: its history is judged, reported and kept.

The first signal asks the run to stop: every worker stops opening positions, flattens and
finishes (the engine's ``stop`` event), the scenario cleans the shared servers as it always
does, and the report says the run was interrupted and what was judged. The exit code is
128 + the signal's number (130, 143, 129) whatever the verdict, as a shell reports it.
A second signal stops waiting: ``Interrupted`` is raised in the main thread, the cleanup of
every ``finally`` still runs, and the history streamed so far stays on disk.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import threading
from collections.abc import Iterator
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def exit_code(signum: int) -> int:
    """What a shell reports for a process ended by ``signum``."""
    return 128 + signum


class Interrupted(BaseException):
    """A second signal: the run is abandoned (a BaseException, so no scenario takes it for a finding)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"interrupted twice (last by {signal.Signals(signum).name})")

    @property
    def exit_code(self) -> int:
        """128 + the signal's number."""
        return exit_code(self.signum)


class StopRequest:
    """A run's request to stop early: set by a signal, seen by the engine's workers."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.ended = False  # asked to stop by the harness itself (--stop-on-fail), not by a signal
        self._events: list[Any] = []
        self._lock = threading.RLock()  # re-entrant: the signal handler may run while the main thread holds it

    @property
    def signal_name(self) -> str | None:
        """``SIGTERM`` etc. once a signal asked the run to stop."""
        return None if self.signum is None else signal.Signals(self.signum).name

    def event(self, process: bool, given: Any = None) -> Any:
        """An event the engine's workers watch (``given``: the scenario's own, then set on a stop too)."""
        if given is None:
            given = multiprocessing.get_context("spawn").Event() if process else threading.Event()
        with self._lock:
            self._events.append(given)
            if self.signum is not None or self.ended:
                given.set()
        return given

    def end(self) -> None:
        """Ask the run to stop for a reason of the harness's own: no signal, the verdict's exit code stands."""
        with self._lock:
            self.ended = True
            events = list(self._events)
        for event in events:
            event.set()

    def request(self, signum: int) -> None:
        """Ask the run to stop (the first signal is the one reported)."""
        with self._lock:
            if self.signum is None:
                self.signum = signum
            events = list(self._events)
        for event in events:
            event.set()


@contextlib.contextmanager
def on_signals(request: StopRequest) -> Iterator[StopRequest]:
    """Turn SIGINT/SIGTERM/SIGHUP into ``request`` for the block (installed from the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handle(signum: int, _frame: object) -> None:
        if request.signum is not None:
            raise Interrupted(signum)
        request.request(signum)

    previous = {number: signal.signal(number, handle) for number in SIGNALS}
    try:
        yield request
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
