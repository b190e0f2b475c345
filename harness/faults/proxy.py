"""A loopback TCP fault-injection proxy between a client and Redis or PostgreSQL.

Why a proxy: the Redis and PostgreSQL servers a run talks to are shared (with other runs,
other engineers, CI jobs) and must never be stopped or reconfigured to simulate an outage.
So the harness puts this proxy between the persistence writer and the real service and
breaks the *path* instead: it delays every chunk, resets connections, or swallows traffic
while the service itself keeps running for everyone else.

Faults:

- ``none``: bytes are forwarded both ways unchanged.
- ``delay``: every chunk read from either side waits ``delay_ms`` before it is forwarded.
- ``drop``: open connections are reset (RST) and new ones are reset as soon as accepted.
- ``blackhole``: connections are accepted and kept, but nothing is forwarded either way,
  so a client hangs until its own timeout; bytes are held, not lost (as TCP would resend
  them), and flow again after ``heal()``.

One thread accepts; each connection gets one pump thread that moves bytes in both
directions. Everything is bounded: connections, chunk size, delay, connect and join times.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
from dataclasses import dataclass
from types import TracebackType

from harness.errors import HarnessError

KINDS = ("none", "delay", "drop", "blackhole")
MAX_CONNECTIONS = 64
CHUNK = 64 * 1024
MAX_DELAY_MS = 60_000
CONNECT_TIMEOUT_S = 5.0
JOIN_TIMEOUT_S = 5.0
BACKLOG = 16


class FaultError(HarnessError, RuntimeError):
    """The proxy was used wrongly (unknown fault, not started, started twice)."""


@dataclass(frozen=True)
class Fault:
    """The fault in force: its kind and, for ``delay``, the delay per chunk."""

    kind: str = "none"
    delay_ms: int = 0


@dataclass(frozen=True)
class ProxyStats:
    """Counters of one proxy since it started."""

    connections: int
    bytes_up: int
    bytes_down: int
    active: int
    faults_applied: int


def _reset(sock: socket.socket) -> None:
    """Close a socket with an RST instead of a FIN, as a broken network path would."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass  # already dead: closing is all that is left
    sock.close()


def _shutdown(sock: socket.socket) -> None:
    """Unblock any thread waiting on the socket; the owner closes it."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # not connected any more: nothing to unblock


class _Link:
    """One proxied connection: client socket, upstream socket, and a wake-up pair."""

    def __init__(self, client: socket.socket) -> None:
        self.client = client
        self.upstream: socket.socket | None = None
        self.wake_r, self.wake_w = socket.socketpair()
        self.closing = threading.Event()
        self.thread: threading.Thread | None = None

    def wake(self) -> None:
        """Make the pump re-read the fault in force."""
        try:
            self.wake_w.send(b"x")
        except OSError:
            pass  # the pair is full or closed: the pump is awake or gone anyway

    def drain_wake(self) -> None:
        """Consume pending wake-ups (the pump re-reads the fault anyway)."""
        self.wake_r.recv(CHUNK)

    def close(self, reset: bool) -> None:
        """Close both ends (with RST if ``reset``) and the wake-up pair."""
        for sock in (self.client, self.upstream):
            if sock is not None:
                _reset(sock) if reset else sock.close()
        self.wake_r.close()
        self.wake_w.close()


class FaultProxy:
    """A TCP proxy on loopback whose path to the upstream can be delayed, dropped or blackholed."""

    def __init__(
        self, upstream_host: str, upstream_port: int, listen_host: str = "127.0.0.1", listen_port: int = 0
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listen_at = (listen_host, listen_port)
        self._listener: socket.socket | None = None
        self._accept_wake_r, self._accept_wake_w = socket.socketpair()
        self._acceptor: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._fault = Fault()
        self._links: set[_Link] = set()
        self._connections = self._up = self._down = self._faults = 0
        self.address: tuple[str, int] | None = None

    # -- control --------------------------------------------------------------------------
    def start(self) -> tuple[str, int]:
        """Listen and start accepting; return the (host, port) clients should connect to."""
        if self._listener is not None:
            raise FaultError("proxy already started")
        listener = socket.create_server(self._listen_at, backlog=BACKLOG)
        self._listener = listener
        host, port = listener.getsockname()[:2]
        self.address = (host, port)
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"fault-proxy-{port}", daemon=True)
        self._acceptor.start()
        return self.address

    def set_fault(self, kind: str, delay_ms: int = 0) -> None:
        """Put a fault in force for open and new connections."""
        if kind not in KINDS:
            raise FaultError(f"unknown fault {kind!r}; expected one of {', '.join(KINDS)}")
        if not 0 <= delay_ms <= MAX_DELAY_MS:
            raise FaultError(f"delay_ms must be within 0..{MAX_DELAY_MS}, got {delay_ms}")
        with self._lock:
            self._fault = Fault(kind, delay_ms if kind == "delay" else 0)
            if kind != "none":
                self._faults += 1
            links = list(self._links)
        for link in links:
            link.wake()

    def heal(self) -> None:
        """Remove any fault: traffic flows normally again."""
        self.set_fault("none")

    @property
    def fault(self) -> Fault:
        """The fault in force."""
        return self._fault

    def statistics(self) -> ProxyStats:
        """Counters since start: connections accepted, bytes each way, open links, faults set."""
        with self._lock:
            return ProxyStats(self._connections, self._up, self._down, len(self._links), self._faults)

    def stop(self) -> None:
        """Close the listener and every connection; join every thread (bounded)."""
        self._stopping.set()
        self._wake_acceptor()
        if self._acceptor is not None:
            self._acceptor.join(JOIN_TIMEOUT_S)
        with self._lock:
            links = list(self._links)
        for link in links:
            link.closing.set()
            link.wake()
            _shutdown(link.client)
            if link.upstream is not None:
                _shutdown(link.upstream)
        for link in links:
            if link.thread is not None:
                link.thread.join(JOIN_TIMEOUT_S)
        self._accept_wake_r.close()
        self._accept_wake_w.close()
        leaked = [t.name for t in (self._acceptor, *(link.thread for link in links)) if t is not None and t.is_alive()]
        if leaked:
            raise FaultError(f"proxy threads did not stop within {JOIN_TIMEOUT_S}s: {', '.join(leaked)}")

    def __enter__(self) -> FaultProxy:
        if self._listener is None:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _wake_acceptor(self) -> None:
        try:
            self._accept_wake_w.send(b"x")
        except OSError:
            pass  # already closed: the acceptor is gone

    # -- accepting ------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        try:
            while not self._stopping.is_set():
                readable, _, _ = select.select([listener, self._accept_wake_r], [], [])
                if listener in readable and not self._stopping.is_set():
                    self._accept(listener)
        finally:
            listener.close()

    def _accept(self, listener: socket.socket) -> None:
        try:
            client, _ = listener.accept()
        except OSError:
            return  # the peer gave up between select and accept
        with self._lock:
            self._connections += 1
            refuse = self._fault.kind == "drop" or len(self._links) >= MAX_CONNECTIONS
            link = None if refuse else _Link(client)
            if link is not None:
                self._links.add(link)
        if link is None:
            _reset(client)
            return
        link.thread = threading.Thread(target=self._pump, args=(link,), name="fault-proxy-link", daemon=True)
        link.thread.start()

    # -- pumping --------------------------------------------------------------------------
    def _pump(self, link: _Link) -> None:
        reset = False
        try:
            link.upstream = socket.create_connection(self.upstream, timeout=CONNECT_TIMEOUT_S)
            link.upstream.settimeout(None)
            reset = self._forward(link)
        except OSError:
            reset = True  # upstream unreachable or the path broke: the client sees a reset
        finally:
            with self._lock:
                self._links.discard(link)
            link.close(reset)

    def _forward(self, link: _Link) -> bool:
        """Move bytes until one side closes or the link is dropped; True means reset the client."""
        upstream = link.upstream
        assert upstream is not None
        while not link.closing.is_set():
            fault = self._fault
            if fault.kind == "drop":
                return True
            # Blackhole: wait only for a change of fault; unread bytes stay queued in the kernel.
            watch = [link.wake_r] if fault.kind == "blackhole" else [link.wake_r, link.client, upstream]
            readable, _, _ = select.select(watch, [], [])
            if link.wake_r in readable:
                link.drain_wake()
                continue
            for source in readable:
                if not self._carry(link, source, fault):
                    return False
        return False

    def _carry(self, link: _Link, source: socket.socket, fault: Fault) -> bool:
        """Forward one chunk from ``source`` to the other side; False when ``source`` closed."""
        upstream = link.upstream
        target = upstream if source is link.client else link.client
        assert target is not None
        data = source.recv(CHUNK)
        if not data:
            return False
        if fault.kind == "delay" and link.closing.wait(fault.delay_ms / 1000):
            return False  # stopping: the delayed chunk dies with the link
        target.sendall(data)
        with self._lock:
            if source is link.client:
                self._up += len(data)
            else:
                self._down += len(data)
        return True
