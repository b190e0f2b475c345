"""Schedule points: where a controlled run may switch workers -- the hooks the system calls.

In a controlled run (``harness.explore``) exactly one worker runs between two points. Every instrumentation point (``point(name)``, a ``schedule.Lock`` acquire, a lock-table
operation) is a decision: the worker that reached it hands the baton to the worker a seeded
strategy picks (``harness.explore.strategies``). Outside a controlled run ``point`` costs one
thread-local lookup and does nothing.

A worker that must wait (a held ``schedule.Lock``, a lock-table queue, a ``schedule.Queue``
or ``schedule.Condition``, a ``wait`` on a condition) tells the scheduler what it waits for instead of sleeping, so the baton never
sits with a thread that cannot move; when every live worker waits, that is a deadlock of the
system under test, reported with its schedule. A worker that blocks on something the
scheduler does not know (a plain ``threading.Lock`` held across a point, a socket, an
external lock service called directly) cannot be controlled: after ``stall_s`` without a
step the run is stopped and reported as stalled, never left hanging. ``controlled_locks``
turns the plain locks and conditions a component makes while it is built into these; a
``--locks`` service is called through ``harness.explore.control``'s relay.

This module is the user-facing hook (``harness.schedule.point("my gap")`` in a user's own
code) and imports nothing of the harness; the scheduler itself lives in
``harness.explore.scheduler``.
"""

from __future__ import annotations

import _thread
import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

_local = threading.local()


class Controller(Protocol):
    """What a point hands a decision to: the scheduler of a controlled run (``harness.explore``)."""

    def step(self, name: str) -> None:
        """The calling worker reached point ``name``; return when it may go on."""

    def block(self, resource: object) -> None:
        """The calling worker cannot go on until ``wake(resource)``; return when it may try again."""

    def wake(self, resource: object) -> None:
        """Workers waiting on ``resource`` may run again."""


def attach(controller: Controller | None) -> None:
    """Put the calling thread under ``controller`` (None: release it); the scheduler calls this."""
    _local.scheduler = controller


def current() -> Controller | None:
    """The scheduler controlling this thread, or None outside a controlled run."""
    return getattr(_local, "scheduler", None)


def point(name: str) -> None:
    """A scheduling decision in a controlled run; a no-op otherwise."""
    scheduler = getattr(_local, "scheduler", None)
    if scheduler is not None:
        scheduler.step(name)


def wake(resource: object) -> None:
    """Workers waiting on ``resource`` may run again (call after freeing it)."""
    scheduler = getattr(_local, "scheduler", None)
    if scheduler is not None:
        scheduler.wake(resource)


def wait(cond: threading.Condition, timeout: float) -> bool:
    """``cond.wait(timeout)``; in a controlled run, wait for ``wake(cond)`` (no timeout: only a deadlock ends it)."""
    scheduler = getattr(_local, "scheduler", None)
    if scheduler is None:
        return timeout > 0 and cond.wait(timeout)
    # Every level of a reentrant lock is freed while waiting, as Condition.wait does.
    saved = cond._release_save()  # type: ignore[attr-defined]
    try:
        scheduler.block(cond)
    finally:
        cond._acquire_restore(saved)  # type: ignore[attr-defined]
    return True


class Lock:
    """A mutex whose acquire is a scheduling point in controlled runs; a plain lock otherwise."""

    def __init__(self, name: str = "lock") -> None:
        self.name = name
        self._lock = _thread.allocate_lock()  # not threading.Lock: ``controlled_locks`` may have replaced it

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the lock; a controlled worker that finds it held waits through the scheduler."""
        scheduler = current()
        if scheduler is None:
            return self._lock.acquire(blocking, timeout)
        scheduler.step(f"acquire {self.name}")
        while not self._lock.acquire(False):
            if not blocking:
                return False
            scheduler.block(self)
        return True

    def release(self) -> None:
        """Give the lock back and let its waiters run."""
        self._lock.release()
        wake(self)

    def locked(self) -> bool:
        """True while held."""
        return self._lock.locked()

    def _at_fork_reinit(self) -> None:
        self._lock = _thread.allocate_lock()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class RLock:
    """A reentrant ``Lock``: its owner may take it again; another thread's acquire is a scheduling point."""

    def __init__(self, name: str = "rlock") -> None:
        self._lock = Lock(name)
        self._owner: int | None = None
        self._count = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Take it (again, if the caller holds it)."""
        if self._owner == threading.get_ident():
            self._count += 1
            return True
        if not self._lock.acquire(blocking, timeout):
            return False
        self._owner, self._count = threading.get_ident(), 1
        return True

    def release(self) -> None:
        """Give back one level; the last one frees it."""
        if self._owner != threading.get_ident():
            raise RuntimeError("cannot release un-acquired lock")
        self._count -= 1
        if not self._count:
            self._owner = None
            self._lock.release()

    def _is_owned(self) -> bool:  # threading.Condition asks its lock this
        return self._owner == threading.get_ident()

    def _release_save(self) -> int:  # a Condition's wait frees every level at once ...
        count, self._count = self._count, 1
        self.release()
        return count

    def _acquire_restore(self, count: int) -> None:  # ... and takes them all back
        self.acquire()
        self._count = count

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextlib.contextmanager
def controlled_locks() -> Iterator[None]:
    """While a user's component is built: ``threading.Lock()`` makes a ``schedule.Lock``.

    So a component that guards its state with plain locks gets a scheduling point at each
    acquire (a check-then-act between two critical sections becomes visible) and waits
    through the scheduler, without changing a line of it; ``threading.RLock()`` makes a
    ``schedule.RLock`` and ``threading.Condition()`` a ``schedule.Condition`` (its waits go
    through the scheduler). Locks bound before (``from threading import Lock``, module-level
    locks) stay plain.
    """
    originals = threading.Lock, threading.RLock, threading.Condition
    threading.Lock, threading.RLock, threading.Condition = Lock, RLock, Condition  # type: ignore[misc,assignment]
    try:
        yield
    finally:
        threading.Lock, threading.RLock, threading.Condition = originals  # type: ignore[misc]


def built_with_controlled_locks(factory: Callable[..., Any]) -> Callable[..., Any]:
    """``factory`` wrapped so that what it builds uses ``schedule.Lock`` for ``threading.Lock``."""
    def build(*args: Any, **kwargs: Any) -> Any:
        with controlled_locks():
            return factory(*args, **kwargs)
    return build


class Condition(threading.Condition):
    """A condition variable whose ``wait`` goes through the scheduler in controlled runs."""

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a notify; controlled, wait for the scheduler to wake this condition."""
        if current() is None:
            return super().wait(timeout)
        return wait(self, 0)

    def notify(self, n: int = 1) -> None:
        """Wake waiters (controlled: all of them; each rechecks what it waits for)."""
        super().notify(n)
        wake(self)

    def notify_all(self) -> None:
        """Wake every waiter."""
        super().notify_all()
        wake(self)


class Queue(queue.Queue):
    """``queue.Queue`` whose blocking ``get``/``put``/``join`` wait through the scheduler in controlled runs.

    A timeout given to ``get``/``put`` is still real time: a controlled run stays
    deterministic only with blocking calls without one.
    """

    def __init__(self, maxsize: int = 0) -> None:
        super().__init__(maxsize)
        self.not_empty, self.not_full, self.all_tasks_done = (Condition(self.mutex) for _ in range(3))
