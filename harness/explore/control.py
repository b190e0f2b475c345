"""Plug-ins under the scheduler's control, without the user editing their code.

``traced(component, label)`` makes every read and write of the component's own instance
attributes a schedule point (``label.attr``): its class is swapped for a subclass whose
``__getattribute__``/``__setattr__`` pass a point first. So an unlocked read-modify-write
(``slots = dict(self._slots)`` ... ``self._slots = slots``) has a point inside its gap.
``controlled_factory`` builds a plug-in under ``harness.schedule.controlled_locks`` (its
``threading.Lock``/``Condition`` become the scheduler's) and traces what it returns.

What it can see: attribute reads and writes on the component object itself, and the locks
and conditions it makes while it is built. What it cannot: state reached without touching
an attribute after it is read (a local alias of a shared dict mutated in a loop is one
point, at the read), objects the component shares that are not attributes of it (module
globals, other objects' attributes), locks made before it was built or ``RLock``\\ s (a
point while one is held by a waiting worker stalls the run: it is reported, never hung),
and classes whose instances cannot change class (``__slots__``, C types): those keep only
the points the harness puts before each call.

``controlled_provider`` wraps a ``--locks`` plug-in so each client call is a point. An
in-process provider (``shared_across_processes`` False) is built with controlled locks, so
its waiters wait through the scheduler. An external service (a ZeroMQ broker, Redis) is
reached through a relay: each call runs outside control (``Scheduler.outside``) and a
worker whose request waits for a name another worker holds (by the grants and releases the
relay delivered) lets the others run; a reply that should come promptly is waited for, so
the order in which clients receive grants and releases is the schedule's, explored and
replayed. What the relay cannot order: the service's own timers (lease expiry, wait-die
back-off sleeps) run in real time, and the moment a parked request is recorded in the
history may vary by a few events between replays.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from harness import schedule
from harness.explore.scheduler import Scheduler
from harness.system.locks.protocol import Grant, LockClient, LockProvider

T = TypeVar("T")


def traced(component: T, label: str) -> T:
    """``component`` with a schedule point before each read or write of its own attributes (in place)."""
    try:
        kind: Any = type(component)
        component.__class__ = _traced_class(kind, label)
    except TypeError:  # __slots__ or a C type: only the points before each call remain
        pass
    return component


@functools.cache
def _traced_class(cls: Any, label: str) -> type:
    def __getattribute__(self: Any, name: str) -> Any:  # noqa: N807 -- the hook's own name
        if name in object.__getattribute__(self, "__dict__"):
            schedule.point(f"{label}.{name}")
        return cls.__getattribute__(self, name)

    def __setattr__(self: Any, name: str, value: Any) -> None:  # noqa: N807
        schedule.point(f"{label}.{name}")
        cls.__setattr__(self, name, value)

    namespace = {"__getattribute__": __getattribute__, "__setattr__": __setattr__, "__module__": cls.__module__,
                 "__qualname__": cls.__qualname__}
    return type(cls.__name__, (cls,), namespace)


def controlled_factory(factory: Callable[..., Any], label: str) -> Callable[..., Any]:
    """``factory`` building under controlled locks, its products traced as ``label``."""
    def build(*args: Any, **kwargs: Any) -> Any:
        with schedule.controlled_locks():
            return traced(factory(*args, **kwargs), label)
    return build


class Board:
    """Which lock names controlled workers hold, by the replies delivered to them."""

    def __init__(self) -> None:
        self._holder: dict[str, str] = {}
        self._mutex = threading.Lock()  # helper threads write, the deciding worker reads

    def free(self, names: Sequence[str]) -> bool:
        """True when no name is held: a request for them should be granted promptly."""
        with self._mutex:
            return not any(name in self._holder for name in names)

    def mark(self, client: str, names: Sequence[str], held: bool) -> None:
        """Record a grant to ``client`` (``held``) or its release of ``names``.

        A release reply may come after the grant it let through to the next holder: only the
        holder's own release frees a name.
        """
        with self._mutex:
            for name in names:
                if held:
                    self._holder[name] = client
                elif self._holder.get(name) == client:
                    del self._holder[name]


def _outside(name: str, call: Callable[[], T], expected: Callable[[], bool]) -> T:
    """``call`` outside the scheduler's control in a controlled run (plainly otherwise)."""
    scheduler = schedule.current()
    if isinstance(scheduler, Scheduler):
        result: T = scheduler.outside(name, call, expected)
        return result
    return call()


class ControlledClient:
    """A lock client whose every call is a schedule point first; a remote one's calls go through the relay."""

    def __init__(self, client: LockClient, board: Board | None = None) -> None:
        self._client = client
        self._board = board
        self.client_id = client.client_id

    def _call(self, op: str, call: Callable[[], T], waits_for: Sequence[str] = ()) -> T:
        schedule.point(f"locks.{op}")
        if self._board is None:
            return call()
        board = self._board
        return _outside(f"locks.{op}", call, lambda: board.free(waits_for))

    def acquire(self, names: Sequence[str], timeout: float) -> Grant:
        """The wrapped acquire, after a point."""
        def call() -> Grant:
            grant = self._client.acquire(names, timeout)
            if self._board is not None:
                self._board.mark(self.client_id, grant.names, True)
            return grant
        return self._call("acquire", call, tuple(names))

    def release(self, grant: Grant) -> None:
        """The wrapped release, after a point."""
        def call() -> None:
            self._client.release(grant)
            if self._board is not None:
                self._board.mark(self.client_id, grant.names, False)
        self._call("release", call)

    def renew(self, grant: Grant) -> Grant:
        """The wrapped renew, after a point."""
        return self._call("renew", lambda: self._client.renew(grant))

    def close(self) -> None:
        """The wrapped close."""
        self._client.close()


class ControlledProvider:
    """A lock provider whose clients' calls are schedule points (through the relay for an external service)."""

    shared_across_processes = False

    def __init__(self, provider: LockProvider) -> None:
        self.provider = provider
        self._board = Board() if getattr(provider, "shared_across_processes", False) else None

    def client(self, client_id: str, history: Any) -> ControlledClient:
        """A controlled client of the wrapped provider."""
        return ControlledClient(self.provider.client(client_id, history), self._board)


def build_lock_plugin(factory: Callable[..., Any], *args: Any) -> Any:
    """Build a ``--locks`` plug-in under controlled locks (what an in-process provider waits on is then ours)."""
    with schedule.controlled_locks():
        return factory(*args)
