"""Typed settings from TOML tables and command-line assignments: coerced, layered, checked.

One small engine serves every configuration object of the harness (the run settings, the
gate thresholds, a scenario's own): a raw mapping (from ``pyproject.toml``, a ``--config``
file, ``--set KEY=VALUE`` flags) is layered over a frozen dataclass instance, each value
coerced to the field's declared type, unknown keys refused, and every bad value reported as
one ``ConfigError`` line naming the dotted key. It imports nothing of the harness but
``harness.errors``, so judging a saved history can load its thresholds without the system.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

# Numbers a setting may hold: what Decimal arithmetic (28 digits, exponents far below the context's
# limits) and 64-bit counters carry without overflow, so nothing valid at load crashes after a run.
DECIMAL_DIGITS, DECIMAL_EXPONENT, INT_BOUND = 28, 28, 2**63


def sane_decimal(value: Any) -> Decimal | None:
    """``value`` as a Decimal setting, or None when it is no finite number of sane size."""
    if isinstance(value, bool):
        return None
    number = Decimal(str(value))
    if not number.is_finite() or len(number.as_tuple().digits) > DECIMAL_DIGITS:
        return None
    return number if number.is_zero() or abs(number.adjusted()) <= DECIMAL_EXPONENT else None


def coerce(name: str, value: Any, kind: Any) -> Any:
    """Coerce one raw (TOML or flag) value to a field's declared type."""
    options = typing.get_args(kind) if typing.get_origin(kind) in (typing.Union, types.UnionType) else (kind,)
    if value is None and type(None) in options:
        return None
    kind = next(k for k in options if k is not type(None))
    if typing.get_origin(kind) is tuple:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{name}: expected a list of strings, got {value!r}")
        return tuple(value)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):  # a field's type, never an instance
        if not isinstance(value, Mapping):
            raise ConfigError(f"{name}: expected a table of settings")
        return build(kind, value, f"{name}.")
    try:
        if kind is Decimal and (number := sane_decimal(value)) is not None:
            return number
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            return kind(value)
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        if kind is int and isinstance(value, int) and not isinstance(value, bool) and -INT_BOUND < value < INT_BOUND:
            return value
        if kind is bool and isinstance(value, bool):
            return value
    except (InvalidOperation, ValueError):
        pass
    raise ConfigError(f"{name}: invalid value {value!r} (expected {_expected(kind)})")


def _expected(kind: Any) -> str:
    if kind is Decimal:
        return f"a finite decimal of at most {DECIMAL_DIGITS} digits, exponent within +-{DECIMAL_EXPONENT}"
    if kind is int:
        return "a 64-bit integer"
    return getattr(kind, "__name__", str(kind))


def build(cls: type, raw: Mapping[str, Any], prefix: str = "") -> Any:
    """Instantiate dataclass ``cls`` from raw settings, refusing unknown keys."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    values = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"{prefix}{key}: unknown setting (known: {', '.join(sorted(known))})")
        values[key] = coerce(prefix + key, value, hints[key])
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:  # ConfigError is a ValueError; all name their field
        raise ConfigError(f"{prefix}{exc}") from None


def changed_fields(base: Any, raw: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The fields ``raw`` names in dataclass instance ``base``, coerced; a nested table layers
    over what ``base`` already holds there, as the top level does. Unknown keys are refused."""
    hints = typing.get_type_hints(type(base))
    known = {f.name for f in dataclasses.fields(base)}
    changed = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"{prefix}{key}: unknown setting (known: {', '.join(sorted(known))})")
        current = getattr(base, key)
        if dataclasses.is_dataclass(current) and isinstance(value, Mapping):
            changed[key] = layer(current, value, f"{prefix}{key}.")
        else:
            changed[key] = coerce(prefix + key, value, hints[key])
    return changed


def layer(base: Any, raw: Mapping[str, Any], prefix: str) -> Any:
    """Replace the fields ``raw`` names in dataclass instance ``base``, coerced and checked."""
    changed = changed_fields(base, raw, prefix)
    try:
        return dataclasses.replace(base, **changed)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{prefix}{exc}") from None


def load_toml(path: Path, table: str | None = None) -> dict[str, Any]:
    """Read a TOML file (optionally one dotted table of it); errors name the file."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for part in (table or "").split("."):
        if part:
            data = data.get(part, {})
            if not isinstance(data, dict):
                raise ConfigError(f"{path}: [{table}] must be a table")
    return data


def assignments(lines: list[str]) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` lines (values in TOML syntax, bare words as strings)."""
    parsed: dict[str, Any] = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{line!r}: expected KEY=VALUE")
        try:
            parsed[key.strip()] = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            parsed[key.strip()] = value.strip()
    return parsed
