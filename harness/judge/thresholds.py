"""Gate thresholds: the limits a run is judged against, and how they are read from config.

Zero tolerance by default for everything that is a defect. The ``[gates]`` table of a
config file (or ``[tool.harness.gates]`` in ``pyproject.toml``) and ``--gate KEY=VALUE``
flags layer over the defaults; a negative threshold is refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.judge.linearizability.operations import SECONDS, STEPS, STEPS_PER_OP, Budget
from harness.settings import changed_fields, load_toml


@dataclass(frozen=True)
class Thresholds:
    """Pass/fail limits; zero-tolerance by default for everything that is a defect."""

    max_pnl_difference: Decimal = Decimal(0)
    max_errors: int = 0
    max_criticals: int = 0
    max_tracebacks: int = 0
    max_race_conditions: int = 0
    max_overlaps: int = 0
    max_unbalanced_pairs: int = 0
    max_orphaned_locks: int = 0
    require_linearizable: bool = True
    min_throughput_trades_per_s: float = 0.0
    max_order_p99_ms: float | None = None
    max_lock_p99_ms: float | None = None
    max_exposure_ratio: Decimal | None = None
    fail_on_breaker_trip: bool = False  # a justified trip is the guardian working; True fails on any trip
    allowed_health: tuple[str, ...] = ("HEALTHY",)
    max_failed_symbols: int = 0
    max_lost_events: int = 0
    max_duplicated_events: int = 0
    max_alerts_p0: int = 0
    max_alerts_p1: int = 0
    max_write_p99_ms: float | None = None
    require_areas: tuple[str, ...] = ()  # area keys that fail when the history holds none of their inputs
    require_coverage: tuple[str, ...] = ()  # state-machine transitions a run must take (beside a scenario's own)
    # The lock checker's linearizability budget: each lock's search gets steps_per_op steps an op
    # (steps at least); seconds bounds the whole check. Clean locks take the fast path, no budget.
    linearizability_steps: int = STEPS
    linearizability_steps_per_op: int = STEPS_PER_OP
    linearizability_seconds: float = SECONDS

    def linearizability_budget(self) -> Budget:
        """The budget of the lock checker's linearizability search."""
        return Budget(self.linearizability_steps, self.linearizability_seconds, self.linearizability_steps_per_op)


def thresholds(raw: Mapping[str, Any], base: Thresholds | None = None) -> Thresholds:
    """Layer a raw ``[gates]`` table over ``base`` (defaults when None)."""
    base = base or Thresholds()
    if not isinstance(raw, Mapping):
        raise ConfigError("gates: expected a table of settings")
    changed = changed_fields(base, raw, "gates.")
    for key, value in changed.items():
        if not isinstance(value, bool) and isinstance(value, (int, float, Decimal)) and value < 0:
            raise ConfigError(f"gates.{key}: a threshold cannot be negative, got {raw[key]!r}")
    return dataclasses.replace(base, **changed)


def load_thresholds(config_file: Path | None = None, project_dir: Path = Path(".")) -> Thresholds:
    """The ``[gates]`` of ``config_file``, else ``[tool.harness.gates]`` of pyproject.toml, over the defaults."""
    if config_file is not None:
        return thresholds(_table(load_toml(config_file), "gates"))
    pyproject = project_dir / "pyproject.toml"
    if not pyproject.is_file():
        return Thresholds()
    return thresholds(_table(load_toml(pyproject, "tool.harness"), "gates"))


def _table(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    table = raw.get(name, {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{name}: expected a table of settings")
    return table
