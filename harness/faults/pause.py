"""The pause fault: a lock holder stops past its lease while others go on, then resumes writing.

Thread mode stalls the target where it is about to book its fill in the guardian -- under
its symbol and global locks, the last write of its critical section (``guardian.settle``).
The nemesis arms one symbol (seeded), waits until that symbol's worker stops there, records
``fault.inject``, and heals only once the history shows the fault biting: the broker expired
the stopped worker's lease *and* another worker has written since. The woken holder's next
write carries its old token, which the guardian's book must reject. No sleep decides any of
this; the timeouts only end a round that can never bite (one symbol, workers gone), which
the Faults gate then reports as a fault that never bit.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from harness.history.events import (
    BROKER_EXPIRE,
    FAULT_HEAL,
    FAULT_INJECT,
    FENCE_ACCEPT,
    WORKER_DONE,
    WORKER_ERROR,
    WORKER_HALTED,
    WORKER_STALLED,
)
from harness.history.log import Event, History
from harness.system.guardian.risk import Guardian, Reservation
from harness.system.model import ClosedTrade, Fill

WORKER = "nemesis"
WORKER_ENDS = frozenset({WORKER_DONE, WORKER_ERROR, WORKER_HALTED, WORKER_STALLED})


class PauseNemesis:
    """Pauses one armed symbol's worker per round, past its lease; sets ``done`` after ``rounds``."""

    def __init__(self, symbols: Sequence[str], *, rounds: int, seed: int, lease_ms: int,
                 interval: float = 0.0) -> None:
        self._symbols, self._rounds, self._lease_ms, self._interval = tuple(symbols), rounds, lease_ms, interval
        self._rng = random.Random(seed)
        self._timeout = 5.0 + 5 * lease_ms / 1000
        self._cond = threading.Condition()
        self._armed: str | None = None  # symbol whose worker stops at its next settle
        self._stalled: str | None = None  # worker stopped now
        self._expired = self._overtaken = self._aborted = False
        self._gone: set[str | None] = set()  # symbols whose worker stopped trading: never armed
        self._history: History | None = None
        self.done = threading.Event()
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
            self._thread.join()

    def observe(self, event: Event) -> None:
        """The history's sink: notes the stopped worker's lease expiring, then another worker's write."""
        with self._cond:
            if event.kind in WORKER_ENDS:
                self._gone.add(event.symbol)
            if self._stalled is None:
                return
            if event.kind == BROKER_EXPIRE and event.payload.get("client") == self._stalled:
                self._expired = True
            elif event.kind == FENCE_ACCEPT and self._expired and event.worker != self._stalled:
                self._overtaken = True
            else:
                return
            self._cond.notify_all()

    def stall(self, worker: str, symbol: str) -> None:
        """Where a holder may be paused: stop here while ``symbol`` is armed, until healed."""
        with self._cond:
            if symbol != self._armed or self._aborted:
                return
            self._armed, self._stalled = None, worker
            self._expired = self._overtaken = False
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._stalled != worker or self._aborted)

    def _run(self) -> None:
        try:
            for round_ in range(1, self._rounds + 1):
                if round_ > 1 and self._interval and self._wait(lambda: self._aborted, self._interval):
                    return
                live = [symbol for symbol in self._symbols if symbol not in self._gone]
                if not live or not self._round(f"pause-{round_}", self._rng.choice(live)):
                    return
        finally:
            with self._cond:
                self._armed = self._stalled = None
                self._cond.notify_all()
            self.done.set()

    def _round(self, row: str, symbol: str) -> bool:
        """One pause; False when the armed worker never stopped (the run is ending)."""
        with self._cond:
            self._armed = symbol
        if not self._wait(lambda: self._stalled is not None or self._aborted, self._timeout) or self._aborted:
            return False
        target = self._stalled
        assert self._history is not None and target is not None
        self._history.append(FAULT_INJECT, worker=WORKER, row=row, fault="pause", target=target,
                             lease_ms=self._lease_ms)
        self._wait(lambda: self._overtaken or self._aborted, self._timeout)
        with self._cond:
            self._stalled = None
            self._cond.notify_all()
        self._history.append(FAULT_HEAL, worker=WORKER, row=row, target=target)
        return True

    def _wait(self, predicate: Any, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)


class PausableGuardian(Guardian):
    """The reference guardian, with the pause nemesis's stall point just before each settle."""

    def __init__(self, *args: Any, nemesis: PauseNemesis, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._nemesis = nemesis

    def settle(self, res: Reservation, fill: Fill, closed: Sequence[ClosedTrade], worker: str = "-",
               token: int | None = None) -> None:
        """Stop here if the nemesis armed this symbol, then settle as usual."""
        self._nemesis.stall(worker, fill.symbol)
        super().settle(res, fill, closed, worker, token)


