"""Watch a run while it happens: the Guardian API over the run's history as it grows.

``harness run NAME --serve [PORT]`` starts the API before the run and stops it after. The
live source needs nothing from the engine but its history: the guardian view is rebuilt from
the events so far, the same way ``harness serve --events`` rebuilds it from a saved file, so
a plugged-in engine or guardian is watched exactly like the reference one.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.history.log import Event, History
from harness.serve.app import bind, create_app, snapshot_from_events
from harness.system.guardian.risk import GuardianSnapshot

if TYPE_CHECKING:
    import uvicorn


class LiveSource:
    """The Guardian API's source over a history still being written (empty until attached)."""

    def __init__(self) -> None:
        self._history: History | None = None
        self._lock = threading.Lock()
        self._cached: tuple[int, GuardianSnapshot] | None = None

    def attach(self, history: History) -> None:
        """Follow ``history`` from now on (the runner calls this when a run's history exists)."""
        with self._lock:
            self._history, self._cached = history, None

    def events(self) -> Sequence[Event]:
        """The events recorded so far."""
        history = self._history
        return () if history is None else history.events()

    def snapshot(self) -> GuardianSnapshot:
        """The guardian state the events so far imply (rebuilt only when new events arrived)."""
        events = self.events()
        with self._lock:
            if self._cached is None or self._cached[0] != len(events):
                self._cached = (len(events), snapshot_from_events(events))
            return self._cached[1]


@dataclass
class LiveServer:
    """A Guardian API server on a background thread; ``stop()`` ends it."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        """Ask uvicorn to finish and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start(source: LiveSource, token: str, host: str = "127.0.0.1", port: int = 0) -> LiveServer:
    """Serve ``source`` on ``host:port`` (0 = a free port); OSError when it cannot bind."""
    import uvicorn

    sock = bind(host, port)
    server = uvicorn.Server(uvicorn.Config(create_app(source, token), log_level="warning"))
    started = threading.Event()
    original = server.startup

    async def startup(*args: Any, **kwargs: Any) -> None:
        await original(*args, **kwargs)
        started.set()

    server.startup = startup  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="guardian-api", daemon=True)
    thread.start()
    started.wait(timeout=30)  # the URL is printed only once requests can be answered
    bound_host, bound_port = sock.getsockname()[:2]
    return LiveServer(f"http://{bound_host}:{bound_port}", server, thread)
