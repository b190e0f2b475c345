"""EnginePort: an engine is a callable that runs every symbol and returns a result with ``events()``.

This one is the reference engine with every worker's ticks thinned to every other one.

    harness run multi_symbol_stress --engine harness.examples.ports.engine:run
"""

from __future__ import annotations

from typing import Any

from harness.system import engine
from harness.system.feed import seeded_feed
from harness.system.locks.protocol import LockProvider


class EveryOther:
    """Every second tick of a feed (picklable, for process mode)."""

    def __init__(self, feed: Any) -> None:
        self.feed = feed

    def __call__(self, spec, seed):
        """The thinned ticks."""
        for tick in self.feed(spec, seed):
            if tick.index % 2 == 0:
                yield tick


def run(config: Any, locks: LockProvider, *, run_id: str, history: Any, progress: Any, **options: Any):
    """``--engine harness.examples.ports.engine:run``."""
    options["feed"] = EveryOther(options.get("feed", seeded_feed))
    return engine.run(config, locks, run_id=run_id, history=history, progress=progress, **options)
