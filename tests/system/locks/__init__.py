"""Tests of the lock services; shared helpers for the broker tests live here."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import zmq

from harness.clock import FakeClock as FakeClock  # the locks tests' clock
from harness.history.log import Event, History
from harness.judge.checks.locks import check_locks
from harness.system.locks.server import LockBroker
from harness.system.locks.wire import decode_object, encode

WAIT = 5.0  # generous bound for a condition that should hold within milliseconds



class Watcher:
    """History sink a test can block on until a matching event is recorded."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._events: list[Event] = []

    def __call__(self, event: Event) -> None:
        with self._cond:
            self._events.append(event)
            self._cond.notify_all()

    def wait_for(self, kind: str, **fields: Any) -> Event:
        """The first event of ``kind`` whose payload has ``fields``; fails after WAIT seconds."""

        def match() -> Event | None:
            return next(
                (e for e in self._events if e.kind == kind and all(e.payload.get(k) == v for k, v in fields.items())),
                None,
            )

        with self._cond:
            found = self._cond.wait_for(match, WAIT)
        assert found is not None, f"no {kind} {fields} recorded"
        return found


def watched_history() -> tuple[History, Watcher]:
    """A History whose events a test can wait for."""
    watcher = Watcher()
    return History("test", sink=watcher), watcher


@contextmanager
def broker(**kwargs: Any) -> Iterator[LockBroker]:
    """A running broker (tcp on a random port unless told otherwise)."""
    with LockBroker(**kwargs) as running:
        yield running


class RawClient:
    """A bare DEALER speaking the wire format, for requests a real client would not send."""

    _reqs = itertools.count(10**9)

    def __init__(self, endpoint: str, client: str = "raw", context: zmq.Context | None = None) -> None:
        self.client = client
        self.socket = (context or zmq.Context.instance()).socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(endpoint)

    def send(self, op: str, **fields: Any) -> int:
        """Send one request; return its req id."""
        req = next(self._reqs)
        self.socket.send(encode({"op": op, "req": req, "client": self.client, **fields}))
        return req

    def reply(self, req: int | None = None) -> dict[str, Any]:
        """The next reply (skipping others when ``req`` is given); fails after WAIT seconds."""
        while True:
            assert self.socket.poll(int(WAIT * 1000)), "no reply from broker"
            message = decode_object(self.socket.recv())
            if req is None or message.get("req") == req:
                return message

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send a request and wait for its reply."""
        return self.reply(self.send(op, **fields))

    def close(self) -> None:
        """Close the socket."""
        self.socket.close()


def in_thread(target: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run ``target`` in a started thread; its result or exception lands in the list."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(target())
        except BaseException as exc:  # handed to the test thread to assert on
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def assert_lock_history_clean(history: History) -> None:
    """The lock checker finds no violation in a recorded history."""
    evidence = check_locks(history.events())
    assert evidence.figures.linearizable != "false", evidence.figures.linearizable_detail
    assert not any(evidence.violations.values()), evidence.violations
