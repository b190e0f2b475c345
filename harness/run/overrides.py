"""Explicit settings as command-line flags: what a reproduce command must repeat.

The CLI takes ``--set KEY=VALUE`` (run settings, dotted for nested tables such as
``limits.max_exposure``) and ``--gate KEY=VALUE`` (gate thresholds); the pytest plugin takes
the same through its options and fixture. Both build the reproduce command from here, so
a printed command reruns with every override the run had.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

# Run settings that have their own flag and are always in the reproduce command.
OWN_FLAGS = frozenset({"seed", "symbols", "trades", "duration", "mode"})


def toml_value(value: Any) -> str:
    """One value in the TOML syntax ``harness.run.config.assignments`` reads back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return toml_value(value.value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, Decimal):
        return f'"{value}"'  # Decimal settings read a string back exactly; a float would not
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested settings (mappings, dataclasses, lists of named dataclasses) as dotted keys -> values."""
    rows: dict[str, Any] = {}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            rows.update(flatten(getattr(value, f.name), f"{prefix}{f.name}."))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            rows.update(flatten(item, f"{prefix}{key}."))
    elif isinstance(value, (list, tuple)) and value and all(dataclasses.is_dataclass(v) for v in value):
        for item in value:
            rows.update(flatten(item, f"{prefix}{getattr(item, 'name', '?')}."))
    else:
        rows[prefix.rstrip(".")] = value.value if isinstance(value, enum.Enum) else value
    return rows


def override_flags(explicit: Mapping[str, Any]) -> list[str]:
    """``--set``/``--gate`` flags for explicit ``{"run": ..., "gates": ...}`` settings."""
    flags: list[str] = []
    for key, value in flatten(explicit.get("run", {})).items():
        if key not in OWN_FLAGS:
            flags += ["--set", f"{key}={toml_value(value)}"]
    for key, value in flatten(explicit.get("gates", {})).items():
        flags += ["--gate", f"{key}={toml_value(value)}"]
    return flags


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"limits.max_exposure": v}`` -> ``{"limits": {"max_exposure": v}}``."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        table = nested
        for part in parents:
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                from harness.errors import ConfigError

                raise ConfigError(f"{key}: {part} is a value, not a table")
        table[leaf] = value
    return nested
