"""Controlled schedules for thread mode: exactly one worker runs between two scheduling points.

Every instrumentation point (``point(name)``, a ``schedule.Lock`` acquire, a lock-table
operation) is a decision: the worker that reached it hands the baton to the worker a seeded
strategy picks (``harness.schedule_strategy``). Outside a controlled run ``point`` costs one
thread-local lookup and does nothing.

A worker that must wait (a held ``schedule.Lock``, a lock-table queue, a ``schedule.Queue``
or ``schedule.Condition``, a ``wait`` on a condition) tells the scheduler what it waits for instead of sleeping, so the baton never
sits with a thread that cannot move; when every live worker waits, that is a deadlock of the
system under test, reported with its schedule. A worker that blocks on something the
scheduler does not know (a plain ``threading.Lock`` held across a point, a socket, an
external lock service) cannot be controlled: after ``stall_s`` without a step the run is
stopped and reported as stalled, never left hanging. ``controlled_locks`` turns the plain
``threading.Lock``s a component makes while it is built into ``schedule.Lock``s.
"""

from __future__ import annotations

import _thread
import contextlib
import hashlib
import queue
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

_local = threading.local()


class ScheduleAborted(BaseException):
    """Unwinds a worker of a stopped controlled run (a BaseException so ``except Exception`` passes it on)."""


class Strategy(Protocol):
    """Picks the next worker at each decision."""

    def choose(self, step: int, worker: int, point: str, enabled: Sequence[int]) -> int:
        """The worker to run next; ``worker`` reached ``point`` (-1 at the start), ``enabled`` can run."""


def current() -> Scheduler | None:
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
    cond.release()
    try:
        scheduler.block(cond)
    finally:
        cond.acquire()
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


@contextlib.contextmanager
def controlled_locks() -> Iterator[None]:
    """While a user's component is built: ``threading.Lock()`` makes a ``schedule.Lock``.

    So a component that guards its state with plain locks gets a scheduling point at each
    acquire (a check-then-act between two critical sections becomes visible) and waits
    through the scheduler, without changing a line of it. Locks bound before (``from
    threading import Lock``, module-level locks) and ``RLock`` stay plain.
    """
    original = threading.Lock
    threading.Lock = Lock  # type: ignore[assignment]
    try:
        yield
    finally:
        threading.Lock = original


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


@dataclass(frozen=True)
class Step:
    """One decision: ``worker`` reached ``point``; the strategy chose ``chosen`` among ``enabled``."""

    worker: int
    point: str
    enabled: tuple[int, ...]
    chosen: int

    @property
    def default(self) -> int:
        """The non-preemptive choice: the arriving worker if it can go on, else the lowest enabled."""
        return self.worker if self.worker in self.enabled else min(self.enabled)


@dataclass(frozen=True)
class Trace:
    """What a controlled execution did: its decisions and how it ended."""

    workers: tuple[str, ...]
    steps: tuple[Step, ...]
    deadlock: Mapping[str, str] = field(default_factory=dict)
    stalled: str = ""
    errors: Mapping[str, str] = field(default_factory=dict)

    @property
    def decisions(self) -> tuple[int, ...]:
        """The chosen worker at every step."""
        return tuple(s.chosen for s in self.steps)

    @property
    def digest(self) -> str:
        """Identity of the interleaving (a hash of the decision sequence)."""
        return hashlib.blake2b(bytes(str(self.decisions), "ascii"), digest_size=12).hexdigest()

    @property
    def switches(self) -> tuple[tuple[int, int], ...]:
        """(step, worker) where the choice differs from the non-preemptive default."""
        return tuple((i, s.chosen) for i, s in enumerate(self.steps) if s.chosen != s.default)

    def keyed_switches(self) -> dict[tuple[int, str, int], int]:
        """The switches keyed by (worker, point, arrival count) instead of step (see ``KeyedReplay``)."""
        seen: dict[tuple[int, str], int] = {}
        keyed = {}
        for step in self.steps:
            count = seen.get((step.worker, step.point), 0)
            seen[(step.worker, step.point)] = count + 1
            if step.chosen != step.default:
                keyed[(step.worker, step.point, count)] = step.chosen
        return keyed

    @property
    def preemptions(self) -> int:
        """Steps where a worker that could go on was switched away from."""
        return sum(1 for s in self.steps if s.worker in s.enabled and s.chosen != s.worker)


def _label(resource: object) -> str:
    """A waited-on resource's name (a ``schedule.Lock``'s), else its type."""
    return str(getattr(resource, "name", type(resource).__name__))


@dataclass
class _Worker:
    index: int
    name: str
    go: threading.Event = field(default_factory=threading.Event)
    blocked_on: object | None = None
    done: bool = False


class Scheduler:
    """Runs worker callables as threads, one at a time, switching only at scheduling points."""

    def __init__(self, strategy: Strategy, stall_s: float = 10.0, names: Sequence[str] = ()) -> None:
        self._strategy = strategy
        self._stall_s = stall_s
        self._names = tuple(names)
        self._workers: list[_Worker] = []
        self._steps: list[Step] = []
        self._running = -1
        self._aborted = False
        self._finished = threading.Event()
        self._deadlock: dict[str, str] = {}
        self._stalled = ""
        self._errors: dict[str, str] = {}
        self.trace: Trace | None = None

    def run(self, targets: Sequence[Callable[[], Any]]) -> Trace:
        """Run every target under control to the end (or to a deadlock or stall); return the trace."""
        names = self._names if len(self._names) == len(targets) else tuple(f"T{i}" for i in range(len(targets)))
        self._workers = [_Worker(i, name) for i, name in enumerate(names)]
        threads = [threading.Thread(target=self._body, args=(w, fn), name=f"controlled-{w.name}", daemon=True)
                   for w, fn in zip(self._workers, targets, strict=True)]
        for thread in threads:
            thread.start()
        if targets:
            self._decide(-1, "start")
            self._watch()
        for thread in threads:
            thread.join(self._stall_s)
        self.trace = Trace(names, tuple(self._steps), dict(self._deadlock), self._stalled, dict(self._errors))
        return self.trace

    __call__ = run  # the engine's ``threads`` hook calls it with the worker targets

    def _watch(self) -> None:
        """Wait for the end; stop the run when no step happens for ``stall_s``."""
        seen, quiet = -1, 0.0
        while not self._finished.wait(0.2):
            quiet = quiet + 0.2 if len(self._steps) == seen else 0.0
            seen = len(self._steps)
            if quiet >= self._stall_s:
                name = self._workers[self._running].name if self._running >= 0 else "?"
                self._stalled = (f"{name} made no step for {self._stall_s:g}s: blocked outside the scheduler's "
                                 "control (a plain lock held across a point, a queue, I/O or an external service)")
                self._abort()

    def _body(self, worker: _Worker, target: Callable[[], Any]) -> None:
        _local.scheduler = self
        _local.worker = worker
        worker.go.wait()
        worker.go.clear()
        try:
            if not self._aborted:
                target()
        except ScheduleAborted:
            pass
        except BaseException as exc:  # noqa: BLE001 -- a worker's crash is part of the trace
            self._errors[worker.name] = f"{type(exc).__name__}: {exc}"
        finally:
            worker.done = True
            _local.scheduler = None
            with contextlib.suppress(ScheduleAborted):  # the others may all be waiting: a deadlock
                self._decide(worker.index, "done")

    def _me(self) -> _Worker:
        return _local.worker

    def step(self, name: str) -> None:
        """The calling worker reached a point: let the strategy choose who goes on."""
        me = self._me()
        if self._decide(me.index, name) != me.index:
            self._wait_turn(me)

    def block(self, resource: object) -> None:
        """The calling worker cannot go on until ``wake(resource)``; run someone else."""
        me = self._me()
        me.blocked_on = resource
        self._decide(me.index, f"wait {_label(resource)}")
        self._wait_turn(me)

    def wake(self, resource: object) -> None:
        """Every worker waiting on ``resource`` is runnable again."""
        for worker in self._workers:
            if worker.blocked_on is resource:
                worker.blocked_on = None

    def _decide(self, worker: int, name: str) -> int:
        """Record a decision and hand the baton to the chosen worker; return it (-1: all done)."""
        if self._aborted:
            raise ScheduleAborted
        enabled = tuple(w.index for w in self._workers if not w.done and w.blocked_on is None)
        if not enabled:
            waiting = {w.name: _label(w.blocked_on) for w in self._workers if not w.done}
            if waiting:
                self._deadlock = waiting
                self._abort()
                raise ScheduleAborted
            self._finished.set()
            return -1
        chosen = self._strategy.choose(len(self._steps), worker, name, enabled)
        self._steps.append(Step(worker, name, enabled, chosen))
        self._running = chosen
        if chosen != worker:
            self._workers[chosen].go.set()
        return chosen

    def _wait_turn(self, me: _Worker) -> None:
        # Always wait after handing the baton on: the baton may already be back (go is set).
        me.go.wait()
        me.go.clear()
        if self._aborted:
            raise ScheduleAborted

    def _abort(self) -> None:
        self._aborted = True
        for worker in self._workers:
            worker.go.set()
        self._finished.set()
