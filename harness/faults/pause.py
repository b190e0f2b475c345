"""The pause fault: a lock holder stops past its lease while others go on, then resumes writing.

The target stops where it is about to book its fill in the guardian -- under its symbol and
global locks, the last write of its critical section. Thread mode stalls the worker thread
there (``ThreadStop``); process mode has the worker process stop itself with ``SIGSTOP`` and
the nemesis resume it with ``SIGCONT`` (``ProcessStop``). The nemesis arms one symbol (seeded),
waits until that symbol's worker has stopped, records ``fault.inject``, and heals only once the
history shows the fault biting: another worker has written under the global lock the stopped
one holds -- its lease ran out and the lock went on (or the lock service never excluded
anyone). The woken holder's next write carries its old token, which the guardian's book must
reject; without tokens nothing can reject it, and the checker sees a write after its holder's
lease. No sleep decides any of this; the timeouts only end a round that can never bite (one
symbol, workers gone), which the Faults gate then reports as a fault that never bit.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from harness.history.events import (
    FAULT_HEAL,
    FAULT_INJECT,
    FENCE_ACCEPT,
    LOCK_FAIL,
    LOCK_INFO,
    LOCK_INVOKE,
    LOCK_OK,
    WORKER_DONE,
    WORKER_ERROR,
    WORKER_HALTED,
    WORKER_STALLED,
)
from harness.history.log import Event, History
from harness.system.guardian.risk import Guardian, Reservation
from harness.system.locks.protocol import GLOBAL_LOCK
from harness.system.model import ClosedTrade, Fill

WORKER = "nemesis"
WORKER_ENDS = frozenset({WORKER_DONE, WORKER_ERROR, WORKER_HALTED, WORKER_STALLED})


Record = Callable[..., None]  # the guardian's recorder: (kind, worker, symbol, **payload)


def announce(record: Record, worker: str, symbol: str, row: str, lease_ms: int) -> None:
    """The stopping worker records the fault itself, so all it did before comes first in the history."""
    fault = row.rpartition("-")[0]
    record(FAULT_INJECT, WORKER, symbol, row=row, fault=fault, target=worker, lease_ms=lease_ms)


class Stop(Protocol):
    """How a worker is stopped at its stall point and let go again."""

    def stall(self, worker: str, symbol: str, record: Record) -> None:
        """Called by the worker: if ``symbol`` is armed, record fault.inject and stop here."""

    def arm(self, symbol: str | None, row: str = "") -> None:
        """The next worker of ``symbol`` to reach the stall point stops there for fault ``row`` (None: nobody)."""

    def wait_stopped(self, timeout: float) -> str | None:
        """The worker that stopped, once it has; None after ``timeout``."""

    def resume(self) -> None:
        """Let the stopped worker go on."""


class ThreadStop:
    """Thread mode: the worker thread waits at the stall point until resumed."""

    def __init__(self, lease_ms: int) -> None:
        self._lease_ms = lease_ms
        self._cond = threading.Condition()
        self._armed: str | None = None
        self._row = ""
        self._stopped: str | None = None

    def stall(self, worker: str, symbol: str, record: Record) -> None:
        """Wait here while armed for ``symbol``, until resumed."""
        with self._cond:
            if symbol != self._armed:
                return
            self._armed, self._stopped = None, worker
            announce(record, worker, symbol, self._row, self._lease_ms)
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._stopped != worker)

    def arm(self, symbol: str | None, row: str = "") -> None:
        """Arm ``symbol``; None disarms and ends a wait for a stop."""
        with self._cond:
            self._armed, self._row = symbol, row
            self._cond.notify_all()

    def wait_stopped(self, timeout: float) -> str | None:
        """The stopped worker, once there is one (None: timed out or disarmed)."""
        with self._cond:
            self._cond.wait_for(lambda: self._stopped is not None or self._armed is None, timeout)
            return self._stopped

    def resume(self) -> None:
        """Wake the stopped worker."""
        with self._cond:
            self._stopped = None
            self._cond.notify_all()


class ProcessStop:
    """Process mode: the worker process sends itself SIGSTOP at the stall point; SIGCONT resumes it.

    Built on a spawn context's shared objects, so it travels to the worker processes with the
    guardian factory; the stopped process is a child of the nemesis's process, whose
    ``waitpid(WUNTRACED)`` says when it has really stopped.
    """

    def __init__(self, ctx: Any, symbols: Sequence[str], lease_ms: int) -> None:
        self._symbols, self._lease_ms = tuple(symbols), lease_ms
        self._armed = ctx.Value("i", -1)  # index of the armed symbol; its lock guards the rest too
        self._row = ctx.Array("c", 64, lock=False)
        self._pid = ctx.Value("i", 0)
        self._worker = ctx.Array("c", 128)
        self._stopping = ctx.Event()

    def stall(self, worker: str, symbol: str, record: Record) -> None:
        """Stop this process here (SIGSTOP) while armed for ``symbol``."""
        with self._armed.get_lock():
            if symbol not in self._symbols or self._armed.value != self._symbols.index(symbol):
                return
            self._armed.value, self._pid.value, self._worker.value = -1, os.getpid(), worker.encode()[:127]
        announce(record, worker, symbol, self._row.value.decode(), self._lease_ms)
        self._stopping.set()
        os.kill(os.getpid(), signal.SIGSTOP)

    def arm(self, symbol: str | None, row: str = "") -> None:
        """Arm ``symbol``; None disarms and ends a wait for a stop."""
        with self._armed.get_lock():
            self._row.value = row.encode()[:63]
            self._armed.value = -1 if symbol is None else self._symbols.index(symbol)
        if symbol is None:
            self._stopping.set()

    def wait_stopped(self, timeout: float) -> str | None:
        """The stopped worker, once its process is stopped (None: timed out or disarmed)."""
        self._stopping.wait(timeout)
        pid = self._pid.value
        if not pid:
            return None
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WUNTRACED)  # returns once SIGSTOP has taken effect
        return self._worker.value.decode()

    def resume(self) -> None:
        """SIGCONT the stopped process, if any."""
        self._stopping.clear()
        with self._armed.get_lock():
            pid, self._pid.value = self._pid.value, 0
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


class PauseNemesis:
    """Stops one armed symbol's worker per fault, each of ``faults`` ``rounds`` times; then sets ``done``.

    ``actions`` maps a fault to what is done while the holder is stopped (a pause does nothing
    but wait; a broker restart restarts the broker under it).
    """

    def __init__(self, symbols: Sequence[str], stop: Stop, *, rounds: int, seed: int, lease_ms: int,
                 interval: float = 0.0, done: Any = None, faults: Sequence[str] = ("pause",),
                 actions: Mapping[str, Callable[[], None]] | None = None) -> None:
        self._symbols, self.stop, self._rounds, self._interval = tuple(symbols), stop, rounds, interval
        self._faults, self._actions = tuple(faults), dict(actions or {})
        self._rng = random.Random(seed)
        # Only a fault that can never bite waits this long (a waiter hears of a restarted broker late).
        self._timeout = 20.0 + 5 * lease_ms / 1000
        self._cond = threading.Condition()
        self._target: str | None = None  # worker stopped now, from its fault.inject
        self._holding: dict[str, set[str]] = {}  # locks each worker holds (lock.ok of an acquire to its release)
        self._asking: dict[str, set[str]] = {}  # locks of each worker's acquire in flight
        self._since = 0  # mono_ns of that fault.inject: writes made after it can bite
        self._overtaken = self._aborted = False
        self._gone: set[str | None] = set()  # symbols whose worker stopped trading: never armed
        self._ended: set[str] = set()  # those workers
        self._history: History | None = None
        self.done = done or threading.Event()  # set when every round is over (any Event: process mode's too)
        self._thread = threading.Thread(target=self._run, name="pause-nemesis", daemon=True)

    @contextlib.contextmanager
    def running(self, history: History) -> Iterator[PauseNemesis]:
        """Inject into ``history`` for the block's duration; on exit (also an interrupt) nobody stays stopped."""
        self._history = history
        self._thread.start()
        try:
            yield self
        finally:
            with self._cond:
                self._aborted = True
                self._cond.notify_all()
            self.stop.arm(None)  # ends a wait for a stop; a stopped worker is resumed (and healed) by the round
            self._thread.join()
            self.stop.resume()

    def observe(self, event: Event) -> None:
        """The history's sink: notes a worker stopping, then another writing under the global lock it holds.

        Process mode delivers each worker's events late and in batches: a write bites only if
        it was made (``mono_ns``, one clock for the machine) after the stop.
        """
        with self._cond:
            if event.kind in (LOCK_OK, LOCK_INVOKE, LOCK_FAIL, LOCK_INFO):
                self._track(event)
            elif event.kind in WORKER_ENDS:
                self._gone.add(event.symbol)
                self._ended.add(event.worker)
            elif event.kind == FAULT_INJECT and event.worker == WORKER:
                self._target, self._since, self._overtaken = event.payload.get("target"), event.mono_ns, False
            elif (event.kind == FENCE_ACCEPT and self._target not in (None, event.worker)
                  and event.payload.get("lock") == GLOBAL_LOCK and event.mono_ns > self._since):
                self._overtaken = True
            else:
                return
            self._cond.notify_all()

    def _track(self, event: Event) -> None:
        names, op, worker = set(event.payload.get("names") or ()), event.payload.get("op"), event.worker
        if op == "acquire":
            self._asking[worker] = names if event.kind == LOCK_INVOKE else set()
            if event.kind == LOCK_OK:
                self._holding.setdefault(worker, set()).update(names)
        elif op == "release" and event.kind == LOCK_INVOKE:
            self._holding.get(worker, set()).difference_update(names)
        self._cond.notify_all()

    def _others_blocked(self, target: str) -> bool:
        """Every other live worker holds nothing and waits for a lock ``target`` holds: none can be
        mid-write, none can start one -- an action now hits only the stopped holder."""
        blocking = self._holding.get(target, set())
        others = (set(self._holding) | set(self._asking)) - {target} - self._ended
        return all(not self._holding.get(worker) and self._asking.get(worker, set()) & blocking for worker in others)

    def _run(self) -> None:
        try:
            rows = [f"{fault}-{round_}" for round_ in range(1, self._rounds + 1) for fault in self._faults]
            for i, row in enumerate(rows):
                if i and self._interval and self._wait(lambda: self._aborted, self._interval):
                    return
                live = [symbol for symbol in self._symbols if symbol not in self._gone]
                if not live or not self._round(row, self._rng.choice(live)):
                    return
        finally:
            self.stop.arm(None)
            # A worker that stopped after its round gave up waiting (or whose round raised) is
            # let go here: otherwise it waits for a resume that only comes after the run joins it.
            self.stop.resume()
            self.done.set()

    def _round(self, row: str, symbol: str) -> bool:
        """One fault; False when the armed worker never stopped (the run is ending)."""
        self.stop.arm(symbol, row)
        target = self.stop.wait_stopped(self._timeout)
        if target is None:
            return False
        # Its fault.inject reaches the history with (after) all it did before it stopped.
        self._wait(lambda: self._target == target or self._aborted, self._timeout)
        action = self._actions.get(row.rpartition("-")[0])
        # Others finish what they hold and queue behind the stopped holder first, so the action --
        # a broker restart -- catches no running worker mid-write.
        if action is not None and self._wait(lambda: self._others_blocked(target) or self._aborted, self._timeout):
            if not self._aborted:
                action()
        self._wait(lambda: self._overtaken or self._aborted, self._timeout)
        with self._cond:
            self._target = None
        self.stop.resume()
        assert self._history is not None
        self._history.append(FAULT_HEAL, worker=WORKER, row=row, target=target)
        return not self._aborted

    def _wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)


class PausableGuardian(Guardian):
    """The reference guardian, with the pause's stall point just before each settle."""

    def __init__(self, *args: Any, stop: Stop, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stop = stop

    def settle(self, res: Reservation, fill: Fill, closed: Sequence[ClosedTrade], worker: str = "-",
               token: int | None = None) -> None:
        """Stop here if the nemesis armed this symbol, then settle as usual."""
        self._stop.stall(worker, fill.symbol, self._record)
        super().settle(res, fill, closed, worker, token)
