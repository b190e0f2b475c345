"""The run's own settings: what the system under test is asked to do (symbols, size, mode, limits).

``RunConfig`` is one frozen value the engine, the guardian and the persistence layers read;
``harness.run.config`` layers it from defaults, files and flags, together with the gate
thresholds the judge reads.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

from harness.errors import ConfigError
from harness.system.aggregator import Mode
from harness.system.feed import CsvFeed
from harness.system.guardian.risk import Discipline, RiskLimits
from harness.system.model import SymbolSpec, symbol_specs
from harness.system.strategy import StrategyParams, VenueParams


class ConcurrencyMode(str, enum.Enum):
    """How symbol workers run."""

    THREAD = "thread"
    PROCESS = "process"
    SINGLE = "single"


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs: symbols, seed, size, concurrency, costs, limits."""

    symbols: tuple[SymbolSpec, ...] = field(default_factory=symbol_specs)
    seed: int = 127
    trades: int | None = 30
    duration: float | None = None
    mode: ConcurrencyMode = ConcurrencyMode.THREAD
    aggregation: Mode = Mode.INCREMENTAL
    lock_timeout: float = 10.0
    lock_lease_ms: int = 10_000  # lease of the broker's grants; short under a pausing nemesis
    max_ticks: int = 1_000_000
    max_refusals: int = 2_000
    strategy: StrategyParams = StrategyParams()
    venue: VenueParams = VenueParams()
    limits: RiskLimits = RiskLimits()
    discipline: Discipline = Discipline.ATOMIC
    feed: CsvFeed | None = None  # price files per symbol (None: the seeded walk)
    until_feed_ends: bool = False  # trades is an upper bound: a feed that ends first is no failure
    covers: tuple[str, ...] = ()  # state-machine transitions the run must take (recorded in run.start)

    def __post_init__(self) -> None:
        if (self.trades is None) == (self.duration is None):
            raise ConfigError("trades/duration: give exactly one of them")
        if self.trades is not None and self.trades < 1:
            raise ConfigError(f"trades: must be at least 1, got {self.trades}")
        if self.duration is not None and not 0 < self.duration < math.inf:
            raise ConfigError(f"duration: must be a positive number of seconds, got {self.duration}")
        if not self.symbols:
            raise ConfigError("symbols: at least one symbol is needed")
        if not 0 < self.lock_timeout < math.inf:
            raise ConfigError(f"lock_timeout: must be a positive number of seconds, got {self.lock_timeout}")
        for name in ("max_ticks", "max_refusals", "lock_lease_ms"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be at least 1, got {getattr(self, name)}")
        if self.seed < 0:
            raise ConfigError(f"seed: must be a non-negative integer, got {self.seed}")

    @property
    def symbol_names(self) -> tuple[str, ...]:
        """Names of the configured symbols, in order."""
        return tuple(s.name for s in self.symbols)
