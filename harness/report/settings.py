"""The run's configuration as flat ``key: value`` rows, for the report and evidence.json."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.run.overrides import flatten

if TYPE_CHECKING:
    from harness.run.config import HarnessConfig


def run_settings(config: HarnessConfig) -> dict[str, Any]:
    """Every run setting and gate threshold, dotted keys (``run.limits.equity``) to values."""
    return {**flatten(config.run, "run."), **flatten(config.gates, "gates.")}
