"""ZeroMQ lock broker: leases, FIFO waiters, wait-or-die for hold-and-wait, fencing tokens.

One thread owns a ROUTER socket and all lock state, so the state needs no lock of its own.
Requests are validated by ``harness.system.locks.wire``; a bad one gets an error reply, is counted
and recorded as ``broker.error``, and the broker keeps serving. ZeroMQ drops a message
larger than ``max_bytes`` before it is buffered (``ZMQ_MAXMSGSIZE``); leases and waits are
cut to ``max_lease_ms``. A grant belongs to the connection (ROUTER identity) it was made
to: a release or renew from any other connection is refused, whatever client id it claims,
and ``status`` shows a token only to the connection holding it.

A request from a connection that holds no lock is granted atomically when every name is
free and nobody is queued for it, and otherwise waits in FIFO order (``broker.queue``):
with no hold-and-wait there is no deadlock to break. A connection that holds locks and
asks for more follows wait-or-die: each acquire carries ``ts``, the time of the request's
first attempt, which the client keeps across retries; it waits only when it is older --
``(ts, client)`` smaller -- than every holder and hold-and-wait waiter it conflicts with,
and is refused with reason ``died`` otherwise. Hold-and-wait waiters queue ahead of FIFO
waiters (which hold nothing, so nobody can be waiting on them in a cycle); waits among
them only point from older to younger, so the wait-for graph has no cycle.

Fencing tokens survive a restart through an *epoch* rather than a per-grant high-water
mark: at start the broker reads the epoch from its state file, adds one and persists it
atomically (write a temporary file, fsync, rename, fsync the directory) before it serves
anything. A token is ``epoch << 32 | n`` with ``n`` counting grants (of any name) within the
epoch, so every token of a later run is larger than every token of an earlier one, and an
idle name needs no state of its own. Why an epoch: persisting a high-water mark on each
grant would put an fsync on the hot path of every acquire; the epoch costs one fsync per
start (and one more each 2**32 grants, when the count would overflow into the epoch).
The epoch is also kept in a second place, ``<state file>.high`` (written after the state
file): a state file rolled back to an older copy is refused, since it would reissue tokens
below ones already granted.

The clock (``Callable[[], int]`` in ns) is a parameter so tests advance leases without
sleeping; expiry and waiter deadlines are checked on every loop iteration and poll timeout.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import zmq

from harness.errors import RunError
from harness.history.events import (
    BROKER_ERROR,
    BROKER_EXPIRE,
    BROKER_GRANT,
    BROKER_QUEUE,
    BROKER_REFUSE,
    BROKER_RELEASE,
    BROKER_RENEW,
    BROKER_REQUEST,
    BROKER_STOP,
    BROKER_WAIT,
)
from harness.history.log import Event, History
from harness.system.guardian.checkpoint import write_atomic
from harness.system.locks.security import (
    CLIENT_KEYS_ENV,
    SERVER_CERT_ENV,
    CurveServer,
    SecurityError,
    check_exposure,
    server_from_env,
)
from harness.system.locks.wire import DEFAULT_MAX_BYTES, Request, WireError, encode, parse_request, request_req

Clock = Callable[[], int]
EPOCH_SHIFT = 32
WORKER = "broker"
_MS = 1_000_000
DEFAULT_MAX_LEASE_MS = 60_000
COMPACT_SLACK = 1024  # stale heap entries tolerated before a rebuild


class BrokerStateError(RunError):
    """The broker's state file cannot be read or written."""


@dataclass(frozen=True)
class BrokerStatistics:
    """Counters of a broker, for tests, reports and benchmarks."""

    requests: int
    grants: int
    releases: int
    renewals: int
    expiries: int
    refusals: int
    waits: int
    queued: int
    malformed: int
    held: int
    max_queue: int


@dataclass
class _Holder:
    client: str
    ident: bytes
    token: int
    ts: int
    expires_ns: int


@dataclass(eq=False)
class _Waiter:
    ident: bytes
    request: Request
    deadline_ns: int
    fifo: bool


def next_epoch(state_file: Path | None, current: int = 0, require: bool = False) -> int:
    """Read the persisted epoch, persist epoch + 1 (above ``current``) atomically, and return it.

    ``require``: a missing file is an error, not epoch 0 -- a deleted state file would
    otherwise restart tokens below ones already issued.
    """
    if state_file is None:
        return current + 1
    if require and not state_file.exists():
        raise BrokerStateError(
            f"{state_file}: broker state file missing; tokens would restart below earlier ones "
            "(start with a new state file only for a new deployment)"
        )
    high = high_mark(state_file)
    stored = _read_epoch(state_file)
    if stored < _read_epoch(high):
        raise BrokerStateError(
            f"{state_file}: epoch {stored} is older than epoch {_read_epoch(high)} already issued (kept in {high}): "
            "a rolled-back state file would reissue lower fencing tokens; restore the newest one")
    epoch = max(stored, current) + 1
    for path in (state_file, high):  # the state file first: a crash between leaves it ahead, never behind
        try:
            write_atomic(path, json.dumps({"epoch": epoch}).encode())
        except OSError as exc:
            raise BrokerStateError(f"{path}: cannot write broker state: {exc.strerror or exc}") from None
    return epoch


def high_mark(state_file: Path) -> Path:
    """Where the newest epoch issued is kept a second time, to refuse a rolled-back state file."""
    return state_file.with_name(state_file.name + ".high")


def _read_epoch(state_file: Path) -> int:
    try:
        text = state_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise BrokerStateError(f"{state_file}: cannot read broker state: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        text = ""  # not a state file: said below
    try:
        epoch = json.loads(text)["epoch"]
    except (ValueError, KeyError, TypeError):
        epoch = None
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise BrokerStateError(f"{state_file}: not a broker state file (want {{\"epoch\": N}})")
    return epoch


class LockBroker:
    """The lock broker; run it in a thread (``start``/``stop``) or via ``serve_forever``."""

    def __init__(
        self,
        endpoint: str = "tcp://127.0.0.1:0",
        state_file: Path | str | None = None,
        history: History | None = None,
        clock: Clock = time.monotonic_ns,
        context: zmq.Context | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        idle_poll_ms: int = 100,
        max_lease_ms: int = DEFAULT_MAX_LEASE_MS,
        curve: CurveServer | None = None,
        require_state: bool = False,
    ) -> None:
        self.endpoint = endpoint
        self._max_lease_ms = max_lease_ms
        self._curve = curve
        self._require_state = require_state
        self._state_file = None if state_file is None else Path(state_file)
        self._history = history
        self._clock = clock
        self._context = context or zmq.Context.instance()
        self._max_bytes = max_bytes
        self._idle_poll_ms = idle_poll_ms
        self._epoch = 0
        self._holders: dict[str, _Holder] = {}
        self._queues: dict[str, deque[_Waiter]] = {}
        self._held_by: dict[bytes, int] = {}
        self._issued = 0
        self._waiting = 0
        self._expiries: list[tuple[int, str, int]] = []
        self._deadlines: list[tuple[int, int, _Waiter]] = []
        self._order = itertools.count()
        self._stats = dict.fromkeys(
            ("requests", "grants", "releases", "renewals", "expiries", "refusals", "waits", "queued", "malformed",
             "max_queue"), 0
        )
        self._thread: threading.Thread | None = None
        self._stopping = False
        # A stop request is this nonce sent to the broker's own socket: no second socket to poll.
        self._stop_nonce = b"\x00stop:" + os.urandom(16)
        self._socket: zmq.Socket | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> LockBroker:
        """Bind and serve in a background thread; ``endpoint`` is then the bound address."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            try:
                self.serve(on_ready=lambda _: ready.set())
            except BaseException as exc:  # handed to start()'s caller
                failure.append(exc)
                ready.set()

        self._thread = threading.Thread(target=serve, name="lock-broker", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop the background thread; held leases end, recorded as ``broker.expire``."""
        if self._thread is None:
            return
        if self._curve is not None:
            # A poke would need admitted client keys; the flag is seen within idle_poll_ms.
            self.request_stop()
            self._thread.join()
            self._thread = None
            return
        poke = self._context.socket(zmq.DEALER)
        poke.connect(self.endpoint)
        poke.send(self._stop_nonce)
        self._thread.join()
        poke.close(linger=0)
        self._thread = None

    def request_stop(self) -> None:
        """Ask ``serve`` to return within ``idle_poll_ms`` (safe from a signal handler)."""
        self._stopping = True

    def __enter__(self) -> LockBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve(self, on_ready: Callable[[str], None] = lambda endpoint: None) -> None:
        """Bind, call ``on_ready(endpoint)``, and serve in this thread until stopped."""
        try:
            check_exposure(self.endpoint, self._curve)
        except SecurityError as exc:
            raise BrokerStateError(str(exc)) from None
        self._epoch = next_epoch(self._state_file, self._epoch, self._require_state and self._epoch == 0)
        self._stopping = False
        sock = self._context.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        # An oversized message is dropped by ZeroMQ before it is ever buffered whole.
        sock.setsockopt(zmq.MAXMSGSIZE, self._max_bytes)
        auth = None if self._curve is None else self._curve.apply(self._context, sock)
        try:
            sock.bind(self.endpoint)
        except zmq.ZMQError as exc:
            sock.close()
            if auth is not None:
                auth.stop()
            raise BrokerStateError(f"cannot bind {self.endpoint}: {exc}") from None
        self.endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self._socket = sock
        on_ready(self.endpoint)
        try:
            self._loop(sock)
        finally:
            # Unbind first: close alone frees an inproc name only later, in the reaper thread.
            sock.unbind(self.endpoint)
            sock.close()
            self._socket = None
            if auth is not None:
                auth.stop()
            self._reset_state()

    def _reset_state(self) -> None:
        # Leases do not outlive the broker; say so in the history, as an expiry would.
        for name, holder in self._holders.items():
            self._record(BROKER_EXPIRE, name=name, client=holder.client, token=holder.token)
        # Queued requests die with the broker; checkers replaying its queues start afresh.
        self._record(BROKER_STOP, epoch=self._epoch)
        self._holders.clear()
        self._queues.clear()
        self._held_by.clear()
        self._issued = self._waiting = 0
        self._expiries.clear()
        self._deadlines.clear()

    def _loop(self, sock: zmq.Socket) -> None:
        # Blocking recv with a receive timeout, not a Poller: measured ~2x faster per message.
        recv, timeout = sock.recv_multipart, None
        flush: Callable[[], None] | None = getattr(self._history, "flush", None)
        while not self._stopping:
            wanted = self._poll_timeout_ms()
            if wanted != timeout:
                sock.setsockopt(zmq.RCVTIMEO, wanted)
                timeout = wanted
            try:
                # With a batching history, try without blocking first: on the way to block,
                # the events batched so far go out.
                frames = recv(zmq.NOBLOCK) if flush is not None else recv()
            except zmq.Again:
                try:
                    if flush is None:
                        raise
                    flush()
                    frames = recv()
                except zmq.Again:
                    self._tick()
                    continue
            # Time may have moved while blocked; a request must see leases as of now.
            self._tick()
            if len(frames) == 2 and frames[1] == self._stop_nonce:
                return
            self._handle(frames)

    def _poll_timeout_ms(self) -> int:
        now = self._clock()
        soonest = min(
            (heap[0][0] for heap in (self._expiries, self._deadlines) if heap),
            default=now + self._idle_poll_ms * _MS,
        )
        return max(0, min(self._idle_poll_ms, (soonest - now) // _MS + 1))

    # -- requests ----------------------------------------------------------------------

    def _handle(self, frames: list[bytes]) -> None:
        if len(frames) < 2:
            self._malformed(None, None, "no reply address")
            return
        ident = frames[0]
        if len(frames) != 2:
            self._malformed(ident, None, f"expected one body frame, got {len(frames) - 1}")
            return
        body = frames[1]
        try:
            request = parse_request(body, self._max_bytes)
        except WireError as exc:
            self._malformed(ident, request_req(body) if len(body) <= self._max_bytes else None, str(exc))
            return
        self._stats["requests"] += 1
        self._record(
            BROKER_REQUEST, op=request.op, client=request.client, req=request.req,
            names=request.names, ts=request.ts,
        )
        getattr(self, "_op_" + request.op)(ident, request)

    def _malformed(self, ident: bytes | None, req: int | None, reason: str) -> None:
        self._stats["malformed"] += 1
        self._record(BROKER_ERROR, reason=reason, req=req)
        if ident is not None:
            self._reply(ident, {"req": req, "ok": False, "reason": f"malformed: {reason}"})

    def _reply(self, ident: bytes, message: dict[str, Any]) -> None:
        assert self._socket is not None
        self._socket.send_multipart((ident, encode(message)))

    def _record(self, kind: str, **payload: Any) -> None:
        if self._history is not None:
            self._history.append(kind, worker=WORKER, **payload)

    def _op_acquire(self, ident: bytes, request: Request) -> None:
        request = self._capped(request)
        if self._held_by.get(ident):
            self._acquire_holding(ident, request)
        else:
            self._acquire_fifo(ident, request)

    def _capped(self, request: Request) -> Request:
        """The request with its lease and wait cut to the broker's limits (no year-long lease)."""
        lease, wait = min(request.lease_ms, self._max_lease_ms), min(request.wait_ms, self._max_lease_ms)
        if (lease, wait) == (request.lease_ms, request.wait_ms):
            return request
        return replace(request, lease_ms=lease, wait_ms=wait)

    def _acquire_fifo(self, ident: bytes, request: Request) -> None:
        """No hold-and-wait: granted when every name is free and unqueued, else wait FIFO."""
        blocker = self._fifo_blocker(request.names)
        if blocker is None:
            self._grant(ident, request, fifo=True)
        elif request.wait_ms == 0:
            self._refuse(ident, request, "timeout")
        else:
            self._enqueue(_Waiter(ident, request, self._deadline(request), fifo=True))
            self._record(BROKER_QUEUE, client=request.client, req=request.req, names=request.names,
                         blocked_by=blocker)

    def _fifo_blocker(self, names: tuple[str, ...]) -> str | None:
        """The client a FIFO request would wait behind: a holder, else the last queued waiter."""
        for name in names:
            holder = self._holders.get(name)
            if holder is not None:
                return holder.client
            queue = self._queues.get(name)
            if queue:
                return queue[-1].request.client
        return None

    def _acquire_holding(self, ident: bytes, request: Request) -> None:
        """Hold-and-wait: wait-or-die against holders and other hold-and-wait waiters."""
        blocker = self._oldest_conflict(request.names)
        if blocker is None:
            self._grant(ident, request, fifo=False)
            return
        holder_ts, holder_client = blocker
        if (request.ts, request.client) >= blocker:
            self._refuse(ident, request, "died", holder_ts)
        elif request.wait_ms == 0:
            self._refuse(ident, request, "timeout", holder_ts)
        else:
            self._enqueue(_Waiter(ident, request, self._deadline(request), fifo=False))
            self._stats["waits"] += 1
            self._record(
                BROKER_WAIT, client=request.client, req=request.req, names=request.names,
                blocked_by=holder_client, ts=request.ts, holder_ts=holder_ts,
            )

    def _oldest_conflict(self, names: tuple[str, ...]) -> tuple[int, str] | None:
        """Smallest ``(ts, client)`` among holders and hold-and-wait waiters of ``names``.

        FIFO waiters hold nothing, so nobody can wait for them in a cycle: a hold-and-wait
        request goes ahead of them instead of dying for them.
        """
        oldest = None
        for name in names:
            holder = self._holders.get(name)
            if holder is not None and (oldest is None or (holder.ts, holder.client) < oldest):
                oldest = (holder.ts, holder.client)
            for waiter in self._queues.get(name, ()):
                if waiter.fifo:
                    break
                key = (waiter.request.ts, waiter.request.client)
                if oldest is None or key < oldest:
                    oldest = key
        return oldest

    def _deadline(self, request: Request) -> int:
        return self._clock() + request.wait_ms * _MS

    def _enqueue(self, waiter: _Waiter) -> None:
        for name in waiter.request.names:
            queue = self._queues.setdefault(name, deque())
            if waiter.fifo:
                queue.append(waiter)
            else:
                # Hold-and-wait waiters queue ahead of every FIFO waiter, in arrival order.
                queue.insert(next((i for i, w in enumerate(queue) if w.fifo), len(queue)), waiter)
            if len(queue) > self._stats["max_queue"]:
                self._stats["max_queue"] = len(queue)
        heapq.heappush(self._deadlines, (waiter.deadline_ns, next(self._order), waiter))
        self._waiting += 1
        self._stats["queued"] += 1

    def _next_token(self) -> int:
        """A token larger than every earlier one, of any name, in this and earlier epochs."""
        if self._issued == (1 << EPOCH_SHIFT) - 1:
            self._epoch, self._issued = next_epoch(self._state_file, self._epoch), 0
        self._issued += 1
        return self._epoch << EPOCH_SHIFT | self._issued

    def _grant(self, ident: bytes, request: Request, fifo: bool) -> None:
        expires = self._clock() + request.lease_ms * _MS
        tokens = {}
        for name in request.names:
            token = tokens[name] = self._next_token()
            self._holders[name] = _Holder(request.client, ident, token, request.ts, expires)
            heapq.heappush(self._expiries, (expires, name, token))
        self._held_by[ident] = self._held_by.get(ident, 0) + len(request.names)
        self._stats["grants"] += 1
        self._record(
            BROKER_GRANT, client=request.client, req=request.req, names=request.names,
            tokens=tokens, lease_ms=request.lease_ms, ts=request.ts, mode="fifo" if fifo else "wait_die",
        )
        self._reply(ident, {"req": request.req, "ok": True, "tokens": tokens, "lease_ms": request.lease_ms})

    def _unhold(self, name: str) -> _Holder:
        """Forget a holder; per-connection and heap state shrink with it."""
        holder = self._holders.pop(name)
        left = self._held_by[holder.ident] - 1
        if left:
            self._held_by[holder.ident] = left
        else:
            del self._held_by[holder.ident]
        # Released leases leave stale heap entries; rebuild once they outnumber live ones.
        if len(self._expiries) > 2 * len(self._holders) + COMPACT_SLACK:
            self._expiries = [(h.expires_ns, n, h.token) for n, h in self._holders.items()]
            heapq.heapify(self._expiries)
        return holder

    def _refuse(self, ident: bytes, request: Request, reason: str, holder_ts: int | None = None) -> None:
        self._stats["refusals"] += 1
        self._record(
            BROKER_REFUSE, client=request.client, req=request.req, names=request.names,
            reason=reason, ts=request.ts, holder_ts=holder_ts,
        )
        self._reply(ident, {"req": request.req, "ok": False, "reason": reason, "holder_ts": holder_ts})

    def _owned(self, ident: bytes, request: Request) -> str | None:
        """None if this connection holds every name with the given token, else the refusal reason.

        The connection (ROUTER identity, assigned by the broker's socket) owns a grant: a
        request claiming the holder's client id and token from another connection is refused.
        """
        for name in request.names:
            holder = self._holders.get(name)
            token = request.tokens[name]
            if holder is not None and holder.token == token:
                if holder.ident != ident or holder.client != request.client:
                    return "not_owner"
                continue
            # A well-formed token from this or an earlier epoch: the lease ran out (or died
            # with a broker restart); anything else was never granted.
            issued = 0 < token >> EPOCH_SHIFT <= self._epoch and token & ((1 << EPOCH_SHIFT) - 1) > 0
            return "expired" if issued else "not_owner"
        return None

    def _op_release(self, ident: bytes, request: Request) -> None:
        reason = self._owned(ident, request)
        if reason is not None:
            self._refuse(ident, request, reason)
            return
        for name in request.names:
            self._unhold(name)
        self._stats["releases"] += 1
        self._record(
            BROKER_RELEASE, client=request.client, req=request.req, names=request.names,
            tokens=request.tokens,
        )
        self._reply(ident, {"req": request.req, "ok": True, "tokens": request.tokens, "lease_ms": 0})
        self._pump(request.names)

    def _op_renew(self, ident: bytes, request: Request) -> None:
        reason = self._owned(ident, request)
        if reason is not None:
            self._refuse(ident, request, reason)
            return
        request = self._capped(request)
        expires = self._clock() + request.lease_ms * _MS
        for name in request.names:
            self._holders[name].expires_ns = expires
            heapq.heappush(self._expiries, (expires, name, request.tokens[name]))
        self._stats["renewals"] += 1
        self._record(
            BROKER_RENEW, client=request.client, req=request.req, names=request.names,
            tokens=request.tokens, lease_ms=request.lease_ms,
        )
        self._reply(
            ident, {"req": request.req, "ok": True, "tokens": request.tokens, "lease_ms": request.lease_ms}
        )

    def _op_status(self, ident: bytes, request: Request) -> None:
        names = request.names or tuple(sorted(set(self._holders) | set(self._queues)))
        now = self._clock()
        holders: dict[str, dict[str, Any]] = {}
        tokens = {}
        for name in names:
            holder = self._holders.get(name)
            if holder is None:
                continue
            holders[name] = {"client": holder.client, "expires_in_ms": (holder.expires_ns - now) // _MS}
            # A token is shown only to the connection that holds it: it is half a release.
            if holder.ident == ident:
                holders[name]["token"] = tokens[name] = holder.token
        queues = {n: [w.request.client for w in self._queues[n]] for n in names if self._queues.get(n)}
        self._reply(
            ident, {"req": request.req, "ok": True, "holders": holders, "queues": queues, "tokens": tokens}
        )

    # -- waking waiters ----------------------------------------------------------------

    def _pump(self, names: tuple[str, ...]) -> None:
        """Grant waiters now at the head of every queue they are in and free of holders."""
        for name in names:
            while (queue := self._queues.get(name)) and name not in self._holders:
                waiter = queue[0]
                wanted = waiter.request.names
                if any(n in self._holders or self._queues[n][0] is not waiter for n in wanted):
                    break
                for n in wanted:
                    self._dequeue(n, waiter)
                waiter.deadline_ns = -1  # granted: its deadline entry is now stale
                self._waiting -= 1
                self._grant(waiter.ident, waiter.request, waiter.fifo)
        if len(self._deadlines) > 2 * self._waiting + COMPACT_SLACK:
            live = {id(w): w for queue in self._queues.values() for w in queue}
            self._deadlines = [(w.deadline_ns, next(self._order), w) for w in live.values()]
            heapq.heapify(self._deadlines)

    def _dequeue(self, name: str, waiter: _Waiter) -> None:
        queue = self._queues[name]
        queue.remove(waiter)
        if not queue:
            del self._queues[name]

    def _tick(self) -> None:
        """Expire leases and withdraw waiters whose time is up."""
        now = self._clock()
        expiries, deadlines = self._expiries, self._deadlines
        while expiries and expiries[0][0] <= now:
            expires, name, token = heapq.heappop(expiries)
            holder = self._holders.get(name)
            # Stale heap entries (released or renewed since) are skipped, not removed eagerly.
            if holder is not None and holder.token == token and holder.expires_ns == expires:
                self._unhold(name)
                self._stats["expiries"] += 1
                self._record(BROKER_EXPIRE, name=name, client=holder.client, token=token)
                self._pump((name,))
                expiries = self._expiries
        while deadlines and deadlines[0][0] <= now:
            deadline, _, waiter = heapq.heappop(deadlines)
            if waiter.deadline_ns == deadline:
                waiter.deadline_ns = -1
                self._waiting -= 1
                for name in waiter.request.names:
                    self._dequeue(name, waiter)
                self._refuse(waiter.ident, waiter.request, "timeout")
                self._pump(waiter.request.names)
                deadlines = self._deadlines

    # -- inspection --------------------------------------------------------------------

    def state_size(self) -> int:
        """Entries in the broker's per-name and per-connection tables (bounded by what is live)."""
        return len(self._holders) + len(self._queues) + len(self._held_by) + len(self._expiries) + len(self._deadlines)

    def statistics(self) -> BrokerStatistics:
        """A frozen copy of the broker's counters."""
        return BrokerStatistics(held=len(self._holders), **self._stats)


class _StreamedHistory(History):
    """A history that streams each event to a JSONL file and keeps none in memory.

    A standalone broker runs for as long as it is needed; holding its events in memory
    would grow without bound. Line-buffered: a broker killed with -9 still leaves every
    event it had recorded.
    """

    def __init__(self, run_id: str, path: Path) -> None:
        super().__init__(run_id)
        self._handle = open(path, "a", encoding="utf-8", buffering=1)

    def _add(self, event: Event) -> None:
        self._handle.write(event.to_json() + "\n")

    def close(self) -> None:
        """Close the file."""
        self._handle.close()


def serve_forever(
    endpoint: str,
    state_file: Path | str | None,
    events: Path | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    announce: Callable[[str], None] = print,
    **options: Any,
) -> None:
    """Run a broker in this process until SIGINT/SIGTERM; announce the bound endpoint.

    ``options`` are further ``LockBroker`` settings (max_lease_ms, curve, require_state).
    """
    history = None if events is None else _StreamedHistory("broker", events)
    broker = LockBroker(endpoint, state_file, history, max_bytes=max_bytes, context=zmq.Context(), **options)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: broker.request_stop())
    try:
        broker.serve(on_ready=announce)
    finally:
        if history is not None:
            history.close()


def add_broker_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``harness broker`` options to ``parser``."""
    parser.add_argument("--endpoint", default="tcp://127.0.0.1:5555", help="tcp:// or ipc:// address to bind")
    parser.add_argument("--state-file", type=Path, required=True, help="where the fencing-token epoch persists")
    parser.add_argument("--new-state", action="store_true",
                        help="create the state file if missing (else a missing file is refused: tokens would restart)")
    parser.add_argument("--events", type=Path, default=None, help="append broker events here as JSONL")
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, help="largest request accepted")
    parser.add_argument("--max-lease-ms", type=int, default=DEFAULT_MAX_LEASE_MS, help="longest lease granted")
    parser.add_argument("--curve-server-cert", type=Path, default=None,
                        help=f"CURVE secret certificate of the broker (or ${SERVER_CERT_ENV})")
    parser.add_argument("--curve-client-keys", type=Path, default=None,
                        help=f"directory of admitted client public keys (or ${CLIENT_KEYS_ENV})")


def _argument_error(args: argparse.Namespace) -> str | None:
    if not args.endpoint.startswith(("tcp://", "ipc://")):
        return f"--endpoint must be tcp:// or ipc://, got {args.endpoint!r}"
    for flag, value in (("--max-bytes", args.max_bytes), ("--max-lease-ms", args.max_lease_ms)):
        if value <= 0:
            return f"{flag} must be positive, got {value}"
    for flag, path in (("--state-file", args.state_file), ("--events", args.events)):
        if path is not None and not path.parent.is_dir():
            return f"{flag}: directory {path.parent} does not exist"
    return None


def _curve(args: argparse.Namespace) -> CurveServer | None:
    if args.curve_server_cert is None and args.curve_client_keys is None:
        return server_from_env()
    if args.curve_server_cert is None or args.curve_client_keys is None:
        raise SecurityError("--curve-server-cert and --curve-client-keys go together")
    return CurveServer.load(args.curve_server_cert, args.curve_client_keys)


def run_broker(args: argparse.Namespace) -> int:
    """Entry point of ``harness broker``: 0 after a clean stop, 2 if it cannot run."""
    problem = _argument_error(args)
    if problem is None:
        try:
            serve_forever(
                args.endpoint, args.state_file, args.events, args.max_bytes,
                announce=lambda ep: print(f"broker listening on {ep}", flush=True),
                max_lease_ms=args.max_lease_ms, curve=_curve(args), require_state=not args.new_state,
            )
            return 0
        except (BrokerStateError, SecurityError) as exc:
            problem = str(exc)
    print(f"harness broker: error: {problem}", file=sys.stderr)
    return 2
