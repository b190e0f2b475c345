"""The scheduler of controlled runs: worker threads take turns, switching only at schedule points.

Workers run as threads but hold a baton: each runs until it reaches a point
(``harness.schedule``), where the seeded strategy (``harness.explore.strategies``) picks who
goes next. Waiting workers say what they wait for, so the baton never sits with a thread
that cannot move; when every live worker waits, that is a deadlock of the system under
test. A worker that makes no step for ``stall_s`` is reported as stalled. A decision with
only one runnable worker is no choice: the strategy is not asked and it is not a step.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness import schedule
from harness.explore.strategies import default_choice, preemptible

_local = threading.local()


class ScheduleAborted(BaseException):
    """Unwinds a worker of a stopped controlled run (a BaseException so ``except Exception`` passes it on)."""


class Strategy(Protocol):
    """Picks the next worker at each decision."""

    def choose(self, step: int, worker: int, point: str, enabled: Sequence[int]) -> int:
        """The worker to run next; ``worker`` reached ``point`` (-1 at the start), ``enabled`` can run."""


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
        return default_choice(self.worker, self.enabled)


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
    def points(self) -> int:
        """Preemption points passed: decisions where the arriving worker could go on and another could run (k)."""
        return sum(1 for s in self.steps if preemptible(s.worker, s.enabled))

    @property
    def preemptions(self) -> int:
        """Steps where a worker that could go on was switched away from."""
        return sum(1 for s in self.steps if s.worker in s.enabled and s.chosen != s.worker)


def _any_set(events: Sequence[threading.Event], timeout: float) -> bool:
    """Wait until one of ``events`` is set (polling: there is no select over events); False after ``timeout``."""
    waited = 0.0
    while waited < timeout:
        if any(e.is_set() for e in events):
            return True
        events[0].wait(0.01)
        waited += 0.01
    return any(e.is_set() for e in events)


def _label(resource: object) -> str:
    """A waited-on resource's name (a ``schedule.Lock``'s), else its type."""
    return str(getattr(resource, "name", type(resource).__name__))


SETTLE_S = 5.0  # longest wait for a reply that should come promptly (an external service's)


@dataclass
class Flight:
    """A call a worker makes outside the scheduler's control (to an external service), run on its own thread.

    ``expected()`` says whether its reply should come promptly (nothing it waits for is held
    by a controlled worker); the scheduler waits for those before each decision, so when a
    worker gets its reply is a function of the schedule, not of timing.
    """

    name: str
    expected: Callable[[], bool]
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None

    def start(self, call: Callable[[], Any]) -> None:
        """Make the call on a helper thread."""
        threading.Thread(target=self._run, args=(call,), name=f"flight-{self.name}", daemon=True).start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self.result = call()
        except BaseException as exc:  # noqa: BLE001 -- handed to the calling worker
            self.error = exc
        finally:
            self.done.set()

    def outcome(self) -> Any:
        """The call's result, or its exception raised again."""
        if self.error is not None:
            raise self.error
        return self.result


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
        self._decisions = 0  # every decision, recorded as a step or not: the stall watch counts these
        self._flights: list[tuple[_Worker, Flight]] = []
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
            quiet = quiet + 0.2 if self._decisions == seen else 0.0
            seen = self._decisions
            if quiet >= self._stall_s:
                name = self._workers[self._running].name if self._running >= 0 else "?"
                self._stalled = (f"{name} made no step for {self._stall_s:g}s: blocked outside the scheduler's "
                                 "control (a plain lock held across a point, a queue, I/O or an external service)")
                self._abort()

    def _body(self, worker: _Worker, target: Callable[[], Any]) -> None:
        schedule.attach(self)
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
            schedule.attach(None)
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

    def outside(self, name: str, call: Callable[[], Any], expected: Callable[[], bool]) -> Any:
        """Make ``call`` outside control (an external service); others may run until its reply is delivered."""
        me = self._me()
        flight = Flight(name, expected)
        flight.start(call)
        if expected():  # a prompt reply: waited for holding the baton, as an in-process call would be
            flight.done.wait(SETTLE_S)
        if flight.done.is_set():
            self._settle()  # a release may have let a parked request through: deliver its grant now
            return flight.outcome()
        me.blocked_on = flight
        self._flights.append((me, flight))
        self._decide(me.index, f"await {name}")
        self._wait_turn(me)
        return flight.outcome()

    def _settle(self) -> None:
        """Deliver the replies that have come, after waiting for those that should come promptly.

        A release lets the service grant a parked request: its reply is expected from then on
        and waited for (the first of several to come wins, as the service decided), so
        whoever runs next sees the grant; a request still waiting for a held name is not.
        """
        while self._flights:
            expected = [f.done for _, f in self._flights if not f.done.is_set() and f.expected()]
            if expected and not _any_set(expected, SETTLE_S):
                break
            arrived = [(w, f) for w, f in self._flights if f.done.is_set()]
            for worker, flight in arrived:
                self._flights.remove((worker, flight))
                worker.blocked_on = None
            if not expected and not arrived:
                break
        if self._flights and all(w.done or w.blocked_on is not None for w in self._workers):
            # Nobody can run: a reply that comes now (a lease expiring, a timeout) is the only way on.
            if _any_set([f.done for _, f in self._flights], self._stall_s):
                self._settle()

    def wake(self, resource: object) -> None:
        """Every worker waiting on ``resource`` is runnable again."""
        for worker in self._workers:
            if worker.blocked_on is resource:
                worker.blocked_on = None

    def _decide(self, worker: int, name: str) -> int:
        """Record a decision and hand the baton to the chosen worker; return it (-1: all done)."""
        if self._aborted:
            raise ScheduleAborted
        self._settle()
        enabled = tuple(w.index for w in self._workers if not w.done and w.blocked_on is None)
        if not enabled:
            waiting = {w.name: _label(w.blocked_on) for w in self._workers if not w.done}
            if waiting:
                self._deadlock = waiting
                self._abort()
                raise ScheduleAborted
            self._finished.set()
            return -1
        self._decisions += 1
        if len(enabled) == 1:  # no choice to make: not a step of the schedule (replay passes it the same way)
            chosen = enabled[0]
        else:
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
