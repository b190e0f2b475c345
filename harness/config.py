"""The run configuration: one typed object, built once, passed down.

Layers, later wins: built-in defaults, ``[tool.harness]`` in ``pyproject.toml`` (or a TOML
file given with ``--config``), then command-line flags. Every bad value raises
``ConfigError`` with one line that names the key.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from harness.aggregator import Mode
from harness.gates import Thresholds
from harness.guardian.risk import Discipline, RiskLimits
from harness.model import SymbolSpec, symbol_specs
from harness.strategy import StrategyParams, VenueParams


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


class RunError(RuntimeError):
    """The run could not be made (a child that would not start, a service that went away)."""


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
    max_ticks: int = 1_000_000
    max_refusals: int = 2_000
    strategy: StrategyParams = StrategyParams()
    venue: VenueParams = VenueParams()
    limits: RiskLimits = RiskLimits()
    discipline: Discipline = Discipline.ATOMIC

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
        for name in ("max_ticks", "max_refusals"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be at least 1, got {getattr(self, name)}")
        if self.seed < 0:
            raise ConfigError(f"seed: must be a non-negative integer, got {self.seed}")

    @property
    def symbol_names(self) -> tuple[str, ...]:
        """Names of the configured symbols, in order."""
        return tuple(s.name for s in self.symbols)


def _coerce(name: str, value: Any, kind: Any) -> Any:
    """Coerce one raw (TOML or flag) value to a field's declared type."""
    options = typing.get_args(kind) if typing.get_origin(kind) in (typing.Union, types.UnionType) else (kind,)
    if value is None and type(None) in options:
        return None
    kind = next(k for k in options if k is not type(None))
    if typing.get_origin(kind) is tuple:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{name}: expected a list of strings, got {value!r}")
        return tuple(value)
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{name}: expected a table of settings")
        return _build(kind, value, f"{name}.")
    try:
        if kind is Decimal and not isinstance(value, bool) and Decimal(str(value)).is_finite():
            return Decimal(str(value))
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            return kind(value)
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind is bool and isinstance(value, bool):
            return value
    except (InvalidOperation, ValueError):
        pass
    raise ConfigError(f"{name}: invalid value {value!r} (expected {getattr(kind, '__name__', kind)})")


def _build(cls: type, raw: Mapping[str, Any], prefix: str = "") -> Any:
    """Instantiate dataclass ``cls`` from raw settings, refusing unknown keys."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    values = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"{prefix}{key}: unknown setting (known: {', '.join(sorted(known))})")
        values[key] = _coerce(prefix + key, value, hints[key])
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:  # ConfigError is a ValueError; all name their field
        raise ConfigError(f"{prefix}{exc}") from None


def _layer(base: Any, raw: Mapping[str, Any], prefix: str) -> Any:
    """Replace the fields ``raw`` names in dataclass instance ``base``, coerced and checked."""
    hints = typing.get_type_hints(type(base))
    known = {f.name for f in dataclasses.fields(base)}
    changed = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"{prefix}{key}: unknown setting (known: {', '.join(sorted(known))})")
        current = getattr(base, key)
        if dataclasses.is_dataclass(current) and isinstance(value, Mapping):
            changed[key] = _layer(current, value, f"{prefix}{key}.")
        else:
            changed[key] = _coerce(prefix + key, value, hints[key])
    try:
        return dataclasses.replace(base, **changed)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{prefix}{exc}") from None


def run_config(raw: Mapping[str, Any], base: RunConfig | None = None) -> RunConfig:
    """Layer raw settings (``symbols`` as names or a comma list) over ``base``."""
    raw = dict(raw)
    base = base or RunConfig()
    changed: dict[str, Any] = {}
    if "symbols" in raw:
        names = raw.pop("symbols")
        if isinstance(names, str):
            names = [s.strip() for s in names.split(",")]
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise ConfigError("symbols: expected a list of names or a comma-separated string")
        try:
            changed["symbols"] = symbol_specs(names)
        except ValueError as exc:
            raise ConfigError(f"symbols: {exc}") from None
    # trades and duration are alternatives: setting one clears the other.
    if "trades" in raw and "duration" not in raw:
        raw["duration"] = None
    if "duration" in raw and "trades" not in raw:
        raw["trades"] = None
    hints = typing.get_type_hints(RunConfig)
    known = {f.name for f in dataclasses.fields(RunConfig)}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"{key}: unknown setting (known: {', '.join(sorted(known))})")
        current = getattr(base, key)
        if dataclasses.is_dataclass(current) and isinstance(value, Mapping):
            # A nested table layers over what the base already says, like the top level does.
            changed[key] = _layer(current, value, f"{key}.")
        else:
            changed[key] = _coerce(key, value, hints[key])
    try:
        return dataclasses.replace(base, **changed)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None


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




@dataclass(frozen=True)
class HarnessConfig:
    """The whole configuration: how to run, and how to judge."""

    run: RunConfig = field(default_factory=RunConfig)
    gates: Thresholds = field(default_factory=Thresholds)


def harness_config(raw: Mapping[str, Any], base: HarnessConfig | None = None) -> HarnessConfig:
    """Layer a ``{"run": {...}, "gates": {...}}`` mapping over ``base``."""
    base = base or HarnessConfig()
    unknown = set(raw) - {"run", "gates"}
    if unknown:
        raise ConfigError(f"{sorted(unknown)[0]}: unknown section (known: gates, run)")
    for section in ("run", "gates"):
        if section in raw and not isinstance(raw[section], Mapping):
            raise ConfigError(f"{section}: expected a table of settings")
    gates = base.gates
    if "gates" in raw:
        hints = typing.get_type_hints(Thresholds)
        known = {f.name for f in dataclasses.fields(Thresholds)}
        changed = {}
        for key, value in raw["gates"].items():
            if key not in known:
                raise ConfigError(f"gates.{key}: unknown setting (known: {', '.join(sorted(known))})")
            changed[key] = _coerce(f"gates.{key}", value, hints[key])
            if not isinstance(changed[key], bool) and isinstance(changed[key], (int, float, Decimal)) \
                    and changed[key] < 0:
                raise ConfigError(f"gates.{key}: a threshold cannot be negative, got {value!r}")
        gates = dataclasses.replace(base.gates, **changed)
    run = run_config(raw["run"], base.run) if "run" in raw else base.run
    return HarnessConfig(run, gates)


def load_config(config_file: Path | None = None, project_dir: Path = Path(".")) -> HarnessConfig:
    """Defaults, then ``[tool.harness]`` of pyproject.toml (or ``config_file``)."""
    if config_file is not None:
        return harness_config(load_toml(config_file))
    pyproject = project_dir / "pyproject.toml"
    return harness_config(load_toml(pyproject, "tool.harness")) if pyproject.is_file() else HarnessConfig()


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
