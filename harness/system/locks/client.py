"""ZeroMQ lock client (DEALER) and a picklable provider for process-mode workers.

Each attempt of an operation is recorded as its own ``lock.invoke`` followed by exactly one
completion (see ``harness.system.locks.protocol``). An acquire refused with ``died`` (wait-or-die)
is completed with ``lock.fail`` and retried with the *same* ``ts`` after an exponential
backoff with jitter from a seeded RNG. A request with no reply within ``request_timeout``
is completed with ``lock.info`` -- it may or may not have happened -- and the DEALER socket
is recreated so that a late reply to it is never taken for the answer to a later request.

A client belongs to one thread; it is not shared.
"""

from __future__ import annotations

import itertools
import os
import random
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import zmq

from harness.clock import backoff_delay
from harness.history.events import LOCK_FAIL, LOCK_INFO, LOCK_INVOKE, LOCK_OK
from harness.history.log import History
from harness.system.locks.protocol import Grant, LockError, LockTimeout, LockUnavailable
from harness.system.locks.security import CurveClient, client_from_env
from harness.system.locks.wire import WireError, decode_object, encode

Clock = Callable[[], int]
RECV_SLICE_MS = 20
_CONTEXTS: dict[int, zmq.Context] = {}


def client_context() -> zmq.Context:
    """This process's context for lock clients, sized for as many sockets as ZeroMQ allows.

    ``zmq.Context.instance()`` stops at 1,023 sockets, so a run with more symbols than that
    could not give each worker a client. Keyed by pid: a forked child builds its own.
    """
    context = _CONTEXTS.get(os.getpid())
    if context is None or context.closed:
        context = _CONTEXTS[os.getpid()] = zmq.Context()
        context.set(zmq.MAX_SOCKETS, context.get(zmq.SOCKET_LIMIT))
    return context


class ZmqLockClient:
    """``LockClient`` talking to a ``LockBroker`` over one DEALER socket."""

    def __init__(
        self,
        endpoint: str,
        client_id: str,
        history: History,
        request_timeout: float = 5.0,
        max_retries: int = 50,
        backoff: float = 0.0005,
        seed: int = 0,
        context: zmq.Context | None = None,
        lease_ms: int = 10_000,
        backoff_cap: float = 0.05,
        clock: Clock = time.time_ns,
        sleep: Callable[[float], None] = time.sleep,
        curve: CurveClient | None = None,
    ) -> None:
        self.client_id = client_id
        self.endpoint = endpoint
        self._history = history
        self._request_timeout = request_timeout
        self._max_retries = max_retries
        self._backoff = backoff
        self._backoff_cap = backoff_cap
        self._rng = random.Random(seed)
        self._context = context or client_context()
        self._lease_ms = lease_ms
        # Wall-clock ns by default: wait-or-die compares ts of clients in other processes/hosts.
        self._clock = clock
        self._sleep = sleep
        self._reqs = itertools.count(1)
        self._curve = curve
        self._socket = self._connect()

    def _connect(self) -> zmq.Socket:
        try:
            sock = self._context.socket(zmq.DEALER)
        except zmq.ZMQError as exc:
            # Out of sockets or file descriptors: say which limit, instead of a bare errno.
            raise LockUnavailable(
                f"{self.client_id}: cannot open a lock client socket ({exc}); each client needs a socket "
                f"and ~2 file descriptors: raise `ulimit -n` or run fewer symbols per process"
            ) from None
        sock.setsockopt(zmq.LINGER, 0)
        if self._curve is not None:
            self._curve.apply(sock)
        # Blocking recv in fixed slices (set once) is cheaper per reply than poll-then-recv
        # or a per-call timeout; _exchange checks its own deadline between slices.
        sock.setsockopt(zmq.RCVTIMEO, max(1, min(RECV_SLICE_MS, int(self._request_timeout * 1000))))
        # A DEALER with no connected peer (a refused CURVE handshake, a broker gone) blocks on
        # send: bound that wait too, so no request can hang a worker.
        sock.setsockopt(zmq.SNDTIMEO, max(1, int(self._request_timeout * 1000)))
        sock.connect(self.endpoint)
        return sock

    def _event(self, kind: str, **payload: Any) -> None:
        self._history.append(kind, worker=self.client_id, **payload)

    def _exchange(self, message: dict[str, Any], wait: float) -> dict[str, Any] | None:
        """Send one request; return its reply, or None if none came within ``wait`` seconds."""
        try:
            self._socket.send(encode(message))
        except zmq.Again:  # no peer took it within the send timeout
            self._fresh_socket()
            return None
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                reply = decode_object(self._socket.recv())
            except (zmq.Again, WireError):
                continue
            if reply.get("req") == message["req"]:
                return reply
        self._fresh_socket()
        return None

    def _fresh_socket(self) -> None:
        """Drop the socket of a request in limbo: a fresh one (new identity) never sees its late reply."""
        self._socket.close()
        self._socket = self._connect()

    def _call(self, op: str, names: list[str], wait: float, **fields: Any) -> tuple[int, dict[str, Any]]:
        """One attempt: invoke, exchange, and record lock.info if the reply never came."""
        req = next(self._reqs)
        invoke = {k: fields[k] for k in ("ts", "attempt") if k in fields}
        self._event(LOCK_INVOKE, op=op, names=names, req=req, **invoke)
        body = {k: v for k, v in fields.items() if k != "attempt"}
        reply = self._exchange({"op": op, "req": req, "client": self.client_id, "names": names, **body}, wait)
        if reply is None:
            self._event(LOCK_INFO, op=op, names=names, req=req, reason="no_reply")
            raise LockUnavailable(f"{self.client_id}: no reply from {self.endpoint} to {op} {names}")
        if reply.get("ok") is True:
            self._event(
                LOCK_OK, op=op, names=names, req=req,
                tokens=reply.get("tokens", {}), lease_ms=reply.get("lease_ms", 0),
            )
        else:
            self._event(LOCK_FAIL, op=op, names=names, req=req, reason=str(reply.get("reason")))
        return req, reply

    def acquire(self, names: Sequence[str], timeout: float) -> Grant:
        """Take every named lock at once; retry wait-or-die refusals with the first ``ts``."""
        names = list(names)
        ts = self._clock()
        deadline = time.monotonic() + timeout
        for attempt in range(1, self._max_retries + 2):
            remaining = max(0.0, deadline - time.monotonic())
            _, reply = self._call(
                "acquire", names, remaining + self._request_timeout,
                ts=ts, attempt=attempt, lease_ms=self._lease_ms, wait_ms=int(remaining * 1000),
            )
            if reply.get("ok") is True:
                return Grant(self.client_id, tuple(names), reply["tokens"], reply["lease_ms"])
            reason = reply.get("reason")
            if reason == "timeout":
                raise LockTimeout(f"{self.client_id}: {names} not granted in {timeout}s")
            if reason != "died":
                raise LockError(f"{self.client_id}: {names} refused: {reason}")
            pause = backoff_delay(attempt, self._backoff, 2.0, self._backoff_cap) * self._rng.random()
            if time.monotonic() + pause >= deadline:
                break
            self._sleep(pause)
        raise LockTimeout(f"{self.client_id}: {names} not granted in {timeout}s ({attempt} attempts)")

    def release(self, grant: Grant) -> None:
        """Give back every lock of the grant; raise LockError if it was no longer held."""
        self._held_op("release", grant)

    def renew(self, grant: Grant) -> Grant:
        """Extend the lease of every lock of the grant from now."""
        reply = self._held_op("renew", grant, lease_ms=self._lease_ms)
        return Grant(grant.client, grant.names, dict(grant.tokens), reply["lease_ms"])

    def _held_op(self, op: str, grant: Grant, **fields: Any) -> dict[str, Any]:
        names = list(grant.names)
        _, reply = self._call(op, names, self._request_timeout, tokens=dict(grant.tokens), **fields)
        if reply.get("ok") is not True:
            raise LockError(f"{self.client_id}: {op} {names} refused: {reply.get('reason')}")
        return reply

    def status(self, names: Sequence[str] = ()) -> dict[str, Any]:
        """The broker's view of holders, queues and newest tokens (not recorded)."""
        req = next(self._reqs)
        reply = self._exchange(
            {"op": "status", "req": req, "client": self.client_id, "names": list(names)}, self._request_timeout
        )
        if reply is None:
            raise LockUnavailable(f"{self.client_id}: no reply from {self.endpoint} to status")
        return reply

    def close(self) -> None:
        """Close the socket; locks still held expire with their lease."""
        self._socket.close()


@dataclass(frozen=True)
class ZmqLockProvider:
    """Makes ``ZmqLockClient``s; holds only settings, so it pickles to spawned workers."""

    endpoint: str
    request_timeout: float = 5.0  # a loaded 2-core machine can take seconds to answer; under the 10 s lease
    max_retries: int = 50
    backoff: float = 0.0005
    seed: int = 0
    lease_ms: int = 10_000
    shared_across_processes: bool = True
    curve: CurveClient | None = None

    def client(self, client_id: str, history: History) -> ZmqLockClient:
        """A new client; its RNG seed derives from the run seed and the client id."""
        return ZmqLockClient(
            self.endpoint, client_id, history,
            request_timeout=self.request_timeout, max_retries=self.max_retries, backoff=self.backoff,
            seed=self.seed ^ zlib.crc32(client_id.encode()), lease_ms=self.lease_ms,
            # One context per process, built on first use in each worker.
            context=client_context(), curve=self.curve or client_from_env(),
        )
