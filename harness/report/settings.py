"""The run's configuration as flat ``key: value`` rows, for the report and evidence.json."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harness.run.overrides import flatten

if TYPE_CHECKING:
    from harness.run.config import HarnessConfig


def run_settings(config: HarnessConfig, plugins: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every run setting and gate threshold, dotted keys (``run.limits.equity``) to values, and each
    plug-in as the user gave it (``plugins.locks``)."""
    named = {f"plugins.{port}": path for port, path in (plugins or {}).items()}
    return {**flatten(config.run, "run."), **flatten(config.gates, "gates."), **named}
