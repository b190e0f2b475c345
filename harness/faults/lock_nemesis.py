"""The lock-path nemesis a run declares: which faults, how many rounds, how far apart, its seed.

Declared in config (a ``[nemesis]`` table: ``faults``, ``rounds``, ``interval``, ``seed``) or
on the command line (``--nemesis pause,partition``). A scenario names the faults it can
inject; one that cannot honour a declared fault refuses the run (one line, exit 2) instead
of passing without it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.errors import ConfigError
from harness.settings import layer

LOCK_FAULTS = ("pause", "partition", "delay", "broker-restart", "clock-jump")


@dataclass(frozen=True)
class NemesisConfig:
    """Faults to inject on the lock path; empty ``faults`` is no nemesis."""

    faults: tuple[str, ...] = ()
    rounds: int = 3  # injections of each fault per run
    interval: float = 0.0  # seconds between two injections
    seed: int | None = None  # picks the targets; None: the run's seed

    def __post_init__(self) -> None:
        unknown = [name for name in self.faults if name not in LOCK_FAULTS]
        if unknown:
            raise ConfigError(f"nemesis.faults: unknown fault {unknown[0]!r} (known: {', '.join(LOCK_FAULTS)})")
        if self.rounds < 1:
            raise ConfigError(f"nemesis.rounds: must be at least 1, got {self.rounds}")
        if not 0 <= self.interval < math.inf:
            raise ConfigError(f"nemesis.interval: must be a non-negative number of seconds, got {self.interval}")
        if self.seed is not None and self.seed < 0:
            raise ConfigError(f"nemesis.seed: must be a non-negative integer, got {self.seed}")


def nemesis_config(raw: Mapping[str, Any], base: NemesisConfig | None = None) -> NemesisConfig:
    """Layer a raw ``[nemesis]`` table over ``base``; ``faults`` may be a comma list (``"pause,delay"``)."""
    if not isinstance(raw, Mapping):
        raise ConfigError("nemesis: expected a table of settings")
    faults = raw.get("faults")
    if isinstance(faults, str):
        raw = {**raw, "faults": [name.strip() for name in faults.split(",") if name.strip()]}
    return layer(base or NemesisConfig(), raw, "nemesis.")


def refuse_undeclared(scenario: str, declared: tuple[str, ...], injectable: frozenset[str]) -> None:
    """A scenario asked for faults it cannot inject refuses them, never ignores them."""
    missing = [name for name in declared if name not in injectable]
    if missing:
        raise ConfigError(f"--nemesis: scenario {scenario} cannot inject {', '.join(missing)} "
                          f"(it can: {', '.join(sorted(injectable)) or 'none'}; see `harness run lock_faults`)")
