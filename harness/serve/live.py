"""Watch a run while it happens: the Guardian API, in a process of its own, over the history as it is streamed.

``harness run NAME --serve [PORT]`` binds the port, then hands the socket to a child process
(``python -m harness.serve.live``) that serves the API over the run's ``events.jsonl`` as the
journal appends it. Nothing a client does reaches the run: a flood of idle or half-open
connections takes the child's file descriptors, not the run's; requests, with or without a
token, take the child's CPU at a lower priority (nice 10), never the run's GIL. The server is
bounded too: a connection that sends no request head within ``HEAD_TIMEOUT_S`` is closed,
idle keep-alive connections after ``KEEP_ALIVE_S``, and past ``MAX_CONNECTIONS`` requests are
answered 503. The guardian view is rebuilt from the events so far, as ``harness serve
--events`` rebuilds it from a saved file, so any engine is watched alike.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.history.log import Event
from harness.serve.app import TOKEN_ENV, bind, create_app, snapshot_from_events
from harness.system.guardian.risk import GuardianSnapshot

HEAD_TIMEOUT_S = 10.0  # a connection that sent no whole request head by then is closed
KEEP_ALIVE_S = 5.0
MAX_CONNECTIONS = 64
READY = "ready"
LOG_FILE = "live-api.log"
START_TIMEOUT_S = 60.0  # a spawned interpreter imports fastapi and uvicorn: slow on a loaded box


class TailSource:
    """The Guardian API's source over a JSONL history another process is still appending to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._events: list[Event] = []
        self._offset = 0
        self._partial = b""  # a line the writer has not finished yet
        self._lock = threading.Lock()
        self._cached: tuple[int, GuardianSnapshot] | None = None

    def events(self) -> Sequence[Event]:
        """The events appended so far (the file may not exist yet: none)."""
        with self._lock:
            self._read_new()
            return tuple(self._events)

    def _read_new(self) -> None:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            with contextlib.suppress(ValueError, KeyError, TypeError):  # the journal's own lines: never expected
                self._events.append(Event.from_json(line))

    def snapshot(self) -> GuardianSnapshot:
        """The guardian state the events so far imply (rebuilt only when new events arrived)."""
        events = self.events()
        with self._lock:
            if self._cached is None or self._cached[0] != len(events):
                self._cached = (len(events), snapshot_from_events(events))
            return self._cached[1]


@dataclass
class LiveProcess:
    """The child serving the live API; ``stop()`` ends it."""

    url: str
    process: subprocess.Popen[str]

    def stop(self) -> None:
        """Terminate the child and wait for it (killed if it does not go)."""
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(history: Path, token: str, port: int = 0) -> LiveProcess:
    """Serve the API over ``history`` on 127.0.0.1:``port`` (0 = a free port) from a child process.

    OSError when the port cannot be bound; RuntimeError when the child does not come up.
    """
    sock = bind("127.0.0.1", port)
    log = history.with_name(LOG_FILE)  # the child's complaints (a file: a full pipe would stall it)
    log.parent.mkdir(parents=True, exist_ok=True)
    with sock, open(log, "w", encoding="utf-8") as errors:
        command = [sys.executable, "-m", "harness.serve.live", "--fd", str(sock.fileno()), "--events", str(history)]
        # Its own session: a terminal's Ctrl-C is the run's to handle, the run stops the child.
        child = subprocess.Popen(command, pass_fds=(sock.fileno(),), env={**os.environ, TOKEN_ENV: token},
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, text=True,
                                 start_new_session=True)
        bound_host, bound_port = sock.getsockname()[:2]
    assert child.stdout is not None
    timer = threading.Timer(START_TIMEOUT_S, child.kill)  # bounds the readline below
    timer.start()
    try:
        line = child.stdout.readline().strip()
    finally:
        timer.cancel()
    if line != READY:
        child.kill()
        child.wait()
        last = (log.read_text(encoding="utf-8", errors="replace").strip().splitlines() or [line or "no output"])[-1]
        raise RuntimeError(f"the live API did not start: {last} (see {log})")
    return LiveProcess(f"http://{bound_host}:{bound_port}", child)


def _bounded_protocol() -> type:
    """uvicorn's HTTP/1.1 protocol, closing a connection that sends no request head in time."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class BoundedH11Protocol(H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._head_deadline = self.loop.call_later(HEAD_TIMEOUT_S, self._no_head)

        def _no_head(self) -> None:
            if self.cycle is None and not self.transport.is_closing():  # idle or half-open: no request under way
                self.transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            self._head_deadline.cancel()
            super().connection_lost(exc)

    return BoundedH11Protocol


def _serve(fd: int, history: Path, token: str) -> None:
    """The child: serve on the inherited socket at a lower priority, say READY once requests are answered."""
    import uvicorn

    os.nice(10)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a flood of idle connections costs only time
    sock = socket.socket(fileno=fd)
    config = uvicorn.Config(create_app(TailSource(history), token), http=_bounded_protocol(), log_level="error",
                            limit_concurrency=MAX_CONNECTIONS, timeout_keep_alive=int(KEEP_ALIVE_S))
    server = uvicorn.Server(config)
    original = server.startup

    async def startup(*args: Any, **kwargs: Any) -> None:
        await original(*args, **kwargs)
        print(READY, flush=True)

    server.startup = startup  # type: ignore[method-assign]
    server.run(sockets=[sock])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the child process."""
    parser = argparse.ArgumentParser(prog="python -m harness.serve.live")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--events", type=Path, required=True)
    args = parser.parse_args(argv)
    _serve(args.fd, args.events, os.environ.get(TOKEN_ENV, ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
