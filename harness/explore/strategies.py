"""Strategies that pick the next worker of a controlled run: random, PCT, and replay.

PCT (Burckhardt, Kothari, Musuvathi, Nagarakatte, ASPLOS 2010): each worker gets a random
distinct priority; ``depth - 1`` change points are drawn uniformly among the expected ``k``
steps; the highest-priority enabled worker always runs, and at the i-th change point the
running worker drops to priority i (below every initial one). A bug of depth d among n
workers and k steps is found with probability at least 1/(n * k^(d-1)) per schedule.

Every strategy is a function of (seed, schedule index) alone, so each schedule of an
exploration is reproducible on its own.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

STRATEGIES = ("random", "pct")


def _rng(seed: int, index: int) -> random.Random:
    # A string seed is hashed with SHA-512: stable across processes and PYTHONHASHSEED.
    return random.Random(f"schedule:{seed}:{index}")


class RandomStrategy:
    """A uniformly random enabled worker at every decision."""

    def __init__(self, seed: int, index: int) -> None:
        self._rng = _rng(seed, index)

    def choose(self, step: int, worker: int, point: str, enabled: Sequence[int]) -> int:
        """Any enabled worker, uniformly."""
        return enabled[self._rng.randrange(len(enabled))]


class PCTStrategy:
    """Probabilistic Concurrency Testing with bug depth ``depth`` over about ``steps`` steps."""

    def __init__(self, seed: int, index: int, depth: int, steps: int) -> None:
        self._rng = _rng(seed, index)
        self._depth = depth
        count = min(depth - 1, max(steps, 1))
        points = self._rng.sample(range(1, max(steps, 1) + 1), count)
        self._change = {step: depth - 1 - i for i, step in enumerate(sorted(points))}
        self._priority: dict[int, float] = {}

    def _initial(self, worker: int) -> float:
        # Distinct random priorities above every change-point priority (0 .. depth-2).
        if worker not in self._priority:
            self._priority[worker] = self._depth + self._rng.random()
        return self._priority[worker]

    def choose(self, step: int, worker: int, point: str, enabled: Sequence[int]) -> int:
        """The highest-priority enabled worker, after lowering the running one at a change point."""
        for w in enabled:
            self._initial(w)
        if step in self._change and worker >= 0:
            self._priority[worker] = self._change[step]
        return max(enabled, key=lambda w: self._priority[w])


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
        return worker if worker in enabled else min(enabled)


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
        return worker if worker in enabled else min(enabled)


def make_strategy(name: str, seed: int, index: int, depth: int = 3, steps: int = 100) -> RandomStrategy | PCTStrategy:
    """The strategy ``name`` for schedule ``index`` of the exploration seeded ``seed``."""
    if name == "random":
        return RandomStrategy(seed, index)
    if name == "pct":
        return PCTStrategy(seed, index, depth, steps)
    raise ValueError(f"unknown strategy {name!r} (choose from {', '.join(STRATEGIES)})")
