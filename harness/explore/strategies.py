"""Strategies that pick the next worker of a controlled run: a portfolio of random, PCT and POS, and replay.

PCT (Burckhardt, Kothari, Musuvathi, Nagarakatte, ASPLOS 2010): each worker gets a random
distinct priority; ``depth - 1`` change points are drawn uniformly among the ``k`` expected
preemption points; the highest-priority enabled worker always runs, and at the i-th change
point the running worker drops to priority i (below every initial one). A bug of depth d
among n workers and k points is found with probability at least 1/(n * k^(d-1)) per schedule.

POS (partial order sampling; Yuan, Yang, Gu, CAV 2018): every pending operation gets a
fresh random priority, the highest runs, and when an operation runs, the pending ones that
race with it (the same point) are drawn anew -- so each partial order is sampled more evenly
than by a random walk, which favours orders with many switches.

The portfolio (as Coyote's) spends the budget round-robin over random walk, PCT at depths
1..d and POS: a shallow race is found quickly by random walk, a deep one by PCT, and no
single strategy's blind spot costs the whole budget.

A preemption point is a decision where the arriving worker could go on and another could
run instead (``preemptible``); only those count towards ``k`` and PCT's change points.
Every strategy is a function of (seed, schedule index) alone, so each schedule of an
exploration is reproducible on its own.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

STRATEGIES = ("portfolio", "random", "pct", "pos")
DEFAULT_STRATEGY = "portfolio"


def _rng(seed: int, index: int) -> random.Random:
    # A string seed is hashed with SHA-512: stable across processes and PYTHONHASHSEED.
    return random.Random(f"schedule:{seed}:{index}")


def preemptible(worker: int, enabled: Sequence[int]) -> bool:
    """True when ``worker`` could go on and someone else could run instead: a preemption point."""
    return worker in enabled and len(enabled) > 1


def default_choice(worker: int, enabled: Sequence[int]) -> int:
    """The non-preemptive choice: the arriving worker if it can go on, else the lowest enabled."""
    return worker if worker in enabled else min(enabled)


class RandomStrategy:
    """A uniformly random enabled worker at every decision."""

    def __init__(self, seed: int, index: int) -> None:
        self._rng = _rng(seed, index)

    def choose(self, step: int, worker: int, point: str, enabled: Sequence[int]) -> int:
        """Any enabled worker, uniformly."""
        return enabled[self._rng.randrange(len(enabled))]


class PCTStrategy:
    """Probabilistic Concurrency Testing with bug depth ``depth`` over about ``points`` preemption points."""

    def __init__(self, seed: int, index: int, depth: int, points: int) -> None:
        self._rng = _rng(seed, index)
        self._depth = depth
        count = min(depth - 1, max(points, 1))
        drawn = self._rng.sample(range(1, max(points, 1) + 1), count)
        self._change = {point: depth - 1 - i for i, point in enumerate(sorted(drawn))}
        self._priority: dict[int, float] = {}
        self._seen = 0  # preemption points passed so far

    def _initial(self, worker: int) -> float:
        # Distinct random priorities above every change-point priority (0 .. depth-2).
        if worker not in self._priority:
            self._priority[worker] = self._depth + self._rng.random()
        return self._priority[worker]

    def choose(self, step: int, worker: int, point: str, enabled: Sequence[int]) -> int:
        """The highest-priority enabled worker, after lowering the running one at a change point."""
        for w in enabled:
            self._initial(w)
        if preemptible(worker, enabled):
            self._seen += 1
            if self._seen in self._change:
                self._priority[worker] = self._change[self._seen]
        return max(enabled, key=lambda w: self._priority[w])


class POSStrategy:
    """Partial order sampling: a fresh priority per pending operation, racing ones re-drawn when one runs."""

    def __init__(self, seed: int, index: int) -> None:
        self._rng = _rng(seed, index)
        self._priority: dict[int, float] = {}
        self._pending: dict[int, str] = {}

    def choose(self, step: int, worker: int, point: str, enabled: Sequence[int]) -> int:
        """The enabled worker whose pending operation has the highest priority."""
        if worker >= 0:
            ran = self._pending.get(worker)  # the operation ``worker`` just carried out
            for other, pending in self._pending.items():
                if other != worker and pending == ran:
                    self._priority[other] = self._rng.random()
            self._pending[worker] = point
            self._priority[worker] = self._rng.random()
        for w in enabled:
            self._priority.setdefault(w, self._rng.random())
        return max(enabled, key=lambda w: self._priority[w])


@dataclass(frozen=True)
class Plan:
    """The concrete strategy one schedule runs: ``name`` (random, pct, pos) and PCT's ``depth``."""

    name: str
    depth: int = 0

    @property
    def label(self) -> str:
        """How a report names it: ``random``, ``pct depth 2``, ``pos``."""
        return f"pct depth {self.depth}" if self.name == "pct" else self.name


def plan(name: str, index: int, depth: int = 3) -> Plan:
    """What schedule ``index`` of an exploration with strategy ``name`` runs (the portfolio rotates)."""
    if name == "portfolio":
        members = [Plan("random"), *(Plan("pct", d) for d in range(1, depth + 1)), Plan("pos")]
        return members[index % len(members)]
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r} (choose from {', '.join(STRATEGIES)})")
    return Plan(name, depth if name == "pct" else 0)


def describe(name: str, depth: int) -> str:
    """How a report names an exploration's strategy: ``portfolio (random, pct depth 1-3, pos)``, ``pct depth 3``."""
    if name == "portfolio":
        return f"portfolio (random, pct depth {'1' if depth == 1 else f'1-{depth}'}, pos)"
    return plan(name, 0, depth).label


def make_strategy(name: str, seed: int, index: int, depth: int = 3,
                  points: int = 100) -> RandomStrategy | PCTStrategy | POSStrategy:
    """The strategy schedule ``index`` of the exploration seeded ``seed`` runs (``points``: PCT's k)."""
    chosen = plan(name, index, depth)
    if chosen.name == "random":
        return RandomStrategy(seed, index)
    if chosen.name == "pct":
        return PCTStrategy(seed, index, chosen.depth, points)
    return POSStrategy(seed, index)


@dataclass
class ReplayStrategy:
    """Follows ``switches`` ({step: worker}); every other step takes the non-preemptive default."""

    switches: dict[int, int]
    diverged: list[int] = field(default_factory=list)

    def choose(self, step: int, worker: int, point: str, enabled: Sequence[int]) -> int:
        """The recorded choice if it can run, else the default (noting the divergence)."""
        wanted = self.switches.get(step)
        if wanted is not None:
            if wanted in enabled:
                return wanted
            self.diverged.append(step)
        return default_choice(worker, enabled)


@dataclass
class KeyedReplay:
    """Switches keyed by (worker, point, how many times it reached that point): survives a smaller workload."""

    switches: dict[tuple[int, str, int], int]
    _seen: dict[tuple[int, str], int] = field(default_factory=dict)

    def choose(self, step: int, worker: int, point: str, enabled: Sequence[int]) -> int:
        """The recorded choice at the same arrival, if it can run; else the default."""
        count = self._seen.get((worker, point), 0)
        self._seen[(worker, point)] = count + 1
        wanted = self.switches.get((worker, point, count))
        if wanted is not None and wanted in enabled:
            return wanted
        return default_choice(worker, enabled)
