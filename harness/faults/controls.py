"""Known-broken components for control runs: a race detector must fire on a known race.

These exist only to prove the checkers can see what they claim to catch. ``Rendezvous``
makes two workers meet at the point where the race lives, so the race happens on every
pairing instead of once in a blue moon -- a forced ordering, not a sleep.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from harness.history.events import LOCK_INVOKE, LOCK_OK
from harness.history.log import History
from harness.system.guardian.risk import Discipline, Guardian, Refusal, Reservation, RiskLimits
from harness.system.locks.protocol import Grant
from harness.system.model import Order, SymbolSpec


class Rendezvous:
    """Lets ``parties`` threads through together; a lone thread gives up after ``timeout``."""

    def __init__(self, parties: int = 2, timeout: float = 0.05) -> None:
        self._barrier = threading.Barrier(parties, timeout=timeout)

    def __call__(self) -> None:
        try:
            self._barrier.wait()
        except threading.BrokenBarrierError:
            self._barrier.reset()


class FirstRound:
    """Forces the check-then-act race on every worker's first admitted order.

    Three meeting points, each passed once per worker: all workers *check* one and the same
    empty book (so all are admitted), then all *book*; no worker places its second order
    before all have settled their first -- so every first position is open at once, far over
    a limit that admits only some of them. (Settling happens under the locks, so the last
    meeting is at the next order, not inside settle.) No timing
    decides the interleaving; ``timeout`` only keeps a worker that never gets there (its
    orders refused outright) from hanging the others, and ``met`` says whether all got there.
    """

    def __init__(self, parties: int, timeout: float = 10.0) -> None:
        self._points = [threading.Barrier(parties, timeout=timeout) for _ in range(3)]
        self._phase = threading.local()
        self._broken = threading.Event()

    @property
    def met(self) -> bool:
        """True when every worker passed every meeting point."""
        return not self._broken.is_set() and all(p.n_waiting == 0 for p in self._points)

    def meet(self, point: int) -> None:
        """Wait at meeting ``point`` (0 checked, 1 booked, 2 all settled) if this worker is due there."""
        if getattr(self._phase, "next", 0) != point:
            return
        self._phase.next = point + 1
        try:
            self._points[point].wait()
        except threading.BrokenBarrierError:
            self._broken.set()
            self._phase.next = len(self._points)


class CheckThenActGuardian(Guardian):
    """A guardian with a check-then-act reserve, its first round forced by ``FirstRound``."""

    def __init__(self, specs: Sequence[SymbolSpec], limits: RiskLimits, *, first_round: FirstRound,
                 **kwargs: Any) -> None:
        kwargs.update(discipline=Discipline.CHECK_THEN_ACT, between_check_and_act=lambda: first_round.meet(0))
        super().__init__(specs, limits, **kwargs)
        self._first_round = first_round

    def reserve(self, order: Order, worst_price: Decimal, worker: str = "-") -> Reservation | Refusal:
        """Meet before a second order until all have settled; check, meet, book; meet once all booked."""
        self._first_round.meet(2)
        verdict = super().reserve(order, worst_price, worker)
        if isinstance(verdict, Reservation):
            self._first_round.meet(1)
        return verdict


def check_then_act_guardian(first_round: FirstRound) -> Callable[..., Guardian]:
    """A guardian factory for the engine (``guardian_factory``) sharing one ``FirstRound``."""
    return functools.partial(CheckThenActGuardian, first_round=first_round)


class UnlockedProvider:
    """A lock service that grants everything at once: no mutual exclusion at all."""

    shared_across_processes = False

    def __init__(self, rendezvous: Rendezvous) -> None:
        self.rendezvous = rendezvous
        self._tokens = itertools.count(1)
        self._lock = threading.Lock()

    def client(self, client_id: str, history: History) -> UnlockedClient:
        """A client that records the usual lock events but excludes nobody."""
        return UnlockedClient(self, client_id, history)

    def next_token(self) -> int:
        """Tokens still increase, so fencing sees the overlap the lock let through."""
        with self._lock:
            return next(self._tokens)


class UnlockedClient:
    """Records invoke/ok like a real client; grants after meeting another worker."""

    def __init__(self, provider: UnlockedProvider, client_id: str, history: History) -> None:
        self.client_id = client_id
        self._provider = provider
        self._history = history
        self._reqs = itertools.count(1)

    def _op(self, op: str, names: Sequence[str], tokens: dict[str, int]) -> None:
        req = next(self._reqs)
        self._history.append(LOCK_INVOKE, worker=self.client_id, op=op, names=list(names), req=req, ts=0, attempt=1)
        if op == "acquire":
            self._provider.rendezvous()
        self._history.append(LOCK_OK, worker=self.client_id, op=op, names=list(names), req=req, tokens=tokens,
                             lease_ms=0)
        if op == "acquire":
            # Meet again after the grant, so both holds are open at once (the GIL would
            # otherwise often run one whole critical section before the other starts).
            self._provider.rendezvous()

    def acquire(self, names: Sequence[str], timeout: float) -> Grant:
        """Grant immediately (after the rendezvous)."""
        tokens = {name: self._provider.next_token() for name in names}
        self._op("acquire", names, tokens)
        return Grant(self.client_id, tuple(names), tokens, 0)

    def release(self, grant: Grant) -> None:
        """Record the release; there is nothing to give back."""
        self._op("release", grant.names, dict(grant.tokens))

    def renew(self, grant: Grant) -> Grant:
        """Nothing expires."""
        return grant

    def close(self) -> None:
        """Nothing to close."""
