"""The run's configuration as flat ``key: value`` rows, for the report and evidence.json."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.config import HarnessConfig


def _flat(prefix: str, value: Any, rows: dict[str, Any]) -> None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _flat(f"{prefix}{f.name}.", getattr(value, f.name), rows)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _flat(f"{prefix}{key}.", item, rows)
    elif isinstance(value, (list, tuple)) and value and all(dataclasses.is_dataclass(v) for v in value):
        for item in value:
            _flat(f"{prefix}{getattr(item, 'name', '?')}.", item, rows)
    else:
        rows[prefix.rstrip(".")] = value.value if isinstance(value, enum.Enum) else value


def run_settings(config: HarnessConfig) -> dict[str, Any]:
    """Every run setting and gate threshold, dotted keys (``run.limits.equity``) to values."""
    rows: dict[str, Any] = {}
    _flat("run.", config.run, rows)
    _flat("gates.", config.gates, rows)
    return rows
